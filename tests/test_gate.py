"""auxqual.gate: levels on constructed metric histories with known answers."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from auxqual.gate import (
    DEFAULT_GATE,
    FAIL,
    PASS,
    WARN,
    KSRule,
    Rule,
    Tolerance,
    compare,
    quality_summary,
    rules_from_params,
    verdict,
)

RULES = rules_from_params(DEFAULT_GATE)


@pytest.mark.parametrize(("value", "expected"), [
    (0.80 - 0.05 - 0.1 * 0.80 + 1e-9, PASS),     # just under warn: 0.05 + 0.1 * 0.8 = 0.13
    (0.80 - 0.13 - 1e-9, WARN),                  # just over warn
    (0.80 - 0.1 - 0.3 * 0.80 + 1e-9, WARN),      # just under fail: 0.1 + 0.3 * 0.8 = 0.34
    (0.80 - 0.34 - 1e-9, FAIL),                  # just over fail
    (0.99, PASS),                                # a better score never crosses a decrease rule
])
def test_a_decrease_rule_crosses_warn_and_fail_at_abs_plus_rel_times_last_good(value, expected):
    rule = Rule("decrease", warn=Tolerance(abs=0.05, rel=0.1), fail=Tolerance(abs=0.1, rel=0.3))
    assert rule.level(value, 0.80)[0] == expected


@pytest.mark.parametrize(("value", "expected"), [(0.10 * 0.8 + 1e-12, PASS), (0.10 * 0.8 - 1e-12, WARN),
                                             (0.10 * 0.5 + 1e-12, WARN), (0.10 * 0.5 - 1e-12, FAIL)])
def test_the_default_score_mean_rule_is_relative(value, expected):
    assert RULES["score_mean"].level(value, 0.10)[0] == expected


@pytest.mark.parametrize(("value", "expected"), [(0.2 + 0.1 - 1e-9, PASS), (0.2 + 0.1 + 1e-9, WARN),
                                             (0.2 + 0.3 - 1e-9, WARN), (0.2 + 0.3 + 1e-9, FAIL), (0.0, PASS)])
def test_an_increase_rule(value, expected):
    assert RULES["share_at_prior"].level(value, 0.2)[0] == expected


def test_any_direction_and_a_level_that_is_off():
    rule = Rule("any", warn=Tolerance(abs=0.3), fail=None)
    assert rule.level(0.5 + 0.31, 0.5)[0] == WARN and rule.level(0.5 - 0.31, 0.5)[0] == WARN
    assert rule.level(0.0, 1.0)[0] == WARN  # never fail: fail is off
    assert rule.level(0.5 + 0.29, 0.5)[0] == PASS


def test_ks_rule_needs_both_the_statistic_and_the_p_value():
    rule = KSRule(warn=0.3, fail=0.6, alpha=0.01)
    assert rule.level(0.31, 0.001) == WARN and rule.level(0.29, 0.001) == PASS
    assert rule.level(0.61, 0.001) == FAIL and rule.level(0.61, 0.02) == PASS


def metrics(seed: int = 0, shift: float = 0.0, at_prior: float = 0.0, auroc: float = 0.95, q: float = 50.0):
    rng = np.random.default_rng(seed)
    eap = np.clip(rng.normal(0.7 - shift, 0.05, 300), 0, 1)
    std = rng.uniform(0.01, 0.05, 300)
    std[: int(at_prior * 300)] = 0.0
    summary = quality_summary({"eap": eap, "eap_std": std})
    summary["kept_share"] = q / 100
    return {"sets": {"cam": summary}, "val_auroc": auroc, "val_auroc_interval": [auroc - 0.02, auroc + 0.01],
            "decision": {"set": "cam", "score": "eap", "q": q, "detector": "ssdo", "detector_params": {}}}


def test_a_new_snapshot_of_the_same_distribution_passes():
    results = compare(metrics(seed=1), metrics(seed=0), RULES)
    assert verdict(results) == PASS, [r.to_dict() for r in results if r.level != PASS]
    names = {r.name for r in results}
    assert {"eap.mean", "eap.median", "eap.ks", "share_at_prior", "eap_std_mean", "kept_share", "val_auroc",
            "decision"} <= names
    ks = next(r for r in results if r.name == "eap.ks")
    assert ks.detail["n"] == ks.detail["n_last_good"] == 300


def test_a_set_with_no_evidence_fails_and_names_the_metric():
    results = compare(metrics(seed=1, at_prior=0.9), metrics(seed=0), RULES)
    assert verdict(results) == FAIL
    failed = {(r.set, r.name) for r in results if r.level == FAIL}
    assert ("cam", "share_at_prior") in failed


def test_worse_scores_fail_on_mean_and_ks():
    results = compare(metrics(seed=1, shift=0.5), metrics(seed=0), RULES)
    failed = {r.name for r in results if r.level == FAIL}
    assert {"eap.mean", "eap.ks"} <= failed


def test_a_changed_decision_warns_and_a_lower_auroc_fails():
    assert verdict(compare(metrics(seed=0, q=25), metrics(seed=0), RULES)) == WARN
    # the drop counts beyond this run's interval (its upper end is auroc + 0.01 here)
    results = compare(metrics(seed=0, auroc=0.90), metrics(seed=0, auroc=0.95), RULES)
    assert next(r for r in results if r.name == "val_auroc").level == FAIL     # 0.95 - 0.91 > 0.03
    results = compare(metrics(seed=0, auroc=0.93), metrics(seed=0, auroc=0.95), RULES)
    assert next(r for r in results if r.name == "val_auroc").level == WARN     # 0.95 - 0.94 in (0, 0.03]
    results = compare(metrics(seed=0, auroc=0.945), metrics(seed=0, auroc=0.95), RULES)
    assert next(r for r in results if r.name == "val_auroc").level == PASS     # 0.95 within the interval


def test_a_set_that_is_new_tonight_is_reported_at_the_decision_level():
    now = metrics()
    now["sets"]["new"] = copy.deepcopy(now["sets"]["cam"])
    results = compare(now, metrics(), RULES)
    assert [(r.set, r.level) for r in results if r.name == "set_present"] == [("new", WARN)]


def test_quality_summary_keeps_a_bounded_sample_for_the_next_ks_test():
    std = np.r_[np.full(2500, 3.5e-18), np.full(2500, 1e-3)]  # float sums at the prior leave ~1e-18
    summary = quality_summary({"eap": np.linspace(0, 1, 5000), "eap_std": std})
    assert len(summary["scores"]["eap"]["sample"]) == 2000
    assert summary["share_at_prior"] == 0.5 and summary["rows"] == 5000
    assert summary["scores"]["eap"]["median"] == pytest.approx(0.5)
