"""The Expected Anomaly Posterior (EAP): a quality score for auxiliary anomalies.

Perini, Rudolph, Schmedding, Qiu, "Uncertainty-aware Evaluation of Auxiliary
Anomalies with the Expected Anomaly Posterior" (TMLR). For an auxiliary anomaly
``a``, on each of T random subsets of the training data,

    φ_t(a) = (c + N_t(a)·P_t(a)) / (1 + N_t(a))

is the posterior mean of "a is an anomaly" under a Beta(c, 1 − c) prior, with
``P_t`` the anomaly probability of an SSDO detector fitted on the subset and
``N_t = n_t · dens_t(a)`` the number of pseudo-observations that the normals'
k*-balls put around ``a``. The score is the mean of φ_t over the subsets: high
for realistic anomalies, close to the contamination ``c`` for unrealistic ones
(no evidence) and low for normal-looking ones.

The default (*faithful*) mode reproduces the paper's reference implementation:
the same random subsets from ``random_state=331`` (numpy's legacy generator: T
uniforms, then one binomial mask per subset), the same k*, N and the density bit for
bit, P within 3e-8 (the reference stores P rounded to float32) and EAP within 3e-9
(``tests/test_eap.py`` checks both on the reference's fixtures). ``fit`` does everything
that depends on the training data only (subsets, detectors, radii, k*); ``score_samples``
only the per-query work, so one fit serves many auxiliary sets.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Literal, overload

import numpy as np
import torch
from joblib import effective_n_jobs
from tqdm.auto import tqdm

from auxqual.detectors.iforest_prior import IsolationForestPrior
from auxqual.detectors.ssdo import SSDO
from auxqual.device import pick_device, torch_threads
from auxqual.distances import SelfDistances, as_tensor
from auxqual.quality._base import QualityScorer
from auxqual.quality.balls import DEFAULT_CONFIDENCE, BallCover, covering_ranks, k_star

MAX_RATE = 0.99  # the reference's upper bound on the subset keep-rate


@dataclass
class EAPDetails:
    """Everything behind an EAP score, per subset (rows of the T × l arrays) and per query.

    ``phi`` is φ_t(a); ``score`` its mean over subsets and ``score_std`` its
    standard deviation (ddof 0): how much the evidence varies with the data
    seen, a confidence no other implementation reports. ``outside_all`` flags
    queries outside every ball in every subset: their score is exactly the
    prior mean c (up to rounding) and they all tie.
    """

    score: np.ndarray
    score_std: np.ndarray
    phi: np.ndarray
    P: np.ndarray
    N: np.ndarray
    density: np.ndarray
    rarity: np.ndarray
    k_star: np.ndarray
    n_normals: np.ndarray
    outside_all: np.ndarray

    @property
    def n_ties_at_prior(self) -> int:
        """Number of queries outside every ball in every subset (tied at c)."""
        return int(self.outside_all.sum())


@dataclass(frozen=True)
class _SubsetSettings:
    """The parameters a subset fit needs."""

    k0: int
    ssdo_k: int
    alpha: float
    prior_random_state: int | None
    confidence: float
    contamination: float
    device: str
    block_elements: int | None


@dataclass
class _SubsetModel:
    """What ``fit`` learns on one subset: the detector and the normals' ball cover."""

    detector: SSDO | None
    cover: BallCover | None
    k_star: int
    n_normals: int


