"""Global anomalies: uniform in a box around the normal data (ADBench's "global" type)."""

from __future__ import annotations

import numpy as np

from auxqual.generators.base import BaseGenerator, Sample, check_positive, normal_rows


class UniformBox(BaseGenerator):
    """Uniform draws, per feature, between ``min − p·range`` and ``max + p·range`` of the normals.

    ADBench scales min and max by ``(1 + p)``, which depends on where zero is; widening by a
    fraction of the range does not, and agrees with it for data in ``[0, 1]`` up to the lower
    edge. Constant features stay constant.
    """

    name = "uniform"

    def __init__(self, p: float = 0.1):
        self.p = p

    def _validate(self, X: np.ndarray, y: np.ndarray) -> None:
        check_positive("p", self.p, allow_zero=True)
        normal_rows(y, 1, self.name)

    def box(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The box ``(low, high)`` that ``generate`` samples from."""
        normals = X[y == 0]
        low, high = normals.min(axis=0), normals.max(axis=0)
        margin = self.p * (high - low)
        return low - margin, high + margin

    def _sample(self, X: np.ndarray, y: np.ndarray, n_samples: int, rng: np.random.Generator) -> Sample:
        low, high = self.box(X, y)
        return Sample(X=rng.uniform(low, high, size=(n_samples, X.shape[1])))
