"""Blocked Euclidean distance computations in torch (float64).

The EAP reference computes squared distances as ``‖a‖² − 2a·b + ‖b‖²`` in float64
and clamps negatives to 0 before the square root. ``pairwise_distances``
does the same, so ball-membership decisions at exact ties match the reference.
Large problems are processed in row blocks (``row_blocks``) so that no
matrix larger than ``block_rows × n`` is ever held in memory.

On CPU the product ``A·Bᵀ`` is turned into squared distances by one compiled
pass (numba) instead of four torch passes over the block; each entry goes
through the same IEEE operations in the same order (``−2·p``, ``+ ‖a‖²``,
``+ ‖b‖²``, clamp), so the bits are those of the torch expression. The square
root stays torch's: the reference ran torch on CPU, whose vectorised square
root can differ from a correctly rounded one in the last place, and N and the
density are bit-identical to the reference's only with the same one.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from numba import njit

CPU_BLOCK_ELEMENTS = 2**18  # 2 MiB of float64: a block stays in cache while it is worked on
CPU_MIN_BLOCK_ROWS = 32  # wide matrices: B is read once per 32 rows, not once per row (see default_block_elements)
GPU_BLOCK_ELEMENTS = 2**26  # 512 MiB: large blocks keep a GPU busy
DEFAULT_CACHE_ELEMENTS = 2**26  # a whole self-distance matrix up to 512 MiB is kept and reused


def as_tensor(X: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """``X`` as a float64 tensor on ``device`` (no copy when it already is one)."""
    if isinstance(X, torch.Tensor):
        return X.to(device=device, dtype=torch.float64)
    return torch.as_tensor(np.ascontiguousarray(X, dtype=np.float64), device=device)


def squared_norms(X: torch.Tensor) -> torch.Tensor:
    """Row-wise squared norms, as a column vector (the reference's ``sum(X**2, 1)``)."""
    return torch.sum(X**2, dim=1, keepdim=True)


def pairwise_squared_distances(A: torch.Tensor, B: torch.Tensor, *, a_sq: torch.Tensor | None = None,
                               b_sq: torch.Tensor | None = None) -> torch.Tensor:
    """Squared Euclidean distances ``‖a‖² − 2a·b + ‖b‖²``, negatives clamped to 0.

    Evaluated in the reference's order, ``(‖a‖² − 2a·b) + ‖b‖²``, in place on the
    product (one allocation), so every entry is bit-identical to the reference's.
    """
    return _finished(A, B, a_sq, b_sq, take_sqrt=False)


def _finished(A: torch.Tensor, B: torch.Tensor, a_sq: torch.Tensor | None, b_sq: torch.Tensor | None,
              take_sqrt: bool) -> torch.Tensor:
    a_sq = squared_norms(A) if a_sq is None else a_sq
    b_sq = squared_norms(B) if b_sq is None else b_sq
    return _finish(A @ B.T, a_sq, b_sq, take_sqrt)


def _finish(product: torch.Tensor, a_sq: torch.Tensor, b_sq: torch.Tensor, take_sqrt: bool) -> torch.Tensor:
    """The product ``A·Bᵀ`` turned into (squared) distances in place: compiled on CPU."""
    if product.device.type != "cpu" or not product.is_contiguous():
        return _finish_torch(product, a_sq, b_sq, take_sqrt)
    _squared_from_product_cpu(product.numpy(), np.ascontiguousarray(a_sq.reshape(-1).numpy()),
                              np.ascontiguousarray(b_sq.reshape(-1).numpy()))
    return product.sqrt_() if take_sqrt else product


def _finish_torch(product: torch.Tensor, a_sq: torch.Tensor, b_sq: torch.Tensor, take_sqrt: bool) -> torch.Tensor:
    product.mul_(-2).add_(a_sq).add_(b_sq.T).clamp_(min=0)
    return product.sqrt_() if take_sqrt else product


@njit(cache=True, nogil=True)
def _squared_from_product_cpu(product: np.ndarray, a_sq: np.ndarray,
                              b_sq: np.ndarray) -> None:  # pragma: no cover - compiled
    """In place: ``max((−2·p + ‖a‖²) + ‖b‖², 0)``, entry by entry (``−2·p`` is exact,
    so a fused multiply-add could not change a bit either)."""
    n_rows, n_cols = product.shape
    for i in range(n_rows):
        a = a_sq[i]
        row = product[i]
        for j in range(n_cols):
            v = (row[j] * -2.0 + a) + b_sq[j]
            row[j] = 0.0 if v < 0.0 else v


def pairwise_distances(A: torch.Tensor, B: torch.Tensor, *, a_sq: torch.Tensor | None = None,
                       b_sq: torch.Tensor | None = None) -> torch.Tensor:
    """Euclidean distances between the rows of ``A`` and ``B`` via the norm expansion.

    ``a_sq`` / ``b_sq`` are precomputed ``squared_norms`` (column vectors) to
    avoid recomputing them block after block.
    """
    return _finished(A, B, a_sq, b_sq, take_sqrt=True)


def default_block_elements(device: torch.device, n_columns: int = 0) -> int:
    """Block size for ``device``: cache-sized on CPU (the per-entry work after the
    product is memory-bound, so small blocks run several times faster), large on a GPU.

    On CPU a block holds at least ``CPU_MIN_BLOCK_ROWS`` rows of an ``n_columns``-wide
    matrix: each block's product reads all of B, and at 100,000 columns B (12.8 MB at
    d = 16) no longer stays in cache, so one- or two-row blocks made the product
    memory-bound (measured: 42 % of a 100,000-row subset fit).
    """
    if device.type != "cpu":
        return GPU_BLOCK_ELEMENTS
    return max(CPU_BLOCK_ELEMENTS, CPU_MIN_BLOCK_ROWS * n_columns)


def block_rows_for(n_columns: int, block_elements: int = CPU_BLOCK_ELEMENTS) -> int:
    """How many rows of an ``n_columns``-wide float64 matrix fit in one block."""
    return max(1, block_elements // max(1, n_columns))


def row_blocks(n_rows: int, rows_per_block: int) -> Iterator[slice]:
    """Consecutive row slices covering ``range(n_rows)``."""
    for start in range(0, n_rows, rows_per_block):
        yield slice(start, min(start + rows_per_block, n_rows))


def distance_blocks(A: torch.Tensor, B: torch.Tensor, *, block_elements: int | None = None,
                    squared: bool = False) -> Iterator[tuple[slice, torch.Tensor]]:
    """Yield ``(rows, D)`` with ``D = pairwise_distances(A[rows], B)``, block by block.

    ``squared=True`` yields squared distances (no square root); ``block_elements``
    defaults to ``default_block_elements`` of ``A``'s device.
    """
    block_elements = block_elements or default_block_elements(A.device, B.shape[0])
    b_sq = squared_norms(B)
    a_sq = squared_norms(A)
    compute = pairwise_squared_distances if squared else pairwise_distances
    for rows in row_blocks(A.shape[0], block_rows_for(B.shape[0], block_elements)):
        yield rows, compute(A[rows], B, a_sq=a_sq[rows], b_sq=b_sq)


class SelfDistances:
    """Row blocks of the distance matrix of ``X`` with itself, kept whole when it is small.

    EAP walks the normals' distance matrix several times (covering ranks, radii,
    the normals' own rarity); when the whole matrix has at most ``cache_elements``
    entries it is computed once (block by block, so each entry is the same as in
    a recomputed block) and reused; otherwise it is recomputed block by block
    (``block_elements`` entries each). Consumers must not modify the blocks.
    """

    def __init__(self, X: torch.Tensor, block_elements: int | None = None,
                 cache_elements: int = DEFAULT_CACHE_ELEMENTS) -> None:
        self.X = X
        self.block_elements = block_elements or default_block_elements(X.device, X.shape[0])
        self.cache_elements = cache_elements
        self._full: torch.Tensor | None = None

    @property
    def kept_whole(self) -> bool:
        return self.X.shape[0] ** 2 <= self.cache_elements

    def full(self) -> torch.Tensor | None:
        """The whole matrix when it fits in one block (computed once), else None."""
        if self.kept_whole and self._full is None:
            n = self.X.shape[0]
            self._full = torch.empty((n, n), dtype=torch.float64, device=self.X.device)
            for rows, D in distance_blocks(self.X, self.X, block_elements=self.block_elements):
                self._full[rows] = D
        return self._full

    def __iter__(self) -> Iterator[tuple[slice, torch.Tensor]]:
        full = self.full()
        if full is not None:
            yield slice(0, self.X.shape[0]), full
        else:
            yield from distance_blocks(self.X, self.X, block_elements=self.block_elements)
