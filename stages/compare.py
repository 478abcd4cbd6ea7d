"""Stage ``compare``: Q1 and Q2 per seed, intervals over seeds, and significance across datasets.

Reads the Q1 / Q2 tables of ``evaluate`` and the score tables of ``score`` and writes

- ``results/q1_seeds.parquet``: ``dataset, seed, estimator, q1, n_distinct, n_rows, degenerate``
  (+ ``n_realistic, n_other``): one row per (dataset, seed, estimator). ``n_distinct``: the
  distinct values the estimator gave the benchmark set; ``degenerate``: constant or fewer than
  5 % distinct values (``auxqual.comparison.degenerate``), so its Q1 is no ranking at all;
- ``results/q2_seeds.parquet``: ``dataset, seed, generator, detector, score, q, auroc`` with
  the score's ``n_distinct, n_rows, degenerate`` on that auxiliary set;
- ``results/q1_intervals.parquet``: per (dataset, estimator) the mean Q1 over seeds and its
  95 % t-interval, ``n`` seeds, ``degenerate`` (on any seed);
- ``results/q2_curves.parquet``: per (dataset, generator, detector, score) the normalised area
  under the AUROC-vs-q curve and the gain over ``random`` selection, each with its interval over
  seeds; ``results/q2_gain.parquet``: the gain at each q, with its interval;
- ``results/q1_stats.parquet``, ``q1_nemenyi.parquet``, ``q1_wilcoxon.parquet`` (Q1 AUROC) and
  ``q2_stats.parquet``, ``q2_nemenyi.parquet``, ``q2_wilcoxon.parquet`` (Q2 gain, averaged over
  generators, detectors and seeds per dataset): Friedman, Nemenyi (mean ranks, critical
  difference, pairwise p) and Wilcoxon-Holm of ``compare.reference`` against every other one with
  win / tie / loss counts (``auxqual.comparison.significance``); stage ``report`` draws the
  critical-difference diagrams from them;
- ``results/compare.json``: the Friedman p-values, the critical differences and the number of
  datasets and seeds (``dvc metrics``).

Seeds: the ``seed`` column of the evaluate tables when they have one, else
``prepare.random_state`` (the seed of the protocol's split that made them). The paper-scale
benchmark (``flows/benchmark.py --seeds``) runs each (dataset, seed) through this stage and
pools the ``*_seeds`` tables; ``auxqual.comparison`` then gives the same statistics over all.
Params: ``compare`` (reference, alpha), ``prepare.random_state``.
"""

from __future__ import annotations

import pandas as pd

from auxqual.comparison import compare_seeds, distinct_counts
from auxqual.io import write_json, write_parquet
from auxqual.params.benchmark import BenchmarkParams
from stages.common import (
    BENCHMARK_GENERATOR,
    RESULTS_DIR,
    SCORES_DIR,
    Log,
    StageError,
    dataset_dirs,
    load_params,
    main_wrapper,
    protocol_seed,
    remove_stale,
    score_columns,
)

Q1_PATH = RESULTS_DIR / "q1.parquet"
Q2_PATH = RESULTS_DIR / "q2.parquet"
OUTPUTS = {name: RESULTS_DIR / f"{name}.parquet" for name in (
    "q1_seeds", "q2_seeds", "q1_intervals", "q2_curves", "q2_gain", "q1_stats", "q1_nemenyi", "q1_wilcoxon",
    "q2_stats", "q2_nemenyi", "q2_wilcoxon")}
METRICS_PATH = RESULTS_DIR / "compare.json"
Q1_SEEDS_COLUMNS = ["dataset", "seed", "estimator", "q1", "n_distinct", "n_rows", "degenerate", "n_realistic",
                    "n_other"]
Q2_SEEDS_COLUMNS = ["dataset", "seed", "generator", "detector", "score", "q", "auroc", "n_distinct", "n_rows",
                    "degenerate"]


def _settings(params: BenchmarkParams) -> tuple[str, float, int]:
    """``(reference, alpha, seed)`` from ``compare`` and ``prepare.random_state`` (checked by the schema)."""
    return params.compare.reference, float(params.compare.alpha), protocol_seed(params)


