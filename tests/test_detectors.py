"""Detectors of the train stage: the torch MLP, the PyOD stack and the registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from auxqual.detectors.pyod_detector import PyODStackClassifier
from auxqual.detectors.registry import DETECTOR_NAMES, load_detector, make_detector, model_path_for, save_detector
from auxqual.detectors.torch_classifier import TorchClassifier

FAST = {"mlp": {"epochs": 15}, "pyod_stack": {"n_estimators": 30}}
LEARNERS = ("mlp", "pyod_stack")


def shifted(n: int, seed: int, d: int = 10, rate: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian normals; anomalies shifted by 2.5 on the first three features."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (rng.random(n) < rate).astype(np.int8)
    X[y == 1, :3] += 2.5
    return X, y


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    X, y = shifted(400, 0)
    X_test, y_test = shifted(600, 1)
    return {"X": X, "y": y, "X_test": X_test, "y_test": y_test}


def fitted(name: str, data: dict, random_state: int = 0):
    return make_detector(name, random_state=random_state, **FAST[name]).fit(data["X"], data["y"])


# ------------------------------------------------------------------ learning and determinism
@pytest.mark.parametrize("name", LEARNERS)
def test_learns_a_separable_problem(name, data):
    detector = fitted(name, data)
    assert roc_auc_score(data["y_test"], detector.decision_function(data["X_test"])) > 0.9
    proba = detector.predict_proba(data["X_test"])
    assert proba.shape == (600, 2)
    assert np.all((proba >= 0) & (proba <= 1)) and np.allclose(proba.sum(axis=1), 1.0)
    assert roc_auc_score(data["y_test"], proba[:, 1]) > 0.9
    assert set(np.unique(detector.predict(data["X_test"]))) <= {0, 1}


@pytest.mark.parametrize("name", LEARNERS)
def test_same_seed_same_scores(name, data):
    first = fitted(name, data, random_state=7).decision_function(data["X_test"])
    second = fitted(name, data, random_state=7).decision_function(data["X_test"])
    np.testing.assert_array_equal(first, second)
    other = fitted(name, data, random_state=8).decision_function(data["X_test"])
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("name", LEARNERS)
def test_save_load_same_scores(name, data, tmp_path):
    detector = fitted(name, data)
    path = save_detector(detector, tmp_path / "models" / "q10")
    assert path.suffix == (".pt" if name == "mlp" else ".joblib") and path.is_file()
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
    loaded = load_detector(path, trusted=True)  # no lineage sidecar here: the test made the file
    assert type(loaded) is type(detector)
    np.testing.assert_array_equal(loaded.decision_function(data["X_test"]),
                                  detector.decision_function(data["X_test"]))
    np.testing.assert_array_equal(loaded.predict_proba(data["X_test"]), detector.predict_proba(data["X_test"]))


def test_saved_models_are_compressed_and_byte_identical_for_identical_models(data, tmp_path):
    import pickle

    X = np.round(data["X"] * 2)  # small integer values, as in the default (digits) data
    detector = make_detector("ssdo").fit(X, data["y"])
    first = save_detector(detector, tmp_path / "a" / "q10")
    second = save_detector(make_detector("ssdo").fit(X, data["y"]), tmp_path / "b" / "q10")
    assert first.read_bytes() == second.read_bytes()
    assert first.stat().st_size < len(pickle.dumps(detector)) / 2  # the kept training rows compress well


# ------------------------------------------------------------------ edge cases of y
@pytest.mark.parametrize("name", LEARNERS)
def test_no_anomalies_falls_back_to_one_class(name, data):
    normals = data["y"] == 0
    detector = make_detector(name, **FAST[name]).fit(data["X"][normals], data["y"][normals])
    assert detector.one_class_
    scores = detector.decision_function(data["X_test"])
    assert roc_auc_score(data["y_test"], scores) > 0.7  # distance from normal still ranks the shift
    proba = detector.predict_proba(data["X_test"])
    assert np.all((proba >= 0) & (proba <= 1))


@pytest.mark.parametrize("name", LEARNERS)
def test_no_normals_is_an_error(name, data):
    anomalies = data["y"] == 1
    with pytest.raises(ValueError, match="normal"):
        make_detector(name).fit(data["X"][anomalies], data["y"][anomalies])


@pytest.mark.parametrize("name", LEARNERS)
def test_bad_input_errors(name, data):
    X, y = data["X"].copy(), data["y"]
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        make_detector(name).fit(bad, y)
    with pytest.raises(ValueError, match="labels"):
        make_detector(name).fit(X, y[:-1])
    with pytest.raises(ValueError, match=r"0 \(normal\) or 1"):
        make_detector(name).fit(X, np.where(y == 1, 2, 0))
    with pytest.raises(ValueError, match="not fitted"):  # sklearn's NotFittedError is a ValueError
        make_detector(name).decision_function(X)
    with pytest.raises(ValueError, match="expecting 10 features"):
        fitted(name, data).decision_function(X[:, :4])


# ------------------------------------------------------------------ torch specifics
def test_torch_device_fallback_and_load_where_trained_or_on_cpu(data, tmp_path):
    here = "cuda" if torch.cuda.is_available() else "cpu"
    model = TorchClassifier(epochs=2).fit(data["X"], data["y"])
    assert model.device_.type == here
    path = model.save(tmp_path / "m.pt")
    assert TorchClassifier.load(path).device_.type == here  # where it was trained: the same scores
    on_cpu = TorchClassifier.load(path, device="cpu")
    assert all(p.device.type == "cpu" for p in on_cpu.model_.parameters())
    np.testing.assert_allclose(on_cpu.decision_function(data["X_test"]), model.decision_function(data["X_test"]),
                               rtol=0, atol=1e-4)
    payload = torch.load(path, weights_only=True)
    payload["fitted"]["trained_on"] = "cuda"  # as if trained on a GPU: opens on this machine's device
    torch.save(payload, path)
    assert TorchClassifier.load(path).device_.type == here
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device='cuda'"):
            TorchClassifier(device="cuda").fit(data["X"], data["y"])


def test_torch_leaves_global_state_alone(data):
    rng_before, threads_before = torch.random.get_rng_state(), torch.get_num_threads()
    TorchClassifier(epochs=2).fit(data["X"], data["y"]).decision_function(data["X"])
    assert torch.equal(torch.random.get_rng_state(), rng_before)
    assert torch.get_num_threads() == threads_before


def test_torch_loss_decreases_and_params_validated(data):
    model = TorchClassifier(epochs=15, batch_size=None).fit(data["X"], data["y"])
    assert model.loss_curve_[-1] < 0.5 * model.loss_curve_[0]
    for bad in ({"hidden": ()}, {"epochs": 0}, {"batch_size": 0}, {"class_weight": "auto"}, {"num_threads": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            TorchClassifier(**bad).fit(data["X"], data["y"])


def test_torch_load_rejects_other_files(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"format": "something else"}, path)
    with pytest.raises(ValueError, match="not a TorchClassifier"):
        TorchClassifier.load(path)


# ------------------------------------------------------------------ registry
def test_registry_names_and_errors(tmp_path):
    assert {"ssdo", "mlp", "pyod_stack", "iforest"} <= set(DETECTOR_NAMES)
    with pytest.raises(ValueError, match="pyod_stack"):
        make_detector("devnet")
    with pytest.raises(ValueError, match="unknown parameter"):
        make_detector("mlp", hiden=(8,))
    model = make_detector("mlp", random_state=5, device="cpu", epochs=3)
    assert isinstance(model, TorchClassifier) and (model.random_state, model.device, model.epochs) == (5, "cpu", 3)
    stack = make_detector("pyod_stack", random_state=4, device="cuda")  # device is not its parameter
    assert isinstance(stack, PyODStackClassifier) and stack.random_state == 4
    assert model_path_for(model, "a/q10.joblib").name == "q10.pt"
    assert model_path_for(stack, "a/q10.pt").name == "q10.joblib"
    assert model_path_for(stack, "a/q0.5").name == "q0.5.joblib"
    (tmp_path / "m.bin").write_bytes(b"x")
    with pytest.raises(ValueError, match="unknown model file type"):
        load_detector(tmp_path / "m.bin")
    with pytest.raises(ValueError, match="not found"):
        load_detector(tmp_path / "none.joblib")


@pytest.mark.parametrize("name", ["ssdo", "iforest"])
def test_registry_other_detectors_round_trip(name, data, tmp_path):
    detector = make_detector(name, random_state=0).fit(data["X"], data["y"])
    assert roc_auc_score(data["y_test"], detector.decision_function(data["X_test"])) > 0.6
    path = save_detector(detector, tmp_path / "q10.pt")
    assert path.suffix == ".joblib"
    np.testing.assert_array_equal(load_detector(path, trusted=True).decision_function(data["X_test"]),
                                  detector.decision_function(data["X_test"]))
