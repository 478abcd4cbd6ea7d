"""SSDO and its isolation-forest prior against the packages the EAP paper used."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from auxqual.detectors import SSDO, IsolationForestPrior
from auxqual.detectors.ssdo import squash


def _anomatools_models():
    """anomatools (a test-only oracle, unmaintained) for the one test that compares with it;
    every other test here runs without it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pytest.importorskip("anomatools.models", reason="anomatools is a test-only oracle")


class _PyODPrior:
    """The reference notebook's prior: PyOD IForest(random_state=1), fitted on X only."""

    def __init__(self):
        from pyod.models.iforest import IForest

        self.model = IForest(random_state=1)

    def fit(self, X, sample_weight=None):
        self.model.fit(X)
        return self

    def predict_proba(self, X):
        return self.model.predict_proba(X)


def _random_problem(seed: int, n: int = 400, d: int = 6, m: int = 10):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    y = np.zeros(n, int)
    y[rng.choice(n, m, replace=False)] = 1
    X[y == 1] += 2.5
    return X, y, rng.randn(150, d) * 1.7


@pytest.mark.parametrize(("seed", "d"), [(0, 3), (1, 8), (2, 21), (3, 64)])
def test_ssdo_agrees_with_anomatools_to_1e9(seed, d):
    anomatools_models = _anomatools_models()
    X, y, Q = _random_problem(seed, d=d)
    c = y.mean()
    reference = anomatools_models.SSDO(
        k=5, base_detector=_PyODPrior(), scaler=anomatools_models.scalers.SquashScaler(contamination=c),
    ).fit(X, np.where(y == 1, 1, -1))
    ours = SSDO(k=5, contamination=c).fit(X, y)
    assert abs(ours.eta_ - reference.eta_) < 1e-12
    np.testing.assert_allclose(ours.decision_function(Q), reference.decision_function(Q), rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours.predict_proba(Q), reference.predict_proba(Q), rtol=0, atol=1e-9)


def test_prior_is_pyods_iforest_probability_bit_for_bit():
    X, _, Q = _random_problem(5)
    pyod = _PyODPrior().fit(X)
    ours = IsolationForestPrior().fit(X)
    assert ours.predict_proba(Q).tobytes() == pyod.predict_proba(Q).tobytes()
    assert ours.train_prior_.tobytes() == pyod.predict_proba(X)[:, 1].tobytes()


def test_labels_pull_scores_towards_known_anomalies():
    X, y, _ = _random_problem(7)
    labelled = SSDO().fit(X, y)
    unlabelled = SSDO().fit(X)  # no labels: the detector is its prior
    near_anomaly = X[y == 1][:3] + 0.05
    assert (labelled.decision_function(near_anomaly) > unlabelled.decision_function(near_anomaly)).all()
    np.testing.assert_array_equal(unlabelled.decision_function(X), unlabelled.prior_.prior(X))


def test_squash_maps_the_threshold_to_one_half_and_stays_in_unit_interval():
    assert squash(np.array([2.0]), 2.0)[0] == pytest.approx(0.5)
    values = squash(np.linspace(-1, 10, 50), 1.0)
    assert ((values >= 0) & (values <= 1)).all()
    np.testing.assert_array_equal(squash(np.array([0.0, 0.3]), 0.0), [0.0, 1.0])


def test_ssdo_validates_input():
    X, y, _ = _random_problem(1)
    with pytest.raises(ValueError, match="not fitted"):
        SSDO().decision_function(X)
    with pytest.raises(ValueError, match="more than k=5"):
        SSDO().fit(X[:5], y[:5])
    with pytest.raises(ValueError, match="X has 2 features, but SSDO is expecting 6 features"):
        SSDO().fit(X, y).decision_function(X[:, :2])


def test_ssdos_sharing_one_prior_object_score_as_with_separate_priors():
    X1, y1, Q = _random_problem(11)
    X2, y2, _ = _random_problem(12)
    shared = IsolationForestPrior(random_state=3)
    first, second = SSDO(prior=shared).fit(X1, y1), SSDO(prior=shared).fit(X2, y2)
    alone = SSDO(prior=IsolationForestPrior(random_state=3)).fit(X1, y1)
    assert first.decision_function(Q).tobytes() == alone.decision_function(Q).tobytes()
    assert second.prior_ is not first.prior_ is not shared
    assert not hasattr(shared, "forest_"), "fit changed the prior object it was given"
