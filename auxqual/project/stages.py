"""The stages of a production project, run by ``dvc repro`` as ``auxqual stage <name>``.

    validate ─► generate ─► score ─► select ─► train ─► evaluate ─► gate ─► lineage ─► card

Each stage reads ``params.yaml`` (checked against ``auxqual.project.params`` first) and
its input files, calls the library, and writes its outputs atomically (a file through a
temporary name, a folder through a hidden staging folder renamed into place): a stage that
fails leaves the last run's outputs as they were. Paths are relative to the project root.

- ``validate``: every input checked (``auxqual.userdata.load_project_data``), and the
  training table's schema compared with the last run's record ``results/schema.json``.
- ``generate``: each generator of ``generate.generators`` fitted on (a seeded sample of) the
  training table; ``data/generated/<name>.parquet`` keeps the training columns' names.
- ``score``: every quality score fitted once on a seeded sample of at most
  ``score.max_train_rows`` training rows, every set scored: ``data/scores/<set>.parquet``;
  the sample is reported in ``results/scoring.json``.
- ``select``: every candidate (set × score × q × detector) fitted and judged on one
  validation set (``auxqual.production``): ``results/selection.json``.
- ``train``: the chosen candidate fitted again: ``models/candidate/model.{pt,joblib}`` and
  its lineage sidecar.
- ``evaluate``: the candidate's validation AUROC with a bootstrap interval:
  ``results/evaluation.json``.
- ``gate``: this run against the last good run (``auxqual.gate``), ``results/gate.json``;
  unless the verdict is ``fail`` the candidate is promoted to ``models/production/`` (a
  ``fail`` leaves the last good model there, byte for byte); the run is recorded in
  ``runs/<run id>.json`` (``auxqual.project.runs``).
- ``card``: the production model's audit card, ``reports/card.{md,json,html}``.
- ``lineage``: the sidecars under ``models/`` as one table, ``results/lineage.parquet``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auxqual import lineage
from auxqual.io import publish_dir, write_json, write_parquet
from auxqual.project.layout import (
    CANDIDATE_DIR,
    EVALUATION,
    GATE_RECORD,
    GENERATED_DIR,
    LINEAGE_TABLE,
    MODEL_STEM,
    PRODUCTION_DIR,
    SCHEMA_RECORD,
    SCORES_DIR,
    SCORING_RECORD,
    SELECTION,
)
from auxqual.project.params import ProjectParams, load_project_params
from auxqual.userdata import (
    ProjectData,
    UserTable,
    align_to,
    check_schema_unchanged,
    describe,
    load_project_data,
    load_user_table,
)

SELECTION_SCHEMA = "auxqual.selection/1"


def log(message: str) -> None:
    """One progress line on stderr (DVC shows it; a Prefect flow logs it)."""
    print(f"auxqual: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- shared reading
def _inputs(params: ProjectParams) -> ProjectData:
    """Every input table of the run (user sets only; generated sets are read by name)."""
    return load_project_data(params.inputs.train, params.inputs.validation, params.inputs.aux)


def _labels(table: UserTable) -> np.ndarray:
    """The training table's ``y``: ``load_user_table(role="train")`` refuses a table without one."""
    if table.y is None:
        raise ValueError(f"{table.path}: the training table has no y column")
    return table.y


def _all_sets(params: ProjectParams, data: ProjectData) -> dict[str, np.ndarray]:
    """Every auxiliary set's rows in the training table's column order, by name."""
    sets = dict(data.X_aux)
    for name in params.generate.generators:
        path = GENERATED_DIR / f"{name}.parquet"
        table = load_user_table(path, role="aux")
        sets[name] = align_to(data.train, table)
    return dict(sorted(sets.items()))


def _set_paths(params: ProjectParams) -> dict[str, str]:
    return dict(sorted(params.sets(GENERATED_DIR.as_posix()).items()))


