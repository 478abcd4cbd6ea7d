"""The pipeline on a Dask cluster of separate processes, as a user scaling out runs it.

A real ``dask scheduler`` and two ``dask worker`` processes (``flows.cluster``: the commands of
docs/orchestration.md, bound to 127.0.0.1), started in a copy of the repository from the project's
environment with nothing else set but the checkout on ``PYTHONPATH`` (no joblib variables), run the whole
pipeline of a small config through ``python -m auxqual.flows.pipeline --set fanout.runner=dask``;
every file must be byte-identical to a serial ``dvc repro`` of the same config. Then the
failures: a bad parameter only a worker sees, a scheduler that cannot import the project
(the stage and the benchmark flow's failures.csv must give the real cause in one line), and
a worker killed in the middle of a cell. A ``LocalCluster`` would hide all of these: its
workers inherit this process's ``sys.path`` and modules.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="auxqual-prefect-home-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from test_pipeline_dvc import make_repo  # the pipeline tests' repository helper

from flows.cluster import dask_cluster

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NOT_COMPARED = ("params.yaml", "results/timings/")  # fanout.runner differs; wall-clock times (not DVC outputs)
FANOUT_STAGES = ("generate", "score", "train", "select")


def small_params() -> dict:
    """The repository's params.yaml on a small config: the embedded digits data, two
    generators, EAP (its subsets fitted in processes when serial, on threads in a Dask
    worker), a cheap ablation and a coalition baseline (joblib processes when serial),
    SSDO, one selection seed."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(path="data/default", datasets=["digits"])
    params["prepare"].update(max_train_normals=200)
    params["generate"].update(generators=["benchmark_mixture", "uniform"], params={}, n_samples=None)
    params["score"].update(scores=["eap", "rarity", "banzhaf"], dataset_params={},
                           params={"eap": {"n_subsets": 4, "n_jobs": 2}, "banzhaf": {"n_masks": 6, "n_jobs": 2}})
    params["train"].update(detectors=["ssdo"], params={}, q=[0, 50], device="cpu")
    params["select"].update(seeds=[0], candidates={"iforest": {"n_estimators": [10, 20]}, "ssdo": {"k": [5]}})
    params["report"]["score"] = "eap"
    params["fanout"] = {"runner": "serial", "address": None, "workers": 1}
    return params


def small_repo(path: Path) -> Path:
    """A repository of the small config (make_repo carries numba's kernel caches, so the
    stages need not compile again). The workers import this checkout's own."""
    return make_repo(path, small_params())


