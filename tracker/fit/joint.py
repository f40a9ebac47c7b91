"""The threshold's interval: one joint bootstrap of examples and model sizes.

Two sources of error move the fitted threshold: the test examples' noise (within every
point) and the model sizes' own quirks (a size whose curve sits a little off the pooled
one, shared by all its checkpoints). Each replicate perturbs the observed scores by both at
once and refits the hinge (for a capped winner, on the points above the fitted cap, so the
ceiling does not pull the threshold) under the fit's own weights (inverse variances from a
smoother of the scores, treated as known as in weighted least squares; fixed weights also
let every replicate share their prefix sums); the interval is one percentile interval of
those refits, not a union of two.

1. Examples (tracker/fit/bootstrap.py): the same resampled examples for every checkpoint
   when per-example values exist; Binomial(n, score)/n per point for accuracy-type points;
   otherwise the hinge's within-size residuals (residual minus its size's deviation below)
   resampled around the fit.
2. Sizes: a two-level bootstrap in the manner of Davison & Hinkley (1997, sec. 3.8) and
   Carpenter, Goldstein & Rasbash (2003), with each size's deviation drawn by wild cluster
   weights (Cameron, Gelbach & Miller 2008). A size's *structured deviation* D_s is its
   residuals from the pooled hinge projected (weighted least squares) on the hinge's
   tangent space (1, max(eta - L, 0), k 1[L < eta]): its own plateau, slope or threshold.
   D_s also holds some of the examples' noise, so it is scaled by lambda, chosen so that
   the sizes' part of the threshold's variance in the bootstrap equals the between-size
   variance estimated by moments: the cluster-jackknife variance of eta over sizes (CV3,
   the leave-one-size-out change, exact for the linearised fit; MacKinnon, Nielsen & Webb
   2023) minus the same jackknife applied to the example replicates' own noise (so the
   examples' share, item effects included, is read off the example replicates). Replicate
   b adds lambda v_bs D_s to size s's points, v_bs = z_bs sqrt((G-1) / chi2_b), z_bs
   standard normal and chi2_b ~ chi-square(G - 1), one per replicate: the between part is
   then Student's t on G - 1 degrees of freedom, the usual reference for a variance
   estimated from G clusters (Cameron & Miller 2015), so its uncertainty is carried.

Measured alternatives (docs/thresholds.md): resampling sizes as clusters with the example
redraw on top counts the noise twice (coverage 0.98-1.00 where 0.95 is asked), and 5 sizes
of different loss ranges give few, lumpy resamples; Webb's six-point weights are bounded
(|v| <= 1.22), so when one size dominates the threshold the sizes' part of a percentile
interval is too short; Satterthwaite's degrees of freedom for the between-size estimate
(about 2 here) make intervals 2.5 times wider for little more coverage.

Replicates whose hinge does not rise (slope 0, or eta pinned to the 5-points bound) have no
threshold inside the data: they are excluded from the percentiles and counted
(`n_nonrising`), and placed on the side where their threshold would be (no rise, or pinned
at the low-loss bound: below the data; pinned at the high-loss bound: above it). When more
than 2.5% of replicates fall on a side, the 95% interval is open there (+-inf). With fewer
than 5 sizes a note says the size part rests on few clusters; with fewer than 3 sizes (or
none) only the examples are resampled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tracker.fit import bootstrap as boot
from tracker.fit.hinge import HingeArrays, fit_hinge, hinge_curve

DEFAULT_BOOT = 1000
MIN_GROUPS = 3  # a between-size spread from 2 sizes is one number
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
    size_scale: float = float("nan")  # lambda^2


@dataclass(frozen=True)
class SizeDeviation:
    """Per point (n,): its size's structured deviation D_s, the threshold's linear influence
    h, and its leave-that-size-out influence q; and the size codes."""

    deviation: np.ndarray
    influence: np.ndarray
    jackknife: np.ndarray
    codes: np.ndarray


def threshold_interval(series, weights, binomial: bool, params, cap: float | None,
                       rng: np.random.Generator, n_boot: int, parts: bool) -> Interval:
    loss, y = series.loss, series.y
    mask = np.ones_like(loss) if cap is None else (loss > cap).astype(float)
    fitted = hinge_curve(loss, *params)
    n_groups = 0 if series.codes is None else int(series.codes.max()) + 1
    sizes = (size_deviation(loss, y - fitted, weights * mask, params, series.codes)
             if n_groups >= MIN_GROUPS else None)
    noisy, centre, method = _example_replicates(series, weights, binomial, fitted, sizes, rng,
                                                n_boot)
    note, between, scale = "", None, float("nan")
    if sizes is not None:
        scale = size_scale(sizes, y - fitted, noisy - centre, loss, weights * mask, params)
        v = size_weights(rng, n_boot, n_groups)
        between = np.sqrt(scale) * v[:, sizes.codes] * sizes.deviation
        method += "+groups"
        if n_groups < FEW_GROUPS:
            note = f"only {n_groups} sizes: the size part of the interval rests on few clusters"
    elif n_groups:
        note = f"only {n_groups} sizes: sizes not resampled"
    middle = float(np.median(loss))
    joint = noisy if between is None else noisy + between
    fit_weights = weights * mask  # the fit's own, held fixed: one set of weight sums
    low, high, nonrising, side = _percentiles(fit_hinge(loss, joint, fit_weights), middle)
    example, group = NAN2, NAN2
    if parts:
        example = _percentiles(fit_hinge(loss, noisy, fit_weights), middle)[:2]
        if between is not None:
            group = _percentiles(fit_hinge(loss, y + between, fit_weights), middle)[:2]
    return Interval(low, high, method, nonrising, side, note, example, group, scale)


def tangent(loss: np.ndarray, params) -> np.ndarray:
    """(n, 3): the hinge's derivatives in (c, k, eta) at the fit, up to column scale."""
    eta, _, k = params
    below = (loss < eta).astype(float)
    return np.stack([np.ones_like(loss), np.maximum(eta - loss, 0.0), k * below], axis=1)


