"""`auxqual card`: one model's audit card (Markdown, JSON, HTML) of a project model and of a
benchmark model, its JSON Schema, a tampered model, the CLI, and the HTML in headless Chromium.

The project is made once (module fixture): ``auxqual init`` then the stages in-process
(:func:`auxqual.project.stages.run_stage`) with small params, the gate twice where the
pipeline has one, so that the card has run records to draw.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import jsonschema
import numpy as np
import pandas as pd
import pytest

from auxqual import lineage
from auxqual.card import build_card, card_paths, card_schema, write_card
from auxqual.cli import main
from auxqual.examples import write_own_data
from auxqual.project import stages
from tests.test_project import set_params

SMALL_PARAMS = {"score.params": {"eap": {"n_subsets": 10}}, "select.q": [50], "select.detectors": {"ssdo": {}},
                "evaluate.bootstrap": 200, "generate.generators": {"local": {"n_samples": 100, "params": {}}}}
SETS = ("camera", "local")


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()




def _run_gate(project: Path, flow_run_id: str) -> None:
    """The gate stage with a flow run id of its own (two runs in one second get two records)."""
    previous = os.environ.get("AUXQUAL_FLOW_RUN_ID")
    os.environ["AUXQUAL_FLOW_RUN_ID"] = flow_run_id
    try:
        stages.run_stage("gate", project)
    finally:
        if previous is None:
            os.environ.pop("AUXQUAL_FLOW_RUN_ID", None)
        else:
            os.environ["AUXQUAL_FLOW_RUN_ID"] = previous


def _shipped_model(project: Path) -> Path:
    """The production model (after the gate), else the model the train stage wrote."""
    for folder in ("models/production", "models/candidate"):
        found = [p for p in (project / folder).glob("model.*") if not p.name.endswith(lineage.SIDECAR_SUFFIX)]
        if found:
            return found[0]
    raise AssertionError(f"no model under {project / 'models'}")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> SimpleNamespace:
    """A small project after validate … evaluate (and gate), and its card."""
    root = tmp_path_factory.mktemp("card")
    files = write_own_data(root / "inputs")
    target = root / "project"
    assert main(["init", str(target), "--train", str(files["train"]), "--validation", str(files["validation"]),
                 "--aux", f"camera={files['aux']}", "--generator", "local"]) == 0
    set_params(target, SMALL_PARAMS)
    for name in ("validate", "generate", "score", "select", "train", "evaluate"):
        stages.run_stage(name, target)
    if "gate" in stages.STAGES:
        _run_gate(target, "first")
        _run_gate(target, "second")
    model = _shipped_model(target)
    paths = write_card(model.relative_to(target), root=target)
    card = json.loads(paths["json"].read_text())
    return SimpleNamespace(root=target, model=model, paths=paths, card=card,
                           md=paths["md"].read_text(), html=paths["html"].read_text())


# --------------------------------------------------------------------------- the project card
def test_the_card_is_written_where_asked_and_follows_its_schema(project):
    assert project.paths == {fmt: project.root / f"reports/card.{fmt}" for fmt in ("md", "json", "html")}
    jsonschema.Draft202012Validator.check_schema(card_schema())
    jsonschema.validate(project.card, card_schema(), cls=jsonschema.Draft202012Validator)
    assert project.card["kind"] == "project"
    assert project.card["model_details"]["integrity"] == "ok"
    assert project.card["model_parameters"]["selection"]["available"]
    assert project.card["quantitative_analysis"]["downstream"]["validation"]["available"]
    assert [s["name"] for s in project.card["model_parameters"]["data"]["auxiliary_sets"]] == list(SETS)


@pytest.mark.parametrize("breaks", ["drop model_details", "drop model sha256", "bad model sha256",
                                    "unknown top key", "gate verdict"])
def test_a_card_that_breaks_the_schema_is_caught(project, breaks):
    card = json.loads(json.dumps(project.card))
    if breaks == "drop model_details":
        del card["model_details"]
    elif breaks == "drop model sha256":
        del card["model_details"]["sha256"]
    elif breaks == "bad model sha256":
        card["model_details"]["sha256"] = "not-a-hash"
    elif breaks == "unknown top key":
        card["extra"] = 1
    else:
        card["gate"] = {"available": True, "verdict": "maybe"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(card, card_schema(), cls=jsonschema.Draft202012Validator)


def test_markdown_and_html_name_the_model_hash_and_every_set_with_its_hash(project):
    model_sha = _sha(project.model)
    set_hashes = {name: _sha(project.root / path) for name, path in
                  (("camera", "data/aux/camera.parquet"), ("local", "data/generated/local.parquet"))}
    for text in (project.md, project.html):
        assert model_sha in text
        for name, sha in set_hashes.items():
            assert name in text and sha in text
        assert _sha(project.root / "data/train.parquet") in text


def test_the_html_is_self_contained_with_inline_figures(project):
    html = project.html
    assert not re.search(r"https?:", html, flags=re.IGNORECASE)
    sources = re.findall(r'src="([^"]*)"', html)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r"<link|<script|@import|url\(", html)
    assert len(sources) >= len(SETS) + 1  # a score figure per set, the selection
    png = base64.b64decode(sources[0].split(",", 1)[1])
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000


def test_the_gate_section_has_the_verdict_and_a_history_figure(project):
    gate = project.card["gate"]
    if not (project.root / "results/gate.json").exists():
        assert not gate["available"] and "no gate record" in project.md and "no gate record" in project.html
        return
    record = json.loads((project.root / "results/gate.json").read_text())
    assert gate["verdict"] == record["verdict"] and gate["judged"] == "this model"
    assert f"Verdict: {record['verdict'].upper()}" in project.md
    assert gate["history"]["available"] and len(gate["history"]["runs"]) == 2
    assert any(s["name"] == "val_auroc" for s in gate["history"]["series"])
    assert 'alt="each gated metric over the last run records"' in project.html


def test_a_tampered_model_file_is_reported_loudly(project, tmp_path):
    model = tmp_path / "models" / project.model.name
    model.parent.mkdir(parents=True)
    shutil.copyfile(project.model, model)
    shutil.copyfile(lineage.sidecar_path(project.model), lineage.sidecar_path(model))
    recorded = _sha(model)
    with model.open("ab") as handle:
        handle.write(b"tampered")
    paths = write_card(model, root=tmp_path, out=tmp_path / "out" / "tampered.json")
    assert paths["md"] == tmp_path / "out" / "tampered.md"
    card = json.loads(paths["json"].read_text())
    details = card["model_details"]
    assert details["integrity"] == "mismatch"
    assert (details["sha256"], details["recorded_sha256"]) == (_sha(model), recorded)
    assert any("MODEL FILE CHANGED" in w for w in card["considerations"]["warnings"])
    sets = card["model_parameters"]["data"]["auxiliary_sets"]  # only the model was copied: its inputs are not here
    assert [s["status"] for s in sets] == ["missing"] * len(SETS) and not any(s["quality"]["available"] for s in sets)
    assert any("data/aux/camera.parquet is missing" in w for w in card["considerations"]["warnings"])
    md, html = paths["md"].read_text(), paths["html"].read_text()
    assert "> **WARNING**" in md and "DOES NOT MATCH the sidecar" in md and _sha(model) in md
    assert "sha256 MISMATCH" in html and 'class="alert"' in html
    jsonschema.validate(card, card_schema(), cls=jsonschema.Draft202012Validator)


# --------------------------------------------------------------------------- a benchmark model
@pytest.fixture(scope="module")
def benchmark(tmp_path_factory) -> SimpleNamespace:
    """A benchmark-style tree (``data/prepared``, ``data/aux``, ``data/scores/<dataset>/``,
    ``data/predictions``) with one small saved detector and its sidecar, committed in git."""
    from sklearn.metrics import roc_auc_score

    from auxqual.detectors.registry import make_detector, save_detector
    from auxqual.io import write_parquet

    root = tmp_path_factory.mktemp("benchmark")
    rng = np.random.default_rng(0)
    columns = [f"x{j}" for j in range(4)]
    X_train, X_aux = rng.normal(size=(80, 4)), rng.normal(2.0, 1.0, size=(30, 4))
    X_test = np.vstack([rng.normal(size=(40, 4)), rng.normal(3.0, 1.0, size=(10, 4))])
    y_test = np.r_[np.zeros(40, np.int8), np.ones(10, np.int8)]
    train = pd.DataFrame(X_train, columns=columns).assign(y=np.int8(0), row=np.arange(80))
    aux = pd.DataFrame(X_aux, columns=columns).assign(aux_id=np.arange(30))
    scores = pd.DataFrame({"dataset": "toy", "generator": "local", "aux_id": np.arange(30), "kind": "realistic",
                           "eap": rng.uniform(size=30), "eap_std": rng.uniform(0, 0.1, size=30),
                           "rarity": rng.exponential(size=30)})
    write_parquet(train, root / "data/prepared/toy/train.parquet")
    write_parquet(aux, root / "data/aux/toy/local.parquet")
    write_parquet(scores, root / "data/scores/toy/local.parquet")
    rows = np.sort(np.argsort(-scores["eap"].to_numpy())[:6])
    detector = make_detector("iforest", random_state=0)
    detector.fit(np.vstack([X_train, X_aux[rows]]), np.r_[np.zeros(80), np.ones(rows.size)])
    model = save_detector(detector, root / "models/toy/local/eap/iforest/q20")
    decision = np.asarray(detector.decision_function(X_test), dtype=np.float64)
    write_parquet(pd.DataFrame({"dataset": "toy", "generator": "local", "score": "eap", "detector": "iforest",
                                "q": np.int64(20), "row": np.arange(50), "y": y_test.astype(np.int8),
                                "decision": decision}), root / "data/predictions/toy.parquet")
    record = lineage.LineageRecord(
        model_path=model.relative_to(root).as_posix(),
        created_by={"stage": "train", "detector": "iforest", "detector_params": {}},
        inputs=[{"role": "train", "path": "data/prepared/toy/train.parquet", "dataset": "toy",
                 "sha256": lineage.sha256_file(root / "data/prepared/toy/train.parquet")},
                {"role": "auxiliary", "path": "data/aux/toy/local.parquet", "dataset": "toy", "generator": "local",
                 "sha256": lineage.sha256_file(root / "data/aux/toy/local.parquet"), "score": "eap", "q": 20,
                 "n_rows": int(rows.size), "selected_rows_sha256": lineage.sha256_rows(X_aux[rows], ids=rows)}],
        params={"train": {"q": [0, 20]}}, code_sha256="ab" * 32, dataset="toy")
    lineage.write_sidecar(model, record)
    commit = None
    if shutil.which("git"):
        git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
        for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "models"]):
            subprocess.run([*git, *args], cwd=root, check=True, capture_output=True)
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, check=True, capture_output=True,
                                text=True).stdout.strip()
    return SimpleNamespace(root=root, model=model, commit=commit, auroc=float(roc_auc_score(y_test, decision)))


def test_a_benchmark_model_card_marks_the_project_sections_not_available(benchmark, tmp_path):
    paths = write_card(benchmark.model, root=benchmark.root, out=tmp_path)
    assert paths == {fmt: tmp_path / f"card.{fmt}" for fmt in ("md", "json", "html")}
    card = json.loads(paths["json"].read_text())
    jsonschema.validate(card, card_schema(), cls=jsonschema.Draft202012Validator)
    assert card["kind"] == "benchmark" and card["model_details"]["integrity"] == "ok"
    if benchmark.commit:
        assert card["model_details"]["commit"] == benchmark.commit
        assert card["model_details"]["date_source"] == "commit"
    assert not card["model_parameters"]["selection"]["available"]
    assert card["model_parameters"]["selection"]["chosen"] == {"set": "local", "score": "eap", "q": 20,
                                                               "detector": "iforest", "val_auroc": None}
    downstream = card["quantitative_analysis"]["downstream"]
    assert not downstream["validation"]["available"]
    assert downstream["test"]["value"] == pytest.approx(benchmark.auroc)
    assert not card["gate"]["available"]
    assert {n["section"] for n in card["considerations"]["not_available"]} == {"selection", "validation AUROC",
                                                                               "gate"}
    (quality,) = [s["quality"] for s in card["model_parameters"]["data"]["auxiliary_sets"]]
    assert set(quality["scores"]) == {"eap", "rarity"} and quality["share_at_prior"] == 0.0
    md = paths["md"].read_text()
    assert "Alternatives: not available (a benchmark model" in md
    assert "**no gate record** (results/gate.json not found)" in md and "- validation: not available" in md
    assert card["model-index"][0]["results"][0]["dataset"]["split"] == "test"


def test_build_card_refuses_last_below_one(benchmark):
    with pytest.raises(ValueError, match="--last 0"):
        build_card(benchmark.model, root=benchmark.root, last=0)


def test_card_paths_take_a_stem_or_one_of_the_files():
    assert card_paths("p")["html"] == Path("p/reports/card.html")
    assert card_paths("p", "out/x.md") == {f: Path(f"out/x.{f}") for f in ("md", "json", "html")}
    assert card_paths("p", "out/card.v2")["json"] == Path("out/card.v2.json")


# --------------------------------------------------------------------------- the command
def test_the_cli_writes_the_card_and_prints_the_paths(benchmark, tmp_path, capsys):
    relative = benchmark.model.relative_to(benchmark.root)
    assert main(["card", "--model", str(relative), "--root", str(benchmark.root),
                 "--out", str(tmp_path / "c.html"), "--last", "3"]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / f"c.{f}") for f in ("md", "json", "html")]


@pytest.mark.parametrize("case", ["missing model", "missing sidecar"])
def test_the_cli_exits_2_with_one_line_naming_the_file(case, tmp_path, capsys):
    model = tmp_path / "model.joblib"
    if case == "missing sidecar":
        model.write_bytes(b"model")
    assert main(["card", "--model", str(model), "--root", str(tmp_path)]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("auxqual: error: ")
    assert str(model) in lines[0]
    assert not (tmp_path / "reports").exists()


def test_an_unreadable_gate_record_is_one_line_naming_it(benchmark, tmp_path, capsys):
    root = tmp_path / "root"
    shutil.copytree(benchmark.root, root, ignore=shutil.ignore_patterns(".git", "reports"))
    (root / "results").mkdir()
    (root / "results/gate.json").write_text("{")
    model = benchmark.model.relative_to(benchmark.root)
    assert main(["card", "--model", str(model), "--root", str(root)]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and str(root / "results/gate.json") in lines[0]


# --------------------------------------------------------------------------- headless Chromium
def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                           "--no-first-run", "--disable-background-networking", "--disable-component-update",
                           "--disable-sync", f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=180)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="Debian's chromium is not installed here (.ci/run installs it; `apt-get install chromium`)")
def test_chromium_renders_the_html_card(project, tmp_path):
    url = project.paths["html"].resolve().as_uri()
    shot = tmp_path / "card.png"
    done = _chromium(f"--screenshot={shot}", "--window-size=1200,2400", url, profile=tmp_path / "profile")
    assert shot.is_file(), done.stderr[-2000:]
    data = shot.read_bytes()
    assert _png_size(data) == (1200, 2400) and len(data) > 50_000  # text, tables and figures, not a blank page
    dom = _chromium("--dump-dom", url, profile=tmp_path / "profile").stdout
    text = re.sub(r"<[^>]+>", " ", dom)
    assert _sha(project.model) in text
    for name in SETS:
        assert name in text
    gate = project.card["gate"]
    assert (gate["verdict"].upper() if gate["available"] else "no gate record") in text
