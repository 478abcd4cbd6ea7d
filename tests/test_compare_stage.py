"""Stage ``compare``, run as DVC runs it (``python -m stages.compare`` in the repository folder)
on hand-made evaluate and score tables of 8 datasets: EAP clearly best, AME constant
(degenerate), ``random`` the Q2 reference. No ``dvc repro`` here (tests/test_pipeline_dvc.py
runs the stage inside the whole pipeline)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from auxqual.io import write_parquet
from tests.conftest import copy_stage_code

ROOT = Path(__file__).resolve().parents[1]
DATASETS = [f"set{i}" for i in range(8)]
SEED = 7
PARAMS = {"prepare": {"random_state": SEED}, "compare": {"reference": "eap", "alpha": 0.05}}
Q1_LEVEL = {"eap": 0.9, "rarity": 0.6, "ame": 0.5, "random": 0.5}


def _write_inputs(repo: Path) -> None:
    rng = np.random.default_rng(0)
    q1, q2 = [], []
    for dataset in DATASETS:
        kinds = np.repeat(["realistic", "unrealistic"], 30)
        scores = pd.DataFrame({"dataset": dataset, "generator": "benchmark_mixture", "aux_id": np.arange(60),
                               "kind": kinds, "eap": rng.uniform(size=60), "eap_std": 0.1,
                               "rarity": rng.uniform(size=60), "ame": 0.0, "random": rng.uniform(size=60)})
        write_parquet(scores, repo / "data/scores" / dataset / "benchmark_mixture.parquet")
        for score, level in Q1_LEVEL.items():
            q1.append({"dataset": dataset, "score": score, "auroc": level + rng.normal(0, 0.02),
                       "n_realistic": 30, "n_other": 30})
            for q in (0, 50, 100):
                gain = {"eap": 0.1, "rarity": 0.0, "ame": -0.02, "random": 0.0}[score] * q / 100
                q2.append({"dataset": dataset, "generator": "benchmark_mixture", "score": score, "detector": "ssdo",
                           "q": q, "auroc": 0.8 + gain + (rng.normal(0, 0.005) if score == "rarity" else 0.0),
                           "n_test": 100, "n_test_anomalies": 50})
    write_parquet(pd.DataFrame(q1), repo / "results/q1.parquet")
    write_parquet(pd.DataFrame(q2), repo / "results/q2.parquet")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    copy_stage_code(tmp_path)
    _write_inputs(tmp_path)
    return tmp_path


def run_compare(repo: Path, params: dict = PARAMS) -> subprocess.CompletedProcess:
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)
    return subprocess.run([sys.executable, "-m", "stages.compare"], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=300)


def _outputs(repo: Path) -> dict[str, bytes]:
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["compare"]
    paths = list(stage["outs"]) + [next(iter(m)) for m in stage["metrics"]]
    return {p: (repo / p).read_bytes() for p in paths}


@pytest.mark.slow
def test_compare_writes_seed_tables_flags_degenerate_scores_and_finds_the_better_one(repo):
    done = run_compare(repo)
    assert done.returncode == 0, done.stderr
    q1 = pd.read_parquet(repo / "results/q1_seeds.parquet")
    assert {"dataset", "seed", "estimator", "q1", "n_distinct", "degenerate"} <= set(q1.columns)
    assert len(q1) == 8 * 4 and (q1["seed"] == SEED).all()
    flags = q1.groupby("estimator")["degenerate"].all().to_dict()
    assert flags == {"ame": True, "eap": False, "random": False, "rarity": False}
    assert (q1.loc[q1["estimator"] == "ame", "n_distinct"] == 1).all()
    q2 = pd.read_parquet(repo / "results/q2_seeds.parquet")
    assert {"dataset", "seed", "detector", "score", "q", "auroc", "degenerate"} <= set(q2.columns)
    assert q2.loc[q2["score"] == "ame", "degenerate"].all() and not q2.loc[q2["score"] == "eap", "degenerate"].any()

    stats = pd.read_parquet(repo / "results/q1_stats.parquet").set_index("estimator")
    assert stats["friedman_p"].iloc[0] < 0.05 and stats.index[0] == "eap" and stats.at["eap", "mean_rank"] == 1.0
    assert stats.at["ame", "degenerate_blocks"] == 8 and stats.at["eap", "degenerate_blocks"] == 0
    tests = pd.read_parquet(repo / "results/q1_wilcoxon.parquet").set_index("estimator")
    assert (tests["wins"] == 8).all() and tests["significant"].all()     # 8 of 8: p = 2/256, Holm × 3
    assert tests.at["rarity", "p_holm"] == pytest.approx(3 * 2 / 2**8)

    q2_stats = pd.read_parquet(repo / "results/q2_stats.parquet").set_index("score")
    assert (q2_stats["value"] == "gain").all() and q2_stats.index[0] == "eap"
    assert q2_stats.at["random", "mean"] == 0.0 and q2_stats.at["eap", "mean"] == pytest.approx(0.05)
    q2_tests = pd.read_parquet(repo / "results/q2_wilcoxon.parquet").set_index("score")
    assert q2_tests.at["random", "wins"] == 8 and q2_tests.at["ame", "degenerate_blocks"] == 8
    curves = pd.read_parquet(repo / "results/q2_curves.parquet")
    eap = curves[curves["score"] == "eap"]
    assert len(eap) == 8 and np.allclose(eap["mean_gain"], 0.05) and (eap["n"] == 1).all()

    metrics = json.loads((repo / "results/compare.json").read_text())
    assert metrics["q1"]["n_datasets"] == 8 and metrics["q1"]["friedman_p"] < 0.05
    assert metrics["q1"]["reference_significantly_better_than"] == ["rarity", "ame", "random"]

    first = _outputs(repo)
    assert run_compare(repo).returncode == 0
    assert _outputs(repo) == first                              # same inputs + params: same bytes


def test_report_draws_the_cd_diagrams_from_the_compare_tables(repo, monkeypatch):
    assert run_compare(repo).returncode == 0
    from stages.common import Log
    from stages.report import _compare_section

    monkeypatch.chdir(repo)
    (repo / "out").mkdir()
    lines, figures = _compare_section(repo / "out", Log("report"))
    assert [path.name for _, path in figures] == ["q1_cd.png", "q2_gain_cd.png"]
    assert all(path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for _, path in figures)
    text = "\n".join(lines)
    assert "8 dataset(s) × 1 seed(s)" in text
    assert re.search(r"\|\s*rarity\s*\|\s*eap\s*\|\s*8\s*\|\s*0\s*\|\s*0\s*\|", text)


@pytest.mark.slow
def test_compare_errors_are_one_line_naming_the_file_or_parameter(repo):
    done = run_compare(repo, {**PARAMS, "compare": {"alpha": 2}})
    assert done.returncode == 2 and "params.yaml: compare.alpha: Input should be less than 1 (got 2)" in done.stderr
    (repo / "results/q1.parquet").unlink()
    done = run_compare(repo)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == ("ERROR in stage 'compare': results/q1.parquet: not found; run stage 'evaluate'")
