"""Map the rows of one dataset to the dimension of another (docs/concepts/protocol.md, step 6).

The evaluation protocol builds *unrealistic* auxiliary anomalies from rows of other datasets,
and the outlier-exposure generator does the same for users; both need those rows to have the
target's number of features ``d``. The recipe, in the protocol's order:

1. the source already has ``d`` features: unchanged;
2. ``min(rows, features) > d``: PCA to ``d`` components;
3. otherwise: the original features, then their PCA (all ``min(rows, features)`` components),
   then a feature agglomeration of them (``features - 1`` clusters, so it is not a copy), then a
   Gaussian random projection when the columns are still fewer than ``d``; cut to ``d`` columns.

Only the parts needed to reach ``d`` are computed, so the cut never discards computed work
beyond the original features (which come first and are kept whole when they alone exceed
``d``). The only random part is the projection, drawn from ``random_state``; PCA uses the
exact (LAPACK) solver, so the result is a deterministic function of the input.
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import FeatureAgglomeration
from sklearn.decomposition import PCA

from auxqual.io import check_features


def map_to_dimension(X_source: np.ndarray, d: int, *, random_state: int = 0) -> np.ndarray:
    """Return ``X_source`` (n × p) mapped to ``n × d`` by the protocol's step-6 recipe.

    Raises ``ValueError`` when the mapping is impossible: ``d`` not a positive integer, or a
    source with fewer than two rows (PCA and agglomeration need a spread of rows).
    """
    X = check_features(X_source, name="X_source")
    d = _check_dimension(d)
    n_rows, p = X.shape
    if n_rows < 2:
        raise ValueError(f"map_to_dimension: X_source has {n_rows} row; at least 2 rows are needed "
                         f"to map {p} features to d={d}")
    if p == d:
        return X.copy()
    if min(n_rows, p) > d:
        return _pca(X, d)
    return _concatenate(X, d, random_state)


def _check_dimension(d: int) -> int:
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
        raise ValueError(f"map_to_dimension: d must be a positive integer, got {d!r}")
    return int(d)


def _pca(X: np.ndarray, n_components: int) -> np.ndarray:
    """Exact PCA scores; sklearn's sign convention makes them deterministic."""
    return PCA(n_components=n_components, svd_solver="full").fit_transform(X)


def _agglomerate(X: np.ndarray, n_clusters: int) -> np.ndarray:
    """Mean-pooled feature clusters (Ward linkage on the feature columns)."""
    return FeatureAgglomeration(n_clusters=n_clusters).fit_transform(X)


def _random_projection(X: np.ndarray, n_components: int, random_state: int) -> np.ndarray:
    """Gaussian random projection, entries N(0, 1/n_components) as in scikit-learn's."""
    rng = np.random.default_rng(random_state)
    matrix = rng.normal(0.0, 1.0 / np.sqrt(n_components), size=(X.shape[1], n_components))
    return X @ matrix


def _concatenate(X: np.ndarray, d: int, random_state: int) -> np.ndarray:
    """Original features, their PCA, an agglomeration, then a random projection; cut to ``d``."""
    n_rows, p = X.shape
    parts = [X]
    missing = d - p
    if missing > 0:
        n_pca = min(missing, n_rows, p)
        parts.append(_pca(X, n_pca))
        missing -= n_pca
    if missing > 0 and p >= 2:  # p - 1 clusters: a real agglomeration, never a copy
        n_agg = min(missing, p - 1)
        parts.append(_agglomerate(X, n_agg))
        missing -= n_agg
    if missing > 0:
        parts.append(_random_projection(X, missing, random_state))
    return np.hstack(parts)[:, :d]