def size_deviation(loss, residual, weights, params, codes) -> SizeDeviation:
    """Each size's residuals projected on the tangent space, and the threshold's influences.

    h = W J (J' W J)^+ e_eta is the linearised effect of each point's score on eta, so
    sum_i h_i r_i over a size's points is that size's contribution; q does the same with
    the size's own points left out of J' W J ((J' W J - J_s' W_s J_s)^+), so that
    sum_i q_i r_i is the change in eta when the size is dropped (the cluster jackknife, exact
    for the linearised fit).
    """
    J = tangent(loss, params)
    WJ = weights[:, None] * J
    info = J.T @ WJ
    influence = WJ @ np.linalg.pinv(info)[:, 2]
    deviation, jackknife = np.zeros_like(residual), np.zeros_like(residual)
    for code in np.unique(codes):
        members = codes == code
        Js, WJs = J[members], WJ[members]
        own = Js.T @ WJs
        deviation[members] = Js @ (np.linalg.pinv(own) @ (WJs.T @ residual[members]))
        rest = info - own
        if np.linalg.cond(rest) > 1e10:  # the others alone do not identify eta
            rest = info
        jackknife[members] = WJs @ np.linalg.pinv(rest)[:, 2]
    return SizeDeviation(deviation, influence, jackknife, codes)


def size_scale(sizes: SizeDeviation, residual: np.ndarray, noise: np.ndarray, loss, weights,
               params) -> float:
    """lambda^2 = between / sum_s (h' D_s)^2, between = the jackknife variance of eta over
    sizes from the residuals minus that of the example replicates' noise (B, n: replicates
    minus what they were drawn around; residualised on the tangent space as the residuals
    are, so both lose the same leverage), floored at 0."""
    n_groups = int(sizes.codes.max()) + 1
    onehot = np.eye(n_groups)[sizes.codes]  # (n, G)
    spread = float(np.sum(((sizes.influence * sizes.deviation) @ onehot) ** 2))
    if spread <= 0.0:
        return 0.0
    J = tangent(loss, params)
    WJ = weights[:, None] * J
    per_point = sizes.jackknife[:, None] * onehot  # (n, G)
    # the noise residualised on the tangent space, then summed per size: two products
    per_size = noise @ per_point - (noise @ WJ) @ (np.linalg.pinv(J.T @ WJ) @ (J.T @ per_point))
    total = _jackknife_variance((residual @ per_point)[None, :])[0]
    noise_part = float(np.mean(_jackknife_variance(per_size)))
    return max(total - noise_part, 0.0) / spread


def _jackknife_variance(drops: np.ndarray) -> np.ndarray:
    """(G - 1) / G sum_s (d_s - mean)^2 per row of (B, G) leave-one-size-out changes."""
    G = drops.shape[1]
    return (G - 1) / G * np.sum((drops - drops.mean(axis=1, keepdims=True)) ** 2, axis=1)


def size_weights(rng: np.random.Generator, n_boot: int, n_groups: int) -> np.ndarray:
    """(B, G) weights z sqrt((G - 1) / chi2): normal per size, one chi-square(G - 1) scale
    per replicate, so that the sizes' part of a replicate is t on G - 1 degrees of freedom."""
    df = n_groups - 1
    scale = np.sqrt(df / rng.chisquare(df, size=(n_boot, 1)))
    return rng.standard_normal((n_boot, n_groups)) * scale


def _example_replicates(series, weights, binomial, fitted, sizes: SizeDeviation | None, rng,
                        n_boot):
    """(replicates (B, n), what they are drawn around (n,), method name)."""
    y = series.y
    if series.examples is not None:
        reps = series.sign * boot.example_replicates(series.examples, rng, n_boot)
        return reps, y, "examples"
    if binomial and series.n is not None:
        reps = series.sign * boot.binomial_replicates(series.sign * y, series.n, rng, n_boot)
        return reps, y, "binomial"
    within = y if sizes is None else y - sizes.deviation
    n_params = 3 if sizes is None else 3 * (int(sizes.codes.max()) + 1)
    reps = boot.residual_replicates(fitted, within, weights, rng, n_boot, n_params=n_params)
    return reps, fitted, "residual"


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
