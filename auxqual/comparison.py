"""Comparing estimators over datasets and seeds: intervals, degenerate scores, significance.

The benchmark repeats the protocol's random split over seeds, so every Q1 / Q2 number
comes as one value per (dataset, seed). This module turns those long tables into the
statements a paper can make:

- **Intervals over seeds** (``interval_over_seeds``): per group, the mean and a
  Student-t 95 % interval over the seeds (the seeds of one dataset are the repeats).
- **Q2 curves** (``q2_gain``, ``q2_curve_summary``): the test AUROC against q is
  summarised per curve and seed as its normalised area (trapezoid over q / 100, divided by
  the span of q, so a flat curve at 0.8 has area 0.8) and as the gain over the ``random``
  score, i.e. selecting the same share q of the auxiliary set at random.
- **Significance across datasets** (Demšar, JMLR 2006): a Friedman test over datasets
  (blocks) × estimators (``friedman``), the Nemenyi post-hoc test with its critical
  difference (``posthoc_nemenyi``, drawn by ``auxqual.plots.critical_difference``),
  and a Wilcoxon signed-rank test of one reference estimator (EAP) against each other
  one with Holm's step-down correction and win / tie / loss counts
  (``wilcoxon_holm``). Datasets are the independent units: every test first averages
  each (dataset, estimator) over its seeds (``block_means``), because seeds of one
  dataset share its data and are not independent samples.
- **Degenerate scores** (``n_distinct``, ``degenerate``): a score that is
  constant, or takes fewer than 5 % distinct values, ranks by its tie-break, not by its
  values; its Q1 of about 0.5 is no evidence of a chance *ranking*, so tables and figures
  name it instead of reading it as one.

The tests come from SciPy (``friedmanchisquare``, ``wilcoxon``, the studentized range)
and scikit-posthocs (``posthoc_nemenyi_friedman``), imported lazily: scikit-posthocs
imports seaborn and statsmodels (seconds), which a module that only computes intervals
does not need. The t-intervals are SciPy's (``ttest_1samp(...).confidence_interval``) and
Holm's adjustment is statsmodels' (``multipletests(method="holm")``), both imported where used.

Pure library code: DataFrames in, DataFrames or small dataclasses out; no files, no printing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import numpy as np
import pandas as pd
from scipy import stats

ALPHA = 0.05                   # significance level of every test
LEVEL = 0.95                   # confidence level of the intervals over seeds
MIN_DISTINCT_FRACTION = 0.05   # fewer distinct values than this share of the rows: degenerate
REFERENCE = "eap"              # the estimator the Wilcoxon tests compare against the others
RANDOM_SCORE = "random"        # the Q2 reference: selecting auxiliary anomalies at random
INTERVAL_COLUMNS = ("mean", "ci_low", "ci_high", "n")
WILCOXON_COLUMNS = ("reference", "n_blocks", "wins", "ties", "losses", "mean_difference", "statistic", "p_value",
                    "p_holm", "significant")


# --------------------------------------------------------------------------- degenerate scores
def n_distinct(scores: Any) -> int:
    """The number of distinct finite values of ``scores`` (NaN and ±inf are not counted).

    Values closer than ``1e-12 × max(1, max |score|)`` count as one: a score that differs
    from a constant only by floating-point noise is constant.
    """
    values = np.asarray(scores, dtype=np.float64).ravel()
    values = np.sort(values[np.isfinite(values)])
    if values.size == 0:
        return 0
    tolerance = 1e-12 * max(1.0, float(np.abs(values).max()))
    return int(1 + np.count_nonzero(np.diff(values) > tolerance))


def is_degenerate(distinct: Any, n_rows: Any, *, min_fraction: float = MIN_DISTINCT_FRACTION) -> Any:
    """Whether a score with ``distinct`` distinct values over ``n_rows`` rows is degenerate:
    at most one value, or fewer than ``min_fraction`` of the rows. Element-wise on arrays
    (the ``n_distinct`` and row-count columns of a table)."""
    distinct = np.asarray(distinct, dtype=np.float64)
    n_rows = np.asarray(n_rows, dtype=np.float64)
    result = (distinct <= 1) | (distinct < min_fraction * n_rows)
    return bool(result) if result.ndim == 0 else result


def degenerate(scores: Any, *, min_fraction: float = MIN_DISTINCT_FRACTION) -> bool:
    """Whether ``scores`` is degenerate (``is_degenerate`` of its ``n_distinct``
    over its number of rows): constant, or fewer than ``min_fraction`` distinct values."""
    values = np.asarray(scores, dtype=np.float64).ravel()
    return bool(is_degenerate(n_distinct(values), values.size, min_fraction=min_fraction))


# --------------------------------------------------------------------------- intervals over seeds
def t_interval(values: Any, *, level: float = LEVEL) -> tuple[float, float, float, int]:
    """``(mean, low, high, n)``: the mean of the finite ``values`` and its Student-t
    interval at ``level`` (``mean ± t_{(1+level)/2, n-1} · s / √n``). NaN bounds when
    ``n < 2``; a zero-width interval when the values are all equal."""
    values = np.asarray(values, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    n = int(values.size)
    if n == 0:
        return float("nan"), float("nan"), float("nan"), 0
    mean = float(values.mean())
    if n < 2:
        return mean, float("nan"), float("nan"), n
    if np.all(values == values[0]):  # no spread: SciPy's t statistic is undefined, the interval is a point
        return mean, mean, mean, n
    interval = stats.ttest_1samp(values, 0.0).confidence_interval(confidence_level=level)
    return mean, float(interval.low), float(interval.high), n


def interval_over_seeds(table: pd.DataFrame, value: str, by: Sequence[str], *, seed: str = "seed",
                        level: float = LEVEL) -> pd.DataFrame:
    """Per group of ``by``: the mean of ``value`` over seeds and its ``level`` t-interval.

    Rows of one group and seed (e.g. several generators) are averaged first, so ``n`` is
    the number of seeds and the interval says how much the number moves when the
    protocol's random split is drawn again. Columns ``[*by, mean, ci_low, ci_high, n]``,
    groups sorted by ``by``.
    """
    _require(table, [*by, seed, value], "table")
    per_seed = table.groupby([*by, seed], sort=True, dropna=False)[value].mean().reset_index()
    rows = []
    for key, group in per_seed.groupby(list(by), sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        mean, low, high, n = t_interval(group[value].to_numpy(), level=level)
        rows.append({**dict(zip(by, key, strict=True)), "mean": mean, "ci_low": low, "ci_high": high, "n": n})
    return pd.DataFrame(rows, columns=[*by, *INTERVAL_COLUMNS])


# --------------------------------------------------------------------------- Q2 curves
def q2_gain(q2: pd.DataFrame, *, by: Sequence[str] = ("dataset", "generator", "detector"), score: str = "score",
            seed: str = "seed", value: str = "auroc", reference: str = RANDOM_SCORE) -> pd.DataFrame:
    """The Q2 table with a ``gain`` column: each score's ``value`` minus the ``reference``
    score's at the same ``by``, seed and q (``0`` for the reference itself).

    A cell without a reference row raises a ``ValueError`` naming it: the gain over random
    selection needs random selection measured on the same split, detector and budget.
    """
    keys = [*by, seed, "q"]
    _require(q2, [*keys, score, value], "q2 table")
    base = q2[q2[score] == reference]
    if base.empty:
        raise ValueError(f"q2 table: no rows of the reference score {reference!r} (column {score!r}); "
                         f"the gain over random selection needs it in score.scores")
    base = base.groupby(keys, sort=False, dropna=False)[value].mean().rename("_reference").reset_index()
    merged = q2.merge(base, on=keys, how="left", sort=False)
    holes = merged[merged["_reference"].isna()]
    if len(holes):
        first = holes.iloc[0]
        raise ValueError(f"q2 table: {len(holes)} row(s) without a {reference!r} row at the same {keys}, "
                         f"e.g. {({k: _plain(first[k]) for k in keys})}")
    merged["gain"] = merged[value] - merged.pop("_reference")
    return merged


def normalised_area(q: Any, values: Any) -> float:
    """The area under ``values`` against ``q`` (percent), by the trapezoid rule over
    ``q / 100`` and divided by the span of ``q / 100``: the mean height of the curve, so
    a flat curve at ``c`` has area ``c`` whatever budgets were measured. One budget: its
    value; NaN values are an error (a curve with a hole has no area)."""
    q = np.asarray(q, dtype=np.float64) / 100.0
    values = np.asarray(values, dtype=np.float64)
    if q.shape != values.shape or q.ndim != 1 or q.size == 0:
        raise ValueError(f"q and values must be 1-D of equal, non-zero length, got {q.shape} and {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError(f"values: {int((~np.isfinite(values)).sum())} non-finite value(s) on the curve")
    order = np.argsort(q, kind="stable")
    q, values = q[order], values[order]
    span = float(q[-1] - q[0])
    if span == 0.0:
        return float(values.mean())
    return float(np.trapezoid(values, q) / span)


def q2_curve_summary(q2: pd.DataFrame, *, by: Sequence[str] = ("dataset", "generator", "detector"),
                     score: str = "score", seed: str = "seed", value: str = "auroc",
                     reference: str | None = RANDOM_SCORE) -> pd.DataFrame:
    """One row per curve (``by``, score, seed): ``area`` (``normalised_area`` of
    ``value`` against q), ``gain`` (the normalised area of the gain over ``reference`` at
    the same q, = area − the reference's area; NaN when ``reference`` is None) and ``n_q``
    (budgets on the curve).

    Take the interval over seeds with ``interval_over_seeds`` (``value="gain"``).
    """
    if reference is None:
        _require(q2, [*by, score, seed, "q", value], "q2 table")
        gains = q2.assign(gain=np.nan)
    else:
        gains = q2_gain(q2, by=by, score=score, seed=seed, value=value, reference=reference)
    keys = [*by, score, seed]
    rows = []
    for key, curve in gains.groupby(keys, sort=True, dropna=False):
        curve = curve.groupby("q", sort=True)[[value, "gain"]].mean()
        q = curve.index.to_numpy(dtype=np.float64)
        gain = normalised_area(q, curve["gain"].to_numpy()) if reference is not None else float("nan")
        rows.append({**dict(zip(keys, key, strict=True)), "area": normalised_area(q, curve[value].to_numpy()),
                     "gain": gain, "n_q": int(q.size)})
    return pd.DataFrame(rows, columns=[*keys, "area", "gain", "n_q"])


# --------------------------------------------------------------------------- blocks × treatments
def block_means(table: pd.DataFrame, value: str, *, treatment: str = "estimator", block: str = "dataset",
                seed: str = "seed", treatments: Sequence[str] | None = None) -> pd.DataFrame:
    """The blocks × treatments matrix the tests run on: each cell the mean of ``value``
    over the cell's rows (its seeds, and any other rows of it).

    Blocks (datasets) are the independent units; seeds of one dataset are averaged first
    (``seed`` only has to be a column, so that a table without seeds is not taken for one).
    Columns follow ``treatments`` (default: order of first appearance), rows are sorted.
    A missing cell raises a ``ValueError`` naming it: ranks compare only on a complete matrix.
    """
    _require(table, [block, treatment, seed, value], "table")
    names = list(dict.fromkeys(table[treatment])) if treatments is None else [str(t) for t in treatments]
    absent = [t for t in names if t not in set(table[treatment])]
    if absent:
        raise ValueError(f"table: no rows of {treatment} {absent}")
    wide = table[table[treatment].isin(names)].pivot_table(index=block, columns=treatment, values=value,
                                                           aggfunc="mean", sort=True)
    wide = wide.reindex(columns=names).astype(np.float64)
    cells = wide.to_numpy()   # columns in the order of names
    holes = [(b, t) for i, b in enumerate(wide.index) for j, t in enumerate(names) if not np.isfinite(cells[i, j])]
    if holes:
        raise ValueError(f"table: {len(holes)} ({block}, {treatment}) cell(s) without a finite {value!r}, "
                         f"e.g. {holes[:3]}; the tests need every {treatment} on every {block}")
    wide.columns.name = None
    return wide


def mean_ranks(matrix: pd.DataFrame, *, higher_is_better: bool = True) -> pd.Series:
    """Each treatment's rank on each block (1 = best; ties share the mean of the ranks
    they span), averaged over blocks; sorted best first, ties by name."""
    ranks = matrix.rank(axis=1, ascending=not higher_is_better, method="average").mean(axis=0)
    return ranks.sort_index(kind="mergesort").sort_values(kind="mergesort")


@dataclass(frozen=True)
class FriedmanResult:
    """A Friedman test over ``n_blocks`` blocks × ``n_treatments`` treatments.

    ``p_value`` is 1.0 (and ``statistic`` 0.0) when every block ties all treatments:
    there is no difference to test. ``mean_ranks``: 1 = best, best first.
    """

    statistic: float
    p_value: float
    n_blocks: int
    n_treatments: int
    mean_ranks: pd.Series
    alpha: float = ALPHA

    @property
    def significant(self) -> bool:
        """Whether the treatments differ at ``alpha`` (never with a NaN p-value)."""
        return bool(np.isfinite(self.p_value) and self.p_value < self.alpha)


def friedman(table: pd.DataFrame, value: str, *, treatment: str = "estimator", block: str = "dataset",
             seed: str = "seed", higher_is_better: bool = True, alpha: float = ALPHA) -> FriedmanResult:
    """Friedman's test that all treatments rank alike over the blocks
    (``scipy.stats.friedmanchisquare`` on ``block_means``: means over seeds first).

    Needs at least 3 treatments and 2 blocks (``ValueError`` otherwise, naming the counts).
    """
    matrix = block_means(table, value, treatment=treatment, block=block, seed=seed)
    n_blocks, k = matrix.shape
    if k < 3 or n_blocks < 2:
        raise ValueError(f"friedman: needs at least 3 {treatment}s and 2 {block}s, got {k} and {n_blocks}")
    ranks = mean_ranks(matrix, higher_is_better=higher_is_better)
    if _all_tied(matrix):
        return FriedmanResult(0.0, 1.0, n_blocks, k, ranks, alpha)
    result = stats.friedmanchisquare(*(matrix[c].to_numpy() for c in matrix.columns))
    return FriedmanResult(float(result.statistic), float(result.pvalue), n_blocks, k, ranks, alpha)


def _all_tied(matrix: pd.DataFrame) -> bool:
    values = matrix.to_numpy(dtype=np.float64)
    return bool((values == values[:, :1]).all())


# --------------------------------------------------------------------------- Nemenyi post-hoc
def critical_difference(n_treatments: int, n_blocks: int, *, alpha: float = ALPHA) -> float:
    """The Nemenyi critical difference of mean ranks: ``q_α √(k (k + 1) / (6 N))`` with
    ``q_α`` the studentized range quantile over √2 (Demšar 2006, table 5: 2.343 for k = 3)."""
    k, n = int(n_treatments), int(n_blocks)
    if k < 2 or n < 1:
        raise ValueError(f"critical difference: needs at least 2 treatments and 1 block, got {k} and {n}")
    q_alpha = float(stats.studentized_range.ppf(1.0 - alpha, k, np.inf)) / np.sqrt(2.0)
    return float(q_alpha * np.sqrt(k * (k + 1) / (6.0 * n)))


@dataclass(frozen=True)
class NemenyiResult:
    """The Nemenyi post-hoc test: ``mean_ranks`` (1 = best, best first), the pairwise
    ``p_values`` (treatments × treatments, 1 on the diagonal) and the critical difference
    ``cd`` of mean ranks at ``alpha``."""

    mean_ranks: pd.Series
    p_values: pd.DataFrame
    cd: float
    n_blocks: int
    alpha: float = ALPHA


def posthoc_nemenyi(table: pd.DataFrame, value: str, *, treatment: str = "estimator", block: str = "dataset",
                    seed: str = "seed", higher_is_better: bool = True, alpha: float = ALPHA) -> NemenyiResult:
    """Nemenyi's all-pairs test after Friedman (``scikit_posthocs.posthoc_nemenyi_friedman``
    on ``block_means``), with the mean ranks and the critical difference the CD
    diagram draws. Two treatments differ when their p-value is below ``alpha``,
    equivalently when their mean ranks are more than ``cd`` apart."""
    import scikit_posthocs

    matrix = block_means(table, value, treatment=treatment, block=block, seed=seed)
    n_blocks, k = matrix.shape
    if k < 2 or n_blocks < 2:
        raise ValueError(f"nemenyi: needs at least 2 {treatment}s and 2 {block}s, got {k} and {n_blocks}")
    oriented = matrix if higher_is_better else -matrix
    p_values = scikit_posthocs.posthoc_nemenyi_friedman(oriented.to_numpy())
    p_values.index = p_values.columns = list(matrix.columns)
    return NemenyiResult(mean_ranks(matrix, higher_is_better=higher_is_better), p_values.astype(np.float64),
                         critical_difference(k, n_blocks, alpha=alpha), n_blocks, alpha)


# --------------------------------------------------------------------------- Wilcoxon + Holm
def holm(p_values: Any) -> np.ndarray:
    """Holm's step-down adjustment (statsmodels' ``multipletests(method="holm")``): the i-th
    smallest of m p-values times ``m - i + 1``, made non-decreasing along that order and capped
    at 1. NaN p-values (no test) stay NaN and do not count in m."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p_values, dtype=np.float64).ravel()
    adjusted = np.full_like(p, np.nan)
    finite = np.isfinite(p)
    if finite.any():
        adjusted[finite] = multipletests(p[finite], method="holm")[1]
    return adjusted


