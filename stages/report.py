"""Stage ``report``: figures and a Markdown summary of Q1, Q2 and the lineage.

Writes ``reports/``:
- ``q1_scores.png``: Q1 AUROC per score (mean over datasets, a dot per dataset); here and in
  ``q1_ranks.png`` and ``q2_curves.png`` a score degenerate somewhere (constant, or fewer than 5 %
  distinct values: ``results/q1_seeds.parquet``, ``q2_seeds.parquet``) is labelled "degenerate on k/N"
- ``q1_ranks.png``: the Q1 comparison: each estimator's average rank over datasets and a
  heatmap of Q1 AUROC per dataset × estimator (``results/q1_table.parquet``)
- ``score_distributions.png``: each score's distribution by kind of auxiliary anomaly
- ``q2_curves.png``: test AUROC vs q, per generator and detector, a line per score
- ``generators.png``: per generator, the EAP distribution and the downstream AUROC
- ``q3_regret.png``: Q3 mean regret of model selection per score, with its interval
  (``results/q3.parquet``); ``q3_validation_vs_test.png``: every candidate's validation vs
  test AUROC on the first dataset (``results/q3_candidates.parquet``)
- ``q1_cd.png``, ``q2_gain_cd.png``: critical-difference diagrams (mean rank over datasets,
  Nemenyi) of Q1 and of the Q2 gain over random selection, from stage ``compare``'s tables,
  degenerate scores named; drawn when there are at least 2 datasets
- ``summary.md``: the tables behind the figures (the Q1 comparison of
  ``results/q1_table.md`` included; the Q1 table names the datasets where a score was
  degenerate, from ``results/q1_seeds.parquet``), and how many models the lineage holds. Wall-clock
  times are not in the report (it is a DVC output and stays byte-reproducible); they are
  in ``results/timings/q1_table.md``.

Params: ``report`` (``score``: the score shown per generator, ``eap`` by default).
"""

from __future__ import annotations

import pandas as pd

from auxqual import plots
from auxqual.io import write_text
from auxqual.metrics import q2_summary
from auxqual.selection import regret_summary
from stages.common import (
    BENCHMARK_GENERATOR,
    REPORTS_DIR,
    RESULTS_DIR,
    SCORES_DIR,
    Log,
    StageError,
    dataset_dirs,
    load_params,
    main_wrapper,
    publish_dir,
    score_columns,
)


def _markdown_table(frame: pd.DataFrame, floatfmt: str = ".3f") -> str:
    """``frame`` as a Markdown table (pandas' ``to_markdown``); a missing value is an empty cell."""
    return frame.astype(object).where(frame.notna(), None).to_markdown(index=False, floatfmt=floatfmt,
                                                                       missingval="")


def degenerate_counts(seeds: pd.DataFrame, name: str, units: list[str]) -> tuple[dict[str, int], int]:
    """``({score: k}, N)`` from a ``*_seeds`` table of stage compare: ``k`` of the ``N`` units
    (datasets, or (dataset, generator) sets) where the score was degenerate on some seed;
    scores never degenerate are left out."""
    if seeds.empty or "degenerate" not in seeds:
        return {}, 0
    flagged = seeds[seeds["degenerate"].astype(bool)].drop_duplicates([name, *units]).groupby(name).size()
    return {str(score): int(count) for score, count in flagged.items()}, len(seeds[units].drop_duplicates())


def degenerate_notes(seeds: pd.DataFrame, name: str, units: list[str]) -> dict[str, str]:
    """``{score: "degenerate on k/N"}`` (``degenerate_counts``), the figures' labels."""
    return notes_from_counts(*degenerate_counts(seeds, name, units))


def notes_from_counts(counts: dict[str, int], total: int) -> dict[str, str]:
    """``{score: "degenerate on k/N"}`` from ``degenerate_counts``'s answer."""
    return {score: f"degenerate on {count}/{total}" for score, count in counts.items()}


