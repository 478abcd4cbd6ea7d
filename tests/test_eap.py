"""EAP against the paper's reference implementation, and its documented edge cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from auxqual.distances import as_tensor
from auxqual.quality import EAP, draw_subset_masks, make_scorer, score_with_std
from auxqual.quality.balls import BallCover, covering_ranks, k_star, rarity
from tests.conftest import load_eap_fixture

CPU = torch.device("cpu")


@pytest.fixture(scope="module", params=["pima", "cardio"])
def reference(request):
    """A reference case and EAP's details on it (one full T = 100 fit per case)."""
    case = load_eap_fixture(request.param)
    model = EAP().fit(case["X_train"], case["y_train"])
    return case, model, model.score_samples(case["X_aux"], return_details=True)


def test_subsets_drawn_from_the_seed_are_the_references(reference):
    case, model, _ = reference
    np.testing.assert_array_equal(model.subset_masks_, case["subset_masks"])
    np.testing.assert_array_equal(model.subset_rates_, case["subset_rates"])
    np.testing.assert_array_equal(model.n_normals_, case["n_t"])


def test_k_star_per_subset_is_the_references(reference):
    case, model, details = reference
    np.testing.assert_array_equal(model.k_star_, case["k_star"])
    np.testing.assert_array_equal(details.k_star, case["k_star"])


def test_probability_density_and_eap_match_the_reference_at_the_readmes_precision(reference):
    """The claims of docs/concepts/eap.md and EAP's docstring: N and density bit-identical,
    P within 3e-8 (the reference stores P rounded to float32), EAP within 3e-9, Q1 identical."""
    case, _, details = reference
    np.testing.assert_array_equal(details.N, case["N"])
    np.testing.assert_array_equal(details.density, case["dens"])
    np.testing.assert_array_equal(details.rarity, case["rarity_aux"])
    np.testing.assert_allclose(details.P, case["P"], rtol=0, atol=3e-8)
    np.testing.assert_allclose(details.score, case["eap"], rtol=0, atol=3e-9)


def test_quality_ranking_and_ties_are_the_references(reference):
    from sklearn.metrics import roc_auc_score

    case, _, details = reference
    assert roc_auc_score(case["aux_kind"] == 0, details.score) == float(case["Q1"])
    outside_in_reference = (case["N"] == 0).all(axis=0)
    np.testing.assert_array_equal(details.outside_all, outside_in_reference)
    c = float(case["c"])
    np.testing.assert_allclose(details.score[details.outside_all], c, atol=1e-15)


def test_details_carry_the_spread_over_subsets(reference):
    case, _, details = reference
    T, n_aux = case["P"].shape
    assert details.phi.shape == (T, n_aux)
    np.testing.assert_allclose(details.score_std, details.phi.std(axis=0))
    assert (details.score_std[details.outside_all] < 1e-12).all()
    assert (details.score_std[~details.outside_all] > 0).any()


def test_explicit_masks_reproduce_the_drawn_subsets():
    case = load_eap_fixture("pima")
    masks = case["subset_masks"][:8]
    explicit = EAP(subset_masks=masks, n_jobs=1).fit(case["X_train"], case["y_train"])
    details = explicit.score_samples(case["X_aux"], return_details=True)
    np.testing.assert_array_equal(explicit.k_star_, case["k_star"][:8])
    np.testing.assert_array_equal(details.N, case["N"][:8])
    np.testing.assert_allclose(details.P, case["P"][:8], rtol=0, atol=3e-8)


def test_chunks_of_the_drawn_subsets_reproduce_the_whole_fit_to_the_bit():
    """What benchmarks/eap_large_cpu.py relies on: fitting the T drawn subsets in chunks
    (explicit masks, same seeds) gives the T-subset fit's φ rows exactly, and their mean its score."""
    rng = np.random.default_rng(4)
    X = np.vstack([rng.normal(size=(300, 5)), rng.normal(4.0, 1.0, size=(12, 5))])
    y = np.r_[np.zeros(300, int), np.ones(12, int)]
    aux = rng.normal(2.0, 2.0, size=(40, 5))
    whole = EAP(n_subsets=9, n_jobs=2).fit(X, y).score_samples(aux, return_details=True)
    masks, _ = draw_subset_masks(len(X), 12, 9, 5, 331)
    phis = [EAP(subset_masks=masks[a:a + 4], n_jobs=2).fit(X, y).score_samples(aux, return_details=True).phi
            for a in (0, 4, 8)]
    np.testing.assert_array_equal(np.vstack(phis), whole.phi)
    np.testing.assert_array_equal(np.vstack(phis).sum(axis=0) / 9, whole.score)


