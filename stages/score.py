"""Stage ``score``: every quality score on every auxiliary set.

One cell per (dataset, score): the scorer (``auxqual.quality.make_scorer(name,
**params)``) is fitted once on the dataset's training data and then scores every
generator's auxiliary set (one fitted EAP serves many sets).

Writes ``data/scores/<dataset>/<generator>.parquet``: ``dataset``, ``generator``,
``aux_id``, ``kind``, then one column per score (higher = better auxiliary anomaly)
and ``<score>_std`` where the scorer gives a standard deviation; and
``data/scores/<dataset>/budgets.json``: per score and generator, the budget it used
(a baseline's budget, game and utility from its scoring details; EAP's number of subsets) and the
params it was given. Both are deterministic (DVC hashes them).

Wall-clock times are not: they go to ``results/timings/score.json`` (fit seconds and
score seconds per generator of every (dataset, score) cell, the runner, the machine's
core count and load, and the sha256 of each score table this run wrote, so a reader can
tell whether the times belong to the tables on disk). That file is deliberately *not* a
DVC output (dvc.lock records an md5 even for ``cache: false`` outputs, so a timing there
would change dvc.lock on every ``dvc repro -f``); it is git-ignored and describes the
last run of this stage.
Params: ``score`` (names and per-score params; ``dataset_params``, optional: per-dataset
overrides of those params, ``{dataset: {score: params}}``); ``fanout`` (runner, workers: where the
cells run, which never changes the result, so it is not a DVC dependency).
"""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd

from auxqual.io import check_features, sha256_file, write_json, write_parquet
from stages.common import (
    AUX_DIR,
    BUDGETS_FILE,
    PREPARED_DIR,
    SCORE_META,
    SCORES_DIR,
    TIMINGS_PATH,
    Log,
    StageError,
    dataset_dirs,
    load_params,
    main_wrapper,
    named_params,
    publish_dir,
    split_features,
)
from stages.fanout import options_from_params, run_cells


