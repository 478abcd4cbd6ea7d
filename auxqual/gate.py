"""Quality gates between nightly runs: is tonight's run worse than the last good one?

A run is summarised (``quality_summary``, ``run_metrics``) as named metrics: per
auxiliary set and quality score the score's mean and quantiles, the share of rows with no
evidence (EAP at its prior: ``eap_std == 0``) and the mean per-row uncertainty
(``eap_std``), the share of the set that selection would keep; for the model its
validation AUROC and the decision. ``compare`` holds each metric against the last good
run's with a rule per metric kind (``Rule``), and ``verdict`` is the worst level
crossed: ``pass``, ``warn`` or ``fail``.

A rule's tolerance is ``abs + rel · |last good value|`` (``numpy.isclose``'s form); a level
is crossed when the change *in the bad direction* is larger than that level's tolerance.
The validation AUROC counts as dropped only beyond its bootstrap interval: the rule compares
the upper end of this run's interval with the last good value. The two-sample
Kolmogorov–Smirnov test (``scipy.stats.ks_2samp``) of a set's scores against the last good
run's crosses a level when its statistic is above the level and its p-value below ``alpha``.
Pure library code: no files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

PASS, WARN, FAIL = "pass", "warn", "fail"
LEVELS = (PASS, WARN, FAIL)
DIRECTIONS = ("decrease", "increase", "any")
AT_PRIOR_STD = 1e-12  # eap_std at most this: every subset gave the prior (float sums leave ~1e-18)
MAX_SAMPLE = 2000  # score values kept per set and score in a run record, for the KS test


@dataclass(frozen=True)
class Tolerance:
    """How far a metric may move before a level is crossed (``abs + rel · |last good|``)."""

    abs: float = 0.0
    rel: float = 0.0

    def of(self, last_good: float) -> float:
        return float(self.abs) + float(self.rel) * abs(float(last_good))


@dataclass(frozen=True)
class Rule:
    """A metric kind's levels. ``direction``: which change is bad (``decrease``, ``increase``
    or ``any``); ``warn`` / ``fail``: its tolerances, ``None`` = never crossed."""

    direction: str = "any"
    warn: Tolerance | None = None
    fail: Tolerance | None = None

    def level(self, value: float, last_good: float) -> tuple[str, float | None]:
        """The level crossed by ``value`` against ``last_good``, and that level's tolerance."""
        change = float(value) - float(last_good)
        bad = {"decrease": -change, "increase": change, "any": abs(change)}[self.direction]
        for name, tolerance in ((FAIL, self.fail), (WARN, self.warn)):
            if tolerance is not None and bad > tolerance.of(last_good):
                return name, tolerance.of(last_good)
        return PASS, None


@dataclass(frozen=True)
class KSRule:
    """Kolmogorov–Smirnov levels: a statistic above ``warn`` / ``fail`` with p < ``alpha``."""

    warn: float | None = 0.3
    fail: float | None = 0.6
    alpha: float = 0.01

    def level(self, statistic: float, pvalue: float) -> str:
        if pvalue >= self.alpha:
            return PASS
        if self.fail is not None and statistic > self.fail:
            return FAIL
        if self.warn is not None and statistic > self.warn:
            return WARN
        return PASS


def quality_summary(scores: Mapping[str, np.ndarray], *, random_state: int = 0) -> dict[str, Any]:
    """One set's quality summary: per score its mean, quantiles and a sample of at most
    ``MAX_SAMPLE`` values (for the next run's KS test); with ``eap_std``, the share of
    rows at the prior and the mean uncertainty."""
    out: dict[str, Any] = {"rows": None, "scores": {}}
    for name, values in scores.items():
        values = np.asarray(values, dtype=np.float64)
        out["rows"] = int(values.size)
        if name.endswith("_std"):
            continue
        rng = np.random.default_rng(random_state)
        sample = values if values.size <= MAX_SAMPLE else rng.choice(values, MAX_SAMPLE, replace=False)
        q10, q50, q90 = np.quantile(values, [0.1, 0.5, 0.9])
        out["scores"][name] = {"mean": float(values.mean()), "q10": float(q10), "median": float(q50),
                               "q90": float(q90), "sample": np.sort(sample).tolist()}
    if "eap_std" in scores:
        std = np.asarray(scores["eap_std"], dtype=np.float64)
        out["share_at_prior"] = float(np.mean(std <= AT_PRIOR_STD))
        out["eap_std_mean"] = float(std.mean())
    return out


@dataclass(frozen=True)
class MetricResult:
    """One gated metric of this run against the last good run."""

    name: str
    set: str | None
    value: Any
    last_good: Any
    change: float | None
    threshold: Any
    level: str
    detail: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "set": self.set, "value": self.value, "last_good": self.last_good,
                "change": self.change, "threshold": self.threshold, "level": self.level, "detail": self.detail}


def _numeric(name: str, set_name: str | None, value: float, last: float, rule: Rule,
             detail: dict[str, Any] | None = None) -> MetricResult:
    level, tolerance = rule.level(value, last)
    threshold = {"direction": rule.direction,
                 "warn": None if rule.warn is None else rule.warn.of(last),
                 "fail": None if rule.fail is None else rule.fail.of(last), "crossed_tolerance": tolerance}
    return MetricResult(name, set_name, float(value), float(last), float(value) - float(last), threshold, level,
                        detail or {})


