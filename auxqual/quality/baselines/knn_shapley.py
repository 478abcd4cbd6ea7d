"""KNN Shapley of auxiliary anomalies: the exact recursion of Jia et al. (VLDB 2019).

Model-free. For a K-nearest-neighbour classifier and one validation point ``v`` with label
``y_v``, the utility of a set ``S`` of labelled points is
``U_v(S) = (1/K) Σ_{k ≤ min(K, |S|)} 1[y(α_k(S)) = y_v]`` (α_k = the k-th nearest to ``v``). With
the ``N`` players sorted by distance to ``v`` (α_1 nearest), its Shapley values are exactly

    s(α_N) = 1[y(α_N) = y_v] / N,
    s(α_i) = s(α_{i+1}) + (1[y(α_i) = y_v] − 1[y(α_{i+1}) = y_v]) / K · min(K, i) / i,

and the value for a validation set is the mean over its points. Game (adapted, the reference's):
the players are train ∪ {a_j} (``a_j`` labelled anomaly), the validation set is the training set
itself (every training point is also a player, so it is its own nearest neighbour); ``a_j``
gains value near labelled anomalies and loses it near normals.

Only ``a_j``'s own value is needed, so the recursion is solved once per validation point for
the training players (a suffix sum) and ``a_j`` is inserted at its rank: with ``e_m`` the match
indicators of the sorted training points and ``w(m) = min(K, m)/(K·m)``, ``a_j`` at rank ``r`` is
worth ``e_n/N + (e_a − e_r)·w(r) + Σ_{m=r+1}^{n} (e_{m−1} − e_m)·w(m)`` (``e_a/N`` when last).
Ties in distance put ``a_j`` after the training points at the same distance (the reference's
stable sort with ``a_j`` appended last). Cost O(n² log n + l·n log n), memory O(n²).
``game="textbook"``: the players are train ∪ all auxiliary anomalies at once (one recursion over
n + l players per validation point), and the value of each auxiliary anomaly is read off.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from scipy.spatial.distance import cdist
from sklearn.utils import check_scalar

from auxqual.quality.baselines._base import BaselineDetails, BaselineEstimator


def knn_shapley_recursion(labels_sorted: np.ndarray, target: int, n_neighbors: int) -> np.ndarray:
    """Exact Shapley values of the players sorted by distance to one validation point.

    ``labels_sorted[i]`` is the label of the (i+1)-th nearest player. Returns the values in
    the same (sorted) order (Jia et al. 2019, Theorem 1).
    """
    match = (np.asarray(labels_sorted) == target).astype(np.float64)
    N = match.size
    values = np.empty(N)
    values[N - 1] = match[N - 1] / N
    for i in range(N - 2, -1, -1):  # 0-based i ↔ rank i + 1
        rank = i + 1
        values[i] = values[i + 1] + (match[i] - match[i + 1]) / n_neighbors * min(n_neighbors, rank) / rank
    return values


def _insertion_values(match: np.ndarray, e_a: np.ndarray, K: int) -> np.ndarray:
    """Value of one extra player inserted at every rank ``r = 1 … n + 1`` (columns), per row.

    ``match`` (V × n): match indicators of the training players sorted by distance to each of V
    validation points; ``e_a`` (V,): whether the extra player's label matches.
    """
    V, n = match.shape
    N = n + 1
    m = np.arange(1, n + 1, dtype=np.float64)
    w = np.minimum(K, m) / (K * m)                                   # w(m), m = 1 … n
    diff = np.zeros((V, n))
    diff[:, 1:] = (match[:, :-1] - match[:, 1:]) * w[None, 1:]       # term at m = 2 … n
    # tail[r-1] = Σ_{m=r+1}^{n} (e_{m-1} − e_m) w(m)  for r = 1 … n
    tail = np.zeros((V, n))
    tail[:, :-1] = np.cumsum(diff[:, ::-1], axis=1)[:, ::-1][:, 1:]
    out = np.empty((V, N))
    out[:, :n] = match[:, -1:] / N + (e_a[:, None] - match) * w[None, :] + tail
    out[:, n] = e_a / N
    return out


class KNNShapley(BaselineEstimator):
    """Exact KNN Shapley value of every auxiliary anomaly within train ∪ {a_j} (higher = better).

    Parameters
    ----------
    n_neighbors : int
        K of the classifier (10).
    game : {"adapted", "textbook"}
        ``a_j`` alone with the training set (default), or all auxiliary anomalies at once.
    """

    games = ("adapted", "textbook")

    def __init__(self, n_neighbors: int = 10, *, game: str = "adapted") -> None:
        self.n_neighbors = n_neighbors
        self.game = game

    def _check_params(self) -> None:
        super()._check_params()
        check_scalar(self.n_neighbors, "n_neighbors", Integral, min_val=1)

    def _values(self, X_aux: np.ndarray, record: BaselineDetails) -> np.ndarray:
        X, y, K = self.X_train_, self.y_train_.astype(np.int64), self.n_neighbors
        record.game = self.game
        record.utility = f"knn likelihood (K={K}) on the training set"
        record.budget = {"fits": 0, "exact": True}
        if self.game == "textbook":
            return self._textbook(X, y, X_aux, K)
        D = cdist(X, X)                                                    # validation × train
        order = np.argsort(D, axis=1, kind="stable")
        D_sorted = np.take_along_axis(D, order, axis=1)
        match = (y[order] == y[:, None]).astype(np.float64)
        e_a = (y == 1).astype(np.float64)                                  # a_j is labelled anomaly
        table = _insertion_values(match, e_a, K)                           # V × (n + 1)
        D_aux = cdist(X, X_aux)                                            # validation × aux
        values = np.zeros(X_aux.shape[0])
        rows = np.arange(X.shape[0])
        for v in rows:
            rank0 = np.searchsorted(D_sorted[v], D_aux[v], side="right")   # 0-based insertion rank
            values += table[v, rank0]
        return values / X.shape[0]

    @staticmethod
    def _textbook(X: np.ndarray, y: np.ndarray, X_aux: np.ndarray, K: int) -> np.ndarray:
        players = np.vstack([X, X_aux])
        labels = np.concatenate([y, np.ones(X_aux.shape[0], np.int64)])
        n, N = X.shape[0], players.shape[0]
        values = np.zeros(N)
        w = np.minimum(K, np.arange(1, N + 1)) / (K * np.arange(1, N + 1.0))
        for v in range(n):
            d = np.sqrt(((players - X[v]) ** 2).sum(axis=1))
            order = np.argsort(d, kind="stable")
            match = (labels[order] == y[v]).astype(np.float64)
            s = np.empty(N)
            s[-1] = match[-1] / N
            steps = (match[:-1] - match[1:]) * w[:-1]
            s[:-1] = s[-1] + np.cumsum(steps[::-1])[::-1]
            values[order] += s
        return values[n:] / n
