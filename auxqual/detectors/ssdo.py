"""SSDO: semi-supervised anomaly detection by label propagation over a prior.

Vercruyssen et al., "Semi-supervised anomaly detection with an application to
water analytics", ICDM 2018, as packaged in ``anomatools`` 3.0.3 and used by the
EAP paper: an unsupervised prior (an isolation forest) is updated with the known
labels through a Gaussian-like kernel ``g(d) = 2^(−(d/η)²)``:

    z(x) = (prior(x) + α·da(x)) / (1 + α·(da(x) + dn(x)))

with ``da`` / ``dn`` the kernel sums over the labelled anomalies / normals and η
the harmonic mean of every training point's distance to its k-th nearest other
point. The optional *squash* (anomatools' ``SquashScaler``) maps ``z`` to a
probability with the threshold ``t`` = the ``(1 − c)`` percentile of the
training scores: ``P = 1 − 2^(−(z/t)²)``.

This implementation is vectorised and blocked (torch, float64, GPU when present)
instead of anomatools' per-point loop, and agrees with it to float tolerance.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import torch
from scipy.stats import hmean
from sklearn.base import BaseEstimator, clone

from auxqual.detectors._validation import CheckedInputMixin, binary_target_tags
from auxqual.detectors.iforest_prior import IsolationForestPrior
from auxqual.device import pick_device
from auxqual.distances import as_tensor, distance_blocks
from auxqual.io import check_labels

ETA_FLOOR = 1e-10  # anomatools' Config.tolerance
LOG_HALF = math.log(0.5)


class SSDO(CheckedInputMixin, BaseEstimator):
    """Semi-Supervised Detection of Outliers with an isolation-forest prior.

    Parameters
    ----------
    k : int
        Neighbour rank that defines the kernel bandwidth η (EAP uses 5).
    alpha : float
        Weight of the label-propagation term against the prior (2.3).
    prior : object with ``fit`` and ``prior`` / ``predict_proba``, optional
        The unsupervised prior; default ``IsolationForestPrior`` (PyOD
        ``IForest(random_state=1)``, linear probabilities). ``fit`` fits a copy
        (``sklearn.base.clone``, else a deep copy) in ``prior_``; the object passed
        in is left untouched, so several SSDOs may share it.
    squash : bool
        Map the posterior to a probability with anomatools' ``SquashScaler``
        (``predict_proba``); without it ``predict_proba`` returns ``z`` clipped.
    contamination : float, optional
        ``c`` of the squash threshold; default: the fraction of labelled anomalies
        in the data given to ``fit``.
    device : str or torch.device, optional
        torch device for the distance work; default ``cuda`` when present.
    block_elements : int, optional
        Largest distance block held in memory (entries); default ``2**18`` on CPU
        (cache-sized), ``2**26`` on a GPU.
    """

    def __init__(self, k: int = 5, alpha: float = 2.3, prior: object | None = None, squash: bool = True,
                 contamination: float | None = None, device: str | torch.device | None = None,
                 block_elements: int | None = None) -> None:
        self.k = k
        self.alpha = alpha
        self.prior = prior
        self.squash = squash
        self.contamination = contamination
        self.device = device
        self.block_elements = block_elements

    def __sklearn_tags__(self):
        """scikit-learn's tags: a binary 0/1 target (1 = anomaly), optional (none: the prior alone)."""
        return binary_target_tags(super().__sklearn_tags__(), required=False)

    # ------------------------------------------------------------------ fit
    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> SSDO:
        """Fit the prior, the bandwidth η and the squash threshold on ``X``.

        ``y``: 1 = labelled anomaly, 0 = labelled normal (every row is labelled,
        as in EAP). ``y=None`` means no labels: the detector is its prior.
        """
        X_input, X = X, self._start_fit(X, name="X")
        if y is not None:
            y = check_labels(y, name="y", n_rows=X.shape[0])
        if X.shape[0] <= self.k:
            raise ValueError(f"SSDO needs more than k={self.k} training rows, got n_samples={X.shape[0]}")
        self.device_ = pick_device(self.device)
        # a copy: fitting the object passed in would change every other SSDO sharing it
        self.prior_ = (clone(self.prior, safe=False) if self.prior is not None
                       else IsolationForestPrior(device=str(self.device_)))
        self.prior_.fit(X)
        self.X_train_ = as_tensor(X, self.device_)
        self.is_anomaly_ = torch.as_tensor(
            np.zeros(X.shape[0], bool) if y is None else y == 1, device=self.device_)
        self.has_labels_ = y is not None
        self.eta_ = self._bandwidth(self.X_train_)
        train_prior = _train_prior(self.prior_, X)
        self.decision_scores_ = self._posterior(self.X_train_, train_prior)
        anomalies = 0 if y is None else int(y.sum())
        self.contamination_ = (self.contamination if self.contamination is not None
                               else anomalies / X.shape[0])
        self.threshold_ = float(np.percentile(self.decision_scores_, squash_percentile(self.contamination_)))
        self._end_fit(X_input, X)
        return self

    def _bandwidth(self, X: torch.Tensor) -> float:
        """Harmonic mean of each point's distance to its k-th nearest other point."""
        kth = torch.empty(X.shape[0], dtype=torch.float64, device=X.device)
        for rows, D in distance_blocks(X, X, block_elements=self.block_elements):
            nearest = torch.topk(D, self.k + 1, dim=1, largest=False).indices
            # recompute the k+1 candidates directly: the norm expansion is inexact near 0
            exact = torch.linalg.vector_norm(X[rows].unsqueeze(1) - X[nearest], dim=2)
            kth[rows] = torch.sort(exact, dim=1).values[:, self.k]
        return harmonic_bandwidth(kth.cpu().numpy())

    # ------------------------------------------------------------------ scores
    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """The posterior score ``z`` of each row (higher = more anomalous)."""
        X = self._check_fitted_input(X)
        return self._posterior(as_tensor(X, self.device_), self.prior_.prior(X))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """``[P(normal), P(anomaly)]`` per row (PyOD convention)."""
        anomaly = self.anomaly_probability(X)
        return np.column_stack([1.0 - anomaly, anomaly])

    def anomaly_probability(self, X: np.ndarray) -> np.ndarray:
        """P(anomaly | x): the squashed posterior (or the clipped posterior without squash)."""
        z = self.decision_function(X)
        return squash(z, self.threshold_) if self.squash else np.clip(z, 0.0, 1.0)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """1 = anomaly where P(anomaly) > 0.5, else 0."""
        return (self.anomaly_probability(X) > 0.5).astype(np.int8)

    def _posterior(self, Q: torch.Tensor, prior: np.ndarray) -> np.ndarray:
        if not self.has_labels_:
            return np.asarray(prior, dtype=np.float64)
        da, dn = self._kernel_sums(Q)
        return posterior(prior, da, dn, self.alpha)

    def _kernel_sums(self, Q: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Kernel mass of each query on the labelled anomalies and on the labelled normals."""
        sums = torch.empty((Q.shape[0], 2), dtype=torch.float64, device=Q.device)
        labels = torch.stack([self.is_anomaly_, ~self.is_anomaly_], dim=1).to(torch.float64)
        scale = LOG_HALF / (self.eta_ * self.eta_)
        for rows, squared in distance_blocks(Q, self.X_train_, block_elements=self.block_elements, squared=True):
            sums[rows] = torch.exp_(squared.mul_(scale)) @ labels
        da, dn = sums.cpu().numpy().T
        return np.ascontiguousarray(da), np.ascontiguousarray(dn)

    def __getstate__(self) -> dict:
        """Pickle tensors as numpy arrays: a pickled tensor carries a memory address,
        which would make saved models differ byte for byte between identical runs."""
        state = self.__dict__.copy()
        for name in ("X_train_", "is_anomaly_"):
            if isinstance(state.get(name), torch.Tensor):
                state[name] = state[name].cpu().numpy()
        return state

    def __setstate__(self, state: dict) -> None:
        device = state.get("device_", torch.device("cpu"))
        if device.type == "cuda" and not torch.cuda.is_available():
            device = state["device_"] = torch.device("cpu")
        for name in ("X_train_", "is_anomaly_"):
            if isinstance(state.get(name), np.ndarray):
                state[name] = torch.as_tensor(state[name], device=device)
        self.__dict__.update(state)

    def _check_fitted_input(self, X: np.ndarray) -> np.ndarray:
        return self._checked_input(X, name="X")


def harmonic_bandwidth(kth_distances: np.ndarray) -> float:
    """SSDO's η: the harmonic mean of the k-th neighbour distances, zeros replaced by
    the smallest positive one, floored at 1e-10 (anomatools' rules)."""
    d = np.array(kth_distances, dtype=np.float64)
    positive = d[d > 0.0]
    if positive.size == 0:
        return ETA_FLOOR
    d[d == 0.0] = positive.min()
    return max(float(hmean(d)), ETA_FLOOR)


def posterior(prior: np.ndarray, da: np.ndarray, dn: np.ndarray, alpha: float) -> np.ndarray:
    """SSDO's update ``(prior + α·da) / (1 + α·(da + dn))``, in anomatools' order of operations."""
    z = 1.0 / (1.0 + alpha * (da + dn))
    return z * (prior + alpha * da)


def squash_percentile(contamination: float) -> int:
    """The percentile of the training scores that sets the squash threshold: int((1 − c)·100)."""
    return int((1.0 - contamination) * 100)


def squash(z: np.ndarray, threshold: float) -> np.ndarray:
    """anomatools' ``SquashScaler``: ``clip(1 − 2^(−(z/t)²), 0, 1)``.

    A zero threshold (all training scores at 0) maps every positive score to 1.
    """
    if threshold == 0.0:
        return (np.asarray(z) > 0).astype(np.float64)
    return np.clip(1.0 - np.exp(LOG_HALF * np.power(z / threshold, 2)), 0.0, 1.0)


class _Prior(Protocol):
    """A fitted prior detector: ``predict_proba(X)[:, 1]`` is P(anomaly) of each row."""

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities, one row per row of ``X``."""


def _train_prior(prior: _Prior, X: np.ndarray) -> np.ndarray:
    """The prior of the training rows, reusing the scores computed in ``fit`` when available."""
    cached = getattr(prior, "train_prior_", None)
    if cached is not None:
        return cached
    return prior.predict_proba(X)[:, 1]
