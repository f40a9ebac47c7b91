"""Smooth candidates: constant, linear, sigmoid in loss, power law in loss.

All are fitted by weighted least squares on the oriented score (higher is better) with the
same weights as the kinked curves, so their BICs are comparable (formulas in
tracker/fit/curves.py). The two nonlinear models are linear in two of their parameters,
which are profiled out in closed form ("variable projection"): a vectorised grid over the
nonlinear parameters picks the starts, and a local refinement polishes the best ones
(Levenberg-Marquardt for the sigmoid, from 8 starts at once; a bounded 1-D search for the
power law). Whether the refinement converged is recorded on the result, never hidden.

- sigmoid:   s > 0 (Bhagia et al. 2024's curve for task accuracy against task loss)
- power law: alpha of either sign, |alpha| in [0.05, 40]; L_med, the median loss, only
  scales b. Either sign of alpha keeps it a genuine candidate, whether the curve bends up
  or down as loss falls; a strongly convex one sits flat and then climbs (a plateau, by
  tracker/fit/shape.py), a gently convex one does not.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

from tracker.fit import sigmoid
from tracker.fit.curves import CurveFit, logistic

_MAGS = np.logspace(np.log10(0.05), np.log10(40.0), 24)
POWER_ALPHAS = np.concatenate([-_MAGS[::-1], _MAGS])
REFIT_ITER = 20
REFIT_FTOL = 1e-7


def _profile(basis: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
    """WLS of one series y (n,) on (1, basis[g]) for each row g of basis (G, n)."""
    return paired_profile(basis, np.broadcast_to(y, basis.shape), w)


def fit_constant(loss: np.ndarray, y: np.ndarray, w: np.ndarray) -> CurveFit:
    mean = float(w @ y / w.sum())
    return CurveFit("constant", (mean,), float(w @ (y - mean) ** 2))


def fit_linear(loss: np.ndarray, y: np.ndarray, w: np.ndarray) -> CurveFit:
    a, b, sse = paired_profile(loss, y[None, :], w)
    return CurveFit("linear", (float(a[0]), float(b[0])), float(sse[0]))


def _sigmoid_grid(loss: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(L0, s, basis) over the sigmoid's grid: 28 centres x 16 widths."""
    span = max(float(np.ptp(loss)), 1e-9)
    centres = np.linspace(loss.min() - 0.5 * span, loss.max() + 0.5 * span, 28)
    scales = span * np.logspace(-2.5, 0.5, 16)
    l0, s = (g.ravel() for g in np.meshgrid(centres, scales, indexing="ij"))
    return l0, s, logistic((l0[:, None] - loss[None, :]) / s[:, None])


