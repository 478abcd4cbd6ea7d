"""k-NN balls around normal points: radii, the neighbourhood size k*, rarity and density.

These are the density ingredients of the Expected Anomaly Posterior (see
``eap-method.md``): every normal ``u_i`` owns a ball whose radius is the distance
to its k-th nearest other normal; a point is *inside* a ball when its distance
to the centre is strictly smaller than the radius; the *rarity* of a point is
the smallest radius among the balls that contain it (0 when none does); its
inverse ``ρ`` turns into a density ``ρ(a) / (ρ(a) + Σ_i ρ(u_i))``.

All distances use the reference's norm expansion in float64
(:mod:`auxqual.distances`) and are processed in row blocks, so memory stays at
``block × n`` however many normals there are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import beta

from auxqual.distances import (block_rows_for, distance_blocks, pairwise_distances, row_blocks,
                               squared_norms)

DEFAULT_CONFIDENCE = 0.95


def kth_neighbour_radii(U: torch.Tensor, k: int, *, block_elements: int = 2**24) -> torch.Tensor:
    """Radius of each normal's ball: column ``k`` of its sorted distance row.

    Column 0 is (normally) the point itself, so this is the distance to the k-th
    nearest *other* normal, as in the reference.
    """
    if not 0 <= k < U.shape[0]:
        raise ValueError(f"k={k} must lie in [0, {U.shape[0] - 1}] for {U.shape[0]} normals")
    radii = torch.empty(U.shape[0], dtype=torch.float64, device=U.device)
    for rows, D in distance_blocks(U, U, block_elements=block_elements):
        radii[rows] = torch.kthvalue(D, k + 1, dim=1).values
    return radii


def covering_ranks(U: torch.Tensor, A: torch.Tensor, *, block_elements: int = 2**24) -> np.ndarray:
    """For each row ``a_j`` of ``A``: the smallest k at which some normal's k-ball contains it.

    Ball ``i`` contains ``a_j`` at size k iff ``sorted_i[k] > d_ij``, i.e. iff
    ``k ≥ cnt_i(d_ij)``, the number of entries of row i that are ``≤ d_ij``. So the
    answer is ``min_i cnt_i(d_ij)``: one sort per row and a batched binary search,
    instead of the reference's loop over k. A value of ``len(U)`` means "never".
    """
    ranks = torch.full((A.shape[0],), U.shape[0], dtype=torch.int64, device=U.device)
    if A.shape[0] == 0:
        return ranks.cpu().numpy()
    to_anomalies = pairwise_distances(U, A)  # n × m: small, m is a handful of labelled anomalies
    for rows, D in distance_blocks(U, U, block_elements=block_elements):
        sorted_rows = torch.sort(D, dim=1).values
        counts = torch.searchsorted(sorted_rows, to_anomalies[rows].contiguous(), right=True)
        ranks = torch.minimum(ranks, counts.min(dim=0).values)
    return ranks.cpu().numpy()


def k_star(ranks: np.ndarray, n_normals: int, k0: int, confidence: float = DEFAULT_CONFIDENCE) -> int:
    """The neighbourhood size k* of EAP from the covering ranks of the labelled anomalies.

    κ_j = max(k0, rank_j) capped at n − 1; π_j = (κ_j − k0)/(n − 1 − k0); k* is the
    ``confidence`` quantile of Beta(1 + Σπ, 1 + m − Σπ) mapped back to [k0, n − 1]:
    large enough that the known anomalies fall inside the normals' support.
    With ``n ≤ k0 + 1`` normals, k* = n − 1.
    """
    if n_normals <= k0 + 1:
        return n_normals - 1
    kappa = np.clip(np.maximum(np.asarray(ranks, dtype=np.int64), k0), None, n_normals - 1)
    pi = (kappa - k0) / (n_normals - 1 - k0)
    a = 1 + np.sum(pi)
    b = 1 + len(pi) - np.sum(pi)
    value = int(beta.ppf(confidence, a, b) * (n_normals - 1 - k0) + k0)
    return max(min(n_normals - 1, value), k0)


def rarity(Q: torch.Tensor, U: torch.Tensor, radii: torch.Tensor, *,
           block_elements: int = 2**24) -> torch.Tensor:
    """Smallest radius among the balls that strictly contain each query; 0 outside all.

    Distances are computed centre-major (rows = ball centres, columns = queries),
    as the reference does: the norm expansion is not exactly symmetric in its last
    bit, and at exact ties the orientation decides membership.
    """
    out = torch.empty(Q.shape[0], dtype=torch.float64, device=Q.device)
    inf = torch.tensor(float("inf"), dtype=torch.float64, device=Q.device)
    u_sq, q_sq = squared_norms(U), squared_norms(Q)
    column_radii = radii.unsqueeze(1)
    for cols in row_blocks(Q.shape[0], block_rows_for(U.shape[0], block_elements)):
        D = pairwise_distances(U, Q[cols], a_sq=u_sq, b_sq=q_sq[cols])
        inside = (column_radii - D) > 0
        smallest = torch.where(inside, column_radii, inf).min(dim=0).values
        out[cols] = torch.where(torch.isinf(smallest), torch.zeros_like(smallest), smallest)
    return out


def inverse_rarity(rarity_values: np.ndarray) -> np.ndarray:
    """ρ = 1 / rarity, with ρ = 0 where the rarity is 0 (outside every ball)."""
    with np.errstate(divide="ignore"):
        return np.nan_to_num(1.0 / rarity_values, neginf=0.0, posinf=0.0)


@dataclass
class BallCover:
    """The k-balls of a set of normals, ready to score query points.

    ``rho_sum`` is Σ_i ρ(u_i) over the normals themselves (each normal is inside
    its own ball unless its radius is 0), the normaliser of the density.
    """

    normals: torch.Tensor
    k: int
    radii: torch.Tensor
    rho_sum: float
    block_elements: int = 2**24

    @classmethod
    def fit(cls, normals: torch.Tensor, k: int, *, block_elements: int = 2**24) -> "BallCover":
        radii = kth_neighbour_radii(normals, k, block_elements=block_elements)
        own = rarity(normals, normals, radii, block_elements=block_elements).cpu().numpy()
        return cls(normals, k, radii, float(np.sum(inverse_rarity(own))), block_elements)

    def rarity(self, Q: torch.Tensor) -> np.ndarray:
        """Rarity of each query (0 outside every ball)."""
        return rarity(Q, self.normals, self.radii, block_elements=self.block_elements).cpu().numpy()

    def density(self, Q: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """``(density, rarity)`` of each query: dens = ρ(q) / (ρ(q) + Σ_i ρ(u_i))."""
        rare = self.rarity(Q)
        rho = inverse_rarity(rare)
        denominator = rho + self.rho_sum
        with np.errstate(invalid="ignore", divide="ignore"):
            dens = np.where(denominator > 0, rho / np.where(denominator > 0, denominator, 1.0), 0.0)
        return dens, rare
