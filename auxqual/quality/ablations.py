"""The ablations of EAP: each ingredient alone, with EAP's interface.

They show which part of EAP does the work (``eap-method.md``, "Ablations"):

- :class:`RarityScore` (``rarity``): the rarity of each auxiliary row among the
  k-balls (k = 10) of *all* training points; 0 outside every ball.
- :class:`DensityScore` (``density``): the density ``ρ(a) / (ρ(a) + Σ ρ(u_i))``
  of the balls of all training normals, with EAP's k*.
- :class:`ProbabilityScore` (``probability``): P(anomaly | a) from one SSDO
  detector fitted on the whole training set.
- :class:`DensityProbabilityScore` (``density_probability``): ``n·dens + P``.

All return higher = better auxiliary anomaly, like every quality score here.
"""

from __future__ import annotations

import numpy as np

from auxqual.detectors.iforest_prior import IsolationForestPrior
from auxqual.detectors.ssdo import SSDO
from auxqual.device import pick_device
from auxqual.distances import as_tensor
from auxqual.io import check_features, check_labels
from auxqual.quality.balls import DEFAULT_CONFIDENCE, BallCover, covering_ranks, k_star


class _FittedOnTraining:
    """Shared validation: ``fit(X, y)`` on the training set, ``score_samples(X_aux)``."""

    def _validate_fit(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        X = check_features(X, name="X_train")
        y = check_labels(y, name="y_train", n_rows=X.shape[0])
        self.n_features_in_ = X.shape[1]
        self.device_ = pick_device(getattr(self, "device", None))
        return X, y

    def _validate_score(self, X: np.ndarray) -> np.ndarray:
        if not hasattr(self, "n_features_in_"):
            raise ValueError(f"{type(self).__name__} is not fitted: call fit(X_train, y_train) first")
        return check_features(X, name="X_aux", n_features=self.n_features_in_)


class RarityScore(_FittedOnTraining):
    """Rarity of each auxiliary row among the k-balls of all training points."""

    def __init__(self, k: int = 10, device: str | None = None) -> None:
        self.k = k
        self.device = device

    def fit(self, X: np.ndarray, y: np.ndarray) -> "RarityScore":
        X, y = self._validate_fit(X, y)
        if not 1 <= self.k < X.shape[0]:
            raise ValueError(f"k={self.k} must lie in [1, {X.shape[0] - 1}] for {X.shape[0]} training rows")
        self.cover_ = BallCover.fit(as_tensor(X, self.device_), self.k)
        return self

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        X = self._validate_score(X)
        return self.cover_.rarity(as_tensor(X, self.device_))


class DensityScore(_FittedOnTraining):
    """EAP's density term on the whole training set (balls of all normals, k*)."""

    def __init__(self, k0: int = 5, confidence: float = DEFAULT_CONFIDENCE, device: str | None = None) -> None:
        self.k0 = k0
        self.confidence = confidence
        self.device = device

    def fit(self, X: np.ndarray, y: np.ndarray) -> "DensityScore":
        X, y = self._validate_fit(X, y)
        n_normals = int((y == 0).sum())
        if n_normals < self.k0 + 2:
            raise ValueError(f"density needs at least k0 + 2 = {self.k0 + 2} normals, got {n_normals}")
        normals = as_tensor(X[y == 0], self.device_)
        ranks = covering_ranks(normals, as_tensor(X[y == 1], self.device_))
        self.k_star_ = k_star(ranks, n_normals, self.k0, self.confidence)
        self.cover_ = BallCover.fit(normals, self.k_star_)
        self.n_normals_ = n_normals
        return self

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        X = self._validate_score(X)
        return self.cover_.density(as_tensor(X, self.device_))[0]


class ProbabilityScore(_FittedOnTraining):
    """P(anomaly | a) of EAP's detector (SSDO + isolation-forest prior + squash) fitted once."""

    def __init__(self, alpha: float = 2.3, ssdo_k: int = 5, prior_random_state: int | None = 1,
                 device: str | None = None) -> None:
        self.alpha = alpha
        self.ssdo_k = ssdo_k
        self.prior_random_state = prior_random_state
        self.device = device

    def fit(self, X: np.ndarray, y: np.ndarray) -> "ProbabilityScore":
        X, y = self._validate_fit(X, y)
        self.detector_ = SSDO(k=self.ssdo_k, alpha=self.alpha, device=self.device_,
                              prior=IsolationForestPrior(random_state=self.prior_random_state)).fit(X, y)
        return self

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        X = self._validate_score(X)
        return self.detector_.anomaly_probability(X)


class DensityProbabilityScore(_FittedOnTraining):
    """``n·dens(a) + P(a)``: the two ingredients of EAP added instead of blended."""

    def __init__(self, k0: int = 5, alpha: float = 2.3, ssdo_k: int = 5, prior_random_state: int | None = 1,
                 confidence: float = DEFAULT_CONFIDENCE, device: str | None = None) -> None:
        self.k0 = k0
        self.alpha = alpha
        self.ssdo_k = ssdo_k
        self.prior_random_state = prior_random_state
        self.confidence = confidence
        self.device = device

    def fit(self, X: np.ndarray, y: np.ndarray) -> "DensityProbabilityScore":
        X, y = self._validate_fit(X, y)
        self.density_ = DensityScore(self.k0, self.confidence, self.device).fit(X, y)
        self.probability_ = ProbabilityScore(self.alpha, self.ssdo_k, self.prior_random_state,
                                             self.device).fit(X, y)
        return self

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        X = self._validate_score(X)
        dens = self.density_.score_samples(X)
        return self.density_.n_normals_ * dens + self.probability_.score_samples(X)


__all__ = ["RarityScore", "DensityScore", "ProbabilityScore", "DensityProbabilityScore"]