def main() -> None:
    log = Log("report")
    config = load_params().report
    q1 = pd.read_parquet(RESULTS_DIR / "q1.parquet")
    q2 = pd.read_parquet(RESULTS_DIR / "q2.parquet")
    comparison = pd.read_parquet(RESULTS_DIR / "q1_table.parquet")
    comparison_md = (RESULTS_DIR / "q1_table.md").read_text(encoding="utf-8")
    lineage = pd.read_parquet(RESULTS_DIR / "lineage.parquet")
    q3 = pd.read_parquet(RESULTS_DIR / "q3.parquet")
    q3_candidates = pd.read_parquet(RESULTS_DIR / "q3_candidates.parquet")
    datasets = dataset_dirs(SCORES_DIR, "score")
    all_scores = pd.concat([pd.read_parquet(p) for d in datasets for p in sorted((SCORES_DIR / d).glob("*.parquet"))],
                           ignore_index=True)
    score_names = score_columns(all_scores)
    shown = config.score
    if shown not in score_names:
        shown = score_names[0]
    bench = all_scores[all_scores["generator"] == BENCHMARK_GENERATOR]

    q1_degenerate, n_q1_datasets = degenerate_counts(pd.read_parquet(RESULTS_DIR / "q1_seeds.parquet"), "estimator",
                                                     ["dataset"])
    q1_notes = notes_from_counts(q1_degenerate, n_q1_datasets)
    q2_notes = degenerate_notes(pd.read_parquet(RESULTS_DIR / "q2_seeds.parquet"), "score", ["dataset", "generator"])

    with publish_dir(REPORTS_DIR) as staging:
        figures = []
        if len(q1):
            figures.append(("Q1 per score", plots.q1_bar_chart(q1, staging / "q1_scores.png", notes=q1_notes)))
        if len(comparison) and len(comparison.columns) > 1:
            figures.append(("Q1 comparison: average ranks", plots.q1_ranks(comparison, staging / "q1_ranks.png",
                                                                           notes=q1_notes)))
        if len(bench):
            figures.append(("Scores by kind", plots.score_distributions(bench, score_names,
                                                                          staging / "score_distributions.png")))
        if len(q2) == 0:
            raise StageError(f"{RESULTS_DIR / 'q2.parquet'}: no rows")
        figures.append(("Q2 curves", plots.q2_curves(q2, staging / "q2_curves.png", notes=q2_notes)))
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
            wide["degenerate on"] = [f"{q1_degenerate[s]}/{n_q1_datasets} datasets" if s in q1_degenerate else ""
                                     for s in wide.index]
            lines += [_markdown_table(wide.reset_index()), "",
                      "`degenerate on`: datasets where the score was constant or had fewer than 5 % distinct "
                      "values; its Q1 there is its tie-break, not a ranking.", ""]
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
        compare_lines, compare_figures = _compare_section(staging, log)
        lines += compare_lines
        figures += compare_figures
        q3_lines, q3_figures = _q3_section(q3, q3_candidates, staging)
        lines += q3_lines
        figures += q3_figures
        lines += ["## Lineage", "",
                  f"{lineage['model_path'].nunique() if 'model_path' in lineage else len(lineage)} models with a "
                  f"lineage sidecar (`results/lineage.parquet`; query with `auxqual lineage`).", ""]
        lines += ["## Figures", ""] + [f"- {title}: ![{title}]({path.name})" for title, path in figures] + [""]
        write_text("\n".join(lines), staging / "summary.md")
    log(f"wrote {len(figures)} figures and {REPORTS_DIR / 'summary.md'}")


COMPARISONS = {   # (table prefix, value compared) -> (treatment column, heading, figure, figure title)
    ("q1", "q1"): ("estimator", "Q1 AUROC", "q1_cd.png", "Q1: mean rank over datasets (1 = best)"),
    ("q2", "gain"): ("score", "Q2 gain over random selection (normalised area under the q curve)", "q2_gain_cd.png",
                     "Q2 gain over random selection: mean rank over datasets (1 = best)"),
    ("q2", "area"): ("score", "Q2 normalised area under the q curve (no `random` score, so no gain)",
                     "q2_area_cd.png", "Q2 area under the q curve: mean rank over datasets (1 = best)"),
}


