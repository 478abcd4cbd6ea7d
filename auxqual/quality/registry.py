"""Every quality score by name: ``make_scorer(name, **params)``.

Each scorer follows one interface: ``fit(X_train, y_train)`` (y = 1 labelled
anomaly, 0 normal) and ``score_samples(X_aux)`` returning one float per
auxiliary row, higher = better auxiliary anomaly. EAP also reports the spread of
its score over the subsets (``score_with_std``); EAP and the baselines report how
they scored (``score_with_details``). Every scorer is a scikit-learn estimator: ``clone``,
``get_params`` and ``set_params`` work, and scoring never changes it.
"""

from __future__ import annotations

import inspect
from typing import Any, Protocol, TypeGuard

import numpy as np

from auxqual.quality.ablations import DensityProbabilityScore, DensityScore, ProbabilityScore, RarityScore
from auxqual.quality.eap import EAP

SCORERS: dict[str, type] = {
    "eap": EAP,
    "rarity": RarityScore,
    "density": DensityScore,
    "probability": ProbabilityScore,
    "density_probability": DensityProbabilityScore,
}


class Scorer(Protocol):
    """What every quality scorer does (EAP, its ablations, the baselines)."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> Any:
        """Fit on the training set (``y``: 1 = labelled anomaly, 0 = normal); returns the scorer."""

    def score_samples(self, X: np.ndarray) -> Any:
        """One float per auxiliary row of ``X``, higher = better auxiliary anomaly."""


class DetailedScorer(Scorer, Protocol):
    """A scorer that also reports how it scored (``return_details=True``: EAP and the baselines)."""

    def score_samples(self, X: np.ndarray, return_details: bool = False) -> Any:
        """The values, or with ``return_details=True`` the values and how they were obtained."""


def _all_scorers() -> dict[str, type]:
    from auxqual.quality.baselines import BASELINES

    return {**SCORERS, **BASELINES}


def scorer_names() -> tuple[str, ...]:
    """Names accepted by ``make_scorer``: EAP, its ablations, then the baselines."""
    return tuple(_all_scorers())


def make_scorer(name: str, **params: object) -> Scorer:
    """A fresh, unfitted quality scorer ``name`` with ``params`` (its ``__init__`` arguments).

    Unknown names and parameters raise a ``ValueError`` that lists what is accepted.
    """
    scorers = _all_scorers()
    if name not in scorers:
        raise ValueError(f"unknown quality score {name!r}; choose one of {', '.join(scorers)}")
    cls = scorers[name]
    accepted = [p for p in inspect.signature(cls).parameters if p != "self"]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(f"quality score {name!r} has no parameter(s) {unknown}; it accepts {accepted}")
    return cls(**params)


def score_with_details(scorer: Scorer, X_aux: np.ndarray) -> object:
    """What a fitted scorer reports besides its values: EAP's ``EAPDetails``, a baseline's
    ``BaselineDetails`` (game, utility, budget); for the one-fit ablations, just the values.

    Scoring never changes the scorer, so these come back from the call, not as attributes.
    """
    if isinstance(scorer, EAP) or _has_details(scorer):
        return scorer.score_samples(X_aux, return_details=True)
    return np.asarray(scorer.score_samples(X_aux), dtype=np.float64)


def budget_record(scorer: Scorer, details: Any) -> dict:
    """What one scoring spent, for a budgets file: ``{"budget": …, "game": …, "utility": …}``.

    A baseline's ``BaselineDetails`` gives its budget, game and utility; EAP its number of
    subsets; the one-fit ablations an empty budget. ``details`` is what
    ``score_with_details`` returned for ``scorer``.
    """
    if hasattr(details, "budget"):
        return {"budget": dict(details.budget), "game": details.game, "utility": details.utility}
    if isinstance(scorer, EAP):
        return {"budget": {"n_subsets": scorer.n_subsets}}
    return {"budget": {}}


def _has_details(scorer: Scorer) -> TypeGuard[DetailedScorer]:
    return "return_details" in inspect.signature(scorer.score_samples).parameters


def score_with_std(scorer: Scorer, X_aux: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``(score, std)`` of a fitted scorer; ``std`` is None for scorers without a spread."""
    if isinstance(scorer, EAP):
        details = scorer.score_samples(X_aux, return_details=True)
        return details.score, details.score_std
    return np.asarray(scorer.score_samples(X_aux), dtype=np.float64), None
