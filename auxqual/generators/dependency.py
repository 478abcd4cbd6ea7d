"""Dependency anomalies: every feature drawn on its own from its 1-D density among the normals.

ADBench's "dependency" type: each feature keeps its marginal distribution (a Gaussian kernel
density estimate, ``scipy.stats.gaussian_kde``), but features are drawn independently of each
other, so the correlations of the normal data are lost. ADBench also fits a vine copula to
make *normal* data; the anomalies need only the per-feature densities, as here.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.stats import gaussian_kde

from auxqual.generators.base import BaseGenerator, Sample, normal_rows

BANDWIDTH_RULES = ("scott", "silverman")


class DependencyKDE(BaseGenerator):
    """Independent draws from each feature's Gaussian KDE of the normals.

    ``bw_method`` is passed to ``gaussian_kde`` (``'scott'``, ``'silverman'`` or a positive
    number). A constant feature has no density; it is kept at its constant value.
    """

    name = "dependency"

    def __init__(self, bw_method: Literal["scott", "silverman"] | float = "scott"):
        self.bw_method = bw_method

    def _validate(self, X: np.ndarray, y: np.ndarray) -> None:
        bw = self.bw_method
        if isinstance(bw, (int, float)) and not isinstance(bw, bool):
            valid = bool(np.isfinite(bw) and bw > 0)
        else:
            valid = bw in BANDWIDTH_RULES
        if not valid:
            raise ValueError(f"bw_method must be one of {BANDWIDTH_RULES} or a positive number, got {bw!r}")
        normal_rows(y, 2, self.name)

    def _sample(self, X: np.ndarray, y: np.ndarray, n_samples: int, rng: np.random.Generator) -> Sample:
        normals = X[y == 0]
        out = np.empty((n_samples, X.shape[1]))
        for j in range(X.shape[1]):  # one density per feature; each draw is vectorised
            column = normals[:, j]
            if np.ptp(column) == 0:
                out[:, j] = column[0]
            else:
                out[:, j] = gaussian_kde(column, bw_method=self.bw_method).resample(n_samples, seed=rng)[0]
        return Sample(X=out)
