"""Local and clustered anomalies from a Gaussian mixture of the normals (ADBench's types).

Both fit a Gaussian mixture to the normal rows, with the number of components chosen by BIC,
then sample from a *changed* copy of it: ``local`` scales every covariance by ``alpha`` (wider
spread around the same centres), ``cluster`` scales every mean by ``alpha`` (tight groups away
from the normals).

Choices, and why:

* ``covariance_type='auto'`` is ``'full'`` up to ``FULL_COVARIANCE_MAX_FEATURES`` (64) features
  and ``'diag'`` above. A full covariance has ``d(d+1)/2`` parameters per component: 131,328 for
  the 512-d ResNet-18 embeddings of ``image_resnet18``, whose datasets have 200–450 normal rows,
  so a full fit is singular up to its regulariser and BIC can only pick one component; it also
  costs ``O(d³)`` per component and iteration. A diagonal mixture has ``2d`` parameters per
  component, is estimable from a few hundred rows, and several components can carry the
  multi-modality; what it gives up (correlations *within* a component) does not change what
  ``local`` and ``cluster`` do: covariances × ``alpha`` and means × ``alpha`` apply unchanged.
  Any scikit-learn type (``'full'``, ``'tied'``, ``'diag'``, ``'spherical'``) can be forced.
* BIC is evaluated for 1, 2, … components (at most ``max_components``, ADBench uses 1–9) and the
  search stops once two successive sizes fail to improve on the best (BIC curves of mixtures
  are close to unimodal); the fit uses at most ``max_fit_rows`` random normals. Both keep the
  cost bounded (10,000 rows from 5,000 × 64 in seconds) where ADBench fits all nine sizes on
  every row.
* ``cluster`` scales means about the origin, as ADBench does (``means_ * alpha``); on data that
  are centred a one-component mixture therefore does not move: pass ``center='mean'`` to scale
  about the normals' mean instead (translation invariant, same caveat for one component).

Sampling is our own, vectorised: component labels from the mixture weights, then
``mean + L·z`` per component (a loop over components, never over rows).
"""

from __future__ import annotations

import numpy as np
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from auxqual.generators.base import BaseGenerator, Sample, check_count, check_positive, normal_rows, spawn_int

FULL_COVARIANCE_MAX_FEATURES = 64
COVARIANCE_TYPES = ("auto", "full", "tied", "diag", "spherical")
BIC_PATIENCE = 2


def resolve_covariance_type(covariance_type: str, n_features: int) -> str:
    """The covariance type actually fitted: ``'auto'`` → ``'full'`` up to 64 features, else ``'diag'``."""
    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(f"covariance_type must be one of {COVARIANCE_TYPES}, got {covariance_type!r}")
    if covariance_type != "auto":
        return covariance_type
    return "full" if n_features <= FULL_COVARIANCE_MAX_FEATURES else "diag"


def fit_mixture_bic(X: np.ndarray, *, max_components: int, covariance_type: str,
                    random_state: int) -> GaussianMixture:
    """The Gaussian mixture of ``X`` with the lowest BIC among 1, 2, … components.

    EM makes many small matrix products (at most ``max_fit_rows × d``); multi-threaded BLAS
    only adds synchronisation to those, and on a busy machine it made the fits ten times
    slower, so they run on one BLAS thread.
    """
    best, best_bic, worse = None, np.inf, 0
    for k in range(1, min(max_components, X.shape[0]) + 1):
        with threadpool_limits(limits=1, user_api="blas"):
            model = GaussianMixture(n_components=k, covariance_type=covariance_type,
                                    random_state=random_state).fit(X)
        bic = model.bic(X)
        if bic < best_bic:
            best, best_bic, worse = model, bic, 0
        else:
            worse += 1
            if worse >= BIC_PATIENCE:
                break
    return best


def _square_roots(model: GaussianMixture) -> list[np.ndarray]:
    """Per component, a factor ``L`` with ``L Lᵀ = covariance`` (a vector for diagonal ones)."""
    kind, cov, k = model.covariance_type, model.covariances_, model.n_components
    if kind == "full":
        return [np.linalg.cholesky(c) for c in cov]
    if kind == "tied":
        return [np.linalg.cholesky(cov)] * k
    if kind == "diag":
        return list(np.sqrt(cov))
    return [np.full(model.means_.shape[1], np.sqrt(c)) for c in cov]  # spherical


