"""The DVC pipeline, end to end, with the real ``dvc repro`` in a temporary git repository.

One module-scoped repository is reproduced once on tiny params (the embedded digits data,
EAP with 4 subsets, 2 generators, 2 scores, 3 detectors, q in {0, 50}) and shared by the
tests below, which run in file order: outputs, status, determinism, a param change, a killed
stage. Bad inputs get a second, smaller repository that only runs ``data`` and ``prepare``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `stages` is a folder of scripts at the repository root, not an installed package
    sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
STAGES = ["data", "prepare", "generate", "score", "train", "evaluate", "compare", "select", "lineage", "report"]
DOWNSTREAM_OF_TRAIN = ["train", "evaluate", "compare", "lineage", "report"]

TINY_PARAMS = {
    "data": {"path": "data/default", "datasets": ["digits"],
             "default": {"anomaly_digit": 0, "sources": ["iris", "wine", "breast_cancer", "diabetes", "linnerud"]}},
    "prepare": {"n_sources": 5, "max_train_normals": 200, "random_state": 0},
    "generate": {"generators": ["benchmark_mixture", "uniform"], "params": {"uniform": {}},
                 "n_samples": None, "random_state": 0},
    "score": {"scores": ["eap", "rarity"], "params": {"eap": {"n_subsets": 4}}},
    "train": {"detectors": ["ssdo", "mlp", "pyod_stack"], "params": {"mlp": {"epochs": 5}},
              "q": [0, 50], "random_state": 0, "device": "cpu"},
    "select": {"generator": "benchmark_mixture", "validation_fraction": 0.2, "weighting": "minmax", "q": 50,
               "seeds": [0], "candidates": {"iforest": {"n_estimators": [10, 20]}}, "generator_detector": "iforest",
               "generator_params": {"n_estimators": 10}, "device": "cpu"},
    "compare": {"reference": "eap", "alpha": 0.05},
    "report": {"score": "eap"},
    "fanout": {"runner": "serial", "workers": 1},
}
N_MODELS = 1 * 2 * 2 * 3 * 2  # datasets × generators × scores × detectors × q


# --------------------------------------------------------------------------- helpers
def _env() -> dict[str, str]:
    env = os.environ.copy()
    env["DVC_NO_ANALYTICS"] = "1"
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # `python` in dvc.yaml = this interpreter
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("PYTHONPATH", None)  # the stages import the repository's own copy of auxqual
    return env


def dvc(repo: Path, *args: str, check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
    done = subprocess.run([str(BIN / "dvc"), *args], cwd=repo, env=_env(), capture_output=True, text=True,
                          timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def ran(done: subprocess.CompletedProcess) -> list[str]:
    """The stages that ran (not skipped, not restored from the run cache), in order."""
    return re.findall(r"Running stage '([^']+)'", done.stdout + done.stderr)


def git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    """``git`` in ``repo`` with a fixed identity (commits need one) and no signing."""
    env = {**_env(), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", "-c", "commit.gpgsign=false", *args], cwd=repo, env=env, capture_output=True,
                          text=True, check=True)


def write_params(repo: Path, params: dict) -> None:
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def make_repo(path: Path, params: dict) -> Path:
    """A fresh git + DVC repository holding the pipeline (dvc.yaml, stages/, flows/, auxqual/).

    numba's caches of the compiled kernels (``__pycache__/*.nb[ic]``) are copied with the
    sources, whose modification times ``copy2`` keeps, as ``auxqual.flows.dvcrepo.copy_pipeline`` does:
    the stages then load the kernels instead of compiling them (half a minute per repository)."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q"], cwd=path, check=True)
    dvc(path, "init", "-q")
    ignore = shutil.ignore_patterns("*.pyc", ".*.partial")
    for name in ("dvc.yaml", ".dvcignore", ".gitignore", "data/.gitignore", "results/.gitignore"):
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, path / name)  # the .gitignore files as a clone has them
    shutil.copytree(ROOT / "stages", path / "stages", ignore=ignore)
    shutil.copytree(ROOT / "flows", path / "flows", ignore=ignore)  # the benchmark's flows run from a checkout
    shutil.copytree(ROOT / "auxqual", path / "auxqual", ignore=ignore)
    write_params(path, params)
    return path


def leftovers(repo: Path) -> list[str]:
    """Temporary files or staging folders anywhere in the workspace outputs."""
    found = []
    for base in ("data", "models", "results", "plots", "reports", "."):
        root = repo / base
        if not root.exists():
            continue
        pattern = "*" if base != "." else ".*.partial"
        for path in (root.rglob(pattern) if base != "." else root.glob(pattern)):
            if path.name.endswith(".tmp") or path.name.endswith(".partial"):
                found.append(str(path.relative_to(repo)))
    return found