def _compare_section(staging, log: Log) -> tuple[list[str], list]:
    """The significance part of summary.md (stage ``compare``: Friedman, Wilcoxon-Holm of the
    reference against each other score with win / tie / loss, degenerate scores named) and
    the critical-difference diagrams ``q1_cd.png`` and ``q2_gain_cd.png`` (``q2_area_cd.png``
    without a ``random`` score; drawn only when
    the tests ran: at least 2 datasets and 3 scores)."""
    lines = ["## Significance across datasets", "",
             "Per dataset, each score's mean over seeds; Friedman test over datasets, Nemenyi post-hoc "
             "(critical-difference diagram), and a two-sided Wilcoxon signed-rank test of the reference against "
             "each other score with Holm's correction (`results/*_stats.parquet`, `*_wilcoxon.parquet`). "
             "`degenerate`: on how many datasets the score was constant or had fewer than 5 % distinct values "
             "(its ranking is its tie-break, not a chance ranking).", ""]
    figures = []
    for name in ("q1", "q2"):
        stats = pd.read_parquet(RESULTS_DIR / f"{name}_stats.parquet")
        tests = pd.read_parquet(RESULTS_DIR / f"{name}_wilcoxon.parquet")
        first = stats.iloc[0]
        treatment, value, figure, title = COMPARISONS[(name, str(first["value"]))]
        lines += [f"### {value}", "",
                  f"{int(first['n_blocks'])} dataset(s) × {int(first['n_seeds'])} seed(s). "
                  + (f"Friedman p = {first['friedman_p']:.3g}, critical difference {first['cd']:.2f} "
                     f"(α = {first['alpha']:g})." if not first["note"] else f"No test: {first['note']}."), ""]
        shown = tests.rename(columns={"degenerate_blocks": "degenerate"})
        lines += [_markdown_table(shown[[treatment, "reference", "wins", "ties", "losses", "mean_difference",
                                         "p_value", "p_holm", "significant", "degenerate"]], ".4f"), ""]
        if first["note"]:
            log(f"{name}: no critical-difference diagram ({first['note']})")
            continue
        nemenyi = pd.read_parquet(RESULTS_DIR / f"{name}_nemenyi.parquet")
        figures.append((f"{value}: critical difference",
                        plots.cd_diagram_from_tables(stats, nemenyi, staging / figure, treatment=treatment,
                                                     title=title)))
    return lines, figures


def _q3_section(q3: pd.DataFrame, candidates: pd.DataFrame, staging) -> tuple[list[str], list]:
    """The Q3 part of summary.md (regret per score with its interval, for model and
    generator selection) and its two figures (``q3_regret.png``, ``q3_validation_vs_test.png``)."""
    lines = ["## Q3: choosing a detector and an auxiliary set without test labels", "",
             "Model selection: each candidate detector is fitted on the training data less a held-out part; the "
             "choice is the best weighted validation AUROC on the held-out normals plus the auxiliary anomalies "
             "weighted by each score (`uniform`: all weighted 1, no quality score; `labelled`: the held-out labelled "
             "anomalies alone, no synthetic anomaly). Regret = best test AUROC among the candidates (oracle) − test "
             "AUROC of the chosen one; `rank corr`: Spearman between validation and test AUROC over the candidates. "
             "Interval: 95 % Student t over datasets (each dataset's mean over seeds), or over seeds for one dataset.",
             ""]
    model = q3[q3["task"] == "model"]
    if model.empty:
        return [*lines, "(no model-selection rows in `results/q3.parquet`)", ""], []
    summary = regret_summary(model, by=("score",))
    lines += [_markdown_table(summary.rename(columns={"mean_rank_corr": "rank corr", "oracle_rate": "oracle chosen"}),
                              ".4f"), ""]
    generator = q3[q3["task"] == "generator"]
    if len(generator):
        lines += ["Generator selection: the auxiliary set with the highest mean score, against the ranking of the sets "
                  "by the test AUROC of a detector trained with each (`rank corr`: Kendall's tau).", "",
                  _markdown_table(regret_summary(generator, by=("score",)).rename(
                      columns={"mean_rank_corr": "rank corr", "oracle_rate": "oracle chosen"}), ".4f"), ""]
    dataset = sorted(model["dataset"].unique())[0]
    figures = [("Q3 regret per score", plots.q3_regret(summary, staging / "q3_regret.png")),
               (f"Q3 validation vs test AUROC ({dataset})",
                plots.q3_validation_vs_test(candidates, staging / "q3_validation_vs_test.png", dataset=dataset))]
    return lines, figures


if __name__ == "__main__":
    main_wrapper("report", main)
