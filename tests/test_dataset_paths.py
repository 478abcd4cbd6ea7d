"""Paths that come from params stay inside ``data.path``.

``data.datasets`` entries are ``<name>`` or ``<subfolder>/<name>`` relative to ``data.path``;
an absolute path or a ``..`` is refused with an error naming the parameter, before any file
is read. ``data.default.sources`` names embedded datasets only. The stages are run as DVC
runs them (``python -m stages.X`` in the repository folder), without DVC: the checks happen
before any work, so each run takes seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from auxqual.datasets import save_npz, split_dataset_name

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("entry", "expected"), [
    ("digits", ("", "digits")),
    ("tabular/cardio", ("tabular", "cardio")),
    ("image/resnet18/cable", ("image/resnet18", "cable")),
    ("digits/", ("", "digits")),
])
def test_split_dataset_name_accepts_names_inside_the_data_folder(entry, expected):
    assert split_dataset_name(entry) == expected


@pytest.mark.parametrize(("entry", "reason"), [
    ("../digits", "a '..' component"),
    ("one/../../digits", "a '..' component"),
    ("..", "a '..' component"),
    ("/etc/digits", "an absolute path"),
    ("C:/data/digits", "an absolute path"),
    ("one\\..\\..\\digits", "a backslash"),
    ("one//digits", "an empty name or folder"),
    ("", "an empty name or folder"),
])
def test_split_dataset_name_refuses_paths_that_leave_the_data_folder(entry, reason):
    with pytest.raises(ValueError, match=r"data\.datasets") as error:
        split_dataset_name(entry, "data.datasets")
    message = str(error.value)
    assert f"data.datasets entry {entry!r}" in message and reason in message


def _run_stage(stage: str, cwd: Path, params: dict) -> subprocess.CompletedProcess:
    (cwd / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-m", f"stages.{stage}"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def _dataset(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = np.zeros(400, dtype=np.int8)
    y[:120] = 1
    save_npz(path, rng.normal(size=(400, 3)), y)


@pytest.mark.parametrize(("entry", "reason"), [
    ("../secret", "a '..' component"),
    ("inner/../../secret", "a '..' component"),
    ("{tmp}/secret", "an absolute path"),
])
def test_prepare_refuses_a_dataset_outside_data_path(tmp_path, entry, reason):
    """A readable dataset sits next to ``data.path``; naming it through ``..`` or an
    absolute path fails with one line naming ``data.datasets``, and writes nothing."""
    (tmp_path / "inputs" / "inner").mkdir(parents=True)
    for name, seed in (("inputs/digits", 0), ("inputs/iris", 1), ("inputs/inner/x", 2), ("secret", 3)):
        _dataset(tmp_path / f"{name}.npz", seed)
    entry = entry.format(tmp=tmp_path)
    done = _run_stage("prepare", tmp_path, {"data": {"path": "inputs", "datasets": ["digits", entry]},
                                            "prepare": {"n_sources": 1, "random_state": 0}})
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
    assert errors == [f"ERROR in stage 'prepare': params.yaml: data.datasets entry {entry!r} is {reason}; "
                      "a dataset is named <name> or <subfolder>/<name>, relative to data.path"], done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("seeds", [[0, 1, 2], [5]])
def test_prepare_refuses_seeds_it_would_not_run(tmp_path, seeds):
    """``prepare.seeds`` other than the one ``random_state`` is the benchmark flow's: one
    ``dvc repro`` runs one seed, so the stage says where repeats run instead of running one."""
    (tmp_path / "inputs").mkdir()
    for name, seed in (("digits", 0), ("iris", 1)):
        _dataset(tmp_path / f"inputs/{name}.npz", seed)
    done = _run_stage("prepare", tmp_path, {"data": {"path": "inputs", "datasets": ["digits"]},
                                            "prepare": {"n_sources": 1, "random_state": 0, "seeds": seeds}})
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and f"prepare.seeds {seeds!r}: dvc repro runs one seed" in errors[0], done.stderr
    assert "python -m flows.benchmark" in errors[0] and "Traceback" not in done.stderr
    assert not (tmp_path / "data").exists()
    ok = _run_stage("prepare", tmp_path, {"data": {"path": "inputs", "datasets": ["digits"]},
                                          "prepare": {"n_sources": 1, "random_state": 0, "seeds": [0]}})
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize(("sources", "expected"), [
    (["iris", "../../escape"], "params.yaml: data.default.sources: unknown embedded dataset(s) ['../../escape']"),
    ("iris", "params.yaml: data.default.sources: Input should be a valid list (got 'iris')"),
])
def test_data_refuses_sources_that_are_not_embedded_datasets(tmp_path, sources, expected):
    done = _run_stage("data", tmp_path, {"data": {"default": {"anomaly_digit": 0, "sources": sources}}})
    assert done.returncode == 2, done.stderr
    assert f"ERROR in stage 'data': {expected}" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "data").exists() and not (tmp_path.parent / "escape.npz").exists()