def _fit_subset(X: np.ndarray, y: np.ndarray, mask: np.ndarray, settings: _SubsetSettings, *,
                torch_threads_in_worker: int | None = None) -> _SubsetModel:
    """Fit SSDO on subset ``mask`` and the k*-balls of its normals.

    k* uses *all* labelled anomalies of the training set, also those left out of
    the subset, as the reference does.
    """
    with torch_threads(torch_threads_in_worker):
        normal_rows = np.flatnonzero(mask & (y == 0))
        n_t = normal_rows.size
        if n_t < 2 or mask.sum() <= settings.ssdo_k:
            # too small for a detector or a single ball: no evidence, so φ_t = c
            return _SubsetModel(None, None, max(n_t - 1, 0), n_t)
        device = torch.device(settings.device)
        detector = SSDO(k=settings.ssdo_k, alpha=settings.alpha, contamination=settings.contamination,
                        prior=IsolationForestPrior(random_state=settings.prior_random_state, device=settings.device),
                        device=device, block_elements=settings.block_elements)
        detector.fit(X[mask], y[mask])
        normals = as_tensor(X[normal_rows], device)
        anomalies = as_tensor(X[y == 1], device)
        distances = SelfDistances(normals, settings.block_elements)
        ranks = covering_ranks(normals, anomalies, blocks=distances)
        k = k_star(ranks, n_t, settings.k0, settings.confidence)
        cover = BallCover.fit(normals, k, block_elements=settings.block_elements, blocks=distances)
        return _SubsetModel(detector, cover, k, n_t)


def _tick(bar: tqdm, item):
    """Advance the progress bar by one and pass ``item`` through."""
    bar.update()
    return item


