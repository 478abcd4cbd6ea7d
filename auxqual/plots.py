"""Report figures (PNG) from the evaluation tables.

Figures are drawn on ``matplotlib.figure.Figure`` with the Agg canvas directly:
no pyplot, no global backend switch, no state shared between calls, safe in worker
processes and on machines without a display. Each function takes tidy DataFrames
(the ones the pipeline writes) and an output path, writes the PNG atomically and
without a timestamp or version stamp (identical inputs give identical bytes), and
returns the path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from auxqual.io import atomic_path

KIND_ORDER = ("realistic", "indistinguishable", "unrealistic")
KIND_COLORS = {"realistic": "#2b8a3e", "indistinguishable": "#e8590c", "unrealistic": "#1c7ed6"}
DPI = 100
# Font sizes in points (at DPI 100, 9 pt is 12.5 px high): nothing in a figure is smaller than
# FONT_SMALL, which tests/test_plots.py checks on every text of every figure.
FONT_SMALL = 9     # ticks, legends, numbers printed in cells
FONT = 10          # axis labels, panel titles
FONT_TITLE = 11    # figure titles
CROSSBAR_COLOR = "#e8590c"  # the critical-difference diagrams' bars (no significant difference)
CHAR_WIDTH_INCHES = 0.07   # a character of FONT_SMALL text, wide letters included (a label's margin)
REFERENCE_SCORE = "random"   # the score drawn as the reference curve of Q2 (random selection)
MIN_AUROC_SPAN = 0.1         # the narrowest y-range of a test-AUROC axis (so noise never fills it)


def _new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: str | os.PathLike) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})
    return path


def _require(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {missing}")
    if frame.empty:
        raise ValueError(f"{name}: no rows to plot")


def _auroc_limits(values: np.ndarray | Sequence[float], *, min_span: float = MIN_AUROC_SPAN) -> tuple[float, float]:
    """A y-range for AUROC ``values``: their range plus 8 % padding, at least ``min_span`` wide
    and at most up to 1.02, so that a difference of 0.0003 between curves stays a flat line
    instead of filling the panel, and markers at 1.0 are not cut."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    pad = 0.08 * (high - low)
    low, high = low - pad, high + pad
    if high - low < min_span:
        middle = (low + high) / 2
        low, high = middle - min_span / 2, middle + min_span / 2
    if high > 1.02:
        low, high = low - (high - 1.02), 1.02
    return max(low, 0.0), high


def _color_map(names: Sequence[str]) -> dict[str, tuple]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {name: cmap(i % cmap.N) for i, name in enumerate(names)}


def _noted(names: Sequence[str], notes: Mapping[str, str] | None) -> list[str]:
    """Each name with its note in brackets where ``notes`` has one (``ame [degenerate on 2/3]``,
    as in the critical-difference diagrams)."""
    notes = notes or {}
    return [f"{name} [{notes[name]}]" if notes.get(name) else str(name) for name in names]


