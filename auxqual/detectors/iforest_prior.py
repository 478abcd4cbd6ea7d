"""The isolation-forest prior of SSDO, numerically identical to PyOD's ``IForest``.

EAP's detector uses PyOD ``IForest(random_state=1)`` and its "linear"
``predict_proba``: the anomaly scores min-max scaled on the training scores and
clipped to [0, 1]. PyOD scores the training data twice (once in ``fit``, once in
``predict_proba``); this class fits scikit-learn's ``IsolationForest`` directly,
scores the training data once and reproduces PyOD's arithmetic step by step,
so its probabilities are bit-identical to PyOD's while costing one pass less.

The forest itself is ``auxqual.detectors.iforest_compiled``: scikit-learn's trees
grown and scored by compiled loops (or, on a GPU, scored as tensors), the same numbers
bit for bit at a fraction of the time. Inputs it does not reproduce (another
scikit-learn series, ``bootstrap=True``, ``max_features < 1.0``, a ``max_samples`` that
scikit-learn would warn about) go to scikit-learn itself; ``backend_`` says which ran.
"""

from __future__ import annotations

import numpy as np
from sklearn import config_context
from sklearn.base import BaseEstimator
from sklearn.ensemble import IsolationForest

from auxqual.detectors import iforest_compiled
from auxqual.detectors._validation import CheckedInputMixin
from auxqual.device import pick_device

COMPILED = "compiled"
SKLEARN = "scikit-learn"


class IsolationForestPrior(CheckedInputMixin, BaseEstimator):
    """Unsupervised anomaly prior in [0, 1] (PyOD ``IForest`` + linear ``predict_proba``).

    Parameters
    ----------
    n_estimators, max_samples, max_features, bootstrap, random_state
        As in PyOD's ``IForest`` (and scikit-learn's ``IsolationForest``).
    contamination
        PyOD's contamination; it only shifts the raw scores by a constant before
        the min-max scaling, and is kept so the arithmetic matches PyOD's.
    device : str, optional
        Where the compiled forest scores rows: ``None`` or ``"cpu"``, compiled CPU
        loops; a GPU (``"cuda"``), tensor operations. The trees are grown on CPU
        either way, and the scores are the same bits.

    Notes
    -----
    Fitted attributes: ``n_features_in_`` (and ``feature_names_in_`` when fitted on a
    DataFrame: scoring checks both, so another width raises a ``ValueError`` instead of
    reading past the end of a row), ``forest_`` (a ``CompiledForest``
    or scikit-learn's ``IsolationForest``), ``backend_`` (``"compiled"`` or
    ``"scikit-learn"``) and ``fallback_reason_`` (why scikit-learn ran, else ``None``).
    """

    def __init__(self, n_estimators: int = 100, max_samples: int | float | str = "auto",
                 contamination: float = 0.1, max_features: float = 1.0, bootstrap: bool = False,
                 random_state: int | None = 1, device: str | None = None) -> None:
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.contamination = contamination
        self.max_features = max_features
        self.bootstrap = bootstrap
        self.random_state = random_state
        self.device = device

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> IsolationForestPrior:
        """Fit the forest on ``X`` (labels are ignored) and the min-max scaling."""
        X_checked = self._start_fit(X, name="X")
        self.fallback_reason_ = iforest_compiled.unsupported_reason(
            X.shape[0], self.max_samples, self.max_features, self.bootstrap, self.n_estimators)
        self.backend_ = SKLEARN if self.fallback_reason_ else COMPILED
        self.forest_: iforest_compiled.CompiledForest | IsolationForest
        if self.backend_ == COMPILED:
            self.forest_ = iforest_compiled.fit_forest(X_checked, self.n_estimators, self.max_samples,
                                                       self.random_state)
        else:
            with config_context(assume_finite=True):  # checked once above, not once per tree
                self.forest_ = IsolationForest(
                    n_estimators=self.n_estimators, max_samples=self.max_samples, contamination="auto",
                    max_features=self.max_features, bootstrap=self.bootstrap, n_jobs=1,
                    random_state=self.random_state,
                ).fit(X_checked)
        raw_train = self._raw_scores(X_checked)
        self.offset_ = np.percentile(raw_train, 100.0 * self.contamination)
        self.decision_scores_ = self._invert(raw_train)
        data_min = self.decision_scores_.min()
        data_range = self.decision_scores_.max() - data_min
        self.scale_ = 1.0 / (data_range if data_range != 0.0 else 1.0)
        self.min_ = 0.0 - data_min * self.scale_
        self.train_prior_ = self._to_probability(self.decision_scores_)
        self._end_fit(X, X_checked)
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Raw anomaly scores (higher = more anomalous), as PyOD's ``IForest``."""
        X = self._checked_input(X, name="X")
        return self._invert(self._raw_scores(X))

    def prior(self, X: np.ndarray) -> np.ndarray:
        """Anomaly probability of each row of ``X`` in [0, 1]."""
        return self._to_probability(self.decision_function(X))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """``[P(normal), P(anomaly)]`` per row, PyOD's convention."""
        anomaly = self.prior(X)
        return np.column_stack([1.0 - anomaly, anomaly])

    def _raw_scores(self, X: np.ndarray) -> np.ndarray:
        """scikit-learn's ``score_samples`` (lower = more abnormal), from whichever forest was fitted."""
        if getattr(self, "backend_", SKLEARN) == SKLEARN:  # models pickled before the compiled forest
            forest: IsolationForest = self.forest_  # the scikit-learn backend fitted one
            with config_context(assume_finite=True):  # checked by the caller, not once per tree
                return forest.score_samples(X)
        device = pick_device(getattr(self, "device", None) or "cpu")
        if device.type == "cpu":
            return iforest_compiled.score_samples(self.forest_, X)
        return iforest_compiled.score_samples_torch(self.forest_, X, device)

    def _invert(self, raw: np.ndarray) -> np.ndarray:
        # scikit-learn's decision_function, then PyOD's invert_order (× −1)
        return (raw - self.offset_) * -1

    def _to_probability(self, decision: np.ndarray) -> np.ndarray:
        # scikit-learn's MinMaxScaler.transform arithmetic: x · scale + min, then clip
        return (decision * self.scale_ + self.min_).clip(0, 1)

