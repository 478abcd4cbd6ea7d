"""Stage ``select``: Q3, choosing a detector and an auxiliary set without test labels.

**Model selection**, per dataset and seed of ``select.seeds``: a seeded, stratified
``select.validation_fraction`` of the training rows (normals and labelled anomalies) is
held out (``auxqual.selection.holdout_split``); every candidate of the grid
``select.candidates`` (``{detector: {param: [values]}}``) is fitted on the rest, without
auxiliary anomalies (the auxiliary set is the validation set, so it cannot also be
training data). The validation set is the held-out normals plus the rows of the
auxiliary set ``select.generator``, weighted by each quality score of
``data/scores/<dataset>/<generator>.parquet`` (``select.weighting``: minmax, rank or
top_q with ``select.q``), by 1 (``uniform``: no quality score), or the held-out
labelled anomalies alone (``labelled``: the no-synthetic baseline). The candidate with
the best weighted validation AUROC is chosen (``auxqual.selection.select_model``); the
test set is used only to report its test AUROC, the oracle's and the regret.

**Generator selection**, per dataset and seed: ``select.generator_detector`` is trained
on the training data plus each whole auxiliary set in ``data/aux/<dataset>/``; the sets
ranked by the mean of each quality score are compared with their ranking by that
detector's test AUROC (``auxqual.selection.select_generator``: Kendall's tau, regret).

Writes
- ``results/q3.parquet``: one row per (dataset, seed, task, score): ``chosen``,
  ``chosen_val`` (validation AUROC, or mean quality), ``chosen_test_auroc``, ``oracle``,
  ``oracle_test_auroc``, ``regret``, ``rank_corr`` (Spearman over candidates for task
  ``model``, Kendall's tau over sets for task ``generator``), the counts behind them;
- ``results/q3_candidates.parquet``: every candidate's (or set's) validation value and
  test AUROC per row of q3 (the data of the validation-vs-test figure);
- ``results/q3_metrics.json``: mean regret and rank correlation per task and score;
- ``models_selected/<dataset>/seed<seed>/<candidate>.joblib`` + a lineage sidecar: every
  model that some score chose, with the scores that chose it and its inputs.

Params: ``select``; ``fanout`` (where cells run; not a DVC dependency).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd

from auxqual import lineage
from auxqual.candidates import fit_candidates
from auxqual.io import write_json, write_parquet
from auxqual.params.benchmark import BenchmarkParams
from auxqual.selection import (
    LABELLED,
    UNIFORM,
    candidate_grid,
    decisions,
    holdout_split,
    score_weights,
    select_generator,
    select_model,
    validation_weights,
    weighted_auroc,
)
from stages.common import (
    AUX_DIR,
    PREPARED_DIR,
    RESULTS_DIR,
    SCORES_DIR,
    SELECTED_MODELS_DIR,
    Log,
    StageError,
    cached_table,
    cell_seed,
    dataset_dirs,
    load_params_and_file,
    main_wrapper,
    publish_dir,
    remove_stale,
    score_columns,
    stage_code_deps,
)
from stages.fanout import options_from_params, run_cells

Q3_PATH = RESULTS_DIR / "q3.parquet"
CANDIDATES_PATH = RESULTS_DIR / "q3_candidates.parquet"
METRICS_PATH = RESULTS_DIR / "q3_metrics.json"
MODEL_TASK, GENERATOR_TASK = "model", "generator"
Q3_COLUMNS = ["dataset", "seed", "task", "score", "chosen", "chosen_val", "chosen_test_auroc", "oracle",
              "oracle_test_auroc", "regret", "rank_corr", "n_candidates", "n_val_normals", "n_val_anomalies",
              "validation_set", "weighting"]


# --------------------------------------------------------------------------- params
def read_config(params: BenchmarkParams) -> dict:
    """The checked ``select`` section as the plain dict the cells take, with the candidate
    grid; ``StageError`` names the parameter the library refuses."""
    config = params.select
    out = config.model_dump(include={"generator", "validation_fraction", "weighting", "q", "seeds", "candidates",
                                     "generator_detector", "generator_params"})
    try:
        score_weights(np.arange(2.0), out["weighting"], q=out["q"])         # a bad weighting or q fails here
        out["specs"] = candidate_grid(out["candidates"])
    except ValueError as error:
        raise StageError(f"params.yaml: select.{error}") from error
    out["device"] = None if config.device == "auto" else config.device
    return out


# --------------------------------------------------------------------------- cells
def _table(path: str) -> tuple[np.ndarray, pd.DataFrame]:
    """A prepared table, read once per process while the file is unchanged (a long-lived
    Dask worker sees many runs: ``stages.common.cached_table``)."""
    if not Path(path).is_file():
        raise StageError(f"{path}: not found; run the upstream stages first")
    return cached_table(path)


def model_cell(cell: dict) -> dict:
    """Model selection on one (dataset, seed): fit the candidates, select with every
    weighting, save the chosen models under ``cell['out']``. Returns the q3 rows, the
    candidate rows and ``{candidate: [scores that chose it]}``."""
    dataset, seed, config = cell["dataset"], cell["seed"], cell["config"]
    X_train, meta = _table(str(PREPARED_DIR / dataset / "train.parquet"))
    y_train = meta["y"].to_numpy().astype(np.int8)
    X_test, test_meta = _table(str(PREPARED_DIR / dataset / "test.parquet"))
    y_test = test_meta["y"].to_numpy().astype(np.int8)
    X_aux, weights_by_score = _validation_anomalies(dataset, config)
    fit, held = holdout_split(y_train, config["validation_fraction"], random_state=cell_seed(seed, dataset, "split"))
    held_normals, held_anomalies = held[y_train[held] == 0], held[y_train[held] == 1]
    if held_anomalies.size == 0:
        raise ValueError(f"dataset {dataset!r}: no held-out labelled anomaly for the {LABELLED!r} baseline "
                         f"({int(y_train.sum())} labelled anomalies in train.parquet; it needs 2 or more)")
    models = fit_candidates(config["specs"], X_train[fit], y_train[fit], random_state=cell_seed(seed, dataset),
                            device=config["device"])
    parts = {name: decisions(models, X) for name, X in
             (("normals", X_train[held_normals]), ("labelled", X_train[held_anomalies]), ("aux", X_aux),
              ("test", X_test))}
    rows, candidates, chosen_by = [], [], {}
    for score, anomaly_weights in weights_by_score.items():
        key = {"dataset": dataset, "seed": seed, "task": MODEL_TASK, "score": score}
        row, table = _select_one(key, parts, anomaly_weights, y_test, config)
        chosen_by.setdefault(row["chosen"], []).append(score)
        rows.append(row)
        candidates.append(table)
    from auxqual.detectors.registry import save_detector

    saved = {name: str(save_detector(models[name], Path(cell["out"]) / name)) for name in sorted(chosen_by)}
    ids = meta["row"].to_numpy()
    return {"rows": rows, "candidates": candidates, "chosen_by": chosen_by, "saved": saved,
            "fit_rows_sha256": lineage.sha256_rows(X_train[fit], ids=ids[fit]),
            "held_rows_sha256": lineage.sha256_rows(X_train[held], ids=ids[held])}


def _select_one(key: dict, parts: dict, anomaly_weights: np.ndarray | None, y_test: np.ndarray,
                config: dict) -> tuple[dict, pd.DataFrame]:
    """One weighting of one (dataset, seed): the validation set (held-out normals + the
    auxiliary rows, or the held-out labelled anomalies for ``labelled``), the choice, its
    q3 row and its candidate table."""
    score = key["score"]
    source = "labelled" if score == LABELLED else "aux"
    n_normals = next(iter(parts["normals"].values())).size
    val = {n: np.concatenate([parts["normals"][n], parts[source][n]]) for n in parts["normals"]}
    y_val = np.r_[np.zeros(n_normals), np.ones(next(iter(val.values())).size - n_normals)]
    try:
        result = select_model(val, y_val, validation_weights(y_val, anomaly_weights), test_decisions=parts["test"],
                              y_test=y_test, random_state=cell_seed(key["seed"], key["dataset"], "ties"))
    except ValueError as error:
        raise ValueError(f"dataset {key['dataset']!r}, seed {key['seed']}, score {score!r}: {error}") from error
    row = {**key, "chosen": result.chosen, "chosen_val": result.chosen_val_auroc,
           "chosen_test_auroc": result.chosen_test_auroc, "oracle": result.oracle,
           "oracle_test_auroc": result.oracle_test_auroc, "regret": result.regret, "rank_corr": result.spearman,
           "n_candidates": len(val), "n_val_normals": n_normals, "n_val_anomalies": y_val.size - n_normals,
           "validation_set": LABELLED if score == LABELLED else config["generator"],
           "weighting": "none" if score in (UNIFORM, LABELLED) else config["weighting"]}
    return row, result.table.rename(columns={"val_auroc": "val"}).assign(**key)


def _validation_anomalies(dataset: str, config: dict) -> tuple[np.ndarray, dict[str, np.ndarray | None]]:
    """The auxiliary rows of ``select.generator`` and, per weighting, their weights
    (``None`` = 1 each): every quality score, then ``uniform`` and ``labelled``."""
    generator = config["generator"]
    path = SCORES_DIR / dataset / f"{generator}.parquet"
    if not path.is_file():
        raise StageError(f"{path}: not found; select.generator {generator!r} must be one of generate.generators")
    X_aux, aux_meta = _table(str(AUX_DIR / dataset / f"{generator}.parquet"))
    scores = pd.read_parquet(path)
    if not np.array_equal(scores["aux_id"].to_numpy(), aux_meta["aux_id"].to_numpy()):
        raise StageError(f"{path}: its aux_id column does not match {AUX_DIR / dataset / f'{generator}.parquet'}")
    weights: dict[str, np.ndarray | None] = {
        score: score_weights(scores[score].to_numpy(), config["weighting"], q=config["q"],
                             random_state=cell_seed(0, dataset, generator, score))
        for score in score_columns(scores)}
    weights[UNIFORM] = None
    weights[LABELLED] = None
    return X_aux, weights


def generator_cell(cell: dict) -> dict:
    """Test AUROC of ``generator_detector`` trained on train + one whole auxiliary set,
    and that set's mean of every quality score."""
    from auxqual.detectors.registry import make_detector

    dataset, seed, generator, config = cell["dataset"], cell["seed"], cell["generator"], cell["config"]
    X_train, meta = _table(str(PREPARED_DIR / dataset / "train.parquet"))
    X_test, test_meta = _table(str(PREPARED_DIR / dataset / "test.parquet"))
    X_aux, _ = _table(str(AUX_DIR / dataset / f"{generator}.parquet"))
    scores = pd.read_parquet(SCORES_DIR / dataset / f"{generator}.parquet")
    detector = make_detector(config["generator_detector"], random_state=cell_seed(seed, dataset, generator),
                             device=config["device"], **config["generator_params"])
    try:
        detector.fit(np.vstack([X_train, X_aux]), np.r_[meta["y"].to_numpy(), np.ones(len(X_aux))].astype(np.int8))
    except ValueError as error:
        raise ValueError(f"dataset {dataset!r}, generator {generator!r}, select.generator_detector "
                         f"{config['generator_detector']!r}: {error}") from error
    auroc = weighted_auroc(test_meta["y"].to_numpy(), detector.decision_function(X_test), name="test")
    return {"test_auroc": auroc, "mean_quality": {s: float(scores[s].mean()) for s in score_columns(scores)}}


