"""A threshold shared by several tasks: one eta, each task its own plateau and slope.

For a fixed eta every task's hinge is linear in its (c_t, k_t), so the profiled SSE of the
shared model is the sum of the tasks' profiled hinge SSEs. Between two consecutive distinct
losses of the pooled tasks every task's rising set is fixed, and (tracker/fit/hinge.py)

    SSE_t(eta) = S_yy,t - N_t(eta)^2 / D_t(eta),   N_t linear (> 0 for a rising hinge,
                                                   else the task's gain is 0), D_t quadratic,

both from the task's prefix sums. The shared profile's gain G(eta) = sum_t max(N_t, 0)^2 / D_t
is smooth between the roots of the N_t, and its derivative there is
sum_t N_t (alpha_t eta + beta_t) / D_t^2 (each term's numerator is linear, as for one
hinge), whose zeros are the real roots of the polynomial
P = sum_t N_t (alpha_t eta + beta_t) prod_{u != t} D_u^2 of degree 4T - 2. Checking every
segment's ends, the roots of the N_t and the real roots of P inside it (numpy's companion
matrix, with eta rescaled to [0, 1] on the segment) therefore finds the global optimum
over continuous eta: exact, like the single hinge. eta must leave 5 points on each side for
every task. The shared model (2T + 1 parameters) is compared with separate hinges (3T) by
BIC over all points, and by the likelihood ratio N log(SSE_shared / SSE_separate), referred
to chi-square with T - 1 degrees of freedom (approximate: a large-sample result).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.polynomial import polynomial as poly
from scipy import stats

from tracker.errors import TrackerError
from tracker.fit.core import prepare_series
from tracker.fit.curves import bic
from tracker.fit.hinge import MIN_SIDE, _coefficients, _prefix, fit_hinge, wls_line
from tracker.fit.weights import observation_weights


@dataclass(frozen=True)
class SharedThreshold:
    """`threshold` (loss units), per-task (baseline, slope) oriented, BICs, the preferred
    description ('shared' or 'separate'), the separate thresholds for comparison, and the
    likelihood-ratio test of shared against separate (`lr_statistic`, `lr_p_value`)."""

    tasks: tuple[str, ...]
    threshold: float
    baselines: tuple[float, ...]
    slopes: tuple[float, ...]
    separate: tuple[float, ...]
    bic_shared: float
    bic_separate: float
    preferred: str
    lr_statistic: float = float("nan")
    lr_p_value: float = float("nan")


@dataclass(frozen=True)
class _Task:
    loss: np.ndarray
    y: np.ndarray
    w: np.ndarray
    coef: tuple[np.ndarray, ...]  # (a1, a0, b2, b1, b0) per segment of this task, centred
    shift: float


def _task(loss, y, w) -> _Task:
    shift = float(np.mean(loss))
    x = loss - shift
    coef = tuple(c[0] for c in _coefficients(_prefix(x[None, :], y[None, :], w[None, :])))
    return _Task(loss, y, w, coef, shift)


def task_sse(task: _Task, etas: np.ndarray) -> np.ndarray:
    """The task's profiled hinge SSE at each eta (k >= 0; the constant where no rise fits),
    by weighted least squares at each eta: independent of the prefix sums."""
    z = np.maximum(etas[:, None] - task.loss[None, :], 0.0)
    _, k, sse = wls_line(z, np.broadcast_to(task.y, z.shape), np.broadcast_to(task.w, z.shape))
    mean = float(task.w @ task.y / task.w.sum())
    return np.where(k > 0, sse, float(task.w @ (task.y - mean) ** 2))


def _pieces(task: _Task, eta: float) -> tuple[np.ndarray, ...]:
    """(N, alpha eta + beta, D) of the task on the segment holding eta, as polynomials in
    eta (centred on the task's mean loss)."""
    j = int(np.searchsorted(task.loss, eta, side="right")) - 1
    a1, a0, b2, b1, b0 = (float(c[j]) for c in task.coef)
    return (np.array([a0, a1]), np.array([2 * a1 * b0 - a0 * b1, a1 * b1 - 2 * a0 * b2]),
            np.array([b0, b1, b2]))


def _gain(tasks: list[_Task], eta: float) -> float:
    total = 0.0
    for task in tasks:
        num, _, den = (poly.polyval(eta - task.shift, p) for p in _pieces(task, eta))
        total += num * num / den if num > 0 and den > 1e-300 else 0.0
    return total


def _stationary_points(tasks: list[_Task], left: float, right: float) -> list[float]:
    """Candidates in [left, right]: the roots of each N_t, then the real roots of P on each
    piece between them (only tasks with N_t > 0 there contribute)."""
    cuts = [left, right]
    for task in tasks:
        num = _pieces(task, 0.5 * (left + right))[0]
        if num[1] != 0:
            root = task.shift - num[0] / num[1]
            if left < root < right:
                cuts.append(root)
    cuts = sorted(cuts)
    found = list(cuts)
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        mid, span = 0.5 * (lo + hi), hi - lo
        terms = []
        for task in tasks:  # each piece as a polynomial in tau, eta = lo + tau * span
            num, lin, den = (_rescale(p, lo - task.shift, span) for p in _pieces(task, mid))
            if poly.polyval(0.5, num) > 0:
                terms.append((num, lin, den))
        if not terms:
            continue
        total = np.zeros(1)
        for t, (num, lin, _) in enumerate(terms):
            product = poly.polymul(num, lin)
            for u, (_, _, den) in enumerate(terms):
                if u != t:
                    product = poly.polymul(product, poly.polymul(den, den))
            total = poly.polyadd(total, product)
        roots = (poly.polyroots(np.trim_zeros(total, "b")) if np.any(total)
                 else np.zeros(0, complex))
        found += [lo + float(np.clip(r.real, 0.0, 1.0)) * span for r in roots
                  if abs(r.imag) <= 1e-7 and -1e-9 <= r.real <= 1.0 + 1e-9]
    return found


def _rescale(p: np.ndarray, base: float, span: float) -> np.ndarray:
    """p(x) with x = base + tau * span, as a polynomial in tau."""
    return np.array(poly.Polynomial(p)(poly.Polynomial([base, span])).coef, dtype=float)


def shared_eta(tasks: list[_Task]) -> float:
    """The exact least-squares shared threshold (module docstring)."""
    low = max(float(t.loss[MIN_SIDE - 1]) for t in tasks)
    high = min(float(t.loss[-MIN_SIDE]) for t in tasks)
    if not low < high:
        raise TrackerError("the tasks' losses do not overlap enough for a shared threshold "
                           f"(each needs {MIN_SIDE} points on either side of it)")
    knots = np.unique(np.concatenate([t.loss for t in tasks]))
    knots = np.unique(np.concatenate([[low, high], knots[(knots > low) & (knots < high)]]))
    best_eta, best_gain = low, -np.inf
    for left, right in zip(knots[:-1], knots[1:], strict=True):
        for eta in _stationary_points(tasks, float(left), float(right)):
            gain = _gain(tasks, eta)
            if gain > best_gain:
                best_eta, best_gain = eta, gain
    return float(best_eta)


def fit_shared(series: dict[str, tuple], binomial: bool = False) -> SharedThreshold:
    """`series`: task -> (loss, score, n or None, higher_is_better).

    Example:
        >>> L = np.linspace(1.5, 4.0, 60)
        >>> fit = fit_shared({"a": (L, 0.25 + 0.5 * np.maximum(2.5 - L, 0), None, True),
        ...             "b": (L, 0.10 + 0.2 * np.maximum(2.5 - L, 0), None, True)})
        >>> round(fit.threshold, 9), fit.preferred
        (2.5, 'shared')
    """
    if len(series) < 2:
        raise TrackerError("--shared needs at least two tasks (comma-separated)")
    tasks = []
    for name, (loss, score, n, higher) in series.items():
        s = prepare_series(loss, score, n, None, None, higher)
        if len(s.loss) < 2 * MIN_SIDE:
            raise TrackerError(f"task {name} has {len(s.loss)} points; --shared needs "
                               f"{2 * MIN_SIDE} or more per task")
        tasks.append(_task(s.loss, s.y, observation_weights(s.y, s.n, binomial)))
    eta = shared_eta(tasks)
    baselines, slopes, separate, sep_sse, shared_sse = [], [], [], 0.0, 0.0
    for task in tasks:
        z = np.maximum(eta - task.loss, 0.0)[None, :]
        c, k, _ = wls_line(z, task.y[None, :], task.w[None, :])
        rising = k[0] > 0
        baselines.append(float(c[0]) if rising else float(task.w @ task.y / task.w.sum()))
        slopes.append(float(max(k[0], 0.0)))
        shared_sse += float(task_sse(task, np.array([eta]))[0])
        own = fit_hinge(task.loss, task.y, task.w)
        separate.append(float(own.eta[0]))
        sep_sse += float(own.sse[0])
    n_total, T = sum(len(t.loss) for t in tasks), len(tasks)
    b_shared = bic(shared_sse, n_total, 2 * T + 1, 1e-300)
    b_separate = bic(sep_sse, n_total, 3 * T, 1e-300)
    lr = max(n_total * float(np.log(max(shared_sse, 1e-300) / max(sep_sse, 1e-300))), 0.0)
    return SharedThreshold(tuple(series), eta, tuple(baselines), tuple(slopes),
                           tuple(separate), b_shared, b_separate,
                           "shared" if b_shared <= b_separate else "separate", lr,
                           float(stats.chi2.sf(lr, T - 1)))