def q1_bar_chart(q1: pd.DataFrame, path: str | os.PathLike, *,
                 title: str = "Q1: ranking realistic auxiliary anomalies first",
                 notes: Mapping[str, str] | None = None) -> Path:
    """Bar per score: mean Q1 AUROC over datasets, one dot per dataset, chance at 0.5.

    ``q1``: columns ``dataset``, ``score``, ``auroc`` (``results/q1.parquet``). ``notes``
    (score → text, e.g. "degenerate on 2/3") go under the score's name, so that a constant
    score's 0.5 is not read as a chance ranking.
    """
    _require(q1, ("dataset", "score", "auroc"), "q1")
    scores = list(dict.fromkeys(q1["score"]))
    means = q1.groupby("score", sort=False)["auroc"].mean().reindex(scores)
    figure = _new_figure(max(4.0, 0.9 * len(scores) + 2), 3.6)
    ax = figure.add_subplot()
    positions = np.arange(len(scores))
    ax.bar(positions, means.to_numpy(), color="#91a7ff", edgecolor="#364fc7", label="mean over datasets")
    for i, score in enumerate(scores):
        values = q1.loc[q1["score"] == score, "auroc"].to_numpy()
        offsets = np.linspace(-0.2, 0.2, num=len(values)) if len(values) > 1 else np.zeros(1)
        ax.scatter(positions[i] + offsets, values, s=12, color="#212529", zorder=3,
                   label="one dataset" if i == 0 else None)
    ax.axhline(0.5, color="#868e96", linestyle="--", linewidth=1, label="chance")
    ax.set_xticks(positions, _noted(scores, notes), rotation=30, ha="right", fontsize=FONT_SMALL)
    ax.tick_params(axis="y", labelsize=FONT_SMALL)
    ax.set_ylim(0, 1)
    ax.set_ylabel("AUROC (realistic vs others)", fontsize=FONT)
    ax.legend(fontsize=FONT_SMALL, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
    figure.suptitle(title, fontsize=FONT_TITLE)
    figure.tight_layout()
    return _save(figure, path)


def score_distributions(scores: pd.DataFrame, score_names: Sequence[str], path: str | os.PathLike, *,
                        kind_column: str = "kind") -> Path:
    """One panel per score: the distribution of the score for each kind of auxiliary
    anomaly (realistic / indistinguishable / unrealistic), as box plots coloured by kind
    (one legend for all panels instead of a rotated label under every box).

    ``scores``: one row per auxiliary anomaly of the benchmark mixture, a column per score.
    """
    _require(scores, (kind_column, *score_names), "scores")
    from matplotlib.patches import Patch

    kinds = [k for k in KIND_ORDER if k in set(scores[kind_column])] + sorted(
        set(scores[kind_column]) - set(KIND_ORDER))
    n = len(score_names)
    columns = min(n, 3)
    rows = int(np.ceil(n / columns))
    figure = _new_figure(3.4 * columns, 2.8 * rows + 0.9)
    for i, name in enumerate(score_names):
        ax = figure.add_subplot(rows, columns, i + 1)
        data = [scores.loc[scores[kind_column] == kind, name].to_numpy(dtype=float) for kind in kinds]
        box = ax.boxplot(data, patch_artist=True, showfliers=False)
        for patch, median, kind in zip(box["boxes"], box["medians"], kinds, strict=True):
            patch.set_facecolor(KIND_COLORS.get(kind, "#adb5bd"))
            patch.set_alpha(0.35)
            median.set(color=KIND_COLORS.get(kind, "#495057"), linewidth=2.5)   # seen even when the box is flat
        ax.set_xticks([])
        ax.set_title(name, fontsize=FONT)
        ax.tick_params(axis="y", labelsize=FONT_SMALL)
    handles = [Patch(facecolor=KIND_COLORS.get(kind, "#adb5bd"), edgecolor=KIND_COLORS.get(kind, "#495057"),
                     linewidth=2, alpha=0.6, label=kind) for kind in kinds]
    figure.legend(handles=handles, loc="lower center", ncol=len(kinds), fontsize=FONT_SMALL, frameon=False)
    figure.suptitle("Quality scores by kind of auxiliary anomaly (higher = better)", fontsize=FONT_TITLE)
    figure.tight_layout(rect=(0, 0.4 / figure.get_figheight(), 1, 1))
    return _save(figure, path)


def q2_curves(q2: pd.DataFrame, path: str | os.PathLike, *, notes: Mapping[str, str] | None = None) -> Path:
    """Grid of generator (rows) × detector (columns): mean test AUROC vs q, one line per
    score (averaged over datasets).

    Read across a row to compare detectors, down a column to compare generators: every panel
    of a detector shares one y-range (``_auroc_limits`` of all its curves), so a
    difference that looks large is large. The ``random`` score (selecting auxiliary anomalies
    at random) is drawn dashed black in every panel as the reference a score must beat, the
    AUROC without auxiliary anomalies (q = 0) as a grey dotted line, and q = 0 (none of the
    set) and q = 100 (all of it) are marked on the x axis.

    ``q2``: columns ``generator``, ``detector``, ``score``, ``q``, ``auroc``. ``notes`` (score →
    text, e.g. "degenerate on 1/3") are added to the legend.
    """
    _require(q2, ("generator", "detector", "score", "q", "auroc"), "q2")
    generators = list(dict.fromkeys(q2["generator"]))
    detectors = list(dict.fromkeys(q2["detector"]))
    scores = [s for s in dict.fromkeys(q2["score"]) if s != REFERENCE_SCORE]
    scores += [REFERENCE_SCORE] if REFERENCE_SCORE in set(q2["score"]) else []   # drawn last, on top
    colors = _color_map([s for s in scores if s != REFERENCE_SCORE])
    curves = q2.groupby(["generator", "detector", "score", "q"], sort=True)["auroc"].mean()
    limits = {d: _auroc_limits(curves[curves.index.get_level_values("detector") == d].to_numpy())
              for d in detectors}
    figure = _new_figure(3.6 * len(detectors) + 0.8, 3.0 * len(generators) + 1.2)
    axes = figure.subplots(len(generators), len(detectors), squeeze=False, sharex=True)
    for r, generator in enumerate(generators):
        for c, detector in enumerate(detectors):
            _q2_panel(axes[r][c], curves, generator, detector, scores, colors, notes or {})
            axes[r][c].set_ylim(*limits[detector])
            axes[r][c].set_title(f"{generator} · {detector}", fontsize=FONT)
            if c == 0:
                axes[r][c].set_ylabel("test AUROC", fontsize=FONT)
            if r == len(generators) - 1:
                axes[r][c].set_xlabel("q (% of the auxiliary set, best first)", fontsize=FONT)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="upper center", ncol=min(len(labels), 4), fontsize=FONT_SMALL,
                      frameon=False)
    rows_of_legend = int(np.ceil(len(labels) / 4)) if handles else 0
    figure.tight_layout(rect=(0, 0, 1, 1 - (0.3 + 0.22 * rows_of_legend) / figure.get_figheight()))
    return _save(figure, path)