def wilcoxon_holm(table: pd.DataFrame, value: str, *, reference: str = REFERENCE, treatment: str = "estimator",
                  block: str = "dataset", seed: str = "seed", higher_is_better: bool = True,
                  alpha: float = ALPHA, tie_tolerance: float = 1e-9) -> pd.DataFrame:
    """The reference against every other treatment over the blocks: a two-sided Wilcoxon
    signed-rank test (``scipy.stats.wilcoxon``, zero differences dropped) per pair on the
    per-block means over seeds (``block_means``), p-values Holm-adjusted over the
    family of pairs (``holm``), and the reference's win / tie / loss count over the
    blocks (a tie: means within ``tie_tolerance``).

    A pair without any non-zero difference is not tested: ``statistic`` NaN, ``p_value``
    1.0 (nothing to reject), not significant. One row per other treatment, in table order:
    ``[treatment, reference, n_blocks, wins, ties, losses, mean_difference (reference −
    other, in the "better" direction), statistic, p_value, p_holm, significant]``.
    """
    matrix = block_means(table, value, treatment=treatment, block=block, seed=seed)
    if reference not in matrix.columns:
        raise ValueError(f"table: the reference {treatment} {reference!r} has no rows "
                         f"(found {list(matrix.columns)})")
    others = [c for c in matrix.columns if c != reference]
    if not others:
        raise ValueError(f"table: no {treatment} besides the reference {reference!r} to compare with")
    sign = 1.0 if higher_is_better else -1.0
    rows = []
    for other in others:
        difference = sign * (matrix[reference] - matrix[other]).to_numpy()
        wins, ties = int((difference > tie_tolerance).sum()), int((np.abs(difference) <= tie_tolerance).sum())
        statistic, p_value = _wilcoxon(difference, tie_tolerance)
        rows.append({treatment: other, "reference": reference, "n_blocks": int(difference.size), "wins": wins,
                     "ties": ties, "losses": int(difference.size - wins - ties),
                     "mean_difference": float(difference.mean()), "statistic": statistic, "p_value": p_value})
    frame = pd.DataFrame(rows, columns=[treatment, *WILCOXON_COLUMNS[:-2]])
    frame["p_holm"] = holm(frame["p_value"].to_numpy())
    frame["significant"] = frame["p_holm"] < alpha
    return frame


