"""Many series at once: a p-value per series by parametric bootstrap, then Benjamini-Hochberg.

H0: the best curve without a plateau is the truth (DESIGN.md: an emergence needs a plateau-
shaped curve to beat every curve without one). Statistic: T = N log(SSE_none / SSE_plateau),
the log-likelihood ratio of the best plateau-then-rise curve over the best curve without a
plateau, both under the series' own weights, each curve classed by its shape
(tracker/fit/shape.py); in a replicate where no curve is plateau-shaped, SSE_plateau is the
best kinked curve's (hinge or capped hinge, whatever its shape), which can only raise T*. To
make B refits of every candidate affordable the statistic uses fast versions of the fits,
the same for the data and the replicates (so the test is exact in the Monte Carlo sense):
the hinge exactly (tracker/fit/hinge.py), the capped hinge over 40 candidate breakpoints,
the line exactly, and the sigmoid and power law over their grids with the linear parameters
profiled out (tracker/fit/smooth.py), all by matrix products. A grid cell's shape needs no
curve evaluation per replicate: a sigmoid or power-law cell is monotone, so its largest
deviation over the plateau window is at the window's lower end, and its level, rise and
deviation are its basis values there times the replicate's slope.

Replicates are drawn from the best no-plateau fit: Binomial(n, p(L)) / n for accuracy-type
metrics with n, else the fit plus resampled standardised residuals. Only series whose best
plateau curve beats the best curve without one by more than the emergence margin are
simulated; elsewhere p = 1.

p = (1 + #{T* >= T}) / (B + 1) when at least MIN_EXCEED replicates reach T. Fewer, and that
estimate's resolution (1 / (B + 1)) would make a lone emergence in a table of 100 series
undetectable after the multiple-testing correction, so the tail is then extrapolated by a
generalised Pareto distribution fitted to the largest 20% of the T* (Knijnenburg et al.
2009, "Fewer permutations, more accurate P-values"; fitted by probability-weighted
moments), never above the Monte Carlo estimate. Where that tail cannot be fitted (the null
replicates hardly vary: an exact match at 0 everywhere), Cantelli's one-sided bound from
their mean and variance is used instead, again never above the Monte Carlo estimate.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from tracker.fit import bootstrap as boot
from tracker.fit.capped import as_rows, pair_search
from tracker.fit.curves import CurveFit
from tracker.fit.hinge import refit_hinge
from tracker.fit.shape import Frame, equivalence_margin, judge
from tracker.fit.smooth import grid_bases, paired_profile

DEFAULT_PBOOT = 200
MIN_EXCEED = 10
TAIL_FRACTION = 0.2
CAPPED_BREAKPOINTS = 40


def statistic(loss: np.ndarray, Y: np.ndarray, w: np.ndarray, frame: Frame) -> np.ndarray:
    """T for each row of Y (B, n), loss sorted ascending, fixed weights w (n,)."""
    B = len(Y)
    plateau_sse, none_sse = np.full(B, np.inf), paired_profile(loss, Y, w)[2]  # the line
    kinked = (("hinge", *refit_hinge(loss, Y, w)),
              ("capped", *as_rows(pair_search(loss, Y, w, CAPPED_BREAKPOINTS))))
    kinked_sse = np.full(B, np.inf)
    for name, params, sse, ok in kinked:
        sse = np.where(ok, sse, np.inf)
        flat = judge(name, np.nan_to_num(params), frame, widths=False).plateau & ok
        plateau_sse = np.fmin(plateau_sse, np.where(flat, sse, np.inf))
        none_sse = np.fmin(none_sse, np.where(flat, np.inf, sse))
        kinked_sse = np.fmin(kinked_sse, sse)
    cells_plateau, cells_none = _grid_sse(loss, Y, w, frame)
    plateau_sse, none_sse = np.fmin(plateau_sse, cells_plateau), np.fmin(none_sse, cells_none)
    # a replicate with no plateau-shaped curve takes its best kinked fit instead: T* stays
    # finite (a null distribution with a tail to extrapolate) and only grows, so the test
    # is conservative
    plateau_sse = np.where(np.isfinite(plateau_sse), plateau_sse, kinked_sse)
    floor = 1e-300
    with np.errstate(invalid="ignore"):
        return loss.size * (np.log(np.maximum(none_sse, floor))
                            - np.log(np.maximum(plateau_sse, floor)))


def _grid_sse(loss, Y, w, frame: Frame) -> tuple[np.ndarray, np.ndarray]:
    """The best plateau-shaped and the best other grid cell's SSE per replicate (B,)."""
    basis, at = grid_bases(loss, np.array([frame.low, frame.window, frame.high]))
    sw = w.sum()
    db = basis - (basis @ w / sw)[:, None]
    dY = Y - (Y @ w / sw)[:, None]
    sbb = (db * db) @ w
    usable = sbb > 1e-300
    slope = ((db * w) @ dY.T) / np.where(usable, sbb, 1.0)[:, None]  # (G, B)
    sse = np.where(usable[:, None], (dY * dY) @ w - slope**2 * sbb[:, None], np.inf)
    rise = slope * (at[:, 0] - at[:, 2])[:, None]
    deviation = np.abs(slope) * np.abs(at[:, 1] - at[:, 2])[:, None]
    margin = equivalence_margin(frame.level_se, rise)
    flat = usable[:, None] & (rise > 0) & (deviation <= margin) & (rise >= frame.min_rise)
    return (np.min(np.where(flat, sse, np.inf), axis=0),
            np.min(np.where(flat, np.inf, sse), axis=0))


