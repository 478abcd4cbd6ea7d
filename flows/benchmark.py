"""The pipeline over a folder of ADBench datasets: one Prefect task per dataset, one
Q1 / Q2 table for all of them.

    python -m flows.benchmark --folder ../shared/datasets/adbench/tabular \\
        --datasets cardio,Pima,yeast --workers 2 --set score.params.eap.n_subsets=20
    python -m flows.benchmark --folder ... --runner dask                       # a local Dask cluster
    python -m flows.benchmark --folder ... --runner dask --address tcp://scheduler:8786

How it reuses the pipeline (the choice, and why): each dataset runs the real pipeline,
``dvc repro evaluate``, in its own fresh DVC repository (a copy of dvc.yaml, .dvcignore,
stages/ and auxqual/ from ``--source``, with the source's params.yaml plus ``--set``
overrides plus ``data.path=<folder>`` and ``data.datasets=[<dataset>]``). So a benchmark
runs exactly the stages, params and code that ``dvc repro`` runs, datasets never share a
DVC lock (they run in parallel), and a dataset that fails (too few anomalies, a broken
file) fails only its own task. The copy is made inside the task, on the machine that runs
it: a Dask worker needs the source checkout and the data folder at the same paths (a
shared file system), and writes its copy under ``--workdir`` (default: its temp folder). On this machine
(threads, or a local Dask cluster) each dataset's stages get ``cores // workers`` BLAS /
OpenMP threads (``OMP_NUM_THREADS`` ...; values already set in the environment win), so
parallel datasets do not oversubscribe the cores.

Outputs in ``--out`` (default ``results/benchmark``), written atomically:
``q1.parquet`` and ``q2.parquet`` (every dataset's rows), ``summary.csv`` /
``summary.md`` (per dataset and score: Q1 AUROC, Q2 mean AUROC over q > 0, AUROC at
q = 0, and the mean over datasets) and ``failures.csv`` (dataset, error) when some failed.
The summary is also a table artifact (key ``benchmark-summary``) and the report a
markdown artifact (``benchmark-report``). The run fails when every dataset failed, or
when any failed with ``--strict``; the tables of the others are written first.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_client, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.dvcrepo import DvcCommandError, check_overrides, copy_pipeline, load_params, run_dvc, set_nested

FLOW_NAME = "auxqual-benchmark"
RUNNERS = ("threads", "dask")
DEFAULT_OUT = "results/benchmark"
TARGET_STAGE = "evaluate"
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


# --------------------------------------------------------------------------- one dataset
@task(name="dataset", task_run_name="{dataset}", cache_policy=NO_CACHE, persist_result=False)
def run_dataset(source: str, dataset: str, params: dict[str, Any], env: dict[str, str], workdir: str | None = None,
                keep: bool = False) -> dict[str, Any]:
    """``dvc repro evaluate`` of one dataset in a fresh copy of the pipeline; its Q1 and
    Q2 tables."""
    logger = get_run_logger()
    start = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix=f"auxqual-bench-{dataset}-", dir=workdir))
    try:
        copy_pipeline(Path(source), root, params, env=env)
        logger.info("%s: dvc repro %s in %s", dataset, TARGET_STAGE, root)
        try:
            run_dvc(root, "repro", TARGET_STAGE, env=env, on_line=lambda line: logger.debug("%s", line))
        except DvcCommandError as error:
            logger.error("dataset %s: %s", dataset, error)
            raise
        q1 = pd.read_parquet(root / "results/q1.parquet")
        q2 = pd.read_parquet(root / "results/q2.parquet")
        seconds = time.perf_counter() - start
        logger.info("%s: %d Q1 rows, %d Q2 rows in %.1f s", dataset, len(q1), len(q2), seconds)
        return {"dataset": dataset, "q1": q1, "q2": q2, "seconds": seconds}
    finally:
        if keep:
            logger.info("%s: kept %s", dataset, root)
        else:
            shutil.rmtree(root, ignore_errors=True)


def dataset_params(base: dict[str, Any], folder: Path, dataset: str) -> dict[str, Any]:
    params = json.loads(json.dumps(base))
    set_nested(params, "data.path", str(folder), create=True)
    set_nested(params, "data.datasets", [dataset], create=True)
    return params


def resolve_datasets(folder: Path, names: Sequence[str] | None) -> list[str]:
    """The dataset names (file stems) of ``folder``: all of them, or ``names`` resolved as
    prepare does (``cardio`` finds ``6_cardio.npz``)."""
    from auxqual.datasets import dataset_files, resolve_dataset

    files = dataset_files(folder)
    if not names:
        return list(files)
    resolved = [resolve_dataset(str(name), files) for name in names]
    if len(set(resolved)) != len(resolved):
        raise ValueError(f"datasets: a dataset is named twice: {list(names)}")
    return resolved


# --------------------------------------------------------------------------- the flow
def _task_runner(runner: str, workers: int, address: str | None, api_url: str):
    if runner == "threads":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=workers)
    if runner == "dask":
        from prefect_dask import DaskTaskRunner

        if address:
            return DaskTaskRunner(address=address)
        # one single-threaded worker process per dataset slot: each runs `dvc repro`, whose
        # stages are processes of their own; the workers report to this flow's Prefect API
        return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True,
                                              "env": {"PREFECT_API_URL": api_url}})
    raise ValueError(f"runner: expected one of {list(RUNNERS)}, got {runner!r}")


@flow(name=FLOW_NAME, description="the auxqual pipeline over many datasets, one task per dataset",
      persist_result=False)
def benchmark(folder: str, datasets: list[str] | None = None, overrides: list[str] | None = None,
              out: str = DEFAULT_OUT, workers: int = 2, runner: str = "threads", address: str | None = None,
              source: str = ".", strict: bool = False, workdir: str | None = None,
              keep: bool = False) -> dict[str, Any]:
    """Run the pipeline on every dataset of ``folder`` (or ``datasets``); see the module
    docstring."""
    logger = get_run_logger()
    source_path = Path(source).expanduser().resolve()
    folder_path = Path(folder).expanduser().resolve()
    out_path = Path(out).expanduser()
    if not out_path.is_absolute():
        out_path = source_path / out_path
    if workers < 1:
        raise ValueError(f"workers: must be a positive integer, got {workers}")
    names = resolve_datasets(folder_path, datasets)
    base = load_params(source_path)
    for key, value in check_overrides(base, overrides).items():  # a key not in params.yaml is an error
        set_nested(base, key, value)
    with get_client(sync_client=True) as client:
        env = {"PREFECT_API_URL": str(client.api_url).rstrip("/")}
    if not address:  # datasets share this machine's cores: no oversubscribed BLAS / OpenMP / torch threads
        threads = str(max(1, (os.cpu_count() or 1) // workers))
        env.update({name: os.environ.get(name, threads) for name in THREAD_VARS})
    logger.info("%d dataset(s) on %s (%s worker(s)%s): %s", len(names), runner, workers,
                f", scheduler {address}" if address else "", names)
    start = time.perf_counter()
    with _task_runner(runner, workers, address, env["PREFECT_API_URL"]) as task_runner:
        futures = [task_runner.submit(run_dataset, parameters={
            "source": str(source_path), "dataset": name, "params": dataset_params(base, folder_path, name),
            "env": env, "workdir": workdir, "keep": keep}) for name in names]
        done, failures = [], {}
        for name, future in zip(names, futures):
            try:
                done.append(future.result())
            except Exception as error:  # this dataset's task failed, or the cluster could not run it
                failures[name] = failure_message(error)
    seconds = time.perf_counter() - start
    summary = write_outputs(out_path, done, failures)
    _publish(summary, failures, out_path, seconds)
    logger.info("benchmark: %d dataset(s) done, %d failed, in %.1f s; tables in %s", len(done), len(failures),
                seconds, out_path)
    if failures and (strict or not done):
        raise RuntimeError(f"{len(failures)} of {len(names)} dataset(s) failed: "
                           + "; ".join(f"{k}: {v}" for k, v in failures.items()))
    return {"out": str(out_path), "datasets": [d["dataset"] for d in done], "failures": failures,
            "seconds": round(seconds, 1), "dataset_seconds": {d["dataset"]: round(d["seconds"], 1) for d in done},
            "summary": summary.to_dict(orient="records")}


def failure_message(error: BaseException) -> str:
    """One line with the real cause of a dataset's failure: the exception of its task, or
    the one the Dask scheduler or worker raised when it could not run the task (a module
    it cannot import, a worker lost too often). ``future.state`` would only say PENDING
    there: a task that never started has no state in the Prefect API."""
    return f"{type(error).__name__}: {' '.join(str(error).split()) or '(no message)'}"


# --------------------------------------------------------------------------- outputs
def summarise(q1: pd.DataFrame, q2: pd.DataFrame) -> pd.DataFrame:
    """Per dataset and score: Q1 AUROC, Q2 mean AUROC over q > 0, AUROC at q = 0."""
    from auxqual.metrics import q2_summary

    columns = ["dataset", "score", "q1_auroc", "q2_mean_auroc", "q2_auroc_q0"]
    if q1.empty and q2.empty:
        return pd.DataFrame(columns=columns)
    left = q1[["dataset", "score", "auroc"]].rename(columns={"auroc": "q1_auroc"})
    right = q2_summary(q2, by=("dataset", "score")).rename(columns={"mean_auroc": "q2_mean_auroc",
                                                                       "auroc_q0": "q2_auroc_q0"})
    table = left.merge(right[["dataset", "score", "q2_mean_auroc", "q2_auroc_q0"]], on=["dataset", "score"],
                       how="outer", sort=False)
    return table.sort_values(["dataset"], kind="mergesort").reset_index(drop=True)[columns]


def write_outputs(out: Path, done: list[dict[str, Any]], failures: dict[str, str]) -> pd.DataFrame:
    from auxqual.io import write_parquet, write_text

    done = sorted(done, key=lambda d: d["dataset"])
    q1 = pd.concat([d["q1"] for d in done], ignore_index=True) if done else pd.DataFrame()
    q2 = pd.concat([d["q2"] for d in done], ignore_index=True) if done else pd.DataFrame()
    summary = summarise(q1, q2)
    out.mkdir(parents=True, exist_ok=True)
    if done:
        write_parquet(q1, out / "q1.parquet")
        write_parquet(q2, out / "q2.parquet")
    write_text(summary.to_csv(index=False, float_format="%.6f", lineterminator="\n"), out / "summary.csv")
    write_text(summary_markdown(summary, failures), out / "summary.md")
    failures_path = out / "failures.csv"
    if failures:
        frame = pd.DataFrame({"dataset": list(failures), "error": list(failures.values())})
        write_text(frame.to_csv(index=False, lineterminator="\n"), failures_path)
    elif failures_path.exists():
        failures_path.unlink()
    return summary


def summary_markdown(summary: pd.DataFrame, failures: dict[str, str]) -> str:
    lines = ["# auxqual benchmark: Q1 and Q2 per dataset", "",
             "Q1: AUROC of the score at ranking realistic auxiliary anomalies first. "
             "Q2: test AUROC of detectors trained with the top q % by the score, mean over q > 0 "
             "(and at q = 0, without auxiliary anomalies).", ""]
    if len(summary):
        lines += ["| dataset | score | Q1 AUROC | Q2 mean AUROC | AUROC q=0 |", "| --- | --- | --- | --- | --- |"]
        for row in summary.itertuples(index=False):
            lines.append(f"| {row.dataset} | {row.score} | {row.q1_auroc:.3f} | {row.q2_mean_auroc:.3f} | "
                         f"{row.q2_auroc_q0:.3f} |")
        means = summary.groupby("score", sort=False)[["q1_auroc", "q2_mean_auroc", "q2_auroc_q0"]].mean()
        n = summary["dataset"].nunique()
        for score, row in means.iterrows():
            lines.append(f"| **mean of {n}** | {score} | {row.q1_auroc:.3f} | {row.q2_mean_auroc:.3f} | "
                         f"{row.q2_auroc_q0:.3f} |")
    if failures:
        lines += ["", f"## {len(failures)} dataset(s) failed", ""]
        lines += [f"- **{name}**: {message.replace(chr(10), ' ')}" for name, message in failures.items()]
    return "\n".join(lines) + "\n"


def _publish(summary: pd.DataFrame, failures: dict[str, str], out: Path, seconds: float) -> None:
    records = json.loads(summary.to_json(orient="records"))
    create_table_artifact(table=records if records else {c: [] for c in summary.columns}, key="benchmark-summary",
                          description=f"Q1 / Q2 per dataset and score ({out}/summary.csv), {seconds:.0f} s")
    create_markdown_artifact(markdown=summary_markdown(summary, failures), key="benchmark-report",
                             description=f"{out}/summary.md")


# --------------------------------------------------------------------------- command line
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.benchmark", description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", required=True, help="folder of ADBench .npz datasets")
    parser.add_argument("--datasets", default=None,
                        help="comma-separated dataset names (default: every .npz of the folder)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a parameter of the source params.yaml for every dataset, repeatable")
    parser.add_argument("--out", default=DEFAULT_OUT, help="output folder (default %(default)s, under --source)")
    parser.add_argument("--workers", type=int, default=2, help="datasets run at the same time (default 2)")
    parser.add_argument("--runner", choices=RUNNERS, default="threads",
                        help="threads (this machine) or dask (a local cluster, or --address)")
    parser.add_argument("--address", default=None, help="an existing Dask scheduler, e.g. tcp://host:8786")
    parser.add_argument("--source", default=".", help="the repository whose pipeline and params are used")
    parser.add_argument("--workdir", default=None, help="where the per-dataset copies go (default: temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the per-dataset copies")
    parser.add_argument("--strict", action="store_true", help="fail the run when any dataset fails")
    args = parser.parse_args(argv)
    datasets = [name.strip() for name in args.datasets.split(",") if name.strip()] if args.datasets else None
    try:
        check_overrides(load_params(Path(args.source).expanduser().resolve()), args.overrides)
        resolve_datasets(Path(args.folder), datasets)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    state = benchmark(folder=args.folder, datasets=datasets, overrides=args.overrides or None, out=args.out,
                      workers=args.workers, runner=args.runner, address=args.address, source=args.source,
                      strict=args.strict, workdir=args.workdir, keep=args.keep, return_state=True)
    if not state.is_completed():
        print(f"benchmark run {state.name}: {state.message}", file=sys.stderr)
        return 1
    result = state.result()
    print(f"{len(result['datasets'])} dataset(s) in {result['seconds']} s -> {result['out']}")
    for name, message in result["failures"].items():
        print(f"failed: {name}: {message}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    # Run the flow of the importable module flows.benchmark, not of __main__: the tasks
    # shipped to Dask workers must pickle by reference to a module the workers import.
    from flows.benchmark import main as module_main

    sys.exit(module_main())
