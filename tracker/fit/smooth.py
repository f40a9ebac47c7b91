"""Smooth competitors of the hinge: constant, linear, sigmoid in loss, power law in loss.

All are fitted by weighted least squares on the oriented score (higher is better) with the
same weights as the hinge, so their BICs are comparable. The two nonlinear models are
linear in two of their parameters, which are profiled out in closed form ("variable
projection"): a vectorised grid over the nonlinear parameters picks the starts, and a local
refinement polishes the best ones (Levenberg-Marquardt for the sigmoid, from 8 starts
at once; a bounded 1-D search for the power law). Whether the refinement converged is recorded on
the result, never hidden.

- linear:    y = a + b L                                 (2 parameters)
- sigmoid:   y = lo + (hi - lo) / (1 + exp((L - L0)/s))  (4; Bhagia et al. 2024), s > 0
- power law: y = a + b (L / L_med)^(-alpha)              (3; alpha of either sign, |alpha|
  in [0.05, 40]; L_med, the median loss, only scales b). Either sign of alpha keeps it a
  genuine smooth competitor, whether the curve bends up or down as loss falls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import optimize

from tracker.fit import sigmoid

SmoothName = Literal["constant", "linear", "sigmoid", "power_law"]
_MAGS = np.logspace(np.log10(0.05), np.log10(40.0), 24)
POWER_ALPHAS = np.concatenate([-_MAGS[::-1], _MAGS])
N_PARAMS: dict[str, int] = {"constant": 1, "linear": 2, "power_law": 3, "sigmoid": 4, "hinge": 3,
                            "capped": 4, "broken_stick": 4}


@dataclass(frozen=True)
class SmoothFit:
    """One competitor's weighted least-squares fit (oriented units).

    `params`: constant (a,), linear (a, b), sigmoid (lo, hi, L0, s), power_law (a, b, alpha,
    L_med). `sse` is the weighted SSE; `converged` is False when the local refinement did not
    report success (the grid optimum is kept then, and `message` says why).
    """

    name: SmoothName
    params: tuple[float, ...]
    sse: float
    converged: bool = True
    message: str = ""

    def predict(self, loss: np.ndarray) -> np.ndarray:
        """Fitted oriented score at `loss`."""
        return _evaluate(self.name, self.params, np.asarray(loss, dtype=float))


def sse_floor(y: np.ndarray, weights: np.ndarray) -> float:
    """A floor for the SSEs compared by :func:`bic` (1e-18 of the weighted total sum of
    squares), so an exact fit's log(0) never decides between models."""
    return 1e-18 * max(float(weights @ (y - y.mean()) ** 2), 1e-300)


def bic(sse: float, n_points: int, n_params: int, sse_floor: float,
        design_effect: float = 1.0) -> float:
    """Gaussian BIC up to a constant shared by all models fitted with the same weights.

    With points clustered in sizes the log-likelihood is scaled by 1 / design_effect and
    the penalty uses N_eff = N / design_effect (tracker/fit/clustering.py).
    """
    n_eff = n_points / max(design_effect, 1.0)
    return (n_eff * float(np.log(max(sse, sse_floor) / n_points))
            + n_params * np.log(max(n_eff, 2.0)))


def _evaluate(name: str, params: tuple[float, ...], loss: np.ndarray) -> np.ndarray:
    if name == "constant":
        return np.full_like(loss, params[0])
    if name == "linear":
        return params[0] + params[1] * loss
    if name == "sigmoid":
        lo, hi, l0, s = params
        return lo + (hi - lo) * _sigmoid((l0 - loss) / s)
    a, b, alpha, l_med = params
    return a + b * (loss / l_med) ** (-alpha)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free logistic


