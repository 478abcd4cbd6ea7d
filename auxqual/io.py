"""Reading datasets and writing outputs safely.

Every table a user gives auxqual is read by ``read_table`` and its columns matched by
``align_columns``: the ``auxqual`` command, the stages of a project made by ``auxqual
init`` (``auxqual.userdata``) and the library loaders share this one path. Every column
except the label ``y`` is a feature, whatever its name; a bad cell, a damaged file or
columns that do not match raise a one-line ``ValueError`` naming the file (and the row and
column), which the command prints with exit code 2. Every writer is atomic: it writes to a
temporary file in the destination's directory and renames it over the target,
so an interrupted run never leaves a half-written output behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple, overload

import numpy as np
import pandas as pd

LABEL_COLUMN = "y"
SUPPORTED_SUFFIXES = (".npz", ".csv", ".parquet")


# --------------------------------------------------------------------------- reading
# The one validation path for every table a user hands to auxqual: the ``auxqual`` command
# (score, generate, select), the scaffolded project's stages (``auxqual.userdata``) and the
# library loaders below all read through ``read_table`` and match columns with
# ``align_columns``, so the same bad input gives the same one-line error everywhere.
ROLES = ("train", "validation", "aux", "data", "labelled")
# Provenance columns that ``auxqual generate`` (``auxqual.generators``) writes after the
# features. A table is recognised as generated only when it carries the whole signature,
# so a user's column called ``seed`` or ``kind`` is never set aside on its name alone.
GENERATED_SIGNATURE = ("generator", "generator_params", "seed", "source_dataset", "source_row")
GENERATED_PROVENANCE = (*GENERATED_SIGNATURE, "source_row_2", "source_label", "kind")
SHOWN = 10  # names listed in one message


@dataclass(frozen=True)
class Table:
    """A checked table: features in file order, labels, and where the columns came from.

    ``positional`` is true for ``.npz`` files, whose columns have only positions (they are
    named ``x0 … x{d-1}``); ``provenance`` lists the provenance columns of a table made by
    ``auxqual generate``, set aside (not features).
    """

    path: str
    X: np.ndarray                  # finite float64, rows × len(columns)
    y: np.ndarray | None           # int8 0 / 1, or None (no labels, or an auxiliary set)
    columns: list[str]             # feature names, as in the file
    dtypes: dict[str, str]         # feature name -> dtype kind: "integer", "float" or "bool"
    positional: bool = False
    provenance: tuple[str, ...] = ()

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])


def read_table(path: str | os.PathLike, *, role: str, label_column: str = LABEL_COLUMN) -> Table:
    """Read and check one table (``.npz``, ``.csv`` or ``.parquet``) for its ``role``.

    Every column except the label column is a feature, whatever its name; a cell that is
    not a number, NaN or inf, an empty file or a damaged ``.npz`` is a one-line
    ``ValueError`` naming the file (and the row and column). Roles:

    - ``train``: labels required (an empty cell counts as normal), at least one normal;
    - ``validation``: labels required, none empty, at least one anomaly;
    - ``labelled``: labels required, none empty;
    - ``data``: labels optional (an empty cell counts as normal);
    - ``aux``: a label column, if any, is ignored (every row is an auxiliary anomaly).

    ``.npz`` files (ADBench: arrays ``X`` and ``y``) are read without pickles and get the
    positional names ``x0 … x{d-1}``.
    """
    if role not in ROLES:
        raise ValueError(f"read_table: role must be one of {ROLES}, got {role!r}")
    path = Path(path)
    frame = read_frame(path)
    positional = path.suffix.lower() == ".npz"
    y = None
    if label_column in frame.columns:
        labels = frame[label_column]
        frame = frame.drop(columns=[label_column])
        if role != "aux":
            y = _labels(labels, path, label_column, allow_missing=role in ("train", "data"))
    elif role in ("train", "validation", "labelled"):
        what = "array" if positional else "column"
        raise ValueError(f"{path}: missing label {what} {label_column!r} (1 = anomaly, 0 = normal)")
    provenance = _generated_provenance(frame)
    frame = frame.drop(columns=list(provenance))
    if frame.shape[1] == 0:
        raise ValueError(f"{path}: has no feature columns")
    columns = [str(c) for c in frame.columns]
    duplicated = sorted(c for c, n in Counter(columns).items() if n > 1)
    if duplicated:
        raise ValueError(f"{path}: column(s) {names_text(duplicated)} appear more than once")
    dtypes = {name: _numeric_kind(frame[column], path, name, label_column)
              for name, column in zip(columns, frame.columns, strict=True)}
    X = frame.to_numpy(dtype=np.float64)
    _check_finite(X, path, columns, positional)
    if role == "train" and y is not None and not (y == 0).any():
        raise ValueError(f"{path}: no normal rows (every row has {label_column} = 1); the training table needs "
                         "normals")
    if role == "validation" and y is not None and not (y == 1).any():
        raise ValueError(f"{path}: no anomaly ({label_column} = 1); a validation table needs labelled anomalies")
    return Table(str(path), X, y, columns, dtypes, positional, provenance)


def read_frame(path: str | os.PathLike) -> pd.DataFrame:
    """The raw table of ``path`` (``.npz`` as columns ``x0 … x{d-1}`` and ``y``), with at
    least one row; an unreadable file is one ``ValueError`` line naming it."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ValueError(f"{path}: unsupported file type {suffix!r}; expected one of {SUPPORTED_SUFFIXES}")
    try:
        if suffix == ".npz":
            frame = _read_npz(path)
        elif suffix == ".csv":
            frame = pd.read_csv(path)
        else:
            frame = pd.read_parquet(path)
    except pd.errors.EmptyDataError as error:
        raise ValueError(f"{path}: file is empty") from error
    except ValueError as error:
        if str(error).startswith(str(path)):
            raise
        raise ValueError(f"{path}: cannot read ({_one_line(error)})") from error
    except Exception as error:  # zip, pyarrow and the csv parser raise many types for a damaged file
        raise ValueError(f"{path}: cannot read ({type(error).__name__}: {_one_line(error)})") from error
    if len(frame) == 0:
        raise ValueError(f"{path}: has no rows")
    return frame


