"""Torch device choice: ``cuda`` when torch sees a GPU, else ``cpu``; thread and process
limits of the parallel loops."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Iterator

import torch


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """Return the torch device to compute on.

    ``None`` (or ``"auto"``) picks ``cuda`` when torch sees a GPU and ``cpu``
    otherwise; an explicit name is honoured, but asking for ``cuda`` on a machine
    without one raises a ``ValueError`` naming the parameter instead of failing
    deep inside torch.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError) as error:  # torch's message lists the valid device types
        raise ValueError(f"device={device!r} is not a torch device (e.g. cpu, cuda, cuda:1): {error}") from error
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for, but torch sees no CUDA device")
    return chosen


@contextlib.contextmanager
def torch_threads(n_threads: int | None) -> Iterator[None]:
    """Temporarily set torch's intra-op thread count (``None`` leaves it alone).

    Work that runs many small torch operations from several Python threads next
    to scikit-learn's OpenMP code is many times faster with one torch thread per
    worker: two OpenMP runtimes spinning on the same cores starve each other.
    """
    if n_threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def processes_allowed() -> bool:
    """Whether a parallel loop may start worker processes here.

    False in a daemonic process (a Dask worker, a ``multiprocessing`` pool worker: Python
    forbids them children) and where joblib's process pools are turned off
    (``JOBLIB_MULTIPROCESSING=0``, as the pipeline's own process pools do). Loops then
    fall back to threads or to this process, with the same results.
    """
    if multiprocessing.current_process().daemon:
        return False
    return os.environ.get("JOBLIB_MULTIPROCESSING", "1") != "0"
