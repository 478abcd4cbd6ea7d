"""Evaluation metrics of the benchmark: Q1 (quality ranking) and Q2 (downstream use).

- Q1: how well a quality score ranks the *realistic* auxiliary anomalies above the
  indistinguishable and unrealistic ones (AUROC; 0.5 is chance).
- Q2: the test AUROC of a detector trained on the training data plus the top ``q`` %
  of an auxiliary set, ranked by a quality score.

Every function is pure: arrays and DataFrames in, arrays and DataFrames out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

REALISTIC = "realistic"
Q2_KEYS = ("dataset", "generator", "score", "detector", "q")


def top_q_indices(scores: np.ndarray, q: float, *,
                  random_state: int | np.random.Generator | np.random.RandomState | None = 0) -> np.ndarray:
    """Indices of the top ``q`` percent of ``scores`` (higher = better), best first.

    The number of rows kept is ``floor(q / 100 * n + 0.5)`` (round half up), so
    ``q = 0`` keeps none and ``q = 100`` keeps all; NaN scores rank last.

    Ties are broken by a random permutation of the rows drawn from ``random_state``
    (an int, a numpy ``Generator`` / ``RandomState``, or ``None`` for fresh entropy),
    never by row index: row order carries no meaning (the benchmark mixture was stored
    kind by kind, so an index tie-break selected realistic rows first whenever a score
    ties). The key depends only on ``n`` and the seed, so with one integer seed the
    selection is a deterministic function of ``scores`` and the top-q sets are nested as
    ``q`` grows; pass the same integer for every ``q`` of one ranking (a ``Generator``
    advances at each call and would break the nesting).
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
    order = np.lexsort((_tie_key(n, random_state), key))  # last key is primary; a random key breaks ties
    return order[:k].astype(np.int64)


def _tie_key(n: int, random_state: int | np.random.Generator | np.random.RandomState | None) -> np.ndarray:
    """A random permutation of ``range(n)`` drawn from ``random_state``: the tie-break key."""
    if isinstance(random_state, np.random.RandomState):
        return random_state.permutation(n)
    if isinstance(random_state, bool):
        raise ValueError(f"random_state: expected an int, a numpy Generator or None, got {random_state!r}")
    try:
        rng = np.random.default_rng(random_state)
    except (TypeError, ValueError) as error:
        raise ValueError(f"random_state: expected a non-negative int, a numpy Generator or None, "
                         f"got {random_state!r}") from error
    return rng.permutation(n)


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
                raise ValueError(f"{dict(zip(by, key, strict=True))}, score {name!r}: {error}") from error
            rows.append({**dict(zip(by, key, strict=True)), "score": name, "auroc": auroc,
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
            raise ValueError(f"{dict(zip(by, key, strict=True))}: test AUROC is undefined with {n_anom} anomalies "
                             f"among {y.size} test rows")
        if not np.isfinite(s).all():
            raise ValueError(f"{dict(zip(by, key, strict=True))}: {int((~np.isfinite(s)).sum())} "
                             "non-finite decision score(s)")
        rows.append({**dict(zip(by, key, strict=True)), "auroc": float(roc_auc_score(y, s)),
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
        # the index is the budget q, a float (idxmax is typed as returning any hashable label)
        best_q = float(cast(float, positive.idxmax())) if len(positive) else float("nan")
        rows.append({**dict(zip(by, key, strict=True)),
                     "mean_auroc": float(positive.mean()) if len(positive) else float("nan"),
                     "best_auroc": float(positive.max()) if len(positive) else float("nan"),
                     "best_q": best_q,
                     "auroc_q0": float(curve.get(0, np.nan))})
    return pd.DataFrame(rows, columns=[*by, "mean_auroc", "best_auroc", "best_q", "auroc_q0"])


# --------------------------------------------------------------------------- Q1 comparison table
AVERAGE_RANK = "average rank"
MEAN_SECONDS = "mean seconds"


def q1_wide(q1: pd.DataFrame, score_names: Sequence[str] | None = None) -> pd.DataFrame:
    """Q1 AUROC as a dataset × score matrix (index ``dataset``, one column per score).

    ``q1``: the long table of ``q1_table`` (``dataset``, ``score``, ``auroc``). Columns
    follow ``score_names`` (default: the order of first appearance in ``q1``), rows are
    sorted by dataset. Every (dataset, score) cell must be present exactly once: ranks
    are only comparable on a complete table, so a missing or duplicate cell raises a
    ``ValueError`` naming it.
    """
    missing = [c for c in ("dataset", "score", "auroc") if c not in q1.columns]
    if missing:
        raise ValueError(f"q1 table: missing column(s) {missing}")
    if q1.empty:
        raise ValueError("q1 table: no rows")
    names = list(dict.fromkeys(q1["score"])) if score_names is None else [str(s) for s in score_names]
    duplicated = q1[q1.duplicated(["dataset", "score"], keep=False)]
    if len(duplicated):
        first = duplicated.iloc[0]
        raise ValueError(f"q1 table: {len(duplicated)} rows share a (dataset, score), "
                         f"e.g. ({first['dataset']!r}, {first['score']!r})")
    wide = q1.pivot(index="dataset", columns="score", values="auroc").sort_index()
    absent = [s for s in names if s not in wide.columns]
    if absent:
        raise ValueError(f"q1 table: no Q1 AUROC for score(s) {absent}")
    wide = wide[names].astype(np.float64)
    cells = wide.to_numpy()   # columns in the order of names
    holes = [(d, s) for i, d in enumerate(wide.index) for j, s in enumerate(names) if np.isnan(cells[i, j])]
    if holes:
        raise ValueError(f"q1 table: {len(holes)} (dataset, score) cell(s) without a Q1 AUROC, "
                         f"e.g. {holes[:3]}; the average rank needs every score on every dataset")
    wide.columns.name = None
    return wide


def q1_ranks(wide: pd.DataFrame) -> pd.DataFrame:
    """Rank of each score on each dataset (rows of ``wide``): 1 = the highest Q1 AUROC;
    tied scores share the mean of the ranks they span (1, 2.5, 2.5, 4)."""
    return wide.rank(axis=1, ascending=False, method="average")


def q1_comparison(q1: pd.DataFrame, score_names: Sequence[str] | None = None, *,
                  seconds: pd.DataFrame | None = None) -> pd.DataFrame:
    """The Q1 comparison table: a row per dataset (Q1 AUROC of each score), then a row
    ``average rank`` (mean over datasets of ``q1_ranks``) and, when ``seconds`` is
    given, a row ``mean seconds`` (mean over datasets of each score's time).

    ``q1``: ``dataset``, ``score``, ``auroc`` (one row per dataset and score).
    ``seconds``: ``dataset``, ``score``, ``seconds``; a score without any time gets NaN.
    Returns columns ``dataset`` then one per score (float), ``len(datasets) + 1 (+ 1)`` rows.
    """
    wide = q1_wide(q1, score_names)
    table = wide.copy()
    table.loc[AVERAGE_RANK] = q1_ranks(wide).mean(axis=0)
    if seconds is not None:
        missing = [c for c in ("dataset", "score", "seconds") if c not in seconds.columns]
        if missing:
            raise ValueError(f"seconds table: missing column(s) {missing}")
        kept = seconds[seconds["dataset"].isin(wide.index)]
        per_score = kept.groupby("score", sort=False)["seconds"].mean()
        table.loc[MEAN_SECONDS] = per_score.reindex(wide.columns).to_numpy(dtype=np.float64)
    table.index.name = "dataset"
    return table.reset_index()
