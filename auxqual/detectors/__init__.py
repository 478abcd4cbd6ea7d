"""Anomaly detectors with PyOD's interface (``fit``, ``decision_function``, ``predict_proba``).

- ``SSDO`` (``ssdo``): semi-supervised label propagation over an isolation-forest prior,
  EAP's detector.
- ``TorchClassifier`` (``mlp``): a small torch MLP classifier, on ``cuda`` when present.
- ``PyODStackClassifier`` (``pyod_stack``): PyOD detectors' scores stacked into a classifier.
- ``IsolationForestPrior`` (``iforest``): PyOD's ``IForest`` probabilities, unsupervised.

Build any of them by name with ``make_detector``.
"""

from auxqual.detectors.iforest_prior import IsolationForestPrior
from auxqual.detectors.registry import DETECTOR_NAMES, load_detector, make_detector, save_detector
from auxqual.detectors.ssdo import SSDO

__all__ = ["DETECTOR_NAMES", "SSDO", "IsolationForestPrior", "load_detector", "make_detector", "save_detector"]