def _plain(value):
    """``value`` with NumPy scalars and arrays turned into JSON types (recursively)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def score_cell(cell: dict) -> dict:
    """Fit one scorer on one dataset's training data; score each of its auxiliary sets.

    Returns ``{"scores": {generator: (values, std or None)}, "budgets": {generator: dict},
    "fit_seconds": float, "score_seconds": {generator: float}, "seconds": float}`` (seconds:
    fit plus every generator's scoring).
    """
    from auxqual.quality import budget_record, make_scorer, score_with_details

    dataset, name = cell["dataset"], cell["score"]
    train_path = PREPARED_DIR / dataset / "train.parquet"
    X, meta = split_features(pd.read_parquet(train_path), str(train_path))
    y = meta["y"].to_numpy().astype(np.int8)
    start = time.perf_counter()
    try:
        scorer = make_scorer(name, **cell["params"]).fit(X, y)
    except ValueError as error:
        raise ValueError(f"dataset {dataset!r}, score {name!r}: {error}") from error
    fit_seconds = time.perf_counter() - start
    out, budgets, score_seconds = {}, {}, {}
    for generator in cell["generators"]:
        path = AUX_DIR / dataset / f"{generator}.parquet"
        X_aux, _ = split_features(pd.read_parquet(path), str(path))
        X_aux = check_features(X_aux, name=str(path), n_features=X.shape[1])
        began = time.perf_counter()
        details = score_with_details(scorer, X_aux)
        score_seconds[generator] = time.perf_counter() - began
        values = np.asarray(getattr(details, "score", details), dtype=np.float64)
        std = getattr(details, "score_std", None)
        if values.shape != (X_aux.shape[0],) or not np.isfinite(values).all():
            raise ValueError(f"dataset {dataset!r}, score {name!r}, generator {generator!r}: "
                             f"expected {X_aux.shape[0]} finite scores, got shape {values.shape} "
                             f"with {int((~np.isfinite(values)).sum())} non-finite")
        out[generator] = (values, None if std is None else np.asarray(std, dtype=np.float64))
        budgets[generator] = _plain(budget_record(scorer, details))
    return {"scores": out, "budgets": budgets, "fit_seconds": fit_seconds, "score_seconds": score_seconds,
            "seconds": time.perf_counter() - start}


def main() -> None:
    log = Log("score")
    params = load_params()
    config = params.score
    fanout = options_from_params(params)
    scorers = named_params(config.scores, config.params)
    datasets = dataset_dirs(PREPARED_DIR, "prepare")
    generators = {d: sorted(p.stem for p in (AUX_DIR / d).glob("*.parquet")) for d in datasets}
    overrides = dataset_overrides(config.dataset_params, datasets)
    cells = [{"dataset": d, "score": name, "params": {**options, **overrides.get(d, {}).get(name, {})},
              "generators": generators[d]}
             for d in datasets for name, options in scorers]
    log(f"{len(datasets)} dataset(s) × {len(scorers)} score(s) = {len(cells)} fits, "
        f"runner={fanout['runner']}, workers={fanout['workers']}")
    load_before = _load_average()
    began = time.perf_counter()
    results = run_cells(score_cell, cells, desc="score", **fanout)
    wall_seconds = time.perf_counter() - began
    for cell, result in zip(cells, results, strict=True):
        log(f"{cell['dataset']}/{cell['score']}: fit + score {len(cell['generators'])} set(s) in "
            f"{result['seconds']:.1f}s")
    with publish_dir(SCORES_DIR) as staging:
        for dataset in datasets:
            for generator in generators[dataset]:
                aux = pd.read_parquet(AUX_DIR / dataset / f"{generator}.parquet", columns=list(SCORE_META))
                table = aux.copy()
                for cell, result in zip(cells, results, strict=True):
                    if cell["dataset"] != dataset:
                        continue
                    values, std = result["scores"][generator]
                    table[cell["score"]] = values
                    if std is not None:
                        table[f"{cell['score']}_std"] = std
                write_parquet(table, staging / dataset / f"{generator}.parquet")
            budgets = {cell["score"]: {"params": _plain(cell["params"]), "generators": result["budgets"]}
                       for cell, result in zip(cells, results, strict=True) if cell["dataset"] == dataset}
            write_json(budgets, staging / dataset / BUDGETS_FILE)
    log(f"wrote {SCORES_DIR}")
    write_timings(cells, results, generators, fanout, wall_seconds=wall_seconds, load_before=load_before)
    log(f"wrote {TIMINGS_PATH} (wall clock of every cell; not a DVC output)")


def dataset_overrides(value: dict[str, dict[str, dict]], datasets: list[str]) -> dict[str, dict[str, dict]]:
    """``score.dataset_params``: ``{dataset: {score: params}}`` merged over ``score.params``
    for that dataset only (e.g. a smaller budget where an estimator is degenerate and slow).
    Its scores and their parameters are checked by the schema; a dataset that is not in this
    run is refused here, so a typo cannot go unnoticed."""
    out: dict[str, dict[str, dict]] = {}
    for dataset, per_score in value.items():
        if str(dataset) not in datasets:
            raise StageError(f"params.yaml: score.dataset_params names dataset {dataset!r}, not among the "
                             f"prepared datasets {datasets}")
        for score, options in per_score.items():
            out.setdefault(str(dataset), {})[str(score)] = dict(options)
    return out


def _load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):  # pragma: no cover - not on every platform
        return None


def write_timings(cells: list[dict], results: list[dict], generators: dict[str, list[str]], fanout: dict, *,
                  wall_seconds: float, load_before: list[float] | None) -> None:
    """``results/timings/score.json``: the seconds of every cell of this run, and the sha256
    of the score tables they produced (evaluate uses the times only when these match)."""
    records = []
    for cell, result in zip(cells, results, strict=True):
        records.append({
            "dataset": cell["dataset"], "score": cell["score"],
            "fit_seconds": round(float(result["fit_seconds"]), 4),
            "score_seconds": {g: round(float(s), 4) for g, s in result["score_seconds"].items()},
            "seconds": round(float(result["seconds"]), 4),
            "budgets": result["budgets"],
        })
    write_json({
        "stage": "score",
        "note": "wall-clock seconds of the last run of stage 'score'; not a DVC output (not reproducible)",
        "runner": fanout.get("runner"), "workers": fanout.get("workers"),
        "cpu_count": os.cpu_count(), "load_average_before": load_before, "load_average_after": _load_average(),
        "wall_seconds": round(wall_seconds, 3),
        "cells": records,
        "score_tables_sha256": {d: {g: sha256_file(SCORES_DIR / d / f"{g}.parquet") for g in gens}
                                for d, gens in generators.items()},
    }, TIMINGS_PATH)


if __name__ == "__main__":
    main_wrapper("score", main)