def _generator_rows(dataset: str, seed: int, results: dict[str, dict]) -> tuple[list[dict], list[pd.DataFrame]]:
    """q3 and candidate rows of generator selection on one (dataset, seed)."""
    rows, tables = [], []
    test = {g: r["test_auroc"] for g, r in results.items()}
    scores = list(dict.fromkeys(s for r in results.values() for s in r["mean_quality"]))
    for score in scores:
        quality = {g: r["mean_quality"][score] for g, r in results.items()}
        chosen = select_generator(quality, test, random_state=cell_seed(seed, dataset, score))
        key = {"dataset": dataset, "seed": seed, "task": GENERATOR_TASK, "score": score}
        rows.append({**key, "chosen": chosen.chosen, "chosen_val": float(quality[chosen.chosen]),
                     "chosen_test_auroc": chosen.chosen_test_auroc, "oracle": chosen.oracle,
                     "oracle_test_auroc": chosen.oracle_test_auroc, "regret": chosen.regret, "rank_corr": chosen.tau,
                     "n_candidates": len(results), "n_val_normals": 0, "n_val_anomalies": 0,
                     "validation_set": "", "weighting": "mean"})
        tables.append(chosen.table.rename(columns={"set": "candidate", "mean_quality": "val"}).assign(**key))
    return rows, tables


