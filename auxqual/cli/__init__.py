"""The ``auxqual`` command: one sub-command per module (score, generate, lineage).

A ``ValueError`` raised by the library (bad file, column, parameter) is printed
as ``auxqual: error: …`` and exits with code 2, like argparse's own errors.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from auxqual.cli import generate, lineage, score

SUBCOMMANDS = (score, generate, lineage)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="auxqual",
        description="Score auxiliary anomalies (EAP and baselines), generate them, and audit lineage.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``auxqual`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ValueError as error:
        print(f"auxqual: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