def _scores(sets: dict[str, np.ndarray]) -> dict[str, pd.DataFrame]:
    out = {}
    for name, X in sets.items():
        frame = pd.read_parquet(SCORES_DIR / f"{name}.parquet")
        if len(frame) != X.shape[0]:
            raise ValueError(f"{SCORES_DIR / f'{name}.parquet'}: {len(frame)} rows for {X.shape[0]} rows of set "
                             f"{name!r}; run `dvc repro` again (the scores are stale)")
        out[name] = frame
    return out


# --------------------------------------------------------------------------- validate
def validate(params: ProjectParams) -> None:
    """Check every input and the training schema against the last run; write the record."""
    current = dict(load_user_table(params.inputs.train, role="train").dtypes)  # tonight vs last run, first
    if SCHEMA_RECORD.is_file():
        try:
            previous = json.loads(SCHEMA_RECORD.read_text(encoding="utf-8"))["features"]
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise ValueError(f"{SCHEMA_RECORD}: unreadable schema record of the last run ({error}); restore it "
                             "from git, or delete it to start a new schema") from error
        check_schema_unchanged(previous, current, path=params.inputs.train, record=str(SCHEMA_RECORD))
    data = _inputs(params)
    record: dict[str, Any] = {
        "features": current, "train": describe(data.train),
        "validation": None if data.validation is None else describe(data.validation),
        "aux": {name: describe(table) for name, table in sorted(data.aux.items())}}
    write_json(record, SCHEMA_RECORD)
    log(f"validate: {data.train.n_rows} training rows ({record['train']['normals']} normal, "
        f"{record['train']['anomalies']} labelled anomalies), {len(current)} features, "
        f"{len(data.aux)} auxiliary set(s){'' if data.validation is None else ', a validation table'}")


# --------------------------------------------------------------------------- generate
def generate(params: ProjectParams) -> None:
    """Each configured generator, fitted on a seeded sample of the training table."""
    from auxqual.generators import make
    from auxqual.sampling import sample_training_rows
    from auxqual.userdata import as_float_frame

    train = load_user_table(params.inputs.train, role="train")
    config = params.generate
    y = _labels(train)
    rows = sample_training_rows(y, config.max_train_rows, random_state=config.seed)
    with publish_dir(GENERATED_DIR) as staging:
        for name, spec in sorted(config.generators.items()):
            start = time.perf_counter()
            try:
                table = make(name, **spec.params).generate(train.X[rows], y[rows], spec.n_samples,
                                                           random_state=config.seed)
            except ValueError as error:
                raise ValueError(f"generate.generators.{name}: {error}") from error
            X = table[[f"x{j}" for j in range(train.X.shape[1])]].to_numpy(dtype=np.float64)
            write_parquet(as_float_frame(X, train.columns), staging / f"{name}.parquet")
            write_json({"generator": name, "params": spec.params, "n_samples": spec.n_samples, "seed": config.seed,
                        "fitted_on_rows": int(rows.size), "train_rows": train.n_rows}, staging / f"{name}.json")
            log(f"generate: {name}: {spec.n_samples} rows in {time.perf_counter() - start:.1f} s")
        (staging / ".keep").write_text("", encoding="utf-8")


