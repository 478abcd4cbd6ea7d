"""Q1 / Q2 metrics and the top-q selection the train stage relies on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auxqual.metrics import q1_auroc, q1_table, q2_summary, q2_table, top_q_indices


# --------------------------------------------------------------------------- top_q_indices
def test_top_q_picks_the_highest_scores_best_first():
    scores = np.array([0.1, 0.9, 0.5, 0.7, 0.3])
    assert top_q_indices(scores, 40).tolist() == [1, 3]
    assert top_q_indices(scores, 100).tolist() == [1, 3, 2, 4, 0]
    assert top_q_indices(scores, 0).tolist() == []


def test_top_q_count_rounds_half_up():
    scores = np.arange(10, dtype=float)
    assert [len(top_q_indices(scores, q)) for q in (0, 5, 10, 14, 15, 50, 95, 100)] == [0, 1, 1, 1, 2, 5, 10, 10]


def test_top_q_breaks_ties_by_lower_row_index():
    scores = np.array([1.0, 2.0, 2.0, 1.0, 2.0, 0.0])
    assert top_q_indices(scores, 50).tolist() == [1, 2, 4]
    # ties at the cut: the earlier rows win, whatever the input permutation of equal values
    assert top_q_indices(np.zeros(7), 30).tolist() == [0, 1]


def test_top_q_is_stable_under_a_permutation_of_tied_rows():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 3, size=200).astype(float)
    chosen = top_q_indices(scores, 37)
    assert len(chosen) == 74
    # every chosen row scores at least as much as every unchosen one
    unchosen = np.setdiff1d(np.arange(200), chosen)
    assert scores[chosen].min() >= scores[unchosen].max()
    # among rows tied at the cut, the lowest indices are chosen
    cut = scores[chosen].min()
    tied = np.flatnonzero(scores == cut)
    assert set(np.intersect1d(chosen, tied)) == set(tied[: len(np.intersect1d(chosen, tied))])


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


# --------------------------------------------------------------------------- Q2
def _predictions() -> pd.DataFrame:
    rows = []
    y = np.array([0, 0, 1, 1])
    for q, decision in ((0, [0.1, 0.2, 0.3, 0.4]), (50, [0.4, 0.3, 0.2, 0.1]), (100, [0.1, 0.3, 0.2, 0.4])):
        for label, value in zip(y, decision):
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
