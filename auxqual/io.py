"""Reading datasets and writing outputs safely.

Every reader validates what it loads and raises a ``ValueError`` that names the
file (and the column or array) at fault. Every writer is atomic: it writes to a
temporary file in the destination's directory and renames it over the target,
so an interrupted run never leaves a half-written output behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

LABEL_COLUMN = "y"
SUPPORTED_SUFFIXES = (".npz", ".csv", ".parquet")


# --------------------------------------------------------------------------- reading
class Dataset(NamedTuple):
    """A loaded dataset: features, labels and where the feature columns came from."""

    X: np.ndarray                 # finite 2-D float64 features
    y: np.ndarray | None          # int8 labels 0 / 1, or None when the file has none
    columns: list[str] | None     # feature names in X's column order; None for .npz (position only)
    dropped: list[str]            # non-numeric columns that are not features (reported, not used)


def load_dataset(path: str | os.PathLike, *, require_labels: bool = True,
                 label_column: str = LABEL_COLUMN) -> tuple[np.ndarray, np.ndarray | None]:
    """Load a dataset as ``(X, y)`` from ``.npz`` (ADBench: arrays ``X`` and ``y``),
    ``.csv`` or ``.parquet`` (feature columns plus a label column ``y``).

    Labels must be 0 (normal) or 1 (anomaly). With ``require_labels=False`` a file
    without labels is accepted and ``y`` is ``None``. Non-numeric feature columns,
    NaN or inf, an empty file or a missing label column raise ``ValueError`` naming
    the file. :func:`load_named_dataset` also returns the feature names.
    """
    data = load_named_dataset(path, require_labels=require_labels, label_column=label_column)
    return data.X, data.y


def load_named_dataset(path: str | os.PathLike, *, require_labels: bool = True,
                       label_column: str = LABEL_COLUMN) -> Dataset:
    """:func:`load_dataset` plus the feature column names (``None`` for ``.npz``, whose
    columns have only positions) and the non-numeric columns left out of the features,
    so that a caller can match two files' columns by name and say what it ignored."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: file not found")
    suffix = path.suffix.lower()
    columns: list[str] | None = None
    dropped: list[str] = []
    if suffix == ".npz":
        X, y = _load_npz(path, require_labels)
    elif suffix in (".csv", ".parquet"):
        frame = _read_table(path)
        X, y, columns, dropped = _split_table(frame, path, require_labels, label_column)
    else:
        raise ValueError(f"{path}: unsupported file type {suffix!r}; expected one of {SUPPORTED_SUFFIXES}")
    X = check_features(X, name=str(path))
    if y is not None:
        y = check_labels(y, name=str(path), n_rows=X.shape[0])
    return Dataset(X, y, columns, dropped)


def load_features(path: str | os.PathLike, *, label_column: str = LABEL_COLUMN) -> np.ndarray:
    """Load only the feature matrix of a file (labels, if present, are dropped)."""
    X, _ = load_dataset(path, require_labels=False, label_column=label_column)
    return X


def _load_npz(path: Path, require_labels: bool) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "X" not in archive.files:
                raise ValueError(f"{path}: missing array 'X' (found {sorted(archive.files)})")
            X = archive["X"]
            y = archive["y"] if "y" in archive.files else None
    except (OSError, EOFError) as error:
        raise ValueError(f"{path}: cannot read as .npz ({error})") from error
    if y is None and require_labels:
        raise ValueError(f"{path}: missing array 'y' (labels, 1 = anomaly, 0 = normal)")
    return X, y


def _read_table(path: Path) -> pd.DataFrame:
    try:
        if path.suffix.lower() == ".csv":
            frame = pd.read_csv(path)
        else:
            frame = pd.read_parquet(path)
    except pd.errors.EmptyDataError as error:
        raise ValueError(f"{path}: file is empty") from error
    except Exception as error:  # pyarrow and the csv parser raise many types
        raise ValueError(f"{path}: cannot read ({error})") from error
    if frame.empty:
        raise ValueError(f"{path}: file has no rows")
    return frame