def _profile(basis: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
    """WLS of y on (1, basis[g]) for each row g of basis (G, n): (intercept, slope, SSE)."""
    sw = w.sum()
    bbar = basis @ w / sw
    ybar = float(w @ y / sw)
    db = basis - bbar[:, None]
    dy = y - ybar
    sbb = (db * db) @ w
    slope = np.where(sbb > 1e-300, (db * dy) @ w / np.where(sbb > 1e-300, sbb, 1.0), 0.0)
    sse = float(w @ (dy * dy)) - slope**2 * sbb
    return ybar - slope * bbar, slope, np.maximum(sse, 0.0)


def fit_constant(loss: np.ndarray, y: np.ndarray, w: np.ndarray) -> SmoothFit:
    mean = float(w @ y / w.sum())
    return SmoothFit("constant", (mean,), float(w @ (y - mean) ** 2))


def fit_linear(loss: np.ndarray, y: np.ndarray, w: np.ndarray) -> SmoothFit:
    a, b, sse = _profile(loss[None, :], y, w)
    return SmoothFit("linear", (float(a[0]), float(b[0])), float(sse[0]))


def _sigmoid_grid(loss: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(L0, s, basis) over the sigmoid's grid: 28 centres x 16 widths."""
    span = max(float(np.ptp(loss)), 1e-9)
    centres = np.linspace(loss.min() - 0.5 * span, loss.max() + 0.5 * span, 28)
    scales = span * np.logspace(-2.5, 0.5, 16)
    l0, s = (g.ravel() for g in np.meshgrid(centres, scales, indexing="ij"))
    return l0, s, _sigmoid((l0[:, None] - loss[None, :]) / s[:, None])


def _power_grid(loss: np.ndarray) -> np.ndarray | None:
    """Basis (48, n) of (L / L_med)^(-alpha) over the power law's alpha grid."""
    if np.min(loss) <= 0:
        return None
    log_ratio = np.log(loss / float(np.median(loss)))
    return np.exp(-POWER_ALPHAS[:, None] * log_ratio[None, :])


def grid_sse(loss: np.ndarray, Y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Best smooth SSE per row of Y (B, n) with fixed weights w: linear exactly, sigmoid and
    power law over their grids (linear parameters profiled), by matrix products."""
    bases = [loss[None, :], _sigmoid_grid(loss)[2]]
    power = _power_grid(loss)
    if power is not None:
        bases.append(power)
    basis = np.concatenate(bases, axis=0)
    sw = w.sum()
    db = basis - (basis @ w / sw)[:, None]
    dY = Y - (Y @ w / sw)[:, None]
    sbb = (db * db) @ w
    cross = (db * w) @ dY.T  # (G, B)
    gain = np.where(sbb[:, None] > 1e-300, cross**2 / np.where(sbb > 1e-300, sbb, 1.0)[:, None],
                    0.0)
    return np.maximum((dY * dY) @ w - gain.max(axis=0), 0.0)


def fit_sigmoid(loss: np.ndarray, y: np.ndarray, w: np.ndarray, n_starts: int = 8) -> SmoothFit:
    """Grid over (L0, log s) with (lo, hi) profiled, then Levenberg-Marquardt from the
    `n_starts` best grid cells, all at once (tracker/fit/sigmoid.py); the best refinement
    wins, and `converged` is that one's. The bounds keep L0 within 2 spans of the data and
    s within [1e-3, 10] spans."""
    span = max(float(np.ptp(loss)), 1e-9)
    l0, s, basis = _sigmoid_grid(loss)
    lo, slope, sse = _profile(basis, y, w)
    order = np.argsort(sse)[:n_starts]
    starts = np.stack([l0[order], np.log(s[order])], axis=1)
    bounds = (np.array([loss.min() - 2 * span, np.log(span * 1e-3)]),
              np.array([loss.max() + 2 * span, np.log(span * 10)]))
    params, refined, converged = sigmoid.refine(starts, loss, y, w, bounds)
    best = int(np.argmin(refined))
    return SmoothFit("sigmoid", tuple(float(v) for v in params[best]), float(refined[best]),
                     converged=bool(converged[best]),
                     message="" if converged[best] else "Levenberg-Marquardt did not settle "
                     f"in {sigmoid.MAX_ITER} iterations")


def fit_power_law(loss: np.ndarray, y: np.ndarray, w: np.ndarray) -> SmoothFit:
    """Grid over alpha (both signs) with (a, b) profiled, then a bounded 1-D refinement."""
    l_med = float(np.median(loss))
    if np.min(loss) <= 0:
        return SmoothFit("power_law", (float(w @ y / w.sum()), 0.0, 1.0, l_med), np.inf,
                         converged=False, message="power law needs positive losses")
    log_ratio = np.log(loss / l_med)
    alphas = POWER_ALPHAS

    def profile(alpha_values):
        basis = np.exp(-np.asarray(alpha_values)[:, None] * log_ratio[None, :])
        return _profile(basis, y, w)

    _, _, grid_sse = profile(alphas)
    g = int(np.argmin(grid_sse))
    lo_a, hi_a = alphas[max(g - 1, 0)], alphas[min(g + 1, len(alphas) - 1)]
    result = optimize.minimize_scalar(lambda a: float(profile([a])[2][0]), bounds=(lo_a, hi_a),
                                      method="bounded", options={"xatol": 1e-6})
    alpha = float(result.x) if result.fun <= grid_sse[g] else float(alphas[g])
    a, b, sse = profile([alpha])
    return SmoothFit("power_law", (float(a[0]), float(b[0]), alpha, l_med), float(sse[0]),
                     converged=bool(result.success), message=str(result.get("message", "")))


FITTERS = {"constant": fit_constant, "linear": fit_linear, "sigmoid": fit_sigmoid,
           "power_law": fit_power_law}


def fit_competitors(loss: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[SmoothFit, ...]:
    """All smooth models, constant first."""
    return tuple(fit(loss, y, w) for fit in FITTERS.values())
