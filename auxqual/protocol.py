"""The benchmark protocol of the EAP paper (``docs/concepts/protocol.md``), every number a parameter.

From one labelled dataset it builds a test set, a training set (normals plus a few *labelled*
anomalies) and an auxiliary set whose quality is known by construction:

* ``realistic``: held-out true anomalies of the dataset;
* ``indistinguishable``: normals of the dataset, claimed to be anomalies;
* ``unrealistic``: rows of *other* datasets, mapped to the same dimension
  (``auxqual.mapping.map_to_dimension``).

Every random choice is drawn from ``random_state``: each step gets its own child of
``numpy.random.SeedSequence(random_state)``, so the same inputs give identical arrays, and
changing a later step's parameter (say ``max_train_normals``) leaves the earlier rows unchanged.
The auxiliary table is stored in a random row order (its own step seed): row order carries no
meaning, and a table stored kind by kind would let any position-based tie-break pick one kind.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypedDict, Unpack

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning

from auxqual.io import check_features, check_labels, features_frame
from auxqual.mapping import map_to_dimension

__all__ = [
    "GENERATOR_NAME",
    "KINDS",
    "ProtocolCounts",
    "ProtocolError",
    "ProtocolSplit",
    "map_to_dimension",
    "protocol_counts",
    "split_benchmark",
]

KINDS = ("realistic", "indistinguishable", "unrealistic")
GENERATOR_NAME = "benchmark_mixture"
MIN_STD = 1e-3  # a training standard deviation below this counts as 1 (protocol step 7)


class ProtocolError(ValueError):
    """The protocol cannot run on this dataset; the message names the dataset and the counts."""


@dataclass(frozen=True)
class ProtocolCounts:
    """How many rows each part gets: test anomalies (= test normals), labelled anomalies, and
    auxiliary anomalies of *each* kind."""

    n_test_anomalies: int
    n_labelled: int
    n_aux_per_kind: int


@dataclass
class ProtocolSplit:
    """The result of ``split_benchmark``; every feature array is standardised with the
    training mean and standard deviation (``mean_``, ``scale_``)."""

    dataset: str
    X_train: np.ndarray
    y_train: np.ndarray
    train_rows: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    test_rows: np.ndarray
    aux: pd.DataFrame
    mean_: np.ndarray
    scale_: np.ndarray
    counts: ProtocolCounts


# --------------------------------------------------------------------------- counts
def _clip(value: int, low: int, high: int) -> int:
    return int(min(max(value, low), high))


def protocol_counts(n_anomalies: int, *, dataset: str, test_fraction: float = 0.5, test_min: int = 50,
                    test_max: int = 250, labelled_fraction: float = 0.02, labelled_min: int = 5,
                    labelled_max: int = 50, aux_fraction: float = 0.48,
                    aux_max: int = 250) -> ProtocolCounts:
    """The protocol's counts for a dataset with ``n_anomalies`` anomalies ``A``.

    ``t = clip(round(0.5·A), 50, 250)``, ``l = clip(round(0.02·A), 5, 50)``,
    ``f = min(round(0.48·A), 250, A − t − l)``; ``round`` is Python's (half to even). Raises
    ``ProtocolError`` when ``f < 1``, i.e. when there are too few anomalies to hold out
    ``t`` test and ``l`` labelled anomalies and still have realistic auxiliary ones.
    """
    if isinstance(n_anomalies, bool) or not isinstance(n_anomalies, (int, np.integer)) or n_anomalies < 0:
        raise ValueError(f"{dataset}: n_anomalies must be a non-negative integer, got {n_anomalies!r}")
    A = int(n_anomalies)
    t = _clip(round(test_fraction * A), test_min, test_max)
    n_l = _clip(round(labelled_fraction * A), labelled_min, labelled_max)
    f_wanted = round(aux_fraction * A)
    f = int(min(f_wanted, aux_max, A - t - n_l))
    if f < 1:
        raise ProtocolError(
            f"{dataset}: {A} anomalies, the protocol needs at least {t + n_l} + f "
            f"(t={t} test + l={n_l} labelled anomalies + f>=1 auxiliary anomalies of each kind); "
            f"here f = min(round({aux_fraction}*{A})={f_wanted}, {aux_max}, {A}-{t}-{n_l}={A - t - n_l}) = {f}")
    return ProtocolCounts(n_test_anomalies=t, n_labelled=n_l, n_aux_per_kind=f)


class CountParams(TypedDict, total=False):
    """The keyword arguments of ``protocol_counts`` that ``split_benchmark`` passes on."""

    test_fraction: float
    test_min: int
    test_max: int
    labelled_fraction: float
    labelled_min: int
    labelled_max: int
    aux_fraction: float
    aux_max: int


# --------------------------------------------------------------------------- split
def split_benchmark(X: np.ndarray, y: np.ndarray, *, dataset: str,
                    sources: Mapping[str, tuple[np.ndarray, np.ndarray]], n_sources: int = 5,
                    max_train_normals: int = 1000, source_max_anomalies: int = 125,
                    source_max_rows: int = 250, n_clusters: int = 10, random_state: int = 0,
                    **count_params: Unpack[CountParams]) -> ProtocolSplit:
    """Split ``(X, y)`` by the protocol (steps 1–7 of docs/concepts/protocol.md).

    ``sources`` maps the names of *other* datasets to their ``(X, y)``; a source named like
    ``dataset`` is ignored. ``min(n_sources, available)`` of them are chosen at random for the
    unrealistic rows (at least one must be available). ``count_params`` go to
    ``protocol_counts``. The auxiliary rows come in a seeded random order (kinds
    interleaved). Raises ``ProtocolError`` (a ``ValueError``) when the dataset
    has too few anomalies or normals, or no usable source.
    """
    X = check_features(X, name=dataset)
    y = check_labels(y, name=dataset, n_rows=X.shape[0])
    _check_positive(dataset, n_sources=n_sources, max_train_normals=max_train_normals,
                    source_max_anomalies=source_max_anomalies, source_max_rows=source_max_rows,
                    n_clusters=n_clusters)
    counts = protocol_counts(int(y.sum()), dataset=dataset, **count_params)
    seeds = _step_seeds(random_state, dataset)
    anomalies, normals = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    _check_normals(dataset, normals.size, counts)
    t, n_l, f = counts.n_test_anomalies, counts.n_labelled, counts.n_aux_per_kind

    rngs = [np.random.default_rng(seed) for seed in seeds]
    # steps 1-5: the dataset's own rows
    test_rows = np.sort(np.concatenate([_draw(rngs[0], anomalies, t), _draw(rngs[0], normals, t)]))
    anomalies, normals = np.setdiff1d(anomalies, test_rows), np.setdiff1d(normals, test_rows)
    labelled = _labelled_by_cluster(X, anomalies, n_l, n_clusters, rngs[1])
    realistic = _draw(rngs[2], np.setdiff1d(anomalies, labelled), f)
    indistinguishable = _draw(rngs[3], normals, f)
    normals = np.setdiff1d(normals, indistinguishable)
    train_normals = _draw(rngs[4], normals, min(max_train_normals, normals.size))
    # step 6: other datasets' rows; step 7: standardise with the training statistics
    unrealistic = _unrealistic(sources, dataset, X.shape[1], f, rngs[5], n_sources=n_sources,
                               max_anomalies=source_max_anomalies, max_rows=source_max_rows)

    train_rows = np.concatenate([train_normals, labelled])
    mean, scale = _standardisation(X[train_rows])
    aux = _aux_frame(dataset, X, realistic, indistinguishable, unrealistic, mean, scale)
    aux = aux.iloc[rngs[6].permutation(len(aux))].reset_index(drop=True)  # kinds interleaved
    return ProtocolSplit(
        dataset=dataset, X_train=(X[train_rows] - mean) / scale, y_train=y[train_rows],
        train_rows=train_rows, X_test=(X[test_rows] - mean) / scale, y_test=y[test_rows],
        test_rows=test_rows, aux=aux, mean_=mean, scale_=scale, counts=counts)


def _check_positive(dataset: str, **values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{dataset}: {name} must be a positive integer, got {value!r}")


def _check_normals(dataset: str, n_normals: int, counts: ProtocolCounts) -> None:
    """Test normals + indistinguishable rows + at least one training normal."""
    needed = counts.n_test_anomalies + counts.n_aux_per_kind + 1
    if n_normals < needed:
        raise ProtocolError(
            f"{dataset}: {n_normals} normals, the protocol needs at least {needed} "
            f"(t={counts.n_test_anomalies} test + f={counts.n_aux_per_kind} indistinguishable + 1 training)")


def _step_seeds(random_state: int, dataset: str) -> list[np.random.SeedSequence]:
    """One independent seed per protocol step (test, labelled, realistic, indistinguishable,
    training normals, unrealistic, order of the auxiliary rows)."""
    if isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer)) or random_state < 0:
        raise ValueError(f"{dataset}: random_state must be a non-negative integer, got {random_state!r}")
    return np.random.SeedSequence(int(random_state)).spawn(7)


def _draw(rng: np.random.Generator, pool: np.ndarray, k: int) -> np.ndarray:
    """``k`` distinct rows of ``pool``, sorted."""
    return np.sort(rng.choice(pool, size=k, replace=False))


def _labelled_by_cluster(X: np.ndarray, anomalies: np.ndarray, n_labelled: int, n_clusters: int,
                         rng: np.random.Generator) -> np.ndarray:
    """Step 2: k-means on the remaining anomalies, the first ``n_labelled`` in cluster order.

    Within a cluster rows keep their dataset order (stable sort of the cluster labels), so the
    known anomalies come from as few clusters as possible.
    """
    k = min(n_clusters, anomalies.size)
    kmeans = KMeans(n_clusters=k, n_init=10, random_state=int(rng.integers(2**31)))
    with warnings.catch_warnings():  # duplicated anomalies give fewer distinct clusters: harmless
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = kmeans.fit_predict(X[anomalies])
    return anomalies[np.argsort(labels, kind="stable")[:n_labelled]]


def _standardisation(X_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = X_train.mean(axis=0)
    scale = X_train.std(axis=0)
    scale[scale < MIN_STD] = 1.0
    return mean, scale


# --------------------------------------------------------------------------- unrealistic rows
@dataclass(frozen=True)
class _Unrealistic:
    X: np.ndarray            # mapped to the target's dimension, not yet standardised
    source_dataset: np.ndarray
    source_row: np.ndarray
    source_label: np.ndarray


def _unrealistic(sources: Mapping[str, tuple[np.ndarray, np.ndarray]], dataset: str, d: int, f: int,
                 rng: np.random.Generator, *, n_sources: int, max_anomalies: int,
                 max_rows: int) -> _Unrealistic:
    """Step 6: subsample each chosen source, map it to ``d``, then draw ``f`` rows of the pool
    stratified by the rows' own labels."""
    names = sorted(name for name in sources if name != dataset)
    if not names:
        raise ProtocolError(f"{dataset}: no other dataset among the sources {sorted(sources)}; the "
                            f"unrealistic auxiliary anomalies need at least 1")
    chosen = np.sort(rng.choice(np.array(names, dtype=object), size=min(n_sources, len(names)), replace=False))
    parts = [_source_part(str(name), sources[name], d, rng, max_anomalies, max_rows) for name in chosen]
    pool = _Unrealistic(*(np.concatenate([getattr(p, field) for p in parts])
                          for field in ("X", "source_dataset", "source_row", "source_label")))
    if pool.source_row.size < f:
        raise ProtocolError(f"{dataset}: the chosen sources {list(chosen)} give {pool.source_row.size} "
                            f"rows, fewer than the f={f} unrealistic auxiliary anomalies needed")
    pick = _stratified(rng, pool.source_label, f)
    return _Unrealistic(pool.X[pick], pool.source_dataset[pick], pool.source_row[pick], pool.source_label[pick])