def _q2_panel(ax, curves: pd.Series, generator: str, detector: str, scores: Sequence[str],
              colors: dict[str, tuple], notes: Mapping[str, str]) -> None:
    """One panel of ``q2_curves``: a line per score, the random reference, the q = 0 level."""
    baseline = None
    for score in scores:
        try:
            curve = curves.loc[(generator, detector, score)]
        except KeyError:
            continue
        q, auroc = curve.index.to_numpy(dtype=float), curve.to_numpy()
        if score == REFERENCE_SCORE:
            ax.plot(q, auroc, color="#212529", linestyle="--", linewidth=1.6, marker="x", markersize=4,
                    label=f"{REFERENCE_SCORE} selection (reference)", zorder=4)
        else:
            ax.plot(q, auroc, marker="o", markersize=3, linewidth=1.3, color=colors[score],
                    label=_noted([score], notes)[0])
        if baseline is None and (q == 0).any():
            baseline = float(auroc[q == 0][0])
    if baseline is not None:
        ax.axhline(baseline, color="#868e96", linestyle=":", linewidth=1.2, label="q = 0 (no auxiliary anomalies)")
    ax.set_xticks([0, 25, 50, 75, 100], ["0\nnone", "25", "50", "75", "100\nall"])
    ax.set_xlim(-5, 105)
    ax.tick_params(labelsize=FONT_SMALL)
    ax.grid(axis="y", color="#e9ecef", linewidth=0.8)


