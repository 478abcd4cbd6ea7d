"""Evaluation metrics of the benchmark: Q1 (quality ranking) and Q2 (downstream use).

- Q1: how well a quality score ranks the *realistic* auxiliary anomalies above the
  indistinguishable and unrealistic ones (AUROC; 0.5 is chance).
- Q2: the test AUROC of a detector trained on the training data plus the top ``q`` %
  of an auxiliary set, ranked by a quality score.

Every function is pure: arrays and DataFrames in, arrays and DataFrames out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

REALISTIC = "realistic"
Q2_KEYS = ("dataset", "generator", "score", "detector", "q")


def top_q_indices(scores: np.ndarray, q: float) -> np.ndarray:
    """Indices of the top ``q`` percent of ``scores`` (higher = better), best first.

    The number of rows kept is ``floor(q / 100 * n + 0.5)`` (round half up), so
    ``q = 0`` keeps none and ``q = 100`` keeps all. Ties are broken by the lower
    row index first, and NaN scores rank last, so the selection is a
    deterministic function of ``scores`` alone (it does not depend on the sort
    algorithm or the platform).
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1:
        raise ValueError(f"scores: expected a 1-D array, got shape {scores.shape}")
    q = float(q)
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"q: must be a percentage in [0, 100], got {q}")
    n = scores.shape[0]
    k = int(np.floor(q / 100.0 * n + 0.5))
    key = np.where(np.isnan(scores), np.inf, -scores)  # ascending key: best (highest) first, NaN last
    order = np.lexsort((np.arange(n), key))  # last key is primary; row index breaks ties
    return order[:k].astype(np.int64)


def q1_auroc(scores: np.ndarray, kinds: Sequence[str] | np.ndarray, *, positive: str = REALISTIC) -> float:
    """AUROC of ``scores`` at ranking rows of kind ``positive`` above all others.

    Ties count half (the Mann-Whitney convention). Raises ``ValueError`` when the
    scores hold NaN or when one of the two groups is empty (AUROC is undefined),
    naming the counts.
    """
    scores = np.asarray(scores, dtype=np.float64)
    kinds = np.asarray(kinds).astype(str)
    if scores.shape != kinds.shape or scores.ndim != 1:
        raise ValueError(f"scores and kinds must be 1-D of equal length, got {scores.shape} and {kinds.shape}")
    if np.isnan(scores).any():
        raise ValueError(f"scores: {int(np.isnan(scores).sum())} NaN value(s) among {scores.size}")
    positives = kinds == positive
    n_pos = int(positives.sum())
    n_neg = int(positives.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"Q1 AUROC is undefined: {n_pos} row(s) of kind {positive!r} and {n_neg} other row(s)")
    return float(roc_auc_score(positives.astype(np.int8), scores))


def q1_table(scores: pd.DataFrame, score_names: Sequence[str], *, by: Sequence[str] = ("dataset",),
             kind_column: str = "kind") -> pd.DataFrame:
    """Q1 AUROC of every score in ``score_names``, per group of ``by``.

    ``scores`` holds one row per auxiliary anomaly (a column per score and a
    ``kind`` column). Returns columns ``[*by, score, auroc, n_realistic, n_other]``
    sorted by ``by`` then the order of ``score_names``.
    """
    missing = [c for c in (*by, kind_column, *score_names) if c not in scores.columns]
    if missing:
        raise ValueError(f"scores table: missing column(s) {missing}")
    rows = []
    for key, group in scores.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        kinds = group[kind_column].to_numpy().astype(str)
        n_pos = int((kinds == REALISTIC).sum())
        for name in score_names:
            try:
                auroc = q1_auroc(group[name].to_numpy(), kinds)
            except ValueError as error:
                raise ValueError(f"{dict(zip(by, key))}, score {name!r}: {error}") from error
            rows.append({**dict(zip(by, key)), "score": name, "auroc": auroc,
                         "n_realistic": n_pos, "n_other": int(kinds.size - n_pos)})
    return pd.DataFrame(rows, columns=[*by, "score", "auroc", "n_realistic", "n_other"])


def q2_table(predictions: pd.DataFrame, *, by: Sequence[str] = Q2_KEYS, label: str = "y",
             decision: str = "decision") -> pd.DataFrame:
    """Test AUROC of every group of ``predictions`` (one row per test point and model).

    ``predictions`` holds the test labels (``label``, 1 = anomaly) and the
    detector's decision scores (``decision``, higher = more anomalous) for every
    model, identified by the ``by`` columns (dataset, generator, score, detector,
    q by default). Returns ``[*by, auroc, n_test, n_test_anomalies]`` sorted by ``by``.
    """
    missing = [c for c in (*by, label, decision) if c not in predictions.columns]
    if missing:
        raise ValueError(f"predictions table: missing column(s) {missing}")
    rows = []
    for key, group in predictions.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        y = group[label].to_numpy()
        s = group[decision].to_numpy(dtype=np.float64)
        n_anom = int((y == 1).sum())
        if n_anom == 0 or n_anom == y.size:
            raise ValueError(f"{dict(zip(by, key))}: test AUROC is undefined with {n_anom} anomalies "
                             f"among {y.size} test rows")
        if not np.isfinite(s).all():
            raise ValueError(f"{dict(zip(by, key))}: {int((~np.isfinite(s)).sum())} non-finite decision score(s)")
        rows.append({**dict(zip(by, key)), "auroc": float(roc_auc_score(y, s)),
                     "n_test": int(y.size), "n_test_anomalies": n_anom})
    return pd.DataFrame(rows, columns=[*by, "auroc", "n_test", "n_test_anomalies"])


def q2_summary(q2: pd.DataFrame, *, by: Sequence[str] = ("score",)) -> pd.DataFrame:
    """Summarise Q2 curves: per group of ``by``, the mean test AUROC over the budgets
    ``q > 0`` (the normalised area under the AUROC-vs-q curve), the AUROC at the best
    budget and that budget, and the AUROC without auxiliary anomalies (``q = 0``)."""
    rows = []
    for key, group in q2.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        curve = group.groupby("q", sort=True)["auroc"].mean()
        positive = curve[curve.index > 0]
        best_q = float(positive.idxmax()) if len(positive) else float("nan")
        rows.append({**dict(zip(by, key)),
                     "mean_auroc": float(positive.mean()) if len(positive) else float("nan"),
                     "best_auroc": float(positive.max()) if len(positive) else float("nan"),
                     "best_q": best_q,
                     "auroc_q0": float(curve.get(0, np.nan))})
    return pd.DataFrame(rows, columns=[*by, "mean_auroc", "best_auroc", "best_q", "auroc_q0"])
