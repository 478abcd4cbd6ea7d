"""scikit-learn's ``IsolationForest``, compiled: the same trees, the same scores, bit for bit.

SSDO's prior fits an isolation forest on every EAP subset; scikit-learn builds each of
its trees through several Python calls (a bagging draw, an estimator clone, a Cython
builder) and scores them one tree at a time, which made the prior most of EAP's time.
This module grows all the trees of one forest in one compiled call (numba) and scores
all rows against all trees in another, on CPU, or as tensors on a GPU (torch).

It reproduces, step by step, the source of scikit-learn 1.9 (read in 1.9.1), which 1.8
shares: the release series in ``VERIFIED_SKLEARN``, tested bit for bit on 1.8.0, 1.9.0
and 1.9.1 (1.7 differs on features whose range is near the constant-feature threshold);
``unsupported_reason`` sends any other series back to scikit-learn itself:

* ``ensemble/_iforest.py`` ``IsolationForest.fit``: ``X`` as float32; the uniform
  ``y = check_random_state(random_state).uniform(size=n)``; ``max_samples``;
  ``max_depth = ceil(log2(max(max_samples, 2)))``.
* ``ensemble/_bagging.py`` ``BaseBagging._fit`` / ``_parallel_build_estimators``: the
  per-tree seeds ``check_random_state(random_state).randint(MAX_INT, size=T)``; each
  tree's own seed, the first ``randint(MAX_INT)`` of ``RandomState(seed)``
  (``ensemble/_base.py`` ``_set_random_states``); its rows drawn by
  ``sample_without_replacement`` from a fresh ``RandomState(seed)`` (the feature draw
  before it consumes nothing when all features are kept) and passed to the tree as
  0/1 sample weights, so the tree sees the chosen rows in increasing order.
* ``utils/_random.pyx``: ``sample_without_replacement``'s three methods (tracking
  selection, ``permutation``, reservoir sampling) and ``our_rand_r``; numpy's legacy
  ``RandomState`` (MT19937 with its integer seeding, the masked bounded integers of
  ``randint`` and ``random_interval`` of ``shuffle``), reimplemented here and tested
  against numpy.
* ``tree/_tree.pyx`` ``DepthFirstTreeBuilder.build``, ``tree/_splitter.pyx``
  ``Splitter.init`` and ``node_split_random`` (the Fisher-Yates feature draw with its
  constant-feature bookkeeping, ``rand_uniform`` thresholds between the float32 minimum
  and maximum, ``FEATURE_THRESHOLD``), ``tree/_partitioner.pyx`` ``DensePartitioner``
  (``find_min_max``, ``partition_samples``) and ``tree/_criterion.pyx`` ``MSE`` (the
  sums in the same order, for the ``impurity <= EPSILON`` and improvement tests that
  can stop a split).
* ``ensemble/_iforest.py`` ``_compute_score_samples``: per tree, ``depth(leaf) +
  c(n_node_samples(leaf)) − 1`` added in tree order, then ``−2^(−depths / (T·c(max_samples)))``
  with ``average_path_length`` numpy's arithmetic (computed by numpy, not compiled).

What it does not reproduce (the caller falls back to scikit-learn): ``bootstrap=True``,
``max_features`` below all features, sample weights, missing values, sparse input.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import sklearn
import torch
from numba import njit
from numpy.typing import ArrayLike
from sklearn.utils import check_random_state

VERIFIED_SKLEARN = ("1.8", "1.9")  # release series tested bit for bit (1.8.0, 1.9.0, 1.9.1)
MAX_INT = 2147483647  # np.iinfo(np.int32).max: BaseBagging's seed bound, also our_rand_r's RAND_R_MAX
EPSILON = float(np.finfo(np.float64).eps)  # tree/_tree.pyx
TORCH_ROWS_PER_CHUNK = 1 << 16  # rows scored at once on a torch device (× trees int64 node indices)


@dataclass
class CompiledForest:
    """The trees of one forest, one row per tree (nodes in scikit-learn's depth-first order).

    ``left`` / ``right`` are −1 at leaves; ``value`` is what a row that ends in the node
    adds to its path length: ``depth + c(n_node_samples) − 1`` (scikit-learn's terms).
    ``children`` and ``walk_feature`` are the same trees for a fixed-length walk:
    ``children[t, 2·node + go_right]``, where a leaf leads to itself (feature 0), so
    ``tree_depth[t]`` steps from the root end in the row's leaf.
    """

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    value: np.ndarray
    n_node_samples: np.ndarray
    node_count: np.ndarray
    tree_depth: np.ndarray
    children: np.ndarray
    walk_feature: np.ndarray
    max_samples: int
    max_depth: int
    n_features: int

    def __post_init__(self) -> None:
        # Arrays made by numba carry an equal but non-canonical dtype object (its byte order
        # spelt out) when the kernels come from numba's disk cache; the pickled model would
        # then differ in its bytes between a fresh compile and a cached one.
        for name, value in vars(self).items():
            if isinstance(value, np.ndarray):
                setattr(self, name, value.view(np.dtype(value.dtype.str)))

    @property
    def n_estimators(self) -> int:
        return int(self.left.shape[0])


def unsupported_reason(n_samples: int, max_samples: int | float | str, max_features: float | int,
                       bootstrap: bool, n_estimators: int) -> str | None:
    """Why the compiled forest would not reproduce scikit-learn here, or ``None`` when it does."""
    series = ".".join(sklearn.__version__.split(".")[:2])
    if series not in VERIFIED_SKLEARN:
        return f"scikit-learn {sklearn.__version__} is not a verified version ({', '.join(VERIFIED_SKLEARN)})"
    if bootstrap:
        return "bootstrap=True"
    if not (max_features == 1.0 and isinstance(max_features, float)):
        return f"max_features={max_features!r} (only 1.0, every feature, is reproduced)"
    if not isinstance(n_estimators, numbers.Integral) or n_estimators < 1:
        return f"n_estimators={n_estimators!r}"
    if resolve_max_samples(max_samples, n_samples) is None:
        return f"max_samples={max_samples!r} for {n_samples} rows"
    return None


def resolve_max_samples(max_samples: int | float | str, n_samples: int) -> int | None:
    """``IsolationForest.fit``'s rows per tree; ``None`` where scikit-learn would warn or fail."""
    if isinstance(max_samples, str):
        return min(256, n_samples) if max_samples == "auto" else None
    if isinstance(max_samples, numbers.Integral) and not isinstance(max_samples, bool):
        return int(max_samples) if 1 <= max_samples <= n_samples else None
    if isinstance(max_samples, numbers.Real) and 0.0 < max_samples <= 1.0:
        resolved = int(max_samples * n_samples)
        return resolved if resolved >= 1 else None
    return None


def average_path_length(n_samples_leaf: ArrayLike) -> np.ndarray:
    """``c(n)``: scikit-learn's ``_average_path_length``, the same numpy operations in the same order."""
    n = np.asarray(n_samples_leaf)
    shape = n.shape
    n = n.reshape((1, -1))
    result = np.zeros(n.shape)
    mask_1 = n <= 1
    mask_2 = n == 2
    not_mask = ~np.logical_or(mask_1, mask_2)
    result[mask_1] = 0.0
    result[mask_2] = 1.0
    result[not_mask] = 2.0 * (np.log(n[not_mask] - 1.0) + np.euler_gamma) - 2.0 * (n[not_mask] - 1.0) / n[not_mask]
    return result.reshape(shape)


def fit_forest(X: np.ndarray, n_estimators: int = 100, max_samples: int | float | str = "auto",
               random_state: int | np.random.RandomState | None = None) -> CompiledForest:
    """Grow the trees ``IsolationForest(n_estimators, max_samples, random_state=…)`` grows on ``X``.

    ``X`` is a finite 2-D array (converted to float32, as scikit-learn does); call
    ``unsupported_reason`` first.
    """
    X32 = np.asarray(X, dtype=np.float32)
    n = X32.shape[0]
    rows = resolve_max_samples(max_samples, n)
    if rows is None:
        raise ValueError(f"max_samples={max_samples!r} is not reproduced for {n} rows")
    y = check_random_state(random_state).uniform(size=n)  # IsolationForest.fit
    seeds = check_random_state(random_state).randint(MAX_INT, size=n_estimators)  # BaseBagging._fit
    max_depth = int(np.ceil(np.log2(max(rows, 2))))
    by_feature = np.ascontiguousarray(X32.T)  # a feature's values side by side: the splitter reads them so
    left, right, feature, threshold, n_node, depth, count = _grow_trees(
        by_feature, y, seeds.astype(np.int64), rows, max_depth)
    value = depth + average_path_length(n_node) - 1.0  # int64 + float64 − 1.0, as scikit-learn adds them
    tree_depth = depth.max(axis=1) - 1
    children, walk_feature = _walk_tables(left, right, feature)
    return CompiledForest(left, right, feature, threshold, value, n_node, count, tree_depth, children,
                          walk_feature, rows, max_depth, X32.shape[1])


def score_samples(forest: CompiledForest, X: np.ndarray) -> np.ndarray:
    """``IsolationForest.score_samples(X)``: minus the anomaly score (lower = more abnormal).

    ``X`` must have the forest's width: the compiled walk does not check its indices.
    """
    X32 = np.ascontiguousarray(X, dtype=np.float32)
    _check_width(forest, X32)
    depths = _path_lengths(X32, forest.children, forest.walk_feature, forest.threshold, forest.value,
                           forest.tree_depth)
    return _scores_from_depths(depths, forest)


def score_samples_torch(forest: CompiledForest, X: torch.Tensor | np.ndarray,
                        device: torch.device | str = "cpu") -> np.ndarray:
    """``score_samples`` with the tree walks as tensor operations on ``device``
    (every row against every tree at once, in row chunks); the same numbers."""
    device = torch.device(device)
    X = torch.as_tensor(np.asarray(X, dtype=np.float32) if isinstance(X, np.ndarray) else X)
    X = X.to(device=device, dtype=torch.float32).contiguous()
    _check_width(forest, X)
    depths = torch.empty(X.shape[0], dtype=torch.float64, device=device)
    tables = _torch_tables(forest, device)
    for start in range(0, X.shape[0], TORCH_ROWS_PER_CHUNK):
        stop = min(start + TORCH_ROWS_PER_CHUNK, X.shape[0])
        depths[start:stop] = _torch_path_lengths(X[start:stop], tables, forest.max_depth)
    return _scores_from_depths(depths.cpu().numpy(), forest)


def _check_width(forest: CompiledForest, X: np.ndarray | torch.Tensor) -> None:
    """A ``ValueError`` unless ``X`` is 2-D with the forest's number of features."""
    if X.ndim != 2 or X.shape[1] != forest.n_features:
        raise ValueError(f"X has {tuple(X.shape)[-1] if X.ndim else 0} features, but the compiled forest "
                         f"is expecting {forest.n_features} features as input")


def compile_kernels() -> None:
    """Compile the forest's loops now instead of at their first use (numba caches them on disk)."""
    X = np.arange(12, dtype=np.float64).reshape(6, 2)
    score_samples(fit_forest(X, n_estimators=2, random_state=0), X)


def _walk_tables(left: np.ndarray, right: np.ndarray, feature: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``CompiledForest.children`` and ``walk_feature``: leaves lead to themselves."""
    n_trees, width = left.shape
    leaf = left < 0
    own = np.broadcast_to(np.arange(width), (n_trees, width))
    children = np.empty((n_trees, width, 2), np.int64)
    children[:, :, 0] = np.where(leaf, own, left)
    children[:, :, 1] = np.where(leaf, own, right)
    return children.reshape(n_trees, 2 * width), np.where(leaf, 0, feature)


def _scores_from_depths(depths: np.ndarray, forest: CompiledForest) -> np.ndarray:
    """The end of ``_compute_score_samples`` and ``_score_samples``, in scikit-learn's operations."""
    denominator = forest.n_estimators * average_path_length([forest.max_samples])
    scores = 2 ** (-np.divide(depths, denominator, out=np.ones_like(depths), where=denominator != 0))
    return -scores


# ---------------------------------------------------------------- torch (GPU) scoring
def _torch_tables(forest: CompiledForest, device: torch.device) -> dict[str, torch.Tensor]:
    """Flat node tables; a leaf points to itself, so a fixed number of steps ends in the leaf."""
    n_trees, width = forest.left.shape
    base = (np.arange(n_trees, dtype=np.int64) * width)[:, None]
    left, right = base + forest.children[:, 0::2], base + forest.children[:, 1::2]
    feature = forest.walk_feature

    def flat(a, dtype):
        return torch.as_tensor(np.ascontiguousarray(a).reshape(-1), dtype=dtype, device=device)

    return {"left": flat(left, torch.int64), "right": flat(right, torch.int64),
            "feature": flat(feature, torch.int64), "threshold": flat(forest.threshold, torch.float64),
            "value": flat(forest.value, torch.float64), "roots": torch.as_tensor(base[:, 0], device=device)}


def _torch_path_lengths(X: torch.Tensor, tables: dict[str, torch.Tensor], max_depth: int) -> torch.Tensor:
    """Sum over trees, in tree order, of the value of the leaf each row ends in."""
    n_rows = X.shape[0]
    node = tables["roots"].unsqueeze(0).expand(n_rows, -1).contiguous()  # rows × trees
    for _ in range(max_depth):  # every tree is at most max_depth deep; leaves lead to themselves
        values = torch.gather(X, 1, tables["feature"][node]).to(torch.float64)  # float32 → float64: exact
        node = torch.where(values <= tables["threshold"][node], tables["left"][node], tables["right"][node])
    leaf_values = tables["value"][node]
    depths = torch.zeros(n_rows, dtype=torch.float64, device=X.device)
    for tree in range(leaf_values.shape[1]):  # one tree at a time: scikit-learn's order of additions
        depths += leaf_values[:, tree]
    return depths


# ---------------------------------------------------------------- numpy's legacy MT19937
@njit(cache=True, nogil=True)
def _mt_seed(seed: int) -> np.ndarray:  # pragma: no cover - compiled
    """``RandomState(seed)`` for an integer seed (mt19937_seed); slot 624 holds the position."""
    state = np.empty(625, np.int64)
    s = seed & 0xFFFFFFFF
    for pos in range(624):
        state[pos] = s
        s = (1812433253 * (s ^ (s >> 30)) + pos + 1) & 0xFFFFFFFF
    state[624] = 624
    return state


@njit(cache=True, nogil=True)
def _mt_twist(state: np.ndarray) -> None:  # pragma: no cover - compiled
    """mt19937_gen: the next 624 words, in place (indices wrap at 624)."""
    for i in range(624):
        j = i + 1 if i < 623 else 0
        k = i + 397 if i < 227 else i - 227
        y = (state[i] & 0x80000000) | (state[j] & 0x7FFFFFFF)
        state[i] = state[k] ^ (y >> 1) ^ ((y & 1) * 0x9908B0DF)
    state[624] = 0


@njit(cache=True, nogil=True)
def _mt_next32(state: np.ndarray) -> int:  # pragma: no cover - compiled
    if state[624] >= 624:
        _mt_twist(state)
    y = state[state[624]]
    state[624] += 1
    y ^= y >> 11
    y ^= (y << 7) & 0x9D2C5680
    y ^= (y << 15) & 0xEFC60000
    y ^= y >> 18
    return y & 0xFFFFFFFF


@njit(cache=True, nogil=True)
def _mask_for(rng: int) -> int:  # pragma: no cover - compiled
    mask = rng  # gen_mask: the smallest 2**k − 1 ≥ rng
    mask |= mask >> 1
    mask |= mask >> 2
    mask |= mask >> 4
    mask |= mask >> 8
    mask |= mask >> 16
    mask |= mask >> 32
    return mask


@njit(cache=True, nogil=True)
def _randint_closed(state: np.ndarray, rng: int) -> int:  # pragma: no cover - compiled
    """``RandomState.randint(0, rng + 1)`` (masked rejection, 32-bit draws; rng < ``2**32`` − 1)."""
    if rng == 0:
        return 0
    mask = _mask_for(rng)
    while True:
        value = _mt_next32(state) & mask
        if value <= rng:
            return value


@njit(cache=True, nogil=True)
def _sample_without_replacement(n_population: int, n_samples: int, state: np.ndarray) -> np.ndarray:
    """``sklearn.utils.random.sample_without_replacement(n_population, n_samples)`` with method
    "auto" (as a set: the order the tree sees is the sorted one)."""  # pragma: no cover - compiled
    ratio = n_samples / n_population if n_population != 0 else 1.0
    if 0.01 < ratio < 0.99:  # rng.permutation(n_population)[:n_samples]: legacy shuffle
        pool = np.arange(n_population)
        for i in range(n_population - 1, 0, -1):
            j = _randint_closed(state, i)  # random_interval(i): same masked draw
            pool[i], pool[j] = pool[j], pool[i]
        return pool[:n_samples].copy()
    out = np.empty(n_samples, np.int64)
    if ratio < 0.2:  # tracking selection
        chosen = np.zeros(n_population, np.bool_)
        for i in range(n_samples):
            j = _randint_closed(state, n_population - 1)
            while chosen[j]:
                j = _randint_closed(state, n_population - 1)
            chosen[j] = True
            out[i] = j
        return out
    for i in range(n_samples):  # reservoir sampling
        out[i] = i
    for i in range(n_samples, n_population):
        j = _randint_closed(state, i)
        if j < n_samples:
            out[j] = i
    return out


# ---------------------------------------------------------------- scikit-learn's tree, compiled
@njit(cache=True, nogil=True)
def _rand_r(seed: np.ndarray) -> int:  # pragma: no cover - compiled
    """``our_rand_r``: 32-bit xorshift, state in ``seed[0]``."""
    s = seed[0]
    if s == 0:
        s = 1
    s ^= (s << 13) & 0xFFFFFFFF
    s ^= s >> 17
    s ^= (s << 5) & 0xFFFFFFFF
    seed[0] = s
    return s % (MAX_INT + 1)


@njit(cache=True, nogil=True)
def _grow_trees(X: np.ndarray, y: np.ndarray, seeds: np.ndarray, max_samples: int, max_depth: int):
    """Every tree of the forest (one per seed) from ``X`` stored feature by feature (``X.T``);
    node arrays padded to ``2·max_samples − 1``."""  # pragma: no cover
    n_trees = seeds.shape[0]
    width = 2 * max_samples - 1
    left = np.full((n_trees, width), -1, np.int64)
    right = np.full((n_trees, width), -1, np.int64)
    feature = np.full((n_trees, width), -2, np.int64)
    threshold = np.full((n_trees, width), -2.0)
    n_node = np.zeros((n_trees, width), np.int64)
    depth = np.zeros((n_trees, width), np.int64)
    count = np.zeros(n_trees, np.int64)
    for t in range(n_trees):
        tree_seed = _randint_closed(_mt_seed(seeds[t]), MAX_INT - 1)  # _set_random_states
        rows = np.sort(_sample_without_replacement(X.shape[1], max_samples, _mt_seed(seeds[t])))
        rand_r = np.empty(1, np.int64)
        rand_r[0] = _randint_closed(_mt_seed(tree_seed), MAX_INT - 1)  # Splitter.init: randint(0, RAND_R_MAX)
        count[t] = _build_tree(X, y, rows, rand_r, max_depth, float(max_samples), left[t], right[t],
                               feature[t], threshold[t], n_node[t], depth[t])
    return left, right, feature, threshold, n_node, depth, count


@njit(cache=True, nogil=True)
def _build_tree(X, y, samples, rand_r, max_depth, weighted_n_samples, left, right, feature, threshold,
                n_node, depth) -> int:  # pragma: no cover - compiled
    """``DepthFirstTreeBuilder.build`` with the random splitter, MSE criterion, min_samples_split=2."""
    n_features = X.shape[0]
    features = np.arange(n_features)
    constant_features = np.zeros(n_features, np.int64)
    feature_values = np.empty(samples.shape[0], np.float32)
    capacity = 2 * max_depth + 4
    st_start = np.empty(capacity, np.int64)
    st_end = np.empty(capacity, np.int64)
    st_depth = np.empty(capacity, np.int64)
    st_parent = np.empty(capacity, np.int64)
    st_is_left = np.empty(capacity, np.bool_)
    st_impurity = np.empty(capacity)
    st_constants = np.empty(capacity, np.int64)
    split = np.empty(6)  # pos, feature, threshold, impurity_left, impurity_right, improvement
    top = 0
    st_start[0], st_end[0], st_depth[0], st_parent[0] = 0, samples.shape[0], 0, -1
    st_is_left[0], st_impurity[0], st_constants[0] = False, np.inf, 0
    top = 1
    node_count = 0
    first = True
    while top > 0:
        top -= 1
        start, end, node_depth = st_start[top], st_end[top], st_depth[top]
        parent, is_left, impurity, n_constants = st_parent[top], st_is_left[top], st_impurity[top], st_constants[top]
        n_node_samples = end - start
        sum_total, sq_sum_total, weighted_n_node = _node_sums(y, samples, start, end)
        is_leaf = node_depth >= max_depth or n_node_samples < 2 or weighted_n_node < 0.0
        if first:
            impurity = sq_sum_total / weighted_n_node - (sum_total / weighted_n_node) ** 2.0
            first = False
        is_leaf = is_leaf or impurity <= EPSILON
        if not is_leaf:
            n_constants = _node_split_random(X, y, samples, feature_values, features, constant_features,
                                             rand_r, start, end, n_constants, impurity, sum_total,
                                             sq_sum_total, weighted_n_node, weighted_n_samples, split)
            is_leaf = split[0] >= end or split[5] + EPSILON < 0.0
        node_id = node_count
        node_count += 1
        if parent >= 0:
            if is_left:
                left[parent] = node_id
            else:
                right[parent] = node_id
        n_node[node_id] = n_node_samples
        depth[node_id] = node_depth + 1  # Tree.compute_node_depths: the root has depth 1
        if not is_leaf:
            pos = np.int64(split[0])
            feature[node_id] = np.int64(split[1])
            threshold[node_id] = split[2]
            st_start[top], st_end[top], st_depth[top], st_parent[top] = pos, end, node_depth + 1, node_id
            st_is_left[top], st_impurity[top], st_constants[top] = False, split[4], n_constants
            top += 1
            st_start[top], st_end[top], st_depth[top], st_parent[top] = start, pos, node_depth + 1, node_id
            st_is_left[top], st_impurity[top], st_constants[top] = True, split[3], n_constants
            top += 1
    return node_count


@njit(cache=True, nogil=True)
def _node_sums(y, samples, start, end):  # pragma: no cover - compiled
    """``RegressionCriterion.init``: Σw·y, Σw·y·y and Σw over the node, in sample order (w = 1)."""
    sum_total = 0.0
    sq_sum_total = 0.0
    weighted = 0.0
    for p in range(start, end):
        y_i = y[samples[p]]
        w_y = 1.0 * y_i
        sum_total += w_y
        sq_sum_total += w_y * y_i
        weighted += 1.0
    return sum_total, sq_sum_total, weighted


@njit(cache=True, nogil=True)
def _left_sums(y, samples, start, end, pos, sum_total, weighted_n_node):  # pragma: no cover - compiled
    """``criterion.reset(); criterion.update(pos)``: Σy and Σw of the left child, from the nearer end."""
    if (pos - start) <= (end - pos):
        sum_left = 0.0
        weighted_left = 0.0
        for p in range(start, pos):
            sum_left += 1.0 * y[samples[p]]
            weighted_left += 1.0
    else:
        sum_left = sum_total
        weighted_left = weighted_n_node
        for p in range(end - 1, pos - 1, -1):
            sum_left -= 1.0 * y[samples[p]]
            weighted_left -= 1.0
    return sum_left, weighted_left


@njit(cache=True, nogil=True)
def _node_split_random(X, y, samples, feature_values, features, constant_features, rand_r, start, end,
                       n_known_constants, impurity, sum_total, sq_sum_total, weighted_n_node,
                       weighted_n_samples, split) -> int:  # pragma: no cover - compiled
    """``node_split_random`` with ``max_features=1``, ``min_samples_leaf=1``, no weights limit;
    writes the split to ``split`` and returns the constant-feature count for the children."""
    feature_threshold = np.float32(1e-7)  # FEATURE_THRESHOLD, a float32 constant
    n_features = features.shape[0]
    f_i = n_features
    n_found_constants = 0
    n_drawn_constants = 0
    n_total_constants = n_known_constants
    n_visited = 0
    best_pos, best_feature, best_threshold = end, 0, 0.0
    best_proxy = -np.inf
    current_feature = -1
    while f_i > n_total_constants and (n_visited < 1 or n_visited <= n_found_constants + n_drawn_constants):
        n_visited += 1
        f_j = n_drawn_constants + _rand_r(rand_r) % (f_i - n_found_constants - n_drawn_constants)
        if f_j < n_known_constants:
            features[n_drawn_constants], features[f_j] = features[f_j], features[n_drawn_constants]
            n_drawn_constants += 1
            continue
        f_j += n_found_constants
        current_feature = features[f_j]
        lo = np.float32(np.inf)
        hi = np.float32(-np.inf)
        row = X[current_feature]  # X is stored feature by feature here
        for p in range(start, end):  # DensePartitioner.find_min_max (finite values)
            v = row[samples[p]]
            feature_values[p] = v
            if p == start:
                lo = v
                hi = v
            elif v < lo:
                lo = v
            elif v > hi:
                hi = v
        if hi <= np.float32(lo + feature_threshold):
            features[f_j] = features[n_total_constants]
            features[n_total_constants] = current_feature
            n_found_constants += 1
            n_total_constants += 1
            continue
        f_i -= 1
        features[f_i], features[f_j] = features[f_j], features[f_i]
        low, high = np.float64(lo), np.float64(hi)
        current_threshold = ((high - low) * np.float64(_rand_r(rand_r)) / np.float64(MAX_INT)) + low
        if current_threshold == high:
            current_threshold = low
        partition_start, partition_end = start, end  # DensePartitioner.partition_samples
        while partition_start < partition_end:
            if feature_values[partition_start] <= current_threshold:
                partition_start += 1
            else:
                partition_end -= 1
                feature_values[partition_start], feature_values[partition_end] = (
                    feature_values[partition_end], feature_values[partition_start])
                samples[partition_start], samples[partition_end] = samples[partition_end], samples[partition_start]
        pos = partition_end
        if pos - start < 1 or end - pos < 1:
            continue
        sum_left, weighted_left = _left_sums(y, samples, start, end, pos, sum_total, weighted_n_node)
        weighted_right = weighted_n_node - weighted_left
        sum_right = sum_total - sum_left
        proxy = sum_left * sum_left / weighted_left + sum_right * sum_right / weighted_right
        if proxy > best_proxy:
            best_proxy = proxy
            best_pos, best_feature, best_threshold = pos, current_feature, current_threshold
    split[0], split[1], split[2] = best_pos, best_feature, best_threshold
    split[3], split[4], split[5] = np.inf, np.inf, -np.inf
    if best_pos < end:
        if current_feature != best_feature:  # partition_samples_final
            partition_start, partition_end = start, end
            while partition_start < partition_end:
                if X[best_feature, samples[partition_start]] <= best_threshold:
                    partition_start += 1
                else:
                    partition_end -= 1
                    samples[partition_start], samples[partition_end] = samples[partition_end], samples[partition_start]
        _children_impurity(y, samples, start, end, best_pos, sum_total, sq_sum_total, weighted_n_node,
                           weighted_n_samples, impurity, split)
    for k in range(n_known_constants):
        features[k] = constant_features[k]
    for k in range(n_known_constants, n_known_constants + n_found_constants):
        constant_features[k] = features[k]
    return n_total_constants


@njit(cache=True, nogil=True)
def _children_impurity(y, samples, start, end, pos, sum_total, sq_sum_total, weighted_n_node,
                       weighted_n_samples, impurity, split) -> None:  # pragma: no cover - compiled
    """``MSE.children_impurity`` and ``impurity_improvement`` after ``reset(); update(pos)``."""
    sum_left, weighted_left = _left_sums(y, samples, start, end, pos, sum_total, weighted_n_node)
    weighted_right = weighted_n_node - weighted_left
    sum_right = sum_total - sum_left
    sq_sum_left = 0.0
    for p in range(start, pos):
        y_i = y[samples[p]]
        sq_sum_left += 1.0 * y_i * y_i
    sq_sum_right = sq_sum_total - sq_sum_left
    impurity_left = sq_sum_left / weighted_left - (sum_left / weighted_left) ** 2.0
    impurity_right = sq_sum_right / weighted_right - (sum_right / weighted_right) ** 2.0
    split[3], split[4] = impurity_left, impurity_right
    split[5] = ((weighted_n_node / weighted_n_samples)
                * (impurity - (weighted_right / weighted_n_node * impurity_right)
                   - (weighted_left / weighted_n_node * impurity_left)))


@njit(cache=True, nogil=True)
def _path_lengths(X, children, feature, threshold, value, tree_depth) -> np.ndarray:  # pragma: no cover
    """Per row, the sum over trees, in tree order, of the value of its leaf: the ``depths`` of
    ``_compute_score_samples``. Tree by tree, rows in blocks walked side by side for a fixed
    ``tree_depth`` steps without branches (a leaf leads to itself); going right is
    ``not x <= threshold``, scikit-learn's test, written ``x > threshold`` for finite values."""
    n_rows = X.shape[0]
    depths = np.zeros(n_rows)
    block = 8
    nodes = np.zeros(block, np.int64)
    for t in range(children.shape[0]):
        child, feat, thr, val = children[t], feature[t], threshold[t], value[t]
        for first in range(0, n_rows, block):
            size = min(block, n_rows - first)
            nodes[:] = 0
            for _ in range(tree_depth[t]):
                for k in range(size):
                    node = nodes[k]
                    nodes[k] = child[2 * node + (X[first + k, feat[node]] > thr[node])]
            for k in range(size):
                depths[first + k] += val[nodes[k]]
    return depths


__all__ = [
    "VERIFIED_SKLEARN",
    "CompiledForest",
    "average_path_length",
    "compile_kernels",
    "fit_forest",
    "resolve_max_samples",
    "score_samples",
    "score_samples_torch",
    "unsupported_reason",
]
