"""Example files for the "Your own data" quick start, built from data that ships with scikit-learn.

``write_own_data`` plays the engineer's side: scikit-learn's breast-cancer table (569
tumours, 30 measurements; malignant = the "defect") written out as the files a user would
have: a training table of normal rows with a handful of labelled defects, a labelled
validation table, and an auxiliary set made by the user's "own" generator, which mixes good
fakes (perturbed held-out defects), fakes indistinguishable from normal rows, and unrealistic
ones (far outside the data). ``night`` draws another snapshot of the normal rows, as a
nightly refresh would bring.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from auxqual.io import write_parquet

N_TRAIN_NORMALS = 250
N_LABELLED = 5
N_VALIDATION_ANOMALIES = 40


def breast_cancer_frame() -> tuple[pd.DataFrame, np.ndarray]:
    """scikit-learn's breast-cancer features (names with ``_`` for spaces) and labels (1 = malignant)."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    frame = data.data.rename(columns=lambda c: c.replace(" ", "_"))
    return frame, (data.target.to_numpy() == 0).astype(np.int8)


def write_own_data(folder: str | os.PathLike, *, night: int = 1) -> dict[str, Path]:
    """Write ``train.parquet``, ``validation.parquet`` and ``camera_fakes.parquet`` in ``folder``.

    The defects (labelled, validation and the fakes' sources) are the same every night;
    the training normals are a fresh draw of ``N_TRAIN_NORMALS`` of the first 300 benign
    rows per ``night`` (the validation normals are the other benign rows). Returns the paths.
    """
    folder = Path(folder)
    X, y = breast_cancer_frame()
    rng = np.random.default_rng(0)
    benign, malignant = np.flatnonzero(y == 0), rng.permutation(np.flatnonzero(y == 1))
    night_rng = np.random.default_rng(1000 + int(night))
    train_normals = np.sort(night_rng.choice(benign[:300], N_TRAIN_NORMALS, replace=False))
    labelled = malignant[:N_LABELLED]
    validation_anomalies = malignant[N_LABELLED:N_LABELLED + N_VALIDATION_ANOMALIES]
    fake_sources = malignant[N_LABELLED + N_VALIDATION_ANOMALIES:]
    train = pd.concat([X.iloc[train_normals], X.iloc[labelled]], ignore_index=True)
    train["y"] = np.r_[np.zeros(train_normals.size, np.int8), np.ones(labelled.size, np.int8)]
    validation = pd.concat([X.iloc[benign[300:]], X.iloc[validation_anomalies]], ignore_index=True)
    validation["y"] = np.r_[np.zeros(benign.size - 300, np.int8), np.ones(validation_anomalies.size, np.int8)]
    paths = {"train": folder / "train.parquet", "validation": folder / "validation.parquet",
             "aux": folder / "camera_fakes.parquet"}
    write_parquet(train, paths["train"])
    write_parquet(validation, paths["validation"])
    write_parquet(own_generator(X, benign, fake_sources, rng), paths["aux"])
    return paths


def own_generator(X: pd.DataFrame, benign: np.ndarray, sources: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """The user's "own" fake defects: 60 perturbed defects, 30 copies of normal rows and
    30 rows far outside the data, shuffled (a generator does not say which is which)."""
    spread = X.std().to_numpy()
    good = X.iloc[rng.choice(sources, 60)].to_numpy() + rng.normal(0, 0.1, (60, X.shape[1])) * spread
    normal_like = X.iloc[rng.choice(benign, 30, replace=False)].to_numpy()
    far = X.mean().to_numpy() + rng.uniform(6, 10, (30, X.shape[1])) * spread
    rows = np.concatenate([good, normal_like, far])[rng.permutation(120)]
    return pd.DataFrame(np.abs(rows), columns=X.columns)
