"""Q3 selection (``auxqual.selection``): known-answer cases, determinism, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from auxqual.candidates import fit_candidates
from auxqual.selection import (
    CandidateSpec,
    candidate_grid,
    holdout_split,
    parse_candidates,
    regret_summary,
    score_weights,
    select_fitted,
    select_generator,
    select_model,
    validation_weights,
    weighted_auroc,
)


class Projection:
    """A fitted 'detector' whose anomaly score is one feature: a candidate whose
    strengths are known by construction (it sees anomalies along its axis only)."""

    def __init__(self, axis: int):
        self.axis = axis

    def decision_function(self, X):
        return np.asarray(X, dtype=np.float64)[:, self.axis]


def _world(seed: int = 0):
    """Normals around 0 in 3-D; real anomalies shifted along x0 (test anomalies too);
    'noise' auxiliary anomalies shifted along x1 only. Candidate ``real`` looks at x0,
    ``noise`` at x1, ``blind`` at x2 (sees nothing)."""
    rng = np.random.default_rng(seed)
    normals_val, normals_test = rng.normal(size=(60, 3)), rng.normal(size=(60, 3))
    real_val = rng.normal(size=(20, 3)) + np.array([3.0, 0.0, 0.0])
    real_test = rng.normal(size=(60, 3)) + np.array([3.0, 0.0, 0.0])
    noise = rng.normal(size=(40, 3)) + np.array([0.0, 4.0, 0.0])
    candidates = {"real": Projection(0), "noise": Projection(1), "blind": Projection(2)}
    X_test = np.vstack([normals_test, real_test])
    y_test = np.r_[np.zeros(60), np.ones(60)].astype(int)
    return candidates, normals_val, real_val, noise, X_test, y_test


def _val(normals, anomalies):
    return np.vstack([normals, anomalies]), np.r_[np.zeros(len(normals)), np.ones(len(anomalies))].astype(int)


# --------------------------------------------------------------------------- known answers
def test_all_weight_on_the_real_anomalies_picks_the_oracle():
    candidates, normals, real, noise, X_test, y_test = _world()
    X_val, y_val = _val(normals, np.vstack([real, noise]))
    anomaly_w = np.r_[np.ones(len(real)), np.zeros(len(noise))]      # a perfect quality score
    result = select_fitted(candidates, X_val, y_val, validation_weights(y_val, anomaly_w), X_test=X_test, y_test=y_test)
    assert result.oracle == "real"
    assert result.chosen == "real" and result.regret == 0.0
    assert result.chosen_test_auroc == result.oracle_test_auroc > 0.95
    # the same mixed set without a quality score prefers the candidate that sees the (louder) noise
    uniform = select_fitted(candidates, X_val, y_val, X_test=X_test, y_test=y_test)
    assert uniform.chosen == "noise" and uniform.regret > 0.3


def test_uniform_weights_on_pure_noise_do_not_pick_the_oracle():
    candidates, normals, _, noise, X_test, y_test = _world()
    X_val, y_val = _val(normals, noise)
    result = select_fitted(candidates, X_val, y_val, validation_weights(y_val), X_test=X_test, y_test=y_test)
    assert result.oracle == "real"
    assert result.chosen == "noise"
    assert result.regret == pytest.approx(result.oracle_test_auroc - result.chosen_test_auroc) and result.regret > 0.3
    table = result.table.set_index("candidate")
    assert list(result.table["candidate"]) == ["real", "noise", "blind"]
    assert table["chosen"].tolist() == [False, True, False] and table["oracle"].tolist() == [True, False, False]
    assert table.loc["noise", "val_auroc"] > 0.95 and table.loc["real", "val_auroc"] < 0.7
    # validation ranks noise > real, test ranks real first: the rank correlation is not positive
    assert result.spearman <= 0.5


def test_selection_without_test_labels_reports_only_the_choice():
    candidates, normals, real, _, _, _ = _world()
    X_val, y_val = _val(normals, real)
    result = select_fitted(candidates, X_val, y_val)
    assert result.chosen == "real" and result.oracle is None
    assert np.isnan(result.regret) and result.table["test_auroc"].isna().all()


def test_weighted_auroc_is_roc_auc_with_weights_and_ignores_the_scale_of_a_class():
    rng = np.random.default_rng(3)
    y = np.r_[np.zeros(50), np.ones(30)].astype(int)
    s = rng.normal(size=80) + y
    w = np.r_[np.ones(50), rng.uniform(size=30)]
    value = weighted_auroc(y, s, w)
    assert value == pytest.approx(roc_auc_score(y, s, sample_weight=w))
    scaled = w.copy()
    scaled[y == 1] *= 7.0                      # equal class mass or not: the same AUROC
    assert weighted_auroc(y, s, scaled) == pytest.approx(value)
    zero = np.r_[np.ones(50), np.ones(10), np.zeros(20)]     # weight 0 = left out
    assert weighted_auroc(y, s, zero) == pytest.approx(roc_auc_score(y[:60], s[:60]))


def test_score_weights():
    scores = np.array([2.0, 4.0, np.nan, 3.0, 4.0])
    assert score_weights(scores, "minmax").tolist() == [0.0, 1.0, 0.0, 0.5, 1.0]
    assert score_weights(scores, "rank").tolist() == [0.25, 0.875, 0.0, 0.5, 0.875]
    top = score_weights(scores, "top_q", q=40, random_state=0)
    assert top.tolist() == [0.0, 1.0, 0.0, 0.0, 1.0]
    assert score_weights(np.full(4, 0.3), "minmax").tolist() == [1.0] * 4   # constant = uniform


def test_holdout_split_is_stratified_seeded_and_disjoint():
    y = np.r_[np.zeros(100), np.ones(5)].astype(int)
    fit, val = holdout_split(y, 0.2, random_state=4)
    assert (np.sort(np.r_[fit, val]) == np.arange(105)).all() and not set(fit) & set(val)
    assert int((y[val] == 0).sum()) == 20 and int((y[val] == 1).sum()) == 1
    again = holdout_split(y, 0.2, random_state=4)
    assert (again[1] == val).all()
    assert not np.array_equal(holdout_split(y, 0.2, random_state=5)[1], val)
    # a class of one row stays in the fit part; two rows: one held out
    one = np.r_[np.zeros(10), 1].astype(int)
    assert int(one[holdout_split(one, 0.2)[1]].sum()) == 0
    two = np.r_[np.zeros(10), 1, 1].astype(int)
    assert int(two[holdout_split(two, 0.01)[1]].sum()) == 1


def test_generator_selection_known_answers():
    quality = {"a": 0.9, "b": 0.5, "c": 0.1}
    agree = select_generator(quality, {"a": 0.95, "b": 0.8, "c": 0.6})
    assert (agree.chosen, agree.oracle, agree.regret, agree.tau) == ("a", "a", 0.0, 1.0)
    disagree = select_generator(quality, {"a": 0.6, "b": 0.8, "c": 0.95})
    assert disagree.chosen == "a" and disagree.oracle == "c"
    assert disagree.regret == pytest.approx(0.35) and disagree.tau == pytest.approx(-1.0)
    flat = select_generator({"a": 0.5, "b": 0.5}, {"a": 0.6, "b": 0.9})
    assert np.isnan(flat.tau)                   # a constant quality ranks nothing


# --------------------------------------------------------------------------- determinism
def test_ties_are_broken_by_name_and_seed_not_by_order():
    same = np.array([0.1, 0.9, 0.2, 0.8])
    y = np.array([0, 1, 0, 1])
    names = ["a", "b", "c", "d", "e"]
    chosen = {}
    for seed in range(8):
        forward = select_model(dict.fromkeys(names, same), y, random_state=seed).chosen
        backward = select_model(dict.fromkeys(reversed(names), same), y, random_state=seed).chosen
        assert forward == backward == select_model(dict.fromkeys(names, same), y, random_state=seed).chosen
        chosen[seed] = forward
    assert len(set(chosen.values())) > 1        # the seed, not the position, decides


def test_fitted_registry_candidates_give_identical_tables_twice():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(120, 4)), rng.normal(size=(6, 4)) + 3])
    y = np.r_[np.zeros(120), np.ones(6)].astype(int)
    specs = candidate_grid({"iforest": {"n_estimators": [20, 40]}, "ssdo": {"k": [3, 5]}})
    assert [s.name for s in specs] == ["iforest-n_estimators20", "iforest-n_estimators40", "ssdo-k3", "ssdo-k5"]
    fit, val = holdout_split(y, 0.25, random_state=1)
    X_val, y_val = X[val], y[val]
    tables = []
    for _ in range(2):
        models = fit_candidates(specs, X[fit], y[fit], random_state=7, device="cpu")
        tables.append(select_fitted(models, X_val, y_val).table)
    pd.testing.assert_frame_equal(tables[0], tables[1])
    assert tables[0]["val_auroc"].between(0, 1).all()


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(("call", "pattern"), [
    (lambda: select_model({}, [0, 1]), r"val_decisions"),
    (lambda: select_model({"a": [0.1, 0.2]}, [0, 2]), r"y_val: labels must be 0"),
    (lambda: select_model({"a": [0.1, 0.2]}, [0, 1], [1.0]), r"weights: 1 weight\(s\) for 2"),
    (lambda: select_model({"a": [0.1, 0.2]}, [0, 1], [1.0, 0.0]), r"weights: AUROC is undefined"),
    (lambda: select_model({"a": [0.1, 0.2]}, [0, 1], [1.0, -1.0]), r"weights: must be finite and non-negative"),
    (lambda: select_model({"a": [0.1, np.nan]}, [0, 1]), r"val_decisions\['a'\]: 1 non-finite"),
    (lambda: select_model({"a": [0.1, 0.2, 0.3]}, [0, 1]), r"val_decisions\['a'\]: 3 decision score"),
    (lambda: select_model({"a": [0.1, 0.2]}, [0, 1], test_decisions={"a": [0.1, 0.2]}), r"test_decisions and y_test"),
    (lambda: select_model({"a": [0.1, 0.2]}, [0, 1], test_decisions={"b": [0.1, 0.2]}, y_test=[0, 1]),
     r"test_decisions: no decision scores for candidate\(s\) \['a'\]"),
    (lambda: select_generator({"a": 0.5}, {"a": 0.6}), r"mean_quality: .*at least 2"),
    (lambda: select_generator({"a": 0.5, "b": 0.1}, {"a": 0.6, "c": 0.1}), r"test_auroc: sets"),
    (lambda: select_generator({"a": 0.5, "b": np.nan}, {"a": 0.6, "b": 0.1}), r"mean_quality: non-finite .*\['b'\]"),
    (lambda: score_weights([1.0, 2.0], "softmax"), r"weighting: unknown method 'softmax'"),
    (lambda: score_weights([1.0, 2.0], "top_q"), r"q: the top_q weighting needs"),
    (lambda: score_weights([[1.0]]), r"scores: expected a non-empty 1-D"),
    (lambda: validation_weights([0, 1, 1], [1.0]), r"anomaly_weights: 1 weight\(s\) for 2 anomalies"),
    (lambda: holdout_split([0, 0, 1], 1.5), r"fraction: must be in \(0, 1\)"),
    (lambda: holdout_split([0, 1, 1], 0.2), r"y: 1 normal row\(s\)"),
    (lambda: candidate_grid({"ssdo": {"k": []}}), r"candidates.ssdo.k: expected a non-empty list"),
    (lambda: candidate_grid({"ssdo": {"k": [5]}, "iforest": [1]}), r"candidates.iforest: expected a mapping"),
    (lambda: parse_candidates({"x": {"params": {}}}), r"candidates.x: expected a mapping with a 'detector'"),
    (lambda: parse_candidates({"x": {"detector": "ssdo", "k": 5}}), r"candidates.x: unknown key\(s\) \['k'\]"),
    (lambda: fit_candidates([CandidateSpec("c", "ssdo", {"kk": 1})], np.zeros((9, 2)), np.zeros(9)),
     r"candidate 'c' \(ssdo.*unknown parameter"),
    (lambda: regret_summary(pd.DataFrame({"score": ["a"]})), r"q3 table: missing column"),
])
def test_bad_input_raises_a_value_error_naming_the_argument(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_regret_summary_averages_seeds_within_a_dataset_before_the_interval():
    q3 = pd.DataFrame({"dataset": ["d1"] * 2 + ["d2"] * 2 + ["d3"] * 2, "seed": [0, 1] * 3,
                       "task": "model", "score": "eap",
                       "regret": [0.0, 0.2, 0.1, 0.1, 0.3, 0.3], "rank_corr": [1.0, 0.0, 0.5, 0.5, np.nan, 0.5]})
    row = regret_summary(q3).iloc[0]
    assert (row["n"], row["unit"]) == (3, "datasets")
    assert row["mean_regret"] == pytest.approx(np.mean([0.1, 0.1, 0.3]))
    assert row["ci_low"] < row["mean_regret"] < row["ci_high"]
    assert row["oracle_rate"] == pytest.approx(1 / 6) and row["mean_rank_corr"] == pytest.approx(0.5)
    single = regret_summary(q3[q3["dataset"] == "d1"]).iloc[0]
    assert (single["n"], single["unit"]) == (2, "seeds")
    one = regret_summary(q3.iloc[:1]).iloc[0]
    assert np.isnan(one["ci_low"]) and np.isnan(one["ci_high"])


# --------------------------------------------------------------------------- Q3 figures
def _q3_tables():
    rng = np.random.default_rng(2)
    rows, candidates = [], []
    for dataset in ("d1", "d2"):
        for seed in (0, 1):
            for score in ("eap", "rarity", "uniform", "labelled"):
                val, test = rng.uniform(0.5, 1.0, 3), rng.uniform(0.5, 1.0, 3)
                chosen = int(np.argmax(val))
                rows.append({"dataset": dataset, "seed": seed, "task": "model", "score": score,
                             "regret": float(test.max() - test[chosen]), "rank_corr": 0.0})
                candidates += [{"dataset": dataset, "seed": seed, "task": "model", "score": score, "candidate": c,
                                "val": v, "test_auroc": t, "chosen": i == chosen}
                               for i, (c, v, t) in enumerate(zip(("a", "b", "c"), val, test, strict=True))]
    return pd.DataFrame(rows), pd.DataFrame(candidates)


def test_q3_figures_are_pngs_with_the_same_bytes_twice_and_name_bad_input(tmp_path):
    from auxqual import plots

    q3, candidates = _q3_tables()
    summary = regret_summary(q3, by=("score",))
    drawn = []
    for run in ("one", "two"):
        drawn.append([plots.q3_regret(summary, tmp_path / f"{run}-regret.png").read_bytes(),
                      plots.q3_validation_vs_test(candidates, tmp_path / f"{run}-scatter.png", dataset="d1")
                      .read_bytes()])
    assert drawn[0] == drawn[1]
    assert all(png.startswith(b"\x89PNG") and len(png) > 5_000 for png in drawn[0])
    with pytest.raises(ValueError, match="no model-selection rows for dataset 'd9'"):
        plots.q3_validation_vs_test(candidates, tmp_path / "x.png", dataset="d9")
    with pytest.raises(ValueError, match=r"q3 summary: missing column"):
        plots.q3_regret(summary.drop(columns=["ci_low"]), tmp_path / "x.png")
