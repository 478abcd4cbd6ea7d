"""``auxqual stage NAME``: one stage of a project made by ``auxqual init`` (``dvc repro`` runs them).

    auxqual stage validate | generate | score | select | train | evaluate | gate | lineage | card
"""

from __future__ import annotations

import argparse
from typing import Any

from auxqual.cli.help import RawDescriptionDefaultsHelpFormatter

STAGE_NAMES = ("validate", "generate", "score", "select", "train", "evaluate", "gate", "lineage", "card")
DESCRIPTION = """\
Run one stage of the production pipeline in a project made by `auxqual init` (dvc.yaml
calls these; run `dvc repro` rather than a stage by hand). Each stage checks params.yaml
first, reads its inputs, and writes its outputs atomically:

  validate  inputs checked; training schema compared with results/schema.json
  generate  data/generated/<generator>.parquet (fitted on the training table)
  score     data/scores/<set>.parquet: every quality score of every auxiliary set
  select    results/selection.json: the chosen set, score, q and detector, every alternative
  train     models/candidate/model.{pt,joblib} + .lineage.json
  evaluate  results/evaluation.json: the candidate's validation AUROC with a bootstrap interval
  gate      results/gate.json: this run against the last good run (pass, warn, fail); the
            candidate is promoted to models/production unless it fails; runs/<run id>.json
  lineage   results/lineage.parquet (for `auxqual lineage`)
  card      reports/card.{md,json,html}: the production model's audit card
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``stage`` on the ``auxqual`` command."""
    parser = subparsers.add_parser("stage", help="run one stage of a project made by `auxqual init`",
                                   description=DESCRIPTION, formatter_class=RawDescriptionDefaultsHelpFormatter)
    parser.add_argument("name", choices=STAGE_NAMES, metavar="NAME", help=f"one of {', '.join(STAGE_NAMES)}")
    parser.add_argument("--root", default=".", help="the project's folder")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from auxqual.project.stages import run_stage

    run_stage(args.name, args.root)
    return 0
