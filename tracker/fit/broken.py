"""The broken stick: a gentle slope above the threshold, a steeper one below.

Model (L loss, y oriented so that higher is better):

    y = a + g L + k max(eta - L, 0),      k >= 0

so the score already improves (slope -g per unit loss) before eta, and faster (-g + k) after.
4 parameters. For a fixed eta the model is linear in (a, g, k); the search profiles (a, g)
out in closed form (the data and the hinge column are residualised on (1, L)), tries every
observed loss with at least MIN_SIDE points on each side as eta, and polishes the best
within its neighbouring gaps (scipy's bounded scalar search), keeping the polish only when
it lowers the SSE. Why by hand: no library fits a continuous two-slope segmented line with a
free breakpoint exactly; the piecewise SSE between observed losses is smooth, so the
observed-loss search plus a local polish finds the global optimum up to that polish.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from tracker.fit.curves import CurveFit
from tracker.fit.hinge import MIN_SIDE

EXHAUSTIVE = 400  # breakpoints profiled at once


@dataclass(frozen=True)
class BrokenStick:
    """A broken-stick fit (oriented units): `slope_above` (= -g, score gained per unit of
    loss decrease above eta) and `slope_below` (= -g + k, below eta), `sse` weighted."""

    eta: float
    a: float
    g: float
    k: float
    sse: float
    ok: bool = True

    @property
    def slope_above(self) -> float:
        return -self.g

    @property
    def slope_below(self) -> float:
        return -self.g + self.k

    def predict(self, loss) -> np.ndarray:
        loss = np.asarray(loss, dtype=float)
        return self.a + self.g * loss + self.k * np.maximum(self.eta - loss, 0.0)


def _residualise(v: np.ndarray, L: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Rows of v (m, n) minus their weighted projection on (1, L) (least squares: a series
    whose losses are all equal has a singular normal matrix, and is projected on 1)."""
    X = np.stack([np.ones_like(L), L], axis=1)
    root = np.sqrt(w)[:, None]
    coef = np.linalg.lstsq(root * X, (root * v.T), rcond=None)[0]  # (2, m)
    return v - (X @ coef).T


def _profile(L, Y, w, etas) -> tuple[np.ndarray, np.ndarray]:
    """(SSE, k), each (B, E), for each row of Y (B, n) and each eta in etas (E,): the data
    and the hinge columns residualised on (1, L), then one slope per pair."""
    H = np.maximum(np.asarray(etas, float)[:, None] - L[None, :], 0.0)
    ry = _residualise(Y, L, w)
    rh = _residualise(H, L, w)
    hh = (rh * rh) @ w
    hy = (ry * w) @ rh.T
    k = np.where(hh > 1e-300, hy / np.where(hh > 1e-300, hh, 1.0), 0.0)
    k = np.maximum(k, 0.0)
    return np.maximum(((ry * ry) @ w)[:, None] - k * hy, 0.0), k


def _breakpoints(n: int) -> np.ndarray:
    """The order statistics tried as eta: every one with MIN_SIDE points on each side, or
    EXHAUSTIVE of them evenly spaced for long series (the profile's arrays grow as n^2);
    the polish then searches between the chosen one's neighbours."""
    idx = np.arange(MIN_SIDE, n - MIN_SIDE + 1)
    if idx.size <= EXHAUSTIVE:
        return idx
    return np.unique(idx[np.linspace(0, idx.size - 1, EXHAUSTIVE).round().astype(int)])


def fit_broken_stick(loss, y, weights) -> BrokenStick:
    """Least-squares broken stick for one series (loss need not be sorted)."""
    loss = np.asarray(loss, dtype=float)
    order = np.argsort(loss, kind="stable")
    L, yy = loss[order], np.asarray(y, dtype=float)[order]
    w = np.asarray(weights, dtype=float)[order]
    n = L.size
    if n < 2 * MIN_SIDE:
        return BrokenStick(float("nan"), float(w @ yy / w.sum()), 0.0, 0.0, float("inf"), False)
    idx = _breakpoints(n)
    sse = _profile(L, yy[None, :], w, L[idx])[0][0]
    pick = int(np.argmin(sse))
    j = int(idx[pick])
    eta = float(L[j])
    below = int(idx[pick - 1]) if pick > 0 else j - 1  # the neighbouring breakpoints tried
    above = int(idx[pick + 1]) if pick < idx.size - 1 else j + 1
    lo, hi = L[max(below, MIN_SIDE - 1)], L[min(above, n - MIN_SIDE)]
    if hi > lo:
        res = optimize.minimize_scalar(lambda e: float(_profile(L, yy[None, :], w, [e])[0][0, 0]),
                                       bounds=(lo, hi), method="bounded",
                                       options={"xatol": 1e-7 * max(float(np.ptp(L)), 1e-9)})
        if res.fun < float(sse.min()):
            eta = float(res.x)
    H = np.maximum(eta - L, 0.0)
    X = np.stack([np.ones_like(L), L, H], axis=1)
    XtW = X.T * w
    a, g, k = np.linalg.lstsq(XtW @ X, XtW @ yy, rcond=None)[0]
    if k < 0:  # the constrained optimum is the straight line
        a, g = np.linalg.lstsq(XtW[:2] @ X[:, :2], XtW[:2] @ yy, rcond=None)[0]
        k = 0.0
    resid = yy - (a + g * L + k * H)
    return BrokenStick(eta, float(a), float(g), float(k), float(w @ resid**2))


def fit_broken_curve(loss: np.ndarray, y: np.ndarray, w: np.ndarray) -> CurveFit:
    """The broken stick of one series as a candidate curve (infinite SSE with fewer than
    10 points)."""
    fit = fit_broken_stick(loss, y, w)
    return CurveFit("broken_stick", (fit.eta, fit.a, fit.g, fit.k), fit.sse, converged=fit.ok,
                    message="" if fit.ok else "too few points for a broken stick")


def refit_broken(loss, Y, w, start: CurveFit):
    """Every row of Y (B, n) refitted with the breakpoint at each allowed observed loss (the
    data's residualised hinge columns are shared by every row: one matrix product), no
    polish. Returns (params (B, 4), SSE (B,), ok (B,))."""
    n, B = loss.size, len(Y)
    if n < 2 * MIN_SIDE:
        return np.full((B, 4), np.nan), np.full(B, np.inf), np.zeros(B, bool)
    etas = loss[_breakpoints(n)]
    sse, k = _profile(loss, Y, w, etas)
    best = np.argmin(sse, axis=1)
    rows = np.arange(B)
    eta, k_best = etas[best], k[rows, best]
    X = np.stack([np.ones_like(loss), loss], axis=1)
    root = np.sqrt(w)[:, None]
    rest = Y - k_best[:, None] * np.maximum(eta[:, None] - loss[None, :], 0.0)
    coef = np.linalg.lstsq(root * X, (root * rest.T), rcond=None)[0]  # (2, B)
    params = np.stack([eta, coef[0], coef[1], k_best], axis=1)
    return params, np.maximum(sse[rows, best], 0.0), np.ones(B, bool)
