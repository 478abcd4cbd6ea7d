"""Torch device choice: ``cuda`` when torch sees a GPU, else ``cpu``."""

from __future__ import annotations

import contextlib
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
    chosen = torch.device(device)
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
