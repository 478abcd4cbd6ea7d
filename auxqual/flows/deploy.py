"""Run the pipeline flow on a cron schedule, served from this machine (``flow.serve``).

    prefect server start                                   # once, in another terminal (UI at :4200)
    prefect config set PREFECT_API_URL=http://127.0.0.1:4200/api
    python -m auxqual.flows.deploy                                 # cron from params.yaml, else 0 2 * * *
    python -m auxqual.flows.deploy --cron "30 3 * * 1-5" --timezone Europe/Brussels --repo /path/to/auxqual

The command creates (or updates) the deployment ``auxqual-pipeline/<name>`` and keeps
running: it polls the API and starts each scheduled run in a subprocess. Stop it with
Ctrl-C (its schedule is paused until it is served again). Run it again with another
``--cron`` to change the schedule. ``prefect deployment run 'auxqual-pipeline/nightly'``
starts a run now.

The cron comes from ``--cron``, else ``schedule.cron`` in the repository's params.yaml
when that key exists, else ``DEFAULT_CRON``.

Overlapping runs: the deployment allows one active run (``concurrency_limit=1``). With
``--overlap enqueue`` (default) a run that comes due while the previous one is still
running waits in the state *AwaitingConcurrencySlot* and starts when it ends; with
``--overlap cancel`` it is cancelled instead. Either way the flow itself also holds the
repository's slot (see ``auxqual.flows.pipeline``), so a run started by hand
(``python -m auxqual.flows.pipeline``) never overlaps a scheduled one either.

A project made by ``auxqual init`` is served the same way (``auxqual schedule --cron ...``
in the project runs this): each scheduled run records the inputs' new data (``dvc add``),
reproduces the pipeline and commits its record ``runs/<id>.json`` (see ``auxqual.flows.pipeline``).

For several machines use ``prefect.yaml`` (a process work pool) instead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from auxqual.flows.dvcrepo import check_overrides, check_repo, load_params
from auxqual.flows.pipeline import DEFAULT_BUSY_RETRIES, DEFAULT_BUSY_RETRY_DELAY, FLOW_NAME, pipeline
from auxqual.project.runs import is_project

DEFAULT_CRON = "0 2 * * *"
DEFAULT_NAME = "nightly"
OVERLAP = {"enqueue": "ENQUEUE", "cancel": "CANCEL_NEW"}


def cron_for(repo: Path, cron: str | None = None) -> str:
    """``cron`` when given, else ``schedule.cron`` of the repository's params.yaml, else
    ``DEFAULT_CRON``; checked by Prefect's own cron schedule model."""
    if not cron:
        schedule = (load_params(repo).get("schedule") or {})
        cron = schedule.get("cron") if isinstance(schedule, dict) else None
    cron = str(cron or DEFAULT_CRON)
    from prefect.client.schemas.schedules import CronSchedule

    try:
        CronSchedule(cron=cron)
    except ValueError as error:  # pydantic's ValidationError is a ValueError
        raise ValueError(f"cron: {cron!r} is not a valid cron expression (e.g. '0 2 * * *')") from error
    return cron


def deployment_options(repo: str | Path = ".", cron: str | None = None, *, name: str = DEFAULT_NAME,
                       overrides: Sequence[str] | None = None, timezone: str | None = None,
                       overlap: str = "enqueue", busy_retries: int = DEFAULT_BUSY_RETRIES,
                       busy_retry_delay: float = DEFAULT_BUSY_RETRY_DELAY) -> dict[str, Any]:
    """The keyword arguments of ``Runner.add_flow(pipeline, ...)`` for the scheduled
    deployment (``flow.serve`` takes the same, with ``global_limit`` for
    ``concurrency_limit``)."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.schedules import Cron
    from prefect.types.entrypoint import EntrypointType

    path = check_repo(repo)
    params = load_params(path)
    check_overrides(params, overrides)  # a malformed or unknown key fails here, not at 2 am
    if overlap not in OVERLAP:
        raise ValueError(f"overlap: expected one of {sorted(OVERLAP)}, got {overlap!r}")
    cron = cron_for(path, cron)
    what = ("dvc add of the inputs, dvc repro and a committed run record" if is_project(params)
            else "dvc repro")
    return {
        "name": name,
        "schedules": [Cron(cron, timezone=timezone or "UTC")],
        "concurrency_limit": ConcurrencyLimitConfig(limit=1,
                                                    collision_strategy=ConcurrencyLimitStrategy(OVERLAP[overlap])),
        "parameters": {"repo": str(path), "overrides": list(overrides) if overrides else None,
                       "busy_retries": busy_retries, "busy_retry_delay": busy_retry_delay},
        "tags": ["auxqual"],
        # the run's subprocess imports auxqual.flows.pipeline from the installed package
        "entrypoint_type": EntrypointType.MODULE_PATH,
        "description": f"{what} of {path} on the cron schedule {cron!r} ({timezone or 'UTC'})",
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m auxqual.flows.deploy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", default=".", help="root of the DVC repository (default: the current folder)")
    parser.add_argument("--cron", default=None,
                        help=f"cron schedule (default: params.yaml schedule.cron, else {DEFAULT_CRON!r})")
    parser.add_argument("--timezone", default=None, help="IANA time zone of the cron (default UTC)")
    parser.add_argument("--name", default=DEFAULT_NAME, help="deployment name (default %(default)s)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="parameter override applied by every scheduled run, repeatable")
    parser.add_argument("--overlap", choices=sorted(OVERLAP), default="enqueue",
                        help="a run due while the previous one runs: wait for it (enqueue) or be cancelled")
    args = parser.parse_args(argv)
    try:
        serve(args.repo, args.cron, name=args.name, overrides=args.overrides or None, timezone=args.timezone,
              overlap=args.overlap)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def serve(repo: str | Path = ".", cron: str | None = None, *, name: str = DEFAULT_NAME,
          overrides: Sequence[str] | None = None, timezone: str | None = None, overlap: str = "enqueue") -> None:
    """Create or update the deployment ``auxqual-pipeline/<name>`` of ``repo`` and serve it
    until interrupted (Ctrl-C). A bad repository, cron, override or overlap is a
    ``ValueError``, raised before anything is served."""
    options = deployment_options(repo, cron, name=name, overrides=overrides, timezone=timezone, overlap=overlap)
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        print("warning: PREFECT_API_URL is not set: a temporary server cannot run schedules; start one with "
              "`prefect server start` and `prefect config set PREFECT_API_URL=http://127.0.0.1:4200/api`",
              file=sys.stderr)
    options["global_limit"] = options.pop("concurrency_limit")
    print(f"serving {FLOW_NAME}/{name}: {options['description']}", file=sys.stderr)
    pipeline.serve(**options)


if __name__ == "__main__":
    sys.exit(main())
