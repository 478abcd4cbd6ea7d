"""The plumbing between the flows and a DVC repository: run ``dvc``, read its DAG and
status, apply ``key=value`` overrides to params.yaml, copy the pipeline elsewhere.

Plain Python (no Prefect, no DVC import): ``dvc`` runs as a subprocess, exactly as a
person would run it, so a flow does nothing that ``dvc repro`` by hand would not.
"""

from __future__ import annotations

import graphlib
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from auxqual.params.schema import read_yaml
from auxqual.params.values import parse_assignments

PARAMS_FILE = "params.yaml"
LOCK_MESSAGE = "Unable to acquire lock"  # dvc/lock.py FAILED_TO_LOCK_MESSAGE
PIPELINE_FILES = ("dvc.yaml", ".dvcignore")
PIPELINE_DIRS = ("stages", "auxqual")


class RepoBusyError(RuntimeError):
    """Another DVC process holds the repository lock; retrying later may succeed."""


class DvcCommandError(RuntimeError):
    """A ``dvc`` command failed for another reason (a stage failed, bad params, ...)."""


@dataclass
class DvcResult:
    args: list[str]
    returncode: int
    output: str
    seconds: float = 0.0
    ran: list[str] = field(default_factory=list)       # stages whose command ran
    restored: list[str] = field(default_factory=list)  # stages restored from DVC's run cache
    skipped: list[str] = field(default_factory=list)   # stages that did not change


# --------------------------------------------------------------------------- running dvc
def dvc_executable() -> str:
    """``dvc`` beside this interpreter (the project's environment), else the one on PATH."""
    here = Path(sys.executable).parent / "dvc"
    return str(here) if here.exists() else "dvc"


def dvc_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a ``dvc`` subprocess: ``python`` in dvc.yaml is this interpreter."""
    env = os.environ.copy()
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("DVC_NO_ANALYTICS", "1")
    env.update({k: str(v) for k, v in (extra or {}).items() if v is not None})
    return env


def run_dvc(repo: Path, *args: str, env: Mapping[str, str] | None = None,
            on_line: Callable[[str], None] | None = None, timeout: float | None = None) -> DvcResult:
    """Run ``dvc <args>`` in ``repo``; stream each output line to ``on_line``.

    Raises ``RepoBusyError`` when DVC could not take the repository lock and
    ``DvcCommandError`` (with the ``ERROR`` lines of the output) on any other failure.
    """
    import time

    command = [dvc_executable(), *args]
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=repo, env=dvc_env(env), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, bufsize=1)
    lines: list[str] = []
    assert process.stdout is not None
    try:
        for line in process.stdout:
            line = line.rstrip("\n")
            lines.append(line)
            if on_line is not None:
                on_line(line)
        code = process.wait(timeout=timeout)
    except BaseException:
        process.kill()
        process.wait()
        raise
    output = "\n".join(lines)
    result = DvcResult(args=list(args), returncode=code, output=output, seconds=time.perf_counter() - start,
                       ran=re.findall(r"Running stage '([^']+)'", output),
                       restored=re.findall(r"Stage '([^']+)' is cached - skipping run", output),
                       skipped=re.findall(r"Stage '([^']+)' didn't change, skipping", output))
    if code != 0:
        where = f"dvc {' '.join(args)} in {repo}"
        if LOCK_MESSAGE in output:
            raise RepoBusyError(f"{where}: repository busy (another DVC process holds its lock): "
                                f"{error_lines(output)}")
        raise DvcCommandError(f"{where} failed with exit code {code}: {error_lines(output)}")
    return result


def error_lines(output: str, limit: int = 6) -> str:
    """The lines that say why a dvc command failed (the stage's own ``ERROR in stage`` or
    ``auxqual: error:`` line first), or the last lines of the output."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("ERROR", "auxqual: error:")) or "Error:" in line
              or "Unable to acquire" in line]  # "auxqual: error:": the cause, from an `auxqual stage` command
    chosen = errors or lines[-limit:]
    return " | ".join(chosen[:limit])


# --------------------------------------------------------------------------- DAG and status
def stage_order(repo: Path, env: Mapping[str, str] | None = None) -> tuple[list[str], dict[str, set[str]]]:
    """The stages in an order DVC can run them (ties broken by dvc.yaml order) and the
    edges ``{stage: upstream stages}``, from ``dvc dag --dot``."""
    dot = run_dvc(repo, "dag", "--dot", env=env).output
    return parse_dag_dot(dot)


def parse_dag_dot(dot: str) -> tuple[list[str], dict[str, set[str]]]:
    nodes: list[str] = []
    upstream: dict[str, set[str]] = {}
    for line in dot.splitlines():
        edge = re.match(r'\s*"([^"]+)"\s*->\s*"([^"]+)"', line)
        if edge:
            source, target = edge.groups()
            for name in (source, target):
                if name not in upstream:
                    nodes.append(name)
                    upstream[name] = set()
            upstream[target].add(source)
            continue
        node = re.match(r'\s*"([^"]+)"\s*;', line)
        if node and node.group(1) not in upstream:
            nodes.append(node.group(1))
            upstream[node.group(1)] = set()
    position = {name: index for index, name in enumerate(nodes)}
    sorter = graphlib.TopologicalSorter(upstream)
    sorter.prepare()
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=position.__getitem__)
        order.extend(ready)
        sorter.done(*ready)
    return order, upstream