def _split_table(frame: pd.DataFrame, path: Path, require_labels: bool,
                 label_column: str) -> tuple[np.ndarray, np.ndarray | None, list[str], list[str]]:
    """``(X, y, feature names, dropped non-numeric columns)`` of a table."""
    y = None
    if label_column in frame.columns:
        y = frame[label_column].to_numpy()
        frame = frame.drop(columns=[label_column])
    elif require_labels:
        raise ValueError(f"{path}: missing label column {label_column!r} (1 = anomaly, 0 = normal)")
    feature_columns = feature_columns_of(frame)
    if not feature_columns:
        raise ValueError(f"{path}: no numeric feature columns")
    non_numeric = [c for c in frame.columns if c in feature_columns and not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric:
        raise ValueError(f"{path}: non-numeric feature column(s) {non_numeric}")
    dropped = [] if _follows_x_convention(frame) else [  # else: other columns are metadata by convention
        str(c) for c in frame.columns if c not in feature_columns and not pd.api.types.is_numeric_dtype(frame[c])]
    return frame[feature_columns].to_numpy(dtype=np.float64), y, [str(c) for c in feature_columns], dropped


def feature_columns_of(frame: pd.DataFrame) -> list[str]:
    """The feature columns of a table: all numeric columns except known metadata.

    Columns written by auxqual's stages follow the convention that features are
    named ``x0 … x{d-1}``; when those exist, only they are features. Otherwise
    every numeric column is a feature.
    """
    named = [c for c in frame.columns if _is_x_name(c)]
    if named:
        return sorted(named, key=lambda c: int(c[1:]))
    return [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]


def _is_x_name(column: Any) -> bool:
    return isinstance(column, str) and column.startswith("x") and column[1:].isdigit()


def _follows_x_convention(frame: pd.DataFrame) -> bool:
    """Whether the features are the ``x0 … x{d-1}`` columns (the other columns are metadata)."""
    return any(_is_x_name(c) for c in frame.columns)


def feature_names(d: int) -> list[str]:
    """Column names for ``d`` features, the convention of every auxqual table."""
    return [f"x{j}" for j in range(d)]


# --------------------------------------------------------------------------- validation
def check_features(X: Any, *, name: str = "X", n_features: int | None = None) -> np.ndarray:
    """Return ``X`` as a finite 2-D float64 array, or raise ``ValueError`` naming ``name``."""
    try:
        X = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: features are not numeric ({error})") from error
    if X.ndim == 1:
        raise ValueError(f"{name}: expected a 2-D feature matrix, got a 1-D array of length {X.shape[0]}")
    if X.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D feature matrix, got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name}: has no rows")
    if X.shape[1] == 0:
        raise ValueError(f"{name}: has no feature columns")
    bad = ~np.isfinite(X)
    if bad.any():
        rows, cols = np.nonzero(bad)
        raise ValueError(f"{name}: {bad.sum()} NaN or inf value(s), first at row {rows[0]}, column {cols[0]}")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name}: has {X.shape[1]} features, expected {n_features} (as in the training data)")
    return X


def check_labels(y: Any, *, name: str = "y", n_rows: int | None = None) -> np.ndarray:
    """Return labels as an int8 array of 0 (normal) / 1 (anomaly), or raise ``ValueError``."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name}: labels must be 1-D, got shape {y.shape}")
    if n_rows is not None and y.shape[0] != n_rows:
        raise ValueError(f"{name}: {y.shape[0]} labels for {n_rows} rows")
    try:
        numeric = y.astype(np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: labels are not numeric ({error})") from error
    invalid = ~np.isin(numeric, (0.0, 1.0))
    if invalid.any():
        values = np.unique(y[invalid])[:5]
        raise ValueError(f"{name}: labels must be 0 (normal) or 1 (anomaly); found {values.tolist()}")
    return numeric.astype(np.int8)


# --------------------------------------------------------------------------- writing
@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; fsync it and rename it over ``target``
    on success.

    The temporary file gets the mode an ordinary ``open`` would give (``0o666`` less
    the umask: ``0o644`` under umask 022), not ``mkstemp``'s ``0o600``, so a published
    output is readable by whom the user's umask allows. It is flushed to disk before
    the rename, so a crash cannot leave a renamed but empty file. On any exception
    the temporary file is removed and ``target`` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temp_file(target)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _new_temp_file(target: Path) -> Path:
    """Create an empty, new ``.<name>.<random>.tmp`` beside ``target``, mode ``0o666`` less
    the umask (the kernel applies it, so nothing reads or changes the process-wide umask;
    ``O_EXCL`` makes the name ours alone, as ``mkstemp`` does)."""
    for _ in range(100):
        tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
        try:
            handle = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except OSError as error:  # name the target, not the temporary file the user never asked for
            raise OSError(error.errno, f"cannot write a file there ({error.strerror})", str(target)) from error
        os.close(handle)
        return tmp
    raise FileExistsError(f"{target.parent}: cannot find a free temporary name for {target.name}")


def _fsync(path: Path) -> None:
    """Flush ``path``'s data to disk (before it is renamed into place)."""
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def write_parquet(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``frame`` to Parquet atomically and deterministically (no index, no timestamps)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False, engine="pyarrow", compression="zstd")
    return path


def write_csv(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``frame`` to CSV atomically (no index; floats written so they read back exactly)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return path


def write_text(text: str, path: str | os.PathLike) -> Path:
    """Write ``text`` atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_json(payload: Any, path: str | os.PathLike) -> Path:
    """Write ``payload`` as stable, sorted, indented JSON atomically."""
    return write_text(json.dumps(payload, indent=2, sort_keys=True, default=_json_default) + "\n", path)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def features_frame(X: np.ndarray, extra: dict[str, Sequence[Any]] | None = None) -> pd.DataFrame:
    """A DataFrame with feature columns ``x0 … x{d-1}`` followed by ``extra`` columns."""
    frame = pd.DataFrame(np.asarray(X, dtype=np.float64), columns=feature_names(X.shape[1]))
    for column, values in (extra or {}).items():
        frame[column] = values
    return frame


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB blocks); ``ValueError`` naming a missing file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: file not found (cannot hash it)")
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