# --------------------------------------------------------------------------- score
def score(params: ProjectParams) -> None:
    """Every quality score fitted once on a seeded sample, every set scored."""
    from auxqual.quality.registry import make_scorer, score_with_std
    from auxqual.sampling import sample_training_rows

    data = _inputs(params)
    sets = _all_sets(params, data)
    config = params.score
    y = _labels(data.train)
    rows = sample_training_rows(y, config.max_train_rows, random_state=config.seed)
    X_fit, y_fit = data.train.X[rows], y[rows]
    columns: dict[str, dict[str, np.ndarray]] = {name: {"row": np.arange(X.shape[0])} for name, X in sets.items()}
    timings = {}
    for score_name in config.scores:
        start = time.perf_counter()
        scorer = make_scorer(score_name, **config.params.get(score_name, {}))
        log(f"score: fitting {score_name} on {rows.size} of {data.train.n_rows} training rows")
        scorer.fit(X_fit, y_fit)
        for name, X in sets.items():
            values, std = score_with_std(scorer, X)
            if not np.isfinite(values).all():
                raise ValueError(f"score {score_name!r} on set {name!r}: {int((~np.isfinite(values)).sum())} NaN or "
                                 "infinite score(s); rescale the data")
            if values.size > 1 and np.all(values == values[0]):  # as `auxqual score`: a warning, not an error
                log(f"warning: score {score_name!r} on set {name!r}: all {values.size} scores are equal; they rank "
                    "nothing")
            columns[name][score_name] = values
            if std is not None:
                columns[name][f"{score_name}_std"] = std
        timings[score_name] = round(time.perf_counter() - start, 3)
        log(f"score: {score_name} done in {timings[score_name]:.1f} s")
    with publish_dir(SCORES_DIR) as staging:
        for name, frame in columns.items():
            write_parquet(pd.DataFrame(frame), staging / f"{name}.parquet")
    write_json({"train_rows": data.train.n_rows, "fitted_rows": int(rows.size), "max_train_rows": config.max_train_rows,
                "sample_seed": config.seed, "sampled": bool(rows.size < data.train.n_rows),
                "labelled_anomalies_kept": int(y_fit.sum()), "scores": list(config.scores),
                "sets": {name: int(X.shape[0]) for name, X in sets.items()}}, SCORING_RECORD)


# --------------------------------------------------------------------------- select
class _Context:
    """What select, train and evaluate share: the data, the split and the validation set."""

    def __init__(self, params: ProjectParams) -> None:
        from auxqual.production import make_split, validation_set

        self.params = params
        self.data = _inputs(params)
        self.y_train = _labels(self.data.train)
        self.sets = _all_sets(params, self.data)
        self.scores = _scores(self.sets)
        config = params.select
        self.split = make_split(self.y_train, {n: X.shape[0] for n, X in self.sets.items()},
                                labelled_validation=self.data.validation is not None,
                                validation_fraction=config.validation_fraction,
                                aux_validation_fraction=config.aux_validation_fraction,
                                max_fit_rows=config.max_fit_rows,
                                max_validation_normals=config.max_validation_normals, random_state=config.seed)
        y_validation = None if self.data.validation is None else self.data.validation.y
        self.validation = validation_set(self.split, self.data.train.X, self.sets, self.scores,
                                         params.score.scores, X_validation=self.data.X_validation,
                                         y_validation=y_validation)
        self.device = None if config.device == "auto" else config.device

    def fit(self, candidate: Any) -> tuple[Any, np.ndarray]:
        """The fitted detector of ``candidate`` and the auxiliary rows it trained with."""
        from auxqual.detectors.registry import make_detector
        from auxqual.production import training_data

        X, y, rows = training_data(candidate, self.split, self.data.train.X, self.y_train, self.sets,
                                   self.scores, random_state=self.params.select.seed)
        try:
            model = make_detector(candidate.detector, random_state=self.params.select.seed, device=self.device,
                                  **candidate.detector_params)
            model.fit(X, y)
        except ValueError as error:
            raise ValueError(f"select.detectors.{candidate.detector}: {error}") from error
        return model, rows


