"""Stage ``evaluate``: Q1 (what the quality scores are worth) and Q2 (what the
auxiliary anomalies do to a detector).

- Q1: per dataset and score, the AUROC of the score at ranking the realistic rows of the
  benchmark mixture above the indistinguishable and unrealistic ones
  (``results/q1.parquet``).
- Q2: per dataset, generator, score, detector and q, the test AUROC of the detector
  trained with the top q % (``results/q2.parquet``), read from the stored test
  predictions (no refitting).
- ``metrics.json``: Q1 mean AUROC per score, Q2 mean AUROC over q > 0 per score (and
  per detector), for ``dvc metrics``.
- ``plots/*.csv``: data of the ``plots:`` section of dvc.yaml (``dvc plots show``).
"""

from __future__ import annotations

import pandas as pd

from auxqual.io import write_json, write_parquet, write_text
from auxqual.metrics import q1_table, q2_summary, q2_table
from stages.common import (BENCHMARK_GENERATOR, PLOTS_DIR, PREDICTIONS_DIR, RESULTS_DIR, SCORES_DIR, Log,
                           StageError, dataset_dirs, main_wrapper, publish_dir, remove_stale)
from stages.train import score_columns

Q1_PATH = RESULTS_DIR / "q1.parquet"
Q2_PATH = RESULTS_DIR / "q2.parquet"
METRICS_PATH = "metrics.json"


def _csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, float_format="%.6f", lineterminator="\n")


def main() -> None:
    log = Log("evaluate")
    remove_stale(Q1_PATH, Q2_PATH, METRICS_PATH)
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

    write_parquet(q1, Q1_PATH)
    write_parquet(q2, Q2_PATH)

    # ---- metrics.json
    metrics: dict = {"q1_auroc": {}, "q2_mean_auroc": {}, "q2_auroc_q0": {}}
    for score, group in q1.groupby("score", sort=False):
        metrics["q1_auroc"][score] = round(float(group["auroc"].mean()), 6)
    by_score = q2_summary(q2, by=("score",))
    for row in by_score.itertuples(index=False):
        metrics["q2_mean_auroc"][row.score] = round(float(row.mean_auroc), 6)
    for row in q2_summary(q2, by=("detector",)).itertuples(index=False):
        metrics["q2_auroc_q0"][row.detector] = round(float(row.auroc_q0), 6)
    metrics["q2_mean_auroc_by_detector"] = {
        det: {r.score: round(float(r.mean_auroc), 6) for r in g.itertuples(index=False)}
        for det, g in q2_summary(q2, by=("detector", "score")).groupby("detector", sort=True)}
    metrics["n_datasets"] = len(datasets)
    metrics["n_models"] = int(len(q2))
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
