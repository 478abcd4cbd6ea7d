"""Stage ``score``: every quality score on every auxiliary set.

One cell per (dataset, score): the scorer (``auxqual.quality.make_scorer(name,
**params)``) is fitted once on the dataset's training data and then scores every
generator's auxiliary set (one fitted EAP serves many sets).

Writes ``data/scores/<dataset>/<generator>.parquet``: ``dataset``, ``generator``,
``aux_id``, ``kind``, then one column per score (higher = better auxiliary anomaly)
and ``<score>_std`` where the scorer gives a standard deviation.
Params: ``score`` (names and per-score params); ``fanout`` (runner, workers: where the
cells run, which never changes the result, so it is not a DVC dependency).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from auxqual.io import check_features, write_parquet
from stages.common import (AUX_DIR, PREPARED_DIR, SCORES_DIR, Log, dataset_dirs, load_params, main_wrapper,
                           names_and_params, publish_dir, section, split_features)
from stages.fanout import options_from_params, run_cells

KEY_COLUMNS = ("dataset", "generator", "aux_id", "kind")


def score_cell(cell: dict) -> dict:
    """Fit one scorer on one dataset's training data; score each of its auxiliary sets.

    Returns ``{"scores": {generator: (values, std or None)}, "seconds": float}``.
    """
    from auxqual.quality import make_scorer, score_with_std

    dataset, name = cell["dataset"], cell["score"]
    train_path = PREPARED_DIR / dataset / "train.parquet"
    X, meta = split_features(pd.read_parquet(train_path), str(train_path))
    y = meta["y"].to_numpy().astype(np.int8)
    start = time.perf_counter()
    try:
        scorer = make_scorer(name, **cell["params"]).fit(X, y)
    except ValueError as error:
        raise ValueError(f"dataset {dataset!r}, score {name!r}: {error}") from error
    out = {}
    for generator in cell["generators"]:
        path = AUX_DIR / dataset / f"{generator}.parquet"
        X_aux, _ = split_features(pd.read_parquet(path), str(path))
        X_aux = check_features(X_aux, name=str(path), n_features=X.shape[1])
        values, std = score_with_std(scorer, X_aux)
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (X_aux.shape[0],) or not np.isfinite(values).all():
            raise ValueError(f"dataset {dataset!r}, score {name!r}, generator {generator!r}: "
                             f"expected {X_aux.shape[0]} finite scores, got shape {values.shape} "
                             f"with {int((~np.isfinite(values)).sum())} non-finite")
        out[generator] = (values, None if std is None else np.asarray(std, dtype=np.float64))
    return {"scores": out, "seconds": time.perf_counter() - start}


def main() -> None:
    log = Log("score")
    params = load_params()
    config = section(params, "score")
    fanout = options_from_params(params)
    scorers = names_and_params(config, "scores", "params", "score")
    datasets = dataset_dirs(PREPARED_DIR, "prepare")
    generators = {d: sorted(p.stem for p in (AUX_DIR / d).glob("*.parquet")) for d in datasets}
    cells = [{"dataset": d, "score": name, "params": options, "generators": generators[d]}
             for d in datasets for name, options in scorers]
    log(f"{len(datasets)} dataset(s) × {len(scorers)} score(s) = {len(cells)} fits, "
        f"runner={fanout['runner']}, workers={fanout['workers']}")
    results = run_cells(score_cell, cells, desc="score", **fanout)
    for cell, result in zip(cells, results):
        log(f"{cell['dataset']}/{cell['score']}: fit + score {len(cell['generators'])} set(s) in {result['seconds']:.1f}s")
    with publish_dir(SCORES_DIR) as staging:
        for dataset in datasets:
            for generator in generators[dataset]:
                aux = pd.read_parquet(AUX_DIR / dataset / f"{generator}.parquet", columns=list(KEY_COLUMNS))
                table = aux.copy()
                for cell, result in zip(cells, results):
                    if cell["dataset"] != dataset:
                        continue
                    values, std = result["scores"][generator]
                    table[cell["score"]] = values
                    if std is not None:
                        table[f"{cell['score']}_std"] = std
                write_parquet(table, staging / dataset / f"{generator}.parquet")
    log(f"wrote {SCORES_DIR}")


if __name__ == "__main__":
    main_wrapper("score", main)
