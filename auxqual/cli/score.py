"""``auxqual score``: a quality score for every auxiliary anomaly of a file."""

from __future__ import annotations

import argparse
import inspect
from pathlib import Path

import pandas as pd

from auxqual.io import load_dataset, load_features, write_parquet
from auxqual.quality import make_scorer, score_with_std, scorer_names


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``score`` on the ``auxqual`` command."""
    names = ", ".join(scorer_names())
    parser = subparsers.add_parser(
        "score", help="score auxiliary anomalies with EAP, an ablation or a baseline",
        description=("Fit a quality score on a training set (normals + labelled anomalies, label "
                     "column/array 'y': 1 = anomaly, 0 = normal) and score every row of an auxiliary "
                     "anomaly file. Files: .npz (arrays X, y), .csv or .parquet (feature columns, "
                     f"plus 'y' in the training file). Methods: {names}."),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
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
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Score ``args.aux`` and write ``args.out`` atomically; nothing is written on error."""
    if args.out.suffix != ".parquet":
        raise ValueError(f"--out {args.out}: expected a .parquet path")
    X_train, y_train = load_dataset(args.train)
    X_aux = load_features(args.aux)
    if X_aux.shape[1] != X_train.shape[1]:
        raise ValueError(f"{args.aux}: has {X_aux.shape[1]} features but {args.train} has {X_train.shape[1]}")
    scorer = make_scorer(args.method, **_method_params(args))
    scorer.fit(X_train, y_train)
    score, std = score_with_std(scorer, X_aux)
    frame = pd.DataFrame({"row": range(X_aux.shape[0]), "score": score})
    if std is not None:
        frame["score_std"] = std
    frame["method"] = args.method
    write_parquet(frame, args.out)
    return 0


def _method_params(args: argparse.Namespace) -> dict[str, object]:
    """Parameters for the method: --param pairs, plus seed/device/progress where it takes them."""
    params = dict(_parse_param(item) for item in args.param)
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
    return set(inspect.signature(cls.__init__).parameters) if cls is not None else set()


def _parse_param(item: str) -> tuple[str, object]:
    key, sep, raw = item.partition("=")
    if not sep or not key:
        raise ValueError(f"--param {item!r}: expected KEY=VALUE")
    return key, _literal(raw)


def _literal(raw: str) -> object:
    """``VALUE`` as int, float, bool or None when it reads as one, else the string."""
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for convert in (int, float):
        try:
            return convert(raw)
        except ValueError:
            pass
    return raw
