"""Q3: choosing a detector and an auxiliary anomaly set without test labels.

**Model selection.** Candidate detectors are fitted on the training data; each is
scored on a *validation set* of held-out normals plus anomalies, and the candidate
with the best *weighted* validation AUROC is chosen. The anomalies of the validation
set are auxiliary anomalies weighted by a quality score (EAP, an ablation, a
baseline), all weighted 1 ("uniform": no quality score), or held-out labelled
anomalies only (the no-synthetic baseline). With test labels, the choice is compared
with the *oracle* (the candidate with the best test AUROC): ``regret = oracle test
AUROC − chosen test AUROC`` (0 = the choice was as good as it gets), and the
Spearman correlation between validation and test AUROC over the candidates says
whether the validation set ranks them the way the test set does.

**Weighted AUROC.** ``roc_auc_score(y, s, sample_weight=w)`` is the probability that
an anomaly drawn with probability ∝ its weight scores above a normal drawn with
probability ∝ its weight (ties count half). It is invariant to scaling the weights
of one class, so normalising both classes to equal total mass changes nothing:
normals simply weigh 1 each (``validation_weights``), and only the *relative*
weights of the anomalies matter.

**From a score to weights** (``score_weights``): ``minmax`` scales the score to
[0, 1] (the worst auxiliary anomaly gets weight 0, the best 1), ``rank`` uses the
rank divided by the number of rows (robust to outlying score values), ``top_q`` puts
weight 1 on the top ``q`` % (``auxqual.metrics.top_q_indices``, the Q2
selection) and 0 elsewhere. A NaN score weighs 0; a constant score gives every row
weight 1 (it carries no information, so it is the uniform weighting).

**Generator selection** (``select_generator``): auxiliary sets ranked by the
mean quality score of their rows, compared with their ranking by the test AUROC of
a detector trained with each: Kendall's tau, and the regret of taking the set whose
mean quality is highest.

Pure library code: arrays and mappings in, a result out; no files, no printing, and no
detector import (fitting a grid of candidates is ``auxqual.candidates.fit_candidates``),
so code that only summarises Q3 results does not depend on the detectors.
Ties (in validation AUROC, or in mean quality) are broken by a key computed from each
candidate's name and ``random_state``, never by the order of the candidates.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import roc_auc_score

from auxqual.comparison import t_interval
from auxqual.metrics import top_q_indices

WEIGHTINGS = ("minmax", "rank", "top_q")
UNIFORM = "uniform"          # the task row of "no quality score": every auxiliary anomaly weighs 1
LABELLED = "labelled"        # the task row of the no-synthetic baseline: held-out labelled anomalies only
TABLE_COLUMNS = ("candidate", "val_auroc", "test_auroc", "chosen", "oracle")
GENERATOR_COLUMNS = ("set", "mean_quality", "test_auroc", "chosen", "oracle")
_SAFE = re.compile(r"[^A-Za-z0-9.+_-]+")


# --------------------------------------------------------------------------- candidates
@dataclass(frozen=True)
class CandidateSpec:
    """One candidate detector: a name, a registry detector name and its parameters."""

    name: str
    detector: str
    params: dict[str, Any] = field(default_factory=dict)


def candidate_name(detector: str, params: Mapping[str, Any]) -> str:
    """A file-name-safe name of a detector with its parameters (sorted by name), e.g.
    ``ssdo-alpha2.3-k5``; characters other than letters, digits and ``.+_-`` become ``_``."""
    parts = [detector] + [f"{key}{value}" for key, value in sorted(params.items())]
    return "-".join(_SAFE.sub("_", str(part)).strip("_") for part in parts)


def candidate_grid(grid: Mapping[str, Mapping[str, Sequence[Any]]]) -> list[CandidateSpec]:
    """Every combination of a grid ``{detector: {param: [values, ...]}}`` as a candidate.

    A detector with an empty mapping gives one candidate with its defaults. Names come
    from ``candidate_name``; the list follows the grid's order (detectors, then the
    cartesian product of the values in the order given). ``ValueError`` names the entry
    at fault (not a mapping, a value list that is empty or not a list).
    """
    if not isinstance(grid, Mapping) or not grid:
        raise ValueError(f"candidates: expected a non-empty mapping detector -> {{param: [values]}}, got {grid!r}")
    specs = []
    for detector, axes in grid.items():
        axes = axes or {}
        if not isinstance(axes, Mapping):
            raise ValueError(f"candidates.{detector}: expected a mapping param -> [values], got {axes!r}")
        for key, values in axes.items():
            if not isinstance(values, (list, tuple)) or not values:
                raise ValueError(f"candidates.{detector}.{key}: expected a non-empty list of values, got {values!r}")
        keys = list(axes)
        for combo in itertools.product(*(axes[k] for k in keys)):
            params = dict(zip(keys, combo, strict=True))
            specs.append(CandidateSpec(candidate_name(str(detector), params), str(detector), params))
    return _unique(specs, "candidates")


def parse_candidates(mapping: Mapping[str, Any]) -> list[CandidateSpec]:
    """Candidates from ``{name: {detector: ..., params: {...}}}`` (the ``--candidates``
    file of ``auxqual select``); ``ValueError`` names the entry at fault."""
    if not isinstance(mapping, Mapping) or not mapping:
        raise ValueError(f"candidates: expected a non-empty mapping name -> {{detector, params}}, got {mapping!r}")
    specs = []
    for name, entry in mapping.items():
        if not isinstance(entry, Mapping) or not isinstance(entry.get("detector"), str):
            raise ValueError(f"candidates.{name}: expected a mapping with a 'detector' name, got {entry!r}")
        unknown = sorted(set(entry) - {"detector", "params"})
        if unknown:
            raise ValueError(f"candidates.{name}: unknown key(s) {unknown}; expected 'detector' and 'params'")
        params = entry.get("params") or {}
        if not isinstance(params, Mapping):
            raise ValueError(f"candidates.{name}.params: expected a mapping, got {params!r}")
        specs.append(CandidateSpec(str(name), entry["detector"], dict(params)))
    return _unique(specs, "candidates")


def _unique(specs: list[CandidateSpec], where: str) -> list[CandidateSpec]:
    names = [s.name for s in specs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"{where}: candidate name(s) {repeated} appear twice")
    return specs


def decisions(candidates: Mapping[str, Any], X: Any) -> dict[str, np.ndarray]:
    """Each fitted candidate's ``decision_function(X)`` (higher = more anomalous)."""
    return {name: np.asarray(model.decision_function(X), dtype=np.float64) for name, model in candidates.items()}


