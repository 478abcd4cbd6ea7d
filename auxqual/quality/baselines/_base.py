"""What every baseline shares: the EAP-style interface, parameter checks, the detector utility.

Every baseline follows EAP's interface: parameters stored unchanged in ``__init__``;
``fit(X_train, y_train)`` validates and stores the training set (y = 1 labelled anomaly, 0 normal);
``score_samples(X_aux)`` does the valuation and returns one float per auxiliary row, higher =
better auxiliary anomaly. After ``score_samples`` each estimator exposes

- ``game_``: which game it played (``"adapted"``: training points are the players and each
  auxiliary anomaly joins each coalition alone, labelled anomaly; ``"textbook"``: the auxiliary
  anomalies are the players and the training set is always in; ``"none"`` for Random);
- ``utility_``: what a coalition is worth (e.g. ``"f1@0.5 of SSDO on the training set"``);
- ``budget_``: a dict with the Monte-Carlo budget it used (permutations, masks, models, steps)
  and ``fits``, the number of coalitions it actually evaluated.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

from auxqual.io import check_features, check_labels
from auxqual.quality.baselines.utility import GAMES, METRICS, CoalitionUtility


def check_int(name: str, value: object, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an int within bounds, or a ``ValueError`` naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be ≥ {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be ≤ {maximum}, got {value}")
    return value


def check_real(name: str, value: object, low: float | None = None, high: float | None = None, *,
               low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a finite float within bounds, or a ``ValueError`` naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    value = float(value)
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '≥'} {low}, got {value}")
    if high is not None and (value > high or (high_open and value == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '≤'} {high}, got {value}")
    return value


def check_choice(name: str, value: object, options: Sequence[str]) -> str:
    if value not in options:
        raise ValueError(f"{name} must be one of {tuple(options)}, got {value!r}")
    return str(value)


def check_seed(name: str, value: object) -> int | None:
    if value is None:
        return None
    return check_int(name, value, minimum=0)


class BaselineEstimator:
    """Base class: ``fit`` stores the training set; ``score_samples`` values the auxiliary rows."""

    #: games the estimator supports (first = default)
    games: tuple[str, ...] = ("adapted",)

    def fit(self, X: np.ndarray, y: np.ndarray) -> "BaselineEstimator":
        """Validate and store the training set (``y``: 1 = labelled anomaly, 0 = normal)."""
        X = check_features(X, name="X_train")
        y = check_labels(y, name="y_train", n_rows=X.shape[0])
        self._check_params()
        self._check_training(X, y)
        self.X_train_ = X
        self.y_train_ = y
        self.n_features_in_ = X.shape[1]
        return self

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        """Quality of each auxiliary row of ``X`` (higher = better auxiliary anomaly)."""
        if not hasattr(self, "X_train_"):
            raise ValueError(f"{type(self).__name__} is not fitted: call fit(X_train, y_train) first")
        X = check_features(X, name="X_aux", n_features=self.n_features_in_)
        self._check_params()
        values = np.asarray(self._values(X), dtype=np.float64)
        if values.shape != (X.shape[0],) or not np.isfinite(values).all():
            raise RuntimeError(f"{type(self).__name__} produced {values.shape} values, "
                               f"{np.count_nonzero(~np.isfinite(values))} not finite")
        return values

    # ------------------------------------------------------------------ hooks
    def _check_params(self) -> None:
        if hasattr(self, "game") and self.game not in self.games:
            raise ValueError(f"game must be one of {self.games} for {type(self).__name__}, got {self.game!r}")
        if hasattr(self, "random_state"):
            check_seed("random_state", self.random_state)
        if hasattr(self, "progress") and not isinstance(self.progress, bool):
            raise ValueError(f"progress must be a bool, got {self.progress!r}")

    def _check_training(self, X: np.ndarray, y: np.ndarray) -> None:
        """Data-dependent checks (subclasses)."""

    def _values(self, X_aux: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must define _values(X_aux), its estimator")


class DetectorUtilityMixin:
    """Parameters, checks and construction of the SSDO utility (:class:`CoalitionUtility`).

    Listed before :class:`BaselineEstimator` in a class's bases, it adds the utility's checks to
    the ``_check_params`` and ``_check_training`` hooks. Expects the attributes ``utility``,
    ``validation_size``, ``exact``, ``alpha``, ``ssdo_k``, ``prior_random_state``, ``n_jobs``,
    ``random_state`` and ``progress``.
    """

    def _check_params(self) -> None:
        super()._check_params()
        self._check_utility_params()

    def _check_training(self, X: np.ndarray, y: np.ndarray) -> None:
        super()._check_training(X, y)
        self._check_training_for_utility(X, y)

    def _check_utility_params(self) -> None:
        if not callable(self.utility) and self.utility not in METRICS:
            raise ValueError(f"utility must be one of {METRICS} or a callable f(X, y) -> float, "
                             f"got {self.utility!r}")
        check_real("validation_size", self.validation_size, 0.0, 1.0, low_open=True, high_open=True)
        if not isinstance(self.exact, bool):
            raise ValueError(f"exact must be a bool, got {self.exact!r}")
        check_real("alpha", self.alpha, 0.0)
        check_int("ssdo_k", self.ssdo_k, 1)
        check_seed("prior_random_state", self.prior_random_state)
        if self.n_jobs is not None:
            check_int("n_jobs", self.n_jobs)

    def _check_training_for_utility(self, X: np.ndarray, y: np.ndarray) -> None:
        if not callable(self.utility) and int(y.sum()) == 0:
            raise ValueError(f"{type(self).__name__}: the detector utility needs at least one labelled "
                             "anomaly in y_train (F1/AUROC of the anomaly class), got none")
        if not callable(self.utility) and X.shape[0] <= self.ssdo_k + 1:
            raise ValueError(f"{type(self).__name__}: X_train has {X.shape[0]} rows; SSDO needs more "
                             f"than ssdo_k + 1 = {self.ssdo_k + 1}")

    def _make_utility(self, X_aux: np.ndarray) -> CoalitionUtility:
        return CoalitionUtility.build(
            self.X_train_, self.y_train_, X_aux, metric=self.utility, validation_size=self.validation_size,
            random_state=self.random_state, k=self.ssdo_k, alpha=self.alpha,
            prior_random_state=self.prior_random_state, exact=self.exact, n_jobs=self.n_jobs,
            progress=self.progress)

    def _utility_name(self, utility: CoalitionUtility) -> str:
        path = "exact refit" if self.exact or callable(self.utility) else "fast path"
        return f"{utility.description} ({path})"


__all__ = ["BaselineEstimator", "DetectorUtilityMixin", "GAMES", "METRICS", "check_choice", "check_int", "check_real",
           "check_seed"]
