"""auxqual.comparison: intervals over seeds, degenerate scores, Friedman / Nemenyi / Wilcoxon-Holm,
checked on small synthetic tables whose answers are known."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from auxqual import comparison

T_975_2 = 4.302652729749462        # Student-t 0.975 quantile, 2 degrees of freedom (n = 3 seeds)


def _table(offsets: dict[str, float], *, n_datasets: int = 10, n_seeds: int = 3, noise: float = 0.01,
           seed: int = 0) -> pd.DataFrame:
    """Long Q1 table: per dataset a base level, each estimator at base + its offset + seed noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(n_datasets):
        base = rng.uniform(0.45, 0.65)
        for s in range(n_seeds):
            for name, offset in offsets.items():
                rows.append({"dataset": f"d{d:02d}", "seed": s, "estimator": name,
                             "q1": base + offset + rng.normal(0.0, noise)})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- significance, known answers
def test_a_clearly_better_estimator_is_significant_everywhere():
    table = _table({"eap": 0.25, "rarity": 0.0, "lava": 0.0})
    result = comparison.friedman(table, "q1")
    assert result.significant and result.p_value < 0.05
    assert (result.n_blocks, result.n_treatments) == (10, 3)
    assert result.mean_ranks.index[0] == "eap" and result.mean_ranks["eap"] == 1.0

    tests = comparison.wilcoxon_holm(table, "q1", reference="eap")
    assert list(tests["estimator"]) == ["rarity", "lava"]
    assert (tests["wins"] == 10).all() and (tests["ties"] == 0).all() and (tests["losses"] == 0).all()
    # exact two-sided signed-rank p with all 10 differences positive: 2 / 2**10; Holm over 2 tests: × 2
    assert np.allclose(tests["p_value"], 2 / 2**10)
    assert np.allclose(tests["p_holm"], 2 * 2 / 2**10)
    assert tests["significant"].all() and (tests["mean_difference"] > 0.2).all()

    nemenyi = comparison.posthoc_nemenyi(table, "q1")
    assert nemenyi.mean_ranks["eap"] == 1.0
    assert nemenyi.p_values.loc["eap", "rarity"] < 0.05 and nemenyi.p_values.loc["eap", "lava"] < 0.05
    assert nemenyi.mean_ranks["rarity"] - nemenyi.mean_ranks["eap"] > nemenyi.cd


def test_identical_estimators_are_not_significant():
    table = _table({"eap": 0.0})
    table = pd.concat([table, table.assign(estimator="copy"), table.assign(estimator="twin")], ignore_index=True)
    result = comparison.friedman(table, "q1")
    assert result.p_value == 1.0 and result.statistic == 0.0 and not result.significant
    assert (result.mean_ranks == 2.0).all()

    tests = comparison.wilcoxon_holm(table, "q1")
    assert (tests["ties"] == 10).all() and (tests["wins"] == 0).all()
    assert (tests["p_value"] == 1.0).all() and tests["statistic"].isna().all()
    assert not tests["significant"].any()

    nemenyi = comparison.posthoc_nemenyi(table, "q1")
    assert np.allclose(nemenyi.p_values.to_numpy(), 1.0)


def test_a_worse_reference_loses_and_lower_is_better_flips_the_direction():
    table = _table({"eap": -0.2, "rarity": 0.0, "lava": 0.01})
    tests = comparison.wilcoxon_holm(table, "q1")
    assert (tests["losses"] == 10).all() and tests["significant"].all() and (tests["mean_difference"] < 0).all()
    flipped = comparison.wilcoxon_holm(table, "q1", higher_is_better=False)
    assert (flipped["wins"] == 10).all() and (flipped["mean_difference"] > 0).all()
    assert comparison.friedman(table, "q1", higher_is_better=False).mean_ranks.index[0] == "eap"


def test_friedman_uses_the_mean_over_seeds_of_each_dataset():
    # eap beats rarity on each dataset on average, but loses on one seed of every dataset
    rows = []
    for d in range(6):
        for s, (eap, rarity) in enumerate([(0.9, 0.6), (0.9, 0.6), (0.5, 0.6)]):
            rows += [{"dataset": d, "seed": s, "estimator": "eap", "q1": eap},
                     {"dataset": d, "seed": s, "estimator": "rarity", "q1": rarity},
                     {"dataset": d, "seed": s, "estimator": "lava", "q1": 0.4 + 0.01 * d}]
    table = pd.DataFrame(rows)
    matrix = comparison.block_means(table, "q1")
    assert matrix.shape == (6, 3) and np.allclose(matrix["eap"], 2.3 / 3)
    assert comparison.friedman(table, "q1").mean_ranks.to_dict() == {"eap": 1.0, "rarity": 2.0, "lava": 3.0}
    assert (comparison.wilcoxon_holm(table, "q1")["wins"] == 6).all()


