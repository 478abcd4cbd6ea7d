"""The schema of this repository's ``params.yaml`` (the benchmark's DVC pipeline): every
section and key, its type, range and default.

Every stage reads the file through ``load_benchmark_params`` before it does any work, and
the flows check it (and their ``--set`` overrides) the same way, so a typo anywhere
(``score.scroes``, ``train.random_stat``, ``score.params.eapp``) stops the first stage
``dvc repro`` runs with one line naming the key and the closest valid one. The defaults
live here only: a stage reads the checked model, never ``config.get(key, default)``.
``docs/reference/params.md`` is rendered from these models (``scripts/params_table.py``).
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from auxqual.params.names import (
    DETECTOR_NAMES,
    DETECTOR_PARAMS,
    GENERATOR_NAMES,
    GENERATOR_PARAMS,
    PROTOCOL_PARAMS,
    SCORE_NAMES,
    SCORE_PARAMS,
)
from auxqual.params.schema import (
    KeyProblem,
    Section,
    check_estimator_params,
    check_names,
    defaults,
    inside,
    parse,
    read_yaml,
)

PARAMS_FILE = "params.yaml"
BENCHMARK_GENERATOR = "benchmark_mixture"   # the protocol's set, made by prepare


def _distinct(key: str, names: list[Any]) -> list[Any]:
    if len(set(map(str, names))) != len(names):
        raise KeyProblem(f"{key} lists a name twice: {names}")
    return names


class DataDefault(Section):
    """The embedded default data built by stage ``data`` (scikit-learn's bundled datasets)."""

    anomaly_digit: int = Field(8, ge=0, le=9, description="digits' class used as the anomalies")
    sources: list[str] = Field(default_factory=lambda: ["iris", "wine", "breast_cancer", "diabetes", "linnerud"],
                               description="embedded datasets written beside digits (sources of unrealistic rows)")


class Data(Section):
    path: str = Field("data/default", description="folder of ADBench-style .npz files (arrays X, y; 1 = anomaly)")
    datasets: list[str] = Field(default_factory=lambda: ["digits"], min_length=1,
                                description="datasets to benchmark: <name> or <subfolder>/<name>, inside data.path")
    default: DataDefault = Field(default_factory=defaults(DataDefault), description="the embedded default data")

    @field_validator("datasets")
    @classmethod
    def _inside(cls, names: list[str]) -> list[str]:
        for name in names:
            inside("data.datasets", name, "a dataset is named <name> or <subfolder>/<name>, relative to data.path")
        return _distinct("data.datasets", names)


class Prepare(Section):
    """The benchmark protocol (docs: protocol.md)."""

    n_sources: int = Field(5, ge=1, description="other datasets that give the unrealistic rows")
    max_train_normals: int = Field(1000, ge=1, description="cap on the training normals")
    random_state: int = Field(0, ge=0, description="seed of the protocol's split (the `seed` column of the results)")
    seeds: list[int] | None = Field(None, min_length=1, description="the benchmark flow's repeats over seeds; "
                                    "dvc repro accepts only [random_state]")
    protocol: dict[str, int | float] = Field(
        default_factory=dict,
        description="the protocol's optional counts and caps (auxqual.protocol.split_benchmark keywords)")

    @field_validator("protocol")
    @classmethod
    def _protocol(cls, value: dict[str, int | float]) -> dict[str, int | float]:
        check_names("prepare.protocol", value, PROTOCOL_PARAMS)
        return value


class Generate(Section):
    generators: list[str] = Field(default_factory=lambda: [BENCHMARK_GENERATOR], min_length=1,
                                  description="auxiliary sets made per dataset (benchmark_mixture = the protocol's)")
    params: dict[str, dict[str, Any]] = Field(default_factory=dict, description="generator -> its keyword arguments")
    n_samples: int | None = Field(None, gt=0, description="rows per generated set; null = size of the benchmark set")
    random_state: int = Field(0, ge=0, description="base seed of every generated set")

    @model_validator(mode="after")
    def _names(self) -> Generate:
        check_names("generate.generators", self.generators, GENERATOR_NAMES, "generator")
        _distinct("generate.generators", self.generators)
        check_estimator_params("generate.params", self.params, GENERATOR_PARAMS, "generator")
        return self


class Score(Section):
    scores: list[str] = Field(default_factory=lambda: ["eap", "rarity", "random"], min_length=1,
                              description="quality scores computed on every auxiliary set")
    params: dict[str, dict[str, Any]] = Field(default_factory=dict, description="score -> its keyword arguments")
    dataset_params: dict[str, dict[str, dict[str, Any]]] = Field(
        default_factory=dict, description="dataset -> score -> keyword arguments merged over score.params there")

    @model_validator(mode="after")
    def _names(self) -> Score:
        check_names("score.scores", self.scores, SCORE_NAMES, "score")
        _distinct("score.scores", self.scores)
        check_estimator_params("score.params", self.params, SCORE_PARAMS, "score")
        for dataset, per_score in self.dataset_params.items():
            check_names(f"score.dataset_params.{dataset}", per_score, self.scores, "score (not in score.scores)")
            check_estimator_params(f"score.dataset_params.{dataset}", per_score, SCORE_PARAMS, "score")
        return self


class Train(Section):
    detectors: list[str] = Field(default_factory=lambda: ["ssdo"], min_length=1, description="detectors trained")
    params: dict[str, dict[str, Any]] = Field(default_factory=dict, description="detector -> its keyword arguments")
    q: list[int] = Field(default_factory=lambda: [0, 50, 100], min_length=1,
                         description="% of each auxiliary set (best first by each score) added to the training data")
    random_state: int = Field(0, ge=0, description="base seed of every fit and of the ranking's tie-break")
    device: str = Field("auto", description="torch device: auto (cuda when present), cpu, cuda")

    @field_validator("q")
    @classmethod
    def _percentages(cls, qs: list[int]) -> list[int]:
        if any(not 0 <= q <= 100 for q in qs):
            raise KeyProblem(f"train.q must be integer percentages in [0, 100], got {qs!r}")
        return qs

    @model_validator(mode="after")
    def _names(self) -> Train:
        check_names("train.detectors", self.detectors, DETECTOR_NAMES, "detector")
        _distinct("train.detectors", self.detectors)
        check_estimator_params("train.params", self.params, DETECTOR_PARAMS, "detector")
        return self


class Select(Section):
    """Q3: model and generator selection without test labels."""

    generator: str = Field(BENCHMARK_GENERATOR, description="the auxiliary set (one of generate.generators) whose "
                           "rows are the validation anomalies")
    validation_fraction: float = Field(0.2, gt=0, lt=1, description="of the training normals held out")
    weighting: Literal["minmax", "rank", "top_q"] = Field("minmax", description="quality score -> weight of a row")
    q: int | float | None = Field(None, ge=0, le=100, description="top_q only: % of the set with weight 1")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1,
                             description="each another validation split and candidate seed")
    candidates: dict[str, dict[str, list[Any]]] = Field(
        default_factory=lambda: {"ssdo": {"k": [5, 10]}}, min_length=1,
        description="detector -> {param: [values]}; every combination is a candidate")
    generator_detector: str = Field("ssdo", description="detector trained with each whole set for generator selection")
    generator_params: dict[str, Any] = Field(default_factory=dict, description="its keyword arguments")
    device: str = Field("cpu", description="torch device: auto (cuda when present), cpu, cuda")

    @field_validator("generator")
    @classmethod
    def _generator(cls, name: str) -> str:
        return inside("select.generator", name, "it names a set of generate.generators, in data/aux/<dataset>/")

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, seeds: list[int]) -> list[int]:
        if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
            raise KeyProblem(f"select.seeds must be distinct integers >= 0, got {seeds!r}")
        return seeds

    @model_validator(mode="after")
    def _names(self) -> Select:
        check_estimator_params("select.candidates", self.candidates, DETECTOR_PARAMS, "detector")
        check_names("select.generator_detector", [self.generator_detector], DETECTOR_NAMES, "detector")
        check_estimator_params("select", {"generator_params": self.generator_params},
                               {"generator_params": DETECTOR_PARAMS[self.generator_detector]}, "detector")
        return self


