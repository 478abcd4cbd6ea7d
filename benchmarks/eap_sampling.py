"""EAP fitted on a seeded sample of the training table instead of the whole table: what changes.

    python benchmarks/eap_sampling.py                      # the full run (about half an hour on 1 core)
    python benchmarks/eap_sampling.py --max-train-normals 2000 --sizes 500,1000 --subsets 10 \\
        --out /tmp/eap_sampling_try                        # a quick check of the script itself

Backs the pipeline parameter ``score.max_train_rows``: EAP is fitted on
``auxqual.sampling.sample_training_rows(y_train, max_train_rows, random_state=0)``, i.e. every
labelled anomaly plus normals drawn uniformly without replacement, at most that many rows.

Design. Datasets ``32_shuttle``, ``5_campaign`` and ``1_ALOI`` of the ADBench tabular folder
(each has at least 20,000 normals). Each is split by the benchmark protocol
(``auxqual.protocol.split_benchmark``, ``random_state = 0``, ``n_sources = 5``) with
``max_train_normals = 20000``, and, as the pipeline's prepare stage does, every other ``.npz``
of the folder as a possible source of unrealistic auxiliary anomalies. The whole training table
is thus 20,000 normals plus the protocol's labelled anomalies. EAP with the paper's defaults
(``n_subsets = 100``, ``k0 = 5``, ``random_state = 331``, CPU, one thread) is fitted on (a) the
whole table and (b) seeded samples of 1,000 / 5,000 / 10,000 rows (``random_state = 0``), and
scores the protocol's auxiliary set (realistic / indistinguishable / unrealistic rows). Per
dataset and size: rows fitted, fit + score seconds, Spearman correlation of the sample's scores
with the whole table's, overlap of the top 10 % and of the top 50 %
(``|top_full ∩ top_sample| / |top_full|``, ties at the cut broken by
``auxqual.metrics.top_q_indices`` with ``random_state = 0``), and Q1 (``auxqual.metrics.q1_auroc``:
AUROC of ranking the realistic rows first) of the whole table and of the sample.

Resumable: each finished (dataset, size) cell is written to ``<out>/eap_sampling/<dataset>__<size>.json``
(with the auxiliary scores) and skipped on a later run while its settings are the same; the
summary ``<out>/eap_sampling.{json,md}`` is rewritten after every cell. ``--out`` defaults to
``benchmarks/results``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DATA = ROOT.parent / "shared" / "datasets" / "adbench" / "tabular"
DATASETS = ("32_shuttle", "5_campaign", "1_ALOI")
FULL = "full"
STEM = "eap_sampling"
SPEARMAN_MIN = 0.95   # the recommendation's criteria
Q1_TOLERANCE = 0.02
TOP_Q = (10, 50)
TIE_SEED = 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="ADBench-style folder of .npz datasets")
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated dataset names")
    parser.add_argument("--max-train-normals", type=int, default=20000)
    parser.add_argument("--sizes", default="1000,5000,10000", help="comma-separated sample sizes (rows)")
    parser.add_argument("--subsets", type=int, default=100, help="EAP's T")
    parser.add_argument("--k0", type=int, default=5)
    parser.add_argument("--eap-seed", type=int, default=331)
    parser.add_argument("--sample-seed", type=int, default=0)
    parser.add_argument("--protocol-seed", type=int, default=0)
    parser.add_argument("--n-sources", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch / BLAS / numba threads and EAP n_jobs")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of eap_sampling.{json,md} and the cells")
    args = parser.parse_args(argv)
    args.datasets = [d for d in args.datasets.split(",") if d]
    args.sizes = sorted({int(s) for s in args.sizes.split(",") if s})
    return args


def limit_threads(n_threads: int) -> None:
    """Before numpy / torch / numba are imported: their thread pools read these once."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(name, str(n_threads))


# --------------------------------------------------------------------------- data
def load_folder(folder: Path, wanted: list[str]):
    """``{name: (X, y)}`` of every readable dataset of the folder, and the skipped files' reasons
    (prepare's rule: a broken file cannot be a source). A wanted dataset must load."""
    from auxqual.datasets import dataset_files
    from auxqual.io import load_dataset

    loaded, skipped = {}, {}
    for name, path in dataset_files(folder).items():
        try:
            loaded[name] = load_dataset(path)
        except ValueError as error:
            if name in wanted:
                raise
            skipped[name] = str(error)
    missing = [name for name in wanted if name not in loaded]
    if missing:
        raise SystemExit(f"{folder}: no dataset(s) {missing}")
    return loaded, skipped


