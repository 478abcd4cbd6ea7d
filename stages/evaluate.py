"""Stage ``evaluate``: Q1 (what the quality scores are worth) and Q2 (what the
auxiliary anomalies do to a detector).

- Q1: per dataset and score, the AUROC of the score at ranking the realistic rows of the
  benchmark mixture above the indistinguishable and unrealistic ones
  (``results/q1.parquet``; ``seed`` is ``prepare.random_state``, the protocol's split, as in Q2).
- Q2: per dataset, generator, score, detector and q, the test AUROC of the detector
  trained with the top q % (``results/q2.parquet``), read from the stored test
  predictions (no refitting).
- The Q1 comparison (``results/q1_table.parquet`` and ``.md``): a row per dataset (Q1
  AUROC of every score: EAP, its ablations, the baselines), a row ``average rank`` (rank
  1 = best Q1 on a dataset, ties share the mean rank, averaged over datasets), and the
  budget each estimator used (from ``data/scores/<dataset>/budgets.json``). Deterministic.
- The same table with a ``mean seconds`` row (fit + scoring of the benchmark set, mean
  over datasets) in ``results/timings/q1_table.parquet`` and ``.md``, written only when
  ``results/timings/score.json`` belongs to the score tables on disk (same sha256).
  Wall-clock times differ from run to run, so these two files are not DVC outputs
  (git-ignored); everything DVC hashes stays byte-reproducible.
- ``metrics.json``: Q1 mean AUROC and average rank per score, Q2 mean AUROC over q > 0
  per score (and per detector), for ``dvc metrics``.
- ``plots/*.csv``: data of the ``plots:`` section of dvc.yaml (``dvc plots show``).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from auxqual.io import sha256_file, write_json, write_parquet, write_text
from auxqual.metrics import AVERAGE_RANK, MEAN_SECONDS, q1_comparison, q1_table, q2_summary, q2_table
from stages.common import (
    BENCHMARK_GENERATOR,
    BUDGETS_FILE,
    PLOTS_DIR,
    PREDICTIONS_DIR,
    RESULTS_DIR,
    SCORES_DIR,
    TIMINGS_DIR,
    TIMINGS_PATH,
    Log,
    StageError,
    dataset_dirs,
    load_params,
    main_wrapper,
    protocol_seed,
    publish_dir,
    remove_stale,
    score_columns,
)

Q1_PATH = RESULTS_DIR / "q1.parquet"
Q2_PATH = RESULTS_DIR / "q2.parquet"
Q1_TABLE_PATH = RESULTS_DIR / "q1_table.parquet"
Q1_TABLE_MD = RESULTS_DIR / "q1_table.md"
TIMED_TABLE_PATH = TIMINGS_DIR / "q1_table.parquet"
TIMED_TABLE_MD = TIMINGS_DIR / "q1_table.md"
METRICS_PATH = "metrics.json"


# --------------------------------------------------------------------------- Q1 comparison helpers
def load_budgets(datasets: list[str], generator: str = BENCHMARK_GENERATOR) -> pd.DataFrame:
    """One row per (dataset, score): the budget, game and utility it used on ``generator``
    (``data/scores/<dataset>/budgets.json``; empty when the file is absent)."""
    rows = []
    for dataset in datasets:
        path = SCORES_DIR / dataset / BUDGETS_FILE
        if not path.exists():
            continue
        for score, entry in json.loads(path.read_text(encoding="utf-8")).items():
            used = (entry.get("generators") or {}).get(generator) or {}
            rows.append({"dataset": dataset, "score": score, "budget": used.get("budget") or {},
                         "game": used.get("game"), "utility": used.get("utility"),
                         "params": entry.get("params") or {}})
    return pd.DataFrame(rows, columns=["dataset", "score", "budget", "game", "utility", "params"])


def _summarise_values(values: list) -> str:
    distinct = list(dict.fromkeys(json.dumps(v, sort_keys=True) for v in values))
    if len(distinct) == 1:
        return distinct[0]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return f"{min(values):g}–{max(values):g}"
    return "varies"


def budget_summary(budgets: pd.DataFrame, scores: list[str]) -> pd.DataFrame:
    """Per score: each budget entry, summarised over datasets (one value, or min–max)."""
    rows = []
    for score in scores:
        group = budgets[budgets["score"] == score]
        entries: dict[str, list] = {}
        for budget in group["budget"]:
            for key, value in budget.items():
                entries.setdefault(key, []).append(value)
        text = ", ".join(f"{k}={_summarise_values(v)}" for k, v in sorted(entries.items())) or "—"
        game = "/".join(sorted({str(g) for g in group["game"] if isinstance(g, str)})) or "—"
        utility = "; ".join(sorted({str(u) for u in group["utility"] if isinstance(u, str)})) or "—"
        rows.append({"score": score, "budget": text, "game": game, "utility": utility})
    return pd.DataFrame(rows, columns=["score", "budget", "game", "utility"])


def load_seconds(datasets: list[str], log: Log) -> tuple[pd.DataFrame | None, dict]:
    """Seconds of each (dataset, score) on the benchmark set (fit + scoring) from
    ``results/timings/score.json``, or ``None`` when the file is absent or belongs to other
    score tables than those on disk (their sha256 differ)."""
    if not TIMINGS_PATH.exists():
        log(f"{TIMINGS_PATH} not found: the Q1 table has no {MEAN_SECONDS!r} row")
        return None, {}
    try:
        timings = json.loads(TIMINGS_PATH.read_text(encoding="utf-8"))
        recorded = timings["score_tables_sha256"]
        stale = [d for d in datasets if recorded.get(d, {}).get(BENCHMARK_GENERATOR)
                 != sha256_file(SCORES_DIR / d / f"{BENCHMARK_GENERATOR}.parquet")]
        rows = [{"dataset": c["dataset"], "score": c["score"],
                 "seconds": float(c["fit_seconds"]) + float(c["score_seconds"][BENCHMARK_GENERATOR])}
                for c in timings["cells"] if c["dataset"] in datasets and BENCHMARK_GENERATOR in c["score_seconds"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        log(f"{TIMINGS_PATH}: unreadable ({error}): no {MEAN_SECONDS!r} row")
        return None, {}
    if stale:
        log(f"{TIMINGS_PATH} belongs to another run of stage 'score' (score tables of {stale} differ): "
            f"no {MEAN_SECONDS!r} row")
        return None, {}
    context = {k: timings.get(k) for k in ("runner", "workers", "cpu_count", "load_average_before",
                                            "load_average_after", "wall_seconds")}
    return pd.DataFrame(rows, columns=["dataset", "score", "seconds"]), context


def _number(value: float, fmt: str) -> str:
    return "" if value is None or np.isnan(value) else format(float(value), fmt)


def q1_markdown(table: pd.DataFrame, budgets: pd.DataFrame, *, n_realistic: dict | None = None,
                timing: dict | None = None) -> str:
    """The Q1 comparison as Markdown: the dataset × estimator table (best of each row in
    bold), the estimators sorted by average rank, and the budgets."""
    scores = [c for c in table.columns if c != "dataset"]
    per_dataset = table[~table["dataset"].isin([AVERAGE_RANK, MEAN_SECONDS])]
    ranks = table.loc[table["dataset"] == AVERAGE_RANK, scores].iloc[0]
    seconds = (table.loc[table["dataset"] == MEAN_SECONDS, scores].iloc[0]
               if (table["dataset"] == MEAN_SECONDS).any() else None)

    def row(label: str, values: pd.Series, fmt: str, best) -> str:
        cells = []
        for score in scores:
            text = _number(values[score], fmt)
            cells.append(f"**{text}**" if best is not None and text and values[score] == best else text)
        return f"| {label} | " + " | ".join(cells) + " |"

    lines = ["# Q1: AUROC at ranking realistic auxiliary anomalies first", "",
             f"Benchmark mixture of each dataset (realistic vs indistinguishable + unrealistic); "
             f"{len(per_dataset)} datasets × {len(scores)} estimators; 0.5 = chance, **bold** = best of the row. "
             f"`{AVERAGE_RANK}`: the estimator's rank on each dataset (1 = best Q1, ties share the mean rank), "
             "averaged over datasets."
             + (f" `{MEAN_SECONDS}`: fit + scoring of the benchmark set, mean over datasets, wall clock "
                f"(runner {timing.get('runner')}, {timing.get('workers')} worker(s), {timing.get('cpu_count')} "
                f"cores, load average before/after {timing.get('load_average_before')}/"
                f"{timing.get('load_average_after')})." if seconds is not None and timing else ""), ""]
    lines.append("| dataset | " + " | ".join(scores) + " |")
    lines.append("| --- | " + " | ".join("---" for _ in scores) + " |")
    for _, values in per_dataset.iterrows():
        label = str(values["dataset"])
        if n_realistic and label in n_realistic:
            label += f" ({n_realistic[label]})"
        lines.append(row(label, values, ".3f", max(values[scores])))
    lines.append(row(f"**{AVERAGE_RANK}**", ranks, ".2f", ranks.min()))
    if seconds is not None:
        lines.append(row(MEAN_SECONDS, seconds, ".2f", None))
    if n_realistic:
        lines += ["", "(n) after a dataset: its realistic / other auxiliary rows."]

    mean_auroc = per_dataset[scores].mean(axis=0)
    wins = per_dataset[scores].eq(per_dataset[scores].max(axis=1), axis=0).sum(axis=0)
    order = sorted(scores, key=lambda s: (ranks[s], -mean_auroc[s], s))
    summary = budget_summary(budgets, order).set_index("score") if len(budgets) else None
    lines += ["", "## Estimators by average rank", "",
              "| # | estimator | average rank | mean Q1 AUROC | best on | " + ("mean seconds | " if seconds is not None
                                                                           else "") + "budget |",
              "| --- | --- | --- | --- | --- | " + ("--- | " if seconds is not None else "") + "--- |"]
    for i, score in enumerate(order, 1):
        budget = summary.at[score, "budget"] if summary is not None and score in summary.index else "—"
        lines.append(f"| {i} | {score} | {ranks[score]:.2f} | {mean_auroc[score]:.3f} | {int(wins[score])} | "
                     + (f"{_number(seconds[score], '.2f')} | " if seconds is not None else "") + f"`{budget}` |")
    if summary is not None:
        lines += ["", "## Budgets, games and utilities", "",
                  "As reported by each estimator's scoring details (budget, game, utility; EAP: its subsets); "
                  "a range is min–max over datasets.", "",
                  "| estimator | budget | game | utility |", "| --- | --- | --- | --- |"]
        for score in scores:
            if score in summary.index:
                entry = summary.loc[score]
                lines.append(f"| {score} | `{entry['budget']}` | {entry['game']} | {entry['utility']} |")
    return "\n".join(lines) + "\n"


def _csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, float_format="%.6f", lineterminator="\n")


def main() -> None:
    log = Log("evaluate")
    seed = protocol_seed(load_params())    # the protocol's split behind every row; the whole file checked first
    remove_stale(Q1_PATH, Q2_PATH, Q1_TABLE_PATH, Q1_TABLE_MD, TIMED_TABLE_PATH, TIMED_TABLE_MD, METRICS_PATH)
    datasets = dataset_dirs(SCORES_DIR, "score")

    # ---- Q1 on the benchmark mixture (the only set whose ground truth is known)
    frames = []
    for dataset in datasets:
        path = SCORES_DIR / dataset / f"{BENCHMARK_GENERATOR}.parquet"
        if path.exists():
            frames.append(pd.read_parquet(path))
    if frames:
        bench = pd.concat(frames, ignore_index=True)
        scores = score_columns(bench)
        q1 = q1_table(bench, scores, by=("dataset",))
    else:
        log(f"no {BENCHMARK_GENERATOR} set among the generators: Q1 is empty")
        scores, q1 = [], pd.DataFrame(columns=["dataset", "score", "auroc", "n_realistic", "n_other"])
    q1["score"] = pd.Categorical(q1["score"], categories=scores, ordered=True) if scores else q1["score"]
    q1 = q1.sort_values(["dataset", "score"]).reset_index(drop=True)
    q1["score"] = q1["score"].astype(str)

    # ---- Q2 from stored test predictions
    predictions = []
    for dataset in datasets:
        path = PREDICTIONS_DIR / f"{dataset}.parquet"
        if not path.exists():
            raise StageError(f"{path}: missing test predictions of dataset {dataset!r}; run stage 'train'")
        predictions.append(pd.read_parquet(path))
    q2 = q2_table(pd.concat(predictions, ignore_index=True))
    q1.insert(1, "seed", seed)
    q2.insert(1, "seed", seed)

    write_parquet(q1, Q1_PATH)
    write_parquet(q2, Q2_PATH)

    # ---- the Q1 comparison table (deterministic), and a timed copy outside DVC
    if len(q1):
        budgets = load_budgets(datasets)
        counts = {r.dataset: f"{int(r.n_realistic)}/{int(r.n_other)}"
                  for r in q1.drop_duplicates("dataset").itertuples(index=False)}
        comparison = q1_comparison(q1, scores)
        write_parquet(comparison, Q1_TABLE_PATH)
        write_text(q1_markdown(comparison, budgets, n_realistic=counts), Q1_TABLE_MD)
        seconds, timing = load_seconds(list(q1["dataset"].unique()), log)
        if seconds is not None:
            timed = q1_comparison(q1, scores, seconds=seconds)
            write_parquet(timed, TIMED_TABLE_PATH)
            write_text(q1_markdown(timed, budgets, n_realistic=counts, timing=timing), TIMED_TABLE_MD)
            log(f"wrote {TIMED_TABLE_MD} (with {MEAN_SECONDS!r}; not a DVC output)")
    else:
        comparison = pd.DataFrame(columns=["dataset"])
        write_parquet(comparison, Q1_TABLE_PATH)
        write_text("# Q1: AUROC at ranking realistic auxiliary anomalies first\n\n"
                   f"(no {BENCHMARK_GENERATOR} set among the generators: Q1 not measured)\n", Q1_TABLE_MD)

    # ---- metrics.json
    metrics: dict = {"q1_auroc": {}, "q1_average_rank": {}, "q2_mean_auroc": {}, "q2_auroc_q0": {}}
    for score, group in q1.groupby("score", sort=False):
        metrics["q1_auroc"][score] = round(float(group["auroc"].mean()), 6)
    ranks = comparison[comparison["dataset"] == AVERAGE_RANK]
    for score in scores:
        if len(ranks):
            metrics["q1_average_rank"][score] = round(float(ranks[score].iloc[0]), 6)
    by_score = q2_summary(q2, by=("score",))
    for row in by_score.itertuples(index=False):
        metrics["q2_mean_auroc"][row.score] = round(float(row.mean_auroc), 6)
    for row in q2_summary(q2, by=("detector",)).itertuples(index=False):
        metrics["q2_auroc_q0"][row.detector] = round(float(row.auroc_q0), 6)
    metrics["q2_mean_auroc_by_detector"] = {
        det: {r.score: round(float(r.mean_auroc), 6) for r in g.itertuples(index=False)}
        for det, g in q2_summary(q2, by=("detector", "score")).groupby("detector", sort=True)}
    metrics["n_datasets"] = len(datasets)
    metrics["n_models"] = len(q2)
    write_json(metrics, METRICS_PATH)

    # ---- plots/*.csv for `dvc plots`
    q_scores = list(dict.fromkeys(q2["score"]))
    with publish_dir(PLOTS_DIR) as staging:
        q1_mean = (q1.groupby("score", sort=False)["auroc"].mean().reindex(scores).rename("auroc")
                   .reset_index() if len(q1) else pd.DataFrame(columns=["score", "auroc"]))
        write_text(_csv(q1_mean), staging / "q1.csv")
        curve = q2.groupby(["q", "score"], sort=True)["auroc"].mean().unstack("score")
        wide = curve.reindex(columns=q_scores).reset_index()
        write_text(_csv(wide), staging / "q2.csv")
        long = (q2.groupby(["detector", "score", "q"], sort=True)["auroc"].mean().reset_index())
        write_text(_csv(long), staging / "q2_by_detector.csv")
    log(f"Q1: {len(q1)} rows, Q2: {len(q2)} rows; "
        + ", ".join(f"{k} Q1={v:.3f}" for k, v in metrics["q1_auroc"].items()))


if __name__ == "__main__":
    main_wrapper("evaluate", main)
