"""Exact row-wise order statistics of distance blocks, the inner loops of EAP.

EAP asks three questions of every row of the normals' distance matrix (and of
the normals-to-queries matrix when scoring):

* ``count_at_most``: how many entries of row ``i`` are ``≤`` each of a few
  thresholds (the covering ranks that set k*);
* ``kth_smallest``: the value at position ``k`` of the sorted row (the ball
  radii);
* ``smallest_containing_radius``: per column, the smallest radius among the
  rows (ball centres) that strictly contain it (the rarity).

Each answer is an exact count, selection or minimum over the same float64
values, so every implementation gives identical results. On CPU they run as
compiled loops (numba, installed with PyOD): one or two cache-friendly passes
per row, where torch's ``topk`` and chains of comparisons take several passes
over memory and were most of EAP's time at large n. On other devices (a GPU)
they are torch operations.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit

SORT_ABOVE_THRESHOLDS = 1024  # beyond this many thresholds per row, sorting the row is cheaper
SAMPLE_SIZE = 256  # entries per row sampled to bracket the k-th smallest


def count_at_most(D: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """``counts[i, j] = #{l : D[i, l] ≤ thresholds[i, j]}`` (int64, rows × thresholds)."""
    if D.device.type == "cpu":
        return torch.from_numpy(_count_at_most_cpu(_numpy(D), _numpy(thresholds)))
    return _count_at_most_torch(D, thresholds)


def kth_smallest(D: torch.Tensor, k: int) -> torch.Tensor:
    """``sort(D, dim=1).values[:, k]`` for every row, without sorting."""
    if not 0 <= k < D.shape[1]:
        raise ValueError(f"k={k} must lie in [0, {D.shape[1] - 1}]")
    if D.device.type == "cpu":
        return torch.from_numpy(_kth_smallest_cpu(_numpy(D), k, SAMPLE_SIZE))
    return _kth_smallest_torch(D, k)


def smallest_containing_radius(D: torch.Tensor, radii: torch.Tensor, outside: float = 0.0) -> torch.Tensor:
    """Per column of ``D`` (ball centres × points): the smallest ``radii[i]`` with ``D[i, l] < radii[i]``.

    ``outside`` is returned for columns that no ball contains.
    """
    if D.device.type == "cpu":
        smallest = np.full(D.shape[1], np.inf)
        _smallest_containing_radius_cpu(_numpy(D), _numpy(radii), smallest)
        smallest[np.isinf(smallest)] = outside
        return torch.from_numpy(smallest)
    return _smallest_containing_radius_torch(D, radii, outside)


def lower_to_smallest_containing_radius(D: torch.Tensor, radii: torch.Tensor, smallest: torch.Tensor) -> None:
    """In place, per column ``l`` of ``D``: ``smallest[l] = min(smallest[l], radii[i])`` over the
    rows with ``D[i, l] < radii[i]`` (start from ``inf``). One pass, no per-block allocation:
    a block of a few rows by 100,000 columns costs no more than its entries."""
    if D.device.type == "cpu" and smallest.is_contiguous():
        _smallest_containing_radius_cpu(_numpy(D), _numpy(radii), smallest.numpy())
    else:
        torch.minimum(smallest, _smallest_containing_radius_torch(D, radii, float("inf")), out=smallest)


def compile_cpu_kernels() -> None:
    """Compile the CPU loops now instead of at their first use (about 8 s once per install;
    numba caches them on disk, next to this module or in its user cache folder)."""
    from auxqual.distances import pairwise_distances

    pairwise_distances(torch.zeros((2, 3), dtype=torch.float64), torch.ones((2, 3), dtype=torch.float64))
    D = torch.zeros((2, 3), dtype=torch.float64)
    count_at_most(D, torch.zeros((2, 1), dtype=torch.float64))
    kth_smallest(D, 1)
    smallest_containing_radius(D, torch.ones(2, dtype=torch.float64))


def _numpy(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.numpy())


# ---------------------------------------------------------------- torch (GPU) versions
def _count_at_most_torch(D: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    return torch.stack([(D <= thresholds[:, j:j + 1]).sum(dim=1) for j in range(thresholds.shape[1])], dim=1)


def _kth_smallest_torch(D: torch.Tensor, k: int) -> torch.Tensor:
    """A partial ``topk`` from the nearer end (several times faster than ``kthvalue``)."""
    n = D.shape[1]
    if k + 1 <= n // 2:
        return torch.topk(D, k + 1, dim=1, largest=False, sorted=False).values.amax(dim=1)
    return torch.topk(D, n - k, dim=1, largest=True, sorted=False).values.amin(dim=1)


def _smallest_containing_radius_torch(D: torch.Tensor, radii: torch.Tensor, outside: float) -> torch.Tensor:
    column_radii = radii.unsqueeze(1)
    smallest = torch.where(D < column_radii, column_radii, torch.inf).amin(dim=0)
    return torch.where(torch.isinf(smallest), torch.full_like(smallest, outside), smallest)


# ---------------------------------------------------------------- compiled CPU versions


@njit(cache=True, nogil=True)
def _count_at_most_cpu(D: np.ndarray, thresholds: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    n_rows, n = D.shape
    m = thresholds.shape[1]
    counts = np.empty((n_rows, m), np.int64)
    for i in range(n_rows):
        row = D[i]
        if m > SORT_ABOVE_THRESHOLDS:
            counts[i] = np.searchsorted(np.sort(row), thresholds[i], side="right")
            continue
        for j in range(m):
            t = thresholds[i, j]
            c = 0
            for col in range(n):
                c += row[col] <= t
            counts[i, j] = c
    return counts


@njit(cache=True, nogil=True)
def _kth_smallest_cpu(D: np.ndarray, k: int, sample_size: int) -> np.ndarray:  # pragma: no cover - compiled
    """Bracket the k-th smallest between two order statistics of a strided sample of
    the row, count what lies below the bracket and select inside it; rows where the
    bracket misses (a few in 10⁴ by the 4σ margin) fall back to a full selection."""
    n_rows, n = D.shape
    out = np.empty(n_rows)
    s = min(n, sample_size)
    stride = n // s
    p = (k + 0.5) / n
    margin = 4.0 * np.sqrt(s * p * (1.0 - p)) + 2.0
    lo_rank, hi_rank = int(p * s - margin), int(p * s + margin) + 1
    sample = np.empty(s)
    band = np.empty(n)
    for i in range(n_rows):
        row = D[i]
        if lo_rank < 0 and hi_rank >= s:  # the bracket would be the whole row
            out[i] = np.partition(row.copy(), k)[k]
            continue
        for a in range(s):
            sample[a] = row[a * stride]
        sample.sort()
        lo = sample[lo_rank] if lo_rank >= 0 else -np.inf
        hi = sample[hi_rank] if hi_rank < s else np.inf
        below, size = 0, 0
        for col in range(n):  # branch-free: always write, advance only inside the bracket
            v = row[col]
            below += v < lo
            band[size] = v
            size += (v >= lo) & (v <= hi)
        r = k - below
        if 0 <= r < size:
            out[i] = np.partition(band[:size], r)[r]
        else:
            out[i] = np.partition(row.copy(), k)[k]
    return out


@njit(cache=True, nogil=True)
def _smallest_containing_radius_cpu(D: np.ndarray, radii: np.ndarray,
                                    smallest: np.ndarray) -> None:  # pragma: no cover - compiled
    n_rows, n = D.shape
    for i in range(n_rows):
        r = radii[i]
        row = D[i]
        for col in range(n):
            if row[col] < r and r < smallest[col]:
                smallest[col] = r
