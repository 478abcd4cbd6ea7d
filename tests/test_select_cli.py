"""``auxqual select`` end to end on real files: the choice, the output table, bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from auxqual.cli import main

CANDIDATES = {"knn3": {"detector": "pyod_stack", "params": {"n_neighbors": 3, "n_estimators": 20}},
              "forest": {"detector": "iforest", "params": {"n_estimators": 20}}}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Normals N(0, I) in 3-D and anomalies shifted along x0 (train: 6 labelled; test: 40);
    auxiliary set: 20 real-like rows and 20 rows of noise, with a score that ranks the
    real-like ones first (``good``) and one that ranks the noise first (``bad``)."""
    rng = np.random.default_rng(1)
    root = tmp_path_factory.mktemp("select")
    shift = np.array([3.0, 0.0, 0.0])
    X_train = np.vstack([rng.normal(size=(100, 3)), rng.normal(size=(6, 3)) + shift])
    y_train = np.r_[np.zeros(100), np.ones(6)].astype(int)
    np.savez(root / "train.npz", X=X_train, y=y_train)
    test = pd.DataFrame(np.vstack([rng.normal(size=(40, 3)), rng.normal(size=(40, 3)) + shift]),
                        columns=["x0", "x1", "x2"])
    test["y"] = np.r_[np.zeros(40), np.ones(40)].astype(int)
    test.to_parquet(root / "test.parquet")
    aux = pd.DataFrame(np.vstack([rng.normal(size=(20, 3)) + shift, rng.uniform(-6, 6, size=(20, 3))]),
                       columns=["x0", "x1", "x2"])
    aux.to_csv(root / "aux.csv", index=False)
    real = np.r_[np.ones(20), np.zeros(20)]
    scores = pd.DataFrame({"row": np.arange(40), "good": real + rng.uniform(0, 0.1, 40),
                           "good_std": 0.1, "bad": 1 - real, "method": "made-up"})
    scores.iloc[::-1].to_parquet(root / "scores.parquet")          # rows in another order: 'row' orders them
    (root / "candidates.yaml").write_text(yaml.safe_dump(CANDIDATES, sort_keys=False))
    (root / "candidates.json").write_text(json.dumps(CANDIDATES))
    (root / "reversed.json").write_text(json.dumps(dict(reversed(CANDIDATES.items()))))
    return root


def _args(root, out, *extra):
    return ["select", "--train", str(root / "train.npz"), "--aux", str(root / "aux.csv"),
            "--scores", str(root / "scores.parquet"), "--candidates", str(root / "candidates.yaml"),
            "--out", str(out), *extra]


def test_select_writes_one_row_per_score_and_candidate_and_is_deterministic(files, capsys):
    out = files / "selection.parquet"
    assert main(_args(files, out, "--test", str(files / "test.parquet"))) == 0
    table = pd.read_parquet(out)
    assert list(table.columns) == ["score", "candidate", "val_auroc", "test_auroc", "chosen", "oracle", "regret"]
    assert table["score"].tolist() == ["good"] * 2 + ["bad"] * 2 + ["uniform"] * 2 + ["labelled"] * 2
    assert (table.groupby("score")["chosen"].sum() == 1).all() and table["test_auroc"].between(0, 1).all()
    printed = capsys.readouterr().out
    assert "good: chosen" in printed and "regret" in printed
    first = out.read_bytes()
    json_out = files / "selection-json.parquet"
    args = _args(files, json_out, "--test", str(files / "test.parquet"))
    args[args.index("--candidates") + 1] = str(files / "candidates.json")
    assert main(args) == 0
    assert json_out.read_bytes() == first                          # same inputs, YAML or JSON: the same bytes
    args[args.index("--candidates") + 1] = str(files / "reversed.json")
    assert main(args) == 0                                          # the order of the candidates decides nothing
    reordered = pd.read_parquet(json_out)
    chosen = table[table["chosen"]].set_index("score")["candidate"]
    assert reordered[reordered["chosen"]].set_index("score")["candidate"].reindex(chosen.index).equals(chosen)


def test_a_column_choice_and_no_test_set(files):
    out = files / "good-only.parquet"
    assert main(_args(files, out, "--column", "good", "--weighting", "rank")) == 0
    table = pd.read_parquet(out)
    assert set(table["score"]) == {"good", "uniform", "labelled"} and table["test_auroc"].isna().all()


@pytest.mark.parametrize(("change", "expected"), [
    ({"--scores": "nosuch.parquet"}, "--scores {root}/nosuch.parquet: file not found"),
    ({"--scores": "short.parquet"}, "--scores {root}/short.parquet: 5 rows for 40 auxiliary rows"),
    ({"--candidates": "nodetector.yaml"}, "--candidates {root}/nodetector.yaml: candidates.a: expected a mapping"),
    ({"--candidates": "unknown.yaml"}, "candidate 'a' (lof, {{}}): unknown detector 'lof'"),
    ({"--aux": "wide.csv"}, "wide.csv: feature columns do not match {root}/train.npz (matched by name): extra ['x3']"),
    ({"--out": "table.csv"}, "expected a path ending in .parquet"),
    ({"--out": "scores.parquet"}, "refusing to overwrite an input"),
    ({"--column": "nosuch"}, "no column(s) ['nosuch']"),
    ({"--validation-fraction": "1.5"}, "--validation-fraction: fraction: must be in (0, 1)"),
])
def test_bad_input_exits_2_naming_the_file_or_option_and_writes_nothing(files, change, expected, capsys):
    pd.DataFrame({"row": np.arange(5), "good": np.ones(5)}).to_parquet(files / "short.parquet")
    (files / "nodetector.yaml").write_text(yaml.safe_dump({"a": {"params": {}}}))
    (files / "unknown.yaml").write_text(yaml.safe_dump({"a": {"detector": "lof"}}))
    pd.DataFrame(np.ones((40, 4)), columns=["x0", "x1", "x2", "x3"]).to_csv(files / "wide.csv", index=False)
    out = files / "never.parquet"
    args = _args(files, out)
    for option, value in change.items():
        if option in args:
            args[args.index(option) + 1] = value if option in ("--validation-fraction", "--column") \
                else str(files / value)
        else:
            args += [option, value]
    assert main(args) == 2
    assert expected.format(root=files) in capsys.readouterr().err
    assert not out.exists() and not list(files.glob(".never.parquet*"))
    assert pd.read_parquet(files / "scores.parquet")["good"].notna().all()     # inputs untouched
