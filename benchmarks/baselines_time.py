"""How long does each baseline take with its default budget on a protocol-sized dataset?

    python benchmarks/baselines_time.py [--cases cardio synthetic] [--only NAME ...] [--n-jobs 2]
                                        [--out-dir benchmarks/results]

Goal (baselines.md / issue 6): all 12 baselines, default budgets, finish on one protocol dataset
(≤ 1000 training normals, ≤ 750 auxiliary rows) in under 15 minutes in total on 2 cores.

Cases:
- ``cardio``: the EAP reference fixture (``shared/fixtures/eap-reference/cardio.npz``): 1005
  training rows (5 labelled anomalies), 249 auxiliary rows (83 realistic, 83 indistinguishable,
  83 unrealistic). Q1 = ``roc_auc_score(aux_kind == 0, score)``.
- ``synthetic``: the worst protocol size, 1000 normals + 10 labelled anomalies in 21 dimensions
  and 750 auxiliary rows (250 drawn like the anomalies, 250 like the normals, 250 far away),
  seeded; its Q1 is only a sanity check.

Writes ``baselines_time.csv`` and ``baselines_time.md`` (estimator, seconds, budget, Q1, game,
utility, per case; the load average before and after, since a shared machine slows every number).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
from sklearn.metrics import roc_auc_score

from auxqual.io import write_text  # the installed auxqual (scripts/setup-env.sh installs the checkout, editable)
from auxqual.quality.baselines import BASELINES

ROOT = Path(__file__).resolve().parents[1]

GOAL_SECONDS = 15 * 60
SHARED = Path(os.environ.get("AUXQUAL_SHARED", ROOT.parent / "shared"))


def cardio_case() -> dict[str, np.ndarray]:
    path = SHARED / "fixtures" / "eap-reference" / "cardio.npz"
    if not path.exists():
        raise SystemExit(f"{path} not found (set AUXQUAL_SHARED to the shared/ folder)")
    with np.load(path) as data:
        return {"X": data["X_train"], "y": data["y_train"], "A": data["X_aux"], "kind": data["aux_kind"]}


def synthetic_case(seed: int = 0, d: int = 21) -> dict[str, np.ndarray]:
    """1000 normals, 10 labelled anomalies, 750 auxiliary rows in three kinds of 250."""
    rng = np.random.default_rng(seed)
    normals = rng.normal(size=(1000, d))
    centre = np.full(d, 2.5)
    anomalies = centre + rng.normal(0.0, 0.5, size=(10, d))
    realistic = centre + rng.normal(0.0, 0.6, size=(250, d))
    indistinguishable = rng.normal(size=(250, d))
    unrealistic = rng.uniform(-12.0, 12.0, size=(250, d))
    return {"X": np.vstack([normals, anomalies]), "y": np.r_[np.zeros(1000, np.int8), np.ones(10, np.int8)],
            "A": np.vstack([realistic, indistinguishable, unrealistic]), "kind": np.repeat([0, 1, 2], 250)}


CASES = {"cardio": cardio_case, "synthetic": synthetic_case}


def time_one(name: str, case: dict, n_jobs: int) -> dict:
    cls = BASELINES[name]
    params = {"n_jobs": n_jobs} if "n_jobs" in inspect.signature(cls).parameters else {}
    estimator = cls(**params)
    start = time.perf_counter()
    # scoring never changes an estimator: the budget, game and utility come back with the scores
    details = estimator.fit(case["X"], case["y"]).score_samples(case["A"], return_details=True)
    seconds = time.perf_counter() - start
    scores = details.score
    return {"estimator": name, "seconds": round(seconds, 2), "budget": json.dumps(details.budget, sort_keys=True),
            "q1_auroc": round(float(roc_auc_score(case["kind"] == 0, scores)), 4),
            "distinct_scores": int(np.unique(scores).size), "game": details.game, "utility": details.utility}


def markdown(frame: pd.DataFrame, load_before: tuple, load_after: tuple, n_jobs: int) -> str:
    lines = ["# Baseline quality estimators: time with default budgets", "",
             f"Goal: all 12 together < {GOAL_SECONDS // 60} min per protocol dataset on 2 cores "
             f"(n_jobs={n_jobs}).", "",
             f"Machine: {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}, "
             f"numpy {np.__version__}, scikit-learn {sklearn.__version__}. Load average (1, 5, 15 min) before "
             f"{load_before}, after {load_after}: the machine was shared with other jobs, so these times are "
             "upper bounds.", ""]
    for case, part in frame.groupby("case", sort=False):
        total = part["seconds"].sum()
        lines += [f"## {case} (n_train={part['n_train'].iloc[0]}, n_aux={part['n_aux'].iloc[0]}): total "
                  f"{total:.1f} s ({'under' if total < GOAL_SECONDS else 'OVER'} the {GOAL_SECONDS // 60}-minute goal)",
                  "", "| estimator | seconds | Q1 AUROC | distinct scores | game | budget |",
                  "|---|---|---|---|---|---|"]
        for row in part.itertuples():
            lines.append(f"| {row.estimator} | {row.seconds:.1f} | {row.q1_auroc:.3f} | {row.distinct_scores} | "
                         f"{row.game} | `{row.budget}` |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=["cardio"], choices=sorted(CASES))
    parser.add_argument("--only", nargs="+", default=list(BASELINES), choices=list(BASELINES))
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    load_before = tuple(round(x, 2) for x in os.getloadavg())
    rows = []
    for case_name in args.cases:
        case = CASES[case_name]()
        for name in args.only:
            row = time_one(name, case, args.n_jobs)
            row.update(case=case_name, n_train=case["X"].shape[0], n_aux=case["A"].shape[0])
            rows.append(row)
            print(f"{case_name:9s} {name:22s} {row['seconds']:8.1f} s  Q1={row['q1_auroc']:.3f}", flush=True)
    load_after = tuple(round(x, 2) for x in os.getloadavg())
    columns = ["case", "n_train", "n_aux", "estimator", "seconds", "q1_auroc", "distinct_scores", "game", "utility",
               "budget"]
    frame = pd.DataFrame(rows)[columns]
    write_text(frame.to_csv(index=False), args.out_dir / "baselines_time.csv")
    text = markdown(frame, load_before, load_after, args.n_jobs) + "\n"
    write_text(text, args.out_dir / "baselines_time.md")
    from _readme import update_readme_section

    update_readme_section("baselines-time", text)
    for case, part in frame.groupby("case", sort=False):
        print(f"{case}: total {part['seconds'].sum():.1f} s")


if __name__ == "__main__":
    main()
