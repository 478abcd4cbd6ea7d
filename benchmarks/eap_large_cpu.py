"""EAP at n = 200,000 normals and T = 100 on CPU, measured in resumable chunks of subsets.

    python benchmarks/eap_large_cpu.py                   # run the chunks not measured yet, then summarise
    python benchmarks/eap_large_cpu.py --max-chunks 2    # at most 2 chunks in this invocation
    python benchmarks/eap_large_cpu.py --starts 65 35     # only the chunks of subsets 65-69 and 35-39
    python benchmarks/eap_large_cpu.py --summary         # only rewrite the summary from the chunks kept

Why chunks: on 2 cores this fit takes hours (the distance work of a subset grows with the square
of its size, and T = 100 subsets hold about a third of n² entries each on average), longer than
one session. EAP's T subsets are independent: ``EAP(subset_masks=masks[a:b])`` fits exactly the
subsets a..b-1 of the T = 100 draw (``random_state = 331``, the same SSDO and prior seeds), so the
T = 100 fit is the union of its chunks, and its time the sum of theirs. Each chunk runs in a
fresh process (2 threads over its subsets, as one fit would) that fits, scores the auxiliary
rows, and writes ``benchmarks/results/eap_large_cpu/chunk_<a>-<b>.json``: seconds, peak resident
memory of the process, the pickled size of the fitted subsets it holds, k* per subset and the
sha256 of its φ rows and a digest of the code that ran (the auxqual modules EAP imports and the
versions of numpy, torch, numba and scikit-learn). A finished chunk is not re-run while that
code is unchanged (commit the folder to resume elsewhere); the summary sums only chunks timed on
the current code, and a chunk re-timed on new code keeps the old timing under ``earlier/`` as the
"before" of a before/after table.

Memory: one process fitting all T subsets holds every fitted subset until it scores; a chunk
holds only its own. The summary therefore gives the largest chunk peak and, separately, the
fitted state of all T subsets (the sum of the chunks' pickled sizes): their sum bounds the
peak of a one-process fit from above, up to the interpreter's own overhead counted twice.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from eap_speed import measure_in_child, synthetic_case  # the same synthetic case

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
CHUNKS = RESULTS / "eap_large_cpu"
EARLIER = CHUNKS / "earlier"
N, M, D, T, CHUNK = 200_000, 20, 16, 100, 5


def run_chunk(n: int, m: int, n_aux: int, d: int, n_subsets: int, start: int, stop: int, n_jobs: int) -> dict:
    """Fit and score subsets ``start..stop-1`` of the T-subset draw (inside the measured child)."""
    from auxqual.quality import EAP
    from auxqual.quality.eap import draw_subset_masks

    code = code_digest()  # before the fit: the files as they were when this chunk started
    X, y, aux = synthetic_case(n, m, n_aux, d)
    masks, rates = draw_subset_masks(X.shape[0], m, n_subsets, k0=5, random_state=331)  # EAP's defaults
    begin = time.perf_counter()
    model = EAP(subset_masks=masks[start:stop], n_jobs=n_jobs).fit(X, y)
    fitted = time.perf_counter()
    details = model.score_samples(aux, return_details=True)
    done = time.perf_counter()
    return {"n": n, "m": m, "n_aux": n_aux, "d": d, "T": n_subsets, "start": start, "stop": stop,
            "n_jobs": n_jobs, "fit_s": fitted - begin, "score_s": done - fitted, "total_s": done - begin,
            "rates": rates[start:stop].tolist(), "n_normals": model.n_normals_.tolist(),
            "k_star": model.k_star_.tolist(), "fitted_state_bytes": len(pickle.dumps(model.subsets_, protocol=5)),
            "phi_sha256": hashlib.sha256(np.ascontiguousarray(details.phi).tobytes()).hexdigest(),
            "code": code}


def code_digest() -> str:
    """sha256 of the auxqual modules that ``import auxqual.quality.eap`` loads (in a fresh
    process, so every caller hashes the same files) and of the versions of the libraries
    doing the arithmetic: chunks timed on different code are not summed."""
    listing = ("import sys, numpy, torch, numba, sklearn, auxqual.quality.eap\n"
               "print(numpy.__version__, torch.__version__, numba.__version__, sklearn.__version__)\n"
               "print('\\n'.join(sorted(n + ' ' + m.__file__ for n, m in list(sys.modules.items())\n"
               "      if n.split('.')[0] == 'auxqual' and getattr(m, '__file__', None))))\n")
    versions, *modules = subprocess.run([sys.executable, "-c", listing], capture_output=True, text=True,
                                        check=True, cwd=ROOT).stdout.splitlines()
    digest = hashlib.sha256(versions.encode())
    for module in modules:
        name, path = module.split(" ", 1)
        digest.update(name.encode())
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def chunk_path(start: int, stop: int) -> Path:
    return CHUNKS / f"chunk_{start:03d}-{stop:03d}.json"


def measure_chunk(start: int, stop: int, n_jobs: int) -> dict:
    args = [str(v) for v in (N, M, N // 10, D, T, start, stop)] + ["--n-jobs", str(n_jobs)]
    row = measure_in_child(args, mode="--chunk", script=__file__)
    row.update(machine=machine(), load_average=list(os.getloadavg()),
               finished_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    CHUNKS.mkdir(parents=True, exist_ok=True)
    set_aside(chunk_path(start, stop))
    partial = chunk_path(start, stop).with_suffix(".partial")
    partial.write_text(json.dumps(row, indent=2) + "\n")
    partial.replace(chunk_path(start, stop))
    return row


def set_aside(path: Path) -> None:
    """Keep a chunk timed on earlier code under ``earlier/`` (the before of a before/after)."""
    if path.exists():
        earlier = json.loads(path.read_text()).get("code", "nocode")[:12]
        EARLIER.mkdir(parents=True, exist_ok=True)
        path.replace(EARLIER / f"{path.stem}-{earlier}.json")


def machine() -> str:
    return f"{os.cpu_count()} CPU cores, {platform.machine()}, Python {platform.python_version()}"


def kept_chunks(code: str) -> tuple[list[dict], list[dict]]:
    """The chunks timed on ``code`` and those timed on other code (to re-measure)."""
    rows = sorted((json.loads(p.read_text()) for p in CHUNKS.glob("chunk_*.json")), key=lambda r: r["start"])
    return [r for r in rows if r.get("code") == code], [r for r in rows if r.get("code") != code]


def summarise(code: str) -> str:
    """``eap_large_cpu.{json,md}`` from the chunks measured so far on ``code``."""
    rows, stale = kept_chunks(code)
    done = sum(r["stop"] - r["start"] for r in rows)
    fit, score = sum(r["fit_s"] for r in rows), sum(r["score_s"] for r in rows)
    state = sum(r["fitted_state_bytes"] for r in rows) / 2**30
    peak = max((r["peak_rss_gib"] for r in rows), default=0.0)
    projected = projected_total(rows)
    summary = {"n": N, "m": M, "n_aux": N // 10, "d": D, "T": T, "subsets_measured": done, "chunks": len(rows),
               "fit_s": fit, "score_s": score, "total_s": fit + score, "largest_chunk_peak_rss_gib": peak,
               "fitted_state_gib_measured_subsets": state, "complete": done == T,
               "projected_total_s": projected, "machines": sorted({r["machine"] for r in rows})}
    (RESULTS / "eap_large_cpu.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [f"# EAP at n = {N:,} normals, {N // 10:,} auxiliary rows, d = {D}, m = {M}, T = {T} (CPU)", "",
             f"Machine: {', '.join(summary['machines']) or machine()}; 2 threads over the subsets of each chunk.",
             "", f"Subsets measured: **{done} of {T}** in {len(rows)} chunk(s) "
             f"({'complete' if done == T else 'incomplete: run the script again to measure the rest'}).", "",
             "| subsets | fit (s) | score (s) | total (s) | peak RSS (GiB) | fitted state (MiB) | mean k* | load avg |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['start']}–{r['stop'] - 1} | {r['fit_s']:.0f} | {r['score_s']:.0f} | {r['total_s']:.0f} | "
              f"{r['peak_rss_gib']:.2f} | {r['fitted_state_bytes'] / 2**20:.0f} | {np.mean(r['k_star']):.0f} | "
              f"{r['load_average'][0]:.1f} |" for r in rows]
    lines += ["", f"Sum over the measured subsets: fit {fit:.0f} s, score {score:.0f} s, **total {fit + score:.0f} s** "
              f"({(fit + score) / 3600:.2f} h); largest chunk peak {peak:.2f} GiB; fitted state of the measured "
              f"subsets {state:.2f} GiB (a one-process fit holds all of it before scoring)."]
    if rows and done < T:
        lines += ["", f"Projection, not a measurement: the distance work of a subset grows with the square of its "
                  f"size, so scaling the measured time by Σ p_t² over all {T} subsets against the measured ones "
                  f"(p_t: the subset rates of the draw) gives about **{projected / 3600:.1f} h** for the whole fit."]
    lines += earlier_lines(rows, stale)
    markdown = "\n".join(lines) + "\n"
    (RESULTS / "eap_large_cpu.md").write_text(markdown)
    return markdown


def earlier_lines(rows: list[dict], stale: list[dict]) -> list[str]:
    """Before/after: the same subsets timed on earlier code (kept under ``earlier/``)."""
    earlier = stale + [json.loads(p.read_text()) for p in sorted(EARLIER.glob("chunk_*.json"))]
    now = {r["start"]: r for r in rows}
    lines = [f"| {r['start']}–{r['stop'] - 1} | {r.get('code', 'not recorded')[:12]} | {r['finished_utc'][:10]} | "
             f"{r['total_s']:.0f} | {r['peak_rss_gib']:.2f} | "
             + (f"{now[r['start']]['total_s']:.0f} ({r['total_s'] / now[r['start']]['total_s']:.1f}× faster now) |"
                if r["start"] in now else "not yet |") for r in earlier]
    if not lines:
        return []
    return ["", "The same subsets timed on earlier code (not part of the sums above):", "",
            "| subsets | code | measured | total (s) | peak RSS (GiB) | on the current code (s) |",
            "|---|---|---|---|---|---|", *lines]


def projected_total(rows: list[dict]) -> float | None:
    """The measured seconds scaled to all T subsets by Σ p_t² (the quadratic distance work)."""
    if not rows:
        return None
    from auxqual.quality.eap import draw_subset_masks

    _, rates = draw_subset_masks(N + M, M, T, k0=5, random_state=331)
    measured = sum(float(np.sum(np.square(r["rates"]))) for r in rows)
    return sum(r["total_s"] for r in rows) * float(np.sum(np.square(rates))) / measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-chunks", type=int, default=None, help="measure at most this many chunks now")
    parser.add_argument("--starts", type=int, nargs="+", default=None,
                        help="measure only the chunks that begin at these subsets (e.g. the short ones)")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--summary", action="store_true", help="only rewrite the summary")
    parser.add_argument("--chunk", nargs=7, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.chunk:
        print(json.dumps(run_chunk(*args.chunk, n_jobs=args.n_jobs)))
        return
    code = code_digest()
    if not args.summary:
        from auxqual.detectors.iforest_compiled import compile_kernels
        from auxqual.row_stats import compile_cpu_kernels

        compile_cpu_kernels()  # one-off compilation per install, not part of any chunk's time
        compile_kernels()
        done = {r["start"] for r in kept_chunks(code)[0]}
        todo = [(a, min(a + CHUNK, T)) for a in range(0, T, CHUNK)
                if a not in done and (args.starts is None or a in args.starts)]
        for start, stop in todo[:args.max_chunks]:
            row = measure_chunk(start, stop, args.n_jobs)
            print(f"subsets {start}-{stop - 1}: {row['total_s']:.0f} s, peak {row['peak_rss_gib']:.2f} GiB",
                  file=sys.stderr, flush=True)
            summarise(code)
    print(summarise(code))


if __name__ == "__main__":
    main()
