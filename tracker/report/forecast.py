"""The report's threshold-crossing section: a table and a figure (tracker.forecast.crossing).

For every run with tokens seen and every series with a threshold: where the run's loss,
fitted against tokens as a power law with an offset, crosses the threshold, with a 90%
interval. The figure shows each run's loss against tokens, the thresholds as horizontal
lines and the extrapolated curve with its bootstrap band.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from tracker.fit.table import ThresholdTable
from tracker.forecast.crossing import LossCurve, crossings, loss_curves, tokens_at_loss
from tracker.forecast.live import step_text
from tracker.points import loss_label
from tracker.report.document import Section, fmt
from tracker.report.figures import add_legend, figure_grid

HEADER = ("run", "task", "metric", "threshold", "status", "step", "90% interval", "tokens")
MAX_EXTRAPOLATION = 10.0  # the figure extends each curve to at most 10x its tokens


def crossing_section(table: ThresholdTable, path: Path) -> Section | None:
    """The section, or None when nothing emerges or no run has tokens seen."""
    thresholds = [r for r in table.rows if r.fit.verdict in ("emerges", "weak")]
    if not thresholds:
        return None
    points = pd.concat([r.points for r in table.rows], ignore_index=True)
    curves = [c for c in loss_curves(points) if c.fit is not None]
    if not curves:
        return None
    found = [c for curve in curves for c in crossings(curve, table)]
    rows = tuple((c.run, c.task, c.metric, fmt(c.threshold), c.status, step_text(c.step),
                  f"[{step_text(c.step_low)}, {step_text(c.step_high)}]", f"{c.tokens:.3g}")
                 for c in found)
    text = ("Each run's loss against tokens seen, a power law with an offset fitted after "
            "the first 10% of its tokens, extrapolated to each threshold (docs/forecast.md). "
            "Interval: 90% of loss-curve bootstrap replicates, at the threshold interval's "
            "ends.")
    figure = crossing_figure(curves, [(r.task, r.metric, r.fit.threshold) for r in thresholds],
                             points, path)
    return Section("Onset crossing forecast", text, HEADER, rows, (figure,))


def crossing_figure(curves: list[LossCurve], thresholds: list[tuple[str, str, float]],
                    points: pd.DataFrame, path: Path) -> Path:
    import matplotlib

    figure, (ax,) = figure_grid(1)
    colours = matplotlib.colormaps["viridis"]
    for i, curve in enumerate(curves):
        colour = colours(i / max(len(curves) - 1, 1))
        seen = curve.checkpoints
        ax.plot(seen["tokens_seen"], seen["loss"], ".", color=colour, label=curve.run)
        assert curve.fit is not None
        last = float(seen["tokens_seen"].max())
        reach = [tokens_at_loss(curve.fit, eta) for _, _, eta in thresholds]
        end = min(max([last * 1.2, *[t * 1.2 for t in reach if math.isfinite(t)]]),
                  last * MAX_EXTRAPOLATION)
        grid = np.geomspace(float(seen["tokens_seen"].min()), end, 120)
        ax.plot(grid, curve.fit.predict(grid), "-", color=colour, lw=1)
        band = np.array([r.predict(grid) for r in curve.replicates])
        if len(band):
            low, high = np.percentile(band, [5, 95], axis=0)
            ax.fill_between(grid, low, high, color=colour, alpha=0.2, lw=0)
    for task, metric, eta in thresholds:
        ax.axhline(eta, color="#c0392b", ls="--", lw=1)
        ax.annotate(f"{task} {metric}", (0.01, eta), xycoords=("axes fraction", "data"),
                    fontsize=7, color="#c0392b", va="bottom")
    ax.set_xscale("log")
    ax.set_xlabel("tokens seen")
    ax.set_ylabel(loss_label(points))
    add_legend(ax)
    figure.suptitle("Loss against tokens, extrapolated to the thresholds (90% band)")
    figure.savefig(path)
    return path

