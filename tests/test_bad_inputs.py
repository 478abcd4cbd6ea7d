"""Bad input at every door (issue #27, part 3): the probe findings, each through the real CLI
(``auxqual.cli.main`` or ``python -m auxqual``) and through the library, which share one
validation path (``auxqual.io.read_table``). A refusal is exit code 2 and one line naming the
file, row and column; nothing is written, no traceback, no talk of pickles."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from auxqual import io, lineage
from auxqual.cli import main
from auxqual.userdata import load_user_table


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("auxqual: error: "), err
    assert "Traceback" not in err and "pickle" not in err.lower(), err
    return err


@pytest.fixture
def named(tmp_path):
    """A training table and an auxiliary set whose columns follow no name pattern."""
    rng = np.random.default_rng(3)
    columns = ["x1", "x2", "age", "bmi"]
    X = np.vstack([rng.normal(size=(60, 4)), rng.normal(2.0, 1.0, size=(6, 4))])
    train = pd.DataFrame(X, columns=columns).assign(y=np.r_[np.zeros(60, int), np.ones(6, int)])
    aux = pd.DataFrame(rng.normal(1.0, 1.5, size=(20, 4)), columns=columns)
    train.to_csv(tmp_path / "train.csv", index=False)
    aux.to_csv(tmp_path / "aux.csv", index=False)
    return tmp_path, train, aux


def score(root, train, aux, out="out.parquet", *extra):
    return main(["score", "--train", str(root / train), "--aux", str(root / aux), "--out", str(root / out),
                 "--method", "rarity", "--param", "k=3", "--quiet", *extra])


# ------------------------------------------------------------------ 1. every column but y is a feature
def test_every_column_except_the_label_is_a_feature(named, capsys):
    root, _, aux = named
    assert io.read_table(root / "train.csv", role="train").columns == ["x1", "x2", "age", "bmi"]
    aux.drop(columns="age").to_csv(root / "no_age.csv", index=False)
    assert score(root, "train.csv", "no_age.csv") == 2  # 'age' is a feature: its absence is an error
    assert "missing ['age']" in one_error_line(capsys)
    assert score(root, "train.csv", "aux.csv") == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("where", ["both", "aux"])
def test_a_text_cell_is_an_error_naming_file_row_and_column(named, where, capsys):
    root, train, aux = named
    aux = aux.astype({"bmi": object})
    aux.loc[4, "bmi"] = "n/a?"
    aux.to_csv(root / "aux.csv", index=False)
    if where == "both":
        train = train.astype({"bmi": object})
        train.loc[7, "bmi"] = "n/a?"
        train.to_csv(root / "train.csv", index=False)
    bad, row = ("train.csv", 7) if where == "both" else ("aux.csv", 4)
    assert score(root, "train.csv", "aux.csv") == 2
    err = one_error_line(capsys)
    assert f"{bad}: row {row}" in err and "column 'bmi'" in err and "'n/a?' is not a number" in err
    assert "missing" not in err and not (root / "out.parquet").exists()
    with pytest.raises(ValueError, match="is not a number") as library:  # the library and the project's loader
        io.read_table(root / bad, role="train" if bad == "train.csv" else "aux")
    with pytest.raises(ValueError, match="is not a number") as project:
        load_user_table(root / bad, role="train" if bad == "train.csv" else "aux")
    assert str(library.value) == str(project.value) and str(library.value) in err


def test_nan_and_inf_are_named_with_row_and_column(named, capsys):
    root, _, aux = named
    aux.loc[2, "age"] = np.inf
    aux.to_parquet(root / "inf.parquet")
    assert score(root, "train.csv", "inf.parquet") == 2
    assert "inf.parquet: 1 NaN or inf value(s), first at row 2, column 'age'" in one_error_line(capsys)


# ------------------------------------------------------------------ 2. positional .npz against named columns
def test_an_npz_is_not_matched_by_position_against_named_columns_unless_asked(named, capsys):
    root, train, aux = named
    np.savez(root / "train.npz", X=train.drop(columns="y").to_numpy(), y=train["y"].to_numpy())
    aux[aux.columns[::-1]].to_csv(root / "aux_rev.csv", index=False)
    assert score(root, "train.npz", "aux_rev.csv") == 2
    err = one_error_line(capsys)
    assert "aux_rev.csv" in err and "train.npz" in err and "--match-by-position" in err
    assert not (root / "out.parquet").exists()
    assert score(root, "train.npz", "aux.csv", "out.parquet", "--match-by-position") == 0
    with pytest.raises(ValueError, match="match_by_position"):
        io.align_columns(io.read_table(root / "train.npz", role="train"), io.read_table(root / "aux_rev.csv",
                                                                                       role="aux"))


def test_all_equal_scores_are_warned_about_on_one_line(named, capsys):
    root, _, aux = named
    pd.DataFrame([aux.iloc[0].to_numpy()] * 10, columns=aux.columns).to_csv(root / "same.csv", index=False)
    assert score(root, "train.csv", "same.csv") == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("auxqual: warning: ") and "all 10 scores are equal" in err


# ------------------------------------------------------------------ 3. generate keeps the training names
@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_a_generated_set_can_be_scored_against_its_own_training_file(named, suffix, capsys):
    root, _, _ = named
    out = root / f"g{suffix}"
    assert main(["generate", "--generator", "local", "--data", str(root / "train.csv"), "--n", "30",
                 "--out", str(out)]) == 0
    frame = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out)
    assert list(frame.columns[:4]) == ["x1", "x2", "age", "bmi"]
    assert io.read_table(out, role="aux").columns == ["x1", "x2", "age", "bmi"]
    capsys.readouterr()
    assert score(root, "train.csv", f"g{suffix}") == 0
    assert len(pd.read_parquet(root / "out.parquet")) == 30


def test_a_training_column_named_like_a_provenance_column_is_refused(named, capsys):
    root, train, _ = named
    train.rename(columns={"age": "seed"}).to_csv(root / "seed.csv", index=False)
    assert main(["generate", "--generator", "local", "--data", str(root / "seed.csv"), "--n", "5",
                 "--out", str(root / "g.parquet")]) == 2
    assert "'seed'" in one_error_line(capsys) and not (root / "g.parquet").exists()


# ------------------------------------------------------------------ 4. damaged .npz files
def _truncated(root):
    np.savez(root / "t.npz", X=np.ones((200, 4)), y=np.zeros(200))
    data = (root / "t.npz").read_bytes()
    (root / "t.npz").write_bytes(data[: len(data) // 2])


def _not_zip(root):
    (root / "t.npz").write_text("x0,x1\n1,2\n")


def _objects(root):
    np.savez(root / "t.npz", X=np.array([[1, "a"], [2, "b"]], dtype=object), y=np.zeros(2))


@pytest.mark.parametrize("make", [_truncated, _not_zip, _objects])
def test_a_damaged_npz_is_one_line_naming_the_file(named, make, capsys):
    root, _, _ = named
    make(root)
    assert score(root, "t.npz", "aux.csv") == 2
    err = one_error_line(capsys)
    assert "t.npz: " in err and not (root / "out.parquet").exists()
    with pytest.raises(ValueError, match=r"t\.npz: "):
        io.load_dataset(root / "t.npz")


def test_a_truncated_npz_through_the_real_command_has_no_traceback(named):
    root, _, _ = named
    _truncated(root)
    result = subprocess.run([sys.executable, "-m", "auxqual", "score", "--train", "t.npz", "--aux", "aux.csv",
                             "--out", "out.parquet", "--quiet"], cwd=root, capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and "t.npz" in result.stderr
    assert not (root / "out.parquet").exists()


# ------------------------------------------------------------------ 6. files from someone else
def _lineage_table(root, train_path: str) -> pd.DataFrame:
    (root / "m.joblib").write_bytes(b"model")
    record = lineage.LineageRecord(model_path="m.joblib", created_by={"stage": "train", "detector": "iforest"},
                                   inputs=[{"role": "train", "path": train_path, "sha256": "0" * 64}])
    lineage.write_sidecar(root / "m.joblib", record)
    return lineage.collect_lineage(root)


def test_lineage_verify_refuses_a_path_outside_the_root(tmp_path, capsys):
    repo = tmp_path / "repo"
    repo.mkdir()
    table = _lineage_table(repo, "../../../etc/passwd")
    with pytest.raises(ValueError, match=r"\.\./\.\./\.\./etc/passwd.*outside"):
        lineage.verify(table, repo)
    table.to_parquet(tmp_path / "crafted.parquet")
    code = main(["lineage", "--table", str(tmp_path / "crafted.parquet"), "--root", str(repo), "--verify"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "etc/passwd" in err and "outside" in err


def test_lineage_verify_covers_the_scores_files(tmp_path):
    (tmp_path / "aux.parquet").write_bytes(b"aux")
    (tmp_path / "scores.parquet").write_bytes(b"scores")
    (tmp_path / "m.joblib").write_bytes(b"model")
    digest = lineage.sha256_file
    record = lineage.LineageRecord(
        model_path="m.joblib", created_by={"stage": "train", "detector": "iforest"},
        inputs=[{"role": "auxiliary", "path": "aux.parquet", "sha256": digest(tmp_path / "aux.parquet"),
                 "score": "eap", "q": 20, "selected_rows_sha256": "1" * 64, "scores_path": "scores.parquet",
                 "scores_sha256": digest(tmp_path / "scores.parquet")}])
    lineage.write_sidecar(tmp_path / "m.joblib", record)
    table = lineage.collect_lineage(tmp_path)
    report = lineage.verify(table, tmp_path)
    assert report.set_index("role").loc["scores", "status"] == "ok"
    (tmp_path / "scores.parquet").write_bytes(b"other scores")
    report = lineage.verify(table, tmp_path)
    assert report.set_index("role").loc["scores", "status"] == "changed"


def test_a_joblib_model_is_loaded_only_when_its_sidecar_vouches_for_it(tmp_path):
    from auxqual.detectors.registry import load_detector, make_detector, save_detector

    rng = np.random.default_rng(0)
    model = make_detector("iforest", n_estimators=5).fit(rng.normal(size=(40, 2)), np.zeros(40, int))
    path = save_detector(model, tmp_path / "m")
    with pytest.raises(ValueError, match=r"m\.joblib: no lineage sidecar"):
        load_detector(path)
    assert type(load_detector(path, trusted=True)) is type(model)
    record = lineage.LineageRecord(model_path="m.joblib", created_by={"stage": "train", "detector": "iforest"},
                                   inputs=[])
    lineage.write_sidecar(path, record)
    assert type(load_detector(path)) is type(model)
    path.write_bytes(path.read_bytes() + b"\0")  # changed after its record was written
    with pytest.raises(ValueError, match=r"m\.joblib: sha256 .* does not match its lineage sidecar"):
        load_detector(path)


# ------------------------------------------------------------------ 8. smaller
def test_nan_in_select_scores_is_an_error_not_weight_zero(named, capsys):
    root, _, aux = named
    pd.DataFrame({"row": range(len(aux)), "eap": np.r_[np.nan, np.ones(len(aux) - 1)]}).to_parquet(
        root / "scores.parquet")
    (root / "candidates.json").write_text(json.dumps({"f": {"detector": "iforest", "params": {}}}))
    code = main(["select", "--train", str(root / "train.csv"), "--aux", str(root / "aux.csv"),
                 "--scores", str(root / "scores.parquet"), "--candidates", str(root / "candidates.json"),
                 "--out", str(root / "sel.parquet")])
    assert code == 2
    err = one_error_line(capsys)
    assert "scores.parquet: row 0, column 'eap'" in err and not (root / "sel.parquet").exists()


def test_sha256_file_is_the_sha256_of_the_bytes(tmp_path):
    (tmp_path / "f").write_bytes(b"abc" * 100_000)
    assert io.sha256_file(tmp_path / "f") == hashlib.sha256(b"abc" * 100_000).hexdigest()


def test_a_damaged_archive_that_escapes_a_loader_is_still_one_line(monkeypatch, capsys):
    import zipfile

    from auxqual.cli import lineage as lineage_command

    def damaged(args):
        raise zipfile.BadZipFile("File is not a zip file")

    monkeypatch.setattr(lineage_command, "run", damaged)  # the safety net of `auxqual.cli.main`, not a loader
    assert main(["lineage"]) == 2
    assert "File is not a zip file" in one_error_line(capsys)
