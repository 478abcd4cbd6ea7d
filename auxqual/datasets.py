"""The embedded default data, and finding datasets in an ADBench-style folder.

The default benchmark needs no network and no shared folder: it is built from the
datasets that ship inside scikit-learn.

- ``digits``: the 8 × 8 handwritten digits (1797 rows, 64 features) with one digit
  class as the anomalies (digit 8 by default: 174 anomalies, enough for the protocol's
  counts t = 87, l = 5, f = 82). Digit 8 is the default because it is hard: written
  8s look like 3s, 9s and 1s, so with the 5 labelled anomalies alone every default
  detector stays well below test AUROC 1 (0.68-0.85 at q = 0), and auxiliary anomalies
  have room to help or hurt. Digit 0, the easiest class, is separated perfectly without
  any (benchmarks/results/default_data.md).
- ``iris``, ``wine``, ``breast_cancer``, ``diabetes``, ``linnerud``: other bundled
  datasets, labelled with a rule that makes a minority class the anomalies. They are
  the sources of the protocol's *unrealistic* auxiliary anomalies (rows of other
  datasets mapped to the dimension of the target dataset).

Files are written in the ADBench layout (``.npz`` with arrays ``X`` and ``y``) by
``save_npz``, which writes byte-identical files for identical arrays (NumPy's
own ``savez`` stamps the current time into the zip entries).
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from sklearn import datasets as sk_datasets

from auxqual.io import atomic_path, check_features, check_labels
from auxqual.paths import escape_reason

DEFAULT_DATASET = "digits"
DEFAULT_ANOMALY_DIGIT = 8
EMBEDDED_SOURCES = ("iris", "wine", "breast_cancer", "diabetes", "linnerud")
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def digits(anomaly_digit: int = DEFAULT_ANOMALY_DIGIT) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits, with the class ``anomaly_digit`` as the anomalies (y = 1)."""
    if not isinstance(anomaly_digit, (int, np.integer)) or not 0 <= int(anomaly_digit) <= 9:
        raise ValueError(f"anomaly_digit: must be an integer digit 0-9, got {anomaly_digit!r}")
    bunch = sk_datasets.load_digits()
    return bunch.data.astype(np.float64), (bunch.target == int(anomaly_digit)).astype(np.int8)


def _iris() -> tuple[np.ndarray, np.ndarray]:
    bunch = sk_datasets.load_iris()
    return bunch.data, (bunch.target == 0).astype(np.int8)          # setosa (50 of 150)


def _wine() -> tuple[np.ndarray, np.ndarray]:
    bunch = sk_datasets.load_wine()
    return bunch.data, (bunch.target == 2).astype(np.int8)          # cultivar 3 (48 of 178)


def _breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    bunch = sk_datasets.load_breast_cancer()
    return bunch.data, (bunch.target == 0).astype(np.int8)          # malignant (212 of 569)


def _diabetes() -> tuple[np.ndarray, np.ndarray]:
    bunch = sk_datasets.load_diabetes()
    threshold = np.quantile(bunch.target, 0.9)
    return bunch.data, (bunch.target > threshold).astype(np.int8)   # top 10 % disease progression


def _linnerud() -> tuple[np.ndarray, np.ndarray]:
    bunch = sk_datasets.load_linnerud()
    weight = bunch.target[:, 0]
    return bunch.data, (weight > np.quantile(weight, 0.75)).astype(np.int8)  # heaviest quarter (5 of 20)


_SOURCES: dict[str, Callable[[], tuple[np.ndarray, np.ndarray]]] = {
    "iris": _iris, "wine": _wine, "breast_cancer": _breast_cancer, "diabetes": _diabetes,
    "linnerud": _linnerud,
}


def embedded_datasets(anomaly_digit: int = DEFAULT_ANOMALY_DIGIT,
                      sources: Sequence[str] = EMBEDDED_SOURCES) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The default data: ``digits`` plus the named source datasets, as ``{name: (X, y)}``
    with ``X`` float64 and ``y`` int8 (1 = anomaly)."""
    unknown = [name for name in sources if name not in _SOURCES]
    if unknown:
        raise ValueError(f"sources: unknown embedded dataset(s) {unknown}; known: {sorted(_SOURCES)}")
    out = {DEFAULT_DATASET: digits(anomaly_digit)}
    for name in sources:
        X, y = _SOURCES[name]()
        out[name] = (np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.int8))
    return out


def save_npz(path: str | os.PathLike, X: np.ndarray, y: np.ndarray) -> Path:
    """Write ``X`` and ``y`` to an ADBench ``.npz`` atomically and byte-reproducibly.

    ``X`` must be a finite 2-D float matrix and ``y`` 0/1 labels of the same length.
    """
    X = check_features(X, name=str(path))
    y = check_labels(y, name=str(path), n_rows=X.shape[0])
    path = Path(path)
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in (("X", X), ("y", y)):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, buffer.getvalue())
    return path


# --------------------------------------------------------------------------- folders
def dataset_files(folder: str | os.PathLike) -> dict[str, Path]:
    """The datasets of an ADBench-style folder, ``{name: path}``, sorted by name.

    A dataset's name is its file name without ``.npz`` (``6_cardio``). Raises
    ``ValueError`` naming the folder when it does not exist or holds no ``.npz``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: data folder not found (params: data.path)")
    files = {p.stem: p for p in sorted(folder.glob("*.npz")) if not p.name.startswith(".")}
    if not files:
        raise ValueError(f"{folder}: no .npz datasets in the data folder (params: data.path)")
    return dict(sorted(files.items()))


def split_dataset_name(entry: object, parameter: str = "data.datasets") -> tuple[str, str]:
    """``(subfolder, name)`` of a dataset entry ``<name>`` or ``<subfolder>/<name>``, a path
    relative to the data folder (``subfolder`` is ``""`` for a plain name).

    The entry comes from a parameter and must stay inside the data folder, so an absolute
    path, a ``..`` component, a backslash or an empty name is a ``ValueError`` naming
    ``parameter`` and the entry (a trailing ``/`` is ignored)."""
    text = str(entry).rstrip("/")
    parts = text.split("/")
    reason = escape_reason(text)
    if reason is not None:
        raise ValueError(f"params.yaml: {parameter} entry {entry!r} is {reason}; a dataset is named "
                         f"<name> or <subfolder>/<name>, relative to data.path")
    return "/".join(parts[:-1]), parts[-1]


def resolve_dataset(name: str, files: dict[str, Path]) -> str:
    """Find ``name`` among ``files``: its exact name (``6_cardio``), or the name without
    ADBench's numeric prefix (``cardio``), case-insensitively. Raises ``ValueError``
    naming the dataset and the datasets present."""
    if name in files:
        return name
    wanted = name.lower()
    matches = [key for key in files if re.sub(r"^\d+_", "", key).lower() == wanted or key.lower() == wanted]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ValueError(f"dataset {name!r}: ambiguous, matches {matches}")
    raise ValueError(f"dataset {name!r}: no file {name}.npz in the data folder; present: {sorted(files)}")
