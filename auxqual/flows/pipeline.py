"""``dvc repro`` as a Prefect flow: one task per stage, in DAG order.

    python -m auxqual.flows.pipeline                                  # the repository in the current folder
    python -m auxqual.flows.pipeline --repo PATH --set train.random_state=1 --set "train.q=[0, 50]"

What a run does:

1. Takes the repository's slot: a Prefect global concurrency limit named
   ``auxqual-repro-<folder>-<hash of its path>`` with one slot (created on first use), so
   two flow runs never run ``dvc repro`` in one repository at the same time; the second
   waits up to ``slot_timeout`` seconds (visible in the UI under Concurrency). A run
   killed while holding the slot frees it when its lease expires (5 minutes).
2. Applies ``--set key=value`` to params.yaml (as ``dvc exp run -S`` does in the workspace;
   values are YAML). A run whose stage fails puts params.yaml back as it was and runs
   ``dvc checkout --force <stage>``, which restores from DVC's cache the outputs of the
   failing stage (those DVC removed before running it, and any it wrote before it failed or
   was killed): the workspace holds the last good results again.
3. Reads ``dvc status --json`` (which stages changed and why) and ``dvc dag`` (the order),
   then runs ``dvc repro --single-item <stage>`` as one task per stage that changed or is
   downstream of one (the others are up to date: DVC would skip them). A stage's output
   lines go to the run's logs. A task that finds the repository locked by another DVC
   process (``dvc repro`` by hand, ``dvc exp``) is retried ``busy_retries`` times,
   ``busy_retry_delay`` seconds apart; any other failure fails the run at once.
4. Publishes artifacts (keys ``<prefix>-metrics``, ``<prefix>-lineage``,
   ``<prefix>-run-summary``; ``prefix`` = ``auxqual`` by default): a table of the metrics
   (metrics.json: Q1 AUROC and Q2 mean AUROC per score, and per detector), a table of the
   lineage rows this run wrote (rows of results/lineage.parquet whose model file or
   anomaly set is new since the run started), and a markdown summary of which stages
   re-ran and why (the summary is published for failed runs too, naming the stage that
   failed).

Stages whose fan-out runs on the ``prefect`` or ``dask`` runner report to the same
Prefect API as this flow (``PREFECT_API_URL`` is passed down to them).

A project made by ``auxqual init`` (its params.yaml has an ``inputs`` section; ``auxqual
run`` runs this flow, ``auxqual schedule`` serves it nightly) is run the same way, with
three more steps:

- before ``dvc status``, ``dvc add`` of the input files named in params.yaml ``inputs``
  (task ``dvc-add-inputs``), so that a data file replaced since the last run (a nightly
  snapshot of data/train.parquet) is recorded and its stages re-run; when no file changed
  it only re-reads DVC's hashes;
- on success (task ``record-run``, still holding the repository's slot): the run's record
  ``runs/<UTC yyyymmddTHHMMSSZ>-<short flow run id>.json`` (schema ``auxqual.run/1``: inputs
  and their sha256, the decision, the validation AUROC and interval, the model and its
  sha256, the stages that ran; see ``auxqual.project.runs``), then one git commit
  ``auxqual run <id>: <set>/<score>/q<q>/<detector>, val AUROC <x>`` of dvc.lock, the
  inputs' .dvc files, params.yaml, results/*.json and the other outputs dvc.yaml keeps out
  of DVC's cache (reports/), the record and the .gitignore files DVC changed
  (``auxqual.project.runs.list_runs`` finds the records and their commits). A record that
  a stage of this run wrote (the gate stage names the run by ``AUXQUAL_FLOW_RUN_ID``, which
  every stage gets) is completed rather than written twice;
- artifacts: ``<prefix>-decision`` (markdown: the decision, its AUROC, the model, the
  inputs), besides the run summary and the lineage table (no metrics table: a project has
  no metrics.json).

A failed run of a project records and commits nothing: params.yaml is put back and the
outputs of the last good run restored (``dvc checkout``) as above; the inputs' .dvc files
keep describing the data now in the workspace (so ``dvc checkout`` never puts an older
snapshot over a newer one) and stay uncommitted until a run with them completes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from prefect import flow, get_client, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from auxqual.flows.dvcrepo import (
    DvcCommandError,
    RepoBusyError,
    affected_stages,
    apply_overrides,
    check_overrides,
    check_repo,
    describe_changes,
    load_params,
    parse_overrides,
    pipeline_status,
    repo_slug,
    restore_params,
    run_dvc,
    stage_key,
    stage_order,
)
from auxqual.project import runs as project_runs

FLOW_NAME = "auxqual-pipeline"
DEFAULT_BUSY_RETRIES = 3
DEFAULT_BUSY_RETRY_DELAY = 30.0
DEFAULT_SLOT_TIMEOUT = 3600.0
LINEAGE_PATH = Path("results/lineage.parquet")
METRICS_PATH = Path("metrics.json")
LINEAGE_KEY = ("model_path", "model_sha256", "anomaly_set_sha256")
LINEAGE_COLUMNS = ("model_path", "dataset", "generator", "score", "detector", "q", "n_rows", "model_sha256",
                   "anomaly_set_sha256")
MAX_TABLE_ROWS = 2000


# --------------------------------------------------------------------------- retries while busy
def retry_when_busy(task_obj: Any, task_run: Any, state: Any) -> bool:
    """Retry a dvc task only when DVC could not take the repository lock."""
    error = state.data if isinstance(state.data, BaseException) else None
    if error is None:
        try:
            state.result()
        except BaseException as raised:  # the failed state re-raises its exception
            error = raised
    return isinstance(error, RepoBusyError)


def _dvc_task(name: str, **options: Any):
    return task(name=name, cache_policy=NO_CACHE, persist_result=False, retry_condition_fn=retry_when_busy,
                retries=DEFAULT_BUSY_RETRIES, retry_delay_seconds=DEFAULT_BUSY_RETRY_DELAY, **options)


@_dvc_task("dvc-status")
def read_status(repo: str, env: dict[str, str]) -> dict[str, list]:
    """``dvc status --json`` before the run: the stages that changed and why."""
    status = pipeline_status(Path(repo), env=env)
    get_run_logger().info("dvc status: %s", json.dumps(status, sort_keys=True) if status else "up to date")
    return status


def _log_lines(logger: logging.Logger | logging.LoggerAdapter[logging.Logger]) -> Callable[[str], None]:
    """A ``run_dvc(on_line=...)`` callback: each non-blank output line of a DVC command becomes a log line."""
    def log(line: str) -> None:
        if line.strip():
            logger.info("%s", line)
    return log


@_dvc_task("dvc-dag")
def read_dag(repo: str, env: dict[str, str]) -> tuple[list[str], dict[str, list[str]]]:
    order, upstream = stage_order(Path(repo), env=env)
    return order, {stage: sorted(names) for stage, names in upstream.items()}


@_dvc_task("repro", task_run_name="repro-{stage}")
def repro_stage(repo: str, stage: str, env: dict[str, str]) -> dict[str, Any]:
    """``dvc repro --single-item <stage>``; its output lines become this task's logs."""
    logger = get_run_logger()
    logger.info("dvc repro --single-item %s", stage)
    try:
        result = run_dvc(Path(repo), "repro", "--single-item", stage, env=env,
                         on_line=_log_lines(logger))
    except RepoBusyError as error:
        logger.warning("%s", error)
        raise
    except DvcCommandError as error:
        logger.error("%s", error)
        raise
    outcome = ("ran" if stage in result.ran else "restored from run cache" if stage in result.restored
               else "unchanged")
    return {"stage": stage, "outcome": outcome, "seconds": round(result.seconds, 1)}


