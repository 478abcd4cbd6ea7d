"""The user's own tables: loading them strictly, matching their columns, and their schema.

A production project (``auxqual init``) has a training table (features and a label column
``y``: 1 = labelled anomaly, 0 or empty = normal), an optional labelled validation table and
auxiliary anomaly sets made elsewhere. Unlike the benchmark's tables, which carry metadata
columns by convention, **every column of a user's table except ``y`` is a feature**, whatever
its name: a column that is not numeric, or a cell that cannot be read as a number, is an error
naming the file, the row and the column, never a column silently left out.

Every check raises a ``ValueError`` whose one-line message names the file and the column (the
``auxqual`` command prints it with exit code 2). The same functions serve ``auxqual init``,
every stage of the scaffolded project, and the schema comparison between nightly runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auxqual.io import LABEL_COLUMN, SUPPORTED_SUFFIXES, feature_names

SHOWN = 10  # names listed in one message


@dataclass(frozen=True)
class UserTable:
    """A loaded user table: features in ``columns`` order, labels (or None) and the dtypes."""

    path: str
    X: np.ndarray                  # finite float64, rows × len(columns)
    y: np.ndarray | None           # int8 0 / 1, or None (auxiliary sets)
    columns: list[str]             # feature names, as in the file
    dtypes: dict[str, str]         # feature name -> dtype kind: "integer", "float" or "bool"

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])


def load_user_table(path: str | os.PathLike, *, role: str) -> UserTable:
    """Read and check one table; ``role`` is ``train``, ``validation`` or ``aux``.

    ``train`` needs a ``y`` column (empty cells count as normal) and at least one normal;
    ``validation`` needs ``y`` without empty cells and at least one anomaly; an ``aux`` set's
    ``y`` column, if any, is ignored (every row is an auxiliary anomaly). ``.npz`` files
    (ADBench: arrays ``X`` and ``y``) get the feature names ``x0 … x{d-1}``.
    """
    path = Path(path)
    frame = _read(path)
    if frame.empty or len(frame) == 0:
        raise ValueError(f"{path}: has no rows (an empty {role} set)")
    y = None
    if LABEL_COLUMN in frame.columns:
        labels = frame[LABEL_COLUMN]
        frame = frame.drop(columns=[LABEL_COLUMN])
        if role != "aux":
            y = _labels(labels, path, allow_missing=(role == "train"))
    elif role in ("train", "validation"):
        raise ValueError(f"{path}: missing label column {LABEL_COLUMN!r} (1 = anomaly, 0 = normal)")
    if frame.shape[1] == 0:
        raise ValueError(f"{path}: has no feature columns")
    columns = [str(c) for c in frame.columns]
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise ValueError(f"{path}: column(s) {_names(duplicated)} appear more than once")
    dtypes = {name: _numeric_kind(frame[column], path, name) for name, column in zip(columns, frame.columns)}
    X = frame.to_numpy(dtype=np.float64)
    _check_finite(X, path, columns)
    if role == "train" and y is not None and not (y == 0).any():
        raise ValueError(f"{path}: no normal rows (every row has y = 1); the training table needs normals")
    if role == "validation" and y is not None and not (y == 1).any():
        raise ValueError(f"{path}: no anomaly (y = 1); a validation table needs labelled anomalies")
    return UserTable(str(path), X, y, columns, dtypes)


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ValueError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ValueError(f"{path}: unsupported file type {suffix!r}; expected one of {SUPPORTED_SUFFIXES}")
    try:
        if suffix == ".npz":
            return _read_npz(path)
        if suffix == ".csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except pd.errors.EmptyDataError as error:
        raise ValueError(f"{path}: file is empty") from error
    except ValueError as error:
        if str(error).startswith(str(path)):
            raise
        raise ValueError(f"{path}: cannot read ({_one_line(error)})") from error
    except Exception as error:  # zip, pyarrow and the csv parser raise many types for a damaged file
        raise ValueError(f"{path}: cannot read ({type(error).__name__}: {_one_line(error)})") from error


def _read_npz(path: Path) -> pd.DataFrame:
    with np.load(path, allow_pickle=False) as archive:
        if "X" not in archive.files:
            raise ValueError(f"{path}: missing array 'X' (found {sorted(archive.files)})")
        X = archive["X"]
        y = archive["y"] if "y" in archive.files else None
    if X.ndim != 2:
        raise ValueError(f"{path}: array 'X' must be 2-D, got shape {X.shape}")
    frame = pd.DataFrame(X, columns=feature_names(X.shape[1]))
    if y is not None:
        if y.shape != (X.shape[0],):
            raise ValueError(f"{path}: array 'y' has shape {y.shape} for {X.shape[0]} rows")
        frame[LABEL_COLUMN] = y
    return frame


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def _labels(labels: pd.Series, path: Path, *, allow_missing: bool) -> np.ndarray:
    values = pd.to_numeric(labels, errors="coerce")
    unparsed = values.isna() & labels.notna()
    if unparsed.any():
        row = int(np.flatnonzero(unparsed.to_numpy())[0])
        raise ValueError(f"{path}: row {row}, column {LABEL_COLUMN!r}: {labels.iloc[row]!r} is not a label "
                         "(1 = anomaly, 0 = normal)")
    missing = values.isna().to_numpy()
    if missing.any() and not allow_missing:
        raise ValueError(f"{path}: {int(missing.sum())} empty label(s) in column {LABEL_COLUMN!r}, first at row "
                         f"{int(np.flatnonzero(missing)[0])}; every validation row needs 1 (anomaly) or 0 (normal)")
    numeric = values.fillna(0).to_numpy(dtype=np.float64)  # training rows without a label are normal
    invalid = ~np.isin(numeric, (0.0, 1.0))
    if invalid.any():
        found = np.unique(numeric[invalid])[:5].tolist()
        raise ValueError(f"{path}: column {LABEL_COLUMN!r}: labels must be 0 (normal) or 1 (anomaly); "
                         f"found {found} (first at row {int(np.flatnonzero(invalid)[0])})")
    return numeric.astype(np.int8)


def _numeric_kind(column: pd.Series, path: Path, name: str) -> str:
    """The column's dtype kind; a non-numeric column names its first unreadable cell."""
    kind = column.dtype.kind
    if kind == "b":
        return "bool"
    if kind in "iu":
        return "integer"
    if kind == "f":
        return "float"
    parsed = pd.to_numeric(column, errors="coerce")
    bad = parsed.isna() & column.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"{path}: row {row}, column {name!r}: {column.iloc[row]!r} is not a number "
                         f"(every column except {LABEL_COLUMN!r} is a feature)")
    raise ValueError(f"{path}: column {name!r} is not numeric (dtype {column.dtype}); every column except "
                     f"{LABEL_COLUMN!r} is a feature")


