"""Forecast a bigger model's scores in two steps (Bhagia et al. 2024, the OLMo ladder).

1. Loss from parameters and tokens (:mod:`tracker.forecast.scaling`), fitted to the end-of-
   schedule checkpoint of each fit size: its final checkpoint, or with ``at_tokens`` its
   checkpoint nearest that token count. Intermediate checkpoints of a decaying learning-rate
   schedule lie above the loss a run planned for that many tokens reaches, so mixing them in
   biases the fit (Bhagia et al. fit step 1 on final checkpoints for the same reason).
2. Score from loss (:mod:`tracker.forecast.score`), fitted to every checkpoint of the fit
   sizes at step >= ``min_step``; the target's score is read off at its predicted loss (two
   steps) and, where the target's real loss exists, at that loss (step 2 alone).

Intervals (``level``, default 90%) are percentiles over bootstrap replicates that resample
the fit sizes (runs, with replacement: both steps refitted on the same draw) and the test
examples (Binomial(n, score) / n per point for accuracy-type metrics, else the residuals
of the chosen curve), plus the target's own measurement noise (Binomial(n, predicted) / n
with the task's example count; where that is unknown or the metric is not accuracy-type,
a residual of the fit points around the curve): they are intervals for the score an
evaluation of the target will report, not for the curve alone. Predictions and interval
ends are clipped to the metric's range (:func:`tracker.evals.metrics.metric_range`): a curve
extrapolated past the data must not predict a negative NLL or an accuracy above 1.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tracker.errors import TrackerError, printable
from tracker.evals.metrics import BINOMIAL_METRICS, metric_range
from tracker.fit import bootstrap as boot
from tracker.fit.core import prepare_series
from tracker.fit.table import without_proxy_source
from tracker.fit.weights import observation_weights
from tracker.forecast.feature import (
    VALIDATION_FEATURE,
    chance_of,
    finite_or,
    skip_and_smooth,
    with_task_feature,
)
from tracker.forecast.runs import (
    Run,
    check_fit_runs,
    default_fit_runs,
    pick_runs,
    runs_of,
)
from tracker.forecast.scaling import ScalingFit, fit_scaling_law
from tracker.forecast.score import CANDIDATES, check_curves, fit_score_curves, refit
from tracker.points import validate_points

TOKEN_MATCH = 0.10  # a checkpoint within 10% of the asked token count stands for it
RESAMPLING = ("runs", "sizes")  # what the bootstrap draws: fit runs, or sizes then runs
COLUMNS = ("target", "params", "tokens", "step", "task", "metric", "curve", "predicted_loss",
           "loss_low", "loss_high", "true_loss", "predicted_score", "score_low", "score_high",
           "true_score", "error", "score_given_loss", "given_loss_low", "given_loss_high",
           "error_given_loss", "below_chance")


@dataclass(frozen=True)
class ForecastRow:
    """One target and series. Scores in the metric's units, losses in the points' units;
    ``*_low``/``*_high`` bound the interval; ``true_*`` and ``error*`` (predicted minus
    true) are NaN when the target has no checkpoint at ``tokens``."""

    target: str
    params: float
    tokens: float
    step: float
    task: str
    metric: str
    curve: str
    predicted_loss: float
    loss_low: float
    loss_high: float
    true_loss: float
    predicted_score: float
    score_low: float
    score_high: float
    true_score: float
    error: float
    score_given_loss: float
    given_loss_low: float
    given_loss_high: float
    error_given_loss: float
    below_chance: bool = False


@dataclass(frozen=True)
class Forecast:
    """Every row, the step-1 fit, the fit runs' labels, the level and notes for the user.
    With a per-task feature each task has its own step 1: ``scaling`` is the first task's
    and ``task_scalings`` holds every task's."""

    rows: tuple[ForecastRow, ...]
    scaling: ScalingFit
    fit_runs: tuple[str, ...]
    level: float
    notes: tuple[str, ...] = ()
    feature: str = VALIDATION_FEATURE
    task_scalings: tuple[tuple[str, ScalingFit], ...] = ()

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([vars(row) for row in self.rows], columns=list(COLUMNS))

    def write_csv(self, path) -> None:
        self.to_frame().to_csv(path, index=False)


