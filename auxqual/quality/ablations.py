"""The ablations of EAP: each ingredient alone, with EAP's interface.

They show which part of EAP does the work (``eap-method.md``, "Ablations"):

- ``RarityScore`` (``rarity``): the rarity of each auxiliary row among the
  k-balls (k = 10) of *all* training points; 0 outside every ball.
- ``DensityScore`` (``density``): the density ``ρ(a) / (ρ(a) + Σ ρ(u_i))``
  of the balls of all training normals, with EAP's k*.
- ``ProbabilityScore`` (``probability``): P(anomaly | a) from one SSDO
  detector fitted on the whole training set.
- ``DensityProbabilityScore`` (``density_probability``): ``n·dens + P``.

All return higher = better auxiliary anomaly, like every quality score here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from auxqual.detectors.iforest_prior import IsolationForestPrior
from auxqual.detectors.ssdo import SSDO
from auxqual.device import pick_device
from auxqual.distances import as_tensor
from auxqual.quality._base import QualityScorer
from auxqual.quality.balls import DEFAULT_CONFIDENCE, BallCover, covering_ranks, k_star


class _FittedOnTraining(QualityScorer, ABC):
    """Shared validation: ``fit(X, y)`` on the training set, ``score_samples(X_aux)``.

    ``fit`` runs ``_fit_arrays`` between the checks; the estimator counts as fitted
    (``n_features_in_``) only once it returned, so a fit that failed half-way leaves it
    unfitted (``NotFittedError``), not half-fitted.
    """

    def fit(self, X: np.ndarray, y: np.ndarray) -> _FittedOnTraining:
        """Fit on the training set (``y``: 1 = labelled anomaly, 0 = normal)."""
        X_input, (X, y) = X, self._fit_input(X, y)
        self.device_ = pick_device(getattr(self, "device", None))
        self._fit_arrays(X, y)
        self._end_fit(X_input, X)
        return self

    @abstractmethod
    def _fit_arrays(self, X: np.ndarray, y: np.ndarray) -> None:
        """Learn from the checked training arrays (each ablation's own fit)."""

    def _validate_score(self, X: np.ndarray) -> np.ndarray:
        return self._score_input(X)


class RarityScore(_FittedOnTraining):
    """Rarity of each auxiliary row among the k-balls of all training points."""

    def __init__(self, k: int = 10, device: str | None = None) -> None:
        self.k = k
        self.device = device

    def _fit_arrays(self, X: np.ndarray, y: np.ndarray) -> None:
        if not 1 <= self.k < X.shape[0]:
            raise ValueError(f"k={self.k} must lie in [1, {X.shape[0] - 1}] for {X.shape[0]} training rows")
        self.cover_ = BallCover.fit(as_tensor(X, self.device_), self.k)

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        X = self._validate_score(X)
        return self.cover_.rarity(as_tensor(X, self.device_))


class DensityScore(_FittedOnTraining):
    """EAP's density term on the whole training set (balls of all normals, k*)."""

    def __init__(self, k0: int = 5, confidence: float = DEFAULT_CONFIDENCE, device: str | None = None) -> None:
        self.k0 = k0
        self.confidence = confidence
        self.device = device

    def _fit_arrays(self, X: np.ndarray, y: np.ndarray) -> None:
        n_normals = int((y == 0).sum())
        if n_normals < self.k0 + 2:
            raise ValueError(f"density needs at least k0 + 2 = {self.k0 + 2} normals, got {n_normals}")
        normals = as_tensor(X[y == 0], self.device_)
        ranks = covering_ranks(normals, as_tensor(X[y == 1], self.device_))
        self.k_star_ = k_star(ranks, n_normals, self.k0, self.confidence)
        self.cover_ = BallCover.fit(normals, self.k_star_)
        self.n_normals_ = n_normals

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

    def _fit_arrays(self, X: np.ndarray, y: np.ndarray) -> None:
        self.detector_ = SSDO(k=self.ssdo_k, alpha=self.alpha, device=self.device_,
                              prior=IsolationForestPrior(random_state=self.prior_random_state)).fit(X, y)

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

    def _fit_arrays(self, X: np.ndarray, y: np.ndarray) -> None:
        self.density_ = DensityScore(self.k0, self.confidence, self.device).fit(X, y)
        self.probability_ = ProbabilityScore(self.alpha, self.ssdo_k, self.prior_random_state,
                                             self.device).fit(X, y)

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        X = self._validate_score(X)
        dens = self.density_.score_samples(X)
        return self.density_.n_normals_ * dens + self.probability_.score_samples(X)


__all__ = ["DensityProbabilityScore", "DensityScore", "ProbabilityScore", "RarityScore"]
