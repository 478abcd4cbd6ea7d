"""``auxqual score``: a quality score for every auxiliary anomaly of a file."""

from __future__ import annotations

import argparse
import inspect
from pathlib import Path
from typing import TYPE_CHECKING

from auxqual.cli.help import SCORE_NAMES, DefaultsHelpFormatter

if TYPE_CHECKING:  # imported where they are used, so that `auxqual --help` needs none of them
    import numpy as np

    from auxqual.io import Table
    from auxqual.quality.registry import Scorer


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``score`` on the ``auxqual`` command."""
    names = ", ".join(SCORE_NAMES)
    parser = subparsers.add_parser(
        "score", help="score auxiliary anomalies with EAP, an ablation or a baseline",
        description=("Fit a quality score on a training set (normals + labelled anomalies, label "
                     "column/array 'y': 1 = anomaly, 0 = normal) and score every row of an auxiliary "
                     "anomaly file. Files: .npz (arrays X, y), .csv or .parquet (feature columns, "
                     "plus 'y' in the training file). Every column except 'y' is a feature, whatever its "
                     "name (the provenance columns of a table made by `auxqual generate` are set aside and "
                     "named on stderr); a cell that is not a number, NaN or inf is an error naming the "
                     "file, row and column. Columns are matched by name (a missing or extra name is an "
                     "error); an .npz, whose columns have only positions (x0 ...), is not matched against "
                     "other names unless --match-by-position is given. Values with |x| > 1e150 and NaN/inf "
                     "scores are errors (exit 2); all-equal scores are a warning; --out may not be an "
                     f"input. Methods: {names}."),
        formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--train", required=True, type=Path, help="training data with labels")
    parser.add_argument("--aux", required=True, type=Path, help="auxiliary anomalies (labels ignored)")
    parser.add_argument("--method", default="eap", metavar="NAME", help=f"quality score: {names}")
    parser.add_argument("--out", required=True, type=Path, help="output .parquet (row, score[, score_std])")
    parser.add_argument("--seed", type=int, default=None,
                        help="random_state of the method (default: the method's own, 331 for EAP)")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="extra method parameter, repeatable (e.g. n_subsets=50)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda when present, else cpu)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--match-by-position", action="store_true",
                        help="match --aux's columns to --train's by position, not by name")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Score ``args.aux`` and write ``args.out`` atomically; nothing is written on error.

    Everything that can be checked before the fit is: the output path, the method and
    its parameters, the inputs' columns and magnitudes.
    """
    import pandas as pd

    from auxqual.cli.checks import (
        check_magnitude,
        check_output,
        note_provenance,
        warn_if_tied,
    )
    from auxqual.io import align_columns, read_table, write_parquet
    from auxqual.quality import make_scorer

    check_output(args.out, {"--train": [args.train], "--aux": [args.aux]}, (".parquet",))
    scorer = make_scorer(args.method, **_method_params(args))
    train = read_table(args.train, role="train")
    aux = read_table(args.aux, role="aux")
    X_aux = align_columns(train, aux, match_by_position=args.match_by_position)
    for table in (train, aux):
        note_provenance(table)
        check_magnitude(table.X, table.path)
    score, std = _fit_and_score(args, scorer, train, X_aux)
    warn_if_tied(score, f"--method {args.method} on {args.aux}")
    frame = pd.DataFrame({"row": range(X_aux.shape[0]), "score": score})
    if std is not None:
        frame["score_std"] = std
    frame["method"] = args.method
    write_parquet(frame, args.out)
    return 0


def _fit_and_score(args: argparse.Namespace, scorer: Scorer, train: Table, X_aux: np.ndarray):
    """``(score, std)`` of ``scorer`` fitted on ``train``; a parameter of the wrong type that
    only the fit finds, and NaN or infinite scores, are ``ValueError``s."""
    from auxqual.cli.checks import check_finite_scores
    from auxqual.quality import score_with_std

    if train.y is None:  # read_table(role="train") reads the labels or refuses the file
        raise ValueError(f"{train.path}: no labels to fit --method {args.method} on")
    try:
        scorer.fit(train.X, train.y)
        score, std = score_with_std(scorer, X_aux)
    except TypeError as error:  # e.g. a str where a number is needed, found by the fit
        raise ValueError(f"--method {args.method}: a parameter has the wrong type ({error}); "
                         f"given: {' '.join(args.param) or 'no --param'}") from error
    check_finite_scores(score, f"--method {args.method} on {args.aux}")
    if std is not None:
        check_finite_scores(std, f"--method {args.method} on {args.aux} (score_std)")
    return score, std


def _method_params(args: argparse.Namespace) -> dict[str, object]:
    """Parameters for the method: --param pairs, plus seed/device/progress where it takes them."""
    params = dict(_parse_param(item) for item in args.param)
    _check_param_types(args.method, params)
    accepted = _accepted_params(args.method)
    if args.seed is not None:
        params["random_state"] = args.seed
    for key, value in (("device", args.device), ("progress", not args.quiet)):
        if key in accepted and key not in params and value is not None:
            params[key] = value
    return params


def _accepted_params(method: str) -> set[str]:
    from auxqual.quality.registry import _all_scorers

    cls = _all_scorers().get(method)
    return set(inspect.signature(cls).parameters) if cls is not None else set()


def _check_param_types(method: str, params: dict[str, object]) -> None:
    """Refuse text where the method's default is a number or a bool (``n_subsets=abc``),
    naming the parameter, before anything is fitted."""
    from auxqual.quality.registry import _all_scorers

    cls = _all_scorers().get(method)
    if cls is None:
        return
    for key, value in params.items():
        parameter = inspect.signature(cls).parameters.get(key)
        default = None if parameter is None else parameter.default
        takes_text = parameter is not None and "str" in str(parameter.annotation)
        if isinstance(value, str) and isinstance(default, (bool, int, float)) and not takes_text:
            raise ValueError(f"--param {key}={value}: {method} expects a number or bool like its "
                             f"default {key}={default!r}, not text")


def _parse_param(item: str) -> tuple[str, object]:
    """``KEY=VALUE``, the value read as YAML by the one parser of ``--set`` and ``--param``."""
    from auxqual.params.values import parse_assignment

    return parse_assignment(item, "--param")
