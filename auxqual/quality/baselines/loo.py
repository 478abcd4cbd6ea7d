"""Leave-one-out (add-one-in) value of auxiliary anomalies.

Game ``"adapted"`` (default): ``U(train ∪ {a_j}) − U(train)``: what adding ``a_j`` alone, with
the label "anomaly", does to the detector fitted on the whole training set. With the fast path
this is one detector fit for all auxiliary rows; ``exact=True`` refits once per row (l + 1 fits).
``"textbook"``: ``U(train ∪ A) − U(train ∪ A \\ {a_j})``, leaving each auxiliary anomaly out of
the full auxiliary set (one fit per row; the fast path adds ``a_j`` back to the fit without it).
No sampling: the value is deterministic.
"""

from __future__ import annotations

import numpy as np

from auxqual.quality.baselines._base import BaselineDetails, BaselineEstimator, DetectorUtilityMixin
from auxqual.quality.baselines.utility import UtilityFunction


class LeaveOneOut(DetectorUtilityMixin, BaselineEstimator):
    """Add-one-in value ``U(train ∪ {a_j}) − U(train)`` of every auxiliary anomaly.

    Parameters
    ----------
    game, utility, validation_size, exact, alpha, ssdo_k, prior_random_state, n_jobs,
    random_state, progress
        As ``DataShapley`` (``random_state`` only
        draws the validation split of ``utility="auroc"``).
    """

    games = ("adapted", "textbook")

    def __init__(self, *, game: str = "adapted", utility: str | UtilityFunction = "f1", validation_size: float = 0.3,
                 exact: bool = False, alpha: float = 2.3, ssdo_k: int = 5, prior_random_state: int | None = 1,
                 n_jobs: int | None = 2, random_state: int | None = 331, progress: bool = False) -> None:
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


    def _values(self, X_aux: np.ndarray, record: BaselineDetails) -> np.ndarray:
        utility = self._make_utility(X_aux)
        everyone = np.ones(utility.n_players, bool)
        n_aux = utility.n_aux
        if self.game == "adapted":
            values = utility.marginals(utility.coalition(players=everyone)).delta
        else:
            masks, cands = [], []
            for j in range(n_aux):
                aux = np.ones(n_aux, bool)
                aux[j] = False
                masks.append(utility.coalition(players=everyone, aux=aux))
                cands.append(np.array([j]))
            values = np.array([r.delta[0] for r in utility.batch_marginals(masks, cands)])
        record.game = self.game
        record.utility = self._utility_name(utility)
        record.budget = {"fits": utility.n_evaluations}
        return values