@dataclass(frozen=True)
class Target:
    run: Run
    tokens: float
    truth: pd.Series | None  # the target's checkpoint at `tokens`, when it has one


@dataclass(frozen=True)
class Step1:
    """Step 1's fit and what every series' step 2 shares: the targets, the fit runs' codes
    (label -> index), the resampling of the fit runs (B, n_runs multiplicities) and the
    predicted loss of each target in each replicate (B, n_targets)."""

    scaling: ScalingFit
    goals: tuple[Target, ...]
    codes: dict[str, int]
    mult: np.ndarray
    loss_reps: np.ndarray


def forecast(points: pd.DataFrame, targets: Sequence[str], *,
             fit_sizes: Sequence[str] | None = None, at_tokens: float | None = None,
             min_step: float = 0, n_boot: int = 200, level: float = 0.9,
             random_state=0, feature: str = VALIDATION_FEATURE, skip: float = 0.0,
             window: int = 1, curves: Sequence[str] = CANDIDATES,
             resample: str = "runs") -> Forecast:
    """Predict every (task, metric) of ``points`` for each target size.

    ``feature``: what step 1 predicts and step 2 reads the score off, the points' loss
    (``validation``) or a metric of each task (``bits_per_byte_correct``: the task's own
    loss, Bhagia et al. 2024), :mod:`tracker.forecast.feature`. ``window``: every series is
    a trailing moving average over that many checkpoints, so step 1's anchor is the mean of
    a fit run's last ``window``; ``skip``: the first share of each fit run's checkpoints is
    left out of step 2. ``curves``: step 2's candidates (:mod:`tracker.forecast.score`).
    ``resample``: what each bootstrap replicate draws, the fit runs with replacement
    (``runs``) or the sizes by the Bayesian bootstrap and then the runs within each size
    (``sizes``, :func:`tracker.fit.bootstrap.cluster_weights`).

    Example:
        >>> result = forecast(points, ["2.8b"], min_step=1000)  # doctest: +SKIP
        >>> result.to_frame()[["target", "task", "predicted_score", "error"]]  # doctest: +SKIP
    """
    if not targets:
        raise TrackerError("no target size given; name one or more, e.g. --target 2.8b,12b")
    check_curves(curves)
    if resample not in RESAMPLING:
        raise TrackerError(f"unknown resampling '{printable(resample)}'; choose from "
                           f"{', '.join(RESAMPLING)}")
    if feature != VALIDATION_FEATURE:
        return _forecast_by_task(points, targets, feature, fit_sizes=fit_sizes,
                                 at_tokens=at_tokens, min_step=min_step, n_boot=n_boot,
                                 level=level, random_state=random_state, skip=skip,
                                 window=window, curves=curves, resample=resample)
    validated = validate_points(points)
    smoothed = skip_and_smooth(validated.frame, window=window)  # anchors, truths: last means
    raw, notes = without_proxy_source(validated.frame)
    frame, _ = without_proxy_source(smoothed)
    runs = runs_of(smoothed)
    target_runs = pick_runs(runs, targets, "target")
    fit_runs = (pick_runs(runs, fit_sizes, "fit") if fit_sizes
                else default_fit_runs(runs, target_runs))
    check_fit_runs(fit_runs, target_runs)
    base_seed = int(np.random.default_rng(random_state).integers(2**63))
    step1 = _step1(fit_runs, target_runs, at_tokens, n_boot,
                   np.random.default_rng([base_seed, 1]), resample)
    labels = (raw["family"] + "/" + raw["size"]).str.strip("/")
    fit_frame = skip_and_smooth(  # as Bhagia et al.: the first ones left out, then smoothed
        raw[labels.isin(list(step1.codes)) & (raw["step"].fillna(0) >= min_step)],
        skip=skip, window=window)
    rows = []
    for (task, metric), series in fit_frame.groupby(["task", "metric"], sort=True):
        # a generator per series: its rows do not depend on which other series are there
        rng = np.random.default_rng([base_seed, zlib.crc32(f"{task}\0{metric}".encode())])
        rows += _series_rows(str(task), str(metric), series, step1, frame, rng, level, curves)
    clipped = tuple(f"{row.target} {row.task} {row.metric}: the curve predicts below chance; "
                    "the prediction is clipped to chance (below_chance)"
                    for row in rows if row.below_chance)
    return Forecast(tuple(rows), step1.scaling, tuple(step1.codes), level,
                    validated.notes + notes + clipped)


