"""EAP speed and memory: the issue's reference size and the scaling with n.

    python benchmarks/eap_speed.py                 # both parts, full sizes (tens of minutes)
    python benchmarks/eap_speed.py --sizes 1000 5000 --skip-reference   # a quick look
    python benchmarks/eap_speed.py --sizes         # part 1 only (keeps the last scaling rows)

Part 1: n = 1000 training normals, m = 20 labelled anomalies, 750 auxiliary rows,
d = 64, T = 100 subsets (goal: at most 3 s on 2 CPU cores); in the same run, EAP as it was
before the compiled forest (its prior forced onto scikit-learn). In the same run, in another
fresh process with the same number of worker processes: T scikit-learn ``IsolationForest``
fits, each scoring its subset and the auxiliary rows, on EAP's own subsets (what EAP's
prior cost before it was compiled); EAP's total over that time is the ratio the issue asks
for (goal ≤ 0.5), a ratio a noisy machine slows on both sides alike.
Part 2: n ∈ {1k, 5k, 20k, 50k} normals, n/10 auxiliary rows, d = 16, T = 100, m = 20:
seconds and peak memory (resident memory of the whole process tree, workers included,
sampled every 50 ms), and the fitted growth exponent of time in n.

Each size runs in a fresh process so that its peak memory is its own; the CPU kernels are
compiled (and cached by numba) before the first one. Results go to
``benchmarks/results/eap_speed.{json,md}`` and to the table in docs/benchmarks.md; a run that measures
no size keeps the scaling rows of the previous run, marked as such.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(Path(__file__).resolve().parent))


def synthetic_case(n: int, m: int, n_aux: int, d: int, seed: int = 0):
    """Normals from 3 Gaussian clusters, anomalies near them, aux = a realistic/normal/far mix."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(3, d))
    normals = centres[rng.integers(0, 3, n)] + rng.normal(size=(n, d))

    def anomalies(count):
        base = centres[rng.integers(0, 3, count)]
        direction = rng.normal(size=(count, d))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        return base + direction * rng.uniform(3.0, 5.0, size=(count, 1)) * np.sqrt(d) / 2

    X = np.vstack([normals, anomalies(m)])
    y = np.r_[np.zeros(n, np.int8), np.ones(m, np.int8)]
    third = n_aux // 3
    aux = np.vstack([anomalies(third), centres[rng.integers(0, 3, third)] + rng.normal(size=(third, d)),
                     rng.uniform(-40, 40, size=(n_aux - 2 * third, d))])
    return X, y, aux


def run_one(n: int, m: int, n_aux: int, d: int, n_subsets: int, n_jobs: int, device: str | None,
            sklearn_prior: bool = False) -> dict:
    """Fit and score once; return the timings (runs inside the measured child process).

    ``sklearn_prior``: EAP as it was before the compiled forest, its prior fitted and scored by
    scikit-learn's ``IsolationForest`` (the library's own fallback path, forced in this child)."""
    import torch

    from auxqual.quality import EAP

    if sklearn_prior:
        from auxqual.detectors import iforest_compiled

        iforest_compiled.unsupported_reason = lambda *args: "forced by benchmarks/eap_speed.py (before)"

    X, y, aux = synthetic_case(n, m, n_aux, d)
    start = time.perf_counter()
    model = EAP(n_subsets=n_subsets, n_jobs=n_jobs, device=device, progress=sys.stderr.isatty()).fit(X, y)
    fitted = time.perf_counter()
    details = model.score_samples(aux, return_details=True)
    done = time.perf_counter()
    device = model.device_
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    gpu_peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return {"n": n, "m": m, "n_aux": n_aux, "d": d, "T": n_subsets, "n_jobs": n_jobs,
            "fit_s": fitted - start, "score_s": done - fitted, "total_s": done - start,
            "device": f"{device.type} ({name})", "gpu_peak_gib": gpu_peak,
            "mean_k_star": float(model.k_star_.mean()), "ties_at_prior": details.n_ties_at_prior,
            "prior": "scikit-learn" if sklearn_prior else "compiled"}


def _forest_on_subset(X_subset: np.ndarray, aux: np.ndarray, random_state: int) -> None:
    """What EAP's prior did per subset with scikit-learn: fit, score the subset, score the aux rows."""
    from sklearn import config_context
    from sklearn.ensemble import IsolationForest

    with config_context(assume_finite=True):  # as the prior ran it: input checked once, not per tree
        forest = IsolationForest(random_state=random_state, n_jobs=1).fit(X_subset)
        forest.score_samples(X_subset)
        forest.score_samples(aux)


