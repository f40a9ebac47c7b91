"""The shape of a fitted curve on the observed loss range: a plateau and then a rise, or not.

DESIGN.md (Statistics) asks of every candidate curve, whatever its family: does the score
stay on a plateau at high loss and then rise once the loss falls below some value? A curve
is plateau-then-rise when, from the highest observed loss down, it stays within the
equivalence margin of its level there over at least PLATEAU_POINTS observed points and at
least PLATEAU_FRACTION of the observed loss range, and then rises materially:

    level  = f(L_max)
    rise   = max over the range of f - level
    margin = 2 SE(level), kept between RISE_FRACTION and MAX_FRACTION of the rise
    window = [min(L_max - 0.2 (L_max - L_min), the 5th highest observed loss), L_max]
    plateau-then-rise  <=>  max over the window |f - level| <= margin,  and
                            rise >= the material rise

(the window is the least plateau the rule accepts; a curve within the margin over it has at
least that plateau). DESIGN.md's margin is the larger of 2 SE and 5% of the rise, with no
upper bound; the bound of 10% is tracker's: where model sizes are offset from each other,
the plateau level's SE (inflated by the sizes' design effect) reached a third of the rise,
and a straight line, whose change over the window is a fifth of its rise, passed for a
plateau. A curve that changes by more than a tenth of its rise over the least plateau there
is has no plateau, however noisy the level. A hinge with its kink well inside the data has a
plateau, a line never has one, and a sigmoid or a power law can go either way: a sigmoid
mid-transition over the whole range, or a gently convex power law, has none; a sharp sigmoid
from chance, or exact match p^8 with p smooth in loss, has one.

The onset, defined once for every curve, is where its steepest tangent meets its level at
L_max (the lag time of growth curves, Zwietering et al. 1990): eta for a hinge, the upper
kink of a capped hinge, L0 + 2s for a sigmoid whose level at L_max is its lower asymptote,
L_max itself for a line. Sharpness is the 10%-90% span of the rise: `upper` is where the
curve, coming down from L_max, first reaches level + 0.1 rise, `lower` where it reaches
level + 0.9 rise (found on a grid, then by bisection).

Everything is vectorised over rows of parameters (bootstrap replicates).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tracker.fit.curves import kinks, predict, steepest

PLATEAU_FRACTION = 0.2
PLATEAU_POINTS = 5
RISE_FRACTION = 0.05
MAX_FRACTION = 0.10
LEVEL_SES = 2.0
GRID = 49
BISECTIONS = 16  # a grid cell / 65,536: 1e-6 of the range


@dataclass(frozen=True)
class Frame:
    """What a shape is judged against, fixed for one series: the observed range (`low`,
    `high`, loss units), the plateau window's lower end, the SE of a plateau level and the
    material rise (metric units), and the sorted observed losses (for counting points)."""

    low: float
    high: float
    window: float
    level_se: float
    min_rise: float
    losses: np.ndarray

    @classmethod
    def of(cls, losses: np.ndarray, level_se: float, min_rise: float) -> Frame:
        """The frame of sorted losses (n,)."""
        losses = np.asarray(losses, dtype=float)
        low, high = float(losses[0]), float(losses[-1])
        fifth = float(losses[max(losses.size - PLATEAU_POINTS, 0)])
        window = min(high - PLATEAU_FRACTION * (high - low), fifth)
        se = level_se if np.isfinite(level_se) else 0.0
        return cls(low, high, window, se, min_rise, losses)

    def points_below(self, loss: np.ndarray) -> np.ndarray:
        """How many observed losses lie strictly below each value of `loss`."""
        return np.searchsorted(self.losses, np.nan_to_num(loss, nan=-np.inf), side="left")


@dataclass(frozen=True)
class Shapes:
    """Arrays (B,), oriented units: whether each curve is plateau-then-rise, its level at
    L_max, its rise over the range, its onset and steepest slope (per unit of loss
    decrease), and the losses where it reaches 10% (`upper`) and 90% (`lower`) of its rise.
    NaN where a curve does not rise."""

    plateau: np.ndarray
    level: np.ndarray
    rise: np.ndarray
    onset: np.ndarray
    slope: np.ndarray
    upper: np.ndarray
    lower: np.ndarray

    @property
    def width(self) -> np.ndarray:
        """The 10%-90% span of the rise, loss units."""
        return self.upper - self.lower

    def row(self, i: int) -> dict[str, float]:
        return {name: float(getattr(self, name)[i]) for name in
                ("level", "rise", "onset", "slope", "upper", "lower")}


def judge(name: str, params: np.ndarray, frame: Frame, widths: bool = True) -> Shapes:
    """The shape of each row of `params` (B, p) of curve `name` on the frame's range;
    `widths=False` leaves `upper` and `lower` NaN (they cost most of the time, and a
    bootstrap needs them only for the rows it keeps: :func:`span`)."""
    P = np.atleast_2d(np.asarray(params, dtype=float))
    with np.errstate(all="ignore"):
        return _judge(name, P, frame, widths)


def span(name: str, params: np.ndarray, shapes: Shapes, frame: Frame) -> np.ndarray:
    """(B, 2): the losses of 10% and 90% of the rise for rows already judged."""
    P = np.atleast_2d(np.asarray(params, dtype=float))
    grid = np.linspace(frame.high, frame.low, GRID)
    with np.errstate(all="ignore"):
        return np.stack(_ends(name, P, grid, predict(name, P, grid), shapes.level,
                              shapes.rise, frame), axis=1)


def _ends(name, P, grid, values, level, rise, frame: Frame) -> tuple[np.ndarray, ...]:
    """(upper, lower): where each curve reaches 10% and 90% of its rise."""
    return tuple(_crossing(name, P, grid, values, level + q * rise, frame)
                 for q in (0.1, 0.9))


def _judge(name: str, P: np.ndarray, frame: Frame, widths: bool) -> Shapes:
    B = P.shape[0]
    grid = np.linspace(frame.high, frame.low, GRID)
    values = predict(name, P, grid)
    level = values[:, 0]
    rise = np.nanmax(values - level[:, None], axis=1)
    margin = equivalence_margin(frame.level_se, rise)
    inside = np.clip(kinks(name, P), frame.window, frame.high)
    checked = np.concatenate([np.full((B, 1), frame.window), inside], axis=1)
    deviation = np.max(np.abs(predict(name, P, checked) - level[:, None]), axis=1)
    rising = np.isfinite(rise) & (rise > 0)
    plateau = rising & (deviation <= margin) & (rise >= frame.min_rise)
    where, slope = steepest(name, P, frame.low, frame.high)
    at = predict(name, P, where[:, None])[:, 0]
    onset = np.where(rising & (slope > 0), where + (at - level) / np.where(slope > 0, slope,
                                                                          1.0), np.nan)
    onset = np.clip(onset, frame.low, frame.high)
    nan = np.where(rising, 1.0, np.nan)
    if not widths:
        return Shapes(plateau, level, rise, onset, slope * nan, np.full(B, np.nan),
                      np.full(B, np.nan))
    upper, lower = _ends(name, P, grid, values, level, rise, frame)
    return Shapes(plateau, level, rise, onset, slope * nan, upper * nan, lower * nan)


def equivalence_margin(level_se: float, rise: np.ndarray) -> np.ndarray:
    """How far a plateau may stray from its level: 2 SE, within [5%, 10%] of the rise."""
    return np.clip(LEVEL_SES * level_se, RISE_FRACTION * rise, MAX_FRACTION * rise)


def _crossing(name, P, grid, values, target, frame: Frame) -> np.ndarray:
    """The first loss, coming down from L_max, where each curve reaches `target` (B,)."""
    B = P.shape[0]
    reached = values >= target[:, None]
    first = np.argmax(reached, axis=1)
    found = reached[np.arange(B), first] & (first > 0)
    hi = grid[np.maximum(first - 1, 0)]  # not yet reached (higher loss)
    lo = grid[first]  # reached
    for _ in range(BISECTIONS):
        mid = 0.5 * (hi + lo)
        ok = predict(name, P, mid[:, None])[:, 0] >= target
        lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
    return np.where(found, 0.5 * (hi + lo), np.where(reached[:, 0], frame.high, np.nan))


def ceiling(name: str, params: np.ndarray, frame: Frame, y: np.ndarray | None = None
            ) -> float:
    """Where a rising curve levels off at low loss: the plateau rule mirrored. From the lowest
    observed loss up, the curve (oriented, one row of `params`) stays within the equivalence
    margin of its value there up to this loss, and that span holds at least PLATEAU_POINTS
    observed points and PLATEAU_FRACTION of the range; NaN where it does not level off.
    With `y` (oriented scores sorted by loss, as the frame's losses), the data must agree:
    the mean of the PLATEAU_POINTS lowest-loss points lies within the margin of the curve's
    value there, so a curve that flattens where the data still fall (a power law missing a
    last drop) is not said to level off."""
    P = np.atleast_2d(np.asarray(params, dtype=float))[:1]
    grid = np.linspace(frame.low, frame.high, GRID)
    with np.errstate(all="ignore"):
        values = predict(name, P, grid)[0]
        top = values[0]
        rise = float(top - np.nanmin(values))
        if not (np.isfinite(rise) and rise > 0 and rise >= frame.min_rise):
            return float("nan")
        margin = float(equivalence_margin(frame.level_se, np.array([rise]))[0])
        if y is not None and abs(float(np.mean(y[:PLATEAU_POINTS])) - top) > margin:
            return float("nan")
        away = np.abs(values - top) > margin
        if not away.any():
            return float("nan")
        first = int(np.argmax(away))
        lo, hi = grid[first - 1], grid[first]  # within the margin at lo, not at hi
        for _ in range(BISECTIONS):
            mid = 0.5 * (lo + hi)
            inside = abs(predict(name, P, np.array([[mid]]))[0, 0] - top) <= margin
            lo, hi = (mid, hi) if inside else (lo, mid)
    fifth = float(frame.losses[min(PLATEAU_POINTS - 1, frame.losses.size - 1)])
    least = max(frame.low + PLATEAU_FRACTION * (frame.high - frame.low), fifth)
    return float(lo) if lo >= least else float("nan")
