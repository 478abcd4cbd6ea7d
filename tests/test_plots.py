"""Report figures: valid PNGs, byte-reproducible, clear errors, no global state."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from auxqual import plots

KINDS = ("realistic", "indistinguishable", "unrealistic")


@pytest.fixture(scope="module")
def tables():
    rng = np.random.default_rng(0)
    q1 = pd.DataFrame([{"dataset": d, "score": s, "auroc": float(rng.uniform(0.3, 1.0))}
                       for d in ("digits", "cardio") for s in ("eap", "rarity", "density")])
    scores = pd.DataFrame({
        "generator": np.repeat(["benchmark_mixture", "uniform", "local"], 30),
        "kind": list(np.repeat(KINDS, 10)) + ["generated"] * 60,
        "eap": rng.uniform(size=90), "rarity": rng.normal(size=90), "density": rng.uniform(size=90),
    })
    q2 = pd.DataFrame([{"dataset": "digits", "generator": g, "score": s, "detector": m, "q": q,
                        "auroc": float(rng.uniform(0.5, 1.0))}
                       for g in ("benchmark_mixture", "uniform", "local") for s in ("eap", "rarity", "density")
                       for m in ("ssdo", "mlp") for q in (0, 50, 100)])
    return q1, scores, q2


def _draw_all(tables, folder):
    from auxqual.metrics import q1_comparison

    q1, scores, q2 = tables
    bench = scores[scores["generator"] == "benchmark_mixture"]
    return [
        plots.q1_bar_chart(q1, folder / "q1.png"),
        plots.q1_ranks(q1_comparison(q1), folder / "ranks.png"),
        plots.score_distributions(bench, ["eap", "rarity", "density"], folder / "dist.png"),
        plots.q2_curves(q2, folder / "q2.png"),
        plots.generator_summary(scores, q2, folder / "gen.png", score="eap"),
    ]


def test_every_figure_is_a_valid_png(tables, tmp_path):
    paths = _draw_all(tables, tmp_path)
    for path in paths:
        assert path.exists() and path.stat().st_size > 5_000
        with path.open("rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
        image = imread(path)
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 300
        # something was drawn: not a blank canvas
        assert image[..., :3].std() > 0.05
    # no temporary files left beside the figures
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)


def test_figures_are_byte_reproducible(tables, tmp_path):
    first = _draw_all(tables, tmp_path / "a")
    second = _draw_all(tables, tmp_path / "b")
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_q2_grid_grows_with_generators_and_detectors(tables, tmp_path):
    _, _, q2 = tables
    small = plots.q2_curves(q2[(q2["generator"] == "uniform") & (q2["detector"] == "mlp")], tmp_path / "small.png")
    large = plots.q2_curves(q2, tmp_path / "large.png")
    assert imread(large).shape[0] > imread(small).shape[0]
    assert imread(large).shape[1] > imread(small).shape[1]


def test_missing_columns_and_empty_tables_are_named(tables, tmp_path):
    q1, scores, q2 = tables
    with pytest.raises(ValueError, match=r"q1: missing column\(s\) \['auroc'\]"):
        plots.q1_bar_chart(q1.drop(columns="auroc"), tmp_path / "x.png")
    with pytest.raises(ValueError, match="q2: no rows"):
        plots.q2_curves(q2.iloc[:0], tmp_path / "x.png")
    with pytest.raises(ValueError, match="scores: missing"):
        plots.score_distributions(scores, ["nope"], tmp_path / "x.png")
    from auxqual.metrics import q1_comparison

    table = q1_comparison(q1)
    with pytest.raises(ValueError, match="no 'average rank' row"):
        plots.q1_ranks(table[table["dataset"] != "average rank"], tmp_path / "x.png")
    with pytest.raises(ValueError, match="q1 table: no rows"):
        plots.q1_ranks(table.iloc[:0], tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_q1_ranks_grows_with_estimators_and_ignores_the_seconds_row(tables, tmp_path):
    from auxqual.metrics import q1_comparison

    q1, _, _ = tables
    seconds = pd.DataFrame({"dataset": q1["dataset"], "score": q1["score"], "seconds": 1.0})
    few = plots.q1_ranks(q1_comparison(q1[q1["score"] != "density"]), tmp_path / "few.png")
    timed = plots.q1_ranks(q1_comparison(q1, seconds=seconds), tmp_path / "timed.png")
    plain = plots.q1_ranks(q1_comparison(q1), tmp_path / "plain.png")
    assert imread(plain).shape[1] >= imread(few).shape[1]
    assert timed.read_bytes() == plain.read_bytes()


def test_plots_module_needs_no_pyplot_and_no_dvc():
    code = ("import sys, auxqual.plots; "
            "bad = [m for m in ('matplotlib.pyplot', 'dvc', 'prefect') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
