"""Report figures: valid PNGs, byte-reproducible, clear errors, no global state."""

from __future__ import annotations

import os
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
    for a, b in zip(first, second, strict=True):
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


# --------------------------------------------------------------------------- figures that read true
@pytest.fixture
def drawn(monkeypatch):
    """The figures the plotting functions save, in order (captured as they are saved)."""
    figures = []
    save = plots._save

    def capture(figure, path):
        figures.append(figure)
        return save(figure, path)

    monkeypatch.setattr(plots, "_save", capture)
    return figures


def _visible_texts(figure):
    from matplotlib.text import Text

    return [t for t in figure.findobj(Text) if t.get_visible() and t.get_text().strip()]


def test_every_text_of_every_figure_is_readable(tables, tmp_path, drawn):
    _draw_all(tables, tmp_path)
    assert len(drawn) == 5
    for figure in drawn:
        small = sorted({(t.get_text(), t.get_fontsize()) for t in _visible_texts(figure)
                        if t.get_fontsize() < plots.FONT_SMALL})
        assert not small, f"text below {plots.FONT_SMALL} pt: {small[:5]}"


def _q2_with_noise_and_a_swing() -> pd.DataFrame:
    """ssdo at 0.9996-1.0 on one generator (noise) and 0.70-0.95 on another (a real swing)."""
    rows = []
    for generator, low, high in (("benchmark_mixture", 0.9996, 1.0), ("uniform", 0.70, 0.95)):
        for score in ("eap", "rarity", "random"):
            for q in (0, 50, 100):
                rows += [{"dataset": "digits", "generator": generator, "score": score, "detector": detector,
                          "q": q, "auroc": low + (high - low) * ((q / 100 + len(score) / 10) % 1)}
                         for detector in ("ssdo", "mlp")]
    return pd.DataFrame(rows)


def test_q2_panels_of_a_detector_share_one_y_range_with_the_random_reference(tmp_path, drawn):
    q2 = _q2_with_noise_and_a_swing()
    plots.q2_curves(q2, tmp_path / "q2.png")
    axes = np.asarray(drawn[0].axes).reshape(2, 2)   # generators × detectors
    for column in range(2):
        limits = {tuple(np.round(ax.get_ylim(), 6)) for ax in axes[:, column]}
        assert len(limits) == 1, f"detector column {column}: y-ranges {limits}"
        low, high = limits.pop()
        assert high - low >= plots.MIN_AUROC_SPAN and low <= q2["auroc"].min() and high >= 1.0
    for ax in axes.ravel():
        labels = [line.get_label() for line in ax.get_lines()]
        assert "random selection (reference)" in labels and "eap" in labels
        assert "q = 0 (no auxiliary anomalies)" in labels
    for ax in axes[-1]:   # the shared x axis, labelled on the bottom row: q = 0 and q = 100 marked
        ticks = [t.get_text() for t in ax.get_xticklabels()]
        assert ticks[0].endswith("none") and ticks[-1].endswith("all")
    # only noise: the axis still spans MIN_AUROC_SPAN, so 0.0004 does not look like a swing
    plots.q2_curves(q2[q2["generator"] == "benchmark_mixture"], tmp_path / "noise.png")
    low, high = drawn[1].axes[0].get_ylim()
    assert high - low >= plots.MIN_AUROC_SPAN


def test_q1_ranks_with_one_dataset_is_a_bar_chart_of_auroc(tables, tmp_path, drawn):
    from auxqual.metrics import q1_comparison

    q1 = tables[0][tables[0]["dataset"] == "digits"]
    plots.q1_ranks(q1_comparison(q1), tmp_path / "one.png")
    figure = drawn[0]
    assert len(figure.axes) == 1 and not figure.axes[0].images     # no rank panel, no heatmap
    bars = sorted(figure.axes[0].patches, key=lambda bar: bar.get_y())
    expected = q1.sort_values("auroc", ascending=False)["auroc"].to_numpy()
    assert np.allclose([bar.get_width() for bar in bars], expected)
    assert "datasets)" not in figure._suptitle.get_text()


