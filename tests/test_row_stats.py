"""The compiled CPU row statistics against numpy's sort and against their torch (GPU) versions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from auxqual import row_stats
from auxqual.row_stats import count_at_most, kth_smallest, smallest_containing_radius


def _rows(seed: int, n_rows: int = 40, n: int = 700, grid: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    D = rng.gamma(2.0, size=(n_rows, n))
    return np.round(D * 4) / 4 if grid else D  # a grid makes many exact ties


@pytest.mark.parametrize("grid", [False, True])
def test_kth_smallest_is_the_sorted_value_at_every_k(grid):
    D = _rows(0, grid=grid)
    sorted_rows = np.sort(D, axis=1)
    for k in [0, 1, 5, 57, 349, 350, 600, 698, 699]:
        got = kth_smallest(torch.from_numpy(D), k).numpy()
        np.testing.assert_array_equal(got, sorted_rows[:, k])
        np.testing.assert_array_equal(row_stats._kth_smallest_torch(torch.from_numpy(D), k).numpy(), got)


def test_kth_smallest_falls_back_when_the_sample_is_unrepresentative():
    n = 2048
    D = np.tile(np.arange(n, dtype=np.float64) + 1.0, (3, 1))
    D[:, :: n // row_stats.SAMPLE_SIZE] = 0.0  # every sampled entry is 0: the bracket misses the k-th value
    for k in (700, 2000):
        np.testing.assert_array_equal(kth_smallest(torch.from_numpy(D), k).numpy(), np.sort(D, axis=1)[:, k])


def test_kth_smallest_refuses_a_rank_outside_the_row():
    with pytest.raises(ValueError, match="k=10"):
        kth_smallest(torch.zeros((2, 10), dtype=torch.float64), 10)


@pytest.mark.parametrize("n_thresholds", [1, 7, row_stats.SORT_ABOVE_THRESHOLDS + 3])
def test_count_at_most_counts_ties_as_inside(n_thresholds):
    D = _rows(1, n_rows=6, grid=True)
    rng = np.random.default_rng(2)
    thresholds = np.where(rng.random((6, n_thresholds)) < 0.5,
                          D[:, rng.integers(0, D.shape[1], n_thresholds)],  # exactly on entries
                          rng.gamma(2.0, size=(6, n_thresholds)))
    expected = (D[:, :, None] <= thresholds[:, None, :]).sum(axis=1)
    got = count_at_most(torch.from_numpy(D), torch.from_numpy(thresholds)).numpy()
    np.testing.assert_array_equal(got, expected)
    torch_counts = row_stats._count_at_most_torch(torch.from_numpy(D), torch.from_numpy(thresholds)).numpy()
    np.testing.assert_array_equal(torch_counts, expected)


def test_smallest_containing_radius_is_strict_and_marks_uncovered_columns():
    D = np.array([[1.0, 2.0, 5.0, 9.0],
                  [0.5, 3.0, 3.0, 9.0]])
    radii = np.array([2.0, 3.5])  # row 0 contains column 0 only (2.0 is not < 2.0)
    got = smallest_containing_radius(torch.from_numpy(D), torch.from_numpy(radii), outside=-1.0).numpy()
    np.testing.assert_array_equal(got, [2.0, 3.5, 3.5, -1.0])
    D = _rows(3, grid=True)
    radii = np.random.default_rng(4).gamma(2.0, size=D.shape[0])
    cpu = smallest_containing_radius(torch.from_numpy(D), torch.from_numpy(radii)).numpy()
    gpu_version = row_stats._smallest_containing_radius_torch(torch.from_numpy(D), torch.from_numpy(radii), 0.0)
    np.testing.assert_array_equal(cpu, gpu_version.numpy())


def _lower_with_torch(D, radii, smallest):
    smallest.copy_(torch.minimum(smallest, row_stats._smallest_containing_radius_torch(D, radii, float("inf"))))


def test_eap_with_the_torch_versions_equals_eap_with_the_compiled_ones(monkeypatch):
    """The GPU code path, run on CPU tensors: same k* and the same scores to the last bit."""
    from auxqual import distances
    from auxqual.quality import EAP, balls
    from tests.conftest import load_eap_fixture

    case = load_eap_fixture("pima")
    compiled = EAP(n_subsets=6, n_jobs=1).fit(case["X_train"], case["y_train"])
    monkeypatch.setattr(balls, "count_at_most", row_stats._count_at_most_torch)
    monkeypatch.setattr(balls, "kth_smallest", row_stats._kth_smallest_torch)
    monkeypatch.setattr(balls, "smallest_containing_radius",
                        lambda D, radii, outside=0.0: row_stats._smallest_containing_radius_torch(D, radii, outside))
    monkeypatch.setattr(balls, "lower_to_smallest_containing_radius", _lower_with_torch)
    monkeypatch.setattr(distances, "_finish", distances._finish_torch)
    with_torch = EAP(n_subsets=6, n_jobs=1).fit(case["X_train"], case["y_train"])
    np.testing.assert_array_equal(with_torch.k_star_, compiled.k_star_)
    assert with_torch.score_samples(case["X_aux"]).tobytes() == compiled.score_samples(case["X_aux"]).tobytes()


def test_the_cpu_kernels_compile_ahead_of_use():
    import subprocess
    import sys

    code = ("from auxqual import row_stats as r\n"
            "from auxqual import distances as d\n"
            "kernels = (r._count_at_most_cpu, r._kth_smallest_cpu, r._smallest_containing_radius_cpu,\n"
            "           d._squared_from_product_cpu)\n"
            "assert not any(k.signatures for k in kernels)\n"
            "r.compile_cpu_kernels()\n"
            "print(all(k.signatures for k in kernels))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)  # a fresh process
    assert result.stdout.strip() == "True"


@pytest.mark.parametrize("grid", [False, True])
def test_compiled_distance_finish_gives_the_torch_expression_bit_for_bit(grid):
    """The CPU pass that turns A·Bᵀ into squared distances gives the torch expression's
    bits (the reference's arithmetic), ties, exact zeros and clamped negatives included."""
    from auxqual import distances

    rng = np.random.default_rng(5)
    A = rng.normal(size=(37, 6)) * 1e3
    if grid:
        A = np.round(A / 250) * 250
    B = np.vstack([A[:20], rng.normal(size=(50, 6))])  # shared rows: exact-zero and tiny-negative entries
    A, B = torch.from_numpy(A), torch.from_numpy(B)
    a_sq, b_sq = distances.squared_norms(A), distances.squared_norms(B)
    product = A @ B.T
    unclamped = product.clone().mul_(-2).add_(a_sq).add_(b_sq.T)
    assert (unclamped == 0).any() if grid else (unclamped < 0).any()  # exact zeros on the grid, else rounding below 0
    for take_sqrt in (False, True):
        compiled = distances._finish(product.clone(), a_sq, b_sq, take_sqrt)
        with_torch = distances._finish_torch(product.clone(), a_sq, b_sq, take_sqrt)
        assert compiled.numpy().tobytes() == with_torch.numpy().tobytes()
