"""``auxqual score`` end to end on real files: formats, output, errors, atomicity."""

from __future__ import annotations

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
    train = pd.DataFrame(case["X_train"], columns=[f"f{j}" for j in range(case["X_train"].shape[1])])
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


@pytest.mark.parametrize("aux_name, expected", [("missing.csv", "missing.csv: file not found"),
                                                ("wrong_width.csv", "has 3 features but")])
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
