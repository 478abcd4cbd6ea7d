"""The gate stage of a scaffolded project: first run, a good night, a bad night (fail closed),
and a gate that cannot run. The stages run in-process (``run_stage``), as ``dvc repro`` would
run them one after the other; the flow's end-to-end test runs them through DVC and Prefect."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from auxqual.cli import main
from auxqual.examples import write_own_data
from auxqual.io import sha256_file
from auxqual.project.runs import list_runs
from auxqual.project.stages import run_stage
from tests.test_project import FAST_PARAMS, set_params

PIPELINE = ("validate", "generate", "score", "select", "train", "evaluate", "gate")


def nightly(project: Path) -> dict:
    for stage in PIPELINE:
        run_stage(stage, project)
    return json.loads((project / "results/gate.json").read_text())


def production_sha(project: Path) -> str:
    return sha256_file(project / "models/production/model.joblib")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    files = write_own_data(tmp_path / "inputs")
    assert main(["init", str(tmp_path / "project"), "--train", str(files["train"]), "--aux",
                 f"cam={files['aux']}"]) == 0
    set_params(tmp_path / "project", {**FAST_PARAMS, "score.scores": ["eap"]})  # one decision possible
    return tmp_path / "project"


def test_three_nights_pass_pass_then_fail_closed(project, tmp_path, capsys):
    first = nightly(project)
    assert first["verdict"] == "pass" and first["promoted"] and "first run" in first["note"]
    assert first["metrics"] == []

    write_own_data(tmp_path / "night2", night=2)
    (project / "data/train.parquet").write_bytes((tmp_path / "night2/train.parquet").read_bytes())
    second = nightly(project)
    assert second["verdict"] == "pass", [m for m in second["metrics"] if m["level"] != "pass"]
    assert second["baseline_run"] == first["run_id"] and second["promoted"]
    good_model = production_sha(project)
    assert good_model == second["candidate"]["sha256"]

    aux = pd.read_parquet(project / "data/aux/cam.parquet")
    far = aux.mean().to_numpy() + np.random.default_rng(5).uniform(50, 100, aux.shape) * aux.std().to_numpy()
    pd.DataFrame(far, columns=aux.columns).to_parquet(project / "data/aux/cam.parquet", index=False)
    third = nightly(project)
    assert third["verdict"] == "fail" and not third["promoted"]
    failed = {(m["set"], m["name"]) for m in third["metrics"] if m["level"] == "fail"}
    assert ("cam", "share_at_prior") in failed or ("cam", "eap.mean") in failed, failed
    assert production_sha(project) == good_model  # the last good model, byte for byte
    assert (project / "models/candidate/model.joblib").is_file()
    assert third["production"]["sha256"] == good_model
    assert third["baseline_run"] == second["run_id"]

    runs = list_runs(project)
    assert [r["verdict"] for r in runs] == ["pass", "pass", "fail"]
    assert [r["promoted"] for r in runs] == [True, True, False]
    sidecar = json.loads((project / "models/production/model.joblib.lineage.json").read_text())
    assert sidecar["model"] == {"path": "models/production/model.joblib", "sha256": good_model}

    capsys.readouterr()
    assert main(["runs", "--root", str(project)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert len(table) == 4 and [line.split()[2] for line in table[1:]] == ["pass", "pass", "fail"]
    assert main(["runs", "--root", str(project), "--model", good_model[:10]]) == 0
    answer = capsys.readouterr().out
    assert f"made by run {second['run_id']}" in answer
    assert f"in production since run {second['run_id']}" in answer and f"through run {third['run_id']}" in answer
    assert main(["runs", "--root", str(project), "--json", "--since", runs[1]["started"]]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == [second["run_id"], third["run_id"]]


def test_a_gate_without_the_last_run_record_is_an_error_not_a_pass(project, capsys):
    nightly(project)
    for record in (project / "runs").glob("*.json"):
        record.unlink()
    for stage in PIPELINE[:-1]:
        run_stage(stage, project)
    capsys.readouterr()
    assert main(["stage", "gate", "--root", str(project)]) == 2
    assert "no run record" in capsys.readouterr().err


def test_a_corrupted_run_record_is_an_error(project, capsys):
    nightly(project)
    record = next((project / "runs").glob("*.json"))
    record.write_text("{not json")
    capsys.readouterr()
    assert main(["stage", "gate", "--root", str(project)]) == 2
    err = capsys.readouterr().err
    assert record.name in err and len(err.strip().splitlines()) == 1
