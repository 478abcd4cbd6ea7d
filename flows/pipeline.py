"""``dvc repro`` as a Prefect flow: one task per stage, in DAG order.

    python -m flows.pipeline                                  # the repository in the current folder
    python -m flows.pipeline --repo PATH --set train.random_state=1 --set "train.q=[0, 50]"

What a run does:

1. Takes the repository's slot: a Prefect global concurrency limit named
   ``auxqual-repro-<folder>-<hash of its path>`` with one slot (created on first use), so
   two flow runs never run ``dvc repro`` in one repository at the same time; the second
   waits up to ``slot_timeout`` seconds (visible in the UI under Concurrency). A run
   killed while holding the slot frees it when its lease expires (5 minutes).
2. Applies ``--set key=value`` to params.yaml (as ``dvc exp run -S`` does in the workspace;
   values are YAML). A run whose stage fails puts params.yaml back as it was and runs
   ``dvc checkout``, which restores from DVC's cache the outputs DVC removed before running
   the failing stage: the workspace holds the last good results again.
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
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from prefect import flow, get_client, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.dvcrepo import (DvcCommandError, RepoBusyError, affected_stages, apply_overrides, check_overrides,
                           check_repo, describe_changes, load_params, parse_overrides, pipeline_status, repo_slug,
                           restore_params, run_dvc, stage_key, stage_order)

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
                         on_line=lambda line: line.strip() and logger.info("%s", line))
    except RepoBusyError as error:
        logger.warning("%s", error)
        raise
    except DvcCommandError as error:
        logger.error("%s", error)
        raise
    outcome = ("ran" if stage in result.ran else "restored from run cache" if stage in result.restored
               else "unchanged")
    return {"stage": stage, "outcome": outcome, "seconds": round(result.seconds, 1)}


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
    """What a stage subprocess needs to report fan-out tasks to this flow's Prefect API."""
    with get_client(sync_client=True) as client:
        return {"PREFECT_API_URL": str(client.api_url).rstrip("/")}


# --------------------------------------------------------------------------- the flow
@flow(name=FLOW_NAME, description="dvc repro of the auxqual pipeline, one task per stage", persist_result=False)
def pipeline(repo: str = ".", overrides: list[str] | None = None, busy_retries: int = DEFAULT_BUSY_RETRIES,
             busy_retry_delay: float = DEFAULT_BUSY_RETRY_DELAY, slot_timeout: float | None = DEFAULT_SLOT_TIMEOUT,
             artifact_prefix: str = "auxqual") -> dict[str, Any]:
    """Reproduce the pipeline of ``repo`` (see the module docstring)."""
    logger = get_run_logger()
    path = check_repo(repo)
    values = parse_overrides(overrides)
    env = _stage_env()
    options = {"retries": int(busy_retries), "retry_delay_seconds": float(busy_retry_delay)}
    status_task, dag_task, repro_task = (t.with_options(**options) for t in (read_status, read_dag, repro_stage))
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    with repository_slot(slot_name(path), slot_timeout):
        if values:  # wait out a busy repository before touching params.yaml under another DVC process
            status_task.with_options(name="dvc-status-preflight")(str(path), env)
        previous_params = apply_overrides(path, values)
        if values:
            logger.info("params.yaml: %s", ", ".join(f"{k}={v!r}" for k, v in values.items()))
        try:
            status = status_task(str(path), env)
            order, upstream = dag_task(str(path), env)
            todo = affected_stages(order, {k: set(v) for k, v in upstream.items()}, status)
            before = _lineage_keys(path)
            reasons = _reasons(order, upstream, status, todo)
            rows = [{"stage": s, "outcome": "pending" if s in todo else "up to date", "seconds": None,
                     "why": reasons[s]} for s in order]
            by_stage = {row["stage"]: row for row in rows}
            for stage in todo:
                by_stage[stage]["outcome"] = "failed"  # until its task returns
                result = repro_task(str(path), stage, env)
                by_stage[stage].update(outcome=result["outcome"], seconds=result["seconds"])
        except BaseException as error:
            restore_params(path, previous_params)
            if isinstance(error, DvcCommandError):
                _restore_outputs(path, env)
            for row in rows:
                if row["outcome"] == "pending":
                    row["outcome"] = "not reached"
            try:
                _publish_summary(artifact_prefix, path, values, rows, time.perf_counter() - started, error=error)
            except Exception as publish_error:  # never hide the run's own error
                logger.warning("could not publish the run summary: %s", publish_error)
            raise
    seconds = time.perf_counter() - started
    _publish_summary(artifact_prefix, path, values, rows, seconds)
    metrics = _publish_metrics(artifact_prefix, path)
    new_rows = _publish_lineage(artifact_prefix, path, before)
    ran = [row["stage"] for row in rows if row["outcome"] == "ran"]
    logger.info("pipeline done in %.1f s: ran %s; %d new lineage row(s)", seconds, ran or "nothing", new_rows)
    return {"repo": str(path), "stages": rows, "ran": ran, "metrics": metrics, "new_lineage_rows": new_rows,
            "seconds": round(seconds, 1)}


def _restore_outputs(repo: Path, env: dict[str, str]) -> None:
    """After a failed stage: ``dvc checkout`` puts back, from DVC's cache, the outputs that
    DVC removed before running the stage, so the workspace holds the last good results
    (those recorded in dvc.lock) again."""
    logger = get_run_logger()
    try:
        run_dvc(repo, "checkout", env=env)
        logger.warning("restored the outputs recorded in dvc.lock (dvc checkout) after the failure")
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
                     error: BaseException | None = None) -> None:
    lines = [f"# auxqual pipeline run: {'FAILED' if error else 'completed'} in {seconds:.1f} s", "",
             f"Repository: `{repo}`", ""]
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
    table = _read_lineage(repo)
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
    return int(len(new))


# --------------------------------------------------------------------------- command line
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.pipeline", description=__doc__.split("\n\n")[0])
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
        check_overrides(load_params(check_repo(args.repo)), args.overrides)  # a typo fails here, before the run
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    state = pipeline(repo=args.repo, overrides=args.overrides or None, busy_retries=args.busy_retries,
                     busy_retry_delay=args.busy_retry_delay, slot_timeout=args.slot_timeout,
                     artifact_prefix=args.artifact_prefix, return_state=True)
    if not state.is_completed():
        print(f"pipeline run {state.name}: {state.message}", file=sys.stderr)
        return 1
    result = state.result()
    for row in result["stages"]:
        print(f"{row['stage']:<10} {row['outcome']:<24} {row['why']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
