"""One typed schema for ``params.yaml`` (``auxqual.params``) and one ``KEY=VALUE`` parser.

A typo in any section stops ``dvc repro`` at its first stage, exit 2, with one line naming
the key and the closest valid key; the estimators' parameters are checked against their
constructors; paths stay inside their folder; ``--set`` (the flows) and ``--param`` (the CLI)
read a value the same way; the generated names and the params reference are current.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from auxqual.params.benchmark import BenchmarkParams, load_benchmark_params, parse_benchmark_params
from auxqual.params.values import parse_assignments, parse_value

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))

# one typo per section: (key added next to the valid ones, its value, the line the stage prints)
TYPOS = [
    ("data.datasest", ["digits"], "unknown key 'data.datasest'; did you mean 'data.datasets'?"),
    ("prepare.random_stat", 1, "unknown key 'prepare.random_stat'; did you mean 'prepare.random_state'?"),
    ("generate.params.unifrom", {"p": 0.1},
     "unknown key 'generate.params.unifrom'; did you mean 'generate.params.uniform'?"),
    ("score.scroes", ["eap"], "unknown key 'score.scroes'; did you mean 'score.scores'?"),
    ("train.detector", ["ssdo"], "unknown key 'train.detector'; did you mean 'train.detectors'?"),
    ("select.validation_fractoin", 0.3,
     "unknown key 'select.validation_fractoin'; did you mean 'select.validation_fraction'?"),
    ("compare.alpah", 0.01, "unknown key 'compare.alpah'; did you mean 'compare.alpha'?"),
    ("report.scor", "eap", "unknown key 'report.scor'; did you mean 'report.score'?"),
    ("fanout.worker", 2, "unknown key 'fanout.worker'; did you mean 'fanout.workers'?"),
    ("schedule.corn", "0 3 * * *", "unknown key 'schedule.corn'; did you mean 'schedule.cron'?"),
]


def with_key(params: dict, key: str, value) -> dict:
    """A copy of ``params`` with the dotted ``key`` set (sections created as needed)."""
    out = copy.deepcopy(params)
    node = out
    *parents, leaf = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return out


def problem(params: dict) -> str:
    with pytest.raises(ValueError, match=r"^params\.yaml: ") as error:
        parse_benchmark_params(params)
    return str(error.value)


# --------------------------------------------------------------------------- the schema
@pytest.mark.parametrize("path", ["params.yaml", *sorted(p.relative_to(ROOT).as_posix()
                                                         for p in (ROOT / "params").glob("*.yaml"))])
def test_every_params_file_of_the_repository_passes(path):
    params, raw = load_benchmark_params(ROOT / path)
    assert isinstance(params, BenchmarkParams) and raw == yaml.safe_load((ROOT / path).read_text())


@pytest.mark.parametrize(("key", "value", "line"), TYPOS, ids=[t[0].split(".")[0] for t in TYPOS])
def test_a_typo_in_any_section_is_one_line_naming_the_key_and_the_closest(key, value, line):
    assert problem(with_key(PARAMS, key, value)) == f"params.yaml: {line}"


@pytest.mark.parametrize(("key", "value", "line"), [
    # the probe findings
    ("score.param", {"eap": {}}, "unknown key 'score.param'; did you mean 'score.params'?"),
    ("train.random_stat", 1, "unknown key 'train.random_stat'; did you mean 'train.random_state'?"),
    ("prepare.random_state", "abc", "prepare.random_state: Input should be a valid integer (got 'abc')"),
    ("select.generator", "../../prepared/digits/train",
     "select.generator entry '../../prepared/digits/train' is a '..' component"),
    ("select.generator", "/etc", "select.generator entry '/etc' is an absolute path"),
    ("data.datasets", ["../secret"], "data.datasets entry '../secret' is a '..' component"),
    # estimators' names and parameters, against the registries and the constructors
    ("score.params.eapp", {}, "unknown key 'score.params.eapp'; did you mean 'score.params.eap'?"),
    ("score.params.eap", {"n_subsetz": 3},
     "unknown key 'score.params.eap.n_subsetz'; did you mean 'score.params.eap.n_subsets'?"),
    ("score.scores", ["eap", "rarty"], "score.scores: unknown score 'rarty'; did you mean 'rarity'?"),
    ("generate.params.uniform", {"pp": 0.1},
     "unknown key 'generate.params.uniform.pp'; did you mean 'generate.params.uniform.p'?"),
    ("train.params", {"mlp": {"epoch": 5}}, "unknown key 'train.params.mlp.epoch'; did you mean "
                                            "'train.params.mlp.epochs'?"),
    ("select.candidates", {"ssdo": {"kk": [5]}},
     "unknown key 'select.candidates.ssdo.kk'; did you mean 'select.candidates.ssdo.k'?"),
    ("prepare.protocol", {"test_fracton": 0.4},
     "unknown key 'prepare.protocol.test_fracton'; did you mean 'prepare.protocol.test_fraction'?"),
    # types and ranges
    ("prepare.random_state", True, "prepare.random_state: Input should be a valid integer (got True)"),
    ("select.q", "50", "select.q: Input should be a valid integer (got '50')"),   # no union tag in the key
    ("train.q", [0, 120], "train.q must be integer percentages in [0, 100], got [0, 120]"),
    ("compare.alpha", 1.5, "compare.alpha: Input should be less than 1 (got 1.5)"),
    ("fanout.runner", "threads", "fanout.runner: Input should be 'serial', 'process', 'prefect' or 'dask'"),
    ("select.generator", "cluster", "select.generator: unknown generator (not in generate.generators) 'cluster'"),
])
def test_bad_values_names_and_paths_are_one_line_naming_the_key(key, value, line):
    message = problem(with_key(PARAMS, key, value))
    assert message.startswith(f"params.yaml: {line}"), message
    assert "\n" not in message


def test_defaults_live_in_the_schema_and_are_what_a_stage_reads():
    params = parse_benchmark_params({})
    assert (params.prepare.n_sources, params.prepare.max_train_normals, params.prepare.random_state) == (5, 1000, 0)
    assert params.fanout.runner == "serial" and params.select.generator in params.generate.generators
    assert parse_benchmark_params(PARAMS).score.params["eap"] == {"n_subsets": 100, "random_state": 331}


# --------------------------------------------------------------------------- one KEY=VALUE parser
VALUES = [("10", 10), ("-3", -3), ("0.5", 0.5), ("1e-3", 0.001), ("true", True), ("null", None), ("", ""),
          ("[0, 50]", [0, 50]), ("{k: [5, 10]}", {"k": [5, 10]}), ("borderline-2", "borderline-2"),
          ("auto", "auto"), ("'10'", "10")]


@pytest.mark.parametrize(("text", "expected"), VALUES, ids=[repr(t) for t, _ in VALUES])
def test_set_and_the_cli_parse_a_value_the_same_way(text, expected):
    from auxqual.cli.generate import parse_params
    from auxqual.cli.score import _parse_param
    from auxqual.flows.dvcrepo import parse_overrides

    item = f"key={text}"
    assert parse_value(text) == expected and type(parse_value(text)) is type(expected)
    answers = {"--set": parse_overrides([item])["key"], "generate --param": parse_params([item])["key"],
               "score --param": _parse_param(item)[1], "parse_assignments": parse_assignments([item])["key"]}
    assert all(answer == expected and type(answer) is type(expected) for answer in answers.values()), answers


def test_a_malformed_assignment_is_one_line_naming_the_flag():
    from auxqual.cli.generate import parse_params
    from auxqual.flows.dvcrepo import parse_overrides

    with pytest.raises(ValueError, match=r"^--param 'alpha': expected KEY=VALUE"):
        parse_params(["alpha"])
    with pytest.raises(ValueError, match=r"^--set train\.q: '\[0, 50' is not a valid YAML value"):
        parse_overrides(["train.q=[0, 50"])


def test_set_is_checked_against_the_schema_before_any_run():
    from auxqual.flows.dvcrepo import check_overrides

    assert check_overrides(PARAMS, ["train.q=[0, 50]", "score.params.eap.n_subsets=10"]) == {
        "train.q": [0, 50], "score.params.eap.n_subsets": 10}
    with pytest.raises(ValueError, match=r"^params\.yaml with --set train\.q: train\.q: Input should be a valid list"):
        check_overrides(PARAMS, ["train.q=abc"])
    with pytest.raises(ValueError, match=r"unknown key 'score\.params\.eap\.n_subsetz'; did you mean "
                                         r"'score\.params\.eap\.n_subsets'\?"):
        check_overrides(PARAMS, ["+score.params.eap.n_subsetz=10"])
    with pytest.raises(ValueError, match=r"unknown key 'score\.scroes'"):   # the file itself, no override
        check_overrides(with_key(PARAMS, "score.scroes", ["eap"]), [])


def test_the_benchmark_flow_refuses_a_params_file_with_a_typo(tmp_path):
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(with_key(PARAMS, "train.random_stat", 1)), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "flows.benchmark", "--folder", str(tmp_path), "--params", str(path),
                           "--out", str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (f"error: --params {path}: unknown key 'train.random_stat'; "
                                   "did you mean 'train.random_state'?")
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- dvc repro
@pytest.fixture(scope="module")
def dvc_repo(tmp_path_factory) -> Path:
    """A DVC repository holding the pipeline (dvc.yaml, stages/, auxqual/), never run."""
    repo = tmp_path_factory.mktemp("typo-repo")
    subprocess.run([str(BIN / "dvc"), "init", "-q", "--no-scm"], cwd=repo, env=_env(), check=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".*.partial")
    for name in ("dvc.yaml", ".dvcignore"):
        shutil.copy2(ROOT / name, repo / name)
    for package in ("stages", "auxqual"):
        shutil.copytree(ROOT / package, repo / package, ignore=ignore)
    return repo


def _env() -> dict[str, str]:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONDONTWRITEBYTECODE": "1",
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}   # `python` in dvc.yaml = this interpreter
    env.pop("PYTHONPATH", None)
    return env


@pytest.mark.slow
@pytest.mark.parametrize(("key", "value", "line"), TYPOS, ids=[t[0].split(".")[0] for t in TYPOS])
def test_a_typo_in_any_section_stops_dvc_repro_at_its_first_stage(dvc_repo, key, value, line):
    (dvc_repo / "params.yaml").write_text(yaml.safe_dump(with_key(PARAMS, key, value), sort_keys=False))
    done = subprocess.run([str(BIN / "dvc"), "repro"], cwd=dvc_repo, env=_env(), capture_output=True, text=True,
                          timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert re.findall(r"Running stage '([^']+)'", output) == ["data"], output
    assert [x for x in output.splitlines() if x.startswith("ERROR in stage")] == [
        f"ERROR in stage 'data': params.yaml: {line}"], output
    assert "Traceback" not in output and not (dvc_repo / "data" / "default").exists()


# --------------------------------------------------------------------------- generated files
def test_the_generated_names_and_params_reference_are_current():
    """``auxqual/params/names.py`` equals the registries and ``docs/reference/params.md`` the
    schemas; otherwise run ``python scripts/params_table.py``."""
    done = subprocess.run([sys.executable, "scripts/params_table.py", "--check"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr


STAGES = sorted(p.stem for p in (ROOT / "stages").glob("*.py") if p.stem not in ("__init__", "common", "fanout"))


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_checks_the_whole_params_file_before_its_work(stage):
    """``main`` of each stage reads the params through the schema (``load_params`` or
    ``load_params_and_file``) within its first three statements, before any input is read, so
    a typo anywhere stops whichever stage ``dvc repro`` runs first."""
    import ast

    tree = ast.parse((ROOT / "stages" / f"{stage}.py").read_text(encoding="utf-8"))
    main = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "main")
    first = [ast.unparse(statement) for statement in main.body[:3]]
    assert any(re.search(r"\bload_params(_and_file)?\(\)", text) for text in first), first
    assert "import yaml" not in (ROOT / "stages" / f"{stage}.py").read_text(encoding="utf-8")   # no reader of its own


def test_the_schemas_choices_are_the_code_s():
    """The runners and weightings the schema accepts are those ``stages.fanout`` and
    ``auxqual.selection`` know (the schema keeps them as literals so that reading it is cheap)."""
    import typing

    from auxqual.params.benchmark import Fanout, Select
    from auxqual.selection import WEIGHTINGS
    from stages.fanout import RUNNERS

    assert typing.get_args(Fanout.model_fields["runner"].annotation) == RUNNERS
    assert typing.get_args(Select.model_fields["weighting"].annotation) == WEIGHTINGS


def test_set_on_a_project_is_checked_against_the_project_s_schema():
    """A project made by ``auxqual init`` (it has ``inputs``) is checked with its own schema,
    on the same machinery: the same one-line problem naming the key and the closest."""
    from auxqual.flows.dvcrepo import check_overrides

    project = {"inputs": {"train": "data/train.parquet"}, "score": {"scores": ["eap"], "params": {}}}
    assert check_overrides(project, ["score.scores=[eap, rarity]"]) == {"score.scores": ["eap", "rarity"]}
    with pytest.raises(ValueError, match=r"^params\.yaml with --set \+score\.scroes: unknown key 'score\.scroes'; "
                                         r"did you mean 'score\.scores'\?$"):
        check_overrides(project, ["+score.scroes=[eap]"])
    with pytest.raises(ValueError, match=r"unknown key 'score\.params\.eap\.n_subsetz'; did you mean "
                                         r"'score\.params\.eap\.n_subsets'\?"):
        check_overrides(project, ["+score.params.eap={n_subsetz: 5}"])
