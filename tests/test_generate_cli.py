"""``auxqual generate``: parse real arguments, run, read the Parquet it wrote."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from auxqual.cli.generate import add_parser, parse_params
from auxqual.generators import GENERATOR_NAMES
from auxqual.io import feature_names


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="auxqual")
    add_parser(root.add_subparsers(dest="command"))
    return root


def invoke(*argv: str) -> int:
    args = parser().parse_args(["generate", *map(str, argv)])
    return args.func(args)


@pytest.fixture
def train_file(tmp_path):
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(300, 4)), rng.normal(2.5, 0.7, size=(8, 4))])
    y = np.r_[np.zeros(300, int), np.ones(8, int)]
    path = tmp_path / "train.npz"
    np.savez(path, X=X, y=y)
    return path


def other_file(tmp_path, name: str, d: int, seed: int):
    rng = np.random.default_rng(seed)
    path = tmp_path / f"{name}.npz"
    np.savez(path, X=rng.normal(5.0, 2.0, size=(200, d)), y=(rng.random(200) < 0.3).astype(int))
    return path


def test_help_lists_every_generator(capsys):
    with pytest.raises(SystemExit) as exit_info:
        parser().parse_args(["generate", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert all(name in text for name in GENERATOR_NAMES)


def test_generate_writes_parquet_with_provenance(tmp_path, train_file):
    out = tmp_path / "out" / "local.parquet"
    assert invoke("--generator", "local", "--data", train_file, "--n", 250, "--out", out,
                  "--seed", 3, "--param", "alpha=2", "--param", "covariance_type=diag") == 0
    frame = pd.read_parquet(out)
    assert frame.shape == (250, 4 + 5) and list(frame.columns[:4]) == feature_names(4)
    assert (frame["generator"] == "local").all() and (frame["seed"] == 3).all()
    params = json.loads(frame["generator_params"].iloc[0])
    assert params["alpha"] == 2 and params["covariance_type"] == "diag"
    assert not list(out.parent.glob(".*.tmp"))  # the atomic write left no temporary file


def test_same_seed_same_file(tmp_path, train_file):
    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    for out in (first, second):
        invoke("--generator", "smote", "--data", train_file, "--n", 100, "--out", out, "--seed", 1)
    assert first.read_bytes() == second.read_bytes()
    assert (pd.read_parquet(first)["source_row_2"] >= 300).all()  # ends are labelled anomalies


def test_csv_data_without_labels_means_all_normal(tmp_path):
    rng = np.random.default_rng(1)
    data = pd.DataFrame(rng.normal(size=(120, 3)), columns=["a", "b", "c"])
    data.to_csv(tmp_path / "normals.csv", index=False)
    out = tmp_path / "noise.parquet"
    invoke("--generator", "noise", "--data", tmp_path / "normals.csv", "--n", 40, "--out", out)
    frame = pd.read_parquet(out)
    assert len(frame) == 40 and frame["source_row"].between(0, 119).all()


def test_outlier_exposure_takes_its_source(tmp_path, train_file):
    source = other_file(tmp_path, "wide", d=9, seed=2)
    out = tmp_path / "oe.parquet"
    invoke("--generator", "outlier_exposure", "--data", train_file, "--n", 60, "--out", out,
           "--source", source)
    frame = pd.read_parquet(out)
    assert list(frame.columns[:4]) == feature_names(4) and "x4" not in frame.columns
    assert (frame["source_dataset"] == "wide").all()
    assert json.loads(frame["generator_params"].iloc[0])["source_path"] == str(source)


def test_benchmark_mixture_takes_the_full_dataset_and_sources(tmp_path):
    rng = np.random.default_rng(4)
    data = tmp_path / "toy.npz"
    np.savez(data, X=np.vstack([rng.normal(size=(400, 4)), rng.normal(2.0, 1.0, size=(100, 4))]),
             y=np.r_[np.zeros(400, int), np.ones(100, int)])
    sources = [other_file(tmp_path, "a", 6, 1), other_file(tmp_path, "b", 2, 2)]
    out = tmp_path / "bench.parquet"
    invoke("--generator", "benchmark_mixture", "--data", data, "--out", out,
           "--source", sources[0], "--source", sources[1])
    frame = pd.read_parquet(out)
    assert frame["kind"].value_counts().to_dict() == {"realistic": 45, "indistinguishable": 45, "unrealistic": 45}
    assert set(frame["source_dataset"]) <= {"toy", "a", "b"}
    assert json.loads(frame["generator_params"].iloc[0])["dataset"] == "toy"


def test_param_values_are_json_or_text():
    assert parse_params(["alpha=5", "p=0.25", "kind=borderline-2", "flag=true", "name="]) == {
        "alpha": 5, "p": 0.25, "kind": "borderline-2", "flag": True, "name": ""}
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        parse_params(["alpha"])


@pytest.mark.parametrize(("extra", "match"), [
    ((), "--n is required for generator 'uniform'"),
    (("--n", "0"), "n_samples must be a positive integer, got 0"),
    (("--n", "5", "--param", "q=1"), r"unknown parameter\(s\) \['q'\]"),
    (("--n", "5", "--param", "p=-1"), "p must be"),
    (("--n", "5", "--source", "x.npz"), "--source is only for"),
])
def test_errors_are_value_errors(tmp_path, train_file, extra, match):
    with pytest.raises(ValueError, match=match):
        invoke("--generator", "uniform", "--data", train_file, "--out", tmp_path / "o.parquet", *extra)
    assert not (tmp_path / "o.parquet").exists()


def test_missing_data_file_and_sources_are_named(tmp_path, train_file):
    with pytest.raises(ValueError, match=r"missing\.npz: file not found"):
        invoke("--generator", "uniform", "--data", tmp_path / "missing.npz", "--n", 5, "--out", tmp_path / "o.parquet")
    with pytest.raises(ValueError, match="exactly one --source"):
        invoke("--generator", "outlier_exposure", "--data", train_file, "--n", 5, "--out", tmp_path / "o.parquet")
    with pytest.raises(ValueError, match="give the other datasets with --source"):
        invoke("--generator", "benchmark_mixture", "--data", train_file, "--out", tmp_path / "o.parquet")


def test_unknown_generator_is_an_argparse_error(tmp_path, train_file, capsys):
    with pytest.raises(SystemExit) as exit_info:
        invoke("--generator", "gan", "--data", train_file, "--n", 5, "--out", tmp_path / "o.parquet")
    assert exit_info.value.code == 2 and "invalid choice: 'gan'" in capsys.readouterr().err


# ------------------------------------------------------------------ the CLI never destroys or misreads data
def run_main(*argv) -> int:
    from auxqual.cli import main

    return main(["generate", *map(str, argv)])


@pytest.mark.parametrize("which", ["--data", "--source"])
def test_out_equal_to_an_input_is_refused_and_the_input_is_untouched(tmp_path, train_file, which, capsys):
    with np.load(train_file) as arrays:
        data = pd.DataFrame(arrays["X"], columns=feature_names(4)).assign(y=arrays["y"])
    data.to_csv(tmp_path / "train.csv", index=False)
    with np.load(other_file(tmp_path, "wide", d=9, seed=2)) as arrays:
        pd.DataFrame(arrays["X"], columns=feature_names(9)).assign(y=arrays["y"]).to_parquet(tmp_path / "wide.parquet")
    target = tmp_path / ("train.csv" if which == "--data" else "wide.parquet")
    before = target.read_bytes()
    assert run_main("--generator", "outlier_exposure", "--data", tmp_path / "train.csv",
                    "--source", tmp_path / "wide.parquet", "--n", 10, "--out", target) == 2
    err = capsys.readouterr().err
    assert f"is the input {which} {target}" in err and err.count("\n") == 1
    assert target.read_bytes() == before


def test_out_csv_writes_csv_with_the_same_rows_as_parquet(tmp_path, train_file):
    for out in (tmp_path / "g.csv", tmp_path / "g.parquet"):
        assert run_main("--generator", "local", "--data", train_file, "--n", 30, "--out", out, "--seed", 4) == 0
    assert not (tmp_path / "g.csv").read_bytes().startswith(b"PAR1")
    from_csv, from_parquet = pd.read_csv(tmp_path / "g.csv"), pd.read_parquet(tmp_path / "g.parquet")
    assert list(from_csv.columns) == list(from_parquet.columns)
    columns = [*feature_names(4), "generator", "seed"]
    pd.testing.assert_frame_equal(from_csv[columns], from_parquet[columns], check_dtype=False, check_exact=True)


@pytest.mark.parametrize(("out", "expected"), [("g.txt", "expected a path ending in .parquet or .csv"),
                                           ("folder.parquet", "is a folder"),
                                           ("a_file/g.parquet", "is a file, not a folder")])
def test_an_output_that_cannot_be_written_is_refused_first(tmp_path, train_file, out, expected, capsys):
    (tmp_path / "folder.parquet").mkdir()
    (tmp_path / "a_file").write_text("")
    assert run_main("--generator", "uniform", "--data", train_file, "--n", 5, "--out", tmp_path / out) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1
    assert not (tmp_path / "g.txt").exists()


def test_more_rows_than_memory_is_one_line_exit_2(tmp_path, train_file):
    result = subprocess.run([sys.executable, "-m", "auxqual", "generate", "--generator", "uniform",
                             "--data", str(train_file), "--n", "100000000000", "--out", str(tmp_path / "g.parquet")],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and "--n 100000000000" in result.stderr
    assert not (tmp_path / "g.parquet").exists()