def generator_summary(scores: pd.DataFrame, q2: pd.DataFrame, path: str | os.PathLike, *,
                      score: str = "eap") -> Path:
    """Per generator: the distribution of one quality score (left) and, per detector, the
    test AUROC without auxiliary anomalies (q = 0, hollow) and with the whole set (q = 100,
    filled), joined by a line (right), so a glance shows whether the score's verdict on a
    generator matches what it does downstream. The right axis spans the values shown
    (``_auroc_limits``), not 0-1, and the legend sits below the panels, off the data.

    ``scores``: one row per auxiliary anomaly of every generator (``generator`` and
    ``score`` columns); ``q2``: the Q2 table (averaged over datasets and scores here).
    """
    _require(scores, ("generator", score), "scores")
    _require(q2, ("generator", "detector", "score", "q", "auroc"), "q2")
    generators = list(dict.fromkeys(scores["generator"]))
    detectors = list(dict.fromkeys(q2["detector"]))
    figure = _new_figure(11.0, 4.6)
    left, right = figure.subplots(1, 2)
    data = [scores.loc[scores["generator"] == g, score].to_numpy(dtype=float) for g in generators]
    left.boxplot(data, showfliers=False)
    left.set_xticks(np.arange(1, len(generators) + 1), generators, rotation=15, ha="right", fontsize=FONT_SMALL)
    left.tick_params(axis="y", labelsize=FONT_SMALL)
    left.set_ylabel(f"{score} (higher = better)", fontsize=FONT)
    left.set_title(f"{score} of each generator's auxiliary anomalies", fontsize=FONT)
    handles = _generator_auroc_panel(right, q2, generators, detectors)
    figure.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=FONT_SMALL, frameon=False)
    figure.tight_layout(rect=(0, 0.4 / figure.get_figheight(), 1, 1))
    return _save(figure, path)


def _generator_auroc_panel(ax, q2: pd.DataFrame, generators: Sequence[str], detectors: Sequence[str]) -> list:
    """The right panel of ``generator_summary``; returns the legend handles."""
    from matplotlib.lines import Line2D

    q_max = q2["q"].max()
    base = q2[q2["q"] == 0].groupby("detector")["auroc"].mean()
    full = q2[q2["q"] == q_max].groupby(["generator", "detector"])["auroc"].mean()
    colors = _color_map(detectors)
    width = 0.6 / max(1, len(detectors))
    shown = []
    for j, detector in enumerate(detectors):
        offset = (j - (len(detectors) - 1) / 2) * width
        for i, generator in enumerate(generators):
            x = i + offset
            after = full.get((generator, detector), np.nan)
            before = base.get(detector, np.nan)
            ax.plot([x, x], [before, after], color=colors[detector], linewidth=1.5)
            ax.plot(x, before, marker="o", markersize=6, markerfacecolor="white", color=colors[detector])
            ax.plot(x, after, marker="o", markersize=7, color=colors[detector])
            shown += [before, after]
    ax.set_xticks(np.arange(len(generators)), generators, rotation=15, ha="right", fontsize=FONT_SMALL)
    ax.set_xlim(-0.6, len(generators) - 0.4)
    ax.set_ylim(*_auroc_limits(shown))
    ax.tick_params(axis="y", labelsize=FONT_SMALL)
    ax.grid(axis="y", color="#e9ecef", linewidth=0.8)
    ax.set_ylabel("test AUROC", fontsize=FONT)
    ax.set_title(f"test AUROC: q = 0 (hollow) → q = {int(q_max)}, the whole set (filled)", fontsize=FONT)
    handles = [Line2D([], [], color=colors[d], marker="o", linewidth=1.5, label=d) for d in detectors]
    handles += [Line2D([], [], color="#495057", marker="o", markerfacecolor="white", linestyle="none",
                       label="q = 0: no auxiliary anomalies"),
                Line2D([], [], color="#495057", marker="o", linestyle="none", label=f"q = {int(q_max)}: the whole set")]
    return handles


