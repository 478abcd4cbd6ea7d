"""`auxqual init` and the production pipeline of a scaffolded project.

The wheel tests build a wheel with ``python -m build``, install it in a fresh venv outside the repository (the
dependencies come from this environment through a .pth file, and the wheel with
``--no-deps``), scaffolds a project from that install, and runs ``dvc repro`` there: the
project reaches auxqual only through the installed ``auxqual`` command.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from auxqual import __version__ as auxqual_version
from auxqual.cli import main
from auxqual.examples import write_own_data
from auxqual.io import sha256_file

REPO = Path(__file__).resolve().parents[1]
FAST_PARAMS = {"score.params": {"eap": {"n_subsets": 10}}, "select.q": [50],
               "select.detectors": {"ssdo": {}}, "evaluate.bootstrap": 200}


# --------------------------------------------------------------------------- helpers
@pytest.fixture
def own(tmp_path: Path) -> dict[str, Path]:
    """The example's user files (train, validation, aux) in a folder of their own."""
    return write_own_data(tmp_path / "inputs")


def init(capsys, target: Path, *args: str) -> tuple[int, str, str]:
    """``auxqual init`` in-process: (exit code, stderr, stdout)."""
    capsys.readouterr()
    code = main(["init", str(target), *args])
    captured = capsys.readouterr()
    return code, captured.err, captured.out


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("auxqual: error: ")
    return lines[0]


def assert_nothing_written(target: Path) -> None:
    assert not target.exists()
    assert not list(target.parent.glob(f".{target.name}*"))


