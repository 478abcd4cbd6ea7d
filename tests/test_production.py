"""auxqual.production: the split, the validation set, the candidates and the choice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auxqual.production import (
    LABELLED,
    WEIGHTED_AUX,
    Candidate,
    bootstrap_auroc,
    candidates,
    choose,
    consensus_weights,
    make_split,
    selected_aux_rows,
    training_data,
    validation_set,
)


def split(labelled: bool = False, **overrides):
    y = np.r_[np.zeros(100, np.int8), np.ones(6, np.int8)]
    options = {"labelled_validation": labelled, "validation_fraction": 0.2, "aux_validation_fraction": 0.3,
               "max_fit_rows": None, "random_state": 3, **overrides}
    return y, make_split(y, {"a": 40, "b": 10}, **options)


def test_split_holds_out_normals_only_and_never_trains_on_validation_rows():
    y, s = split()
    assert s.held_normals.size == 20 and (y[s.held_normals] == 0).all()
    assert not set(s.held_normals) & set(s.fit_rows)
    assert set(np.flatnonzero(y == 1)) <= set(s.fit_rows)  # every labelled anomaly is trained on
    for name, n in (("a", 40), ("b", 10)):
        assert not set(s.aux_fit_rows[name]) & set(s.aux_val_rows[name])
        assert s.aux_fit_rows[name].size + s.aux_val_rows[name].size == n
    assert s.aux_val_rows["a"].size == 12 and s.aux_val_rows["b"].size == 3
    assert s.method == WEIGHTED_AUX


def test_split_is_seeded_and_labelled_validation_keeps_every_aux_row_for_training():
    _, first = split()
    _, again = split()
    _, other = split(random_state=4)
    assert np.array_equal(first.held_normals, again.held_normals)
    assert not np.array_equal(first.held_normals, other.held_normals)
    _, labelled = split(labelled=True)
    assert labelled.method == LABELLED
    assert labelled.aux_val_rows["a"].size == 0 and labelled.aux_fit_rows["a"].size == 40


def test_split_samples_the_fit_rows_keeping_the_labelled_anomalies():
    y, s = split(max_fit_rows=30)
    assert s.fit_rows.size == 30
    assert (y[s.fit_rows] == 1).sum() == 6


def test_split_caps_the_held_out_normals():
    y, s = split(max_validation_normals=7)
    assert s.held_normals.size == 7 and s.fit_rows.size == y.size - 7


def test_split_refuses_fractions_outside_zero_one():
    with pytest.raises(ValueError, match=r"select\.validation_fraction"):
        split(validation_fraction=1.0)


def test_consensus_weights_average_the_min_max_scaled_scores():
    weights = consensus_weights({"eap": np.array([0.1, 0.3, 0.5]), "rarity": np.array([10.0, 0.0, 5.0])})
    assert weights == pytest.approx([0.5, 0.25, 0.75])
    assert consensus_weights({"flat": np.array([2.0, 2.0])}) == pytest.approx([1.0, 1.0])
    with pytest.raises(ValueError, match="'eap'"):
        consensus_weights({"eap": np.array([0.1, np.nan])})


def test_validation_set_weighted_by_the_consensus_of_the_scores():
    y, s = split()
    rng = np.random.default_rng(0)
    X_train = rng.normal(size=(y.size, 2))
    X_aux = {"a": rng.normal(size=(40, 2)) + 5, "b": rng.normal(size=(10, 2)) + 5}
    scores = {n: pd.DataFrame({"eap": rng.random(len(X)), "rarity": rng.random(len(X))}) for n, X in X_aux.items()}
    v = validation_set(s, X_train, X_aux, scores, ["eap", "rarity"])
    assert (v.n_normals, v.n_anomalies) == (20, 15)
    assert np.array_equal(v.y, np.r_[np.zeros(20), np.ones(15)])
    assert (v.weights[:20] == 1).all() and (v.weights[20:] >= 0).all() and (v.weights[20:] <= 1).all()
    assert np.array_equal(v.X[20:32], X_aux["a"][s.aux_val_rows["a"]])


def test_candidates_have_q0_once_per_detector_and_the_same_rows_for_every_score_at_q100():
    grid = candidates(["a", "b"], ["eap", "rarity"], [0, 50, 100], {"ssdo": {}, "mlp": {"epochs": 3}})
    assert len(grid) == 2 * (1 + 2 * 2 * 2)
    assert sum(c.q == 0 for c in grid) == 2
    _y, s = split()
    rng = np.random.default_rng(1)
    scores = {"a": pd.DataFrame({"eap": rng.random(40), "rarity": rng.random(40)})}
    full = [selected_aux_rows(Candidate("a", score, 100, "ssdo", {}), s, scores) for score in ("eap", "rarity")]
    assert np.array_equal(full[0], full[1]) and np.array_equal(full[0], s.aux_fit_rows["a"])
    half = selected_aux_rows(Candidate("a", "eap", 50, "ssdo", {}), s, scores)
    ranked = s.aux_fit_rows["a"][np.argsort(-scores["a"]["eap"].to_numpy()[s.aux_fit_rows["a"]])]
    assert set(half) == set(ranked[:half.size]) and half.size == 14  # 50 % of 28 fit rows


def test_training_data_adds_the_selected_rows_as_anomalies():
    y, s = split()
    X_train = np.arange(y.size * 2, dtype=float).reshape(-1, 2)
    X_aux = {"a": np.full((40, 2), -1.0)}
    scores = {"a": pd.DataFrame({"eap": np.linspace(0, 1, 40)})}
    X, labels, rows = training_data(Candidate("a", "eap", 25, "ssdo", {}), s, X_train, y, X_aux, scores)
    assert X.shape[0] == s.fit_rows.size + rows.size and rows.size == 7
    assert (labels[-rows.size:] == 1).all() and (X[-rows.size:] == -1).all()


def test_choose_picks_the_best_validation_auroc_and_lists_every_alternative():
    y, s = split()
    rng = np.random.default_rng(2)
    X_train = rng.normal(size=(y.size, 2))
    X_aux = {"a": rng.normal(size=(40, 2)), "b": rng.normal(size=(10, 2))}
    scores = {n: pd.DataFrame({"eap": rng.random(len(X))}) for n, X in X_aux.items()}
    v = validation_set(s, X_train, X_aux, scores, ["eap"])
    grid = candidates(["a", "b"], ["eap"], [0, 50], {"ssdo": {}})
    quality = {c.name: i for i, c in enumerate(grid)}
    best = grid[1].name
    decide = {c.name: (v.y * (3.0 if c.name == best else 1.0) + rng.normal(0, 1.0, v.y.size)) for c in grid}
    decision = choose(grid, lambda c: decide[c.name], v)
    assert decision.chosen.name == best and len(decision.table) == len(grid) == len(quality)
    assert decision.table["chosen"].sum() == 1
    assert decision.val_auroc == pytest.approx(decision.table["val_auroc"].max())
    low, high = bootstrap_auroc(v, decide[best], n_resamples=200)
    assert low <= decision.val_auroc <= high and high - low > 0
