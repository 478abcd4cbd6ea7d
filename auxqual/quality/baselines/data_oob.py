"""Data-OOB (Kwon & Zou, ICML 2023) of auxiliary anomalies.

Game (adapted): bag the detector over ``n_models`` random half-subsets of the training set
(each training point kept with probability ``keep_rate`` = 0.5, as the reference's
``randint(2)`` masks; bootstrap multiplicities are not used, since SSDO's label propagation has
no sample weights). An auxiliary anomaly is never in a bag, so it is out-of-bag for every model;
its value is how consistently the bagged detectors call it an anomaly (``P(anomaly) > 0.5``):

- ``aggregate="f1"`` (the reference): F1 of the all-ones label against the B thresholded
  predictions, ``2v / (B + v)`` with ``v`` the number of anomaly votes;
- ``aggregate="vote"``: the vote share ``v / B``. Both are monotone in ``v``: same ranking.

Budget: ``n_models`` detector fits (100), each scoring all auxiliary rows. Cost O(n_models ·
(n + l)·n) plus the fits.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_scalar

from auxqual.quality.baselines._base import BaselineDetails, BaselineEstimator, DetectorUtilityMixin, check_choice


class DataOOB(DetectorUtilityMixin, BaselineEstimator):
    """Out-of-bag agreement of bagged detectors that each auxiliary row is an anomaly.

    Parameters
    ----------
    n_models : int
        Bagged detectors (100).
    keep_rate : float
        Probability that a training point is in a bag (0.5).
    aggregate : {"f1", "vote"}
        F1 of the all-ones label (reference) or the vote share.
    threshold : float
        Probability above which a detector calls a row an anomaly (0.5).
    alpha, ssdo_k, prior_random_state, exact, n_jobs, random_state, progress
        As ``DataShapley`` (``exact`` uses the
        ``SSDO`` class for every bag instead of the shared-distance
        fast path; both compute the same detector).
    """

    def __init__(self, n_models: int = 100, keep_rate: float = 0.5, *, aggregate: str = "f1",
                 threshold: float = 0.5, exact: bool = False, alpha: float = 2.3, ssdo_k: int = 5,
                 prior_random_state: int | None = 1, n_jobs: int | None = 2, random_state: int | None = 331,
                 progress: bool = False) -> None:
        self.n_models = n_models
        self.keep_rate = keep_rate
        self.aggregate = aggregate
        self.threshold = threshold
        self.exact = exact
        self.alpha = alpha
        self.ssdo_k = ssdo_k
        self.prior_random_state = prior_random_state
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.progress = progress

    # the detector needs no metric, but shares the utility's parameters
    utility = "f1"
    validation_size = 0.3

    def _check_params(self) -> None:
        super()._check_params()
        check_scalar(self.n_models, "n_models", Integral, min_val=1)
        check_scalar(self.keep_rate, "keep_rate", Real, min_val=0.0, max_val=1.0, include_boundaries="right")
        check_choice("aggregate", self.aggregate, ("f1", "vote"))
        check_scalar(self.threshold, "threshold", Real, min_val=0.0, max_val=1.0)


    def _values(self, X_aux: np.ndarray, record: BaselineDetails) -> np.ndarray:
        utility = self._make_utility(X_aux)
        rng = np.random.default_rng(self.random_state)
        bags = rng.random((self.n_models, utility.n_players)) < self.keep_rate
        P = utility.batch_aux_probability([utility.coalition(players=b) for b in bags])
        votes = (P > self.threshold).sum(axis=0).astype(np.float64)
        record.extra["votes"] = votes
        record.game = "adapted"
        record.utility = f"out-of-bag P(anomaly) > {self.threshold:g} of SSDO ({self.aggregate})"
        record.budget = {"n_models": self.n_models, "keep_rate": float(self.keep_rate), "fits": utility.n_evaluations}
        if self.aggregate == "vote":
            return votes / self.n_models
        return 2.0 * votes / (self.n_models + votes)
