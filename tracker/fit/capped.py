"""The capped hinge (flat, rise, flat): a threshold whose rise saturates at a ceiling.

Model, with L the loss (lower is better) and y oriented (higher is better):

    y = c                      if L >= eta            (plateau, e.g. at chance)
    y = c + k (eta - L)        if cap < L < eta       (the rise), k >= 0
    y = c + k (eta - cap)      if L <= cap            (the ceiling)

i.e. y = c + k z with z = eta - clip(L, cap, eta). 4 parameters (c, k, eta, cap).

Why by hand: no library fits a two-breakpoint segmented line with both outer segments flat.
The fit is a documented exhaustive search over both breakpoints followed by a polish:

1. Every pair (cap, eta) of observed losses (cap < eta, at least MIN_SIDE points above eta
   and MIN_CAP points at or below cap, so neither plateau rests on one point) is tried;
   above EXHAUSTIVE points (the pairs' arrays grow as n^2: 5,000 points would need 1.5 GB),
   the pairs of EXHAUSTIVE evenly spaced order statistics, then every pair within one
   spacing of the best of those. For
   a pair the model is linear in (c, k); the five weighted sums it needs (sum w, w z, w z^2,
   w y, w z y) come from prefix sums over the sorted losses in O(1), so all O(n^2) pairs
   cost O(n^2) vectorised arithmetic (about 20,000 pairs for 200 points).
2. Between observed losses the SSE is smooth in (cap, eta), so the best pair is polished
   over the two neighbouring gaps by a vectorised grid, zoomed 5 times (9 x 9 pairs a level,
   final resolution 1/1024 of the gaps); the polish is kept only if it lowers the SSE, so
   the result is never worse than the exhaustive search.

`max_breakpoints` thins the candidate breakpoints to evenly spaced order statistics (used
by the vectorised p-value bootstrap, where the exact pair search for every replicate would
cost too much); the default uses every observed loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tracker.fit.curves import CurveFit
from tracker.fit.hinge import MIN_SIDE

MIN_CAP = 3  # points on the ceiling
EXHAUSTIVE = 400  # breakpoints searched pairwise (80,000 pairs)
LOCAL_WINDOW = 8  # order statistics either side of the data's eta, per replicate
CAP_WINDOW = 2  # ... and of its cap
POLISH_LEVELS = 5  # final resolution: a gap pair / 4^5


@dataclass(frozen=True)
class CappedHinge:
    """A capped-hinge fit in oriented units (y rises as loss falls).

    `eta`: the threshold (loss units), `cap`: the loss below which the score stops rising
    (cap < eta), `c`: the plateau, `k` >= 0: score gained per unit of loss decrease between
    the two, `sse`: the weighted SSE, `ok`: whether a fit was possible (enough points).
    """

    eta: float
    cap: float
    c: float
    k: float
    sse: float
    ok: bool = True

    @property
    def ceiling(self) -> float:
        """The score reached at and below `cap`."""
        return self.c + self.k * (self.eta - self.cap)

    def predict(self, loss) -> np.ndarray:
        """Fitted oriented score at `loss`."""
        return capped_curve(np.asarray(loss, dtype=float), self.eta, self.cap, self.c, self.k)


def capped_curve(loss: np.ndarray, eta: float, cap: float, c: float, k: float) -> np.ndarray:
    """c + k * (eta - clip(loss, cap, eta))."""
    return c + k * (eta - np.clip(loss, cap, eta))


def fit_capped_hinge(loss, y, weights) -> CappedHinge:
    """Least-squares capped hinge for one series (loss need not be sorted).

    Example:
        >>> L = np.linspace(1.0, 4.0, 60)
        >>> fit = fit_capped_hinge(L, 0.25 + 0.5 * (2.5 - np.clip(L, 1.8, 2.5)), np.ones(60))
        >>> round(fit.eta, 4), round(fit.cap, 4)
        (2.5, 1.8)
    """
    loss = np.asarray(loss, dtype=float)
    order = np.argsort(loss, kind="stable")
    L, yy, w = loss[order], np.asarray(y, dtype=float)[order], np.asarray(weights, float)[order]
    n = L.size
    thinned = n > EXHAUSTIVE
    grid = pair_search(L, yy[None, :], w, EXHAUSTIVE if thinned else None)
    if not bool(grid["ok"][0]):
        mean = float(w @ yy / w.sum())
        return CappedHinge(float("nan"), float("nan"), mean, 0.0, float("inf"), ok=False)
    if thinned:  # every pair near the thinned optimum, within one thinning step
        step = int(np.ceil(n / EXHAUSTIVE)) + 1
        near = np.arange(-step, step + 1)
        caps = np.searchsorted(L, float(grid["cap"][0])) + near
        etas = np.searchsorted(L, float(grid["eta"][0])) + near
        a_i, b_i = (g.ravel() for g in np.meshgrid(caps, etas, indexing="ij"))
        grid = pair_search(L, yy[None, :], w, pairs=(a_i, b_i))
    return _polish(L, yy, w, float(grid["cap"][0]), float(grid["eta"][0]))


def pair_search(L: np.ndarray, y: np.ndarray, w: np.ndarray,
                max_breakpoints: int | None = None,
                pairs: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Best (cap, eta) among observed losses for each replicate row of y (B, n) under the
    weights w (n,), shared by every row.

    L sorted ascending, shape (n,). `pairs` (cap indices, eta indices) limits the search to
    those pairs (a local refit); else every allowed pair, thinned to `max_breakpoints`
    evenly spaced order statistics when given. Returns arrays of shape (B,): eta, cap, c,
    k, sse, ok.
    """
    n = L.size
    B = y.shape[0]
    w = np.asarray(w, dtype=float).reshape(-1)
    if pairs is None:
        idx = np.arange(n) if max_breakpoints is None or max_breakpoints >= n else np.unique(
            np.linspace(0, n - 1, max_breakpoints).round().astype(int))
        a_i, b_i = (g.ravel() for g in np.meshgrid(idx, idx, indexing="ij"))
    else:
        a_i, b_i = pairs
    keep = (b_i > a_i) & (a_i + 1 >= MIN_CAP) & (n - b_i >= MIN_SIDE)
    a_i, b_i = a_i[keep], b_i[keep]  # cap at x[a], eta at x[b]
    if a_i.size == 0:
        nan = np.full(B, np.nan)
        return {"eta": nan, "cap": nan, "c": nan, "k": nan, "sse": np.full(B, np.inf),
                "ok": np.zeros(B, bool)}
    shift = float(L.mean())
    x = L - shift

    def cum(v):  # prefix sums with a leading 0 along the last axis: S[..., i] = first i
        return np.concatenate([np.zeros(v.shape[:-1] + (1,)), np.cumsum(v, axis=-1)], axis=-1)

    sw, sx, sxx = cum(w), cum(w * x), cum(w * x * x)  # shared by every row: (n + 1,)
    wy = w * y
    sy, sxy = cum(wy), cum(wy * x)  # (B, n + 1)
    cap, eta = x[a_i], x[b_i]  # (P,)
    lo, hi = a_i + 1, b_i  # ceiling: points [0, lo); rise: [lo, hi); plateau: [hi, n)
    d = eta - cap
    W_c = sw[lo]
    W_r, X_r, XX_r = sw[hi] - sw[lo], sx[hi] - sx[lo], sxx[hi] - sxx[lo]
    # z = d on the ceiling, eta - x on the rise, 0 on the plateau: its sums are shared
    Sz = W_c * d + W_r * eta - X_r
    Szz = W_c * d * d + W_r * eta**2 - 2 * eta * X_r + XX_r
    Sw = sw[-1]
    var_z = Szz - Sz**2 / Sw  # (P,)
    Sy = sy[:, -1:]
    Szy = sy[:, lo] * d + eta * (sy[:, hi] - sy[:, lo]) - (sxy[:, hi] - sxy[:, lo])
    cov = Szy - Sz * Sy / Sw  # (B, P)
    usable = var_z > 1e-300
    k = np.maximum(np.where(usable, cov / np.where(usable, var_z, 1.0), 0.0), 0.0)
    gain = np.where(k > 0, cov * k, 0.0)
    best = np.argmax(np.where(np.isfinite(gain), gain, -np.inf), axis=1)
    rows = np.arange(B)
    k_best = k[rows, best]
    c_best = (Sy[:, 0] - k_best * Sz[best]) / Sw
    total = (wy * y).sum(axis=1) - Sy[:, 0] ** 2 / Sw
    return {"eta": eta[best] + shift, "cap": cap[best] + shift, "c": c_best, "k": k_best,
            "sse": np.maximum(total - gain[rows, best], 0.0), "ok": np.ones(B, bool)}