def _models_written(staging: Path) -> bool:
    try:
        return any(p.suffix in (".pt", ".joblib") for p in staging.rglob("q*"))
    except OSError:  # the folder changes while we look
        return False


def changed_stages(repo: Path) -> set[str]:
    status = json.loads(dvc(repo, "status", "--json").stdout or "{}")
    return {key.split(":")[-1] for key in status}


def _changed_outputs(repo: Path, lock_a: str, lock_b: str) -> list[str]:
    """Output paths whose hash differs between two dvc.lock texts; for a folder, the
    files in it that differ (from the two ``.dir`` listings in the DVC cache)."""
    def hashes(text: str) -> dict[str, str]:
        stages = yaml.safe_load(text)["stages"]
        return {out["path"]: out.get("md5") for stage in stages.values() for out in stage.get("outs", [])}

    def listing(md5: str | None) -> dict[str, str]:
        path = repo / ".dvc/cache/files/md5" / (md5 or "xx")[:2] / (md5 or "xx")[2:]
        return {e["relpath"]: e["md5"] for e in json.loads(path.read_text())} if path.is_file() else {}

    a, b = hashes(lock_a), hashes(lock_b)
    changed = []
    for path in sorted(a.keys() | b.keys()):
        if a.get(path) == b.get(path):
            continue
        if str(a.get(path)).endswith(".dir"):
            left, right = listing(a[path]), listing(b.get(path))
            files = sorted(f for f in left.keys() | right.keys() if left.get(f) != right.get(f))
            changed.append(f"{path} ({len(files)} files, e.g. {files[:4]})")
        else:
            changed.append(path)
    return changed


