"""Data Banzhaf of auxiliary anomalies (Wang & Jia, AISTATS 2023), maximum sample reuse.

Game (default ``"adapted"``): random masks keep every training point with probability 0.5;
value = mean over masks of ``U(mask ∪ {a_j})`` minus mean of ``U(mask)`` — the paired
(maximum-sample-reuse) estimator of the Banzhaf value of ``a_j`` in the game train ∪ {a_j}:
every mask serves every auxiliary row, because the fast path values all of them from one fit.
``"textbook"``: the masks are over the auxiliary anomalies (training set always in) and ``a_j``
is valued on the masks that leave it out.

Budget: ``n_masks`` detector fits (300). Cost O(n_masks · (n + l)·n) plus the fits.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.utils import check_scalar

from auxqual.quality.baselines._base import BaselineDetails, BaselineEstimator, DetectorUtilityMixin
from auxqual.quality.baselines.utility import UtilityFunction


class DataBanzhaf(DetectorUtilityMixin, BaselineEstimator):
    """Data Banzhaf value of every auxiliary anomaly (higher = better).

    Parameters
    ----------
    n_masks : int
        Random coalitions (each player kept with probability 0.5); the budget (300 fits).
    game, utility, validation_size, exact, alpha, ssdo_k, prior_random_state, n_jobs,
    random_state, progress
        As ``DataShapley``.
    """

    games = ("adapted", "textbook")

    def __init__(self, n_masks: int = 300, *, game: str = "adapted", utility: str | UtilityFunction = "f1",
                 validation_size: float = 0.3, exact: bool = False, alpha: float = 2.3, ssdo_k: int = 5,
                 prior_random_state: int | None = 1, n_jobs: int | None = 2, random_state: int | None = 331,
                 progress: bool = False) -> None:
        self.n_masks = n_masks
        self.game = game
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
        check_scalar(self.n_masks, "n_masks", Integral, min_val=1)


    def _values(self, X_aux: np.ndarray, record: BaselineDetails) -> np.ndarray:
        utility = self._make_utility(X_aux)
        rng = np.random.default_rng(self.random_state)
        n_aux = utility.n_aux
        if self.game == "adapted":
            players = rng.random((self.n_masks, utility.n_players)) < 0.5
            results = utility.batch_marginals([utility.coalition(players=p) for p in players])
            values = np.mean([r.delta for r in results], axis=0)
        else:
            aux = rng.random((self.n_masks, n_aux)) < 0.5
            everyone = np.ones(utility.n_players, bool)
            cands = [np.flatnonzero(~a) for a in aux]
            results = utility.batch_marginals([utility.coalition(players=everyone, aux=a) for a in aux], cands)
            sums, counts = np.zeros(n_aux), np.zeros(n_aux)
            for cand, res in zip(cands, results, strict=True):
                sums[cand] += res.delta
                counts[cand] += 1
            values = np.divide(sums, counts, out=np.zeros(n_aux), where=counts > 0)
        record.game = self.game
        record.utility = self._utility_name(utility)
        record.budget = {"n_masks": self.n_masks, "keep_rate": 0.5, "fits": utility.n_evaluations}
        return values