def _forecast_by_task(points: pd.DataFrame, targets: Sequence[str], feature: str,
                      **options) -> Forecast:
    """One forecast per task, each on its own feature: step 1 differs between tasks."""
    substituted = with_task_feature(points, feature)
    parts = [forecast(part, targets, **options)
             for _, part in substituted.groupby("task", sort=True)]
    if not parts:
        raise TrackerError(f"no series besides the feature '{feature}' to forecast")
    tasks = sorted(substituted["task"].unique())
    notes = tuple(dict.fromkeys(note for part in parts for note in part.notes))
    return Forecast(tuple(row for part in parts for row in part.rows), parts[0].scaling,
                    parts[0].fit_runs, parts[0].level, notes, feature,
                    tuple(zip(tasks, (part.scaling for part in parts), strict=True)))


def _step1(fit_runs: list[Run], target_runs: list[Run], at_tokens: float | None,
           n_boot: int, rng: np.random.Generator, resample: str = "runs") -> Step1:
    """Fit step 1 to the fit runs' anchors and refit it to B resamplings of the runs."""
    anchors = pd.DataFrame([_anchor(run, at_tokens) for run in fit_runs])
    anchors["params"] = [run.params for run in fit_runs]  # a label's count where no column
    scaling = fit_scaling_law(anchors["params"], anchors["tokens_seen"], anchors["loss"])
    goals = tuple(_target(run, at_tokens, scaling) for run in target_runs)
    mult = (boot.cluster_weights(anchors["params"].to_numpy(float), rng, n_boot)
            if resample == "sizes" else
            boot.group_multiplicities(np.arange(len(fit_runs)), rng, n_boot))
    codes = {run.label: i for i, run in enumerate(fit_runs)}
    return Step1(scaling, goals, codes, mult, _loss_replicates(anchors, scaling, goals, mult))


def _anchor(run: Run, at_tokens: float | None) -> pd.Series:
    """The run's end-of-schedule checkpoint, or its checkpoint nearest ``at_tokens``."""
    known = run.checkpoints[run.checkpoints["tokens_seen"].notna()
                            & run.checkpoints["loss"].notna()]
    if known.empty:
        raise TrackerError(f"run {run.label} has no tokens_seen; a forecast needs the tokens "
                           "each checkpoint saw (record them, or add a tokens_seen column)")
    if at_tokens is None:
        return known.iloc[-1]
    nearest = known.iloc[int(np.argmin(np.abs(np.log(known["tokens_seen"].clip(lower=1)
                                                     / at_tokens))))]
    if abs(nearest["tokens_seen"] / at_tokens - 1) > TOKEN_MATCH:
        raise TrackerError(f"fit size {run.label} has no checkpoint within {TOKEN_MATCH:.0%} of "
                           f"--at-tokens {at_tokens:g} (nearest {nearest['tokens_seen']:g})")
    return nearest


