"""The Prefect flows around the pipeline, with the real Prefect test harness (one per session:
a temporary API and SQLite database) and the real ``dvc repro``.

One module-scoped tiny repository (the embedded digits data, one generator, two cheap scores,
SSDO only, q in {0, 50}) is reproduced by the pipeline flow and shared by the tests below,
which run in file order: the flow run and its artifacts, a scheduled deployment executed by
an in-process ``prefect.runner.Runner``, the Dask fan-out, and failing runs.

What worked (Prefect 3.9): artifacts and logs are read back through ``prefect.get_client``
with ``ArtifactFilter`` / ``LogFilter`` on the flow run id (logs after ``APILogHandler().flush()``);
a deployment is created with ``Runner.add_flow(...)`` (what ``flow.serve`` does), triggered with
``run_deployment(..., timeout=0)`` and executed with ``await runner.start(run_once=True)``,
which runs the scheduled flow run in a subprocess (``python -m prefect.engine``, importing
``auxqual.flows.pipeline`` from the working folder) and returns when it has finished.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import yaml

# Before Prefect is imported anywhere in this process: its home in a temporary folder,
# no telemetry, quiet console logs (the tests read WARNING/ERROR logs back from the API).
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="auxqual-prefect-home-")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")

from test_pipeline_dvc import dvc, make_repo  # the pipeline tests' repository helpers

from tests.prefect_helpers import _client, artifacts_of, logs_of

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STAGES = ["data", "prepare", "generate", "score", "train", "select", "evaluate", "lineage", "compare",
          "report"]  # the flow's DAG order
FLOW_PARAMS = {
    "data": {"path": "data/default", "datasets": ["digits"],
             "default": {"anomaly_digit": 0, "sources": ["iris", "wine", "breast_cancer", "diabetes", "linnerud"]}},
    "prepare": {"n_sources": 5, "max_train_normals": 200, "random_state": 0},
    "generate": {"generators": ["benchmark_mixture"], "params": {}, "n_samples": None, "random_state": 0},
    "score": {"scores": ["rarity", "density"], "params": {}},
    "train": {"detectors": ["ssdo"], "params": {}, "q": [0, 50], "random_state": 0, "device": "cpu"},
    "select": {"generator": "benchmark_mixture", "validation_fraction": 0.2, "weighting": "minmax", "q": 50,
               "seeds": [0], "candidates": {"iforest": {"n_estimators": [10, 20]}}, "generator_detector": "iforest",
               "generator_params": {}, "device": "cpu"},
    "compare": {"reference": "rarity", "alpha": 0.05},
    "report": {"score": "rarity"},
    "fanout": {"runner": "serial", "workers": 1},
}
N_MODELS = 1 * 1 * 2 * 1 * 2  # datasets × generators × scores × detectors × q


# --------------------------------------------------------------------------- harness and helpers




def table(artifact) -> list[dict]:
    data = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
    if isinstance(data, dict):  # {column: [values]}
        columns = list(data)
        return [dict(zip(columns, values, strict=True)) for values in zip(*data.values(), strict=True)]
    return data


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(repo: Path) -> dict[str, str]:
    """sha256 of every result file and of params.yaml / dvc.lock."""
    files = [repo / "params.yaml", repo / "dvc.lock", repo / "metrics.json"]
    for base in ("results", "data/prepared", "data/predictions", "models"):
        files += sorted(p for p in (repo / base).rglob("*") if p.is_file())
    return {str(p.relative_to(repo)): sha(p) for p in files}


def run_flow(**kwargs):
    from auxqual.flows.pipeline import pipeline

    return pipeline(return_state=True, **kwargs)


# --------------------------------------------------------------------------- fan-out helper
def _square(cell: int) -> dict:
    return {"cell": cell, "square": cell * cell, "pid": None}


def test_serial_fanout_never_imports_prefect():
    code = ("import sys; from stages.fanout import run_cells; "
            "assert run_cells(abs, [-1, 2], runner='process', workers=1) == [1, 2]; "
            "assert not [m for m in sys.modules if m.startswith(('prefect', 'dask', 'distributed'))], "
            "sorted(m for m in sys.modules if m.startswith('prefect'))")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def test_prefect_runner_gives_the_serial_results_in_order(prefect_api):
    from stages.fanout import run_cells

    cells = list(range(7))
    serial = run_cells(_square, cells)
    assert run_cells(_square, cells, runner="prefect", workers=3, desc="squares") == serial
    assert run_cells(_square, [], runner="prefect", workers=2) == []
    with pytest.raises(ValueError, match="unknown runner 'cluster'"):
        run_cells(_square, cells, runner="cluster")
    with pytest.raises(ValueError, match="only the 'dask' runner"):
        run_cells(_square, cells, runner="serial", address="tcp://127.0.0.1:8786")


# --------------------------------------------------------------------------- the pipeline flow
@pytest.fixture(scope="module")
def flow_repo(tmp_path_factory, prefect_api):
    repo = make_repo(tmp_path_factory.mktemp("flow"), FLOW_PARAMS)
    state = run_flow(repo=str(repo))
    return {"repo": repo, "state": state}


def test_pipeline_flow_runs_every_stage_and_publishes_artifacts(flow_repo):
    repo, state = flow_repo["repo"], flow_repo["state"]
    assert state.is_completed(), state.message
    result = state.result()
    assert result["ran"] == STAGES
    assert "Data and pipelines are up to date" in dvc(repo, "status").stdout
    metrics = json.loads((repo / "metrics.json").read_text())
    written = pd.read_parquet(repo / "results/lineage.parquet")
    trained = written["model_path"].str.startswith("models/")
    assert trained.sum() == N_MODELS  # and the models stage select chose, one row each:
    assert (~trained).sum() == len(list((repo / "models_selected").rglob("*.lineage.json"))) > 0

    artifacts = artifacts_of(state.state_details.flow_run_id)
    assert {"auxqual-metrics", "auxqual-lineage", "auxqual-run-summary"} <= set(artifacts)
    rows = {row["score"]: row for row in table(artifacts["auxqual-metrics"])}
    assert set(rows) == {"rarity", "density"}
    for score, row in rows.items():
        assert row["q1_auroc"] == pytest.approx(metrics["q1_auroc"][score])
        assert row["q2_mean_auroc"] == pytest.approx(metrics["q2_mean_auroc"][score])
        assert row["q2_mean_auroc_ssdo"] == pytest.approx(metrics["q2_mean_auroc_by_detector"]["ssdo"][score])
    lineage = table(artifacts["auxqual-lineage"])  # the first run wrote every row
    assert len(lineage) == len(written)
    assert {row["model_path"] for row in lineage} == set(written["model_path"])
    summary = artifacts["auxqual-run-summary"].data
    assert "completed" in summary
    for stage in STAGES:
        assert f"| {stage} | ran |" in summary
    assert "outs deleted: models, data/predictions" in summary  # why train ran: no outputs yet


def test_a_run_with_nothing_to_do_runs_no_stage(flow_repo):
    state = run_flow(repo=str(flow_repo["repo"]))
    assert state.is_completed(), state.message
    assert state.result()["ran"] == []
    summary = artifacts_of(state.state_details.flow_run_id)["auxqual-run-summary"].data
    assert "nothing to run" in summary and "| train | up to date |" in summary


# --------------------------------------------------------------------------- schedule
def test_cron_comes_from_the_command_line_else_params_else_the_default(flow_repo, tmp_path):
    from auxqual.flows.deploy import DEFAULT_CRON, cron_for

    repo = flow_repo["repo"]
    assert cron_for(repo) == DEFAULT_CRON == "0 2 * * *"
    assert cron_for(repo, "*/5 * * * *") == "*/5 * * * *"
    other = tmp_path / "other"
    other.mkdir()
    (other / "params.yaml").write_text(yaml.safe_dump({**FLOW_PARAMS, "schedule": {"cron": "15 4 * * 1"}}))
    assert cron_for(other) == "15 4 * * 1"
    with pytest.raises(ValueError, match="not a valid cron"):
        cron_for(repo, "every night")


def test_deployment_stores_the_cron_and_a_triggered_run_completes(flow_repo, monkeypatch):
    from prefect.deployments import run_deployment
    from prefect.runner import Runner

    from auxqual.flows.deploy import deployment_options
    from auxqual.flows.pipeline import FLOW_NAME, pipeline

    repo = flow_repo["repo"]
    before = pd.read_parquet(repo / "results/lineage.parquet")
    monkeypatch.chdir(ROOT)  # the run's subprocess imports auxqual.flows.pipeline from here
    runner = Runner(name="auxqual-test-runner", query_seconds=1, pause_on_shutdown=False)
    options = deployment_options(repo, "0 2 * * *", name="test-nightly", overrides=["train.q=[0, 40]"],
                                 busy_retry_delay=1)
    deployment_id = runner.add_flow(pipeline, **options)

    with _client() as client:
        deployment = client.read_deployment(deployment_id)
    assert deployment.name == "test-nightly"
    assert [s.schedule.cron for s in deployment.schedules] == ["0 2 * * *"]
    assert deployment.schedules[0].schedule.timezone == "UTC"
    assert deployment.global_concurrency_limit.limit == 1  # one active run of the deployment ...
    assert deployment.concurrency_options.collision_strategy.value == "ENQUEUE"  # ... the next one waits
    assert deployment.parameters["repo"] == str(repo)
    assert deployment.parameters["overrides"] == ["train.q=[0, 40]"]

    flow_run = run_deployment(name=f"{FLOW_NAME}/test-nightly", timeout=0)
    assert flow_run.state.is_scheduled()
    asyncio.run(asyncio.wait_for(runner.start(run_once=True), timeout=300))
    with _client() as client:
        flow_run = client.read_flow_run(flow_run.id)
    assert flow_run.state.is_completed(), (flow_run.state, logs_of(flow_run.id))

    # the expected outputs: params.yaml and dvc.lock carry the new budgets, only train and its
    # downstream stages re-ran, the lineage artifact holds exactly the models that changed
    assert yaml.safe_load((repo / "params.yaml").read_text())["train"]["q"] == [0, 40]
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert lock["stages"]["train"]["params"]["params.yaml"]["train"]["q"] == [0, 40]
    assert sorted(pd.read_parquet(repo / "results/q2.parquet")["q"].unique()) == [0, 40]
    assert "Data and pipelines are up to date" in dvc(repo, "status").stdout
    artifacts = artifacts_of(flow_run.id)
    summary = artifacts["auxqual-run-summary"].data
    assert "| train | ran |" in summary and "params.yaml: train modified" in summary
    for stage in ("data", "prepare", "generate", "score"):
        assert f"| {stage} | up to date |" in summary
    after = pd.read_parquet(repo / "results/lineage.parquet")
    old = set(zip(before["model_path"], before["model_sha256"], strict=True))
    changed = {path for path, digest in zip(after["model_path"], after["model_sha256"], strict=True)
               if (path, digest) not in old}
    assert changed == {f"models/digits/benchmark_mixture/{score}/ssdo/q40.joblib" for score in ("rarity", "density")}
    assert {row["model_path"] for row in table(artifacts["auxqual-lineage"])} == changed  # q00: same bytes


def test_prefect_yaml_deploys_the_flows_on_a_process_pool():
    from prefect.client.schemas.schedules import CronSchedule
    from prefect.flows import load_flow_from_entrypoint

    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    deployments = {d["name"]: d for d in config["deployments"]}
    nightly = deployments["nightly"]
    assert nightly["work_pool"]["name"] == "auxqual"
    assert nightly["concurrency_limit"]["limit"] == 1
    assert [CronSchedule(**s).cron for s in nightly["schedules"]] == ["0 2 * * *"]
    for deployment in deployments.values():
        flow = load_flow_from_entrypoint(str(ROOT / deployment["entrypoint"]))
        assert set(deployment.get("parameters", {})) <= set(flow.parameters.properties)


# --------------------------------------------------------------------------- Dask fan-out
def test_dask_fanout_gives_byte_identical_parquet(flow_repo, prefect_api, tmp_path):
    repo = flow_repo["repo"]
    copy = tmp_path / "dask"
    shutil.copytree(repo, copy, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    params = yaml.safe_load((copy / "params.yaml").read_text())
    params["fanout"] = {"runner": "dask", "workers": 2}
    (copy / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PREFECT_API_URL": prefect_api}
    started = datetime.now(UTC)  # the API is the session's: other tests' runs are there too
    done = subprocess.run([sys.executable, "-m", "stages.train"], cwd=copy, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "runner=dask" in done.stderr
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName, FlowRunFilter, FlowRunFilterStartTime

    with _client() as client:  # the cells ran as tasks of a `fanout-train` flow run on the Dask runner
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["fanout-train"])),
                                     flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=started)))
    assert [run.state.is_completed() for run in runs] == [True]
    predictions = "data/predictions/digits.parquet"
    assert sha(copy / predictions) == sha(repo / predictions)
    # every model was written by a Dask worker into the copy's staging folder, then published
    models = sorted(p.relative_to(copy) for p in (copy / "models").rglob("q*") if not p.name.endswith(".json"))
    assert models == sorted(p.relative_to(repo) for p in (repo / "models").rglob("q*")
                            if not p.name.endswith(".json"))
    assert len(models) == N_MODELS and not (copy / ".models.partial").exists()
    assert [sha(copy / m) for m in models] == [sha(repo / m) for m in models]


# --------------------------------------------------------------------------- benchmark flow
def test_benchmark_flow_writes_one_table_and_reports_a_failing_dataset(flow_repo, tmp_path):
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from flows.benchmark import benchmark

    repo = flow_repo["repo"]
    out = tmp_path / "bench"
    state = benchmark(folder=str(repo / "data/default"), datasets=["digits", "linnerud"], source=str(repo),
                      out=str(out), workers=2, return_state=True)
    assert state.is_completed(), state.message  # one dataset failed, the other one's table is written
    result = state.result()
    assert result["datasets"] == ["digits"] and list(result["failures"]) == ["linnerud"]
    assert "linnerud" in result["failures"]["linnerud"] and "anomalies" in result["failures"]["linnerud"]
    summary = pd.read_csv(out / "summary.csv")
    assert summary[["dataset", "score"]].values.tolist() == [["digits", "density"], ["digits", "rarity"]]
    q1 = pd.read_parquet(repo / "results/q1.parquet")  # the same pipeline, the same numbers as `dvc repro`
    expected = dict(zip(q1["score"], q1["auroc"], strict=True))
    assert dict(zip(summary["score"], summary["q1_auroc"], strict=True)) == pytest.approx(expected, abs=1e-6)
    assert len(pd.read_parquet(out / "q2.parquet")) == N_MODELS
    assert pd.read_csv(out / "failures.csv")["dataset"].tolist() == ["linnerud"]
    assert "linnerud" in (out / "summary.md").read_text()

    flow_run_id = state.state_details.flow_run_id
    with _client() as client:  # one task per dataset: the UI shows each one's progress
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    assert sorted((run.name, run.state.type.value) for run in runs) == [("digits-seed0", "COMPLETED"),
                                                                        ("linnerud-seed0", "FAILED")]
    assert {"benchmark-summary", "benchmark-report"} <= set(artifacts_of(flow_run_id))

    strict = benchmark(folder=str(repo / "data/default"), datasets=["linnerud"], source=str(repo),
                       out=str(tmp_path / "strict"), workers=1, return_state=True)
    assert strict.is_failed() and "linnerud" in strict.message


def test_benchmark_flow_repeats_seeds_and_resumes_only_the_new_cells(flow_repo, tmp_path):
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from flows.benchmark import benchmark

    repo, out = flow_repo["repo"], tmp_path / "seeds"
    first = benchmark(folder=str(repo / "data/default"), datasets=["digits"], source=str(repo), out=str(out),
                      workers=1, seeds=[3], return_state=True).result()
    assert first["cells_reused"] == 0 and list(first["dataset_seconds"]) == ["digits/seed3"]
    kept = (out / "cells/digits/seed3/q1_seeds.parquet").read_bytes()

    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["prepare"]["seeds"] = [3, 4]            # the seeds from params: a cell's key leaves them out
    (tmp_path / "seeds.yaml").write_text(yaml.safe_dump(params))
    state = benchmark(folder=str(repo / "data/default"), datasets=["digits"], source=str(repo), out=str(out),
                      workers=1, params_file=str(tmp_path / "seeds.yaml"), return_state=True)
    assert state.result()["cells_reused"] == 1
    with _client() as client:    # adding a seed runs only the new cell
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(
            id=FlowRunFilterId(any_=[state.state_details.flow_run_id])))
    assert [run.name for run in runs] == ["digits-seed4"]
    assert (out / "cells/digits/seed3/q1_seeds.parquet").read_bytes() == kept
    q1 = pd.read_parquet(out / "q1_seeds.parquet")
    assert sorted(set(q1["seed"])) == [3, 4] and {"n_distinct", "degenerate", "estimator", "q1"} <= set(q1.columns)
    assert q1[q1["seed"] == 3]["q1"].tolist() != q1[q1["seed"] == 4]["q1"].tolist()   # another split
    assert sorted(set(pd.read_parquet(out / "q2_seeds.parquet")["seed"])) == [3, 4]
    intervals = pd.read_parquet(out / "q1_intervals.parquet")
    assert (intervals["n"] == 2).all() and (intervals["ci_low"] <= intervals["mean"]).all()


def test_benchmark_seeds_option_is_checked():
    from flows.benchmark import parse_seeds

    assert parse_seeds("0, 1,2") == [0, 1, 2] and parse_seeds(None) is None
    for bad in ("a", "1,1", "-1", ""):
        with pytest.raises(ValueError, match="--seeds"):
            parse_seeds(bad)


def test_benchmark_seeds_from_params_are_checked_and_left_out_of_a_cell():
    from flows.benchmark import dataset_params, seeds_from_params

    assert seeds_from_params({"prepare": {"seeds": [0, 1, 2]}}) == [0, 1, 2]
    assert seeds_from_params({"prepare": {"random_state": 0}}) is None
    for bad in ([], [1, 1], [-1], ["a"], 3, [True]):
        with pytest.raises(ValueError, match=r"prepare\.seeds must be a list of distinct non-negative integers"):
            seeds_from_params({"prepare": {"seeds": bad}})
    base = {"prepare": {"random_state": 0, "seeds": [0, 1]}}
    params = dataset_params(base, Path("/data"), "digits", seed=1)
    assert params["prepare"] == {"random_state": 1} and base["prepare"]["seeds"] == [0, 1]


def _seeds_tables(qs: list[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-seed tables of 4 datasets × 2 seeds × 3 scores: eap clearly best in Q1 and, at 0 < q < 100, in Q2."""
    offsets = {"eap": 0.3, "rarity": 0.1, "random": 0.0}
    q1 = pd.DataFrame([{"dataset": f"d{d}", "seed": s, "estimator": e, "q1": 0.5 + o + 0.01 * d + 0.001 * s,
                        "degenerate": False} for d in range(4) for s in (0, 1) for e, o in offsets.items()])
    q2 = pd.DataFrame([{"dataset": f"d{d}", "seed": s, "generator": "g", "detector": "ssdo", "score": e, "q": q,
                        "auroc": 0.6 + (o * q / 100 if 0 < q < 100 else 0.0) + 0.01 * d, "degenerate": False}
                       for d in range(4) for s in (0, 1) for e, o in offsets.items() for q in qs])
    return q1, q2


