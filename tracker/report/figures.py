"""Report figures (matplotlib, Agg backend, no pyplot state): PNG files under figures/.

- `findings_figure`: small multiples, two panels per task: its headline metric and that
  metric's continuous twin side by side (tracker/report/findings.py).
- `loss_figure`: per task, one panel per metric.
  Every score-against-loss panel runs the loss axis from high (left) to low (right), so
  "training progresses" reads left to right, and shows the points coloured by model size,
  the chance level, the fitted curve the verdict rests on, and for an emergence its onset
  (a line), the onset's 95% interval (a red band) and the 10-90% span of the rise (a blue
  band); the labelled verdict in the corner.
- `tokens_figure`: per task, one panel per metric: score against tokens seen, a line per size.
- `forest_figure`: thresholds with intervals across tasks and metrics.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tracker.evals.metrics import metric_range
from tracker.fit.curves import LABELS
from tracker.fit.table import TableRow
from tracker.points import loss_label

VERDICT_COLOURS = {"emerges": "#c0392b", "weak": "#e67e22", "rises": "#2471a3",
                   "flat": "#7f8c8d", "insufficient": "#7f8c8d", "failed": "#000000"}
PANEL_W, PANEL_H, MAX_COLS = 4.6, 3.6, 3


def safe_name(text: str) -> str:
    """A file-name-safe version of a task name: one path component, never ``.`` or ``..``
    (a hostile name cannot place a figure outside ``figures/``)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:60]
    return cleaned if cleaned.strip(".") else "task"


def figure_grid(n_panels: int, columns: int = MAX_COLS) -> tuple[Figure, list]:
    cols = min(n_panels, columns)
    rows = math.ceil(n_panels / cols)
    size = (max(PANEL_W * cols, 7.5), PANEL_H * rows)
    figure = Figure(figsize=size, dpi=90, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, cols, squeeze=False).ravel().tolist()
    for extra in axes[n_panels:]:
        extra.set_visible(False)
    return figure, axes[:n_panels]


def _size_colours(rows: list[TableRow]) -> dict[str, tuple]:
    """One colour per model size, ordered by parameter count."""
    import matplotlib

    sizes: dict[str, float] = {}
    for row in rows:
        for label, params in zip(_labels(row), row.points["params"], strict=True):
            sizes.setdefault(label, params)
    order = sorted(sizes, key=lambda s: (not np.isfinite(sizes[s]), sizes[s], s))
    cmap = matplotlib.colormaps["viridis"]
    return {s: cmap(i / max(len(order) - 1, 1)) for i, s in enumerate(order)}


def _labels(row: TableRow) -> list[str]:
    frame = row.points
    return [f"{f}/{s}".strip("/") or "points" for f, s in zip(frame["family"], frame["size"],
                                                              strict=True)]


def loss_figure(task: str, rows: list[TableRow], path: Path) -> Path:
    figure, axes = figure_grid(len(rows))
    colours = _size_colours(rows)
    for ax, row in zip(axes, rows, strict=True):
        _loss_panel(ax, row, colours)
    figure.suptitle(f"{task}: score against loss (lower loss to the right)")
    figure.savefig(path)
    return path


def _loss_panel(ax, row: TableRow, colours) -> None:
    frame, fit = row.points, row.fit
    labels = np.array(_labels(row))
    # points the fit set aside (a start-up transient, spikes: tracker/fit/setaside.py) hollow
    aside = np.isin(frame["loss"].to_numpy(float), np.asarray(fit.set_aside, dtype=float))
    for label, colour in colours.items():
        mask = labels == label
        if (mask & ~aside).any():
            ax.scatter(frame["loss"][mask & ~aside], frame["score"][mask & ~aside], s=12,
                       color=colour, label=label, alpha=0.8)
        if (mask & aside).any():
            ax.scatter(frame["loss"][mask & aside], frame["score"][mask & aside], s=14,
                       facecolors="none", edgecolors=colour, alpha=0.8)
    if aside.any():
        ax.scatter([], [], s=14, facecolors="none", edgecolors="grey",
                   label="set aside, not fitted")
    if fit.chance is not None:
        ax.axhline(fit.chance, color="grey", linestyle=":", label=f"chance {fit.chance:g}")
    if fit.curves and fit.model:
        fitted = frame["loss"][~aside] if (~aside).any() else frame["loss"]
        grid = np.linspace(fitted.min(), fitted.max(), 400)
        # a fit never drawn where the metric cannot go (a broken stick below NLL 0)
        ax.plot(grid, np.clip(fit.predict(grid), *metric_range(row.metric)), color="black",
                lw=1.5,
                label=f"fit: {LABELS.get(fit.model, fit.model)}")
    if math.isfinite(fit.threshold) and fit.verdict in ("emerges", "weak"):
        if math.isfinite(fit.upper) and math.isfinite(fit.lower):
            ax.axvspan(fit.lower, fit.upper, color="#2471a3", alpha=0.15, label="10-90% rise")
        if math.isfinite(fit.ci_low) or math.isfinite(fit.ci_high):  # open sides: data's edge
            low = fit.ci_low if math.isfinite(fit.ci_low) else float(frame["loss"].min())
            high = fit.ci_high if math.isfinite(fit.ci_high) else float(frame["loss"].max())
            ax.axvspan(low, high, color="#c0392b", alpha=0.2, label="onset 95% CI")
        ax.axvline(fit.threshold, color="#c0392b", lw=1.2)
    verdict = fit.label + (f" at {fit.threshold:.3f}" if fit.verdict in (
        "emerges", "weak") else "")
    ax.set_title(f"{row.task}: {row.metric} "
                 f"({'higher' if fit.higher_is_better else 'lower'} is better)", fontsize=9,
                 pad=14)
    ax.text(0.5, 1.01, verdict, transform=ax.transAxes, ha="center", va="bottom",
            fontsize=9, color=VERDICT_COLOURS[fit.verdict], fontweight="bold")
    ax.set_xlabel(loss_label(frame))
    ax.set_ylabel(row.metric)
    ax.invert_xaxis()
    add_legend(ax)


