"""Stage ``report``: figures and a Markdown summary of Q1, Q2 and the lineage.

Writes ``reports/``:
- ``q1_scores.png``: Q1 AUROC per score (mean over datasets, a dot per dataset)
- ``q1_ranks.png``: the Q1 comparison: each estimator's average rank over datasets and a
  heatmap of Q1 AUROC per dataset × estimator (``results/q1_table.parquet``)
- ``score_distributions.png``: each score's distribution by kind of auxiliary anomaly
- ``q2_curves.png``: test AUROC vs q, per generator and detector, a line per score
- ``generators.png``: per generator, the EAP distribution and the downstream AUROC
- ``summary.md``: the tables behind the figures (the Q1 comparison of
  ``results/q1_table.md`` included), and how many models the lineage holds. Wall-clock
  times are not in the report (it is a DVC output and stays byte-reproducible); they are
  in ``results/timings/q1_table.md``.

Params: ``report`` (``score``: the score shown per generator, ``eap`` by default).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from auxqual import plots
from auxqual.io import write_text
from auxqual.metrics import q2_summary
from stages.common import (BENCHMARK_GENERATOR, REPORTS_DIR, RESULTS_DIR, SCORES_DIR, Log, StageError,
                           dataset_dirs, load_params, main_wrapper, publish_dir)
from stages.train import score_columns


def _markdown_table(frame: pd.DataFrame, floatfmt: str = ".3f") -> str:
    def cell(value) -> str:
        if isinstance(value, (float, np.floating)):
            return "" if np.isnan(value) else format(float(value), floatfmt)
        return str(value)

    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def main() -> None:
    log = Log("report")
    config = load_params().get("report") or {}
    q1 = pd.read_parquet(RESULTS_DIR / "q1.parquet")
    q2 = pd.read_parquet(RESULTS_DIR / "q2.parquet")
    comparison = pd.read_parquet(RESULTS_DIR / "q1_table.parquet")
    comparison_md = (RESULTS_DIR / "q1_table.md").read_text(encoding="utf-8")
    lineage = pd.read_parquet(RESULTS_DIR / "lineage.parquet")
    datasets = dataset_dirs(SCORES_DIR, "score")
    all_scores = pd.concat([pd.read_parquet(p) for d in datasets for p in sorted((SCORES_DIR / d).glob("*.parquet"))],
                           ignore_index=True)
    score_names = score_columns(all_scores)
    shown = str(config.get("score", "eap"))
    if shown not in score_names:
        shown = score_names[0]
    bench = all_scores[all_scores["generator"] == BENCHMARK_GENERATOR]

    with publish_dir(REPORTS_DIR) as staging:
        figures = []
        if len(q1):
            figures.append(("Q1 per score", plots.q1_bar_chart(q1, staging / "q1_scores.png")))
        if len(comparison) and len(comparison.columns) > 1:
            figures.append(("Q1 comparison: average ranks", plots.q1_ranks(comparison, staging / "q1_ranks.png")))
        if len(bench):
            figures.append(("Scores by kind", plots.score_distributions(bench, score_names,
                                                                          staging / "score_distributions.png")))
        if len(q2) == 0:
            raise StageError(f"{RESULTS_DIR / 'q2.parquet'}: no rows")
        figures.append(("Q2 curves", plots.q2_curves(q2, staging / "q2_curves.png")))
        figures.append((f"Generators ({shown})", plots.generator_summary(all_scores, q2, staging / "generators.png",
                                                                         score=shown)))
        lines = ["# auxqual pipeline report", "",
                 f"Datasets: {', '.join(datasets)}. Generators: {', '.join(dict.fromkeys(all_scores['generator']))}. "
                 f"Scores: {', '.join(score_names)}. Detectors: {', '.join(dict.fromkeys(q2['detector']))}. "
                 f"Budgets q: {', '.join(str(int(q)) for q in sorted(set(q2['q'])))} %.", ""]
        lines += ["## Q1: do the scores rank realistic auxiliary anomalies first?", "",
                  "AUROC of each score at ranking the realistic rows of the benchmark mixture above the "
                  "indistinguishable and unrealistic ones (0.5 = chance).", ""]
        if len(q1):
            wide = q1.pivot(index="score", columns="dataset", values="auroc")
            wide = wide.reindex(list(dict.fromkeys(q1["score"])))
            wide["mean"] = wide.mean(axis=1)
            lines += [_markdown_table(wide.reset_index()), ""]
        else:
            lines += ["(no benchmark_mixture set: Q1 not measured)", ""]
        # the Q1 comparison of results/q1_table.md, its headings one level down
        body = comparison_md.split("\n", 1)[1] if comparison_md.startswith("# ") else comparison_md
        lines += ["## Q1 comparison: every estimator, average ranks", "",
                  "From `results/q1_table.md`; the same table with the mean seconds per estimator is "
                  "`results/timings/q1_table.md` (wall clock, not versioned by DVC).", "",
                  body.replace("\n## ", "\n### ").strip(), ""]
        lines += ["## Q2: what do the auxiliary anomalies do to a detector?", "",
                  "Test AUROC of detectors trained with the top q % of each auxiliary set as ranked by each score: "
                  "mean over q > 0 (area under the curve), the best q, and the AUROC without auxiliary anomalies "
                  "(q = 0); averaged over datasets.", ""]
        summary = q2_summary(q2, by=("generator", "detector", "score"))
        summary["best_q"] = summary["best_q"].round().astype("Int64")
        lines += [_markdown_table(summary), ""]
        lines += ["## Lineage", "",
                  f"{lineage['model_path'].nunique() if 'model_path' in lineage else len(lineage)} models with a "
                  f"lineage sidecar (`results/lineage.parquet`; query with `auxqual lineage`).", ""]
        lines += ["## Figures", ""] + [f"- {title}: ![{title}]({path.name})" for title, path in figures] + [""]
        write_text("\n".join(lines), staging / "summary.md")
    log(f"wrote {len(figures)} figures and {REPORTS_DIR / 'summary.md'}")


if __name__ == "__main__":
    main_wrapper("report", main)
