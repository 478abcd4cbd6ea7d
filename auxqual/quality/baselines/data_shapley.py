"""Data Shapley (truncated Monte Carlo) of auxiliary anomalies (Ghorbani & Zou, ICML 2019).

Game (default ``"adapted"``, the EAP paper's): the training points are the players; over random
permutations of them, at ``n_positions`` prefix sizes of a jittered grid over
``[min_cardinality, n]`` (the truncation: small prefixes are skipped, as in the reference), the
marginal contribution ``U(prefix ∪ {a_j}) − U(prefix)`` of every auxiliary anomaly is recorded in
the stratum of the prefix size; the value is the mean over the observed strata with uniform
weights (the Shapley value of ``a_j`` in the game train ∪ {a_j}, truncated). ``"textbook"``: the
auxiliary anomalies are the players (the training set always in) and the same sampler runs over
permutations of them.

Utility: ``auxqual.quality.baselines.utility`` (F1 at 0.5 of SSDO on the training set by
default). With the fast path one fit per prefix values all auxiliary rows at once, so the
budget is ``n_permutations × n_positions`` detector fits (default 30 × 10 = 300).
Cost: O(fits · (n + l)·n) plus the fits; memory O((n + l)²) for the distances.
"""

from __future__ import annotations

from abc import abstractmethod
from numbers import Integral

import numpy as np
from sklearn.utils import check_scalar

from auxqual.quality.baselines._base import BaselineDetails, BaselineEstimator, DetectorUtilityMixin
from auxqual.quality.baselines.semivalues import permutation_strata, semivalue, shapley_weights
from auxqual.quality.baselines.utility import CoalitionUtility, UtilityFunction


def coalition_deltas(utility: CoalitionUtility, game: str):
    """The ``deltas(player_masks)`` function of ``permutation_strata`` for ``game``."""
    n_aux = utility.n_aux
    if game == "adapted":
        def deltas(player_masks):
            masks = [utility.coalition(players=pm) for pm in player_masks]
            return [r.delta for r in utility.batch_marginals(masks)]
        return deltas
    everyone = np.ones(utility.n_players, dtype=bool)

    def deltas_textbook(aux_masks):
        masks = [utility.coalition(players=everyone, aux=am) for am in aux_masks]
        cands = [np.flatnonzero(~np.asarray(am, bool)) for am in aux_masks]
        out = []
        for cand, res in zip(cands, utility.batch_marginals(masks, cands), strict=True):
            delta = np.full(n_aux, np.nan)
            delta[cand] = res.delta
            out.append(delta)
        return out
    return deltas_textbook


class PermutationSemivalue(DetectorUtilityMixin, BaselineEstimator):
    """Shared machinery of Data Shapley and Beta Shapley (weights differ)."""

    games = ("adapted", "textbook")

    @abstractmethod
    def _weights(self, n_others: int) -> np.ndarray:
        """The weight of each position of a permutation (Data Shapley: uniform; Beta Shapley: Beta)."""

    def _check_params(self) -> None:
        super()._check_params()
        check_scalar(self.n_permutations, "n_permutations", Integral, min_val=1)
        check_scalar(self.n_positions, "n_positions", Integral, min_val=1)
        check_scalar(self.min_cardinality, "min_cardinality", Integral, min_val=0)


    def _values(self, X_aux: np.ndarray, record: BaselineDetails) -> np.ndarray:
        utility = self._make_utility(X_aux)
        rng = np.random.default_rng(self.random_state)
        if self.game == "adapted":
            n_players, high = utility.n_players, utility.n_players
        else:
            n_players, high = utility.n_aux, utility.n_aux - 1
        low = min(self.min_cardinality, high)
        sums, counts, n_coalitions = permutation_strata(
            n_players, utility.n_aux, coalition_deltas(utility, self.game), n_permutations=self.n_permutations,
            n_positions=self.n_positions, min_cardinality=low, max_cardinality=high, rng=rng)
        record.extra["strata_counts"] = counts
        record.game = self.game
        record.utility = self._utility_name(utility)
        record.budget = {"n_permutations": self.n_permutations, "n_positions": self.n_positions,
                        "min_cardinality": low, "coalitions": n_coalitions,
                        "fits": utility.n_evaluations}
        return semivalue(sums, counts, self._weights(high))


class DataShapley(PermutationSemivalue):
    """Truncated Monte-Carlo Data Shapley of auxiliary anomalies (uniform weights over sizes).

    Parameters
    ----------
    n_permutations : int
        Random permutations of the players (the Monte-Carlo budget; 30).
    n_positions : int
        Prefix sizes evaluated per permutation, one per cell of a jittered grid (10).
    min_cardinality : int
        Smallest prefix evaluated (50, the reference's truncation; capped at the player count).
    game : {"adapted", "textbook"}
        Who the players are (see module docstring).
    utility : {"f1", "auroc"} or callable
        F1 at 0.5 on the training set (faithful), AUROC on a validation split, or ``f(X, y)``.
    validation_size : float
        Share of the training set held out for ``utility="auroc"``.
    exact : bool
        Refit SSDO for every auxiliary row instead of the batched fast path.
    alpha, ssdo_k, prior_random_state
        SSDO's label weight (2.3), bandwidth rank (5) and isolation-forest seed (1).
    n_jobs : int
        Worker processes for independent fits.
    random_state : int
        Seed of the permutations and grid.
    progress : bool
        Progress bar over the coalitions.
    """

    def __init__(self, n_permutations: int = 30, n_positions: int = 10, min_cardinality: int = 50, *,
                 game: str = "adapted", utility: str | UtilityFunction = "f1", validation_size: float = 0.3,
                 exact: bool = False, alpha: float = 2.3, ssdo_k: int = 5, prior_random_state: int | None = 1,
                 n_jobs: int | None = 2, random_state: int | None = 331, progress: bool = False) -> None:
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

    def _weights(self, n_others: int) -> np.ndarray:
        return shapley_weights(n_others)
