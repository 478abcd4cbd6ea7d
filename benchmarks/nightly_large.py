"""Time one nightly run of a production project on a 200,000-row training table.

Builds the user's files from ADBench ``cover`` (286,048 rows, 54 features): a training table
of 200,000 rows (normals plus ``--labelled`` anomalies), an auxiliary set of other true
anomalies lightly perturbed (the user's "own" generator), and the generator ``local`` added
at ``auxqual init``; then ``auxqual init`` and ``dvc repro`` with the scaffolded project's
default params (``score.max_train_rows``, ``select.max_fit_rows`` as shipped). Records each
stage's wall time from DVC's ``Running stage`` lines, and writes
``benchmarks/results/nightly_large.{json,md}``.

    python benchmarks/nightly_large.py [--data ../shared/datasets/adbench/tabular/10_cover.npz]

Goal (issue "Your own data, every night"): at most 30 minutes on 2 cores at the defaults.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RESULTS = ROOT / "benchmarks" / "results"
GOAL_SECONDS = 1800.0


def user_files(data: Path, folder: Path, n_rows: int, n_labelled: int, n_aux: int, seed: int = 0) -> dict:
    """The engineer's files: train (n_rows with y), and an auxiliary set of perturbed anomalies."""
    with np.load(data) as archive:
        X, y = archive["X"].astype(np.float64), archive["y"].astype(np.int8)
    rng = np.random.default_rng(seed)
    columns = [f"f{j:02d}" for j in range(X.shape[1])]
    normals, anomalies = rng.permutation(np.flatnonzero(y == 0)), rng.permutation(np.flatnonzero(y == 1))
    train_rows = np.r_[normals[:n_rows - n_labelled], anomalies[:n_labelled]]
    train = pd.DataFrame(X[train_rows], columns=columns).assign(y=y[train_rows])
    sources = anomalies[n_labelled:n_labelled + n_aux]
    noise = rng.normal(0, 0.05, (sources.size, X.shape[1])) * X.std(axis=0)
    aux = pd.DataFrame(X[sources] + noise, columns=columns)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"train": folder / "train.parquet", "aux": folder / "fakes.parquet"}
    train.to_parquet(paths["train"], index=False)
    aux.to_parquet(paths["aux"], index=False)
    return paths


def stage_times(lines: list[tuple[float, str]]) -> dict[str, float]:
    """Seconds per stage from the time-stamped output lines (a stage ends where the next starts)."""
    marks = [(t, m.group(1)) for t, line in lines if (m := re.match(r"Running stage '([^']+)'", line))]
    times = {}
    for i, (t, name) in enumerate(marks):
        end = marks[i + 1][0] if i + 1 < len(marks) else lines[-1][0]
        times[name] = round(end - t, 1)
    return times


def run_repro(project: Path, env: dict) -> tuple[float, dict[str, float], str]:
    start = time.perf_counter()
    process = subprocess.Popen([str(BIN / "dvc"), "repro"], cwd=project, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in process.stdout:
        lines.append((time.perf_counter(), line.rstrip()))
        print(line, end="", flush=True)
    if process.wait() != 0:
        raise SystemExit(f"dvc repro failed ({process.returncode})")
    total = time.perf_counter() - start
    return total, stage_times(lines), "\n".join(line for _, line in lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/datasets/adbench/tabular/10_cover.npz")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--labelled", type=int, default=10)
    parser.add_argument("--aux-rows", type=int, default=300)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("PYTHONPATH", None)
    work = Path(tempfile.mkdtemp(prefix="auxqual-nightly-"))
    files = user_files(args.data, work / "inputs", args.rows, args.labelled, args.aux_rows)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    subprocess.run([str(BIN / "auxqual"), "init", str(work / "project"), "--train", str(files["train"]),
                    "--aux", f"fakes={files['aux']}", "--generator", "local"], check=True, env=env)
    init_seconds = time.perf_counter() - start
    total, stages, _ = run_repro(work / "project", env)
    project = work / "project"
    selection = json.loads((project / "results/selection.json").read_text())
    scoring = json.loads((project / "results/scoring.json").read_text())
    evaluation = json.loads((project / "results/evaluation.json").read_text())
    import torch

    record = {
        "when": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} CPU cores ({platform.machine()}), load average before {load_before:.2f}, "
                   f"after {os.getloadavg()[0]:.2f}",
        "python": platform.python_version(), "torch": torch.__version__,
        "data": args.data.name, "train_rows": args.rows, "labelled": args.labelled, "aux_rows": args.aux_rows,
        "generators": ["local"], "init_seconds": round(init_seconds, 1), "repro_seconds": round(total, 1),
        "stage_seconds": stages, "scoring": scoring, "chosen": selection["chosen"],
        "n_candidates": len(selection["alternatives"]), "val_auroc": evaluation["val_auroc"],
        "goal_seconds": GOAL_SECONDS, "met": total + init_seconds <= GOAL_SECONDS,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "nightly_large.json").write_text(json.dumps(record, indent=2) + "\n")
    rows = "\n".join(f"| {name} | {seconds:.1f} |" for name, seconds in stages.items())
    chosen = selection["chosen"]
    markdown = f"""#### A nightly run on a 200,000-row training table

- when: {record['when']}; machine: {record['machine']}; python {record['python']}, torch {record['torch']}
- data: ADBench `{args.data.name}`: a training table of {args.rows:,} rows ({args.labelled} labelled anomalies), an
  auxiliary file of {args.aux_rows} perturbed true anomalies, and the generator `local`; the scaffolded project's
  default params (scores fitted on {scoring['fitted_rows']:,} of {scoring['train_rows']:,} rows; detectors on at most
  10,000 rows)
- goal: at most 30 minutes on 2 cores; measured **{(total + init_seconds) / 60:.1f} min** (`auxqual init`
  {init_seconds:.0f} s + `dvc repro` {total:.0f} s): {'met' if record['met'] else 'NOT met'}
- decision: set `{chosen['set']}`, score `{chosen['score']}`, q = {chosen['q']:g}, detector `{chosen['detector']}`
  out of {record['n_candidates']} candidates; validation AUROC {evaluation['val_auroc']:.3f}

| stage | seconds |
| --- | ---: |
{rows}
"""
    (args.out / "nightly_large.md").write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
