"""The pipeline over a folder of ADBench datasets: one Prefect task per dataset, one
Q1 / Q2 table for all of them.

    python -m flows.benchmark --folder ../shared/datasets/adbench/tabular \\
        --datasets cardio,Pima,yeast --workers 2 --set score.params.eap.n_subsets=20
    python -m flows.benchmark --folder ... --runner dask                       # a local Dask cluster
    python -m flows.benchmark --folder ... --runner dask --address tcp://scheduler:8786
    python -m flows.benchmark --folder ... --seeds 0,1,2                      # the protocol repeated over seeds

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

Seeds and resuming: with ``--seeds`` (or ``prepare.seeds: [0, 1, 2]`` in the params) every
(dataset, seed) is one task whose pipeline has ``prepare.random_state = seed`` (the protocol's
random split drawn again). A finished cell's
tables go to ``<out>/cells/<dataset>/seed<S>/`` (written by the flow, the marker ``done.json``
last, holding the sha256 of the cell's params); a later run with the same params loads them
instead of running the cell again, so an interrupted benchmark resumes where it stopped and
adding a seed runs only the new cells. Changed params (or ``--rerun``) run a cell again.

Outputs in ``--out`` (default ``results/benchmark``), written atomically:
``q1.parquet`` and ``q2.parquet`` (every dataset's rows, with ``seed``), ``q1_seeds.parquet`` /
``q2_seeds.parquet`` (stage ``compare``'s per-seed tables: ``n_distinct`` and ``degenerate``
per score), the comparison over datasets (``auxqual.comparison.compare_seeds``, the code of
stage ``compare``: ``q1_stats`` / ``q1_wilcoxon`` / ``q1_nemenyi`` / ``q1_intervals`` and the
``q2_*`` equivalents as Parquet, ``comparison.md``, the critical-difference diagrams
``q1_cd.png`` and ``q2_gain_cd.png``), ``summary.csv`` /
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

from auxqual.flows.dvcrepo import DvcCommandError, check_overrides, copy_pipeline, load_params, run_dvc, set_nested
from auxqual.params.benchmark import parse_benchmark_params
from auxqual.params.schema import read_yaml
from stages.fanout import one_line

FLOW_NAME = "auxqual-benchmark"
RUNNERS = ("threads", "dask")
DEFAULT_OUT = "results/benchmark"
TARGET_STAGE = "compare"
CELLS = "cells"                                   # <out>/cells/<dataset>/seed<S>/: finished cells
CELL_TABLES = ("q1", "q2", "q1_seeds", "q2_seeds")
COMPARISON_TABLES = ("q1_intervals", "q1_stats", "q1_nemenyi", "q1_wilcoxon", "q2_curves", "q2_gain", "q2_stats",
                     "q2_nemenyi", "q2_wilcoxon")
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


# --------------------------------------------------------------------------- one dataset
@task(name="dataset", task_run_name="{dataset}-seed{seed}", cache_policy=NO_CACHE, persist_result=False)
def run_dataset(source: str, dataset: str, params: dict[str, Any], env: dict[str, str], workdir: str | None = None,
                keep: bool = False, seed: int = 0) -> dict[str, Any]:
    """``dvc repro compare`` of one dataset (one seed: ``params`` holds it as
    ``prepare.random_state``) in a fresh copy of the pipeline; its Q1 and Q2 tables."""
    logger = get_run_logger()
    start = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix=f"auxqual-bench-{dataset.replace('/', '_')}-seed{seed}-", dir=workdir))
    try:
        copy_pipeline(Path(source), root, params, env=env)
        logger.info("%s: dvc repro %s in %s", dataset, TARGET_STAGE, root)
        try:
            run_dvc(root, "repro", TARGET_STAGE, env=env, on_line=lambda line: logger.debug("%s", line))
        except DvcCommandError as error:
            logger.error("dataset %s: %s", dataset, error)
            raise
        tables = {name: pd.read_parquet(root / f"results/{name}.parquet") for name in CELL_TABLES}
        tables["q1"], tables["q2"] = tables["q1"].assign(seed=seed), tables["q2"].assign(seed=seed)
        seconds = time.perf_counter() - start
        logger.info("%s seed %d: %d Q1 rows, %d Q2 rows in %.1f s", dataset, seed, len(tables["q1"]),
                    len(tables["q2"]), seconds)
        return {"dataset": dataset, "seed": seed, **tables, "seconds": seconds}
    finally:
        if keep:
            logger.info("%s: kept %s", dataset, root)
        else:
            shutil.rmtree(root, ignore_errors=True)


def dataset_params(base: dict[str, Any], folder: Path, dataset: str, seed: int | None = None) -> dict[str, Any]:
    params = json.loads(json.dumps(base))
    set_nested(params, "data.path", str(folder), create=True)
    set_nested(params, "data.datasets", [dataset], create=True)
    if seed is not None:
        set_nested(params, "prepare.random_state", int(seed), create=True)
    if isinstance(params.get("prepare"), dict):      # a cell is one seed: its dvc repro runs random_state
        params["prepare"].pop("seeds", None)
    score = params.get("score") or {}
    if isinstance(score.get("dataset_params"), dict):   # stage score refuses datasets not in its run
        stem = dataset.rsplit("/", 1)[-1]
        score["dataset_params"] = {k: v for k, v in score["dataset_params"].items() if str(k) == stem}
    return params


def params_sha256(params: dict[str, Any]) -> str:
    """The content hash of a cell's params (canonical JSON): what makes a finished cell reusable."""
    import hashlib

    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def cell_dir(out: Path, dataset: str, seed: int) -> Path:
    return out / CELLS / dataset / f"seed{int(seed)}"