def findings_figure(findings, path: Path) -> Path | None:
    """Two panels per task, headline metric and its twin (None without tasks); one panel
    per task when no task has a twin (imported results often carry accuracy alone)."""
    if not findings:
        return None
    paired = any(f.twin is not None for f in findings)
    panels = [(f.headline, f.twin) if paired else (f.headline,) for f in findings]
    per_row = (2 if len(panels) > 1 else 1) if paired else min(len(panels), MAX_COLS)
    width = len(panels[0])
    figure, axes = figure_grid(width * per_row * math.ceil(len(panels) / per_row),
                               columns=width * per_row)
    colours = _size_colours([row for pair in panels for row in pair if row is not None])
    for i, rows in enumerate(panels):
        for j, row in enumerate(rows):
            if row is not None:
                _loss_panel(axes[width * i + j], row, colours)
            else:
                axes[width * i + j].set_visible(False)
    for extra in axes[width * len(panels):]:
        extra.set_visible(False)
    figure.suptitle("Each task's headline metric (left) and its continuous twin (right) "
                    "against loss (lower loss to the right)" if paired else
                    "Each task's headline metric against loss (lower loss to the right)")
    figure.savefig(path)
    return path


def add_legend(ax, inside_up_to: int = 8) -> None:
    """A legend inside the panel for a few entries; beside it, in small type, for many
    (a family of 16 sizes would hide the points)."""
    entries = len(ax.get_legend_handles_labels()[1])
    if entries <= inside_up_to:
        ax.legend(fontsize=6, loc="best")
    else:
        ax.legend(fontsize=5, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0,
                  ncol=1 + entries // 20)


def tokens_figure(task: str, rows: list[TableRow], path: Path) -> Path | None:
    """Score against tokens seen (or step); None when the table has neither."""
    x_column = next((c for c in ("tokens_seen", "step")
                     if rows[0].points[c].notna().any()), None)
    if x_column is None:
        return None
    figure, axes = figure_grid(len(rows))
    colours = _size_colours(rows)
    for ax, row in zip(axes, rows, strict=True):
        labels = np.array(_labels(row))
        for label, colour in colours.items():
            part = row.points[labels == label].sort_values(x_column)
            if not part.empty:
                ax.plot(part[x_column], part["score"], marker=".", color=colour, label=label)
        if row.fit.chance is not None:
            ax.axhline(row.fit.chance, color="grey", linestyle=":")
        if (row.points[x_column] > 0).all():
            ax.set_xscale("log")
        ax.set_title(row.metric, fontsize=10)
        ax.set_xlabel(x_column.replace("_", " "))
        ax.set_ylabel(row.metric)
        add_legend(ax)
    figure.suptitle(f"{task}: score against {x_column.replace('_', ' ')}, a line per size")
    figure.savefig(path)
    return path


def loss_curve_figure(rows: list[TableRow], path: Path) -> Path | None:
    """Validation loss against tokens seen (or step), a line per size: does every size's
    loss fall, and do the sizes overlap in loss? None without a time axis."""
    checkpoints = pd.concat([row.points for row in rows], ignore_index=True)
    checkpoints = checkpoints.drop_duplicates(["family", "size", "step"])
    x_column = next((c for c in ("tokens_seen", "step") if checkpoints[c].notna().any()), None)
    if x_column is None:
        return None
    figure, (ax,) = figure_grid(1)
    labels = np.array([f"{f}/{s}".strip("/") for f, s in
                       zip(checkpoints["family"], checkpoints["size"], strict=True)])
    for label, colour in _size_colours(rows).items():
        part = checkpoints[labels == label].sort_values(x_column)
        ax.plot(part[x_column], part["loss"], marker=".", color=colour, label=label)
    if (checkpoints[x_column] > 0).all():
        ax.set_xscale("log")
    ax.set_xlabel(x_column.replace("_", " "))
    ax.set_ylabel(loss_label(checkpoints))
    add_legend(ax)
    figure.suptitle(f"Loss against {x_column.replace('_', ' ')}, a line per size")
    figure.savefig(path)
    return path


def forest_figure(rows: list[TableRow], path: Path) -> Path:
    """Onsets (verdict emerges or weak) with their intervals, one line each."""
    shown = [r for r in rows if r.fit.verdict in ("emerges", "weak")
             and math.isfinite(r.fit.threshold)]
    height = max(2.0, 0.32 * len(shown) + 1.2)
    figure = Figure(figsize=(8, height), dpi=90, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    for i, row in enumerate(shown):
        fit = row.fit
        colour = VERDICT_COLOURS[fit.verdict]
        ax.plot([fit.ci_low, fit.ci_high] if math.isfinite(fit.ci_low + fit.ci_high) else
                [fit.threshold, fit.threshold], [i, i], color=colour, lw=2)
        ax.plot(fit.threshold, i, "o", color=colour, mfc=colour if fit.verdict == "emerges"
                else "white")
    ax.set_yticks(range(len(shown)), [f"{r.task} / {r.metric}" for r in shown], fontsize=8)
    ax.invert_yaxis()
    ax.invert_xaxis()
    unit = loss_label(rows[0].points) if rows else "loss"
    ax.set_xlabel(f"onset in {unit}, 95% interval; filled = emerges, open = weak")
    if not shown:
        ax.text(0.5, 0.5, "nothing emerges", ha="center", va="center",
                transform=ax.transAxes)
    figure.savefig(path)
    return path
