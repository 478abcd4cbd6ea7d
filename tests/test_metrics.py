"""Q1 / Q2 metrics and the top-q selection the train stage relies on."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from auxqual.metrics import (
    AVERAGE_RANK,
    MEAN_SECONDS,
    q1_auroc,
    q1_comparison,
    q1_ranks,
    q1_table,
    q1_wide,
    q2_summary,
    q2_table,
    top_q_indices,
)


# --------------------------------------------------------------------------- top_q_indices
def test_top_q_picks_the_highest_scores_best_first():
    scores = np.array([0.1, 0.9, 0.5, 0.7, 0.3])
    assert top_q_indices(scores, 40).tolist() == [1, 3]
    assert top_q_indices(scores, 100).tolist() == [1, 3, 2, 4, 0]
    assert top_q_indices(scores, 0).tolist() == []


def test_top_q_count_rounds_half_up():
    scores = np.arange(10, dtype=float)
    assert [len(top_q_indices(scores, q)) for q in (0, 5, 10, 14, 15, 50, 95, 100)] == [0, 1, 1, 1, 2, 5, 10, 10]


KINDS_IN_BLOCKS = np.repeat(["realistic", "indistinguishable", "unrealistic"], 100)  # as the mixture was stored


def test_top_q_with_all_tied_scores_does_not_follow_the_table_order():
    """All scores tied (LOO, AME, rarity outside every ball): the top 33 % of a table stored
    kind by kind must be a random third, not the realistic block."""
    for seed in range(10):
        chosen = top_q_indices(np.zeros(300), 33, random_state=seed)
        assert len(chosen) == 99
        realistic = int((KINDS_IN_BLOCKS[chosen] == "realistic").sum())
        # hypergeometric: mean 33, sd 3.9; [15, 51] is ±4.6 sd (the index tie-break gave 99)
        assert 15 <= realistic <= 51, (seed, realistic)


def test_top_q_ties_are_reproducible_for_a_seed_and_differ_between_seeds():
    scores = np.zeros(300)
    first = top_q_indices(scores, 33, random_state=7)
    np.testing.assert_array_equal(first, top_q_indices(scores, 33, random_state=7))
    np.testing.assert_array_equal(first, top_q_indices(scores, 33, random_state=np.random.default_rng(7)))
    assert set(first) != set(top_q_indices(scores, 33, random_state=8))
    assert set(first) != set(range(99))
    legacy = [top_q_indices(scores, 33, random_state=np.random.RandomState(3)) for _ in range(2)]
    np.testing.assert_array_equal(*legacy)                          # scikit-learn style RandomState too


def test_top_q_ties_broken_by_seed_but_strict_order_respected():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 3, size=200).astype(float)
    chosen_sets = set()
    for seed in range(5):
        chosen = top_q_indices(scores, 37, random_state=seed)
        assert len(chosen) == 74
        unchosen = np.setdiff1d(np.arange(200), chosen)
        assert scores[chosen].min() >= scores[unchosen].max()      # every chosen row scores at least as much
        assert (np.diff(scores[chosen]) <= 0).all()                # best first
        chosen_sets.add(frozenset(chosen.tolist()))
    assert len(chosen_sets) > 1                                     # the rows tied at the cut vary with the seed
    # no tie: the seed changes nothing
    distinct = rng.permutation(50).astype(float)
    assert top_q_indices(distinct, 40, random_state=1).tolist() == top_q_indices(distinct, 40, random_state=2).tolist()


def test_top_q_selections_are_nested_as_q_grows():
    """One seed for every q of a ranking (as the train stage does): each top-q set holds the
    smaller ones, and the best-first lists are prefixes of each other."""
    rng = np.random.default_rng(1)
    scores = np.round(rng.random(137), 1)                          # heavy ties
    scores[rng.choice(137, 9, replace=False)] = np.nan
    lists = [top_q_indices(scores, q, random_state=42).tolist() for q in range(0, 101, 5)]
    for smaller, larger in itertools.pairwise(lists):
        assert larger[:len(smaller)] == smaller
    assert sorted(lists[-1]) == list(range(137))
    by_index = sorted(range(137), key=lambda i: (np.isnan(scores[i]), -np.nan_to_num(scores[i]), i))
    assert lists[-1] != by_index                                    # within ties: not the row order


def test_top_q_ties_among_nan_rank_last_and_bad_random_state_is_refused():
    scores = np.array([np.nan, 1.0, np.nan, 1.0, 2.0])
    for seed in range(6):
        chosen = top_q_indices(scores, 100, random_state=seed).tolist()
        assert chosen[0] == 4 and set(chosen[1:3]) == {1, 3} and set(chosen[3:]) == {0, 2}
    with pytest.raises(ValueError, match="random_state"):
        top_q_indices(scores, 50, random_state="seed")
    with pytest.raises(ValueError, match="random_state"):
        top_q_indices(scores, 50, random_state=-1)


def test_top_q_ranks_nan_last_and_rejects_bad_q():
    scores = np.array([np.nan, 0.2, 0.8])
    assert top_q_indices(scores, 100).tolist() == [2, 1, 0]
    with pytest.raises(ValueError, match="q"):
        top_q_indices(scores, 101)
    with pytest.raises(ValueError, match="1-D"):
        top_q_indices(np.zeros((2, 2)), 50)


# --------------------------------------------------------------------------- Q1
def test_q1_auroc_perfect_chance_and_inverted():
    kinds = np.array(["realistic", "realistic", "indistinguishable", "unrealistic"])
    assert q1_auroc(np.array([0.9, 0.8, 0.1, 0.2]), kinds) == 1.0
    assert q1_auroc(np.array([0.1, 0.2, 0.9, 0.8]), kinds) == 0.0
    assert q1_auroc(np.array([0.5, 0.5, 0.5, 0.5]), kinds) == 0.5  # ties count half


def test_q1_auroc_matches_the_mann_whitney_count():
    rng = np.random.default_rng(1)
    kinds = rng.choice(["realistic", "indistinguishable", "unrealistic"], size=60)
    scores = rng.normal(size=60) + (kinds == "realistic")
    pos, neg = scores[kinds == "realistic"], scores[kinds != "realistic"]
    expected = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
    assert q1_auroc(scores, kinds) == pytest.approx(expected)


def test_q1_auroc_refuses_undefined_cases_with_counts():
    with pytest.raises(ValueError, match="0 row"):
        q1_auroc(np.array([0.1, 0.2]), np.array(["unrealistic", "indistinguishable"]))
    with pytest.raises(ValueError, match="NaN"):
        q1_auroc(np.array([np.nan, 0.2]), np.array(["realistic", "unrealistic"]))


def test_q1_table_per_dataset_and_score():
    frame = pd.DataFrame({
        "dataset": ["a"] * 4 + ["b"] * 4,
        "kind": ["realistic", "realistic", "unrealistic", "indistinguishable"] * 2,
        "good": [0.9, 0.8, 0.1, 0.2, 0.7, 0.6, 0.5, 0.4],
        "bad": [0.1, 0.2, 0.9, 0.8, 0.1, 0.2, 0.9, 0.8],
    })
    table = q1_table(frame, ["good", "bad"])
    assert table[["dataset", "score"]].values.tolist() == [["a", "good"], ["a", "bad"], ["b", "good"], ["b", "bad"]]
    assert table["auroc"].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert table["n_realistic"].tolist() == [2, 2, 2, 2]
    with pytest.raises(ValueError, match="missing column"):
        q1_table(frame, ["nope"])


# --------------------------------------------------------------------------- Q1 comparison
def _long(wide: dict[str, dict[str, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"dataset": d, "score": s, "auroc": v} for d, row in wide.items() for s, v in row.items()])


def test_q1_ranks_give_tied_scores_the_mean_of_their_ranks():
    wide = q1_wide(_long({"a": {"eap": 0.9, "rarity": 0.7, "random": 0.7, "loo": 0.2},
                          "b": {"eap": 0.5, "rarity": 0.5, "random": 0.5, "loo": 0.6}}))
    ranks = q1_ranks(wide)
    assert ranks.loc["a"].tolist() == [1.0, 2.5, 2.5, 4.0]
    assert ranks.loc["b"].tolist() == [3.0, 3.0, 3.0, 1.0]      # a three-way tie shares ranks 2, 3, 4
    # every row of ranks sums to 1 + 2 + … + k, ties or not
    assert (ranks.sum(axis=1) == 10).all()


def test_q1_comparison_table_shape_average_rank_and_seconds():
    q1 = _long({"b": {"eap": 0.9, "rarity": 0.6, "random": 0.5},
                "a": {"eap": 0.8, "rarity": 0.8, "random": 0.4},
                "c": {"eap": 0.3, "rarity": 0.7, "random": 0.5}})
    table = q1_comparison(q1, ["eap", "rarity", "random"])
    assert list(table.columns) == ["dataset", "eap", "rarity", "random"]
    assert table["dataset"].tolist() == ["a", "b", "c", AVERAGE_RANK]      # datasets sorted, then the rank row
    assert table.iloc[0, 1:].tolist() == [0.8, 0.8, 0.4]
    ranks = table.set_index("dataset").loc[AVERAGE_RANK]
    # a: 1.5 1.5 3; b: 1 2 3; c: 3 1 2
    assert ranks.tolist() == pytest.approx([(1.5 + 1 + 3) / 3, (1.5 + 2 + 1) / 3, (3 + 3 + 2) / 3])
    assert ranks.sum() == pytest.approx(6.0)                              # 1 + 2 + 3 on average too

    seconds = pd.DataFrame({"dataset": ["a", "b", "c", "a", "b", "c", "zzz"],
                            "score": ["eap"] * 3 + ["rarity"] * 3 + ["eap"],
                            "seconds": [1.0, 2.0, 6.0, 0.5, 0.5, 0.5, 100.0]})
    timed = q1_comparison(q1, ["eap", "rarity", "random"], seconds=seconds)
    assert timed["dataset"].tolist() == ["a", "b", "c", AVERAGE_RANK, MEAN_SECONDS]
    row = timed.set_index("dataset").loc[MEAN_SECONDS]
    assert row["eap"] == pytest.approx(3.0) and row["rarity"] == pytest.approx(0.5)   # 'zzz' is not a dataset
    assert np.isnan(row["random"])                                                    # no time: NaN, not 0
    # the seconds row changes nothing above it
    pd.testing.assert_frame_equal(timed.iloc[:4].reset_index(drop=True), table)


def test_q1_comparison_orders_columns_and_refuses_incomplete_tables():
    q1 = _long({"a": {"eap": 0.9, "rarity": 0.6}, "b": {"eap": 0.4, "rarity": 0.6}})
    assert list(q1_comparison(q1, ["rarity", "eap"]).columns) == ["dataset", "rarity", "eap"]
    assert list(q1_comparison(q1).columns) == ["dataset", "eap", "rarity"]
    with pytest.raises(ValueError, match=r"cell\(s\) without a Q1 AUROC, e.g. \[\('b', 'rarity'\)\]"):
        q1_comparison(q1.iloc[:3])
    with pytest.raises(ValueError, match=r"no Q1 AUROC for score\(s\) \['loo'\]"):
        q1_comparison(q1, ["eap", "loo"])
    with pytest.raises(ValueError, match="share a"):
        q1_comparison(pd.concat([q1, q1.iloc[:1]]))
    with pytest.raises(ValueError, match=r"missing column\(s\) \['auroc'\]"):
        q1_comparison(q1.drop(columns="auroc"))
    with pytest.raises(ValueError, match=r"seconds table: missing column\(s\) \['seconds'\]"):
        q1_comparison(q1, seconds=q1[["dataset", "score"]])


# --------------------------------------------------------------------------- Q2
def _predictions() -> pd.DataFrame:
    rows = []
    y = np.array([0, 0, 1, 1])
    for q, decision in ((0, [0.1, 0.2, 0.3, 0.4]), (50, [0.4, 0.3, 0.2, 0.1]), (100, [0.1, 0.3, 0.2, 0.4])):
        for label, value in zip(y, decision, strict=True):
            rows.append({"dataset": "d", "generator": "g", "score": "s", "detector": "m", "q": q,
                         "y": label, "decision": value})
    return pd.DataFrame(rows)


def test_q2_table_auroc_per_model():
    table = q2_table(_predictions())
    assert table["q"].tolist() == [0, 50, 100]
    assert table["auroc"].tolist() == [1.0, 0.0, 0.75]
    assert table["n_test"].tolist() == [4, 4, 4]
    assert table["n_test_anomalies"].tolist() == [2, 2, 2]


def test_q2_table_refuses_a_one_class_test_set():
    bad = _predictions().assign(y=0)
    with pytest.raises(ValueError, match="0 anomalies among 4"):
        q2_table(bad)


def test_q2_summary_area_best_and_baseline():
    summary = q2_summary(q2_table(_predictions()), by=("score",))
    row = summary.iloc[0]
    assert row["mean_auroc"] == pytest.approx(0.375)
    assert row["best_auroc"] == 0.75 and row["best_q"] == 100
    assert row["auroc_q0"] == 1.0
