"""``auxqual card``: one model's audit card as Markdown, JSON and a self-contained HTML page.

    auxqual card --model models/production/model.joblib
    auxqual card --model models/digits/local/eap/mlp/q20.pt --out reports/q20-card.html

Reads the model, its lineage sidecar and, in a project made by ``auxqual init``, the
selection, evaluation, gate and run records beside it (``auxqual.card``). A model file
whose sha256 no longer matches its sidecar is stated in the card, loudly; what does not
apply (a benchmark model has no selection, validation AUROC or gate) is marked not available.
"""

from __future__ import annotations

import argparse
from typing import Any

from auxqual.cli.help import RawDescriptionDefaultsHelpFormatter


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``card`` sub-command on an ``argparse`` subparsers object."""
    parser = subparsers.add_parser(
        "card", help="write one model's audit card (Markdown, JSON, HTML)",
        description=__doc__, formatter_class=RawDescriptionDefaultsHelpFormatter)
    parser.add_argument("--model", required=True, metavar="PATH",
                        help="the model file (a relative path is looked up under --root first)")
    parser.add_argument("--out", metavar="FILE",
                        help="the cards' stem, or one of the three files (default: reports/card.{md,json,html} "
                             "under --root)")
    parser.add_argument("--root", default=".", metavar="DIR",
                        help="the project (or repository) root the sidecar's paths are relative to")
    parser.add_argument("--last", type=_positive, default=10, metavar="N",
                        help="run records shown in the gate's history figure")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Write the card; print the three paths; return 0 (a ``ValueError`` exits 2 in ``auxqual.cli.main``)."""
    from auxqual.card import write_card

    written = write_card(args.model, root=args.root, out=args.out, last=args.last)
    for path in written.values():
        print(path)
    return 0