def select(params: ProjectParams) -> None:
    """Fit every candidate, judge each on the validation set, write the decision."""
    from auxqual.production import candidates, choose, selected_aux_rows

    context = _Context(params)
    grid = candidates(list(context.sets), params.score.scores, params.select.q, params.select.detectors)
    log(f"select: {len(grid)} candidates on {context.split.fit_rows.size} training rows; validation "
        f"({context.validation.method}): {context.validation.n_normals} normals, "
        f"{context.validation.n_anomalies} anomalies")
    start = time.perf_counter()

    seen: dict[tuple, np.ndarray] = {}  # candidates that train on the same rows (q = 100 of every score) fit once

    def fit_and_decide(candidate: Any) -> np.ndarray:
        rows = selected_aux_rows(candidate, context.split, context.scores, random_state=params.select.seed)
        key = (candidate.set if rows.size else "", rows.tobytes(), candidate.detector,
               json.dumps(candidate.detector_params, sort_keys=True))
        if key not in seen:
            seen[key] = context.fit(candidate)[0].decision_function(context.validation.X)
        return seen[key]

    def progress(i: int, n: int, candidate: Any, auroc: float) -> None:
        log(f"select: [{i}/{n}] {candidate.name}: validation AUROC {auroc:.4f} "
            f"({time.perf_counter() - start:.0f} s)")

    decision = choose(grid, fit_and_decide, context.validation, random_state=params.select.seed, progress=progress)
    write_json(selection_record(context, decision), SELECTION)
    chosen = decision.chosen
    log(f"select: chose set {chosen.set or '(none)'}, score {chosen.score or '-'}, q {chosen.q:g}, detector "
        f"{chosen.detector}: validation AUROC {decision.val_auroc:.4f}")


def selection_record(context: _Context, decision: Any) -> dict[str, Any]:
    """The content of ``results/selection.json``."""
    chosen = decision.chosen
    alternatives = [{k: (None if v == "" else v) for k, v in row.items()}
                    for row in decision.table.to_dict(orient="records")]
    paths = _set_paths(context.params)
    return {
        "schema": SELECTION_SCHEMA,
        "chosen": {"set": chosen.set or None, "set_path": paths.get(chosen.set), "score": chosen.score or None,
                   "q": chosen.q, "detector": chosen.detector, "detector_params": chosen.detector_params,
                   "val_auroc": decision.val_auroc},
        "validation": {"method": context.validation.method, "n_normals": context.validation.n_normals,
                       "n_anomalies": context.validation.n_anomalies,
                       "validation_file": context.params.inputs.validation},
        "fit_rows": int(context.split.fit_rows.size),
        "sets": {name: {"path": paths[name], "rows": int(X.shape[0]),
                        "fit_rows": int(context.split.aux_fit_rows[name].size),
                        "validation_rows": int(context.split.aux_val_rows[name].size)}
                 for name, X in context.sets.items()},
        "alternatives": alternatives,
    }


# --------------------------------------------------------------------------- train
def _chosen(context: _Context) -> Any:
    from auxqual.production import Candidate

    try:
        chosen = json.loads(SELECTION.read_text(encoding="utf-8"))["chosen"]
        return Candidate(chosen["set"] or "", chosen["score"] or "", float(chosen["q"]), chosen["detector"],
                         dict(chosen["detector_params"] or {}))
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{SELECTION}: unreadable selection ({error}); run `dvc repro select`") from error


def train(params: ProjectParams) -> None:
    """Fit the chosen candidate again and save it with its lineage sidecar."""
    from auxqual.detectors.registry import save_detector

    context = _Context(params)
    candidate = _chosen(context)
    model, rows = context.fit(candidate)
    with publish_dir(CANDIDATE_DIR) as staging:
        path = save_detector(model, staging / MODEL_STEM)
        final = CANDIDATE_DIR / path.name
        lineage.write_sidecar(path, _lineage_record(context, candidate, rows, final))
    log(f"train: wrote {final} ({candidate.detector}, {context.split.fit_rows.size} training rows + {rows.size} "
        f"auxiliary rows of {candidate.set or 'no set'})")


