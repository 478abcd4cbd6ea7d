"""A Dask cluster of separate processes on this machine, started with the commands of docs/orchestration.md.

    with dask_cluster(folder, workers=2) as address:   # "tcp://127.0.0.1:<port>"
        ...  # AUXQUAL_DASK_ADDRESS=address python -m auxqual.flows.pipeline --set fanout.runner=dask

runs, in ``folder`` and from this interpreter's environment with this checkout on ``PYTHONPATH``:

    dask scheduler --host 127.0.0.1 --port 0 --no-dashboard --dashboard-address 127.0.0.1:0 \\
        --scheduler-file F
    dask worker --scheduler-file F --nworkers 1 --nthreads 1 --host 127.0.0.1 --no-dashboard \\
        --dashboard-address 127.0.0.1:0                                  # once per worker

so every socket listens on ``host`` only (without ``--dashboard-address`` the HTTP endpoints
of the scheduler and the workers listen on all interfaces, even with ``--no-dashboard``).
It is what a user scaling out runs on each machine, and what the cluster tests and the
benchmark use; a ``LocalCluster`` would hide what separate processes need (importable
code, a parallel backend allowed in a daemonic worker). The processes are stopped when
the block ends (SIGTERM, then SIGKILL of their process groups after ``stop_timeout``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Cluster:
    """The running processes: ``address`` of the scheduler, ``logs`` folder (one file per
    process), and the ``Popen`` of the scheduler and of each ``dask worker`` (a nanny
    that starts the worker process and restarts it when it dies)."""

    address: str
    logs: Path
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen] = field(default_factory=list)

    def worker_pids(self) -> list[int]:
        """The pids of the worker processes themselves (the nannies' children), from the scheduler."""
        from distributed import Client

        with Client(self.address, timeout=30) as client:
            return sorted(int(pid) for pid in client.run(os.getpid).values())


def dask_command(*args: str) -> list[str]:
    """``dask <args>`` from this interpreter's environment."""
    return [str(Path(sys.executable).parent / "dask"), *args]


def scheduler_args(scheduler_file: Path, host: str, preload: str | None = None) -> list[str]:
    args = ["scheduler", "--host", host, "--port", "0", "--no-dashboard", "--dashboard-address", f"{host}:0",
            "--scheduler-file", str(scheduler_file)]
    return args + (["--preload", preload] if preload else [])


def worker_args(scheduler_file: Path, host: str) -> list[str]:
    return ["worker", "--scheduler-file", str(scheduler_file), "--nworkers", "1", "--nthreads", "1", "--host", host,
            "--no-dashboard", "--dashboard-address", f"{host}:0"]


@contextlib.contextmanager
def dask_cluster(folder: str | os.PathLike, workers: int = 2, *, host: str = "127.0.0.1",
                 env: Mapping[str, str] | None = None, preload: str | None = None, start_timeout: float = 180,
                 stop_timeout: float = 30) -> Iterator[Cluster]:
    """Start a scheduler and ``workers`` single-threaded workers in ``folder``; yield the
    ``Cluster`` once every worker has registered (``TimeoutError`` after
    ``start_timeout`` s, naming the log files); stop them all on exit.

    ``env`` is the processes' environment (default: this one). ``preload``: a module or
    file the scheduler runs at start-up (``dask scheduler --preload``).
    """
    folder = Path(folder)
    logs = Path(tempfile.mkdtemp(prefix="auxqual-dask-"))
    scheduler_file = logs / "scheduler.json"
    environ = with_checkout_on_path(dict(os.environ if env is None else env))
    processes: list[subprocess.Popen] = []
    try:
        scheduler = _start(dask_command(*scheduler_args(scheduler_file, host, preload)), folder, environ,
                           logs / "scheduler.log")
        processes.append(scheduler)
        address = _wait_for_file(scheduler_file, scheduler, start_timeout, logs)
        for index in range(workers):
            processes.append(_start(dask_command(*worker_args(scheduler_file, host)), folder, environ,
                                    logs / f"worker-{index}.log"))
        cluster = Cluster(address=address, logs=logs, scheduler=scheduler, workers=processes[1:])
        if workers:
            _wait_for_workers(address, workers, start_timeout, logs)
        yield cluster
    finally:
        _stop(processes[1:], stop_timeout)  # the workers first: a worker without its scheduler retries for a while
        _stop(processes[:1], stop_timeout)


def with_checkout_on_path(environ: dict[str, str]) -> dict[str, str]:
    """``environ`` with this checkout first on ``PYTHONPATH``: the workers import the cell
    functions of ``stages/`` and ``flows/``, which live in the checkout, not in the wheel."""
    checkout = str(Path(__file__).resolve().parents[1])
    environ["PYTHONPATH"] = os.pathsep.join(p for p in (checkout, environ.get("PYTHONPATH")) if p)
    return environ


def _start(command: list[str], folder: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as handle:  # the child keeps its own descriptor
        return subprocess.Popen(command, cwd=folder, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def _wait_for_file(path: Path, process: subprocess.Popen, timeout: float, logs: Path) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dask scheduler exited with code {process.returncode}; see {logs}/scheduler.log")
        with contextlib.suppress(OSError, ValueError, KeyError):
            return str(json.loads(path.read_text())["address"])
        time.sleep(0.2)
    raise TimeoutError(f"dask scheduler: no {path.name} after {timeout:.0f} s; see {logs}/scheduler.log")


def _wait_for_workers(address: str, workers: int, timeout: float, logs: Path) -> None:
    from distributed import Client

    with Client(address, timeout=timeout) as client:
        try:
            client.wait_for_workers(workers, timeout=timeout)
        except TimeoutError as error:
            raise TimeoutError(f"{workers} dask worker(s) did not register in {timeout:.0f} s; see {logs}") from error


def _stop(processes: list[subprocess.Popen], timeout: float) -> None:
    """SIGTERM to each process group, then SIGKILL to those still alive after ``timeout``."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):  # still alive: killed just below
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        with contextlib.suppress(ProcessLookupError):  # the nanny's worker process too
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
