"""``--set key=value`` of the flows: as ``dvc exp run -S``, a key that params.yaml does not
have is an error naming it (never a silently created section no stage reads); ``+key``
adds a new one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from auxqual.flows.dvcrepo import apply_overrides, check_overrides, set_nested

ROOT = Path(__file__).resolve().parents[1]
PARAMS = {"train": {"q": [0, 50], "random_state": 0, "params": {}}, "report": {"score": "eap"}}


def _params() -> dict:
    return yaml.safe_load(yaml.safe_dump(PARAMS))


@pytest.mark.parametrize(("key", "expected"), [
    ("train.randm_state", [r"--set train\.randm_state", r"no key 'randm_state' in section 'train'",
                           r"Did you mean 'random_state'\?", r"\+train\.randm_state"]),
    ("trian.q", [r"no key 'trian' in the top level", r"Did you mean 'train'\?"]),
    ("train.params.mlp.epochs", [r"no key 'mlp' in section 'train\.params'"]),
])
def test_a_key_not_in_params_yaml_is_an_error_naming_it(key, expected):
    params = _params()
    with pytest.raises(ValueError, match=r"^--set ") as error:
        set_nested(params, key, 1)
    for pattern in expected:
        assert re.search(pattern, str(error.value)), str(error.value)
    assert params == PARAMS  # nothing half-applied


def test_existing_keys_are_set_and_plus_adds_a_new_key():
    params = _params()
    set_nested(params, "train.q", [0, 10])
    set_nested(params, "+train.params.mlp.epochs", 5)
    assert params["train"]["q"] == [0, 10] and params["train"]["params"] == {"mlp": {"epochs": 5}}
    assert check_overrides(PARAMS, ["report.score=rarity", "+train.params.mlp.epochs=5"]) == {
        "report.score": "rarity", "+train.params.mlp.epochs": 5}
    with pytest.raises(ValueError, match=r"report\.scroe"):
        check_overrides(PARAMS, ["report.score=rarity", "report.scroe=density"])
    # a new key must still be one the schema knows: one line naming it and the closest valid key
    with pytest.raises(ValueError, match=r"^params\.yaml with --set \+report\.extra: unknown key 'report\.extra'"):
        check_overrides(PARAMS, ["+report.extra=1"])
    with pytest.raises(ValueError, match=r"unknown key 'train\.params\.mlp\.epoch'; did you mean "
                                         r"'train\.params\.mlp\.epochs'\?"):
        check_overrides(PARAMS, ["+train.params.mlp.epoch=5"])
    assert PARAMS["report"] == {"score": "eap"}  # check_overrides works on a copy


def test_apply_overrides_with_a_typo_leaves_params_yaml_untouched(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("# comment\n" + yaml.safe_dump(PARAMS), encoding="utf-8")
    before = path.read_bytes()
    with pytest.raises(ValueError, match=r"no key 'randm_state' in section 'train'"):
        apply_overrides(tmp_path, {"train.q": [0, 10], "train.randm_state": 1})
    assert path.read_bytes() == before
    assert apply_overrides(tmp_path, {"train.random_state": 1}) is not None
    assert yaml.safe_load(path.read_text(encoding="utf-8"))["train"]["random_state"] == 1


@pytest.mark.slow
def test_pipeline_flow_command_refuses_a_typo_before_running(tmp_path):
    """``python -m auxqual.flows.pipeline --set`` with an unknown key: exit 2, one line naming the
    key, params.yaml unchanged, no flow run started."""
    (tmp_path / ".dvc").mkdir()
    (tmp_path / "dvc.yaml").write_text("stages: {}\n", encoding="utf-8")
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(PARAMS), encoding="utf-8")
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "auxqual.flows.pipeline", "--repo", str(tmp_path),
                           "--set", "train.q=[0, 10]", "--set", "train.randm_state=1"],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "train.randm_state" in done.stderr and "Traceback" not in done.stderr
    assert params.read_text(encoding="utf-8") == yaml.safe_dump(PARAMS)