def _lineage_record(context: _Context, candidate: Any, rows: np.ndarray, final: Path) -> lineage.LineageRecord:
    params = context.params
    fit_rows = context.split.fit_rows
    fit_rows_sha256 = lineage.sha256_rows(context.data.train.X[fit_rows], ids=fit_rows)
    inputs: list[dict[str, Any]] = [{"role": "train", "path": params.inputs.train,
                                     "sha256": lineage.sha256_file(params.inputs.train),
                                     "n_rows": context.data.train.n_rows, "fit_rows_sha256": fit_rows_sha256}]
    if params.inputs.validation:
        inputs.append({"role": "validation", "path": params.inputs.validation,
                       "sha256": lineage.sha256_file(params.inputs.validation)})
    paths = _set_paths(params)
    for name in context.sets:
        used = name == candidate.set and rows.size > 0
        entry = {"role": "auxiliary" if used else "considered", "path": paths[name],
                 "sha256": lineage.sha256_file(paths[name]), "set": name,
                 "generator": name if name in params.generate.generators else "file",
                 "n_set_rows": int(context.sets[name].shape[0])}
        if used:
            scores = SCORES_DIR / f"{name}.parquet"  # the scores that chose the rows: `lineage --verify` re-hashes it
            entry.update(score=candidate.score, q=candidate.q, n_rows=int(rows.size),
                         selected_rows_sha256=lineage.sha256_rows(context.sets[name][rows], ids=rows),
                         scores_path=scores.as_posix(), scores_sha256=lineage.sha256_file(scores))
        inputs.append(entry)
    snapshot = lineage.code_sha256([i["path"] for i in inputs], root=".")
    return lineage.LineageRecord(
        model_path=str(final),
        created_by={"stage": "train", "detector": candidate.detector, "detector_params": candidate.detector_params,
                    "auxqual_version": _version()},
        inputs=inputs,
        params={"select": params.select.model_dump(), "score": params.score.model_dump(),
                "generate": params.generate.model_dump(), "data_snapshot_sha256": snapshot},
        code_sha256=package_code_sha256(),
        dataset="production",
    )


def package_code_sha256() -> str:
    """The content hash of the installed auxqual package (every module of it)."""
    package = Path(__file__).resolve().parent.parent
    return lineage.code_sha256([package.name], root=package.parent)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("auxqual")
    except PackageNotFoundError:  # pragma: no cover - a source tree without metadata
        return "unknown"


def model_in(folder: Path) -> Path:
    """The model file under ``folder`` (``ValueError`` when there is not exactly one)."""
    found = sorted(p for p in folder.glob(f"{MODEL_STEM}.*") if not p.name.endswith(lineage.SIDECAR_SUFFIX))
    if len(found) != 1:
        raise ValueError(f"{folder}: expected one model file, found {[p.name for p in found]}")
    return found[0]


def production_model() -> Path:
    """The model file under ``models/production/``."""
    return model_in(PRODUCTION_DIR)


# --------------------------------------------------------------------------- evaluate
def evaluate(params: ProjectParams) -> None:
    """The production model's validation AUROC with a bootstrap interval."""
    from auxqual.detectors.registry import load_detector
    from auxqual.production import bootstrap_auroc
    from auxqual.selection import weighted_auroc

    context = _Context(params)
    path = model_in(CANDIDATE_DIR)
    model = load_detector(path)
    decision = np.asarray(model.decision_function(context.validation.X), dtype=np.float64)
    auroc = weighted_auroc(context.validation.y, decision, context.validation.weights, name=str(path))
    low, high = bootstrap_auroc(context.validation, decision, n_resamples=params.evaluate.bootstrap,
                                level=params.evaluate.level, random_state=params.select.seed)
    selection = json.loads(SELECTION.read_text(encoding="utf-8"))
    write_json({"model": str(path), "model_sha256": lineage.sha256_file(path), "val_auroc": auroc,
                "val_auroc_low": low, "val_auroc_high": high, "level": params.evaluate.level,
                "validation": selection["validation"], "chosen": selection["chosen"]}, EVALUATION)
    log(f"evaluate: {path}: validation AUROC {auroc:.4f} [{low:.4f}, {high:.4f}]")



