"""Stage ``train``: detectors trained with the top q % of each auxiliary set.

For every dataset, generator, score, detector and budget ``q`` in ``train.q``: fit the
detector (``auxqual.detectors.registry.make_detector``) on the training data plus the
``q`` % of the auxiliary set that the score ranks highest (``auxqual.metrics.top_q_indices``;
ties broken by a random key seeded by ``train.random_state``, the dataset, the generator and the
score, the same for every detector and q, so the selections are nested as q grows), labelled
as anomalies. Selected rows enter the training set in
their original order, so identical selections give identical models: each distinct
training set is fitted once (``q = 0`` once per dataset and detector; ``q = 100`` once
per generator) and the model is copied to every cell that uses it.

Writes
- ``models/<dataset>/<generator>/<score>/<detector>/q<NN>.<ext>`` and a lineage sidecar
  (``auxqual.lineage.write_sidecar``): which auxiliary set, score and q produced the model,
  and ``code_sha256``, the content hash of this stage's code deps in dvc.yaml
  (``auxqual.lineage.code_sha256``). No git revision: it would change the models' hash, hence
  dvc.lock, after every commit; the commit that made a model is the one holding its dvc.lock;
- ``data/predictions/<dataset>.parquet``: the test-set decision scores of every model
  (``dataset, generator, score, detector, q, row, y, decision``), so ``evaluate`` never refits.

Params: ``train`` (detectors, per-detector params, q, random_state, device); ``fanout``
(where cells run; not a DVC dependency because it never changes the result).
"""

from __future__ import annotations

import functools
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from auxqual import lineage
from auxqual.io import write_parquet
from auxqual.metrics import top_q_indices
from stages.common import (
    AUX_DIR,
    MODELS_DIR,
    PREDICTIONS_DIR,
    PREPARED_DIR,
    SCORES_DIR,
    Log,
    StageError,
    cached_table,
    cell_seed,
    dataset_dirs,
    load_params_and_file,
    main_wrapper,
    named_params,
    publish_dir,
    score_columns,
    stage_code_deps,
)
from stages.fanout import options_from_params, run_cells

NO_AUX = "-"  # generator key of a training set without auxiliary anomalies (q = 0)


def _table(path: str) -> tuple[np.ndarray, pd.DataFrame]:
    """A prepared or auxiliary table, read once per process while the file is unchanged."""
    return cached_table(path)


def fit_cell(cell: dict) -> dict:
    """Fit one detector on one training set; save it; score the test set.

    ``cell``: dataset, detector, params, seed, device, generator (or ``None``), rows (the
    selected auxiliary rows, ascending), model (path to save to). Returns the model's
    test decision scores and the fit time.
    """
    from auxqual.detectors.registry import make_detector, save_detector

    dataset = cell["dataset"]
    X_train, meta = _table(str(PREPARED_DIR / dataset / "train.parquet"))
    y_train = meta["y"].to_numpy().astype(np.int8)
    X_test, _ = _table(str(PREPARED_DIR / dataset / "test.parquet"))
    rows = np.asarray(cell["rows"], dtype=np.int64)
    if rows.size:
        X_aux, _ = _table(str(AUX_DIR / dataset / f"{cell['generator']}.parquet"))
        X_fit = np.vstack([X_train, X_aux[rows]])
        y_fit = np.concatenate([y_train, np.ones(rows.size, dtype=np.int8)])
    else:
        X_fit, y_fit = X_train, y_train
    start = time.perf_counter()
    try:
        detector = make_detector(cell["detector"], random_state=cell["seed"], device=cell["device"],
                                 **cell["params"])
        detector.fit(X_fit, y_fit)
        decision = np.asarray(detector.decision_function(X_test), dtype=np.float64)
    except ValueError as error:
        raise ValueError(f"dataset {dataset!r}, detector {cell['detector']!r}, generator {cell['generator']!r}, "
                         f"{rows.size} auxiliary rows: {error}") from error
    seconds = time.perf_counter() - start
    saved = save_detector(detector, Path(cell["model"]))
    return {"decision": decision, "seconds": seconds, "model": str(saved)}


def _q_label(q: int) -> str:
    return f"q{q:02d}"


