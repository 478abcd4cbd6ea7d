"""Robust Volume Shapley (Xu, Wu, Foo & Low, NeurIPS 2021) of auxiliary anomalies.

Model-free and label-free. The utility of a set of rows is its *robust volume*: the rows are
discretised into hypercubes of side ``omega`` (0.05); ``X̃`` holds the mean of every occupied
cube and

    RV(S) = sqrt(|det(X̃ᵀX̃)| + 1e-8) · Π_cubes (1 − α^(c+1)) / (1 − α),   α = 1 / (10·#cubes),

with ``c`` the number of rows in a cube (replicated rows add little). ``det`` is computed as a
log-determinant in float64 (``np.linalg.slogdet``) and the whole utility in log space, so large
sets do not overflow; the values are in units of the robust volume of the full training set
(a constant factor, which leaves the ranking unchanged).

Game (adapted): the training points are the players and ``a_j`` joins each prefix alone; the
Shapley value is estimated with the same truncated permutation sampler as Data Shapley
(``n_permutations × n_positions`` prefixes). Every prefix values all auxiliary rows in one batch:
``a_j`` either opens a new cube (``X̃ᵀX̃ + a aᵀ``) or moves the mean of its cube (a rank-2 update),
and the ``l`` updated d × d Gram matrices go through one batched ``slogdet``.
``game="textbook"``: the auxiliary anomalies are the players, the training set always in.

Deviation from the reference: the cube grid is anchored at the minimum of train ∪ auxiliary
(fixed), not at the minimum of each evaluated set, so a row's cube does not depend on the others.
Cost O(prefixes · (l·d³ + n·d)); no model fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_scalar

from auxqual.quality.baselines._base import BaselineDetails, BaselineEstimator
from auxqual.quality.baselines.semivalues import DeltaFunction, permutation_strata, semivalue, shapley_weights

DET_FLOOR = 1e-8  # the reference's sqrt(|det| + 1e-8)


def _log_volume_term(logdet: np.ndarray) -> np.ndarray:
    """``log sqrt(|det| + 1e-8)`` from ``log|det|`` (−inf for a singular matrix)."""
    return 0.5 * np.logaddexp(logdet, np.log(DET_FLOOR))


def _log_replication(counts: np.ndarray, n_cubes: np.ndarray) -> np.ndarray:
    """``Σ_cubes log((1 − α^(c+1)) / (1 − α))`` with α = 1/(10·n_cubes); counts rows per column set."""
    alpha = 1.0 / (10.0 * n_cubes)
    return np.log1p(-np.power(alpha, counts + 1.0)).sum() - counts.size * np.log1p(-alpha)


def robust_log_volume(X: np.ndarray, cube_ids: np.ndarray) -> float:
    """``log RV`` of the rows ``X`` whose cubes are ``cube_ids`` (direct computation)."""
    if X.shape[0] == 0:
        return float(_log_volume_term(np.array(-np.inf)))
    cubes, inverse, counts = np.unique(cube_ids, return_inverse=True, return_counts=True)
    means = np.zeros((cubes.size, X.shape[1]))
    np.add.at(means, inverse, X)
    means /= counts[:, None]
    sign, logdet = np.linalg.slogdet(means.T @ means)
    logdet = logdet if sign != 0 else -np.inf
    alpha = 1.0 / (10.0 * cubes.size)
    replication = np.log1p(-np.power(alpha, counts + 1.0)).sum() - cubes.size * np.log1p(-alpha)
    return float(_log_volume_term(np.array(logdet)) + replication)


class _VolumeGame:
    """Robust log-volumes of ``base ∪ prefix`` and of ``base ∪ prefix ∪ {a_j}`` for all j."""

    def __init__(self, X_players: np.ndarray, X_aux: np.ndarray, ids_players: np.ndarray, ids_aux: np.ndarray,
                 X_base: np.ndarray | None, ids_base: np.ndarray | None, scale_log: float) -> None:
        self.Xp, self.Xa, self.ip, self.ia = X_players, X_aux, ids_players, ids_aux
        self.Xb = np.zeros((0, X_aux.shape[1])) if X_base is None else X_base
        self.ib = np.zeros(0, np.int64) if ids_base is None else ids_base
        self.scale_log = scale_log

    def deltas(self, masks: Sequence[np.ndarray], skip_players_in_mask: bool = False) -> list[np.ndarray]:
        return [self._one(mask, skip_players_in_mask) for mask in masks]

    def _one(self, mask: np.ndarray, skip: bool) -> np.ndarray:
        X = np.vstack([self.Xb, self.Xp[mask]])
        ids = np.concatenate([self.ib, self.ip[mask]])
        d = X.shape[1]
        if X.shape[0]:
            cubes, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
            sums = np.zeros((cubes.size, d))
            np.add.at(sums, inverse, X)
        else:
            cubes, counts, sums = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, d))
        means = sums / np.maximum(counts, 1)[:, None]
        G = means.T @ means
        K = cubes.size
        cf = counts.astype(np.float64)
        # base utility
        sign, logdet = np.linalg.slogdet(G) if K else (0.0, -np.inf)
        log_base = _log_volume_term(np.array(logdet if sign != 0 else -np.inf))
        if K:
            log_base = log_base + _log_replication(cf, np.array(K, float))
        # with each a_j
        pos = np.searchsorted(cubes, self.ia)
        joined = (pos < K) & (cubes[np.minimum(pos, max(K - 1, 0))] == self.ia) if K else np.zeros(self.ia.size, bool)
        Gj = np.broadcast_to(G, (self.ia.size, d, d)).copy()
        a = self.Xa
        new = ~joined
        Gj[new] += a[new][:, :, None] * a[new][:, None, :]
        if joined.any():
            q = pos[joined]
            mu = means[q]
            mu_new = (sums[q] + a[joined]) / (counts[q] + 1.0)[:, None]
            Gj[joined] += mu_new[:, :, None] * mu_new[:, None, :] - mu[:, :, None] * mu[:, None, :]
        sign_j, logdet_j = np.linalg.slogdet(Gj)
        logdet_j = np.where(sign_j != 0, logdet_j, -np.inf)
        log_with = _log_volume_term(logdet_j)
        # replication factor after adding a_j
        rep = np.empty(self.ia.size)
        if new.any():
            alpha = 1.0 / (10.0 * (K + 1))
            rep[new] = (np.log1p(-np.power(alpha, cf + 1.0)).sum() + np.log1p(-alpha ** 2)
                        - (K + 1) * np.log1p(-alpha))
        if joined.any():
            alpha = 1.0 / (10.0 * K)
            same = np.log1p(-np.power(alpha, cf + 1.0)).sum() - K * np.log1p(-alpha)
            c = cf[pos[joined]]
            rep[joined] = same - np.log1p(-alpha ** (c + 1.0)) + np.log1p(-alpha ** (c + 2.0))
        log_with = log_with + rep
        delta = np.exp(log_with - self.scale_log) - np.exp(log_base - self.scale_log)
        return delta


class RobustVolumeShapley(BaselineEstimator):
    """Shapley value of every auxiliary anomaly for the robust-volume utility (higher = better).

    Parameters
    ----------
    omega : float
        Side of the discretisation hypercubes (0.05).
    n_permutations, n_positions, min_cardinality : int
        Permutation sampler (100, 20, 0): the volume is cheap, so the budget is larger than for
        the detector-based Shapley estimators.
    game : {"adapted", "textbook"}
        Who the players are.
    random_state : int
        Seed of the permutations.
    """

    games = ("adapted", "textbook")

    def __init__(self, omega: float = 0.05, n_permutations: int = 100, n_positions: int = 20,
                 min_cardinality: int = 0, *, game: str = "adapted", random_state: int | None = 331) -> None:
        self.omega = omega
        self.n_permutations = n_permutations
        self.n_positions = n_positions
        self.min_cardinality = min_cardinality
        self.game = game
        self.random_state = random_state

    def _check_params(self) -> None:
        super()._check_params()
        check_scalar(self.omega, "omega", Real, min_val=0.0, include_boundaries="neither")
        check_scalar(self.n_permutations, "n_permutations", Integral, min_val=1)
        check_scalar(self.n_positions, "n_positions", Integral, min_val=1)
        check_scalar(self.min_cardinality, "min_cardinality", Integral, min_val=0)

    def cube_ids(self, X_aux: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Integer cube of every training and auxiliary row (grid anchored at their joint minimum)."""
        both = np.vstack([self.X_train_, X_aux])
        keys = np.floor((both - both.min(axis=0)) / self.omega).astype(np.int64)
        _, ids = np.unique(keys, axis=0, return_inverse=True)
        ids = ids.ravel()
        return ids[: self.X_train_.shape[0]], ids[self.X_train_.shape[0]:]

    def _values(self, X_aux: np.ndarray, record: BaselineDetails) -> np.ndarray:
        X = self.X_train_
        n, n_aux = X.shape[0], X_aux.shape[0]
        ids_train, ids_aux = self.cube_ids(X_aux)
        scale = robust_log_volume(X, ids_train)
        rng = np.random.default_rng(self.random_state)
        deltas: DeltaFunction
        if self.game == "adapted":
            game = _VolumeGame(X, X_aux, ids_train, ids_aux, None, None, scale)
            n_players, high, deltas = n, n, game.deltas
        else:
            game = _VolumeGame(X_aux, X_aux, ids_aux, ids_aux, X, ids_train, scale)

            def textbook_deltas(masks: Sequence[np.ndarray]) -> list[np.ndarray]:
                out = game.deltas(masks)
                for mask, delta in zip(masks, out, strict=True):
                    delta[mask] = np.nan
                return out
            n_players, high, deltas = n_aux, n_aux - 1, textbook_deltas
        low = min(self.min_cardinality, high)
        sums, counts, n_coalitions = permutation_strata(
            n_players, n_aux, deltas, n_permutations=self.n_permutations, n_positions=self.n_positions,
            min_cardinality=low, max_cardinality=high, rng=rng)
        record.game = self.game
        record.utility = f"robust volume (omega={self.omega:g}), in units of the training set's"
        record.budget = {"n_permutations": self.n_permutations, "n_positions": self.n_positions,
                        "min_cardinality": low, "coalitions": n_coalitions, "fits": 0}
        return semivalue(sums, counts, shapley_weights(high))
