"""Detectors by name, and saving / loading fitted detectors.

Names (``DETECTOR_NAMES``), each a fresh unfitted detector with PyOD's interface
(``fit(X, y)``, ``decision_function`` higher = more anomalous, ``predict_proba``
n × 2, columns normal / anomaly):

- ``ssdo``: ``auxqual.detectors.ssdo.SSDO``, label propagation over an
  isolation-forest prior (EAP's detector). Its prior's seed is fixed (1, as in
  EAP), so ``random_state`` is not passed to it; ``device`` is.
- ``mlp``: ``auxqual.detectors.torch_classifier.TorchClassifier``, a small
  torch MLP classifier (``random_state``, ``device``).
- ``pyod_stack``: ``auxqual.detectors.pyod_detector.PyODStackClassifier``,
  PyOD KNN + IForest scores fitted on the normals and stacked under a logistic
  regression (XGBOD's recipe without xgboost) (``random_state``).
- ``iforest``: ``auxqual.detectors.iforest_prior.IsolationForestPrior``, an
  unsupervised reference: it ignores the labels, so auxiliary anomalies only act
  as contamination of its training data (``random_state``).

Modules are imported when a detector is made, so importing the registry is cheap
and does not depend on every detector module being present.

Files: a ``TorchClassifier`` is saved as ``.pt`` (``torch.save`` of config and
``state_dict``; loaded on CPU with ``weights_only=True``), every other detector as
``.joblib``. ``.joblib`` is a pickle, so ``load_detector`` unpickles one only when the
sha256 in its lineage sidecar matches the file (or when told ``trusted=True``).
"""

from __future__ import annotations

import importlib
import inspect
import os
from pathlib import Path
from typing import Any

import joblib

from auxqual.io import atomic_path

# name -> (module, class)
_DETECTORS: dict[str, tuple[str, str]] = {
    "ssdo": ("auxqual.detectors.ssdo", "SSDO"),
    "mlp": ("auxqual.detectors.torch_classifier", "TorchClassifier"),
    "pyod_stack": ("auxqual.detectors.pyod_detector", "PyODStackClassifier"),
    "iforest": ("auxqual.detectors.iforest_prior", "IsolationForestPrior"),
}
DETECTOR_NAMES: tuple[str, ...] = tuple(_DETECTORS)
TORCH_SUFFIX = ".pt"
JOBLIB_SUFFIX = ".joblib"
MODEL_COMPRESSION = 3  # zlib level of saved .joblib models
_MODEL_SUFFIXES = (TORCH_SUFFIX, JOBLIB_SUFFIX, ".pkl")


def _detector_class(name: str) -> type:
    if name not in _DETECTORS:
        raise ValueError(f"unknown detector {name!r}; expected one of {list(DETECTOR_NAMES)}")
    module, cls = _DETECTORS[name]
    return getattr(importlib.import_module(module), cls)


def make_detector(name: str, *, random_state: int = 0, device: str | None = None, **params: Any) -> Any:
    """A fresh, unfitted detector ``name`` built with ``params``.

    ``random_state`` and ``device`` are passed only to detectors whose constructor
    takes them (see the module docstring); a key in ``params`` wins over them.
    Unknown names and parameters raise ``ValueError``.
    """
    cls = _detector_class(name)
    accepted = inspect.signature(cls).parameters
    defaults = {"random_state": random_state, "device": device}
    kwargs = {k: v for k, v in defaults.items() if k in accepted}
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(f"detector {name!r}: unknown parameter(s) {unknown}; accepted: {sorted(accepted)}")
    return cls(**{**kwargs, **params})


def detector_name(detector: Any) -> str:
    """The registry name of a detector instance (``ValueError`` if it is none of them)."""
    for name, (module, cls) in _DETECTORS.items():
        if type(detector).__module__ == module and type(detector).__name__ == cls:
            return name
    raise ValueError(f"{type(detector).__name__} is not a registry detector {list(DETECTOR_NAMES)}")


def _is_torch_classifier(detector: Any) -> bool:
    module, cls = _DETECTORS["mlp"]
    return type(detector).__module__ == module and type(detector).__name__ == cls


def model_path_for(detector: Any, path: str | os.PathLike) -> Path:
    """``path`` with the suffix the detector's type is saved with (``.pt`` for the
    torch classifier, ``.joblib`` otherwise). A ``.pt``/``.joblib``/``.pkl`` suffix
    is replaced; any other name gets the suffix appended (``q0.5`` → ``q0.5.joblib``)."""
    path = Path(path)
    suffix = TORCH_SUFFIX if _is_torch_classifier(detector) else JOBLIB_SUFFIX
    if path.suffix.lower() in _MODEL_SUFFIXES:
        return path.with_suffix(suffix)
    return path.with_name(path.name + suffix)


def save_detector(detector: Any, path: str | os.PathLike) -> Path:
    """Save a fitted detector atomically; returns the final path (see ``model_path_for``).

    joblib files are zlib-compressed (level 3): SSDO and the PyOD stack keep their
    training rows, and compressed they take 3–4× less disk and DVC cache (the
    default run's models: 614 MB uncompressed) for ~15 ms more per model. The
    compression is deterministic, so identical models still give identical files.
    """
    target = model_path_for(detector, path)
    if _is_torch_classifier(detector):
        return detector.save(target)
    with atomic_path(target) as tmp, tmp.open("wb") as handle:
        joblib.dump(detector, handle, compress=MODEL_COMPRESSION)
    return target


def load_detector(path: str | os.PathLike, *, trusted: bool = False) -> Any:
    """Load a detector written by ``save_detector`` (``.pt`` onto the device kind
    it was trained on when present, else the CPU).

    A ``.joblib`` file is a pickle: loading it runs whatever code it holds. So it is
    loaded only when its lineage sidecar (``<model>.lineage.json``, written by the
    stage that trained it) records the file's sha256 and the bytes still match;
    a missing sidecar or another hash is a one-line ``ValueError`` and nothing is
    unpickled. ``trusted=True`` skips the check, for a file you made yourself.
    A ``.pt`` file is read with ``weights_only=True`` and needs no sidecar.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: model file not found")
    suffix = path.suffix.lower()
    if suffix == TORCH_SUFFIX:
        from auxqual.detectors.torch_classifier import TorchClassifier

        return TorchClassifier.load(path)
    if suffix == JOBLIB_SUFFIX:
        if not trusted:
            _check_against_sidecar(path)
        try:
            return joblib.load(path)
        except Exception as error:  # pickle raises many types for a bad file
            raise ValueError(f"{path}: cannot read as a .joblib detector ({error})") from error
    raise ValueError(f"{path}: unknown model file type {suffix!r}; expected {TORCH_SUFFIX} or {JOBLIB_SUFFIX}")


def _check_against_sidecar(path: Path) -> None:
    """Refuse a ``.joblib`` model whose bytes its lineage sidecar does not vouch for."""
    from auxqual import lineage

    sidecar = lineage.sidecar_path(path)
    if not sidecar.is_file():
        raise ValueError(f"{path}: no lineage sidecar {sidecar.name}; a .joblib model is a pickle that runs code "
                         "when loaded, so it is loaded only when its sidecar's sha256 matches "
                         "(trusted=True for a file you made yourself)")
    recorded = lineage.read_sidecar(sidecar).model_sha256
    actual = lineage.sha256_file(path)
    if recorded != actual:
        raise ValueError(f"{path}: sha256 {actual[:12]}… does not match its lineage sidecar "
                         f"({str(recorded)[:12]}…); the file changed after it was recorded, refusing to unpickle it")
