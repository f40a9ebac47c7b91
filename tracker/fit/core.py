"""fit_threshold: threshold models versus smooth models for one series of (loss, score)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tracker.errors import TrackerError
from tracker.fit import joint
from tracker.fit.broken import fit_broken_stick
from tracker.fit.capped import fit_capped_hinge
from tracker.fit.clustering import design_effect
from tracker.fit.emergence import emergence_score, final_by_scale
from tracker.fit.hinge import MIN_SIDE, fit_hinge, hinge_curve
from tracker.fit.material import DEFAULT_MIN_RISE, at_chance
from tracker.fit.pvalue import DEFAULT_PBOOT, parametric_p_value
from tracker.fit.result import ThresholdFit
from tracker.fit.smooth import N_PARAMS, bic, fit_competitors, sse_floor
from tracker.fit.verdict import MIN_POINTS, Evidence, decide
from tracker.fit.weights import observation_weights

DEFAULT_BOOT = joint.DEFAULT_BOOT
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
                  examples=None, n_boot: int = DEFAULT_BOOT, n_pboot: int = DEFAULT_PBOOT,
                  min_rise: float = DEFAULT_MIN_RISE,
                  interval_parts: bool = False) -> ThresholdFit:
    """Fit the loss threshold of one (task, metric) series and decide the verdict.

    Args:
        loss: per point, lower is better (e.g. validation bits per byte).
        score: per point, in the metric's units.
        n: examples per point (weights; binomial resampling when `binomial`).
        groups: per point, the model size (or run) it came from: resampled with the
            examples in the joint bootstrap, the clusters of the design effect, and the
            models of the emergence score (NaN without groups).
        higher_is_better: False for brier, edit distance, NLL: the fit is on -score.
        chance: the metric's chance level, to say whether the plateau sits at chance.
        random_state: int seed or numpy Generator (no global RNG is used).
        binomial: the score is a proportion of n right/wrong examples (accuracy, exact match).
        examples: (n_points, n_examples) per-example values (NaN where absent), to resample
            the same examples for every checkpoint.
        n_boot: joint bootstrap replicates (examples and sizes together).
        n_pboot: parametric bootstrap replicates for the p-value (pvalue.py).
        min_rise: the smallest rise over the data's range that is material, in the
            metric's units (tracker/fit/material.py).
        interval_parts: also compute the examples-only and sizes-only intervals (for the
            coverage study; the reported interval is always the joint one).

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
                            baseline_at_chance=at_chance(level, 0.0, chance), p_value=1.0,
                            q_value=1.0, **base)
    settings = dict(binomial=binomial, n_boot=n_boot, n_pboot=n_pboot, min_rise=min_rise,
                    parts=interval_parts)
    return _fit_full(series, chance, rng, settings, base)


def _fit_full(series: Series, chance, rng, settings, base) -> ThresholdFit:
    binomial = settings["binomial"]
    loss, y = series.loss, series.y
    weights = observation_weights(y, series.n, binomial)
    hinge = fit_hinge(loss, y, weights)
    eta, c, k = float(hinge.eta[0]), float(hinge.c[0]), float(hinge.k[0])
    capped = fit_capped_hinge(loss, y, weights)
    broken = fit_broken_stick(loss, y, weights)
    competitors = fit_competitors(loss, y, weights)
    sses: dict[str, float] = {fit.name: fit.sse for fit in competitors}
    sses.update(hinge=float(hinge.sse[0]), capped=capped.sse if capped.ok else np.inf,
                broken_stick=broken.sse if broken.ok else np.inf)
    kinked_curve = {"hinge": hinge_curve(loss, eta, c, k),
                    "capped": capped.predict(loss) if capped.ok else None}
    bics, deff = _clustered_bics(series, weights, sses, kinked_curve, competitors)
    use_capped = bics["capped"] < bics["hinge"]
    if use_capped:  # the threshold is the capped hinge's; its (c, k) come from the rise
        eta, c, k = capped.eta, capped.c, capped.k
    c_se, k_se = _kinked_se(series, weights, eta, capped.cap if use_capped else None)
    slope_z = k / k_se if k_se > 0 else (np.inf if k > 0 else 0.0)
    low = max(capped.cap, float(loss.min())) if use_capped else float(loss.min())
    rise = abs(series.sign * k * max(eta - low, 0.0))
    interior = bool(hinge.interior[0]) if not use_capped else _capped_interior(loss, capped)
    best_smooth = min((f for f in competitors if f.name != "constant"), key=lambda f: bics[f.name])
    p_value = 1.0
    if bics[best_smooth.name] > min(bics["hinge"], bics["capped"]):
        p_value = parametric_p_value(best_smooth, loss, y, weights, series.n, binomial,
                                     series.sign, rng, settings["n_pboot"])
    evidence = Evidence(float(slope_z), interior, rise, settings["min_rise"],
                        best_smooth.converged, p_value)
    decision = decide(bics, evidence)
    interval = joint.threshold_interval(series, weights, binomial, (eta, c, k),
                                        capped.cap if use_capped else None, rng,
                                        settings["n_boot"], settings["parts"])
    baseline = float(series.sign * c)
    emergence = (emergence_score(y[final_by_scale(loss, series.codes)])
                 if series.codes is not None else float("nan"))
    fit = ThresholdFit(
        decision.verdict, threshold=eta, ci_low=interval.low, ci_high=interval.high,
        slope=float(series.sign * k), slope_z=float(slope_z), baseline=baseline,
        baseline_se=c_se, baseline_at_chance=at_chance(baseline, c_se, chance),
        delta_bic=float(decision.delta_bic), best_smooth=decision.best_smooth,
        emergence_score=emergence, interior=interior, reason=decision.reason,
        interval_method=interval.method, ci_example=interval.example,
        ci_group=interval.group, n_boot=settings["n_boot"], hinge=(eta, c, k),
        bic=tuple(sorted(bics.items(), key=lambda kv: kv[1])), smooth=competitors,
        converged=all(fit.converged for fit in competitors), kinked_model=decision.kinked,
        capped=(capped.eta, capped.cap, capped.c, capped.k),
        broken_stick=(broken.eta, broken.a, broken.g, broken.k), rise=rise,
        design_effect=deff, p_value=p_value, q_value=p_value, evidence=evidence,
        n_nonrising=interval.n_nonrising, ci_open=interval.open_side,
        interval_note=interval.note, **base,
    )
    return _as_flat(fit, series, weights) if decision.verdict == "flat" else fit


