"""DVRL, data valuation by reinforcement learning (Yoon, Arik & Pfister, ICML 2020).

A small neural *value estimator* ``h(x, y, (y − P̂(x))²) → [0, 1]`` (an MLP over the features,
the label and the squared error of a detector fitted on the whole training set, as the reference's
``y_pred_diff``; 0 with a callable utility, which has no detector) gives every point a selection
probability. It is trained by REINFORCE to select points that raise the utility; the value of
``a_j`` is its selection probability ``h(a_j, 1, ·)``.

Game (adapted). Every step draws ``rollouts_per_step`` rollouts; a rollout samples a batch of
``batch_size`` training points and ``aux_batch_size`` auxiliary anomalies, and selections
``s ~ Bernoulli(h)`` for all of them. The detector is fitted on the selected training points
``S`` (one fit); each selected auxiliary anomaly is added to ``S`` alone (fast path: same fit).
Rewards: training selections get ``U(S) − b`` (``b`` a moving average of ``U(S)``), each selected
``a_j`` gets its marginal contribution ``U(S ∪ {a_j}) − U(S)`` (the counterfactual baseline the
batched utility makes free). The loss is ``Σ reward · BCE(h, s)`` plus the reference's
exploration penalty ``1000 · relu(|mean h − 0.5| − (threshold − 0.5))``, optimised with Adam.

Budget: ``n_steps × rollouts_per_step`` detector fits (100 × 3 = 300); the rollouts of a step
run in parallel. Deterministic under ``random_state`` (numpy and a seeded torch generator; the
network is initialised under a forked, seeded torch RNG; one torch thread, CPU).
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils import check_scalar
from torch import nn
from tqdm.auto import tqdm

from auxqual.device import torch_threads
from auxqual.quality.baselines._base import BaselineDetails, BaselineEstimator, DetectorUtilityMixin
from auxqual.quality.baselines.utility import UtilityFunction


class ValueEstimator(nn.Module):
    """MLP ``(x, y) → comb_dim`` features, joined with the detector's squared error → probability."""

    def __init__(self, n_features: int, hidden_dim: int, n_layers: int, comb_dim: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(n_features + 1, hidden_dim), nn.ReLU()]
        for _ in range(max(0, n_layers - 2)):
            layers += [nn.Linear(hidden_dim, hidden_dim), nn.ReLU()]
        layers += [nn.Linear(hidden_dim, comb_dim), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(comb_dim + 1, comb_dim), nn.ReLU(), nn.Linear(comb_dim, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor, y: torch.Tensor, err: torch.Tensor) -> torch.Tensor:
        features = self.body(torch.cat([x, y[:, None]], dim=1))
        return self.head(torch.cat([features, err[:, None]], dim=1))[:, 0]


class DVRL(DetectorUtilityMixin, BaselineEstimator):
    """Selection probability of a REINFORCE-trained value estimator (higher = better).

    Parameters
    ----------
    n_steps : int
        Optimiser steps (100).
    rollouts_per_step : int
        Sampled selections per step, each one detector fit (3).
    batch_size, aux_batch_size : int
        Training points (256) and auxiliary anomalies (64) per rollout (capped at what exists).
    hidden_dim, n_layers, comb_dim : int
        Size of the value estimator (64, 3, 10).
    learning_rate : float
        Adam's learning rate (0.01).
    threshold : float
        Exploration bound: the mean selection probability is kept in [1 − threshold, threshold].
    baseline_decay : float
        Decay of the moving-average reward baseline (0.9).
    utility, validation_size, exact, alpha, ssdo_k, prior_random_state, n_jobs, random_state,
    progress
        As ``DataShapley``.
    """

    def __init__(self, n_steps: int = 100, rollouts_per_step: int = 3, batch_size: int = 256,
                 aux_batch_size: int = 64, *, hidden_dim: int = 64, n_layers: int = 3, comb_dim: int = 10,
                 learning_rate: float = 0.01, threshold: float = 0.9, baseline_decay: float = 0.9,
                 utility: str | UtilityFunction = "f1", validation_size: float = 0.3, exact: bool = False,
                 alpha: float = 2.3,
                 ssdo_k: int = 5, prior_random_state: int | None = 1, n_jobs: int | None = 2,
                 random_state: int | None = 331, progress: bool = False) -> None:
        self.n_steps = n_steps
        self.rollouts_per_step = rollouts_per_step
        self.batch_size = batch_size
        self.aux_batch_size = aux_batch_size
        self.hidden_dim = hidden_dim
        self.n_layers = n_layers
        self.comb_dim = comb_dim
        self.learning_rate = learning_rate
        self.threshold = threshold
        self.baseline_decay = baseline_decay
        self.utility = utility
        self.validation_size = validation_size
        self.exact = exact
        self.alpha = alpha
        self.ssdo_k = ssdo_k
        self.prior_random_state = prior_random_state
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.progress = progress

    def _check_params(self) -> None:
        super()._check_params()
        for name in ("n_steps", "rollouts_per_step", "batch_size", "aux_batch_size", "hidden_dim", "comb_dim"):
            check_scalar(getattr(self, name), name, Integral, min_val=1)
        check_scalar(self.n_layers, "n_layers", Integral, min_val=2)
        check_scalar(self.learning_rate, "learning_rate", Real, min_val=0.0, include_boundaries="neither")
        check_scalar(self.threshold, "threshold", Real, min_val=0.5, max_val=1.0, include_boundaries="left")
        check_scalar(self.baseline_decay, "baseline_decay", Real, min_val=0.0, max_val=1.0, include_boundaries="left")


    def _values(self, X_aux: np.ndarray, record: BaselineDetails) -> np.ndarray:
        utility = self._make_utility(X_aux)
        n, n_aux = utility.n_players, utility.n_aux
        seed = 0 if self.random_state is None else int(self.random_state)
        rng = np.random.default_rng(self.random_state)
        everyone = utility.coalition(players=np.ones(n, bool))
        # the detector on the whole training set: its squared error is an input of the estimator
        if callable(self.utility):   # no detector behind a callable utility: no error input
            P_full = np.concatenate([self.y_train_[utility.player_rows], np.ones(n_aux)]).astype(np.float64)
        else:
            P_full = utility.batch_probability([everyone], np.arange(n + n_aux))[0]
        X_pool = np.vstack([self.X_train_[utility.player_rows], X_aux])
        y_pool = np.concatenate([self.y_train_[utility.player_rows], np.ones(n_aux)]).astype(np.float64)
        err_pool = (y_pool - P_full) ** 2
        with torch_threads(1), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = ValueEstimator(X_pool.shape[1], self.hidden_dim, self.n_layers, self.comb_dim).double()
            gen = torch.Generator().manual_seed(seed)
            X_t = torch.as_tensor(X_pool)
            y_t = torch.as_tensor(y_pool)
            e_t = torch.as_tensor(err_pool)
            optimizer = torch.optim.Adam(net.parameters(), lr=self.learning_rate)
            baseline = None
            batch, aux_batch = min(self.batch_size, n), min(self.aux_batch_size, n_aux)
            record.extra["reward_history"] = []
            for _ in tqdm(range(self.n_steps), desc="DVRL", unit="step", disable=not self.progress):
                rollouts = []
                for _ in range(self.rollouts_per_step):
                    rows = np.concatenate([np.sort(rng.choice(n, batch, replace=False)),
                                           n + np.sort(rng.choice(n_aux, aux_batch, replace=False))])
                    rows_t = torch.as_tensor(rows)
                    prob = net(X_t[rows_t], y_t[rows_t], e_t[rows_t])
                    select = torch.bernoulli(prob.detach(), generator=gen)
                    rollouts.append((rows, prob, select))
                masks, cands = [], []
                for rows, _, select in rollouts:
                    chosen = rows[select.numpy() == 1]
                    mask = np.zeros(n + n_aux, dtype=bool)
                    mask[chosen[chosen < n]] = True
                    masks.append(mask)
                    cands.append(chosen[chosen >= n] - n)
                results = utility.batch_marginals(masks, cands)
                base = np.array([r.base for r in results])
                baseline = base.mean() if baseline is None else baseline
                loss = torch.zeros((), dtype=torch.float64)
                for (rows, prob, select), _cand, res in zip(rollouts, cands, results, strict=True):
                    reward = np.zeros(rows.size)
                    reward[:batch] = res.base - baseline
                    on_aux = np.flatnonzero(select.numpy()[batch:] == 1) + batch
                    reward[on_aux] = res.delta       # cand is sorted as rows are
                    bce = torch.nn.functional.binary_cross_entropy(prob, select, reduction="none")
                    loss = loss + (torch.as_tensor(reward) * bce).sum()
                    mean_prob = prob.mean()
                    loss = loss + 1e3 * (torch.relu(mean_prob - self.threshold)
                                         + torch.relu((1.0 - self.threshold) - mean_prob))
                optimizer.zero_grad()
                (loss / len(rollouts)).backward()
                optimizer.step()
                baseline = self.baseline_decay * baseline + (1.0 - self.baseline_decay) * base.mean()
                record.extra["reward_history"].append(float(base.mean()))
            with torch.no_grad():
                aux_rows = torch.arange(n, n + n_aux)
                values = net(X_t[aux_rows], y_t[aux_rows], e_t[aux_rows]).numpy().copy()
        record.game = "adapted"
        record.utility = self._utility_name(utility)
        record.budget = {"n_steps": self.n_steps, "rollouts_per_step": self.rollouts_per_step, "batch_size": batch,
                        "aux_batch_size": aux_batch, "fits": utility.n_evaluations}
        return values
