"""Many series at once: a p-value per series by parametric bootstrap, then Benjamini-Hochberg.

H0: the best smooth model (linear, sigmoid or power law) is the truth. Statistic:
T = N log(SSE_smooth / SSE_kinked), the log-likelihood ratio of the best threshold model
(hinge, or capped hinge) over the best smooth one, both under the series' own weights. To
make B refits of every model affordable the statistic uses fast versions of the fits, the
same for the data and the replicates (so the test is exact in the Monte Carlo sense): the
hinge exactly (tracker/fit/hinge.py), the capped hinge over 40 candidate breakpoints, the
linear model exactly, and the sigmoid and power law over their grids with the linear
parameters profiled out (tracker/fit/smooth.py), all by matrix products.

Replicates are drawn from the best smooth fit: Binomial(n, p(L)) / n for accuracy-type
metrics with n, else the fit plus resampled standardised residuals. Only series whose
hinge beats the best smooth model (by BIC) are simulated; elsewhere p = 1.

p = (1 + #{T* >= T}) / (B + 1) when at least MIN_EXCEED replicates reach T. Fewer, and that
estimate's resolution (1 / (B + 1)) would make a lone threshold in a table of 100 series
undetectable after the multiple-testing correction, so the tail is then extrapolated by a
generalised Pareto distribution fitted to the largest 20% of the T* (Knijnenburg et al.
2009, "Fewer permutations, more accurate P-values"; fitted by probability-weighted
moments), never above the Monte Carlo estimate.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from tracker.fit import bootstrap as boot
from tracker.fit.capped import pair_search
from tracker.fit.hinge import fit_hinge
from tracker.fit.smooth import SmoothFit, grid_sse

DEFAULT_PBOOT = 200
MIN_EXCEED = 10
TAIL_FRACTION = 0.2
CAPPED_BREAKPOINTS = 40


def statistic(loss: np.ndarray, Y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """T for each row of Y (B, n), loss sorted ascending, fixed weights w (n,)."""
    hinge = fit_hinge(loss, Y, w).sse
    capped = pair_search(loss, Y, w[None, :], CAPPED_BREAKPOINTS)["sse"]
    kinked = np.fmin(hinge, capped)
    smooth = grid_sse(loss, Y, w)
    n = loss.size
    floor = 1e-300
    return n * (np.log(np.maximum(smooth, floor)) - np.log(np.maximum(kinked, floor)))


def null_replicates(null: SmoothFit, loss, y, w, n, binomial: bool, sign: float,
                    rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """Oriented scores (B, n_points) simulated from the best smooth fit."""
    fitted = null.predict(loss)
    if binomial and n is not None:
        return sign * boot.binomial_replicates(sign * fitted, n, rng, n_boot)
    return boot.residual_replicates(fitted, y, w, rng, n_boot, n_params=0)  # no inflation


def tail_p_value(observed: float, null_stats: np.ndarray) -> float:
    """Monte Carlo p-value, with a generalised Pareto tail when few replicates reach T."""
    null_stats = null_stats[np.isfinite(null_stats)]
    B = null_stats.size
    if B == 0:
        return 1.0
    exceed = int((null_stats >= observed).sum())
    mc = (1.0 + exceed) / (B + 1.0)
    if exceed >= MIN_EXCEED:
        return mc
    t0 = float(np.quantile(null_stats, 1.0 - TAIL_FRACTION))
    tail = null_stats[null_stats > t0] - t0
    if tail.size < 10 or np.ptp(tail) == 0.0:
        return mc
    shape, scale = pareto_pwm(tail)
    survival = float(stats.genpareto.sf(observed - t0, shape, loc=0.0, scale=scale))
    return float(min(mc, max(TAIL_FRACTION * survival, 1e-300)))


def pareto_pwm(excess: np.ndarray) -> tuple[float, float]:
    """Generalised Pareto (shape, scale) in scipy's convention, by probability-weighted
    moments (Hosking & Wallis 1987): closed form, and for the ~40 exceedances here as
    accurate as maximum likelihood, at a fraction of the cost of a numerical fit."""
    x = np.sort(excess)
    n = x.size
    a0 = float(x.mean())
    a1 = float(np.mean((1.0 - (np.arange(1, n + 1) - 0.35) / n) * x))
    k = a0 / (a0 - 2.0 * a1) - 2.0  # Hosking's shape; scipy's is -k
    return -k, 2.0 * a0 * a1 / (a0 - 2.0 * a1)


def parametric_p_value(null: SmoothFit, loss, y, w, n, binomial, sign, rng,
                       n_boot: int = DEFAULT_PBOOT) -> float:
    """p for "a threshold beats the best smooth model" for one series (sorted by loss)."""
    observed = float(statistic(loss, y[None, :], w)[0])
    sims = null_replicates(null, loss, y, w, n, binomial, sign, rng, n_boot)
    return tail_p_value(observed, statistic(loss, sims, w))


def bh_q_values(p_values) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (scipy), NaN kept as NaN."""
    p = np.asarray(p_values, dtype=float)
    q = np.full_like(p, np.nan)
    finite = np.isfinite(p)
    if finite.any():
        q[finite] = stats.false_discovery_control(p[finite], method="bh")
    return q
