"""The record of each pipeline run of a project made by ``auxqual init``: ``runs/<run id>.json``.

A run of the project's flow (``auxqual run``, ``python -m auxqual.flows.pipeline --repo DIR``, or
the nightly deployment of ``auxqual schedule``) that completes writes one record and
commits it with the pipeline's state (dvc.lock, the inputs' ``.dvc`` files, params.yaml,
results/*.json), so that later runs and people find which data gave which model without
committing anything by hand:

    runs/20260102T020000Z-1a2b3c4d.json     # <UTC start yyyymmddTHHMMSSZ>-<short flow run id>

    {"schema": "auxqual.run/1", "run_id": ..., "flow_run_id": ..., "flow_run_name": ...,
     "started": "2026-01-02T02:00:00Z", "finished": ...,
     "inputs": {"train": {"path": "data/train.parquet", "sha256": ...}, "validation": null,
                "aux": {"cam": {"path": ..., "sha256": ...}}},
     "decision": {"set": "cam", "score": "eap", "q": 50.0, "detector": "ssdo", ...},
     "val_auroc": 0.98, "val_auroc_low": 0.96, "val_auroc_high": 0.99, "level": 0.95,
     "model": {"path": "models/production/model.joblib", "sha256": ...},
     "stages": [{"stage": "validate", "outcome": "ran"}, ...], "stages_ran": ["validate", ...],
     "commit": null}

``commit`` is ``null`` in the file (a file cannot name the commit that adds it):
``list_runs`` fills it from ``git log`` (the commit that added the file).

Plain library code: no Prefect and no DVC import; git runs as a subprocess in
``commit_run`` and ``list_runs`` only.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auxqual.io import sha256_file, write_json
from auxqual.project.layout import EVALUATION, RUNS_DIR, SELECTION

RUN_SCHEMA = "auxqual.run/1"
RESULTS_DIR = Path("results")
PARAMS_FILE = "params.yaml"
DVC_LOCK = "dvc.lock"
FALLBACK_IDENTITY = {"user.name": "auxqual", "user.email": "auxqual@localhost"}
_RUN_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-z]+$")
_HEX = re.compile(r"^[0-9a-f]+$")
MIN_SHA_PREFIX = 4


# --------------------------------------------------------------------------- the project's inputs
def is_project(params: Mapping[str, Any]) -> bool:
    """Whether ``params`` (a params.yaml as a dict) is a project made by ``auxqual init``.

    Parameters
    ----------
    params : Mapping
        The parsed params.yaml.

    Returns
    -------
    bool
        True when it has an ``inputs`` section (a mapping naming at least ``train``).
    """
    inputs = params.get("inputs")
    return isinstance(inputs, Mapping) and bool(inputs.get("train"))


def input_paths(params: Mapping[str, Any]) -> dict[str, str]:
    """The project's input files named in params.yaml ``inputs``, by role.

    Parameters
    ----------
    params : Mapping
        The parsed params.yaml of a project (see ``is_project``).

    Returns
    -------
    dict of str to str
        ``{"train": path, "validation": path (when given), "aux/<name>": path, ...}``, paths
        relative to the project root as params.yaml writes them, in that order.

    Raises
    ------
    ValueError
        When ``inputs`` is missing or malformed.
    """
    if not is_project(params):
        raise ValueError(f"{PARAMS_FILE}: no `inputs` section naming `train` (not a project made by `auxqual init`)")
    inputs = params["inputs"]
    aux = inputs.get("aux") or {}
    if not isinstance(aux, Mapping):
        raise ValueError(f"{PARAMS_FILE}: inputs.aux must map names to files, got {type(aux).__name__}")
    paths = {"train": str(inputs["train"])}
    if inputs.get("validation"):
        paths["validation"] = str(inputs["validation"])
    for name, path in sorted(aux.items()):
        paths[f"aux/{name}"] = str(path)
    return paths


def _hashed_inputs(root: Path, params: Mapping[str, Any]) -> dict[str, Any]:
    files = input_paths(params)

    def entry(path: str) -> dict[str, str]:
        return {"path": path, "sha256": sha256_file(root / path)}

    return {"train": entry(files["train"]),
            "validation": entry(files["validation"]) if "validation" in files else None,
            "aux": {role.split("/", 1)[1]: entry(path) for role, path in files.items() if role.startswith("aux/")}}


# --------------------------------------------------------------------------- building and writing a record
def utc_iso(moment: datetime) -> str:
    """``moment`` in UTC as ``YYYY-MM-DDTHH:MM:SSZ`` (a naive datetime is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_run_id(started: datetime, flow_run_id: str) -> str:
    """The run's id and file stem: ``<UTC yyyymmddTHHMMSSZ>-<first 8 characters of the flow run id>``.

    Parameters
    ----------
    started : datetime
        When the run started (a naive datetime is taken as UTC).
    flow_run_id : str
        The Prefect flow run id (a UUID); its dashes are dropped.

    Returns
    -------
    str
        e.g. ``20260102T020000Z-1a2b3c4d``.
    """
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    short = re.sub(r"[^0-9a-z]", "", str(flow_run_id).lower())[:8]
    if not short:
        raise ValueError(f"flow run id {flow_run_id!r}: no letters or digits to name the run with")
    return f"{started.astimezone(UTC):%Y%m%dT%H%M%SZ}-{short}"


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: cannot read {what} ({error}); did the pipeline complete?") from error
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected a JSON object ({what})")
    return value


def build_record(root: str | os.PathLike, params: Mapping[str, Any], *, flow_run_id: str, flow_run_name: str,
                 started: datetime, finished: datetime, stages: Mapping[str, str]) -> dict[str, Any]:
    """The record of a completed run, read from the project's files as they are now.

    Parameters
    ----------
    root : path-like
        The project's root folder.
    params : Mapping
        Its params.yaml as a dict (``inputs`` names the input files, hashed here).
    flow_run_id, flow_run_name : str
        The Prefect flow run's id and name.
    started, finished : datetime
        When the run started and finished (naive datetimes are taken as UTC).
    stages : Mapping of str to str
        Each stage of the pipeline and its outcome (``ran``, ``up to date``, ...), in DAG order.

    Returns
    -------
    dict
        The record (schema ``auxqual.run/1``, described in the module docstring; ``stages``
        as a list in DAG order, ``stages_ran`` the names of those that ran), with ``commit``
        None.

    Raises
    ------
    ValueError
        When an input file, results/selection.json, results/evaluation.json or the model
        it names is missing or unreadable.
    """
    root = Path(root)
    selection = _read_json(root / SELECTION, "the decision of stage select")
    evaluation = _read_json(root / EVALUATION, "the evaluation of stage evaluate")
    if "chosen" not in selection:
        raise ValueError(f"{root / SELECTION}: no `chosen` entry")
    model = str(evaluation.get("model") or "")
    if not model or not (root / model).is_file():
        raise ValueError(f"{root / EVALUATION}: names the model {model!r}, which is not a file under {root}")
    return {
        "schema": RUN_SCHEMA,
        "run_id": make_run_id(started, flow_run_id),
        "flow_run_id": str(flow_run_id),
        "flow_run_name": str(flow_run_name),
        "started": utc_iso(started),
        "finished": utc_iso(finished),
        "inputs": _hashed_inputs(root, params),
        "decision": selection["chosen"],
        "val_auroc": evaluation.get("val_auroc"),
        "val_auroc_low": evaluation.get("val_auroc_low"),
        "val_auroc_high": evaluation.get("val_auroc_high"),
        "level": evaluation.get("level"),
        "model": {"path": model, "sha256": sha256_file(root / model)},
        "stages": [{"stage": stage, "outcome": outcome} for stage, outcome in stages.items()],
        "stages_ran": [stage for stage, outcome in stages.items() if outcome == "ran"],
        "commit": None,
    }


FLOW_FIELDS = ("flow_run_id", "flow_run_name", "finished", "stages", "stages_ran", "commit")


def record_of_flow_run(root: str | os.PathLike, flow_run_id: str) -> dict[str, Any] | None:
    """The newest record under ``runs/`` that names ``flow_run_id`` (one that a stage of that
    flow run wrote, e.g. from ``AUXQUAL_FLOW_RUN_ID``), with ``record`` (its path relative to
    ``root``); None when there is none."""
    folder = Path(root) / RUNS_DIR
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        record = read_run(path)
        if str(record.get("flow_run_id") or "") == str(flow_run_id):
            found.append({**record, "record": path.relative_to(root).as_posix()})
    return sorted(found, key=_sort_key)[-1] if found else None


def complete_record(written: Mapping[str, Any], fresh: Mapping[str, Any]) -> dict[str, Any]:
    """A record a stage wrote during a flow run, completed with the flow's own record.

    Parameters
    ----------
    written : Mapping
        The record already under ``runs/`` (see ``record_of_flow_run``).
    fresh : Mapping
        The flow's record of the same run (``build_record``).

    Returns
    -------
    dict
        ``written``'s fields (its ``run_id`` and ``started`` too, so its file keeps its
        name) where they are not None, the flow's fields (``FLOW_FIELDS``: the flow
        run's id and name, ``finished``, the stages) from ``fresh``, and every other field
        of ``fresh`` that ``written`` lacks.
    """
    merged = dict(fresh)
    merged.update({key: value for key, value in written.items()
                   if key not in FLOW_FIELDS and key != "record" and value is not None})
    return merged


def record_path(root: str | os.PathLike, run_id: str) -> Path:
    """Where the record of ``run_id`` lives: ``<root>/runs/<run_id>.json``."""
    if not _RUN_ID.match(run_id):
        raise ValueError(f"run id {run_id!r}: expected <yyyymmddTHHMMSSZ>-<short flow run id>")
    return Path(root) / RUNS_DIR / f"{run_id}.json"


def write_record(root: str | os.PathLike, record: Mapping[str, Any]) -> Path:
    """Write ``record`` atomically as ``runs/<run_id>.json`` under ``root``; returns its path."""
    if record.get("schema") != RUN_SCHEMA:
        raise ValueError(f"not a run record: schema {record.get('schema')!r}, expected {RUN_SCHEMA!r}")
    path = record_path(root, str(record["run_id"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_json(dict(record), path)


def describe_decision(decision: Mapping[str, Any]) -> str:
    """``<set>/<score>/q<q>/<detector>`` (``-`` for no set or no score, q as ``50`` or ``12.5``)."""
    q = decision.get("q")
    q_text = "?" if q is None else f"{float(q):g}"
    return (f"{decision.get('set') or '-'}/{decision.get('score') or '-'}/q{q_text}/"
            f"{decision.get('detector') or '?'}")


def commit_message(record: Mapping[str, Any]) -> str:
    """``auxqual run <id>: <set>/<score>/q<q>/<detector>, val AUROC <x>``, followed by
    ``, gate <verdict>`` (and ``, not promoted``) when the record holds the gate stage's verdict."""
    auroc = record.get("val_auroc")
    auroc_text = "n/a" if auroc is None else f"{float(auroc):.4f}"
    message = f"auxqual run {record['run_id']}: {describe_decision(record['decision'])}, val AUROC {auroc_text}"
    if record.get("verdict"):
        message += f", gate {record['verdict']}" + (", not promoted" if record.get("promoted") is False else "")
    return message


def markdown_summary(record: Mapping[str, Any]) -> str:
    """The record as a short markdown page (what the flow publishes as the run's decision)."""
    decision = record["decision"]
    low, high = record.get("val_auroc_low"), record.get("val_auroc_high")
    interval = "" if low is None or high is None else f" [{low:.4f}, {high:.4f}]"
    level = record.get("level")
    level_text = "" if level is None or not interval else f" ({float(level):.0%} bootstrap interval)"
    auroc = record.get("val_auroc")
    lines = [f"# auxqual run {record['run_id']}", "",
             f"**Decision:** `{describe_decision(decision)}` (set / score / q / detector)", "",
             f"**Validation AUROC:** {'n/a' if auroc is None else f'{auroc:.4f}'}{interval}{level_text}", "",
             f"**Model:** `{record['model']['path']}` sha256 `{record['model']['sha256']}`", "",
             f"Started {record['started']}, finished {record['finished']}; stages that ran: "
             f"{', '.join(record['stages_ran']) or 'none (up to date)'}.", "",
             "| input | file | sha256 |", "| --- | --- | --- |"]
    inputs = record["inputs"]
    rows = [("train", inputs["train"])]
    if inputs.get("validation"):
        rows.append(("validation", inputs["validation"]))
    rows += [(f"aux {name}", entry) for name, entry in inputs.get("aux", {}).items()]
    lines += [f"| {role} | `{entry['path']}` | `{entry['sha256'][:16]}…` |" for role, entry in rows]
    if record.get("verdict"):
        production = record.get("production") or {}
        lines += ["", f"**Gate:** {record['verdict']} ({record.get('note') or 'no note'}); "
                      + ("the model was promoted to production." if record.get("promoted") else
                         f"NOT promoted: production keeps `{production.get('path', '-')}` sha256 "
                         f"`{str(production.get('sha256', '-'))[:16]}…`.")]
    commit = record.get("commit")
    lines += ["", f"Recorded in `{RUNS_DIR.as_posix()}/{record['run_id']}.json`"
                  + (f", git commit `{commit}`." if commit else ".")]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- git
def _git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    except FileNotFoundError as error:
        raise ValueError(f"git not found ({error.strerror}); install git to record runs") from error
    if check and done.returncode != 0:
        message = " ".join((done.stderr or done.stdout).split())[-500:]
        raise ValueError(f"`git {' '.join(args[:3])}` failed in {root}: {message}")
    return done


def is_git_repo(root: str | os.PathLike) -> bool:
    """Whether ``root`` is inside a git work tree (False also when git is not installed)."""
    try:
        done = _git(Path(root), "rev-parse", "--is-inside-work-tree", check=False)
    except ValueError:
        return False
    return done.returncode == 0 and done.stdout.strip() == "true"


def git_identity_options(root: str | os.PathLike) -> list[str]:
    """``-c user.name=auxqual -c user.email=auxqual@localhost`` for what git has no value of
    (neither in its configuration nor in ``GIT_AUTHOR_*`` / ``GIT_COMMITTER_*``); [] otherwise."""
    options: list[str] = []
    for key, fallback in FALLBACK_IDENTITY.items():
        env = key.split(".")[1].upper()  # NAME, EMAIL
        if os.environ.get(f"GIT_AUTHOR_{env}") and os.environ.get(f"GIT_COMMITTER_{env}"):
            continue
        found = _git(Path(root), "config", key, check=False)
        if found.returncode != 0 or not found.stdout.strip():
            options += ["-c", f"{key}={fallback}"]
    return options


def changed_gitignores(root: str | os.PathLike) -> list[str]:
    """The ``.gitignore`` files under ``root`` that git sees as new or modified (DVC adds
    its outputs to them)."""
    root = Path(root)
    prefix = _git(root, "rev-parse", "--show-prefix").stdout.strip()  # root below the work tree's top
    done = _git(root, "status", "--porcelain", "-z", "--untracked-files=all", "--", ".")
    paths = []
    entries = done.stdout.split("\0")
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if len(entry) < 4:
            continue
        status, path = entry[:2], entry[3:]
        if "R" in status or "C" in status:  # renamed/copied: the source path follows
            i += 1
        if Path(path).name == ".gitignore" and path.startswith(prefix):
            paths.append(path[len(prefix):])
    return sorted(set(paths))


def uncached_outputs(root: str | os.PathLike) -> list[str]:
    """The outputs that dvc.yaml (read as YAML) keeps out of DVC's cache (``cache: false``:
    results/*.json, reports/, ...): git tracks them, so a run commits them."""
    import yaml

    try:
        pipeline = yaml.safe_load((Path(root) / "dvc.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return []
    found = []
    for stage in (pipeline.get("stages") or {}).values():
        if not isinstance(stage, Mapping):
            continue
        for kind in ("outs", "metrics", "plots"):
            for entry in stage.get(kind) or []:
                if isinstance(entry, Mapping):
                    found += [str(path) for path, options in entry.items()
                              if isinstance(options, Mapping) and options.get("cache") is False]
    return found


def run_paths(root: str | os.PathLike, params: Mapping[str, Any], record_file: str | os.PathLike) -> list[str]:
    """What a run's commit holds, relative to ``root`` and existing: dvc.lock, the inputs'
    ``.dvc`` files, params.yaml, results/*.json and the other outputs dvc.yaml keeps out of
    DVC's cache (``uncached_outputs``), the record and the ``.gitignore`` files DVC
    changed."""
    root = Path(root)
    candidates = [DVC_LOCK, PARAMS_FILE, *(f"{path}.dvc" for path in input_paths(params).values()),
                  *sorted(p.relative_to(root).as_posix() for p in (root / RESULTS_DIR).glob("*.json")),
                  *uncached_outputs(root),
                  Path(record_file).resolve().relative_to(root.resolve()).as_posix(),
                  *changed_gitignores(root)]
    return [path for path in dict.fromkeys(candidates) if (root / path).exists()]


def commit_run(root: str | os.PathLike, params: Mapping[str, Any], record: Mapping[str, Any],
               record_file: str | os.PathLike) -> str:
    """``git add`` the run's files (``run_paths``) and commit exactly those.

    The commit holds only these paths (``git commit -- paths``), whatever else is staged.
    Where git has no identity, ``auxqual <auxqual@localhost>`` signs it.

    Parameters
    ----------
    root : path-like
        The project's root (a git work tree).
    params : Mapping
        Its params.yaml as a dict.
    record : Mapping
        The run's record (for the commit message, ``commit_message``).
    record_file : path-like
        The record's file, written by ``write_record``.

    Returns
    -------
    str
        The new commit's hash.

    Raises
    ------
    ValueError
        When git is missing or a git command fails (the paths are unstaged again).
    """
    root = Path(root)
    paths = run_paths(root, params, record_file)
    _git(root, "add", "--", *paths)
    done = _git(root, *git_identity_options(root), "commit", "--quiet", "-m", commit_message(record),
                "--", *paths, check=False)
    if done.returncode != 0:
        _git(root, "reset", "--quiet", "--", *paths, check=False)
        message = " ".join((done.stderr or done.stdout).split())[-500:]
        raise ValueError(f"`git commit` of run {record['run_id']} failed in {root}: {message}")
    return _git(root, "rev-parse", "HEAD").stdout.strip()


def _commits_of_records(root: Path) -> dict[str, str]:
    """``{runs/<file>: hash of the commit that added it}`` from one ``git log``."""
    if not is_git_repo(root):
        return {}
    done = _git(root, "log", "--diff-filter=A", "--name-only", "--relative", "--format=commit %H", "--",
                RUNS_DIR.as_posix(), check=False)
    if done.returncode != 0:  # e.g. a repository without commits yet
        return {}
    found: dict[str, str] = {}
    commit = None
    for line in done.stdout.splitlines():
        if line.startswith("commit "):
            commit = line.split(" ", 1)[1].strip()
        elif line.strip() and commit:
            found.setdefault(line.strip(), commit)  # newest first: a file re-added keeps its latest commit
    return found


# --------------------------------------------------------------------------- reading records
def read_run(path: str | os.PathLike) -> dict[str, Any]:
    """One record file (``ValueError`` naming it when it is unreadable or not a run record)."""
    path = Path(path)
    record = _read_json(path, "a run record")
    if record.get("schema") != RUN_SCHEMA:
        raise ValueError(f"{path}: not a run record (schema {record.get('schema')!r}, expected {RUN_SCHEMA!r})")
    return record


def _sort_key(record: Mapping[str, Any]) -> tuple[datetime, str]:
    try:
        started = datetime.fromisoformat(str(record["started"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        started = datetime.min.replace(tzinfo=UTC)
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    return started, str(record.get("run_id", ""))


def list_runs(root: str | os.PathLike = ".") -> list[dict[str, Any]]:
    """Every run record of the project at ``root``, oldest first.

    Parameters
    ----------
    root : path-like
        The project's root folder.

    Returns
    -------
    list of dict
        The records of ``runs/*.json`` sorted by start time (then run id), each with
        ``commit`` filled from ``git log`` (the commit that added its file; None when it is
        not committed) and ``record`` (its path relative to ``root``).

    Raises
    ------
    ValueError
        When a file under ``runs/`` is not a readable run record.
    """
    root = Path(root)
    folder = root / RUNS_DIR
    if not folder.is_dir():
        return []
    commits = _commits_of_records(root)
    records = []
    for path in sorted(folder.glob("*.json")):
        record = read_run(path)
        relative = path.relative_to(root).as_posix()
        record["record"] = relative
        record["commit"] = commits.get(relative) or record.get("commit")
        records.append(record)
    return sorted(records, key=_sort_key)


def find_runs(root: str | os.PathLike, model_sha256: str) -> list[dict[str, Any]]:
    """The runs (oldest first) whose production model's sha256 starts with ``model_sha256``.

    Parameters
    ----------
    root : path-like
        The project's root folder.
    model_sha256 : str
        A sha256 of the model file or a prefix of it (at least 4 hex digits, any case),
        e.g. from ``sha256sum models/production/model.joblib`` or ``auxqual lineage``.

    Returns
    -------
    list of dict
        The matching records of ``list_runs``; [] when none matches.

    Raises
    ------
    ValueError
        When ``model_sha256`` is not a hex string of 4 to 64 digits.
    """
    prefix = str(model_sha256).strip().lower()
    if not (MIN_SHA_PREFIX <= len(prefix) <= 64 and _HEX.match(prefix)):
        raise ValueError(f"model sha256 {model_sha256!r}: expected {MIN_SHA_PREFIX} to 64 hex digits")
    return [record for record in list_runs(root)
            if str(record.get("model", {}).get("sha256", "")).lower().startswith(prefix)]


def latest_run(root: str | os.PathLike = ".") -> dict[str, Any] | None:
    """The newest record of ``list_runs``, or None when the project has none."""
    records = list_runs(root)
    return records[-1] if records else None


__all__ = [
    "FLOW_FIELDS",
    "RUNS_DIR",
    "RUN_SCHEMA",
    "build_record",
    "changed_gitignores",
    "commit_message",
    "commit_run",
    "complete_record",
    "describe_decision",
    "find_runs",
    "git_identity_options",
    "input_paths",
    "is_git_repo",
    "is_project",
    "latest_run",
    "list_runs",
    "make_run_id",
    "markdown_summary",
    "read_run",
    "record_of_flow_run",
    "record_path",
    "run_paths",
    "uncached_outputs",
    "utc_iso",
    "write_record",
]