def test_one_fit_serves_many_auxiliary_sets_row_by_row():
    case = load_eap_fixture("pima")
    model = EAP(n_subsets=6, n_jobs=1).fit(case["X_train"], case["y_train"])
    first, second = case["X_aux"][:100], case["X_aux"][100:]
    together = model.score_samples(case["X_aux"])
    np.testing.assert_allclose(np.concatenate([model.score_samples(first), model.score_samples(second)]),
                               together, rtol=0, atol=1e-15)


def test_same_seed_same_bytes_and_workers_do_not_change_results():
    case = load_eap_fixture("pima")
    serial = EAP(n_subsets=6, n_jobs=1).fit(case["X_train"], case["y_train"]).score_samples(case["X_aux"])
    parallel = EAP(n_subsets=6, n_jobs=2).fit(case["X_train"], case["y_train"]).score_samples(case["X_aux"])
    assert serial.tobytes() == parallel.tobytes()
    other_seed = EAP(n_subsets=6, random_state=7, n_jobs=1).fit(case["X_train"], case["y_train"])
    assert not np.array_equal(other_seed.subset_masks_, EAP(n_subsets=6).fit(
        case["X_train"], case["y_train"]).subset_masks_)


def test_small_blocks_give_the_same_answer_as_one_block():
    case = load_eap_fixture("pima")
    whole = EAP(n_subsets=4, n_jobs=1).fit(case["X_train"], case["y_train"])
    blocked = EAP(n_subsets=4, n_jobs=1, block_elements=997).fit(case["X_train"], case["y_train"])
    np.testing.assert_array_equal(whole.k_star_, blocked.k_star_)
    np.testing.assert_allclose(blocked.score_samples(case["X_aux"]), whole.score_samples(case["X_aux"]),
                               rtol=0, atol=1e-12)


# ---------------------------------------------------------------- k* closed form vs brute force
def _k_star_by_search(U: np.ndarray, A: np.ndarray, k0: int) -> int:
    """The reference's loop: grow k until every anomaly is strictly inside some ball."""
    n = U.shape[0]
    if n <= k0 + 1:
        return n - 1
    D = np.sqrt(((U[:, None, :] - U[None, :, :]) ** 2).sum(-1))
    DA = np.sqrt(((U[:, None, :] - A[None, :, :]) ** 2).sum(-1))
    sorted_rows = np.sort(D, axis=1)
    kappa = np.zeros(len(A), int)
    for k in range(k0, n):
        covered = ((sorted_rows[:, k][:, None] - DA) > 0).any(axis=0)
        kappa[(kappa == 0) & covered] = k
        if covered.all():
            break
    kappa[kappa == 0] = n - 1
    return k_star(kappa, n, k0)  # same mapping of κ to k*; the search above is what is checked


@pytest.mark.parametrize("seed", range(8))
def test_closed_form_covering_ranks_equal_a_search_over_k(seed):
    rng = np.random.default_rng(seed)
    n, m, d = rng.integers(8, 60), rng.integers(1, 6), rng.integers(1, 5)
    U = rng.normal(size=(n, d))
    A = rng.normal(scale=rng.uniform(0.5, 4), size=(m, d))
    if seed % 2:
        U = np.round(U)  # integer-valued features: exact ties at the radii
        A = np.round(A)
    ranks = covering_ranks(as_tensor(U, CPU), as_tensor(A, CPU))
    assert k_star(ranks, n, 5) == _k_star_by_search(U, A, 5)


