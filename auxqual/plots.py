"""Report figures (PNG) from the evaluation tables.

Figures are drawn on :class:`matplotlib.figure.Figure` with the Agg canvas directly:
no pyplot, no global backend switch, no state shared between calls, safe in worker
processes and on machines without a display. Each function takes tidy DataFrames
(the ones the pipeline writes) and an output path, writes the PNG atomically and
without a timestamp or version stamp (identical inputs give identical bytes), and
returns the path.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from auxqual.io import atomic_path

KIND_ORDER = ("realistic", "indistinguishable", "unrealistic")
KIND_COLORS = {"realistic": "#2b8a3e", "indistinguishable": "#e8590c", "unrealistic": "#1c7ed6"}
DPI = 100


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


def _color_map(names: Sequence[str]) -> dict[str, tuple]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {name: cmap(i % cmap.N) for i, name in enumerate(names)}


def q1_bar_chart(q1: pd.DataFrame, path: str | os.PathLike, *, title: str = "Q1: ranking realistic auxiliary anomalies first") -> Path:
    """Bar per score: mean Q1 AUROC over datasets, one dot per dataset, chance at 0.5.

    ``q1``: columns ``dataset``, ``score``, ``auroc`` (``results/q1.parquet``).
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
    ax.set_xticks(positions, scores, rotation=30, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("AUROC (realistic vs others)")
    ax.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return _save(figure, path)


def score_distributions(scores: pd.DataFrame, score_names: Sequence[str], path: str | os.PathLike, *,
                        kind_column: str = "kind") -> Path:
    """One panel per score: the distribution of the score for each kind of auxiliary
    anomaly (realistic / indistinguishable / unrealistic), as box plots.

    ``scores``: one row per auxiliary anomaly of the benchmark mixture, a column per score.
    """
    _require(scores, (kind_column, *score_names), "scores")
    kinds = [k for k in KIND_ORDER if k in set(scores[kind_column])] + sorted(
        set(scores[kind_column]) - set(KIND_ORDER))
    n = len(score_names)
    columns = min(n, 3)
    rows = int(np.ceil(n / columns))
    figure = _new_figure(3.4 * columns, 2.8 * rows)
    for i, name in enumerate(score_names):
        ax = figure.add_subplot(rows, columns, i + 1)
        data = [scores.loc[scores[kind_column] == kind, name].to_numpy(dtype=float) for kind in kinds]
        box = ax.boxplot(data, patch_artist=True, showfliers=False)
        for patch, kind in zip(box["boxes"], kinds):
            patch.set_facecolor(KIND_COLORS.get(kind, "#adb5bd"))
            patch.set_alpha(0.6)
        ax.set_xticks(np.arange(1, len(kinds) + 1), list(kinds), fontsize=6, rotation=15)
        ax.set_title(name, fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
    figure.suptitle("Quality scores by kind of auxiliary anomaly (higher = better)", fontsize=10)
    figure.tight_layout()
    return _save(figure, path)


def q2_curves(q2: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Grid of generator (rows) × detector (columns): mean test AUROC vs q, one line per
    score (averaged over datasets).

    ``q2``: columns ``generator``, ``detector``, ``score``, ``q``, ``auroc``.
    """
    _require(q2, ("generator", "detector", "score", "q", "auroc"), "q2")
    generators = list(dict.fromkeys(q2["generator"]))
    detectors = list(dict.fromkeys(q2["detector"]))
    scores = list(dict.fromkeys(q2["score"]))
    colors = _color_map(scores)
    curves = q2.groupby(["generator", "detector", "score", "q"], sort=True)["auroc"].mean()
    figure = _new_figure(3.2 * len(detectors) + 0.6, 2.6 * len(generators) + 0.6)
    axes = figure.subplots(len(generators), len(detectors), squeeze=False, sharex=True)
    for r, generator in enumerate(generators):
        for c, detector in enumerate(detectors):
            ax = axes[r][c]
            for score in scores:
                try:
                    curve = curves.loc[(generator, detector, score)]
                except KeyError:
                    continue
                ax.plot(curve.index.to_numpy(), curve.to_numpy(), marker="o", markersize=3, linewidth=1.2,
                        color=colors[score], label=score)
            ax.set_title(f"{generator} · {detector}", fontsize=8)
            ax.tick_params(labelsize=7)
            if c == 0:
                ax.set_ylabel("test AUROC", fontsize=8)
            if r == len(generators) - 1:
                ax.set_xlabel("q (% of auxiliary set, best first)", fontsize=8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="upper center", ncol=min(len(labels), 6), fontsize=7)
    figure.tight_layout(rect=(0, 0, 1, 0.94))
    return _save(figure, path)


def generator_summary(scores: pd.DataFrame, q2: pd.DataFrame, path: str | os.PathLike, *,
                      score: str = "eap") -> Path:
    """Per generator: the distribution of one quality score (left) and the mean test
    AUROC of each detector trained with the whole set, q = 100 (right), so a glance
    shows whether the score's verdict on a generator matches what it does downstream.

    ``scores``: one row per auxiliary anomaly of every generator (``generator`` and
    ``score`` columns); ``q2``: the Q2 table.
    """
    _require(scores, ("generator", score), "scores")
    _require(q2, ("generator", "detector", "score", "q", "auroc"), "q2")
    generators = list(dict.fromkeys(scores["generator"]))
    figure = _new_figure(9.0, 3.4)
    left, right = figure.subplots(1, 2)
    data = [scores.loc[scores["generator"] == g, score].to_numpy(dtype=float) for g in generators]
    left.boxplot(data, showfliers=False)
    left.set_xticks(np.arange(1, len(generators) + 1), generators, rotation=20, ha="right", fontsize=7)
    left.set_ylabel(f"{score} (higher = better)", fontsize=8)
    left.set_title(f"{score} of each generator's auxiliary anomalies", fontsize=9)
    full = q2[(q2["q"] == q2["q"].max()) & (q2["score"] == (score if score in set(q2["score"]) else q2["score"].iloc[0]))]
    detectors = list(dict.fromkeys(q2["detector"]))
    colors = _color_map(detectors)
    width = 0.8 / max(1, len(detectors))
    for j, detector in enumerate(detectors):
        means = [full.loc[(full["generator"] == g) & (full["detector"] == detector), "auroc"].mean()
                 for g in generators]
        right.bar(np.arange(len(generators)) + (j - (len(detectors) - 1) / 2) * width, means, width,
                  color=colors[detector], label=detector)
    base = q2[q2["q"] == 0].groupby("detector")["auroc"].mean()
    for detector in detectors:
        if detector in base.index:
            right.axhline(base[detector], color=colors[detector], linestyle=":", linewidth=1)
    right.set_xticks(np.arange(len(generators)), generators, rotation=20, ha="right", fontsize=7)
    right.set_ylim(0, 1)
    right.set_ylabel("test AUROC", fontsize=8)
    right.set_title(f"trained with the whole set (q = {int(q2['q'].max())}); dotted: q = 0", fontsize=9)
    right.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    return _save(figure, path)


def q1_ranks(table: pd.DataFrame, path: str | os.PathLike, *,
             title: str = "Q1 comparison: average rank and AUROC per dataset") -> Path:
    """Left: each estimator's average rank over datasets (1 = best Q1), best at the top.
    Right: a heatmap of Q1 AUROC, datasets (rows) × estimators (columns, in the same order).

    ``table``: the Q1 comparison (``results/q1_table.parquet``): a ``dataset`` column, a
    column per estimator, one row per dataset and a row ``average rank`` (a ``mean
    seconds`` row, if any, is ignored).
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
    values = per_dataset[order].to_numpy(dtype=float)
    datasets = per_dataset["dataset"].astype(str).tolist()

    width = max(8.0, 3.2 + 0.42 * len(order) + 3.0)
    height = max(3.6, 0.32 * max(len(order), len(datasets)) + 1.6)
    figure = _new_figure(width, height)
    grid = figure.add_gridspec(1, 2, width_ratios=(3.0, max(3.0, 0.42 * len(order))))
    left = figure.add_subplot(grid[0, 0])
    positions = np.arange(len(order))
    colors = ["#364fc7" if s == "eap" else "#91a7ff" for s in order]
    left.barh(positions, [ranks[s] for s in order], color=colors, edgecolor="#364fc7")
    for y, score in zip(positions, order):
        left.text(ranks[score] + 0.2, y, f"{ranks[score]:.2f}", va="center", fontsize=7)
    left.set_yticks(positions, order, fontsize=8)
    left.invert_yaxis()
    left.set_xlim(0, len(scores) + 1)
    left.axvline((len(scores) + 1) / 2, color="#868e96", linestyle="--", linewidth=1)
    left.set_xlabel("average rank (1 = best; dashed: the middle rank)", fontsize=8)
    left.tick_params(axis="x", labelsize=7)

    right = figure.add_subplot(grid[0, 1])
    image = right.imshow(values, cmap="RdYlGn", vmin=0.0, vmax=1.0, aspect="auto")
    right.set_xticks(np.arange(len(order)), order, rotation=60, ha="right", fontsize=7)
    right.set_yticks(np.arange(len(datasets)), datasets, fontsize=7)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            right.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=5.5, color="#212529")
    colorbar = figure.colorbar(image, ax=right, fraction=0.04, pad=0.02)
    colorbar.set_label("Q1 AUROC (0.5 = chance)", fontsize=7)
    colorbar.ax.tick_params(labelsize=6)
    figure.suptitle(f"{title} ({len(datasets)} datasets)", fontsize=10)
    figure.tight_layout()
    return _save(figure, path)
