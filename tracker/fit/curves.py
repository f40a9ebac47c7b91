"""The candidate curves of score on loss: their formulas, in one table.

Every curve is written for the oriented score y (higher is better) against the loss L (lower
is better), so "the ability rises" always means y grows as L falls:

| name           | formula                                         | parameters           |
|----------------|-------------------------------------------------|----------------------|
| constant       | a                                               | (a,)                 |
| linear         | a + b L                                         | (a, b)               |
| power_law      | a + b (L / L_med)^(-alpha)                      | (a, b, alpha, L_med) |
| sigmoid        | lo + (hi - lo) logistic((L0 - L) / s)           | (lo, hi, L0, s)      |
| hinge          | c + k max(eta - L, 0)                           | (eta, c, k)          |
| capped         | c + k (eta - clip(L, cap, eta))                 | (eta, cap, c, k)     |
| broken_stick   | a + g L + k max(eta - L, 0)                     | (eta, a, g, k)       |

(L_med, the median loss, only scales b: the power law has 3 free parameters.) This module
holds only the formulas, vectorised over a leading axis of parameter rows (bootstrap
replicates): `predict`, and `steepest`, the point of the observed range where the curve
rises fastest as loss falls, which defines the onset (tracker/fit/shape.py). The fitters
live beside it (hinge.py, capped.py, broken.py, smooth.py, sigmoid.py) and are gathered in
tracker/fit/candidates.py. To add a curve: its row here (formula, parameter count,
`predict`, `steepest`), a fitter and a vectorised refit, and its entry in candidates.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import special

CurveName = Literal["constant", "linear", "power_law", "sigmoid", "hinge", "capped",
                    "broken_stick"]
N_PARAMS: dict[str, int] = {"constant": 1, "linear": 2, "power_law": 3, "sigmoid": 4,
                            "hinge": 3, "capped": 4, "broken_stick": 4}
LABELS: dict[str, str] = {"constant": "constant", "linear": "line", "power_law": "power law",
                          "sigmoid": "sigmoid", "hinge": "hinge", "capped": "capped hinge",
                          "broken_stick": "broken stick"}
KINKED = ("hinge", "capped")  # a kink at the onset: the rise starts abruptly


@dataclass(frozen=True)
class CurveFit:
    """One candidate's weighted least-squares fit (oriented units).

    `params` as in the module's table; `sse` the weighted SSE; `converged` is False when an
    iterative refinement did not settle (the best point found is kept, and `message`
    says why): a value on the result, never an exception.
    """

    name: str  # one of CurveName
    params: tuple[float, ...]
    sse: float
    converged: bool = True
    message: str = ""

    @property
    def n_params(self) -> int:
        return N_PARAMS[self.name]

    def predict(self, loss) -> np.ndarray:
        """Fitted oriented score at `loss` (any shape)."""
        loss = np.asarray(loss, dtype=float)
        rows = np.asarray(self.params, dtype=float)[None, :]
        return predict(self.name, rows, loss.reshape(1, -1))[0].reshape(loss.shape)


def logistic(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x), overflow-free and exact in the tails (scipy's expit: 0.5 (1 +
    tanh(x / 2)) rounds to exactly 0 below x = -38, and a sigmoid fitted by its far tail,
    e^(-(L - L0) / s) times a huge amplitude, then predicts a flat line)."""
    return special.expit(x)


