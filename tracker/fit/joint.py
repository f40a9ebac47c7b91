"""The onset's interval: one joint bootstrap of examples and model sizes, with every
candidate curve refitted in each replicate.

Two sources of error move the fitted onset: the test examples' noise (within every point)
and the model sizes' own quirks (a size whose curve sits a little off the pooled one,
shared by all its checkpoints). Each replicate perturbs the observed scores by both at once
and refits every candidate (tracker/fit/candidates.py) under the fit's own weights (inverse
variances from a smoother of the scores, treated as known as in weighted least squares);
in each replicate the candidates are ranked by BIC with the data's design effect, each is
classed by its shape (tracker/fit/shape.py), and the replicate's onset is that of its best
plateau-shaped curve. The interval is one percentile interval of those onsets, not a union
of two; the share of replicates whose best curve overall is plateau-shaped is reported
beside it (`plateau_share`).

1. Examples (tracker/fit/bootstrap.py): the same resampled examples for every checkpoint
   when per-example values exist; Binomial(n, score)/n per point for accuracy-type points;
   otherwise the chosen curve's within-size residuals (residual minus its size's deviation
   below) resampled around the fit.
2. Sizes: a two-level bootstrap in the manner of Davison & Hinkley (1997, sec. 3.8) and
   Carpenter, Goldstein & Rasbash (2003), with each size's deviation drawn by wild cluster
   weights (Cameron, Gelbach & Miller 2008). A size's *structured deviation* D_s is its
   residuals from the pooled curve projected (weighted least squares) on the curve's
   tangent space (its Jacobian in the free parameters, by central differences): its own
   plateau, slope or onset. D_s also holds some of the examples' noise, so it is scaled by
   lambda, chosen so that the sizes' part of the onset's variance in the bootstrap equals
   the between-size variance estimated by moments: the cluster-jackknife variance of the
   onset over sizes (CV3, the leave-one-size-out change, exact for the linearised fit;
   MacKinnon, Nielsen & Webb 2023) minus the same jackknife applied to the example
   replicates' own noise (so the examples' share, item effects included, is read off the
   example replicates). Replicate b adds lambda v_bs D_s to size s's points, v_bs = z_bs
   sqrt((G-1) / chi2_b), z_bs standard normal and chi2_b ~ chi-square(G - 1), one per
   replicate: the between part is then Student's t on G - 1 degrees of freedom, the usual
   reference for a variance estimated from G clusters (Cameron & Miller 2015).

Measured alternatives (docs/thresholds.md): resampling sizes as clusters with the example
redraw on top counts the noise twice (coverage 0.98-1.00 where 0.95 is asked), and 5 sizes
of different loss ranges give few, lumpy resamples; Webb's six-point weights are bounded
(|v| <= 1.22), so when one size dominates the onset the sizes' part of a percentile
interval is too short; Satterthwaite's degrees of freedom for the between-size estimate
(about 2 here) make intervals 2.5 times wider for little more coverage.

Replicates in which no candidate is plateau-shaped have no onset inside the data: they are
excluded from the percentiles and counted (`n_nonrising`), and placed on the side where
their onset would be (a curve that rises without a plateau: above the data; one that does
not rise materially: below it). When more than 2.5% of replicates fall on a side, the 95%
interval is open there (+-inf). With fewer than 5 sizes a note says the size part rests on
few clusters; with fewer than 3 sizes (or none) only the examples are resampled. The
random draws of a replicate depend only on its series' shape (points, examples, sizes) and
the generators, so two metrics of one task drawn from generators seeded alike share their
replicates: the mirage test's onset gap (tracker/fit/mirage.py) is then paired.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tracker.fit import bootstrap as boot
from tracker.fit.candidates import refit_candidates
from tracker.fit.curves import N_PARAMS, CurveFit, bic, predict
from tracker.fit.shape import Frame, Shapes, judge, span

DEFAULT_BOOT = 1000
MIN_GROUPS = 3  # a between-size spread from 2 sizes is one number
FEW_GROUPS = 5
LEVEL = 0.95
NAN2 = (float("nan"), float("nan"))


@dataclass(frozen=True)
class Ranking:
    """How the candidates are compared in every replicate, fixed from the data: the
    shape frame, the SSE floor and the design effect of BIC, and the number of points."""

    frame: Frame
    floor: float
    design_effect: float
    n_points: int


@dataclass(frozen=True)
class Interval:
    """The joint interval of the onset (`low`, `high`, +-inf where open) and of the 10-90%
    width, the share of replicates whose best curve is plateau-shaped, the replicates'
    onsets (`draws`, NaN where a replicate has none) and what went into them."""

    low: float
    high: float
    method: str
    n_nonrising: int = 0
    open_side: str = ""  # "", "low", "high" or "both"
    note: str = ""
    example: tuple[float, float] = NAN2  # examples alone (interval_parts only)
    group: tuple[float, float] = NAN2  # sizes alone (interval_parts only)
    size_scale: float = float("nan")  # lambda^2
    width: tuple[float, float] = NAN2
    plateau_share: float = float("nan")
    draws: tuple[float, ...] = ()


@dataclass(frozen=True)
class SizeDeviation:
    """Per point (n,): its size's structured deviation D_s, the onset's linear influence
    h, and its leave-that-size-out influence q; the size codes, and the curve's tangent
    space J (n, p)."""

    deviation: np.ndarray
    influence: np.ndarray
    jackknife: np.ndarray
    codes: np.ndarray
    tangent: np.ndarray


@dataclass(frozen=True)
class Onsets:
    """Per replicate (B,): the onset and 10-90% width of its best plateau-shaped curve (NaN
    where none), the side of the data a missing onset lies on (-1 below, +1 above, 0
    found), and whether its best curve overall is plateau-shaped."""

    onset: np.ndarray
    width: np.ndarray
    side: np.ndarray
    plateau_wins: np.ndarray


def onset_interval(series, weights, binomial: bool, chosen: CurveFit,
                   fits: tuple[CurveFit, ...], ranking: Ranking,
                   rngs: tuple[np.random.Generator, np.random.Generator], n_boot: int,
                   parts: bool) -> Interval:
    """The joint bootstrap of the onset of `chosen` (the data's best plateau-shaped curve),
    every candidate in `fits` refitted per replicate; `rngs` draw the examples' and the
    sizes' parts."""
    loss, y = series.loss, series.y
    example_rng, size_rng = rngs
    fitted = chosen.predict(loss)
    n_groups = 0 if series.codes is None else int(series.codes.max()) + 1
    sizes, note = None, ""
    if n_groups >= MIN_GROUPS:
        sizes = size_deviation(loss, y - fitted, weights, chosen, ranking.frame, series.codes)
        if sizes is None:
            note = "the curve's tangent space is singular: sizes not resampled"
    noisy, centre, method = _example_replicates(series, weights, binomial, fitted, chosen,
                                                sizes, example_rng, n_boot)
    between, scale = None, float("nan")
    if sizes is not None:
        scale = size_scale(sizes, y - fitted, noisy - centre, weights)
        v = size_weights(size_rng, n_boot, n_groups)
        between = np.sqrt(scale) * v[:, sizes.codes] * sizes.deviation
        method += "+groups"
        if n_groups < FEW_GROUPS:
            note = f"only {n_groups} sizes: the size part of the interval rests on few clusters"
    elif n_groups and not note:
        note = f"only {n_groups} sizes: sizes not resampled"
    joint = noisy if between is None else noisy + between
    onsets = replicate_onsets(loss, joint, weights, fits, ranking)
    low, high, nonrising, side = _percentiles(onsets.onset, onsets.side)
    example, group = NAN2, NAN2
    if parts:
        example = _percentiles(*_onsets_and_sides(loss, noisy, weights, fits, ranking))[:2]
        if between is not None:
            group = _percentiles(*_onsets_and_sides(loss, y + between, weights, fits,
                                                    ranking))[:2]
    width = _quantiles(onsets.width[np.isfinite(onsets.width)])
    return Interval(low, high, method, nonrising, side, note, example, group, scale, width,
                    float(np.mean(onsets.plateau_wins)), tuple(onsets.onset.tolist()))


def replicate_onsets(loss, Y, weights, fits: tuple[CurveFit, ...], ranking: Ranking) -> Onsets:
    """Every candidate refitted to every row of Y (B, n), ranked, classed; per replicate the
    onset of its best plateau-shaped curve."""
    refits = refit_candidates(loss, Y, weights, fits)
    bics = np.stack([bic(r.sse, ranking.n_points, N_PARAMS[r.name], ranking.floor,
                         ranking.design_effect) for r in refits])  # (C, B)
    shapes = [judge(r.name, r.params, ranking.frame, widths=False) for r in refits]
    plateau = np.stack([shape.plateau for shape in shapes]) & np.isfinite(bics)
    columns = np.arange(Y.shape[0])
    best = np.argmin(bics, axis=0)
    best_plateau = np.argmin(np.where(plateau, bics, np.inf), axis=0)
    found = plateau[best_plateau, columns]
    onset = np.stack([shape.onset for shape in shapes])[best_plateau, columns]
    width = np.full(Y.shape[0], np.nan)
    for c, (refit, shape) in enumerate(zip(refits, shapes, strict=True)):
        rows = np.flatnonzero(found & (best_plateau == c))
        if rows.size:
            ends = span(refit.name, refit.params[rows], _rows(shape, rows), ranking.frame)
            width[rows] = ends[:, 0] - ends[:, 1]
    rises = np.stack([shape.rise for shape in shapes])[best, columns] >= ranking.frame.min_rise
    side = np.where(found, 0, np.where(rises, 1, -1))
    nan = np.where(found, 1.0, np.nan)
    return Onsets(onset * nan, width * nan, side, plateau[best, columns])


def _rows(shapes: Shapes, rows: np.ndarray) -> Shapes:
    return Shapes(*(getattr(shapes, name)[rows] for name in Shapes.__dataclass_fields__))


def _onsets_and_sides(loss, Y, weights, fits, ranking) -> tuple[np.ndarray, np.ndarray]:
    onsets = replicate_onsets(loss, Y, weights, fits, ranking)
    return onsets.onset, onsets.side


def jacobian(curve: CurveFit, loss: np.ndarray, frame: Frame) -> tuple[np.ndarray, np.ndarray]:
    """(J (n, p), g (p,)): the curve's derivatives at the losses and the onset's, in its free
    parameters (the power law's L_med is a fixed scale), by central differences."""
    theta = np.asarray(curve.params, dtype=float)
    p = N_PARAMS[curve.name]
    steps = 1e-6 * np.maximum(np.abs(theta[:p]), 1e-3)
    rows = np.tile(theta, (2 * p, 1))  # theta + step, theta - step, per parameter
    rows[np.arange(0, 2 * p, 2), np.arange(p)] += steps
    rows[np.arange(1, 2 * p, 2), np.arange(p)] -= steps
    values = predict(curve.name, rows, loss)
    onsets = judge(curve.name, rows, frame).onset
    J = (values[0::2] - values[1::2]).T / (2.0 * steps)
    g = (onsets[0::2] - onsets[1::2]) / (2.0 * steps)
    return J, g


def size_deviation(loss, residual, weights, curve: CurveFit, frame: Frame,
                   codes) -> SizeDeviation | None:
    """Each size's residuals projected on the tangent space, and the onset's influences;
    None when the tangent space or the onset's gradient is not finite.

    h = W J (J' W J)^+ g is the linearised effect of each point's score on the onset
    (g its gradient in the parameters), so sum_i h_i r_i over a size's points is that size's
    contribution; q does the same with the size's own points left out of J' W J
    ((J' W J - J_s' W_s J_s)^+), so that sum_i q_i r_i is the change in the onset when the
    size is dropped (the cluster jackknife, exact for the linearised fit).
    """
    J, g = jacobian(curve, loss, frame)
    if not (np.all(np.isfinite(J)) and np.all(np.isfinite(g))):
        return None
    try:
        return _size_deviation(residual, weights, J, g, codes)
    except np.linalg.LinAlgError:  # an SVD that did not converge: sizes not resampled
        return None


def _size_deviation(residual, weights, J, g, codes) -> SizeDeviation:
    WJ = weights[:, None] * J
    info = J.T @ WJ
    influence = WJ @ (np.linalg.pinv(info) @ g)
    deviation, jackknife = np.zeros_like(residual), np.zeros_like(residual)
    for code in np.unique(codes):
        members = codes == code
        Js, WJs = J[members], WJ[members]
        own = Js.T @ WJs
        deviation[members] = Js @ (np.linalg.pinv(own) @ (WJs.T @ residual[members]))
        rest = info - own
        if np.linalg.cond(rest) > 1e10:  # the others alone do not identify the onset
            rest = info
        jackknife[members] = WJs @ (np.linalg.pinv(rest) @ g)
    return SizeDeviation(deviation, influence, jackknife, codes, J)


def size_scale(sizes: SizeDeviation, residual: np.ndarray, noise: np.ndarray,
               weights) -> float:
    """lambda^2 = between / sum_s (h' D_s)^2, between = the jackknife variance of the onset
    over sizes from the residuals minus that of the example replicates' noise (B, n:
    replicates minus what they were drawn around; residualised on the tangent space as the
    residuals are, so both lose the same leverage), floored at 0."""
    n_groups = int(sizes.codes.max()) + 1
    onehot = np.eye(n_groups)[sizes.codes]  # (n, G)
    spread = float(np.sum(((sizes.influence * sizes.deviation) @ onehot) ** 2))
    if not spread > 0.0:
        return 0.0
    J = sizes.tangent
    WJ = weights[:, None] * J
    per_point = sizes.jackknife[:, None] * onehot  # (n, G)
    # the noise residualised on the tangent space, then summed per size: two products
    try:
        inverse = np.linalg.pinv(J.T @ WJ)
    except np.linalg.LinAlgError:
        return 0.0
    per_size = noise @ per_point - (noise @ WJ) @ (inverse @ (J.T @ per_point))
    total = _jackknife_variance((residual @ per_point)[None, :])[0]
    noise_part = float(np.mean(_jackknife_variance(per_size)))
    value = max(total - noise_part, 0.0) / spread
    return value if np.isfinite(value) else 0.0


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


def _example_replicates(series, weights, binomial, fitted, curve: CurveFit,
                        sizes: SizeDeviation | None, rng, n_boot):
    """(replicates (B, n), what they are drawn around (n,), method name)."""
    y = series.y
    if series.examples is not None:
        reps = series.sign * boot.example_replicates(series.examples, rng, n_boot)
        return reps, y, "examples"
    if binomial and series.n is not None:
        reps = series.sign * boot.binomial_replicates(series.sign * y, series.n, rng, n_boot)
        return reps, y, "binomial"
    within = y if sizes is None else y - sizes.deviation
    p = N_PARAMS[curve.name]
    n_params = p if sizes is None else p * (int(sizes.codes.max()) + 1)
    reps = boot.residual_replicates(fitted, within, weights, rng, n_boot, n_params=n_params)
    return reps, fitted, "residual"


def _percentiles(onsets: np.ndarray, sides: np.ndarray):
    """(low, high, n without an onset, open side) of the replicates' onsets, those without
    one placed on their side of the data."""
    found = np.isfinite(onsets) & (sides == 0)
    n_high = int(np.sum(~found & (sides > 0)))
    n_low = int(np.sum(~found)) - n_high
    values = onsets[found]
    if values.size < 20:
        return float("nan"), float("nan"), n_low + n_high, ""
    values = np.concatenate([np.full(n_low, -np.inf), values, np.full(n_high, np.inf)])
    low, high = _quantiles(values)
    side = {(True, True): "both", (True, False): "low", (False, True): "high"}.get(
        (np.isinf(low), np.isinf(high)), "")
    return low, high, n_low + n_high, side


def _quantiles(values: np.ndarray) -> tuple[float, float]:
    """The central LEVEL interval of `values` (NaN for fewer than 20)."""
    if values.size < 20:
        return NAN2
    tail = (1.0 - LEVEL) / 2.0
    low, high = np.quantile(values, [tail, 1.0 - tail], method="inverted_cdf")
    return float(low), float(high)
