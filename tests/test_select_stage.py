"""Stage ``select`` (Q3), run as DVC runs it (``python -m stages.select`` in the repository
folder) on tiny hand-made upstream outputs: prepared train / test sets, two auxiliary sets
and their quality scores. No ``dvc repro`` here (tests/test_pipeline_dvc.py runs the stage
inside the whole pipeline).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from auxqual.io import features_frame, write_parquet
from auxqual.lineage import read_sidecar, sha256_file
from tests.conftest import copy_stage_code

PARAMS = {
    "select": {"generator": "benchmark_mixture", "validation_fraction": 0.25, "weighting": "minmax", "q": 50,
               "seeds": [0, 1],
               "candidates": {"iforest": {"n_estimators": [10, 30]}, "pyod_stack": {"n_neighbors": [3]}},
               "generator_detector": "pyod_stack", "generator_params": {}, "device": "cpu"},
    "fanout": {"runner": "serial", "workers": 1},
}
Q3_REQUIRED = ["dataset", "seed", "task", "score", "chosen", "chosen_test_auroc", "oracle_test_auroc", "regret"]
OUTPUTS = ("results/q3.parquet", "results/q3_candidates.parquet", "results/q3_metrics.json")


def _write_inputs(repo: Path, dataset: str = "toy") -> None:
    """Normals N(0, I) in 3-D; real anomalies shifted along x0; an auxiliary 'benchmark'
    set of 20 realistic rows (scored high by ``eap``) and 20 noise rows, and a 'uniform'
    set of noise; ``rarity`` is a random score."""
    rng = np.random.default_rng(0)
    shift = np.array([3.0, 0.0, 0.0])
    X_train = np.vstack([rng.normal(size=(80, 3)), rng.normal(size=(6, 3)) + shift])
    X_test = np.vstack([rng.normal(size=(30, 3)), rng.normal(size=(30, 3)) + shift])
    for name, X, n_anomalies in (("train", X_train, 6), ("test", X_test, 30)):
        y = np.r_[np.zeros(len(X) - n_anomalies), np.ones(n_anomalies)].astype(np.int8)
        write_parquet(features_frame(X, {"y": y, "dataset": dataset, "row": np.arange(len(X))}),
                      repo / "data/prepared" / dataset / f"{name}.parquet")
    sets = {"benchmark_mixture": (np.vstack([rng.normal(size=(20, 3)) + shift, rng.normal(size=(20, 3)) * 4]),
                                  np.repeat(["realistic", "unrealistic"], 20)),
            "uniform": (rng.uniform(-4, 4, size=(40, 3)), np.repeat(["generated"], 40))}
    for generator, (X, kind) in sets.items():
        meta = {"kind": kind, "generator": generator, "dataset": dataset, "aux_id": np.arange(40)}
        write_parquet(features_frame(X, meta), repo / "data/aux" / dataset / f"{generator}.parquet")
        scores = pd.DataFrame({"dataset": dataset, "generator": generator, "aux_id": np.arange(40), "kind": kind,
                               "eap": (kind == "realistic").astype(float) + rng.uniform(0, 0.1, 40),
                               "eap_std": 0.01, "rarity": rng.uniform(size=40)})
        write_parquet(scores, repo / "data/scores" / dataset / f"{generator}.parquet")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A folder laid out like the repository: dvc.yaml, stages/, auxqual/ and the inputs."""
    copy_stage_code(tmp_path)
    _write_inputs(tmp_path)
    return tmp_path


def run_select(repo: Path, params: dict) -> subprocess.CompletedProcess:
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)
    return subprocess.run([sys.executable, "-m", "stages.select"], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=300)


def _snapshot(repo: Path) -> dict[str, bytes]:
    files = [repo / p for p in OUTPUTS] + sorted((repo / "models_selected").rglob("*"))
    return {str(p.relative_to(repo)): p.read_bytes() for p in files if p.is_file()}


