"""``auxqual run`` and ``auxqual schedule``: the project's pipeline as a Prefect flow, once or on a cron.

    auxqual run [--repo DIR] [--set KEY=VALUE ...]
    auxqual schedule [--repo DIR] --cron "0 2 * * *" [--timezone Europe/Brussels] [--name nightly]

Both work in a project made by ``auxqual init`` (and in the benchmark repository): the flow
is ``auxqual.flows.pipeline.pipeline``, the deployment ``auxqual.flows.deploy.serve``, imported
inside ``run`` only, so ``auxqual --help`` never loads Prefect or DVC.
"""

from __future__ import annotations

import argparse
from typing import Any

from auxqual.cli.help import RawDescriptionDefaultsHelpFormatter

EPHEMERAL_STARTUP_SECONDS = 120
RUN_DESCRIPTION = """\
Run the pipeline of the project in --repo once, as a Prefect flow (one task per stage, with
logs and artifacts in the Prefect UI when PREFECT_API_URL points at a server):

  1. `dvc add` of the input files named in params.yaml `inputs` (new data is recorded);
  2. `dvc repro`, stage by stage, of the stages whose data, code or params changed;
  3. on success, the run's record runs/<UTC time>-<flow run id>.json (inputs and their
     sha256, the decision, the validation AUROC, the model and its sha256) and one git
     commit of it with dvc.lock, the .dvc files, params.yaml, results/*.json and reports/.

A failed run commits nothing and leaves the last good results in place. Exit code 0 when
the run completed, 1 when it failed, 2 for a bad --repo or --set.
"""

SCHEDULE_DESCRIPTION = """\
Serve the project's pipeline as the Prefect deployment auxqual-pipeline/<name> on a cron
schedule, from this machine; it keeps running (stop it with Ctrl-C). Each scheduled run
does what `auxqual run` does. Start a Prefect server first, so that the schedule outlives
this command:

  prefect server start        # once, in another terminal (UI at http://127.0.0.1:4200)
  prefect config set PREFECT_API_URL=http://127.0.0.1:4200/api

`prefect deployment run 'auxqual-pipeline/nightly'` starts a run now.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``run`` and ``schedule`` on the ``auxqual`` command (returns the ``run`` parser)."""
    run_parser = subparsers.add_parser("run", help="run the project's pipeline once (Prefect flow, commits a record)",
                                       description=RUN_DESCRIPTION,
                                       formatter_class=RawDescriptionDefaultsHelpFormatter)
    run_parser.add_argument("--repo", default=".", help="the project's folder")
    run_parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                            help="change a key of params.yaml for this run (YAML value, e.g. select.q=[0,50]); "
                                 "repeatable")
    run_parser.set_defaults(func=run, action="run")

    schedule = subparsers.add_parser("schedule", help="serve the project's pipeline on a cron schedule (Prefect)",
                                     description=SCHEDULE_DESCRIPTION,
                                     formatter_class=RawDescriptionDefaultsHelpFormatter)
    schedule.add_argument("--repo", default=".", help="the project's folder")
    schedule.add_argument("--cron", required=True, help='cron schedule, e.g. "0 2 * * *" (02:00 every night)')
    schedule.add_argument("--timezone", default=None, help="IANA time zone of the cron (UTC when not given)")
    schedule.add_argument("--name", default="nightly", help="the deployment's name")
    schedule.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                          help="a params.yaml change applied by every scheduled run; repeatable")
    schedule.add_argument("--overlap", choices=("enqueue", "cancel"), default="enqueue",
                          help="a run due while the previous one still runs: wait for it, or be cancelled")
    schedule.set_defaults(func=run, action="schedule")
    return run_parser


def run(args: argparse.Namespace) -> int:
    """Run the flow once (``auxqual run``) or serve its deployment (``auxqual schedule``)."""
    from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS as startup
    from prefect.settings import temporary_settings

    # without PREFECT_API_URL Prefect starts a temporary server, whose default 20 s to start
    # is too short on a busy machine
    updates = {startup: EPHEMERAL_STARTUP_SECONDS} if (startup.value() or 0) < EPHEMERAL_STARTUP_SECONDS else {}
    with temporary_settings(updates=updates):
        if args.action == "schedule":
            from auxqual.flows.deploy import serve

            serve(args.repo, args.cron, name=args.name, overrides=args.overrides or None, timezone=args.timezone,
                  overlap=args.overlap)
            return 0
        from auxqual.flows.pipeline import run_once

        return run_once(args.repo, args.overrides or None)
