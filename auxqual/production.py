"""Choosing what to ship: which auxiliary anomalies to train with, and which detector.

The production pipeline of a user's project (``auxqual init``) has no test labels. It
decides on a validation set, every candidate being one combination of

- an auxiliary set (a file of the user's or a generated set),
- a quality score that ranks the set's rows (EAP, its ablations, a baseline),
- ``q``: the top q % of the ranked rows added to the training data as anomalies
  (``q = 0``: the labelled anomalies alone, the same for every set and score),
- a detector (a name of ``auxqual.detectors.registry`` with its parameters).

**The validation set** (``make_split``): a seeded ``validation_fraction`` of the
training normals is held out of every fit. The validation anomalies are

- ``labelled``: the rows of the user's validation table (its normals join the held-out
  normals), when one is given;
- ``weighted_aux``: otherwise, a seeded ``aux_validation_fraction`` of every auxiliary set,
  held out of every fit, each row weighted by the consensus of the quality scores
  (``consensus_weights``): no single score wins on every dataset, so none decides alone
  how much a row counts. This is Q3's method, with the auxiliary rows a candidate validates
  on never among those it was trained with.

Every candidate is scored on the same validation set, so their validation AUROCs compare;
the best one is chosen, ties broken by a seeded key of the candidates' names
(``auxqual.selection.select_model``). Pure library code: no files, no printing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from auxqual.metrics import top_q_indices
from auxqual.sampling import sample_training_rows
from auxqual.selection import select_model, weighted_auroc

LABELLED, WEIGHTED_AUX = "labelled", "weighted_aux"
NO_SET = ""  # the set and score of a q = 0 candidate (no auxiliary anomalies)


@dataclass(frozen=True)
class Split:
    """Rows of each table that the fits use and that the validation set holds."""

    fit_rows: np.ndarray                 # training rows every candidate is fitted on (sampled)
    held_normals: np.ndarray             # training normals held out for validation
    aux_fit_rows: dict[str, np.ndarray]  # per set: rows that may be selected into a fit
    aux_val_rows: dict[str, np.ndarray]  # per set: rows held out as validation anomalies
    method: str                          # LABELLED or WEIGHTED_AUX


def make_split(y_train: np.ndarray, aux_sizes: Mapping[str, int], *, labelled_validation: bool,
               validation_fraction: float, aux_validation_fraction: float, max_fit_rows: int | None,
               max_validation_normals: int | None = None, random_state: int = 0) -> Split:
    """The seeded split of ``auxqual.production`` (see its docstring).

    Every labelled training anomaly stays in the fits; ``max_fit_rows`` bounds the fitted
    rows (a seeded sample keeping every labelled anomaly, ``auxqual.sampling.sample_training_rows``);
    ``max_validation_normals`` bounds the held-out normals (scoring them is most of a large
    table's selection time, and a few thousand already pin an AUROC down).
    """
    for name, value in (("validation_fraction", validation_fraction),
                        ("aux_validation_fraction", aux_validation_fraction)):
        if not 0.0 < float(value) < 1.0:
            raise ValueError(f"select.{name}: must be in (0, 1), got {value!r}")
    rng = np.random.default_rng(random_state)
    y_train = np.asarray(y_train)
    normals = np.flatnonzero(y_train == 0)
    n_held = int(np.floor(validation_fraction * normals.size + 0.5))
    n_held = min(max(n_held, 1), normals.size - 1, max_validation_normals or normals.size)
    if n_held < 1:
        raise ValueError(f"training table: {normals.size} normal row(s); holding out validation normals needs 2")
    held = np.sort(rng.permutation(normals)[:n_held])
    rest = np.setdiff1d(np.arange(y_train.size), held)
    sampled = rest[sample_training_rows(y_train[rest], max_fit_rows, random_state=random_state)]
    aux_fit, aux_val = {}, {}
    for name in sorted(aux_sizes):
        n = int(aux_sizes[name])
        order = np.random.default_rng([random_state, _stable_int(name)]).permutation(n)
        k = 0 if labelled_validation else min(max(int(np.floor(aux_validation_fraction * n + 0.5)), 1), n - 1)
        if not labelled_validation and n < 2:
            raise ValueError(f"auxiliary set {name!r}: {n} row(s); without a validation table each set needs "
                             "2 or more (one to validate on, one to train with)")
        aux_val[name] = np.sort(order[:k]).astype(np.int64)
        aux_fit[name] = np.sort(order[k:]).astype(np.int64)
    return Split(np.sort(sampled).astype(np.int64), held.astype(np.int64), aux_fit, aux_val,
                 LABELLED if labelled_validation else WEIGHTED_AUX)


def _stable_int(text: str) -> int:
    return int.from_bytes(text.encode("utf-8")[:16].ljust(16, b"\0"), "little")


def consensus_weights(scores: Mapping[str, np.ndarray]) -> np.ndarray:
    """Per row, the mean over quality scores of the score min-max scaled to [0, 1] over all
    rows (higher = a better auxiliary anomaly). A constant score weighs every row 1."""
    if not scores:
        raise ValueError("consensus_weights: no quality score")
    scaled = []
    for name, values in scores.items():
        values = np.asarray(values, dtype=np.float64)
        if not np.isfinite(values).all():
            raise ValueError(f"quality score {name!r}: {int((~np.isfinite(values)).sum())} NaN or infinite value(s)")
        span = float(values.max() - values.min()) if values.size else 0.0
        scaled.append((values - values.min()) / span if span > 0 else np.ones_like(values))
    return np.mean(scaled, axis=0)


@dataclass(frozen=True)
class ValidationSet:
    """Rows, labels (1 = anomaly) and weights every candidate is judged on."""

    X: np.ndarray
    y: np.ndarray
    weights: np.ndarray
    method: str
    n_normals: int
    n_anomalies: int


def validation_set(split: Split, X_train: np.ndarray, X_aux: Mapping[str, np.ndarray],
                   scores: Mapping[str, pd.DataFrame], score_names: Sequence[str], *,
                   X_validation: np.ndarray | None = None, y_validation: np.ndarray | None = None) -> ValidationSet:
    """The validation set of ``split``: held-out normals (+ the validation table's normals)
    against the validation table's anomalies, or against the held-out auxiliary rows with
    their consensus weights (``scores[set]``: one column per name of ``score_names``)."""
    X_normals = [X_train[split.held_normals]]
    if split.method == LABELLED:
        if X_validation is None or y_validation is None:
            raise ValueError("validation_set: the labelled method needs the validation table")
        X_normals.append(X_validation[y_validation == 0])
        X_anomalies = X_validation[y_validation == 1]
        anomaly_weights = np.ones(X_anomalies.shape[0])
    else:
        names = sorted(split.aux_val_rows)
        X_anomalies = np.concatenate([X_aux[n][split.aux_val_rows[n]] for n in names])
        per_score = {s: np.concatenate([scores[n][s].to_numpy(dtype=np.float64)[split.aux_val_rows[n]]
                                        for n in names]) for s in score_names}
        anomaly_weights = consensus_weights(per_score)
    normals = np.concatenate(X_normals)
    X = np.concatenate([normals, X_anomalies])
    y = np.r_[np.zeros(normals.shape[0], dtype=np.int8), np.ones(X_anomalies.shape[0], dtype=np.int8)]
    weights = np.r_[np.ones(normals.shape[0]), anomaly_weights]
    return ValidationSet(X, y, weights, split.method, int(normals.shape[0]), int(X_anomalies.shape[0]))


@dataclass(frozen=True)
class Candidate:
    """One way to build the production model (see the module docstring)."""

    set: str
    score: str
    q: float
    detector: str
    detector_params: dict[str, Any]

    @property
    def name(self) -> str:
        params = json.dumps(self.detector_params, sort_keys=True, separators=(",", ":"))
        suffix = params if self.detector_params else ""
        return f"{self.set or '-'}|{self.score or '-'}|q{self.q:g}|{self.detector}{suffix}"


def candidates(sets: Sequence[str], score_names: Sequence[str], qs: Sequence[float],
               detectors: Mapping[str, Mapping[str, Any]]) -> list[Candidate]:
    """Every combination: ``q = 0`` once per detector; each other q per set and score."""
    if not detectors:
        raise ValueError("select.detectors: give at least one detector")
    out = []
    for detector, params in detectors.items():
        for q in sorted({float(q) for q in qs}):
            if not 0.0 <= q <= 100.0:
                raise ValueError(f"select.q: {q:g} is not a percentage in [0, 100]")
            if q == 0.0:
                out.append(Candidate(NO_SET, NO_SET, 0.0, detector, dict(params or {})))
                continue
            out += [Candidate(s, score, q, detector, dict(params or {})) for s in sets for score in score_names]
    return out


def selected_aux_rows(candidate: Candidate, split: Split, scores: Mapping[str, pd.DataFrame], *,
                      random_state: int = 0) -> np.ndarray:
    """Rows of ``candidate.set`` it trains with: the top ``q`` % of the set's fit rows by
    ``candidate.score`` (ascending row numbers; none for ``q = 0``)."""
    if candidate.q == 0.0:
        return np.zeros(0, dtype=np.int64)
    rows = split.aux_fit_rows[candidate.set]
    values = scores[candidate.set][candidate.score].to_numpy(dtype=np.float64)[rows]
    top = top_q_indices(values, candidate.q, random_state=random_state)
    return np.sort(rows[top]).astype(np.int64)


def training_data(candidate: Candidate, split: Split, X_train: np.ndarray, y_train: np.ndarray,
                  X_aux: Mapping[str, np.ndarray], scores: Mapping[str, pd.DataFrame], *,
                  random_state: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(X, y, selected auxiliary rows)`` that ``candidate`` is fitted on: the split's fit
    rows, plus its selected auxiliary rows labelled 1."""
    rows = selected_aux_rows(candidate, split, scores, random_state=random_state)
    X = X_train[split.fit_rows]
    y = y_train[split.fit_rows].astype(np.int8)
    if rows.size:
        X = np.concatenate([X, X_aux[candidate.set][rows]])
        y = np.r_[y, np.ones(rows.size, dtype=np.int8)]
    return X, y, rows


@dataclass(frozen=True)
class Decision:
    """The chosen candidate, its validation AUROC, and every alternative's (``table``)."""

    chosen: Candidate
    val_auroc: float
    table: pd.DataFrame


def choose(candidate_list: Sequence[Candidate], fit_and_decide: Callable[[Candidate], np.ndarray],
           validation: ValidationSet, *, random_state: int = 0,
           progress: Callable[[int, int, Candidate, float], None] | None = None) -> Decision:
    """Score every candidate on ``validation`` and choose the best.

    ``fit_and_decide(candidate)`` fits the candidate and returns its decision scores on
    ``validation.X`` (higher = more anomalous); ``progress`` is called after each one.
    """
    decisions = {}
    for i, candidate in enumerate(candidate_list):
        decisions[candidate.name] = np.asarray(fit_and_decide(candidate), dtype=np.float64)
        if progress is not None:
            auroc = weighted_auroc(validation.y, decisions[candidate.name], validation.weights,
                                   name=candidate.name)
            progress(i + 1, len(candidate_list), candidate, auroc)
    result = select_model(decisions, validation.y, validation.weights, random_state=random_state)
    by_name = {c.name: c for c in candidate_list}
    table = pd.DataFrame({
        "set": [by_name[n].set for n in result.table["candidate"]],
        "score": [by_name[n].score for n in result.table["candidate"]],
        "q": [by_name[n].q for n in result.table["candidate"]],
        "detector": [by_name[n].detector for n in result.table["candidate"]],
        "val_auroc": result.table["val_auroc"].to_numpy(dtype=np.float64),
        "chosen": result.table["chosen"].to_numpy(dtype=bool),
    })
    return Decision(by_name[result.chosen], result.chosen_val_auroc, table)


def bootstrap_auroc(validation: ValidationSet, decision: np.ndarray, *, n_resamples: int = 1000,
                    level: float = 0.95, random_state: int = 0) -> tuple[float, float]:
    """A percentile bootstrap interval of the weighted validation AUROC, resampling
    normals and anomalies separately (each resample keeps both classes)."""
    rng = np.random.default_rng(random_state)
    normals, anomalies = np.flatnonzero(validation.y == 0), np.flatnonzero(validation.y == 1)
    values = []
    for _ in range(int(n_resamples)):
        rows = np.r_[rng.choice(normals, normals.size), rng.choice(anomalies, anomalies.size)]
        weights = validation.weights[rows]
        if weights[validation.y[rows] == 1].sum() <= 0:
            continue
        values.append(weighted_auroc(validation.y[rows], decision[rows], weights))
    if not values:
        return float("nan"), float("nan")
    alpha = (1.0 - level) / 2.0
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1.0 - alpha))
