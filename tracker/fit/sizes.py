"""Du et al.'s two claims, tested per series: "same loss, same score", and a threshold
that every size crosses at the same loss.

1. Same loss, same score. Three descriptions of one (task, metric) series, compared by
   BIC on the same weighted points (the weights of the threshold fit):
   - pooled: one curve for every size (the series' chosen curve, ThresholdFit.model: the
     best plateau-shaped curve where the verdict is ``emerges`` or ``weak``, else the best
     curve, a constant if flat);
   - offsets: the pooled curve plus a constant offset per size (each offset is the
     weighted mean of that size's residuals from the pooled curve: the pooled shape is
     held fixed, so offsets are slightly conservative; G - 1 more parameters);
   - separate: the same kind of curve fitted to each size on its own (G times the
     parameters; a size with too few points for that curve keeps its offset).
   ``size matters`` when offsets or separate curves beat the pooled curve by more than
   6 BIC (strong evidence); else ``consistent across sizes``. The largest offset (in the
   metric's units) comes with a 95% percentile interval from resampling that size's
   checkpoints (treated as exchangeable given the curve: an approximation, since the
   checkpoints of one run are a sequence).
2. Per-size onsets: where the pooled verdict is ``emerges`` or ``weak``, the pooled kind of
   curve is fitted to each size alone when that size's losses span the pooled onset with
   at least 5 points on each side (the hinge's own rule), and its onset taken on that
   size's own range (tracker/fit/shape.py), so one can see whether every size turns at the
   same loss.

Needs model sizes: at least 2 sizes with 3 points each; else ``insufficient``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from tracker.fit.candidates import BY_NAME
from tracker.fit.core import prepare_series
from tracker.fit.curves import N_PARAMS, bic, sse_floor
from tracker.fit.hinge import MIN_SIDE
from tracker.fit.result import ThresholdFit
from tracker.fit.shape import Frame, judge
from tracker.fit.smooth import fit_sigmoid
from tracker.fit.weights import observation_weights

SizeVerdict = Literal["consistent across sizes", "size matters", "insufficient"]
STRONG_BIC = 6.0
MIN_SIZE_POINTS = 3
N_RESAMPLES = 1000
SIZE_STARTS = 3
_KINKED_SIDES = ("hinge", "capped", "broken_stick")  # 5 points on each side of a kink


@dataclass(frozen=True)
class SizeThreshold:
    size: str
    threshold: float
    n_points: int


@dataclass(frozen=True)
class SizeConsistency:
    """The result of both checks for one series (scores in the metric's own units)."""

    verdict: SizeVerdict
    model: str = ""
    bic_pooled: float = float("nan")
    bic_offsets: float = float("nan")
    bic_separate: float = float("nan")
    preferred: str = ""  # lowest BIC: "pooled", "offsets" or "separate" (curves per size)
    largest_offset: float = float("nan")
    offset_size: str = ""
    offset_ci: tuple[float, float] = (float("nan"), float("nan"))
    n_sizes: int = 0
    thresholds: tuple[SizeThreshold, ...] = ()


def size_consistency(fit: ThresholdFit, loss, score, groups, *, n=None, binomial: bool = False,
                     random_state=0) -> SizeConsistency:
    """Both checks for one series; ``groups`` labels each point's model size.

    Example:
        >>> result = size_consistency(fit, loss, score, sizes)  # doctest: +SKIP
        >>> result.verdict                                      # doctest: +SKIP
        'consistent across sizes'
    """
    labels = np.asarray(groups).astype(str)
    series = prepare_series(loss, score, n, labels, None, fit.higher_is_better)
    finite = np.isfinite(np.asarray(loss, dtype=float)) & np.isfinite(np.asarray(score,
                                                                                 dtype=float))
    names = np.unique(labels[finite])  # the order of series.codes
    codes = series.codes if series.codes is not None else np.zeros(0, dtype=int)
    sizes_ok = np.bincount(codes, minlength=len(names)) >= MIN_SIZE_POINTS
    if fit.verdict == "insufficient" or sizes_ok.sum() < 2:
        return SizeConsistency("insufficient", n_sizes=int(sizes_ok.sum()))
    sign, loss, y = series.sign, series.loss, series.y
    weights = observation_weights(y, series.n, binomial)
    model = _pooled_model(fit)
    if model == "constant":  # flat: the level itself (a series of equal scores has no fits)
        residual = y - float(weights @ y / weights.sum())
    else:
        residual = y - sign * fit.predict(loss, model)
    offsets = _group_means(residual, weights, codes, len(names))
    floor = sse_floor(y, weights)
    k = N_PARAMS[model]
    n_points, n_sizes = len(y), len(names)
    own = {int(code): _own_fit(model, loss[codes == code], y[codes == code],
                               weights[codes == code]) for code in np.unique(codes)}
    bics = (
        bic(float(weights @ residual**2), n_points, k, floor),
        bic(float(weights @ (residual - offsets[codes]) ** 2), n_points, k + n_sizes - 1, floor),
        bic(_separate_sse(own, weights, codes, residual, offsets), n_points, k * n_sizes,
            floor),
    )
    largest = int(np.argmax(np.abs(offsets)))
    rng = np.random.default_rng(random_state)
    low, high = sorted(sign * v for v in _offset_interval(residual, weights, codes == largest,
                                                           rng))
    verdict: SizeVerdict = ("size matters" if min(bics[1:]) < bics[0] - STRONG_BIC
                            else "consistent across sizes")
    preferred = ("pooled", "offsets", "separate")[int(np.argmin(bics))]
    return SizeConsistency(
        verdict, model, *bics, preferred=preferred,
        largest_offset=float(sign * offsets[largest]),
        offset_size=str(names[largest]),
        offset_ci=(low, high),
        n_sizes=n_sizes, thresholds=_size_thresholds(fit, loss, own, codes, names),
    )


def _pooled_model(fit: ThresholdFit) -> str:
    if fit.verdict == "flat" or not fit.model or fit.curve(fit.model) is None:
        return "constant"
    return fit.model


def _group_means(values: np.ndarray, weights: np.ndarray, codes: np.ndarray,
                 n_groups: int) -> np.ndarray:
    total = np.bincount(codes, weights=weights * values, minlength=n_groups)
    mass = np.bincount(codes, weights=weights, minlength=n_groups)
    return total / np.where(mass > 0, mass, 1.0)


def _separate_sse(own: dict, weights, codes, residual, offsets) -> float:
    """Each size's own curve of the pooled kind (`own`: code -> fit or None); a size with
    too few points for it keeps its offset."""
    sse = 0.0
    for code, fit in own.items():
        mask = codes == code
        sse += float(fit.sse) if fit is not None else float(
            weights[mask] @ (residual[mask] - offsets[code]) ** 2)
    return sse


def _own_fit(model: str, loss, y, weights):
    """The pooled kind of curve fitted to one size's points (None with too few for it, or
    when the fit is not possible); a sigmoid from 3 starts: a worse per-size fit only
    favours the pooled curve."""
    if len(y) < max(N_PARAMS[model] + 2, 2 * MIN_SIDE if model in _KINKED_SIDES else 0):
        return None
    fit = (fit_sigmoid(loss, y, weights, n_starts=SIZE_STARTS) if model == "sigmoid"
           else BY_NAME[model].fit(loss, y, weights))
    return fit if np.isfinite(fit.sse) else None


def _offset_interval(residual, weights, mask, rng) -> tuple[float, float]:
    """95% percentile interval of one size's offset, resampling its checkpoints."""
    values, w = residual[mask], weights[mask]
    picks = rng.integers(0, len(values), size=(N_RESAMPLES, len(values)))
    means = (w[picks] * values[picks]).sum(axis=1) / w[picks].sum(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def _size_thresholds(fit, loss, own: dict, codes, names) -> tuple[SizeThreshold, ...]:
    if fit.verdict not in ("emerges", "weak") or not np.isfinite(fit.threshold):
        return ()
    found = []
    for code, name in enumerate(names):
        mask = codes == code
        below = int((loss[mask] < fit.threshold).sum())
        above = int((loss[mask] >= fit.threshold).sum())
        size_fit = own.get(code)
        if below < MIN_SIDE or above < MIN_SIDE or size_fit is None:
            continue
        frame = Frame.of(loss[mask], fit.baseline_se, 0.0)
        onset = float(judge(size_fit.name, np.array([size_fit.params]), frame).onset[0])
        if np.isfinite(onset):
            found.append(SizeThreshold(str(name), onset, int(mask.sum())))
    return tuple(found)
