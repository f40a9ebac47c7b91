"""Points clustered in model sizes: the design effect used by the slope's z and BIC's N.

Checkpoints of one size share that size's quirks (a curve slightly offset, a bias), so
N points in G sizes carry less information than N independent points. The design effect
(Kish) is deff = 1 + (m - 1) rho, with m = N / G points per size and rho the intraclass
correlation of the fit's standardised residuals (residual * sqrt(weight)) within sizes,
estimated by the one-way ANOVA moment estimator and clipped to [0, 1]. The fit then uses
N_eff = N / deff: the slope's and plateau's standard errors are multiplied by sqrt(deff),
and BIC = (N_eff / N) * N log(SSE / N) + p log(N_eff), i.e. the log-likelihood of every
model is scaled by 1 / deff (the same factor for all models, so they stay comparable).
Residuals are the hinge's: under a smooth truth with per-size bias they cluster as well.
Without sizes deff = 1.
"""

from __future__ import annotations

import numpy as np


def design_effect(residual: np.ndarray, weights: np.ndarray, codes: np.ndarray | None) -> float:
    """Kish's 1 + (m - 1) rho for points in the clusters `codes` (1.0 without clusters).

    Example:
        >>> r = np.array([1.0, 1.1, -1.0, -1.1])
        >>> round(design_effect(r, np.ones(4), np.array([0, 0, 1, 1])), 2)
        2.0
    """
    if codes is None:
        return 1.0
    r = np.asarray(residual, float) * np.sqrt(np.asarray(weights, float))
    n_groups = int(codes.max()) + 1
    counts = np.bincount(codes, minlength=n_groups).astype(float)
    used = counts > 0
    G, N = int(used.sum()), r.size
    if G < 2 or N <= G:
        return 1.0
    means = np.bincount(codes, weights=r, minlength=n_groups) / np.where(used, counts, 1.0)
    msb = float((counts * (means - r.mean()) ** 2)[used].sum()) / (G - 1)
    msw = float(((r - means[codes]) ** 2).sum()) / (N - G)
    m0 = (N - float((counts**2).sum()) / N) / (G - 1)
    denom = msb + (m0 - 1.0) * msw
    rho = 0.0 if denom <= 0 else float(np.clip((msb - msw) / denom, 0.0, 1.0))
    return 1.0 + (N / G - 1.0) * rho
