"""Influence by subsampling (Feldman & Zhang, NeurIPS 2020) of auxiliary anomalies.

Game (the reference's): ``n_models`` random subsets of exactly ``round(proportion·(n + l))``
rows of train ∪ auxiliary (``proportion`` = 0.7). The training rows of a subset form the
coalition ``S``; every auxiliary anomaly in the subset is added to ``S`` *alone* ("with":
``U(S ∪ {a_j})``), every one outside it records ``U(S)`` ("without"). Value = mean utility with
``a_j`` minus mean utility without. ``reuse="all"`` uses every (subset, a_j) pair on both sides:
the fast path values all auxiliary rows from each fit anyway, and the paired estimate
``mean(U(S ∪ {a_j}) − U(S))`` has far less variance (it is then Banzhaf at keep-rate 0.7 with
fixed-size subsets).

Budget: ``n_models`` detector fits (100). Cost O(n_models · (n + l)·n) plus the fits.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_scalar

from auxqual.quality.baselines._base import BaselineDetails, BaselineEstimator, DetectorUtilityMixin, check_choice
from auxqual.quality.baselines.utility import UtilityFunction


class InfluenceSubsample(DetectorUtilityMixin, BaselineEstimator):
    """Mean utility with ``a_j`` minus without, over random 70 % subsets (higher = better).

    Parameters
    ----------
    n_models : int
        Random subsets, one detector fit each (100).
    proportion : float
        Share of train ∪ auxiliary in each subset (0.7).
    reuse : {"membership", "all"}
        Which (subset, a_j) pairs count (see module docstring).
    utility, validation_size, exact, alpha, ssdo_k, prior_random_state, n_jobs, random_state,
    progress
        As ``DataShapley``.
    """

    def __init__(self, n_models: int = 100, proportion: float = 0.7, *, reuse: str = "membership",
                 utility: str | UtilityFunction = "f1", validation_size: float = 0.3, exact: bool = False,
                 alpha: float = 2.3,
                 ssdo_k: int = 5, prior_random_state: int | None = 1, n_jobs: int | None = 2,
                 random_state: int | None = 331, progress: bool = False) -> None:
        self.n_models = n_models
        self.proportion = proportion
        self.reuse = reuse
        self.utility = utility
        self.validation_size = validation_size
        self.exact = exact
        self.alpha = alpha
        self.ssdo_k = ssdo_k
        self.prior_random_state = prior_random_state
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.progress = progress

    def _check_params(self) -> None:
        super()._check_params()
        check_scalar(self.n_models, "n_models", Integral, min_val=1)
        check_scalar(self.proportion, "proportion", Real, min_val=0.0, max_val=1.0, include_boundaries="neither")
        check_choice("reuse", self.reuse, ("membership", "all"))


    def _values(self, X_aux: np.ndarray, record: BaselineDetails) -> np.ndarray:
        utility = self._make_utility(X_aux)
        rng = np.random.default_rng(self.random_state)
        n, n_aux = utility.n_players, utility.n_aux
        size = round(self.proportion * (n + n_aux))
        masks, members = [], []
        for _ in range(self.n_models):
            chosen = np.zeros(n + n_aux, dtype=bool)
            chosen[rng.choice(n + n_aux, size=size, replace=False)] = True
            masks.append(chosen[:n])
            members.append(chosen[n:])
        everyone = np.arange(n_aux)
        cands = [everyone if (self.reuse == "all" or not self.exact) else np.flatnonzero(a) for a in members]
        results = utility.batch_marginals([utility.coalition(players=m) for m in masks], cands)
        with_sum, with_n = np.zeros(n_aux), np.zeros(n_aux)
        without_sum, without_n = np.zeros(n_aux), np.zeros(n_aux)
        for cand, inside, res in zip(cands, members, results, strict=True):
            full = np.full(n_aux, np.nan)
            full[cand] = res.with_aux
            if self.reuse == "all":
                with_sum += full
                with_n += 1
                without_sum += res.base
                without_n += 1
            else:
                with_sum[inside] += full[inside]
                with_n[inside] += 1
                without_sum[~inside] += res.base
                without_n[~inside] += 1
        with_mean = np.divide(with_sum, with_n, out=np.zeros(n_aux), where=with_n > 0)
        without_mean = np.divide(without_sum, without_n, out=np.zeros(n_aux), where=without_n > 0)
        record.game = "adapted"
        record.utility = self._utility_name(utility)
        record.budget = {"n_models": self.n_models, "proportion": float(self.proportion), "reuse": self.reuse,
                        "fits": utility.n_evaluations}
        return with_mean - without_mean