def q1_ranks(table: pd.DataFrame, path: str | os.PathLike, *,
             title: str = "Q1 comparison: average rank and AUROC per dataset",
             notes: Mapping[str, str] | None = None) -> Path:
    """Left: each estimator's average rank over datasets (1 = best Q1), best at the top.
    Right: a heatmap of Q1 AUROC, datasets (rows) × estimators (columns, in the same order).
    With a single dataset an average rank says nothing more than the AUROC itself, so the
    figure is then a plain bar chart of Q1 AUROC per estimator, best at the top.

    ``table``: the Q1 comparison (``results/q1_table.parquet``): a ``dataset`` column, a
    column per estimator, one row per dataset and a row ``average rank`` (a ``mean
    seconds`` row, if any, is ignored). ``notes`` (estimator → text, e.g. "degenerate on 2/10")
    are added to the estimator's label.
    """
    from auxqual.metrics import AVERAGE_RANK, MEAN_SECONDS

    _require(table, ("dataset",), "q1 table")
    scores = [c for c in table.columns if c != "dataset"]
    if not scores:
        raise ValueError("q1 table: no estimator columns")
    if not (table["dataset"] == AVERAGE_RANK).any():
        raise ValueError(f"q1 table: no {AVERAGE_RANK!r} row")
    ranks = table.loc[table["dataset"] == AVERAGE_RANK, scores].iloc[0].astype(float)
    per_dataset = table[~table["dataset"].isin([AVERAGE_RANK, MEAN_SECONDS])]
    if per_dataset.empty:
        raise ValueError("q1 table: no dataset rows to plot")
    means = per_dataset[scores].astype(float).mean(axis=0)
    order = sorted(scores, key=lambda s: (ranks[s], -means[s], s))   # ties: the higher mean AUROC first
    if len(per_dataset) == 1:
        return _q1_single_dataset(means[order], str(per_dataset["dataset"].iloc[0]), path, notes)
    values = per_dataset[order].to_numpy(dtype=float)
    datasets = per_dataset["dataset"].astype(str).tolist()

    width = 4.2 + 0.6 * len(order) + 1.6
    height = max(4.0, 0.42 * max(len(order), len(datasets)) + 2.2)
    figure = _new_figure(width, height)
    grid = figure.add_gridspec(1, 2, width_ratios=(3.0, max(3.0, 0.6 * len(order))))
    left = figure.add_subplot(grid[0, 0])
    positions = np.arange(len(order))
    colors = ["#364fc7" if s == "eap" else "#91a7ff" for s in order]
    left.barh(positions, [ranks[s] for s in order], color=colors, edgecolor="#364fc7")
    for y, score in zip(positions.tolist(), order, strict=True):
        left.text(ranks[score] + 0.2, y, f"{ranks[score]:.2f}", va="center", fontsize=FONT_SMALL)
    left.set_yticks(positions, _noted(order, notes), fontsize=FONT_SMALL)
    left.invert_yaxis()
    left.set_xlim(0, len(scores) + 1)
    left.axvline((len(scores) + 1) / 2, color="#868e96", linestyle="--", linewidth=1)
    left.set_xlabel("average rank (1 = best; dashed: the middle rank)", fontsize=FONT)
    left.tick_params(axis="x", labelsize=FONT_SMALL)

    right = figure.add_subplot(grid[0, 1])
    _q1_heatmap(figure, right, values, order, datasets)
    figure.suptitle(f"{title} ({len(datasets)} datasets)", fontsize=FONT_TITLE)
    figure.tight_layout()
    return _save(figure, path)


def _q1_heatmap(figure: Figure, ax, values: np.ndarray, estimators: Sequence[str], datasets: Sequence[str]) -> None:
    """Q1 AUROC as a heatmap with its value in every cell, in dark or light text by the
    cell's colour so that every number stays legible."""
    from matplotlib import colormaps

    cmap = colormaps["RdYlGn"]
    image = ax.imshow(values, cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(np.arange(len(estimators)), estimators, rotation=60, ha="right", fontsize=FONT_SMALL)
    ax.set_yticks(np.arange(len(datasets)), datasets, fontsize=FONT_SMALL)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            red, green, blue, _ = cmap(float(np.nan_to_num(values[i, j], nan=0.5)))
            dark_cell = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
            ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=FONT_SMALL,
                    color="white" if dark_cell else "#212529")
    colorbar = figure.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    colorbar.set_label("Q1 AUROC (0.5 = chance)", fontsize=FONT_SMALL)
    colorbar.ax.tick_params(labelsize=FONT_SMALL)


