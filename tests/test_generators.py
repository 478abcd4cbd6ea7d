"""Every generator: the property that defines it, in numbers; its provenance; determinism; errors."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from auxqual.generators import GENERATOR_NAMES, REGISTRY, make
from auxqual.io import feature_names, load_dataset
from auxqual.mapping import map_to_dimension
from tests.conftest import dataset_path

COMMON = ["generator", "generator_params", "seed", "source_dataset", "source_row"]
EXTRA = {"smote": ["source_row_2"], "borderline_smote": ["source_row_2"], "adasyn": ["source_row_2"],
         "outlier_exposure": ["source_label"], "benchmark_mixture": ["kind", "source_label"]}


def training_data(n_normal: int = 600, d: int = 5, n_labelled: int = 12, seed: int = 0):
    """Correlated normals, plus labelled anomalies at their edge (some with normal neighbours,
    so that Borderline-SMOTE and ADASYN have work to do)."""
    rng = np.random.default_rng(seed)
    cov = 0.6 * np.ones((d, d)) + 0.4 * np.eye(d)
    normals = rng.multivariate_normal(np.arange(d, dtype=float), cov, size=n_normal)
    anomalies = rng.multivariate_normal(np.arange(d) + 1.5, 0.5 * np.eye(d), size=n_labelled)
    return np.vstack([normals, anomalies]), np.r_[np.zeros(n_normal, int), np.ones(n_labelled, int)]


def other_dataset(n: int = 300, d: int = 9, seed: int = 5):
    rng = np.random.default_rng(seed)
    return rng.normal(10.0, 2.0, size=(n, d)), (rng.random(n) < 0.2).astype(int)


def generate(name: str, X, y, n: int = 500, seed: int = 0, **params) -> pd.DataFrame:
    if name == "outlier_exposure":
        params.setdefault("source", other_dataset())
    generator = make(name, **params)
    if name == "benchmark_mixture":
        sources = {"a": other_dataset(seed=1), "b": other_dataset(d=3, seed=2)}
        return generator.generate(*benchmark_data(), n_samples=None, random_state=seed, sources=sources)
    return generator.generate(X, y, n, random_state=seed)


def benchmark_data():
    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(size=(400, 5)), rng.normal(2.0, 1.0, size=(100, 5))])
    return X, np.r_[np.zeros(400, int), np.ones(100, int)]


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False, engine="pyarrow")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def data():
    return training_data()


# --------------------------------------------------------------------------- registry and schema
def test_registry_lists_every_family():
    assert set(GENERATOR_NAMES) == {"uniform", "local", "cluster", "dependency", "noise", "subspace", "smote",
                                    "borderline_smote", "adasyn", "outlier_exposure", "benchmark_mixture"}
    assert all(REGISTRY[name].name == name for name in GENERATOR_NAMES)


def test_make_refuses_unknown_names_and_parameters():
    with pytest.raises(ValueError, match="unknown generator 'gan'; expected one of"):
        make("gan")
    with pytest.raises(ValueError, match=r"generator 'local': unknown parameter\(s\) \['alfa'\]"):
        make("local", alfa=3)


def test_parameters_are_stored_unchanged():
    generator = make("local", alpha="not checked yet")
    assert generator.alpha == "not checked yet"  # validated in generate, as in scikit-learn


@pytest.mark.parametrize("name", GENERATOR_NAMES)
def test_schema_and_provenance_columns(name, data):
    X, y = data
    frame = generate(name, X, y, n=300, seed=4)
    d = 5
    assert list(frame.columns) == feature_names(d) + COMMON + EXTRA.get(name, [])
    assert len(frame) == (300 if name != "benchmark_mixture" else 3 * 45)
    assert (frame["generator"] == name).all() and (frame["seed"] == 4).all()
    assert frame["seed"].dtype == np.int64 and frame["source_row"].dtype == np.int64
    params = json.loads(frame["generator_params"].iloc[0])
    assert list(params) == sorted(params) and frame["generator_params"].nunique() == 1
    assert np.isfinite(frame[feature_names(d)].to_numpy()).all()


@pytest.mark.parametrize("name", GENERATOR_NAMES)
def test_same_seed_same_bytes(name, data):
    X, y = data
    first, second = generate(name, X, y, seed=11), generate(name, X, y, seed=11)
    assert parquet_bytes(first) == parquet_bytes(second)
    features = feature_names(5)
    assert not np.array_equal(first[features], generate(name, X, y, seed=12)[features])


def test_params_json_is_the_parameters(data):
    X, y = data
    frame = generate("local", X, y, alpha=3, max_components=4)
    assert json.loads(frame["generator_params"].iloc[0]) == {
        "alpha": 3, "covariance_type": "auto", "max_components": 4, "max_fit_rows": 2000}


# --------------------------------------------------------------------------- defining properties
def test_uniform_fills_its_box(data):
    X, y = data
    normals = X[y == 0]
    low, high = normals.min(0) - 0.1 * np.ptp(normals, 0), normals.max(0) + 0.1 * np.ptp(normals, 0)
    Z = generate("uniform", X, y, n=4000)[feature_names(5)].to_numpy()
    assert (Z >= low).all() and (Z <= high).all()
    # 4000 uniform draws come within 0.2 % of the range of each edge with probability 1 - 1e-3.5
    assert (np.abs(Z.min(0) - low) < 0.002 * (high - low)).all()
    assert (np.abs(Z.max(0) - high) < 0.002 * (high - low)).all()


def test_dependency_keeps_marginals_and_loses_correlation():
    X, y = training_data(n_normal=2000, n_labelled=0)
    normals = X[y == 0]
    Z = generate("dependency", X, y, n=2000, seed=1)[feature_names(5)].to_numpy()
    p_values = [ks_2samp(normals[:, j], Z[:, j]).pvalue for j in range(5)]
    assert min(p_values) > 0.01, p_values
    off = ~np.eye(5, dtype=bool)
    assert np.corrcoef(normals, rowvar=False)[off].min() > 0.55  # built with correlation 0.6
    assert np.abs(np.corrcoef(Z, rowvar=False)[off]).max() < 0.08  # independent: |r| ~ 1/sqrt(2000)


def test_dependency_keeps_a_constant_feature_constant():
    X, y = training_data(n_normal=200, n_labelled=0)
    X[:, 2] = 7.0
    Z = generate("dependency", X, y, n=100)
    assert (Z["x2"] == 7.0).all()


def test_local_variance_grows_by_alpha():
    """One Gaussian (BIC picks one component): the mixture covariance is the normals' (ML)
    covariance, so each feature's variance ratio is alpha up to sampling error. The sample
    variance of 4000 draws has relative standard error sqrt(2/3999) = 2.2 %; 10 % is 4.5 of
    them."""
    X, y = training_data(n_normal=3000, n_labelled=0)
    generator = make("local", alpha=5.0)
    Z = generator.generate(X, y, 4000, random_state=2)[feature_names(5)].to_numpy()
    assert generator.mixture_.n_components == 1 and generator.covariance_type_ == "full"
    ratio = Z.var(axis=0) / X.var(axis=0)
    np.testing.assert_allclose(ratio, 5.0, rtol=0.10)
    np.testing.assert_allclose(Z.mean(axis=0), X.mean(axis=0), atol=0.15)  # same centre


def test_cluster_displaces_the_centres():
    """Two normal clusters with centres m1, m2 (as estimated from the 800 rows of each):
    anomalies form two clusters at alpha*m1 and alpha*m2, as tight as the normal ones. The
    mean of ~1000 draws of spread 0.3 has standard error 0.01; the tolerance is 5 of them."""
    rng = np.random.default_rng(0)
    m1, m2 = np.array([2.0, 0.0, 1.0]), np.array([-1.0, 3.0, 0.0])
    X = np.vstack([rng.normal(m1, 0.3, size=(800, 3)), rng.normal(m2, 0.3, size=(800, 3))])
    y = np.zeros(1600, int)
    generator = make("cluster", alpha=4.0)
    Z = generator.generate(X, y, 2000, random_state=0)[feature_names(3)].to_numpy()
    assert generator.mixture_.n_components == 2
    targets = 4.0 * np.array([X[:800].mean(axis=0), X[800:].mean(axis=0)])
    nearest = np.argmin(np.linalg.norm(Z[:, None] - targets[None], axis=-1), axis=1)
    for k in range(2):
        group = Z[nearest == k]
        assert len(group) > 800
        np.testing.assert_allclose(group.mean(axis=0), targets[k], atol=0.05)  # SE 0.3/sqrt(800)
        np.testing.assert_allclose(group.std(axis=0), 0.3, rtol=0.1)


def test_cluster_can_scale_about_the_mean():
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal([10, 10], 0.2, size=(500, 2)), rng.normal([12, 10], 0.2, size=(500, 2))])
    Z = make("cluster", alpha=3.0, center="mean").generate(X, None, 2000, random_state=0)
    centres = np.sort(Z.groupby(Z["x0"] > X[:, 0].mean())["x0"].mean().to_numpy())
    mean, halves = X[:, 0].mean(), np.array([X[:500, 0].mean(), X[500:, 0].mean()])
    np.testing.assert_allclose(centres, mean + 3.0 * (halves - mean), atol=0.05)  # about 11 ± 3


@pytest.mark.parametrize(("name", "params"), [("smote", {}), ("adasyn", {}), ("borderline_smote", {}),
                                          ("borderline_smote", {"kind": "borderline-2"})])
def test_smote_family_points_lie_on_segments(name, params, data):
    X, y = data
    frame = generate(name, X, y, n=1000, seed=3, **params)
    assert len(frame) == 1000
    Z = frame[feature_names(5)].to_numpy()
    start, end = X[frame["source_row"]], X[frame["source_row_2"]]
    v = end - start
    s = np.einsum("ij,ij->i", Z - start, v) / np.einsum("ij,ij->i", v, v)
    off_segment = np.linalg.norm(Z - start - s[:, None] * v, axis=1)
    assert off_segment.max() < 1e-9
    assert s.min() >= -1e-12 and s.max() <= 1 + 1e-12
    assert (y[frame["source_row"]] == 1).all() and (frame["source_row"] != frame["source_row_2"]).all()
    towards_normal = y[frame["source_row_2"]] == 0
    if params.get("kind") == "borderline-2":
        assert towards_normal.any() and s[towards_normal].max() <= 0.5 + 1e-12  # at most half-way
    else:
        assert not towards_normal.any()


def test_smote_works_from_two_labelled_anomalies():
    X, y = training_data(n_labelled=2)
    frame = generate("smote", X, y, n=50)
    assert set(frame["source_row"]) | set(frame["source_row_2"]) == set(np.flatnonzero(y == 1))


def test_noise_is_sigma_feature_standard_deviations(data):
    X, y = data
    frame = generate("noise", X, y, n=5000, sigma=0.5)
    assert (y[frame["source_row"]] == 0).all()
    shift = frame[feature_names(5)].to_numpy() - X[frame["source_row"]]
    np.testing.assert_allclose(shift.std(axis=0) / X[y == 0].std(axis=0), 0.5, rtol=0.05)  # SE 1 %


def test_subspace_perturbs_about_thirty_percent_of_features():
    X, y = training_data(d=10, n_labelled=0)
    frame = generate("subspace", X, y, n=5000, seed=2)
    changed = frame[feature_names(10)].to_numpy() != X[frame["source_row"]]
    assert changed.any(axis=1).all()  # never an unchanged normal
    # 0.3 per feature, plus 0.7**10 / 10 = 0.3 % from the rows that got one forced feature
    assert abs(changed.mean() - 0.303) < 0.01


def test_outlier_exposure_has_the_target_dimension(tmp_path, data):
    X, y = data
    X_src, y_src = other_dataset(d=9)  # 9 features, 300 rows -> PCA to 5
    frame = generate("outlier_exposure", X, y, n=200, source=(X_src, y_src), source_name="other")
    assert list(frame.columns[:5]) == feature_names(5) and (frame["source_dataset"] == "other").all()
    mapped = map_to_dimension(X_src, 5)
    np.testing.assert_allclose(frame[feature_names(5)].to_numpy(), mapped[frame["source_row"]])
    np.testing.assert_array_equal(frame["source_label"], y_src[frame["source_row"]])
    assert frame["source_row"].is_unique  # 200 <= 300 rows: drawn without replacement

    path = tmp_path / "narrow.npz"
    np.savez(path, X=X_src[:, :2], y=y_src)  # 2 features -> concatenation recipe
    wide = generate("outlier_exposure", X, y, n=400, source=None, source_path=str(path))
    assert wide.shape[0] == 400 and (wide["source_dataset"] == "narrow").all()
    np.testing.assert_array_equal(wide[["x0", "x1"]].to_numpy(), X_src[wide["source_row"], :2])


def test_local_and_cluster_work_on_512_d_image_embeddings():
    # 340 kB, over tests/data's budget: not bundled, so this test skips on a bare clone
    X, y = load_dataset(dataset_path("adbench/image_resnet18/MVTec-AD_bottle.npz"))
    X, y = X[y == 0], np.zeros(int((y == 0).sum()), int)  # 229 normals, 512 features
    features = feature_names(512)
    local = make("local")
    Z = local.generate(X, y, 1000, random_state=0)[features].to_numpy()
    assert local.covariance_type_ == "diag" and np.isfinite(Z).all()
    varying = X.var(axis=0) > 1e-8
    assert np.median(Z.var(axis=0)[varying] / X.var(axis=0)[varying]) > 2.0  # wider than the normals
    cluster = make("cluster")
    C = cluster.generate(X, y, 1000, random_state=0)[features].to_numpy()
    assert cluster.covariance_type_ == "diag"
    # ReLU features are non-negative, so means * 5 move every cluster away from the normals
    assert np.linalg.norm(C.mean(axis=0) - X.mean(axis=0)) > 3 * np.linalg.norm(X.mean(axis=0))


def test_benchmark_mixture_delegates_to_the_protocol():
    X, y = benchmark_data()
    generator = make("benchmark_mixture", dataset="toy")
    sources = {"a": other_dataset(seed=1)}
    full = generator.generate(X, y, random_state=0, sources=sources)
    assert generator.split_.counts.n_aux_per_kind == 45 and len(full) == 135
    np.testing.assert_array_equal(full[feature_names(5)].to_numpy(),
                                  generator.split_.aux[feature_names(5)].to_numpy())
    some = generator.generate(X, y, 12, random_state=0, sources=sources)
    assert some["kind"].value_counts().to_dict() == {"realistic": 4, "indistinguishable": 4, "unrealistic": 4}


def test_benchmark_mixture_rows_interleave_kinds_and_follow_the_seed():
    """The set is not stored kind by kind (a position-based tie-break would pick realistic rows
    first), neither in full nor as a subset, and the same seed gives the same bytes."""
    X, y = benchmark_data()
    sources = {"a": other_dataset(seed=1)}
    full = make("benchmark_mixture", dataset="toy").generate(X, y, random_state=0, sources=sources)
    kinds = full["kind"].to_numpy()
    assert (kinds[1:] != kinds[:-1]).sum() > 45          # 135 rows: in blocks there are 2 changes
    assert set(kinds[:45]) == {"realistic", "indistinguishable", "unrealistic"}
    again = make("benchmark_mixture", dataset="toy").generate(X, y, random_state=0, sources=sources)
    assert parquet_bytes(full) == parquet_bytes(again)
    some = make("benchmark_mixture", dataset="toy").generate(X, y, 30, random_state=0, sources=sources)
    assert (some["kind"].to_numpy()[1:] != some["kind"].to_numpy()[:-1]).sum() > 6
    assert set(some["kind"][:10]) == {"realistic", "indistinguishable", "unrealistic"}


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("n", [0, -5, 2.5, True, None])
def test_bad_counts_are_refused(n, data):
    X, y = data
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        make("uniform").generate(X, y, n)


@pytest.mark.parametrize("seed", [-1, 1.5, "0"])
def test_bad_seeds_are_refused(seed, data):
    X, y = data
    with pytest.raises(ValueError, match="random_state must be a non-negative integer"):
        make("uniform").generate(X, y, 10, random_state=seed)


@pytest.mark.parametrize(("name", "params", "match"), [
    ("uniform", {"p": -0.1}, "p must be"),
    ("local", {"alpha": 0}, "alpha must be"),
    ("local", {"covariance_type": "banded"}, "covariance_type must be one of"),
    ("local", {"max_components": 0}, "max_components must be"),
    ("local", {"max_fit_rows": 1}, "max_fit_rows must be at least 2"),
    ("cluster", {"center": "median"}, "center must be"),
    ("dependency", {"bw_method": "wide"}, "bw_method must be"),
    ("noise", {"sigma": -1.0}, "sigma must be"),
    ("subspace", {"fraction": 1.5}, r"fraction must be in \(0, 1\]"),
    ("subspace", {"epsilon": 0}, "epsilon must be"),
    ("smote", {"k_neighbors": 0}, "k_neighbors must be"),
    ("borderline_smote", {"kind": "borderline-3"}, "kind must be"),
    ("borderline_smote", {"m_neighbors": 0}, "m_neighbors must be"),
    ("outlier_exposure", {"source": None}, "exactly one of source"),
])
def test_bad_parameters_name_themselves(name, params, match, data):
    X, y = data
    with pytest.raises(ValueError, match=match):
        make(name, **params).generate(X, y, 10)


@pytest.mark.parametrize("name", ["smote", "borderline_smote", "adasyn"])
def test_smote_family_needs_two_labelled_anomalies(name):
    X, y = training_data(n_labelled=1)
    with pytest.raises(ValueError, match=rf"{name}: needs at least 2 labelled anomalies \(y == 1\) .*got 1"):
        make(name).generate(X, y, 10)


def test_borderline_smote_without_anomalies_in_danger():
    """Eight anomalies in a tight group far from the normals: each has at most 3 normals among
    its 10 nearest rows (not "in danger"), and none among its 5 nearest (ADASYN's ratio is 0)."""
    X, y = training_data(n_labelled=0)
    far = 50.0 + np.random.default_rng(0).normal(0.0, 0.1, size=(8, 5))
    X, y = np.vstack([X, far]), np.r_[y, np.ones(8, int)]
    with pytest.raises(ValueError, match="none of the 8 labelled anomalies is in danger"):
        make("borderline_smote").generate(X, y, 10)
    with pytest.raises(ValueError, match="adasyn: none of the 8 labelled anomalies has a normal row"):
        make("adasyn").generate(X, y, 10)


def test_generators_need_normals():
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match=r"local: needs at least 2 normal rows \(y == 0\), got 1"):
        make("local").generate(X, np.r_[np.ones(19, int), 0], 10)


def test_outlier_exposure_refuses_an_unmappable_source(data):
    X, y = data
    with pytest.raises(ValueError, match="at least 2 rows"):
        make("outlier_exposure", source=(np.ones((1, 4)), None)).generate(X, y, 10)
    with pytest.raises(ValueError, match="file not found"):
        make("outlier_exposure", source_path="/nonexistent/other.npz").generate(X, y, 10)


def test_bad_input_data_is_named(data):
    X, y = data
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="X: 1 NaN or inf"):
        make("uniform").generate(bad, y, 10)
    with pytest.raises(ValueError, match="y: 5 labels for 612 rows"):
        make("uniform").generate(X, y[:5], 10)


def test_benchmark_mixture_errors():
    X, y = benchmark_data()
    generator = make("benchmark_mixture", dataset="toy")
    with pytest.raises(ValueError, match=r"sources= .* is required"):
        generator.generate(X, y)
    with pytest.raises(ValueError, match="multiple of 3"):
        generator.generate(X, y, 7, sources={"a": other_dataset()})
    with pytest.raises(ValueError, match="toy: 9 anomalies"):
        generator.generate(X[:409], y[:409], sources={"a": other_dataset()})
