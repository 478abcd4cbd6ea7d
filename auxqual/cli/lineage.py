"""``auxqual lineage``: which auxiliary anomaly sets made a model, which models an
anomaly set made, and whether the files on disk still match their hashes.

    auxqual lineage --model models/digits/local/eap/mlp/q20.pt
    auxqual lineage --anomaly-set data/aux/digits/local.parquet   (or a sha256 prefix)
    auxqual lineage --verify

``--verify`` re-hashes every model, training, auxiliary and scores file the table names and
prints a summary line and the files that changed or are missing (``--json``: every file
record); a path that leads outside ``--root`` (a crafted table) is refused before any file is
read. Reads ``results/lineage.parquet`` (``--table``); when that file does not exist the
sidecars under ``--models-dir`` are collected on the fly. Without a query it lists
every model. Exit codes: 0 ok, 1 ``--verify`` found changed or missing files,
2 bad input (unknown model, ambiguous hash prefix, unreadable table, ...).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auxqual.cli.help import RawDescriptionDefaultsHelpFormatter

if TYPE_CHECKING:  # imported by `run`, so that `auxqual lineage --help` answers at once
    import pandas as pd

SHORT = 12  # hash characters shown in the readable tables
_MODEL_VIEW = ("anomaly_set_path", "anomaly_set_sha256", "generator", "score", "q", "n_rows",
               "selected_rows_sha256")
_SET_VIEW = ("model_path", "model_sha256", "detector", "score", "q", "n_rows", "selected_rows_sha256")
_LIST_VIEW = ("model_path", "detector", "anomaly_set_path", "score", "q", "n_rows")
_VERIFY_VIEW = ("status", "role", "path", "recorded_sha256", "actual_sha256", "n_models")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``lineage`` sub-command on an ``argparse`` subparsers object."""
    parser = subparsers.add_parser(
        "lineage", help="query model <-> auxiliary anomaly set lineage; verify hashes",
        description=__doc__, formatter_class=RawDescriptionDefaultsHelpFormatter)
    query = parser.add_mutually_exclusive_group()
    query.add_argument("--model", metavar="PATH", help="model path (or sha256 prefix): list its anomaly sets")
    query.add_argument("--anomaly-set", metavar="PATH_OR_HASH",
                       help="anomaly-set path, file, or sha256 prefix (>= 6 hex): list the models it trained")
    query.add_argument("--verify", action="store_true",
                       help="re-hash every model, training, anomaly-set and scores file (paths must lie inside "
                            "--root); exit 1 on drift")
    parser.add_argument("--table", default="results/lineage.parquet", help="lineage table (default: %(default)s)")
    parser.add_argument("--models-dir", default="models",
                        help="sidecars to collect when --table does not exist (default: %(default)s)")
    parser.add_argument("--root", default=".", help="folder the recorded paths are relative to (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print JSON records instead of a table")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the sub-command; print the result; return the exit code (0, 1 or 2)."""
    from auxqual import lineage

    view: tuple[str, ...]
    try:
        table = load_table(Path(args.table), Path(args.models_dir))
        if args.verify:
            return _run_verify(table, Path(args.root), args.json)
        if args.model:
            frame, view = lineage.anomaly_sets_for_model(table, args.model), _MODEL_VIEW
        elif args.anomaly_set:
            frame, view = lineage.models_for_anomaly_set(table, args.anomaly_set), _SET_VIEW
        else:
            frame, view = table, _LIST_VIEW
    except ValueError as error:
        print(f"auxqual lineage: error: {error}", file=sys.stderr)
        return 2
    if args.model and not args.json:
        _print_models(frame)
    else:
        _print(frame, view, args.json, _heading(args, frame))
    return 0


def load_table(table_path: Path, models_dir: Path) -> pd.DataFrame:
    """The lineage table from ``table_path``, else collected from ``models_dir``."""
    import pandas as pd

    from auxqual import lineage

    if table_path.is_file():
        try:
            table = pd.read_parquet(table_path)
        except Exception as error:  # pyarrow raises many types for a bad file
            raise ValueError(f"{table_path}: cannot read the lineage table ({error})") from error
        if "git_rev" in table.columns and "code_sha256" not in table.columns:  # written before code_sha256
            table = table.drop(columns="git_rev").assign(code_sha256=None)
        missing = [c for c in lineage.TABLE_COLUMNS if c not in table.columns
                   and c not in lineage.OPTIONAL_TABLE_COLUMNS]
        if missing:
            raise ValueError(f"{table_path}: not a lineage table (missing columns {missing})")
        return table
    if models_dir.is_dir():
        return lineage.collect_lineage(models_dir)
    raise ValueError(f"neither the lineage table {table_path} nor the models folder {models_dir} exists; "
                     "run `dvc repro lineage` or pass --table / --models-dir")


def _run_verify(table: pd.DataFrame, root: Path, as_json: bool) -> int:
    from auxqual import lineage

    report = lineage.verify(table, root)
    drift = report[report["status"] != "ok"]
    counts = report["status"].value_counts()
    summary = (f"{len(report)} file record(s) under {root}: {counts.get('ok', 0)} ok, "
               f"{counts.get('changed', 0)} changed, {counts.get('missing', 0)} missing")
    if as_json:
        _print(report, _VERIFY_VIEW, True, summary)
    else:  # hundreds of models: show the summary and only the files that drifted
        _print(drift, _VERIFY_VIEW, False, summary)
    return 1 if len(drift) else 0


def _heading(args: argparse.Namespace, frame: pd.DataFrame) -> str:
    if args.model:
        models = frame["model_path"].unique().tolist()
        sha = frame["model_sha256"].iloc[0][:SHORT] if len(frame) else "?"
        codes = sorted({c[:SHORT] + "…" for c in frame["code_sha256"] if isinstance(c, str)}) or ["unknown"]
        return (f"model {', '.join(models)} (sha256 {sha}…, made by code sha256 {', '.join(codes)}): "
                f"{len(frame)} auxiliary set record(s)")
    if args.anomaly_set:
        sets = ", ".join(f"{p} (sha256 {h[:SHORT]}…)" for p, h in
                         frame[["anomaly_set_path", "anomaly_set_sha256"]].drop_duplicates().itertuples(index=False))
        return f"anomaly set {sets}: {frame['model_path'].nunique()} model(s)"
    return f"{frame['model_path'].nunique()} model(s), {len(frame)} lineage row(s)"


def _print(frame: pd.DataFrame, view: tuple[str, ...], as_json: bool, heading: str) -> None:
    import pandas as pd

    columns = [c for c in view if c in frame.columns]
    if as_json:
        print(frame.to_json(orient="records", indent=2))
        return
    print(heading)
    if frame.empty:
        return
    shown = pd.DataFrame({c: frame[c].map(_cell, na_action="ignore").astype(object) for c in columns})
    for column in columns:
        if column.endswith("sha256"):
            shown[column] = shown[column].map(lambda h: h[:SHORT] if isinstance(h, str) else h)
    print(shown.where(shown.notna(), "-").to_string(index=False))


def _print_models(frame: pd.DataFrame) -> None:
    """``--model`` in words, one block per model: its hash and the code that made it, the
    stage and detector with their parameters, the training data, and every auxiliary anomaly
    set with the score and q that selected its rows. Hashes are cut to ``SHORT``
    characters (``--json`` gives them whole)."""
    blocks = []
    for path, rows in frame.groupby("model_path", sort=True):
        first = rows.iloc[0]
        code = _short(first["code_sha256"]) if isinstance(first["code_sha256"], str) else "unknown"
        lines = [f"model {path} (sha256 {_short(first['model_sha256'])}, made by code sha256 {code})",
                 f"  stage            {first['stage']}, params: {_params_text(first['params_json'])}",
                 f"  detector         {first['detector']}, params: {_params_text(first['detector_params_json'])}",
                 f"  training data    {first['train_path']} (sha256 {_short(first['train_sha256'])})"]
        for row in rows.itertuples(index=False):
            lines += _anomaly_set_lines(row)
        blocks.append("\n".join(lines))
    print("\n\n".join(blocks))


def _anomaly_set_lines(row: Any) -> list[str]:
    """The lines of one auxiliary input of a model: the set, and the score and q that chose its rows."""
    if not isinstance(row.anomaly_set_path, str):
        return ["  anomaly set      none"]
    selected = (f"score {row.score}, top q = {_cell(row.q)} % of the set: {_cell(row.n_rows)} rows "
                f"(rows sha256 {_short(row.selected_rows_sha256)})" if row.n_rows
                else f"none of its rows (q = {_cell(row.q)}): trained without auxiliary anomalies")
    return [f"  anomaly set      {row.anomaly_set_path} (sha256 {_short(row.anomaly_set_sha256)}, "
            f"generator {row.generator})",
            f"    selected       {selected}"]


def _short(sha: Any) -> str:
    return f"{sha[:SHORT]}…" if isinstance(sha, str) else "-"


def _params_text(text: Any) -> str:
    """Parameters recorded as JSON, as ``section.key=value`` pairs (``none`` when empty)."""
    try:
        params = json.loads(text) if isinstance(text, str) else (text or {})
    except json.JSONDecodeError:
        return str(text)
    flat = _flatten(params) if isinstance(params, dict) else {"": params}
    return ", ".join(f"{key}={json.dumps(value)}" for key, value in flat.items()) or "none (the defaults)"


def _flatten(params: dict, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _cell(value: Any) -> Any:
    """Whole-number floats (q) without the ``.0``."""
    return int(value) if isinstance(value, float) and value.is_integer() else value
