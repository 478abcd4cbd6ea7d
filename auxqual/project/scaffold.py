"""``auxqual init``: a new project for the user's own data, as ``dvc init`` or ``kedro new`` make one.

The project is built in a hidden folder beside ``DIR`` and renamed into place at the end, so
a failure (a bad input file, git or DVC missing) leaves no ``DIR`` behind. The input files are
checked first (``auxqual.userdata.load_project_data``), then copied byte for byte under
``data/`` (their sha256 is what the model's lineage names) and tracked with ``dvc add``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from string import Template

from auxqual.userdata import load_project_data

GITIGNORE_ENTRIES = {  # what `dvc repro` would add, written first so that git stays clean after a run
    "data/.gitignore": ["/generated", "/scores"],
    "models/.gitignore": ["/candidate", "/production"],
    "results/.gitignore": ["/lineage.parquet"],
}
DEFAULT_MAX_TRAIN_ROWS = 10000  # benchmarks/results/eap_sampling.md: the size closest to the whole table


def parse_aux(items: Sequence[str]) -> dict[str, str]:
    """``NAME=FILE`` items as ``{name: file}``; ``ValueError`` naming a malformed or repeated one."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, path = item.partition("=")
        name = name.strip()
        if not sep or not name or not path:
            raise ValueError(f"--aux {item!r}: expected NAME=FILE")
        if not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"--aux {item!r}: NAME may hold letters, digits, '_' and '-' only")
        if name in out:
            raise ValueError(f"--aux {name}: given twice")
        out[name] = path
    return out


def init_project(directory: str | os.PathLike, train: str | os.PathLike, *,
                 validation: str | os.PathLike | None = None, aux: Mapping[str, str] | None = None,
                 generators: Sequence[str] = (), log=print) -> Path:
    """Scaffold a project in ``directory``; returns its path. See the module docstring."""
    target = Path(directory)
    aux = dict(aux or {})
    _check_target(target)
    from auxqual.generators import GENERATOR_NAMES

    for name in generators:
        if name not in GENERATOR_NAMES or name in ("benchmark_mixture", "outlier_exposure"):
            raise ValueError(f"--generator {name!r}: expected one of "
                             f"{[g for g in GENERATOR_NAMES if g not in ('benchmark_mixture', 'outlier_exposure')]}")
        if name in aux:
            raise ValueError(f"--generator {name!r}: also the name of an --aux set; rename the set")
    load_project_data(train, validation, aux)  # every input checked before anything is written
    staging = target.absolute().parent / f".{target.name}.auxqual-init"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        files = _copy_inputs(staging, train, validation, aux)
        _write_templates(staging, files, generators)
        _track(staging, files)
        if target.exists():
            target.rmdir()  # empty (checked above)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log(f"auxqual: created {target} ({len(aux)} auxiliary set(s), {len(generators)} generator(s)); next:\n"
        f"  cd {target} && dvc repro\n"
        f"then models/production/ holds the model to ship and results/selection.json says why.")
    return target


def _check_target(target: Path) -> None:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ValueError(f"{target}: exists and is not empty; give a new folder")
    parent = target.absolute().parent
    if not parent.is_dir():
        raise ValueError(f"{target}: its parent folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{target}: cannot write in {parent} (permission denied)")


def _copy_inputs(root: Path, train: str | os.PathLike, validation: str | os.PathLike | None,
                 aux: Mapping[str, str]) -> dict[str, object]:
    """Copy every input under ``root/data``; returns the project-relative paths."""
    def copy(source: str | os.PathLike, relative: str) -> str:
        destination = root / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
        return relative

    def suffix(path: str | os.PathLike) -> str:
        return Path(path).suffix.lower()

    return {
        "train": copy(train, f"data/train{suffix(train)}"),
        "validation": None if validation is None else copy(validation, f"data/validation{suffix(validation)}"),
        "aux": {name: copy(path, f"data/aux/{name}{suffix(path)}") for name, path in sorted(aux.items())},
    }


def _template(name: str) -> Template:
    return Template(resources.files("auxqual.project").joinpath("templates", name).read_text(encoding="utf-8"))


def _write_templates(root: Path, files: dict, generators: Sequence[str]) -> None:
    aux_lines = "".join(f"    {name}: {path}\n" for name, path in files["aux"].items())
    inputs = (f"  train: {files['train']}\n"
              f"  validation: {files['validation'] or 'null'}\n"
              f"  aux:{'' if aux_lines else ' {}'}\n{aux_lines}")
    generators_yaml = ("\n" + "\n".join(f"    {g}: {{n_samples: 200, params: {{}}}}" for g in generators)
                       if generators else " {}")
    params = _template("params.yaml.tmpl").substitute(inputs=inputs.rstrip("\n"), generators=generators_yaml,
                                                      max_train_rows=DEFAULT_MAX_TRAIN_ROWS)
    paths = [files["train"], *([files["validation"]] if files["validation"] else []), *files["aux"].values()]
    deps = "\n".join(f"      - {p}" for p in paths)
    pipeline = _template("dvc.yaml.tmpl").substitute(input_deps=deps, train=files["train"])
    (root / "params.yaml").write_text(params, encoding="utf-8")
    (root / "dvc.yaml").write_text(pipeline, encoding="utf-8")
    for relative, entries in GITIGNORE_ENTRIES.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        existing = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        path.write_text("\n".join([*existing, *[e for e in entries if e not in existing]]) + "\n", encoding="utf-8")
    (root / ".gitignore").write_text("__pycache__/\n.*.partial/\n", encoding="utf-8")


def _track(root: Path, files: dict) -> None:
    """``git init``, ``dvc init``, ``dvc add`` of the inputs, and a first commit."""
    paths = [files["train"], *([files["validation"]] if files["validation"] else []), *files["aux"].values()]
    _run(root, "git", "init", "--quiet")
    _run(root, sys.executable, "-m", "dvc", "init", "--quiet")
    _run(root, sys.executable, "-m", "dvc", "add", "--quiet", *paths)
    _run(root, "git", "add", "--all")
    _run(root, "git", *_identity(root), "commit", "--quiet", "-m", "auxqual init")


def _identity(root: Path) -> list[str]:
    """A fallback author for the first commit where git has none configured."""
    found = subprocess.run(["git", "config", "user.email"], cwd=root, capture_output=True, text=True)
    if found.returncode == 0 and found.stdout.strip():
        return []
    return ["-c", "user.name=auxqual", "-c", "user.email=auxqual@localhost"]


def _run(root: Path, *command: str) -> None:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    try:
        done = subprocess.run(list(command), cwd=root, capture_output=True, text=True, env=env)
    except FileNotFoundError as error:
        raise ValueError(f"auxqual init: {command[0]} not found ({error.strerror}); install it") from error
    if done.returncode != 0:
        message = " ".join((done.stderr or done.stdout).split())[-400:]
        raise ValueError(f"auxqual init: `{' '.join(command[:4])}` failed: {message}")