def test_q1_heatmap_prints_every_value_legibly(tables, tmp_path, drawn):
    from auxqual.metrics import q1_comparison

    plots.q1_ranks(q1_comparison(tables[0]), tmp_path / "two.png")
    heatmap = next(ax for ax in drawn[0].axes if ax.images)
    cells = list(heatmap.texts)
    assert len(cells) == 2 * 3 and all(t.get_fontsize() >= plots.FONT_SMALL for t in cells)


def test_generator_legend_covers_no_data_and_the_auroc_axis_shows_the_differences(tables, tmp_path, drawn):
    _, scores, _ = tables
    q2 = _q2_with_noise_and_a_swing()
    q2 = q2[q2["score"] != "random"].assign(generator=q2["generator"].replace({"uniform": "local"}))
    plots.generator_summary(scores[scores["generator"] != "uniform"], q2, tmp_path / "gen.png", score="eap")
    figure = drawn[0]
    renderer = figure.canvas.get_renderer()
    legends = list(figure.legends) + [ax.get_legend() for ax in figure.axes if ax.get_legend()]
    assert legends
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in figure.axes:
            assert not box.overlaps(ax.get_window_extent(renderer)), "a legend covers a panel"
    shown = pd.concat([q2[q2["q"] == 0].groupby("detector")["auroc"].mean(),
                       q2[q2["q"] == 100].groupby(["generator", "detector"])["auroc"].mean()])
    low, high = figure.axes[1].get_ylim()
    assert 0.5 < low <= shown.min() and high >= shown.max()   # the values' range, not 0-1


# --------------------------------------------------------------------------- critical-difference diagram
def _nemenyi():
    from auxqual.comparison import posthoc_nemenyi

    rng = np.random.default_rng(0)
    offsets = {"eap": 0.3, "rarity": 0.0, "lava": 0.0, "ame": -0.1}
    q1 = pd.DataFrame([{"dataset": f"d{d}", "seed": s, "estimator": name, "q1": 0.5 + off + rng.normal(0, 0.02)}
                       for d in range(12) for s in range(2) for name, off in offsets.items()])
    return posthoc_nemenyi(q1, "q1")


def test_q1_and_q2_figures_name_degenerate_scores(tables, tmp_path, drawn):
    from auxqual.metrics import q1_comparison

    q1, q2 = tables[0], tables[2]
    notes = {"rarity": "degenerate on 1/2"}
    plots.q1_bar_chart(q1, tmp_path / "bars.png", notes=notes)
    plots.q1_ranks(q1_comparison(q1), tmp_path / "ranks.png", notes=notes)
    plots.q1_ranks(q1_comparison(q1[q1["dataset"] == "digits"]), tmp_path / "one.png", notes=notes)
    plots.q2_curves(q2, tmp_path / "q2.png", notes=notes)
    for figure in drawn:
        texts = [t.get_text() for t in _visible_texts(figure)]
        assert "rarity [degenerate on 1/2]" in texts, texts
        assert "eap" in texts and not any(t.startswith("eap [") for t in texts)


def test_report_notes_count_the_units_where_a_score_was_degenerate():
    from stages.report import degenerate_notes

    seeds = pd.DataFrame({"dataset": ["a", "a", "b", "b", "c", "c"], "seed": [0, 1, 0, 1, 0, 0],
                          "estimator": ["ame", "ame", "ame", "ame", "ame", "eap"],
                          "degenerate": [True, True, False, True, False, False]})
    assert degenerate_notes(seeds, "estimator", ["dataset"]) == {"ame": "degenerate on 2/3"}
    assert degenerate_notes(seeds.assign(degenerate=False), "estimator", ["dataset"]) == {}


