"""The one utility core of the model-based baselines: ``U(coalition)`` and marginal contributions.

Every model-based baseline values an auxiliary anomaly ``a_j`` by what it adds to the detector
when it joins a *coalition* of data with the label "anomaly". A coalition is a boolean mask over
the *pool* = the player rows of the training set followed by the auxiliary rows (label 1):

- the **adapted game** (the EAP paper's, the default everywhere): the training points are the
  players; a coalition holds training rows only, and each ``a_j`` is added to it *alone*;
- the **textbook game** (an option where it is cheap): the auxiliary anomalies are the players and
  every coalition holds the whole training set plus some auxiliary rows.

``U(S)`` fits the detector EAP uses (``SSDO`` with the
isolation-forest prior and the squash, ``contamination`` = m/n of the full training set as in the
reference) on the rows of ``S`` and measures it on an *evaluation set*:

- ``metric="f1"`` (faithful default): F1 of ``P(anomaly) > 0.5`` against the labels of the
  **training set itself** (all of it, whatever the coalition), ``zero_division = 0``;
- ``metric="auroc"``: AUROC of ``P(anomaly)`` on a labelled **validation split** (a stratified
  ``validation_size`` share of the training set, drawn with ``random_state``); those rows are then
  never players.

A coalition with at most ``k`` rows cannot be fitted (SSDO needs more rows than its bandwidth
rank): its utility is ``empty_utility`` (0, the F1 of a detector that flags nothing); when
``S ∪ {a_j}`` can be fitted but ``S`` cannot, ``U(S ∪ {a_j})`` is computed by a refit. A callable
``metric(X_coalition, y_coalition) -> float`` replaces the detector altogether (refit per
coalition, no fast path): for custom utilities and for exact tests on tiny games.

Fast path (default, ``exact=False``)
------------------------------------
One fit of the coalition ``S`` gives ``U(S)`` **and** ``U(S ∪ {a_j})`` for every candidate ``a_j``
in one batch. SSDO's label propagation is additive in the labelled points: adding the labelled
anomaly ``a_j`` adds ``g(‖x − a_j‖)`` to the anomaly kernel sum ``da(x)`` of every point and gives
``a_j`` its own score. The fast path therefore computes, for every ``j`` at once,

    da_j(x) = da_S(x) + g_S(‖x − a_j‖),   z_j(x) = (prior_S(x) + α·da_j(x)) / (1 + α·(da_j(x) + dn_S(x)))

for the evaluation rows and the in-sample rows, plus ``a_j``'s own score (``da_S(a_j) + 1``,
``prior_S(a_j)``), and then **recomputes the squash threshold per a_j**: ``t_j`` = the
``int((1 − c)·100)`` percentile of the in-sample scores of ``S ∪ {a_j}``. What it approximates:
the isolation-forest prior (forest *and* its min-max scaling) and the bandwidth η are those of
``S`` **without** ``a_j`` (an exact refit would refit the forest on ``S ∪ {a_j}`` and recompute η
with ``a_j`` among the points). Everything else is exact: with the prior and η of ``S`` frozen,
the fast path equals a refit to float rounding (tested). Measured gap to a true refit (SSDO
refitted on ``S ∪ {a_j}``, keep-rate 0.6 coalitions): on pima (n = 242, 90 (S, a_j) pairs) the
max |ΔP| over the training rows has median 0.03 (p95 0.28), predictions at 0.5 flip for 0.1 % of
rows and ``U(S ∪ {a_j})`` is identical in 80 % of pairs (mean |ΔU| 0.019); on cardio (n = 1005,
64 pairs) median max |ΔP| 0.12, flips 0.17 %, identical ``U`` in 39 % (mean |ΔU| 0.008); LOO on
cardio: identical values for 79 % of the 249 rows. Most of that gap is the isolation forest's own
resampling noise, not ``a_j``: with one more row the forest draws other subsamples, and changing
only the forest's seed moves P by a median max of 0.16–0.19 and U by ~0.005 on the same
coalitions. The fast path holds the prior fixed, so its marginal contributions carry none of it.

Exact path (``exact=True``)
---------------------------
Refits ``SSDO`` on ``S ∪ {a_j}`` for every ``j`` (one forest per
candidate): the reference's semantics, ``1 + #candidates`` fits per coalition.

Costs and parallelism
---------------------
``CoalitionUtility.build`` precomputes the squared Euclidean distances among the pool and
evaluation rows once
(``O((n + l)²)`` memory: 25 MB for 1000 + 750 rows). A fast-path coalition costs one
isolation-forest fit (about 0.1 s, the dominant term) plus ``O((n + l)·|S|)`` kernel work.
Independent coalitions run in ``n_jobs`` worker processes (joblib ``loky``; the forest's fit is
bound by Python overhead, so threads would not use a second core); in this process, with the
same results, where processes may not be started (``auxqual.device.processes_allowed``: a
daemonic Dask worker). Results are cached by
coalition (an LRU of ``cache_size`` entries), so repeated coalitions cost nothing.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from scipy.spatial.distance import cdist
from scipy.stats import rankdata
from sklearn.model_selection import train_test_split
from tqdm.auto import tqdm

from auxqual.detectors.iforest_prior import IsolationForestPrior
from auxqual.detectors.ssdo import LOG_HALF, SSDO, harmonic_bandwidth, posterior, squash_percentile
from auxqual.device import processes_allowed, torch_threads

METRICS = ("f1", "auroc")
GAMES = ("adapted", "textbook")

UtilityFunction = Callable[[np.ndarray, np.ndarray], float]


# --------------------------------------------------------------------------- metrics (vectorised)
def f1_columns(y: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """F1 of ``scores[:, b] > threshold`` against ``y`` for every column ``b`` (zero_division 0).

    Equals ``sklearn.metrics.f1_score(y, scores[:, b] > threshold, zero_division=0)``.
    """
    y = np.asarray(y).astype(bool)
    pred = np.asarray(scores) > threshold
    tp = (pred & y[:, None]).sum(axis=0)
    fp = (pred & ~y[:, None]).sum(axis=0)
    fn = (~pred & y[:, None]).sum(axis=0)
    denom = 2 * tp + fp + fn
    return np.where(denom > 0, 2.0 * tp / np.maximum(denom, 1), 0.0)


def auroc_columns(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """AUROC of every column of ``scores`` against ``y`` (ties count one half, as scikit-learn)."""
    y = np.asarray(y).astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    ranks = rankdata(np.asarray(scores), axis=0)
    return (ranks[y].sum(axis=0) - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def squash_columns(z: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """SSDO's squash ``clip(1 − 2^(−(z/t)²), 0, 1)`` with one threshold per column of ``z``
    (a zero threshold maps positive scores to 1, as ``auxqual.detectors.ssdo.squash``)."""
    t = np.asarray(thresholds, dtype=np.float64)
    safe = np.where(t == 0.0, 1.0, t)
    p = np.clip(1.0 - np.exp(LOG_HALF * np.power(z / safe, 2)), 0.0, 1.0)
    return np.where(t == 0.0, (z > 0).astype(np.float64), p)


# --------------------------------------------------------------------------- state
@dataclass
class _PoolState:
    """Everything a worker needs to evaluate coalitions (arrays travel memory-mapped)."""

    X: np.ndarray            # universe rows: pool rows, then evaluation-only rows
    y: np.ndarray            # labels of the universe rows (aux rows: 1)
    D2: np.ndarray           # squared distances universe × pool
    n_pool: int
    eval_idx: np.ndarray     # universe indices of the evaluation rows
    y_eval: np.ndarray
    metric: str
    threshold: float
    k: int
    alpha: float
    prior_random_state: int | None
    contamination: float
    empty_utility: float
    exact: bool
    func: UtilityFunction | None


def _score(state: _PoolState, P_eval: np.ndarray) -> np.ndarray:
    """Metric of every column of evaluation-set probabilities."""
    if state.metric == "f1":
        return f1_columns(state.y_eval, P_eval, state.threshold)
    return auroc_columns(state.y_eval, P_eval)


def _bandwidth(D2_cc: np.ndarray, k: int) -> float:
    """SSDO's η: harmonic mean of each point's distance to its k-th nearest other point."""
    return harmonic_bandwidth(np.sqrt(np.partition(D2_cc, k, axis=1)[:, k]))


_posterior = posterior
_percentile_q = squash_percentile


def fast_probabilities(state: _PoolState, members: np.ndarray, candidates: np.ndarray,
                       ) -> tuple[np.ndarray, np.ndarray]:
    """P(anomaly) of the evaluation rows under SSDO fitted on ``members`` (``base``, shape
    ``(n_eval,)``) and with each candidate added alone (``with_each``, ``(n_eval, #candidates)``).

    One isolation-forest fit and one bandwidth for ``members``; adding ``a_j`` updates the anomaly
    kernel sums additively, gives ``a_j`` its own in-sample score and recomputes the squash
    threshold per ``a_j`` (see the module docstring for what this approximates).
    """
    X, k, alpha = state.X, state.k, state.alpha
    forest = IsolationForestPrior(random_state=state.prior_random_state).fit(X[members])
    eta = _bandwidth(state.D2[np.ix_(members, members)], k)
    scale = LOG_HALF / (eta * eta)
    # rows whose scores are needed: evaluation rows, the coalition's own rows, the candidates
    rows = np.union1d(np.union1d(state.eval_idx, members), candidates)
    prior = np.empty(rows.size)
    in_members = np.isin(rows, members)
    pos_members = np.searchsorted(rows, members)
    prior[pos_members] = forest.train_prior_
    if (~in_members).any():
        prior[~in_members] = forest.prior(X[rows[~in_members]])
    kernel = np.exp(scale * state.D2[np.ix_(rows, members)])
    anomalous = state.y[members] == 1
    da = kernel[:, anomalous].sum(axis=1)
    dn = kernel[:, ~anomalous].sum(axis=1)
    del kernel
    z = _posterior(prior, da, dn, alpha)
    q = _percentile_q(state.contamination)
    pos_eval = np.searchsorted(rows, state.eval_idx)
    t = float(np.percentile(z[pos_members], q))
    base = squash_columns(z[pos_eval][:, None], np.array([t]))[:, 0]
    if candidates.size == 0:
        return base, np.empty((pos_eval.size, 0))
    # adding a_j: da += g(‖x − a_j‖) for every row; a_j's own score; threshold per a_j
    da_j = np.exp(scale * state.D2[np.ix_(rows, candidates)])      # rows × candidates
    da_j += da[:, None]
    z_j = da_j + dn[:, None]
    z_j *= alpha
    z_j += 1.0
    np.reciprocal(z_j, out=z_j)
    da_j *= alpha
    da_j += prior[:, None]
    z_j *= da_j                                                     # (prior + α·da_j) / (1 + α(da_j + dn))
    del da_j
    pos_cand = np.searchsorted(rows, candidates)
    z_own = _posterior(prior[pos_cand], da[pos_cand] + 1.0, dn[pos_cand], alpha)
    in_sample = np.vstack([z_j[pos_members], z_own[None, :]])
    t_j = np.percentile(in_sample, q, axis=0)
    return base, squash_columns(z_j[pos_eval], t_j)


def _fast(state: _PoolState, members: np.ndarray, candidates: np.ndarray) -> tuple[float, np.ndarray]:
    """``U(S)`` and ``U(S ∪ {a_j})`` for every candidate from one fit of ``S``."""
    base, with_each = fast_probabilities(state, members, candidates)
    u_base = float(_score(state, base[:, None])[0])
    if candidates.size == 0:
        return u_base, np.empty(0)
    return u_base, _score(state, with_each)


def _exact_one(state: _PoolState, members: np.ndarray) -> float:
    """``U`` of the rows ``members`` by a full SSDO refit (or the user's function)."""
    if members.size <= state.k and state.func is None:
        return state.empty_utility
    X, y = state.X[members], state.y[members]
    if state.func is not None:
        return float(state.func(X, y))
    detector = SSDO(k=state.k, alpha=state.alpha, contamination=state.contamination, device="cpu",
                    prior=IsolationForestPrior(random_state=state.prior_random_state)).fit(X, y)
    P = detector.anomaly_probability(state.X[state.eval_idx])
    return float(_score(state, P[:, None])[0])


def _evaluate(state: _PoolState, mask: np.ndarray, candidates: np.ndarray) -> tuple[float, np.ndarray]:
    """One coalition: its utility and the utility with each candidate added alone."""
    members = np.flatnonzero(mask)
    fresh = candidates[~mask[candidates]]
    out = np.empty(candidates.size)
    if state.func is None and not state.exact and members.size > state.k:
        base, with_fresh = _fast(state, members, fresh)
    else:
        base = _exact_one(state, members)
        with_fresh = np.array([_exact_one(state, np.sort(np.append(members, c))) for c in fresh])
    out[~mask[candidates]] = with_fresh
    out[mask[candidates]] = base  # already in the coalition: adding it changes nothing
    return base, out


def _aux_probability(state: _PoolState, mask: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """P(anomaly) of universe ``rows`` under SSDO fitted on the coalition ``mask``."""
    members = np.flatnonzero(mask)
    if members.size <= state.k:
        return np.zeros(rows.size)
    if state.exact:
        detector = SSDO(k=state.k, alpha=state.alpha, contamination=state.contamination, device="cpu",
                        prior=IsolationForestPrior(random_state=state.prior_random_state))
        detector.fit(state.X[members], state.y[members])
        return detector.anomaly_probability(state.X[rows])
    forest = IsolationForestPrior(random_state=state.prior_random_state).fit(state.X[members])
    eta = _bandwidth(state.D2[np.ix_(members, members)], state.k)
    scale = LOG_HALF / (eta * eta)
    anomalous = state.y[members] == 1
    k_in = np.exp(scale * state.D2[np.ix_(members, members)])
    z_in = _posterior(forest.train_prior_, k_in[:, anomalous].sum(1), k_in[:, ~anomalous].sum(1), state.alpha)
    t = float(np.percentile(z_in, _percentile_q(state.contamination)))
    k_q = np.exp(scale * state.D2[np.ix_(rows, members)])
    z = _posterior(forest.prior(state.X[rows]), k_q[:, anomalous].sum(1), k_q[:, ~anomalous].sum(1), state.alpha)
    return squash_columns(z[:, None], np.array([t]))[:, 0]


def _run_chunk(state: _PoolState, jobs: list[tuple[np.ndarray, np.ndarray]], kind: str) -> list:
    with torch_threads(1):
        if kind == "marginals":
            return [_evaluate(state, mask, cand) for mask, cand in jobs]
        return [_aux_probability(state, mask, rows) for mask, rows in jobs]


# --------------------------------------------------------------------------- the utility object
@dataclass
class Marginals:
    """``U(S)`` (``base``) and ``U(S ∪ {a_j})`` for the requested candidates (``with_aux``)."""

    base: float
    with_aux: np.ndarray

    @property
    def delta(self) -> np.ndarray:
        """Marginal contributions ``U(S ∪ {a_j}) − U(S)``."""
        return self.with_aux - self.base


class CoalitionUtility:
    """``U(coalition)`` of the detector fitted on a coalition of training and auxiliary rows.

    Build it with ``build``; coalitions are boolean masks over the pool (``n_players``
    training rows, then ``n_aux`` auxiliary rows). See the module docstring for the game, the
    metric, the fast path and what it approximates.
    """

    def __init__(self, state: _PoolState, *, n_players: int, n_aux: int, player_rows: np.ndarray,
                 n_jobs: int | None, cache_size: int, progress: bool, description: str) -> None:
        self._state = state
        self.n_players = n_players
        self.n_aux = n_aux
        self.player_rows = player_rows
        self.n_jobs = n_jobs
        self.cache_size = cache_size
        self.progress = progress
        self.description = description
        self._cache: OrderedDict[bytes, Marginals] = OrderedDict()
        self.n_evaluations = 0   # coalitions actually fitted (cache misses)
        self.n_cache_hits = 0

    # ------------------------------------------------------------------ construction
    @classmethod
    def build(cls, X_train: np.ndarray, y_train: np.ndarray, X_aux: np.ndarray, *,
              metric: str | UtilityFunction = "f1", validation_size: float = 0.3,
              random_state: int | None = None, k: int = 5, alpha: float = 2.3,
              prior_random_state: int | None = 1, threshold: float = 0.5, exact: bool = False,
              n_jobs: int | None = 1, cache_size: int = 4096, empty_utility: float = 0.0,
              progress: bool = False) -> CoalitionUtility:
        """Precompute distances and choose the evaluation set.

        ``metric`` is ``"f1"`` (on the training set), ``"auroc"`` (on a stratified validation split
        of ``validation_size``), or a function ``f(X_coalition, y_coalition) -> float`` (refit per
        coalition, no fast path: for custom utilities and tests).
        """
        X_train = np.asarray(X_train, dtype=np.float64)
        y_train = np.asarray(y_train).astype(np.int8)
        X_aux = np.asarray(X_aux, dtype=np.float64)
        func = None
        if callable(metric):
            func, metric_name = metric, "f1"
        elif metric in METRICS:
            metric_name = metric
        else:
            raise ValueError(f"utility must be one of {METRICS} or a callable, got {metric!r}")
        n = X_train.shape[0]
        if metric_name == "auroc" and func is None:
            if not 0.0 < validation_size < 1.0:
                raise ValueError(f"validation_size must lie in (0, 1), got {validation_size}")
            m = int(y_train.sum())
            if m < 2 or n - m < 2:
                raise ValueError(f"utility='auroc' needs ≥ 2 labelled anomalies and ≥ 2 normals in y_train "
                                 f"for a stratified validation split, got {m} and {n - m}")
            players, valid = train_test_split(np.arange(n), test_size=validation_size, stratify=y_train,
                                              random_state=random_state)
            players, valid = np.sort(players), np.sort(valid)
        else:
            players, valid = np.arange(n), np.empty(0, dtype=np.int64)
        if func is None and int(y_train[valid if valid.size else players].sum()) == 0:
            raise ValueError("the utility needs at least one labelled anomaly (y_train == 1) in its "
                             "evaluation set; got none")
        pool = np.vstack([X_train[players], X_aux])
        universe = np.vstack([pool, X_train[valid]]) if valid.size else pool
        y_universe = np.concatenate([y_train[players], np.ones(X_aux.shape[0], np.int8), y_train[valid]])
        n_pool = pool.shape[0]
        eval_idx = np.arange(n_pool, universe.shape[0]) if valid.size else np.arange(players.size)
        D2 = cdist(universe, pool, "sqeuclidean") if func is None else np.zeros((0, 0))
        state = _PoolState(X=universe, y=y_universe, D2=D2, n_pool=n_pool, eval_idx=eval_idx,
                           y_eval=y_universe[eval_idx], metric=metric_name, threshold=threshold, k=k,
                           alpha=alpha, prior_random_state=prior_random_state,
                           contamination=float(y_train.sum()) / n, empty_utility=empty_utility,
                           exact=exact, func=func)
        if func is not None:
            description = f"callable:{getattr(func, '__name__', type(func).__name__)}"
        elif metric_name == "f1":
            description = f"f1@{threshold:g} of SSDO on the training set"
        else:
            description = f"auroc of SSDO on a {validation_size:g} validation split"
        return cls(state, n_players=players.size, n_aux=X_aux.shape[0], player_rows=players, n_jobs=n_jobs,
                   cache_size=cache_size, progress=progress, description=description)

    # ------------------------------------------------------------------ masks
    @property
    def n_pool(self) -> int:
        return self.n_players + self.n_aux

    def coalition(self, players: np.ndarray | None = None, aux: np.ndarray | None = None) -> np.ndarray:
        """Pool mask from a player mask (length ``n_players``) and an auxiliary mask."""
        mask = np.zeros(self.n_pool, dtype=bool)
        if players is not None:
            mask[: self.n_players] = np.asarray(players, dtype=bool)
        if aux is not None:
            mask[self.n_players:] = np.asarray(aux, dtype=bool)
        return mask

    def aux_index(self, j: np.ndarray | Sequence[int] | None = None) -> np.ndarray:
        """Pool indices of auxiliary rows ``j`` (all when None)."""
        j = np.arange(self.n_aux) if j is None else np.asarray(j, dtype=np.int64)
        return self.n_players + j

    # ------------------------------------------------------------------ evaluation
    def value(self, mask: np.ndarray) -> float:
        """``U(S)`` of one coalition."""
        return self.marginals(mask, np.empty(0, np.int64)).base

    __call__ = value

    def marginals(self, mask: np.ndarray, candidates: np.ndarray | None = None) -> Marginals:
        """``U(S)`` and ``U(S ∪ {a_j})`` for auxiliary ``candidates`` (indices 0…n_aux−1; all when None)."""
        return self.batch_marginals([mask], [candidates])[0]

    def batch_marginals(self, masks: Sequence[np.ndarray] | np.ndarray,
                        candidates: Sequence[np.ndarray | None] | None = None) -> list[Marginals]:
        """``marginals`` of many coalitions; the uncached ones run in parallel (``n_jobs``)."""
        masks = [np.asarray(mask, dtype=bool) for mask in masks]
        if candidates is None:
            candidates = [None] * len(masks)
        if len(candidates) != len(masks):
            raise ValueError(f"{len(candidates)} candidate lists for {len(masks)} coalitions")
        jobs, keys = [], []
        results: list[Marginals | None] = [None] * len(masks)
        pending: dict[bytes, list[int]] = {}
        for i, (mask, cand) in enumerate(zip(masks, candidates, strict=True)):
            if mask.shape != (self.n_pool,):
                raise ValueError(f"coalition mask must have shape ({self.n_pool},), got {mask.shape}")
            cand_pool = self.aux_index(cand)
            key = np.packbits(mask).tobytes() + b"|" + cand_pool.tobytes()
            if key in self._cache:
                self._cache.move_to_end(key)
                results[i] = self._cache[key]
                self.n_cache_hits += 1
            elif key in pending:
                pending[key].append(i)
                self.n_cache_hits += 1
            else:
                pending[key] = [i]
                jobs.append((mask, cand_pool))
                keys.append(key)
        outputs = self._run(jobs, "marginals", desc="coalitions")
        for key, (base, with_aux) in zip(keys, outputs, strict=True):
            entry = Marginals(base, with_aux)
            for i in pending[key]:
                results[i] = entry
            self._remember(key, entry)
        self.n_evaluations += len(jobs)
        # every index is filled by now: from the cache, or by its own or an identical pending coalition's job
        return cast(list[Marginals], results)

    def batch_aux_probability(self, masks: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """P(anomaly) of every auxiliary row under SSDO fitted on each coalition (``B × n_aux``)."""
        return self.batch_probability(masks, self.aux_index())

    def batch_probability(self, masks: Sequence[np.ndarray] | np.ndarray, rows: np.ndarray) -> np.ndarray:
        """P(anomaly) of pool ``rows`` under SSDO fitted on each coalition (``B × len(rows)``).

        The fast path computes it from its own fit (SSDO's arithmetic on the precomputed
        distances); ``exact=True`` uses the ``SSDO`` class itself.
        """
        if self._state.func is not None:
            raise ValueError("probabilities need the SSDO utility, not a callable utility")
        rows = np.asarray(rows, dtype=np.int64)
        jobs = [(np.asarray(mask, dtype=bool), rows) for mask in masks]
        outputs = self._run(jobs, "probability", desc="detectors")
        self.n_evaluations += len(jobs)
        return np.vstack(outputs) if outputs else np.zeros((0, rows.size))

    def _remember(self, key: bytes, entry: Marginals) -> None:
        if self.cache_size <= 0:
            return
        self._cache[key] = entry
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def _run(self, jobs: list, kind: str, desc: str) -> list:
        if not jobs:
            return []
        n_jobs = int(effective_n_jobs(self.n_jobs))  # joblib's meaning: None → 1, -1 → all cores
        bar = tqdm(total=len(jobs), desc=desc, unit="fit", disable=not self.progress, leave=False)
        try:
            if n_jobs <= 1 or len(jobs) <= 1 or not processes_allowed():  # e.g. inside a Dask worker
                out = []
                for job in jobs:
                    out.extend(_run_chunk(self._state, [job], kind))
                    bar.update()
                return out
            n_chunks = min(len(jobs), 4 * n_jobs)
            bounds = np.linspace(0, len(jobs), n_chunks + 1).astype(int)
            chunks = [jobs[a:b] for a, b in itertools.pairwise(bounds) if b > a]
            stream = Parallel(n_jobs=n_jobs, backend="loky", return_as="generator")(
                delayed(_run_chunk)(self._state, chunk, kind) for chunk in chunks)
            out = []
            for chunk, part in zip(chunks, stream, strict=True):
                out.extend(part)
                bar.update(len(chunk))
            return out
        finally:
            bar.close()


# --------------------------------------------------------------------------- exact games by enumeration
def enumerate_marginals(utility: CoalitionUtility, *, game: str = "adapted",
                        max_players: int = 14) -> np.ndarray:
    """Exact mean marginal contribution of every auxiliary anomaly per coalition size.

    Returns ``M`` of shape ``(n_aux, n_players + 1)`` (adapted game) with ``M[j, s]`` = the mean
    of ``U(S ∪ {a_j}) − U(S)`` over all player subsets ``S`` of size ``s``; for the textbook game
    the players are the other auxiliary rows (shape ``(n_aux, n_aux)``) and the training set is
    always in. Enumerates ``2^players`` coalitions: tiny games only (``max_players``).
    """
    if game not in GAMES:
        raise ValueError(f"game must be one of {GAMES}, got {game!r}")
    n_players = utility.n_players if game == "adapted" else utility.n_aux - 1
    if n_players > max_players:
        raise ValueError(f"enumeration over {n_players} players exceeds max_players={max_players}")
    n_aux = utility.n_aux
    if game == "adapted":
        masks = [utility.coalition(players=np.array([(s >> i) & 1 for i in range(n_players)], bool))
                 for s in range(2 ** n_players)]
        results = utility.batch_marginals(masks)
        sums = np.zeros((n_aux, n_players + 1))
        counts = np.zeros(n_players + 1)
        for s, res in enumerate(results):
            size = bin(s).count("1")
            sums[:, size] += res.delta
            counts[size] += 1
        return sums / counts
    sums = np.zeros((n_aux, n_players + 1))
    counts = np.zeros((n_aux, n_players + 1))
    everyone = np.ones(utility.n_players, bool)
    for j in range(n_aux):
        others = np.delete(np.arange(n_aux), j)
        masks = []
        for s in range(2 ** n_players):
            aux = np.zeros(n_aux, bool)
            aux[others[[(s >> i) & 1 == 1 for i in range(n_players)]]] = True
            masks.append(utility.coalition(players=everyone, aux=aux))
        results = utility.batch_marginals(masks, [np.array([j])] * len(masks))
        for s, res in enumerate(results):
            size = bin(s).count("1")
            sums[j, size] += res.delta[0]
            counts[j, size] += 1
    return sums / counts
