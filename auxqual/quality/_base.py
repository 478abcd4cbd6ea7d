"""What every quality score shares: scikit-learn's estimator API on the training set.

A quality score is a scikit-learn ``BaseEstimator``: ``__init__`` stores its parameters
unchanged (so ``get_params``, ``set_params`` and ``clone`` work), ``fit(X_train, y_train)``
learns from the training set (``y``: 1 = labelled anomaly, 0 = normal) and
``score_samples(X_aux)`` returns one float per auxiliary row, higher = better auxiliary
anomaly, without changing the estimator. Before ``fit`` every method raises scikit-learn's
``NotFittedError``; after it, another number of features (or, for a DataFrame, other column
names) raises a ``ValueError`` naming both (``auxqual.detectors._validation``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from auxqual.detectors._validation import CheckedInputMixin, binary_target_tags, check_min_samples
from auxqual.io import check_labels

MIN_TRAINING_ROWS = 2  # a training set of one row has no neighbours, subsets or coalitions


class QualityScorer(CheckedInputMixin, BaseEstimator):
    """Base class of the quality scores: input checks, fitted state and scikit-learn tags.

    Subclasses call ``_fit_input`` first in ``fit`` and ``_end_fit`` last; scoring
    methods call ``_score_input``.
    """

    def __sklearn_tags__(self):
        """scikit-learn's tags: ``y`` is required, and it is binary (0 normal, 1 anomaly).

        A quality score predicts no class, so it is no scikit-learn classifier; the tags only
        say that its target is binary (``auxqual.detectors._validation.binary_target_tags``).
        """
        return binary_target_tags(super().__sklearn_tags__(), required=True)

    def _fit_input(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Forget any earlier fit; the checked training matrix and 0/1 labels."""
        X = self._start_fit(X, name="X_train")
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None "
                             "(y_train: 1 = labelled anomaly, 0 = normal)")
        y = check_labels(y, name="y_train", n_rows=X.shape[0])
        check_min_samples(X, MIN_TRAINING_ROWS, "X_train", type(self).__name__)
        return X, y

    def _score_input(self, X: Any) -> np.ndarray:
        """The auxiliary rows, checked against the fit."""
        return self._checked_input(X, name="X_aux")


__all__ = ["QualityScorer"]