class Compare(Section):
    reference: str = Field("eap", description="the score tested (Wilcoxon-Holm) against every other")
    alpha: float = Field(0.05, gt=0, lt=1, description="significance level")

    @field_validator("reference")
    @classmethod
    def _reference(cls, name: str) -> str:
        check_names("compare.reference", [name], SCORE_NAMES, "score")
        return name


class Report(Section):
    score: str = Field("eap", description="the score shown per generator in reports/generators.png")

    @field_validator("score")
    @classmethod
    def _score(cls, name: str) -> str:
        check_names("report.score", [name], SCORE_NAMES, "score")
        return name


class Fanout(Section):
    """Where the cells of generate / score / train / select run (never what they return)."""

    runner: Literal["serial", "process", "prefect", "dask"] = Field("serial", description="serial, a process "
                                                                     "pool, Prefect threads, or Dask")
    address: str | None = Field(None, description="a Dask scheduler (tcp://host:8786) for runner dask")
    workers: int = Field(1, ge=1, description="processes or threads")


class Schedule(Section):
    cron: str = Field("0 2 * * *", description="when scheduled runs start (UTC; python -m auxqual.flows.deploy)")


class BenchmarkParams(Section):
    """This repository's ``params.yaml``, one section per stage of dvc.yaml."""

    data: Data = Field(default_factory=defaults(Data))
    prepare: Prepare = Field(default_factory=defaults(Prepare))
    generate: Generate = Field(default_factory=defaults(Generate))
    score: Score = Field(default_factory=defaults(Score))
    train: Train = Field(default_factory=defaults(Train))
    select: Select = Field(default_factory=defaults(Select))
    compare: Compare = Field(default_factory=defaults(Compare))
    report: Report = Field(default_factory=defaults(Report))
    fanout: Fanout = Field(default_factory=defaults(Fanout))
    schedule: Schedule = Field(default_factory=defaults(Schedule))

    @model_validator(mode="after")
    def _across(self) -> BenchmarkParams:
        check_names("select.generator", [self.select.generator], self.generate.generators,
                    "generator (not in generate.generators)")
        return self


def parse_benchmark_params(raw: Any, where: str = PARAMS_FILE) -> BenchmarkParams:
    """``BenchmarkParams`` from a mapping; the first problem as one ``ValueError`` line
    ``<where>: <problem>`` naming the key (and, for an unknown key, the closest valid one)."""
    return parse(BenchmarkParams, raw, where)


def load_benchmark_params(path: str | os.PathLike = PARAMS_FILE) -> tuple[BenchmarkParams, dict[str, Any]]:
    """Read and check a benchmark params file.

    Returns
    -------
    (BenchmarkParams, dict)
        The checked model, and the file as read (what a stage records in a lineage sidecar
        or a budgets file, so that those bytes do not depend on the schema's defaults).
    """
    raw = read_yaml(path)
    return parse_benchmark_params(raw, str(path)), raw