@pytest.mark.parametrize(("seed", "block"), [(0, 2**24), (1, 64), (2, 7), (3, 500)])
def test_covering_ranks_equal_a_full_sort_near_and_far_and_blocked(seed, block):
    rng = np.random.default_rng(seed)
    U = np.round(rng.normal(size=(90, 2)) * 2) / 2  # ties on a grid
    A = np.vstack([rng.normal(size=(4, 2)), rng.normal(loc=6.0, size=(3, 2))])  # near and far
    D = np.sqrt(np.clip((U**2).sum(1)[:, None] - 2 * U @ U.T + (U**2).sum(1)[None, :], 0, None))
    DA = np.sqrt(np.clip((U**2).sum(1)[:, None] - 2 * U @ A.T + (A**2).sum(1)[None, :], 0, None))
    sorted_rows = np.sort(D, axis=1)
    expected = np.array([min(np.searchsorted(sorted_rows[i], DA[i, j], side="right") for i in range(len(U)))
                         for j in range(len(A))])
    got = covering_ranks(as_tensor(U, CPU), as_tensor(A, CPU), block_elements=block)
    np.testing.assert_array_equal(got, expected)


def test_k_star_with_too_few_normals_is_n_minus_one():
    assert k_star(np.array([3]), 6, 5) == 5
    assert k_star(np.array([0]), 3, 5) == 2


# ---------------------------------------------------------------- edge cases
def _blobs(seed=0, n=120, m=4, d=3):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(size=(n, d)), rng.normal(loc=3.0, size=(m, d))])
    y = np.r_[np.zeros(n, int), np.ones(m, int)]
    return X, y, rng


def test_no_labelled_anomalies_warns_and_scores_n_p_over_one_plus_n():
    X, y, rng = _blobs(m=0)
    aux = rng.normal(size=(20, 3))
    with pytest.warns(UserWarning, match="m = 0"):
        model = EAP(n_subsets=5, n_jobs=1).fit(X, y)
    details = model.score_samples(aux, return_details=True)
    assert model.contamination_ == 0.0
    np.testing.assert_allclose(details.phi, details.N * details.P / (1 + details.N))
    assert np.isfinite(details.score).all()


def test_duplicate_normals_make_empty_balls_not_infinite_scores():
    X, y, rng = _blobs()
    X[:40] = X[0]  # 40 identical normals: their k-th neighbour is at distance 0
    cover = BallCover.fit(as_tensor(X[y == 0], CPU), k=5)
    assert (cover.radii[:40] == 0).all()
    # a zero-radius ball contains nothing, not even a point on its centre
    assert rarity(as_tensor(X[:1], CPU), as_tensor(X[:40], CPU), cover.radii[:40]).item() == 0.0
    scores = EAP(n_subsets=5, n_jobs=1).fit(X, y).score_samples(np.vstack([X[:3], rng.normal(size=(5, 3))]))
    assert np.isfinite(scores).all() and ((scores >= 0) & (scores <= 1)).all()


def test_rows_outside_every_ball_tie_at_the_contamination():
    X, y, rng = _blobs()
    far = rng.normal(loc=50.0, size=(7, 3))
    model = EAP(n_subsets=10, n_jobs=1).fit(X, y)
    details = model.score_samples(np.vstack([far, X[:5]]), return_details=True)
    assert details.outside_all[:7].all() and details.n_ties_at_prior >= 7
    np.testing.assert_allclose(details.score[:7], model.contamination_, atol=1e-15)
    assert len(np.unique(details.score[:7])) == 1


