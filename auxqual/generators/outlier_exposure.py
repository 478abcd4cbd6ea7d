"""Outlier exposure: rows of another dataset, mapped to the training data's dimension.

Hendrycks et al. train against natural images of other classes; for tabular data the protocol's
recipe for *unrealistic* anomalies (docs/concepts/protocol.md step 6, ``auxqual.mapping.map_to_dimension``)
turns any other dataset into rows of the right dimension. The whole source is mapped once (so
the mapping does not depend on ``n_samples``), then ``n_samples`` of its rows are drawn: without
replacement while the source has enough rows, with replacement otherwise. The rows keep the
source's own scale, as in the protocol (which standardises afterwards with the training set).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from auxqual.generators.base import BaseGenerator, Sample, spawn_int
from auxqual.io import check_features, check_labels, load_dataset
from auxqual.mapping import map_to_dimension

NO_LABEL = -1


class OutlierExposure(BaseGenerator):
    """Rows of another dataset: pass ``source=(X_src, y_src)`` (``y_src`` may be ``None``) or
    ``source_path=`` a ``.npz``/``.csv``/``.parquet`` file; not both.

    ``source_dataset`` is ``source_name``, else the file's stem, else ``"source"``. Besides the
    common provenance each row carries ``source_label``, its label in the source (−1 unknown).
    """

    name = "outlier_exposure"

    def __init__(self, source: tuple[np.ndarray, np.ndarray | None] | None = None,
                 source_path: str | os.PathLike | None = None, source_name: str | None = None):
        self.source = source
        self.source_path = source_path
        self.source_name = source_name

    def _validate(self, X: np.ndarray, y: np.ndarray) -> None:
        if (self.source is None) == (self.source_path is None):
            raise ValueError(f"{self.name}: give exactly one of source=(X_src, y_src) or source_path=")
        if self.source is not None and (not isinstance(self.source, (tuple, list)) or len(self.source) != 2):
            raise ValueError(f"{self.name}: source must be a pair (X_src, y_src), got {type(self.source).__name__}")

    def load_source(self) -> tuple[np.ndarray, np.ndarray | None, str]:
        """The source's features, labels (or ``None``) and name."""
        if self.source_path is not None:
            X_src, y_src = load_dataset(self.source_path, require_labels=False)
            return X_src, y_src, self.source_name or Path(self.source_path).stem
        if self.source is None:   # only when the generator was built without validation
            raise ValueError(f"{self.name}: give exactly one of source=(X_src, y_src) or source_path=")
        X_src, y_src = self.source
        X_src = check_features(X_src, name="source X")
        if y_src is not None:
            y_src = check_labels(y_src, name="source y", n_rows=X_src.shape[0])
        return X_src, y_src, self.source_name or "source"

    def _sample(self, X: np.ndarray, y: np.ndarray, n_samples: int, rng: np.random.Generator) -> Sample:
        X_src, y_src, name = self.load_source()
        mapped = map_to_dimension(X_src, X.shape[1], random_state=spawn_int(rng))
        replace = n_samples > X_src.shape[0]
        rows = np.sort(rng.choice(X_src.shape[0], size=n_samples, replace=replace))
        labels = np.full(n_samples, NO_LABEL) if y_src is None else y_src[rows]
        return Sample(X=mapped[rows], source_row=rows, source_dataset=name,
                      extra={"source_label": np.asarray(labels, dtype=np.int64)})