def split(name: str, loaded: dict, args: argparse.Namespace):
    """The protocol's split of ``name``, the other datasets of the folder as sources (as stages/prepare.py)."""
    from auxqual.protocol import split_benchmark

    X, y = loaded[name]
    sources = {other: data for other, data in loaded.items() if other != name}
    return split_benchmark(X, y, dataset=name, sources=sources, n_sources=args.n_sources,
                           max_train_normals=args.max_train_normals, random_state=args.protocol_seed)


# --------------------------------------------------------------------------- one cell
def cell_settings(args: argparse.Namespace, dataset: str, size: int | str) -> dict:
    """What a cell's numbers depend on; a cached cell is reused only when these are equal."""
    return {"dataset": dataset, "size": size, "max_train_normals": args.max_train_normals,
            "n_subsets": args.subsets, "k0": args.k0, "eap_random_state": args.eap_seed,
            "sample_random_state": args.sample_seed, "protocol_random_state": args.protocol_seed,
            "n_sources": args.n_sources, "data": str(args.data)}


def cell_path(out: Path, dataset: str, size: int | str) -> Path:
    return out / STEM / f"{dataset}__{size}.json"


def cached_cell(out: Path, settings: dict) -> dict | None:
    path = cell_path(out, settings["dataset"], settings["size"])
    try:
        cell = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return cell if cell.get("settings") == settings else None


def run_cell(the_split, settings: dict, n_jobs: int) -> dict:
    """Fit EAP on the whole training table or a sample of it, score the auxiliary set."""
    import numpy as np

    from auxqual.io import feature_columns_of
    from auxqual.metrics import q1_auroc
    from auxqual.quality import EAP
    from auxqual.sampling import sample_training_rows

    size = settings["size"]
    rows = sample_training_rows(the_split.y_train, None if size == FULL else size,
                                random_state=settings["sample_random_state"])
    X, y = the_split.X_train[rows], the_split.y_train[rows]
    aux = the_split.aux
    X_aux = aux[feature_columns_of(aux)].to_numpy(dtype=np.float64)
    start = time.perf_counter()
    model = EAP(n_subsets=settings["n_subsets"], k0=settings["k0"], random_state=settings["eap_random_state"],
                device="cpu", n_jobs=n_jobs).fit(X, y)
    fitted = time.perf_counter()
    scores = model.score_samples(X_aux)
    done = time.perf_counter()
    return {"settings": settings, "n_rows": int(rows.size), "n_labelled": int(y.sum()),
            "n_normals": int((y == 0).size - y.sum()), "fit_s": fitted - start, "score_s": done - fitted,
            "total_s": done - start, "q1": q1_auroc(scores, aux["kind"].to_numpy()),
            "mean_k_star": float(model.k_star_.mean()), "scores": scores.tolist(),
            "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def write_cell(out: Path, cell: dict) -> None:
    path = cell_path(out, cell["settings"]["dataset"], cell["settings"]["size"])
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(cell) + "\n")
    partial.replace(path)


# --------------------------------------------------------------------------- comparison
def compare(full: dict, sample: dict) -> dict:
    """Spearman, top-q overlaps and Q1 of a sample's scores against the whole table's."""
    import numpy as np
    from scipy.stats import spearmanr

    from auxqual.metrics import top_q_indices

    a, b = np.asarray(full["scores"]), np.asarray(sample["scores"])
    row = {"spearman": float(spearmanr(a, b).statistic)}
    for q in TOP_Q:
        top_full = top_q_indices(a, q, random_state=TIE_SEED)
        top_sample = top_q_indices(b, q, random_state=TIE_SEED)
        row[f"top{q}_overlap"] = len(np.intersect1d(top_full, top_sample)) / len(top_full)
    row["q1_full"], row["q1_sample"] = full["q1"], sample["q1"]
    row["q1_diff"] = sample["q1"] - full["q1"]
    return row


def summary_rows(cells: dict) -> list[dict]:
    """One row per finished (dataset, size): the whole table's own row, then its samples."""
    rows = []
    for dataset, by_size in cells.items():
        full = by_size.get(FULL)
        for size, cell in sorted(by_size.items(), key=lambda kv: (kv[0] != FULL, kv[0] if kv[0] != FULL else 0)):
            row = {"dataset": dataset, "size": size, "n_rows": cell["n_rows"], "n_labelled": cell["n_labelled"],
                   "fit_s": cell["fit_s"], "score_s": cell["score_s"], "total_s": cell["total_s"],
                   "q1": cell["q1"], "mean_k_star": cell["mean_k_star"]}
            if full is not None:
                row.update(compare(full, cell))
            rows.append(row)
    return rows