def test_subsets_with_few_normals_use_k_star_n_minus_one_or_no_evidence():
    X, y, rng = _blobs(n=30)
    masks = np.zeros((3, len(y)), bool)
    masks[0, :7] = True  # 7 normals = k0 + 2: a regular subset
    masks[1, :6] = True  # 6 normals = k0 + 1: k* = n_t − 1
    masks[1, -4:] = True
    masks[2, :1] = True  # 1 normal: no ball, no detector: φ = c
    masks[2, -4:] = True
    model = EAP(subset_masks=masks, n_jobs=1).fit(X, y)
    assert model.k_star_[1] == 5 and model.n_normals_[1] == 6
    details = model.score_samples(rng.normal(size=(4, 3)), return_details=True)
    np.testing.assert_allclose(details.phi[2], model.contamination_)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(("mutate", "message"), [
    (lambda X, y, A: (np.where(np.arange(X.size).reshape(X.shape) == 5, np.nan, X), y, A), "X_train: 1 NaN"),
    (lambda X, y, A: (X, np.where(np.arange(y.size) == 0, 2, y), A), "labels must be 0"),
    (lambda X, y, A: (X[:, :2], y, A), "X_aux: X has 3 features, but EAP is expecting 2 features as input"),
    (lambda X, y, A: (X, y, np.vstack([A, [[np.inf, 0, 0]]])), "X_aux: 1 NaN or inf"),
])
def test_bad_input_raises_a_value_error_naming_the_culprit(mutate, message):
    X, y, rng = _blobs()
    X, y, A = mutate(X, y, rng.normal(size=(5, 3)))
    with pytest.raises(ValueError, match=message):
        EAP(n_subsets=2, n_jobs=1).fit(X, y).score_samples(A)


def test_too_few_normals_for_k0_is_refused():
    X, y, _ = _blobs(n=6)
    with pytest.raises(ValueError, match=r"k0 \+ 2 = 7 normals"):
        EAP(n_subsets=2).fit(X, y)


def test_cuda_requested_without_a_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    X, y, _ = _blobs()
    with pytest.raises(ValueError, match="device='cuda'"):
        EAP(n_subsets=2, device="cuda").fit(X, y)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (checked on the GPU machine)")
def test_gpu_and_cpu_agree_to_float_tolerance():
    case = load_eap_fixture("pima")
    cpu = EAP(n_subsets=10, device="cpu").fit(case["X_train"], case["y_train"])
    gpu = EAP(n_subsets=10, device="cuda").fit(case["X_train"], case["y_train"])
    np.testing.assert_array_equal(cpu.k_star_, gpu.k_star_)
    np.testing.assert_allclose(gpu.score_samples(case["X_aux"]), cpu.score_samples(case["X_aux"]), atol=1e-9)


# ---------------------------------------------------------------- masks and registry
def test_mask_draw_follows_the_documented_order():
    masks, rates = draw_subset_masks(50, 3, 4, 5, 331)
    rng = np.random.RandomState(331)
    expected_rates = rng.uniform((5 + 1 + 3) / 50, 0.99, size=4)
    np.testing.assert_array_equal(rates, expected_rates)
    np.testing.assert_array_equal(masks[0], rng.binomial(1, expected_rates[0], size=50) == 1)


def test_ablations_are_the_ingredients_of_eap_on_the_whole_training_set():
    case = load_eap_fixture("cardio")
    X, y = case["X_train"], case["y_train"]
    aux = np.vstack([case["X_aux"], np.full((2, X.shape[1]), 1e3)])  # two rows far from everything
    scores = {}
    for name in ("rarity", "density", "probability", "density_probability"):
        scorer = make_scorer(name).fit(X, y)
        score, std = score_with_std(scorer, aux)
        assert score.shape == (len(aux),) and np.isfinite(score).all() and std is None
        scores[name] = score
    assert (scores["rarity"][-2:] == 0).all() and (scores["density"][-2:] == 0).all()
    device = make_scorer("rarity").fit(X, y).device_  # compare on one device: GPU and CPU differ in the last bit
    everyone = BallCover.fit(as_tensor(X, device), k=10)
    np.testing.assert_array_equal(scores["rarity"], everyone.rarity(as_tensor(aux, device)))
    n_normals = int((y == 0).sum())
    np.testing.assert_allclose(scores["density_probability"],
                               n_normals * scores["density"] + scores["probability"], rtol=1e-12)
    from auxqual.detectors import SSDO
    np.testing.assert_allclose(scores["probability"], SSDO().fit(X, y).anomaly_probability(aux), rtol=1e-12)


def test_unknown_scorer_and_parameter_are_named():
    with pytest.raises(ValueError, match="unknown quality score 'nope'"):
        make_scorer("nope")
    with pytest.raises(ValueError, match="no parameter"):
        make_scorer("eap", n_subset=3)
