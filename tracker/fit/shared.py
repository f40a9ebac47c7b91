"""A threshold shared by several tasks: one eta, each task its own plateau and slope.

For a fixed eta every task's hinge is linear in its (c_t, k_t), so the profiled SSE of the
shared model is the sum of the tasks' profiled hinge SSEs (tracker/fit/hinge.py's prefix-sum
profile). It is evaluated at every observed loss of every task (within each task's
5-points-each-side bounds) and polished within the neighbouring gaps by a bounded scalar
search (kept only when it lowers the SSE). The shared model (2T + 1 parameters) is compared
with separate hinges (3T) by BIC over all points, and by the likelihood-ratio statistic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from tracker.errors import TrackerError
from tracker.fit.core import prepare_series
from tracker.fit.hinge import MIN_SIDE, fit_hinge, wls_line
from tracker.fit.smooth import bic
from tracker.fit.weights import observation_weights


@dataclass(frozen=True)
class SharedThreshold:
    """`threshold` (loss units), per-task (baseline, slope) oriented, BICs, the preferred
    description ('shared' or 'separate'), and the separate thresholds for comparison."""

    tasks: tuple[str, ...]
    threshold: float
    baselines: tuple[float, ...]
    slopes: tuple[float, ...]
    separate: tuple[float, ...]
    bic_shared: float
    bic_separate: float
    preferred: str


def _task_sse(loss, y, w, etas: np.ndarray) -> np.ndarray:
    z = np.maximum(etas[:, None] - loss[None, :], 0.0)
    yy = np.broadcast_to(y, z.shape)
    ww = np.broadcast_to(w, z.shape)
    _, k, sse = wls_line(z, yy, ww)
    mean = float(w @ y / w.sum())
    flat = float(w @ (y - mean) ** 2)
    lo, hi = loss[MIN_SIDE - 1], loss[-MIN_SIDE]
    outside = (etas < lo) | (etas > hi)
    return np.where(outside, np.inf, np.where(k > 0, sse, flat))


def fit_shared(series: dict[str, tuple], binomial: bool = False) -> SharedThreshold:
    """`series`: task -> (loss, score, n or None, higher_is_better)."""
    if len(series) < 2:
        raise TrackerError("--shared needs at least two tasks (comma-separated)")
    prepared = {}
    for task, (loss, score, n, higher) in series.items():
        s = prepare_series(loss, score, n, None, None, higher)
        if len(s.loss) < 2 * MIN_SIDE:
            raise TrackerError(f"task {task} has {len(s.loss)} points; --shared needs "
                               f"{2 * MIN_SIDE} or more per task")
        prepared[task] = (s.loss, s.y, observation_weights(s.y, s.n, binomial))
    candidates = np.unique(np.concatenate([v[0] for v in prepared.values()]))

    def total(etas):
        return sum(_task_sse(L, y, w, np.atleast_1d(etas)) for L, y, w in prepared.values())

    sse = total(candidates)
    j = int(np.argmin(sse))
    if not np.isfinite(sse[j]):
        raise TrackerError("the tasks' losses do not overlap enough for a shared threshold")
    eta = float(candidates[j])
    lo, hi = candidates[max(j - 1, 0)], candidates[min(j + 1, len(candidates) - 1)]
    res = optimize.minimize_scalar(lambda e: float(total(e)[0]), bounds=(lo, hi),
                                   method="bounded")
    if np.isfinite(res.fun) and res.fun < sse[j]:
        eta = float(res.x)
    baselines, slopes, separate, sep_sse, n_total = [], [], [], 0.0, 0
    shared_sse = 0.0
    for L, y, w in prepared.values():
        c, k, sse_t = wls_line(np.maximum(eta - L, 0.0)[None, :], y[None, :], w[None, :])
        baselines.append(float(c[0]))
        slopes.append(float(max(k[0], 0.0)))
        shared_sse += float(sse_t[0])
        own = fit_hinge(L, y, w)
        separate.append(float(own.eta[0]))
        sep_sse += float(own.sse[0])
        n_total += len(L)
    T = len(prepared)
    b_shared = bic(shared_sse, n_total, 2 * T + 1, 1e-300)
    b_separate = bic(sep_sse, n_total, 3 * T, 1e-300)
    return SharedThreshold(tuple(prepared), eta, tuple(baselines), tuple(slopes),
                           tuple(separate), b_shared, b_separate,
                           "shared" if b_shared <= b_separate else "separate")