def load_cell(out: Path, dataset: str, seed: int, params: dict[str, Any]) -> dict[str, Any] | None:
    """A finished cell's tables, or ``None`` when it has not finished with these params."""
    folder = cell_dir(out, dataset, seed)
    try:
        done = json.loads((folder / "done.json").read_text(encoding="utf-8"))
        if done.get("params_sha256") != params_sha256(params):
            return None
        tables = {name: pd.read_parquet(folder / f"{name}.parquet") for name in CELL_TABLES}
    except (OSError, ValueError):
        return None
    return {"dataset": dataset, "seed": int(seed), **tables, "seconds": float(done.get("seconds", 0.0)),
            "reused": True}


def save_cell(out: Path, result: dict[str, Any], params: dict[str, Any]) -> None:
    """Keep a finished cell's tables; ``done.json`` (params hash, seconds) is written last."""
    from auxqual.io import write_json, write_parquet

    folder = cell_dir(out, result["dataset"], result["seed"])
    for name in CELL_TABLES:
        write_parquet(result[name], folder / f"{name}.parquet")
    write_json({"dataset": result["dataset"], "seed": int(result["seed"]), "params_sha256": params_sha256(params),
                "seconds": round(float(result["seconds"]), 1)}, folder / "done.json")


def resolve_datasets(folder: Path, names: Sequence[str] | None) -> list[str]:
    """The dataset names (file stems) of ``folder``: all of them, or ``names`` resolved as
    prepare does (``cardio`` finds ``6_cardio.npz``; ``tabular/cardio`` looks in the subfolder
    ``tabular`` and stays ``tabular/6_cardio``, as ``data.datasets`` takes it). A folder without
    ``.npz`` files of its own (ADBench's root) gives every ``<subfolder>/<name>`` below it."""
    from auxqual.datasets import dataset_files, resolve_dataset, split_dataset_name

    if not names:
        subfolders = [] if any(folder.glob("*.npz")) else sorted(
            p.name for p in folder.iterdir() if p.is_dir() and any(p.glob("*.npz"))) if folder.is_dir() else []
        if subfolders:
            return [f"{sub}/{name}" for sub in subfolders for name in dataset_files(folder / sub)]
        return list(dataset_files(folder))
    resolved = []
    for name in names:
        subfolder, stem = split_dataset_name(name, "datasets")
        found = resolve_dataset(stem, dataset_files(folder / subfolder if subfolder else folder))
        resolved.append(f"{subfolder}/{found}" if subfolder else found)
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
              keep: bool = False, seeds: list[int] | None = None, rerun: bool = False,
              params_file: str | None = None) -> dict[str, Any]:
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
    base = load_params_file(Path(params_file)) if params_file else load_params(source_path)
    for key, value in check_overrides(base, overrides).items():  # a key not in params.yaml is an error
        set_nested(base, key, value)
    if seeds is None:
        seeds = seeds_from_params(base)
    with get_client(sync_client=True) as client:
        env = {"PREFECT_API_URL": str(client.api_url).rstrip("/")}
    if not address:  # datasets share this machine's cores: no oversubscribed BLAS / OpenMP / torch threads
        threads = str(max(1, (os.cpu_count() or 1) // workers))
        env.update({name: os.environ.get(name, threads) for name in THREAD_VARS})
    logger.info("%d dataset(s) on %s (%s worker(s)%s): %s", len(names), runner, workers,
                f", scheduler {address}" if address else "", names)
    start = time.perf_counter()
    cells = [(name, seed, dataset_params(base, folder_path, name, seed))
             for name in names for seed in (seeds if seeds else [None])]
    done, failures, todo = [], {}, []
    for name, seed, params in cells:
        reused = None if rerun else load_cell(out_path, name, protocol_seed(params), params)
        if reused is not None:
            done.append(reused)
        else:
            todo.append((name, seed, params))
    logger.info("%d cell(s) already finished with the same params (%s), %d to run", len(done),
                out_path / CELLS, len(todo))
    with _task_runner(runner, workers, address, env["PREFECT_API_URL"]) as task_runner:
        futures = [task_runner.submit(run_dataset, parameters={
            "source": str(source_path), "dataset": name, "params": params, "env": env, "workdir": workdir,
            "keep": keep, "seed": protocol_seed(params)}) for name, seed, params in todo]
        for (name, seed, params), future in zip(todo, futures, strict=True):
            label = name if seed is None else f"{name}/seed{seed}"
            try:
                result = future.result()
            except Exception as error:  # this dataset's task failed, or the cluster could not run it
                failures[label] = failure_message(error)
                continue
            save_cell(out_path, result, params)
            done.append(result)
    seconds = time.perf_counter() - start
    summary = write_outputs(out_path, done, failures, compare=base.get("compare") or {})
    _publish(summary, failures, out_path, seconds)
    logger.info("benchmark: %d dataset(s) done, %d failed, in %.1f s; tables in %s", len(done), len(failures),
                seconds, out_path)
    if failures and (strict or not done):
        raise RuntimeError(f"{len(failures)} of {len(names)} dataset(s) failed: "
                           + "; ".join(f"{k}: {v}" for k, v in failures.items()))
    return {"out": str(out_path), "datasets": sorted({d["dataset"] for d in done}), "failures": failures,
            "seconds": round(seconds, 1), "cells_reused": sum(bool(d.get("reused")) for d in done),
            "dataset_seconds": {f"{d['dataset']}/seed{d['seed']}": round(d["seconds"], 1) for d in done},
            "summary": summary.to_dict(orient="records")}


def load_params_file(path: Path) -> dict[str, Any]:
    """A params file given with ``--params`` (instead of the source's params.yaml), checked
    against the benchmark's schema (``auxqual.params.benchmark``): a typo is one ``ValueError``
    naming the file and the key before any cell starts."""
    try:
        params = read_yaml(Path(path).expanduser())
    except ValueError as error:
        raise ValueError(f"--params {error}") from None
    parse_benchmark_params(params, f"--params {path}")
    return params


def protocol_seed(params: dict[str, Any]) -> int:
    """``prepare.random_state`` of a cell's params (checked by the schema): its protocol seed."""
    return parse_benchmark_params(params, "params").prepare.random_state


def failure_message(error: BaseException) -> str:
    """One line with the real cause of a dataset's failure: the exception of its task, or
    the one the Dask scheduler or worker raised when it could not run the task (a module
    it cannot import, a worker lost too often). ``future.state`` would only say PENDING
    there: a task that never started has no state in the Prefect API. The same root-cause
    line as a stage's failed cell (``stages.fanout.one_line``)."""
    return one_line(error)


# --------------------------------------------------------------------------- outputs
def summarise(q1: pd.DataFrame, q2: pd.DataFrame) -> pd.DataFrame:
    """Per dataset and score: Q1 AUROC, Q2 mean AUROC over q > 0, AUROC at q = 0."""
    from auxqual.metrics import q2_summary

    columns = ["dataset", "score", "q1_auroc", "q2_mean_auroc", "q2_auroc_q0"]
    if q1.empty and q2.empty:
        return pd.DataFrame(columns=columns)
    left = (q1.groupby(["dataset", "score"], sort=False)["auroc"].mean().reset_index()   # mean over seeds
            .rename(columns={"auroc": "q1_auroc"}))
    right = q2_summary(q2, by=("dataset", "score")).rename(columns={"mean_auroc": "q2_mean_auroc",
                                                                       "auroc_q0": "q2_auroc_q0"})
    table = left.merge(right[["dataset", "score", "q2_mean_auroc", "q2_auroc_q0"]], on=["dataset", "score"],
                       how="outer", sort=False)
    return table.sort_values(["dataset"], kind="mergesort").reset_index(drop=True)[columns]


def write_outputs(out: Path, done: list[dict[str, Any]], failures: dict[str, str],
                  compare: dict[str, Any] | None = None) -> pd.DataFrame:
    """The pooled tables, the comparison (with the params' ``compare.reference`` and
    ``compare.alpha``, as stage compare reads them), the summary and the failures."""
    from auxqual.io import write_parquet, write_text

    done = sorted(done, key=lambda d: (d["dataset"], d.get("seed", 0)))
    tables = {name: pd.concat([d[name] for d in done], ignore_index=True) if done else pd.DataFrame()
              for name in ("q1", "q2", "q1_seeds", "q2_seeds")}
    q1, q2 = tables["q1"], tables["q2"]
    summary = summarise(q1, q2)
    out.mkdir(parents=True, exist_ok=True)
    if done:
        for name, table in tables.items():
            write_parquet(table, out / f"{name}.parquet")
        compare = compare or {}
        write_comparison(out, tables["q1_seeds"], tables["q2_seeds"], reference=str(compare.get("reference", "eap")),
                         alpha=float(compare.get("alpha", 0.05)))
    write_text(summary.to_csv(index=False, float_format="%.6f", lineterminator="\n"), out / "summary.csv")
    write_text(summary_markdown(summary, failures), out / "summary.md")
    failures_path = out / "failures.csv"
    if failures:
        frame = pd.DataFrame({"dataset": list(failures), "error": list(failures.values())})
        write_text(frame.to_csv(index=False, lineterminator="\n"), failures_path)
    elif failures_path.exists():
        failures_path.unlink()
    return summary


def write_comparison(out: Path, q1_seeds: pd.DataFrame, q2_seeds: pd.DataFrame, *, reference: str = "eap",
                     alpha: float = 0.05) -> None:
    """The comparison over datasets and seeds (``auxqual.comparison.compare_seeds``: the code of
    stage ``compare``) as Parquet tables, ``comparison.md`` and the critical-difference
    diagrams (drawn when the tests ran: at least 2 datasets and 3 scores)."""
    from auxqual import plots
    from auxqual.comparison import RANDOM_SCORE, compare_seeds
    from auxqual.io import write_parquet, write_text

    try:
        tables = compare_seeds(q1_seeds, q2_seeds, reference=reference, alpha=alpha)
    except ValueError as error:   # e.g. a score missing on some dataset: say so, keep the pooled tables
        write_text(f"# Comparison over datasets\n\nNot computed: {error}\n", out / "comparison.md")
        return
    for name in COMPARISON_TABLES:
        write_parquet(tables[name], out / f"{name}.parquet")
    lines = ["# Comparison over datasets", ""]
    for name, treatment in (("q1", "estimator"), ("q2", "score")):
        if name == "q2" and not q2_seeds["q"].between(0, 100, inclusive="neither").any():
            lines += ["## Q2", "", "Not compared: the budgets are q = 0 and 100 only, where every score selects the "
                      "same auxiliary anomalies (none, or all of them); Q2 needs a budget in between (train.q).", ""]
            continue
        stats, tests = tables[f"{name}_stats"], tables[f"{name}_wilcoxon"]
        first = stats.iloc[0]
        label = {"q1": "Q1 AUROC", "gain": "Q2 gain over random selection", "area": "Q2 normalised area"}
        lines += [f"## {label.get(str(first['value']), first['value'])}", "",
                  f"{int(first['n_blocks'])} datasets × {int(first['n_seeds'])} seeds; "
                  + (f"Friedman p = {first['friedman_p']:.3g}, Nemenyi critical difference {first['cd']:.2f}."
                     if not first["note"] else f"no test: {first['note']}."), "",
                  _markdown(stats[[treatment, "mean_rank", "mean", "degenerate_blocks"]]), "",
                  _markdown(tests[[treatment, "wins", "ties", "losses", "mean_difference", "p_value", "p_holm",
                                   "significant", "degenerate_blocks"]]), ""]
        if not first["note"]:
            figure = "q1_cd.png" if name == "q1" else ("q2_gain_cd.png" if first["value"] == "gain" else "q2_cd.png")
            title = ("Q1: mean rank over datasets (1 = best)" if name == "q1" else
                     f"Q2 {'gain over ' + RANDOM_SCORE if first['value'] == 'gain' else 'area'}: mean rank (1 = best)")
            plots.cd_diagram_from_tables(stats, tables[f"{name}_nemenyi"], out / figure, treatment=treatment,
                                         title=title)
    write_text("\n".join(lines), out / "comparison.md")


def _markdown(frame: pd.DataFrame) -> str:
    """``frame`` as a Markdown table (pandas' ``to_markdown``), numbers to 4 significant digits."""
    return frame.to_markdown(index=False, floatfmt=".4g")


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
    parser.add_argument("--seeds", default=None,
                        help="comma-separated seeds of the protocol's split (prepare.random_state), one task per "
                             "(dataset, seed); default: the params' prepare.seeds, else prepare.random_state")
    parser.add_argument("--params", dest="params_file", default=None,
                        help="a params file to use instead of the source's params.yaml (e.g. params/paper-scale.yaml)")
    parser.add_argument("--rerun", action="store_true",
                        help="run every cell again, even those finished with the same params (<out>/cells)")
    args = parser.parse_args(argv)
    datasets = [name.strip() for name in args.datasets.split(",") if name.strip()] if args.datasets else None
    try:
        seeds = parse_seeds(args.seeds)
        base = (load_params_file(Path(args.params_file)) if args.params_file
                else load_params(Path(args.source).expanduser().resolve()))
        for key, value in check_overrides(base, args.overrides).items():
            set_nested(base, key, value)
        seeds_from_params(base)
        resolve_datasets(Path(args.folder), datasets)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    state = benchmark(folder=args.folder, datasets=datasets, overrides=args.overrides or None, out=args.out,
                      workers=args.workers, runner=args.runner, address=args.address, source=args.source,
                      strict=args.strict, workdir=args.workdir, keep=args.keep, seeds=seeds, rerun=args.rerun,
                      params_file=args.params_file, return_state=True)
    if not state.is_completed():
        print(f"benchmark run {state.name}: {state.message}", file=sys.stderr)
        return 1
    result = state.result()
    print(f"{len(result['datasets'])} dataset(s) in {result['seconds']} s ({result['cells_reused']} finished "
          f"cell(s) reused) -> {result['out']}")
    for name, message in result["failures"].items():
        print(f"failed: {name}: {message}", file=sys.stderr)
    return 0


def seeds_from_params(params: dict[str, Any]) -> list[int] | None:
    """``prepare.seeds`` of the params (the protocol's repeats), checked; ``None`` when absent.

    The seeds ``--seeds`` gives when it is not on the command line: with ``prepare.seeds:
    [0, 1, 2]`` in the params, every dataset runs once per seed, each (dataset, seed) its own
    cached cell. A ``ValueError`` names the parameter when it is not a list of distinct
    non-negative integers.
    """
    prepare = params.get("prepare")
    seeds = prepare.get("seeds") if isinstance(prepare, dict) else None
    return None if seeds is None else _distinct_seeds(seeds, "params: prepare.seeds", seeds)


def parse_seeds(text: str | None) -> list[int] | None:
    """``"0,1,2"`` → ``[0, 1, 2]``; ``None`` → ``None``; anything else is a ``ValueError`` naming --seeds."""
    if text is None:
        return None
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise ValueError(f"--seeds: expected comma-separated non-negative integers, got {text!r}") from error
    return _distinct_seeds(seeds, "--seeds", text)


def _distinct_seeds(seeds: Any, name: str, given: Any) -> list[int]:
    """``seeds`` as a list of ints when it is a non-empty list of distinct non-negative
    integers, else a ``ValueError`` naming ``name`` and showing what was ``given``."""
    if (not isinstance(seeds, list) or not seeds or len(set(map(str, seeds))) != len(seeds)
            or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds)):
        raise ValueError(f"{name} must be a list of distinct non-negative integers, got {given!r}")
    return [int(seed) for seed in seeds]


if __name__ == "__main__":
    # Run the flow of the importable module flows.benchmark, not of __main__: the tasks
    # shipped to Dask workers must pickle by reference to a module the workers import.
    from flows.benchmark import main as module_main

    sys.exit(module_main())
