"""Exact weighted least squares for the hinge (continuous two-phase) model.

Model, with L the loss (lower is better) and y the score oriented so that higher is better:

    y = c                    if L >= eta
    y = c + k (eta - L)      if L <  eta,       k >= 0

Why by hand: no library fits this exactly. A grid over eta misses the optimum between grid
points, and a local optimiser started once finds a local minimum (the SSE is not convex in
eta). Following Hudson (1966), for eta between two consecutive sorted losses the set of
points on the rising side is fixed, so after profiling out (c, k) the weighted SSE is

    SSE(eta) = S_yy - (a1 eta + a0)^2 / (b2 eta^2 + b1 eta + b0)

with coefficients that are prefix sums over the sorted losses. Its derivative vanishes at
one closed-form eta per segment, so checking both segment ends plus that point in every
segment finds the global optimum over continuous eta, in O(n log n) for the sort and O(n)
after it. Everything is vectorised over a leading axis of bootstrap replicates.

eta is restricted to [L_(5), L_(n-4)] (1-based order statistics among points with positive
weight), so that at least 5 points lie on each side.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tracker.fit.curves import CurveFit

MIN_SIDE = 5  # points required on each side of eta
CHUNK_VALUES = 25_000  # values per row block (about 200 kB per temporary array)


@dataclass(frozen=True)
class HingeArrays:
    """Hinge fits for B replicates (all arrays have shape (B,)); oriented units.

    `eta` is in loss units, `c` is the plateau score, `k` the score gained per unit of loss
    decrease below eta, `sse` the weighted SSE, `interior` whether eta is not pinned to the
    5-points-each-side bound, `ok` whether a fit was possible (enough points).
    """

    eta: np.ndarray
    c: np.ndarray
    k: np.ndarray
    sse: np.ndarray
    interior: np.ndarray
    ok: np.ndarray


def _prefix(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
    """Cumulative weighted sums over the sorted points (W, X, XX, Y, XY; each (B, n))."""
    wx = w * x
    wy = w * y
    return (np.cumsum(w, axis=1), np.cumsum(wx, axis=1), np.cumsum(wx * x, axis=1),
            np.cumsum(wy, axis=1), np.cumsum(wy * x, axis=1))


def _coefficients(pre: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """(a1, a0, b2, b1, b0) per segment j (rising set: points 0..j), each (B, n-1): the
    profiled SSE's numerator and denominator, SSE(eta) = S_yy - (a1 eta + a0)^2 /
    (b2 eta^2 + b1 eta + b0); a1 eta + a0 is the weighted covariance of z = max(eta - x, 0)
    with y, the quadratic z's weighted variance."""
    w_a, l_a, ll_a, y_a, ly_a = (v[:, :-1] for v in pre)
    w_tot, y_tot = pre[0][:, -1:], pre[3][:, -1:]
    ybar = y_tot / w_tot
    a1 = y_a - w_a * ybar
    a0 = l_a * ybar - ly_a
    frac = 1.0 - w_a / w_tot
    b2 = w_a * frac
    b1 = -2.0 * l_a * frac
    b0 = ll_a - l_a * l_a / w_tot
    return a1, a0, b2, b1, b0


def _gain(coef: tuple[np.ndarray, ...], eta: np.ndarray) -> tuple[np.ndarray, ...]:
    """(gain, covariance, variance) at eta (B, n-1); gain = cov^2 / var where cov > 0 (a
    rising hinge), else 0 (the constrained optimum k = 0 is the constant)."""
    a1, a0, b2, b1, b0 = coef
    cov = a1 * eta + a0
    var = (b2 * eta + b1) * eta + b0
    ok = (cov > 0) & (var > 1e-300)
    gain = np.where(ok, cov * cov / np.where(ok, var, 1.0), 0.0)
    return gain, cov, var


def _stationary(x: np.ndarray, coef: tuple[np.ndarray, ...]) -> np.ndarray:
    """The one stationary point of the profiled SSE in each segment, clipped into it. The
    segment ends need no check of their own beyond the left ends: the profiled SSE is
    continuous in eta, so a right end is the next segment's left end, and the last allowed
    segment's right end is the upper bound, where a pinned fit's stationary point is
    clipped to."""
    a1, a0, b2, b1, b0 = coef
    num = a0 * b1 - 2.0 * a1 * b0
    den = a1 * b1 - 2.0 * a0 * b2
    with np.errstate(divide="ignore", invalid="ignore"):
        stationary = num / den
    right = np.broadcast_to(x[1:], a1.shape)
    stationary = np.where(np.isfinite(stationary), stationary, right)
    return np.clip(stationary, x[:-1], x[1:])


