"""Step 1 of a forecast: loss from parameters N and tokens D, L = E + A / N^alpha + B / D^beta.

The Chinchilla form (Hoffmann et al. 2022), fitted as in their appendix and the replication
of Besiroglu et al. 2024: least squares on log L with a Huber loss (delta 1e-3), the three
terms combined by a log-sum-exp, from a grid of starts, keeping the best. scipy's
``least_squares`` does the fitting; the starts and the bounds are the only hand-written part.

Bounds (documented in docs/forecast.md): 0 < E <= the lowest loss fitted (the irreducible
loss cannot exceed a loss already reached), alpha and beta in [0.05, 2] (published fits
give 0.28 to 0.37), ln A and ln B in [-20, 100] (loose: they only keep the search finite).

When every checkpoint fitted saw about the same number of tokens (the largest over the
smallest below 1.5), B / D^beta is a constant that E absorbs and cannot be told apart from
it: the data term is then left out (``data_term=False``) and the fit predicts the loss at
that token count only (``tokens_fitted`` says which).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np
from scipy import optimize
from scipy.special import logsumexp

HUBER_DELTA = 1e-3
EXPONENT_BOUNDS = (0.05, 2.0)
LOG_SCALE_BOUNDS = (-20.0, 100.0)
MIN_TOKEN_RATIO = 1.5  # below this spread of D the data term is not identified
START_EXPONENTS = (0.15, 0.4, 0.8)


@dataclass(frozen=True)
class ScalingFit:
    """L(N, D) = E + A / N^alpha + B / D^beta (loss units of the points; N parameters,
    D tokens). ``data_term`` False: B = 0 and the fit holds at ``tokens_fitted`` only.
    ``converged`` is False when no start's refinement reported success."""

    E: float
    A: float
    alpha: float
    B: float
    beta: float
    data_term: bool
    tokens_fitted: tuple[float, float]
    n_points: int
    converged: bool = True

    def predict(self, params, tokens) -> np.ndarray:
        """Loss at ``params`` parameters after ``tokens`` tokens (arrays broadcast)."""
        n = np.asarray(params, dtype=float)
        d = np.asarray(tokens, dtype=float)
        data = self.B / d**self.beta if self.data_term else 0.0 * d
        return self.E + self.A / n**self.alpha + data


def fit_scaling_law(params, tokens, loss, weights=None, *, robust: bool = True,
                    bounded: bool = True, start: ScalingFit | None = None) -> ScalingFit:
    """Fit the Chinchilla form to checkpoints (arrays of equal length, all positive).

    ``weights`` multiply each point's residual (bootstrap multiplicities); ``robust`` False
    fits plain least squares on the loss itself and ``bounded`` False drops the bounds (the
    unconstrained baseline of bench/bench_forecast.py). ``start``: refine from this fit
    only (bootstrap replicates start from the fit to all the data) instead of the grid.

    Example:
        >>> n = np.repeat([1e7, 3e7, 1e8, 3e8], 3); d = np.tile([1e9, 3e9, 1e10], 4)
        >>> fit = fit_scaling_law(n, d, 1.7 + 400 / n**0.34 + 410 / d**0.28)
        >>> round(float(fit.predict(1e9, 1e10)), 3)  # the truth: 2.698
        2.698
    """
    n, d, loss = (np.asarray(a, dtype=float).ravel() for a in (params, tokens, loss))
    w = np.ones_like(loss) if weights is None else np.asarray(weights, dtype=float).ravel()
    keep = w > 0
    n, d, loss, w = n[keep], d[keep], loss[keep], w[keep]
    data_term = bool(d.max() / d.min() >= MIN_TOKEN_RATIO)
    residual = _residual(n, d, loss, np.sqrt(w), data_term, robust)
    lower, upper = _bounds(loss, data_term, bounded)
    best, converged = None, False
    starts = _starts(n, d, loss, data_term) if start is None else [_theta(start, data_term)]
    for theta0 in starts:
        x0 = np.clip(theta0, lower + 1e-9, upper - 1e-9) if bounded else theta0
        try:
            result = optimize.least_squares(
                residual, x0, bounds=(lower, upper) if bounded else (-np.inf, np.inf),
                loss="huber" if robust else "linear", f_scale=HUBER_DELTA if robust else 1.0,
                max_nfev=400)
        except (ValueError, np.linalg.LinAlgError):  # not finite at this start: the next
            continue
        converged = converged or result.status > 0
        if best is None or result.cost < best.cost:
            best = result
    if best is None:  # no start could be refined: a value, never an exception
        nan = float("nan")
        return ScalingFit(nan, nan, nan, nan, nan, data_term, (float(d.min()), float(d.max())),
                          int(len(loss)), False)
    theta = best.x
    log_e, log_a, alpha = theta[:3]
    log_b, beta = (theta[3], theta[4]) if data_term else (-np.inf, 0.0)
    return ScalingFit(float(np.exp(log_e)), float(np.exp(log_a)), float(alpha),
                      float(np.exp(log_b)), float(beta), data_term,
                      (float(d.min()), float(d.max())), int(len(loss)), bool(converged))


