"""Why the default data is digits with digit 8 as the anomalies: the test AUROC of every
default detector without auxiliary anomalies (q = 0) for each choice of anomaly digit.

    python benchmarks/default_data.py [--digits 0,1,...,9] [--out-dir benchmarks/results]

The default run should show what auxiliary anomalies do to a detector, so at q = 0 no
default detector may already be perfect (goal: every one at most 0.95), and adding
auxiliary anomalies must be able to move it. For each digit this applies the protocol as
the ``prepare`` stage does (``auxqual.protocol.split_benchmark``, the embedded sources,
``prepare.random_state``), fits each detector of ``train.detectors`` with the seed the
``train`` stage gives it, and reports its test AUROC with
- no auxiliary anomalies (q = 0),
- the realistic third of the benchmark mixture only (what an ideal quality score selects),
- the whole mixture (q = 100: realistic, indistinguishable and unrealistic rows).

Writes ``default_data.md`` and ``default_data.csv``. A handful of seconds per digit.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sklearn.metrics import roc_auc_score

from auxqual.datasets import DEFAULT_ANOMALY_DIGIT, DEFAULT_DATASET, digits, embedded_datasets
from auxqual.detectors.registry import make_detector
from auxqual.io import feature_names, write_text
from auxqual.protocol import split_benchmark
from stages.common import cell_seed

ROOT = Path(__file__).resolve().parents[1]
GOAL_Q0 = 0.95


def measure(digit: int, params: dict) -> list[dict]:
    """Test AUROC of every default detector on digits with ``digit`` as the anomalies."""
    sources = {name: data for name, data in embedded_datasets(sources=params["data"]["default"]["sources"]).items()
               if name != DEFAULT_DATASET}
    X, y = digits(digit)
    prepare = params["prepare"]
    split = split_benchmark(X, y, dataset=DEFAULT_DATASET, sources=sources, n_sources=prepare["n_sources"],
                            max_train_normals=prepare["max_train_normals"], random_state=prepare["random_state"])
    X_aux = split.aux[feature_names(split.X_train.shape[1])].to_numpy()
    kind = split.aux["kind"].to_numpy()
    chosen = {"q = 0": np.zeros(0, dtype=int), "realistic only": np.flatnonzero(kind == "realistic"),
              "whole mixture": np.arange(len(kind))}
    rows = []
    for detector in params["train"]["detectors"]:
        seed = cell_seed(int(params["train"]["random_state"]), DEFAULT_DATASET, detector)
        row = {"digit": digit, "detector": detector, "anomalies": int(y.sum())}
        for name, selected in chosen.items():
            model = make_detector(detector, random_state=seed, device="cpu",
                                  **(params["train"].get("params") or {}).get(detector, {}))
            model.fit(np.vstack([split.X_train, X_aux[selected]]),
                      np.concatenate([split.y_train, np.ones(selected.size, dtype=np.int8)]))
            row[name] = roc_auc_score(split.y_test, model.decision_function(split.X_test))
        rows.append(row)
    return rows


def report(table: pd.DataFrame, seconds: float) -> str:
    """The markdown: per digit, the worst-case q = 0 AUROC and every detector's three AUROCs."""
    lines = ["# Default data: test AUROC per anomaly digit", "",
             f"Goal: every default detector at most {GOAL_Q0} at q = 0, so auxiliary anomalies have "
             f"something to show. Default: digit {DEFAULT_ANOMALY_DIGIT}. Measured in {seconds:.0f} s "
             f"(`python benchmarks/default_data.py`).", "",
             "| digit | anomalies | detector | q = 0 | realistic only | whole mixture | q = 0 meets the goal |",
             "| ---: | ---: | --- | ---: | ---: | ---: | --- |"]
    for row in table.itertuples(index=False):
        mark = " (default)" if row.digit == DEFAULT_ANOMALY_DIGIT else ""
        lines.append(f"| {row.digit}{mark} | {row.anomalies} | {row.detector} | {row.q0:.3f} | "
                     f"{row.realistic_only:.3f} | {row.whole_mixture:.3f} | {'yes' if row.q0 <= GOAL_Q0 else 'no'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--digits", default="0,1,2,3,4,5,6,7,8,9")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    started = time.perf_counter()
    rows = [row for digit in (int(d) for d in args.digits.split(",")) for row in measure(digit, params)]
    table = pd.DataFrame(rows).rename(columns={"q = 0": "q0", "realistic only": "realistic_only",
                                               "whole mixture": "whole_mixture"})
    args.out_dir.mkdir(parents=True, exist_ok=True)
    table.round(4).to_csv(args.out_dir / "default_data.csv", index=False)
    text = report(table, time.perf_counter() - started)
    write_text(text, args.out_dir / "default_data.md")
    print(text)


if __name__ == "__main__":
    main()
