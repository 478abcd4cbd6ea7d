"""Run independent cells of work (dataset × generator × score × detector × q) and
collect their results in input order.

One entry point, ``run_cells``. The runner changes where the cells run, never
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
  read and write the stage's files by path relative to the repository root. The cell
  function travels by name (``stages.train.fit_cell``, never ``__main__``: see
  ``importable``), so the scheduler and the workers import ``stages`` and ``auxqual``
  from their environment (the project's editable install), once: restart them after
  changing the code. Inside a worker (a daemonic process) the library's parallel loops
  run on threads or in the worker itself, with the same results. A cell's own
  ``ValueError`` reaches the stage unchanged; any other failure on the cluster (a module
  the scheduler cannot import, a worker lost too often) as ``CellFailed``, one line
  with the remote cause.

Prefect and Dask are imported only inside those runners, so ``dvc repro`` with the
default runner never imports them. Without ``PREFECT_API_URL`` the two Prefect runners
start a temporary local API (a few seconds); the flows in ``flows/`` pass theirs down.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import importlib
import logging
import math
import multiprocessing
import os
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from threadpoolctl import threadpool_limits

from auxqual.params.benchmark import BenchmarkParams
from stages.common import StageError

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


def options_from_params(params: BenchmarkParams) -> dict[str, Any]:
    """``runner``, ``workers`` and ``address`` for ``run_cells`` from the ``fanout``
    section of the checked params (``address`` only for the ``dask`` runner)."""
    fan = params.fanout
    options: dict[str, Any] = {"runner": fan.runner, "workers": fan.workers}
    if fan.runner == "dask" and fan.address:
        options["address"] = fan.address
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
                 address: str | None, progress: _Progress, api_url: str) -> list[R]:
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
    job = _Job(func=importable(func) if runner == "dask" else func, cells=cells,
               labels=[_label(cell, index) for index, cell in enumerate(cells)], cwd=os.getcwd(), threads=threads,
               task=task(_call_cell, name=name, task_run_name="{label}", cache_policy=NO_CACHE,
                         persist_result=False, log_prints=False),
               where=(f"the Dask scheduler at {address}" if address else "a local Dask cluster")
               if runner == "dask" else None, progress=progress)
    fanout = flow(_fanout, name=f"fanout-{name}", task_runner=task_runner, persist_result=False,
                  validate_parameters=False, log_prints=False)
    key = uuid.uuid4().hex
    _JOBS[key] = job
    try:
        with _one_line_failures():
            return fanout(job=key)
    finally:
        del _JOBS[key]


class _NoTraceback(logging.Filter):
    """Drop the traceback from Prefect's log record of a failure the stage reports itself
    in one line (a ``ValueError`` or ``StageError``): it would follow the stage's own
    ``ERROR in stage ...`` line in dvc's output, with the frames of this process only."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, (ValueError, StageError)):
            record.exc_info, record.exc_text = None, None
        return True


@contextlib.contextmanager
def _one_line_failures() -> Iterator[None]:
    """``_NoTraceback`` on Prefect's flow-run and task-run loggers while the body runs."""
    loggers = [logging.getLogger(name) for name in ("prefect.flow_runs", "prefect.task_runs")]
    quiet = _NoTraceback()
    for logger in loggers:
        logger.addFilter(quiet)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(quiet)


@dataclass
class _Job:
    """What one ``fanout`` flow run does (see ``_fanout``)."""

    func: Callable[[Any], Any]
    cells: list[Any]
    labels: list[str]
    cwd: str
    threads: int | None
    task: Any                     # the Prefect task around _call_cell
    where: str | None             # the Dask cluster, for failure messages; None for threads
    progress: _Progress


_JOBS: dict[str, _Job] = {}


def _fanout(job: str) -> list[Any]:
    """The body of a ``fanout-<desc>`` flow run: submit one task per cell of ``_JOBS[job]``
    and collect the results in the order of the cells.

    A module-level function that finds its cells by key, not a closure over them: Prefect
    ships the flow with every task's context, so a closure would send every cell with each
    task (and pickle by value), and a flow parameter would be stored by the API.
    """
    spec = _JOBS[job]
    futures = [spec.task.submit(func=spec.func, cell=cell, cwd=spec.cwd, threads=spec.threads, label=label)
               for cell, label in zip(spec.cells, spec.labels, strict=True)]
    results: list[Any] = []
    try:
        # in submission order: results in the order of the cells
        for future, label in zip(futures, spec.labels, strict=True):
            try:
                results.append(future.result())
            except (ValueError, StageError):
                raise  # the cell's own input error: the same one line as on the serial runner
            except Exception as error:
                if spec.where is None:
                    raise
                raise CellFailed(f"fanout: cell {label} failed on {spec.where}: {one_line(error)}") from error
            spec.progress.step()
    except BaseException:
        for future in futures:
            cancel = getattr(future, "cancel", None)
            if cancel is not None:
                with contextlib.suppress(Exception):  # best effort: the failure is what gets reported
                    cancel()
        raise
    return results