def test_incomplete_tables_and_too_few_estimators_are_named():
    table = _table({"eap": 0.1, "rarity": 0.0, "lava": 0.0})
    hole = table[~((table["dataset"] == "d03") & (table["estimator"] == "lava"))]
    with pytest.raises(ValueError, match=r"1 \(dataset, estimator\) cell\(s\).*'d03', 'lava'"):
        comparison.friedman(hole, "q1")
    with pytest.raises(ValueError, match=r"needs at least 3 estimators and 2 datasets, got 2 and 10"):
        comparison.friedman(table[table["estimator"] != "lava"], "q1")
    with pytest.raises(ValueError, match=r"reference estimator 'nope'"):
        comparison.wilcoxon_holm(table, "q1", reference="nope")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['seed'\]"):
        comparison.friedman(table.drop(columns="seed"), "q1")


# --------------------------------------------------------------------------- Holm, critical difference
def test_holm_matches_a_hand_computed_example():
    # sorted: 0.005 × 4 = 0.02, 0.01 × 3 = 0.03, 0.03 × 2 = 0.06, 0.04 × 1 = 0.04 -> raised to 0.06
    assert np.allclose(comparison.holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    adjusted = comparison.holm([0.02, np.nan, 0.6])         # NaN: no test, not counted in m = 2
    assert np.isnan(adjusted[1]) and np.allclose(adjusted[[0, 2]], [0.04, 0.6])
    assert np.allclose(comparison.holm([0.6, 0.7]), [1.0, 1.0])   # 1.2 capped at 1


def test_critical_difference_matches_demsar():
    # Demšar (2006), table 5: q_0.05 = 2.343 for k = 3, 3.164 for k = 10
    assert comparison.critical_difference(3, 1) == pytest.approx(2.343 * np.sqrt(3 * 4 / 6), abs=1e-3)
    assert comparison.critical_difference(10, 20) == pytest.approx(3.164 * np.sqrt(10 * 11 / 120), abs=1e-3)


# --------------------------------------------------------------------------- intervals over seeds
def test_interval_over_seeds_uses_the_t_quantile_for_three_seeds():
    table = pd.DataFrame({"dataset": "d", "estimator": "eap", "seed": [0, 1, 2], "q1": [1.0, 2.0, 3.0]})
    row = comparison.interval_over_seeds(table, "q1", ["dataset", "estimator"]).iloc[0]
    half = T_975_2 * 1.0 / np.sqrt(3)
    assert row["n"] == 3 and row["mean"] == pytest.approx(2.0)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((2.0 - half, 2.0 + half))


def test_interval_averages_rows_of_one_seed_and_handles_one_seed_and_constants():
    table = pd.DataFrame({"score": "eap", "seed": [0, 0, 1, 1], "generator": ["a", "b", "a", "b"],
                          "gain": [0.1, 0.3, 0.2, 0.2]})
    row = comparison.interval_over_seeds(table, "gain", ["score"]).iloc[0]
    assert row["n"] == 2 and row["mean"] == pytest.approx(0.2) and row["ci_low"] == row["ci_high"] == 0.2
    single = comparison.interval_over_seeds(table[table["seed"] == 0], "gain", ["score"]).iloc[0]
    assert single["n"] == 1 and single["mean"] == pytest.approx(0.2) and np.isnan(single["ci_low"])


# --------------------------------------------------------------------------- degenerate scores
def test_degenerate_scores_are_detected():
    assert comparison.degenerate(np.full(200, 0.5))
    assert comparison.degenerate(np.r_[np.zeros(99), 1.0])            # 2 distinct of 100 < 5 %
    assert comparison.degenerate(np.repeat(np.arange(4.0), 25))      # 4 of 100 < 5
    assert not comparison.degenerate(np.repeat(np.arange(5.0), 20))  # 5 of 100 = 5 %
    assert not comparison.degenerate(np.random.default_rng(0).normal(size=100))
    assert comparison.degenerate(1.0 + 1e-15 * np.arange(100))       # floating-point noise is constant
    assert comparison.n_distinct([0.1, np.nan, 0.1, 0.2, np.inf]) == 2
    assert comparison.n_distinct([]) == 0 and comparison.degenerate([])
    assert list(comparison.is_degenerate([1, 3, 10], [100, 100, 100])) == [True, True, False]


def test_degenerate_blocks_counts_datasets_per_estimator():
    table = pd.DataFrame({"dataset": ["a", "a", "b", "b", "b"], "estimator": ["ame", "eap", "ame", "ame", "eap"],
                          "seed": [0, 0, 0, 1, 0], "degenerate": [True, False, False, True, False]})
    assert comparison.degenerate_blocks(table).to_dict() == {"ame": 2, "eap": 0}


# --------------------------------------------------------------------------- Q2 curves
def _q2(qs=(0, 10, 25, 50, 100)) -> pd.DataFrame:
    rows = []
    for seed in (0, 1, 2):
        for q in qs:
            rows += [{"dataset": "d", "generator": "g", "detector": "ssdo", "seed": seed, "q": q, "score": "random",
                      "auroc": 0.8},
                     {"dataset": "d", "generator": "g", "detector": "ssdo", "seed": seed, "q": q, "score": "eap",
                      "auroc": 0.8 + 0.1 * q / 100 + 0.01 * seed}]
    return pd.DataFrame(rows)


def test_q2_curve_summary_area_and_gain_over_random():
    summary = comparison.q2_curve_summary(_q2())
    eap = summary[summary["score"] == "eap"].set_index("seed")
    # a linear curve from 0.8 (+0.01·seed) to 0.9: mean height 0.85, exact for the trapezoid rule
    assert np.allclose(eap["area"], [0.85, 0.86, 0.87]) and np.allclose(eap["gain"], [0.05, 0.06, 0.07])
    assert (eap["n_q"] == 5).all()
    assert np.allclose(summary.loc[summary["score"] == "random", "gain"], 0.0)
    interval = comparison.interval_over_seeds(summary, "gain", ["score"]).set_index("score")
    assert interval.at["eap", "mean"] == pytest.approx(0.06)
    half = T_975_2 * 0.01 / np.sqrt(3)
    assert interval.at["eap", "ci_high"] == pytest.approx(0.06 + half)
    gains = comparison.q2_gain(_q2())
    assert np.allclose(gains.loc[(gains["score"] == "eap") & (gains["seed"] == 0), "gain"],
                       [0.0, 0.01, 0.025, 0.05, 0.1])


def test_q2_gain_needs_the_random_reference():
    q2 = _q2()
    with pytest.raises(ValueError, match="reference score 'random'"):
        comparison.q2_curve_summary(q2[q2["score"] != "random"])
    holed = q2[~((q2["score"] == "random") & (q2["q"] == 50) & (q2["seed"] == 1))]
    with pytest.raises(ValueError, match=r"2 row\(s\) without a 'random' row.*'seed': 1, 'q': 50"):
        comparison.q2_gain(pd.concat([holed, holed[holed["score"] == "eap"].assign(score="lava")]))


def test_importing_comparison_does_not_import_scikit_posthocs():
    code = "import sys, auxqual.comparison; sys.exit('scikit_posthocs' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------- whole comparisons
def test_significance_with_one_dataset_says_why_no_test_ran():
    table = _table({"eap": 0.2, "rarity": 0.0, "lava": 0.1}, n_datasets=1).assign(degenerate=False)
    result = comparison.significance(table, "q1", treatment="estimator")
    stats = result["stats"]
    assert list(stats["estimator"]) == ["eap", "lava", "rarity"] and list(stats["mean_rank"]) == [1.0, 2.0, 3.0]
    assert stats["friedman_p"].isna().all() and stats["cd"].isna().all()
    assert (stats["note"] == "tests need at least 2 datasets and 3 estimators, got 1 and 3").all()
    assert result["nemenyi"].empty and not result["wilcoxon"]["significant"].any()


def test_compare_seeds_without_a_random_score_compares_the_area():
    q1 = _table({"eap": 0.2, "rarity": 0.0, "lava": 0.1}).assign(degenerate=False)
    q2 = _q2()
    q2 = pd.concat([q2, q2[q2["score"] == "eap"].assign(score="lava", auroc=0.7)], ignore_index=True)
    q2 = pd.concat([q2.assign(dataset=f"d{i}") for i in range(3)], ignore_index=True).assign(degenerate=False)
    with_random = comparison.compare_seeds(q1, q2)
    assert (with_random["q2_stats"]["value"] == "gain").all() and len(with_random["q2_gain"]) == 3 * 3 * 5
    assert with_random["q2_stats"]["score"].tolist() == ["eap", "random", "lava"]
    without = comparison.compare_seeds(q1, q2[q2["score"] != "random"])
    assert (without["q2_stats"]["value"] == "area").all() and without["q2_gain"].empty
    assert without["q2_curves"]["mean_gain"].isna().all()
    assert with_random["q1_stats"]["friedman_p"].iloc[0] < 0.05


# --------------------------------------------------------------------------- the library replacements
# The t-interval is SciPy's ``ttest_1samp(...).confidence_interval`` and Holm's adjustment
# statsmodels' ``multipletests``; these tests hold them against the hand-written functions they
# replaced, on the published benchmark tables (``benchmarks/results``).
RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
RUNS = ("paper-q1", "paper-q2")


def _hand_written_t_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The replaced ``comparison.t_interval``: ``mean ± t_{(1+level)/2, n-1} · s / √n``."""
    from scipy import stats

    mean = float(values.mean())
    half = float(stats.t.ppf(0.5 + level / 2, values.size - 1)) * float(values.std(ddof=1)) / np.sqrt(values.size)
    return mean - half, mean + half


def _hand_written_holm(p_values: np.ndarray) -> np.ndarray:
    """The replaced ``comparison.holm``."""
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full_like(p, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    scaled = p[order] * (order.size - np.arange(order.size))
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return adjusted


def _published(run: str, name: str) -> pd.DataFrame:
    path = RESULTS / run / f"{name}.parquet"
    assert path.is_file(), f"{path}: a published table of the repository is missing"
    return pd.read_parquet(path)


@pytest.mark.parametrize("run", RUNS)
def test_scipys_t_interval_reproduces_the_published_intervals(run):
    """Same numbers up to rounding in the last bits (SciPy adds the half-width as
    ``t_low · se + mean``: at most 1e-15 apart on AUROCs), identical at every precision the
    tables print."""
    seeds = _published(run, "q1_seeds")
    published = _published(run, "q1_intervals")
    ours = comparison.interval_over_seeds(seeds, "q1", ["dataset", "estimator"])
    assert ours[["dataset", "estimator", "n"]].equals(published[["dataset", "estimator", "n"]])
    assert ours["mean"].to_numpy().tobytes() == published["mean"].to_numpy().tobytes()
    for column in ("ci_low", "ci_high"):
        new, old = ours[column].to_numpy(), published[column].to_numpy()
        np.testing.assert_allclose(new, old, rtol=0, atol=1e-15)
        assert (np.round(new, 6) == np.round(old, 6)).all()
    # and against the replaced function itself, value by value
    per_seed = seeds.groupby(["dataset", "estimator", "seed"])["q1"].mean()
    for _, values in list(per_seed.groupby(level=[0, 1]))[:60]:
        _, low, high, _ = comparison.t_interval(values.to_numpy())
        np.testing.assert_allclose([low, high], _hand_written_t_interval(values.to_numpy()), rtol=0, atol=1e-15)


@pytest.mark.parametrize("run", RUNS)
@pytest.mark.parametrize("name", ["q1_wilcoxon", "q2_wilcoxon"])
def test_statsmodels_holm_is_the_published_adjustment_bit_for_bit(run, name):
    tests = _published(run, name)
    p = tests["p_value"].to_numpy()
    assert comparison.holm(p).tobytes() == tests["p_holm"].to_numpy().tobytes()
    assert comparison.holm(p).tobytes() == _hand_written_holm(p).tobytes()


def test_q3_regret_intervals_match_the_hand_written_ones():
    from auxqual.selection import regret_summary

    q3 = _published(".", "q3")
    summary = regret_summary(q3, by=("task", "score"))
    for row in summary.itertuples():
        group = q3[(q3["task"] == row.task) & (q3["score"] == row.score)]
        values = group.groupby("dataset")["regret"].mean().to_numpy()
        low, high = _hand_written_t_interval(values)
        np.testing.assert_allclose([row.ci_low, row.ci_high], [low, high], rtol=0, atol=1e-15)
        assert f"[{row.ci_low:.3f}, {row.ci_high:.3f}]" == f"[{low:.3f}, {high:.3f}]"   # as q3_table.md prints