def _theta(fit: ScalingFit, data_term: bool) -> np.ndarray:
    theta = [np.log(max(fit.E, 1e-12)), np.log(max(fit.A, 1e-12)), fit.alpha]
    if data_term:
        theta += [np.log(max(fit.B, 1e-12)), max(fit.beta, EXPONENT_BOUNDS[0])]
    return np.array(theta)


def _terms(theta: np.ndarray, log_n: np.ndarray, log_d: np.ndarray,
           data_term: bool) -> np.ndarray:
    """log L as a log-sum-exp of the terms (log E, log A - alpha ln N, log B - beta ln D)."""
    parts = [np.full_like(log_n, theta[0]), theta[1] - theta[2] * log_n]
    if data_term:
        parts.append(theta[3] - theta[4] * log_d)
    return logsumexp(np.stack(parts), axis=0)


def _residual(n, d, loss, sqrt_w, data_term: bool, robust: bool):
    log_n, log_d, log_loss = np.log(n), np.log(d), np.log(loss)
    if robust:
        return lambda theta: sqrt_w * (_terms(theta, log_n, log_d, data_term) - log_loss)
    return lambda theta: sqrt_w * (np.exp(_terms(theta, log_n, log_d, data_term)) - loss)


def _bounds(loss, data_term: bool, bounded: bool) -> tuple[np.ndarray, np.ndarray]:
    lower = [-30.0, LOG_SCALE_BOUNDS[0], EXPONENT_BOUNDS[0]]
    upper = [float(np.log(loss.min())), LOG_SCALE_BOUNDS[1], EXPONENT_BOUNDS[1]]
    if data_term:
        lower += [LOG_SCALE_BOUNDS[0], EXPONENT_BOUNDS[0]]
        upper += [LOG_SCALE_BOUNDS[1], EXPONENT_BOUNDS[1]]
    if not bounded:
        return np.full(len(lower), -np.inf), np.full(len(upper), np.inf)
    return np.array(lower), np.array(upper)


def _starts(n, d, loss, data_term: bool) -> list[np.ndarray]:
    """A grid of starts: E at a fifth or four fifths of the lowest loss, each exponent
    from START_EXPONENTS, the scale set so each term starts near a third of the median
    loss at the median N (or D)."""
    low, mid = float(loss.min()), float(np.median(loss))
    log_n_mid, log_d_mid = float(np.median(np.log(n))), float(np.median(np.log(d)))
    starts = []
    exponents = product(START_EXPONENTS, START_EXPONENTS if data_term else (0.0,))
    for (alpha, beta), frac in product(exponents, (0.2, 0.8)):
        theta = [np.log(frac * low), np.log(mid / 3) + alpha * log_n_mid, alpha]
        if data_term:
            theta += [np.log(mid / 3) + beta * log_d_mid, beta]
        starts.append(np.array(theta))
    return starts