def user_env(**extra: str) -> dict[str, str]:
    """A user's shell in the project's environment: the venv on PATH, nothing that makes
    the project importable or changes joblib; the Prefect API only where ``extra`` names it."""
    env = {k: v for k, v in os.environ.items()
           if k != "PYTHONPATH" and not k.startswith(("JOBLIB", "AUXQUAL_", "PREFECT_API"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["DVC_NO_ANALYTICS"] = "1"
    env.update(extra)
    return env


def files_of(repo: Path) -> dict[str, str]:
    """sha256 of every file of a repository but DVC's and git's own folders."""
    out = {}
    for path in sorted(repo.rglob("*")):
        rel = path.relative_to(repo).as_posix()
        if path.is_file() and not rel.startswith((".dvc/", ".git/")) and "__pycache__" not in rel:
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def lock_of(repo: Path) -> dict:
    """dvc.lock's record of every stage: its command, the hashes of its deps, params and outs."""
    return yaml.safe_load((repo / "dvc.lock").read_text())["stages"]


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("ERROR in stage")]


def run_stage(repo: Path, stage: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", f"stages.{stage}"], cwd=repo, env=user_env(**env),
                          capture_output=True, text=True, timeout=300)


def edit_params(repo: Path, edit) -> str:
    """Apply ``edit`` to ``repo``'s params.yaml; return the previous text."""
    before = (repo / "params.yaml").read_text()
    params = yaml.safe_load(before)
    edit(params)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return before


# --------------------------------------------------------------------------- fixtures


def run_pipeline(repo: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """``python -m auxqual.flows.pipeline ARGS`` in ``repo``, as docs/orchestration.md runs it."""
    done = subprocess.run([sys.executable, "-m", "auxqual.flows.pipeline", *args], cwd=repo, env=user_env(**env),
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    return done


@pytest.fixture(scope="module")
def serial_run(tmp_path_factory):
    """``dvc repro`` of the small config on the serial runner (the reference bytes), started
    in the background: the cluster's run goes on meanwhile."""
    repo = small_repo(tmp_path_factory.mktemp("serial"))
    with open(repo.parent / "repro.log", "wb") as log:
        process = subprocess.Popen([str(BIN / "dvc"), "repro"], cwd=repo, env=user_env(), stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    yield repo, process
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="module")
def serial(serial_run):
    repo, process = serial_run
    code = process.wait(timeout=900)
    assert code == 0, (repo.parent / "repro.log").read_text()[-6000:]
    return repo


@pytest.fixture(scope="module")
def clustered(tmp_path_factory):
    return small_repo(tmp_path_factory.mktemp("cluster"))


@pytest.fixture(scope="module")
def cluster(clustered, prefect_api):
    with dask_cluster(clustered, workers=2, env=user_env(PREFECT_API_URL=prefect_api)) as running:
        yield running


# --------------------------------------------------------------------------- the whole pipeline
def test_the_cluster_listens_on_the_chosen_interface_only(cluster):
    import psutil

    processes = [psutil.Process(p.pid) for p in [cluster.scheduler, *cluster.workers]]
    processes += [child for process in processes for child in process.children(recursive=True)]
    listening = {(c.laddr.ip, c.laddr.port) for p in processes for c in p.net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN}
    assert len(listening) >= 3  # the scheduler, a nanny and a worker at least
    assert {ip for ip, _ in listening} == {"127.0.0.1"}, listening


def test_the_pipeline_on_an_external_cluster_gives_the_serial_bytes(serial_run, clustered, cluster, prefect_api,
                                                                    request):
    run_pipeline(clustered, "--set", "fanout.runner=dask", AUXQUAL_DASK_ADDRESS=cluster.address,
                 PREFECT_API_URL=prefect_api)
    serial = request.getfixturevalue("serial")  # the serial run, once it has finished

    from distributed import Client

    with Client(cluster.address, timeout=30) as client:  # the cells ran in the workers, not in the stages
        imported = client.run(lambda: sorted(name for name in sys.modules if name.startswith("stages.")))
    assert {f"stages.{stage}" for stage in FANOUT_STAGES} <= set().union(*imported.values())

    left, right = files_of(serial), files_of(clustered)
    assert left.keys() == right.keys()
    differ = sorted(path for path in left if left[path] != right[path] and not path.startswith(NOT_COMPARED))
    # the flow runs the stages one by one in its own order (dvc repro --single-item): dvc.lock
    # and the .gitignore files DVC writes list the same entries, in another order
    assert [path for path in differ if path != "dvc.lock" and not path.endswith(".gitignore")] == []
    assert lock_of(clustered) == lock_of(serial)
    for path in differ:
        if path.endswith(".gitignore"):
            assert sorted((clustered / path).read_text().splitlines()) == sorted(
                (serial / path).read_text().splitlines())
    assert len([p for p in left if p.startswith("models/")]) >= 8
    params = [yaml.safe_load((repo / "params.yaml").read_text()) for repo in (serial, clustered)]
    assert params[1]["fanout"]["runner"] == "dask"
    params[1]["fanout"]["runner"] = "serial"
    assert params[1] == params[0]


# --------------------------------------------------------------------------- failures
def test_a_bad_parameter_seen_only_by_a_worker_fails_the_stage_in_the_serial_line(serial, cluster, prefect_api):
    """A value the params schema lets through (it checks the names of a detector's parameters, not
    what a detector can fit with) fails on the worker that fits it, in the serial run's words."""
    repo = serial
    before = edit_params(repo, lambda p: (p["train"]["params"].update(ssdo={"k": 1_000_000}),
                                          p["fanout"].update(runner="dask")))
    try:
        on_cluster = run_stage(repo, "train", AUXQUAL_DASK_ADDRESS=cluster.address, PREFECT_API_URL=prefect_api)
        edit_params(repo, lambda p: p["fanout"].update(runner="serial"))
        serial = run_stage(repo, "train")
    finally:
        (repo / "params.yaml").write_text(before)
    assert "runner=dask" in on_cluster.stderr and "runner=serial" in serial.stderr
    assert (on_cluster.returncode, serial.returncode) == (2, 2)
    assert len(error_lines(on_cluster.stderr)) == 1, on_cluster.stderr[-3000:]
    assert error_lines(on_cluster.stderr) == error_lines(serial.stderr)
    assert "SSDO needs more than k=1000000 training rows" in error_lines(on_cluster.stderr)[0]
    assert "Traceback" not in on_cluster.stderr


@pytest.fixture(scope="module")
def blind_scheduler(clustered, tmp_path_factory):
    """A scheduler whose environment lacks the project (it cannot import ``stages`` or
    ``flows``): the graph it is sent cannot be unpickled there. No worker is needed."""
    preload = tmp_path_factory.mktemp("preload") / "hide_project.py"
    preload.write_text("import sys\nsys.modules['stages'] = None\nsys.modules['flows'] = None\n")
    with dask_cluster(clustered, workers=0, env=user_env(), preload=str(preload)) as running:
        yield running


def test_a_scheduler_that_cannot_import_the_project_fails_the_stage_with_the_cause(serial, blind_scheduler,
                                                                                   prefect_api):
    before = edit_params(serial, lambda p: p["fanout"].update(runner="dask"))
    try:
        done = run_stage(serial, "generate", AUXQUAL_DASK_ADDRESS=blind_scheduler.address,
                         PREFECT_API_URL=prefect_api)
    finally:
        (serial / "params.yaml").write_text(before)
    assert done.returncode == 2
    lines = error_lines(done.stderr)
    assert len(lines) == 1, done.stderr[-3000:]
    assert f"failed on the Dask scheduler at {blind_scheduler.address}" in lines[0]
    assert "ModuleNotFoundError: No module named 'stages" in lines[0]  # the cause, not only "could not deserialize"
    assert "Traceback" not in done.stderr


def test_the_benchmark_flow_writes_the_schedulers_cause_to_failures_csv(serial, blind_scheduler, prefect_api,
                                                                        tmp_path):
    repo = serial
    out = tmp_path / "bench"
    done = subprocess.run([sys.executable, "-m", "flows.benchmark", "--folder", str(repo / "data/default"),
                           "--datasets", "digits", "--source", str(repo), "--out", str(out), "--runner", "dask",
                           "--address", blind_scheduler.address], cwd=repo,
                          env=user_env(PREFECT_API_URL=prefect_api), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 1, done.stderr[-3000:]  # every dataset failed: the run fails, after its tables
    assert (out / "failures.csv").is_file(), done.stderr[-3000:]
    failures = pd.read_csv(out / "failures.csv")
    assert failures["dataset"].tolist() == ["digits"]
    message = failures["error"].iloc[0]
    assert "ModuleNotFoundError: No module named 'flows" in message and "\n" not in message
    assert "PENDING" not in message and f"failed: digits: {message}" in done.stderr


# --------------------------------------------------------------------------- worker loss
def hold_first_attempt(cell: dict) -> dict:
    """Cell 0's first attempt says where it runs (a file named by its pid) and waits for
    ``release``; any later attempt of it (on another worker) and every other cell runs
    at once. The result depends on the cell only."""
    folder = Path(cell["folder"])
    if cell["n"] == 0:
        earlier = list(folder.glob("started-*"))
        (folder / f"started-{os.getpid()}").write_text("")
        deadline = time.monotonic() + 120
        while not earlier and not (folder / "release").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    return {"n": cell["n"], "square": cell["n"] ** 2}


def test_a_worker_killed_mid_cell_is_replaced_and_the_results_are_identical(cluster, prefect_api, tmp_path):
    import cloudpickle

    from stages.fanout import run_cells

    cells = [{"n": n, "folder": str(tmp_path)} for n in range(6)]
    expected = run_cells(hold_first_attempt, cells[1:])  # serial: cell 0 would wait for its release
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    try:
        outcome: dict = {}

        def fan_out() -> None:
            try:
                outcome["results"] = run_cells(hold_first_attempt, cells, runner="dask", address=cluster.address,
                                               desc="loss")
            except Exception as error:  # reported by the assertion below
                outcome["error"] = error

        worker = threading.Thread(target=fan_out, daemon=True)
        worker.start()
        deadline = time.monotonic() + 240
        while not list(tmp_path.glob("started-*")) and time.monotonic() < deadline and worker.is_alive():
            time.sleep(0.2)
        started = list(tmp_path.glob("started-*"))
        assert len(started) == 1, "cell 0 never started"
        killed = int(started[0].name.split("-")[1])
        assert killed in cluster.worker_pids()  # a worker process of the cluster, not this one
        os.kill(killed, signal.SIGKILL)
        worker.join(timeout=300)
        (tmp_path / "release").write_text("")  # unblocks the first attempt if the kill had missed
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert not worker.is_alive() and "error" not in outcome, outcome
    assert outcome["results"][1:] == expected and outcome["results"][0] == {"n": 0, "square": 0}
    reruns = [int(path.name.split("-")[1]) for path in tmp_path.glob("started-*")]
    assert len(reruns) == 2 and killed in reruns  # cell 0 ran again, in another worker process
    assert killed not in cluster.worker_pids()  # the nanny replaced the killed worker


# --------------------------------------------------------------------------- a worker's folder
def test_a_worker_runs_the_cells_of_one_repository_folder_at_a_time(tmp_path):
    """A long-lived worker of several threads may be sent cells of two repositories; the
    working folder belongs to the process, so a cell of another folder waits until the
    running ones are done (a cell of the same folder would not)."""
    from stages.fanout import _IN_FOLDER

    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    seen: list[str] = []

    def other_cell() -> None:
        with _IN_FOLDER(str(second)):
            seen.append(os.getcwd())

    here = os.getcwd()
    try:
        with _IN_FOLDER(str(first)):
            with _IN_FOLDER(str(first)):  # the same folder: no wait
                seen.append(os.getcwd())
            other = threading.Thread(target=other_cell)
            other.start()
            other.join(timeout=1.0)
            assert other.is_alive()  # still waiting for the cell of `first`
            seen.append(os.getcwd())
        other.join(timeout=30)
    finally:
        os.chdir(here)
    assert not other.is_alive()
    assert seen == [str(first), str(first), str(second)]