def _check_finite(X: np.ndarray, path: Path, columns: list[str]) -> None:
    bad = ~np.isfinite(X)
    if bad.any():
        rows, cols = np.nonzero(bad)
        raise ValueError(f"{path}: {int(bad.sum())} NaN or infinite value(s), first at row {int(rows[0])}, "
                         f"column {columns[cols[0]]!r}")


def _names(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:SHOWN])
    return f"[{shown}{', …' if len(names) > SHOWN else ''}]"


# --------------------------------------------------------------------------- matching columns
def align_to(reference: UserTable, table: UserTable) -> np.ndarray:
    """``table.X`` with its columns in ``reference``'s order, matched by name.

    A column missing from ``table``, or one it has that ``reference`` lacks (a renamed
    column is both), is a ``ValueError`` naming the columns and both files.
    """
    missing = [c for c in reference.columns if c not in table.columns]
    extra = [c for c in table.columns if c not in reference.columns]
    if missing or extra:
        parts = ([f"missing {_names(missing)}"] if missing else []) + ([f"extra {_names(extra)}"] if extra else [])
        hint = " (renamed?)" if missing and extra else ""
        raise ValueError(f"{table.path}: feature columns do not match {reference.path}: {', '.join(parts)}{hint}")
    index = {c: i for i, c in enumerate(table.columns)}
    return table.X[:, [index[c] for c in reference.columns]]


@dataclass(frozen=True)
class ProjectData:
    """Every input of a production run, columns in the training table's order."""

    train: UserTable
    validation: UserTable | None
    aux: dict[str, UserTable]
    X_validation: np.ndarray | None
    X_aux: dict[str, np.ndarray]


def load_project_data(train: str | os.PathLike, validation: str | os.PathLike | None,
                      aux: Mapping[str, str | os.PathLike]) -> ProjectData:
    """Load and check the training table, the validation table and every auxiliary set,
    and match every table's columns to the training table's by name."""
    train_table = load_user_table(train, role="train")
    validation_table = None if validation is None else load_user_table(validation, role="validation")
    aux_tables = {name: load_user_table(path, role="aux") for name, path in aux.items()}
    X_validation = None if validation_table is None else align_to(train_table, validation_table)
    X_aux = {name: align_to(train_table, table) for name, table in aux_tables.items()}
    return ProjectData(train_table, validation_table, aux_tables, X_validation, X_aux)


# --------------------------------------------------------------------------- schema between runs
def schema_of(table: UserTable) -> dict[str, str]:
    """``{column: dtype kind}`` of a table's features, the part of a run compared with the last."""
    return dict(table.dtypes)


def check_schema_unchanged(previous: Mapping[str, str], current: Mapping[str, str], *, path: str,
                           record: str) -> None:
    """Refuse a change of the training table's features against the last run's schema:
    a column added, dropped, renamed (one dropped and one added) or with another dtype kind.
    The message names the column(s) and how to accept the change deliberately."""
    dropped = [c for c in previous if c not in current]
    added = [c for c in current if c not in previous]
    retyped = [f"{c!r} {previous[c]} -> {current[c]}" for c in previous if c in current and previous[c] != current[c]]
    if not (dropped or added or retyped):
        return
    if len(dropped) == 1 and len(added) == 1:
        change = f"column {dropped[0]!r} renamed to {added[0]!r}"
    else:
        change = "; ".join(part for part in (
            f"column(s) dropped {_names(dropped)}" if dropped else "",
            f"column(s) added {_names(added)}" if added else "",
            f"type changed {', '.join(retyped)}" if retyped else "") if part)
    if retyped and (len(dropped) == 1 and len(added) == 1):
        change += f"; type changed {', '.join(retyped)}"
    raise ValueError(f"{path}: schema changed since the last run ({change}); nothing is re-mapped. "
                     f"If the change is intended, delete {record} and run again")


def as_float_frame(X: np.ndarray, columns: list[str]) -> pd.DataFrame:
    """A feature table with the user's column names (generated sets keep the training names)."""
    return pd.DataFrame(np.asarray(X, dtype=np.float64), columns=list(columns))


def describe(table: UserTable) -> dict[str, Any]:
    """Rows, columns and label counts of a table (for records and messages)."""
    out: dict[str, Any] = {"rows": table.n_rows, "columns": list(table.columns)}
    if table.y is not None:
        out["normals"] = int((table.y == 0).sum())
        out["anomalies"] = int((table.y == 1).sum())
    return out