# --------------------------------------------------------------------------- main
def main() -> None:
    log = Log("select")
    remove_stale(Q3_PATH, CANDIDATES_PATH, METRICS_PATH)
    params, written = load_params_and_file()
    config = read_config(params)
    fanout = options_from_params(params)
    datasets = dataset_dirs(SCORES_DIR, "score")
    code_sha = lineage.code_sha256(stage_code_deps("select"))
    log(f"{len(datasets)} dataset(s) × {len(config['seeds'])} seed(s) × {len(config['specs'])} candidates; "
        f"validation set {config['generator']!r}, weighting {config['weighting']!r}")

    with publish_dir(SELECTED_MODELS_DIR) as staging:
        cells = [{"dataset": d, "seed": s, "config": config, "out": str(staging / d / f"seed{s}")}
                 for d in datasets for s in config["seeds"]]
        model_results = run_cells(model_cell, cells, desc="select models", **fanout)
        generator_cells = [{"dataset": d, "seed": s, "generator": p.stem, "config": config}
                           for d in datasets for s in config["seeds"]
                           for p in sorted((SCORES_DIR / d).glob("*.parquet"))]
        generator_results = run_cells(generator_cell, generator_cells, desc="select generators", **fanout)

        rows, tables = [], []
        for cell, result in zip(cells, model_results, strict=True):
            rows += result["rows"]
            tables += result["candidates"]
            _write_sidecars(cell, result, config, dict(written.get("select") or {}), code_sha, staging)
        for dataset in datasets:
            for seed in config["seeds"]:
                per_set = {c["generator"]: r for c, r in zip(generator_cells, generator_results, strict=True)
                           if c["dataset"] == dataset and c["seed"] == seed}
                if len(per_set) >= 2:
                    more_rows, more_tables = _generator_rows(dataset, seed, per_set)
                    rows += more_rows
                    tables += more_tables
        q3 = pd.DataFrame(rows, columns=Q3_COLUMNS)
        candidates = pd.concat(tables, ignore_index=True)[["dataset", "seed", "task", "score", "candidate", "val",
                                                           "test_auroc", "chosen", "oracle"]]
        write_parquet(q3, Q3_PATH)
        write_parquet(candidates, CANDIDATES_PATH)
        write_json(_metrics(q3), METRICS_PATH)
    log(f"wrote {Q3_PATH} ({len(q3)} rows), {CANDIDATES_PATH}, {METRICS_PATH} and the chosen models in "
        f"{SELECTED_MODELS_DIR}; mean regret (model): "
        + ", ".join(f"{s} {v:.3f}" for s, v in
                    q3[q3["task"] == MODEL_TASK].groupby("score", sort=False)["regret"].mean().items()))


