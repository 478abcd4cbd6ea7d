"""The ``auxqual`` command: one sub-command per module (score, generate, lineage, select, init,
stage, runs, card; run and schedule, both in ``auxqual.cli.run``).

Building the parser imports only the standard library and ``auxqual.cli.help``: each
sub-command module imports numpy, pandas, scikit-learn or torch inside its ``run``, so
``auxqual --help`` and every ``auxqual <command> --help`` answer at once, and ``auxqual
lineage`` never loads torch (tests/test_cli_startup.py).

A ``ValueError`` raised by the library (bad file, column, parameter: every input is read by
``auxqual.io.read_table``, which turns a damaged ``.npz``, CSV or Parquet file into one), an
``OSError`` (a path that cannot be read or written), a ``MemoryError``, or a damaged archive
that slipped past a loader (``zipfile.BadZipFile``, ``EOFError``) is printed as one line
``auxqual: error: …`` and exits with code 2, like argparse's own errors.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import zipfile
from collections.abc import Sequence

from auxqual.cli import card, generate, init, lineage, run, runs, score, select, stage

SUBCOMMANDS = (score, generate, lineage, select, init, stage, run, runs, card)


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
    """Entry point of the ``auxqual`` console script.

    A user's error is one line on stderr and exit code 2, never a traceback: bad input
    (``ValueError``), a path that cannot be read or written (``OSError``), too little
    memory (``MemoryError``). When the reader of stdout goes away (``auxqual lineage |
    head``) the command stops quietly with code 2.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        _silence_stdout()
        return 2
    except (ValueError, OSError, MemoryError, EOFError, zipfile.BadZipFile) as error:
        print(f"auxqual: error: {_one_line(error)}", file=sys.stderr)
        return 2


def _one_line(error: BaseException) -> str:
    """The error's message on one line; an ``OSError`` as ``path: reason``."""
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        text = f"{error.filename}: {error.strerror}"
    elif isinstance(error, MemoryError):
        text = f"out of memory ({error or 'no details'})"
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())


def _silence_stdout() -> None:
    """Point stdout at devnull so that the final flush at exit cannot fail again
    (the recipe of the Python docs for SIGPIPE / BrokenPipeError)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):  # stdout is no real file (captured)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
