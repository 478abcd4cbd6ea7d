"""Fitting a grid of candidate detectors for Q3's model selection.

Kept apart from ``auxqual.selection`` (which only compares decision scores) so that
code summarising selections does not depend on the detectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from auxqual.detectors.registry import make_detector
from auxqual.selection import CandidateSpec


def fit_candidates(specs: Sequence[CandidateSpec], X: Any, y: Any, *, random_state: int = 0,
                   device: str | None = None) -> dict[str, Any]:
    """Fit every candidate on ``(X, y)`` (``auxqual.detectors.registry.make_detector``
    with the candidate's parameters, ``random_state`` and ``device``); returns ``{name:
    fitted detector}`` in the order of ``specs``. A detector's ``ValueError`` (an unknown
    name or parameter, data it cannot fit) is re-raised with the candidate's name."""
    fitted = {}
    for spec in specs:
        try:
            detector = make_detector(spec.detector, random_state=random_state, device=device, **spec.params)
            detector.fit(X, y)
        except ValueError as error:
            raise ValueError(f"candidate {spec.name!r} ({spec.detector}, {spec.params}): {error}") from error
        fitted[spec.name] = detector
    return fitted