_LIMITED: set[int] = set()


def _call_cell(func: Callable[[Any], Any], cell: Any, cwd: str, threads: int | None, label: str) -> Any:
    """Run one cell where the submitting stage runs: in ``cwd`` (a Dask worker may have
    started elsewhere), with ``threads`` BLAS / torch threads on a local cluster."""
    del label  # only names the task run
    if threads is not None and os.getpid() not in _LIMITED:
        _limit_threads(threads)
        _LIMITED.add(os.getpid())
    with _IN_FOLDER(cwd):
        return func(cell)


class CellFailed(StageError):
    """A cell failed on a Dask cluster for a reason other than its input (``ValueError``):
    a module a worker or the scheduler cannot import, a worker lost too often, a bug. One
    line that names the cell, the cluster and the remote exception; the stage prints it
    (``ERROR in stage ...``) instead of a traceback of this process, which says nothing."""


def one_line(error: BaseException) -> str:
    """``Type: message`` of ``error`` on one line, its root cause first: the scheduler
    reports a task it cannot unpickle as a ``RuntimeError`` whose cause (carried by
    distributed's tblib pickling) is the real one, e.g. ``ModuleNotFoundError``."""
    chain = []
    while error is not None and len(chain) < 5:
        chain.append(f"{type(error).__name__}: {' '.join(str(error).split()) or '(no message)'}")
        error = error.__cause__  # an explicit `raise ... from`: the context may be unrelated
    return chain[-1] + "".join(f" (reported as {outer})" for outer in reversed(chain[:-1]))


def importable(func: Callable[..., R]) -> Callable[..., R]:
    """``func`` as an attribute of an importable module, so that it is pickled by reference.

    A stage runs as ``python -m stages.train``: its functions live in ``__main__``, which
    cloudpickle ships by value, dragging along module globals that a worker cannot find
    (``Can't get attribute '_table' on <module '__main__'>``). The same function of the
    module ``stages.train`` (imported here; the stage's ``main`` does not run) pickles as a
    name that a worker imports from the installed package.
    """
    if getattr(func, "__module__", None) != "__main__":
        return func
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    if spec is None or not spec.name or spec.name == "__main__":
        return func  # a script run by path: nothing importable to point to
    found: Any = importlib.import_module(spec.name)
    for part in func.__qualname__.split("."):
        found = getattr(found, part, None)
    return found if callable(found) else func


class _FolderGate:
    """Run cells in their repository folder, one folder at a time per worker process.

    The stages read and write paths relative to the repository root, and the working
    folder belongs to the whole process: a worker of several threads runs cells of one
    folder together, and a cell of another folder (another repository's stage on the
    same long-lived cluster) waits until they are done before the process changes folder.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._running = 0

    @contextlib.contextmanager
    def __call__(self, cwd: str) -> Iterator[None]:
        with self._changed:
            while self._running and os.getcwd() != cwd:
                self._changed.wait()
            if os.getcwd() != cwd:
                if not os.path.isdir(cwd):
                    raise ValueError(f"fanout: the worker does not see the repository folder {cwd} "
                                     "(a Dask worker needs the repository at the same path)")
                os.chdir(cwd)
            self._running += 1
        try:
            yield
        finally:
            with self._changed:
                self._running -= 1
                self._changed.notify_all()


_IN_FOLDER = _FolderGate()


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
    (a baseline's ``Parallel(backend="loky")``) would hold the worker's exit for loky's
    300 s idle timeout, because a multiprocessing child joins its own children before it exits.

    The environment variables only reach libraries loaded after this call; a spawned
    worker has usually loaded NumPy's OpenBLAS already (re-importing the stage script
    as ``__mp_main__``), so the libraries already loaded are capped with threadpoolctl.
    """
    for name in _THREAD_VARS:
        os.environ[name] = str(threads)
    threadpool_limits(limits=threads)
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
