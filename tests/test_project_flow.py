"""The pipeline flow on a project made by ``auxqual init``: records of its runs (runs/*.json,
:mod:`auxqual.project.runs`), committed by the flow, and the ``auxqual run`` / ``auxqual
schedule`` commands.

Fast tests check the records on hand-made files (no DVC, no Prefect). The slow tests
scaffold one tiny project (breast cancer rows: 200 normals and 5 labelled anomalies to train
on, 60 other anomalies as the auxiliary set ``cam``; EAP with 5 subsets, q in {0, 50}, SSDO
only), serve it as a deployment on Prefect's test harness, trigger it twice (the second time
after a new snapshot of data/train.parquet) and check what the two runs recorded and
committed; then a run on a broken snapshot fails and commits nothing. As in
tests/test_flows.py: ``Runner.add_flow`` + ``run_deployment(..., timeout=0)`` +
``runner.start(run_once=True)``, which executes the run in a subprocess and returns when
it has finished; one Runner serves both triggers.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

if "prefect" not in sys.modules:  # tests/test_flows.py, collected first, may have set it up already
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="auxqual-prefect-home-")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")

from auxqual.project import runs
from tests.prefect_helpers import _client, artifacts_of, logs_of

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PROJECT_STAGES = ["validate", "generate", "score", "select", "train", "evaluate", "lineage"]
STARTED = datetime(2026, 1, 2, 2, 0, 0, tzinfo=UTC)


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout


# --------------------------------------------------------------------------- records (fast)
def _fake_project(root: Path, model: bytes = b"model-1", *, chosen: dict | None = None) -> dict:
    """The files a completed project run leaves (bytes only), and its params.yaml as a dict."""
    files = {"data/train.parquet": b"train", "data/aux/cam.parquet": b"aux", "models/production/model.joblib": model,
             "data/train.parquet.dvc": b"outs: []\n", "data/aux/cam.parquet.dvc": b"outs: []\n",
             "dvc.lock": b"schema: '2.0'\n"}
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    chosen = chosen or {"set": "cam", "set_path": "data/aux/cam.parquet", "score": "eap", "q": 50.0,
                        "detector": "ssdo", "detector_params": {}, "val_auroc": 0.91}
    (root / "results").mkdir(exist_ok=True)
    (root / "results/selection.json").write_text(json.dumps({"schema": "auxqual.selection/1", "chosen": chosen}))
    (root / "results/evaluation.json").write_text(json.dumps(
        {"model": "models/production/model.joblib", "model_sha256": hashlib.sha256(model).hexdigest(),
         "val_auroc": 0.9, "val_auroc_low": 0.8, "val_auroc_high": 0.95, "level": 0.95, "chosen": chosen}))
    params = {"inputs": {"train": "data/train.parquet", "validation": None, "aux": {"cam": "data/aux/cam.parquet"}},
              "select": {"q": [0, 50]}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return params


def _record(root: Path, params: dict, started: datetime = STARTED, flow_run_id: str = "1a2b3c4d-0000-4000-8000-0",
            stages: dict | None = None) -> dict:
    return runs.build_record(root, params, flow_run_id=flow_run_id, flow_run_name="brave-otter", started=started,
                             finished=started + timedelta(seconds=75),
                             stages=stages or dict.fromkeys(PROJECT_STAGES, "ran"))


def test_a_record_holds_the_inputs_the_decision_the_auroc_and_the_model(tmp_path):
    params = _fake_project(tmp_path)
    assert runs.is_project(params) and not runs.is_project({"train": {"q": [0]}})
    assert runs.input_paths(params) == {"train": "data/train.parquet", "aux/cam": "data/aux/cam.parquet"}
    record = _record(tmp_path, params, stages={"validate": "up to date", "train": "ran", "evaluate": "ran"})
    assert record["schema"] == "auxqual.run/1"
    assert record["run_id"] == "20260102T020000Z-1a2b3c4d"
    assert (record["flow_run_id"], record["flow_run_name"]) == ("1a2b3c4d-0000-4000-8000-0", "brave-otter")
    assert (record["started"], record["finished"]) == ("2026-01-02T02:00:00Z", "2026-01-02T02:01:15Z")
    assert record["inputs"] == {
        "train": {"path": "data/train.parquet", "sha256": hashlib.sha256(b"train").hexdigest()},
        "validation": None,
        "aux": {"cam": {"path": "data/aux/cam.parquet", "sha256": hashlib.sha256(b"aux").hexdigest()}}}
    assert record["decision"]["set"] == "cam" and record["decision"]["q"] == 50.0
    assert (record["val_auroc"], record["val_auroc_low"], record["val_auroc_high"]) == (0.9, 0.8, 0.95)
    assert record["model"] == {"path": "models/production/model.joblib",
                               "sha256": hashlib.sha256(b"model-1").hexdigest()}
    assert record["stages"] == [{"stage": "validate", "outcome": "up to date"}, {"stage": "train", "outcome": "ran"},
                                {"stage": "evaluate", "outcome": "ran"}]
    assert record["stages_ran"] == ["train", "evaluate"] and record["commit"] is None
    assert runs.commit_message(record) == "auxqual run 20260102T020000Z-1a2b3c4d: cam/eap/q50/ssdo, val AUROC 0.9000"
    assert runs.describe_decision({"set": None, "score": None, "q": 0.0, "detector": "ssdo"}) == "-/-/q0/ssdo"
    gated = {**record, "verdict": "fail", "promoted": False, "note": "val_auroc dropped",
             "production": {"path": "models/production/model.joblib", "sha256": "ab" * 32}}
    assert runs.commit_message(gated).endswith("val AUROC 0.9000, gate fail, not promoted")
    assert "NOT promoted: production keeps `models/production/model.joblib`" in runs.markdown_summary(gated)
    page = runs.markdown_summary(record)
    assert "cam/eap/q50/ssdo" in page and "0.9000 [0.8000, 0.9500]" in page and record["model"]["sha256"] in page

    path = runs.write_record(tmp_path, record)
    assert path == tmp_path / "runs/20260102T020000Z-1a2b3c4d.json"
    assert runs.read_run(path) == record
    assert not list((tmp_path / "runs").glob(".*"))  # written through a temporary name, nothing left over

    (tmp_path / "results/evaluation.json").unlink()
    with pytest.raises(ValueError, match=r"evaluation\.json: cannot read"):
        _record(tmp_path, params)
    with pytest.raises(ValueError, match="no `inputs` section"):
        runs.input_paths({"train": {}})


def test_records_are_listed_by_start_time_and_found_by_a_prefix_of_the_model_sha(tmp_path):
    assert runs.list_runs(tmp_path) == [] and runs.latest_run(tmp_path) is None
    params = _fake_project(tmp_path, b"model-A")
    late = runs.write_record(tmp_path, _record(tmp_path, params, STARTED + timedelta(days=1), "ffff0000-1"))
    first = runs.write_record(tmp_path, _record(tmp_path, params, STARTED, "bbbb0000-1"))
    same_second = runs.write_record(tmp_path, _record(tmp_path, params, STARTED, "aaaa0000-1"))
    _fake_project(tmp_path, b"model-B")
    latest = runs.write_record(tmp_path, _record(tmp_path, params, STARTED + timedelta(days=2), "0000cccc-1"))
    listed = runs.list_runs(tmp_path)
    assert [r["record"] for r in listed] == [p.relative_to(tmp_path).as_posix()
                                             for p in (same_second, first, late, latest)]
    assert [r["commit"] for r in listed] == [None] * 4  # not a git repository: nothing committed
    assert runs.latest_run(tmp_path)["run_id"] == "20260104T020000Z-0000cccc"

    sha_a, sha_b = hashlib.sha256(b"model-A").hexdigest(), hashlib.sha256(b"model-B").hexdigest()
    assert [r["run_id"] for r in runs.find_runs(tmp_path, sha_a[:8])] == [r["run_id"] for r in listed[:3]]
    assert [r["run_id"] for r in runs.find_runs(tmp_path, sha_b[:6].upper())] == ["20260104T020000Z-0000cccc"]
    assert runs.find_runs(tmp_path, sha_b) == listed[3:]
    assert runs.find_runs(tmp_path, hashlib.sha256(b"no such model").hexdigest()) == []
    for bad in ("abc", "xyz123", "a" * 65, ""):
        with pytest.raises(ValueError, match="hex digits"):
            runs.find_runs(tmp_path, bad)
    (tmp_path / "runs/other.json").write_text('{"schema": "something/1"}')
    with pytest.raises(ValueError, match=r"other\.json: not a run record"):
        runs.list_runs(tmp_path)


def test_the_flow_completes_a_record_that_a_stage_of_the_same_run_wrote(tmp_path):
    params = _fake_project(tmp_path)
    by_stage = {**_record(tmp_path, params, STARTED, "1a2b3c4d-9"), "finished": None, "flow_run_name": None,
                "promoted": True, "stages": {}, "stages_ran": []}
    runs.write_record(tmp_path, by_stage)
    runs.write_record(tmp_path, _record(tmp_path, params, STARTED, "ffff0000-1"))  # another flow run
    written = runs.record_of_flow_run(tmp_path, "1a2b3c4d-9")
    assert written["record"] == "runs/20260102T020000Z-1a2b3c4d.json" and written["promoted"] is True
    assert runs.record_of_flow_run(tmp_path, "00000000-0") is None
    fresh = _record(tmp_path, params, STARTED + timedelta(seconds=30), "1a2b3c4d-9", stages={"gate": "ran"})
    fresh["flow_run_name"] = "night-owl"
    merged = runs.complete_record(written, fresh)
    assert merged["run_id"] == by_stage["run_id"] and merged["started"] == by_stage["started"]  # the stage's file
    assert merged["promoted"] is True and merged["finished"] == fresh["finished"]
    assert (merged["flow_run_name"], merged["stages"], merged["stages_ran"]) == (
        "night-owl", [{"stage": "gate", "outcome": "ran"}], ["gate"])
    assert "record" not in merged and merged["commit"] is None


def test_commit_run_commits_the_run_files_only_under_a_fallback_identity(tmp_path, monkeypatch):
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-global-gitconfig"))  # git has no identity
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    repo = tmp_path / "proj"
    repo.mkdir()
    git(repo, "init", "-q")
    params = _fake_project(repo)
    (repo / "README.md").write_text("project\n")
    git(repo, "add", "README.md")
    git(repo, "-c", "user.name=someone", "-c", "user.email=someone@example.org", "commit", "-qm", "start")
    assert runs.git_identity_options(repo) == ["-c", "user.name=auxqual", "-c", "user.email=auxqual@localhost"]
    (repo / "data/.gitignore").write_text("/train.parquet\n")  # what DVC adds
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"card": {"cmd": "auxqual stage card", "outs": [
        {"reports": {"cache": False}}, "models/production"]}}}))   # reports/ is for git to track
    (repo / "reports").mkdir()
    (repo / "reports/card.md").write_text("# card\n")
    (repo / "notes.txt").write_text("staged by someone, not part of the run\n")
    git(repo, "add", "notes.txt")

    record = _record(repo, params)
    path = runs.write_record(repo, record)
    assert runs.changed_gitignores(repo) == ["data/.gitignore"]
    commit = runs.commit_run(repo, params, record, path)
    assert git(repo, "rev-parse", "HEAD").strip() == commit
    assert git(repo, "log", "-1", "--format=%an <%ae>|%s").strip() == (
        f"auxqual <auxqual@localhost>|{runs.commit_message(record)}")
    assert sorted(git(repo, "show", "--name-only", "--format=", commit).split()) == sorted([
        "data/.gitignore", "data/aux/cam.parquet.dvc", "data/train.parquet.dvc", "dvc.lock", "params.yaml",
        "reports/card.md", "results/evaluation.json", "results/selection.json",
        "runs/20260102T020000Z-1a2b3c4d.json"])
    assert git(repo, "status", "--porcelain", "--untracked-files=no").splitlines() == ["A  notes.txt"]  # not committed
    assert [r["commit"] for r in runs.list_runs(repo)] == [commit]
    assert runs.read_run(path)["commit"] is None  # the file cannot name its own commit

    monkeypatch.setenv("GIT_AUTHOR_NAME", "night")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "night")
    assert runs.git_identity_options(repo) == ["-c", "user.email=auxqual@localhost"]


def test_run_and_schedule_commands_refuse_a_bad_folder_or_cron(tmp_path, capsys):
    from auxqual.cli import main

    assert main(["run", "--repo", str(tmp_path)]) == 2
    assert "no dvc.yaml here" in capsys.readouterr().err
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / ".dvc").mkdir()
    _fake_project(tmp_path)
    assert main(["schedule", "--repo", str(tmp_path), "--cron", "every night"]) == 2
    assert "not a valid cron expression" in capsys.readouterr().err
    assert main(["run", "--repo", str(tmp_path), "--set", "select.qq=[0]"]) == 2
    assert "has no key 'qq'" in capsys.readouterr().err


def test_the_cause_of_a_failed_project_stage_is_in_the_error_line():
    from auxqual.flows.dvcrepo import error_lines

    output = ("Running stage 'validate':\n> auxqual stage validate\n"
              "auxqual: error: data/aux/cam.parquet: feature columns do not match data/train.parquet: extra ['a']\n"
              "ERROR: failed to reproduce 'validate': failed to run: auxqual stage validate, exited with 2\n")
    assert error_lines(output) == ("auxqual: error: data/aux/cam.parquet: feature columns do not match "
                                   "data/train.parquet: extra ['a'] | ERROR: failed to reproduce 'validate': failed "
                                   "to run: auxqual stage validate, exited with 2")


# --------------------------------------------------------------------------- a real project (slow)




def _tables(snapshot: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Snapshot ``snapshot`` (0 or 1) of the training table (other rows, same columns) and
    the auxiliary set (always the same)."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    X = data.data.set_axis([c.replace(" ", "_") for c in data.data.columns], axis=1)
    normals, anomalies = X[data.target == 1], X[data.target == 0]  # benign = normal
    train = pd.concat([normals.iloc[100 * snapshot:100 * snapshot + 200].assign(y=0),
                       anomalies.iloc[5 * snapshot:5 * snapshot + 5].assign(y=1)])
    train = train.sample(frac=1.0, random_state=snapshot).reset_index(drop=True)
    return train, anomalies.iloc[10:70].reset_index(drop=True)


@pytest.fixture(scope="module")
def project(tmp_path_factory, prefect_api):
    """A scaffolded project with tiny params (committed), not run yet."""
    from auxqual.project.scaffold import init_project

    root = tmp_path_factory.mktemp("own-data")
    train, aux = _tables(0)
    train.to_parquet(root / "train.parquet", index=False)
    aux.to_parquet(root / "aux.parquet", index=False)
    repo = init_project(root / "proj", root / "train.parquet", aux={"cam": str(root / "aux.parquet")},
                        log=lambda *_: None)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["score"]["params"]["eap"]["n_subsets"] = 5
    params["select"].update(q=[0, 50], detectors={"ssdo": {}})
    params["evaluate"]["bootstrap"] = 100
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    git(repo, "commit", "-qam", "tiny params")
    return repo


def _model(repo: Path) -> Path:
    return repo / json.loads((repo / "results/evaluation.json").read_text())["model"]


@pytest.mark.slow
def test_a_deployment_of_a_project_records_and_commits_each_nightly_run(project, monkeypatch):
    from prefect.deployments import run_deployment
    from prefect.runner import Runner

    from auxqual.flows.deploy import deployment_options
    from auxqual.flows.pipeline import FLOW_NAME, pipeline

    repo = project
    monkeypatch.chdir(ROOT)  # the run's subprocess imports auxqual.flows.pipeline (also installed with auxqual)
    runner = Runner(name="auxqual-project-runner", query_seconds=1, pause_on_shutdown=False)
    options = deployment_options(repo, "0 2 * * *", name="project-nightly", busy_retry_delay=1)
    assert "committed run record" in options["description"]
    runner.add_flow(pipeline, **options)

    def trigger(failed: bool = False):
        flow_run = run_deployment(name=f"{FLOW_NAME}/project-nightly", timeout=0)
        asyncio.run(asyncio.wait_for(runner.start(run_once=True), timeout=500))
        with _client() as client:
            flow_run = client.read_flow_run(flow_run.id)
        if failed:
            assert flow_run.state.is_failed(), (flow_run.state, logs_of(flow_run.id)[-4000:])
        else:
            assert flow_run.state.is_completed(), (flow_run.state, logs_of(flow_run.id)[-4000:])
        data = (repo / "data/train.parquet").read_bytes()
        return flow_run, sha(_model(repo)), hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()

    first, model_1, train_1, md5_1 = trigger()
    new_train, _ = _tables(1)  # tonight's snapshot: other rows, the same columns
    new_train.to_parquet(repo / "data/train.parquet", index=False)
    second, model_2, train_2, md5_2 = trigger()
    assert train_1 != train_2 and model_1 != model_2

    records = runs.list_runs(repo)
    assert [r["flow_run_id"] for r in records] == [str(first.id), str(second.id)]
    assert [r["flow_run_name"] for r in records] == [first.name, second.name]
    assert [r["model"]["sha256"] for r in records] == [model_1, model_2]
    assert [r["inputs"]["train"]["sha256"] for r in records] == [train_1, train_2]
    assert records[0]["inputs"]["aux"]["cam"]["sha256"] == records[1]["inputs"]["aux"]["cam"]["sha256"]
    for record, md5 in zip(records, (md5_1, md5_2), strict=True):
        assert record["record"] == f"runs/{record['run_id']}.json"
        assert record["run_id"].endswith("-" + record["flow_run_id"].replace("-", "")[:8])
        assert record["stages_ran"] == [s["stage"] for s in record["stages"]]  # new data: every stage ran
        assert set(PROJECT_STAGES) <= set(record["stages_ran"])
        assert record["started"] <= record["finished"]
        evaluation = json.loads(git(repo, "show", f"{record['commit']}:results/evaluation.json"))
        assert evaluation["model_sha256"] == record["model"]["sha256"]
        assert record["val_auroc"] == evaluation["val_auroc"] and record["decision"] == evaluation["chosen"]
        assert f"md5: {md5}" in git(repo, "show", f"{record['commit']}:data/train.parquet.dvc")
    assert [r["run_id"] for r in runs.find_runs(repo, model_2[:10])] == [records[1]["run_id"]]
    assert [r["run_id"] for r in runs.find_runs(repo, model_1[:10])] == [records[0]["run_id"]]

    log = [line.split(" ", 1) for line in git(repo, "log", "--format=%H %s").splitlines()]
    assert [subject for _, subject in log[2:]] == ["tiny params", "auxqual init"]
    assert log[:2] == [[records[1]["commit"], runs.commit_message(records[1])],
                       [records[0]["commit"], runs.commit_message(records[0])]]
    changed = git(repo, "show", "--name-only", "--format=", records[1]["commit"]).split()
    assert {"dvc.lock", "data/train.parquet.dvc", "results/selection.json", "results/evaluation.json",
            f"runs/{records[1]['run_id']}.json"} <= set(changed)
    assert git(repo, "status", "--porcelain") == ""
    done = subprocess.run([str(BIN / "dvc"), "status"], cwd=repo, capture_output=True, text=True, check=True)
    assert "Data and pipelines are up to date" in done.stdout

    artifacts = artifacts_of(second.id)
    decision = artifacts["auxqual-decision"].data
    assert records[1]["run_id"] in decision and model_2 in decision
    summary = artifacts["auxqual-run-summary"].data
    assert "New input data (dvc add): `data/train.parquet`" in summary and "| validate | ran |" in summary
    assert "auxqual-metrics" not in artifacts  # a project has no metrics.json

    # night 3: the auxiliary set replaced by rows far outside the data. The gate fails closed:
    # the run ends Failed with the reason in one line, the production model is night 2's, the
    # failure event reaches Prefect's events API with its payload, and the run is recorded.
    production_2 = sha(repo / "models/production/model.joblib")
    assert production_2 == model_2
    aux = pd.read_parquet(repo / "data/aux/cam.parquet")
    far = aux.mean().to_numpy() + np.random.default_rng(5).uniform(50, 100, aux.shape) * aux.std().to_numpy()
    pd.DataFrame(far, columns=aux.columns).to_parquet(repo / "data/aux/cam.parquet", index=False)
    third, model_3, _, _ = trigger(failed=True)
    assert "quality gate failed" in third.state.message and "cam:share_at_prior" in third.state.message
    assert len(third.state.message.splitlines()) == 1
    gate = json.loads((repo / "results/gate.json").read_text())
    assert gate["verdict"] == "fail" and not gate["promoted"]
    assert ("cam", "share_at_prior", "fail") in {(m["set"], m["name"], m["level"]) for m in gate["metrics"]}
    assert sha(repo / "models/production/model.joblib") == production_2 != model_3
    records = runs.list_runs(repo)
    assert [(r["verdict"], r["promoted"]) for r in records] == [("pass", True), (records[1]["verdict"], True),
                                                                ("fail", False)]
    assert records[1]["verdict"] in ("pass", "warn") and records[2]["flow_run_id"] == str(third.id)
    assert git(repo, "status", "--porcelain") == ""  # the failed run is recorded and committed too
    events = _gate_events(records[2]["run_id"])
    assert [e.event for e in events] == ["auxqual.gate.failed"]
    payload = events[0].payload
    assert payload["project"] == str(repo) and payload["verdict"] == "fail" and payload["promoted"] is False
    assert payload["production_sha256"] == production_2 and payload["model_sha256"] == model_3
    assert any(m["set"] == "cam" and m["name"] == "share_at_prior" and m["value"] == 1.0 for m in payload["metrics"])
    listing = subprocess.run([str(BIN / "auxqual"), "runs", "--root", str(repo)], capture_output=True, text=True,
                             check=True).stdout.splitlines()
    assert [line.split()[2] for line in listing[1:]] == ["pass", records[1]["verdict"], "fail"]


def _gate_events(run_id: str, timeout: float = 60.0) -> list:
    """The ``auxqual.gate.*`` events of one run, read back from Prefect's events API."""
    from prefect.events.filters import EventFilter, EventNameFilter

    deadline = time.monotonic() + timeout
    while True:
        with _client() as client:
            page = client.read_events(filter=EventFilter(event=EventNameFilter(prefix=["auxqual.gate."])), limit=50)
        found = [e for e in page.events if e.payload.get("run_id") == run_id]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(1.0)


