"""The benchmark protocol (docs/protocol.md) and its step-6 mapping, with numbers.

Real ADBench data are read from ``$AUXQUAL_SHARED_DATASETS`` (default ``<repo>/../shared/datasets``)
when present, else from the copies bundled under ``tests/data/datasets`` (the tabular files only);
the MVTec image test skips, saying so, when ``shared/`` is absent.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from sklearn.decomposition import PCA

from auxqual import protocol
from auxqual.io import feature_names, load_dataset
from auxqual.mapping import map_to_dimension
from auxqual.protocol import KINDS, ProtocolCounts, ProtocolError, protocol_counts, split_benchmark
from tests.conftest import BUNDLED, SHARED, SHARED_DATASETS, dataset_path

TABULAR = "adbench/tabular"
IMAGE = "adbench/image_resnet18"  # not bundled (too large): skips without shared/
SMALL_SOURCES = ("14_glass", "29_Pima", "39_vertebral", "47_yeast", "4_breastw", "42_WBC", "18_Ionosphere")


def adbench(folder: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """An ADBench dataset from shared/ when present, else from tests/data; skips without either."""
    return load_dataset(dataset_path(f"{folder}/{name}.npz"))


@pytest.fixture(scope="module")
def small_sources() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {name: adbench(TABULAR, name) for name in SMALL_SOURCES}


@pytest.fixture(scope="module")
def cardio_split(small_sources):
    X, y = adbench(TABULAR, "6_cardio")
    sources = dict(small_sources, **{"6_cardio": (X, y)})  # the target itself must be ignored
    return X, y, split_benchmark(X, y, dataset="6_cardio", sources=sources, random_state=7)


def synthetic(n_normal: int, n_anomaly: int, d: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(size=(n_normal, d)), rng.normal(3.0, 1.0, size=(n_anomaly, d))])
    return X, np.r_[np.zeros(n_normal, int), np.ones(n_anomaly, int)]


def kind_changes(kinds) -> int:
    """How often the kind changes from one row to the next (2 when the kinds are in blocks)."""
    kinds = np.asarray(kinds)
    return int((kinds[1:] != kinds[:-1]).sum())


# --------------------------------------------------------------------------- counts
@pytest.mark.parametrize(("A", "expected"), [
    (176, (88, 5, 83)),     # cardio: f limited by A - t - l = 83 (round(0.48*176) = 84)
    (100, (50, 5, 45)),     # t and l at their minimums
    (56, (50, 5, 1)),       # the smallest dataset that can run: 55 + 1
    (1000, (250, 20, 250)),
    (3000, (250, 50, 250)),  # every count at its maximum
    (466, (233, 9, 224)),   # Cardiotocography
])
def test_counts_follow_the_formula(A, expected):
    assert protocol_counts(A, dataset="d") == ProtocolCounts(*expected)


def test_counts_parameters_are_honoured():
    counts = protocol_counts(40, dataset="d", test_min=10, labelled_min=2, aux_fraction=0.25)
    assert counts == ProtocolCounts(n_test_anomalies=20, n_labelled=2, n_aux_per_kind=10)


@pytest.mark.parametrize("A", [0, 9, 55])
def test_counts_too_few_anomalies_name_dataset_and_counts(A):
    with pytest.raises(ProtocolError, match=rf"^toy: {A} anomalies, the protocol needs at least 55 \+ f"):
        protocol_counts(A, dataset="toy")
    assert issubclass(ProtocolError, ValueError)


def test_counts_reject_a_negative_count():
    with pytest.raises(ValueError, match="n_anomalies"):
        protocol_counts(-1, dataset="toy")


# --------------------------------------------------------------------------- real data: cardio
def test_cardio_exact_counts(cardio_split):
    _, _, split = cardio_split
    assert split.counts == ProtocolCounts(88, 5, 83)
    assert split.X_train.shape == (1000 + 5, 21) and split.y_train.dtype == np.int8
    assert split.y_train[:1000].sum() == 0 and split.y_train[1000:].sum() == 5  # normals first
    assert split.X_test.shape == (176, 21) and split.y_test.sum() == 88
    assert split.aux["kind"].value_counts().to_dict() == dict.fromkeys(KINDS, 83)
    assert kind_changes(split.aux["kind"]) > 83  # interleaved (stored in blocks: 2 changes)
    assert list(split.aux.columns) == [
        *feature_names(21), "kind", "generator", "source_dataset", "source_row", "source_label"]
    assert (split.aux["generator"] == "benchmark_mixture").all()


def test_cardio_rows_do_not_overlap_and_labels_are_right(cardio_split):
    _, y, split = cardio_split
    own = split.aux[split.aux["kind"] != "unrealistic"]
    parts = [split.train_rows, split.test_rows, own["source_row"].to_numpy()]
    every = np.concatenate(parts)
    assert every.size == np.unique(every).size == 1005 + 176 + 166
    assert (own["source_dataset"] == "6_cardio").all()
    realistic = split.aux[split.aux["kind"] == "realistic"]
    indistinguishable = split.aux[split.aux["kind"] == "indistinguishable"]
    assert (y[realistic["source_row"]] == 1).all() and (realistic["source_label"] == 1).all()
    assert (y[indistinguishable["source_row"]] == 0).all() and (indistinguishable["source_label"] == 0).all()
    np.testing.assert_array_equal(split.y_train, y[split.train_rows])
    np.testing.assert_array_equal(split.y_test, y[split.test_rows])


def test_cardio_unrealistic_rows_come_from_other_datasets(cardio_split, small_sources):
    _, _, split = cardio_split
    unreal = split.aux[split.aux["kind"] == "unrealistic"]
    used = set(unreal["source_dataset"])
    assert used <= set(SMALL_SOURCES) and 1 <= len(used) <= 5
    for name, rows in unreal.groupby("source_dataset"):
        _, y_src = small_sources[name]
        np.testing.assert_array_equal(rows["source_label"], y_src[rows["source_row"]])


def test_cardio_is_standardised_with_the_training_statistics(cardio_split):
    X, _, split = cardio_split
    raw_train = X[split.train_rows]
    np.testing.assert_allclose(split.mean_, raw_train.mean(axis=0))
    expected_scale = np.where(raw_train.std(axis=0) < 1e-3, 1.0, raw_train.std(axis=0))
    np.testing.assert_allclose(split.scale_, expected_scale)
    np.testing.assert_allclose(split.X_train.mean(axis=0), 0.0, atol=1e-9)
    varying = raw_train.std(axis=0) >= 1e-3
    np.testing.assert_allclose(split.X_train.std(axis=0)[varying], 1.0)
    np.testing.assert_allclose(split.X_test, (X[split.test_rows] - split.mean_) / split.scale_)
    realistic = split.aux[split.aux["kind"] == "realistic"]
    np.testing.assert_allclose(realistic[feature_names(21)].to_numpy(),
                               (X[realistic["source_row"]] - split.mean_) / split.scale_)


def test_cardio_labelled_anomalies_are_narrower_than_random_ones(cardio_split):
    """Step 2 takes the known anomalies cluster by cluster: they sit closer together than the
    realistic anomalies, a random sample of the same population."""
    X, _, split = cardio_split
    labelled = X[split.train_rows[split.y_train == 1]]
    realistic = X[split.aux.loc[split.aux["kind"] == "realistic", "source_row"]]

    def spread(rows: np.ndarray) -> float:
        return float(np.linalg.norm(rows[:, None] - rows[None], axis=-1).sum() / (len(rows) * (len(rows) - 1)))

    assert spread(labelled) < 0.75 * spread(realistic)  # 0.27–0.61 over seeds 0–4


def test_split_is_deterministic(cardio_split, small_sources):
    X, y, split = cardio_split
    sources = dict(small_sources)
    again = split_benchmark(X, y, dataset="6_cardio", sources=sources, random_state=7)
    for field in ("X_train", "y_train", "train_rows", "X_test", "y_test", "test_rows", "mean_", "scale_"):
        np.testing.assert_array_equal(getattr(split, field), getattr(again, field))
    assert split.aux.equals(again.aux)
    other = split_benchmark(X, y, dataset="6_cardio", sources=sources, random_state=8)
    assert not np.array_equal(split.test_rows, other.test_rows)


@pytest.mark.parametrize(("name", "n_anomalies"), [("14_glass", 9), ("42_WBC", 10)])
def test_too_few_anomalies_on_real_data(name, n_anomalies, small_sources):
    X, y = adbench(TABULAR, name)
    with pytest.raises(ProtocolError, match=rf"^{name}: {n_anomalies} anomalies, the protocol needs at least 55 \+ f"):
        split_benchmark(X, y, dataset=name, sources=small_sources)


def test_image_dataset_gets_512_d_unrealistic_rows(small_sources):
    X, y = adbench(IMAGE, "MVTec-AD_bottle")  # 63 anomalies: t=50, l=5, f=8
    split = split_benchmark(X, y, dataset="bottle", sources=small_sources, random_state=0)
    assert split.counts == ProtocolCounts(50, 5, 8)
    assert split.aux.shape == (24, 512 + 5)
    assert np.isfinite(split.aux[feature_names(512)].to_numpy()).all()


def _bundled_files() -> dict[str, str]:
    """tests/data's SHA256SUMS: relative path -> sha256 of each bundled copy."""
    lines = (BUNDLED / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    return {path: digest for digest, path in (line.split(maxsplit=1) for line in lines if line.strip())}


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("relative", sorted(_bundled_files()))
def test_bundled_copy_is_intact_and_matches_shared(relative):
    """The copies under tests/data (used on a bare clone) are the recorded bytes, and the same
    bytes as shared/ where shared/ has the file, so both runs test the same data. A mismatch
    with shared/ means the copy is stale: copy the file again and rewrite SHA256SUMS."""
    bundled = BUNDLED / relative
    assert _sha256(bundled) == _bundled_files()[relative], f"{bundled} differs from tests/data/SHA256SUMS"
    top, _, rest = relative.partition("/")  # fixtures/... lies under SHARED, datasets/... is SHARED_DATASETS
    shared = SHARED_DATASETS / rest if top == "datasets" else SHARED / relative
    if shared.is_file():
        assert _sha256(shared) == _sha256(bundled), f"{bundled} is a stale copy of {shared}"


def test_every_bundled_file_is_listed():
    listed = set(_bundled_files())
    present = {p.relative_to(BUNDLED).as_posix() for p in BUNDLED.rglob("*")
               if p.is_file() and p.name not in ("README.md", "SHA256SUMS")}
    assert present == listed


# --------------------------------------------------------------------------- synthetic edge cases
def test_too_few_normals_names_the_counts():
    X, y = synthetic(n_normal=60, n_anomaly=100)  # needs t + f + 1 = 50 + 45 + 1 normals
    with pytest.raises(ProtocolError, match=r"toy: 60 normals, the protocol needs at least 96"):
        split_benchmark(X, y, dataset="toy", sources={"other": synthetic(50, 10)})


def test_sources_must_include_another_dataset():
    X, y = synthetic(400, 100)
    with pytest.raises(ProtocolError, match="toy: no other dataset"):
        split_benchmark(X, y, dataset="toy", sources={"toy": (X, y)})


def test_sources_too_small_for_f_are_refused():
    X, y = synthetic(400, 100)  # f = 45
    with pytest.raises(ProtocolError, match=r"toy: the chosen sources \['tiny'\] give 30 rows, fewer than the f=45"):
        split_benchmark(X, y, dataset="toy", sources={"tiny": synthetic(25, 5)})


def test_fewer_sources_than_asked_uses_all_and_more_uses_n_sources():
    X, y = synthetic(400, 100)
    two = {"a": synthetic(300, 20, d=3, seed=1), "b": synthetic(300, 20, d=9, seed=2)}
    split = split_benchmark(X, y, dataset="toy", sources=two, n_sources=5)
    assert set(split.aux.loc[split.aux["kind"] == "unrealistic", "source_dataset"]) == {"a", "b"}
    many = {f"s{i}": synthetic(300, 20, d=3, seed=i) for i in range(8)}
    split = split_benchmark(X, y, dataset="toy", sources=many, n_sources=2)
    assert len(set(split.aux.loc[split.aux["kind"] == "unrealistic", "source_dataset"])) <= 2


def test_sources_are_subsampled_and_drawn_stratified():
    """Each source: all 100 anomalies (<= 125) and 150 normals (250 rows in all): 40 % anomalies;
    the f = 45 unrealistic rows keep that mix: round(0.4 * 45) = 18 anomalies."""
    X, y = synthetic(400, 100)
    sources = {f"s{i}": synthetic(900, 100, d=6, seed=i) for i in range(3)}
    split = split_benchmark(X, y, dataset="toy", sources=sources)
    unreal = split.aux[split.aux["kind"] == "unrealistic"]
    assert len(unreal) == 45 and int(unreal["source_label"].sum()) == 18


def test_aux_rows_are_stored_in_a_seeded_random_order_with_their_provenance():
    """Row order carries no meaning: the kinds interleave (a position-based tie-break would
    otherwise pick one kind), the order is fixed by the seed, and each row keeps its provenance."""
    X, y = synthetic(400, 100)                       # f = 45: 135 auxiliary rows
    sources = {"a": synthetic(300, 20, d=3, seed=1), "b": synthetic(300, 20, d=9, seed=2)}
    split = split_benchmark(X, y, dataset="toy", sources=sources, random_state=3)
    kinds = split.aux["kind"].to_numpy()
    assert kind_changes(kinds) > 45                  # a random order gives about 90
    for third in np.array_split(kinds, 3):           # every third of the table holds every kind
        assert set(third) == set(KINDS)
    assert split.aux.equals(split_benchmark(X, y, dataset="toy", sources=sources, random_state=3).aux)
    own = split.aux[split.aux["kind"] != "unrealistic"]
    rows = own["source_row"].to_numpy()
    np.testing.assert_allclose(own[feature_names(4)].to_numpy(), (X[rows] - split.mean_) / split.scale_)
    np.testing.assert_array_equal(own["source_label"].to_numpy(), y[rows])
    np.testing.assert_array_equal(own["kind"] == "realistic", y[rows] == 1)


def test_train_normals_are_capped():
    X, y = synthetic(3000, 100)
    split = split_benchmark(X, y, dataset="toy", sources={"o": synthetic(300, 20)}, max_train_normals=200)
    assert (split.y_train == 0).sum() == 200


def test_bad_parameters_name_themselves():
    X, y = synthetic(400, 100)
    with pytest.raises(ValueError, match="n_sources"):
        split_benchmark(X, y, dataset="toy", sources={"o": synthetic(300, 20)}, n_sources=0)
    with pytest.raises(ValueError, match="random_state"):
        split_benchmark(X, y, dataset="toy", sources={"o": synthetic(300, 20)}, random_state=-1)


def test_protocol_reexports_the_mapping():
    assert protocol.map_to_dimension is map_to_dimension


# --------------------------------------------------------------------------- step 6: the mapping
def test_mapping_keeps_a_source_of_the_right_dimension():
    X = np.random.default_rng(0).normal(size=(50, 7))
    np.testing.assert_array_equal(map_to_dimension(X, 7), X)


def test_mapping_uses_pca_when_rows_and_features_exceed_d():
    X = np.random.default_rng(0).normal(size=(200, 30))
    mapped = map_to_dimension(X, 5)
    np.testing.assert_allclose(mapped, PCA(5, svd_solver="full").fit_transform(X))


def test_mapping_concatenates_features_pca_agglomeration_projection():
    """p=2 features to d=10: 2 originals + 2 PCA components + 1 agglomerated + 5 projected."""
    X = np.random.default_rng(0).normal(size=(100, 2)) * [1.0, 3.0]
    mapped = map_to_dimension(X, 10, random_state=3)
    assert mapped.shape == (100, 10)
    np.testing.assert_array_equal(mapped[:, :2], X)
    np.testing.assert_allclose(mapped[:, 2:4], PCA(2, svd_solver="full").fit_transform(X))
    np.testing.assert_allclose(mapped[:, 4], X.mean(axis=1))  # one cluster of both features
    assert np.linalg.matrix_rank(mapped[:, 5:]) == 2          # a projection of 2 features
    np.testing.assert_array_equal(mapped, map_to_dimension(X, 10, random_state=3))
    assert not np.array_equal(mapped, map_to_dimension(X, 10, random_state=4))


def test_mapping_with_few_rows_cuts_the_original_features():
    X = np.random.default_rng(0).normal(size=(20, 40))  # min(rows, features) = 20 <= d = 30
    np.testing.assert_array_equal(map_to_dimension(X, 30), X[:, :30])


@pytest.mark.parametrize(("X", "d", "match"), [
    (np.ones((1, 3)), 5, "at least 2 rows"),
    (np.ones((10, 3)), 0, "d must be a positive integer"),
    (np.ones((10, 3)), 2.5, "d must be a positive integer"),
])
def test_mapping_refuses_what_it_cannot_map(X, d, match):
    with pytest.raises(ValueError, match=match):
        map_to_dimension(X, d)