def _wilcoxon(difference: np.ndarray, tie_tolerance: float) -> tuple[float, float]:
    """``(statistic, p)`` of the two-sided signed-rank test of ``difference``; ``(nan,
    1.0)`` when no difference exceeds ``tie_tolerance`` (SciPy would divide by zero)."""
    if not (np.abs(difference) > tie_tolerance).any():
        return float("nan"), 1.0
    result = stats.wilcoxon(np.where(np.abs(difference) > tie_tolerance, difference, 0.0))
    return float(result.statistic), float(result.pvalue)


# --------------------------------------------------------------------------- degenerate per treatment
def degenerate_blocks(table: pd.DataFrame, *, flag: str = "degenerate", treatment: str = "estimator",
                      block: str = "dataset") -> pd.Series:
    """Per treatment, the number of blocks (datasets) on which it is degenerate on at
    least one seed (``flag`` true), in table order: what a table or figure names next to
    the treatment."""
    _require(table, [block, treatment, flag], "table")
    names = list(dict.fromkeys(table[treatment]))
    flagged = table[table[flag].astype(bool)].groupby(treatment, sort=False)[block].nunique()
    return flagged.reindex(names, fill_value=0).astype(np.int64).rename("degenerate_blocks")


# --------------------------------------------------------------------------- whole comparisons
def distinct_counts(scores: pd.DataFrame, score_names: Sequence[str], *, by: Sequence[str] = ("dataset",),
                    min_fraction: float = MIN_DISTINCT_FRACTION) -> pd.DataFrame:
    """Per group of ``by`` and score: ``n_distinct`` (``n_distinct``), ``n_rows`` and
    ``degenerate`` (``is_degenerate``) of the score's values on the group's rows
    (one auxiliary set). Columns ``[*by, score, n_distinct, n_rows, degenerate]``."""
    _require(scores, [*by, *score_names], "scores table")
    rows = []
    for key, group in scores.groupby(list(by), sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        for name in score_names:
            distinct = n_distinct(group[name].to_numpy())
            rows.append({**dict(zip(by, key, strict=True)), "score": str(name), "n_distinct": distinct,
                         "n_rows": len(group),
                         "degenerate": bool(is_degenerate(distinct, len(group), min_fraction=min_fraction))})
    return pd.DataFrame(rows, columns=[*by, "score", "n_distinct", "n_rows", "degenerate"])


class _TestOptions(TypedDict):
    """The keyword arguments that ``significance`` passes to each of its tests alike."""

    treatment: str
    block: str
    seed: str
    higher_is_better: bool


def significance(table: pd.DataFrame, value: str, *, treatment: str, block: str = "dataset", seed: str = "seed",
                 reference: str = REFERENCE, flag: str = "degenerate", alpha: float = ALPHA,
                 higher_is_better: bool = True) -> dict[str, pd.DataFrame]:
    """Every cross-dataset statement about ``value`` in one call, as tables:

    - ``stats``: per treatment, best mean rank first: ``value`` (the column compared),
      ``mean_rank``, ``mean`` (over blocks of the per-block means over seeds), ``n_blocks``,
      ``n_seeds``, ``degenerate_blocks`` (``degenerate_blocks``), the Nemenyi p-value against
      ``reference``, and the run's ``friedman_statistic``, ``friedman_p``, ``cd``, ``alpha``,
      ``note`` (why no test ran: fewer than 2 blocks or 3 treatments; its numbers are then NaN);
    - ``nemenyi``: the pairwise p-values, long (``treatment``, ``other``, ``p_value``);
    - ``wilcoxon``: ``wilcoxon_holm`` of ``reference`` against every other treatment,
      with the other's ``degenerate_blocks``.

    The block and treatment columns keep their names, so a table says what it holds.
    """
    options: _TestOptions = {"treatment": treatment, "block": block, "seed": seed,
                             "higher_is_better": higher_is_better}
    matrix = block_means(table, value, treatment=treatment, block=block, seed=seed)
    n_blocks, k = matrix.shape
    flagged = (degenerate_blocks(table, flag=flag, treatment=treatment, block=block) if flag in table.columns
               else pd.Series(0, index=matrix.columns)).reindex(matrix.columns, fill_value=0)
    note = "" if n_blocks >= 2 and k >= 3 else (f"tests need at least 2 {block}s and 3 {treatment}s, "
                                                f"got {n_blocks} and {k}")
    omnibus = None if note else friedman(table, value, alpha=alpha, **options)
    nemenyi = None if note else posthoc_nemenyi(table, value, alpha=alpha, **options)
    ranks = mean_ranks(matrix, higher_is_better=higher_is_better)
    nan = float("nan")
    versus = (nemenyi.p_values[reference].reindex(ranks.index).to_numpy()
              if nemenyi is not None and reference in matrix.columns else nan)
    stats_table = pd.DataFrame({
        treatment: list(ranks.index), "value": value, "mean_rank": ranks.to_numpy(),
        "mean": matrix.mean(axis=0).reindex(ranks.index).to_numpy(), "n_blocks": n_blocks,
        "n_seeds": int(table[seed].nunique()), "degenerate_blocks": flagged.reindex(ranks.index).to_numpy(np.int64),
        "p_nemenyi_vs_reference": versus, "reference": reference,
        "friedman_statistic": omnibus.statistic if omnibus else nan, "friedman_p": omnibus.p_value if omnibus else nan,
        "cd": nemenyi.cd if nemenyi else nan, "alpha": alpha, "note": note})
    pairs = nemenyi.p_values.stack() if nemenyi is not None else pd.Series(dtype=np.float64)
    pairs = pd.DataFrame({treatment: [a for a, _ in pairs.index], "other": [b for _, b in pairs.index],
                          "p_value": pairs.to_numpy(dtype=np.float64)})
    if reference in matrix.columns and k >= 2:
        tests = wilcoxon_holm(table, value, reference=reference, alpha=alpha, **options)
        tests["degenerate_blocks"] = flagged.reindex(tests[treatment]).to_numpy(np.int64)
    else:
        tests = pd.DataFrame(columns=[treatment, *WILCOXON_COLUMNS, "degenerate_blocks"])
    return {"stats": stats_table, "nemenyi": pairs, "wilcoxon": tests}


def compare_seeds(q1_seeds: pd.DataFrame, q2_seeds: pd.DataFrame, *, reference: str = REFERENCE,
                   alpha: float = ALPHA) -> dict[str, pd.DataFrame]:
    """Every table derived from the two per-seed tables, by name.

    ``q1_seeds``: ``dataset, seed, estimator, q1, degenerate``; ``q2_seeds``: ``dataset, seed,
    generator, detector, score, q, auroc, degenerate`` (stage ``compare`` writes both; the
    benchmark flow pools them over datasets and seeds). Returns ``q1_intervals`` (per dataset
    and estimator, over seeds), ``q2_curves`` (area and gain of each curve, over seeds),
    ``q2_gain`` (gain at each q, over seeds) and, from ``significance``, ``q1_stats``,
    ``q1_nemenyi``, ``q1_wilcoxon`` on Q1 and ``q2_stats``, ``q2_nemenyi``, ``q2_wilcoxon`` on
    the Q2 gain (per dataset: the mean over generators, detectors and seeds). Without a
    ``random`` score there is no gain: the Q2 tests compare the normalised area instead (their
    ``value`` column says which), and ``q2_gain`` has no rows.
    """
    q1_flags = q1_seeds.groupby(["dataset", "estimator"], sort=True)["degenerate"].any().reset_index()
    out = {"q1_intervals": interval_over_seeds(q1_seeds, "q1", ["dataset", "estimator"]).merge(
        q1_flags, on=["dataset", "estimator"], how="left")}
    q1_stats = significance(q1_seeds, "q1", treatment="estimator", reference=reference, alpha=alpha)
    out.update({f"q1_{name}": table for name, table in q1_stats.items()})
    has_random = RANDOM_SCORE in set(q2_seeds["score"])
    curves, out["q2_curves"], out["q2_gain"] = _q2_curves(q2_seeds, has_random)
    q2_stats = significance(curves, "gain" if has_random else "area", treatment="score", reference=reference,
                            alpha=alpha)
    out.update({f"q2_{name}": table for name, table in q2_stats.items()})
    return out


def _q2_curves(q2_seeds: pd.DataFrame, has_random: bool) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(curves per seed, their intervals over seeds, the gain at each q with its interval)``
    of ``compare_seeds``, each with the score's ``degenerate`` flag (on any seed)."""
    by = ["dataset", "generator", "detector"]
    keys = [*by, "score"]
    curves = q2_curve_summary(q2_seeds, by=by, reference=RANDOM_SCORE if has_random else None)
    flags = q2_seeds.groupby([*keys, "seed"], sort=False)["degenerate"].any().reset_index()
    curves = curves.merge(flags, on=[*keys, "seed"], how="left")
    area = interval_over_seeds(curves, "area", keys)
    gain = interval_over_seeds(curves, "gain", keys).drop(columns="n")
    summary = area.merge(gain, on=keys, suffixes=("_area", "_gain")).merge(
        curves.groupby(keys, sort=True)["degenerate"].any().reset_index(), on=keys, how="left")
    if not has_random:
        return curves, summary, pd.DataFrame(columns=[*keys, "q", *INTERVAL_COLUMNS, "degenerate"])
    gains = q2_gain(q2_seeds, by=by)
    per_q = interval_over_seeds(gains, "gain", [*keys, "q"]).merge(
        gains.groupby([*keys, "q"], sort=True)["degenerate"].any().reset_index(), on=[*keys, "q"], how="left")
    return curves, summary, per_q


# --------------------------------------------------------------------------- checks
def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (for readable error messages)."""
    return value.item() if isinstance(value, np.generic) else value


def _require(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in dict.fromkeys(columns) if c not in frame.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {missing}")
    if frame.empty:
        raise ValueError(f"{name}: no rows")