def set_params(project: Path, updates: dict) -> None:
    path = project / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for key, value in updates.items():
        node = params
        *parents, last = key.split(".")
        for part in parents:
            node = node[part]
        node[last] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def run(command: list[str], cwd: Path, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env, timeout=900)
    if check and done.returncode != 0:
        raise AssertionError(f"{command} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


# --------------------------------------------------------------------------- bad input at init
def write(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def bad_case(name: str, own: dict[str, Path]) -> tuple[list[str], str]:
    """Arguments of ``auxqual init`` with one bad input, and what the error must name."""
    train, aux = pd.read_parquet(own["train"]), pd.read_parquet(own["aux"])
    folder = own["train"].parent / "bad"
    good = ["--train", str(own["train"]), "--aux", f"cam={own['aux']}"]
    if name == "renamed_aux_column":
        path = write(aux.rename(columns={"mean_radius": "radius_mean"}), folder / "aux.parquet")
        return ["--train", str(own["train"]), "--aux", f"cam={path}"], "'mean_radius'"
    if name == "missing_aux_column":
        path = write(aux.drop(columns=["worst_area"]), folder / "aux.parquet")
        return ["--train", str(own["train"]), "--aux", f"cam={path}"], "missing ['worst_area']"
    if name == "extra_validation_column":
        validation = pd.read_parquet(own["validation"]).assign(batch=1)
        path = write(validation, folder / "validation.parquet")
        return [*good, "--validation", str(path)], "extra ['batch']"
    if name == "nan":
        train.loc[7, "mean_texture"] = np.nan
        return ["--train", str(write(train, folder / "train.parquet")), "--aux", f"cam={own['aux']}"], \
            "row 7, column 'mean_texture'"
    if name == "inf":
        aux.loc[3, "worst_area"] = np.inf
        return ["--train", str(own["train"]), "--aux", f"cam={write(aux, folder / 'aux.parquet')}"], "'worst_area'"
    if name == "text_cell":
        frame = train.astype({"mean_area": object})
        frame.loc[4, "mean_area"] = "n/a?"
        return ["--train", str(write(frame, folder / "train.csv")), "--aux", f"cam={own['aux']}"], \
            "row 4, column 'mean_area': 'n/a?'"
    if name == "labels":
        train.loc[0, "y"] = 2
        return ["--train", str(write(train, folder / "train.parquet")), "--aux", f"cam={own['aux']}"], \
            "labels must be 0 (normal) or 1"
    if name == "no_label_column":
        return ["--train", str(write(train.drop(columns="y"), folder / "train.parquet")), "--aux",
                f"cam={own['aux']}"], "missing label column 'y'"
    if name == "empty_aux":
        return ["--train", str(own["train"]), "--aux", f"cam={write(aux.iloc[:0], folder / 'aux.parquet')}"], \
            "has no rows"
    if name == "no_normals":
        anomalies = train[train["y"] == 1]
        return ["--train", str(write(anomalies, folder / "train.parquet")), "--aux", f"cam={own['aux']}"], \
            "no normal rows"
    if name == "truncated_npz":
        path = folder / "train.npz"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as handle:
            np.savez(handle, X=train.drop(columns="y").to_numpy(), y=train["y"].to_numpy())
        path.write_bytes(path.read_bytes()[:200])
        return ["--train", str(path), "--aux", f"cam={own['aux']}"], str(path)
    if name == "missing_file":
        return ["--train", str(folder / "nope.parquet"), "--aux", f"cam={own['aux']}"], "nope.parquet: file not found"
    if name == "bad_aux_argument":
        return ["--train", str(own["train"]), "--aux", str(own["aux"])], "expected NAME=FILE"
    raise AssertionError(name)


BAD_CASES = ["renamed_aux_column", "missing_aux_column", "extra_validation_column", "nan", "inf", "text_cell",
             "labels", "no_label_column", "empty_aux", "no_normals", "truncated_npz", "missing_file",
             "bad_aux_argument"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_init_refuses_bad_input_with_one_line_and_writes_nothing(case, own, tmp_path, capsys):
    args, named = bad_case(case, own)
    target = tmp_path / "project"
    code, err, _ = init(capsys, target, *args)
    assert code == 2
    assert named in one_error_line(err)
    assert_nothing_written(target)


def test_init_refuses_a_folder_that_is_not_empty(own, tmp_path, capsys):
    target = tmp_path / "project"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    code, err, _ = init(capsys, target, "--train", str(own["train"]), "--aux", f"cam={own['aux']}")
    assert code == 2
    assert "exists and is not empty" in one_error_line(err)
    assert (target / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]


def test_init_scaffolds_a_tracked_project_and_never_touches_the_inputs(own, tmp_path, capsys):
    before = {k: sha256_file(p) for k, p in own.items()}
    target = tmp_path / "project"
    code, err, out = init(capsys, target, "--train", str(own["train"]), "--validation", str(own["validation"]),
                     "--aux", f"cam={own['aux']}", "--generator", "local")
    assert code == 0, err
    assert {k: sha256_file(p) for k, p in own.items()} == before
    assert sha256_file(target / "data/aux/cam.parquet") == before["aux"]
    for relative in ("data/train.parquet.dvc", "data/validation.parquet.dvc", "data/aux/cam.parquet.dvc"):
        assert (target / relative).is_file()
    params = yaml.safe_load((target / "params.yaml").read_text())
    assert params["inputs"] == {"train": "data/train.parquet", "validation": "data/validation.parquet",
                                "aux": {"cam": "data/aux/cam.parquet"}}
    assert list(params["generate"]["generators"]) == ["local"]
    pipeline = yaml.safe_load((target / "dvc.yaml").read_text())
    assert all(stage["cmd"].startswith("auxqual stage ") for stage in pipeline["stages"].values())
    assert run(["git", "status", "--porcelain"], target).stdout == ""
    assert f"cd {target} && dvc repro" in out


# --------------------------------------------------------------------------- params schema
@pytest.mark.parametrize(("key", "value", "named"), [
    ("score.scroes", ["eap"], "unknown key 'score.scroes'; did you mean 'score.scores'?"),
    ("select.detector", {"ssdo": {}}, "did you mean 'select.detectors'?"),
    ("score.max_train_rows", "abc", "score.max_train_rows"),
    ("select.validation_fraction", 1.5, "select.validation_fraction"),
    ("score.scores", ["eap", "rarty"], "unknown name 'rarty'; did you mean 'rarity'?"),
])
def test_a_params_typo_is_one_line_naming_the_key(key, value, named, scaffolded, tmp_path, capsys):
    from auxqual.project.params import load_project_params

    target = tmp_path / "project"
    shutil.copytree(scaffolded, target, symlinks=True)
    load_project_params(target)  # the scaffolded file is valid
    set_params(target, {key: value})
    with pytest.raises(ValueError, match=re.escape(named)):
        load_project_params(target)
    capsys.readouterr()
    assert main(["stage", "validate", "--root", str(target)]) == 2
    assert named in one_error_line(capsys.readouterr().err)
    assert not (target / "results/schema.json").exists()


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory) -> Path:
    """One scaffolded project (copied by the tests that change it)."""
    root = tmp_path_factory.mktemp("scaffolded")
    files = write_own_data(root / "inputs")
    main(["init", str(root / "project"), "--train", str(files["train"]), "--aux", f"cam={files['aux']}"])
    return root / "project"


# --------------------------------------------------------------------------- the whole thing, from a wheel
@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel ``python -m build --wheel`` makes from a copy of the checkout."""
    root = tmp_path_factory.mktemp("build")
    source = root / "source"  # a copy, so that the build leaves nothing in the checkout
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "auxqual"):
        copy = shutil.copytree if (REPO / name).is_dir() else shutil.copy2
        copy(REPO / name, source / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                            if (REPO / name).is_dir() else {}))
    run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(root / "dist"), str(source)],
        cwd=root)
    return next((root / "dist").glob("auxqual-*.whl"))


@pytest.fixture(scope="module")
def wheel_venv(wheel, tmp_path_factory) -> Path:
    """A fresh venv outside the repository with auxqual installed from the wheel."""
    root = tmp_path_factory.mktemp("wheel")
    venv = root / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=root)
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    target_site = Path(run([str(venv / "bin/python"), "-c", purelib], cwd=root).stdout.strip())
    # this environment's packages (numpy, dvc, prefect, ...), after the venv's own: not its auxqual
    (target_site / "zz_auxqual_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # the venv's own pip run (pip itself comes through the .pth): console script and all, as a user gets
    run([str(venv / "bin/python"), "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)], cwd=root)
    return venv


def test_the_wheel_holds_only_the_auxqual_package(wheel):
    """No generic top-level import names (``stages``, ``flows``) in site-packages."""
    with zipfile.ZipFile(wheel) as archive:
        top = {name.split("/")[0] for name in archive.namelist() if not name.split("/")[0].endswith(".dist-info")}
        assert top == {"auxqual"}
        names = set(archive.namelist())
    assert {"auxqual/flows/pipeline.py", "auxqual/project/templates/dvc.yaml.tmpl",
            "auxqual/schemas/model_card.schema.json"} <= names


@pytest.mark.slow
def test_the_installed_wheel_answers_help_version_and_score(wheel_venv, tmp_path):
    env = venv_env(wheel_venv)
    python, auxqual = str(wheel_venv / "bin/python"), str(wheel_venv / "bin/auxqual")
    version = run([python, "-c", "import auxqual; print(auxqual.__version__, auxqual.__file__)"], tmp_path, env)
    number, where = version.stdout.split()
    assert str(REPO) not in where and str(wheel_venv) in where  # the wheel's auxqual, not this checkout
    assert number == auxqual_version and f"Version: {number}" in run(
        [python, "-m", "pip", "show", "auxqual"], tmp_path, env).stdout
    assert "auxqual init" in run([auxqual, "--help"], tmp_path, env).stdout
    run([python, "-c", "import auxqual.flows.pipeline, auxqual.flows.deploy"], tmp_path, env)
    files = write_own_data(tmp_path / "inputs")
    run([auxqual, "score", "--train", str(files["train"]), "--aux", str(files["aux"]), "--method", "rarity",
         "--out", str(tmp_path / "scores.parquet"), "--quiet"], tmp_path, env)
    scores = pd.read_parquet(tmp_path / "scores.parquet")
    assert len(scores) == len(pd.read_parquet(files["aux"])) and scores.select_dtypes("number").notna().all().all()


def venv_env(venv: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, "PATH": f"{venv / 'bin'}:{env['PATH']}", "DVC_NO_ANALYTICS": "1", "VIRTUAL_ENV": str(venv)}


@pytest.mark.slow
def test_wheel_init_then_dvc_repro_ships_a_model_with_lineage(wheel_venv, tmp_path):
    env = venv_env(wheel_venv)
    python = str(wheel_venv / "bin/python")
    where = run([python, "-c", "import auxqual, sys; print(auxqual.__file__)"], tmp_path, env).stdout
    assert str(REPO) not in where and str(wheel_venv) in where  # the wheel's auxqual, not this checkout
    files = write_own_data(tmp_path / "inputs")
    project = tmp_path / "project"
    run([str(wheel_venv / "bin/auxqual"), "init", str(project), "--train", str(files["train"]),
         "--validation", str(files["validation"]), "--aux", f"camera={files['aux']}"], tmp_path, env)
    set_params(project, FAST_PARAMS)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "fast params"], project)
    dvc = [python, "-m", "dvc"]
    run([*dvc, "repro"], project, env)

    models = [p for p in (project / "models/production").iterdir() if not p.name.endswith(".lineage.json")]
    assert len(models) == 1
    record = json.loads((project / "models/production" / (models[0].name + ".lineage.json")).read_text())
    assert record["model"]["sha256"] == sha256_file(models[0])
    used = [i for i in record["inputs"] if i["role"] == "auxiliary"]
    assert [(i["path"], i["sha256"]) for i in used] == [("data/aux/camera.parquet", sha256_file(files["aux"]))]
    selection = json.loads((project / "results/selection.json").read_text())
    assert selection["chosen"]["set"] == "camera" and selection["chosen"]["q"] == 50
    assert selection["chosen"]["detector"] == "ssdo" and selection["chosen"]["score"] in ("eap", "rarity")
    assert len(selection["alternatives"]) == 2  # q 50 x {eap, rarity} x ssdo
    assert sum(a["chosen"] for a in selection["alternatives"]) == 1
    assert selection["validation"] == {"method": "labelled", "n_normals": 50 + 57, "n_anomalies": 40,
                                       "validation_file": "data/validation.parquet"}
    evaluation = json.loads((project / "results/evaluation.json").read_text())
    assert evaluation["val_auroc"] == pytest.approx(selection["chosen"]["val_auroc"], abs=1e-12)
    assert evaluation["val_auroc_low"] <= evaluation["val_auroc"] <= evaluation["val_auroc_high"]
    scoring = json.loads((project / "results/scoring.json").read_text())
    assert scoring["fitted_rows"] == scoring["train_rows"] == 255  # under max_train_rows: every row

    answer = run([str(wheel_venv / "bin/auxqual"), "lineage", "--model", str(models[0].relative_to(project))],
                 project, env).stdout
    assert "data/aux/camera.parquet" in answer and sha256_file(files["aux"])[:12] in answer
    assert run([*dvc, "status"], project, env).stdout.strip() == "Data and pipelines are up to date."
    lock = (project / "dvc.lock").read_bytes()
    again = run([*dvc, "repro"], project, env)
    assert "Running stage" not in again.stdout
    assert (project / "dvc.lock").read_bytes() == lock

    # a column renamed in tonight's snapshot stops the run at validate, naming it; nothing changes
    model_sha = sha256_file(models[0])
    renamed = pd.read_parquet(project / "data/train.parquet").rename(columns={"mean_area": "area_mean"})
    renamed.to_parquet(project / "data/train.parquet", index=False)
    aux = pd.read_parquet(project / "data/aux/camera.parquet").rename(columns={"mean_area": "area_mean"})
    aux.to_parquet(project / "data/aux/camera.parquet", index=False)
    run([*dvc, "add", "data/train.parquet", "data/aux/camera.parquet"], project, env)
    failed = run([*dvc, "repro"], project, env, check=False)
    assert failed.returncode != 0
    errors = [line for line in failed.stderr.splitlines() if line.startswith("auxqual: error:")]
    assert len(errors) == 1 and "column 'mean_area' renamed to 'area_mean'" in errors[0], failed.stderr
    assert sha256_file(models[0]) == model_sha
    assert json.loads((project / "results/schema.json").read_text())["features"].get("mean_area") == "float"