def pipeline_status(repo: Path, env: Mapping[str, str] | None = None) -> dict[str, list]:
    """``dvc status --json``: ``{stage: [changes]}`` for the stages that changed themselves
    (their command, dependencies, params or outputs); {} when everything is up to date."""
    output = run_dvc(repo, "status", "--json", env=env).output
    start = output.find("{")
    return json.loads(output[start:]) if start >= 0 else {}


def stage_key(name: str) -> str:
    """``dvc.yaml:train`` -> ``train`` (dvc status names stages of other files so)."""
    return name.split(":")[-1]


def affected_stages(order: Sequence[str], upstream: Mapping[str, set[str]], changed: Iterable[str]) -> list[str]:
    """The stages that changed and every stage downstream of one, in ``order``."""
    hit = {stage_key(name) for name in changed}
    for stage in order:
        if upstream.get(stage, set()) & hit:
            hit.add(stage)
    return [stage for stage in order if stage in hit]


def describe_changes(changes: list) -> str:
    """One line from a stage's ``dvc status`` entries, e.g.
    ``params.yaml: train modified; deps modified: stages/train.py; outs deleted: models``."""
    parts: list[str] = []
    grouped: dict[str, list[str]] = {}
    for change in changes:
        if isinstance(change, str):
            parts.append(change)
            continue
        for kind, detail in change.items():
            label = kind.replace("changed ", "")
            if not isinstance(detail, Mapping):
                parts.append(kind if detail in (None, "", True) else f"{kind}: {detail}")
                continue
            for path, what in detail.items():
                if isinstance(what, Mapping):  # a params file: {section: change}
                    parts.extend(f"{path}: {key} {value}" for key, value in what.items())
                else:
                    grouped.setdefault(f"{label} {what}", []).append(str(path))
    parts.extend(f"{group}: {', '.join(paths)}" for group, paths in grouped.items())
    return "; ".join(parts) or "changed"


# --------------------------------------------------------------------------- params
def parse_overrides(items: Iterable[str] | Mapping[str, Any] | None) -> dict[str, Any]:
    """``["train.q=[0, 50]", "score.params.eap.n_subsets=10"]`` -> ``{"train.q": [0, 50], ...}``
    (values parsed as YAML, as ``dvc exp run -S`` does, by the one ``KEY=VALUE`` parser
    ``auxqual.params.values.parse_assignments`` that ``auxqual score --param`` uses too). A key
    written ``+section.key`` adds a key that params.yaml does not have yet (see ``set_nested``)."""
    return parse_assignments(items, "--set")


def set_nested(params: dict, key: str, value: Any, *, create: bool = False) -> None:
    """Set the dotted ``key`` (``train.q``) of ``params`` to ``value``.

    As ``dvc exp run -S`` does, the key must already be in params.yaml: a typo
    (``train.randm_state``) is a ``ValueError`` naming the key, the section and its keys,
    never a new section that no stage reads. ``+train.new_key`` (DVC's and Hydra's syntax)
    or ``create=True`` adds a key that is not there yet."""
    create = create or key.startswith("+")
    name = key.lstrip("+")
    node = params
    *parents, leaf = name.split(".")
    for depth, part in enumerate(parents):
        if part not in node:
            if not create:
                raise _missing_key(name, parents[:depth], part, node)
            node[part] = {}
        if not isinstance(node[part], dict):
            raise ValueError(f"--set {name}: {'.'.join(parents[:depth + 1])!r} is not a section of params.yaml")
        node = node[part]
    if leaf not in node and not create:
        raise _missing_key(name, parents, leaf, node)
    node[leaf] = value


