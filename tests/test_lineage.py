"""Lineage: hashes, sidecars, the lineage table, its queries, verify and the CLI.

The fake repository is real: Parquet training data and two auxiliary sets, small
detectors actually fitted on the top q % of each set and saved with the registry,
one sidecar per model.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from auxqual import lineage
from auxqual.cli.lineage import add_parser
from auxqual.detectors.registry import make_detector, save_detector
from auxqual.io import features_frame, write_parquet

TRAIN = "data/prepared/toy/train.parquet"
AUX = {"uniform": "data/aux/toy/uniform.parquet", "local": "data/aux/toy/local.parquet"}
CELLS = [("uniform", "mlp", 20), ("uniform", "pyod_stack", 20), ("local", "mlp", 20), ("local", "mlp", 50)]
FAST = {"mlp": {"epochs": 5}, "pyod_stack": {"n_estimators": 10}}


def _write_inputs(root: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    write_parquet(features_frame(X, {"y": np.zeros(120, dtype=np.int8)}), root / TRAIN)
    for offset, path in enumerate(AUX.values()):
        A = rng.normal(loc=2.0 + offset, size=(40, 4))
        write_parquet(features_frame(A, {"aux_id": np.arange(40) + 1000 * offset, "eap": rng.random(40)}),
                      root / path)


def _train_cell(root: Path, generator: str, name: str, q: int) -> Path:
    """Fit ``name`` on the training data plus the top ``q`` % of ``generator``'s set; save it
    and its sidecar, as the train stage does (paths recorded relative to ``root``)."""
    train = pd.read_parquet(root / TRAIN)
    aux = pd.read_parquet(root / AUX[generator])
    columns = [f"x{j}" for j in range(4)]
    n = round(len(aux) * q / 100)
    rows = np.sort(np.argsort(-aux["eap"].to_numpy(), kind="stable")[:n])
    X_sel = aux[columns].to_numpy()[rows]
    X = np.vstack([train[columns].to_numpy(), X_sel])
    y = np.concatenate([train["y"].to_numpy(), np.ones(n, dtype=np.int8)])
    detector = make_detector(name, random_state=0, **FAST[name]).fit(X, y)
    model = save_detector(detector, root / f"models/toy/{generator}/eap/{name}/q{q:02d}")
    record = lineage.LineageRecord(
        model_path=model.relative_to(root).as_posix(),
        created_by={"stage": "train", "detector": name, "params": FAST[name]},  # 'params': an accepted alias
        inputs=[{"role": "train", "path": TRAIN, "sha256": lineage.sha256_file(root / TRAIN)},
                {"role": "auxiliary", "path": AUX[generator], "sha256": lineage.sha256_file(root / AUX[generator]),
                 "generator": generator, "score": "eap", "q": q, "n_rows": n,
                 "rows_sha256": lineage.sha256_rows(X_sel, ids=aux["aux_id"].to_numpy()[rows])}],
        params={"train": {"q": [20, 50], "random_state": 0}}, dataset="toy")
    lineage.write_sidecar(model, record)
    return model


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("repo")
    _write_inputs(root)
    for cell in CELLS:
        _train_cell(root, *cell)
    return root


@pytest.fixture
def repo(built, tmp_path, monkeypatch) -> Path:
    """A private copy of the fake repository, as the working directory."""
    root = tmp_path / "repo"
    shutil.copytree(built, root)
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def table(repo) -> pd.DataFrame:
    return lineage.collect_lineage("models")


# ------------------------------------------------------------------ hashes
def test_sha256_file(tmp_path):
    (tmp_path / "abc").write_bytes(b"abc")
    assert lineage.sha256_file(tmp_path / "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    with pytest.raises(ValueError, match="not found"):
        lineage.sha256_file(tmp_path / "none")


def test_sha256_rows_is_canonical():
    X = np.arange(12, dtype=np.float64).reshape(4, 3)
    ids = np.array([10, 3, 7, 1])
    base = lineage.sha256_rows(X, ids)
    order = np.array([2, 0, 3, 1])
    assert lineage.sha256_rows(X[order], ids[order]) == base  # same rows, any order
    assert lineage.sha256_rows(X.astype(np.float32), ids.astype(np.int32)) == base  # any dtype
    assert lineage.sha256_rows(np.asfortranarray(X), ids) == base  # any layout
    changed = X.copy()
    changed[1, 1] += 1e-12
    assert lineage.sha256_rows(changed, ids) != base
    assert lineage.sha256_rows(X, ids + 1) != base
    assert lineage.sha256_rows(X) != base  # ids are part of the hash
    assert lineage.sha256_rows(X[::-1]) == lineage.sha256_rows(X)  # without ids: lexicographic order
    assert lineage.sha256_rows(X, ids.astype(str)) != base  # string ids are encoded differently
    assert lineage.sha256_rows(X, ids.astype(str)[order][np.argsort(order)]) == lineage.sha256_rows(X, ids.astype(str))
    assert lineage.sha256_rows(np.empty((0, 3)), np.array([], dtype=np.int64)) != lineage.sha256_rows(np.empty((0, 4)))


@pytest.mark.parametrize(("X", "ids", "message"), [
    (np.array([[1.0, np.nan]]), None, "NaN"),
    (np.ones(3), None, "2-D"),
    (np.ones((2, 2)), [1, 1], "not unique"),
    (np.ones((2, 2)), [1], "ids for 2 rows"),
    (np.ones((2, 2)), [0.5, 1.5], "integers or strings"),
])
def test_sha256_rows_errors(X, ids, message):
    with pytest.raises(ValueError, match=message):
        lineage.sha256_rows(X, ids)


def _code_tree(root: Path) -> None:
    for name, text in {"pkg/__init__.py": "", "pkg/mod.py": "A = 1\n", "pkg/sub/leaf.py": "B = 2\n",
                       "stage.py": "import pkg\n", "other.py": "C = 3\n"}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_code_sha256_changes_with_the_code_and_nothing_else(tmp_path):
    """The hash of the code deps: the same bytes under the same paths give the same hash in
    any checkout and at any time; a changed, renamed or added file gives another."""
    _code_tree(tmp_path / "a")
    _code_tree(tmp_path / "b")
    deps = ["pkg", "stage.py"]
    first = lineage.code_sha256(deps, tmp_path / "a")
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    os.utime(tmp_path / "b" / "pkg/mod.py", (0, 0))  # another checkout, other times
    assert lineage.code_sha256(deps, tmp_path / "b") == first
    assert lineage.code_sha256(["stage.py", "pkg/mod.py", "pkg"], tmp_path / "a") == first  # order, overlap
    root = tmp_path / "a"
    (root / "pkg/__pycache__").mkdir()
    (root / "pkg/__pycache__/mod.cpython-311.pyc").write_bytes(b"byte-code")
    (root / "pkg/sub/leaf.pyc").write_bytes(b"byte-code")
    (root / "other.py").write_text("C = 4\n")  # not a dep
    assert lineage.code_sha256(deps, root) == first
    (root / "pkg/sub/leaf.py").write_text("B = 3\n")
    assert lineage.code_sha256(deps, root) != first
    (root / "pkg/sub/leaf.py").write_text("B = 2\n")
    assert lineage.code_sha256(deps, root) == first
    (root / "pkg/sub/leaf.py").rename(root / "pkg/sub/renamed.py")
    assert lineage.code_sha256(deps, root) != first
    (root / "pkg/sub/renamed.py").rename(root / "pkg/sub/leaf.py")
    (root / "pkg/new.py").write_text("")
    assert lineage.code_sha256(deps, root) != first
    with pytest.raises(ValueError, match=r"none\.py: code path not found"):
        lineage.code_sha256(["none.py"], root)


# ------------------------------------------------------------------ sidecars
def _record(model_path: str, **overrides) -> lineage.LineageRecord:
    fields = {"model_path": model_path, "created_by": {"stage": "train", "detector": "mlp"},
                  "inputs": [{"role": "train", "path": "./data/t.parquet", "sha256": "a" * 64},
                          {"role": "anomaly_set", "path": "data/aux.parquet", "sha256": "b" * 64, "score": "eap",
                           "q": 10, "selected_rows_sha256": "c" * 64}],
                  "params": {"train": {"q": [10]}}, "code_sha256": "d" * 64}
    return lineage.LineageRecord(**{**fields, **overrides})


def test_sidecar_round_trip(tmp_path):
    model = tmp_path / "q10.pt"
    model.write_bytes(b"weights")
    sidecar = lineage.write_sidecar(model, _record("models/q10.pt"))
    assert sidecar == tmp_path / "q10.pt.lineage.json"
    payload = json.loads(sidecar.read_text())
    assert list(payload) == sorted(payload)  # stable key order
    assert payload["model"] == {"path": "models/q10.pt", "sha256": lineage.sha256_file(model)}
    assert payload["created_by"]["detector_params"] == {}
    assert payload["inputs"][0]["path"] == "data/t.parquet"  # normalised
    assert payload["inputs"][1]["role"] == "auxiliary"  # alias normalised
    back = lineage.read_sidecar(model)
    assert back == lineage.read_sidecar(sidecar)
    assert back.to_dict() == payload
    assert back.code_sha256 == "d" * 64 and back.dvc_lock_stage_md5 is None
    assert payload["schema"] == "auxqual.lineage/2" and "git_rev" not in payload


def test_sidecar_of_schema_1_with_a_git_revision_is_still_read(tmp_path):
    """Sidecars written before code_sha256 carried ``git_rev``: read, the revision dropped."""
    model = tmp_path / "models" / "q10.pt"
    model.parent.mkdir()
    model.write_bytes(b"weights")
    payload = _record("models/q10.pt", code_sha256=None).to_dict()
    payload.update({"schema": "auxqual.lineage/1", "git_rev": "0f3c" * 10})
    del payload["code_sha256"]
    payload["model"]["sha256"] = lineage.sha256_file(model)
    (tmp_path / "models" / "q10.pt.lineage.json").write_text(json.dumps(payload))
    back = lineage.read_sidecar(model)
    assert back.code_sha256 is None and "git_rev" not in back.to_dict()
    table = lineage.collect_lineage(tmp_path / "models")
    assert "git_rev" not in table.columns and table["code_sha256"].isna().all()
    assert table["model_path"].tolist() == ["models/q10.pt"]


def test_sidecar_errors(tmp_path):
    model = tmp_path / "q10.pt"
    model.write_bytes(b"weights")
    with pytest.raises(ValueError, match="does not match"):
        lineage.write_sidecar(model, _record("models/q10.pt", model_sha256="0" * 64))
    with pytest.raises(ValueError, match="not found"):
        lineage.write_sidecar(tmp_path / "none.pt", _record("none.pt"))
    with pytest.raises(ValueError, match="needs 'score'"):
        _record("m", inputs=[{"role": "auxiliary", "path": "a", "sha256": "b" * 64, "q": 1,
                              "selected_rows_sha256": "c" * 64}])
    with pytest.raises(ValueError, match="64 lowercase hex"):
        _record("m", inputs=[{"role": "train", "path": "a", "sha256": "xyz"}])
    with pytest.raises(ValueError, match="missing 'detector'"):
        _record("m", created_by={"stage": "train"})
    with pytest.raises(ValueError, match="code_sha256: expected 64 lowercase hex"):
        _record("m", code_sha256="0f3c")  # a git revision is not a code hash
    (tmp_path / "bad.lineage.json").write_text("{}")
    with pytest.raises(ValueError, match=r"bad\.lineage\.json"):
        lineage.read_sidecar(tmp_path / "bad.lineage.json")


# ------------------------------------------------------------------ the table
def test_collect_lineage(repo, table):
    required = {"model_path", "model_sha256", "detector", "anomaly_set_path", "anomaly_set_sha256",
                "selected_rows_sha256", "score", "q", "train_path", "train_sha256", "params_json", "code_sha256",
                "dataset", "generator"}
    assert required <= set(table.columns)
    assert len(table) == len(CELLS)
    assert table["model_path"].tolist() == sorted(table["model_path"])
    for row in table.itertuples():
        assert row.model_sha256 == lineage.sha256_file(row.model_path)
        assert row.anomaly_set_sha256 == lineage.sha256_file(row.anomaly_set_path)
        assert row.train_sha256 == lineage.sha256_file(TRAIN)
    assert set(table["detector_params_json"]) == {json.dumps(FAST["mlp"]), json.dumps(FAST["pyod_stack"])}
    assert json.loads(table["params_json"][0]) == {"train": {"q": [20, 50], "random_state": 0}}
    assert (table["dataset"] == "toy").all() and table["code_sha256"].isna().all()
    assert sorted(table["q"].tolist()) == [20.0, 20.0, 20.0, 50.0]
    assert sorted(table["n_rows"].tolist()) == [8, 8, 8, 20]
    # the parquet round trip keeps the table intact (the lineage stage writes it)
    write_parquet(table, "results/lineage.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet("results/lineage.parquet"), table)


def test_collect_lineage_empty_and_missing(tmp_path):
    assert lineage.collect_lineage(tmp_path).empty
    assert set(lineage.TABLE_COLUMNS) == set(lineage.collect_lineage(tmp_path).columns)
    with pytest.raises(ValueError, match="not found"):
        lineage.collect_lineage(tmp_path / "none")


def test_models_for_anomaly_set(repo, table):
    by_path = lineage.models_for_anomaly_set(table, "./" + AUX["uniform"])
    assert by_path["model_path"].tolist() == ["models/toy/uniform/eap/mlp/q20.pt",
                                              "models/toy/uniform/eap/pyod_stack/q20.joblib"]
    sha = lineage.sha256_file(AUX["uniform"])
    pd.testing.assert_frame_equal(lineage.models_for_anomaly_set(table, sha[:8]), by_path)
    pd.testing.assert_frame_equal(lineage.models_for_anomaly_set(table, sha.upper()), by_path)
    copy = repo / "elsewhere.parquet"  # a copy is found by content
    shutil.copyfile(AUX["uniform"], copy)
    pd.testing.assert_frame_equal(lineage.models_for_anomaly_set(table, copy), by_path)
    local50 = table[(table["generator"] == "local") & (table["q"] == 50)]
    by_rows = lineage.models_for_anomaly_set(table, local50["selected_rows_sha256"].iloc[0][:10])
    assert by_rows["model_path"].tolist() == ["models/toy/local/eap/mlp/q50.pt"]


def test_anomaly_sets_for_model(repo, table):
    model = "models/toy/local/eap/mlp/q50.pt"
    sets = lineage.anomaly_sets_for_model(table, model)
    assert sets["anomaly_set_path"].tolist() == [AUX["local"]]
    assert sets[["score", "q", "n_rows"]].iloc[0].tolist() == ["eap", 50.0, 20]
    X = pd.read_parquet(AUX["local"])
    top = np.sort(np.argsort(-X["eap"].to_numpy(), kind="stable")[:20])
    expected = lineage.sha256_rows(X[[f"x{j}" for j in range(4)]].to_numpy()[top], X["aux_id"].to_numpy()[top])
    assert sets["selected_rows_sha256"].iloc[0] == expected
    by_hash = lineage.anomaly_sets_for_model(table, lineage.sha256_file(model)[:12])
    pd.testing.assert_frame_equal(by_hash, sets)


def test_hash_prefix_errors(table):
    fake = table.iloc[:2].copy()
    fake["anomaly_set_path"] = ["a.parquet", "b.parquet"]
    fake["anomaly_set_sha256"] = ["abcdef01" + "0" * 56, "abcdef02" + "0" * 56]
    fake["model_sha256"] = ["1234567a" + "0" * 56, "1234567b" + "0" * 56]
    with pytest.raises(ValueError, match="ambiguous: 2"):
        lineage.models_for_anomaly_set(fake, "abcdef0")
    assert lineage.models_for_anomaly_set(fake, "abcdef02")["anomaly_set_path"].tolist() == ["b.parquet"]
    with pytest.raises(ValueError, match="ambiguous"):
        lineage.anomaly_sets_for_model(fake, "1234567")
    with pytest.raises(ValueError, match="starting with 'ffffff'"):
        lineage.models_for_anomaly_set(fake, "ffffff")
    with pytest.raises(ValueError, match="at least 6 hex"):
        lineage.models_for_anomaly_set(fake, "abcde")
    with pytest.raises(ValueError, match="no model with path"):
        lineage.anomaly_sets_for_model(fake, "models/none.pt")


# ------------------------------------------------------------------ verify
def test_verify_ok_changed_missing(repo, table):
    report = lineage.verify(table, repo)
    assert set(report["status"]) == {"ok"}
    assert len(report) == len(CELLS) + 1 + len(AUX)  # models, one training file, the sets
    aux = report.set_index("path").loc[AUX["local"]]
    assert (aux["role"], aux["n_models"]) == ("auxiliary", 2)

    frame = pd.read_parquet(AUX["local"])
    frame.loc[0, "x0"] += 1.0
    write_parquet(frame, AUX["local"])
    os.remove("models/toy/uniform/eap/pyod_stack/q20.joblib")
    report = lineage.verify(table, repo).set_index("path")
    assert report.loc[AUX["local"], "status"] == "changed"
    assert report.loc[AUX["local"], "actual_sha256"] == lineage.sha256_file(AUX["local"])
    assert report.loc["models/toy/uniform/eap/pyod_stack/q20.joblib", "status"] == "missing"
    assert pd.isna(report.loc["models/toy/uniform/eap/pyod_stack/q20.joblib", "actual_sha256"])
    assert (report["status"] == "ok").sum() == len(report) - 2


# ------------------------------------------------------------------ CLI
def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="auxqual")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["lineage", *argv])
    return args.func(args)


def test_cli_queries(repo, capsys):
    assert cli("--model", "models/toy/local/eap/mlp/q50.pt") == 0  # no table yet: collected on the fly
    out = capsys.readouterr().out
    assert AUX["local"] in out and "eap" in out and "50" in out
    write_parquet(lineage.collect_lineage("models"), "results/lineage.parquet")
    assert cli("--anomaly-set", lineage.sha256_file(AUX["uniform"])[:8], "--models-dir", "nowhere") == 0
    out = capsys.readouterr().out
    assert "2 model(s)" in out and "pyod_stack/q20.joblib" in out and "local" not in out
    assert cli("--anomaly-set", AUX["local"], "--json") == 0
    records = json.loads(capsys.readouterr().out)
    assert sorted(r["model_path"] for r in records) == ["models/toy/local/eap/mlp/q20.pt",
                                                        "models/toy/local/eap/mlp/q50.pt"]
    assert cli() == 0
    assert "4 model(s)" in capsys.readouterr().out


def test_cli_verify_exit_codes(repo, capsys):
    assert cli("--verify") == 0
    assert "0 changed, 0 missing" in capsys.readouterr().out
    with open(TRAIN, "ab") as handle:
        handle.write(b"\0")
    assert cli("--verify") == 1
    out = capsys.readouterr().out
    assert "1 changed, 0 missing" in out
    assert any(TRAIN in line and line.split()[0] == "changed" for line in out.splitlines())
    assert cli("--verify", "--json") == 1
    statuses = {r["path"]: r["status"] for r in json.loads(capsys.readouterr().out)}
    assert statuses[TRAIN] == "changed"


def test_cli_bad_input(repo, capsys):
    assert cli("--model", "models/none.pt") == 2
    assert "no model with path" in capsys.readouterr().err
    assert cli("--anomaly-set", "abc") == 2
    assert cli("--verify", "--table", "none.parquet", "--models-dir", "none") == 2
    assert "neither the lineage table" in capsys.readouterr().err
    Path("results").mkdir()
    Path("results/lineage.parquet").write_bytes(b"not parquet")
    assert cli() == 2
    with pytest.raises(SystemExit) as exited:  # argparse: the queries are mutually exclusive
        cli("--verify", "--model", "x")
    assert exited.value.code == 2


def test_cli_names_the_code_that_made_a_model(repo, capsys):
    model = "models/toy/local/eap/mlp/q50.pt"
    record = lineage.read_sidecar(model)
    record.code_sha256 = lineage.code_sha256(["data/prepared"])  # any real content hash
    lineage.write_sidecar(model, record)
    assert cli("--model", model) == 0
    assert f"made by code sha256 {record.code_sha256[:12]}…" in capsys.readouterr().out
    # a table written before code_sha256 (a git_rev column instead) is still queried
    old = lineage.collect_lineage("models").drop(columns="code_sha256").assign(git_rev="0f3c" * 10)
    write_parquet(old, "results/lineage.parquet")
    assert cli("--model", model, "--models-dir", "nowhere") == 0
    assert "made by code sha256 unknown" in capsys.readouterr().out


def test_cli_stops_quietly_when_the_reader_goes_away(repo):
    """``auxqual lineage | head``: the real command, its stdout a pipe closed before it writes."""
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-m", "auxqual", "lineage", "--json"], cwd=repo,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()  # the reader is gone long before the command has imported its modules
    stderr = process.stderr.read()
    assert process.wait(timeout=120) == 2
    assert stderr == ""  # no traceback, no "Exception ignored ... BrokenPipeError"


def test_cli_model_answers_in_words_with_data_set_score_q_and_params(repo, capsys):
    """``auxqual lineage --model`` without ``--json``: every fact docs/tutorials/auditing.md promises, readable."""
    assert cli("--model", "models/toy/local/eap/mlp/q50.pt") == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert lines["model"].startswith("model models/toy/local/eap/mlp/q50.pt (sha256 ")
    assert f"training data    {TRAIN} (sha256 {lineage.sha256_file(TRAIN)[:12]}…)" in out
    assert f"anomaly set      {AUX['local']} (sha256 {lineage.sha256_file(AUX['local'])[:12]}…, generator local)" in out
    assert "selected       score eap, top q = 50 % of the set: 20 rows (rows sha256 " in out
    assert "detector         mlp, params: epochs=5" in out                  # the detector's parameters
    assert "stage            train, params: train.q=[20, 50], train.random_state=0" in out   # the stage's
