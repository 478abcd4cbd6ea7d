"""Lineage: content hashes, model sidecars and the lineage table.

Every model file ``M`` gets a sidecar ``M.lineage.json`` (``q10.pt`` →
``q10.pt.lineage.json``) that says what made it:

    {
      "schema": "auxqual.lineage/2",
      "model": {"path": ..., "sha256": ...},
      "created_by": {"stage": "train", "detector": "mlp", "detector_params": {...}},
      "inputs": [
        {"role": "train", "path": ..., "sha256": ...},
        {"role": "auxiliary", "path": ..., "sha256": ..., "generator": "local",
         "score": "eap", "q": 20, "n_rows": 35, "selected_rows_sha256": ...,
         "scores_path": ..., "scores_sha256": ...}   # the scores file that chose the rows (optional)
      ],
      "params": {...},            # the subset of params.yaml the stage read
      "dataset": "digits",        # optional
      "code_sha256": "9b1e…" | null,
      "dvc_lock_stage_md5": "…" | null
    }

``sha256`` of a file is the hash of its bytes; ``selected_rows_sha256`` is the
hash of exactly the auxiliary rows that went into the model, in the canonical
form of ``sha256_rows``; ``code_sha256`` is the hash of the code that made
the model (``code_sha256`` of the stage's code deps). A sidecar holds nothing
run-specific (no git revision, time or host): it is hashed into dvc.lock, which
must not change when the same code re-runs on the same inputs. Sidecars of schema
``auxqual.lineage/1`` (with a ``git_rev`` instead) are still read; ``git_rev`` is
dropped and ``code_sha256`` is empty. ``collect_lineage`` gathers the sidecars into
one table (one row per model × auxiliary set) that the queries and
``verify`` work on. Paths are stored as written by the stage (relative to
the repository root); ``verify`` resolves them against a ``root``.

Pure library code: no DVC or Prefect, no printing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from auxqual.io import sha256_file, write_json  # sha256_file: a file's hash, re-exported here

SCHEMA = "auxqual.lineage/2"
_READABLE_SCHEMAS = (SCHEMA, "auxqual.lineage/1")   # /1 had git_rev (ignored when read)
CODE_HASH_SKIPS = ("__pycache__",)                  # folders code_sha256 skips (byte-code, as .dvcignore)
SIDECAR_SUFFIX = ".lineage.json"
ROLE_TRAIN = "train"
ROLE_AUXILIARY = "auxiliary"
MIN_PREFIX = 6
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX = re.compile(r"[0-9a-fA-F]+")
# Accepted spellings, normalised on construction so sidecars use one vocabulary.
_ROLE_ALIASES = {"anomaly_set": ROLE_AUXILIARY, "aux": ROLE_AUXILIARY, "training": ROLE_TRAIN}
_INPUT_KEY_ALIASES = {"rows_sha256": "selected_rows_sha256"}
_CREATED_BY_ALIASES = {"params": "detector_params"}

TABLE_COLUMNS = (
    "model_path", "model_sha256", "detector", "dataset", "generator", "anomaly_set_path",
    "anomaly_set_sha256", "score", "q", "n_rows", "selected_rows_sha256", "train_path",
    "train_sha256", "stage", "detector_params_json", "params_json", "code_sha256",
    "dvc_lock_stage_md5", "sidecar_path", "scores_path", "scores_sha256",
)
OPTIONAL_TABLE_COLUMNS = ("scores_path", "scores_sha256")   # absent from tables written before they existed
_FLOAT_COLUMNS = ("q",)
_INT_COLUMNS = ("n_rows",)


# --------------------------------------------------------------------------- hashes
def sha256_rows(X: Any, ids: Any = None) -> str:
    """Hex sha256 identifying a set of feature rows (and their ids), independent of
    row order and of the array's dtype or memory layout.

    Canonical form, fed to sha256 in this order:

    1. ``b"auxqual-rows/1\\n"`` and ``f"shape={n},{d}\\n"`` (ASCII);
    2. the rows put in canonical order: ascending ``ids`` when given (ids must be
       unique), else lexicographic by feature values (first column first);
    3. the rows' values as little-endian float64 (``'<f8'``), C order;
    4. when ``ids`` are given: ``b"ids=int\\n"`` + the ids as little-endian int64
       for integer ids, or ``b"ids=str\\n"`` + each id's UTF-8 text followed by a
       NUL byte for string ids.

    So the same rows selected in any order, from a float32 or float64 array, hash
    the same; a changed value, row or id changes the hash. ``-0.0`` and ``0.0``
    differ (different bytes). Zero rows are allowed (``q = 0``): the hash then
    records only the width ``d``. NaN or inf raise ``ValueError``.
    """
    X = _rows_matrix(X)
    digest = hashlib.sha256(b"auxqual-rows/1\n")
    digest.update(f"shape={X.shape[0]},{X.shape[1]}\n".encode("ascii"))
    if ids is None:
        order = np.lexsort(X.T[::-1]) if X.shape[0] else np.arange(0)
        digest.update(np.ascontiguousarray(X[order], dtype="<f8").tobytes())
        return digest.hexdigest()
    kind, values = _canonical_ids(ids, X.shape[0])
    order = np.argsort(values, kind="stable")
    if (values[order][1:] == values[order][:-1]).any():
        raise ValueError("sha256_rows: ids are not unique")
    digest.update(np.ascontiguousarray(X[order], dtype="<f8").tobytes())
    digest.update(f"ids={kind}\n".encode("ascii"))
    if kind == "int":
        digest.update(np.ascontiguousarray(values[order], dtype="<i8").tobytes())
    else:
        digest.update(b"".join(v.encode("utf-8") + b"\0" for v in values[order]))
    return digest.hexdigest()


def _rows_matrix(X: Any) -> np.ndarray:
    try:
        X = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"sha256_rows: rows are not numeric ({error})") from error
    if X.ndim != 2:
        raise ValueError(f"sha256_rows: expected a 2-D array of rows, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError(f"sha256_rows: {int((~np.isfinite(X)).sum())} NaN or inf value(s)")
    return X


def _canonical_ids(ids: Any, n: int) -> tuple[str, np.ndarray]:
    """``("int", int64 array)`` or ``("str", object array of str)``, one id per row."""
    ids = np.asarray(ids)
    if ids.ndim != 1 or ids.shape[0] != n:
        raise ValueError(f"sha256_rows: {ids.size} ids for {n} rows (ids must be 1-D, one per row)")
    if ids.dtype.kind in "biu":
        return "int", ids.astype(np.int64)
    items = ids.tolist()
    if ids.dtype.kind in "USO" and all(isinstance(v, (str, bytes)) for v in items):
        return "str", np.array([v.decode() if isinstance(v, bytes) else v for v in items], dtype=object)
    raise ValueError(f"sha256_rows: ids must be integers or strings, got dtype {ids.dtype}")


def code_sha256(paths: Iterable[str | os.PathLike], root: str | os.PathLike = ".") -> str:
    """Hex sha256 identifying the code at ``paths`` (files, or folders taken recursively),
    each relative to ``root``: the same bytes under the same relative paths give the same
    hash on any machine, in any checkout, at any time or commit.

    Canonical form: ``b"auxqual-code/1\\n"``, then for every file in ascending order of its
    POSIX path relative to ``root``: that path, a NUL byte, the hex sha256 of the file's
    bytes and ``b"\\n"``. A file named twice (itself and its folder) counts once. Python
    byte-code is skipped (``__pycache__`` folders, ``*.pyc``), as DVC's .dvcignore does.
    So a changed byte, a renamed, added or removed file changes the hash; a file's time,
    permissions, or a fresh ``__pycache__`` do not. A missing path is a ``ValueError``.
    """
    root = Path(root)
    files: dict[str, Path] = {}
    for entry in paths:
        path = root / entry
        if path.is_file():
            found = [path]
        elif path.is_dir():
            found = [p for p in path.rglob("*") if p.is_file()]
        else:
            raise ValueError(f"{path}: code path not found (cannot hash it)")
        for file in found:
            relative = file.relative_to(root)
            if file.suffix != ".pyc" and not set(relative.parts) & set(CODE_HASH_SKIPS):
                files[relative.as_posix()] = file
    digest = hashlib.sha256(b"auxqual-code/1\n")
    for name in sorted(files):
        digest.update(name.encode("utf-8") + b"\0" + sha256_file(files[name]).encode("ascii") + b"\n")
    return digest.hexdigest()


# --------------------------------------------------------------------------- records
@dataclass
class LineageRecord:
    """What produced one model file (see the module docstring for the JSON form).

    ``created_by``: ``stage``, ``detector``, ``detector_params`` (``params`` is
    accepted as an alias). ``inputs``: dicts with ``role`` (``"train"`` or
    ``"auxiliary"``; ``"anomaly_set"`` is an alias), ``path``, ``sha256``; an
    auxiliary input also needs ``score``, ``q`` and ``selected_rows_sha256``
    (alias ``rows_sha256``) and may carry ``generator``, ``n_rows``, ``dataset`` and the
    quality-scores file that chose its rows (``scores_path`` with ``scores_sha256``).
    ``model_sha256`` may be left empty: ``write_sidecar`` fills it in.
    Construction normalises aliases and paths (POSIX form) and validates hashes,
    raising ``ValueError`` naming the faulty field.
    """

    model_path: str
    created_by: dict[str, Any]
    inputs: list[dict[str, Any]]
    model_sha256: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    code_sha256: str | None = None
    dvc_lock_stage_md5: str | None = None
    dataset: str | None = None

    def __post_init__(self) -> None:
        self.model_path = _posix(self.model_path)
        if self.model_sha256 is not None:
            self.model_sha256 = _check_sha(self.model_sha256, "model.sha256")
        self.created_by = _normalise_created_by(self.created_by)
        if not isinstance(self.inputs, (list, tuple)):
            raise ValueError(f"lineage inputs: expected a list of dicts, got {type(self.inputs).__name__}")
        self.inputs = [_normalise_input(item, i) for i, item in enumerate(self.inputs)]
        self.params = dict(self.params or {})
        if self.code_sha256 is not None:
            self.code_sha256 = _check_sha(self.code_sha256, "code_sha256")

    def to_dict(self) -> dict[str, Any]:
        """The sidecar's JSON object."""
        return {
            "schema": SCHEMA,
            "model": {"path": self.model_path, "sha256": self.model_sha256},
            "created_by": self.created_by,
            "inputs": self.inputs,
            "params": self.params,
            "dataset": self.dataset,
            "code_sha256": self.code_sha256,
            "dvc_lock_stage_md5": self.dvc_lock_stage_md5,
        }

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> LineageRecord:
        """Inverse of ``to_dict``; ``ValueError`` for another schema or a missing key.
        A schema-1 payload's ``git_rev`` is ignored (see the module docstring)."""
        if not isinstance(payload, dict) or payload.get("schema") not in _READABLE_SCHEMAS:
            raise ValueError(f"not a lineage record (schema {SCHEMA!r} expected)")
        try:
            model = payload["model"]
            return cls(model_path=model["path"], model_sha256=model.get("sha256"),
                       created_by=payload["created_by"], inputs=payload["inputs"],
                       params=payload.get("params") or {}, code_sha256=payload.get("code_sha256"),
                       dvc_lock_stage_md5=payload.get("dvc_lock_stage_md5"), dataset=payload.get("dataset"))
        except (KeyError, TypeError) as error:
            raise ValueError(f"lineage record: missing or malformed field {error}") from error