def _target(run: Run, at_tokens: float | None, scaling: ScalingFit) -> Target:
    truth = None
    if run.has_data:
        candidate = _anchor(run, at_tokens) if at_tokens is None else _nearest(run, at_tokens)
        truth = candidate
    tokens = at_tokens or (float(truth["tokens_seen"]) if truth is not None
                           else float(np.sqrt(np.prod(scaling.tokens_fitted))))
    low, high = scaling.tokens_fitted
    if not scaling.data_term and not low / (1 + TOKEN_MATCH) <= tokens <= high * (1 + TOKEN_MATCH):
        raise TrackerError(
            f"the fit sizes' checkpoints all saw about {low:.3g} tokens, so the data term "
            f"B/D^beta cannot be fitted and the loss of {run.label} at {tokens:.3g} tokens "
            f"cannot be predicted; use --at-tokens {low:.3g}")
    return Target(run, tokens, truth)


def _nearest(run: Run, tokens: float) -> pd.Series | None:
    known = run.checkpoints[run.checkpoints["tokens_seen"].notna()]
    if known.empty:
        return None
    nearest = known.iloc[int(np.argmin(np.abs(known["tokens_seen"] - tokens)))]
    return nearest if abs(nearest["tokens_seen"] / tokens - 1) <= TOKEN_MATCH else None


def _loss_replicates(anchors: pd.DataFrame, scaling: ScalingFit, goals: tuple[Target, ...],
                     mult: np.ndarray) -> np.ndarray:
    """Predicted loss (B, n_targets), step 1 refitted on each resampling of the fit runs."""
    params = np.array([g.run.params for g in goals])
    tokens = np.array([g.tokens for g in goals])
    out = np.empty((len(mult), len(goals)))
    for b, weights in enumerate(mult):
        fit = fit_scaling_law(anchors["params"], anchors["tokens_seen"], anchors["loss"],
                              weights, start=scaling)
        out[b] = fit.predict(params, tokens)
    return out


def _series_rows(task: str, metric: str, series: pd.DataFrame, step1: Step1,
                 frame: pd.DataFrame, rng: np.random.Generator,
                 level: float, curves: Sequence[str]) -> list[ForecastRow]:
    """Step 2 for one series: the best curve, refitted per replicate, read at each target's
    replicate loss (two steps) and at its real loss (step 2 alone)."""
    goals, mult = step1.goals, step1.mult
    higher = bool(series["higher_is_better"].iloc[0])
    binomial = metric in BINOMIAL_METRICS
    n = series["n"].to_numpy(float)
    prepared = prepare_series(series["loss"], series["score"], n, None, None, higher)
    loss, y, counts, sign = prepared.loss, prepared.y, prepared.n, prepared.sign
    order = np.argsort(series["loss"].to_numpy(float), kind="stable")
    group = np.array([step1.codes[f"{f}/{s}".strip("/")] for f, s in
                      zip(series["family"], series["size"], strict=True)])[order]
    if len(loss) < 10:
        return []
    chance = finite_or(chance_of(series, task), 0.25)
    best = fit_score_curves(loss, sign * y, counts, binomial=binomial, higher_is_better=higher,
                            curves=curves, chance=chance)[0]
    replicates = _score_replicates(best, loss, y, counts, binomial, rng, len(mult))
    weights = observation_weights(replicates, counts, binomial) * mult[:, group]
    truths = [_true(g, frame, task, metric) for g in goals]
    true_loss = np.array([t[0] for t in truths])
    ends = np.empty((len(mult), len(goals)))
    given = np.empty((len(mult), len(goals)))
    for b in range(len(mult)):
        predictor, _ = refit(best.name, loss, replicates[b], weights[b], replicate=True,
                             chance=chance)
        ends[b] = predictor(step1.loss_reps[b])
        given[b] = predictor(true_loss)
    n_target = np.array([t[2] for t in truths])
    n_target = np.where(np.isfinite(n_target), n_target, np.nanmedian(n)
                        if np.isfinite(n).any() else np.nan)
    residuals = y - best.sign * best.predict(loss)
    ends = sign * _with_measurement_noise(ends, n_target, binomial, sign, rng, residuals)
    given = sign * _with_measurement_noise(given, n_target, binomial, sign, rng, residuals)
    floor = chance if binomial and higher and np.isfinite(chance_of(series, task)) else np.nan
    return [_row(g, task, metric, best, step1.scaling, step1.loss_reps[:, i], ends[:, i],
                 given[:, i], truths[i], level, floor) for i, g in enumerate(goals)]