def distinct_table(datasets: list[str], seed: int) -> pd.DataFrame:
    """``n_distinct`` / ``degenerate`` of every score on every auxiliary set of ``data/scores``
    (columns ``dataset, seed, generator, score, n_distinct, n_rows, degenerate``)."""
    frames = []
    for dataset in datasets:
        for path in sorted((SCORES_DIR / dataset).glob("*.parquet")):
            table = pd.read_parquet(path)
            if "seed" not in table.columns:
                table = table.assign(seed=seed)
            table = table.assign(dataset=dataset, generator=path.stem)
            frames.append(distinct_counts(table, score_columns(table.drop(columns="seed")),
                                          by=("dataset", "seed", "generator")))
    columns = ["dataset", "seed", "generator", "score", "n_distinct", "n_rows", "degenerate"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def seeds_tables(q1: pd.DataFrame, q2: pd.DataFrame, distinct: pd.DataFrame,
                 seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The evaluate tables with a ``seed`` column and each score's degeneracy joined in."""
    q1 = q1 if "seed" in q1.columns else q1.assign(seed=seed)
    q2 = q2 if "seed" in q2.columns else q2.assign(seed=seed)
    keys = ["dataset", "seed", "generator", "score"]
    bench = distinct[distinct["generator"] == BENCHMARK_GENERATOR].drop(columns="generator")
    q1 = q1.merge(bench, on=["dataset", "seed", "score"], how="left", sort=False)
    q1 = q1.rename(columns={"score": "estimator", "auroc": "q1"})
    q2 = q2.merge(distinct, on=keys, how="left", sort=False)
    for frame, name in ((q1, "q1"), (q2, "q2")):
        missing = frame[frame["n_distinct"].isna()]
        if len(missing):
            first = missing.iloc[0]
            raise StageError(f"{SCORES_DIR}: no score table for {len(missing)} {name} row(s), e.g. dataset "
                             f"{first['dataset']!r}, {'estimator' if name == 'q1' else 'score'} "
                             f"{first['estimator' if name == 'q1' else 'score']!r}; run stage 'score'")
    for frame in (q1, q2):
        frame["n_distinct"] = frame["n_distinct"].astype("int64")
        frame["n_rows"] = frame["n_rows"].astype("int64")
        frame["degenerate"] = frame["degenerate"].astype(bool)
        frame["seed"] = frame["seed"].astype("int64")
    q1 = q1[Q1_SEEDS_COLUMNS].sort_values(["dataset", "seed"], kind="mergesort").reset_index(drop=True)
    q2 = q2[Q2_SEEDS_COLUMNS].sort_values(["dataset", "seed", "generator", "detector", "score", "q"],
                                          kind="mergesort").reset_index(drop=True)
    return q1, q2


def metrics(tables: dict[str, pd.DataFrame]) -> dict:
    """``results/compare.json``: per comparison, the omnibus numbers and EAP's standing."""
    payload = {}
    for name in ("q1", "q2"):
        stats = tables[f"{name}_stats"]
        tests = tables[f"{name}_wilcoxon"]
        first = stats.iloc[0] if len(stats) else None
        payload[name] = {
            "value": str(first["value"]) if first is not None else None,
            "n_datasets": int(first["n_blocks"]) if first is not None else 0,
            "n_seeds": int(first["n_seeds"]) if first is not None else 0,
            "friedman_p": _round(first["friedman_p"]) if first is not None else None,
            "cd": _round(first["cd"]) if first is not None else None,
            "mean_rank": {str(r.iloc[0]): _round(r["mean_rank"]) for _, r in stats.iterrows()},
            "reference_significantly_better_than": [str(r.iloc[0]) for _, r in tests.iterrows()
                                                    if r["significant"] and r["mean_difference"] > 0],
            "reference_significantly_worse_than": [str(r.iloc[0]) for _, r in tests.iterrows()
                                                   if r["significant"] and r["mean_difference"] < 0],
        }
    return payload


def _round(value) -> float | None:
    value = float(value)
    return None if value != value else round(value, 6)


def main() -> None:
    log = Log("compare")
    remove_stale(*OUTPUTS.values(), METRICS_PATH)
    reference, alpha, seed = _settings(load_params())
    for path in (Q1_PATH, Q2_PATH):
        if not path.exists():
            raise StageError(f"{path}: not found; run stage 'evaluate'")
    q1, q2 = pd.read_parquet(Q1_PATH), pd.read_parquet(Q2_PATH)
    if q1.empty:
        raise StageError(f"{Q1_PATH}: no rows (no {BENCHMARK_GENERATOR} set among generate.generators?)")
    distinct = distinct_table(dataset_dirs(SCORES_DIR, "score"), seed)
    q1_seeds, q2_seeds = seeds_tables(q1, q2, distinct, seed)
    tables = {"q1_seeds": q1_seeds, "q2_seeds": q2_seeds,
              **compare_seeds(q1_seeds, q2_seeds, reference=reference, alpha=alpha)}
    for name, path in OUTPUTS.items():
        write_parquet(tables[name], path)
    write_json(metrics(tables), METRICS_PATH)
    flagged = sorted(q1_seeds.loc[q1_seeds["degenerate"], "estimator"].unique())
    log(f"{q1_seeds['dataset'].nunique()} dataset(s) × {q1_seeds['seed'].nunique()} seed(s); degenerate on "
        f"some dataset: {flagged or 'none'}; Q1 Friedman p = {tables['q1_stats']['friedman_p'].iloc[0]:.3g}"
        + (f" ({tables['q1_stats']['note'].iloc[0]})" if tables["q1_stats"]["note"].iloc[0] else ""))


if __name__ == "__main__":
    main_wrapper("compare", main)