def test_benchmark_comparison_says_when_q2_has_no_budget_between_0_and_100(tmp_path):
    from flows.benchmark import write_comparison

    q1, q2 = _seeds_tables([0, 100])
    write_comparison(tmp_path, q1, q2)
    text = (tmp_path / "comparison.md").read_text()
    assert "## Q1 AUROC" in text and (tmp_path / "q1_cd.png").is_file()
    assert "Not compared: the budgets are q = 0 and 100 only" in text and "Q2 gain" not in text
    assert not (tmp_path / "q2_gain_cd.png").exists()
    q1, q2 = _seeds_tables([0, 50, 100])
    write_comparison(tmp_path / "with", q1, q2)
    text = (tmp_path / "with/comparison.md").read_text()
    assert "## Q2 gain over random selection" in text and (tmp_path / "with/q2_gain_cd.png").is_file()


def test_benchmark_cells_of_an_adbench_root_with_subfolders(tmp_path):
    from flows.benchmark import dataset_params, resolve_datasets

    for name in ("tabular/6_cardio", "tabular/29_Pima", "image_resnet18/MVTec-AD_cable"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / f"{name}.npz").write_bytes(b"")
    assert resolve_datasets(tmp_path, None) == ["image_resnet18/MVTec-AD_cable", "tabular/29_Pima",
                                                 "tabular/6_cardio"]
    assert resolve_datasets(tmp_path, ["tabular/cardio"]) == ["tabular/6_cardio"]
    base = {"prepare": {"random_state": 0},
            "score": {"dataset_params": {"MVTec-AD_cable": {"lava": {}}, "6_cardio": {"ame": {}}}}}
    params = dataset_params(base, tmp_path, "image_resnet18/MVTec-AD_cable", seed=2)
    assert params["data"]["datasets"] == ["image_resnet18/MVTec-AD_cable"] and params["prepare"]["random_state"] == 2
    assert params["score"]["dataset_params"] == {"MVTec-AD_cable": {"lava": {}}}   # stage score refuses the others
    assert base["score"]["dataset_params"]["6_cardio"] == {"ame": {}}              # the base is not changed


