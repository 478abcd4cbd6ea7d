"""The schema of a production project's ``params.yaml``: every key, its type, range and default.

Read by every stage of the scaffolded project before it does any work (and by ``auxqual
init``, which writes the file). An unknown key, a value of the wrong type or out of range is
one ``ValueError`` naming the key (``score.scroes``) and, for an unknown key, the closest
valid one. The machinery (sections that refuse unknown keys, the one-line problem, the
estimators' parameter names) is ``auxqual.params.schema``'s, shared with the benchmark's
schema ``auxqual.params.benchmark``; ``docs/reference/params.md`` is rendered from both.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from auxqual.params.schema import (
    Section,
    check_estimator_params,
    check_names,
    defaults,
    markdown_table,
    parse,
    read_yaml,
)

PARAMS_FILE = "params.yaml"


class _Section(Section):
    model_config = ConfigDict(extra="forbid", strict=False)   # a project's file: "0.2" reads as 0.2


class Inputs(_Section):
    """The project's files, relative to its root (written by ``auxqual init``)."""

    train: str = Field(description="training table: features + y (1 = labelled anomaly, 0 or empty = normal)")
    validation: str | None = Field(None, description="labelled validation table, or null")
    aux: dict[str, str] = Field(default_factory=dict, description="auxiliary anomaly sets made elsewhere: name -> file")


class GeneratorSpec(_Section):
    n_samples: int = Field(200, gt=0, description="rows to generate")
    params: dict[str, Any] = Field(default_factory=dict, description="the generator's parameters")


class Generate(_Section):
    generators: dict[str, GeneratorSpec] = Field(
        default_factory=dict, description="generators of auxqual.generators fitted on the training data")
    max_train_rows: int | None = Field(5000, gt=0, description="seeded sample the generators are fitted on")
    seed: int = Field(0, ge=0)


class Score(_Section):
    scores: list[str] = Field(default_factory=lambda: ["eap", "rarity"], min_length=1,
                              description="quality scores computed for every auxiliary set")
    params: dict[str, dict[str, Any]] = Field(default_factory=dict, description="score -> its parameters")
    max_train_rows: int | None = Field(10000, gt=0,
                                       description="seeded sample of training rows the scores are fitted on")
    seed: int = Field(0, ge=0)


def _no_params(*names: str) -> dict[str, dict[str, Any]]:
    return {name: {} for name in names}


class Select(_Section):
    q: list[float] = Field(default_factory=lambda: [0.0, 10.0, 25.0, 50.0, 100.0], min_length=1,
                           description="% of each ranked set to train with")
    detectors: dict[str, dict[str, Any]] = Field(default_factory=lambda: _no_params("ssdo", "mlp"), min_length=1,
                                                 description="detector candidates -> their parameters")
    validation_fraction: float = Field(0.2, gt=0, lt=1, description="training normals held out for validation")
    max_validation_normals: int | None = Field(5000, gt=0, description="at most this many held out; null = no cap")
    aux_validation_fraction: float = Field(0.3, gt=0, lt=1,
                                           description="of each set, held out as validation anomalies "
                                                       "(only without a validation table)")
    max_fit_rows: int | None = Field(10000, gt=0, description="seeded sample of training rows each detector fits")
    seed: int = Field(0, ge=0)
    device: str = Field("auto", description="torch device: auto (cuda when present), cpu, cuda")


class Evaluate(_Section):
    bootstrap: int = Field(1000, ge=0, description="resamples of the validation AUROC's interval")
    level: float = Field(0.95, gt=0, lt=1)


class Tolerance(_Section):
    abs: float = Field(0.0, ge=0, description="absolute tolerance")
    rel: float = Field(0.0, ge=0, description="relative tolerance (of |last good value|)")


class MetricRule(_Section):
    direction: Literal["decrease", "increase", "any"] = Field("any", description="which change is bad")
    warn: Tolerance | None = Field(None, description="crossing it warns (and still promotes); null = never")
    fail: Tolerance | None = Field(None, description="crossing it fails (no promotion); null = never")