def _source_part(name: str, source: tuple[np.ndarray, np.ndarray], d: int, rng: np.random.Generator,
                 max_anomalies: int, max_rows: int) -> _Unrealistic:
    """At most ``max_anomalies`` anomalies of a source, normals up to ``max_rows`` rows in all,
    mapped to dimension ``d``."""
    X_src, y_src = source
    X_src = check_features(X_src, name=f"source {name}")
    y_src = check_labels(y_src, name=f"source {name}", n_rows=X_src.shape[0])
    anomalies, normals = np.flatnonzero(y_src == 1), np.flatnonzero(y_src == 0)
    take_a = rng.choice(anomalies, size=min(max_anomalies, anomalies.size), replace=False)
    take_n = rng.choice(normals, size=min(max(max_rows - take_a.size, 0), normals.size), replace=False)
    rows = np.sort(np.concatenate([take_a, take_n]))
    mapped = map_to_dimension(X_src[rows], d, random_state=int(rng.integers(2**31)))
    return _Unrealistic(mapped, np.full(rows.size, name, dtype=object), rows, y_src[rows])


def _stratified(rng: np.random.Generator, labels: np.ndarray, k: int) -> np.ndarray:
    """``k`` distinct indices whose label mix matches ``labels``' (rounded), sorted."""
    ones, zeros = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    n_ones = round(k * ones.size / labels.size)
    n_ones = min(max(n_ones, k - zeros.size), ones.size)
    picked = np.concatenate([rng.choice(ones, size=n_ones, replace=False),
                             rng.choice(zeros, size=k - n_ones, replace=False)])
    return np.sort(picked)


# --------------------------------------------------------------------------- the auxiliary table
def _aux_frame(dataset: str, X: np.ndarray, realistic: np.ndarray, indistinguishable: np.ndarray,
               unrealistic: _Unrealistic, mean: np.ndarray, scale: np.ndarray) -> pd.DataFrame:
    """The auxiliary set, standardised, kinds in the order realistic, indistinguishable,
    unrealistic, with each row's provenance (``split_benchmark`` then shuffles the rows)."""
    f = realistic.size
    features = np.vstack([X[realistic], X[indistinguishable], unrealistic.X])
    own = np.concatenate([realistic, indistinguishable])
    return features_frame((features - mean) / scale, extra={
        "kind": np.repeat(np.array(KINDS, dtype=object), f),
        "generator": np.full(3 * f, GENERATOR_NAME, dtype=object),
        "source_dataset": np.concatenate([np.full(2 * f, dataset, dtype=object), unrealistic.source_dataset]),
        "source_row": np.concatenate([own, unrealistic.source_row]).astype(np.int64),
        "source_label": np.concatenate([np.ones(f), np.zeros(f), unrealistic.source_label]).astype(np.int8),
    })