def _capped_interior(loss: np.ndarray, capped) -> bool:
    """The capped threshold is interior when it is not pinned to the 5-points bound."""
    return bool(capped.ok and capped.eta < loss[-MIN_SIDE] - 1e-9 * np.ptp(loss))


def _as_flat(fit: ThresholdFit, series: Series, weights: np.ndarray) -> ThresholdFit:
    """A flat series has no threshold: report the constant's level (and its SE) instead."""
    level = float(weights @ series.y / weights.sum())
    dispersion = float(weights @ (series.y - level) ** 2) / max(len(series.y) - 1, 1)
    deff_level = design_effect(series.y - level, weights, series.codes)  # Kish's, a level
    level_se = float(np.sqrt(deff_level * dispersion / weights.sum()))
    baseline = float(series.sign * level)
    nan = float("nan")
    return replace(fit, threshold=nan, ci_low=nan, ci_high=nan, slope=0.0, baseline=baseline,
                   baseline_se=level_se, baseline_at_chance=at_chance(baseline, level_se,
                                                                      fit.chance))


def _clustered_bics(series: Series, weights, sses, kinked_curve, competitors):
    """BICs with the design effect of the deciding comparison (tracker/fit/clustering.py):
    the best kinked model against the best smooth one, ranked first without clustering
    (deff = 1 for every model alike), then re-ranked with it. Returns (bics, deff)."""
    loss, y, n_points = series.loss, series.y, len(series.loss)
    floor = sse_floor(y, weights)

    def all_bics(deff):
        return {name: bic(sse, n_points, N_PARAMS[name], floor, deff)
                for name, sse in sses.items()}

    plain = all_bics(1.0)
    smooth = min((f for f in competitors if f.name != "constant"), key=lambda f: plain[f.name])
    kinked = "capped" if plain["capped"] < plain["hinge"] else "hinge"
    difference = kinked_curve[kinked] - smooth.predict(loss)
    better = kinked_curve[kinked] if sses[kinked] <= smooth.sse else smooth.predict(loss)
    deff = design_effect(y - better, weights, series.codes, regressor=difference)
    return all_bics(deff), deff


def _kinked_se(series: Series, weights, eta: float, cap: float | None) -> tuple[float, float]:
    """Standard errors of (c, k) at the fitted breakpoints (WLS, dispersion from the
    residuals), each times the square root of its own design effect for points clustered
    in sizes: a level's (Kish) for c, the rising column's for k."""
    low = -np.inf if cap is None else cap
    z = eta - np.clip(series.loss, low, eta)
    design = np.stack([np.ones_like(z), z], axis=1)
    info = design.T @ (weights[:, None] * design)
    coef = np.linalg.lstsq(info, design.T @ (weights * series.y), rcond=None)[0]
    resid = series.y - design @ coef
    dof = max(len(z) - (3 if cap is None else 4), 1)
    dispersion = float(weights @ resid**2) / dof
    try:
        cov = dispersion * np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return (float("nan"), float("nan"))
    deff_level = design_effect(resid, weights, series.codes)
    deff_slope = design_effect(resid, weights, series.codes, regressor=z)
    return (float(np.sqrt(max(deff_level * cov[0, 0], 0.0))),
            float(np.sqrt(max(deff_slope * cov[1, 1], 0.0))))
