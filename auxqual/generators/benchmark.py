"""The benchmark mixture: the protocol's realistic, indistinguishable and unrealistic rows.

Unlike every other generator it needs held-out *true* anomalies, so ``BenchmarkMixture.generate``
takes the FULL labelled dataset ``(X, y)`` (not a training set) and the other datasets as
``sources=``, and delegates to ``auxqual.protocol.split_benchmark``. Its rows are therefore
standardised with the protocol's training mean and scale; the whole split (train, test, aux) is
kept in ``split_`` after a call. ``n_samples=None`` gives the protocol's counts (``3·f`` rows);
a number must be a multiple of 3 and at most ``3·f``, and takes ``n_samples / 3`` rows of each
kind at random, kept in table order (the protocol's random row order: kinds interleaved, never
in blocks).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from auxqual.generators.base import BaseGenerator, Sample, check_count, check_seed
from auxqual.io import feature_names
from auxqual.protocol import KINDS, ProtocolSplit, split_benchmark


class BenchmarkMixture(BaseGenerator):
    """The protocol's auxiliary set as a generator; parameters as in ``split_benchmark``
    (``count_params`` is a dict for ``auxqual.protocol.protocol_counts``)."""

    name = "benchmark_mixture"

    def __init__(self, dataset: str = "dataset", n_sources: int = 5, max_train_normals: int = 1000,
                 source_max_anomalies: int = 125, source_max_rows: int = 250, n_clusters: int = 10,
                 count_params: dict[str, Any] | None = None):
        self.dataset = dataset
        self.n_sources = n_sources
        self.max_train_normals = max_train_normals
        self.source_max_anomalies = source_max_anomalies
        self.source_max_rows = source_max_rows
        self.n_clusters = n_clusters
        self.count_params = count_params

    def generate(self, X: np.ndarray, y: np.ndarray | None, n_samples: int | None = None, random_state: int = 0, *,
                 sources: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None) -> pd.DataFrame:
        """The auxiliary set of the protocol on the full dataset ``(X, y)``; see the module doc."""
        if sources is None:
            raise ValueError(f"{self.name}: sources= (other datasets, name -> (X, y)) is required "
                             f"for the unrealistic rows")
        seed = check_seed(random_state)
        if y is None:
            raise ValueError(f"{self.name}: needs the labels y of the full dataset (1 = anomaly)")
        self.split_ = split_benchmark(
            X, y, dataset=self.dataset, sources=sources, n_sources=self.n_sources,
            max_train_normals=self.max_train_normals, source_max_anomalies=self.source_max_anomalies,
            source_max_rows=self.source_max_rows, n_clusters=self.n_clusters, random_state=seed,
            **(self.count_params or {}))
        aux = self._subset(self.split_, n_samples, seed)
        d = self.split_.X_train.shape[1]
        sample = Sample(X=aux[feature_names(d)].to_numpy(), source_row=aux["source_row"].to_numpy(),
                        source_dataset=aux["source_dataset"].to_numpy(dtype=object),
                        extra={"kind": aux["kind"].to_numpy(dtype=object),
                               "source_label": aux["source_label"].to_numpy()})
        return self._frame(sample, seed)

    def _subset(self, split: ProtocolSplit, n_samples: int | None, seed: int) -> pd.DataFrame:
        if n_samples is None:
            return split.aux
        n = check_count("n_samples", n_samples)
        available = len(split.aux)
        if n % 3 or n > available:
            raise ValueError(f"{self.name}: n_samples must be a multiple of 3 (equal kinds) and at most "
                             f"{available} (3·f for {self.dataset}), got {n}")
        rng = np.random.default_rng([seed, 1])
        kinds = split.aux["kind"].to_numpy()
        keep = np.sort(np.concatenate([rng.choice(np.flatnonzero(kinds == kind), size=n // 3, replace=False)
                                       for kind in KINDS]))
        return split.aux.iloc[keep].reset_index(drop=True)