def null_replicates(null: CurveFit, loss, y, w, n, binomial: bool, sign: float,
                    rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """Oriented scores (B, n_points) simulated from the best no-plateau fit."""
    fitted = null.predict(loss)
    if binomial and n is not None:
        return sign * boot.binomial_replicates(sign * fitted, n, rng, n_boot)
    return boot.residual_replicates(fitted, y, w, rng, n_boot, n_params=0)  # no inflation


def tail_p_value(observed: float, null_stats: np.ndarray) -> float:
    """Monte Carlo p-value, with a generalised Pareto tail when few replicates reach T.

    A replicate in which no curve is plateau-shaped has T* = -inf: it counts, as one that
    does not reach T (dropping it would leave a null of only the replicates most like an
    emergence); only NaN statistics are dropped."""
    null_stats = null_stats[~np.isnan(null_stats)]
    B = null_stats.size
    if B == 0:
        return 1.0
    exceed = int((null_stats >= observed).sum())
    mc = (1.0 + exceed) / (B + 1.0)
    if exceed >= MIN_EXCEED:
        return mc
    t0 = float(np.quantile(null_stats, 1.0 - TAIL_FRACTION))
    tail = null_stats[(null_stats > t0) & np.isfinite(null_stats)] - t0
    shape, scale = pareto_pwm(tail) if tail.size >= 10 and np.ptp(tail) > 0 else (np.nan,) * 2
    if not (np.isfinite(t0) and np.isfinite(shape) and np.isfinite(scale) and scale > 0):
        return min(mc, cantelli(observed, null_stats))
    survival = float(stats.genpareto.sf(observed - t0, shape, loc=0.0, scale=scale))
    return float(min(mc, max(TAIL_FRACTION * survival, 1e-300)))


def cantelli(observed: float, null_stats: np.ndarray) -> float:
    """Cantelli's one-sided bound P(T* - mu >= t) <= var / (var + t^2), from the replicates'
    mean and variance: the tail where too few replicates are spread out to fit a Pareto
    tail to (a null that is almost always the same value, e.g. all-zero replicates of an
    exact match at 0)."""
    finite = null_stats[np.isfinite(null_stats)]
    if finite.size < 2 or not observed > finite.mean():
        return 1.0
    var = float(finite.var(ddof=1))
    gap = observed - float(finite.mean())
    return max(var / (var + gap * gap), 1e-300)


def pareto_pwm(excess: np.ndarray) -> tuple[float, float]:
    """Generalised Pareto (shape, scale) in scipy's convention, by probability-weighted
    moments (Hosking & Wallis 1987): closed form, and for the ~40 exceedances here as
    accurate as maximum likelihood, at a fraction of the cost of a numerical fit."""
    x = np.sort(excess)
    n = x.size
    a0 = float(x.mean())
    a1 = float(np.mean((1.0 - (np.arange(1, n + 1) - 0.35) / n) * x))
    if a0 - 2.0 * a1 == 0.0:
        return float("nan"), float("nan")
    k = a0 / (a0 - 2.0 * a1) - 2.0  # Hosking's shape; scipy's is -k
    return -k, 2.0 * a0 * a1 / (a0 - 2.0 * a1)


def parametric_p_value(null: CurveFit, loss, y, w, n, binomial, sign, rng, frame: Frame,
                       n_boot: int = DEFAULT_PBOOT) -> float:
    """p for "a plateau-then-rise curve beats every curve without a plateau" for one series
    (sorted by loss), under the null of the best curve without one."""
    observed = float(statistic(loss, y[None, :], w, frame)[0])
    if not np.isfinite(observed):
        return 1.0
    sims = null_replicates(null, loss, y, w, n, binomial, sign, rng, n_boot)
    return tail_p_value(observed, statistic(loss, sims, w, frame))


def bh_q_values(p_values) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (scipy), NaN kept as NaN."""
    p = np.asarray(p_values, dtype=float)
    q = np.full_like(p, np.nan)
    finite = np.isfinite(p)
    if finite.any():
        q[finite] = stats.false_discovery_control(p[finite], method="bh")
    return q
