"""The default data leaves room for auxiliary anomalies: without any (q = 0), no default
detector is near-perfect on the test set, so the default run's Q2 curves can show what
auxiliary anomalies do (every digit: benchmarks/results/default_data.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sklearn.metrics import roc_auc_score

from auxqual.datasets import DEFAULT_DATASET, digits, embedded_datasets
from auxqual.detectors.registry import make_detector
from auxqual.protocol import split_benchmark

ROOT = Path(__file__).resolve().parents[1]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
GOAL = 0.95


@pytest.fixture(scope="module")
def default_split():
    data = PARAMS["data"]["default"]
    sources = {name: xy for name, xy in embedded_datasets(sources=data["sources"]).items() if name != DEFAULT_DATASET}
    X, y = digits(data["anomaly_digit"])
    prepare = PARAMS["prepare"]
    return split_benchmark(X, y, dataset=DEFAULT_DATASET, sources=sources, n_sources=prepare["n_sources"],
                           max_train_normals=prepare["max_train_normals"], random_state=prepare["random_state"])


@pytest.mark.parametrize("detector", PARAMS["train"]["detectors"])
def test_no_default_detector_is_near_perfect_without_auxiliary_anomalies(default_split, detector):
    model = make_detector(detector, random_state=0, device="cpu",
                          **(PARAMS["train"].get("params") or {}).get(detector, {}))
    model.fit(default_split.X_train, default_split.y_train)
    auroc = roc_auc_score(default_split.y_test, model.decision_function(default_split.X_test))
    assert 0.5 < auroc <= GOAL, f"{detector}: test AUROC {auroc:.3f} at q = 0"
