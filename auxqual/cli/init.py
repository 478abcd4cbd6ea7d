"""``auxqual init``: scaffold a project for your own data (see ``auxqual.project.scaffold``).

    auxqual init DIR --train train.parquet [--validation val.parquet] [--aux NAME=FILE ...]
                     [--generator local ...]
"""

from __future__ import annotations

import argparse
from typing import Any

from auxqual.cli.help import RawDescriptionDefaultsHelpFormatter

DESCRIPTION = """\
Create DIR, a git + DVC project for your own data: the input files are checked, copied
under DIR/data/ and tracked by DVC; dvc.yaml runs the production pipeline (validate ->
generate -> score -> select -> train -> evaluate -> lineage) through `auxqual stage`
commands, and params.yaml (commented) holds every setting. Then: cd DIR && dvc repro.

Inputs (.parquet, .csv, or ADBench .npz with arrays X and y): every column except `y` is a
feature, matched by name across files. --train needs `y` (1 = labelled anomaly, 0 or empty =
normal); --validation is labelled (it needs anomalies; its normals join the held-out ones);
each --aux NAME=FILE is an auxiliary anomaly set made elsewhere (its `y`, if any, is ignored).
A bad file is one line naming it, exit 2, and DIR is not created.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``init`` on the ``auxqual`` command."""
    parser = subparsers.add_parser("init", help="create a project (git + DVC) for your own data",
                                   description=DESCRIPTION, formatter_class=RawDescriptionDefaultsHelpFormatter)
    parser.add_argument("directory", metavar="DIR", help="the new project's folder (must not exist, or be empty)")
    parser.add_argument("--train", required=True, help="training table with labels y")
    parser.add_argument("--validation", default=None, help="labelled validation table (optional)")
    parser.add_argument("--aux", action="append", default=[], metavar="NAME=FILE",
                        help="an auxiliary anomaly set made elsewhere; repeatable")
    parser.add_argument("--generator", action="append", default=[], metavar="NAME",
                        help="a generator of auxqual.generators to add in params.yaml (e.g. local); repeatable")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from auxqual.project.scaffold import init_project, parse_aux

    if not args.aux and not args.generator:
        raise ValueError("auxqual init: give at least one --aux NAME=FILE or --generator NAME (the auxiliary "
                         "anomalies to judge)")
    init_project(args.directory, args.train, validation=args.validation, aux=parse_aux(args.aux),
                 generators=args.generator)
    return 0