def _q1_single_dataset(auroc: pd.Series, dataset: str, path: str | os.PathLike,
                       notes: Mapping[str, str] | None = None) -> Path:
    """``q1_ranks`` for one dataset: a bar per estimator of its Q1 AUROC (value printed),
    in the order given (best first), chance at 0.5."""
    figure = _new_figure(7.5, max(3.6, 0.38 * len(auroc) + 1.6))
    ax = figure.add_subplot()
    positions = np.arange(len(auroc))
    colors = ["#364fc7" if s == "eap" else "#91a7ff" for s in auroc.index]
    ax.barh(positions, auroc.to_numpy(dtype=float), color=colors, edgecolor="#364fc7")
    for y, value in zip(positions.tolist(), auroc.to_numpy(dtype=float), strict=True):
        ax.text(min(value, 1.0) + 0.01, y, f"{value:.3f}", va="center", fontsize=FONT_SMALL)
    ax.set_yticks(positions, _noted(list(auroc.index), notes), fontsize=FONT_SMALL)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.1)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.axvline(0.5, color="#868e96", linestyle="--", linewidth=1)
    ax.set_xlabel("Q1 AUROC: realistic auxiliary anomalies ranked first (dashed: chance)", fontsize=FONT)
    ax.tick_params(axis="x", labelsize=FONT_SMALL)
    figure.suptitle(f"Q1 per estimator on {dataset} (one dataset: no ranks to average)", fontsize=FONT_TITLE)
    figure.tight_layout()
    return _save(figure, path)


def q3_regret(summary: pd.DataFrame, path: str | os.PathLike, *,
              title: str = "Q3: regret of choosing a detector on the weighted validation set") -> Path:
    """Bar per score: mean regret (oracle − chosen test AUROC; 0 = the best candidate was
    chosen) with its confidence interval, lowest first; ``uniform`` (no quality score) and
    ``labelled`` (no synthetic anomalies) drawn in grey as the references.

    ``summary``: ``score``, ``mean_regret``, ``ci_low``, ``ci_high``, ``n``, ``unit``
    (``auxqual.selection.regret_summary`` of the model-selection rows of ``results/q3.parquet``).
    """
    _require(summary, ("score", "mean_regret", "ci_low", "ci_high", "n", "unit"), "q3 summary")
    from auxqual.selection import LABELLED, UNIFORM

    ordered = summary.sort_values(["mean_regret", "score"], kind="mergesort").reset_index(drop=True)
    scores = ordered["score"].astype(str).tolist()
    means = ordered["mean_regret"].to_numpy(dtype=float)
    low = np.nan_to_num(means - ordered["ci_low"].to_numpy(dtype=float), nan=0.0)
    high = np.nan_to_num(ordered["ci_high"].to_numpy(dtype=float) - means, nan=0.0)
    colors = ["#adb5bd" if s in (UNIFORM, LABELLED) else "#364fc7" if s == "eap" else "#91a7ff" for s in scores]
    figure = _new_figure(max(5.0, 0.8 * len(scores) + 2), 4.2)
    ax = figure.add_subplot()
    positions = np.arange(len(scores))
    ax.bar(positions, means, color=colors, edgecolor="#343a40", yerr=np.vstack([low, high]), capsize=3,
           error_kw={"linewidth": 1})
    ax.set_xticks(positions, scores, rotation=30, ha="right", fontsize=FONT_SMALL)
    ax.tick_params(axis="y", labelsize=FONT_SMALL)
    ax.set_ylim(bottom=0.0)
    ax.set_ylabel("mean regret (test AUROC)", fontsize=FONT)
    unit, n = str(ordered["unit"].iloc[0]), int(ordered["n"].max())
    ax.set_title(f"bars: 95 % interval over {n} {unit}; grey: references", fontsize=FONT)
    figure.suptitle(title, fontsize=FONT_TITLE)
    figure.tight_layout()
    return _save(figure, path)


