"""One model's audit card: Markdown, JSON and a self-contained HTML page.

``write_card`` reads a model file, its lineage sidecar (``auxqual.lineage``) and,
where they exist, the files a project made by ``auxqual init`` writes around it, and says in
one place what the model is and how it came to be shipped:

- the model: path, sha256 re-hashed and compared with the sidecar's (a mismatch is stated
  loudly), detector and parameters, code hash, auxqual version, the git commit that holds the
  sidecar (else the run record's, else ``uncommitted``) and a date;
- the training data snapshot: hash, rows, columns (each input file re-hashed too);
- every auxiliary set: source (generator or file), hash, rows, its quality summary (mean,
  median, q10, q90 per score; the share of rows at EAP's prior where ``eap_std`` exists) and
  a figure of its score distributions (``data/scores/<set>.parquet`` of a project,
  ``data/scores/<dataset>/<generator>.parquet`` of the benchmark pipeline);
- the selection (``results/selection.json``): score, q, detector, every alternative's
  validation AUROC, as a table and a figure;
- downstream AUROC: validation with its interval (``results/evaluation.json``, or the run
  record of this model), test where the benchmark's ``data/predictions/<dataset>.parquet`` has it;
- the gate (``results/gate.json``): its verdict, every gated metric, and a figure of each
  over the last N run records (``runs/*.json``), or "no gate record".

What does not apply (a benchmark model has no selection record, validation AUROC or gate) is
marked not available, with the reason. The JSON follows the JSON Schema shipped as
``auxqual/schemas/model_card.schema.json`` (draft 2020-12), patterned on the Hugging Face
model card's ``model-index`` and the Model Card Toolkit's sections (``model_details``,
``model_parameters``, ``quantitative_analysis``, ``considerations``). Figures are PNG drawn
with matplotlib's Agg canvas and inlined in the HTML as base64: the page loads nothing else.

Pure library code: no DVC or Prefect; git runs as a subprocess (``git log``) only.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import subprocess
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auxqual import lineage
from auxqual.io import sha256_file, write_json, write_text
from auxqual.project.layout import EVALUATION, GATE_RECORD, RUNS_DIR, SCHEMA_RECORD, SCORES_DIR, SELECTION
from auxqual.project.runs import list_runs

CARD_SCHEMA = "auxqual.card/1"
SCHEMA_FILE = "model_card.schema.json"
DEFAULT_STEM = Path("reports/card")
FORMATS = ("md", "json", "html")
PREDICTIONS_DIR = Path("data/predictions")
SCORE_META = ("row", "dataset", "generator", "aux_id", "kind")   # key columns of a scores table
NOT_FEATURES = ("y", *SCORE_META)
QUANTILES = {"q10": 0.1, "median": 0.5, "q90": 0.9}
MAX_BARS = 40           # alternatives drawn in the selection figure (all are in the table)
DPI = 100
LEVEL_COLORS = {"pass": "#2b8a3e", "warn": "#e8590c", "fail": "#c92a2a"}
NEUTRAL = "#868e96"
ACCENT = "#1c7ed6"
NO_GATE = "no gate record"
SHORT = 12


# =========================================================================== public API
def write_card(model_path: str | os.PathLike, root: str | os.PathLike = ".",
               out: str | os.PathLike | None = None, last: int = 10) -> dict[str, Path]:
    """Write the audit card of ``model_path`` as Markdown, JSON and HTML.

    Parameters
    ----------
    model_path : path-like
        The model file (its sidecar ``<model>.lineage.json`` beside it). A relative path is
        taken under ``root`` first, then under the current folder.
    root : path-like
        The project's (or the benchmark repository's) root: the sidecar's paths and the
        ``results/``, ``data/`` and ``runs/`` files are read relative to it.
    out : path-like, optional
        The cards' stem (``reports/card`` → ``reports/card.md``, ``.json``, ``.html``), one of
        the three files, or an existing folder (``<folder>/card.*``). Default
        ``<root>/reports/card.{md,json,html}``.
    last : int
        How many of the newest run records the gate's history figure shows.

    Returns
    -------
    dict of str to Path
        The written files by format: ``md``, ``json``, ``html``.

    Raises
    ------
    ValueError
        One line naming the file: the model or its sidecar missing or unreadable, a
        results file or run record unreadable, ``last`` below 1.
    """
    card, figures = build_card(model_path, root=root, last=last)
    check_card(card)
    paths = card_paths(root, out)
    write_json(card, paths["json"])
    write_text(render_markdown(card, html_name=paths["html"].name), paths["md"])
    write_text(render_html(card, figures), paths["html"])
    return paths


def card_paths(root: str | os.PathLike = ".", out: str | os.PathLike | None = None) -> dict[str, Path]:
    """Where ``write_card`` writes, by format (see its ``out`` parameter).

    Parameters
    ----------
    root : path-like
        The root the default stem ``reports/card`` is under.
    out : path-like, optional
        A stem, one of the three files, or an existing folder.

    Returns
    -------
    dict of str to Path
        ``{"md": ..., "json": ..., "html": ...}``.
    """
    if out is None:
        stem = Path(root) / DEFAULT_STEM
    else:
        stem = Path(out)
        if stem.is_dir():
            stem = stem / DEFAULT_STEM.name
        elif stem.suffix.lower().lstrip(".") in FORMATS:
            stem = stem.with_suffix("")
    return {fmt: stem.with_name(f"{stem.name}.{fmt}") for fmt in FORMATS}


def card_schema() -> dict[str, Any]:
    """The JSON Schema of the card's JSON (``auxqual/schemas/model_card.schema.json``).

    Returns
    -------
    dict
        The schema (draft 2020-12).
    """
    text = resources.files("auxqual.schemas").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def check_card(card: Mapping[str, Any]) -> None:
    """Check ``card`` against ``card_schema`` (skipped when ``jsonschema`` is not installed).

    Parameters
    ----------
    card : Mapping
        A card of ``build_card``.

    Raises
    ------
    ValueError
        When the card does not follow the schema (a bug: the card and its schema disagree).
    """
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - installed with prefect
        return
    validator = jsonschema.Draft202012Validator(card_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(card))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top)"
        raise ValueError(f"auxqual/schemas/{SCHEMA_FILE}: the card does not follow it at {where}: {error.message}")


def build_card(model_path: str | os.PathLike, root: str | os.PathLike = ".",
               last: int = 10) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The card of ``model_path`` as a JSON-ready dict, and its figures as PNG bytes by name.

    Parameters
    ----------
    model_path, root, last
        As for ``write_card``.

    Returns
    -------
    card : dict
        The card (schema ``auxqual.card/1``; ``card_schema``).
    figures : dict of str to bytes
        PNG images named as in ``card["quantitative_analysis"]["graphics"]``.

    Raises
    ------
    ValueError
        As for ``write_card``.
    """
    if int(last) < 1:
        raise ValueError(f"--last {last}: expected a number of runs >= 1")
    root = Path(root)
    model = resolve_model(model_path, root)
    record = lineage.read_sidecar(model)
    actual = sha256_file(model)
    kind = "project" if is_project_model(record) else "benchmark"
    runs = read_runs(root)
    mine = [r for r in runs if _get(r, "model", "sha256") == actual]
    details = model_details(model, record, actual, root, mine)
    sets, frames = auxiliary_sets(record, root)
    selection = selection_section(record, root, kind, sets)
    downstream = downstream_section(record, root, kind, actual, mine)
    gate = gate_section(root, actual, runs[-int(last):])
    figures = _figures(frames, sets, selection, gate)
    card = {
        "schema": CARD_SCHEMA,
        "kind": kind,
        "model_details": details,
        "model_parameters": {"model_architecture": record.created_by["detector"],
                             "detector_params": _plain(record.created_by.get("detector_params") or {}),
                             "data": {"train": train_section(record, root),
                                      "validation": validation_input(record, root),
                                      "auxiliary_sets": sets,
                                      "snapshot_sha256": record.params.get("data_snapshot_sha256")},
                             "selection": selection},
        "quantitative_analysis": {"downstream": downstream,
                                  "performance_metrics": performance_metrics(downstream),
                                  "graphics": {"collection": [{"name": n, "description": describe_figure(n)}
                                                              for n in figures]}},
        "gate": gate,
        "model-index": model_index(details, record, downstream),
    }
    card["considerations"] = considerations(card)
    return _plain(card), figures