# --------------------------------------------------------------------------- gate
def run_metrics(params: ProjectParams) -> dict[str, Any]:
    """This run's gated metrics (``auxqual.gate.compare``'s input) from its files."""
    from auxqual.gate import quality_summary

    selection = json.loads(SELECTION.read_text(encoding="utf-8"))
    evaluation = json.loads(EVALUATION.read_text(encoding="utf-8"))
    sets: dict[str, Any] = {}
    for name in _set_paths(params):
        frame = pd.read_parquet(SCORES_DIR / f"{name}.parquet")
        summary = quality_summary({c: frame[c].to_numpy() for c in frame.columns if c != "row"})
        own = [a for a in selection["alternatives"] if a["set"] == name]
        best = max(own, key=lambda a: a["val_auroc"]) if own else None
        summary["kept_share"] = 0.0 if best is None else float(best["q"]) / 100.0
        sets[name] = summary
    chosen = selection["chosen"]
    return {"sets": sets, "val_auroc": evaluation["val_auroc"],
            "val_auroc_interval": [evaluation["val_auroc_low"], evaluation["val_auroc_high"]],
            "decision": {k: chosen[k] for k in ("set", "score", "q", "detector", "detector_params")}}


def _last_good_run(root: Path) -> dict[str, Any] | None:
    """The newest recorded run whose model was promoted; ``ValueError`` when the records are
    unreadable, or when a production model exists that no record vouches for."""
    from auxqual.project.runs import list_runs

    good = [r for r in list_runs(root) if r.get("promoted")]
    production = sorted(p for p in PRODUCTION_DIR.glob(f"{MODEL_STEM}.*")
                        if not p.name.endswith(lineage.SIDECAR_SUFFIX))
    if not good:
        if production:
            raise ValueError(f"{production[0]} exists but no run record in runs/ names a promoted model: the "
                             "gate cannot find the last good run (restore runs/ from git, or delete "
                             f"{PRODUCTION_DIR} to start again)")
        return None
    last = good[-1]
    if "metrics" not in last or "model" not in last:
        raise ValueError(f"{last.get('record', 'runs/')}: the last good run's record has no metrics; it cannot be "
                         "compared with")
    actual = lineage.sha256_file(production[0]) if production else None
    if actual != last["model"]["sha256"]:
        raise ValueError(f"{PRODUCTION_DIR}: holds sha256 {str(actual)[:12]}…, but the last good run "
                         f"{last['run_id']} promoted {last['model']['sha256'][:12]}…; the production folder or "
                         "the run records were changed by hand")
    return last


def gate(params: ProjectParams) -> None:
    """Compare this run with the last good run, promote unless it fails, record the run."""
    from datetime import datetime

    from auxqual.gate import FAIL, PASS, compare, rules_from_params, verdict
    from auxqual.project.runs import make_run_id, write_record

    started = datetime.now(UTC)
    current = run_metrics(params)
    last = _last_good_run(Path("."))
    if last is None:
        results, level = [], PASS
        note = "first run: nothing to compare with, passed"
    else:
        results = compare(current, last["metrics"], rules_from_params(params.gate.model_dump()))
        level = verdict(results)
        crossed = [f"{r.set + ':' if r.set else ''}{r.name}" for r in results if r.level != PASS]
        note = f"compared with run {last['run_id']}: " + (f"{level} on {', '.join(crossed)}" if crossed
                                                          else "every metric within its tolerance")
    candidate = model_in(CANDIDATE_DIR)
    candidate_sha = lineage.sha256_file(candidate)
    promoted = level != FAIL
    if promoted:
        _promote(candidate)
    run_id = make_run_id(started, os.environ.get("AUXQUAL_FLOW_RUN_ID") or candidate_sha)
    production = production_model() if promoted or PRODUCTION_DIR.is_dir() else None
    record = {
        "schema": "auxqual.gate/1", "run_id": run_id, "verdict": level, "note": note,
        "baseline_run": None if last is None else last["run_id"], "promoted": promoted,
        "candidate": {"path": candidate.as_posix(), "sha256": candidate_sha},
        "production": None if production is None else {"path": production.as_posix(),
                                                       "sha256": lineage.sha256_file(production)},
        "metrics": [r.to_dict() for r in results],
    }
    write_json(record, GATE_RECORD)
    write_record(".", _run_record(params, record, current, started))
    log(f"gate: {level.upper()}: {note}; "
        + ("promoted the candidate to models/production" if promoted else
           f"NOT promoted: {PRODUCTION_DIR} keeps the last good model; the candidate stays in {CANDIDATE_DIR}"))


