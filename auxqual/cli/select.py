"""``auxqual select``: choose a detector among candidates without test labels (Q3).

    auxqual select --train train.parquet --aux aux.parquet --scores scores.parquet \
        --candidates candidates.yaml --out selection.parquet [--test test.parquet]

A seeded, stratified ``--validation-fraction`` of ``--train`` (normals and labelled
anomalies) is held out; every candidate is fitted on the rest. For each quality-score
column of ``--scores`` (one row per row of ``--aux``, e.g. the output of ``auxqual
score``), the validation set is the held-out normals plus the auxiliary anomalies weighted
by that score (``--weighting``); ``uniform`` weighs every auxiliary anomaly 1 and
``labelled`` uses the held-out labelled anomalies alone. The candidate with the best
weighted validation AUROC is chosen (``auxqual.selection.select_model``). With ``--test``
(labelled), each candidate's test AUROC, the oracle and the regret are reported too.

``--candidates``: a YAML or JSON file ``{name: {detector: ssdo, params: {k: 5}}, ...}``
(detectors: ``auxqual.detectors.registry.DETECTOR_NAMES``). Input files follow ``auxqual
score``'s rules (.npz, .csv, .parquet; labels ``y`` in ``--train`` and ``--test``); errors
are ``ValueError``s naming the file, column or option, which the command maps to exit code 2.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auxqual.cli.help import WEIGHTINGS, DefaultsHelpFormatter

if TYPE_CHECKING:  # imported where they are used, so that `auxqual --help` needs none of them
    import numpy as np
    import pandas as pd

KEY_COLUMNS = ("row", "aux_id", "dataset", "generator", "kind", "method")   # and auxqual.io.LABEL_COLUMN


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``select`` on the ``auxqual`` command."""
    parser = subparsers.add_parser(
        "select", help="choose a detector among candidates with auxiliary anomalies weighted by a quality score",
        description=("Hold out part of the training data, fit every candidate detector on the rest, and choose "
                     "the one with the best validation AUROC on the held-out normals plus the auxiliary anomalies "
                     "weighted by each quality score (also: uniform weights, and the held-out labelled anomalies "
                     "alone). With --test, report each choice's test AUROC, the oracle and the regret."),
        formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--train", required=True, type=Path, help="training data with labels (1 = anomaly)")
    parser.add_argument("--aux", required=True, type=Path, help="auxiliary anomalies (labels ignored)")
    parser.add_argument("--scores", required=True, type=Path,
                        help="quality scores, one row per --aux row (.parquet or .csv, a column per score)")
    parser.add_argument("--candidates", required=True, type=Path,
                        help="YAML/JSON file {name: {detector: NAME, params: {...}}}")
    parser.add_argument("--out", required=True, type=Path,
                        help="output .parquet (score, candidate, val_auroc, test_auroc, chosen, oracle)")
    parser.add_argument("--test", type=Path, default=None, help="labelled test data: report test AUROC and regret")
    parser.add_argument("--column", action="append", default=[], metavar="NAME",
                        help="score column(s) of --scores to use, repeatable; [] = every score column")
    parser.add_argument("--weighting", default="minmax", choices=WEIGHTINGS, help="quality score -> row weight")
    parser.add_argument("--q", type=float, default=50.0, help="top_q weighting: %% of rows weighted 1")
    parser.add_argument("--validation-fraction", type=float, default=0.2,
                        help="share of the training normals (and labelled anomalies) held out")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, the candidates and ties")
    parser.add_argument("--device", default=None, help="torch device (default: cuda when present, else cpu)")
    parser.add_argument("--match-by-position", action="store_true",
                        help="match --aux's and --test's columns to --train's by position, not by name")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Select with every score column; write ``args.out`` atomically and print the choices."""
    import numpy as np
    import pandas as pd

    from auxqual.candidates import fit_candidates
    from auxqual.cli.checks import check_output
    from auxqual.io import align_columns, write_parquet
    from auxqual.selection import holdout_split, select_model, validation_weights

    inputs = {"--train": [args.train], "--aux": [args.aux], "--scores": [args.scores],
              "--candidates": [args.candidates], "--test": [args.test] if args.test else []}
    check_output(args.out, inputs, (".parquet",))
    specs = load_candidates(args.candidates)
    train, X_aux, test = _load_inputs(args)
    X_train, y_train = train.X, train.y
    scores = read_scores(args.scores, X_aux.shape[0], args.column, aux=args.aux)
    X_test, y_test = (None, None) if test is None else (
        align_columns(train, test, match_by_position=args.match_by_position), test.y)
    try:
        fit, held = holdout_split(y_train, args.validation_fraction, random_state=args.seed)
    except ValueError as error:
        raise ValueError(f"--train {args.train} / --validation-fraction: {error}") from error
    models = fit_candidates(specs, X_train[fit], y_train[fit], random_state=args.seed, device=args.device)
    normals, labelled = held[y_train[held] == 0], held[y_train[held] == 1]
    tables = []
    for name, anomalies, weights in _weightings(scores, X_aux, X_train[labelled], args):
        X_val = np.vstack([X_train[normals], anomalies])
        y_val = np.r_[np.zeros(normals.size), np.ones(len(anomalies))]
        val = {n: m.decision_function(X_val) for n, m in models.items()}
        test = None if X_test is None else {n: m.decision_function(X_test) for n, m in models.items()}
        result = select_model(val, y_val, validation_weights(y_val, weights), test_decisions=test, y_test=y_test,
                              random_state=args.seed)
        tables.append(result.table.assign(score=name, regret=result.regret))
        print(f"{name}: chosen {result.chosen} (validation AUROC {result.chosen_val_auroc:.4f})"
              + ("" if X_test is None else f", test AUROC {result.chosen_test_auroc:.4f}, oracle {result.oracle} "
                                           f"{result.oracle_test_auroc:.4f}, regret {result.regret:.4f}"))
    table = pd.concat(tables, ignore_index=True)
    write_parquet(table[["score", "candidate", "val_auroc", "test_auroc", "chosen", "oracle", "regret"]], args.out)
    return 0


def _weightings(scores: pd.DataFrame, X_aux: np.ndarray, X_labelled: np.ndarray, args: argparse.Namespace):
    """``(name, validation anomalies, their weights)`` for every score column, then
    ``uniform`` and (when some labelled anomaly was held out) ``labelled``."""
    from auxqual.selection import LABELLED, UNIFORM, score_weights

    for column in scores.columns:
        yield str(column), X_aux, score_weights(scores[column].to_numpy(), args.weighting, q=args.q,
                                                random_state=args.seed)
    yield UNIFORM, X_aux, None
    if len(X_labelled):
        yield LABELLED, X_labelled, None


def _load_inputs(args: argparse.Namespace):
    """``(train, X_aux, test)`` under ``auxqual score``'s rules (``auxqual.io.read_table``):
    every column but ``y`` a feature, columns matched by name, huge values refused."""
    from auxqual.cli.checks import check_magnitude, note_provenance
    from auxqual.io import align_columns, read_table

    train = read_table(args.train, role="train")
    aux = read_table(args.aux, role="aux")
    test = None if args.test is None else read_table(args.test, role="labelled")
    X_aux = align_columns(train, aux, match_by_position=args.match_by_position)
    for table in (train, aux, test):
        if table is not None:
            note_provenance(table)
            check_magnitude(table.X, table.path)
    return train, X_aux, test


def read_scores(path: Path, n_rows: int, columns: list[str], *, aux: Path | None = None) -> pd.DataFrame:
    """The quality-score columns of ``path`` (``.parquet`` or ``.csv``), one row per auxiliary
    row: ``columns`` when given, else every numeric column that is neither a feature
    (``x0 …``), a key (``row``, ``aux_id``, ...) nor a spread (``*_std``). A ``row`` column,
    when present, must number the rows 0 … n-1 and orders them. A NaN or infinite score is
    an error naming the row and column (it would otherwise become weight 0)."""
    import numpy as np
    import pandas as pd

    from auxqual.io import LABEL_COLUMN, read_frame

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--scores {path}: file not found")
    if path.suffix.lower() not in (".parquet", ".csv"):
        raise ValueError(f"--scores {path}: expected a .parquet or .csv file")
    frame = read_frame(path)
    if "row" in frame.columns:
        rows = frame["row"].to_numpy()
        if sorted(rows.tolist()) != list(range(len(frame))):
            raise ValueError(f"--scores {path}: column 'row' must number the rows 0 … {len(frame) - 1}")
        frame = frame.iloc[np.argsort(rows, kind="stable")].reset_index(drop=True)
    if len(frame) != n_rows:
        raise ValueError(f"--scores {path}: {len(frame)} rows for {n_rows} auxiliary rows in {aux}")
    features = {c for c in frame.columns if isinstance(c, str) and c[:1] == "x" and c[1:].isdigit()}
    keys = (*KEY_COLUMNS, LABEL_COLUMN)
    default = [c for c in frame.columns if c not in keys and c not in features and not str(c).endswith("_std")
               and pd.api.types.is_numeric_dtype(frame[c])]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"--scores {path}: no column(s) {missing}; present: {list(map(str, frame.columns))}")
    chosen = list(columns) or default
    if not chosen:
        raise ValueError(f"--scores {path}: no numeric score column (present: {list(map(str, frame.columns))})")
    bad = [c for c in chosen if not pd.api.types.is_numeric_dtype(frame[c])]
    if bad:
        raise ValueError(f"--scores {path}: non-numeric score column(s) {bad}")
    values = frame[chosen].astype(np.float64)
    rows, cols = np.nonzero(~np.isfinite(values.to_numpy()))
    if rows.size:
        raise ValueError(f"--scores {path}: row {int(rows[0])}, column {chosen[cols[0]]!r}: NaN or infinite score "
                         f"({rows.size} in all); a missing score is not weight 0: fill or drop those rows")
    return values


def load_candidates(path: Path) -> list[Any]:
    """The candidates of a YAML or JSON file (``auxqual.selection.parse_candidates``)."""
    import yaml

    from auxqual.selection import parse_candidates

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--candidates {path}: file not found")
    try:
        text = path.read_text(encoding="utf-8")
        mapping = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, yaml.YAMLError) as error:
        raise ValueError(f"--candidates {path}: cannot read ({error})") from error
    try:
        return parse_candidates(mapping)
    except ValueError as error:
        raise ValueError(f"--candidates {path}: {error}") from error
