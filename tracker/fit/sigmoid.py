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

from tracker.fit.curves import logistic

FTOL = 1e-10
MAX_ITER = 100
MAX_MU = 1e10


def profile(theta: np.ndarray, loss, y, w) -> tuple[np.ndarray, ...]:
    """For each row (L0, u) of theta (S, 2): (lo, hi, SSE, g, dg, var_g, beta, resid), with g the
    logistic column, dg it centred (weighted) and resid the weighted least-squares residual
    on (1, g); y is (n,), shared by every row, or (S, n), one series per row (bootstrap
    replicates)."""
    l0, s = theta[:, :1], np.exp(theta[:, 1:])
    g = logistic((l0 - loss) / s)
    sw = w.sum()
    g_mean = (g @ w) / sw
    dg = g - g_mean[:, None]
    y_mean = (y @ w) / sw  # a float, or (S,)
    var_g = (dg * dg) @ w
    # sum w dg (y - y_mean) = sum w dg y, since sum w dg = 0
    cross = dg @ (w * y) if y.ndim == 1 else (dg * y) @ w
    beta = np.where(var_g > 1e-300, cross / np.maximum(var_g, 1e-300), 0.0)
    alpha = y_mean - beta * g_mean
    resid = y - alpha[:, None] - beta[:, None] * g
    return alpha, alpha + beta, (resid * resid) @ w, g, dg, var_g, beta, resid


def _normal_equations(theta, loss, w, g, dg, var_g, beta, resid):
    """(J'WJ (S, 2, 2), J'W r (S, 2)) with J the derivative of the model in (L0, u)
    projected off (1, g) in the weighted metric (Kaufman's variable-projection Jacobian).

    Column k of the unprojected derivative is c_k = (beta / s) h x^k, h = g (1 - g),
    x = L - L0 (the derivative in u = log s is the one in L0 times (L - L0)). Projecting
    off (1, g) makes J'WJ = C'WC - C'W1 1'WC / sum(w) - C'W dg dg'WC / dg'W dg, and
    J'W r = C'W r because the residual r is already orthogonal to 1 and g. Every term is a
    weighted moment of h against powers of the loss (centred on its mean, so that the
    shift to x = L - L0 loses no precision: L0 stays within 2 spans of the data), one matrix
    product each: the (S, n, 2) Jacobian and einsum this replaced were 5 times slower on
    1,000 replicates."""
    centre = float(loss.mean())
    l0, s = theta[:, 0] - centre, np.exp(theta[:, 1])
    x = loss - centre
    h = g - g * g
    wh = h * w
    powers = np.stack([np.ones_like(x), x, x * x], axis=1)  # (n, 3)
    m_hh = (wh * h) @ powers  # sum w h^2 x^p, p = 0, 1, 2 (x about the mean loss)
    m_h, m_dg, m_r = ((wh * v) @ powers[:, :2] if v is not None else wh @ powers[:, :2]
                      for v in (None, dg, resid))
    hh = np.stack([m_hh[:, 0], m_hh[:, 1] - l0 * m_hh[:, 0],
                   m_hh[:, 2] - 2 * l0 * m_hh[:, 1] + l0 * l0 * m_hh[:, 0]], axis=1)

    def shifted(m):  # first moments about L0
        return np.stack([m[:, 0], m[:, 1] - l0 * m[:, 0]], axis=1)

    one, along, rhs = shifted(m_h), shifted(m_dg), shifted(m_r)
    safe_var = np.maximum(var_g, 1e-300)
    sw = w.sum()
    JtJ = np.empty((len(theta), 2, 2))
    for i in range(2):
        for j in range(2):
            JtJ[:, i, j] = (hh[:, i + j] - one[:, i] * one[:, j] / sw
                            - along[:, i] * along[:, j] / safe_var)
    factor = beta / s
    JtJ *= (factor**2)[:, None, None]
    diagonal = np.arange(2)
    JtJ[:, diagonal, diagonal] = np.maximum(JtJ[:, diagonal, diagonal], 0.0)  # rounding
    return JtJ, rhs * factor[:, None]


