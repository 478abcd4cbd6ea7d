"""The 12 baseline quality estimators of ``baselines.md``, registered by name in ``BASELINES``.

Each has EAP's interface (``fit(X_train, y_train)``, ``score_samples(X_aux)``, higher = better
auxiliary anomaly); ``score_samples(X_aux, return_details=True)`` also returns the game, utility
and budget of the valuation (``BaselineDetails``), leaving the estimator unchanged. The
model-based ones share one utility core (``auxqual.quality.baselines.utility``: SSDO fitted on
a coalition, F1 at 0.5 on the training set by default, a batched fast path for adding each
auxiliary anomaly alone, caching and parallel fits).
"""

from auxqual.quality.baselines._base import BaselineDetails
from auxqual.quality.baselines.ame import AME
from auxqual.quality.baselines.banzhaf import DataBanzhaf
from auxqual.quality.baselines.beta_shapley import BetaShapley
from auxqual.quality.baselines.data_oob import DataOOB
from auxqual.quality.baselines.data_shapley import DataShapley
from auxqual.quality.baselines.dvrl import DVRL
from auxqual.quality.baselines.influence_subsample import InfluenceSubsample
from auxqual.quality.baselines.knn_shapley import KNNShapley
from auxqual.quality.baselines.lava import LAVA
from auxqual.quality.baselines.loo import LeaveOneOut
from auxqual.quality.baselines.random_value import RandomValue
from auxqual.quality.baselines.robust_volume_shapley import RobustVolumeShapley
from auxqual.quality.baselines.utility import CoalitionUtility, Marginals, enumerate_marginals

BASELINES: dict[str, type] = {
    "random": RandomValue,
    "loo": LeaveOneOut,
    "data_shapley": DataShapley,
    "beta_shapley": BetaShapley,
    "banzhaf": DataBanzhaf,
    "ame": AME,
    "knn_shapley": KNNShapley,
    "data_oob": DataOOB,
    "influence_subsample": InfluenceSubsample,
    "dvrl": DVRL,
    "lava": LAVA,
    "robust_volume_shapley": RobustVolumeShapley,
}

__all__ = [
    "AME",
    "BASELINES",
    "DVRL",
    "LAVA",
    "BaselineDetails",
    "BetaShapley",
    "CoalitionUtility",
    "DataBanzhaf",
    "DataOOB",
    "DataShapley",
    "InfluenceSubsample",
    "KNNShapley",
    "LeaveOneOut",
    "Marginals",
    "RandomValue",
    "RobustVolumeShapley",
    "enumerate_marginals",
]
