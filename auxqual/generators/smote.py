"""Interpolation between labelled anomalies: SMOTE, Borderline-SMOTE and ADASYN.

The points come from imbalanced-learn's samplers, run on the training data with the labelled
anomalies as the minority class and asked for exactly ``n_samples`` new minority rows. Each
new point lies on a segment between a labelled anomaly and one of its ``k_neighbors`` nearest
labelled anomalies (Borderline-SMOTE-2 may also step, at most half-way, towards a normal).

imbalanced-learn does not say which pair a point came from, so the provenance is recovered
geometrically: among the candidate segments (each labelled anomaly to its nearest neighbours,
the very pairs the sampler draws from) the one nearest to the point is the one it lies on.
``source_row`` and ``source_row_2`` are its two ends, as indices into the training ``X``.
This uses only the samplers' public behaviour, not their private helpers.
"""

from __future__ import annotations

import numpy as np
from imblearn.over_sampling import ADASYN, SMOTE, BorderlineSMOTE
from sklearn.neighbors import NearestNeighbors

from auxqual.generators.base import BaseGenerator, Sample, check_count, normal_rows, spawn_int

MIN_LABELLED = 2
_CHUNK_CELLS = 2_000_000  # rows × candidate segments per block of the provenance search


def labelled_rows(y: np.ndarray, generator: str) -> np.ndarray:
    """Indices of the labelled anomalies; ``ValueError`` when fewer than two."""
    rows = np.flatnonzero(y == 1)
    if rows.size < MIN_LABELLED:
        raise ValueError(f"{generator}: needs at least {MIN_LABELLED} labelled anomalies (y == 1) to "
                         f"interpolate between, got {rows.size}")
    return rows


