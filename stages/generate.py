"""Stage ``generate``: the auxiliary anomaly sets, one per dataset and generator.

``benchmark_mixture`` is the protocol's auxiliary set made by ``prepare`` (realistic,
indistinguishable and unrealistic rows, with their kind). Every other name in
``generate.generators`` is built with ``auxqual.generators.make(name, **params)`` from
the dataset's training data, ``n_samples`` rows (default: as many as the benchmark
set), with a seed derived from ``generate.random_state``, the dataset and the generator.

Writes ``data/aux/<dataset>/<generator>.parquet``: x0 … x{d-1}, ``generator``,
provenance columns (``generator_params``, ``seed``, ``source_*``), ``dataset``,
``aux_id`` (0 … n-1) and ``kind`` (``generated`` for generators other than the
benchmark mixture, whose quality is unknown).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from auxqual.io import check_features, features_frame, write_parquet
from stages.common import (
    AUX_DIR,
    BENCHMARK_GENERATOR,
    PREPARED_DIR,
    Log,
    StageError,
    cell_seed,
    dataset_dirs,
    load_params,
    main_wrapper,
    named_params,
    publish_dir,
    split_features,
)
from stages.fanout import options_from_params, run_cells

GENERATED_KIND = "generated"


def generate_cell(cell: dict) -> pd.DataFrame:
    """One auxiliary set: ``cell`` = dataset, generator, params, n_samples, seed."""
    from auxqual.generators import make

    dataset, name = cell["dataset"], cell["generator"]
    train = pd.read_parquet(PREPARED_DIR / dataset / "train.parquet")
    X, meta = split_features(train, f"{PREPARED_DIR / dataset / 'train.parquet'}")
    y = meta["y"].to_numpy().astype(np.int8)
    try:
        frame = make(name, **cell["params"]).generate(X, y, n_samples=cell["n_samples"],
                                                      random_state=cell["seed"])
    except ValueError as error:
        raise ValueError(f"dataset {dataset!r}, generator {name!r}: {error}") from error
    frame = frame.reset_index(drop=True).copy()
    check_features(split_features(frame, f"{dataset}/{name}")[0], name=f"dataset {dataset!r}, generator {name!r}",
                   n_features=X.shape[1])
    if "generator" not in frame:
        frame["generator"] = name
    if "generator_params" not in frame:
        frame["generator_params"] = json.dumps(cell["params"], sort_keys=True)
    if "seed" not in frame:
        frame["seed"] = cell["seed"]
    return frame


def _finish(frame: pd.DataFrame, dataset: str, generator: str, kind: str | None) -> pd.DataFrame:
    X, meta = split_features(frame, f"{dataset}/{generator}")
    meta = meta.drop(columns=[c for c in ("dataset", "aux_id") if c in meta.columns])
    if kind is not None or "kind" not in meta:
        meta["kind"] = kind or GENERATED_KIND
    meta["generator"] = generator
    out = features_frame(X, {c: meta[c].to_numpy() for c in meta.columns})
    out["dataset"] = dataset
    out["aux_id"] = np.arange(len(out), dtype=np.int64)
    return out


def main() -> None:
    log = Log("generate")
    params = load_params()
    config = params.generate
    fanout = options_from_params(params)
    generators = named_params(config.generators, config.params)
    base_seed = config.random_state
    n_samples = config.n_samples
    datasets = dataset_dirs(PREPARED_DIR, "prepare")
    cells, bench = [], {}
    for dataset in datasets:
        aux = pd.read_parquet(PREPARED_DIR / dataset / "aux.parquet")
        bench[dataset] = aux
        size = int(n_samples) if n_samples is not None else len(aux)
        if size < 1:
            raise StageError(f"params.yaml: generate.n_samples must be positive, got {n_samples}")
        for name, options in generators:
            if name != BENCHMARK_GENERATOR:
                cells.append({"dataset": dataset, "generator": name, "params": options, "n_samples": size,
                              "seed": cell_seed(base_seed, dataset, name)})
    log(f"{len(datasets)} dataset(s) × {len(generators)} generator(s): {[g for g, _ in generators]}")
    frames = run_cells(generate_cell, cells, desc="generate", **fanout)
    made = {(c["dataset"], c["generator"]): f for c, f in zip(cells, frames, strict=True)}
    with publish_dir(AUX_DIR) as staging:
        for dataset in datasets:
            for name, _ in generators:
                if name == BENCHMARK_GENERATOR:
                    frame = _finish(bench[dataset], dataset, name, kind=None)
                else:
                    frame = _finish(made[(dataset, name)], dataset, name, kind=GENERATED_KIND)
                write_parquet(frame, staging / dataset / f"{name}.parquet")
                log(f"{dataset}/{name}: {len(frame)} rows, kinds {frame['kind'].value_counts().sort_index().to_dict()}")
    log(f"wrote {AUX_DIR}")


if __name__ == "__main__":
    main_wrapper("generate", main)