def _posix(path: Any) -> str:
    """A path as a normalised POSIX string (``./a//b`` → ``a/b``)."""
    text = os.fspath(path) if isinstance(path, os.PathLike) else path
    if not isinstance(text, str) or not text:
        raise ValueError(f"lineage: path must be a non-empty string, got {path!r}")
    return PurePosixPath(os.path.normpath(text).replace(os.sep, "/")).as_posix()


def _check_sha(value: Any, name: str) -> str:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise ValueError(f"lineage {name}: expected 64 lowercase hex characters, got {value!r}")
    return value


def _normalise_created_by(created_by: Any) -> dict[str, Any]:
    if not isinstance(created_by, dict):
        raise ValueError(f"lineage created_by: expected a dict, got {type(created_by).__name__}")
    out: dict[str, Any] = {str(_CREATED_BY_ALIASES.get(k, k)): v for k, v in created_by.items()}
    for key in ("stage", "detector"):
        if not isinstance(out.get(key), str) or not out[key]:
            raise ValueError(f"lineage created_by: missing {key!r}")
    out["detector_params"] = dict(out.get("detector_params") or {})
    return out


def _normalise_input(item: Any, index: int) -> dict[str, Any]:
    where = f"lineage inputs[{index}]"
    if not isinstance(item, dict):
        raise ValueError(f"{where}: expected a dict, got {type(item).__name__}")
    out: dict[str, Any] = {str(_INPUT_KEY_ALIASES.get(k, k)): v for k, v in item.items()}
    for key in ("role", "path", "sha256"):
        if key not in out:
            raise ValueError(f"{where}: missing {key!r}")
    out["role"] = _ROLE_ALIASES.get(out["role"], out["role"])
    out["path"] = _posix(out["path"])
    out["sha256"] = _check_sha(out["sha256"], f"inputs[{index}].sha256")
    if out["role"] == ROLE_AUXILIARY:
        for key in ("score", "q", "selected_rows_sha256"):
            if out.get(key) is None:
                raise ValueError(f"{where} ({out['path']}): an auxiliary input needs {key!r}")
        _check_sha(out["selected_rows_sha256"], f"inputs[{index}].selected_rows_sha256")
        if not 0 <= float(out["q"]) <= 100:
            raise ValueError(f"{where} ({out['path']}): q={out['q']!r} is not a percentage in [0, 100]")
    if out.get("scores_path") is not None:
        out["scores_path"] = _posix(out["scores_path"])
        out["scores_sha256"] = _check_sha(out.get("scores_sha256"), f"inputs[{index}].scores_sha256")
    return out


