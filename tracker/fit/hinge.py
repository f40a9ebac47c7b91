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

MIN_SIDE = 5  # points required on each side of eta


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


def _prefix(loss: np.ndarray, y: np.ndarray, w: np.ndarray) -> dict[str, np.ndarray]:
    """Cumulative weighted sums over the sorted points (each shape (B, n))."""
    wl = w * loss
    return {
        "w": np.cumsum(w, axis=1),
        "l": np.cumsum(wl, axis=1),
        "ll": np.cumsum(wl * loss, axis=1),
        "y": np.cumsum(w * y, axis=1),
        "ly": np.cumsum(wl * y, axis=1),
    }


def _coefficients(pre: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """(a1, a0, b2, b1, b0) per segment: the profiled SSE's numerator and denominator."""
    w_tot = pre["w"][:, -1:]
    y_tot = pre["y"][:, -1:]
    w_a, l_a = pre["w"], pre["l"]
    ybar = y_tot / w_tot
    a1 = pre["y"] - w_a * ybar
    a0 = -(pre["ly"] - l_a * ybar)
    frac = 1.0 - w_a / w_tot
    b2 = w_a * frac
    b1 = -2.0 * l_a * frac
    b0 = pre["ll"] - l_a**2 / w_tot
    return a1, a0, b2, b1, b0


def _candidates(loss: np.ndarray, coef: tuple[np.ndarray, ...]) -> np.ndarray:
    """Candidate etas per segment j (between loss[j] and loss[j+1]), shape (B, n-1, 2): the
    segment's left end and its stationary point (clipped into it). The right end needs no
    check of its own: the profiled SSE is continuous in eta, so it equals the next
    segment's left end, and the last allowed segment's right end is the upper bound, where
    a pinned fit's stationary point is clipped to."""
    a1, a0, b2, b1, b0 = (c[:, :-1] for c in coef)
    left, right = loss[:-1], loss[1:]
    den = a1 * b1 - 2.0 * a0 * b2
    with np.errstate(divide="ignore", invalid="ignore"):
        stationary = (a0 * b1 - 2.0 * a1 * b0) / den
    stationary = np.where(np.isfinite(stationary), stationary, right)
    stationary = np.clip(stationary, left, right)
    return np.stack([np.broadcast_to(left, a1.shape), stationary], axis=-1)


def _allowed_segments(w: np.ndarray) -> np.ndarray:
    """Mask (B, n-1): segment j allowed when >= MIN_SIDE weighted points lie on each side."""
    positive = np.cumsum(w > 0, axis=1)
    total = positive[:, -1:]
    below = positive[:, :-1]
    above: np.ndarray = total - below
    return (below >= MIN_SIDE) & (above >= MIN_SIDE)


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
    w2 = np.broadcast_to(np.atleast_2d(np.asarray(w, dtype=float)), y2.shape)
    shift = float(np.mean(loss))
    centred = loss - shift  # centring keeps the prefix sums well conditioned
    coef = _coefficients(_prefix(centred[None, :], y2, w2))
    cand = _candidates(centred, coef)
    a1, a0, b2, b1, b0 = (c[:, :-1, None] for c in coef)
    num = a1 * cand + a0
    den = b2 * cand**2 + b1 * cand + b0
    gain = np.where((num > 0) & (den > 1e-300), num**2 / np.where(den > 0, den, 1.0), 0.0)
    allowed = _allowed_segments(w2)
    # a segment's left end is the previous segment's right end (the SSE is continuous)
    left_ok = allowed | np.concatenate([np.zeros_like(allowed[:, :1]), allowed[:, :-1]], axis=1)
    gain = np.where(np.stack([left_ok, allowed], axis=-1), gain, -1.0)
    flat = gain.reshape(gain.shape[0], -1)
    best = np.argmax(flat, axis=1)
    rows = np.arange(flat.shape[0])
    eta_c = cand.reshape(flat.shape)[rows, best]
    return _finish(centred, y2, w2, eta_c, shift, flat[rows, best] >= 0)


def _finish(centred, y2, w2, eta_c, shift, ok) -> HingeArrays:
    """Closed-form (c, k, SSE) at the chosen eta, plus the interior flag."""
    z = np.maximum(eta_c[:, None] - centred[None, :], 0.0)
    c, k, sse = wls_line(z, y2, w2)
    # No rising hinge fits better than a constant: the constrained optimum is k = 0.
    mean = (w2 * y2).sum(axis=1) / w2.sum(axis=1)
    const_sse = (w2 * (y2 - mean[:, None]) ** 2).sum(axis=1)
    falling = k <= 0
    c, sse = np.where(falling, mean, c), np.where(falling, const_sse, sse)
    positive = np.cumsum(w2 > 0, axis=1)
    lo_idx = np.argmax(positive >= MIN_SIDE, axis=1)
    hi_idx = np.argmax(positive >= positive[:, -1:] - MIN_SIDE + 1, axis=1)
    span = max(float(np.ptp(centred)), 1e-12)
    lo_bound, hi_bound = centred[lo_idx], centred[hi_idx]
    interior = (eta_c > lo_bound + 1e-9 * span) & (eta_c < hi_bound - 1e-9 * span)
    return HingeArrays(
        eta=eta_c + shift, c=c, k=np.maximum(k, 0.0), sse=sse, interior=interior & ok, ok=ok
    )


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