def main() -> None:
    log = Log("train")
    params, written = load_params_and_file()
    config = params.train
    fanout = options_from_params(params)
    detectors = named_params(config.detectors, config.params)
    qs = sorted(set(config.q))
    base_seed = config.random_state
    device = None if config.device == "auto" else config.device
    recorded = dict(written.get("train") or {})   # the section as written: the sidecars' params
    datasets = dataset_dirs(SCORES_DIR, "score")
    log(f"code sha256 {_code_sha()[:12]}… (the lineage's hash of this stage's code deps)")  # fails before fitting

    with publish_dir(MODELS_DIR) as models_stage, publish_dir(PREDICTIONS_DIR) as predictions_stage:
        # ---- plan: every cell, and the distinct training sets among them
        cells, fits, fit_of = [], [], {}
        for dataset in datasets:
            for path in sorted((SCORES_DIR / dataset).glob("*.parquet")):
                generator = path.stem
                table = pd.read_parquet(path)
                scores = score_columns(table)
                if not scores:
                    raise StageError(f"{path}: no quality-score columns")
                for score in scores:
                    ties = cell_seed(base_seed, dataset, generator, score)  # one per ranking: nested top-q sets
                    for name, options in detectors:
                        for q in qs:
                            rows = np.sort(top_q_indices(table[score].to_numpy(), q, random_state=ties))
                            key = (dataset, name, generator if rows.size else NO_AUX, rows.tobytes())
                            model = models_stage / dataset / generator / score / name / _q_label(q)
                            if key not in fit_of:
                                fit_of[key] = len(fits)
                                fits.append({"dataset": dataset, "detector": name, "params": options,
                                             "seed": cell_seed(base_seed, dataset, name), "device": device,
                                             "generator": generator if rows.size else None,
                                             "rows": rows.tolist(), "model": str(model)})
                            cells.append({"dataset": dataset, "generator": generator, "score": score,
                                          "detector": name, "q": q, "rows": rows, "model": model,
                                          "fit": fit_of[key]})
        log(f"{len(datasets)} dataset(s): {len(cells)} models, {len(fits)} distinct fits, "
            f"runner={fanout['runner']}, workers={fanout['workers']}")
        results = run_cells(fit_cell, fits, desc="train", **fanout)
        seconds = {}
        for fit, result in zip(fits, results, strict=True):
            seconds[fit["detector"]] = seconds.get(fit["detector"], 0.0) + result["seconds"]
        log("fit seconds per detector: " + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()))

        # ---- copy shared models, write lineage sidecars and predictions
        predictions: dict[str, list[pd.DataFrame]] = {d: [] for d in datasets}
        for cell in cells:
            result = results[cell["fit"]]
            source = Path(result["model"])
            target = cell["model"].with_suffix(source.suffix) if source.suffix else cell["model"]
            if source != target:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
            _write_lineage(target, cell, recorded, models_stage)
            test = _table(str(PREPARED_DIR / cell["dataset"] / "test.parquet"))[1]
            predictions[cell["dataset"]].append(pd.DataFrame({
                "dataset": cell["dataset"], "generator": cell["generator"], "score": cell["score"],
                "detector": cell["detector"], "q": np.int64(cell["q"]),
                "row": test["row"].to_numpy(dtype=np.int64), "y": test["y"].to_numpy().astype(np.int8),
                "decision": result["decision"]}))
        for dataset, frames in predictions.items():
            write_parquet(pd.concat(frames, ignore_index=True), predictions_stage / f"{dataset}.parquet")
        log(f"wrote {len(cells)} models to {MODELS_DIR} and predictions to {PREDICTIONS_DIR}")


def _write_lineage(model_path: Path, cell: dict, config: dict, models_stage: Path) -> None:
    """The sidecar of one model: its training data, the auxiliary set, the scores file and the
    rows chosen (``config``: the ``train`` section as written in params.yaml)."""
    dataset, generator = cell["dataset"], cell["generator"]
    train_path = PREPARED_DIR / dataset / "train.parquet"
    aux_path = AUX_DIR / dataset / f"{generator}.parquet"
    scores_path = SCORES_DIR / dataset / f"{generator}.parquet"  # the scores that chose the rows
    X_aux, meta = _table(str(aux_path))
    rows = cell["rows"]
    ids = meta["aux_id"].to_numpy()[rows]
    final = MODELS_DIR / model_path.relative_to(models_stage)
    record = lineage.LineageRecord(
        model_path=str(final),
        created_by={"stage": "train", "detector": cell["detector"],
                    "detector_params": dict((config.get("params") or {}).get(cell["detector"]) or {})},
        inputs=[
            {"role": "train", "path": str(train_path), "sha256": _file_sha(train_path), "dataset": dataset},
            {"role": "auxiliary", "path": str(aux_path), "sha256": _file_sha(aux_path), "dataset": dataset,
             "generator": generator, "score": cell["score"], "q": int(cell["q"]), "n_rows": len(rows),
             "selected_rows_sha256": lineage.sha256_rows(X_aux[rows], ids=ids),
             "scores_path": str(scores_path), "scores_sha256": _file_sha(scores_path)},
        ],
        params={"train": dict(config)},
        code_sha256=_code_sha(),
        dataset=dataset,
    )
    lineage.write_sidecar(model_path, record)


@functools.cache
def _file_sha(path: Path) -> str:
    return lineage.sha256_file(path)


@functools.lru_cache(maxsize=1)
def _code_sha() -> str:
    """The content hash of the code that runs this stage (its code deps in dvc.yaml)."""
    return lineage.code_sha256(stage_code_deps("train"))


if __name__ == "__main__":
    main_wrapper("train", main)
