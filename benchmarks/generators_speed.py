"""How fast is each generator? 10,000 rows from a 5,000 × 64 training set (goal: < 10 s each).

    python benchmarks/generators_speed.py [--repeat 3] [--rows 10000] [--out-dir benchmarks/results]

The training set is synthetic and seeded: 5,000 correlated Gaussian normals in three clusters
and 30 labelled anomalies, half of them in small groups among the normals (so Borderline-SMOTE
and ADASYN find anomalies "in danger") and half in a group of their own. ``outlier_exposure`` draws from a
2,000 × 20 synthetic source. ``benchmark_mixture`` is timed on the same normals plus 600 true
anomalies and five synthetic sources, and makes the protocol's 3·f = 750 rows (it cannot make
10,000: its rows are held-out real ones).

Writes ``generators_speed.csv`` and ``generators_speed.md`` (best and median of ``--repeat``
wall-clock runs, and the machine's load average, since a shared machine slows every number).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn

from auxqual.generators import GENERATOR_NAMES, make
from auxqual.io import write_text

N_NORMALS, N_FEATURES, GOAL_SECONDS = 5000, 64, 10.0


def training_set(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Normals in three correlated clusters plus 30 labelled anomalies: five groups of three
    among the normals (each has 2 anomalies and 8 normals among its 10 nearest rows: "in danger"
    for Borderline-SMOTE) and a group of 15 apart."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(N_FEATURES, N_FEATURES)) / np.sqrt(N_FEATURES)
    centres = rng.normal(0.0, 3.0, size=(3, N_FEATURES))
    normals = rng.standard_normal((N_NORMALS, N_FEATURES)) @ mixing + centres[rng.integers(0, 3, N_NORMALS)]
    edge = np.repeat(normals[rng.choice(N_NORMALS, 5, replace=False)], 3, axis=0)
    edge = edge + rng.normal(0.0, 0.1, size=(15, N_FEATURES))
    apart = centres[0] + 4.0 + rng.normal(0.0, 0.5, size=(15, N_FEATURES))
    X = np.vstack([normals, edge, apart])
    return X, np.r_[np.zeros(N_NORMALS, int), np.ones(30, int)]


def synthetic_source(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(2.0, 1.5, size=(n, d)), (rng.random(n) < 0.2).astype(int)


def time_generator(name: str, X: np.ndarray, y: np.ndarray, rows: int, repeat: int) -> tuple[list[float], int]:
    """Wall-clock seconds of ``repeat`` calls, and the rows one call made."""
    params = {"source": synthetic_source(2000, 20, seed=9)} if name == "outlier_exposure" else {}
    kwargs: dict = {}
    if name == "benchmark_mixture":
        params = {"dataset": "synthetic"}
        anomalies = synthetic_source(600, N_FEATURES, seed=11)[0] + 3.0
        X, y = np.vstack([X[y == 0], anomalies]), np.r_[np.zeros(N_NORMALS, int), np.ones(600, int)]
        rows = None
        kwargs = {"sources": {f"source{i}": synthetic_source(3000, 10 + 5 * i, seed=i) for i in range(5)}}
    seconds, made = [], 0
    for _ in range(repeat):
        generator = make(name, **params)
        start = time.perf_counter()
        frame = generator.generate(X, y, rows, random_state=0, **kwargs)
        seconds.append(time.perf_counter() - start)
        made = len(frame)
    return seconds, made


def run(rows: int, repeat: int) -> pd.DataFrame:
    X, y = training_set()
    records = []
    for name in GENERATOR_NAMES:
        seconds, made = time_generator(name, X, y, rows, repeat)
        best, median = min(seconds), statistics.median(seconds)
        records.append({"generator": name, "rows": made, "train_rows": X.shape[0], "features": N_FEATURES,
                        "seconds_best": round(best, 3), "seconds_median": round(median, 3), "repeats": repeat,
                        "rows_per_second": int(made / best), "meets_goal": median < GOAL_SECONDS})
        print(f"{name:18s} {made:6d} rows  best {best:7.3f} s  median {median:7.3f} s", flush=True)
    return pd.DataFrame.from_records(records)


def markdown(table: pd.DataFrame, load_before: tuple[float, ...], load_after: tuple[float, ...]) -> str:
    header = ["generator", "rows", "best (s)", "median (s)", "rows/s", f"< {GOAL_SECONDS:g} s"]
    lines = ["# Generator speed", "",
             f"{N_NORMALS} × {N_FEATURES} synthetic training set (+30 labelled anomalies); median and best "
             f"of {int(table['repeats'].iloc[0])} runs each.", "",
             f"Machine: {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}, "
             f"numpy {np.__version__}, scikit-learn {sklearn.__version__}. Load average (1, 5, 15 min) "
             f"before {load_before}, after {load_after}: the machine was shared with other jobs, so "
             f"these times are upper bounds.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table.itertuples():
        lines.append(f"| {row.generator} | {row.rows} | {row.seconds_best:.3f} | {row.seconds_median:.3f} | "
                     f"{row.rows_per_second} | {'yes' if row.meets_goal else 'NO'} |")
    lines += ["", "benchmark_mixture makes the protocol's 3·f rows (held-out real anomalies, f = 250 "
              "here), not 10,000, from 5,000 normals + 600 anomalies and five sources."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args()
    load_before = tuple(round(v, 2) for v in os.getloadavg())
    table = run(args.rows, args.repeat)
    load_after = tuple(round(v, 2) for v in os.getloadavg())
    write_text(table.to_csv(index=False), args.out_dir / "generators_speed.csv")
    text = markdown(table, load_before, load_after)
    write_text(text, args.out_dir / "generators_speed.md")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _readme import update_readme_section

    update_readme_section("generators-speed", text)
    return 0 if table["meets_goal"].all() else 1


if __name__ == "__main__":
    raise SystemExit(main())