def sidecar_path(model_path: str | os.PathLike) -> Path:
    """Where the sidecar of ``model_path`` lives: ``<model file name>.lineage.json``."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.name + SIDECAR_SUFFIX)


def write_sidecar(model_path: str | os.PathLike, record: LineageRecord) -> Path:
    """Write ``record`` atomically as ``<model_path>.lineage.json`` (sorted keys).

    ``model_path`` is the file on disk now (it may differ from ``record.model_path``,
    the path recorded, e.g. while a stage writes into a staging folder). The file
    is hashed: an empty ``record.model_sha256`` is filled in; one that differs is a
    ``ValueError`` (the record belongs to another file). Returns the sidecar path.
    """
    model_path = Path(model_path)
    actual = sha256_file(model_path)
    if record.model_sha256 is not None and record.model_sha256 != actual:
        raise ValueError(f"{model_path}: sha256 {actual[:12]}… does not match the record's "
                         f"model.sha256 {record.model_sha256[:12]}…")
    payload = record.to_dict()
    payload["model"]["sha256"] = actual
    return write_json(payload, sidecar_path(model_path))


def read_sidecar(path: str | os.PathLike) -> LineageRecord:
    """Read a sidecar, given its own path or the model's path."""
    path = Path(path)
    if not path.name.endswith(SIDECAR_SUFFIX):
        path = sidecar_path(path)
    if not path.is_file():
        raise ValueError(f"{path}: lineage sidecar not found")
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        return LineageRecord.from_dict(payload)
    except (json.JSONDecodeError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from error


# --------------------------------------------------------------------------- the table
def collect_lineage(models_dir: str | os.PathLike) -> pd.DataFrame:
    """Every sidecar under ``models_dir`` as one table, one row per (model,
    auxiliary set); a model without auxiliary inputs gets one row with empty
    auxiliary columns. Columns: ``TABLE_COLUMNS``. Rows sorted by model path,
    then auxiliary-set path, score and q.
    """
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        raise ValueError(f"{models_dir}: models folder not found")
    rows = []
    for path in sorted(models_dir.rglob("*" + SIDECAR_SUFFIX)):
        rows += _table_rows(read_sidecar(path), path)
    table = empty_table() if not rows else _typed(pd.DataFrame(rows, columns=list(TABLE_COLUMNS)))
    keys = ["model_path", "anomaly_set_path", "score", "q"]
    return table.sort_values(keys, kind="mergesort", na_position="first").reset_index(drop=True)


def empty_table() -> pd.DataFrame:
    """A lineage table with no rows and the usual columns and dtypes."""
    return _typed(pd.DataFrame({c: [] for c in TABLE_COLUMNS}))


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    for column in TABLE_COLUMNS:
        if column in _FLOAT_COLUMNS:
            table[column] = table[column].astype("float64")
        elif column in _INT_COLUMNS:
            table[column] = table[column].astype("Int64")
        else:
            table[column] = pd.Series(table[column].tolist(), dtype="str", index=table.index)
    return table


def _table_rows(record: LineageRecord, sidecar: Path) -> list[dict[str, Any]]:
    trains = [i for i in record.inputs if i["role"] == ROLE_TRAIN]
    if len(trains) > 1:
        raise ValueError(f"{sidecar}: {len(trains)} inputs with role 'train'; expected at most 1")
    train = trains[0] if trains else {}
    common = {
        "model_path": record.model_path, "model_sha256": record.model_sha256,
        "detector": record.created_by["detector"], "stage": record.created_by["stage"],
        "detector_params_json": _json(record.created_by["detector_params"]),
        "params_json": _json(record.params), "code_sha256": record.code_sha256,
        "dvc_lock_stage_md5": record.dvc_lock_stage_md5, "train_path": train.get("path"),
        "train_sha256": train.get("sha256"), "sidecar_path": sidecar.as_posix(),
        "dataset": record.dataset or train.get("dataset"),
    }
    auxiliary = [i for i in record.inputs if i["role"] == ROLE_AUXILIARY]
    if not auxiliary:
        return [common]
    return [{**common, "dataset": common["dataset"] or aux.get("dataset"), "generator": aux.get("generator"),
             "anomaly_set_path": aux["path"], "anomaly_set_sha256": aux["sha256"], "score": aux["score"],
             "q": float(aux["q"]), "n_rows": aux.get("n_rows"),
             "selected_rows_sha256": aux["selected_rows_sha256"], "scores_path": aux.get("scores_path"),
             "scores_sha256": aux.get("scores_sha256")} for aux in auxiliary]


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


# --------------------------------------------------------------------------- queries
def models_for_anomaly_set(table: pd.DataFrame, path_or_hash_prefix: str | os.PathLike) -> pd.DataFrame:
    """Rows of the models trained with an auxiliary anomaly set, sorted by model path.

    ``path_or_hash_prefix`` is, tried in this order: the set's path as recorded; a
    file on disk (hashed, then matched by content, so a copy or a moved file is
    found too); a prefix (≥ 6 hex characters) of the set's file sha256 or of a
    ``selected_rows_sha256``. ``ValueError`` when nothing matches or a prefix
    matches more than one distinct hash.
    """
    _require_columns(table, ("anomaly_set_path", "anomaly_set_sha256", "selected_rows_sha256", "model_path"))
    query = os.fspath(path_or_hash_prefix)
    hit = _path_rows(table, "anomaly_set_path", query)
    if hit is None and Path(query).is_file():
        digest = sha256_file(query)
        hit = table[table["anomaly_set_sha256"] == digest]
        if hit.empty:
            raise ValueError(f"{query}: its sha256 {digest[:12]}… is not an auxiliary set of any model")
    if hit is None:
        digest = _resolve_prefix(table, ("anomaly_set_sha256", "selected_rows_sha256"), query, "anomaly set")
        hit = table[(table["anomaly_set_sha256"] == digest) | (table["selected_rows_sha256"] == digest)]
    return _sorted(hit, ["model_path", "anomaly_set_path"])


def anomaly_sets_for_model(table: pd.DataFrame, model_path: str | os.PathLike) -> pd.DataFrame:
    """Rows of the auxiliary sets (with score, q, selected-rows hash) behind a model,
    given by its recorded path or a prefix (≥ 6 hex) of its sha256. A model with
    no auxiliary set gives one row with empty auxiliary columns. ``ValueError``
    for an unknown model or an ambiguous prefix."""
    _require_columns(table, ("model_path", "model_sha256", "anomaly_set_path"))
    query = os.fspath(model_path)
    hit = _path_rows(table, "model_path", query)
    if hit is None:
        digest = _resolve_prefix(table, ("model_sha256",), query, "model")
        hit = table[table["model_sha256"] == digest]
    return _sorted(hit, ["model_path", "anomaly_set_path"])


def _path_rows(table: pd.DataFrame, column: str, query: str) -> pd.DataFrame | None:
    """Rows whose ``column`` is the path ``query`` (normalised), or ``None``."""
    try:
        wanted = _posix(query)
    except ValueError:
        return None
    hit = table[table[column] == wanted]
    return None if hit.empty else hit


def _resolve_prefix(table: pd.DataFrame, columns: tuple[str, ...], query: str, what: str) -> str:
    """The one distinct hash in ``columns`` starting with ``query``, else ``ValueError``."""
    if not _HEX.fullmatch(query) or len(query) < MIN_PREFIX:
        raise ValueError(f"no {what} with path {query!r} in the lineage table "
                         f"(a hash prefix needs at least {MIN_PREFIX} hex characters)")
    prefix = query.lower()
    hashes = sorted({h for c in columns for h in table[c].dropna().tolist() if h.startswith(prefix)})
    if not hashes:
        raise ValueError(f"no {what} in the lineage table has a sha256 starting with {prefix!r}")
    if len(hashes) > 1:
        shown = ", ".join(h[:16] for h in hashes[:5])
        raise ValueError(f"hash prefix {prefix!r} is ambiguous: {len(hashes)} {what} hashes match ({shown}…); "
                         "give more characters")
    return hashes[0]


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys, kind="mergesort", na_position="first").reset_index(drop=True)