def _read_npz(path: Path) -> pd.DataFrame:
    """Arrays ``X`` (2-D, numeric) and ``y`` of an ``.npz`` as a table; never unpickles."""
    if not zipfile.is_zipfile(path):  # np.load would try a pickle and say so
        raise ValueError(f"{path}: not a valid .npz archive (truncated, or not a zip file)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "X" not in archive.files:
                raise ValueError(f"{path}: missing array 'X' (found {sorted(archive.files)})")
            X = _npz_array(archive, "X", path)
            y = _npz_array(archive, "y", path) if "y" in archive.files else None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError) as error:
        raise ValueError(f"{path}: damaged .npz archive ({type(error).__name__}: {_one_line(error)})") from error
    if X.ndim == 1:  # the words of check_features and check_labels
        raise ValueError(f"{path}: expected a 2-D feature matrix, got a 1-D array of length {X.shape[0]}")
    if X.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D feature matrix, got shape {X.shape}")
    frame = pd.DataFrame(X, columns=feature_names(X.shape[1]))
    if y is not None:
        if y.ndim != 1:
            raise ValueError(f"{path}: labels must be 1-D, got shape {y.shape}")
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"{path}: {y.shape[0]} labels for {X.shape[0]} rows")
        frame[LABEL_COLUMN] = y
    return frame


def _npz_array(archive: Any, name: str, path: Path) -> np.ndarray:
    try:
        array = archive[name]
    except ValueError as error:  # numpy refuses object arrays without pickles
        raise ValueError(f"{path}: array {name!r} holds Python objects, not numbers; save it as a numeric "
                         "array") from error
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{path}: array {name!r} has dtype {array.dtype}, not numbers")
    return array


def _generated_provenance(frame: pd.DataFrame) -> tuple[str, ...]:
    """The provenance columns of a table written by ``auxqual generate`` (else none)."""
    if not all(c in frame.columns for c in GENERATED_SIGNATURE):
        return ()
    return tuple(c for c in GENERATED_PROVENANCE if c in frame.columns)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def _at(path: Path, row: int) -> str:
    """``row r`` (0 = the first data row)."""
    return f"row {row}"


