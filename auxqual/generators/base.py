"""The interface every generator shares, and the provenance columns of its output.

A generator is a small scikit-learn-style class: ``__init__`` stores its parameters unchanged,
``BaseGenerator.generate`` validates them and the data, draws ``n_samples`` rows from
``numpy.random.default_rng(random_state)`` and returns a table whose first ``d`` columns are
the features ``x0 … x{d-1}`` (in the input's order), followed by the provenance columns
``generator``, ``generator_params`` (JSON, sorted keys), ``seed``, ``source_dataset`` and
``source_row`` (``""`` / ``-1`` when a row was not built from a particular row), then any
columns particular to the family (``source_row_2`` for SMOTE, ``kind`` for the benchmark
mixture). Same data, parameters and seed ⇒ byte-identical table.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from auxqual.io import check_features, check_labels, features_frame

NO_DATASET = ""
NO_ROW = -1


@dataclass
class Sample:
    """What a generator's ``_sample`` returns: the rows and their provenance."""

    X: np.ndarray
    source_row: np.ndarray | None = None          # index into the X the row was built from
    source_dataset: np.ndarray | str = NO_DATASET
    extra: dict[str, np.ndarray] = field(default_factory=dict)


class BaseGenerator(BaseEstimator):
    """Base class: subclasses set ``name`` and implement ``_validate`` and ``_sample``."""

    name: ClassVar[str] = ""

    def generate(self, X: np.ndarray, y: np.ndarray | None, n_samples: int,
                 random_state: int = 0) -> pd.DataFrame:
        """Return ``n_samples`` auxiliary anomalies for the training data ``(X, y)``.

        ``X`` is the training feature matrix, ``y`` is 1 for the labelled anomalies and 0 for
        normals (``None``: all normal). Raises ``ValueError`` naming the parameter or count at
        fault.
        """
        X = check_features(X, name="X")
        y = np.zeros(X.shape[0], dtype=np.int8) if y is None else check_labels(y, name="y", n_rows=X.shape[0])
        n_samples = check_count("n_samples", n_samples)
        seed = check_seed(random_state)
        self._validate(X, y)
        sample = self._sample(X, y, n_samples, np.random.default_rng(seed))
        return self._frame(sample, seed)

    # ------------------------------------------------------------------ for subclasses
    def _validate(self, X: np.ndarray, y: np.ndarray) -> None:
        """Check the parameters against the data; raise ``ValueError`` naming the parameter."""

    def _sample(self, X: np.ndarray, y: np.ndarray, n_samples: int, rng: np.random.Generator) -> Sample:
        raise NotImplementedError

    # ------------------------------------------------------------------ output
    def params_json(self) -> str:
        """The generator's parameters as JSON with sorted keys; arrays appear as their shape and
        a SHA-256 of their bytes, so the record stays short and still identifies the data."""
        return json.dumps(self.get_params(deep=False), sort_keys=True, default=_json_param,
                          separators=(",", ":"))

    def _frame(self, sample: Sample, seed: int) -> pd.DataFrame:
        n = sample.X.shape[0]
        rows = np.full(n, NO_ROW) if sample.source_row is None else sample.source_row
        dataset = sample.source_dataset
        columns: dict[str, Any] = {
            "generator": np.full(n, self.name, dtype=object),
            "generator_params": np.full(n, self.params_json(), dtype=object),
            "seed": np.full(n, seed, dtype=np.int64),
            "source_dataset": np.full(n, dataset, dtype=object) if isinstance(dataset, str) else dataset,
            "source_row": np.asarray(rows, dtype=np.int64),
        }
        columns.update(sample.extra)
        return features_frame(sample.X, extra=columns)


# --------------------------------------------------------------------------- validation helpers
def check_count(name: str, value: Any) -> int:
    """A positive integer, or ``ValueError`` naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_seed(value: Any) -> int:
    """``random_state`` must be a non-negative integer: it is written into every row."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"random_state must be a non-negative integer, got {value!r}")
    return int(value)


def check_positive(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """A finite positive (or non-negative) number, or ``ValueError`` naming the parameter."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not ok or not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return float(value)


def normal_rows(y: np.ndarray, minimum: int, generator: str) -> np.ndarray:
    """Indices of the normal rows; ``ValueError`` when there are fewer than ``minimum``."""
    rows = np.flatnonzero(y == 0)
    if rows.size < minimum:
        raise ValueError(f"{generator}: needs at least {minimum} normal rows (y == 0), got {rows.size}")
    return rows


def spawn_int(rng: np.random.Generator) -> int:
    """An integer seed for a library that takes one (scikit-learn, imbalanced-learn)."""
    return int(rng.integers(2**31 - 1))


def _json_param(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value)
        return {"shape": list(data.shape), "sha256": hashlib.sha256(data.tobytes()).hexdigest()[:16]}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"generator parameter of type {type(value).__name__} is not JSON serialisable")
