"""A seeded sample of a training table's rows, for fitting a quality score on fewer rows.

EAP's cost grows with the square of the training size (every subset's k*-balls need the
normals' pairwise distances), so the pipeline's ``score.max_train_rows`` fits it on a sample:
every labelled anomaly is kept (they are few, and they set the prior mean c and k*), and the
rest of the sample is normals drawn uniformly without replacement from
``numpy.random.default_rng(random_state)``. What that changes is measured in
``benchmarks/results/eap_sampling.md``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["sample_training_rows"]


def sample_training_rows(y, max_rows: int | None, *, random_state: int = 0) -> np.ndarray:
    """Indices (ascending, int64) of a seeded sample of at most max_rows rows of a training table
    with labels y (1 = labelled anomaly, 0 = normal): every labelled anomaly is kept, normals are
    drawn uniformly without replacement to fill the rest. None, or max_rows >= len(y): every row.
    ValueError naming `max_rows` when max_rows is not a positive int or leaves no room for a normal
    (max_rows <= number of labelled anomalies).

    The same ``y``, ``max_rows`` and ``random_state`` always give the same rows.
    """
    labels = np.asarray(y)
    if labels.ndim != 1:
        raise ValueError(f"y: expected a 1-D array of labels, got shape {labels.shape}")
    if labels.size and not np.isin(labels, (0, 1)).all():
        raise ValueError("y: labels must be 0 (normal) or 1 (labelled anomaly)")
    n = labels.shape[0]
    if max_rows is None:
        return np.arange(n, dtype=np.int64)
    if isinstance(max_rows, (bool, np.bool_)) or not isinstance(max_rows, (int, np.integer)) or max_rows < 1:
        raise ValueError(f"max_rows must be a positive integer or None, got {max_rows!r}")
    max_rows = int(max_rows)
    if max_rows >= n:
        return np.arange(n, dtype=np.int64)
    anomalies = np.flatnonzero(labels == 1)
    normals = np.flatnonzero(labels == 0)
    if max_rows <= anomalies.size:
        raise ValueError(f"max_rows={max_rows} leaves no room for a normal: the training table has "
                         f"{anomalies.size} labelled anomalies, all of which are kept; max_rows must be "
                         f"at least {anomalies.size + 1} (or None for every row)")
    rng = np.random.default_rng(random_state)
    drawn = rng.choice(normals, size=max_rows - anomalies.size, replace=False)
    return np.sort(np.concatenate([anomalies, drawn])).astype(np.int64)
