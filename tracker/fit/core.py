"""fit_threshold: hinge versus smooth models for one series of (loss, score) points."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tracker.errors import TrackerError
from tracker.fit import bootstrap as boot
from tracker.fit.emergence import emergence_score, final_by_scale
from tracker.fit.hinge import HingeArrays, fit_hinge, hinge_curve
from tracker.fit.result import ThresholdFit
from tracker.fit.smooth import N_PARAMS, bic, fit_competitors
from tracker.fit.verdict import MIN_POINTS, decide
from tracker.fit.weights import observation_weights

DEFAULT_BOOT = 200  # replicates per bootstrap (examples, and groups): 400 hinge fits in all
MIN_GROUPS = 3  # resampling 2 groups with replacement is degenerate
# Finite values beyond this overflow the fits' sums of squares (1e308 - -1e308 is inf): such
# a series is refused with a TrackerError rather than crashing inside scipy.
MAX_MAGNITUDE = 1e100


@dataclass(frozen=True)
class Series:
    """Finite points sorted by loss; `y` oriented (higher is better); arrays of n_points."""

    loss: np.ndarray
    y: np.ndarray
    n: np.ndarray | None
    codes: np.ndarray | None
    examples: np.ndarray | None
    n_dropped: int
    sign: float


def prepare_series(loss, score, n, groups, examples, higher_is_better) -> Series:
    """Drop non-finite (loss, score) pairs (counted), sort by loss, orient the score."""
    loss = np.asarray(loss, dtype=float).ravel()
    score = np.asarray(score, dtype=float).ravel()
    if loss.shape != score.shape:
        raise ValueError(f"loss has {loss.size} values but score has {score.size}")
    keep = np.isfinite(loss) & np.isfinite(score)
    order = np.flatnonzero(keep)[np.argsort(loss[keep], kind="stable")]
    counts = None if n is None else np.asarray(n, dtype=float).ravel()[order]
    if counts is not None and not np.all(np.isfinite(counts) & (counts > 0)):
        counts = None  # partial n is not trusted: weights fall back to 1
    codes = None
    if groups is not None:
        codes = np.unique(np.asarray(groups).ravel()[order], return_inverse=True)[1].ravel()
    values = None if examples is None else np.asarray(examples, dtype=float)[order]
    sign = 1.0 if higher_is_better else -1.0
    return Series(loss[order], sign * score[order], counts, codes, values,
                  int((~keep).sum()), sign)


def fit_threshold(loss, score, *, n=None, groups=None, higher_is_better: bool = True,
                  chance: float | None = None, random_state=0, binomial: bool = False,
                  examples=None, n_boot: int = DEFAULT_BOOT) -> ThresholdFit:
    """Fit the loss threshold of one (task, metric) series and decide the verdict.

    Args:
        loss: per point, lower is better (e.g. validation bits per byte).
        score: per point, in the metric's units.
        n: examples per point (weights; binomial resampling when `binomial`).
        groups: per point, the model size (or run) it came from: for the group bootstrap
            and the emergence score.
        higher_is_better: False for brier, edit distance, NLL: the fit is on -score.
        chance: the metric's chance level, to say whether the plateau sits at chance.
        random_state: int seed or numpy Generator (no global RNG is used).
        binomial: the score is a proportion of n right/wrong examples (accuracy, exact match).
        examples: (n_points, n_examples) per-example values (NaN where absent), to resample
            the same examples for every checkpoint.
        n_boot: replicates per bootstrap.

    Non-finite (loss, score) pairs are dropped and counted in `n_dropped`; fewer than 10
    points left gives verdict 'insufficient'; constant scores give 'flat'. A finite loss or
    score beyond +-1e100 (MAX_MAGNITUDE) raises TrackerError.

    Example:
        >>> L = np.linspace(1.5, 4.0, 100)
        >>> fit_threshold(L, 0.25 + 0.5 * np.maximum(2.5 - L, 0)).verdict
        'threshold'
    """
    rng = np.random.default_rng(random_state)
    series = prepare_series(loss, score, n, groups, examples, higher_is_better)
    if len(series.loss) and max(np.abs(series.loss).max(), np.abs(series.y).max()) \
            > MAX_MAGNITUDE:
        raise TrackerError(f"a loss or score beyond +-{MAX_MAGNITUDE:g} cannot be fitted "
                           "(its squares overflow); check the points' units")
    base: dict[str, Any] = dict(n_points=len(series.loss), n_dropped=series.n_dropped,
                                chance=chance, higher_is_better=higher_is_better)
    if len(series.loss) < MIN_POINTS:
        return ThresholdFit("insufficient", reason=f"fewer than {MIN_POINTS} points", **base)
    if np.ptp(series.y) == 0.0:
        level = float(series.sign * series.y[0])
        return ThresholdFit("flat", baseline=level, reason="constant scores", slope=0.0,
                            baseline_at_chance=_at_chance(level, 0.0, chance), **base)
    return _fit_full(series, binomial, chance, rng, n_boot, base)


def _fit_full(series: Series, binomial, chance, rng, n_boot, base) -> ThresholdFit:
    weights = observation_weights(series.y, series.n, binomial)
    hinge = fit_hinge(series.loss, series.y, weights)
    eta, c, k = float(hinge.eta[0]), float(hinge.c[0]), float(hinge.k[0])
    c_se, k_se = _hinge_se(series, weights, hinge)
    competitors = fit_competitors(series.loss, series.y, weights)
    n_points = len(series.loss)
    floor = 1e-18 * max(float(weights @ (series.y - series.y.mean()) ** 2), 1e-300)
    bics: dict[str, float] = {fit.name: bic(fit.sse, n_points, N_PARAMS[fit.name], floor)
                              for fit in competitors}
    bics["hinge"] = bic(float(hinge.sse[0]), n_points, N_PARAMS["hinge"], floor)
    slope_z = k / k_se if k_se > 0 else (np.inf if k > 0 else 0.0)
    decision = decide(bics, slope_z, bool(hinge.interior[0]))
    ci_ex, ci_gr, method = _intervals(series, weights, binomial, (eta, c, k), rng, n_boot)
    ci = boot.union(ci_ex, ci_gr)
    baseline = float(series.sign * c)
    finals = final_by_scale(series.loss, series.codes)
    fit = ThresholdFit(
        decision.verdict, threshold=eta, ci_low=ci[0], ci_high=ci[1],
        slope=float(series.sign * k), slope_z=float(slope_z), baseline=baseline,
        baseline_se=c_se, baseline_at_chance=_at_chance(baseline, c_se, chance),
        delta_bic=float(decision.delta_bic), best_smooth=decision.best_smooth,
        emergence_score=emergence_score(series.y[finals]), interior=bool(hinge.interior[0]),
        reason=decision.reason, interval_method=method, ci_example=ci_ex, ci_group=ci_gr,
        n_boot=n_boot, hinge=(eta, c, k), bic=tuple(sorted(bics.items(), key=lambda kv: kv[1])),
        smooth=competitors, converged=all(fit.converged for fit in competitors), **base,
    )
    return _as_flat(fit, series, weights) if decision.verdict == "flat" else fit


def _as_flat(fit: ThresholdFit, series: Series, weights: np.ndarray) -> ThresholdFit:
    """A flat series has no threshold: report the constant's level (and its SE) instead."""
    level = float(weights @ series.y / weights.sum())
    dispersion = float(weights @ (series.y - level) ** 2) / max(len(series.y) - 1, 1)
    level_se = float(np.sqrt(dispersion / weights.sum()))
    baseline = float(series.sign * level)
    nan = float("nan")
    return replace(fit, threshold=nan, ci_low=nan, ci_high=nan, slope=0.0, baseline=baseline,
                   baseline_se=level_se, baseline_at_chance=_at_chance(baseline, level_se,
                                                                       fit.chance))


