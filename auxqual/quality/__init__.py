"""Quality scores for auxiliary anomalies: EAP, its ablations and the baselines.

``from auxqual.quality import EAP``; every score by name through
``make_scorer`` (higher = better auxiliary anomaly for all of them).
"""

from auxqual.quality.ablations import DensityProbabilityScore, DensityScore, ProbabilityScore, RarityScore
from auxqual.quality.eap import EAP, EAPDetails, draw_subset_masks
from auxqual.quality.registry import (
    SCORERS,
    budget_record,
    make_scorer,
    score_with_details,
    score_with_std,
    scorer_names,
)

__all__ = [
    "EAP",
    "SCORERS",
    "DensityProbabilityScore",
    "DensityScore",
    "EAPDetails",
    "ProbabilityScore",
    "RarityScore",
    "budget_record",
    "draw_subset_masks",
    "make_scorer",
    "score_with_details",
    "score_with_std",
    "scorer_names",
]