def q3_validation_vs_test(candidates: pd.DataFrame, path: str | os.PathLike, *, dataset: str,
                          scores: Sequence[str] | None = None) -> Path:
    """One panel per score: each candidate's weighted validation AUROC (x) against its test
    AUROC (y) on ``dataset``, a dot per (candidate, seed); the chosen ones ringed in red.
    A validation set that ranks candidates as the test set does puts the dots on a rising line.

    ``candidates``: ``results/q3_candidates.parquet`` (``dataset, seed, task, score,
    candidate, val, test_auroc, chosen``); only task ``model`` rows are drawn.
    """
    _require(candidates, ("dataset", "seed", "task", "score", "candidate", "val", "test_auroc", "chosen"),
             "q3 candidates")
    rows = candidates[(candidates["task"] == "model") & (candidates["dataset"] == dataset)]
    if rows.empty:
        raise ValueError(f"q3 candidates: no model-selection rows for dataset {dataset!r}")
    names = list(dict.fromkeys(rows["score"])) if scores is None else [s for s in scores if s in set(rows["score"])]
    colors = _color_map([str(c) for c in dict.fromkeys(rows["candidate"])])
    ncols = min(4, len(names))
    nrows = int(np.ceil(len(names) / ncols))
    figure = _new_figure(3.2 * ncols + 3.2, 3.0 * nrows + 0.8)
    for index, score in enumerate(names):
        ax = figure.add_subplot(nrows, ncols, index + 1)
        panel = rows[rows["score"] == score]
        for candidate, group in panel.groupby("candidate", sort=False):
            ax.scatter(group["val"], group["test_auroc"], s=18, color=colors[str(candidate)],
                       label=candidate if index == 0 else None)
        picked = panel[panel["chosen"]]
        ax.scatter(picked["val"], picked["test_auroc"], s=80, facecolors="none", edgecolors="#e03131", linewidths=1.2,
                   label="chosen" if index == 0 else None)
        ax.set_title(score, fontsize=FONT)
        ax.tick_params(labelsize=FONT_SMALL)
        if index % ncols == 0:
            ax.set_ylabel("test AUROC", fontsize=FONT)
        if index >= (nrows - 1) * ncols:
            ax.set_xlabel("validation AUROC", fontsize=FONT)
    figure.legend(fontsize=FONT_SMALL, loc="center right", frameon=False)
    figure.suptitle(f"Q3: validation vs test AUROC of every candidate, {dataset}", fontsize=FONT_TITLE)
    figure.tight_layout(rect=(0, 0, 1 - 2.8 / (3.2 * ncols + 3.2), 1))
    return _save(figure, path)


def cd_diagram(ranks: pd.Series, p_values: pd.DataFrame, path: str | os.PathLike, *, cd: float | None = None,
               alpha: float = 0.05, n_blocks: int | None = None, notes: dict[str, str] | None = None,
               title: str = "Q1: mean rank over datasets (1 = best)") -> Path:
    """Critical-difference diagram (Demšar 2006) drawn by scikit-posthocs'
    ``critical_difference_diagram``: each estimator at its mean rank (1 = best, left), a
    thick bar joining estimators whose pairwise post-hoc p-value is at least ``alpha`` (no
    significant difference), EAP in dark blue. The critical difference ``cd``, ``alpha``
    and ``n_blocks`` go in the subtitle; ``notes`` (estimator → text, e.g. "degenerate on
    3/20") are appended to the labels, so a degenerate score is named, not read as a rank.

    ``ranks``: mean rank per estimator (index = estimator); ``p_values``: estimator ×
    estimator post-hoc p-values (``auxqual.comparison.posthoc_nemenyi``).
    """
    ranks = pd.Series(ranks, dtype=np.float64)
    if ranks.empty:
        raise ValueError("ranks: no estimators to plot")
    absent = [name for name in ranks.index if name not in p_values.index or name not in p_values.columns]
    if absent:
        raise ValueError(f"p_values: no row / column for estimator(s) {absent}")
    if not np.isfinite(ranks.to_numpy()).all():
        raise ValueError(f"ranks: non-finite mean rank(s) {ranks[~np.isfinite(ranks)].to_dict()}")
    import scikit_posthocs

    notes = notes or {}
    labels = {name: f"{name} [{notes[name]}]" if notes.get(name) else str(name) for name in ranks.index}
    ranks = ranks.rename(index=labels).sort_index(kind="mergesort").sort_values(kind="mergesort")
    p_values = p_values.loc[list(labels), list(labels)].rename(index=labels, columns=labels).astype(np.float64)
    palette = {labels[name]: "#364fc7" if name == "eap" else "#adb5bd" if notes.get(name) else "#495057"
               for name in labels}
    side = (len(ranks) + 1) // 2
    # the labels hang outside the axis (the better half on the left): margins fit the longest
    left, right = (0.3 + CHAR_WIDTH_INCHES * (max(map(len, half)) + len(" (12.34)"))
                   for half in (ranks.index[:side], ranks.index[side:] if len(ranks) > side else ["x"]))
    width = max(9.0, 6.5 + left + right)
    figure = _new_figure(width, 1.6 + 0.32 * side + 0.12 * len(ranks))
    ax = figure.add_subplot()
    scikit_posthocs.critical_difference_diagram(
        ranks, p_values, alpha=alpha, ax=ax, color_palette=palette, text_h_margin=0.3,
        label_fmt_left="{label} ({rank:.2f})", label_fmt_right="({rank:.2f}) {label}",
        label_props={"fontsize": FONT_SMALL}, marker_props={"s": 24}, elbow_props={"linewidth": 1.0},
        crossbar_props={"color": CROSSBAR_COLOR, "linewidth": 3, "alpha": 0.8})
    _sort_crossbar_points(ax)
    ax.set_xlim(0.8, max(len(ranks), 2) + 0.2)
    ax.set_xticks(np.arange(1, len(ranks) + 1))
    ax.tick_params(axis="x", labelsize=FONT_SMALL)
    details = [f"bars: no significant difference (Nemenyi, α = {alpha:g})"]
    if cd is not None and np.isfinite(cd):
        details.append(f"CD = {cd:.2f}")
    if n_blocks is not None:
        details.append(f"{n_blocks} datasets")
    figure.suptitle(title, fontsize=FONT_TITLE)
    ax.set_title("; ".join(details), fontsize=FONT_SMALL, pad=22)
    figure.tight_layout(rect=(left / width, 0, 1 - right / width, 1))
    return _save(figure, path)