def test_cd_diagram_is_a_reproducible_png_naming_degenerate_scores(tmp_path, drawn):
    result = _nemenyi()
    notes = {"ame": "degenerate on 12/12"}
    first = plots.cd_diagram(result.mean_ranks, result.p_values, tmp_path / "a.png", cd=result.cd,
                             n_blocks=result.n_blocks, notes=notes)
    second = plots.cd_diagram(result.mean_ranks, result.p_values, tmp_path / "b.png", cd=result.cd,
                              n_blocks=result.n_blocks, notes=notes)
    assert first.read_bytes() == second.read_bytes() and first.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert imread(first)[..., :3].std() > 0.05
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]
    texts = [t.get_text() for t in _visible_texts(drawn[0])]
    assert any(t.startswith("eap (1.00)") for t in texts)
    assert any("ame [degenerate on 12/12]" in t for t in texts)
    assert any(f"CD = {result.cd:.2f}" in t and "12 datasets" in t for t in texts)
    small = [t.get_text() for t in _visible_texts(drawn[0]) if t.get_fontsize() < plots.FONT_SMALL]
    assert not small, small


def test_cd_diagram_is_the_same_bytes_whatever_the_hash_seed(tmp_path):
    """scikit-posthocs draws each bar through a Python set: the figure must not follow the
    process's string-hash seed (a DVC output drawn again in another process)."""
    code = ("import sys, numpy as np, pandas as pd; from auxqual import plots; "
            "names = ['eap', 'lava', 'rarity', 'density', 'ame', 'random']; "
            "p = pd.DataFrame(0.5, index=names, columns=names); "
            "plots.cd_diagram(pd.Series(np.linspace(1.5, 5.0, 6), index=names), p, sys.argv[1], cd=4.0, n_blocks=10)")
    digests = set()
    for seed in ("1", "2", "3", "4"):
        path = tmp_path / f"cd{seed}.png"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-c", code, str(path)], check=True, env=env, timeout=120)
        digests.add(path.read_bytes())
    assert len(digests) == 1


def test_cd_diagram_keeps_long_labels_inside_the_figure(tmp_path, drawn):
    names = ["eap", "lava", "rarity", "density_probability", "beta_shapley", "data_shapley", "density", "banzhaf",
             "dvrl", "influence_subsample", "knn_shapley", "loo", "ame", "random", "robust_volume_shapley",
             "probability", "data_oob"]
    ranks = pd.Series(np.linspace(3.9, 13.3, len(names)), index=names)
    p_values = pd.DataFrame(0.5, index=names, columns=names)
    notes = dict.fromkeys(("density", "loo", "ame", "robust_volume_shapley", "data_oob"), "degenerate on 15/27")
    plots.cd_diagram(ranks, p_values, tmp_path / "long.png", cd=6.2, n_blocks=27, notes=notes)
    figure = drawn[0]
    renderer = figure.canvas.get_renderer()
    texts = _visible_texts(figure)
    assert any("robust_volume_shapley [degenerate on 15/27]" in t.get_text() for t in texts)
    for text in texts:
        box = text.get_window_extent(renderer)
        assert box.x0 >= 0 and box.x1 <= figure.bbox.width and box.y0 >= 0 and box.y1 <= figure.bbox.height, \
            f"{text.get_text()!r} is cut off: {box}"


def test_cd_diagram_bars_join_only_estimators_without_a_significant_difference(tmp_path, drawn):
    result = _nemenyi()   # eap far ahead; rarity and lava alike: one bar, from rarity's rank to lava's
    plots.cd_diagram(result.mean_ranks, result.p_values, tmp_path / "cd.png", cd=result.cd)
    ax = drawn[0].axes[0]
    bars = [line for line in ax.get_lines() if line.get_linewidth() == 3]
    spans = sorted(tuple(sorted(np.round(bar.get_xdata(), 6))) for bar in bars)
    assert result.p_values.loc["rarity", "lava"] > 0.05 and result.p_values.loc["eap", "rarity"] < 0.05
    assert tuple(np.round(sorted(result.mean_ranks[["rarity", "lava"]]), 6)) in spans
    assert not any(min(span) <= result.mean_ranks["eap"] for span in spans)


def test_cd_diagram_errors_are_named(tmp_path):
    result = _nemenyi()
    with pytest.raises(ValueError, match=r"no row / column for estimator\(s\) \['eap'\]"):
        plots.cd_diagram(result.mean_ranks, result.p_values.drop(index="eap"), tmp_path / "x.png")
    with pytest.raises(ValueError, match="ranks: no estimators"):
        plots.cd_diagram(result.mean_ranks.iloc[:0], result.p_values, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