def run_sklearn_forests(n: int, m: int, n_aux: int, d: int, n_subsets: int, n_jobs: int) -> dict:
    """T scikit-learn forests on EAP's subsets of the same case, over ``n_jobs`` processes."""
    from joblib import Parallel, delayed

    from auxqual.quality.eap import draw_subset_masks

    X, _y, aux = synthetic_case(n, m, n_aux, d)
    masks, _ = draw_subset_masks(X.shape[0], m, n_subsets, k0=5, random_state=331)  # EAP's defaults
    start = time.perf_counter()
    Parallel(n_jobs=n_jobs)(delayed(_forest_on_subset)(X[mask], aux, 1) for mask in masks)
    return {"n": n, "T": n_subsets, "n_jobs": n_jobs, "total_s": time.perf_counter() - start}


def measure_in_child(args: list[str], mode: str = "--one", script: str = __file__) -> dict:
    """Run ``script mode args`` (``--one`` or ``--forests`` of this script) in a child process;
    sample the RSS of its whole process tree."""
    import psutil

    child = subprocess.Popen([sys.executable, script, mode, *args], stdout=subprocess.PIPE, text=True)
    proc = psutil.Process(child.pid)
    peak = 0
    stop = threading.Event()

    def sample():
        nonlocal peak
        while not stop.is_set():
            with contextlib.suppress(psutil.Error):  # a worker may exit between listing and reading
                tree = [proc, *proc.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = child.communicate()
    stop.set()
    sampler.join()
    if child.returncode != 0:
        raise RuntimeError(f"benchmark child failed with exit code {child.returncode}")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_gib"] = peak / 2**30
    return result


def growth_exponent(rows: list[dict]) -> float | None:
    """Slope of log(total seconds) against log(n)."""
    if len(rows) < 2:
        return None
    return float(np.polyfit(np.log([r["n"] for r in rows]), np.log([r["total_s"] for r in rows]), 1)[0])


def _memory(row: dict) -> str:
    """Peak resident memory, and the GPU's peak allocation where there was one."""
    text = f"{row['peak_rss_gib']:.2f}"
    if row.get("gpu_peak_gib") is not None:
        text += f" (GPU {row['gpu_peak_gib']:.2f})"
    return text


def to_markdown(reference: dict | None, scaling: list[dict], exponent: float | None, machine: str,
                subsets: int = 100, forests: dict | None = None, scaling_kept: bool = False,
                before: dict | None = None) -> str:
    lines = [f"Machine: {machine}.", ""]
    if reference:
        lines += ["| case | fit (s) | score (s) | total (s) | peak memory (GiB) | device |",
                  "|---|---|---|---|---|---|",
                  f"| n = {reference['n']}, m = {reference['m']}, {reference['n_aux']} aux, d = {reference['d']}, "
                  f"T = {reference['T']} | {reference['fit_s']:.1f} | {reference['score_s']:.1f} | "
                  f"{reference['total_s']:.1f} | {_memory(reference)} | {reference['device']} |", ""]
    if reference and forests:
        lines += [f"Same run: {forests['T']} scikit-learn `IsolationForest` fits, each scoring its subset and the "
                  f"auxiliary rows, on the same subsets ({forests['n_jobs']} processes): {forests['total_s']:.1f} s; "
                  f"EAP's total / that = **{reference['total_s'] / forests['total_s']:.2f}** (goal ≤ 0.5).", ""]
    if reference and before:
        lines += [f"Same run, before: EAP with scikit-learn's `IsolationForest` as its prior (the fallback path, "
                  f"forced): fit {before['fit_s']:.1f} s, score {before['score_s']:.1f} s, total "
                  f"{before['total_s']:.1f} s; the compiled forest makes EAP "
                  f"**{before['total_s'] / reference['total_s']:.1f}×** faster at this size.", ""]
    if scaling and scaling_kept:
        lines += ["Scaling rows: kept from the previous run of this script (not re-measured in this one).", ""]
    if scaling:
        lines += ["| n normals | aux rows | T | fit (s) | score (s) | total (s) | peak memory (GiB) | mean k* "
                  "| device |", "|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['n']} | {r['n_aux']} | {r['T']} | {r['fit_s']:.1f} | {r['score_s']:.1f} | "
                  f"{r['total_s']:.1f} | {_memory(r)} | {r['mean_k_star']:.0f} | {r['device']} |" for r in scaling]
        if exponent is not None:
            lines += ["", f"Fitted growth: time ∝ n^{exponent:.2f} (d = 16, m = 20, T = {subsets})."]
    return "\n".join(lines) + "\n"


def previous_scaling(stem: str, machine: str) -> list[dict]:
    """The scaling rows of the last run written to ``<stem>.json`` on this machine, else none."""
    path = RESULTS / f"{stem}.json"
    with contextlib.suppress(OSError, ValueError):
        previous = json.loads(path.read_text())
        if previous.get("machine") == machine:
            return list(previous.get("scaling") or [])
    return []


def save(stem: str, machine: str, reference: dict | None, scaling: list[dict], subsets: int,
         forests: dict | None = None, scaling_kept: bool = False, before: dict | None = None) -> str:
    """Write ``<stem>.json`` and ``<stem>.md`` to the results folder; return the markdown."""
    exponent = growth_exponent(scaling)
    RESULTS.mkdir(exist_ok=True)
    ratio = reference["total_s"] / forests["total_s"] if reference and forests else None
    payload = {"machine": machine, "reference_size": reference, "sklearn_forests_same_subsets": forests,
               "eap_over_sklearn_forests": ratio, "reference_size_sklearn_prior": before,
               "scaling": scaling, "scaling_kept_from_previous_run": scaling_kept, "growth_exponent": exponent}
    (RESULTS / f"{stem}.json").write_text(json.dumps(payload, indent=2) + "\n")
    markdown = to_markdown(reference, scaling, exponent, machine, subsets, forests, scaling_kept, before)
    (RESULTS / f"{stem}.md").write_text(markdown)
    return markdown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 5000, 20000, 50000])
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--device", default=None, help="torch device (default: cuda when present, else cpu)")
    parser.add_argument("--subsets", type=int, default=100)
    parser.add_argument("--tag", default="", help="write eap_speed_<tag>.{json,md} and leave docs/benchmarks.md alone")
    parser.add_argument("--one", nargs=5, type=int, metavar=("N", "M", "AUX", "D", "T"), help=argparse.SUPPRESS)
    parser.add_argument("--forests", nargs=5, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sklearn-prior", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(*args.one, n_jobs=args.n_jobs, device=args.device,
                                 sklearn_prior=args.sklearn_prior)))
        return
    if args.forests:
        print(json.dumps(run_sklearn_forests(*args.forests, n_jobs=args.n_jobs)))
        return
    machine = f"{os.cpu_count()} CPU cores, {platform.machine()}, Python {platform.python_version()}"
    from auxqual.detectors.iforest_compiled import compile_kernels
    from auxqual.row_stats import compile_cpu_kernels

    compile_cpu_kernels()  # one-off costs per install, not part of any run's time
    compile_kernels()
    common = ["--n-jobs", str(args.n_jobs)] + (["--device", args.device] if args.device else [])
    stem = f"eap_speed_{args.tag}" if args.tag else "eap_speed"
    reference, forests, before, markdown = None, None, None, ""
    kept = [] if args.sizes else previous_scaling(stem, machine)
    if not args.skip_reference:
        reference_case = ["1000", "20", "750", "64", str(args.subsets)]
        reference = measure_in_child(reference_case + common)
        print(f"reference size: {reference['total_s']:.1f} s", file=sys.stderr)
        forests = measure_in_child([*reference_case, "--n-jobs", str(args.n_jobs)], mode="--forests")
        print(f"scikit-learn forests on the same subsets: {forests['total_s']:.1f} s; "
              f"EAP / forests = {reference['total_s'] / forests['total_s']:.2f}", file=sys.stderr)
        before = measure_in_child(reference_case + common + ["--sklearn-prior"])
        print(f"before (scikit-learn prior): {before['total_s']:.1f} s", file=sys.stderr)
        markdown = save(stem, machine, reference, kept, args.subsets, forests, scaling_kept=bool(kept), before=before)
    scaling = []
    for n in args.sizes:
        row = measure_in_child([str(n), "20", str(n // 10), "16", str(args.subsets), *common])
        print(f"n = {n}: {row['total_s']:.1f} s, {row['peak_rss_gib']:.2f} GiB", file=sys.stderr)
        scaling.append(row)
        # after each size, so that a long run cut short keeps what it measured
        markdown = save(stem, machine, reference, scaling, args.subsets, forests, before=before)
    if markdown and not args.tag:
        from _readme import update_readme_section

        update_readme_section("eap-speed", markdown)
    print(markdown)


if __name__ == "__main__":
    main()