def _sse_at(L, y, w, cap, eta) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(SSE, c, k) for arrays of (cap, eta) pairs (P,), k >= 0 (weighted least squares)."""
    z = eta[:, None] - np.clip(L[None, :], cap[:, None], eta[:, None])
    sw = w.sum()
    zbar, ybar = z @ w / sw, float(w @ y) / sw
    dz = z - zbar[:, None]
    szz = (dz * dz) @ w
    k = np.maximum(np.where(szz > 0, (dz @ (w * (y - ybar))) / np.where(szz > 0, szz, 1.0),
                            0.0), 0.0)
    c = ybar - k * zbar
    resid = y[None, :] - c[:, None] - k[:, None] * z
    return (resid * resid) @ w, c, k


def _polish(L, y, w, cap0, eta0) -> CappedHinge:
    """Refinement of (cap, eta) within the gaps next to the best observed pair: a 9 x 9 grid
    over them, zoomed POLISH_LEVELS times onto the best cell's neighbours (all pairs of a
    level evaluated at once); kept only if it lowers the SSE."""
    sse0, c0, k0 = (float(v[0]) for v in _sse_at(L, y, w, np.array([cap0]), np.array([eta0])))
    best = CappedHinge(eta0, cap0, c0, k0, sse0)
    i_cap, i_eta = np.searchsorted(L, cap0), np.searchsorted(L, eta0)
    box = [[L[max(i_cap - 1, 0)], L[min(i_cap + 1, len(L) - 1)]],
           [L[max(i_eta - 1, 0)], L[min(i_eta + 1, len(L) - 1)]]]
    for _ in range(POLISH_LEVELS):
        caps, etas = (np.linspace(lo, hi, 9) for lo, hi in box)
        cap, eta = (g.ravel() for g in np.meshgrid(caps, etas, indexing="ij"))
        eta = np.maximum(eta, cap)
        sse, c, k = _sse_at(L, y, w, cap, eta)
        j = int(np.argmin(sse))
        if sse[j] < best.sse:
            best = CappedHinge(float(eta[j]), float(cap[j]), float(c[j]), float(k[j]),
                               float(sse[j]))
        steps = [(hi - lo) / 8 for lo, hi in box]
        box = [[max(lo, centre - step), min(hi, centre + step)]
               for (lo, hi), centre, step in zip(box, (cap[j], eta[j]), steps, strict=True)]
    return best


def fit_capped_curve(loss: np.ndarray, y: np.ndarray, w: np.ndarray) -> CurveFit:
    """The capped hinge of one series as a candidate curve (infinite SSE when the series
    has too few points for both plateaus)."""
    fit = fit_capped_hinge(loss, y, w)
    return CurveFit("capped", (fit.eta, fit.cap, fit.c, fit.k), fit.sse, converged=fit.ok,
                    message="" if fit.ok else "too few points for a capped hinge")


def refit_capped(loss, Y, w, start: CurveFit):
    """Every row of Y (B, n) refitted over the pairs of observed losses near the data's
    (cap, eta): eta within LOCAL_WINDOW order statistics of the data's, the cap within
    CAP_WINDOW. The replicates lie around the data's fit; the onset is eta, so eta gets the
    wider search, and the exhaustive search for each of 1,000 replicates would cost 100
    times more. Returns (params (B, 4), SSE (B,), ok (B,))."""
    eta0, cap0 = start.params[0], start.params[1]
    B = len(Y)
    if not np.isfinite(eta0 + cap0):
        return np.full((B, 4), np.nan), np.full(B, np.inf), np.zeros(B, bool)
    caps = np.searchsorted(loss, cap0) + np.arange(-CAP_WINDOW, CAP_WINDOW + 1)
    etas = np.searchsorted(loss, eta0) + np.arange(-LOCAL_WINDOW, LOCAL_WINDOW + 1)
    a_i, b_i = (g.ravel() for g in np.meshgrid(caps, etas, indexing="ij"))
    return as_rows(pair_search(loss, Y, w, pairs=(a_i, b_i)))


def as_rows(found: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """pair_search's result as (params (B, 4) in curves.py's order, SSE (B,), ok (B,))."""
    params = np.stack([found["eta"], found["cap"], found["c"], found["k"]], axis=1)
    return params, found["sse"], found["ok"]
