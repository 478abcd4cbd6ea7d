"""Anomaly detectors with PyOD's interface (``fit``, ``decision_function``, ``predict_proba``).

- :class:`SSDO` (``ssdo``): semi-supervised label propagation over an isolation-forest prior,
  EAP's detector.
- :class:`TorchClassifier` (``mlp``): a small torch MLP classifier, on ``cuda`` when present.
- :class:`PyODStackClassifier` (``pyod_stack``): PyOD detectors' scores stacked into a classifier.
- :class:`IsolationForestPrior` (``iforest``): PyOD's ``IForest`` probabilities, unsupervised.

Build any of them by name with :func:`make_detector`.
"""

from auxqual.detectors.iforest_prior import IsolationForestPrior
from auxqual.detectors.registry import DETECTOR_NAMES, load_detector, make_detector, save_detector
from auxqual.detectors.ssdo import SSDO

__all__ = ["DETECTOR_NAMES", "SSDO", "IsolationForestPrior", "load_detector", "make_detector", "save_detector"]
