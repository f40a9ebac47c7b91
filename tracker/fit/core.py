"""fit_threshold: does an ability emerge as loss falls, where does it begin, how abruptly?"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tracker.fit import joint
from tracker.fit.candidates import fit_candidates
from tracker.fit.clustering import design_effect
from tracker.fit.curves import KINKED, CurveFit, bic, sse_floor, steepest
from tracker.fit.emergence import emergence_score, final_by_scale
from tracker.fit.material import DEFAULT_MIN_RISE, at_chance
from tracker.fit.pvalue import DEFAULT_PBOOT, parametric_p_value
from tracker.fit.result import ThresholdFit
from tracker.fit.setaside import spikes, startup_points
from tracker.fit.shape import PLATEAU_FRACTION, PLATEAU_POINTS, Frame, Shapes, ceiling, judge
from tracker.fit.verdict import (
    EMERGES_MARGIN,
    MIN_LOSSES,
    MIN_POINTS,
    Decision,
    Evidence,
    ShortPlateau,
    best_of,
    decide,
)
from tracker.fit.weights import observation_weights

DEFAULT_BOOT = joint.DEFAULT_BOOT
# Finite values beyond this overflow the fits' sums of squares (1e308 - -1e308 is inf): such
# a series is not fitted (verdict failed, with the reason) rather than crashing inside scipy.
MAX_MAGNITUDE = 1e100
# Above this many points the fits' arrays (a bootstrap of 1,000 replicates x n) outgrow
# memory (20,000 points: 1.4 GB, 10 s): a longer series is merged first (merge_points).
MAX_POINTS = 20_000
ABRUPT_MARGIN = 10.0  # a kinked curve beating the sigmoid by this much: an abrupt onset
ABRUPT_WIDTH = 0.1  # ... or a rise completed within this fraction of the loss range
CONTENDER_BIC = 40.0


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


@dataclass(frozen=True)
class Judged:
    """The candidates fitted to one series, ranked and classed by shape."""

    fits: tuple[CurveFit, ...]
    shapes: dict[str, Shapes]
    bics: dict[str, float]
    ranking: joint.Ranking
    decision: Decision
    evidence: Evidence

    def curve(self, name: str) -> CurveFit:
        return next(fit for fit in self.fits if fit.name == name)


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
                  min_rise: float = DEFAULT_MIN_RISE, interval_parts: bool = False,
                  interval_state=None) -> ThresholdFit:
    """Decide whether an ability emerges in one (task, metric) series, and where it begins.

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
        interval_state: seed (or Generator) of the joint bootstrap's draws; default: from
            `random_state`. Two series given the same seed and the same shape of data
            (points, examples, sizes) draw the same replicates (the mirage test pairs them).

    Isolated spikes (one size's checkpoint far off both its neighbours; not for 0/1
    proportions) and a start-up transient (the highest-loss points' jump onto a level) are
    set aside before fitting (tracker/fit/setaside.py), counted in `n_spikes` and
    `n_startup`, the highest loss kept in `startup_above`; `n_points` counts the points
    fitted.

    Non-finite (loss, score) pairs are dropped and counted in `n_dropped`; fewer than 10
    points left gives verdict 'insufficient'; constant scores give 'flat'; a finite loss or
    score beyond +-1e100 (MAX_MAGNITUDE) gives 'failed' with the reason in `note`; more
    than 20,000 points (MAX_POINTS) are merged first (:func:`merge_points`, said in
    `note`).

    Example:
        >>> L = np.linspace(1.5, 4.0, 100)
        >>> fit_threshold(L, 0.25 + 0.5 * np.maximum(2.5 - L, 0)).verdict
        'emerges'
    """
    rng = np.random.default_rng(random_state)
    series = prepare_series(loss, score, n, groups, examples, higher_is_better)
    base: dict[str, Any] = dict(n_points=len(series.loss), n_dropped=series.n_dropped,
                                chance=chance, higher_is_better=higher_is_better)
    if len(series.loss) and max(np.abs(series.loss).max(), np.abs(series.y).max()) \
            > MAX_MAGNITUDE:
        note = (f"a loss or score beyond +-{MAX_MAGNITUDE:g} cannot be fitted (its squares "
                "overflow); check the points' units")
        return ThresholdFit("failed", reason=note, note=note, **base)
    if len(series.loss) > MAX_POINTS:
        series, note = merge_points(series, MAX_POINTS)
        base.update(n_points=len(series.loss), note=note)
    if len(series.loss) < MIN_POINTS:
        return ThresholdFit("insufficient", reason=f"fewer than {MIN_POINTS} points", **base)
    if np.unique(series.loss).size < MIN_LOSSES:
        return ThresholdFit("insufficient", reason=f"fewer than {MIN_LOSSES} distinct losses",
                            **base)
    series = set_aside(series, binomial, min_rise, base)
    if np.ptp(series.y) == 0.0:
        level = float(series.sign * series.y[0])
        return ThresholdFit("flat", baseline=level, reason="constant scores", slope=0.0,
                            baseline_at_chance=at_chance(level, 0.0, chance), p_value=1.0,
                            q_value=1.0, rise=0.0, **base)
    weights = observation_weights(series.y, series.n, binomial)
    judged = judge_series(series, weights, min_rise, chance)
    p_value = 1.0
    decision = judged.decision
    if decision.delta_bic > EMERGES_MARGIN:
        # a line never has a plateau (shape.py): the null where no other curve lacks one
        null = judged.curve(decision.best_other or "linear")
        p_value = parametric_p_value(null, series.loss, series.y, weights, series.n, binomial,
                                     series.sign, rng, judged.ranking.frame, n_pboot)
        evidence = replace(judged.evidence, q_value=p_value)
        judged = replace(judged, evidence=evidence,
                         decision=decide(judged.bics, _plateau_map(judged), evidence))
    settings = dict(binomial=binomial, n_boot=n_boot, parts=interval_parts,
                    state=rng if interval_state is None else interval_state)
    return _result(series, weights, judged, chance, p_value, settings, base)


def set_aside(series: Series, binomial: bool, min_rise: float, base: dict[str, Any]
              ) -> Series:
    """The series less its isolated spikes (not for 0/1 proportions) and then its start-up
    transient (tracker/fit/setaside.py), each counted in `base`; unchanged where there is
    neither, or where fewer than MIN_POINTS points would remain."""
    spiked = (np.zeros(len(series.loss), dtype=bool) if binomial
              else spikes(series.loss, series.y, series.codes, min_rise))
    aside: list[float] = []
    if spiked.any() and np.count_nonzero(~spiked) >= MIN_POINTS:
        aside += series.loss[spiked].tolist()
        series = subset(series, ~spiked)
        base.update(n_points=len(series.loss), n_spikes=int(spiked.sum()))
    startup = startup_points(series.loss, series.y, min_rise, MIN_POINTS)
    if startup:
        keep = np.arange(len(series.loss)) < len(series.loss) - startup
        aside += series.loss[~keep].tolist()
        series = subset(series, keep)
        base.update(n_points=len(series.loss), n_startup=startup,
                    startup_above=float(series.loss[-1]))
    if aside:
        base.update(set_aside=tuple(sorted(aside)))
    return series


def subset(series: Series, keep: np.ndarray) -> Series:
    """The series' points where `keep` (boolean, in its order); the remaining sizes' codes
    renumbered from 0."""
    codes = None if series.codes is None else np.unique(series.codes[keep],
                                                         return_inverse=True)[1].ravel()
    return Series(series.loss[keep], series.y[keep],
                  None if series.n is None else series.n[keep], codes,
                  None if series.examples is None else series.examples[keep],
                  series.n_dropped, series.sign)


def merge_points(series: Series, limit: int) -> tuple[Series, str]:
    """At most `limit` points: each size's points, in loss order, merged in runs of
    consecutive ones (as many runs per size as its share of the points allows, at least
    one); a run's loss, score and per-example values are its means (weighted by n where n
    is known) and its n their sum. Returns the merged series and a note saying so."""
    n_points = len(series.loss)
    codes = series.codes if series.codes is not None else np.zeros(n_points, dtype=int)
    counts = series.n if series.n is not None else np.ones(n_points)
    order = np.lexsort((series.loss, codes))
    runs = []
    for code in np.unique(codes):
        members = order[codes[order] == code]
        parts = max(1, int(limit * members.size // n_points))
        runs += [part for part in np.array_split(members, parts) if part.size]
    weights = [counts[run] for run in runs]
    loss = np.array([np.average(series.loss[run], weights=w) for run, w in zip(runs, weights,
                                                                                strict=True)])
    y = np.array([np.average(series.y[run], weights=w) for run, w in zip(runs, weights,
                                                                          strict=True)])
    n = None if series.n is None else np.array([float(w.sum()) for w in weights])
    merged_codes = None if series.codes is None else np.array([codes[run[0]] for run in runs])
    examples = None if series.examples is None else np.stack(
        [np.nanmean(series.examples[run], axis=0) for run in runs])
    order = np.argsort(loss, kind="stable")
    merged = Series(loss[order], y[order], None if n is None else n[order],
                    None if merged_codes is None else merged_codes[order],
                    None if examples is None else examples[order], series.n_dropped,
                    series.sign)
    note = (f"{n_points:,} points: each size's neighbouring points (in loss order) merged "
            f"into {len(runs):,} (means, n summed)")
    return merged, note


def judge_series(series: Series, weights: np.ndarray, min_rise: float,
                 chance: float | None = None) -> Judged:
    """Every candidate fitted, classed by shape and ranked by BIC with the design effect of
    the deciding comparison; then the rule (with q = 0: the p-value comes after)."""
    loss, y = series.loss, series.y
    n_points = len(loss)
    fits = fit_candidates(loss, y, weights)
    floor = sse_floor(y, weights)
    plain = {fit.name: bic(fit.sse, n_points, fit.n_params, floor) for fit in fits}
    frame = Frame.of(loss, _level_se(series, weights, fits, plain), min_rise)
    shapes = {fit.name: judge(fit.name, np.array([fit.params]), frame) for fit in fits}
    plateau = {name: bool(shape.plateau[0]) for name, shape in shapes.items()}
    by_name = {fit.name: fit for fit in fits}
    deff = _design_effect(series, weights, by_name, plain, plateau)
    bics = {fit.name: bic(fit.sse, n_points, fit.n_params, floor, deff) for fit in fits}
    ranking = joint.Ranking(frame, floor, deff, n_points)
    best = best_of(bics, [name for name in bics if name != "constant"])
    chance_level = None if chance is None or not np.isfinite(chance) else series.sign * chance
    change = _change(by_name[best], frame, chance_level) if best else 0.0
    provisional = decide(bics, plateau, Evidence(change, min_rise, 0, True))
    rise_starts = (shapes[provisional.best_plateau].upper[0] if provisional.best_plateau
                   else np.nan)
    deciding = [by_name[name] for name in (provisional.best_plateau, provisional.best_other)
                if name]
    evidence = Evidence(change, min_rise, int(frame.points_below(np.array([rise_starts]))[0]),
                        all(fit.converged for fit in deciding),
                        short_plateau=_short_plateau(by_name[best], shapes[best], frame)
                        if best and not plateau[best] else None)
    return Judged(fits, shapes, bics, ranking, decide(bics, plateau, evidence), evidence)


def _short_plateau(best: CurveFit, shape: Shapes, frame: Frame) -> ShortPlateau | None:
    """The best curve stays on its level over the least plateau's share of the range but
    fewer than PLATEAU_POINTS observed checkpoints lie there before it rises (at least 2):
    too few points on the plateau's side to tell a plateau (DESIGN.md: insufficient), not a
    rise throughout. The two checkpoints that bracket where more are needed are named."""
    upper = float(shape.upper[0])
    if not np.isfinite(upper):
        return None
    range_only = replace(frame, window=frame.high - PLATEAU_FRACTION * (frame.high - frame.low))
    if not judge(best.name, np.array([best.params]), range_only, widths=False).plateau[0]:
        return None
    above = frame.losses[frame.losses > upper]
    if not 2 <= above.size < PLATEAU_POINTS:
        return None
    below = frame.losses[frame.losses <= upper]
    return ShortPlateau(int(above.size), float(above[0]),
                        float(below[-1]) if below.size else float("nan"))


def _plateau_map(judged: Judged) -> dict[str, bool]:
    return {name: bool(shape.plateau[0]) for name, shape in judged.shapes.items()}


def _level_se(series: Series, weights, fits, plain) -> float:
    """SE of a plateau's level: the best curve's residual dispersion over the weight of the
    points in the plateau window (the least plateau the shape rule accepts), times the
    design effect of a level for points clustered in sizes."""
    best = min((fit for fit in fits if fit.name != "constant"), key=lambda f: plain[f.name])
    resid = series.y - best.predict(series.loss)
    dispersion = float(weights @ resid**2) / max(len(resid) - best.n_params, 1)
    window = Frame.of(series.loss, 0.0, 0.0).window
    top = float(weights[series.loss >= window].sum())
    deff = design_effect(resid, weights, series.codes)
    value = float(np.sqrt(deff * dispersion / top)) if top > 0 else float("nan")
    return value if np.isfinite(value) else 0.0


def _design_effect(series: Series, weights, by_name: dict[str, CurveFit], plain,
                   plateau) -> float:
    """The design effect of the deciding comparison (tracker/fit/clustering.py): the best
    plateau-shaped curve against the best one without a plateau (ranked without clustering,
    deff = 1 for every curve alike), the residuals those of the better of the two."""
    names = [name for name in plain if name != "constant"]
    first = best_of(plain, [n for n in names if plateau[n]])
    second = best_of(plain, [n for n in names if not plateau[n]])
    if not first or not second:
        return 1.0
    a, b = by_name[first].predict(series.loss), by_name[second].predict(series.loss)
    better = a if plain[first] <= plain[second] else b
    value = design_effect(series.y - better, weights, series.codes, regressor=a - b)
    return value if np.isfinite(value) else 1.0


def _change(curve: CurveFit, frame: Frame, chance: float | None) -> float:
    """The fitted curve's largest change across the observed range (absolute), counted
    from chance up where chance is known (oriented): a score that climbs from below
    chance to chance (a random model's answer-format bias being unlearnt: Pythia's MMLU
    at initialisation) shows no ability by that."""
    values = curve.predict(np.linspace(frame.low, frame.high, 129))
    if not np.all(np.isfinite(values)):
        return 0.0
    low, high = float(values.min()), float(values.max())
    if chance is not None:
        low = min(max(low, chance), high)
    return high - low


def _result(series, weights, judged: Judged, chance, p_value, settings, base) -> ThresholdFit:
    decision, frame = judged.decision, judged.ranking.frame
    emerging = decision.verdict in ("emerges", "weak")
    model = decision.best_plateau if emerging else (
        best_of(judged.bics, [n for n in judged.bics if n != "constant"]) or "constant")
    if decision.verdict == "flat":
        model = "constant"
    shape = judged.shapes[model].row(0)
    sign = series.sign
    common: dict[str, Any] = dict(
        reason=decision.reason, delta_bic=decision.delta_bic, model=model,
        best_plateau=decision.best_plateau, best_no_plateau=decision.best_other,
        bic=tuple(sorted(judged.bics.items(), key=lambda kv: kv[1])), curves=judged.fits,
        plateau_shaped=tuple(n for n, s in judged.shapes.items() if s.plateau[0]),
        converged=all(fit.converged for fit in judged.fits),
        design_effect=judged.ranking.design_effect, p_value=p_value, q_value=p_value,
        evidence=judged.evidence, emergence_score=_emergence(series), n_boot=settings["n_boot"],
        **base)
    if decision.verdict == "flat":
        return _flat(series, weights, chance, common)
    if not emerging:
        change = judged.curve(model).predict(np.array([frame.low, frame.high]))
        return ThresholdFit(decision.verdict, baseline=float(sign * shape["level"]),
                            slope=float(sign * shape["slope"]),
                            rise=float(change[0] - change[1]),
                            ceiling=ceiling(model, np.array(judged.curve(model).params), frame,
                                            series.y),
                            **common)
    chosen = judged.curve(model)
    interval = joint.onset_interval(series, weights, settings["binomial"], chosen,
                                    contenders(judged), judged.ranking,
                                    _interval_rngs(settings["state"]), settings["n_boot"],
                                    settings["parts"])
    level = float(sign * shape["level"])
    span = frame.high - frame.low
    steepest_at = float(steepest(model, np.array([chosen.params]), frame.low, frame.high)[0][0])
    width = shape["upper"] - shape["lower"]
    inside = (series.loss >= shape["lower"]) & (series.loss <= shape["upper"])
    return ThresholdFit(
        decision.verdict, threshold=shape["onset"], ci_low=interval.low, ci_high=interval.high,
        slope=float(sign * shape["slope"]), baseline=level, baseline_se=frame.level_se,
        baseline_at_chance=at_chance(level, frame.level_se, chance),
        abrupt=_abrupt(judged.bics, width / span if span > 0 else np.nan),
        width=width, width_low=interval.width[0], width_high=interval.width[1],
        width_frac=width / span if span > 0 else np.nan, upper=shape["upper"],
        lower=shape["lower"], n_in_rise=int(inside.sum()),
        plateau_share=interval.plateau_share, interior=True, rise=shape["rise"],
        steepening=bool(steepest_at <= frame.low + 1e-9 * max(span, 1e-12)),
        interval_method=interval.method, ci_example=interval.example,
        ci_group=interval.group, n_nonrising=interval.n_nonrising, ci_open=interval.open_side,
        interval_note=interval.note, onset_draws=interval.draws, **common)


def contenders(judged: Judged) -> tuple[CurveFit, ...]:
    """The candidates refitted in each bootstrap replicate: the two deciding curves, and
    every curve within CONTENDER_BIC of the better of them. A curve further behind on the
    data does not win a replicate: a BIC gap D between two fits moves across replicates
    with a standard deviation of about 2 sqrt(D), so a gap of 40 is 3 standard deviations
    from a tie. Refitting it anyway (a sigmoid is the costliest refit) would cost time and
    change nothing."""
    decision, bics = judged.decision, judged.bics
    deciding = {decision.best_plateau, decision.best_other} - {""}
    best = min(bics[name] for name in deciding)
    return tuple(fit for fit in judged.fits
                 if fit.name in deciding or bics[fit.name] <= best + CONTENDER_BIC)


def _abrupt(bics: dict[str, float], width_frac: float) -> bool:
    """Abrupt: a kinked curve beats the sigmoid by > 10 BIC (the onset is a kink), or the
    rise is completed within a tenth of the observed loss range (a near-step, which a steep
    sigmoid fits as well as any kink: DESIGN.md's BIC rule alone called the ladder's copy:8,
    0.00 to 0.99 within 0.1 bits per byte, graded)."""
    kinked = min(bics.get(name, np.inf) for name in KINKED)
    return bool(bics.get("sigmoid", np.inf) - kinked > ABRUPT_MARGIN
                or (np.isfinite(width_frac) and width_frac < ABRUPT_WIDTH))


def _interval_rngs(state) -> tuple[np.random.Generator, np.random.Generator]:
    """Two generators, for the examples' and the sizes' parts of the joint bootstrap, so
    that what one part draws never shifts the other's draws."""
    if isinstance(state, np.random.Generator):
        first, second = state.spawn(2)
        return first, second
    seed = list(np.atleast_1d(state).astype(np.int64).tolist())
    return np.random.default_rng([*seed, 1]), np.random.default_rng([*seed, 2])


def _emergence(series: Series) -> float:
    if series.codes is None:
        return float("nan")
    return emergence_score(series.y[final_by_scale(series.loss, series.codes)])


def _flat(series: Series, weights: np.ndarray, chance, common) -> ThresholdFit:
    """A flat series has no onset: report the constant's level (and its SE) instead."""
    level = float(weights @ series.y / weights.sum())
    dispersion = float(weights @ (series.y - level) ** 2) / max(len(series.y) - 1, 1)
    deff_level = design_effect(series.y - level, weights, series.codes)  # Kish's, a level
    level_se = float(np.sqrt(deff_level * dispersion / weights.sum()))
    baseline = float(series.sign * level)
    return ThresholdFit("flat", slope=0.0, baseline=baseline, baseline_se=level_se,
                        baseline_at_chance=at_chance(baseline, level_se, chance), rise=0.0,
                        **common)