# --------------------------------------------------------------------------- the fan-out helper
def _square_and_pid(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def _fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("cell 3 is bad")
    return x


def test_run_cells_serial_keeps_input_order():
    from stages.fanout import run_cells

    results = run_cells(_square_and_pid, [3, 1, 2])
    assert [r[0] for r in results] == [9, 1, 4]
    assert {r[1] for r in results} == {os.getpid()}


def test_run_cells_process_pool_gives_the_serial_results_in_input_order():
    from stages.fanout import run_cells

    cells = list(range(12))[::-1]
    results = run_cells(_square_and_pid, cells, runner="process", workers=2)
    assert [r[0] for r in results] == [c * c for c in cells]
    assert os.getpid() not in {r[1] for r in results}  # the cells ran in worker processes


def test_run_cells_propagates_a_cell_error_and_refuses_unknown_runners():
    from stages.fanout import run_cells

    with pytest.raises(ValueError, match="cell 3 is bad"):
        run_cells(_fail_on_three, [1, 2, 3, 4])
    with pytest.raises(ValueError, match="cell 3 is bad"):
        run_cells(_fail_on_three, [1, 2, 3, 4], runner="process", workers=2)
    with pytest.raises(ValueError, match="unknown runner 'nope'"):
        run_cells(_fail_on_three, [1], runner="nope")
    with pytest.raises(ValueError, match="workers"):
        run_cells(_fail_on_three, [1], runner="process", workers=0)


# --------------------------------------------------------------------------- the shared repository
@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    repo = make_repo(tmp_path_factory.mktemp("pipeline"), TINY_PARAMS)
    done = dvc(repo, "repro")
    return {"repo": repo, "repro": done, "lock": (repo / "dvc.lock").read_text()}


@pytest.mark.slow
def test_repro_runs_every_stage_and_writes_sensible_outputs(pipeline):
    repo = pipeline["repo"]
    assert ran(pipeline["repro"]) == STAGES

    # data: the embedded default data in the ADBench layout
    assert sorted(p.stem for p in (repo / "data/default").glob("*.npz")) == sorted(
        ["digits", "iris", "wine", "breast_cancer", "diabetes", "linnerud"])
    with np.load(repo / "data/default/digits.npz") as digits:
        assert digits["X"].shape == (1797, 64) and int(digits["y"].sum()) == 178

    # prepare: the protocol's counts (A = 178: t = 89, l = 5, f = 84)
    prepared = repo / "data/prepared/digits"
    train, test, aux = (pd.read_parquet(prepared / f"{n}.parquet") for n in ("train", "test", "aux"))
    assert len(train) == 205 and int(train["y"].sum()) == 5
    assert len(test) == 178 and int(test["y"].sum()) == 89
    assert aux["kind"].value_counts().to_dict() == {"realistic": 84, "indistinguishable": 84, "unrealistic": 84}
    assert list(train.columns[:64]) == [f"x{j}" for j in range(64)]
    assert set(aux.loc[aux["kind"] == "unrealistic", "source_dataset"]) <= {
        "iris", "wine", "breast_cancer", "diabetes", "linnerud"}

    # generate + score: one table per generator, a column per score, keys to join on
    for generator in ("benchmark_mixture", "uniform"):
        generated = pd.read_parquet(repo / f"data/aux/digits/{generator}.parquet")
        scores = pd.read_parquet(repo / f"data/scores/digits/{generator}.parquet")
        assert len(generated) == len(scores) == 252
        assert {"dataset", "generator", "aux_id", "kind", "eap", "rarity"} <= set(scores.columns)
        assert (scores["aux_id"].to_numpy() == np.arange(252)).all()
        assert np.isfinite(scores[["eap", "rarity"]].to_numpy()).all()
    assert set(pd.read_parquet(repo / "data/scores/digits/uniform.parquet")["kind"]) == {"generated"}

    # train: every model with its lineage sidecar, and the test predictions
    models = sorted(p for p in (repo / "models").rglob("q*") if not p.name.endswith(".lineage.json"))
    assert len(models) == N_MODELS
    assert all(Path(str(m) + ".lineage.json").is_file() for m in models)
    assert {m.suffix for m in models} == {".pt", ".joblib"}
    assert (repo / "models/digits/uniform/eap/mlp/q50.pt").is_file()
    predictions = pd.read_parquet(repo / "data/predictions/digits.parquet")
    assert len(predictions) == N_MODELS * 178

    # evaluate: Q1 per score, Q2 per model, metrics and plot data
    q1 = pd.read_parquet(repo / "results/q1.parquet")
    assert q1["score"].tolist() == ["eap", "rarity"] and q1["auroc"].between(0, 1).all()
    assert (q1["n_realistic"] == 84).all() and (q1["n_other"] == 168).all()
    q2 = pd.read_parquet(repo / "results/q2.parquet")
    assert len(q2) == N_MODELS and q2["auroc"].between(0, 1).all()
    assert list(q1.columns[:2]) == list(q2.columns[:2]) == ["dataset", "seed"]   # the protocol's seed
    assert set(q1["seed"]) == set(q2["seed"]) == {TINY_PARAMS["prepare"]["random_state"]}
    assert set(q2["q"]) == {0, 50} and set(q2["detector"]) == {"ssdo", "mlp", "pyod_stack"}
    # q = 0 uses no auxiliary anomaly: the same model whatever the score and the generator
    base = q2[q2["q"] == 0].groupby("detector")["auroc"].nunique()
    assert (base == 1).all()
    # a detector trained on the labelled anomalies beats chance on digits
    assert q2.groupby("detector")["auroc"].mean().min() > 0.6
    metrics = json.loads((repo / "metrics.json").read_text())
    assert set(metrics["q1_auroc"]) == {"eap", "rarity"} and set(metrics["q2_mean_auroc"]) == {"eap", "rarity"}
    q2_plot = pd.read_csv(repo / "plots/q2.csv")
    assert list(q2_plot.columns) == ["q", "eap", "rarity"] and q2_plot["q"].tolist() == [0, 50]
    # the Q1 comparison: a row per dataset, then the average rank; budgets recorded by score
    table = pd.read_parquet(repo / "results/q1_table.parquet")
    assert list(table.columns) == ["dataset", "eap", "rarity"]
    assert table["dataset"].tolist() == ["digits", "average rank"]
    assert sorted(table.iloc[1, 1:].tolist()) == [1.0, 2.0]          # one dataset: ranks 1 and 2
    assert set(metrics["q1_average_rank"]) == {"eap", "rarity"}
    budgets = json.loads((repo / "data/scores/digits/budgets.json").read_text())
    assert budgets["eap"]["generators"]["benchmark_mixture"]["budget"] == {"n_subsets": 4}
    assert "n_subsets=4" in (repo / "results/q1_table.md").read_text()
    # wall-clock times: outside DVC's outputs (results/timings), one record per (dataset, score)
    timings = json.loads((repo / "results/timings/score.json").read_text())
    assert sorted((c["dataset"], c["score"]) for c in timings["cells"]) == [("digits", "eap"), ("digits", "rarity")]
    assert all(c["fit_seconds"] >= 0 and set(c["score_seconds"]) == {"benchmark_mixture", "uniform"}
               for c in timings["cells"])
    timed = pd.read_parquet(repo / "results/timings/q1_table.parquet")
    assert timed["dataset"].tolist() == ["digits", "average rank", "mean seconds"]
    assert (timed.iloc[2, 1:] >= 0).all()
    assert "results/timings" not in (repo / "dvc.lock").read_text()

    # lineage: one row per model; hashes match the files on disk
    from auxqual.lineage import sha256_file

    lineage = pd.read_parquet(repo / "results/lineage.parquet")
    selected = lineage["model_path"].str.startswith("models_selected/")
    assert selected.any()  # the models stage select chose are in the table too
    lineage = lineage[~selected]
    assert len(lineage) == N_MODELS and lineage["model_path"].nunique() == N_MODELS
    row = lineage[lineage["model_path"] == "models/digits/uniform/eap/mlp/q50.pt"].iloc[0]
    assert row["model_sha256"] == sha256_file(repo / row["model_path"])
    assert row["anomaly_set_path"] == "data/aux/digits/uniform.parquet"
    assert row["anomaly_set_sha256"] == sha256_file(repo / "data/aux/digits/uniform.parquet")
    assert (row["score"], row["q"], row["n_rows"]) == ("eap", 50.0, 126)
    # which code made each model: the content hash of train's code deps, not a git revision
    from auxqual.lineage import code_sha256
    from stages.common import stage_code_deps

    assert "git_rev" not in lineage.columns
    assert set(lineage["code_sha256"]) == {code_sha256(stage_code_deps("train", repo / "dvc.yaml"), repo)}

    # select (Q3): model selection per score (+ uniform, labelled) and generator selection per score
    q3 = pd.read_parquet(repo / "results/q3.parquet")
    assert q3[q3["task"] == "model"]["score"].tolist() == ["eap", "rarity", "uniform", "labelled"]
    assert q3[q3["task"] == "generator"]["score"].tolist() == ["eap", "rarity"]
    assert (q3["regret"] >= 0).all() and q3["chosen"].notna().all()
    assert set(json.loads((repo / "results/q3_metrics.json").read_text())["q3_model_regret"]) == {
        "eap", "rarity", "uniform", "labelled"}
    assert list((repo / "models_selected/digits/seed0").glob("*.joblib.lineage.json"))

    # report
    for name in ("q1_scores.png", "q1_ranks.png", "score_distributions.png", "q2_curves.png", "generators.png",
                 "q3_regret.png", "q3_validation_vs_test.png"):
        assert (repo / "reports" / name).stat().st_size > 5_000
    summary = (repo / "reports/summary.md").read_text()
    assert "## Q1" in summary and "## Q2" in summary and "eap" in summary
    assert "## Q1 comparison" in summary and re.search(r"\|\s*\*\*average rank\*\*\s*\|", summary)
    assert "## Q3" in summary

    assert leftovers(repo) == []


@pytest.mark.slow
def test_status_is_clean_after_repro(pipeline):
    done = dvc(pipeline["repo"], "status")
    assert "Data and pipelines are up to date" in done.stdout, done.stdout


@pytest.mark.slow
def test_dvc_plots_render_from_the_evaluate_outputs(pipeline):
    shown = json.loads(dvc(pipeline["repo"], "plots", "show", "--json").stdout)
    assert {"q1_quality_ranking", "q2_downstream_auroc"} <= set(shown["data"])
    values = shown["data"]["q2_downstream_auroc"][0]["content"]["data"]["values"]
    assert {v["field"] for v in values} == {"eap", "rarity"}


def commit_recipe() -> str:
    """The documented command that commits a run's record (README or docs, a ```bash block)."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    for page in pages:
        for block in re.findall(r"```bash\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S):
            lines = [line for line in block.splitlines() if 'git commit -m "Pipeline run"' in line]
            if lines:
                return lines[0]
    raise AssertionError("no documented `git commit -m \"Pipeline run\"` recipe in README.md or docs/")


@pytest.mark.slow
def test_the_documented_commit_recipe_leaves_git_clean(pipeline):
    """After the first ``dvc repro`` of a clone, the documented recipe commits the run's record
    and nothing is left modified or untracked; DVC did not have to change a tracked .gitignore."""
    repo = pipeline["repo"]
    for name in ("data/.gitignore", "results/.gitignore"):
        assert (repo / name).read_text() == (ROOT / name).read_text(), f"dvc repro changed {name}"
    git(repo, "add", ".gitignore", ".dvcignore", ".dvc", "dvc.yaml", "params.yaml", "stages", "flows", "auxqual",
        "data/.gitignore", "results/.gitignore")
    git(repo, "commit", "-q", "-m", "the checkout")
    identity = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(commit_recipe(), shell=True, cwd=repo, check=True, capture_output=True, env={**_env(), **identity})
    assert git(repo, "status", "--porcelain").stdout == ""


@pytest.mark.slow
def test_forced_repro_after_commits_leaves_the_lock_file_unchanged(pipeline):
    """The normal workflow: run, commit dvc.lock (and everything git tracks), commit again,
    ``dvc repro -f``: nothing DVC hashes may depend on the commit (the lineage sidecars
    once held the git revision, so models/ and results/lineage.parquet changed)."""
    repo = pipeline["repo"]
    with (repo / ".gitignore").open("a") as handle:   # as in the project: byte-code is not committed
        handle.write("__pycache__/\n")
    with (repo / "results/.gitignore").open("a") as handle:  # ... nor the wall-clock timings
        handle.write("/timings/\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "the pipeline and its dvc.lock")
    (repo / "NOTES.md").write_text("a later commit\n")
    git(repo, "add", "NOTES.md")
    git(repo, "commit", "-q", "-m", "another commit")
    assert "dvc.lock" in git(repo, "ls-files").stdout.split()
    done = dvc(repo, "repro", "-f")
    assert ran(done) == STAGES
    after = (repo / "dvc.lock").read_text()
    assert after == pipeline["lock"], f"outputs with other bytes: {_changed_outputs(repo, pipeline['lock'], after)}"
    assert git(repo, "status", "--porcelain").stdout == ""   # dvc.lock, metrics.json, plots/: as committed


@pytest.mark.slow
def test_a_train_param_reruns_only_the_stages_downstream_of_train(pipeline):
    repo = pipeline["repo"]
    before = (repo / "dvc.lock").read_text()
    changed = json.loads(json.dumps(TINY_PARAMS))
    changed["train"]["params"]["mlp"]["epochs"] = 6
    write_params(repo, changed)
    try:
        assert changed_stages(repo) == {"train"}
        done = dvc(repo, "repro")
        assert ran(done) == DOWNSTREAM_OF_TRAIN
        assert "Data and pipelines are up to date" in dvc(repo, "status").stdout
        lock = yaml.safe_load((repo / "dvc.lock").read_text())
        assert lock["stages"]["train"]["params"]["params.yaml"]["train"]["params"]["mlp"]["epochs"] == 6
    finally:
        write_params(repo, TINY_PARAMS)
    # back to the original params: outputs come back from DVC's run cache, nothing is refitted
    done = dvc(repo, "repro")
    assert "train" not in ran(done)
    assert (repo / "dvc.lock").read_text() == before


@pytest.mark.slow
def test_a_killed_stage_leaves_no_partial_output_and_repro_resumes(pipeline):
    repo = pipeline["repo"]
    before = (repo / "dvc.lock").read_text()
    changed = json.loads(json.dumps(TINY_PARAMS))
    changed["train"]["random_state"] = 1
    write_params(repo, changed)
    try:
        process = subprocess.Popen([str(BIN / "dvc"), "repro"], cwd=repo, env=_env(), stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, start_new_session=True)
        staging = repo / ".models.partial"
        deadline = time.monotonic() + 300
        try:
            # wait until train has written some (not all) of its models into its staging folder
            while not _models_written(staging):
                assert process.poll() is None, "dvc repro ended before train could be killed"
                assert time.monotonic() < deadline, "train never started writing models"
                time.sleep(0.02)
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate(timeout=60)

        # nothing half-written: train's outputs are absent (not partial), upstream outputs intact
        assert not (repo / "models").exists()
        assert not (repo / "data/predictions").exists()
        for path in (repo / "data").rglob("*.parquet"):
            pd.read_parquet(path)  # every parquet that exists is complete
        assert changed_stages(repo) <= set(DOWNSTREAM_OF_TRAIN) and "train" in changed_stages(repo)

        # the next repro resumes at train: upstream stages are not re-run
        done = dvc(repo, "repro")
        assert ran(done) == DOWNSTREAM_OF_TRAIN
        assert not staging.exists() and leftovers(repo) == []
        assert "Data and pipelines are up to date" in dvc(repo, "status").stdout
    finally:
        write_params(repo, TINY_PARAMS)
    dvc(repo, "repro")
    assert (repo / "dvc.lock").read_text() == before


# --------------------------------------------------------------------------- bad inputs
@pytest.fixture(scope="module")
def bad_repo(tmp_path_factory):
    """A repository whose data.path is a folder of small datasets, some of them broken."""
    from auxqual.datasets import embedded_datasets, save_npz

    repo = make_repo(tmp_path_factory.mktemp("bad"), TINY_PARAMS)
    folder = repo / "inputs"
    folder.mkdir()
    for name, (X, y) in embedded_datasets().items():
        if name != "digits":
            save_npz(folder / f"{name}.npz", X, y)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = np.zeros(300, dtype=np.int64)
    y[:20] = 1
    np.savez(folder / "few.npz", X=X, y=y)                        # 20 anomalies: t = 50 does not fit
    X_nan = X.copy()
    X_nan[3, 1] = np.nan
    np.savez(folder / "with_nan.npz", X=X_nan, y=y)
    np.savez(folder / "short_labels.npz", X=X, y=y[:-1])          # 299 labels for 300 rows
    np.savez(folder / "flat.npz", X=X[:, 0], y=y)                 # 1-D features
    y_bad = y.copy()
    y_bad[5] = 2
    np.savez(folder / "label_two.npz", X=X, y=y_bad)
    # a good prepare first, so that a failing one has something to (not) leave behind
    dvc(repo, "repro", "prepare")
    assert (repo / "data/prepared/digits/train.parquet").exists()
    return repo


@pytest.mark.slow
@pytest.mark.parametrize(("dataset", "expected"), [
    ("nosuch", [r"dataset 'nosuch'", r"no file nosuch\.npz", r"present: \["]),
    ("with_nan", [r"with_nan", r"1 NaN or inf value\(s\), first at row 3, column 1"]),
    ("short_labels", [r"short_labels", r"299 labels for 300 rows"]),
    ("flat", [r"flat", r"expected a 2-D feature matrix, got a 1-D array of length 300"]),
    ("few", [r"few", r"20 anomalies", r"t=50", r"l=5"]),
    ("label_two", [r"label_two", r"labels must be 0 \(normal\) or 1 \(anomaly\); found \[2\]"]),
])
def test_bad_input_fails_prepare_clearly_and_writes_nothing(bad_repo, dataset, expected):
    params = json.loads(json.dumps(TINY_PARAMS))
    params["data"].update({"path": "inputs", "datasets": [dataset]})
    write_params(bad_repo, params)
    done = dvc(bad_repo, "repro", "prepare", check=False)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "ERROR in stage 'prepare'" in output
    for pattern in expected:
        assert re.search(pattern, output), f"{pattern!r} not in:\n{output}"
    assert "Traceback" not in output  # a user error, not a crash
    assert not (bad_repo / "data/prepared").exists()
    assert leftovers(bad_repo) == []


@pytest.mark.slow
def test_prepare_reads_datasets_from_subfolders_with_their_own_sources(bad_repo):
    """``data.datasets`` entries ``<subfolder>/<name>``: one run over two folders, each
    dataset's unrealistic sources drawn from its own folder only."""
    from auxqual.datasets import embedded_datasets, save_npz

    data = embedded_datasets()
    layout = {"nested/one": ("digits", "iris", "wine"), "nested/two": ("digits", "diabetes", "linnerud")}
    for folder, names in layout.items():
        (bad_repo / folder).mkdir(parents=True, exist_ok=True)
        for name in names:
            save_npz(bad_repo / folder / f"{name}.npz", *data[name])
    params = json.loads(json.dumps(TINY_PARAMS))
    params["data"].update({"path": "nested", "datasets": ["one/digits"]})
    write_params(bad_repo, params)
    dvc(bad_repo, "repro", "prepare")
    meta = json.loads((bad_repo / "data/prepared/digits/meta.json").read_text())
    assert meta["sources"] == ["iris", "wine"] and meta["file"].endswith("one/digits.npz")
    aux = pd.read_parquet(bad_repo / "data/prepared/digits/aux.parquet")
    assert set(aux.loc[aux["kind"] == "unrealistic", "source_dataset"]) <= {"iris", "wine"}
    # the same name in two folders is refused, naming it
    params["data"]["datasets"] = ["one/digits", "two/digits"]
    write_params(bad_repo, params)
    done = dvc(bad_repo, "repro", "prepare", check=False)
    assert done.returncode != 0 and "names a dataset twice" in done.stdout + done.stderr
