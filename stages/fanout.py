"""Run independent cells of work (dataset × generator × score × detector × q) and
collect their results in input order.

One entry point, :func:`run_cells`. The runner changes where the cells run, never
what they return: each cell must be a pure function of its inputs (seeds come from
the cell itself), so every runner gives the same results, in the same order.

Runners: ``serial`` (in this process) and ``process`` (a local pool of ``workers``
processes, started with ``spawn`` so that torch and OpenMP state is never forked).
Further runners (Prefect, Dask) are added here, behind the same signature.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

RUNNERS = ("serial", "process")
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def run_cells(func: Callable[[T], R], cells: Iterable[T], *, runner: str = "serial", workers: int = 1,
              desc: str | None = None) -> list[R]:
    """Apply ``func`` to every cell and return the results in the order of ``cells``.

    ``func`` must be a top-level (picklable) function and each cell picklable.
    ``runner="serial"`` runs in this process; ``runner="process"`` runs ``workers``
    processes (each limited to ``cpu_count // workers`` BLAS / torch threads).
    Progress goes to stderr as a few log lines prefixed by ``desc``. An exception in
    a cell propagates (remaining cells are cancelled).
    """
    cells = list(cells)
    if runner not in RUNNERS:
        raise ValueError(f"runner: unknown runner {runner!r}; known: {list(RUNNERS)}")
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers: must be a positive integer, got {workers!r}")
    progress = _Progress(desc, len(cells))
    if runner == "serial" or workers == 1 or len(cells) <= 1:
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


def _limit_threads(threads: int) -> None:
    for name in _THREAD_VARS:
        os.environ[name] = str(threads)
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
