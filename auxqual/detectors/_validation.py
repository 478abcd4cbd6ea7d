"""scikit-learn's fitted-state and input checks, shared by every estimator of the library.

Every detector and quality score is a scikit-learn ``BaseEstimator`` and validates its input
the same way (``CheckedInputMixin``):

- ``fit`` first forgets any earlier fit (every attribute ending in ``_``), checks the data
  (``auxqual.io.check_features``: a finite 2-D float matrix, with a one-line ``ValueError``
  naming the input), and only when everything succeeded records ``n_features_in_`` (and
  ``feature_names_in_`` for a DataFrame with string columns) through scikit-learn's
  ``validate_data``. An estimator is fitted exactly when ``n_features_in_`` exists, so a
  ``fit`` that fails half-way leaves it unfitted (``NotFittedError``), never half-fitted.
- Scoring checks the fitted state (``check_is_fitted``: ``NotFittedError`` before ``fit``), the
  width (``validate_data(reset=False)``: a ``ValueError`` naming both widths) and, for a
  DataFrame fitted on a DataFrame, the column names: other names raise a one-line
  ``ValueError`` naming the fitted and the given columns (scikit-learn's own message spans
  several lines). A plain array scored by an estimator fitted on a DataFrame, or the reverse,
  only warns, as in scikit-learn.

This lives under ``auxqual.detectors`` because the quality scores import the detectors; the
reverse import would be circular.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.sparse import issparse
from sklearn.utils import ClassifierTags
from sklearn.utils.validation import check_is_fitted, validate_data

from auxqual.io import check_features

_MAX_NAMES_SHOWN = 8


def _as_checked_array(X: Any, name: str) -> np.ndarray:
    """``X`` as a finite 2-D float64 array (``auxqual.io.check_features``).

    Sparse and complex input are refused rather than densified or cast, and an input without
    columns gets scikit-learn's wording, so that its estimator checks recognise the errors.
    """
    if issparse(X):
        raise ValueError(f"{name}: sparse input is not supported (dense data is required); "
                         "convert it with X.toarray()")
    if np.iscomplexobj(X if hasattr(X, "dtype") else getattr(X, "values", X)):
        raise ValueError(f"{name}: Complex data not supported")
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) == 1:
        raise ValueError(f"{name}: expected a 2-D feature matrix, got a 1-D array of length {shape[0]}. Reshape "
                         "your data with X.reshape(-1, 1) for one feature or X.reshape(1, -1) for one row")
    if shape is not None and len(shape) == 2 and shape[1] == 0:
        raise ValueError(f"{name}: 0 feature(s) (shape=({shape[0]}, 0)) while a minimum of 1 is required.")
    return check_features(X, name=name)


def _columns(X: Any) -> list[str] | None:
    """The column names of a DataFrame-like ``X`` with string columns, else ``None``."""
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    names = list(columns)
    return names if names and all(isinstance(c, str) for c in names) else None


def _shown(names: Any) -> str:
    names = [str(n) for n in names]
    if len(names) > _MAX_NAMES_SHOWN:
        return "[" + ", ".join(names[:_MAX_NAMES_SHOWN]) + f", … ({len(names)} in all)]"
    return "[" + ", ".join(names) + "]"


def check_column_names(estimator: Any, X: Any, name: str) -> None:
    """A ``ValueError`` naming both sets when ``X``'s columns differ from those seen in ``fit``."""
    fitted = getattr(estimator, "feature_names_in_", None)
    given = _columns(X)
    if fitted is None or given is None:
        return
    if list(fitted) != given:
        raise ValueError(f"{name}: columns {_shown(given)} differ from the columns {type(estimator).__name__} "
                         f"was fitted on {_shown(fitted)}")


def binary_target_tags(tags: Any, *, required: bool) -> Any:
    """scikit-learn's tags of an estimator fitted on 0/1 labels (1 = anomaly).

    ``ClassifierTags(multi_class=False)`` says the target is binary; the estimator type stays
    as it is (these are not scikit-learn classifiers: they score, and ``predict`` returns 0/1),
    so scikit-learn's estimator checks give them two-class targets without the classifier checks.
    """
    tags.target_tags.required = required
    tags.input_tags.allow_nan = False
    tags.classifier_tags = ClassifierTags(multi_class=False)
    return tags


def check_min_samples(X: np.ndarray, minimum: int, name: str, owner: str) -> None:
    """A ``ValueError`` in scikit-learn's words when ``X`` has fewer than ``minimum`` rows."""
    if X.shape[0] < minimum:
        raise ValueError(f"{name}: n_samples={X.shape[0]}, while a minimum of {minimum} is required by {owner}")


class CheckedInputMixin:
    """Fitted state and input validation of an estimator (see the module docstring).

    ``fit`` calls ``_start_fit`` first and ``_end_fit`` last; every scoring method
    calls ``_checked_input``.
    """

    def __sklearn_is_fitted__(self) -> bool:
        # ``forest_``: an IsolationForestPrior pickled before it recorded n_features_in_
        return hasattr(self, "n_features_in_") or hasattr(self, "forest_")

    def _start_fit(self, X: Any, *, name: str = "X") -> np.ndarray:
        """Forget any earlier fit and return the checked training matrix."""
        for attribute in [a for a in vars(self) if a.endswith("_") and not a.startswith("__")]:
            delattr(self, attribute)
        return _as_checked_array(X, name)

    def _end_fit(self, X: Any, X_checked: np.ndarray) -> None:
        """Record ``n_features_in_`` (and ``feature_names_in_``): the estimator is now fitted."""
        validate_data(self, X if _columns(X) is not None else X_checked, reset=True, skip_check_array=True)

    def _checked_input(self, X: Any, *, name: str = "X") -> np.ndarray:
        """``X`` checked against the fit: ``NotFittedError``, or ``ValueError`` for another
        width or other column names; returns it as a float64 array."""
        check_is_fitted(self)
        check_column_names(self, X, name)
        X_checked = _as_checked_array(X, name)
        if hasattr(self, "n_features_in_"):
            try:
                validate_data(self, X if _columns(X) is not None else X_checked, reset=False,
                              skip_check_array=True)
            except ValueError as error:
                raise ValueError(f"{name}: {error}") from None
        return X_checked


__all__ = ["CheckedInputMixin", "binary_target_tags", "check_column_names", "check_min_samples"]