def _require_columns(table: pd.DataFrame, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"lineage table: missing column(s) {missing}")


# --------------------------------------------------------------------------- verify
VERIFY_COLUMNS = ("role", "path", "status", "recorded_sha256", "actual_sha256", "n_models")
_FILE_COLUMNS = (("model", "model_path", "model_sha256"), (ROLE_TRAIN, "train_path", "train_sha256"),
                 (ROLE_AUXILIARY, "anomaly_set_path", "anomaly_set_sha256"), ("scores", "scores_path", "scores_sha256"))


def verify(table: pd.DataFrame, root: str | os.PathLike = ".") -> pd.DataFrame:
    """Re-hash every model, training, auxiliary and scores file the table names, under ``root``.

    One row per distinct (role, path, recorded sha256) with ``status``: ``ok`` (same
    bytes), ``changed`` (other bytes) or ``missing`` (no such file); ``n_models`` says
    how many models rely on that record. Each file is hashed once. Sorted by role
    (model, train, auxiliary, scores), then path. A table may come from someone else: a
    path that leads outside ``root`` (``../..``, an absolute path) is a ``ValueError``,
    checked for every path before any file is read. A table without the scores columns
    (written before they existed) is verified without them.
    """
    table = table.assign(**{c: None for c in OPTIONAL_TABLE_COLUMNS if c not in table.columns})
    _require_columns(table, tuple(c for _, p, s in _FILE_COLUMNS for c in (p, s)))
    root = Path(root)
    groups = []
    for role, path_column, sha_column in _FILE_COLUMNS:
        refs = pd.DataFrame({"path": table[path_column], "sha": table[sha_column], "model": table["model_path"]})
        grouped = refs.dropna(subset=["path"]).groupby(["path", "sha"], sort=True)["model"].nunique()
        for path in grouped.index.get_level_values("path"):
            inside_root(root, str(path), role)
        groups.append((role, grouped))
    cache: dict[str, str | None] = {}
    rows = []
    for role, grouped in groups:
        keys = zip(grouped.index.get_level_values("path"), grouped.index.get_level_values("sha"), strict=True)
        for (path, recorded), n_models in zip(keys, grouped.to_numpy(), strict=True):
            actual = _hash_or_none(root / path, cache)
            status = "missing" if actual is None else ("ok" if actual == recorded else "changed")
            rows.append({"role": role, "path": path, "status": status, "recorded_sha256": recorded,
                         "actual_sha256": actual, "n_models": int(n_models)})
    return pd.DataFrame(rows, columns=list(VERIFY_COLUMNS))


def inside_root(root: str | os.PathLike, path: str, role: str = "file") -> Path:
    """``root / path``, or a ``ValueError`` when ``path`` leads outside ``root``.

    The check is on the normalised path (``..`` resolved, no symbolic link followed), so
    a file that a DVC cache links into the repository still counts as inside it.
    """
    base = os.path.abspath(root)
    full = os.path.abspath(os.path.join(base, path))
    if os.path.commonpath([base, full]) != base:
        raise ValueError(f"lineage table: {role} path {path!r} lies outside the root {root}; refusing to read it "
                         "(a table from someone else may name any file)")
    return Path(full)


def _hash_or_none(path: Path, cache: dict[str, str | None]) -> str | None:
    key = path.as_posix()
    if key not in cache:
        cache[key] = sha256_file(path) if path.is_file() else None
    return cache[key]