@pytest.mark.slow
def test_a_failed_run_of_a_project_records_and_commits_nothing(project):
    from auxqual.flows.pipeline import pipeline

    repo = project
    head, model = git(repo, "rev-parse", "HEAD"), sha(_model(repo))
    evaluation = (repo / "results/evaluation.json").read_bytes()
    before = runs.list_runs(repo)
    assert len(before) == 3, "runs after test_a_deployment_of_a_project_records_and_commits_each_nightly_run"
    broken, _ = _tables(1)
    lost = broken.columns[0]
    broken.drop(columns=lost).to_parquet(repo / "data/train.parquet", index=False)  # a lost column

    state = pipeline(repo=str(repo), busy_retries=0, return_state=True)
    assert state.is_failed() and "failed to reproduce 'validate'" in state.message
    assert "auxqual: error:" in state.message and lost in state.message  # the cause, in one line
    assert runs.list_runs(repo) == before and not list((repo / "runs").glob(".*"))
    assert git(repo, "rev-parse", "HEAD") == head
    assert sha(_model(repo)) == model and (repo / "results/evaluation.json").read_bytes() == evaluation
    # the new (broken) data stays recorded in its .dvc file, uncommitted, for the next run to retry
    assert git(repo, "status", "--porcelain").splitlines() == [" M data/train.parquet.dvc"]


def test_the_readme_automation_for_a_failed_gate_is_accepted_by_the_prefect_api(prefect_api):
    from prefect.events.schemas.automations import AutomationCore

    spec = yaml.safe_load((ROOT / "flows/gate_automation.yaml").read_text())["automations"][0]
    automation = AutomationCore.model_validate(spec)
    assert automation.trigger.expect == {"auxqual.gate.failed"}
    with _client() as client:
        created = client.create_automation(automation)
        stored = client.read_automation(created)
    assert stored.name == spec["name"] and stored.actions[0].type == "pause-deployment"