def draw_subset_masks(n: int, n_anomalies: int, n_subsets: int, k0: int,
                      random_state: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The reference's random subsets: rates ``p_t ~ U((k0+1+m)/n, 0.99)``, then masks.

    Draw order (needed for bit-exact reproduction): numpy's legacy
    ``RandomState(random_state)``, all T uniforms at once, then one
    ``binomial(1, p_t, n)`` per subset in order. Returns ``(masks, rates)``.
    """
    rng = np.random.RandomState(random_state)
    rates = rng.uniform(low=(k0 + 1 + n_anomalies) / n, high=MAX_RATE, size=n_subsets)
    masks = np.stack([rng.binomial(1, p, size=n) == 1 for p in rates]) if n_subsets else np.zeros((0, n), bool)
    return masks, rates


class EAP(QualityScorer):
    """Expected Anomaly Posterior of auxiliary anomalies (higher = better anomaly).

    Parameters
    ----------
    n_subsets : int
        T, the number of random training subsets (100 in the paper).
    k0 : int
        Smallest neighbourhood size for the balls (5).
    random_state : int
        Seed of the subset draw (331 reproduces the reference's subsets).
    subset_masks : array of shape (T, n), optional
        Explicit subsets (boolean masks over the training rows) instead of drawing
        them; ``n_subsets`` and ``random_state`` are then ignored.
    device : str, optional
        torch device of the distance work; default ``cuda`` when present, else CPU.
    alpha : float
        SSDO's weight of the labels against its prior (2.3, as in the paper).
    ssdo_k : int
        SSDO's bandwidth rank: the k-th nearest neighbour sets the kernel width (5).
    prior_random_state : int or None
        Seed of the isolation forest of SSDO's prior (1, as in the paper).
    confidence : float
        Quantile that sets k* (0.95).
    n_jobs : int or None
        Subsets fitted and scored concurrently (threads; subsets are independent), with
        joblib's meaning: ``None`` is 1 (serial), ``-1`` all cores, ``-2`` all but one.
    progress : bool
        Show a progress bar over the subsets.
    block_elements : int, optional
        Largest distance block held in memory, in matrix entries; default ``2**18`` on
        CPU (cache-sized), ``2**26`` on a GPU.

    Notes
    -----
    A scikit-learn estimator (``clone``, ``get_params``, ``Pipeline``): before ``fit`` scoring
    raises ``NotFittedError``; ``fit`` records ``n_features_in_`` (and ``feature_names_in_``
    for a DataFrame), and scoring rows of another width or with other column names raises a
    ``ValueError`` naming both. ``score_samples`` does not change the fitted estimator.
    """

    def __init__(self, n_subsets: int = 100, k0: int = 5, random_state: int | None = 331,
                 subset_masks: np.ndarray | None = None, device: str | None = None, *,
                 alpha: float = 2.3, ssdo_k: int = 5, prior_random_state: int | None = 1,
                 confidence: float = DEFAULT_CONFIDENCE, n_jobs: int = 2, progress: bool = False,
                 block_elements: int | None = None) -> None:
        self.n_subsets = n_subsets
        self.k0 = k0
        self.random_state = random_state
        self.subset_masks = subset_masks
        self.device = device
        self.alpha = alpha
        self.ssdo_k = ssdo_k
        self.prior_random_state = prior_random_state
        self.confidence = confidence
        self.n_jobs = n_jobs
        self.progress = progress
        self.block_elements = block_elements

    # ------------------------------------------------------------------ fit
    def fit(self, X: np.ndarray, y: np.ndarray) -> EAP:
        """Draw the subsets and fit, on each, the detector, the balls and k*.

        ``y``: 1 = labelled anomaly, 0 = normal. With no labelled anomalies
        (m = 0) the prior mean c is 0 and k* comes from a uniform Beta(1, 1): the
        score is then N·P / (1 + N); a ``UserWarning`` says so.
        """
        X_input, (X, y) = X, self._fit_input(X, y)
        self._check_params(X, y)
        n, m = X.shape[0], int(y.sum())
        if m == 0:
            warnings.warn("EAP: no labelled anomalies (m = 0): the prior mean c is 0 and k* uses "
                          "a uniform Beta(1, 1); scores are N·P/(1+N)", UserWarning, stacklevel=2)
        self.contamination_ = m / n
        self.device_ = pick_device(self.device)
        if self.subset_masks is None:
            self.subset_masks_, self.subset_rates_ = draw_subset_masks(
                n, m, self.n_subsets, self.k0, self.random_state)
        else:
            self.subset_masks_ = self._checked_masks(self.subset_masks, n)
            self.subset_rates_ = self.subset_masks_.mean(axis=1)
        self.X_train_ = X
        self.y_train_ = y
        settings = _SubsetSettings(self.k0, self.ssdo_k, self.alpha, self.prior_random_state, self.confidence,
                                   self.contamination_, str(self.device_), self.block_elements)
        self.subsets_ = self._fit_subsets(X, y, settings)
        self.k_star_ = np.array([s.k_star for s in self.subsets_], dtype=np.int64)
        self.n_normals_ = np.array([s.n_normals for s in self.subsets_], dtype=np.int64)
        self._end_fit(X_input, X)
        return self

    def _check_params(self, X: np.ndarray, y: np.ndarray) -> None:
        n_normals = int((y == 0).sum())
        if self.k0 < 1:
            raise ValueError(f"k0 must be ≥ 1, got k0={self.k0}")
        effective_n_jobs(self.n_jobs)  # a ValueError for n_jobs=0, as joblib's
        if n_normals < self.k0 + 2:
            raise ValueError(f"EAP needs at least k0 + 2 = {self.k0 + 2} normals in y_train, "
                             f"got {n_normals} (k0={self.k0})")
        if self.subset_masks is None and self.n_subsets < 1:
            raise ValueError(f"n_subsets must be ≥ 1, got {self.n_subsets}")
        if (self.k0 + 1 + int(y.sum())) / X.shape[0] >= MAX_RATE:
            raise ValueError(f"too few training rows ({X.shape[0]}) for k0={self.k0} and "
                             f"{int(y.sum())} labelled anomalies: the smallest subset rate would exceed {MAX_RATE}")

    @staticmethod
    def _checked_masks(masks: np.ndarray, n: int) -> np.ndarray:
        masks = np.asarray(masks)
        if masks.ndim != 2 or masks.shape[1] != n:
            raise ValueError(f"subset_masks must have shape (T, {n}), got {masks.shape}")
        if masks.dtype != bool and not np.isin(masks, (0, 1)).all():
            raise ValueError("subset_masks must be boolean (or 0/1)")
        return masks.astype(bool)

    def _fit_subsets(self, X: np.ndarray, y: np.ndarray, settings: _SubsetSettings) -> list[_SubsetModel]:
        """Fit every subset, in order, on ``n_jobs`` threads.

        Threads, not processes: the compiled isolation forest, the distance products and
        the row statistics all release the GIL, so threads use the cores without a worker
        process's start-up (seconds of importing torch) or pickling of the fitted subsets,
        and they work where processes may not be started (a daemonic Dask worker). Each
        thread runs torch with one intra-op thread on CPU; the results are those of a
        serial fit.
        """
        masks = self.subset_masks_
        bar = tqdm(total=len(masks), desc="EAP fit", unit="subset", disable=not self.progress)
        try:
            n_jobs = self._n_threads()
            if n_jobs <= 1 or len(masks) <= 1:
                fit = partial(_fit_subset, X, y, settings=settings, torch_threads_in_worker=1)
                return [_tick(bar, fit(mask)) for mask in masks]
            fit = partial(_fit_subset, X, y, settings=settings)
            with self._thread_scope(), ThreadPoolExecutor(max_workers=n_jobs) as pool:
                return [_tick(bar, model) for model in pool.map(fit, masks)]
        finally:
            bar.close()

    # ------------------------------------------------------------------ score
    @overload
    def score_samples(self, X: np.ndarray, return_details: Literal[False] = ...) -> np.ndarray: ...
    @overload
    def score_samples(self, X: np.ndarray, return_details: Literal[True]) -> EAPDetails: ...
    @overload
    def score_samples(self, X: np.ndarray, return_details: bool) -> np.ndarray | EAPDetails: ...

    def score_samples(self, X: np.ndarray, return_details: bool = False) -> np.ndarray | EAPDetails:
        """EAP of each row of ``X`` (the auxiliary anomalies); higher = better.

        With ``return_details=True`` return an ``EAPDetails`` with the
        per-subset P, N, density, rarity and φ, the spread over subsets and ties.
        """
        X = self._score_input(X)
        Q = as_tensor(X, self.device_)
        with self._thread_scope():
            parts = self._map_subsets(lambda s: self._score_subset(s, X, Q), self.subsets_, "EAP score")
        P, N, dens, rare = (np.stack(a) for a in zip(*parts, strict=True))
        c = self.contamination_
        phi = (c + N * P) / (1.0 + N)
        score = phi.sum(axis=0) / phi.shape[0]
        if not return_details:
            return score
        return EAPDetails(score=score, score_std=phi.std(axis=0), phi=phi, P=P, N=N, density=dens,
                          rarity=rare, k_star=self.k_star_.copy(), n_normals=self.n_normals_.copy(),
                          outside_all=(N == 0).all(axis=0))

    def _score_subset(self, subset: _SubsetModel, X: np.ndarray, Q: torch.Tensor,
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        zeros = np.zeros(X.shape[0])
        if subset.detector is None or subset.cover is None:   # both or neither (_fit_subset)
            return zeros, zeros, zeros, zeros
        P = subset.detector.anomaly_probability(X)
        dens, rare = subset.cover.density(Q)
        return P, subset.n_normals * dens, dens, rare

    def _n_threads(self) -> int:
        """``n_jobs`` as a number of threads, with joblib's meaning (``-1``: all cores)."""
        return int(effective_n_jobs(self.n_jobs))

    def _thread_scope(self):
        """One torch thread per worker on CPU: the workers already use the cores."""
        parallel = self._n_threads() > 1
        return torch_threads(1 if parallel and self.device_.type == "cpu" else None)

    def _map_subsets(self, func, items, label: str) -> list:
        """Apply ``func`` to every subset item, in order, on ``n_jobs`` threads."""
        items = list(items)
        bar = tqdm(total=len(items), desc=label, unit="subset", disable=not self.progress)
        try:
            n_jobs = self._n_threads()
            if n_jobs <= 1 or len(items) <= 1:
                results = []
                for item in items:
                    results.append(func(item))
                    bar.update()
                return results
            with ThreadPoolExecutor(max_workers=n_jobs) as pool:
                futures = [pool.submit(func, item) for item in items]
                results = []
                for future in futures:
                    results.append(future.result())
                    bar.update()
                return results
        finally:
            bar.close()
