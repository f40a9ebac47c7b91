"""When will a run being trained cross a task's loss threshold?

For each run (family/size) with tokens seen, the validation loss is fitted against tokens
as a power law with an offset, L(D) = E + B (D / D_med)^(-beta) (the smooth power law of
the threshold fit, :func:`tracker.fit.smooth.fit_power_law`, with tokens as its x), to the
run's checkpoints after the first 10% of its tokens (the warm-up, where no power law
holds). For each series whose verdict is ``emerges`` or ``weak``, the crossing is where
the curve meets the onset eta: D* = D_med ((eta - E) / B)^(-1 / beta); the step is
D* over the run's tokens per step.

Interval: the loss curve is refitted to B residual-bootstrap replicates; the low end is
the ``(1 - level) / 2`` quantile of the replicates' crossing of the threshold interval's
high end (a higher loss is reached sooner), the high end the upper quantile of their
crossing of its low end (and not before the latest checkpoint when the run has not
crossed yet). A curve that levels off above eta never crosses: its tokens are infinite.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from tracker.fit import bootstrap as boot
from tracker.fit.curves import CurveFit
from tracker.fit.smooth import fit_power_law
from tracker.fit.table import ThresholdTable

WARMUP_FRACTION = 0.10
MIN_CHECKPOINTS = 4
Status = Literal["crossed", "forecast", "never", "insufficient"]


@dataclass(frozen=True)
class Crossing:
    """Where one run meets one threshold: tokens and step (with the interval's ends), the
    threshold and its interval (loss units); ``status``: crossed (its latest loss is below
    the threshold), forecast, never (the fitted curve levels off above it) or insufficient
    (fewer than 4 checkpoints with tokens after the warm-up)."""

    run: str
    task: str
    metric: str
    threshold: float
    threshold_low: float
    threshold_high: float
    status: Status
    tokens: float
    tokens_low: float
    tokens_high: float
    step: float
    step_low: float
    step_high: float
    latest_step: float


@dataclass(frozen=True)
class LossCurve:
    """A run's fitted L(D), its checkpoints (tokens, step, loss) and tokens per step."""

    run: str
    fit: CurveFit | None
    replicates: tuple[CurveFit, ...]
    checkpoints: pd.DataFrame
    tokens_per_step: float


def fit_loss_curve(run: str, checkpoints: pd.DataFrame, *, n_boot: int = 200,
                   random_state=0) -> LossCurve:
    """Fit L(tokens) to one run's checkpoints (columns step, tokens_seen, loss)."""
    table = checkpoints.dropna(subset=["tokens_seen", "loss"]).sort_values("tokens_seen")
    table = table[table["tokens_seen"] > 0]
    per_step = table[table["step"] > 0]
    tokens_per_step = float(np.median(per_step["tokens_seen"] / per_step["step"])) \
        if len(per_step) else float("nan")
    used = table[table["tokens_seen"] >= WARMUP_FRACTION * table["tokens_seen"].max()] \
        if len(table) else table
    if len(used) < MIN_CHECKPOINTS:
        return LossCurve(run, None, (), table, tokens_per_step)
    tokens = used["tokens_seen"].to_numpy(float)
    loss = used["loss"].to_numpy(float)
    ones = np.ones_like(loss)
    fit = fit_power_law(tokens, loss, ones)
    rng = np.random.default_rng(random_state)
    draws = boot.residual_replicates(fit.predict(tokens), loss, ones, rng, n_boot)
    replicates = tuple(fit_power_law(tokens, row, ones) for row in draws)
    return LossCurve(run, fit, replicates, table, tokens_per_step)


def tokens_at_loss(fit: CurveFit, loss: float) -> float:
    """Tokens at which a falling fitted curve reaches ``loss``; inf if it never does.

    Example:
        >>> curve = CurveFit("power_law", (2.0, 1.0, 0.5, 1e6), 0.0)
        >>> round(tokens_at_loss(curve, 2.5))   # 2 + (D / 1e6)^-0.5 = 2.5 at D = 4e6
        4000000
    """
    offset, scale, exponent, d_med = fit.params
    if scale <= 0 or exponent <= 0 or loss <= offset:
        return float("inf")
    return float(d_med * ((loss - offset) / scale) ** (-1.0 / exponent))


def crossings(curve: LossCurve, table: ThresholdTable, level: float = 0.9
              ) -> list[Crossing]:
    """One Crossing per series of ``table`` with an onset (verdict emerges or weak)."""
    out = []
    for row in table.rows:
        fit = row.fit
        if fit.verdict not in ("emerges", "weak") or not np.isfinite(fit.threshold):
            continue
        out.append(_crossing(curve, row.task, row.metric, fit.threshold,
                             (fit.ci_low, fit.ci_high), level))
    return out


def _crossing(curve: LossCurve, task: str, metric: str, eta: float,
              ci: tuple[float, float], level: float) -> Crossing:
    latest = curve.checkpoints.iloc[-1] if len(curve.checkpoints) else None
    latest_step = float(latest["step"]) if latest is not None else float("nan")
    nan = float("nan")
    if curve.fit is None:
        return Crossing(curve.run, task, metric, eta, *ci, "insufficient", nan, nan, nan,
                        nan, nan, nan, latest_step)
    low_eta, high_eta = (ci if np.all(np.isfinite(ci)) else (eta, eta))
    tokens = tokens_at_loss(curve.fit, eta)
    tail = 50.0 * (1.0 - level)
    early = np.array([tokens_at_loss(r, high_eta) for r in curve.replicates])
    late = np.array([tokens_at_loss(r, low_eta) for r in curve.replicates])
    # "lower"/"higher": no interpolation between a finite crossing and a never (inf)
    tokens_low = float(np.percentile(early, tail, method="lower")) if len(early) else tokens
    tokens_high = float(np.percentile(late, 100 - tail, method="higher")) if len(late) \
        else tokens
    crossed = latest is not None and float(latest["loss"]) <= eta
    status: Status = "crossed" if crossed else ("never" if np.isinf(tokens) else "forecast")
    if status != "crossed" and latest is not None:  # not crossed yet: not before now
        tokens_low = max(tokens_low, float(latest["tokens_seen"]))
    per_step = curve.tokens_per_step
    return Crossing(curve.run, task, metric, eta, low_eta, high_eta, status, tokens,
                    tokens_low, tokens_high, tokens / per_step, tokens_low / per_step,
                    tokens_high / per_step, latest_step)


def loss_curves(points: pd.DataFrame, *, n_boot: int = 200, random_state=0,
                runs: list[str] | None = None) -> list[LossCurve]:
    """The fitted loss curve of every run of ``points`` (validated export columns) that has
    tokens seen, or of the ``runs`` (family/size labels) named."""
    from tracker.forecast.runs import runs_of

    return [fit_loss_curve(label, run.checkpoints, n_boot=n_boot, random_state=random_state)
            for label, run in runs_of(points).items()
            if (runs is None or label in runs) and run.checkpoints["tokens_seen"].notna().any()]


def forecast_crossings(points: pd.DataFrame, table: ThresholdTable, *, n_boot: int = 200,
                       level: float = 0.9, random_state=0,
                       runs: list[str] | None = None) -> list[Crossing]:
    """Crossings of every threshold in ``table`` for every run of ``points`` (export
    columns) that has tokens seen, or for the ``runs`` (family/size labels) named."""
    from tracker.points import validate_points

    curves = loss_curves(validate_points(points).frame, n_boot=n_boot,
                         random_state=random_state, runs=runs)
    return [found for curve in curves for found in crossings(curve, table, level)]
