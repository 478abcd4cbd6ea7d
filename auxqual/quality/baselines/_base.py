"""What every baseline shares: the estimator API, parameter checks, the detector utility.

Every baseline is a scikit-learn estimator with EAP's interface: parameters stored unchanged in
``__init__`` (``get_params``, ``set_params``, ``clone``); ``fit(X_train, y_train)`` validates and
stores the training set (y = 1 labelled anomaly, 0 normal); ``score_samples(X_aux)`` does the
valuation and returns one float per auxiliary row, higher = better auxiliary anomaly, and leaves
the estimator as it was. ``score_samples(X_aux, return_details=True)`` returns a
``BaselineDetails`` instead, with the values and

- ``game``: which game it played (``"adapted"``: training points are the players and each
  auxiliary anomaly joins each coalition alone, labelled anomaly; ``"textbook"``: the auxiliary
  anomalies are the players and the training set is always in; ``"none"`` for Random);
- ``utility``: what a coalition is worth (e.g. ``"f1@0.5 of SSDO on the training set"``);
- ``budget``: a dict with the Monte-Carlo budget it used (permutations, masks, models, steps)
  and ``fits``, the number of coalitions it actually evaluated;
- ``extra``: what a particular estimator also reports (Data-OOB's ``votes``, AME's
  ``lasso_alpha``, ...).

Numeric parameters are checked with scikit-learn's ``check_scalar``; a wrong type or value is a
``ValueError`` naming the parameter. ``n_jobs`` has joblib's meaning (``None``: 1, ``-1``: all
cores).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any, Literal, overload

import numpy as np
from joblib import effective_n_jobs
from sklearn.utils import check_scalar

from auxqual.quality._base import QualityScorer
from auxqual.quality.baselines.utility import GAMES, METRICS, CoalitionUtility, UtilityFunction


@dataclass
class BaselineDetails:
    """One valuation: the values and how they were obtained (see the module docstring)."""

    score: np.ndarray | None = None
    game: str = ""
    utility: str = ""
    budget: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def check_choice(name: str, value: object, options: Sequence[str]) -> str:
    """``value`` if it is one of ``options``, else a ``ValueError`` naming the parameter."""
    if value not in options:
        raise ValueError(f"{name} must be one of {tuple(options)}, got {value!r}")
    return str(value)


def check_seed(name: str, value: object) -> int | None:
    """A seed: ``None`` or a non-negative integer (``check_scalar``)."""
    if value is None:
        return None
    return int(check_scalar(value, name, Integral, min_val=0))


class BaselineEstimator(QualityScorer, ABC):
    """Base class: ``fit`` stores the training set; ``score_samples`` values the auxiliary rows."""

    #: games the estimator supports (first = default)
    games: tuple[str, ...] = ("adapted",)

    def fit(self, X: np.ndarray, y: np.ndarray) -> BaselineEstimator:
        """Validate and store the training set (``y``: 1 = labelled anomaly, 0 = normal)."""
        X_input, (X, y) = X, self._fit_input(X, y)
        self._validated_params()
        self._check_training(X, y)
        self.X_train_ = X
        self.y_train_ = y
        self._end_fit(X_input, X)
        return self

    @overload
    def score_samples(self, X: np.ndarray, return_details: Literal[False] = ...) -> np.ndarray: ...
    @overload
    def score_samples(self, X: np.ndarray, return_details: Literal[True]) -> BaselineDetails: ...
    @overload
    def score_samples(self, X: np.ndarray, return_details: bool) -> np.ndarray | BaselineDetails: ...

    def score_samples(self, X: np.ndarray, return_details: bool = False) -> np.ndarray | BaselineDetails:
        """Quality of each auxiliary row of ``X`` (higher = better auxiliary anomaly).

        With ``return_details=True`` return a ``BaselineDetails`` (values, game, utility,
        budget); the estimator itself is left unchanged either way.
        """
        X = self._score_input(X)
        self._validated_params()
        record = BaselineDetails()
        values = np.asarray(self._values(X, record), dtype=np.float64)
        if values.shape != (X.shape[0],) or not np.isfinite(values).all():
            raise RuntimeError(f"{type(self).__name__} produced {values.shape} values, "
                               f"{np.count_nonzero(~np.isfinite(values))} not finite")
        if not return_details:
            return values
        record.score = values
        return record

    # ------------------------------------------------------------------ hooks
    def _validated_params(self) -> None:
        """Run ``_check_params``; ``check_scalar``'s ``TypeError`` becomes a ``ValueError``."""
        try:
            self._check_params()
        except TypeError as error:
            raise ValueError(str(error)) from None

    def _check_params(self) -> None:
        for name, value in self.get_params(deep=False).items():
            # check_scalar's bounds let NaN and infinity through: no parameter here may be either
            if isinstance(value, Real) and not isinstance(value, Integral) and not np.isfinite(float(value)):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        if hasattr(self, "game") and self.game not in self.games:
            raise ValueError(f"game must be one of {self.games} for {type(self).__name__}, got {self.game!r}")
        if hasattr(self, "random_state"):
            check_seed("random_state", self.random_state)
        if hasattr(self, "progress") and not isinstance(self.progress, bool):
            raise ValueError(f"progress must be a bool, got {self.progress!r}")

    def _check_training(self, X: np.ndarray, y: np.ndarray) -> None:
        """Data-dependent checks (subclasses)."""

    @abstractmethod
    def _values(self, X_aux: np.ndarray, record: BaselineDetails) -> np.ndarray:
        """The values of the auxiliary rows; fill ``record`` with game, utility and budget."""


class DetectorUtilityMixin(BaselineEstimator):
    """Parameters, checks and construction of the SSDO utility (``CoalitionUtility``).

    Listed before ``BaselineEstimator`` in a class's bases (it is one itself, so that its
    ``super()`` calls have a type), it adds the utility's checks to the ``_check_params`` and
    ``_check_training`` hooks. The subclass's ``__init__`` sets the parameters declared below.
    """

    # the parameters of the detector utility (set by each subclass's __init__; declared for the type checker)
    utility: str | UtilityFunction
    validation_size: float
    exact: bool
    alpha: float
    ssdo_k: int
    prior_random_state: int | None
    n_jobs: int | None
    random_state: int | None
    progress: bool

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
        check_scalar(self.validation_size, "validation_size", Real, min_val=0.0, max_val=1.0,
                     include_boundaries="neither")
        if not isinstance(self.exact, bool):
            raise ValueError(f"exact must be a bool, got {self.exact!r}")
        check_scalar(self.alpha, "alpha", Real, min_val=0.0)
        check_scalar(self.ssdo_k, "ssdo_k", Integral, min_val=1)
        check_seed("prior_random_state", self.prior_random_state)
        if self.n_jobs is not None:
            check_scalar(self.n_jobs, "n_jobs", Integral)
            effective_n_jobs(self.n_jobs)  # n_jobs=0: joblib's ValueError

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


__all__ = [
    "GAMES",
    "METRICS",
    "BaselineDetails",
    "BaselineEstimator",
    "DetectorUtilityMixin",
    "check_choice",
    "check_seed",
]
