"""Variable-projection Levenberg-Marquardt for the sigmoid competitor, every start at once.

Model (oriented score, loss L): y = lo + (hi - lo) g, g = logistic((L0 - L) / s), s = e^u.
For fixed (L0, u) the model is linear in (lo, hi), so those are profiled out in closed form
(weighted least squares of y on (1, g)) and only theta = (L0, u) is iterated: "variable
projection" (Golub & Pereyra 1973) with Kaufman's (1975) Jacobian, the derivative of the
model projected off the span of (1, g). Two nonlinear parameters converge in far fewer
steps than four (the long valley between hi and L0 of a sigmoid seen only by its tail
disappears), and every start is refined together in numpy: per iteration a few (S, n)
array operations and (S, 2, 2) systems with Marquardt's scaled damping
(J'WJ + mu diag(J'WJ)) delta = J'W r; a step is accepted when it lowers the SSE (mu / 3),
rejected otherwise (mu * 4). (L0, u) stay inside their bounds by clipping (a projected
step, and a coordinate on its bound that would step out of it is held there while the
other is re-solved). Why by hand: scipy's least_squares refines one start per call, and
calling it from 6 starts for every series and every size of it was most of the fit's time.

A start has converged when the undamped Gauss-Newton step (on the free coordinates) predicts
a decrease below FTOL of the SSE (first-order optimality, scale-free), or no step lowers the
SSE any more (mu > MAX_MU: a minimum to machine precision); one still moving after
MAX_ITER iterations has not.
"""

from __future__ import annotations

import numpy as np

FTOL = 1e-10
MAX_ITER = 100
MAX_MU = 1e10


def logistic(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free


def profile(theta: np.ndarray, loss, y, w) -> tuple[np.ndarray, ...]:
    """For each row (L0, u) of theta (S, 2): (lo, hi, SSE, g, weighted residual pieces)."""
    l0, s = theta[:, :1], np.exp(theta[:, 1:])
    g = logistic((l0 - loss) / s)
    sw = w.sum()
    g_mean = (g @ w) / sw
    dg = g - g_mean[:, None]
    y_mean = float(w @ y) / sw
    var_g = (dg * dg) @ w
    beta = np.where(var_g > 1e-300, (dg @ (w * (y - y_mean))) / np.maximum(var_g, 1e-300), 0.0)
    alpha = y_mean - beta * g_mean
    resid = y - alpha[:, None] - beta[:, None] * g
    return alpha, alpha + beta, (resid * resid) @ w, g, dg, var_g, beta, resid


def _jacobian(theta, loss, w, g, dg, var_g, beta) -> np.ndarray:
    """(S, n, 2): d model / d (L0, u), projected off (1, g) in the weighted metric."""
    l0, s = theta[:, :1], np.exp(theta[:, 1:])
    slope = beta[:, None] * g * (1.0 - g) / s
    cols = np.stack([slope, -slope * (l0 - loss)], axis=-1)
    sw = w.sum()
    centred = cols - (np.einsum("snk,n->sk", cols, w) / sw)[:, None, :]
    along = np.einsum("snk,sn,n->sk", centred, dg, w) / np.maximum(var_g, 1e-300)[:, None]
    return centred - along[:, None, :] * dg[..., None]


def refine(starts: np.ndarray, loss: np.ndarray, y: np.ndarray, w: np.ndarray,
           bounds: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(params (S, 4) as (lo, hi, L0, s), weighted SSE (S,), converged (S,)) from starts
    (S, 2) of (L0, u = log s), bounds ((2,), (2,)) on (L0, u).

    Example:
        >>> L = np.linspace(1, 4, 50); y = 0.2 + 0.6 * logistic((2.5 - L) / 0.2)
        >>> p, sse, ok = refine(np.array([[2.3, np.log(0.3)]]), L, y, np.ones(50),
        ...                     (np.array([0.0, -9.0]), np.array([5.0, 2.0])))
        >>> bool(ok[0]), round(float(p[0, 2]), 4), round(float(p[0, 3]), 4)
        (True, 2.5, 0.2)
    """
    low, high = bounds
    theta = np.clip(np.array(starts, dtype=float), low, high)
    state = profile(theta, loss, y, w)
    mu = np.full(len(theta), 1e-3)
    done = np.zeros(len(theta), bool)
    eye = np.eye(2)
    for _ in range(MAX_ITER):
        idx = np.flatnonzero(~done)
        if idx.size == 0:
            break
        _, _, sse, g, dg, var_g, beta, resid = (v[idx] for v in state)
        J = _jacobian(theta[idx], loss, w, g, dg, var_g, beta)
        JtJ = np.einsum("sni,snj,n->sij", J, J, w)
        rhs = np.einsum("sni,sn,n->si", J, resid, w)
        scale = np.maximum(np.einsum("sii->si", JtJ), 1e-300)
        gauss_newton = _bounded_step(JtJ + 1e-12 * scale[:, :, None] * eye, rhs, theta[idx],
                                     low, high)
        settled = np.einsum("si,si->s", gauss_newton, rhs) <= FTOL * sse
        done[idx[settled]] = True
        system = JtJ + mu[idx, None, None] * scale[:, :, None] * eye
        step = _bounded_step(system, rhs, theta[idx], low, high)
        trial = np.clip(theta[idx] + step, low, high)
        new = profile(trial, loss, y, w)
        better = np.isfinite(new[2]) & (new[2] < sse) & ~settled
        take = idx[better]
        theta[take] = trial[better]
        state = tuple(_assign(old, take, part[better]) for old, part in zip(state, new,
                                                                           strict=True))
        mu[idx] = np.where(better, mu[idx] / 3.0, mu[idx] * 4.0)
        done[idx[mu[idx] > MAX_MU]] = True
    lo, hi, sse = state[:3]
    params = np.stack([lo, hi, theta[:, 0], np.exp(theta[:, 1])], axis=1)
    return params, sse, done


def _bounded_step(system, rhs, theta, low, high) -> np.ndarray:
    """The damped Gauss-Newton step (S, 2), with a coordinate that sits on a bound and
    would step out of it held there and the step re-solved for the other (an active set;
    clipping alone spoils the free coordinate's step)."""
    step = np.linalg.solve(system, rhs[..., None])[..., 0]
    blocked = ((theta <= low) & (step < 0)) | ((theta >= high) & (step > 0))
    diag = np.einsum("sii->si", system)
    alone = rhs / diag  # each coordinate with the other held (2 parameters)
    step = np.where(blocked.any(axis=1, keepdims=True), alone, step)
    return np.where(blocked, 0.0, step)


def _assign(old: np.ndarray, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    old[rows] = values
    return old