def _csv_line(path: Path, row: int) -> str:
    """``; line n of the file`` for a CSV file (header = line 1), else nothing."""
    return f"; line {row + 2} of the file" if path.suffix.lower() == ".csv" else ""


def _labels(labels: pd.Series, path: Path, label_column: str, *, allow_missing: bool) -> np.ndarray:
    values = pd.to_numeric(labels, errors="coerce")
    unparsed = values.isna() & labels.notna()
    if unparsed.any():
        row = int(np.flatnonzero(unparsed.to_numpy())[0])
        raise ValueError(f"{path}: {_at(path, row)}, column {label_column!r}: {labels.iloc[row]!r} is not a label "
                         "(1 = anomaly, 0 = normal)")
    missing = values.isna().to_numpy()
    if missing.any() and not allow_missing:
        raise ValueError(f"{path}: {int(missing.sum())} empty label(s) in column {label_column!r}, first at "
                         f"{_at(path, int(np.flatnonzero(missing)[0]))}; every row needs 1 (anomaly) or 0 (normal)")
    numeric = values.fillna(0).to_numpy(dtype=np.float64)  # rows without a label are normal
    invalid = ~np.isin(numeric, (0.0, 1.0))
    if invalid.any():
        found = [int(v) if float(v).is_integer() else v for v in np.unique(numeric[invalid])[:5].tolist()]
        raise ValueError(f"{path}: column {label_column!r}: labels must be 0 (normal) or 1 (anomaly); "
                         f"found {found} (first at {_at(path, int(np.flatnonzero(invalid)[0]))})")
    return numeric.astype(np.int8)


def _numeric_kind(column: pd.Series, path: Path, name: str, label_column: str) -> str:
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
        raise ValueError(f"{path}: {_at(path, row)}, column {name!r}: {column.iloc[row]!r} is not a number "
                         f"(every column except {label_column!r} is a feature{_csv_line(path, row)})")
    raise ValueError(f"{path}: column {name!r} is not numeric (dtype {column.dtype}); every column except "
                     f"{label_column!r} is a feature")


def _check_finite(X: np.ndarray, path: Path, columns: list[str], positional: bool) -> None:
    """Refuse NaN or inf in check_features' words; a column by its name, an .npz's by position."""
    bad = ~np.isfinite(X)
    if bad.any():
        rows, cols = np.nonzero(bad)
        column = int(cols[0]) if positional else repr(columns[cols[0]])
        raise ValueError(f"{path}: {int(bad.sum())} NaN or inf value(s), first at {_at(path, int(rows[0]))}, "
                         f"column {column}")


def names_text(names: Sequence[str]) -> str:
    """``['a', 'b', …]``: the first few names, for a one-line message."""
    shown = ", ".join(repr(n) for n in names[:SHOWN])
    return f"[{shown}{', …' if len(names) > SHOWN else ''}]"


def align_columns(reference: Table, table: Table, *, match_by_position: bool = False) -> np.ndarray:
    """``table.X`` with its columns in ``reference``'s order, matched by name.

    A column missing from ``table``, or one it has that ``reference`` lacks, is a
    ``ValueError`` naming the columns and both files. An ``.npz`` (columns known only by
    position, named ``x0 … x{d-1}``) against a table with other names is refused rather
    than matched by position, unless ``match_by_position`` is given (the command's
    ``--match-by-position``): then only the widths must agree.
    """
    if match_by_position:
        if table.X.shape[1] != reference.X.shape[1]:
            raise ValueError(f"{table.path}: has {table.X.shape[1]} feature columns but {reference.path} has "
                             f"{reference.X.shape[1]} (matched by position)")
        return table.X
    missing = [c for c in reference.columns if c not in table.columns]
    extra = [c for c in table.columns if c not in reference.columns]
    named, npz = (table, reference) if reference.positional else (reference, table)
    if (missing or extra) and reference.positional != table.positional and not all(map(_is_x_name, named.columns)):
        raise ValueError(f"{named.path}: its named columns cannot be matched to {npz.path}, an .npz whose "
                         f"columns have only positions (x0 … x{npz.X.shape[1] - 1}); give both as named tables "
                         "(.csv, .parquet), or ask to match by position (--match-by-position, "
                         "match_by_position=True)")
    if missing or extra:
        parts = [f"{word} {names_text(names)}" for word, names in (("missing", missing), ("extra", extra)) if names]
        hint = " (renamed?)" if missing and extra else ""
        raise ValueError(f"{table.path}: feature columns do not match {reference.path} (matched by name): "
                         f"{', '.join(parts)}{hint}")
    index = {c: i for i, c in enumerate(table.columns)}
    return table.X[:, [index[c] for c in reference.columns]]