def predict(name: str, params: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """Oriented scores (B, K) for parameter rows `params` (B, p) at `loss` (K,) or (B, K)."""
    P = np.asarray(params, dtype=float)
    L = np.asarray(loss, dtype=float)
    col = [P[:, i:i + 1] for i in range(P.shape[1])]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if name == "constant":
            return np.broadcast_to(col[0], np.broadcast_shapes(col[0].shape, L.shape)).copy()
        if name == "linear":
            return col[0] + col[1] * L
        if name == "power_law":
            a, b, alpha, l_med = col
            return a + b * (L / l_med) ** (-alpha)
        if name == "sigmoid":
            lo, hi, l0, s = col
            return lo + (hi - lo) * logistic((l0 - L) / s)
        if name == "hinge":
            eta, c, k = col
            return c + k * np.maximum(eta - L, 0.0)
        if name == "capped":
            eta, cap, c, k = col
            return c + k * (eta - np.clip(L, cap, eta))
        if name == "broken_stick":
            eta, a, g, k = col
            return a + g * L + k * np.maximum(eta - L, 0.0)
    raise ValueError(f"unknown curve '{name}'")


def steepest(name: str, params: np.ndarray, low: float, high: float
             ) -> tuple[np.ndarray, np.ndarray]:
    """(L*, slope), each (B,): where on [low, high] the curve rises fastest as loss falls,
    and that rate (-dy/dL, oriented units per unit of loss decrease; <= 0 when it never
    rises). On a straight part any point of it will do: its tangent is the part itself."""
    P = np.asarray(params, dtype=float)
    B = P.shape[0]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if name in ("constant", "linear"):
            slope = np.zeros(B) if name == "constant" else -P[:, 1]
            return np.full(B, high), slope
        if name == "power_law":
            a, b, alpha, l_med = P.T
            ends = np.array([low, high])[None, :]
            rate = b[:, None] * alpha[:, None] * (ends / l_med[:, None]) ** (
                -alpha[:, None]) / ends
            rate = np.where(np.isfinite(rate), rate, -np.inf)
            pick = np.argmax(rate, axis=1)
            return ends[0, pick], rate[np.arange(B), pick]
        if name == "sigmoid":
            lo, hi, l0, s = P.T
            points = np.stack([np.clip(l0, low, high), np.full(B, low), np.full(B, high)],
                              axis=1)
            g = logistic((l0[:, None] - points) / s[:, None])
            rate = (hi - lo)[:, None] * g * (1.0 - g) / s[:, None]
            pick = np.argmax(rate, axis=1)
            return points[np.arange(B), pick], rate[np.arange(B), pick]
        if name == "hinge":
            eta, _, k = P.T
            top = np.clip(eta, low, high)
            rising = top > low
            return (np.where(rising, 0.5 * (low + top), high),
                    np.where(rising, k, 0.0))
        if name == "capped":
            eta, cap, _, k = P.T
            top, bottom = np.clip(eta, low, high), np.clip(cap, low, high)
            rising = top > bottom
            return (np.where(rising, 0.5 * (bottom + top), high),
                    np.where(rising, k, 0.0))
        if name == "broken_stick":
            eta, _, g, k = P.T
            kink = np.clip(eta, low, high)
            below = np.where(kink > low, k - g, -np.inf)  # the part below the kink
            above = np.where(kink < high, -g, -np.inf)
            use_below = below >= above
            return (np.where(use_below, 0.5 * (low + kink), 0.5 * (kink + high)),
                    np.where(use_below, below, above))
    raise ValueError(f"unknown curve '{name}'")


def kinks(name: str, params: np.ndarray) -> np.ndarray:
    """(B, m) losses where a piecewise-linear curve changes slope (m = 0 for smooth
    curves): with the ends of an interval, where its largest deviation can lie."""
    P = np.asarray(params, dtype=float)
    if name in ("hinge", "broken_stick"):
        return P[:, :1]
    if name == "capped":
        return P[:, :2]
    return np.zeros((P.shape[0], 0))


def sse_floor(y: np.ndarray, weights: np.ndarray) -> float:
    """A floor for the SSEs compared by :func:`bic` (1e-18 of the weighted total sum of
    squares), so an exact fit's log(0) never decides between models."""
    return 1e-18 * max(float(weights @ (y - y.mean()) ** 2), 1e-300)


def bic(sse, n_points: int, n_params: int, sse_floor: float, design_effect: float = 1.0):
    """Gaussian BIC up to a constant shared by all models fitted with the same weights
    (`sse` a float or an array of replicates).

    With points clustered in sizes the log-likelihood is scaled by 1 / design_effect and
    the penalty uses N_eff = N / design_effect (tracker/fit/clustering.py).
    """
    n_eff = n_points / max(design_effect, 1.0)
    value = (n_eff * np.log(np.maximum(sse, sse_floor) / n_points)
             + n_params * np.log(max(n_eff, 2.0)))
    return float(value) if np.ndim(value) == 0 else value