def recommendation(rows: list[dict], datasets: list[str], sizes: list[int]) -> dict:
    """The smallest size meeting both criteria on every dataset, else the one coming closest
    (fewest failed datasets, then the best worst-case Spearman)."""
    verdicts = []
    for size in sizes:
        mine = [r for r in rows if r["size"] == size and "spearman" in r]
        if {r["dataset"] for r in mine} != set(datasets):
            continue  # not measured on every dataset yet
        failed = [r["dataset"] for r in mine
                  if not (r["spearman"] >= SPEARMAN_MIN and abs(r["q1_diff"]) <= Q1_TOLERANCE)]
        verdicts.append({"size": size, "failed": failed, "min_spearman": min(r["spearman"] for r in mine),
                         "max_abs_q1_diff": max(abs(r["q1_diff"]) for r in mine)})
    passing = [v for v in verdicts if not v["failed"]]
    if passing:
        return {"met": True, **passing[0]}
    if verdicts:
        best = min(verdicts, key=lambda v: (len(v["failed"]), -v["min_spearman"], v["max_abs_q1_diff"]))
        return {"met": False, **best}
    return {"met": False, "size": None}


def to_markdown(rows: list[dict], rec: dict, meta: dict, args: argparse.Namespace) -> str:
    lines = [
        "# EAP fitted on a seeded sample of the training table",
        "",
        f"Machine: {meta['machine']}; Python {meta['python']}, torch {meta['torch']}, numpy {meta['numpy']}; "
        f"{meta['threads']} thread(s); {meta['date_utc']}.",
        "",
        f"Seconds are the wall time of {meta['threads']} thread(s) on a machine that may be shared with other work "
        f"(load average {', '.join(f'{v:.1f}' for v in meta['load_average_at_start'])} when this summary was "
        f"written): compare them within this table only. Cells are cached across runs; the date above is the "
        f"summary's.",
        "",
        f"Design: datasets {', '.join(args.datasets)} (ADBench tabular), each split by the protocol "
        f"(`split_benchmark`, random_state {args.protocol_seed}, n_sources {args.n_sources}, every other `.npz` of "
        f"the folder a possible source of unrealistic rows, as the prepare stage) with max_train_normals = "
        f"{args.max_train_normals:,}: the whole training table is those normals plus the protocol's labelled "
        f"anomalies. EAP (T = {args.subsets}, k0 = {args.k0}, random_state = {args.eap_seed}, CPU) is fitted on "
        f"the whole table and on `sample_training_rows(y, size, random_state={args.sample_seed})` (all labelled "
        f"anomalies kept, normals drawn uniformly without replacement), and scores the protocol's auxiliary set. "
        f"Spearman and top-q overlap (|top_full ∩ top_sample| / |top_full|, ties broken by `top_q_indices`, "
        f"random_state {TIE_SEED}) compare each sample's scores with the whole table's; Q1 is the AUROC of "
        f"ranking the realistic rows first.",
        "",
        "| dataset | rows fitted | fit + score (s) | Spearman vs whole | top-10 % overlap | top-50 % overlap "
        "| Q1 whole | Q1 sample | ΔQ1 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["size"] == FULL:
            lines.append(f"| {r['dataset']} | {r['n_rows']:,} (whole) | {r['total_s']:.1f} | 1 | 1 | 1 "
                         f"| {r['q1']:.3f} | – | – |")
        elif "spearman" in r:
            lines.append(f"| {r['dataset']} | {r['n_rows']:,} | {r['total_s']:.1f} | {r['spearman']:.3f} "
                         f"| {r['top10_overlap']:.2f} | {r['top50_overlap']:.2f} | {r['q1_full']:.3f} "
                         f"| {r['q1_sample']:.3f} | {r['q1_diff']:+.3f} |")
        else:
            lines.append(f"| {r['dataset']} | {r['n_rows']:,} | {r['total_s']:.1f} | (whole table not yet run) "
                         f"| | | | {r['q1']:.3f} | |")
    lines += ["", f"Fit + score over all {len(rows)} cells: {meta['cell_seconds_total'] / 60:.0f} min.",
              "", meta.get("discussion", ""), ""]
    return "\n".join(lines)


def discussion(rows: list[dict], rec: dict, args: argparse.Namespace) -> str:
    """The prose under the table, from the numbers."""
    sampled = [r for r in rows if r["size"] != FULL and "spearman" in r]
    if not sampled:
        return "No sample has been compared with the whole table yet."
    full = {r["dataset"]: r for r in rows if r["size"] == FULL}
    parts = []
    for size in sorted({r["size"] for r in sampled}):
        mine = [r for r in sampled if r["size"] == size]
        speedup = [full[r["dataset"]]["total_s"] / r["total_s"] for r in mine if r["dataset"] in full]
        parts.append(f"{size:,} rows: Spearman {min(r['spearman'] for r in mine):.3f}–"
                     f"{max(r['spearman'] for r in mine):.3f}, |ΔQ1| ≤ {max(abs(r['q1_diff']) for r in mine):.3f}, "
                     f"{_span(speedup)}× faster")
    text = ("Per sample size, over the datasets (worst–best Spearman, largest Q1 change, speed-up of fit + score "
            "over the whole table): " + "; ".join(parts) + ". ")
    text += prior_mean_note(rows, sampled)
    criteria = (f"Spearman ≥ {SPEARMAN_MIN} and Q1 within {Q1_TOLERANCE} of the whole table's on every dataset")
    if rec.get("size") is None:
        return text + ("Not every size has been measured on every dataset yet, so no default is recommended "
                       f"({criteria}).")
    if rec["met"]:
        return text + (f"**Recommended default `score.max_train_rows` = {rec['size']:,}**: the smallest size "
                       f"measured with {criteria} (worst Spearman {rec['min_spearman']:.3f}, largest |ΔQ1| "
                       f"{rec['max_abs_q1_diff']:.3f}). Tables no larger than that are fitted whole, so the "
                       f"default changes nothing for them.")
    return text + (f"No size measured meets {criteria}; {rec['size']:,} comes closest (fails on "
                   f"{', '.join(rec['failed'])}; worst Spearman {rec['min_spearman']:.3f}, largest |ΔQ1| "
                   f"{rec['max_abs_q1_diff']:.3f}). **No sampled size is recommended on these criteria: keep "
                   f"`score.max_train_rows` = null (the whole table)**, or take {rec['size']:,} only where that "
                   f"loss of fidelity is acceptable for the time saved.")


def prior_mean_note(rows: list[dict], sampled: list[dict]) -> str:
    """Why a sample's EAP is another score, not only a noisier one: keeping every labelled anomaly
    raises their share c = m / n, EAP's prior mean (the score of a row without evidence)."""
    def c_span(mine: list[dict]) -> str:
        values = sorted({r["n_labelled"] / r["n_rows"] for r in mine})
        return f"{values[0]:.4f}" if len(values) == 1 else f"{values[0]:.4f}–{values[-1]:.4f}"

    smallest = min(r["size"] for r in sampled)
    text = (f"Keeping every labelled anomaly raises their share c = m/n, EAP's prior mean (the score of a row "
            f"without evidence), from {c_span([r for r in rows if r['size'] == FULL])} on the whole tables to "
            f"{c_span([r for r in sampled if r['size'] == smallest])} at {smallest:,} rows, and k* and the "
            f"subsets change with n, so part of the difference may come from that shift rather than from "
            f"sampling noise alone (not separated here)")
    up = sorted({r["dataset"] for r in sampled if r["q1_diff"] > Q1_TOLERANCE})
    down = sorted({r["dataset"] for r in sampled if r["q1_diff"] < -Q1_TOLERANCE})
    if up and down:
        text += (f". Q1 moves by more than {Q1_TOLERANCE} in both directions (up on {', '.join(up)}, down on "
                 f"{', '.join(down)}): its change has no consistent sign across datasets")
    elif up or down:
        text += f". Q1 moves {'up' if up else 'down'} by more than {Q1_TOLERANCE} on {', '.join(up or down)}"
    return text + ". "


def _span(values: list[float]) -> str:
    low, high = f"{min(values):.0f}", f"{max(values):.0f}"
    return low if low == high else f"{low}–{high}"


def machine_info(threads: int) -> dict:
    import numpy
    import scipy
    import sklearn
    import torch

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT,
                                check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    model = platform.processor() or "cpu"  # kept where /proc/cpuinfo is missing or names no model
    with contextlib.suppress(OSError, StopIteration):
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    return {"machine": f"{os.cpu_count()} CPU cores, {platform.machine()}, {model}",
            "python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__,
            "scipy": scipy.__version__, "sklearn": sklearn.__version__, "threads": threads,
            "git_commit": commit, "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "load_average_at_start": list(os.getloadavg())}


def save(out: Path, cells: dict, args: argparse.Namespace, meta: dict, wall_s: float) -> str:
    rows = summary_rows(cells)
    rec = recommendation(rows, args.datasets, args.sizes)
    cell_seconds = sum(c["total_s"] for by in cells.values() for c in by.values())
    meta = {**meta, "discussion": discussion(rows, rec, args), "cell_seconds_total": cell_seconds}
    params = {"datasets": args.datasets, "data": str(args.data), "max_train_normals": args.max_train_normals,
              "sizes": args.sizes, "n_subsets": args.subsets, "k0": args.k0, "eap_random_state": args.eap_seed,
              "sample_random_state": args.sample_seed, "protocol_random_state": args.protocol_seed,
              "n_sources": args.n_sources, "device": "cpu", "top_q": list(TOP_Q), "tie_random_state": TIE_SEED,
              "criteria": {"spearman_min": SPEARMAN_MIN, "q1_tolerance": Q1_TOLERANCE}}
    splits = {d: cells[d][FULL]["split"] for d in cells if FULL in cells[d] and "split" in cells[d][FULL]}
    payload = {**{k: v for k, v in meta.items() if k != "discussion"}, "params": params, "splits": splits,
               "rows": rows, "recommendation": rec, "discussion": meta["discussion"],
               "wall_s_this_invocation": wall_s,
               "cell_seconds_total": cell_seconds}
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{STEM}.json").write_text(json.dumps(payload, indent=2) + "\n")
    markdown = to_markdown(rows, rec, meta, args)
    (out / f"{STEM}.md").write_text(markdown)
    return markdown


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    limit_threads(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(ROOT))
    from auxqual.detectors.iforest_compiled import compile_kernels
    from auxqual.row_stats import compile_cpu_kernels

    begin = time.perf_counter()
    compile_cpu_kernels()  # one-off per install, not part of any cell's time
    compile_kernels()
    meta = machine_info(args.threads)
    loaded, skipped = None, {}
    cells: dict[str, dict] = {}
    sizes: list[int | str] = [FULL, *args.sizes]
    total = len(args.datasets) * len(sizes)
    done = 0
    for dataset in args.datasets:
        cells[dataset] = {}
        the_split = None
        for size in sizes:
            done += 1
            settings = cell_settings(args, dataset, size)
            cell = cached_cell(args.out, settings)
            if cell is not None:
                print(f"[{done}/{total}] {dataset} {size}: cached ({cell['n_rows']} rows, {cell['total_s']:.1f} s, "
                      f"Q1 {cell['q1']:.3f})", flush=True)
            else:
                if the_split is None:
                    if loaded is None:
                        loaded, skipped = load_folder(args.data, args.datasets)
                        for name, reason in skipped.items():
                            print(f"source {name} skipped: {reason}", flush=True)
                    the_split = split(dataset, loaded, args)
                cell = run_cell(the_split, settings, n_jobs=args.threads)
                if size == FULL:
                    counts = the_split.counts
                    cell["split"] = {"n_train": int(the_split.y_train.size), "n_labelled": int(the_split.y_train.sum()),
                                     "n_aux": len(the_split.aux),
                                     "aux_kinds": {str(k): int(v) for k, v in
                                                   the_split.aux["kind"].value_counts().sort_index().items()},
                                     "n_aux_per_kind": counts.n_aux_per_kind,
                                     "n_features": int(the_split.X_train.shape[1]),
                                     "unrealistic_sources": sorted(set(the_split.aux["source_dataset"]) - {dataset})}
                write_cell(args.out, cell)
                print(f"[{done}/{total}] {dataset} {size}: {cell['n_rows']} rows, fit {cell['fit_s']:.1f} s + "
                      f"score {cell['score_s']:.1f} s, Q1 {cell['q1']:.3f}", flush=True)
            cells[dataset][size] = cell
            save(args.out, cells, args, meta, time.perf_counter() - begin)
    markdown = save(args.out, cells, args, meta, time.perf_counter() - begin)
    print(f"\nwall time of this invocation: {time.perf_counter() - begin:.0f} s\n", flush=True)
    print(markdown)


if __name__ == "__main__":
    main()