@_dvc_task("dvc-add-inputs")
def add_inputs(repo: str, paths: list[str], env: dict[str, str]) -> list[str]:
    """``dvc add`` of a project's input files: a file replaced since the last run is hashed,
    cached and its .dvc file updated; returns the inputs whose .dvc file changed."""
    logger = get_run_logger()
    root = Path(repo)
    before = {p: _read_bytes(root / f"{p}.dvc") for p in paths}
    try:
        run_dvc(root, "add", "--quiet", *paths, env=env,
                on_line=_log_lines(logger))
    except (RepoBusyError, DvcCommandError) as error:
        logger.error("%s", error)
        raise
    changed = [p for p in paths if _read_bytes(root / f"{p}.dvc") != before[p]]
    logger.info("dvc add %s: %s", " ".join(paths), f"new data: {', '.join(changed)}" if changed else "unchanged")
    return changed


def _read_bytes(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


@task(name="record-run", cache_policy=NO_CACHE, persist_result=False)
def record_run(repo: str, started: str, stages: dict[str, str], flow_run_id: str,
               flow_run_name: str) -> dict[str, Any]:
    """Write the run's record under runs/ and commit it with the pipeline's state (see
    ``auxqual.project.runs``); when the commit fails, the record is removed again (or, if
    a stage of this run wrote it, put back as that stage wrote it)."""
    logger = get_run_logger()
    root = Path(repo)
    params = load_params(root)
    record = project_runs.build_record(root, params, flow_run_id=flow_run_id, flow_run_name=flow_run_name,
                                       started=datetime.fromisoformat(started), finished=datetime.now(UTC),
                                       stages=stages)
    written = project_runs.record_of_flow_run(root, flow_run_id) if flow_run_id != "local" else None
    if written is not None:  # a stage of this run (AUXQUAL_FLOW_RUN_ID) wrote it: complete that one
        logger.info("completing %s, written by a stage of this run", written["record"])
        record = project_runs.complete_record(written, record)
    path = project_runs.write_record(root, record)
    commit = None
    if project_runs.is_git_repo(root):
        try:
            commit = project_runs.commit_run(root, params, record, path)
        except BaseException:
            if written is None:
                path.unlink(missing_ok=True)
            else:  # the stage's record as the stage wrote it
                project_runs.write_record(root, {k: v for k, v in written.items() if k != "record"})
            raise
        logger.info("recorded %s in git commit %s: %s", path.relative_to(root), commit[:12],
                    project_runs.commit_message(record))
    else:
        logger.warning("%s is not a git repository: recorded %s, committed nothing", root, path.relative_to(root))
    return {**record, "commit": commit, "record": path.relative_to(root).as_posix()}


# --------------------------------------------------------------------------- one slot per repository
@contextlib.contextmanager
def repository_slot(name: str, timeout: float | None) -> Iterator[None]:
    """Hold the single slot of the global concurrency limit ``name`` (created with limit 1
    if missing) while the body runs."""
    from prefect.concurrency.sync import concurrency

    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(name, limit=1)
    try:
        with concurrency(name, occupy=1, timeout_seconds=timeout, strict=True):
            yield
    except TimeoutError as error:
        raise RepoBusyError(f"repository busy: another run held concurrency slot {name!r} for more than "
                            f"{timeout} s") from error


def slot_name(repo: Path) -> str:
    return f"auxqual-repro-{repo_slug(repo)}"


def _stage_env() -> dict[str, str]:
    """What a stage subprocess needs to report fan-out tasks to this flow's Prefect API, and
    this flow run's id (``AUXQUAL_FLOW_RUN_ID``: a stage that records the run names it)."""
    with get_client(sync_client=True) as client:
        env = {"PREFECT_API_URL": str(client.api_url).rstrip("/")}
    flow_run_id, _ = _flow_run_names()
    if flow_run_id != "local":
        env["AUXQUAL_FLOW_RUN_ID"] = flow_run_id
    return env


# --------------------------------------------------------------------------- the flow
@flow(name=FLOW_NAME, description="dvc repro of the auxqual pipeline, one task per stage", persist_result=False)
def pipeline(repo: str = ".", overrides: list[str] | None = None, busy_retries: int = DEFAULT_BUSY_RETRIES,
             busy_retry_delay: float = DEFAULT_BUSY_RETRY_DELAY, slot_timeout: float | None = DEFAULT_SLOT_TIMEOUT,
             artifact_prefix: str = "auxqual") -> dict[str, Any]:
    """Reproduce the pipeline of ``repo`` (see the module docstring)."""
    logger = get_run_logger()
    started_at = datetime.now(UTC)
    path = check_repo(repo)
    values = parse_overrides(overrides)
    env = _stage_env()
    options = {"retries": int(busy_retries), "retry_delay_seconds": float(busy_retry_delay)}
    status_task, dag_task, repro_task, add_task = (t.with_options(**options)
                                                   for t in (read_status, read_dag, repro_stage, add_inputs))
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    failing: str | None = None
    project = False
    new_inputs: list[str] = []
    record: dict[str, Any] | None = None
    with repository_slot(slot_name(path), slot_timeout):
        if values:  # wait out a busy repository before touching params.yaml under another DVC process
            status_task.with_options(name="dvc-status-preflight")(str(path), env)
        previous_params = apply_overrides(path, values)
        if values:
            logger.info("params.yaml: %s", ", ".join(f"{k}={v!r}" for k, v in values.items()))
        try:
            params = load_params(path)
            project = project_runs.is_project(params)
            if project:  # a nightly snapshot of the inputs is recorded before DVC compares hashes
                new_inputs = add_task(str(path), list(project_runs.input_paths(params).values()), env)
            status = status_task(str(path), env)
            order, upstream = dag_task(str(path), env)
            todo = affected_stages(order, {k: set(v) for k, v in upstream.items()}, status)
            before = _lineage_keys(path)
            reasons = _reasons(order, upstream, status, todo)
            rows = [{"stage": s, "outcome": "pending" if s in todo else "up to date", "seconds": None,
                     "why": reasons[s]} for s in order]
            by_stage = {row["stage"]: row for row in rows}
            for stage in todo:
                failing = stage
                by_stage[stage]["outcome"] = "failed"  # until its task returns
                result = repro_task(str(path), stage, env)
                by_stage[stage].update(outcome=result["outcome"], seconds=result["seconds"])
            failing = None
        except BaseException as error:
            restore_params(path, previous_params)
            if isinstance(error, DvcCommandError):
                _restore_outputs(path, env, failing)
            for row in rows:
                if row["outcome"] == "pending":
                    row["outcome"] = "not reached"
            try:
                _publish_summary(artifact_prefix, path, values, rows, time.perf_counter() - started, error=error,
                                 new_inputs=new_inputs)
            except Exception as publish_error:  # never hide the run's own error
                logger.warning("could not publish the run summary: %s", publish_error)
            raise
        if project:  # still holding the slot: no other run commits in between
            try:
                outcomes = {row["stage"]: row["outcome"] for row in rows
                            if not row["stage"].endswith(".dvc")}  # the DAG's .dvc nodes: the inputs
                record = record_run(str(path), started_at.isoformat(), outcomes, *_flow_run_names())
            except BaseException as error:
                try:
                    _publish_summary(artifact_prefix, path, values, rows, time.perf_counter() - started,
                                     error=error, new_inputs=new_inputs)
                except Exception as publish_error:
                    logger.warning("could not publish the run summary: %s", publish_error)
                raise
    seconds = time.perf_counter() - started
    _publish_summary(artifact_prefix, path, values, rows, seconds, new_inputs=new_inputs)
    metrics = {} if project else _publish_metrics(artifact_prefix, path)
    try:
        new_rows = _publish_lineage(artifact_prefix, path, before)
    except Exception as publish_error:  # an artifact never fails a run whose work is done
        logger.warning("could not publish the lineage table: %s", publish_error)
        new_rows = 0
    if record is not None:
        create_markdown_artifact(markdown=project_runs.markdown_summary(record), key=f"{artifact_prefix}-decision",
                                 description=f"The decision of run {record['run_id']} of {path}")
    ran = [row["stage"] for row in rows if row["outcome"] == "ran"]
    logger.info("pipeline done in %.1f s: ran %s; %d new lineage row(s)", seconds, ran or "nothing", new_rows)
    result = {"repo": str(path), "stages": rows, "ran": ran, "metrics": metrics, "new_lineage_rows": new_rows,
              "seconds": round(seconds, 1)}
    if record is not None:
        result.update(run_id=record["run_id"], record=record["record"], commit=record["commit"],
                      decision=record["decision"], val_auroc=record["val_auroc"], new_inputs=new_inputs,
                      verdict=record.get("verdict"), promoted=record.get("promoted"))
        _act_on_gate(path, record)
    return result


class GateFailed(RuntimeError):
    """The quality gate failed: the run is recorded, its model was not promoted."""


def gate_event_payload(repo: Path, record: dict[str, Any]) -> dict[str, Any]:
    """What an ``auxqual.gate.*`` event carries: the project, the run, the verdict and every
    metric that crossed a level, with its value, last good value and threshold."""
    crossed = [{k: m.get(k) for k in ("set", "name", "level", "value", "last_good", "change", "threshold")}
               for m in record.get("gate") or [] if m.get("level") != "pass"]
    return {"project": str(repo), "run_id": record["run_id"], "verdict": record["verdict"],
            "promoted": record.get("promoted"), "note": record.get("note"), "commit": record.get("commit"),
            "model_sha256": (record.get("model") or {}).get("sha256"),
            "production_sha256": (record.get("production") or {}).get("sha256"), "metrics": crossed}


def _act_on_gate(repo: Path, record: dict[str, Any]) -> None:
    """Emit ``auxqual.gate.warned`` or ``auxqual.gate.failed`` (for Prefect automations); a
    failed gate then fails the flow run with the reason in one line."""
    from prefect.events import emit_event

    verdict = record.get("verdict")
    if verdict not in ("warn", "fail"):
        return
    payload = gate_event_payload(repo, record)
    event = "auxqual.gate.failed" if verdict == "fail" else "auxqual.gate.warned"
    emit_event(event=event, resource={"prefect.resource.id": f"auxqual.project.{repo_slug(repo)}",
                                      "prefect.resource.name": repo.name},
               payload=payload)
    crossed = ", ".join(f"{m['set'] + ':' if m['set'] else ''}{m['name']} {_short(m['last_good'])} -> "
                        f"{_short(m['value'])}" for m in payload["metrics"] if m["level"] == verdict)
    get_run_logger().warning("quality gate %s (run %s): %s", verdict, record["run_id"], crossed)
    if verdict == "fail":
        raise GateFailed(f"quality gate failed (run {record['run_id']}): {crossed}; models/production keeps the "
                         f"last good model, the candidate is in models/candidate")


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _flow_run_names() -> tuple[str, str]:
    """This flow run's id and name (``local``, ``""`` outside a flow run)."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    flow_run = context.flow_run if context is not None else None
    return (str(flow_run.id), str(flow_run.name)) if flow_run is not None else ("local", "")


def _restore_outputs(repo: Path, env: dict[str, str], stage: str | None = None) -> None:
    """After a failed stage: ``dvc checkout`` puts back, from DVC's cache, the outputs that
    DVC removed before running the stage, so the workspace holds the last good results
    (those recorded in dvc.lock) again. With ``stage``: ``dvc checkout --force <stage>``,
    which also replaces what the stage wrote before it failed or was killed (DVC refuses
    to overwrite such unsaved files without ``--force``), and touches nothing else."""
    logger = get_run_logger()
    args = ("checkout", "--force", stage) if stage else ("checkout",)
    try:
        run_dvc(repo, *args, env=env)
        logger.warning("restored the outputs recorded in dvc.lock (dvc %s) after the failure", " ".join(args))
    except (DvcCommandError, RepoBusyError) as error:
        logger.warning("could not restore the previous outputs: %s", error)


def _reasons(order: Sequence[str], upstream: dict[str, list[str]], status: dict[str, list],
             todo: Sequence[str]) -> dict[str, str]:
    own = {stage_key(name): describe_changes(changes) for name, changes in status.items()}
    reasons = {}
    for stage in order:
        parts = []
        if stage in own:
            parts.append(own[stage])
        changed_up = [name for name in upstream.get(stage, []) if name in todo]
        if changed_up:
            parts.append("upstream may change: " + ", ".join(changed_up))
        reasons[stage] = "; ".join(parts) or "-"
    return reasons


# --------------------------------------------------------------------------- artifacts
def _publish_summary(prefix: str, repo: Path, values: dict[str, Any], rows: list[dict[str, Any]], seconds: float,
                     error: BaseException | None = None, new_inputs: Sequence[str] = ()) -> None:
    lines = [f"# auxqual pipeline run: {'FAILED' if error else 'completed'} in {seconds:.1f} s", "",
             f"Repository: `{repo}`", ""]
    if new_inputs:
        lines += ["New input data (dvc add): " + ", ".join(f"`{p}`" for p in new_inputs), ""]
    if values:
        lines += ["Overrides: " + ", ".join(f"`{k}={json.dumps(v)}`" for k, v in values.items()), ""]
    if error is not None:
        lines += [f"**Cause:** `{type(error).__name__}: {error}`", ""]
    if rows:
        lines += ["| stage | outcome | seconds | why (dvc status before the run) |", "| --- | --- | --- | --- |"]
        for row in rows:
            secs = "" if row["seconds"] is None else f"{row['seconds']:.1f}"
            lines.append(f"| {row['stage']} | {row['outcome']} | {secs} | {row['why'].replace('|', '/')} |")
        if all(row["outcome"] == "up to date" for row in rows):
            lines += ["", "Data and pipelines were up to date: nothing to run."]
    create_markdown_artifact(markdown="\n".join(lines) + "\n", key=f"{prefix}-run-summary",
                             description=f"Which stages of {repo} re-ran and why")


def _publish_metrics(prefix: str, repo: Path) -> dict[str, Any]:
    path = repo / METRICS_PATH
    if not path.is_file():
        return {}
    metrics = json.loads(path.read_text(encoding="utf-8"))
    q1, q2 = metrics.get("q1_auroc", {}), metrics.get("q2_mean_auroc", {})
    by_detector = metrics.get("q2_mean_auroc_by_detector", {})
    table = []
    for score in dict.fromkeys([*q1, *q2]):
        row: dict[str, Any] = {"score": score, "q1_auroc": q1.get(score), "q2_mean_auroc": q2.get(score)}
        for detector in sorted(by_detector):
            row[f"q2_mean_auroc_{detector}"] = by_detector[detector].get(score)
        table.append(row)
    create_table_artifact(table=table, key=f"{prefix}-metrics",
                          description=(f"{repo}/metrics.json: {metrics.get('n_datasets')} dataset(s), "
                                       f"{metrics.get('n_models')} model(s); Q2 = mean test AUROC over q > 0"))
    return metrics


def _lineage_keys(repo: Path) -> set[tuple]:
    try:
        table = _read_lineage(repo)
    except Exception as error:  # an unreadable table only means no lineage artifact
        get_run_logger().warning("could not read %s: %s", LINEAGE_PATH, error)
        return set()
    if table is None:
        return set()
    return set(map(tuple, table[list(LINEAGE_KEY)].astype(str).itertuples(index=False, name=None)))


def _read_lineage(repo: Path):
    import pandas as pd

    path = repo / LINEAGE_PATH
    if not path.is_file():
        return None
    table = pd.read_parquet(path)
    return table if set(LINEAGE_KEY) <= set(table.columns) else None


def _publish_lineage(prefix: str, repo: Path, before: set[tuple]) -> int:
    table = _read_lineage(repo)
    if table is None:
        return 0
    keys = table[list(LINEAGE_KEY)].astype(str).itertuples(index=False, name=None)
    new = table[[key not in before for key in keys]]
    columns = [c for c in LINEAGE_COLUMNS if c in new.columns]
    shown = new[columns].head(MAX_TABLE_ROWS)
    records = json.loads(shown.to_json(orient="records"))
    note = f" (first {MAX_TABLE_ROWS})" if len(new) > MAX_TABLE_ROWS else ""
    create_table_artifact(table=records if records else {c: [] for c in columns}, key=f"{prefix}-lineage",
                          description=f"{len(new)} lineage row(s) written by this run{note}: models of "
                                      f"{repo}/{LINEAGE_PATH} whose file or anomaly set is new")
    return len(new)


# --------------------------------------------------------------------------- command line
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m auxqual.flows.pipeline", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", default=".", help="root of the DVC repository (default: the current folder)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a parameter of params.yaml for this run (YAML value), repeatable")
    parser.add_argument("--busy-retries", type=int, default=DEFAULT_BUSY_RETRIES,
                        help="retries of a dvc task while another DVC process holds the repository lock")
    parser.add_argument("--busy-retry-delay", type=float, default=DEFAULT_BUSY_RETRY_DELAY, help="seconds")
    parser.add_argument("--slot-timeout", type=float, default=DEFAULT_SLOT_TIMEOUT,
                        help="seconds to wait for another flow run in the same repository to finish")
    parser.add_argument("--artifact-prefix", default="auxqual", help="prefix of the artifact keys")
    args = parser.parse_args(argv)
    try:
        return run_once(args.repo, args.overrides, busy_retries=args.busy_retries,
                        busy_retry_delay=args.busy_retry_delay, slot_timeout=args.slot_timeout,
                        artifact_prefix=args.artifact_prefix)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def run_once(repo: str = ".", overrides: Sequence[str] | None = None, *, busy_retries: int = DEFAULT_BUSY_RETRIES,
             busy_retry_delay: float = DEFAULT_BUSY_RETRY_DELAY, slot_timeout: float | None = DEFAULT_SLOT_TIMEOUT,
             artifact_prefix: str = "auxqual", out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the flow once on ``repo`` and print each stage's outcome (and, for a project, its
    record and commit); 0 when the run completed, 1 when it failed. A bad repository or
    override is a ``ValueError``, raised before the run starts."""
    out, err = out or sys.stdout, err or sys.stderr
    check_overrides(load_params(check_repo(repo)), overrides)  # a typo fails here, before the run
    state = pipeline(repo=repo, overrides=list(overrides) if overrides else None, busy_retries=busy_retries,
                     busy_retry_delay=busy_retry_delay, slot_timeout=slot_timeout, artifact_prefix=artifact_prefix,
                     return_state=True)
    if not state.is_completed():
        print(f"pipeline run {state.name}: {state.message}", file=err)
        return 1
    result = state.result()
    for row in result["stages"]:
        print(f"{row['stage']:<10} {row['outcome']:<24} {row['why']}", file=out)
    if result.get("record"):
        commit = result.get("commit")
        print(f"recorded {result['record']}" + (f" in commit {commit[:12]}" if commit else " (not committed)")
              + f": {project_runs.describe_decision(result['decision'])}, val AUROC "
              + ("n/a" if result.get("val_auroc") is None else f"{result['val_auroc']:.4f}"), file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
