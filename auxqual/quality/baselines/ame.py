"""AME, the average marginal effect (Lin et al., ICML 2022), of auxiliary anomalies.

Game (adapted): for every keep-rate p in ``rates`` (0.2 … 0.9), ``n_subsets_per_rate`` random
training subsets keep each training point with probability p; each subset is joined by one
random auxiliary anomaly at a time, labelled anomaly. Every (subset, auxiliary anomaly) pair is one
regression row: the utility ``U(subset ∪ {a_j})`` regressed, with scikit-learn's ``LassoCV``,
on the standardised membership indicators of the training points and of the auxiliary anomalies
(one-hot: the one that joined). The value of ``a_j`` is its coefficient.

The reference fits one detector per row (one auxiliary anomaly per model). Here the fast path
values many auxiliary rows from one fit, so each subset contributes ``aux_per_subset`` rows
(distinct auxiliary anomalies drawn at random): the budget is
``len(rates) × n_subsets_per_rate`` fits (8 × 16 = 128) and that many × ``aux_per_subset``
regression rows (6,144 by default; every auxiliary anomaly appears about rows / l times).
Columns are standardised per indicator (the reference standardised per row, a quirk not kept);
constant columns get 0. Lasso sets many coefficients exactly to 0: ties are expected.
Cost: the fits, plus LassoCV on a rows × (n + l) dense matrix (O(rows · (n + l)) memory).
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LassoCV
from sklearn.utils import check_scalar

from auxqual.quality.baselines._base import BaselineDetails, BaselineEstimator, DetectorUtilityMixin
from auxqual.quality.baselines.utility import UtilityFunction

DEFAULT_RATES = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


class AME(DetectorUtilityMixin, BaselineEstimator):
    """Average marginal effect of every auxiliary anomaly (LassoCV coefficient; higher = better).

    Parameters
    ----------
    n_subsets_per_rate : int
        Training subsets drawn per keep-rate (16); fits = ``len(rates) × n_subsets_per_rate``.
    aux_per_subset : int
        Auxiliary anomalies that join each subset, one regression row each (48; capped at l).
    rates : sequence of float
        Keep-rates of the training subsets (0.2 … 0.9).
    cv, n_alphas, max_iter, tol : LassoCV's folds (5), number of alphas on its path (30),
        iteration cap (10,000) and tolerance (1e-3, as the reference).
    utility, validation_size, exact, alpha, ssdo_k, prior_random_state, n_jobs, random_state,
    progress
        As ``DataShapley``.
    """

    def __init__(self, n_subsets_per_rate: int = 16, aux_per_subset: int = 48,
                 rates: tuple[float, ...] = DEFAULT_RATES, *, cv: int = 5, n_alphas: int = 30,
                 max_iter: int = 10_000, tol: float = 1e-3, utility: str | UtilityFunction = "f1",
                 validation_size: float = 0.3,
                 exact: bool = False, alpha: float = 2.3, ssdo_k: int = 5, prior_random_state: int | None = 1,
                 n_jobs: int | None = 2, random_state: int | None = 331, progress: bool = False) -> None:
        self.n_subsets_per_rate = n_subsets_per_rate
        self.aux_per_subset = aux_per_subset
        self.rates = rates
        self.cv = cv
        self.n_alphas = n_alphas
        self.max_iter = max_iter
        self.tol = tol
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
        check_scalar(self.n_subsets_per_rate, "n_subsets_per_rate", Integral, min_val=1)
        check_scalar(self.aux_per_subset, "aux_per_subset", Integral, min_val=1)
        check_scalar(self.cv, "cv", Integral, min_val=2)
        check_scalar(self.n_alphas, "n_alphas", Integral, min_val=1)
        check_scalar(self.max_iter, "max_iter", Integral, min_val=1)
        check_scalar(self.tol, "tol", Real, min_val=0.0, include_boundaries="neither")
        rates = np.atleast_1d(np.asarray(self.rates, dtype=np.float64)) if np.ndim(self.rates) <= 1 else None
        if rates is None or rates.size == 0 or not np.all((rates > 0) & (rates < 1)):
            raise ValueError(f"rates must be a non-empty sequence of keep-rates in (0, 1), got {self.rates!r}")


    def _values(self, X_aux: np.ndarray, record: BaselineDetails) -> np.ndarray:
        utility = self._make_utility(X_aux)
        rng = np.random.default_rng(self.random_state)
        n, n_aux = utility.n_players, utility.n_aux
        per = min(self.aux_per_subset, n_aux)
        masks, cands = [], []
        for rate in np.asarray(self.rates, dtype=np.float64):
            for _ in range(self.n_subsets_per_rate):
                masks.append(rng.random(n) < rate)
                cands.append(np.sort(rng.choice(n_aux, size=per, replace=False)))
        results = utility.batch_marginals([utility.coalition(players=m) for m in masks], cands)
        rows = len(masks) * per
        design = np.zeros((rows, n + n_aux))
        target = np.empty(rows)
        for b, (mask, cand, res) in enumerate(zip(masks, cands, results, strict=True)):
            block = slice(b * per, (b + 1) * per)
            design[block, :n] = mask
            design[np.arange(b * per, (b + 1) * per), n + cand] = 1.0
            target[block] = res.with_aux
        design -= design.mean(axis=0)
        std = design.std(axis=0)
        np.divide(design, std, out=design, where=std > 0)
        design[:, std == 0] = 0.0
        target -= target.mean()
        failures = 0
        if np.allclose(target, 0.0):
            coef = np.zeros(n + n_aux)   # every coalition is worth the same: no effect to estimate
        else:
            model, failures = self._fit_lasso(design, target)
            coef = model.coef_
            record.extra["lasso_alpha"] = float(model.alpha_)
        record.game = "adapted"
        record.utility = self._utility_name(utility)
        record.budget = {"rates": [float(r) for r in np.asarray(self.rates)],
                        "n_subsets_per_rate": self.n_subsets_per_rate,
                        "aux_per_subset": per, "regression_rows": rows, "fits": utility.n_evaluations,
                        "convergence_failures": failures}
        return coef[n:].copy()

    def _fit_lasso(self, design: np.ndarray, target: np.ndarray) -> tuple[LassoCV, int]:
        """LassoCV on the regression rows, and how many of its coordinate-descent fits (over
        folds and the alpha path) stopped at ``max_iter`` above ``tol``.

        scikit-learn warns once per such fit; those warnings are counted (in the details' ``budget``) and
        summed up in one ``ConvergenceWarning``, other warnings pass through unchanged.
        """
        model = LassoCV(alphas=self.n_alphas, cv=self.cv, max_iter=self.max_iter, tol=self.tol,
                        random_state=self.random_state)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            model.fit(design, target)
        failures = 0
        for warning in caught:
            if issubclass(warning.category, ConvergenceWarning):
                failures += 1
            else:
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        if failures:
            warnings.warn(f"AME: {failures} of LassoCV's coordinate-descent fits did not converge "
                          f"(max_iter={self.max_iter}, tol={self.tol:g}); the coefficients may be inexact",
                          ConvergenceWarning, stacklevel=3)
        return model, failures
