"""Beta Shapley of auxiliary anomalies (Kwon & Zou, AISTATS 2022).

The same sampled marginal contributions as ``data_shapley``
(game, utility, truncated permutation sampler, budget ``n_permutations × n_positions`` fits),
weighted by coalition size with the Beta(α, β) semivalue weights

    w(s) = C(N, s)·B(s + β, N − s + α) / B(α, β),   s = 0 … N,

renormalised over the observed sizes. The default Beta(α = 4, β = 1) weighs small coalitions
more (w(s) ∝ (N − s + 1)(N − s + 2)(N − s + 3)); α = β = 1 is the Shapley value.
"""

from __future__ import annotations

from numbers import Real

import numpy as np
from sklearn.utils import check_scalar

from auxqual.quality.baselines._base import BaselineDetails
from auxqual.quality.baselines.data_shapley import PermutationSemivalue
from auxqual.quality.baselines.semivalues import beta_weights
from auxqual.quality.baselines.utility import UtilityFunction


class BetaShapley(PermutationSemivalue):
    """Truncated Monte-Carlo Beta(α, β) Shapley of auxiliary anomalies.

    Parameters
    ----------
    weight_alpha, weight_beta : float
        α and β of the Beta weights (4, 1: small coalitions weigh more).
    n_permutations, n_positions, min_cardinality, game, utility, validation_size, exact, alpha,
    ssdo_k, prior_random_state, n_jobs, random_state, progress
        As ``DataShapley``.
    """

    def __init__(self, weight_alpha: float = 4.0, weight_beta: float = 1.0, n_permutations: int = 30,
                 n_positions: int = 10, min_cardinality: int = 50, *, game: str = "adapted",
                 utility: str | UtilityFunction = "f1", validation_size: float = 0.3, exact: bool = False,
                 alpha: float = 2.3, ssdo_k: int = 5, prior_random_state: int | None = 1,
                 n_jobs: int | None = 2, random_state: int | None = 331, progress: bool = False) -> None:
        self.weight_alpha = weight_alpha
        self.weight_beta = weight_beta
        self.n_permutations = n_permutations
        self.n_positions = n_positions
        self.min_cardinality = min_cardinality
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
        check_scalar(self.weight_alpha, "weight_alpha", Real, min_val=0.0, include_boundaries="neither")
        check_scalar(self.weight_beta, "weight_beta", Real, min_val=0.0, include_boundaries="neither")

    def _weights(self, n_others: int) -> np.ndarray:
        return beta_weights(n_others, self.weight_alpha, self.weight_beta)

    def _values(self, X_aux: np.ndarray, record: BaselineDetails) -> np.ndarray:
        values = super()._values(X_aux, record)
        record.budget["weights"] = f"beta({self.weight_alpha:g}, {self.weight_beta:g})"
        return values
