"""``auxqual generate``: make auxiliary anomalies with one generator and write them to Parquet.

    auxqual generate --generator local --data train.npz --n 1000 --out aux.parquet \
        [--seed 0] [--param alpha=5] [--source other.npz]

``--out`` ending in ``.csv`` writes CSV, ``.parquet`` Parquet; any other suffix, a folder or
an input file is refused.

``--param key=value`` may repeat; a value is read as JSON when it parses (``5``, ``0.1``,
``true``, ``null``) and as a string otherwise (``kind=borderline-2``). ``--source`` names the
other dataset for ``outlier_exposure`` (once) and the other datasets for ``benchmark_mixture``
(repeat it; each is named by its file's stem). ``benchmark_mixture`` reads ``--data`` as the
FULL labelled dataset, takes ``--n`` as optional (default: the protocol's counts) and names the
dataset by the file's stem. Errors are ``ValueError``s, which the ``auxqual`` command maps to
exit code 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, cast

from auxqual.cli.help import GENERATOR_NAMES, RawDescriptionDefaultsHelpFormatter

BENCHMARK = "benchmark_mixture"
OUTLIER_EXPOSURE = "outlier_exposure"
WRITERS = {".parquet": "write_parquet", ".csv": "write_csv"}  # --out suffix -> writer in auxqual.io


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``generate`` sub-command; it sets ``func=run``."""
    names = ", ".join(GENERATOR_NAMES)
    parser = subparsers.add_parser(
        "generate", help="make auxiliary anomalies with a generator and write them to Parquet or CSV",
        description=f"Make auxiliary anomalies and write them, with their provenance, to Parquet or CSV. "
                    f"Every column of --data except 'y' is a feature (a cell that is not a number is an "
                    f"error naming the file, row and column); the output keeps the feature columns' names, "
                    f"so it can be scored against --data. Generators: {names}.",
        formatter_class=RawDescriptionDefaultsHelpFormatter)
    parser.add_argument("--generator", required=True, choices=GENERATOR_NAMES, metavar="NAME",
                        help=f"one of: {names}")
    parser.add_argument("--data", required=True, metavar="FILE",
                        help="training data (.npz/.csv/.parquet, labels y: 1 = labelled anomaly); "
                             f"for {BENCHMARK} the full labelled dataset")
    parser.add_argument("--n", type=int, default=None, metavar="N",
                        help=f"number of rows to make (required, except for {BENCHMARK})")
    parser.add_argument("--out", required=True, metavar="FILE",
                        help="output file, written as Parquet (.parquet) or CSV (.csv) by its suffix; "
                             "never one of the input files")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="a generator parameter; repeat for several")
    parser.add_argument("--source", action="append", default=[], metavar="FILE",
                        help=f"another dataset: for {OUTLIER_EXPOSURE} (once) or {BENCHMARK} (repeat)")
    parser.set_defaults(func=run)
    return parser


def parse_params(items: list[str]) -> dict[str, Any]:
    """``["alpha=5", "kind=borderline-2"]`` → ``{"alpha": 5, "kind": "borderline-2"}``: values
    read as YAML by the one parser of ``--set`` and ``--param`` (``auxqual.params.values``)."""
    from auxqual.params.values import parse_assignments

    return parse_assignments(items, "--param")


def run(args: argparse.Namespace) -> int:
    """Generate and write the table; returns 0. Raises ``ValueError`` on bad input.

    Checked before generating: ``--out`` (a .parquet or .csv file that is none of the
    inputs, in a folder that can be written) and that ``--n`` rows fit in memory.
    """
    from auxqual import io
    from auxqual.cli.checks import check_memory, check_output, note_provenance

    out = Path(args.out)
    check_output(out, {"--data": [args.data], "--source": args.source}, tuple(WRITERS))
    params = parse_params(args.param)
    data = io.read_table(args.data, role="labelled" if args.generator == BENCHMARK else "data")
    note_provenance(data)
    _check_no_clash(data)
    if args.n is not None and args.n > 0:
        check_memory(args.n, data.X.shape[1], "--n")
    if args.generator == BENCHMARK:
        frame = _benchmark(args, params, data.X, data.y)
    else:
        frame = _plain(args, params, data.X, data.y)
    getattr(io, WRITERS[out.suffix.lower()])(with_names(frame, data.columns), out)
    return 0


def _check_no_clash(data) -> None:
    """Refuse a feature named like a provenance column of the output (it would appear twice)."""
    from auxqual.io import GENERATED_PROVENANCE, names_text

    clash = [c for c in data.columns if c in GENERATED_PROVENANCE]
    if clash:
        raise ValueError(f"{data.path}: feature column(s) {names_text(clash)} have the name of a provenance "
                         f"column of the generated table {names_text(list(GENERATED_PROVENANCE))}; rename them")


def with_names(frame, columns: list[str]):
    """The generator's table with its feature columns ``x0 … x{d-1}`` renamed to the training
    table's names, so the generated set can be scored against the file it came from."""
    from auxqual.io import feature_names

    mapping = dict(zip(feature_names(len(columns)), columns, strict=True))
    return frame.rename(columns=mapping)


def _plain(args: argparse.Namespace, params: dict[str, Any], X, y):
    from auxqual.generators import make

    if args.n is None:
        raise ValueError(f"--n is required for generator {args.generator!r}")
    if args.generator == OUTLIER_EXPOSURE:
        if len(args.source) != 1:
            raise ValueError(f"{OUTLIER_EXPOSURE}: give exactly one --source FILE, got {len(args.source)}")
        params.setdefault("source_path", args.source[0])
    elif args.source:
        raise ValueError(f"--source is only for {OUTLIER_EXPOSURE} and {BENCHMARK}, not {args.generator!r}")
    return make(args.generator, **params).generate(X, y, args.n, random_state=args.seed)


def _benchmark(args: argparse.Namespace, params: dict[str, Any], X, y):
    from auxqual.generators import make
    from auxqual.generators.benchmark import BenchmarkMixture
    from auxqual.io import load_dataset

    if not args.source:
        raise ValueError(f"{BENCHMARK}: give the other datasets with --source FILE (repeat it)")
    sources = {Path(path).stem: load_dataset(path) for path in args.source}
    params.setdefault("dataset", Path(args.data).stem)
    generator = cast(BenchmarkMixture, make(BENCHMARK, **params))  # make's name -> class: always this one
    return generator.generate(X, y, args.n, random_state=args.seed, sources=sources)