def _score_replicates(best, loss, y, counts, binomial, rng, n_boot) -> np.ndarray:
    """Oriented scores (B, n): resampled examples, or residuals of the chosen curve."""
    if binomial and counts is not None:
        return best.sign * boot.binomial_replicates(best.sign * y, counts, rng, n_boot)
    fitted = best.sign * best.predict(loss)
    w = observation_weights(y, counts, binomial)
    return boot.residual_replicates(fitted, y, w, rng, n_boot, n_params=4)


def _with_measurement_noise(oriented, n_target, binomial, sign, rng,
                            residuals: np.ndarray) -> np.ndarray:
    """Add the target's own noise: Binomial(n, p) / n for accuracy-type metrics with a known
    example count; otherwise a residual of the fit points around the chosen curve, drawn
    with replacement (a prediction interval, not only the curve's)."""
    if not binomial or not np.isfinite(n_target).all():
        spread = residuals[np.isfinite(residuals)]
        if not len(spread):
            return oriented
        return oriented + rng.choice(spread, size=np.shape(oriented))
    trials = np.maximum(np.round(n_target), 1).astype(np.int64)
    p = np.clip(sign * oriented, 0.0, 1.0)
    known = np.isfinite(p)  # NaN where the target has no real loss to read the curve at
    drawn = rng.binomial(trials, np.where(known, p, 0.5)) / trials
    return sign * np.where(known, drawn, np.nan)


def _true(goal: Target, frame: pd.DataFrame, task: str, metric: str):
    """(loss, score, n) of the target's checkpoint in this series; NaN where absent."""
    if goal.truth is None:
        return (float("nan"), float("nan"), float("nan"))
    t = goal.truth
    match = frame[(frame["family"] == t["family"]) & (frame["size"] == t["size"])
                  & (frame["step"] == t["step"]) & (frame["task"] == task)
                  & (frame["metric"] == metric)]
    if match.empty:
        return (float(t["loss"]), float("nan"), float("nan"))
    row = match.iloc[0]
    return (float(row["loss"]), float(row["score"]), float(row["n"]))


def _row(goal, task, metric, best, scaling, loss_rep, ends, given, truth, level,
         chance: float) -> ForecastRow:
    """One target's row. Predictions and interval ends are clipped to the metric's range,
    and an accuracy-type one to at least ``chance`` (NaN: no floor): a curve's value below
    chance is an artefact of extrapolating it, and ``below_chance`` says it happened."""
    tail = 50.0 * (1.0 - level)
    true_loss, true_score, _ = truth
    low, high = metric_range(metric)
    predicted_loss = float(scaling.predict(goal.run.params, goal.tokens))
    raw = float(best.predict(predicted_loss))
    below = bool(np.isfinite(chance) and raw < chance)
    low = max(low, chance) if np.isfinite(chance) else low
    predicted = float(np.clip(raw, low, high))
    at_true = (float(np.clip(best.predict(true_loss), low, high)) if np.isfinite(true_loss)
               else np.nan)
    ends, given = np.clip(ends, low, high), np.clip(given, low, high)
    low_l, high_l = np.nanpercentile(loss_rep, [tail, 100 - tail])
    low_s, high_s = np.nanpercentile(ends, [tail, 100 - tail])
    low_g, high_g = (np.nanpercentile(given, [tail, 100 - tail]) if np.isfinite(true_loss)
                     else (np.nan, np.nan))
    step = float(goal.truth["step"]) if goal.truth is not None else np.nan
    return ForecastRow(goal.run.label, goal.run.params, goal.tokens, step, task, metric,
                       best.name, predicted_loss, float(low_l), float(high_l), true_loss,
                       predicted, float(low_s), float(high_s), true_score,
                       predicted - true_score, at_true, float(low_g), float(high_g),
                       at_true - true_score, below)