def _metrics(q3: pd.DataFrame) -> dict:
    """Mean regret and rank correlation per task and score (``dvc metrics show``)."""
    out: dict = {"n_datasets": int(q3["dataset"].nunique()), "n_seeds": int(q3["seed"].nunique())}
    for task, group in q3.groupby("task", sort=True):
        means = group.groupby("score", sort=False)[["regret", "rank_corr"]].mean()
        out[f"q3_{task}_regret"] = {s: round(float(v), 6) for s, v in means["regret"].items()}
        out[f"q3_{task}_rank_corr"] = {s: (None if np.isnan(v) else round(float(v), 6))
                                       for s, v in means["rank_corr"].items()}
    return out


def _write_sidecars(cell: dict, result: dict, config: dict, section_params: dict, code_sha: str,
                    staging: Path) -> None:
    """A lineage sidecar for every chosen model: the training rows it was fitted on, the
    held-out training rows it was validated on, the auxiliary set whose rows (weighted by
    the scores that chose it) completed the validation set, if any, and those scores."""
    dataset = cell["dataset"]
    train_path = PREPARED_DIR / dataset / "train.parquet"
    aux_path = AUX_DIR / dataset / f"{config['generator']}.parquet"
    specs = {s.name: s for s in config["specs"]}
    for name, saved in result["saved"].items():
        spec = specs[name]
        final = SELECTED_MODELS_DIR / Path(saved).relative_to(staging)
        scores = [s for s in result["chosen_by"][name] if s != LABELLED]
        inputs = [{"role": "train", "path": str(train_path), "sha256": _file_sha(train_path), "dataset": dataset,
                   "selected_rows_sha256": result["fit_rows_sha256"]},
                  {"role": "validation", "path": str(train_path), "sha256": _file_sha(train_path),
                   "dataset": dataset, "selected_rows_sha256": result["held_rows_sha256"],
                   "note": "held-out training rows: normals, and the labelled anomalies of the 'labelled' baseline"}]
        if scores:
            inputs.append({"role": "validation", "path": str(aux_path), "sha256": _file_sha(aux_path),
                           "dataset": dataset, "generator": config["generator"], "scores": scores,
                           "weighting": {s: "none" if s == UNIFORM else config["weighting"] for s in scores}})
        record = lineage.LineageRecord(
            model_path=str(final),
            created_by={"stage": "select", "detector": spec.detector, "detector_params": dict(spec.params),
                        "candidate": name, "seed": cell["seed"], "chosen_by": list(result["chosen_by"][name])},
            inputs=inputs, params={"select": section_params}, code_sha256=code_sha, dataset=dataset)
        lineage.write_sidecar(saved, record)


@functools.cache
def _file_sha(path: Path) -> str:
    return lineage.sha256_file(path)


if __name__ == "__main__":
    main_wrapper("select", main)
