"""LAVA (Just et al., ICLR 2023) of auxiliary anomalies: optimal-transport sensitivity.

Model-free and label-aware. The distance between the training set plus ``a_j`` (source, ``a_j``
labelled anomaly) and the training set (target) is the entropic optimal-transport dataset
distance (OTDD, Alvarez-Melis & Fusi 2020) with the ground cost

    C((x, y), (x', y')) = ‖x − x'‖² / 2 + W(y, y') / 2,

where ``W(y, y')`` is the OT cost (``‖x − x'‖²/2``) between the class-conditional point clouds of
class ``y`` in the source and ``y'`` in the target (exact, ``ot.emd2``; the reference's debiased
Sinkhorn divergence at ε = 0.1 approximates it). The value is minus the *calibrated gradient* of
the distance with respect to ``a_j``'s mass, read off the dual potential ``f`` of the source:
``−(f_a − Σ_{i ≠ a} f_i / (N − 1))`` (the reference's ``−(f_a(1 + 1/n) − Σ f / n)``): positive when
moving mass onto ``a_j`` brings the source closer to the training set.

Solver: ``reg > 0`` (0.1, the reference's ``entreg``) solves the entropic problem with POT's
log-stabilised Sinkhorn (``ot.sinkhorn(method="sinkhorn_stabilized")``, whose ``alpha`` is
the dual potential); ``reg = 0`` uses the exact ``ot.emd`` and its duals.

Fast path (default): one solve of train → train; then, for every ``a_j`` at once, its potential
is the (soft, for ``reg > 0``) c-transform of the target potential ``g``:
``f_a = reg·log(1/(n+1)) − reg·logsumexp_k((g_k − C(a_j, x_k))/reg)`` (``min_k C − g`` for emd),
and the training potentials stay those of the base problem (shifted by ``reg·log(n/(n+1))`` for
the new masses). It approximates the re-solved problem by one Sinkhorn half-step from the base
solution: the target potential ``g`` and the class costs ``W`` are those **without** ``a_j``.
``exact=True`` recomputes ``W`` with ``a_j`` in the source anomaly class and re-solves the
(n + 1) × n problem per ``a_j``, warm-started from the fast-path potentials.
``game="textbook"``: all auxiliary anomalies join the source at once; one solve; each gets its
calibrated gradient. Cost: fast path one n × n solve + O(l·n); exact l solves.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import ot
from scipy.spatial.distance import cdist
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_scalar
from tqdm.auto import tqdm

from auxqual.quality.baselines._base import BaselineDetails, BaselineEstimator


def class_distance(A: np.ndarray, B: np.ndarray) -> float:
    """Exact OT cost between two uniform point clouds with ground cost ``‖x − x'‖² / 2``."""
    if A.shape[0] == 0 or B.shape[0] == 0:
        return 0.0
    M = cdist(A, B, "sqeuclidean") / 2.0
    return float(ot.emd2(np.full(A.shape[0], 1.0 / A.shape[0]), np.full(B.shape[0], 1.0 / B.shape[0]), M,
                         numItermax=1_000_000))


def label_costs(X_src: np.ndarray, y_src: np.ndarray, X_tgt: np.ndarray, y_tgt: np.ndarray) -> np.ndarray:
    """``W[c, c']`` for source class c and target class c' in {0, 1}."""
    W = np.zeros((2, 2))
    for c in (0, 1):
        for c2 in (0, 1):
            A, B = X_src[y_src == c], X_tgt[y_tgt == c2]
            same = A.shape == B.shape and np.array_equal(A, B)
            W[c, c2] = 0.0 if same else class_distance(A, B)
    return W


