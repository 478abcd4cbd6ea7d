"""Random: a uniform random value per auxiliary anomaly, the floor every method must beat."""

from __future__ import annotations

import numpy as np

from auxqual.quality.baselines._base import BaselineDetails, BaselineEstimator


class RandomValue(BaselineEstimator):
    """Uniform(0, 1) values drawn with ``random_state`` (no game, no utility, no fits).

    Parameters
    ----------
    random_state : int
        Seed of numpy's ``default_rng``.
    """

    games = ("none",)

    def __init__(self, random_state: int | None = 331) -> None:
        self.random_state = random_state

    def _values(self, X_aux: np.ndarray, record: BaselineDetails) -> np.ndarray:
        record.game = "none"
        record.utility = "none"
        record.budget = {"fits": 0}
        return np.random.default_rng(self.random_state).random(len(X_aux))