def _promote(candidate: Path) -> None:
    """Copy the candidate and its sidecar (with the production path) into ``models/production``."""
    with publish_dir(PRODUCTION_DIR) as staging:
        target = staging / candidate.name
        shutil.copyfile(candidate, target)
        record = lineage.read_sidecar(candidate)
        record.model_path = (PRODUCTION_DIR / candidate.name).as_posix()
        lineage.write_sidecar(target, record)


def _run_record(params: ProjectParams, gate_record: dict[str, Any], metrics: dict[str, Any],
                started: Any) -> dict[str, Any]:
    """The run's record (``runs/<run id>.json``); the flow adds its own fields to it."""
    from auxqual.project.runs import RUN_SCHEMA, utc_iso

    evaluation = json.loads(EVALUATION.read_text(encoding="utf-8"))
    selection = json.loads(SELECTION.read_text(encoding="utf-8"))
    inputs = {"train": {"path": params.inputs.train, "sha256": lineage.sha256_file(params.inputs.train)},
              "validation": None if not params.inputs.validation else
              {"path": params.inputs.validation, "sha256": lineage.sha256_file(params.inputs.validation)},
              "aux": {name: {"path": path, "sha256": lineage.sha256_file(path)}
                      for name, path in sorted(params.inputs.aux.items())}}
    return {"schema": RUN_SCHEMA, "run_id": gate_record["run_id"], "started": utc_iso(started),
            "finished": None, "flow_run_id": os.environ.get("AUXQUAL_FLOW_RUN_ID"), "flow_run_name": None,
            "inputs": inputs, "decision": selection["chosen"], "val_auroc": evaluation["val_auroc"],
            "val_auroc_low": evaluation["val_auroc_low"], "val_auroc_high": evaluation["val_auroc_high"],
            "level": evaluation["level"], "model": gate_record["candidate"], "verdict": gate_record["verdict"],
            "promoted": gate_record["promoted"], "note": gate_record["note"],
            "production": gate_record["production"], "metrics": metrics,
            "gate": gate_record["metrics"], "commit": None}


def card(params: ProjectParams) -> None:
    """The production model's audit card, ``reports/card.{md,json,html}``."""
    from auxqual.card import write_card

    written = write_card(production_model(), root=".", out=None)
    log(f"card: wrote {', '.join(str(p) for p in written.values())}")

# --------------------------------------------------------------------------- lineage
def lineage_table(params: ProjectParams) -> None:
    """Every sidecar under ``models/`` as ``results/lineage.parquet``."""
    table = lineage.collect_lineage("models")
    write_parquet(table, LINEAGE_TABLE)
    log(f"lineage: {len(table)} row(s) in {LINEAGE_TABLE}")


STAGES: dict[str, Callable[[ProjectParams], None]] = {
    "validate": validate, "generate": generate, "score": score, "select": select, "train": train,
    "evaluate": evaluate, "gate": gate, "lineage": lineage_table, "card": card,
}


def run_stage(name: str, root: str | os.PathLike = ".") -> None:
    """Run stage ``name`` in the project at ``root`` (params checked first)."""
    if name not in STAGES:
        raise ValueError(f"unknown stage {name!r}; expected one of {list(STAGES)}")
    previous = Path.cwd()
    os.chdir(root)
    try:
        STAGES[name](load_project_params("."))
    finally:
        os.chdir(previous)