def calibrated_values(f: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``−(f_i − Σ_{k ≠ i} f_k / (N − 1))`` for the source rows ``rows``."""
    N = f.size
    return -(f[rows] - (f.sum() - f[rows]) / (N - 1))


class LAVA(BaselineEstimator):
    """Label-aware OT sensitivity of the training set to each auxiliary anomaly (higher = better).

    Parameters
    ----------
    reg : float
        Entropic regularisation of the outer problem (0.1); 0 = exact ``ot.emd``.
    exact : bool
        Re-solve the problem for every ``a_j`` (see module docstring).
    game : {"adapted", "textbook"}
        ``a_j`` alone with the training set (default), or all auxiliary anomalies at once.
    max_iter, tol : Sinkhorn's iteration cap (2000) and marginal tolerance (1e-9).
    progress : bool
        Progress bar over the auxiliary rows (exact path).
    """

    games = ("adapted", "textbook")

    def __init__(self, reg: float = 0.1, *, exact: bool = False, game: str = "adapted", max_iter: int = 2000,
                 tol: float = 1e-9, progress: bool = False) -> None:
        self.reg = reg
        self.exact = exact
        self.game = game
        self.max_iter = max_iter
        self.tol = tol
        self.progress = progress

    def _check_params(self) -> None:
        super()._check_params()
        check_scalar(self.reg, "reg", Real, min_val=0.0)
        check_scalar(self.max_iter, "max_iter", Integral, min_val=1)
        check_scalar(self.tol, "tol", Real, min_val=0.0, include_boundaries="neither")
        if not isinstance(self.exact, bool):
            raise ValueError(f"exact must be a bool, got {self.exact!r}")

    def _check_training(self, X: np.ndarray, y: np.ndarray) -> None:
        if int(y.sum()) == 0:
            raise ValueError("LAVA needs at least one labelled anomaly in y_train (the anomaly class of the "
                             "label-aware cost), got none")
        if int((y == 0).sum()) == 0:
            raise ValueError("LAVA needs at least one labelled normal in y_train, got none")

    # ------------------------------------------------------------------ solvers
    def _solve(self, a: np.ndarray, b: np.ndarray, C: np.ndarray, record: BaselineDetails,
               warm: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Dual potentials ``(f, g)`` of the OT problem (entropic when ``reg > 0``); what the
        solve cost and where it fell short is counted in ``record.budget``."""
        if self.reg == 0.0:
            _, log = ot.emd(a, b, C, log=True, numItermax=1_000_000,
                            potentials_init=None if warm is None else warm)
            record.budget["ot_unconverged"] += bool(log.get("warning"))
            return np.asarray(log["u"]), np.asarray(log["v"])
        if warm is not None:
            # re-balance the rows for this cost: every row's plan then sums to its mass, so no row
            # of the stabilised kernel underflows to zero
            warm = (self._c_transform(C, warm[1], a), warm[1])
        with warnings.catch_warnings():
            # POT's own warnings (no convergence, overflow) are counted in record.budget instead
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            _, log = ot.sinkhorn(a, b, C, self.reg, method="sinkhorn_stabilized", log=True,
                                 numItermax=self.max_iter, stopThr=self.tol, warmstart=warm)
            f, g = np.asarray(log["alpha"]), np.asarray(log["beta"])
            if not (np.isfinite(f).all() and np.isfinite(g).all()):
                # the stabilised iterations can overflow on hard problems: the log-domain solver cannot
                record.budget["solver_fallbacks"] += 1
                _, log = ot.sinkhorn(a, b, C, self.reg, method="sinkhorn_log", log=True,
                                     numItermax=self.max_iter, stopThr=self.tol)
                f, g = self.reg * np.asarray(log["log_u"]), self.reg * np.asarray(log["log_v"])
        error = float(log["err"][-1]) if log["err"] else np.inf
        record.budget["ot_unconverged"] += not error <= self.tol
        record.extra["max_marginal_error"] = max(record.extra.get("max_marginal_error", 0.0), error)
        return f, g

    def _warn_about_solves(self, record: BaselineDetails) -> None:
        """Say when a Sinkhorn solve fell back to the log-domain solver: the values then come
        from a different (slower, overflow-free) iteration, which a reader should know."""
        fallbacks = record.budget["solver_fallbacks"]
        if fallbacks:
            warnings.warn(f"LAVA: {fallbacks} of {record.budget['ot_solves']} Sinkhorn solves overflowed in the "
                          f"stabilised solver and were re-solved in the log domain (reg={self.reg:g}); "
                          f"{record.budget['ot_unconverged']} solve(s) stopped at max_iter={self.max_iter} above "
                          f"tol={self.tol:g} (largest marginal error {record.extra['max_marginal_error']:.2g})",
                          ConvergenceWarning, stacklevel=2)

    def _c_transform(self, C_rows: np.ndarray, g: np.ndarray, mass: float | np.ndarray) -> np.ndarray:
        """Potential of source rows (cost rows ``C_rows``, masses ``mass``) given the target
        potential ``g``: the soft c-transform ``reg·log(mass) − reg·logsumexp((g − C)/reg)``
        (the hard ``min(C − g)`` for ``reg = 0``)."""
        if self.reg == 0.0:
            return (C_rows - g[None, :]).min(axis=1)
        return self.reg * np.log(mass) - self.reg * logsumexp((g[None, :] - C_rows) / self.reg, axis=1)

    # ------------------------------------------------------------------ values
    def _values(self, X_aux: np.ndarray, record: BaselineDetails) -> np.ndarray:
        """The values, with what the solves cost and where they fell short in ``record.budget``
        (``solver_fallbacks``: overflowed stabilised solves re-solved in the log domain;
        ``ot_unconverged``: solves that stopped at ``max_iter`` above ``tol``)."""
        record.game = self.game
        record.utility = (f"label-aware OT distance (reg={self.reg:g}) of train ∪ aux to train"
                         + (" (exact re-solve)" if self.exact else " (fast path)"))
        record.budget = {"ot_solves": 1, "reg": float(self.reg), "fits": 0, "solver_fallbacks": 0,
                        "ot_unconverged": 0}
        record.extra["max_marginal_error"] = 0.0
        values = self._solved_values(X_aux, record)
        self._warn_about_solves(record)
        return values

    def _solved_values(self, X_aux: np.ndarray, record: BaselineDetails) -> np.ndarray:
        X, y = self.X_train_, self.y_train_
        n, n_aux = X.shape[0], X_aux.shape[0]
        b = np.full(n, 1.0 / n)
        if self.game == "textbook":
            X_src = np.vstack([X, X_aux])
            y_src = np.concatenate([y, np.ones(n_aux, y.dtype)])
            W = label_costs(X_src, y_src, X, y)
            C = cdist(X_src, X, "sqeuclidean") / 2.0 + W[y_src][:, y] / 2.0
            f, _ = self._solve(np.full(n + n_aux, 1.0 / (n + n_aux)), b, C, record)
            return calibrated_values(f, np.arange(n, n + n_aux))
        W = label_costs(X, y, X, y)
        C = cdist(X, X, "sqeuclidean") / 2.0 + W[y][:, y] / 2.0
        f, g = self._solve(np.full(n, 1.0 / n), b, C, record)
        shift = self.reg * np.log(n / (n + 1.0)) if self.reg > 0 else 0.0
        f_train = f + shift
        C_aux = cdist(X_aux, X, "sqeuclidean") / 2.0 + W[1][y][None, :] / 2.0
        f_aux = self._c_transform(C_aux, g, 1.0 / (n + 1))
        if not self.exact:
            # calibrated gradient with the base training potentials: −(f_a − mean f_train)
            return -(f_aux - f_train.mean())
        a = np.full(n + 1, 1.0 / (n + 1))
        values = np.empty(n_aux)
        y_src = np.concatenate([y, [1]]).astype(y.dtype)
        for j in tqdm(range(n_aux), desc="LAVA", unit="aux", disable=not self.progress):
            X_src = np.vstack([X, X_aux[j:j + 1]])
            W_j = label_costs(X_src, y_src, X, y)
            C_j = cdist(X_src, X, "sqeuclidean") / 2.0 + W_j[y_src][:, y] / 2.0
            warm = (np.append(f_train, f_aux[j]), g)
            f_j, _ = self._solve(a, b, C_j, record, warm)
            values[j] = calibrated_values(f_j, np.array([n]))[0]
        record.budget["ot_solves"] = 1 + n_aux
        return values