def refine(starts: np.ndarray, loss: np.ndarray, y: np.ndarray, w: np.ndarray,
           bounds: tuple[np.ndarray, np.ndarray], max_iter: int = MAX_ITER,
           ftol: float = FTOL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(params (S, 4) as (lo, hi, L0, s), weighted SSE (S,), converged (S,)) from starts
    (S, 2) of (L0, u = log s), bounds ((2,), (2,)) on (L0, u). `y` is one series (n,)
    refined from every start, or one series per start (S, n): bootstrap replicates, each
    refined from its own start. `max_iter` and `ftol` as MAX_ITER and FTOL.

    Example:
        >>> L = np.linspace(1, 4, 50); y = 0.2 + 0.6 * logistic((2.5 - L) / 0.2)
        >>> p, sse, ok = refine(np.array([[2.3, np.log(0.3)]]), L, y, np.ones(50),
        ...                     (np.array([0.0, -9.0]), np.array([5.0, 2.0])))
        >>> bool(ok[0]), round(float(p[0, 2]), 4), round(float(p[0, 3]), 4)
        (True, 2.5, 0.2)
    """
    low, high = bounds
    theta = np.clip(np.array(starts, dtype=float), low, high)
    y = np.asarray(y, dtype=float)

    def rows(idx):
        return y if y.ndim == 1 else y[idx]

    state = profile(theta, loss, y, w)
    mu = np.full(len(theta), 1e-3)
    done = np.zeros(len(theta), bool)
    eye = np.eye(2)
    for _ in range(max_iter):
        idx = np.flatnonzero(~done)
        if idx.size == 0:
            break
        _, _, sse, g, dg, var_g, beta, resid = (v[idx] for v in state)
        JtJ, rhs = _normal_equations(theta[idx], loss, w, g, dg, var_g, beta, resid)
        scale = np.maximum(np.einsum("sii->si", JtJ), 1e-300)
        gauss_newton = _bounded_step(JtJ + 1e-12 * scale[:, :, None] * eye, rhs, theta[idx],
                                     low, high)
        settled = np.einsum("si,si->s", gauss_newton, rhs) <= ftol * sse
        done[idx[settled]] = True
        system = JtJ + mu[idx, None, None] * scale[:, :, None] * eye
        step = _bounded_step(system, rhs, theta[idx], low, high)
        trial = np.clip(theta[idx] + step, low, high)
        new = profile(trial, loss, rows(idx), w)
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
    step = solve_2x2(system, rhs)
    blocked = ((theta <= low) & (step < 0)) | ((theta >= high) & (step > 0))
    diag = np.einsum("sii->si", system)
    with np.errstate(over="ignore"):  # a vanishing diagonal: a step to the bound, then tried
        alone = np.where(diag > 0, rhs / np.where(diag > 0, diag, 1.0), 0.0)  # other held
    step = np.where(blocked.any(axis=1, keepdims=True), alone, step)
    return np.where(blocked, 0.0, step)


def solve_2x2(system: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """x with system x = rhs for (S, 2, 2) systems, by Cramer's rule. A singular or
    ill-conditioned system (a perfect step: every point on a flat part of the logistic, so
    the Jacobian vanishes) gets the diagonal step instead (each coordinate alone, 0 where
    its diagonal is 0): never an exception, and never inf or NaN. np.linalg.solve raised
    LinAlgError there."""
    a, b = system[:, 0, 0], system[:, 0, 1]
    c, d = system[:, 1, 0], system[:, 1, 1]
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is not regular
        det = a * d - b * c
        scale = np.abs(a * d) + np.abs(b * c)
        regular = np.isfinite(det) & np.isfinite(scale) & (np.abs(det) > 1e-12 * scale) & (
            scale > 0)
    safe = np.where(regular, det, 1.0)
    diag = np.stack([a, d], axis=1)
    with np.errstate(over="ignore", invalid="ignore"):  # overflowing steps go to a bound
        exact = np.stack([(d * rhs[:, 0] - b * rhs[:, 1]) / safe,
                          (a * rhs[:, 1] - c * rhs[:, 0]) / safe], axis=1)
        alone = np.where(diag > 0, rhs / np.where(diag > 0, diag, 1.0), 0.0)
    return np.where(regular[:, None], exact, alone)


def _assign(old: np.ndarray, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    old[rows] = values
    return old
