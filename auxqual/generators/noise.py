"""Feature-space noise around normal rows: isotropic (SimpleNet) and on a random subspace (LUNAR).

Both start from a normal row drawn at random (its index is the row's ``source_row``) and add
Gaussian noise scaled per feature, so the amount of noise means the same on every feature
whatever its unit.
"""

from __future__ import annotations

import numpy as np

from auxqual.generators.base import BaseGenerator, Sample, check_positive, normal_rows


class GaussianNoise(BaseGenerator):
    """A normal row plus ``N(0, (sigma·std_j)²)`` on every feature ``j``.

    ``std_j`` is the normals' standard deviation of feature ``j`` (0 for a constant feature,
    which therefore stays constant). With the default ``sigma=0.5`` a row moves by about
    ``0.5·√d`` standard units: off the normal data, yet close to it.
    """

    name = "noise"

    def __init__(self, sigma: float = 0.5):
        self.sigma = sigma

    def _validate(self, X: np.ndarray, y: np.ndarray) -> None:
        check_positive("sigma", self.sigma)
        normal_rows(y, 1, self.name)

    def _sample(self, X: np.ndarray, y: np.ndarray, n_samples: int, rng: np.random.Generator) -> Sample:
        normals = np.flatnonzero(y == 0)
        rows = normals[rng.integers(0, normals.size, size=n_samples)]
        scale = self.sigma * X[normals].std(axis=0)
        noise = rng.standard_normal((n_samples, X.shape[1])) * scale
        return Sample(X=X[rows] + noise, source_row=rows)


class SubspaceNoise(BaseGenerator):
    """A normal row with noise on a random subset of its features, as PyOD's LUNAR makes its
    negative samples.

    LUNAR (on min–max scaled data) perturbs each feature with probability 0.3 by
    ``0.1·N(0, 1)``; here the noise is ``epsilon·range_j·N(0, 1)`` (``range_j`` = the normals'
    max − min of feature ``j``), which is the same thing on unscaled data. Unlike LUNAR, a row
    whose random subset came out empty gets one random feature perturbed, so no output row is
    an unchanged normal.
    """

    name = "subspace"

    def __init__(self, fraction: float = 0.3, epsilon: float = 0.1):
        self.fraction = fraction
        self.epsilon = epsilon

    def _validate(self, X: np.ndarray, y: np.ndarray) -> None:
        fraction = check_positive("fraction", self.fraction)
        if fraction > 1:
            raise ValueError(f"fraction must be in (0, 1], got {self.fraction!r}")
        check_positive("epsilon", self.epsilon)
        normal_rows(y, 1, self.name)

    def _sample(self, X: np.ndarray, y: np.ndarray, n_samples: int, rng: np.random.Generator) -> Sample:
        normals = np.flatnonzero(y == 0)
        rows = normals[rng.integers(0, normals.size, size=n_samples)]
        d = X.shape[1]
        mask = rng.random((n_samples, d)) < self.fraction
        empty = np.flatnonzero(~mask.any(axis=1))
        mask[empty, rng.integers(0, d, size=empty.size)] = True
        spread = np.ptp(X[normals], axis=0)
        noise = self.epsilon * spread * rng.standard_normal((n_samples, d))
        return Sample(X=X[rows] + mask * noise, source_row=rows)