def candidate_segments(X: np.ndarray, starts: np.ndarray, pool: np.ndarray,
                       k: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(start, end)``: each start row to its ``k`` nearest rows of ``pool`` (itself excluded)."""
    k = min(k, pool.size - 1)
    neighbours = NearestNeighbors(n_neighbors=k + 1).fit(X[pool]).kneighbors(X[starts], return_distance=False)
    ends = pool[neighbours]
    pair_start = np.repeat(starts, k + 1)
    pair_end = ends.ravel()
    keep = pair_start != pair_end
    return pair_start[keep], pair_end[keep]


def nearest_segment(Z: np.ndarray, X: np.ndarray, starts: np.ndarray,
                    ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``Z``, the ends ``(start, end)`` of the nearest segment ``X[start]–X[end]``.

    Squared distance to a segment: ``|a|² − 2s·(a·v) + s²|v|²`` with ``a = z − x_start``,
    ``v = x_end − x_start`` and ``s`` the projection clipped to ``[0, 1]``; everything is a
    matrix product over blocks of rows, on data centred to keep the expansion accurate.
    """
    centre = X[starts].mean(axis=0)
    A, V = X[starts] - centre, X[ends] - X[starts]
    Zc = Z - centre
    vv = np.einsum("ij,ij->i", V, V)
    av, aa = np.einsum("ij,ij->i", A, V), np.einsum("ij,ij->i", A, A)
    best = np.empty(Z.shape[0], dtype=np.int64)
    step = max(1, _CHUNK_CELLS // starts.size)
    for lo in range(0, Z.shape[0], step):  # blocks of rows, each fully vectorised
        z = Zc[lo:lo + step]
        dot = z @ V.T - av                                   # a·v
        sq = np.einsum("ij,ij->i", z, z)[:, None] - 2 * z @ A.T + aa  # |a|²
        s = np.clip(np.divide(dot, vv, out=np.zeros_like(dot), where=vv > 0), 0.0, 1.0)
        best[lo:lo + step] = np.argmin(sq - 2 * s * dot + s * s * vv, axis=1)
    return starts[best], ends[best]


class _SMOTEFamily(BaseGenerator):
    """Run an imbalanced-learn over-sampler for ``n_samples`` new labelled-anomaly rows.

    ``k_neighbors`` is capped at (number of labelled anomalies − 1), so two labelled anomalies
    suffice. Subclasses build the sampler and name the pool the segments' far ends come from.
    """

    def _validate(self, X: np.ndarray, y: np.ndarray) -> None:
        check_count("k_neighbors", self.k_neighbors)
        labelled_rows(y, self.name)
        normal_rows(y, 1, self.name)

    def _k(self, y: np.ndarray) -> int:
        return min(self.k_neighbors, int(y.sum()) - 1)

    def _sampler(self, y: np.ndarray, n_request: int, seed: int):
        raise NotImplementedError

    def _end_pool(self, y: np.ndarray) -> np.ndarray:
        return np.flatnonzero(y == 1)

    def _new_rows(self, X: np.ndarray, y: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        sampler = self._sampler(y, n_samples, spawn_int(rng))
        X_res, _ = sampler.fit_resample(X, y)
        return X_res[X.shape[0]:]

    def _sample(self, X: np.ndarray, y: np.ndarray, n_samples: int, rng: np.random.Generator) -> Sample:
        new = self._new_rows(X, y, n_samples, rng)
        starts, ends = candidate_segments(X, np.flatnonzero(y == 1), self._end_pool(y), self._k(y))
        row, row_2 = nearest_segment(new, X, starts, ends)
        return Sample(X=new, source_row=row, extra={"source_row_2": row_2})


class SMOTEGenerator(_SMOTEFamily):
    """SMOTE: uniform points on segments between labelled anomalies and their neighbours."""

    name = "smote"

    def __init__(self, k_neighbors: int = 5):
        self.k_neighbors = k_neighbors

    def _sampler(self, y: np.ndarray, n_request: int, seed: int) -> SMOTE:
        target = {1: int(y.sum()) + n_request}
        return SMOTE(sampling_strategy=target, k_neighbors=self._k(y), random_state=seed)


class BorderlineSMOTEGenerator(_SMOTEFamily):
    """Borderline-SMOTE: SMOTE from the labelled anomalies "in danger" only, i.e. those with at
    least half, but not all, of their ``m_neighbors`` nearest training rows normal.

    Labelled anomalies far from every normal are "noise" to it and are not used; when none is
    in danger it cannot generate anything and ``generate`` raises ``ValueError``.
    ``kind='borderline-2'`` also interpolates towards normal neighbours (by at most half the
    way); ``source_row_2`` is then a normal row.
    """

    name = "borderline_smote"

    def __init__(self, k_neighbors: int = 5, m_neighbors: int = 10, kind: str = "borderline-1"):
        self.k_neighbors = k_neighbors
        self.m_neighbors = m_neighbors
        self.kind = kind

    def _validate(self, X: np.ndarray, y: np.ndarray) -> None:
        super()._validate(X, y)
        check_count("m_neighbors", self.m_neighbors)
        if self.kind not in ("borderline-1", "borderline-2"):
            raise ValueError(f"kind must be 'borderline-1' or 'borderline-2', got {self.kind!r}")

    def _sampler(self, y: np.ndarray, n_request: int, seed: int) -> BorderlineSMOTE:
        target = {1: int(y.sum()) + n_request}
        return BorderlineSMOTE(sampling_strategy=target, k_neighbors=self._k(y),
                               m_neighbors=min(self.m_neighbors, y.size - 1), kind=self.kind,
                               random_state=seed)

    def _end_pool(self, y: np.ndarray) -> np.ndarray:
        return np.arange(y.size) if self.kind == "borderline-2" else np.flatnonzero(y == 1)

    def _new_rows(self, X: np.ndarray, y: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        new = super()._new_rows(X, y, n_samples, rng)
        if new.shape[0] == 0:
            raise ValueError(f"{self.name}: none of the {int(y.sum())} labelled anomalies is in danger "
                             f"(between half and all but one of its m_neighbors={self.m_neighbors} "
                             f"nearest rows normal), so there is nothing to interpolate from; use 'smote'")
        return new


class ADASYNGenerator(_SMOTEFamily):
    """ADASYN: SMOTE with more points from the labelled anomalies that have more normal
    neighbours (among their ``k_neighbors`` nearest training rows).

    ADASYN rounds its per-anomaly counts, so it is asked for up to one extra row per labelled
    anomaly and exactly ``n_samples`` of its rows are kept at random (in their order).
    """

    name = "adasyn"

    def __init__(self, k_neighbors: int = 5):
        self.k_neighbors = k_neighbors

    def _sampler(self, y: np.ndarray, n_request: int, seed: int) -> ADASYN:
        target = {1: int(y.sum()) + n_request}
        return ADASYN(sampling_strategy=target, n_neighbors=self._k(y), random_state=seed)

    def _new_rows(self, X: np.ndarray, y: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        sampler = self._sampler(y, n_samples + int(y.sum()), spawn_int(rng))
        try:
            X_res, _ = sampler.fit_resample(X, y)
        except RuntimeError as error:  # no labelled anomaly has a normal among its neighbours
            raise ValueError(f"{self.name}: none of the {int(y.sum())} labelled anomalies has a normal row "
                             f"among its {self._k(y)} nearest neighbours; ADASYN needs one ({error})") from error
        new = X_res[X.shape[0]:]
        if new.shape[0] < n_samples:
            raise ValueError(f"{self.name}: produced {new.shape[0]} rows, fewer than n_samples={n_samples}")
        keep = np.sort(rng.choice(new.shape[0], size=n_samples, replace=False))
        return new[keep]
