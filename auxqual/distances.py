"""Blocked Euclidean distance computations in torch (float64).

The EAP reference computes squared distances as ``‖a‖² − 2a·b + ‖b‖²`` in float64
and clamps negatives to 0 before the square root. :func:`pairwise_distances`
does the same, so ball-membership decisions at exact ties match the reference.
Large problems are processed in row blocks (:func:`row_blocks`) so that no
matrix larger than ``block_rows × n`` is ever held in memory.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

DEFAULT_BLOCK_ELEMENTS = 2**24  # 16 M float64 = 128 MiB per block


def as_tensor(X: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """``X`` as a float64 tensor on ``device`` (no copy when it already is one)."""
    if isinstance(X, torch.Tensor):
        return X.to(device=device, dtype=torch.float64)
    return torch.as_tensor(np.ascontiguousarray(X, dtype=np.float64), device=device)


def squared_norms(X: torch.Tensor) -> torch.Tensor:
    """Row-wise squared norms, as a column vector (the reference's ``sum(X**2, 1)``)."""
    return torch.sum(X**2, dim=1, keepdim=True)


def pairwise_distances(A: torch.Tensor, B: torch.Tensor, *, a_sq: torch.Tensor | None = None,
                       b_sq: torch.Tensor | None = None) -> torch.Tensor:
    """Euclidean distances between the rows of ``A`` and ``B`` via the norm expansion.

    ``a_sq`` / ``b_sq`` are precomputed :func:`squared_norms` (column vectors) to
    avoid recomputing them block after block.
    """
    a_sq = squared_norms(A) if a_sq is None else a_sq
    b_sq = squared_norms(B) if b_sq is None else b_sq
    squared = a_sq - 2 * (A @ B.T) + b_sq.T
    return torch.sqrt(squared.clamp_(min=0))


def block_rows_for(n_columns: int, block_elements: int = DEFAULT_BLOCK_ELEMENTS) -> int:
    """How many rows of an ``n_columns``-wide float64 matrix fit in one block."""
    return max(1, block_elements // max(1, n_columns))


def row_blocks(n_rows: int, rows_per_block: int) -> Iterator[slice]:
    """Consecutive row slices covering ``range(n_rows)``."""
    for start in range(0, n_rows, rows_per_block):
        yield slice(start, min(start + rows_per_block, n_rows))


def distance_blocks(A: torch.Tensor, B: torch.Tensor, *, block_elements: int = DEFAULT_BLOCK_ELEMENTS,
                    ) -> Iterator[tuple[slice, torch.Tensor]]:
    """Yield ``(rows, D)`` with ``D = pairwise_distances(A[rows], B)``, block by block."""
    b_sq = squared_norms(B)
    a_sq = squared_norms(A)
    for rows in row_blocks(A.shape[0], block_rows_for(B.shape[0], block_elements)):
        yield rows, pairwise_distances(A[rows], B, a_sq=a_sq[rows], b_sq=b_sq)
