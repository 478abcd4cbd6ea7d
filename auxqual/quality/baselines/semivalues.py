"""Semivalues of auxiliary anomalies: weights by coalition size and the permutation sampler.

In the adapted game an auxiliary anomaly ``a`` is valued in the game whose players are the
training points plus ``a`` itself; its semivalue is

    φ(a) = Σ_{s=0}^{N} w(s) · E_{|S| = s}[U(S ∪ {a}) − U(S)],   N = number of other players,

with ``E_{|S|=s}`` the mean over the coalitions of ``s`` other players and weights ``w`` that sum
to one: Shapley ``w(s) = 1/(N + 1)``, Beta(α, β) Shapley (Kwon & Zou 2022)
``w(s) = C(N, s)·B(s + β, N − s + α) / B(α, β)`` (α = β = 1 gives Shapley; α > β puts more
weight on small coalitions), Banzhaf ``w(s) = C(N, s) / 2^N``.

``permutation_strata`` estimates the per-size means ``E_{|S|=s}`` by truncated Monte Carlo
over random permutations of the players: for each permutation it evaluates the prefixes at
``n_positions`` sizes of a jittered grid over ``[min_cardinality, N]`` (one random size per grid
cell; the truncation is the minimum cardinality) and records every marginal contribution in the
stratum of its size. ``semivalue`` then weights the *observed* strata and renormalises. With
``min_cardinality = 0`` and ``n_positions ≥ N + 1`` every size is evaluated in every permutation
and the estimate converges to the exact semivalue (tested against enumeration).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np
from scipy.special import betaln, gammaln


def log_binomial(n: int, k: np.ndarray) -> np.ndarray:
    """``log C(n, k)`` in float64."""
    k = np.asarray(k, dtype=np.float64)
    return gammaln(n + 1.0) - gammaln(k + 1.0) - gammaln(n - k + 1.0)


def shapley_weights(n_others: int) -> np.ndarray:
    """Shapley weights of coalition sizes ``0 … n_others`` (uniform)."""
    return np.full(n_others + 1, 1.0 / (n_others + 1))


def beta_weights(n_others: int, alpha: float, beta: float) -> np.ndarray:
    """Beta(α, β) Shapley weights of coalition sizes ``0 … n_others`` (sum to one).

    ``w(s) = C(N, s)·B(s + β, N − s + α) / B(α, β)``, computed in log space.
    """
    s = np.arange(n_others + 1, dtype=np.float64)
    log_w = log_binomial(n_others, s) + betaln(s + beta, n_others - s + alpha) - betaln(alpha, beta)
    w = np.exp(log_w - log_w.max())
    return w / w.sum()


def banzhaf_weights(n_others: int) -> np.ndarray:
    """Banzhaf weights ``C(N, s) / 2^N`` of coalition sizes ``0 … n_others``."""
    s = np.arange(n_others + 1, dtype=np.float64)
    return np.exp(log_binomial(n_others, s) - n_others * np.log(2.0))


def semivalue(sums: np.ndarray, counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted mean over the observed strata: ``Σ_s w(s)·mean_s / Σ_{s observed} w(s)``.

    ``sums`` and ``counts`` have shape ``(n_aux, n_sizes)`` (counts may be 1-D, shared). A row
    with no observed stratum gets 0.
    """
    counts = np.broadcast_to(counts, sums.shape)
    observed = counts > 0
    means = np.divide(sums, counts, out=np.zeros_like(sums), where=observed)
    w = np.where(observed, weights[None, :], 0.0)
    total = w.sum(axis=1)
    return np.divide((w * means).sum(axis=1), total, out=np.zeros(sums.shape[0]), where=total > 0)


def grid_sizes(low: int, high: int, n_positions: int, rng: np.random.Generator) -> np.ndarray:
    """One random size per cell of an even grid over ``[low, high]`` (all sizes when it fits)."""
    if high < low:
        return np.empty(0, dtype=np.int64)
    span = high - low + 1
    if n_positions >= span:
        return np.arange(low, high + 1)
    edges = np.ceil(np.linspace(low, high + 1, n_positions + 1)).astype(np.int64)
    edges[-1] = high + 1
    return np.array([rng.integers(a, b) for a, b in itertools.pairwise(edges) if b > a], dtype=np.int64)


DeltaFunction = Callable[[Sequence[np.ndarray]], Sequence[np.ndarray]]


def permutation_strata(n_players: int, n_aux: int, deltas: DeltaFunction, *, n_permutations: int,
                       n_positions: int, min_cardinality: int, max_cardinality: int | None = None,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
    """Sum and count of marginal contributions per (auxiliary row, coalition size).

    ``deltas(prefix_masks)`` returns, for each boolean player mask, the marginal contributions of
    all ``n_aux`` auxiliary rows (NaN where it does not apply, e.g. a player already in the
    coalition). All prefixes of all permutations are evaluated in one call, so the caller can run
    them in parallel. Returns ``(sums, counts, n_coalitions)``; the arrays have shape
    ``(n_aux, max_cardinality + 1)``.
    """
    high = n_players if max_cardinality is None else max_cardinality
    masks, sizes = [], []
    for _ in range(n_permutations):
        order = rng.permutation(n_players)
        for size in grid_sizes(min_cardinality, high, n_positions, rng):
            mask = np.zeros(n_players, dtype=bool)
            mask[order[:size]] = True
            masks.append(mask)
            sizes.append(size)
    sums = np.zeros((n_aux, high + 1))
    counts = np.zeros((n_aux, high + 1))
    for size, delta in zip(sizes, deltas(masks), strict=True):
        valid = np.isfinite(delta)
        sums[valid, size] += delta[valid]
        counts[valid, size] += 1
    return sums, counts, len(masks)