def _sort_crossbar_points(ax) -> None:
    """Put each crossbar's points in rank order. scikit-posthocs draws a bar through the
    members of a Python ``set``, whose order follows the process's string-hash seed, so the
    same bar came out as differently ordered line segments (other PNG bytes in every
    process); sorted, the figure is the same bytes whatever the seed."""
    for line in ax.get_lines():
        if line.get_color() == CROSSBAR_COLOR:
            xs, ys = (np.asarray(values, dtype=np.float64) for values in line.get_data())
            order = np.argsort(xs, kind="stable")
            line.set_data(xs[order], ys[order])


def cd_diagram_from_tables(stats: pd.DataFrame, nemenyi: pd.DataFrame, path: str | os.PathLike, *,
                           treatment: str = "estimator", title: str = "Q1: mean rank over datasets (1 = best)") -> Path:
    """``cd_diagram`` from the tables stage ``compare`` writes (``auxqual.comparison.significance``):
    ``stats`` (``treatment``, ``mean_rank``, ``cd``, ``alpha``, ``n_blocks``, ``degenerate_blocks``)
    and ``nemenyi`` (``treatment``, ``other``, ``p_value``, long). A treatment degenerate on some
    datasets is labelled "degenerate on k/N"."""
    _require(stats, (treatment, "mean_rank", "cd", "alpha", "n_blocks", "degenerate_blocks"), "stats")
    _require(nemenyi, (treatment, "other", "p_value"), "nemenyi")
    p_values = nemenyi.pivot(index=treatment, columns="other", values="p_value")
    n_blocks = int(stats["n_blocks"].iloc[0])
    notes = {str(r[treatment]): f"degenerate on {int(r['degenerate_blocks'])}/{n_blocks}"
             for _, r in stats.iterrows() if int(r["degenerate_blocks"]) > 0}
    ranks = pd.Series(stats["mean_rank"].to_numpy(dtype=float), index=stats[treatment].astype(str))
    return cd_diagram(ranks, p_values, path, cd=float(stats["cd"].iloc[0]), alpha=float(stats["alpha"].iloc[0]),
                      n_blocks=n_blocks, notes=notes, title=title)