def _missing_key(key: str, parents: Sequence[str], part: str, node: Mapping) -> ValueError:
    """The error for ``--set key`` whose ``part`` is not in the section ``parents``."""
    import difflib

    where = f"section {'.'.join(parents)!r}" if parents else "the top level"
    close = difflib.get_close_matches(part, [str(k) for k in node], n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ValueError(f"--set {key}: params.yaml has no key {part!r} in {where} (it has: "
                      f"{', '.join(str(k) for k in node) or 'nothing'}).{hint} To add a new key, "
                      f"write --set +{key}=...")


def check_overrides(params: Mapping[str, Any], overrides: Iterable[str] | Mapping[str, Any] | None) -> dict[str, Any]:
    """Parse ``overrides``, check that each one names a key of ``params`` and that the params
    with them pass the schema (a copy is changed, ``params`` is not), so a typo or a bad value
    fails before any run starts; returns the parsed overrides."""
    import copy

    values = parse_overrides(overrides)
    trial = copy.deepcopy(dict(params))
    for key, value in values.items():
        set_nested(trial, key, value)
    where = f"{PARAMS_FILE} with --set {', '.join(values)}" if values else PARAMS_FILE
    check_params(trial, where)
    return values


def check_params(params: Mapping[str, Any], where: str = PARAMS_FILE) -> Any:
    """``params`` checked against its schema: a project's made by ``auxqual init`` (it has an
    ``inputs`` section) or the benchmark's; the first problem is one ``ValueError`` line
    ``<where>: ...`` naming the key (and, for an unknown key, the closest valid one)."""
    from auxqual.project.runs import is_project

    if is_project(params):
        from auxqual.project.params import parse_project_params

        return parse_project_params(dict(params), where)
    from auxqual.params.benchmark import parse_benchmark_params

    return parse_benchmark_params(dict(params), where)


def apply_overrides(repo: Path, overrides: Mapping[str, Any]) -> str | None:
    """Write ``overrides`` into ``repo``/params.yaml (comments kept where ruamel.yaml, a DVC
    dependency, is present) and return the previous text; ``None`` when nothing changed."""
    if not overrides:
        return None
    path = repo / PARAMS_FILE
    before = path.read_text(encoding="utf-8")
    try:
        from ruamel.yaml import YAML
    except ImportError:  # pragma: no cover - ruamel.yaml comes with dvc
        params = yaml.safe_load(before) or {}
        for key, value in overrides.items():
            set_nested(params, key, value)
        text = yaml.safe_dump(params, sort_keys=False)
    else:
        rt = YAML()
        rt.preserve_quotes = True
        params = rt.load(before) or {}
        for key, value in overrides.items():
            set_nested(params, key, _flow_style(value))
        buffer = io.StringIO()
        rt.dump(params, buffer)
        text = buffer.getvalue()
    if text == before:
        return None
    tmp = path.with_name(f".{path.name}.flow.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return before


def _flow_style(value: Any) -> Any:
    """Lists and mappings from --set are written inline (``[0, 50]``), as a person would."""
    if isinstance(value, (list, dict)):
        from ruamel.yaml.comments import CommentedMap, CommentedSeq

        if isinstance(value, list):
            seq = CommentedSeq([_flow_style(v) for v in value])
            seq.fa.set_flow_style()
            return seq
        mapping = CommentedMap({k: _flow_style(v) for k, v in value.items()})
        mapping.fa.set_flow_style()
        return mapping
    return value


def restore_params(repo: Path, text: str | None) -> None:
    if text is None:
        return
    path = repo / PARAMS_FILE
    tmp = path.with_name(f".{path.name}.flow.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def load_params(repo: Path) -> dict:
    """``repo``/params.yaml as a dict, read as every params file is (``auxqual.params.schema.read_yaml``);
    a missing or unreadable file is a ``ValueError`` naming it. ``check_params`` checks it."""
    return read_yaml(Path(repo) / PARAMS_FILE)


# --------------------------------------------------------------------------- repositories
def check_repo(repo: str | os.PathLike) -> Path:
    """The absolute path of a DVC repository holding the pipeline, or ``ValueError``."""
    path = Path(repo).expanduser().resolve()
    if not (path / "dvc.yaml").is_file():
        raise ValueError(f"{path}: no dvc.yaml here (--repo must be the root of an auxqual pipeline)")
    if not (path / ".dvc").is_dir():
        raise ValueError(f"{path}: not a DVC repository (run `dvc init` there first)")
    if not (path / PARAMS_FILE).is_file():
        raise ValueError(f"{path}: no {PARAMS_FILE}")
    return path


def repo_slug(repo: Path) -> str:
    """A short, stable name for a repository path (for concurrency-limit names)."""
    digest = hashlib.sha256(str(repo).encode("utf-8")).hexdigest()[:10]
    name = re.sub(r"[^a-z0-9]+", "-", repo.name.lower()).strip("-")[:30] or "repo"
    return f"{name}-{digest}"


def copy_pipeline(source: Path, target: Path, params: Mapping[str, Any], *, git: bool = False,
                  env: Mapping[str, str] | None = None) -> Path:
    """A fresh DVC repository at ``target`` holding ``source``'s pipeline (dvc.yaml,
    .dvcignore, stages/, auxqual/) and ``params`` as its params.yaml.

    numba's on-disk caches of the compiled kernels (``__pycache__/*.nbi``, ``*.nbc``) travel
    with the sources: ``copy2`` keeps the modification times a cache is checked against, so
    the copy's stages do not compile again (about half a minute per copy). Python byte-code
    does not; DVC ignores ``__pycache__/`` (.dvcignore), so neither changes a stage's hash."""
    target.mkdir(parents=True, exist_ok=True)
    if git:
        subprocess.run(["git", "init", "-q"], cwd=target, check=True)
    run_dvc(target, "init", "-q", *(() if git else ("--no-scm",)), env=env)
    ignore = shutil.ignore_patterns("*.pyc", ".*.partial")
    for name in PIPELINE_FILES:
        if (source / name).exists():
            shutil.copy2(source / name, target / name)
    for name in PIPELINE_DIRS:
        shutil.copytree(source / name, target / name, ignore=ignore, dirs_exist_ok=True)
    (target / PARAMS_FILE).write_text(yaml.safe_dump(dict(params), sort_keys=False), encoding="utf-8")
    return target