class Dataset(NamedTuple):
    """A loaded dataset: features, labels and where the feature columns came from."""

    X: np.ndarray                 # finite 2-D float64 features
    y: np.ndarray | None          # int8 labels 0 / 1, or None when the file has none
    columns: list[str] | None     # feature names in X's column order; None for .npz (position only)
    dropped: list[str]            # provenance columns of a generated table (set aside, not features)


@overload
def load_dataset(path: str | os.PathLike, *, require_labels: Literal[True] = ...,
                 label_column: str = ...) -> tuple[np.ndarray, np.ndarray]: ...
@overload
def load_dataset(path: str | os.PathLike, *, require_labels: bool,
                 label_column: str = ...) -> tuple[np.ndarray, np.ndarray | None]: ...


def load_dataset(path: str | os.PathLike, *, require_labels: bool = True,
                 label_column: str = LABEL_COLUMN) -> tuple[np.ndarray, np.ndarray | None]:
    """Load a dataset as ``(X, y)`` through ``read_table`` (role ``labelled``, or ``data``
    with ``require_labels=False``: then ``y`` is ``None`` for a file without labels)."""
    data = load_named_dataset(path, require_labels=require_labels, label_column=label_column)
    return data.X, data.y


def load_named_dataset(path: str | os.PathLike, *, require_labels: bool = True,
                       label_column: str = LABEL_COLUMN) -> Dataset:
    """``load_dataset`` plus the feature names (``None`` for ``.npz``) and the provenance
    columns set aside; the rules are ``read_table``'s."""
    table = read_table(path, role="labelled" if require_labels else "data", label_column=label_column)
    return Dataset(table.X, table.y, None if table.positional else table.columns, list(table.provenance))


def load_features(path: str | os.PathLike, *, label_column: str = LABEL_COLUMN) -> np.ndarray:
    """Load only the feature matrix of a file (labels, if present, are dropped)."""
    X, _ = load_dataset(path, require_labels=False, label_column=label_column)
    return X


def feature_columns_of(frame: pd.DataFrame) -> list[str]:
    """The feature columns of a table written by the benchmark's own stages (``stages/``).

    Those tables follow the convention that features are named ``x0 … x{d-1}``, the
    other columns being metadata (kind, provenance); when such columns exist, only they
    are features, else every numeric column. Never used for a user's file: those go
    through ``read_table``, where every column except the label is a feature.
    """
    named = [c for c in frame.columns if _is_x_name(c)]
    if named:
        return sorted(named, key=lambda c: int(c[1:]))
    return [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]


def _is_x_name(column: Any) -> bool:
    return isinstance(column, str) and column.startswith("x") and column[1:].isdigit()


def feature_names(d: int) -> list[str]:
    """Column names for ``d`` features, the convention of every auxqual table."""
    return [f"x{j}" for j in range(d)]


# --------------------------------------------------------------------------- validation
def check_features(X: Any, *, name: str = "X", n_features: int | None = None) -> np.ndarray:
    """Return ``X`` as a finite 2-D float64 array, or raise ``ValueError`` naming ``name``."""
    try:
        X = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: features are not numeric ({error})") from error
    if X.ndim == 1:
        raise ValueError(f"{name}: expected a 2-D feature matrix, got a 1-D array of length {X.shape[0]}")
    if X.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D feature matrix, got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name}: has no rows")
    if X.shape[1] == 0:
        raise ValueError(f"{name}: has no feature columns")
    bad = ~np.isfinite(X)
    if bad.any():
        rows, cols = np.nonzero(bad)
        raise ValueError(f"{name}: {bad.sum()} NaN or inf value(s), first at row {rows[0]}, column {cols[0]}")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name}: has {X.shape[1]} features, expected {n_features} (as in the training data)")
    return X