# --------------------------------------------------------------------------- the validation set
def holdout_split(y: Any, fraction: float, *, random_state: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(fit_rows, validation_rows)``: a seeded split holding out ``fraction`` of the
    normals and of the labelled anomalies of ``y`` (rounded half up; at least one row of
    a class with two or more rows, and never all of them), both index arrays ascending.

    Stratified, so the candidates still see labelled anomalies, and the no-synthetic
    baseline has held-out labelled anomalies to validate on.
    """
    y = _labels(y, "y")
    fraction = float(fraction)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction: must be in (0, 1), got {fraction}")
    rng = np.random.default_rng(random_state)
    held = []
    for label in (0, 1):
        rows = np.flatnonzero(y == label)
        n = rows.size
        k = int(np.floor(fraction * n + 0.5))
        k = min(max(k, 1 if n >= 2 else 0), n - 1) if n else 0
        held.append(rng.permutation(rows)[:k])
    if held[0].size == 0:
        raise ValueError(f"y: {int((y == 0).sum())} normal row(s); a validation split needs at least 2")
    validation = np.sort(np.concatenate(held)).astype(np.int64)
    fit = np.setdiff1d(np.arange(y.size), validation).astype(np.int64)
    return fit, validation


def score_weights(scores: Any, method: str = "minmax", *, q: float | None = None,
                  random_state: int = 0) -> np.ndarray:
    """Weights in [0, 1] for auxiliary anomalies from their quality ``scores`` (higher =
    better); see the module docstring for ``minmax``, ``rank`` and ``top_q`` (needs
    ``q``, a percentage; ties at the cut broken by ``random_state``)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1 or scores.size == 0:
        raise ValueError(f"scores: expected a non-empty 1-D array, got shape {scores.shape}")
    if method not in WEIGHTINGS:
        raise ValueError(f"weighting: unknown method {method!r}; expected one of {list(WEIGHTINGS)}")
    if np.isinf(scores).any():
        raise ValueError(f"scores: {int(np.isinf(scores).sum())} infinite value(s)")
    valid = ~np.isnan(scores)
    weights = np.zeros(scores.size)
    if method == "top_q":
        if q is None:
            raise ValueError("q: the top_q weighting needs a percentage q")
        weights[top_q_indices(scores, q, random_state=random_state)] = 1.0
        return weights
    values = scores[valid]
    if values.size == 0:
        return weights
    if method == "minmax":
        span = values.max() - values.min()
        weights[valid] = (values - values.min()) / span if span > 0 else 1.0
    else:
        weights[valid] = stats.rankdata(values, method="average") / values.size
    return weights


def validation_weights(y: Any, anomaly_weights: Any | None = None) -> np.ndarray:
    """Per-row weights of a validation set: 1 for every normal, ``anomaly_weights`` (in
    the order the anomalies appear in ``y``) for the anomalies; ``None`` = all 1."""
    y = _labels(y, "y_val")
    weights = np.ones(y.size)
    n_anomalies = int(y.sum())
    if anomaly_weights is not None:
        anomaly_weights = np.asarray(anomaly_weights, dtype=np.float64)
        if anomaly_weights.shape != (n_anomalies,):
            raise ValueError(f"anomaly_weights: {anomaly_weights.size} weight(s) for {n_anomalies} anomalies")
        weights[y == 1] = anomaly_weights
    return weights


def weighted_auroc(y: Any, decision: Any, weights: Any | None = None, *, name: str = "decision") -> float:
    """AUROC of ``decision`` at ranking ``y == 1`` above ``y == 0``, each row counting
    with its weight (ties count half). ``ValueError`` when a class has no weight (AUROC is
    undefined), or for non-finite decisions or weights, naming ``name`` and the counts."""
    y = _labels(y, "y")
    decision = np.asarray(decision, dtype=np.float64)
    if decision.shape != y.shape:
        raise ValueError(f"{name}: {decision.size} decision score(s) for {y.size} labels")
    if not np.isfinite(decision).all():
        raise ValueError(f"{name}: {int((~np.isfinite(decision)).sum())} non-finite decision score(s)")
    weights = np.ones(y.size) if weights is None else _weights(weights, y.size)
    mass = [float(weights[y == label].sum()) for label in (0, 1)]
    if min(mass) <= 0.0:
        raise ValueError(f"weights: AUROC is undefined with total weight {mass[0]:g} on {int((y == 0).sum())} "
                         f"normal(s) and {mass[1]:g} on {int((y == 1).sum())} anomaly(ies)")
    return float(roc_auc_score(y, decision, sample_weight=weights))


# --------------------------------------------------------------------------- model selection
@dataclass(frozen=True)
class SelectionResult:
    """The outcome of ``select_model``.

    ``table``: one row per candidate (``candidate, val_auroc, test_auroc, chosen,
    oracle``; ``test_auroc`` NaN without test labels), in the candidates' order.
    ``oracle``, ``oracle_test_auroc``, ``chosen_test_auroc``, ``regret`` and
    ``spearman`` (between validation and test AUROC over the candidates; NaN when
    either is constant or there is a single candidate) are ``None`` / NaN without
    test labels.
    """

    chosen: str
    chosen_val_auroc: float
    table: pd.DataFrame
    chosen_test_auroc: float = float("nan")
    oracle: str | None = None
    oracle_test_auroc: float = float("nan")
    regret: float = float("nan")
    spearman: float = float("nan")


def select_model(val_decisions: Mapping[str, Any], y_val: Any, weights: Any | None = None, *,
                 test_decisions: Mapping[str, Any] | None = None, y_test: Any | None = None,
                 random_state: int = 0) -> SelectionResult:
    """Choose the candidate with the best weighted validation AUROC.

    ``val_decisions``: ``{candidate: decision scores on the validation set}``;
    ``y_val``: its labels (1 = anomaly); ``weights``: one per validation row (see
    ``validation_weights``; ``None`` = all 1). With ``test_decisions`` and
    ``y_test`` (both or neither), also the test AUROC of every candidate, the oracle,
    the regret and the rank correlation. Ties in validation AUROC are broken by a key of
    each candidate's name and ``random_state`` (not by the candidates' order).
    """
    names = _candidate_names(val_decisions, "val_decisions")
    y_val = _labels(y_val, "y_val")
    weights = None if weights is None else _weights(weights, y_val.size)
    val = np.array([weighted_auroc(y_val, val_decisions[n], weights, name=f"val_decisions[{n!r}]") for n in names])
    chosen = _best(val, names, random_state)
    if (test_decisions is None) != (y_test is None):
        raise ValueError("test_decisions and y_test: give both or neither")
    test = np.full(len(names), np.nan)
    if test_decisions is not None:
        missing = [n for n in names if n not in test_decisions]
        if missing:
            raise ValueError(f"test_decisions: no decision scores for candidate(s) {missing}")
        test = np.array([weighted_auroc(y_test, test_decisions[n], name=f"test_decisions[{n!r}]") for n in names])
    table = pd.DataFrame({"candidate": [str(n) for n in names], "val_auroc": val, "test_auroc": test,
                          "chosen": np.arange(len(names)) == chosen})
    if test_decisions is None:
        table["oracle"] = False
        return SelectionResult(chosen=str(names[chosen]), chosen_val_auroc=float(val[chosen]),
                               table=table[list(TABLE_COLUMNS)])
    oracle = _best(test, names, random_state)
    table["oracle"] = np.arange(len(names)) == oracle
    table = table[list(TABLE_COLUMNS)]
    return SelectionResult(chosen=str(names[chosen]), chosen_val_auroc=float(val[chosen]), table=table,
                           chosen_test_auroc=float(test[chosen]), oracle=str(names[oracle]),
                           oracle_test_auroc=float(test[oracle]), regret=float(test[oracle] - test[chosen]),
                           spearman=rank_correlation(val, test, "spearman"))


def select_fitted(candidates: Mapping[str, Any], X_val: Any, y_val: Any, weights: Any | None = None, *,
                  X_test: Any | None = None, y_test: Any | None = None, random_state: int = 0) -> SelectionResult:
    """``select_model`` on fitted candidates: their decision scores on ``X_val`` (and
    ``X_test`` when given) are computed first."""
    test = None if X_test is None else decisions(candidates, X_test)
    return select_model(decisions(candidates, X_val), y_val, weights, test_decisions=test, y_test=y_test,
                        random_state=random_state)


# --------------------------------------------------------------------------- generator selection
@dataclass(frozen=True)
class GeneratorSelection:
    """The outcome of ``select_generator``: the set with the highest mean quality
    (``chosen``), the set with the best test AUROC (``oracle``), ``regret`` (oracle −
    chosen test AUROC), Kendall's ``tau`` between the two rankings (NaN when either is
    constant), and ``table`` (``set, mean_quality, test_auroc, chosen, oracle``)."""

    chosen: str
    oracle: str
    chosen_test_auroc: float
    oracle_test_auroc: float
    regret: float
    tau: float
    table: pd.DataFrame


def select_generator(mean_quality: Mapping[str, float], test_auroc: Mapping[str, float], *,
                     random_state: int = 0) -> GeneratorSelection:
    """Rank auxiliary sets by ``mean_quality`` (``{set: mean quality score of its rows}``)
    and compare with ``test_auroc`` (``{set: test AUROC of a detector trained with
    it}``); both must name the same two or more sets, with finite values."""
    names = _candidate_names(mean_quality, "mean_quality")
    if len(names) < 2:
        raise ValueError(f"mean_quality: generator selection needs at least 2 sets, got {names}")
    if set(test_auroc) != set(names):
        raise ValueError(f"test_auroc: sets {sorted(map(str, test_auroc))} differ from mean_quality's {sorted(names)}")
    quality = _finite([mean_quality[n] for n in names], "mean_quality", names)
    test = _finite([test_auroc[n] for n in names], "test_auroc", names)
    chosen, oracle = _best(quality, names, random_state), _best(test, names, random_state)
    table = pd.DataFrame({"set": [str(n) for n in names], "mean_quality": quality, "test_auroc": test,
                          "chosen": np.arange(len(names)) == chosen,
                          "oracle": np.arange(len(names)) == oracle})[list(GENERATOR_COLUMNS)]
    return GeneratorSelection(chosen=str(names[chosen]), oracle=str(names[oracle]),
                              chosen_test_auroc=float(test[chosen]), oracle_test_auroc=float(test[oracle]),
                              regret=float(test[oracle] - test[chosen]),
                              tau=rank_correlation(quality, test, "kendall"), table=table)


# --------------------------------------------------------------------------- summaries
def rank_correlation(a: Any, b: Any, method: str = "spearman") -> float:
    """Spearman's rho or Kendall's tau-b of two equal-length vectors; NaN when either is
    constant or shorter than 2 (the correlation is undefined), never a warning."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"rank_correlation: expected two 1-D arrays of equal length, got {a.shape} and {b.shape}")
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    if method not in ("spearman", "kendall"):
        raise ValueError(f"method: expected 'spearman' or 'kendall', got {method!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = stats.spearmanr(a, b) if method == "spearman" else stats.kendalltau(a, b)
        return float(result[0])


def regret_summary(q3: pd.DataFrame, *, by: Sequence[str] = ("task", "score"), level: float = 0.95) -> pd.DataFrame:
    """Mean regret per group of ``by`` with a Student-t confidence interval.

    ``q3``: one row per (dataset, seed, task, score) with ``regret`` and ``rank_corr``.
    Seeds of one dataset are not independent, so each dataset's regret is first
    averaged over its seeds and the interval is taken over datasets (``unit =
    "datasets"``); with a single dataset, over its seeds (``unit = "seeds"``). Columns
    ``[*by, mean_regret, ci_low, ci_high, n, unit, mean_rank_corr, oracle_rate]``
    (``oracle_rate``: share of rows whose regret is 0); the interval is NaN when n < 2.
    """
    needed = [*by, "dataset", "seed", "regret", "rank_corr"]
    missing = [c for c in needed if c not in q3.columns]
    if missing:
        raise ValueError(f"q3 table: missing column(s) {missing}")
    rows = []
    for key, group in q3.groupby(list(by), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        per_dataset = group.groupby("dataset", sort=True)["regret"].mean()
        values, unit = (per_dataset.to_numpy(), "datasets") if len(per_dataset) > 1 else \
            (group["regret"].to_numpy(dtype=np.float64), "seeds")
        low, high = _t_interval(values, level)
        rows.append({**dict(zip(by, key, strict=True)), "mean_regret": float(np.mean(values)), "ci_low": low,
                     "ci_high": high,
                     "n": int(values.size), "unit": unit,
                     "mean_rank_corr": float(np.nanmean(group["rank_corr"])) if group["rank_corr"].notna().any()
                     else float("nan"),
                     "oracle_rate": float((group["regret"] <= 0).mean())})
    return pd.DataFrame(rows, columns=[*by, "mean_regret", "ci_low", "ci_high", "n", "unit", "mean_rank_corr",
                                       "oracle_rate"])


def _t_interval(values: np.ndarray, level: float) -> tuple[float, float]:
    """The Student-t interval of the mean (``auxqual.comparison.t_interval``: SciPy's)."""
    _, low, high, _ = t_interval(values, level=level)
    return low, high


# --------------------------------------------------------------------------- checks
def _labels(y: Any, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"{name}: expected non-empty 1-D labels, got shape {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"{name}: labels must be 0 (normal) or 1 (anomaly); found {np.unique(y).tolist()[:5]}")
    return y.astype(np.int8)


def _weights(weights: Any, n: int) -> np.ndarray:
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (n,):
        raise ValueError(f"weights: {weights.size} weight(s) for {n} validation rows")
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError(f"weights: must be finite and non-negative; {int((~np.isfinite(weights)).sum())} "
                         f"non-finite, {int((weights < 0).sum())} negative")
    return weights


def _candidate_names(mapping: Mapping[str, Any], name: str) -> list[str]:
    if not isinstance(mapping, Mapping) or not mapping:
        raise ValueError(f"{name}: expected a non-empty mapping candidate -> values, got {type(mapping).__name__}")
    return list(mapping)


def _finite(values: Sequence[Any], name: str, names: Sequence[str]) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    bad = [n for n, v in zip(names, array, strict=True) if not np.isfinite(v)]
    if bad:
        raise ValueError(f"{name}: non-finite value for set(s) {bad}")
    return array


def _best(values: np.ndarray, names: Sequence[Any], random_state: int) -> int:
    """Index of the largest value; ties broken by a key that depends only on each name and
    ``random_state`` (a BLAKE2b hash of both), so neither the position of a candidate nor
    the order of a mapping decides a tie."""
    labels = [str(n) for n in names]
    tie_key = np.array([int.from_bytes(hashlib.blake2b(f"{int(random_state)}/{n}".encode(), digest_size=7)
                                       .digest(), "big") for n in labels], dtype=np.int64)
    return int(np.lexsort((np.array(labels, dtype=object), tie_key, -values))[0])