# =========================================================================== reading
def resolve_model(model_path: str | os.PathLike, root: Path) -> Path:
    """The model file: a relative path under ``root`` first, else under the current folder.

    Raises
    ------
    ValueError
        When it is not a file.
    """
    path = Path(model_path)
    if not path.is_absolute() and (root / path).exists():
        path = root / path
    if path.name.endswith(lineage.SIDECAR_SUFFIX):
        raise ValueError(f"{path}: a lineage sidecar, not a model; pass the model file it describes")
    if not path.is_file():
        raise ValueError(f"{path}: model file not found")
    return path


def is_project_model(record: lineage.LineageRecord) -> bool:
    """Whether the sidecar is a production project's (``auxqual init``), not a benchmark cell's."""
    return record.dataset == "production" or "data_snapshot_sha256" in record.params


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from ``path``; None when the file does not exist.

    Raises
    ------
    ValueError
        Naming the file when it is unreadable or not a JSON object.
    """
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: unreadable ({error})") from error
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return value


def _mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a mapping (a JSON object), else an empty one: records may lack a section."""
    return value if isinstance(value, Mapping) else {}


def read_runs(root: Path) -> list[dict[str, Any]]:
    """The project's run records, oldest first (``auxqual.project.runs.list_runs``).

    Raises
    ------
    ValueError
        Naming a record that is unreadable.
    """
    return list_runs(root)


