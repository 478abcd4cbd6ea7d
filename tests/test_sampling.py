"""The seeded training-row sample behind score.max_train_rows."""

from __future__ import annotations

import numpy as np
import pytest

from auxqual.sampling import sample_training_rows


def _labels(n_normals: int = 500, n_anomalies: int = 20, seed: int = 3) -> np.ndarray:
    y = np.r_[np.zeros(n_normals, np.int8), np.ones(n_anomalies, np.int8)]
    return np.random.default_rng(seed).permutation(y)  # anomalies scattered through the table


def test_keeps_every_labelled_anomaly_and_fills_with_distinct_normals():
    y = _labels()
    rows = sample_training_rows(y, 100, random_state=0)
    assert set(np.flatnonzero(y == 1)) <= set(rows.tolist())
    assert rows.size == 100 and np.unique(rows).size == 100
    assert int((y[rows] == 0).sum()) == 80
    assert rows.dtype == np.int64 and np.all(np.diff(rows) > 0)  # ascending, no repeats


def test_size_is_max_rows_and_every_row_when_it_fits():
    y = _labels()
    assert [sample_training_rows(y, k).size for k in (21, 300, 519)] == [21, 300, 519]
    for max_rows in (None, 520, 10_000):
        np.testing.assert_array_equal(sample_training_rows(y, max_rows), np.arange(520))


def test_same_seed_same_rows_other_seed_other_rows():
    y = _labels()
    first = sample_training_rows(y, 200, random_state=7)
    np.testing.assert_array_equal(first, sample_training_rows(y, 200, random_state=7))
    other = sample_training_rows(y, 200, random_state=8)
    assert not np.array_equal(first, other)
    # the normals are drawn uniformly: across seeds every normal gets picked about equally often
    counts = np.zeros(y.size)
    for seed in range(200):
        counts[sample_training_rows(y, 120, random_state=seed)] += 1
    normal_rate = counts[y == 0] / 200
    assert abs(normal_rate.mean() - 100 / 500) < 1e-12
    assert normal_rate.min() > 0.08 and normal_rate.max() < 0.35


@pytest.mark.parametrize("max_rows", [0, -5, 2.5, True, "100"])
def test_max_rows_must_be_a_positive_int(max_rows):
    with pytest.raises(ValueError, match="max_rows"):
        sample_training_rows(_labels(), max_rows)


@pytest.mark.parametrize("max_rows", [1, 19, 20])
def test_max_rows_must_leave_room_for_a_normal(max_rows):
    with pytest.raises(ValueError, match=r"max_rows=\d+ leaves no room for a normal.*20 labelled anomalies"):
        sample_training_rows(_labels(), max_rows)