def _allowed_segments(w: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Mask (B, n-1): segment j allowed when >= MIN_SIDE weighted points lie on each side;
    and the running count of positive weights (None when every weight is positive, the
    common case, where the mask is the same for every row)."""
    n = w.shape[1]
    if bool(np.all(w > 0)):
        j = np.arange(n - 1)
        row = ((j + 1) >= MIN_SIDE) & ((n - j - 1) >= MIN_SIDE)
        return np.broadcast_to(row, (w.shape[0], n - 1)), None
    positive = np.cumsum(w > 0, axis=1)
    below = positive[:, :-1]
    above: np.ndarray = positive[:, -1:] - below
    return (below >= MIN_SIDE) & (above >= MIN_SIDE), positive


def fit_hinge(loss: np.ndarray, y: np.ndarray, w: np.ndarray) -> HingeArrays:
    """Exact weighted hinge fit for each replicate.

    Args:
        loss: shape (n,), sorted ascending (lower loss first).
        y: shape (B, n) or (n,), oriented scores (higher is better).
        w: shape (B, n) or (n,), non-negative weights (inverse variances, or counts).

    Example:
        >>> L = np.linspace(1, 4, 40); y = np.maximum(2.5 - L, 0) * 0.4 + 0.25
        >>> round(float(fit_hinge(L, y, np.ones(40)).eta[0]), 6)
        2.5
    """
    loss = np.asarray(loss, dtype=float)
    y2 = np.atleast_2d(np.asarray(y, dtype=float))
    w2 = np.atleast_2d(np.asarray(w, dtype=float))
    if y2.shape[0] == 1 and w2.shape[0] > 1:
        y2 = np.broadcast_to(y2, w2.shape)
    w2 = np.broadcast_to(w2, (w2.shape[0], y2.shape[1]))  # (1, n): shared by every row,
    # and so are its prefix sums
    if loss.size < 2 * MIN_SIDE:  # no eta leaves 5 points on each side: no hinge
        nan, none = np.full(y2.shape[0], np.nan), np.zeros(y2.shape[0], bool)
        return HingeArrays(eta=nan, c=nan, k=nan, sse=np.full(y2.shape[0], np.inf),
                           interior=none, ok=none)
    rows = max(1, CHUNK_VALUES // max(loss.size, 1))
    if y2.shape[0] > rows:  # row blocks whose temporaries stay in cache: ~3x faster
        shared = w2.shape[0] == 1
        parts = [_fit_rows(loss, y2[i:i + rows], w2 if shared else w2[i:i + rows])
                 for i in range(0, y2.shape[0], rows)]
        return HingeArrays(*(np.concatenate([getattr(part, name) for part in parts])
                             for name in HingeArrays.__dataclass_fields__))
    return _fit_rows(loss, y2, w2)


def _fit_rows(loss: np.ndarray, y2: np.ndarray, w2: np.ndarray) -> HingeArrays:
    shift = float(np.mean(loss))
    x = loss - shift  # centring keeps the prefix sums well conditioned
    pre = _prefix(x[None, :], y2, w2)
    coef = _coefficients(pre)
    stationary = _stationary(x, coef)
    left = np.broadcast_to(x[:-1], stationary.shape)
    allowed, positive = _allowed_segments(w2)
    # a segment's left end is the previous segment's right end (the SSE is continuous)
    left_ok = allowed.copy()
    left_ok[:, 1:] |= allowed[:, :-1]
    gain_left = np.where(left_ok, _gain(coef, left)[0], -1.0)
    gain_mid = np.where(allowed, _gain(coef, stationary)[0], -1.0)
    use_mid = gain_mid > gain_left
    gain = np.where(use_mid, gain_mid, gain_left)
    rows = np.arange(y2.shape[0])
    segment = np.argmax(gain, axis=1)
    eta_c = np.where(use_mid, stationary, left)[rows, segment]
    ok = gain[rows, segment] >= 0
    return _finish(x, y2, w2, pre, (rows, segment), eta_c, shift, ok, positive)


def _finish(x, y2, w2, pre, at, eta_c, shift, ok, positive) -> HingeArrays:
    """(c, k) in closed form from the prefix sums at the chosen segment, the SSE from the
    residuals (no cancellation for near-exact fits), and the interior flag."""
    w_a, l_a, ll_a, y_a, ly_a = (v[at] if len(v) > 1 else v[0, at[1]] for v in pre)
    w_tot, y_tot = pre[0][:, -1], pre[3][:, -1]
    ybar = y_tot / w_tot
    cov = eta_c * (y_a - w_a * ybar) + (l_a * ybar - ly_a)
    frac = 1.0 - w_a / w_tot
    var = (w_a * frac * eta_c - 2.0 * l_a * frac) * eta_c + ll_a - l_a * l_a / w_tot
    rising = (cov > 0) & (var > 1e-300)
    k = np.where(rising, cov / np.where(rising, var, 1.0), 0.0)
    c = ybar - k * (eta_c * w_a - l_a) / w_tot
    resid = y2 - c[:, None] - k[:, None] * np.maximum(eta_c[:, None] - x[None, :], 0.0)
    sse = np.sum(w2 * resid * resid, axis=1)
    n = x.size
    if positive is None:
        lo_bound = np.full(eta_c.shape, x[min(MIN_SIDE - 1, n - 1)])
        hi_bound = np.full(eta_c.shape, x[max(n - MIN_SIDE, 0)])
    else:
        lo_idx = np.argmax(positive >= MIN_SIDE, axis=1)
        hi_idx = np.argmax(positive >= positive[:, -1:] - MIN_SIDE + 1, axis=1)
        lo_bound, hi_bound = x[lo_idx], x[hi_idx]
    span = max(float(np.ptp(x)), 1e-12)
    interior = (eta_c > lo_bound + 1e-9 * span) & (eta_c < hi_bound - 1e-9 * span)
    return HingeArrays(eta=eta_c + shift, c=c, k=k, sse=sse, interior=interior & ok, ok=ok)


def wls_line(z: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
    """Weighted least squares of y on (1, z), row by row; returns (intercept, slope, SSE)."""
    sw = w.sum(axis=1)
    zbar = (w * z).sum(axis=1) / sw
    ybar = (w * y).sum(axis=1) / sw
    dz = z - zbar[:, None]
    dy = y - ybar[:, None]
    szz = (w * dz * dz).sum(axis=1)
    slope = np.where(szz > 0, (w * dz * dy).sum(axis=1) / np.where(szz > 0, szz, 1.0), 0.0)
    intercept = ybar - slope * zbar
    resid = y - intercept[:, None] - slope[:, None] * z
    return intercept, slope, (w * resid * resid).sum(axis=1)


def hinge_curve(loss: np.ndarray, eta: float, c: float, k: float) -> np.ndarray:
    """Evaluate c + k * max(eta - loss, 0) (oriented units)."""
    return c + k * np.maximum(eta - np.asarray(loss, dtype=float), 0.0)


def fit_hinge_curve(loss: np.ndarray, y: np.ndarray, w: np.ndarray) -> CurveFit:
    """The exact hinge of one series (loss sorted ascending) as a candidate curve; with
    fewer than 10 points (5 on each side) its SSE is infinite, so it never wins."""
    arrays = fit_hinge(loss, y, w)
    if not bool(arrays.ok[0]):
        return CurveFit("hinge", (float("nan"), float(w @ y / w.sum()), 0.0), float("inf"),
                        converged=False, message="too few points for a hinge")
    return CurveFit("hinge", (float(arrays.eta[0]), float(arrays.c[0]), float(arrays.k[0])),
                    float(arrays.sse[0]))


def refit_hinge(loss, Y, w, start: CurveFit | None = None):
    """Every row of Y (B, n) fitted exactly, no start needed: (params (B, 3), SSE (B,),
    ok (B,))."""
    arrays = fit_hinge(loss, Y, w)
    sse = np.where(arrays.ok, arrays.sse, np.inf)
    return np.stack([arrays.eta, arrays.c, arrays.k], axis=1), sse, arrays.ok