# --------------------------------------------------------------------------- failures
def test_a_bad_dataset_fails_the_run_with_the_cause_and_keeps_the_results(flow_repo):
    repo = flow_repo["repo"]
    before = snapshot(repo)
    state = run_flow(repo=str(repo), overrides=["data.datasets=[nosuch]"], busy_retries=0)
    assert state.is_failed()
    assert "nosuch" in state.message
    flow_run_id = state.state_details.flow_run_id
    logs = logs_of(flow_run_id)
    assert "ERROR in stage 'prepare'" in logs and "dataset 'nosuch'" in logs, logs
    assert snapshot(repo) == before  # params.yaml put back, every result untouched
    summary = artifacts_of(flow_run_id)["auxqual-run-summary"].data
    assert "FAILED" in summary and "| prepare | failed |" in summary and "| train | not reached |" in summary


def test_a_busy_repository_fails_after_retries_and_the_next_run_works(flow_repo):
    import zc.lockfile

    from auxqual.flows.pipeline import repository_slot, slot_name

    repo = flow_repo["repo"]
    before = snapshot(repo)
    lock = zc.lockfile.LockFile(str(repo / ".dvc/tmp/lock"))  # DVC's own repository lock
    try:
        state = run_flow(repo=str(repo), busy_retries=1, busy_retry_delay=0.2)
    finally:
        lock.close()
    assert state.is_failed()
    assert "repository busy" in state.message
    flow_run_id = state.state_details.flow_run_id
    assert "Unable to acquire lock" in logs_of(flow_run_id)
    with _client() as client:
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    assert [run.run_count for run in runs if run.name.startswith("dvc-status")] == [2]  # tried, retried once
    assert snapshot(repo) == before

    # another flow run holds the repository's slot: this one gives up after slot_timeout
    with repository_slot(slot_name(repo), timeout=10):
        state = run_flow(repo=str(repo), slot_timeout=1)
    assert state.is_failed() and "concurrency slot" in state.message

    # the next run works: DVC's lock is released while the run waits between retries
    lock = zc.lockfile.LockFile(str(repo / ".dvc/tmp/lock"))
    threading.Timer(3.0, lock.close).start()
    state = run_flow(repo=str(repo), overrides=["report.score=density"], busy_retries=5, busy_retry_delay=1)
    assert state.is_completed(), state.message
    assert state.result()["ran"] == ["report"]
    after = snapshot(repo)
    assert {k for k in before if before[k] != after.get(k)} == {"params.yaml", "dvc.lock"}
