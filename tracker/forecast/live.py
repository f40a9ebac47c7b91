"""One line for a training log: when will this run cross each task's threshold?

Used by ``TrackerCallback(..., forecast=True)`` at each evaluation: the thresholds are
fitted to everything in the store (every size, this run so far), the run's loss against
tokens is extrapolated (:mod:`tracker.forecast.crossing`), one line says where each
threshold is expected to be crossed.
"""

from __future__ import annotations

import math
from pathlib import Path

from tracker.evals.interface import VALIDATION_TASK
from tracker.forecast.crossing import Crossing, forecast_crossings

LIVE_BOOT = 50  # replicates: enough for a rough interval at every evaluation, and quick


def crossing_line(run_dir: Path | str, run: str, step: int, n_boot: int = LIVE_BOOT) -> str:
    """``forecast at step S: task metric ...`` for run ``family/size`` of ``run_dir``."""
    from tracker.fit.table import fit_table
    from tracker.points import read_run

    points, _ = read_run(run_dir)
    if (points["task"] == VALIDATION_TASK).all():
        return f"forecast at step {step}: no task scores yet"
    table = fit_table(points, n_boot=n_boot)
    found = forecast_crossings(points, table, n_boot=n_boot, runs=[run])
    if not found:
        return f"forecast at step {step}: no task has a loss threshold yet"
    return f"forecast at step {step}: " + "; ".join(describe(c) for c in found)


def describe(crossing: Crossing) -> str:
    """One crossing in a few words: threshold, status, step [interval]."""
    head = f"{crossing.task} {crossing.metric} threshold {crossing.threshold:.3f}"
    if crossing.status == "insufficient":
        return head + ": too few checkpoints to extrapolate"
    if crossing.status == "never":
        return head + ": the loss curve levels off above it"
    verb = "crossed near" if crossing.status == "crossed" else "expected at"
    return (head + f": {verb} step {step_text(crossing.step)} "
            f"[{step_text(crossing.step_low)}, {step_text(crossing.step_high)}]")


def step_text(value: float) -> str:
    """A step or token count for people: 'never' for inf, '-' for NaN."""
    return "never" if math.isinf(value) else ("-" if math.isnan(value) else f"{value:.0f}")