def compare(current: Mapping[str, Any], last_good: Mapping[str, Any], rules: Mapping[str, Any]) -> list[MetricResult]:
    """Every gated metric of ``current`` against ``last_good`` (both ``run_metrics``
    dicts); ``rules``: a ``Rule`` per metric kind (``score_mean``, ``score_median``,
    ``share_at_prior``, ``eap_std_mean``, ``kept_share``, ``val_auroc``), a ``KSRule``
    under ``ks``, and ``decision``: the level of a changed decision (``pass``/``warn``/``fail``).
    A set that is new tonight, or gone, is reported at the ``decision`` level."""
    results: list[MetricResult] = []
    now_sets, then_sets = current["sets"], last_good["sets"]
    for name in sorted(set(now_sets) | set(then_sets)):
        if name not in now_sets or name not in then_sets:
            state = "new" if name not in then_sets else "gone"
            results.append(MetricResult("set_present", name, name in now_sets, name in then_sets, None,
                                        {"level": rules["decision"]}, rules["decision"], {"state": state}))
            continue
        results += _set_metrics(name, now_sets[name], then_sets[name], rules)
    interval = current.get("val_auroc_interval")
    upper = current["val_auroc"] if not interval or interval[1] is None else max(interval[1], current["val_auroc"])
    auroc = _numeric("val_auroc", None, upper, last_good["val_auroc"], rules["val_auroc"],
                     {"interval": interval, "last_good_interval": last_good.get("val_auroc_interval"),
                      "compared": "the upper end of this run's interval against the last good value"})
    results.append(replace(auroc, value=float(current["val_auroc"]),
                           change=float(current["val_auroc"]) - float(last_good["val_auroc"])))
    same = current["decision"] == last_good["decision"]
    results.append(MetricResult("decision", None, current["decision"], last_good["decision"], None,
                                {"level": rules["decision"]}, PASS if same else rules["decision"], {}))
    return results


def _set_metrics(name: str, now: Mapping[str, Any], then: Mapping[str, Any],
                 rules: Mapping[str, Any]) -> list[MetricResult]:
    results = []
    for score in sorted(set(now["scores"]) & set(then["scores"])):
        a, b = now["scores"][score], then["scores"][score]
        results.append(_numeric(f"{score}.mean", name, a["mean"], b["mean"], rules["score_mean"]))
        results.append(_numeric(f"{score}.median", name, a["median"], b["median"], rules["score_median"],
                                {"q10": [a["q10"], b["q10"]], "q90": [a["q90"], b["q90"]]}))
        from scipy import stats  # here: params.yaml's schema imports this module at every stage's start

        test = stats.ks_2samp(a["sample"], b["sample"])
        ks: KSRule = rules["ks"]
        results.append(MetricResult(f"{score}.ks", name, float(test.statistic), 0.0, float(test.statistic),
                                    {"warn": ks.warn, "fail": ks.fail, "alpha": ks.alpha},
                                    ks.level(float(test.statistic), float(test.pvalue)),
                                    {"pvalue": float(test.pvalue), "n": len(a["sample"]),
                                     "n_last_good": len(b["sample"])}))
    for key in ("share_at_prior", "eap_std_mean", "kept_share"):
        if key in now and key in then:
            results.append(_numeric(key, name, now[key], then[key], rules[key]))
    return results


def verdict(results: Sequence[MetricResult]) -> str:
    """The worst level any metric crossed."""
    return max((r.level for r in results), key=LEVELS.index, default=PASS)


def rules_from_params(gate: Mapping[str, Any]) -> dict[str, Any]:
    """The rules of a ``gate:`` params section (see the scaffolded params.yaml)."""
    rules: dict[str, Any] = {}
    for kind, spec in gate["metrics"].items():
        if kind == "ks":
            rules["ks"] = KSRule(warn=spec.get("warn"), fail=spec.get("fail"), alpha=spec.get("alpha", 0.01))
        elif kind == "decision":
            rules["decision"] = spec
        else:
            rules[kind] = Rule(direction=spec.get("direction", "any"),
                               warn=None if spec.get("warn") is None else Tolerance(**spec["warn"]),
                               fail=None if spec.get("fail") is None else Tolerance(**spec["fail"]))
    return rules


DEFAULT_GATE: dict[str, Any] = {"metrics": {
    "score_mean": {"direction": "decrease", "warn": {"abs": 0.0, "rel": 0.2}, "fail": {"abs": 0.0, "rel": 0.5}},
    "score_median": {"direction": "decrease", "warn": {"abs": 0.0, "rel": 0.2}, "fail": {"abs": 0.0, "rel": 0.5}},
    "ks": {"warn": 0.3, "fail": 0.6, "alpha": 0.01},
    "share_at_prior": {"direction": "increase", "warn": {"abs": 0.1, "rel": 0.0}, "fail": {"abs": 0.3, "rel": 0.0}},
    "eap_std_mean": {"direction": "increase", "warn": {"abs": 0.0, "rel": 0.5}, "fail": {"abs": 0.0, "rel": 2.0}},
    "kept_share": {"direction": "any", "warn": {"abs": 0.3, "rel": 0.0}, "fail": None},
    "val_auroc": {"direction": "decrease", "warn": {"abs": 0.0, "rel": 0.0}, "fail": {"abs": 0.03, "rel": 0.0}},
    "decision": WARN,
}}
