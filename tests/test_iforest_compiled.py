"""The compiled isolation forest against scikit-learn and PyOD, bit for bit.

The compiled forest claims to grow scikit-learn's trees and to score them with the
same arithmetic, so every comparison here is of bytes (``tobytes``), never of values
within a tolerance.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest
from sklearn.utils._random import _our_rand_r_py
from sklearn.utils.random import sample_without_replacement

from auxqual.detectors import IsolationForestPrior, iforest_compiled
from auxqual.detectors.iforest_compiled import average_path_length, fit_forest, score_samples, score_samples_torch

KINDS = ("gaussian", "duplicates", "constant", "ties", "float32", "mixed_scale", "near_constant", "all_constant")
N_CASES = 224


def _pyod_iforest(**params):
    from pyod.models.iforest import IForest

    return IForest(**params)


def generated_case(index: int) -> tuple[np.ndarray, np.ndarray, int, object, str]:
    """Case ``index`` of the sweep: ``(X, queries, random_state, max_samples, kind)``.

    Rows 2…5000 (mostly small, every 10th large), features 1…512 (log-uniform, fewer
    for the largest row counts), and the data shapes that stress the trees: duplicate
    rows, constant features, heavy ties, float32 input, mixed scales and features whose
    range sits at scikit-learn's constant-feature threshold (1e-7).
    """
    rng = np.random.RandomState(10_000 + index)
    kind = KINDS[index % len(KINDS)]
    n = int(rng.randint(1000, 5001)) if index % 10 == 9 else int(np.exp(rng.uniform(np.log(2), np.log(600))))
    d = int(np.exp(rng.uniform(0, np.log(512 if n <= 600 else 24))))
    X = rng.randn(n, d)
    if kind == "duplicates":
        X = X[rng.randint(0, max(1, n // 4), size=n)]
    elif kind == "constant":
        X[:, rng.rand(d) < 0.6] = rng.randn()
    elif kind == "ties":
        X = np.round(X * rng.choice([0.5, 1.0, 2.0]))
    elif kind == "float32":
        X = X.astype(np.float32)
    elif kind == "mixed_scale":
        X *= 10.0 ** rng.randint(-6, 7, size=d)
    elif kind == "near_constant":
        X = 1.0 + X * rng.choice([2e-8, 5e-8, 1e-7, 3e-7])
    elif kind == "all_constant":
        X = np.full((n, d), 2.5)
    queries = np.vstack([X[: min(n, 50)], rng.randn(30, d) * 3.0])
    max_samples = ["auto", "auto", "auto", min(n, 64), 0.5][index % 5]
    return X, queries, int(rng.randint(0, 2**31 - 1)), max_samples, kind


SAMPLE_EVERY = 9  # the fast test checks every 9th generated case, the slow one the others


def _assert_case_matches_pyod(index: int) -> None:
    X, queries, seed, max_samples, kind = generated_case(index)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns about small fractional max_samples
        pyod = _pyod_iforest(random_state=seed, max_samples=max_samples).fit(X)
        ours = IsolationForestPrior(random_state=seed, max_samples=max_samples).fit(X)
    label = f"case {index} ({kind}, n={X.shape[0]}, d={X.shape[1]}, max_samples={max_samples!r})"
    assert ours.backend_ == "compiled", label
    rows = np.vstack([X, queries])  # scored row by row: one call serves both
    expected = pyod.predict_proba(rows)
    assert ours.predict_proba(rows).tobytes() == expected.tobytes(), label
    assert ours.train_prior_.tobytes() == expected[: X.shape[0], 1].tobytes(), label


@pytest.mark.parametrize("index", range(0, N_CASES, SAMPLE_EVERY))
def test_prior_is_pyods_iforest_on_a_sample_of_the_generated_cases(index):
    _assert_case_matches_pyod(index)


@pytest.mark.slow
def test_prior_is_pyods_iforest_on_all_generated_cases():
    cases = [generated_case(i) for i in range(N_CASES)]
    assert min(c[0].shape[0] for c in cases) == 2 and max(c[0].shape[0] for c in cases) > 4000
    assert min(c[0].shape[1] for c in cases) == 1 and max(c[0].shape[1] for c in cases) > 256
    assert {c[4] for c in cases} == set(KINDS)
    for index in range(N_CASES):
        if index % SAMPLE_EVERY:  # the sampled cases run in the fast test above
            _assert_case_matches_pyod(index)


@pytest.mark.parametrize("index", [1, 2, 6, 19, 29])
def test_trees_are_scikit_learns_node_for_node(index):
    X, _, seed, max_samples, _ = generated_case(index)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = IsolationForest(random_state=seed, max_samples=max_samples).fit(X)
    forest = fit_forest(X, 100, max_samples, seed)
    for t, estimator in enumerate(reference.estimators_):
        tree, count = estimator.tree_, forest.node_count[t]
        assert tree.node_count == count
        for ours, theirs in [(forest.left[t], tree.children_left), (forest.right[t], tree.children_right),
                             (forest.feature[t], tree.feature), (forest.threshold[t], tree.threshold),
                             (forest.n_node_samples[t], tree.n_node_samples)]:
            assert ours[:count].tobytes() == np.ascontiguousarray(theirs, dtype=ours.dtype).tobytes()
    assert score_samples(forest, X).tobytes() == reference.score_samples(X).tobytes()


def test_legacy_random_state_pieces_match_numpy_and_scikit_learn():
    for seed in (0, 1, 331, 2**31 - 2, 4_000_000_000):
        state = iforest_compiled._mt_seed(seed)
        reference = np.random.RandomState(seed)
        assert state[:624].tobytes() == reference.get_state()[1].astype(np.int64).tobytes()
        for high in (1, 2, 7, 256, 10**6, 2**31 - 1):
            ours = [iforest_compiled._randint_closed(state, high - 1) for _ in range(40)]
            assert ours == reference.randint(0, high, size=40).tolist()
        seed_state = np.array([seed], np.int64)
        assert iforest_compiled._rand_r(seed_state) == _our_rand_r_py(seed)
    # the three methods of sample_without_replacement: tracking, permutation, reservoir
    for n_population, n_samples in [(50_000, 256), (1_000, 256), (258, 256), (256, 256), (2, 1)]:
        for seed in range(20):
            ours = iforest_compiled._sample_without_replacement(n_population, n_samples,
                                                                iforest_compiled._mt_seed(seed))
            theirs = sample_without_replacement(n_population, n_samples, random_state=np.random.RandomState(seed))
            np.testing.assert_array_equal(np.sort(ours), np.sort(theirs))


def test_average_path_length_is_scikit_learns():
    from sklearn.ensemble._iforest import _average_path_length

    counts = np.arange(0, 5000)
    assert average_path_length(counts).tobytes() == _average_path_length(counts).tobytes()
    assert average_path_length([256]).tobytes() == _average_path_length([256]).tobytes()


def test_torch_scoring_is_the_compiled_scoring(monkeypatch):
    X, queries, seed, max_samples, _ = generated_case(3)
    forest = fit_forest(X, 100, max_samples, seed)
    monkeypatch.setattr(iforest_compiled, "TORCH_ROWS_PER_CHUNK", 7)  # several chunks
    assert score_samples_torch(forest, queries, "cpu").tobytes() == score_samples(forest, queries).tobytes()
    assert score_samples_torch(forest, X, "cpu").tobytes() == score_samples(forest, X).tobytes()


@pytest.mark.parametrize(("params", "reason"), [
    ({"max_features": 0.5}, "max_features"),
    ({"bootstrap": True}, "bootstrap"),
    ({"max_samples": 500}, "max_samples"),  # more than the 120 rows: scikit-learn warns and uses all
])
def test_falls_back_to_scikit_learn_outside_what_it_reproduces(params, reason):
    X = np.random.RandomState(0).randn(120, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = IsolationForestPrior(random_state=3, **params).fit(X)
        pyod = _pyod_iforest(random_state=3, **params).fit(X)
    assert ours.backend_ == "scikit-learn" and reason in ours.fallback_reason_
    assert isinstance(ours.forest_, IsolationForest)
    assert ours.predict_proba(X).tobytes() == pyod.predict_proba(X).tobytes()


def test_an_unverified_scikit_learn_version_falls_back(monkeypatch):
    X = np.random.RandomState(1).randn(80, 3)
    monkeypatch.setattr(iforest_compiled, "VERIFIED_SKLEARN", ("0.1",))
    ours = IsolationForestPrior(random_state=2).fit(X)
    assert ours.backend_ == "scikit-learn" and "not a verified version" in ours.fallback_reason_
    assert ours.predict_proba(X).tobytes() == _pyod_iforest(random_state=2).fit(X).predict_proba(X).tobytes()


def test_compiled_prior_pickles_and_scores_the_same():
    X = np.random.RandomState(4).randn(300, 4)
    prior = IsolationForestPrior(random_state=5).fit(X)
    again = pickle.loads(pickle.dumps(prior))
    assert again.backend_ == "compiled"
    assert again.predict_proba(X).tobytes() == prior.predict_proba(X).tobytes()
    assert pickle.dumps(prior) == pickle.dumps(IsolationForestPrior(random_state=5).fit(X))


@pytest.mark.slow
def test_the_forest_kernels_compile_ahead_of_use():
    import subprocess
    import sys

    code = ("from auxqual.detectors import iforest_compiled as f\n"
            "kernels = (f._grow_trees, f._path_lengths)\n"
            "assert not any(k.signatures for k in kernels)\n"
            "f.compile_kernels()\n"
            "print(all(k.signatures for k in kernels))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)  # a fresh process
    assert result.stdout.strip() == "True"


def test_forest_arrays_carry_canonical_dtypes_so_pickles_do_not_depend_on_numbas_cache():
    """numba's cached kernels return arrays whose dtype object spells out its byte order; pickled
    as is, a saved model's bytes would differ between a fresh compile and a cached run."""
    import subprocess
    import sys

    code = ("import numpy as np, pickle, hashlib\n"
            "from auxqual.detectors.iforest_compiled import fit_forest\n"
            "f = fit_forest(np.random.RandomState(0).randn(60, 3), 5, random_state=0)\n"
            "assert all(v.dtype is np.dtype(v.dtype.str) for v in vars(f).values() if isinstance(v, np.ndarray))\n"
            "print(hashlib.sha256(pickle.dumps(f)).hexdigest())\n")
    digests = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
               for _ in range(2)}  # the first may compile, the second reads numba's cache
    assert len(digests) == 1