def grid_bases(loss: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The nonlinear candidates' grid cells as basis functions: sigmoid cells (28 centres x
    16 widths) and power-law cells (48 alphas; none when a loss is <= 0). Returns each cell's
    values at the sorted losses (G, n) and at `points` (G, m), for the fast fits of the
    p-value (tracker/fit/pvalue.py), where (a, b) are profiled per cell and replicate."""
    l0, s, basis = _sigmoid_grid(loss)
    at = logistic((l0[:, None] - points[None, :]) / s[:, None])
    if np.min(loss) > 0:
        l_med = float(np.median(loss))
        basis = np.concatenate([basis, _power_basis(POWER_ALPHAS, np.log(loss / l_med))])
        at = np.concatenate([at, _power_basis(POWER_ALPHAS, np.log(points / l_med))])
    return basis, at


def fit_sigmoid(loss: np.ndarray, y: np.ndarray, w: np.ndarray, n_starts: int = 8) -> CurveFit:
    """Grid over (L0, log s) with (lo, hi) profiled, then Levenberg-Marquardt from the
    `n_starts` best grid cells, all at once (tracker/fit/sigmoid.py); the best refinement
    wins, and `converged` is that one's. The bounds keep L0 within 2 spans of the data and
    s within [1e-3, 10] spans."""
    l0, s, basis = _sigmoid_grid(loss)
    lo, slope, sse = _profile(basis, y, w)
    order = np.argsort(sse)[:n_starts]
    starts = np.stack([l0[order], np.log(s[order])], axis=1)
    params, refined, converged = sigmoid.refine(starts, loss, y, w, sigmoid_bounds(loss))
    best = int(np.argmin(refined))
    return CurveFit("sigmoid", tuple(float(v) for v in params[best]), float(refined[best]),
                     converged=bool(converged[best]),
                     message="" if converged[best] else "Levenberg-Marquardt did not settle "
                     f"in {sigmoid.MAX_ITER} iterations")


def fit_power_law(loss: np.ndarray, y: np.ndarray, w: np.ndarray) -> CurveFit:
    """Grid over alpha (both signs) with (a, b) profiled, then a bounded 1-D refinement."""
    l_med = float(np.median(loss))
    if np.min(loss) <= 0:
        return CurveFit("power_law", (float(w @ y / w.sum()), 0.0, 1.0, l_med), np.inf,
                         converged=False, message="power law needs positive losses")
    log_ratio = np.log(loss / l_med)
    alphas = POWER_ALPHAS

    def profile(alpha_values):
        return _profile(_power_basis(np.asarray(alpha_values, float), log_ratio), y, w)

    _, _, grid_sse = profile(alphas)
    g = int(np.argmin(grid_sse))
    lo_a, hi_a = alphas[max(g - 1, 0)], alphas[min(g + 1, len(alphas) - 1)]
    result = optimize.minimize_scalar(lambda a: float(profile([a])[2][0]), bounds=(lo_a, hi_a),
                                      method="bounded", options={"xatol": 1e-6})
    alpha = float(result.x) if result.fun <= grid_sse[g] else float(alphas[g])
    a, b, sse = profile([alpha])
    return CurveFit("power_law", (float(a[0]), float(b[0]), alpha, l_med), float(sse[0]),
                     converged=bool(result.success), message=str(result.get("message", "")))


def paired_profile(basis: np.ndarray, Y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
    """WLS of each row of Y (B, n) on (1, the same row of basis (B, n) or (n,)): (intercept,
    slope, SSE), each (B,), the SSE from the residuals (no cancellation near exact fits)."""
    sw = w.sum()
    basis = np.broadcast_to(basis, Y.shape)
    bbar, ybar = basis @ w / sw, Y @ w / sw
    db, dy = basis - bbar[:, None], Y - ybar[:, None]
    sbb = (db * db) @ w
    slope = np.where(sbb > 1e-300, ((db * dy) @ w) / np.where(sbb > 1e-300, sbb, 1.0), 0.0)
    resid = dy - slope[:, None] * db
    return ybar - slope * bbar, slope, (resid * resid) @ w


def refit_constant(loss, Y, w, start: CurveFit):
    """Every row of Y (B, n) fitted anew: (params (B, 1), SSE (B,), converged (B,))."""
    mean = Y @ w / w.sum()
    return mean[:, None], ((Y - mean[:, None]) ** 2) @ w, np.ones(len(Y), bool)


def refit_linear(loss, Y, w, start: CurveFit):
    a, b, sse = paired_profile(loss, Y, w)
    return np.stack([a, b], axis=1), sse, np.ones(len(Y), bool)


def refit_power_law(loss, Y, w, start: CurveFit):
    """The alpha grid for every row at once (one matrix product), then per row one step of
    successive parabolic interpolation through the best cell and its neighbours (in log
    |alpha|, the grid's own spacing), kept where it lowers the SSE: the replicates' best
    alpha lies near the data's, and a per-row golden-section search cost ten times more."""
    B = len(Y)
    l_med = float(np.median(loss))
    if np.min(loss) <= 0:  # as fit_power_law: no power law on losses <= 0
        level = Y @ w / w.sum()
        params = np.stack([level, np.zeros(B), np.ones(B), np.full(B, l_med)], axis=1)
        return params, np.full(B, np.inf), np.zeros(B, bool)
    log_ratio = np.log(loss / l_med)
    basis = _power_basis(POWER_ALPHAS, log_ratio)
    sw = w.sum()
    db = basis - (basis @ w / sw)[:, None]
    dY = Y - (Y @ w / sw)[:, None]
    sbb = np.maximum((db * db) @ w, 1e-300)
    grid = ((dY * dY) @ w)[None, :] - ((db * w) @ dY.T) ** 2 / sbb[:, None]  # (A, B)
    best = np.clip(np.argmin(grid, axis=0), 1, len(POWER_ALPHAS) - 2)
    cols = np.arange(B)
    x = np.log(np.abs(POWER_ALPHAS))
    x0, x1, x2 = x[best - 1], x[best], x[best + 1]
    f0, f1, f2 = grid[best - 1, cols], grid[best, cols], grid[best + 1, cols]
    same_sign = np.sign(POWER_ALPHAS[best - 1]) == np.sign(POWER_ALPHAS[best + 1])
    num = (x1 - x0) ** 2 * (f1 - f2) - (x1 - x2) ** 2 * (f1 - f0)
    den = (x1 - x0) * (f1 - f2) - (x1 - x2) * (f1 - f0)
    with np.errstate(divide="ignore", invalid="ignore"):
        vertex = np.clip(x1 - 0.5 * num / den, np.minimum(x0, x2), np.maximum(x0, x2))
    vertex = np.where(same_sign & np.isfinite(vertex), vertex, x1)
    alpha = np.sign(POWER_ALPHAS[best]) * np.exp(vertex)
    a, b, sse = paired_profile(_power_basis(alpha, log_ratio), Y, w)
    keep = np.isfinite(sse) & (sse <= f1)
    alpha = np.where(keep, alpha, POWER_ALPHAS[best])
    a, b, sse = paired_profile(_power_basis(alpha, log_ratio), Y, w)
    params = np.stack([a, b, alpha, np.full(B, l_med)], axis=1)
    return params, np.where(np.isfinite(sse), sse, np.inf), np.ones(B, bool)


def _power_basis(alphas: np.ndarray, log_ratio: np.ndarray) -> np.ndarray:
    """(A, n) of (L / L_med)^(-alpha), overflow clipped (an extreme alpha on a wide loss
    range would give inf, and inf - inf is NaN in the profile)."""
    return np.exp(np.clip(-alphas[:, None] * log_ratio[None, :], -700.0, 700.0))


def refit_sigmoid(loss, Y, w, start: CurveFit):
    """Levenberg-Marquardt for every row at once, each started from the data's fit (the
    replicates lie around it), within fit_sigmoid's bounds, to a looser tolerance than the
    data's fit (a predicted decrease below 1e-7 of the SSE) and at most REFIT_ITER steps."""
    lo, hi, l0, s = start.params
    starts = np.tile([l0, np.log(max(s, 1e-300))], (len(Y), 1))
    return sigmoid.refine(starts, loss, Y, w, sigmoid_bounds(loss), REFIT_ITER, REFIT_FTOL)


def sigmoid_bounds(loss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """L0 within 2 spans of the data, s within [1e-3, 10] spans (as (L0, log s))."""
    span = max(float(np.ptp(loss)), 1e-9)
    return (np.array([loss.min() - 2 * span, np.log(span * 1e-3)]),
            np.array([loss.max() + 2 * span, np.log(span * 10)]))