def sample_mixture(weights: np.ndarray, means: np.ndarray, roots: list[np.ndarray], n_samples: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n_samples`` draws of a Gaussian mixture, in random order, and their components."""
    component = rng.choice(len(weights), size=n_samples, p=weights / weights.sum())
    z = rng.standard_normal((n_samples, means.shape[1]))
    out = np.empty_like(z)
    for c, root in enumerate(roots):
        rows = component == c
        out[rows] = means[c] + (z[rows] @ root.T if root.ndim == 2 else z[rows] * root)
    return out, component


class _MixtureGenerator(BaseGenerator):
    """Shared fitting of the two mixture generators; ``mixture_`` holds the fitted mixture."""

    def _validate(self, X: np.ndarray, y: np.ndarray) -> None:
        check_positive("alpha", self.alpha)
        check_count("max_components", self.max_components)
        if check_count("max_fit_rows", self.max_fit_rows) < 2:
            raise ValueError(f"max_fit_rows must be at least 2, got {self.max_fit_rows!r}")
        resolve_covariance_type(self.covariance_type, X.shape[1])
        normal_rows(y, 2, self.name)

    def _fit(self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> GaussianMixture:
        normals = np.flatnonzero(y == 0)
        if normals.size > self.max_fit_rows:
            normals = np.sort(rng.choice(normals, size=self.max_fit_rows, replace=False))
        self.covariance_type_ = resolve_covariance_type(self.covariance_type, X.shape[1])
        self.mixture_ = fit_mixture_bic(X[normals], max_components=self.max_components,
                                        covariance_type=self.covariance_type_, random_state=spawn_int(rng))
        return self.mixture_


class LocalMixture(_MixtureGenerator):
    """Local anomalies: the normals' mixture with every covariance multiplied by ``alpha``."""

    name = "local"

    def __init__(self, alpha: float = 5.0, max_components: int = 10, covariance_type: str = "auto",
                 max_fit_rows: int = 2000):
        self.alpha = alpha
        self.max_components = max_components
        self.covariance_type = covariance_type
        self.max_fit_rows = max_fit_rows

    def _sample(self, X: np.ndarray, y: np.ndarray, n_samples: int, rng: np.random.Generator) -> Sample:
        model = self._fit(X, y, rng)
        roots = [np.sqrt(self.alpha) * root for root in _square_roots(model)]
        points, _ = sample_mixture(model.weights_, model.means_, roots, n_samples, rng)
        return Sample(X=points)


class ClusterMixture(_MixtureGenerator):
    """Clustered anomalies: the normals' mixture with every mean multiplied by ``alpha``
    (about the origin, or about the normals' mean with ``center='mean'``)."""

    name = "cluster"

    def __init__(self, alpha: float = 5.0, max_components: int = 10, covariance_type: str = "auto",
                 max_fit_rows: int = 2000, center: str = "origin"):
        self.alpha = alpha
        self.max_components = max_components
        self.covariance_type = covariance_type
        self.max_fit_rows = max_fit_rows
        self.center = center

    def _validate(self, X: np.ndarray, y: np.ndarray) -> None:
        super()._validate(X, y)
        if self.center not in ("origin", "mean"):
            raise ValueError(f"center must be 'origin' or 'mean', got {self.center!r}")

    def displaced_means(self, X: np.ndarray, y: np.ndarray, model: GaussianMixture) -> np.ndarray:
        """The component means the anomalies are drawn around."""
        origin = X[y == 0].mean(axis=0) if self.center == "mean" else 0.0
        return origin + self.alpha * (model.means_ - origin)

    def _sample(self, X: np.ndarray, y: np.ndarray, n_samples: int, rng: np.random.Generator) -> Sample:
        model = self._fit(X, y, rng)
        means = self.displaced_means(X, y, model)
        points, _ = sample_mixture(model.weights_, means, _square_roots(model), n_samples, rng)
        return Sample(X=points)