def _display(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` (POSIX) when it is under it, else as given."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _get(mapping: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(key)
    return mapping


def file_status(root: Path, path: str, sha256: str | None) -> str:
    """``ok``, ``changed`` or ``missing``: the file at ``root/path`` against its recorded hash."""
    file = root / path
    if not file.is_file():
        return "missing"
    return "ok" if sha256 is None or sha256_file(file) == sha256 else "changed"


# =========================================================================== model details
def model_details(model: Path, record: lineage.LineageRecord, actual: str, root: Path,
                  runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The model section: path, hashes (re-hashed against the sidecar), detector, code, commit, date."""
    sidecar = lineage.sidecar_path(model)
    recorded = record.model_sha256
    commit, commit_source, commit_date, commit_note = _commit(sidecar, runs)
    date, date_source = _date(model, commit_date, runs)
    return {
        "name": model.name,
        "path": _display(model, root),
        "recorded_path": record.model_path,
        "sidecar": _display(sidecar, root),
        "sha256": actual,
        "recorded_sha256": recorded,
        "integrity": "unrecorded" if recorded is None else ("ok" if recorded == actual else "mismatch"),
        "dataset": record.dataset,
        "detector": record.created_by["detector"],
        "stage": record.created_by.get("stage"),
        "version": {"auxqual": record.created_by.get("auxqual_version"), "code_sha256": record.code_sha256},
        "commit": commit or "uncommitted",
        "commit_source": commit_source,
        "commit_note": commit_note,
        "date": date,
        "date_source": date_source,
        "runs": [r.get("run_id") for r in runs if r.get("run_id")],
    }


def _git(folder: Path, *args: str) -> str | None:
    """``git ARGS`` run in ``folder``: its stdout, or None when git is missing or fails."""
    try:
        done = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _commit(sidecar: Path, runs: Sequence[Mapping[str, Any]]) -> tuple[str | None, str | None, str | None, str | None]:
    """(commit, source, commit date, note): ``git log -1`` of the sidecar, else the newest
    run record of this model that git holds."""
    found = (_git(sidecar.parent, "log", "-1", "--format=%H %cI", "--", sidecar.name) or "").split()
    if len(found) == 2:
        changed = _git(sidecar.parent, "status", "--porcelain", "--", sidecar.name)
        note = "the sidecar was modified after this commit" if changed else None
        return found[0], "git log of the sidecar", found[1], note
    for run in reversed(runs):
        if run.get("commit"):
            return str(run["commit"]), f"run record {run.get('record') or run.get('run_id')}", None, \
                "the model file is not in git (a DVC output); this commit holds the run that made it"
    return None, None, None, None


def _date(model: Path, commit_date: str | None, runs: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """The model's date and where it comes from: the commit, the first run that made it, the file."""
    if commit_date:
        return commit_date, "commit"
    started = [r.get("started") for r in runs if r.get("started")]
    if started:
        return str(started[0]), "run record"
    stamp = datetime.fromtimestamp(model.stat().st_mtime, tz=UTC).replace(microsecond=0)
    return stamp.isoformat().replace("+00:00", "Z"), "file modification time"


# =========================================================================== data
def train_section(record: lineage.LineageRecord, root: Path) -> dict[str, Any]:
    """The training data snapshot: path, hash (and whether the file still has it), rows, columns."""
    entry = next((i for i in record.inputs if i["role"] == lineage.ROLE_TRAIN), None)
    if entry is None:
        return {"available": False, "reason": "the sidecar names no training input"}
    status = file_status(root, entry["path"], entry["sha256"])
    rows, columns = _table_shape(root / entry["path"]) if status == "ok" else (None, None)
    schema = read_json(root / SCHEMA_RECORD) or {}
    described = _mapping(schema.get("train"))
    rows = entry.get("n_rows", rows)
    same = described.get("rows") == rows and status == "ok"
    if columns is None and same:
        columns = [c for c in described.get("columns") or [] if c not in NOT_FEATURES] or None
    return {"available": True, "path": entry["path"], "sha256": entry["sha256"], "status": status, "rows": rows,
            "n_columns": None if columns is None else len(columns), "columns": columns,
            "normals": described.get("normals") if same else None,
            "anomalies": described.get("anomalies") if same else None,
            "fit_rows_sha256": entry.get("fit_rows_sha256")}


def validation_input(record: lineage.LineageRecord, root: Path) -> dict[str, Any] | None:
    """The validation table named in the sidecar (a project's), with its status; None without one."""
    entry = next((i for i in record.inputs if i["role"] == "validation"), None)
    if entry is None:
        return None
    return {"path": entry["path"], "sha256": entry["sha256"],
            "status": file_status(root, entry["path"], entry["sha256"])}


def _table_shape(path: Path) -> tuple[int | None, list[str] | None]:
    """Rows and feature columns of a Parquet file from its metadata (None, None for another format)."""
    if path.suffix.lower() != ".parquet":
        return None, None
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except Exception as error:  # pyarrow raises several types for a bad file
        raise ValueError(f"{path}: unreadable Parquet file ({error})") from error
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    return int(meta.num_rows), [n for n in names if n not in NOT_FEATURES and not n.startswith("__index")]


def auxiliary_sets(record: lineage.LineageRecord, root: Path) -> tuple[list[dict[str, Any]], dict[str, pd.DataFrame]]:
    """Every auxiliary set the sidecar names (used or only considered) and their score tables by name."""
    sets, frames = [], {}
    for entry in record.inputs:
        if entry["role"] not in (lineage.ROLE_AUXILIARY, "considered"):
            continue
        name = str(entry.get("set") or entry.get("generator") or Path(entry["path"]).stem)
        frame, scores_file = _scores(root, name, entry.get("dataset") or record.dataset)
        sets.append(_set_entry(entry, name, root, frame, scores_file))
        if frame is not None and sets[-1]["quality"]["available"]:
            frames[name] = frame
    return sets, frames


def _set_entry(entry: Mapping[str, Any], name: str, root: Path, frame: pd.DataFrame | None,
               scores_file: Path | None) -> dict[str, Any]:
    used = entry["role"] == lineage.ROLE_AUXILIARY
    status = file_status(root, entry["path"], entry["sha256"])
    rows = entry.get("n_set_rows")
    if rows is None and frame is not None:
        rows = len(frame)
    selected = None
    if used:
        selected = {"score": entry.get("score"), "q": entry.get("q"), "n_rows": entry.get("n_rows"),
                    "selected_rows_sha256": entry.get("selected_rows_sha256")}
    return {"name": name, "role": "used" if used else "considered", "source": entry.get("generator") or "file",
            "path": entry["path"], "sha256": entry["sha256"], "status": status, "rows": rows,
            "selected": selected, "quality": quality(frame, scores_file) if status == "ok" else
            {"available": False, "reason": f"the set file is {status} since the model was trained, so its scores "
                                           "cannot be tied to the set the model saw"}}


def _scores(root: Path, name: str, dataset: str | None) -> tuple[pd.DataFrame | None, Path | None]:
    """The set's scores table: ``data/scores/<set>.parquet`` (a project) or
    ``data/scores/<dataset>/<set>.parquet`` (the benchmark pipeline)."""
    candidates = [SCORES_DIR / f"{name}.parquet"]
    if dataset:
        candidates.insert(0, SCORES_DIR / dataset / f"{name}.parquet")
    for relative in candidates:
        path = root / relative
        if path.is_file():
            try:
                return pd.read_parquet(path), relative
            except Exception as error:  # pyarrow raises several types for a bad file
                raise ValueError(f"{path}: unreadable scores table ({error})") from error
    return None, None


def score_columns(frame: pd.DataFrame) -> list[str]:
    """The quality-score columns of a scores table (numeric; not keys, not ``*_std``)."""
    return [c for c in frame.columns if c not in SCORE_META and not str(c).endswith("_std")
            and pd.api.types.is_numeric_dtype(frame[c])]


def quality(frame: pd.DataFrame | None, scores_file: Path | None) -> dict[str, Any]:
    """A set's quality summary: per score mean, median, q10, q90; the share at EAP's prior."""
    if frame is None or scores_file is None:
        return {"available": False, "reason": "no scores table under data/scores/ for this set"}
    summary = {}
    for column in score_columns(frame):
        values = frame[column].to_numpy(dtype=np.float64)
        values = values[np.isfinite(values)]
        if values.size:
            summary[column] = {"mean": float(values.mean()),
                               **{k: float(np.quantile(values, q)) for k, q in QUANTILES.items()}}
    share = None
    if "eap_std" in frame.columns:
        share = float(np.mean(frame["eap_std"].to_numpy(dtype=np.float64) <= 0.0))
    return {"available": True, "file": scores_file.as_posix(), "rows": len(frame), "scores": summary,
            "share_at_prior": share, "figure": None}


# =========================================================================== selection
def selection_section(record: lineage.LineageRecord, root: Path, kind: str,
                      sets: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The decision: what the sidecar says was chosen, and every alternative from ``results/selection.json``."""
    used = next((s for s in sets if s["role"] == "used"), None)
    chosen = {"set": None if used is None else used["name"],
              "score": None if used is None else used["selected"]["score"],
              "q": 0.0 if used is None else used["selected"]["q"],
              "detector": record.created_by["detector"], "val_auroc": None}
    base: dict[str, Any] = {"chosen": chosen, "source": None, "matches_model": None, "validation": None,
                            "alternatives": [], "figure": None}
    if kind != "project":
        return {**base, "available": False,
                "reason": "a benchmark model: its set, score and q are one cell of the grid, not a selection"}
    selection = read_json(root / SELECTION)
    if selection is None:
        return {**base, "available": False, "reason": f"{SELECTION.as_posix()} not found"}
    recorded = selection.get("chosen") or {}
    matches = _same_decision(chosen, recorded)
    if matches:
        chosen["val_auroc"] = recorded.get("val_auroc")
    return {**base, "available": True, "source": SELECTION.as_posix(), "matches_model": matches,
            "validation": selection.get("validation"), "alternatives": _alternatives(selection),
            "figure": "selection"}


def _same_decision(chosen: Mapping[str, Any], recorded: Mapping[str, Any]) -> bool:
    """Whether the selection record's choice is the one the model's sidecar names."""
    if (recorded.get("detector") != chosen["detector"]) or (recorded.get("set") or None) != chosen["set"]:
        return False
    if chosen["set"] is None:
        return True
    return recorded.get("score") == chosen["score"] and _close(recorded.get("q"), chosen["q"])


def _close(a: Any, b: Any) -> bool:
    try:
        return math.isclose(float(a), float(b))
    except (TypeError, ValueError):
        return False


def _alternatives(selection: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = selection.get("alternatives") or []
    keys = ("set", "score", "q", "detector", "val_auroc")
    return [{**{k: row.get(k) for k in keys}, "chosen": bool(row.get("chosen"))}
            for row in rows if isinstance(row, Mapping)]


def candidate_label(row: Mapping[str, Any]) -> str:
    """``set / score / q / detector`` (``-`` for no set or score)."""
    q = row.get("q")
    q_text = "?" if q is None else f"{float(q):g}"
    return f"{row.get('set') or '-'} / {row.get('score') or '-'} / q{q_text} / {row.get('detector') or '?'}"


# =========================================================================== downstream AUROC
def downstream_section(record: lineage.LineageRecord, root: Path, kind: str, actual: str,
                       runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Validation AUROC with its interval, and test AUROC where a test set exists."""
    if kind == "project":
        return {"validation": _project_validation(root, actual, runs), "test": _project_test(root, actual)}
    return {"validation": {"available": False,
                           "reason": "a benchmark model is judged on its test split"},
            "test": _benchmark_test(record, root)}


def _project_validation(root: Path, actual: str, runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    evaluation = read_json(root / EVALUATION)
    if evaluation is not None and evaluation.get("model_sha256") == actual and evaluation.get("val_auroc") is not None:
        return _auroc(evaluation, EVALUATION.as_posix())
    run = next((r for r in reversed(runs) if r.get("val_auroc") is not None), None)
    if run is not None:
        return _auroc(run, f"run record {run.get('record') or run.get('run_id')}")
    why = (f"{EVALUATION.as_posix()} not found" if evaluation is None else
           f"{EVALUATION.as_posix()} is of another model (sha256 {str(evaluation.get('model_sha256'))[:SHORT]}…)")
    return {"available": False, "reason": f"{why}, and no run record names this model"}


def _auroc(source: Mapping[str, Any], where: str) -> dict[str, Any]:
    validation = _mapping(source.get("validation"))
    return {"available": True, "value": source.get("val_auroc"), "low": source.get("val_auroc_low"),
            "high": source.get("val_auroc_high"), "level": source.get("level"), "source": where,
            "method": validation.get("method"), "n_normals": validation.get("n_normals"),
            "n_anomalies": validation.get("n_anomalies")}


def _project_test(root: Path, actual: str) -> dict[str, Any]:
    evaluation = read_json(root / EVALUATION) or {}
    if evaluation.get("model_sha256") == actual and evaluation.get("test_auroc") is not None:
        return {"available": True, "value": evaluation["test_auroc"], "low": evaluation.get("test_auroc_low"),
                "high": evaluation.get("test_auroc_high"), "level": evaluation.get("level"),
                "source": EVALUATION.as_posix()}
    return {"available": False, "reason": "the project has no labelled test set"}


def _benchmark_test(record: lineage.LineageRecord, root: Path) -> dict[str, Any]:
    """The test AUROC of the train stage's recorded decisions (``data/predictions/<dataset>.parquet``)."""
    used = next((i for i in record.inputs if i["role"] == lineage.ROLE_AUXILIARY), None)
    relative = PREDICTIONS_DIR / f"{record.dataset}.parquet"
    path = root / relative
    if used is None or not record.dataset or not path.is_file():
        return {"available": False, "reason": f"{relative.as_posix()} not found"}
    try:
        frame = pd.read_parquet(path)
    except Exception as error:  # pyarrow raises several types for a bad file
        raise ValueError(f"{path}: unreadable predictions table ({error})") from error
    keys = {"generator": used.get("generator"), "score": used.get("score"),
            "detector": record.created_by["detector"], "q": used.get("q")}
    rows = frame
    for key, value in keys.items():
        if key not in rows.columns:
            return {"available": False, "reason": f"{relative.as_posix()}: no column {key!r}"}
        rows = rows[np.isclose(rows[key], float(value))] if key == "q" else rows[rows[key] == value]
    if rows.empty or rows["y"].nunique() < 2:
        return {"available": False, "reason": f"{relative.as_posix()}: no test decisions of this model"}
    from sklearn.metrics import roc_auc_score

    value = float(roc_auc_score(rows["y"].to_numpy(), rows["decision"].to_numpy()))
    return {"available": True, "value": value, "low": None, "high": None, "level": None,
            "source": relative.as_posix(), "n_rows": len(rows)}


def performance_metrics(downstream: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The Model Card Toolkit's ``performance_metrics``: one entry per available AUROC."""
    out = []
    for split, entry in downstream.items():
        if not entry.get("available"):
            continue
        interval = None
        if entry.get("low") is not None and entry.get("high") is not None:
            interval = {"lower_bound": entry["low"], "upper_bound": entry["high"], "level": entry.get("level")}
        out.append({"type": "roc_auc", "name": f"{split} AUROC", "slice": split, "value": entry["value"],
                    "confidence_interval": interval, "source": entry.get("source")})
    return out


def model_index(details: Mapping[str, Any], record: lineage.LineageRecord,
                downstream: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Hugging Face's ``model-index``: the model's results (task, dataset, metrics)."""
    train = next((i["path"] for i in record.inputs if i["role"] == lineage.ROLE_TRAIN), None)
    results = []
    for split, entry in downstream.items():
        if entry.get("available"):
            results.append({"task": {"type": "anomaly-detection", "name": "Anomaly detection"},
                            "dataset": {"type": record.dataset or "unknown", "name": train or "unknown",
                                        "split": split},
                            "metrics": [{"type": "roc_auc", "name": f"{split} AUROC", "value": entry["value"]}]})
    return [{"name": details["path"], "results": results}]


# =========================================================================== gate
def gate_section(root: Path, actual: str, runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The gate's verdict on the last run, its metrics, and their history over ``runs``."""
    record = read_json(root / GATE_RECORD)
    if record is None:
        return {"available": False, "reason": f"{GATE_RECORD.as_posix()} not found"}
    if record.get("verdict") not in LEVEL_COLORS:
        raise ValueError(f"{root / GATE_RECORD}: verdict {record.get('verdict')!r} is not one of {list(LEVEL_COLORS)}")
    candidate = _get(record, "candidate", "sha256")
    metrics = [_gate_metric(m) for m in record.get("metrics") or [] if isinstance(m, Mapping)]
    odd = [m["name"] for m in metrics if m["level"] not in LEVEL_COLORS]
    if odd:
        raise ValueError(f"{root / GATE_RECORD}: metric(s) {odd} have a level that is not one of {list(LEVEL_COLORS)}")
    return {"available": True, "source": GATE_RECORD.as_posix(), "verdict": str(record["verdict"]),
            "note": record.get("note"), "run_id": record.get("run_id"), "baseline_run": record.get("baseline_run"),
            "promoted": record.get("promoted"), "candidate_sha256": candidate,
            "judged": "unknown" if candidate is None else ("this model" if candidate == actual else
                                                           "another candidate"),
            "metrics": metrics, "history": gate_history(metrics, runs)}


def _gate_metric(metric: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("name", "set", "value", "last_good", "change", "threshold", "level")
    return {k: metric.get(k) for k in keys}


def gate_history(metrics: Sequence[Mapping[str, Any]], runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Every numeric gated metric over ``runs`` (the latest run's metrics on a first run)."""
    if not runs:
        return {"available": False, "reason": f"no run records under {RUNS_DIR.as_posix()}/", "runs": [],
                "series": [], "figure": None}
    keys = [(m["name"], m["set"]) for m in metrics if _number(m.get("value")) is not None]
    if not keys:
        keys = _metric_keys(runs[-1].get("metrics"))
    series: list[dict[str, Any]] = [
        {"name": name, "set": set_name, "values": [_run_value(r, name, set_name) for r in runs],
         "levels": [_run_level(r, name, set_name) for r in runs]} for name, set_name in keys]
    series = [s for s in series if any(v is not None for v in s["values"])]
    listed = [{"run_id": r.get("run_id"), "started": r.get("started"), "verdict": r.get("verdict"),
               "promoted": r.get("promoted"), "model_sha256": _get(r, "model", "sha256")} for r in runs]
    return {"available": bool(series), "reason": None if series else "the run records hold no gated metrics",
            "runs": listed, "series": series, "figure": "gate-history" if series else None}


def _metric_keys(metrics: Any) -> list[tuple[str, str | None]]:
    """The gate's metric names of a run record's ``metrics`` (as ``auxqual.gate`` names them)."""
    if not isinstance(metrics, Mapping):
        return []
    keys: list[tuple[str, str | None]] = []
    for set_name, summary in sorted((metrics.get("sets") or {}).items()):
        for score in sorted((summary or {}).get("scores") or {}):
            keys += [(f"{score}.mean", set_name), (f"{score}.median", set_name)]
        keys += [(k, set_name) for k in ("share_at_prior", "eap_std_mean", "kept_share") if k in summary]
    if metrics.get("val_auroc") is not None:
        keys.append(("val_auroc", None))
    return keys


def _run_value(run: Mapping[str, Any], name: str, set_name: str | None) -> float | None:
    """The value of one gated metric in one run record (its ``metrics``, else its ``gate`` list)."""
    metrics = _mapping(run.get("metrics"))
    value = None
    if set_name is None:
        value = metrics.get(name, run.get(name))
    else:
        summary = _get(metrics, "sets", set_name) or {}
        score, _, stat = name.rpartition(".")
        value = _get(summary, "scores", score, stat) if score else summary.get(name)
    if _number(value) is None:
        entry = _gate_entry(run, name, set_name)
        value = None if entry is None else entry.get("value")
    return _number(value)


def _run_level(run: Mapping[str, Any], name: str, set_name: str | None) -> str | None:
    entry = _gate_entry(run, name, set_name)
    return None if entry is None else entry.get("level")


def _gate_entry(run: Mapping[str, Any], name: str, set_name: str | None) -> Mapping[str, Any] | None:
    for entry in run.get("gate") or []:
        if isinstance(entry, Mapping) and entry.get("name") == name and entry.get("set") == set_name:
            return entry
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# =========================================================================== considerations
def considerations(card: Mapping[str, Any]) -> dict[str, Any]:
    """Warnings (hash mismatches, stale records, a failed gate), what is not available, and limitations."""
    return {"warnings": _warnings(card), "not_available": _not_available(card),
            "limitations": ["The validation AUROC is measured on one validation set; its interval is a bootstrap "
                            "over that set's rows, not over other data.",
                            "Quality scores rank auxiliary anomalies within a set; their values are not "
                            "comparable across scores."]}


def _warnings(card: Mapping[str, Any]) -> list[str]:
    details = card["model_details"]
    out = []
    if details["integrity"] == "mismatch":
        out.append(f"MODEL FILE CHANGED: {details['path']} has sha256 {details['sha256']}, but its lineage "
                   f"sidecar records {details['recorded_sha256']}; this is not the model the lineage describes")
    data = card["model_parameters"]["data"]
    for entry in [data["train"], data["validation"], *data["auxiliary_sets"]]:
        if entry and entry.get("status") in ("changed", "missing"):
            out.append(f"input {entry['path']} is {entry['status']} since the model was trained "
                       f"(recorded sha256 {entry['sha256']})")
    selection = card["model_parameters"]["selection"]
    if selection.get("matches_model") is False:
        out.append(f"{selection['source']} chose another candidate than this model's (a later run's decision, "
                   "not promoted?); its alternatives are shown as recorded")
    gate = card["gate"]
    if gate.get("available") and gate["verdict"] == "fail":
        out.append(f"the gate's verdict on run {gate.get('run_id')} is FAIL: {gate.get('note')}")
    if gate.get("available") and gate.get("judged") == "another candidate":
        out.append(f"the gate judged candidate {str(gate['candidate_sha256'])[:SHORT]}…, not this model")
    return out


def _not_available(card: Mapping[str, Any]) -> list[dict[str, str]]:
    sections = {"selection": card["model_parameters"]["selection"],
                "validation AUROC": card["quantitative_analysis"]["downstream"]["validation"],
                "test AUROC": card["quantitative_analysis"]["downstream"]["test"],
                "gate": card["gate"]}
    for entry in card["model_parameters"]["data"]["auxiliary_sets"]:
        sections[f"quality of {entry['name']}"] = entry["quality"]
    return [{"section": name, "reason": str(entry["reason"])} for name, entry in sections.items()
            if not entry.get("available")]


def _plain(value: Any) -> Any:
    """``value`` as JSON types (NumPy scalars unwrapped, NaN and inf as None)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# =========================================================================== figures
def _figure_name(kind: str, name: str) -> str:
    return f"{kind}-{name}"


def describe_figure(name: str) -> str:
    """A figure's description (its alt text), from its name."""
    if name.startswith("quality-"):
        return f"score distributions of auxiliary set {name[len('quality-'):]}"
    return {"selection": "validation AUROC of every candidate of the selection",
            "gate-history": "each gated metric over the last run records"}.get(name, name)


def _figures(frames: Mapping[str, pd.DataFrame], sets: Sequence[dict[str, Any]], selection: dict[str, Any],
             gate: Mapping[str, Any]) -> dict[str, bytes]:
    figures = {}
    for entry in sets:
        frame = frames.get(entry["name"])
        if frame is not None and entry["quality"].get("available") and score_columns(frame):
            entry["quality"]["figure"] = _figure_name("quality", entry["name"])
            figures[entry["quality"]["figure"]] = score_figure(entry["name"], frame, entry["quality"])
    if selection.get("available") and selection["alternatives"]:
        figures["selection"] = selection_figure(selection["alternatives"])
    else:
        selection["figure"] = None
    history = gate.get("history") or {}
    if history.get("available"):
        figures["gate-history"] = gate_figure(history["series"], history["runs"], gate.get("metrics") or [])
    return figures


def _new_figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI)  # margins set by _margins (no layout engine: faster)
    FigureCanvasAgg(figure)
    return figure


def _margins(figure: Any, *, left: float = 0.7, right: float = 0.25, top: float = 0.55, bottom: float = 0.6,
             hspace: float = 0.6, wspace: float = 0.25) -> None:
    """Fixed margins in inches (``hspace`` / ``wspace``: fractions of a panel)."""
    width, height = figure.get_size_inches()
    figure.subplots_adjust(left=left / width, right=1 - right / width, top=1 - top / height,
                           bottom=bottom / height, hspace=hspace, wspace=wspace)


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def score_figure(name: str, frame: pd.DataFrame, summary: Mapping[str, Any]) -> bytes:
    """Histograms of each quality score of one set, with its mean, median, q10 and q90 marked."""
    columns = score_columns(frame)
    ncols = min(3, len(columns))
    nrows = math.ceil(len(columns) / ncols)
    figure = _new_figure(11, 2.4 * nrows + 0.6)
    axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
    _margins(figure, top=0.75, bottom=0.55, hspace=0.7, wspace=0.22)
    for ax, column in zip(axes, columns, strict=False):  # the grid may have more panels than scores
        values = frame[column].to_numpy(dtype=np.float64)
        ax.hist(values[np.isfinite(values)], bins=30, color=ACCENT, alpha=0.75)
        stats = summary["scores"].get(column, {})
        for key, style in (("mean", "-"), ("median", "--"), ("q10", ":"), ("q90", ":")):
            if key in stats:
                ax.axvline(stats[key], color="#212529", linestyle=style, linewidth=1)
        ax.set_title(column, fontsize=10)
        ax.set_xlabel("score (higher = better auxiliary anomaly)", fontsize=9)
        ax.set_ylabel("rows", fontsize=9)
        ax.tick_params(labelsize=9)
    for ax in axes[len(columns):]:
        ax.set_visible(False)
    figure.suptitle(f"Auxiliary set {name}: quality score distributions ({len(frame)} rows)\n"
                    "solid: mean, dashed: median, dotted: q10 and q90", fontsize=10)
    return _png(figure)


def selection_figure(alternatives: Sequence[Mapping[str, Any]]) -> bytes:
    """Horizontal bars: every candidate's validation AUROC, best first, the chosen one highlighted."""
    rows = sorted((a for a in alternatives if _number(a.get("val_auroc")) is not None),
                  key=lambda a: -float(a["val_auroc"]))
    shown = rows[:MAX_BARS]
    figure = _new_figure(11, 1.1 + 0.28 * max(len(shown), 2))
    ax = figure.subplots()
    longest = max((len(candidate_label(a)) for a in shown), default=10) + 10
    _margins(figure, left=0.25 + 0.075 * longest, right=0.8, top=0.4, bottom=0.55)
    values = np.array([float(a["val_auroc"]) for a in shown])
    colors = [LEVEL_COLORS["pass"] if a.get("chosen") else NEUTRAL for a in shown]
    positions = np.arange(len(shown))[::-1]
    ax.barh(positions, values, color=colors)
    ax.set_yticks(positions, [candidate_label(a) + ("  (chosen)" if a.get("chosen") else "") for a in shown],
                  fontsize=9)
    low = float(values.min()) if values.size else 0.0
    ax.set_xlim(max(0.0, min(low - 0.02, 0.9)), 1.0)
    left = ax.get_xlim()[0]
    for y, value in zip(positions, values, strict=True):
        inside = (value - left) / (1.0 - left) > 0.15
        ax.text(value, y, f" {value:.4f} ", va="center", ha="right" if inside else "left", fontsize=9,
                color="white" if inside else "#212529")
    ax.set_xlabel("validation AUROC", fontsize=10)
    more = f" (best {len(shown)} of {len(rows)})" if len(rows) > len(shown) else ""
    ax.set_title(f"Selection: validation AUROC of every candidate{more}", fontsize=11)
    ax.tick_params(axis="x", labelsize=9)
    return _png(figure)


def gate_figure(series: Sequence[Mapping[str, Any]], runs: Sequence[Mapping[str, Any]],
                metrics: Sequence[Mapping[str, Any]]) -> bytes:
    """One panel per gated metric: its value in each run, the last good value and the thresholds."""
    ncols = min(3, len(series))
    nrows = math.ceil(len(series) / ncols)
    figure = _new_figure(11, 2.0 * nrows + 0.9)
    axes = figure.subplots(nrows, ncols, squeeze=False, sharex=True).ravel()
    _margins(figure, left=0.75, top=0.95, bottom=0.75, hspace=0.45, wspace=0.3)
    labels = _run_labels(runs)
    current = {(m["name"], m["set"]): m for m in metrics}
    for ax, entry in zip(axes, series, strict=False):  # the grid may have more panels than metrics
        _gate_panel(ax, entry, labels, current.get((entry["name"], entry["set"])))
    for i, ax in enumerate(axes):
        ax.set_visible(i < len(series))
        if i < len(series) and i + ncols >= len(series):  # the lowest panel of its column shows the runs
            ax.tick_params(axis="x", labelbottom=True)
    figure.suptitle(f"Gated metrics over the last {len(runs)} run(s)\npoints: the run's level (green pass, orange "
                    "warn, red fail, blue not gated); dashed: last good value; dotted: warn and fail bounds",
                    fontsize=10)
    return _png(figure)


def _gate_panel(ax: Any, entry: Mapping[str, Any], labels: Sequence[str], metric: Mapping[str, Any] | None) -> None:
    x = np.arange(len(labels))
    y = np.array([np.nan if v is None else v for v in entry["values"]], dtype=np.float64)
    ax.plot(x, y, color=NEUTRAL, linewidth=1)
    colors = [LEVEL_COLORS.get(level or "", ACCENT) for level in entry["levels"]]
    ax.scatter(x, y, c=colors, s=22, zorder=3)
    for value, style, color in _gate_lines(metric):
        ax.axhline(value, linestyle=style, color=color, linewidth=1)
    if "auroc" in entry["name"]:
        low, high = ax.get_ylim()
        ax.set_ylim(low, min(high, 1.0 + 0.02 * (high - low)))
    title = entry["name"] if entry["set"] is None else f"{entry['set']}: {entry['name']}"
    ax.set_title(title, fontsize=10)
    ax.set_xticks(x, labels, fontsize=9, rotation=30 if len(labels) > 4 else 0)
    ax.tick_params(axis="y", labelsize=9)
    ax.margins(x=0.15)


def _gate_lines(metric: Mapping[str, Any] | None) -> list[tuple[float, str, str]]:
    """(value, style, color) of the last good value and the warn / fail bounds of a metric."""
    if metric is None or not isinstance(metric.get("threshold"), Mapping):
        return []
    threshold, last = metric["threshold"], _number(metric.get("last_good"))
    lines = []
    if "direction" in threshold and last is not None:
        lines.append((last, "--", NEUTRAL))
        signs = {"decrease": (-1,), "increase": (1,), "any": (-1, 1)}.get(threshold["direction"], ())
        for level in ("warn", "fail"):
            tolerance = _number(threshold.get(level))
            if tolerance is not None:
                lines += [(last + sign * tolerance, ":", LEVEL_COLORS[level]) for sign in signs]
    else:  # an absolute statistic (the KS test's)
        lines += [(float(threshold[level]), ":", LEVEL_COLORS[level]) for level in ("warn", "fail")
                  if _number(threshold.get(level)) is not None]
    return lines


def _run_labels(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each run's start as ``MM-DD HH:MM`` (``#k`` appended to runs that start in the same minute)."""
    labels = []
    for run in runs:
        started = str(run.get("started") or run.get("run_id") or "?")
        try:
            labels.append(datetime.fromisoformat(started.replace("Z", "+00:00")).strftime("%m-%d %H:%M"))
        except ValueError:
            labels.append(started[:16])
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if labels.count(label) == 1 else f"{label} #{seen[label]}")
    return out


# =========================================================================== text helpers
def _fmt(value: Any, digits: int = 4) -> str:
    """A value for a table cell: floats with ``digits`` significant digits, dicts as a decision."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    if isinstance(value, Mapping) and "detector" in value:
        return candidate_label(value)
    if isinstance(value, (Mapping, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _auroc_text(entry: Mapping[str, Any]) -> str:
    if not entry.get("available"):
        return f"not available ({entry['reason']})"
    text = f"{float(entry['value']):.4f}"
    if entry.get("low") is not None and entry.get("high") is not None:
        level = entry.get("level")
        text += f" [{float(entry['low']):.4f}, {float(entry['high']):.4f}]"
        text += f" ({float(level):.0%} bootstrap interval)" if level is not None else ""
    facts = [entry.get("source")]
    if entry.get("n_normals") is not None:
        facts.append(f"{entry.get('method')}: {entry['n_normals']} normals, {entry.get('n_anomalies')} anomalies")
    if entry.get("n_rows") is not None:
        facts.append(f"{entry['n_rows']} test rows")
    return text + "; " + ", ".join(str(f) for f in facts if f)


def _q_text(q: Any) -> str:
    return "-" if q is None else f"{float(q):g} %"


def _model_rows(card: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, text) rows of the model section, shared by Markdown and HTML."""
    d, p = card["model_details"], card["model_parameters"]
    integrity = {"ok": "matches the sidecar", "mismatch": "DOES NOT MATCH the sidecar",
                 "unrecorded": "the sidecar records none"}[d["integrity"]]
    commit = d["commit"] + (f" ({d['commit_source']})" if d["commit_source"] else "")
    return [("path", d["path"]), ("sha256 (re-hashed)", f"{d['sha256']} — {integrity}"),
            ("sha256 (sidecar)", d["recorded_sha256"] or "-"), ("sidecar", d["sidecar"]),
            ("kind", f"{card['kind']} (dataset {d['dataset'] or '-'})"),
            ("detector", p["model_architecture"]),
            ("detector parameters", json.dumps(p["detector_params"], sort_keys=True) or "{}"),
            ("code sha256", d["version"]["code_sha256"] or "-"),
            ("auxqual version", d["version"]["auxqual"] or "-"),
            ("commit", commit + (f"; {d['commit_note']}" if d["commit_note"] else "")),
            ("date", f"{d['date']} ({d['date_source']})")]


def _train_rows(card: Mapping[str, Any]) -> list[tuple[str, str]]:
    data = card["model_parameters"]["data"]
    train = data["train"]
    if not train.get("available"):
        return [("training data", f"not available ({train['reason']})")]
    columns = "-" if train["columns"] is None else f"{train['n_columns']}: {', '.join(train['columns'])}"
    labels = ("" if train["normals"] is None
              else f" ({train['normals']} normal, {train['anomalies']} labelled anomalies)")
    rows = [("path", f"{train['path']} ({train['status']})"), ("sha256", train["sha256"]),
            ("rows", f"{_fmt(train['rows'])}{labels}"), ("columns", columns)]
    if data["snapshot_sha256"]:
        rows.append(("data snapshot sha256", data["snapshot_sha256"]))
    if data["validation"]:
        rows.append(("validation table", f"{data['validation']['path']} ({data['validation']['status']}), "
                                          f"sha256 {data['validation']['sha256']}"))
    return rows


def _set_rows(entry: Mapping[str, Any]) -> list[tuple[str, str]]:
    selected = entry["selected"]
    use = "considered, not used" if selected is None else (
        f"used: score {selected['score']}, top q = {_q_text(selected['q'])} → {_fmt(selected['n_rows'])} rows "
        f"(rows sha256 {selected['selected_rows_sha256']})")
    source = "a file" if entry["source"] == "file" else f"generator {entry['source']}"
    quality = entry["quality"]
    rows = [("source", source), ("path", f"{entry['path']} ({entry['status']})"), ("sha256", entry["sha256"]),
            ("rows", _fmt(entry["rows"])), ("in this model", use)]
    if quality.get("available") and quality.get("share_at_prior") is not None:
        rows.append(("share at EAP's prior", f"{quality['share_at_prior']:.1%} of the rows (eap_std = 0: no "
                                             "evidence either way)"))
    return rows


def _quality_table(quality: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["score", "mean", "median", "q10", "q90"]
    rows = [[name, *(_fmt(stats[k]) for k in ("mean", "median", "q10", "q90"))]
            for name, stats in quality["scores"].items()]
    return header, rows


def _alternatives_table(selection: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["set", "score", "q", "detector", "validation AUROC", "chosen"]
    rows = [[a["set"] or "-", a["score"] or "-", _q_text(a["q"]), a["detector"] or "-",
             "-" if a["val_auroc"] is None else f"{float(a['val_auroc']):.4f}", "chosen" if a["chosen"] else ""]
            for a in selection["alternatives"]]
    return header, rows


def _gate_table(gate: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["set", "metric", "value", "last good", "change", "level"]
    rows = [[m["set"] or "(model)", m["name"], _fmt(m["value"]), _fmt(m["last_good"]), _fmt(m["change"], 3),
             str(m["level"]).upper()] for m in gate["metrics"]]
    return header, rows


def _selection_lines(selection: Mapping[str, Any]) -> list[str]:
    chosen = selection["chosen"]
    text = (f"Chosen: set {chosen['set'] or '(none: the labelled anomalies alone)'}, score {chosen['score'] or '-'}, "
            f"q {_q_text(chosen['q'])}, detector {chosen['detector']}")
    if chosen.get("val_auroc") is not None:
        text += f"; validation AUROC {float(chosen['val_auroc']):.4f}"
    lines = [text + "."]
    validation = selection.get("validation")
    if validation:
        lines.append(f"Validation ({validation.get('method')}): {validation.get('n_normals')} normals, "
                     f"{validation.get('n_anomalies')} anomalies.")
    return lines


def _gate_lines_text(gate: Mapping[str, Any]) -> list[str]:
    promoted = {True: "promoted", False: "NOT promoted", None: "-"}[gate.get("promoted")]
    return [f"Run {gate.get('run_id') or '-'} against the last good run {gate.get('baseline_run') or '(none)'}: "
            f"the gate judged {gate['judged']}; candidate {promoted}.",
            f"Note: {gate.get('note') or '-'}"]


# =========================================================================== Markdown
def _md_cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _paragraphs(lines: Sequence[str]) -> list[str]:
    """Each line a Markdown paragraph of its own."""
    return [part for line in lines for part in (line, "")]


def _md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |", "|" + " --- |" * len(header)]
    return lines + ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows] + [""]


def render_markdown(card: Mapping[str, Any], html_name: str = "card.html") -> str:
    """The card as Markdown (the figures are in the HTML page ``html_name``).

    Parameters
    ----------
    card : Mapping
        A card of ``build_card``.
    html_name : str
        The HTML page's file name, for the note on figures.

    Returns
    -------
    str
        The Markdown text.
    """
    d = card["model_details"]
    lines = [f"# Model card: {d['path']}", ""]
    warnings = card["considerations"]["warnings"]
    if warnings:
        lines += ["> **WARNING**", ">"] + [f"> - **{w}**" for w in warnings] + [""]
    lines += [f"Figures: see `{html_name}`. JSON: schema `{card['schema']}`.", "", "## Model", ""]
    lines += _md_table(["field", "value"], _model_rows(card))
    lines += ["## Training data", "", *_md_table(["field", "value"], _train_rows(card))]
    lines += _md_sets(card)
    lines += _md_selection(card["model_parameters"]["selection"])
    downstream = card["quantitative_analysis"]["downstream"]
    lines += ["## Downstream AUROC", "", f"- validation: {_auroc_text(downstream['validation'])}",
              f"- test: {_auroc_text(downstream['test'])}", ""]
    lines += _md_gate(card["gate"])
    lines += ["## Limitations", ""] + [f"- {text}" for text in card["considerations"]["limitations"]]
    return "\n".join(lines) + "\n"


def _md_sets(card: Mapping[str, Any]) -> list[str]:
    sets = card["model_parameters"]["data"]["auxiliary_sets"]
    lines = ["## Auxiliary sets", ""]
    if not sets:
        return [*lines, "None named in the sidecar.", ""]
    for entry in sets:
        lines += [f"### {entry['name']}", "", *_md_table(["field", "value"], _set_rows(entry))]
        quality = entry["quality"]
        if quality.get("available"):
            lines += [f"Quality ({quality['file']}):", "", *_md_table(*_quality_table(quality))]
        else:
            lines += [f"Quality: not available ({quality['reason']}).", ""]
    return lines


def _md_selection(selection: Mapping[str, Any]) -> list[str]:
    lines = ["## Selection", "", *_paragraphs(_selection_lines(selection))]
    if not selection.get("available"):
        return [*lines, f"Alternatives: not available ({selection['reason']}).", ""]
    return [*lines, f"Every alternative ({selection['source']}):", "", *_md_table(*_alternatives_table(selection))]


def _md_gate(gate: Mapping[str, Any]) -> list[str]:
    lines = ["## Gate", ""]
    if not gate.get("available"):
        return [*lines, f"**{NO_GATE}** ({gate['reason']}).", ""]
    lines += [f"**Verdict: {gate['verdict'].upper()}**", "", *_paragraphs(_gate_lines_text(gate))]
    if gate["metrics"]:
        lines += _md_table(*_gate_table(gate))
    history = gate["history"]
    if not history.get("available"):
        lines += [f"History: not available ({history['reason']}).", ""]
    return lines


# =========================================================================== HTML
CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#212529;
margin:0;background:#f8f9fa;line-height:1.45}
main{max-width:1120px;margin:0 auto;padding:24px 32px;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 8px;border-bottom:2px solid #dee2e6;
padding-bottom:4px}h3{font-size:16px;margin:18px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px;font-size:13.5px;width:100%}
th,td{border:1px solid #dee2e6;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f1f3f5}td.k{width:190px;color:#495057;white-space:nowrap}
code,.hash{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace;font-size:12.5px;
word-break:break-all}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-weight:600;font-size:14px}
.pass{background:#2b8a3e}.warn{background:#e8590c}.fail{background:#c92a2a}.none{background:#868e96}
.alert{border:2px solid #c92a2a;background:#fff5f5;color:#c92a2a;padding:10px 14px;margin:12px 0;
font-weight:600}.alert ul{margin:4px 0 0 18px;padding:0}
.na{color:#868e96;font-style:italic}.sub{color:#495057;margin:0 0 8px}
img{max-width:100%;height:auto;display:block;margin:6px 0 14px;border:1px solid #e9ecef}
tr.chosen td{background:#ebfbee;font-weight:600}.l-pass{color:#2b8a3e}.l-warn{color:#e8590c;font-weight:700}
.l-fail{color:#c92a2a;font-weight:700}footer{color:#868e96;font-size:12px;margin-top:28px}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _is_hash(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def _html_cell(text: Any) -> str:
    text = str(text)
    if text.lower() in LEVEL_COLORS:
        return f'<span class="l-{text.lower()}">{_e(text)}</span>'
    return f'<span class="hash">{_e(text)}</span>' if _is_hash(text.split(" ")[0]) else _e(text)


def _html_fields(rows: Sequence[tuple[str, str]]) -> str:
    body = "".join(f'<tr><td class="k">{_e(k)}</td><td>{_html_cell(v)}</td></tr>' for k, v in rows)
    return f"<table>{body}</table>"


def _html_table(header: Sequence[str], rows: Sequence[Sequence[Any]], chosen_column: int | None = None) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for row in rows:
        mark = ' class="chosen"' if chosen_column is not None and row[chosen_column] else ""
        body.append(f"<tr{mark}>" + "".join(f"<td>{_html_cell(c)}</td>" for c in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _html_image(figures: Mapping[str, bytes], name: str | None) -> str:
    if not name or name not in figures:
        return ""
    data = base64.b64encode(figures[name]).decode("ascii")
    return f'<img alt="{_e(describe_figure(name))}" src="data:image/png;base64,{data}">'


def _na(reason: str) -> str:
    return f'<p class="na">Not available: {_e(reason)}.</p>'


def render_html(card: Mapping[str, Any], figures: Mapping[str, bytes]) -> str:
    """The card as one self-contained HTML page (CSS inline, figures as base64 PNG).

    Parameters
    ----------
    card : Mapping
        A card of ``build_card``.
    figures : Mapping of str to bytes
        Its PNG figures by name.

    Returns
    -------
    str
        The page; it references no file and no network resource.
    """
    d = card["model_details"]
    parts = [_html_header(card), _html_warnings(card["considerations"]["warnings"]),
             "<h2>Model</h2>", _html_fields(_model_rows(card)),
             "<h2>Training data</h2>", _html_fields(_train_rows(card)),
             _html_sets(card, figures), _html_selection(card["model_parameters"]["selection"], figures),
             _html_downstream(card["quantitative_analysis"]["downstream"]), _html_gate(card["gate"], figures),
             "<h2>Limitations</h2><ul>" + "".join(f"<li>{_e(t)}</li>" for t in card["considerations"]["limitations"])
             + "</ul>",
             f"<footer>auxqual model card ({_e(card['schema'])}) of {_e(d['path'])}; the same content as JSON "
             "in the card's .json file.</footer>"]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>Model card: {_e(d['path'])}</title><style>{CSS}</style></head>\n<body><main>\n"
            + "\n".join(p for p in parts if p) + "\n</main></body></html>\n")


def _html_header(card: Mapping[str, Any]) -> str:
    d, gate = card["model_details"], card["gate"]
    verdict = gate["verdict"] if gate.get("available") else None
    badge = (f'<span class="badge {_e(verdict)}">gate: {_e(verdict.upper())}</span>' if verdict in LEVEL_COLORS
             else f'<span class="badge none">gate: {_e(verdict or NO_GATE)}</span>')
    integrity = ('<span class="badge fail">sha256 MISMATCH</span>' if d["integrity"] == "mismatch"
                 else '<span class="badge pass">sha256 matches lineage</span>' if d["integrity"] == "ok" else "")
    return (f"<h1>Model card: {_e(d['path'])}</h1>"
            f'<p class="sub">{_e(card["kind"])} model · detector {_e(d["detector"])} · '
            f"{_e(d['date'])} · {badge} {integrity}</p>")


def _html_warnings(warnings: Sequence[str]) -> str:
    if not warnings:
        return ""
    return '<div class="alert">WARNING<ul>' + "".join(f"<li>{_e(w)}</li>" for w in warnings) + "</ul></div>"


def _html_sets(card: Mapping[str, Any], figures: Mapping[str, bytes]) -> str:
    sets = card["model_parameters"]["data"]["auxiliary_sets"]
    parts = ["<h2>Auxiliary sets</h2>"]
    if not sets:
        parts.append(_na("the sidecar names no auxiliary set"))
    for entry in sets:
        parts += [f"<h3>{_e(entry['name'])}</h3>", _html_fields(_set_rows(entry))]
        quality = entry["quality"]
        if quality.get("available"):
            parts += [f"<p>Quality scores ({_e(quality['file'])}):</p>", _html_table(*_quality_table(quality)),
                      _html_image(figures, quality.get("figure"))]
        else:
            parts.append(_na(f"quality: {quality['reason']}"))
    return "\n".join(parts)


def _html_selection(selection: Mapping[str, Any], figures: Mapping[str, bytes]) -> str:
    parts = ["<h2>Selection</h2>"] + [f"<p>{_e(line)}</p>" for line in _selection_lines(selection)]
    if not selection.get("available"):
        return "\n".join([*parts, _na(f"alternatives: {selection['reason']}")])
    header, rows = _alternatives_table(selection)
    parts += [f"<p>Every alternative ({_e(selection['source'])}):</p>", _html_table(header, rows, chosen_column=5),
              _html_image(figures, selection.get("figure"))]
    return "\n".join(parts)


def _html_downstream(downstream: Mapping[str, Any]) -> str:
    rows = [("validation AUROC", _auroc_text(downstream["validation"])),
            ("test AUROC", _auroc_text(downstream["test"]))]
    return "<h2>Downstream AUROC</h2>" + _html_fields(rows)


def _html_gate(gate: Mapping[str, Any], figures: Mapping[str, bytes]) -> str:
    if not gate.get("available"):
        return f"<h2>Gate</h2><p><strong>{_e(NO_GATE)}</strong> ({_e(gate['reason'])}).</p>"
    verdict = gate["verdict"]
    badge = f'<span class="badge {_e(verdict) if verdict in LEVEL_COLORS else "none"}">{_e(verdict.upper())}</span>'
    parts = ["<h2>Gate</h2>", f"<p>Verdict: {badge}</p>"] + [f"<p>{_e(line)}</p>" for line in _gate_lines_text(gate)]
    if gate["metrics"]:
        parts.append(_html_table(*_gate_table(gate)))
    history = gate["history"]
    parts.append(_html_image(figures, history.get("figure")) if history.get("available")
                 else _na(f"history: {history['reason']}"))
    return "\n".join(parts)


__all__ = ["CARD_SCHEMA", "build_card", "card_paths", "card_schema", "check_card", "render_html",
           "render_markdown", "write_card"]
