"""Run independent cells of work (dataset × generator × score × detector × q) and
collect their results in input order.

One entry point, :func:`run_cells`. The runner changes where the cells run, never
what they return: each cell must be a pure function of its inputs (seeds come from
the cell itself), so every runner gives the same results, in the same order.

Runners (params ``fanout.runner``):

- ``serial``: in this process.
- ``process``: a local pool of ``workers`` processes, started with ``spawn`` so that
  torch and OpenMP state is never forked.
- ``prefect``: one Prefect task per cell on a ``ThreadPoolTaskRunner`` of ``workers``
  threads, inside a flow run named ``fanout-<desc>`` (progress and failures show in the
  Prefect UI). Threads suit cells that release the GIL (numpy, torch); use ``process`` or
  ``dask`` for pure-Python cells.
- ``dask``: one Prefect task per cell on ``prefect_dask.DaskTaskRunner``: a local
  cluster of ``workers`` processes (one thread each) by default, or the existing
  scheduler at ``address`` (params ``fanout.address``, else the environment variable
  ``AUXQUAL_DASK_ADDRESS``). Remote workers must see the repository at the same
  absolute path (a shared file system) with the same code and environment: the cells
  read and write the stage's files by path relative to the repository root.

Prefect and Dask are imported only inside those runners, so ``dvc repro`` with the
default runner never imports them. Without ``PREFECT_API_URL`` the two Prefect runners
start a temporary local API (a few seconds); the flows in ``flows/`` pass theirs down.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import math
import multiprocessing
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

RUNNERS = ("serial", "process", "prefect", "dask")
ADDRESS_ENV = "AUXQUAL_DASK_ADDRESS"
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
_LABEL_KEYS = ("dataset", "generator", "score", "detector", "q")


def run_cells(func: Callable[[T], R], cells: Iterable[T], *, runner: str = "serial", workers: int = 1,
              desc: str | None = None, address: str | None = None) -> list[R]:
    """Apply ``func`` to every cell and return the results in the order of ``cells``.

    ``func`` must be a top-level (picklable) function and each cell picklable.
    ``runner="serial"`` runs in this process; ``runner="process"`` runs ``workers``
    processes (each limited to ``cpu_count // workers`` BLAS / torch threads);
    ``runner="prefect"`` runs one Prefect task per cell on ``workers`` threads;
    ``runner="dask"`` runs one Prefect task per cell on a Dask cluster: a local one of
    ``workers`` single-threaded processes, or the scheduler at ``address`` (default: the
    environment variable ``AUXQUAL_DASK_ADDRESS``; ``workers`` is then ignored).
    Progress goes to stderr as a few log lines prefixed by ``desc``. An exception in
    a cell propagates (remaining cells are cancelled where the runner allows).
    """
    cells = list(cells)
    if runner not in RUNNERS:
        raise ValueError(f"runner: unknown runner {runner!r}; known: {list(RUNNERS)}")
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers: must be a positive integer, got {workers!r}")
    if address is not None and runner != "dask":
        raise ValueError(f"address: only the 'dask' runner connects to a scheduler, got runner {runner!r}")
    progress = _Progress(desc, len(cells))
    if runner in ("prefect", "dask") and cells:
        with _prefect_api() as api_url:
            return _run_prefect(func, cells, runner=runner, workers=workers, desc=desc,
                                address=address or os.environ.get(ADDRESS_ENV) or None, progress=progress,
                                api_url=api_url)
    if runner in ("serial", "prefect", "dask") or workers == 1 or len(cells) <= 1:
        results = []
        for cell in cells:
            results.append(func(cell))
            progress.step()
        return results
    threads = max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("spawn")
    results: list[Any] = [None] * len(cells)
    with cf.ProcessPoolExecutor(max_workers=min(workers, len(cells)), mp_context=context,
                                initializer=_limit_threads, initargs=(threads,)) as pool:
        futures = {pool.submit(func, cell): index for index, cell in enumerate(cells)}
        try:
            for future in cf.as_completed(futures):
                results[futures[future]] = future.result()
                progress.step()
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return results


def options_from_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """``runner``, ``workers`` and ``address`` for :func:`run_cells` from the ``fanout``
    section of params.yaml (``address`` only for the ``dask`` runner)."""
    fan = params.get("fanout") or {}
    runner = str(fan.get("runner", "serial"))
    options: dict[str, Any] = {"runner": runner, "workers": int(fan.get("workers", 1))}
    if runner == "dask" and fan.get("address"):
        options["address"] = str(fan["address"])
    return options


# --------------------------------------------------------------------------- Prefect / Dask
@contextlib.contextmanager
def _prefect_api() -> Iterator[str]:
    """The Prefect API to report to: ``PREFECT_API_URL`` when set, else a temporary local
    server started once here, so that Dask workers report to it instead of each starting
    their own."""
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url = PREFECT_API_URL.value()
    if url:
        yield str(url)
        return
    with get_client(sync_client=True) as client:
        url = str(client.api_url)
    with temporary_settings(updates={PREFECT_API_URL: url}):
        yield url


def _run_prefect(func: Callable[[T], R], cells: list[T], *, runner: str, workers: int, desc: str | None,
                 address: str | None, progress: "_Progress", api_url: str) -> list[R]:
    """One Prefect task per cell inside a ``fanout-<desc>`` flow run; results in cell order."""
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    name = desc or getattr(func, "__name__", "cells")
    threads = None
    if runner == "prefect":
        from prefect.task_runners import ThreadPoolTaskRunner

        task_runner = ThreadPoolTaskRunner(max_workers=workers)
    else:
        from prefect_dask import DaskTaskRunner

        logging.getLogger("distributed").setLevel(logging.WARNING)  # not one line per worker event in dvc's log
        if address:
            task_runner = DaskTaskRunner(address=address)
        else:
            threads = max(1, (os.cpu_count() or 1) // workers)
            task_runner = DaskTaskRunner(cluster_kwargs={
                "n_workers": workers, "threads_per_worker": 1, "processes": True,
                "env": {"PREFECT_API_URL": api_url, **{var: str(threads) for var in _THREAD_VARS}}})
    cell_task = task(_call_cell, name=name, task_run_name="{label}", cache_policy=NO_CACHE, persist_result=False,
                     log_prints=False)
    cwd = os.getcwd()
    labels = [_label(cell, index) for index, cell in enumerate(cells)]

    # The cells travel as task parameters, never as flow parameters (those are stored by
    # the API): the flow closes over them.
    @flow(name=f"fanout-{name}", task_runner=task_runner, persist_result=False, validate_parameters=False,
          log_prints=False)
    def fanout() -> list[Any]:
        futures = [cell_task.submit(func=func, cell=cell, cwd=cwd, threads=threads, label=label)
                   for cell, label in zip(cells, labels)]
        results: list[Any] = []
        try:
            for future in futures:  # in submission order: the results keep the order of the cells
                results.append(future.result())
                progress.step()
        except BaseException:
            for future in futures:
                cancel = getattr(future, "cancel", None)
                if cancel is not None:
                    with contextlib.suppress(Exception):  # best effort: the failure is what gets reported
                        cancel()
            raise
        return results

    return fanout()


_CWD_LOCK = threading.Lock()
_LIMITED: set[int] = set()


def _call_cell(func: Callable[[Any], Any], cell: Any, cwd: str, threads: int | None, label: str) -> Any:
    """Run one cell where the submitting stage runs: in ``cwd`` (a Dask worker may have
    started elsewhere), with ``threads`` BLAS / torch threads on a local cluster."""
    del label  # only names the task run
    if threads is not None and os.getpid() not in _LIMITED:
        _limit_threads(threads)
        _LIMITED.add(os.getpid())
    if os.getcwd() != cwd:
        with _CWD_LOCK:
            if os.getcwd() != cwd:
                if not os.path.isdir(cwd):
                    raise ValueError(f"fanout: the worker does not see the repository folder {cwd} "
                                     "(a Dask worker needs the repository at the same path)")
                os.chdir(cwd)
    return func(cell)


def _label(cell: Any, index: int) -> str:
    """A short, readable task-run name for a cell (its dataset, generator, score, ...)."""
    if isinstance(cell, Mapping):
        parts = [str(cell[key]) for key in _LABEL_KEYS if cell.get(key) is not None]
        if parts:
            return f"{index}:" + "/".join(parts)
    return str(index)


# --------------------------------------------------------------------------- helpers
def _limit_threads(threads: int) -> None:
    """Worker set-up: cap BLAS / OpenMP / torch threads, and turn nested joblib process
    pools into threads. The pool already occupies the cores; and a nested ``loky`` pool
    (EAP fits its subsets in one) would hold the worker's exit for loky's 300 s idle
    timeout, because a multiprocessing child joins its own children before it exits."""
    for name in _THREAD_VARS:
        os.environ[name] = str(threads)
    os.environ["JOBLIB_MULTIPROCESSING"] = "0"
    warnings.filterwarnings("ignore", message=r"joblib backend '.*' is not available", category=UserWarning)
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass


class _Progress:
    """At most ~20 log lines per loop: first item, every 5 %, last item."""

    def __init__(self, desc: str | None, total: int):
        self.desc, self.total, self.done = desc, total, 0
        self.every = max(1, math.ceil(total / 20))
        self.start = time.perf_counter()

    def step(self) -> None:
        self.done += 1
        if self.desc is None:
            return
        if self.done == 1 or self.done == self.total or self.done % self.every == 0:
            elapsed = time.perf_counter() - self.start
            print(f"  {self.desc}: {self.done}/{self.total} cells ({elapsed:.1f}s)", file=sys.stderr, flush=True)
