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
from typing import Any

import numpy as np
import pandas as pd

from auxqual.io import Table, align_columns, names_text, read_table

UserTable = Table  # a user's table is an ``auxqual.io.Table``: one validation path for every door


def load_user_table(path: str | os.PathLike, *, role: str) -> UserTable:
    """Read and check one table; ``role`` is ``train``, ``validation`` or ``aux``.

    ``train`` needs a ``y`` column (empty cells count as normal) and at least one normal;
    ``validation`` needs ``y`` without empty cells and at least one anomaly; an ``aux`` set's
    ``y`` column, if any, is ignored (every row is an auxiliary anomaly). ``.npz`` files
    (ADBench: arrays ``X`` and ``y``) get the positional names ``x0 … x{d-1}``. The rules
    and messages are ``auxqual.io.read_table``'s, the same as the ``auxqual`` command's.
    """
    if role not in ("train", "validation", "aux"):
        raise ValueError(f"load_user_table: role must be 'train', 'validation' or 'aux', got {role!r}")
    return read_table(path, role=role)


# --------------------------------------------------------------------------- matching columns
def align_to(reference: UserTable, table: UserTable, *, match_by_position: bool = False) -> np.ndarray:
    """``table.X`` with its columns in ``reference``'s order, matched by name
    (``auxqual.io.align_columns``: a missing or extra column, or an ``.npz`` against other
    names, is a ``ValueError`` naming the columns and both files)."""
    return align_columns(reference, table, match_by_position=match_by_position)


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
            f"column(s) dropped {names_text(dropped)}" if dropped else "",
            f"column(s) added {names_text(added)}" if added else "",
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