def _hinge_se(series: Series, weights: np.ndarray, hinge: HingeArrays) -> tuple[float, float]:
    """Standard errors of (c, k) at the fitted eta (WLS, dispersion from the residuals)."""
    z = np.maximum(hinge.eta[0] - series.loss, 0.0)
    design = np.stack([np.ones_like(z), z], axis=1)
    info = design.T @ (weights[:, None] * design)
    dof = max(len(z) - 3, 1)
    dispersion = float(hinge.sse[0]) / dof
    try:
        cov = dispersion * np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return (float("nan"), float("nan"))
    return (float(np.sqrt(max(cov[0, 0], 0.0))), float(np.sqrt(max(cov[1, 1], 0.0))))


def _at_chance(level: float, se: float, chance: float | None) -> bool | None:
    """Plateau within 2 standard errors of chance (None when chance is unknown)."""
    if chance is None or not np.isfinite(chance):
        return None
    return bool(abs(level - chance) <= max(2.0 * se, 1e-12))


def _intervals(series: Series, weights, binomial, params, rng, n_boot):
    """Percentile intervals for eta from the example bootstrap and the group bootstrap."""
    loss, y = series.loss, series.y
    if series.examples is not None:
        replicates = series.sign * boot.example_replicates(series.examples, rng, n_boot)
        method = "examples"
    elif binomial and series.n is not None:
        replicates = series.sign * boot.binomial_replicates(series.sign * y, series.n, rng,
                                                            n_boot)
        method = "binomial"
    else:
        fitted = hinge_curve(loss, *params)
        replicates = boot.residual_replicates(fitted, y, weights, rng, n_boot)
        method = "residual"
    rep_weights = observation_weights(replicates, series.n, binomial)
    ci_ex = _eta_interval(fit_hinge(loss, replicates, rep_weights))
    ci_gr = (float("nan"), float("nan"))
    if series.codes is not None and series.codes.max() + 1 >= MIN_GROUPS:
        n_groups = int(series.codes.max()) + 1
        mult = boot.group_multiplicities(series.codes, rng, n_boot)
        fits = fit_hinge(loss, np.broadcast_to(y, mult.shape), weights * mult)
        # Resampling G clusters understates their variance by (G - 1) / G; with 5 sizes that
        # matters, so deviations from the estimate are scaled back up by sqrt(G / (G - 1)).
        inflate = np.sqrt(n_groups / (n_groups - 1))
        ci_gr = _eta_interval(fits, centre=params[0], inflate=inflate)
        method += "+groups"
    return ci_ex, ci_gr, method


def _eta_interval(fits: HingeArrays, centre: float = 0.0, inflate: float = 1.0):
    etas = centre + inflate * (fits.eta - centre)
    return boot.percentile_interval(np.where(fits.ok, etas, np.nan))