@pytest.mark.slow
def test_select_writes_q3_tables_models_and_lineage_and_is_deterministic(repo):
    done = run_select(repo, PARAMS)
    assert done.returncode == 0, done.stderr
    q3 = pd.read_parquet(repo / "results/q3.parquet")
    assert set(Q3_REQUIRED) <= set(q3.columns)
    model = q3[q3["task"] == "model"]
    assert model["score"].tolist() == ["eap", "rarity", "uniform", "labelled"] * 2
    assert model["seed"].tolist() == [0] * 4 + [1] * 4
    generator = q3[q3["task"] == "generator"]
    assert generator["score"].tolist() == ["eap", "rarity"] * 2
    assert set(generator["chosen"]) <= {"benchmark_mixture", "uniform"}
    assert (q3["regret"] >= 0).all() and np.allclose(q3["regret"], q3["oracle_test_auroc"] - q3["chosen_test_auroc"])
    assert (model["n_candidates"] == 3).all() and (model["n_val_normals"] == 20).all()
    assert model.loc[model["score"] == "labelled", "n_val_anomalies"].tolist() == [2, 2]     # 25 % of 6, half up
    assert model.loc[model["score"] == "eap", "n_val_anomalies"].tolist() == [40, 40]

    candidates = pd.read_parquet(repo / "results/q3_candidates.parquet")
    assert len(candidates) == 2 * (4 * 3 + 2 * 2)
    chosen = candidates[candidates["chosen"]]
    assert len(chosen) == len(q3)
    metrics = json.loads((repo / "results/q3_metrics.json").read_text())
    assert set(metrics["q3_model_regret"]) == {"eap", "rarity", "uniform", "labelled"}

    # every chosen model is saved once per (dataset, seed), with a sidecar naming the scores that chose it
    for seed in (0, 1):
        picked = model[model["seed"] == seed].groupby("chosen", sort=True)["score"].apply(list)
        folder = repo / "models_selected/toy" / f"seed{seed}"
        assert sorted(p.name for p in folder.glob("*.joblib")) == [f"{name}.joblib" for name in picked.index]
        for name, scores in picked.items():
            record = read_sidecar(folder / f"{name}.joblib")
            assert record.created_by["chosen_by"] == scores and record.created_by["stage"] == "select"
            assert record.model_sha256 == sha256_file(folder / f"{name}.joblib")
            assert record.model_path == f"models_selected/toy/seed{seed}/{name}.joblib"
            roles = [i["role"] for i in record.inputs]
            assert roles[:2] == ["train", "validation"]
            assert ("data/aux/toy/benchmark_mixture.parquet" in [i["path"] for i in record.inputs]) == \
                any(s != "labelled" for s in scores)

    first = _snapshot(repo)
    assert run_select(repo, PARAMS).returncode == 0
    again = _snapshot(repo)                               # same inputs and params: the same bytes
    assert {k: again.get(k) for k in OUTPUTS} == {k: first[k] for k in OUTPUTS}
    assert sorted(again) == sorted(first)
    differ = sorted(k for k in first if again[k] != first[k])
    assert not differ, f"files with other bytes on the second run: {differ}"


@pytest.mark.parametrize(("change", "pattern"), [
    ({"weighting": "softmax"}, "params.yaml: select.weighting: Input should be 'minmax', 'rank' or 'top_q'"),
    ({"seeds": []}, "params.yaml: select.seeds: List should have at least 1 item"),
    ({"validation_fraction": 1.5}, "params.yaml: select.validation_fraction: Input should be less than 1"),
    ({"candidates": {"ssdo": {"k": 5}}}, "params.yaml: select.candidates.ssdo.k: Input should be a valid list"),
    ({"generator": "nosuch"}, "params.yaml: select.generator: unknown generator (not in generate.generators) "
                              "'nosuch'"),
    ({"candidates": {"lof": {}}}, "params.yaml: unknown key 'select.candidates.lof'"),
    ({"candidates": {"ssdo": {"kk": [5]}}},
     "params.yaml: unknown key 'select.candidates.ssdo.kk'; did you mean 'select.candidates.ssdo.k'?"),
    ({"generator": "../../prepared/toy/train"},
     "params.yaml: select.generator entry '../../prepared/toy/train' is a '..' component"),
    ({"generator": "/tmp/elsewhere"}, "params.yaml: select.generator entry '/tmp/elsewhere' is an absolute path"),
])
def test_a_bad_param_stops_the_stage_with_one_line_and_exit_2(repo, change, pattern):
    for path in OUTPUTS:                                   # outputs of an earlier run must not survive
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text("stale")
    done = run_select(repo, {**PARAMS, "select": {**PARAMS["select"], **change}})
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
    assert len(lines) == 1 and pattern in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    assert not any((repo / path).exists() for path in OUTPUTS)
    assert not (repo / "models_selected").exists()
