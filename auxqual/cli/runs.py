"""``auxqual runs``: every recorded run of a project made by ``auxqual init``.

    auxqual runs                          # a table, oldest first
    auxqual runs --since 2026-12-01       # runs started on or after a date (UTC)
    auxqual runs --model 3f2a9c           # which run made this model, and since when it is in production
    auxqual runs --json                   # the records, for machines
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from auxqual.cli.help import RawDescriptionDefaultsHelpFormatter

SHORT = 12


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``runs`` on the ``auxqual`` command."""
    parser = subparsers.add_parser("runs", help="list the recorded runs of a project (verdicts, models, decisions)",
                                   description=__doc__, formatter_class=RawDescriptionDefaultsHelpFormatter)
    parser.add_argument("--root", default=".", help="the project's folder")
    parser.add_argument("--since", default=None, metavar="DATE", help="only runs started on or after DATE (ISO, UTC)")
    parser.add_argument("--model", default=None, metavar="SHA256",
                        help="a model's sha256 (or a prefix of 4+ hex digits): the run that made it, and the runs "
                             "during which it was in production")
    parser.add_argument("--json", action="store_true", help="print the records as JSON")
    parser.set_defaults(func=run)
    return parser


def _since(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise ValueError(f"--since {text!r}: expected an ISO date such as 2026-12-01 or 2026-12-01T02:00Z") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _started(record: dict) -> datetime:
    return datetime.fromisoformat(str(record["started"]).replace("Z", "+00:00"))


def run(args: argparse.Namespace) -> int:
    from auxqual.project.runs import find_runs, list_runs

    records = list_runs(args.root)
    if args.since:
        since = _since(args.since)
        records = [r for r in records if _started(r) >= since]
    if args.model:
        made = find_runs(args.root, args.model)
        prefix = args.model.lower()
        serving = [r for r in records if str((r.get("production") or {}).get("sha256", "")).startswith(prefix)]
        if args.json:
            print(json.dumps({"made_by": made, "in_production": serving}, indent=2, sort_keys=True, default=str))
            return 0
        if not made and not serving:
            raise ValueError(f"--model {args.model}: no recorded run made or served this model")
        for record in made:
            print(f"made by run {record['run_id']} ({record['started']}, verdict {record.get('verdict')}, "
                  f"{'promoted' if record.get('promoted') else 'not promoted'}, commit {record.get('commit') or '-'})")
        if serving:
            print(f"in production since run {serving[0]['run_id']} ({serving[0]['started']}), through run "
                  f"{serving[-1]['run_id']} ({len(serving)} run(s))")
        return 0
    if args.json:
        print(json.dumps(records, indent=2, sort_keys=True, default=str))
        return 0
    print(_table(records))
    return 0


def _table(records: list[dict]) -> str:
    """One line per run: date, verdict, promoted, model, decision, AUROC, inputs, quality."""
    if not records:
        return "no recorded runs (runs/ is empty); a run of `dvc repro` or `auxqual run` records one"
    header = ("started", "run", "verdict", "promoted", "model", "decision", "val AUROC", "train", "quality (mean)")
    rows = [header]
    for r in records:
        decision = r.get("decision") or {}
        sets = (r.get("metrics") or {}).get("sets", {})
        quality = "; ".join(f"{name}: " + ", ".join(f"{s} {v['mean']:.3g}" for s, v in summary["scores"].items())
                            for name, summary in sorted(sets.items()))
        rows.append((
            str(r.get("started", "")), str(r.get("run_id", "")), str(r.get("verdict", "-")),
            "yes" if r.get("promoted") else "no", str((r.get("model") or {}).get("sha256", ""))[:SHORT],
            f"{decision.get('set') or '-'}/{decision.get('score') or '-'}/q{float(decision.get('q', 0)):g}/"
            f"{decision.get('detector', '?')}",
            "-" if r.get("val_auroc") is None else f"{r['val_auroc']:.4f}",
            str(((r.get("inputs") or {}).get("train") or {}).get("sha256", ""))[:SHORT], quality))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)