class KSRule(_Section):
    warn: float | None = Field(0.3, ge=0, le=1, description="KS statistic above which a set warns (p < alpha)")
    fail: float | None = Field(0.6, ge=0, le=1, description="KS statistic above which a set fails (p < alpha)")
    alpha: float = Field(0.01, gt=0, lt=1)


def _rule(kind: str) -> Any:
    from auxqual.gate import DEFAULT_GATE

    return lambda: MetricRule.model_validate(DEFAULT_GATE["metrics"][kind])


class GateMetrics(_Section):
    score_mean: MetricRule = Field(default_factory=_rule("score_mean"), description="mean quality score of a set")
    score_median: MetricRule = Field(default_factory=_rule("score_median"), description="median quality score")
    ks: KSRule = Field(default_factory=defaults(KSRule), description="two-sample KS test of a set's scores")
    share_at_prior: MetricRule = Field(default_factory=_rule("share_at_prior"),
                                       description="share of a set's rows with no evidence (EAP at its prior)")
    eap_std_mean: MetricRule = Field(default_factory=_rule("eap_std_mean"), description="mean per-row eap_std")
    kept_share: MetricRule = Field(default_factory=_rule("kept_share"),
                                   description="share of a set that selection keeps (best q of the set / 100)")
    val_auroc: MetricRule = Field(default_factory=_rule("val_auroc"), description="the model's validation AUROC")
    decision: Literal["pass", "warn", "fail"] = Field("warn", description="level of a changed decision or set")


class Gate(_Section):
    metrics: GateMetrics = Field(default_factory=defaults(GateMetrics), description="per metric: direction, warn, fail")


class ProjectParams(_Section):
    inputs: Inputs
    generate: Generate = Field(default_factory=defaults(Generate))
    score: Score = Field(default_factory=defaults(Score))
    select: Select = Field(default_factory=defaults(Select))
    evaluate: Evaluate = Field(default_factory=defaults(Evaluate))
    gate: Gate = Field(default_factory=defaults(Gate))

    @model_validator(mode="after")
    def _names(self) -> ProjectParams:
        # the names as plain tuples: importing the registries costs seconds per stage (torch, numba)
        from auxqual.params.names import (
            DETECTOR_NAMES,
            DETECTOR_PARAMS,
            GENERATOR_NAMES,
            GENERATOR_PARAMS,
            SCORE_NAMES,
            SCORE_PARAMS,
        )

        check_names("generate.generators", self.generate.generators, GENERATOR_NAMES, "name")
        for name, spec in self.generate.generators.items():
            check_estimator_params("generate.generators", {f"{name}.params": spec.params},
                                   {f"{name}.params": GENERATOR_PARAMS[name]}, "generator")
        check_names("score.scores", self.score.scores, SCORE_NAMES, "name")
        check_names("score.params", self.score.params, self.score.scores, "name")
        check_estimator_params("score.params", self.score.params, SCORE_PARAMS, "score")
        check_names("select.detectors", self.select.detectors, DETECTOR_NAMES, "name")
        check_estimator_params("select.detectors", self.select.detectors, DETECTOR_PARAMS, "detector")
        clash = sorted(set(self.generate.generators) & set(self.inputs.aux))
        if clash:
            raise ValueError(f"generate.generators: {clash} is also the name of an inputs.aux set; rename one")
        return self

    def sets(self, generated_dir: str) -> dict[str, str]:
        """Every auxiliary set by name: the user's files, then the generated ones."""
        return {**self.inputs.aux, **{g: f"{generated_dir}/{g}.parquet" for g in self.generate.generators}}


def load_project_params(root: str | os.PathLike = ".") -> ProjectParams:
    """Read and check ``<root>/params.yaml``; ``ValueError`` naming the key at fault."""
    path = Path(root) / PARAMS_FILE
    if not path.is_file():
        raise ValueError(f"{path}: not found; run in a project made by `auxqual init`")
    return parse_project_params(read_yaml(path), str(path))


def parse_project_params(raw: Any, where: str = PARAMS_FILE) -> ProjectParams:
    """``ProjectParams`` from a mapping; the first problem as one line naming the key."""
    return parse(ProjectParams, raw, where)


def schema_table() -> str:
    """Every key of the schema as one Markdown table (key, type, default, range, meaning)."""
    return markdown_table(ProjectParams)