def check_labels(y: Any, *, name: str = "y", n_rows: int | None = None) -> np.ndarray:
    """Return labels as an int8 array of 0 (normal) / 1 (anomaly), or raise ``ValueError``."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name}: labels must be 1-D, got shape {y.shape}")
    if n_rows is not None and y.shape[0] != n_rows:
        raise ValueError(f"{name}: {y.shape[0]} labels for {n_rows} rows")
    try:
        numeric = y.astype(np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: labels are not numeric ({error})") from error
    invalid = ~np.isin(numeric, (0.0, 1.0))
    if invalid.any():
        values = np.unique(y[invalid])[:5]
        raise ValueError(f"{name}: labels must be 0 (normal) or 1 (anomaly); found {values.tolist()}")
    return numeric.astype(np.int8)


# --------------------------------------------------------------------------- writing
@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; fsync it and rename it over ``target``
    on success.

    The temporary file gets the mode an ordinary ``open`` would give (``0o666`` less
    the umask: ``0o644`` under umask 022), not ``mkstemp``'s ``0o600``, so a published
    output is readable by whom the user's umask allows. It is flushed to disk before
    the rename, so a crash cannot leave a renamed but empty file. On any exception
    the temporary file is removed and ``target`` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temp_file(target)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def publish_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Build an output folder in a hidden staging folder beside ``target``; on success
    replace ``target`` by it in one rename.

    A stage stopped half-way (an exception, Ctrl-C, SIGTERM) removes the staging
    folder; a stage killed with SIGKILL leaves a hidden ``.<name>.partial`` folder,
    never a partial ``target``, and the next run removes the leftover first.
    """
    target = Path(target)
    staging = target.parent / f".{target.name}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    try:
        yield staging
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _new_temp_file(target: Path) -> Path:
    """Create an empty, new ``.<name>.<random>.tmp`` beside ``target``, mode ``0o666`` less
    the umask (the kernel applies it, so nothing reads or changes the process-wide umask;
    ``O_EXCL`` makes the name ours alone, as ``mkstemp`` does)."""
    for _ in range(100):
        tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
        try:
            handle = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except OSError as error:  # name the target, not the temporary file the user never asked for
            raise OSError(error.errno, f"cannot write a file there ({error.strerror})", str(target)) from error
        os.close(handle)
        return tmp
    raise FileExistsError(f"{target.parent}: cannot find a free temporary name for {target.name}")


def _fsync(path: Path) -> None:
    """Flush ``path``'s data to disk (before it is renamed into place)."""
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def write_parquet(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``frame`` to Parquet atomically and deterministically (no index, no timestamps)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False, engine="pyarrow", compression="zstd")
    return path


def write_csv(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``frame`` to CSV atomically (no index; floats written so they read back exactly)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return path


def write_text(text: str, path: str | os.PathLike) -> Path:
    """Write ``text`` atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_json(payload: Any, path: str | os.PathLike) -> Path:
    """Write ``payload`` as stable, sorted, indented JSON atomically."""
    return write_text(json.dumps(payload, indent=2, sort_keys=True, default=_json_default) + "\n", path)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def features_frame(X: np.ndarray, extra: Mapping[str, np.ndarray | pd.Series | Sequence[Any]] | None = None,
                   ) -> pd.DataFrame:
    """A DataFrame with feature columns ``x0 … x{d-1}`` followed by ``extra`` columns."""
    frame = pd.DataFrame(np.asarray(X, dtype=np.float64), columns=feature_names(X.shape[1]))
    for column, values in (extra or {}).items():
        frame[column] = values
    return frame


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes (``hashlib.file_digest``); ``ValueError`` naming a missing file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: file not found (cannot hash it)")
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
