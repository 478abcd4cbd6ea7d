"""The ``auxqual`` command answers at once: its help and ``lineage`` import none of torch,
prefect or dvc (checked in ``sys.modules`` of a fresh interpreter, not timed), the names
its help lists are the registries' names, and no help text says its default twice."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from auxqual.cli import build_parser, main
from auxqual.cli.help import DETECTOR_NAMES, GENERATOR_NAMES, SCORE_NAMES, WEIGHTINGS

HEAVY = ("torch", "prefect", "dvc")
PROBE = f"""import sys
sys.argv = ['auxqual', *sys.argv[1:]]
from auxqual.cli import main
try:
    code = main()
except SystemExit as exited:
    code = exited.code
print('HEAVY', sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})), 'EXIT', code, file=sys.stderr)
"""
SUBCOMMANDS = sorted(build_parser()._subparsers._group_actions[0].choices)  # argparse has no public API


def _heavy_imports(args: list[str], cwd) -> tuple[str, str]:
    """``(heavy modules, exit code)`` of ``auxqual ARGS`` in a fresh interpreter."""
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)
    line = next(line for line in done.stderr.splitlines() if line.startswith("HEAVY"))
    heavy, code = re.fullmatch(r"HEAVY (\[.*\]) EXIT (\S+)", line).groups()
    return heavy, code


@pytest.fixture(scope="module")
def lineage_repo(tmp_path_factory):
    """A folder with one model file and its lineage sidecar (the model's bytes do not matter
    to lineage), so that ``auxqual lineage --model`` has something to answer."""
    from auxqual import lineage

    root = tmp_path_factory.mktemp("lineage")
    for name, data in (("train.parquet", b"train"), ("aux.parquet", b"aux"), ("models/m/q20.joblib", b"model")):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    record = lineage.LineageRecord(
        model_path="models/m/q20.joblib", created_by={"stage": "train", "detector": "ssdo", "detector_params": {}},
        inputs=[{"role": "train", "path": "train.parquet", "sha256": lineage.sha256_file(root / "train.parquet")},
                {"role": "auxiliary", "path": "aux.parquet", "sha256": lineage.sha256_file(root / "aux.parquet"),
                 "generator": "local", "score": "eap", "q": 20, "n_rows": 3, "selected_rows_sha256": "ab" * 32}],
        params={"train": {"q": [0, 20]}}, dataset="toy")
    lineage.write_sidecar(root / "models/m/q20.joblib", record)
    return root


@pytest.mark.parametrize("args", [["--help"], *([name, "--help"] for name in SUBCOMMANDS),
                                  ["lineage", "--model", "models/m/q20.joblib"], ["lineage"]],
                         ids=lambda args: " ".join(args))
def test_help_and_lineage_import_no_torch_prefect_or_dvc(args, lineage_repo):
    heavy, code = _heavy_imports(args, lineage_repo)
    assert code in ("0", "None"), f"auxqual {' '.join(args)} exited {code}"
    assert heavy == "[]", f"auxqual {' '.join(args)} imported {heavy}"


def test_the_names_in_the_help_are_the_registries_names():
    from auxqual import generators, selection
    from auxqual.quality import scorer_names

    assert scorer_names() == SCORE_NAMES
    assert GENERATOR_NAMES == generators.GENERATOR_NAMES
    assert WEIGHTINGS == selection.WEIGHTINGS
    from auxqual.detectors import registry

    assert DETECTOR_NAMES == registry.DETECTOR_NAMES


@pytest.mark.parametrize("command", ["", *SUBCOMMANDS])
def test_no_help_text_says_its_default_twice_or_says_none(command, capsys):
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"] if command else ["--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())   # argparse wraps lines anywhere
    assert "(default: None)" not in text and "(default: False)" not in text and "(default: [])" not in text
    doubled = re.findall(r"\(default[^)]*\) \(default[^)]*\)", text)
    assert not doubled, doubled
