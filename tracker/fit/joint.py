"""The threshold's interval: one joint bootstrap of examples and model sizes.

Each replicate resamples the test examples (tracker/fit/bootstrap.py: the same examples for
every checkpoint when per-example values exist; Binomial(n, score)/n per point for
accuracy-type points; residuals around the fit otherwise) AND the model sizes (drawn with
replacement, entering as weights), then refits the hinge (for a capped winner, the hinge
on the points above the fitted cap, so the ceiling does not pull the threshold). One
percentile interval of those refits, not a union of two.

Replicates whose hinge does not rise (slope 0, or eta pinned to the 5-points bound) have no
threshold inside the data: they are excluded from the percentiles and counted
(`n_nonrising`), and placed on the side where their threshold would be (no rise, or pinned
at the low-loss bound: below the data; pinned at the high-loss bound: above it). When more
than 2.5% of replicates fall on a side, the 95% interval is open there (+-inf), and the
table says so.

No small-cluster inflation (sqrt(G / (G - 1))) is applied: the joint replicate already
counts the examples' noise twice (once through the example resampling, once through the
sizes' points entering with their own noise), and measured coverage is above 95% without
it (docs/thresholds.md). With fewer than 5 sizes the size part of the interval rests on
few clusters, and a note says so. With fewer than 3 sizes (or none) only the examples are
resampled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tracker.fit import bootstrap as boot
from tracker.fit.hinge import HingeArrays, fit_hinge, hinge_curve
from tracker.fit.weights import observation_weights

DEFAULT_BOOT = 1000
MIN_GROUPS = 3  # resampling 2 groups with replacement is degenerate
FEW_GROUPS = 5
LEVEL = 0.95
NAN2 = (float("nan"), float("nan"))


@dataclass(frozen=True)
class Interval:
    """The joint interval (`low`, `high`, +-inf where open) and what went into it."""

    low: float
    high: float
    method: str
    n_nonrising: int = 0
    open_side: str = ""  # "", "low", "high" or "both"
    note: str = ""
    example: tuple[float, float] = NAN2  # examples alone (interval_parts only)
    group: tuple[float, float] = NAN2  # sizes alone (interval_parts only)


def threshold_interval(series, weights, binomial: bool, params, cap: float | None,
                       rng: np.random.Generator, n_boot: int, parts: bool) -> Interval:
    loss, y = series.loss, series.y
    mask = np.ones_like(loss) if cap is None else (loss > cap).astype(float)
    ex_reps, method = _example_replicates(series, weights, binomial, params, rng, n_boot)
    ex_weights = observation_weights(ex_reps, series.n, binomial) * mask
    n_groups = 0 if series.codes is None else int(series.codes.max()) + 1
    note = ""
    if n_groups >= MIN_GROUPS:
        mult = boot.group_multiplicities(series.codes, rng, n_boot)
        method += "+groups"  # joint: resampled together
        if n_groups < FEW_GROUPS:
            note = f"only {n_groups} sizes: the size part of the interval rests on few clusters"
    else:
        mult = np.ones((1, len(loss)))
        if n_groups:
            note = f"only {n_groups} sizes: sizes not resampled"
    middle = float(np.median(loss))
    low, high, nonrising, side = _percentiles(fit_hinge(loss, ex_reps, ex_weights * mult),
                                              middle)
    example, group = NAN2, NAN2
    if parts:
        example = _percentiles(fit_hinge(loss, ex_reps, ex_weights), middle)[:2]
        if n_groups >= MIN_GROUPS:
            group_fits = fit_hinge(loss, np.broadcast_to(y, mult.shape), weights * mask * mult)
            group = _percentiles(group_fits, middle)[:2]
    return Interval(low, high, method, nonrising, side, note, example, group)


def _example_replicates(series, weights, binomial, params, rng, n_boot):
    loss, y = series.loss, series.y
    if series.examples is not None:
        return series.sign * boot.example_replicates(series.examples, rng, n_boot), "examples"
    if binomial and series.n is not None:
        reps = series.sign * boot.binomial_replicates(series.sign * y, series.n, rng, n_boot)
        return reps, "binomial"
    fitted = hinge_curve(loss, *params)
    return boot.residual_replicates(fitted, y, weights, rng, n_boot), "residual"


def _percentiles(fits: HingeArrays, middle: float):
    """(low, high, n_nonrising, open side) of the replicates' thresholds; `middle` (the
    median loss) tells which bound a pinned threshold sits on."""
    rising = fits.ok & fits.interior & (fits.k > 0)
    pinned_high = fits.ok & (fits.k > 0) & ~fits.interior & (fits.eta > middle)
    n_high = int(pinned_high.sum())
    n_low = int((~rising).sum()) - n_high
    etas = fits.eta[rising]
    if etas.size < 20:
        return float("nan"), float("nan"), n_low + n_high, ""
    values = np.concatenate([np.full(n_low, -np.inf), etas, np.full(n_high, np.inf)])
    tail = (1.0 - LEVEL) / 2.0
    low, high = (float(v) for v in np.quantile(values, [tail, 1.0 - tail],
                                               method="inverted_cdf"))
    side = {(True, True): "both", (True, False): "low", (False, True): "high"}.get(
        (np.isinf(low), np.isinf(high)), "")
    return low, high, n_low + n_high, side
