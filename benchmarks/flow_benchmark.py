"""Time the multi-dataset benchmark flow (``flows.benchmark``): one dataset at a time, then
two at a time on threads, on a local Dask cluster, and on an external one (a ``dask
scheduler`` and two ``dask worker`` processes started as docs/orchestration.md says, ``flows.cluster``).

    python benchmarks/flow_benchmark.py                                   # 3 ADBench datasets, small params
    python benchmarks/flow_benchmark.py --datasets cardio,Pima --configs threads:1,external:2
    PREFECT_API_URL=http://127.0.0.1:4200/api python benchmarks/flow_benchmark.py   # watch it in the UI

Each configuration runs the same flow on the same datasets and params, so its tables must
be the same bytes (checked: q1.parquet, q2.parquet and summary.csv; the ``identical``
column). The external cluster is started before its timing starts and stopped after (a
real one outlives the runs); its start-up time is reported apart. Writes
``benchmarks/results/flow_benchmark.csv`` and ``.md``. Uses the Prefect API of the
environment (``PREFECT_API_URL``), else a temporary local one started before timing; the
external workers are given the same API.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FOLDER = ROOT.parent / "shared" / "datasets" / "adbench" / "tabular"
DEFAULT_DATASETS = "breastw,Pima,yeast"
DEFAULT_CONFIGS = "threads:1,threads:2,dask:2,external:2"
RUNNERS = {"threads": "threads", "dask": "dask (local cluster)", "external": "dask (external: scheduler + workers)"}
COMPARED = ("q1.parquet", "q2.parquet", "summary.csv")
# Small params: what is measured is the orchestration (datasets in parallel), not EAP.
DEFAULT_SETS = [
    "generate.generators=[benchmark_mixture, uniform]",
    "score.scores=[eap, rarity]",
    "score.params.eap={n_subsets: 10, n_jobs: 1}",
    "train.detectors=[ssdo]",
    "train.q=[0, 50, 100]",
    "prepare.max_train_normals=300",
    "fanout.runner=serial",
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--datasets", default=DEFAULT_DATASETS)
    parser.add_argument("--configs", default=DEFAULT_CONFIGS,
                        help=f"runner:workers, comma-separated; runners: {', '.join(RUNNERS)}")
    parser.add_argument("--set", action="append", default=None, metavar="KEY=VALUE",
                        help="params override for every dataset (replaces the small defaults)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "flow_benchmark")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        raise SystemExit(f"{args.folder}: ADBench folder not found (--folder)")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)

    from prefect import get_client

    from flows.benchmark import TARGET_STAGE, benchmark

    with get_client(sync_client=True) as client:  # start a temporary API now, not inside the timing
        client.hello()
        api = str(client.api_url)
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    sets = args.set if args.set is not None else DEFAULT_SETS
    configs = [(c.split(":")[0], int(c.split(":")[1])) for c in args.configs.split(",")]

    unknown = sorted({runner for runner, _ in configs} - set(RUNNERS))
    if unknown:
        raise SystemExit(f"--configs: unknown runner(s) {unknown}; known: {list(RUNNERS)}")

    rows, reference = [], None
    for runner, workers in configs:
        out = Path(tempfile.mkdtemp(prefix=f"auxqual-flowbench-{runner}{workers}-"))
        with _cluster(runner, workers, api) as (address, startup):
            load = os.getloadavg()[0]
            start = time.perf_counter()
            state = benchmark(folder=str(args.folder), datasets=datasets, overrides=sets, out=str(out),
                              workers=workers, runner="threads" if runner == "threads" else "dask",
                              address=address, source=str(ROOT), strict=True, return_state=True)
            seconds = time.perf_counter() - start
        if not state.is_completed():
            raise SystemExit(f"{runner}:{workers}: {state.message}")
        digest = _digest(out)
        reference = reference or digest
        per_dataset = state.result()["dataset_seconds"]
        rows.append({"runner": runner, "workers": workers, "datasets": len(datasets), "seconds": round(seconds, 1),
                     "mean_dataset_seconds": round(sum(per_dataset.values()) / len(per_dataset), 1),
                     "load_before": round(load, 2), "identical": digest == reference,
                     "startup_seconds": None if startup is None else round(startup, 1)})
        print(f"{runner}:{workers}: {seconds:.1f} s (load {load:.2f})", file=sys.stderr)
    base = rows[0]["seconds"]
    for row in rows:
        row["speedup"] = round(base / row["seconds"], 2)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    fields = ["runner", "workers", "datasets", "seconds", "speedup", "mean_dataset_seconds", "identical",
              "load_before", "startup_seconds"]
    with open(args.out.with_suffix(".csv"), "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    lines = [
        "# Multi-dataset benchmark flow: datasets one at a time vs in parallel", "",
        f"- when: {dt.datetime.now().isoformat(timespec='seconds')}",
        f"- machine: {os.cpu_count()} CPU cores, shared with other work (1-minute load average before each "
        "configuration in the table); Prefect API: " + ("temporary local" if "127.0.0.1" in api else api),
        f"- datasets ({len(datasets)}, {args.folder.name}): {', '.join(datasets)}",
        f"- params overrides: {'; '.join(sets)}",
        f"- each dataset: `dvc repro {TARGET_STAGE}` in its own copy of the pipeline (flows/benchmark.py)", "",
        "| runner | workers | seconds | speedup | mean s per dataset task | same bytes (q1, q2, summary) "
        "| load before |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for row in rows:
        lines.append(f"| {RUNNERS[row['runner']]} | {row['workers']} | {row['seconds']:.1f} | {row['speedup']:.2f} | "
                     f"{row['mean_dataset_seconds']:.1f} | {'yes' if row['identical'] else 'NO'} | "
                     f"{row['load_before']:.2f} |")
    started = [row for row in rows if row["startup_seconds"] is not None]
    if started:
        lines += ["", "The external cluster (`dask scheduler` and one `dask worker --nthreads 1` per worker, "
                  "bound to 127.0.0.1, started as docs/orchestration.md says by `flows/cluster.py`) was started before "
                  "its timing: " + ", ".join(f"{row['startup_seconds']:.1f} s for {row['workers']} workers"
                                             for row in started) + ". A real cluster outlives the runs."]
    lines += ["", "With 2 workers two datasets run at once, each with `cores // workers` = 1 BLAS / torch thread "
              "(set by the flow on this machine, by each `dask worker` on an external cluster; without it the "
              "two pipelines oversubscribed the cores and 2 workers were no faster than 1). A dataset task that "
              "takes longer than alone (column 5) shares the cores with "
              "other work: a 1-minute load average above 2 means other jobs were competing for this machine's "
              "2 cores. On an idle machine, or a Dask cluster with more cores, the wall time falls with the "
              "workers.", ""]
    args.out.with_suffix(".md").write_text("\n".join(lines))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _readme import update_readme_section

    update_readme_section("flow-benchmark", "\n".join(lines))
    print("\n".join(lines))
    if not all(row["identical"] for row in rows):
        raise SystemExit("the Q1 / Q2 tables differ between configurations")


@contextlib.contextmanager
def _cluster(runner: str, workers: int, api: str):
    """``(address, start-up seconds)`` of an external cluster of ``workers`` workers for the
    ``external`` runner (stopped on exit), ``(None, None)`` for the others."""
    if runner != "external":
        yield None, None
        return
    from flows.cluster import dask_cluster

    start = time.perf_counter()
    with dask_cluster(ROOT, workers=workers, env={**os.environ, "PREFECT_API_URL": api.rstrip("/")}) as cluster:
        yield cluster.address, time.perf_counter() - start


def _digest(out: Path) -> str:
    """One sha256 of the flow's tables: the same bytes whichever runner ran the datasets."""
    digest = hashlib.sha256()
    for name in COMPARED:
        digest.update(name.encode() + b"\0" + (out / name).read_bytes())
    return digest.hexdigest()


if __name__ == "__main__":
    main()
