"""``auxqual score`` end to end on real files: formats, output, errors, atomicity."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from auxqual.cli import main
from auxqual.quality import EAP
from tests.conftest import load_eap_fixture


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    case = load_eap_fixture("pima")
    root = tmp_path_factory.mktemp("score")
    np.savez(root / "train.npz", X=case["X_train"], y=case["y_train"])
    aux = pd.DataFrame(case["X_aux"][:60], columns=[f"x{j}" for j in range(case["X_aux"].shape[1])])
    aux.to_csv(root / "aux.csv", index=False)
    aux.to_parquet(root / "aux.parquet")
    train = pd.DataFrame(case["X_train"], columns=[f"x{j}" for j in range(case["X_train"].shape[1])])
    train["y"] = case["y_train"]
    train.to_csv(root / "train.csv", index=False)
    return case, root


def test_eap_from_the_command_line_equals_the_library(files):
    case, root = files
    out = root / "eap.parquet"
    code = main(["score", "--train", str(root / "train.npz"), "--aux", str(root / "aux.csv"),
                 "--method", "eap", "--out", str(out), "--param", "n_subsets=5", "--quiet"])
    assert code == 0
    frame = pd.read_parquet(out)
    assert list(frame.columns) == ["row", "score", "score_std", "method"]
    expected = EAP(n_subsets=5).fit(case["X_train"], case["y_train"]).score_samples(case["X_aux"][:60],
                                                                                    return_details=True)
    np.testing.assert_allclose(frame["score"], expected.score, atol=1e-12)
    np.testing.assert_allclose(frame["score_std"], expected.score_std, atol=1e-12)
    np.testing.assert_array_equal(frame["row"], np.arange(60))


def test_csv_and_parquet_inputs_and_a_method_without_spread(files):
    _, root = files
    out = root / "rarity.parquet"
    assert main(["score", "--train", str(root / "train.csv"), "--aux", str(root / "aux.parquet"),
                 "--method", "rarity", "--out", str(out)]) == 0
    frame = pd.read_parquet(out)
    assert "score_std" not in frame.columns and len(frame) == 60


@pytest.mark.parametrize(("aux_name", "expected"), [("missing.csv", "missing.csv: file not found"),
                                                ("wrong_width.csv", "an .npz whose columns have only positions")])
def test_bad_input_exits_2_naming_the_file_and_writes_nothing(files, aux_name, expected, capsys):
    _, root = files
    pd.DataFrame(np.ones((4, 3)), columns=["a", "b", "c"]).to_csv(root / "wrong_width.csv", index=False)
    out = root / f"never-{aux_name}.parquet"
    code = main(["score", "--train", str(root / "train.npz"), "--aux", str(root / aux_name),
                 "--out", str(out), "--quiet"])
    assert code == 2
    assert expected in capsys.readouterr().err
    assert not out.exists() and not list(root.glob(f".{out.name}*"))


def test_empty_file_and_missing_label_column_are_named(files, capsys):
    _, root = files
    (root / "empty.csv").write_text("")
    pd.DataFrame(np.ones((10, 8))).to_csv(root / "nolabel.csv", index=False)
    assert main(["score", "--train", str(root / "nolabel.csv"), "--aux", str(root / "aux.csv"),
                 "--out", str(root / "x.parquet")]) == 2
    assert "missing label column 'y'" in capsys.readouterr().err
    assert main(["score", "--train", str(root / "train.npz"), "--aux", str(root / "empty.csv"),
                 "--out", str(root / "x.parquet")]) == 2
    assert "empty.csv: file is empty" in capsys.readouterr().err


def test_console_script_help_lists_the_methods():
    result = subprocess.run([sys.executable, "-m", "auxqual", "score", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for name in ("eap", "rarity", "density", "probability", "density_probability"):
        assert name in result.stdout


# ------------------------------------------------------------------ the CLI never destroys or misreads data
@pytest.fixture
def small(tmp_path):
    """A small named training set (columns on very different scales) and an auxiliary set."""
    rng = np.random.default_rng(7)
    scale = np.array([1.0, 30.0, 0.05])
    X = np.vstack([rng.normal(size=(80, 3)), rng.normal(2.0, 1.0, size=(8, 3))]) * scale
    train = pd.DataFrame(X, columns=["a", "b", "c"]).assign(y=np.r_[np.zeros(80, int), np.ones(8, int)])
    train.to_parquet(tmp_path / "train.parquet")
    aux = pd.DataFrame(rng.normal(1.0, 1.5, size=(25, 3)) * scale, columns=["a", "b", "c"])
    aux.to_parquet(tmp_path / "aux.parquet")
    return tmp_path, aux


def score(root, aux, out, *extra):
    return main(["score", "--train", str(root / "train.parquet"), "--aux", str(aux), "--out", str(out),
                 "--method", "rarity", "--param", "k=5", *map(str, extra)])


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("auxqual: error: "), err
    return err


@pytest.mark.parametrize("option", ["--aux", "--train"])
def test_out_equal_to_an_input_is_refused_and_the_input_is_untouched(small, option, capsys, monkeypatch):
    root, _ = small
    monkeypatch.chdir(root)
    target = "aux.parquet" if option == "--aux" else "train.parquet"
    before = (root / target).read_bytes()
    assert score(root, root / "aux.parquet", f"./{target}") == 2  # a different spelling of the same file
    err = one_error_line(capsys)
    assert f"is the input {option}" in err and target in err
    assert (root / target).read_bytes() == before


def test_reordered_columns_give_the_same_scores(small):
    root, aux = small
    aux[["c", "a", "b"]].to_csv(root / "reordered.csv", index=False)
    assert score(root, root / "aux.parquet", root / "in_order.parquet") == 0
    assert score(root, root / "reordered.csv", root / "reordered.parquet") == 0
    expected = pd.read_parquet(root / "in_order.parquet")["score"]
    np.testing.assert_array_equal(pd.read_parquet(root / "reordered.parquet")["score"], expected)
    np.savez(root / "aux.npz", X=aux.to_numpy())  # no names: matched by position when asked
    assert score(root, root / "aux.npz", root / "npz.parquet", "--match-by-position") == 0
    np.testing.assert_array_equal(pd.read_parquet(root / "npz.parquet")["score"], expected)


def test_missing_and_extra_column_names_are_named(small, capsys):
    root, aux = small
    aux.rename(columns={"b": "B"}).assign(d=1.0).to_parquet(root / "renamed.parquet")
    assert score(root, root / "renamed.parquet", root / "never.parquet") == 2
    err = one_error_line(capsys)
    assert "missing ['b']" in err and "extra ['B', 'd']" in err
    assert not (root / "never.parquet").exists()


def test_a_text_column_is_a_feature_and_its_first_bad_cell_is_named(small, capsys):
    root, aux = small
    aux.assign(label="far", source="gen").to_csv(root / "aux.csv", index=False)
    assert score(root, root / "aux.csv", root / "out.parquet") == 2
    err = one_error_line(capsys)
    assert "aux.csv: row 0, column 'label': 'far' is not a number" in err and "line 2 of the file" in err
    assert not (root / "out.parquet").exists()


@pytest.mark.parametrize("which", ["aux", "train"])
def test_values_too_large_to_score_are_refused(small, which, capsys):
    root, aux = small
    if which == "aux":
        (aux * 1e300).to_parquet(root / "aux.parquet")
    else:
        train = pd.read_parquet(root / "train.parquet")
        train.loc[:, ["a", "b", "c"]] *= 1e300
        train.to_parquet(root / "train.parquet")
    assert score(root, root / "aux.parquet", root / "out.parquet") == 2
    err = one_error_line(capsys)
    assert f"{which}.parquet: " in err and "overflow" in err
    assert not (root / "out.parquet").exists()


def test_non_finite_scores_are_never_written(small, capsys, monkeypatch):
    from auxqual.quality.ablations import RarityScore

    root, _ = small
    real = RarityScore.score_samples
    monkeypatch.setattr(RarityScore, "score_samples",  # a scorer whose arithmetic broke down on two rows
                        lambda self, X: np.where(np.arange(len(X)) % 10 == 3, np.nan, real(self, X)))
    assert score(root, root / "aux.parquet", root / "out.parquet") == 2
    err = one_error_line(capsys)
    assert "3 of 25 score(s) are NaN or infinite (first at row 3)" in err
    assert not (root / "out.parquet").exists()


@pytest.mark.parametrize(("param", "expected"), [("n_subsets=abc", "--param n_subsets=abc: eap expects a number"),
                                             ("n_subsets=2.5", "a parameter has the wrong type")])
def test_a_parameter_of_the_wrong_type_is_one_line(small, param, expected, capsys):
    root, _ = small
    code = main(["score", "--train", str(root / "train.parquet"), "--aux", str(root / "aux.parquet"),
                 "--out", str(root / "out.parquet"), "--param", "n_subsets=3", "--param", param, "--quiet"])
    assert code == 2 and expected in one_error_line(capsys)
    assert not (root / "out.parquet").exists()


@pytest.mark.parametrize(("out", "expected"), [("folder.parquet", "is a folder"),
                                           ("a_file/out.parquet", "a_file is a file, not a folder"),
                                           ("/proc/auxqual-test/out.parquet", "/proc/auxqual-test")])
def test_an_output_that_cannot_be_written_is_one_line_exit_2(small, out, expected, capsys, monkeypatch):
    root, _ = small
    if out.startswith("/proc") and not os.path.isdir("/proc/self"):
        pytest.skip("needs Linux /proc (a folder no one can write in, even root)")
    monkeypatch.chdir(root)
    (root / "folder.parquet").mkdir()
    (root / "a_file").write_text("")
    assert score(root, root / "aux.parquet", out) == 2
    assert expected in one_error_line(capsys)
    assert (root / "folder.parquet").is_dir() and (root / "a_file").read_text() == ""


@pytest.mark.parametrize(("extra", "expected"), [(("--param", "n_subsets=abc"), "n_subsets=abc"),
                                             (("--method", "rarity", "--out", "/proc/out.parquet"),
                                              "/proc/out.parquet")])
def test_failures_of_the_real_command_are_one_line_without_traceback(small, extra, expected):
    root, _ = small
    if "/proc/out.parquet" in extra and not os.path.isdir("/proc/self"):
        pytest.skip("needs Linux /proc (a folder no one can write in, even root)")
    result = subprocess.run([sys.executable, "-m", "auxqual", "score", "--train", "train.parquet",
                             "--aux", "aux.parquet", "--out", "out.parquet", "--quiet", *extra],
                            cwd=root, capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and expected in result.stderr
    assert not (root / "out.parquet").exists()
