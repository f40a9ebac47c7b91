"""Points clustered in model sizes: the design effects used by the slope's z and BIC's N.

Checkpoints of one size share that size's quirks (a curve slightly offset, a bias), so
N points in G sizes carry less information than N independent points. How much less
depends on what is estimated (Moulton 1990; Scott & Holt 1982): for a quantity estimated
along a direction x of the data (a regressor), deff = 1 + (m - 1) rho_e rho_x, with m = N / G
points per size, rho_e the intraclass correlation of the fit's standardised residuals
(residual * sqrt(weight)) within sizes and rho_x that of x. A level (the plateau) has
x = 1, rho_x = 1: Kish's 1 + (m - 1) rho_e. A direction that varies within every size
(the slope's max(eta - L, 0); the difference between the threshold model and the best
smooth one, which is what BIC weighs) is hurt much less by shared size quirks. Both
intraclass correlations come from the one-way ANOVA moment estimator, clipped to [0, 1].
The fit then uses N_eff = N / deff: the slope's standard error is multiplied by
sqrt(deff_slope), the plateau's by sqrt(deff_level), and BIC = (N_eff / N) * N log(SSE / N) +
p log(N_eff) with deff_compare (the same factor for all models, so they stay comparable).
Residuals are those of the better of the two compared models ("after the fit"), so a
misfit of the other does not pass for clustering. Without sizes every deff is 1.
"""

from __future__ import annotations

import numpy as np


def intraclass(values: np.ndarray, weights: np.ndarray, codes: np.ndarray) -> float:
    """One-way ANOVA intraclass correlation of values * sqrt(weights) within `codes`."""
    r = np.asarray(values, float) * np.sqrt(np.asarray(weights, float))
    n_groups = int(codes.max()) + 1
    counts = np.bincount(codes, minlength=n_groups).astype(float)
    used = counts > 0
    G, N = int(used.sum()), r.size
    if G < 2 or N <= G:
        return 0.0
    means = np.bincount(codes, weights=r, minlength=n_groups) / np.where(used, counts, 1.0)
    msb = float((counts * (means - r.mean()) ** 2)[used].sum()) / (G - 1)
    msw = float(((r - means[codes]) ** 2).sum()) / (N - G)
    m0 = (N - float((counts**2).sum()) / N) / (G - 1)
    denom = msb + (m0 - 1.0) * msw
    return 0.0 if denom <= 0 else float(np.clip((msb - msw) / denom, 0.0, 1.0))


def design_effect(residual: np.ndarray, weights: np.ndarray, codes: np.ndarray | None,
                  regressor: np.ndarray | None = None) -> float:
    """1 + (m - 1) rho_e rho_x for points in the clusters `codes` (1.0 without clusters);
    rho_x = 1 (Kish's deff of a level) when no regressor is given.

    Example:
        >>> r = np.array([1.0, 1.1, -1.0, -1.1])
        >>> round(design_effect(r, np.ones(4), np.array([0, 0, 1, 1])), 2)
        2.0
    """
    if codes is None:
        return 1.0
    weights = np.asarray(weights, float)
    rho_e = intraclass(residual, weights, codes)
    rho_x = 1.0
    if regressor is not None:
        x = np.asarray(regressor, float)
        rho_x = intraclass(x - float(weights @ x / weights.sum()), weights, codes)
    G = len(np.unique(codes))
    return 1.0 + (len(residual) / G - 1.0) * rho_e * rho_x
