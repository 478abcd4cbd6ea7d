"""Auxiliary anomaly generators, one module per family, all behind one interface.

``make(name, **params)`` builds a generator; ``generator.generate(X, y, n_samples, random_state)``
returns a table of features ``x0 … x{d-1}`` followed by provenance columns (see
``auxqual.generators.base``). ``GENERATOR_NAMES`` lists the names:

| name | meaning |
| --- | --- |
| ``uniform`` | uniform in the normals' box widened by ``p`` of each range |
| ``local`` | normals' Gaussian mixture (BIC), covariances × ``alpha`` |
| ``cluster`` | normals' Gaussian mixture (BIC), means × ``alpha`` |
| ``dependency`` | each feature from its own KDE: marginals kept, correlations lost |
| ``noise`` | a normal row + Gaussian noise of ``sigma`` feature standard deviations |
| ``subspace`` | a normal row with noise on a random ~30 % of its features (LUNAR) |
| ``smote`` | SMOTE between labelled anomalies (imbalanced-learn) |
| ``borderline_smote`` | Borderline-SMOTE from labelled anomalies near normals |
| ``adasyn`` | ADASYN from labelled anomalies, more where normals are near |
| ``outlier_exposure`` | rows of another dataset mapped to dimension ``d`` |
| ``benchmark_mixture`` | the protocol's realistic / indistinguishable / unrealistic set (full data, ``sources=``) |
"""

from __future__ import annotations

import inspect
from typing import Any

from auxqual.generators.base import BaseGenerator
from auxqual.generators.benchmark import BenchmarkMixture
from auxqual.generators.dependency import DependencyKDE
from auxqual.generators.mixture import ClusterMixture, LocalMixture
from auxqual.generators.noise import GaussianNoise, SubspaceNoise
from auxqual.generators.outlier_exposure import OutlierExposure
from auxqual.generators.smote import ADASYNGenerator, BorderlineSMOTEGenerator, SMOTEGenerator
from auxqual.generators.uniform import UniformBox

_CLASSES: tuple[type[BaseGenerator], ...] = (
    UniformBox, LocalMixture, ClusterMixture, DependencyKDE, GaussianNoise, SubspaceNoise,
    SMOTEGenerator, BorderlineSMOTEGenerator, ADASYNGenerator, OutlierExposure, BenchmarkMixture,
)
REGISTRY: dict[str, type[BaseGenerator]] = {cls.name: cls for cls in _CLASSES}
GENERATOR_NAMES: tuple[str, ...] = tuple(REGISTRY)

__all__ = ["GENERATOR_NAMES", "REGISTRY", "BaseGenerator", "make", *(cls.__name__ for cls in _CLASSES)]


def make(name: str, **params: Any) -> BaseGenerator:
    """The generator called ``name`` with ``params``; ``ValueError`` for an unknown name or
    parameter (values are checked when it generates)."""
    if name not in REGISTRY:
        raise ValueError(f"unknown generator {name!r}; expected one of {list(GENERATOR_NAMES)}")
    cls = REGISTRY[name]
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(f"generator {name!r}: unknown parameter(s) {unknown}; it takes {accepted}")
    return cls(**params)
