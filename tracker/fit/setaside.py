"""Points set aside before fitting: a start-up transient, and isolated spikes.

**A start-up transient**: the first checkpoints' jump onto the plateau.

A model at initialisation does not yet answer in the task's format: the ladder's random
models answer 2-digit sums with 4-10 tokens of noise (token edit distance 4-10), and within
their first 8-16 steps they answer with two or three digits (edit distance about 2), where
the distance then stays until the ability arrives at loss 1.8. Judged from the highest loss
down (tracker/fit/shape.py), that first jump means no plateau at the highest losses, so the
series read `rises (throughout)` and its pair `made by the metric`, while the figure shows a
plateau and then a rise with exact match. The jump is not the ability the verdict asks
about; it is the format being learnt.

The rule, decided on the data before any curve is fitted, the same for every series:
the k highest-loss points are a start-up transient when

- every one of them scores worse (oriented) than every one of the next PLATEAU_POINTS points,
  by a gap of at least the material rise, and
- that gap is wider than the spread (max - min) of those next points: a jump onto a level,
  not a steady rise (in a steady rise each step between neighbours is smaller than the
  spread of the next five), and
- k is at most a fifth of the points, and the k points lie in the top fifth of the loss
  range, and MIN_POINTS points or more remain.

k is the largest count that passes. The fit then runs on the points below the transient,
and the result says so (`ThresholdFit.startup_above`, `n_startup`, and the label): the
plateau is judged from the highest remaining loss down. A series without such a jump is
fitted whole, as before.

**Spikes** (metrics that are not 0/1 proportions only): within one size, in loss order (a
size's neighbours in loss are its neighbours in training), a checkpoint that lies on the same
side of both its neighbours, further from the nearer of them than SPIKE_SCALES robust
standard deviations of the size's neighbour-to-neighbour wiggle (1.4826 x the median
absolute second difference) and than the material rise. The ladder's neox-1.2m answers 2-digit
sums at step 32 with edit distance 6.2 between 1.98 (step 16) and 2.2 (step 64), llama-130k
with 3.6 between 2.6 and 2.2: one checkpoint's behaviour that its training leaves again, not
a function of loss, and a kinked curve placed its kink on it (`rises (slope change at 2.414)`).
A median filter would say the same; this rule keeps every point of a sharp rise (each lies
between its neighbours) and every point of a noisy series whose wiggle is large. 0/1
proportions are left alone: their binomial weights already hold their noise, and a lone
exact match of 0.06 among zeros is not told from sampling noise by this rule.
"""

from __future__ import annotations

import numpy as np

from tracker.fit.shape import PLATEAU_FRACTION, PLATEAU_POINTS

MAX_SHARE = 0.2  # of the points a transient may hold
SPIKE_SCALES = 5.0
MAD_SD = 1.4826  # a normal's standard deviation per median absolute deviation


def startup_points(loss: np.ndarray, y: np.ndarray, min_rise: float, min_left: int) -> int:
    """How many of the highest-loss points form a start-up transient (0 where none).

    `loss` sorted ascending, `y` oriented (higher is better) in the same order; at least
    `min_left` points must remain.

    Example:
        >>> loss = np.linspace(1.0, 6.0, 30)
        >>> y = np.where(loss > 5.5, -10.0, np.where(loss < 2.0, 0.0, -2.0))
        >>> int(startup_points(loss, y, 0.1, 10))
        3
    """
    loss, y = np.asarray(loss, dtype=float), np.asarray(y, dtype=float)
    n = loss.size
    if n == 0:
        return 0
    top = loss[-1] - PLATEAU_FRACTION * (loss[-1] - loss[0])
    in_top = int(np.count_nonzero(loss >= top))
    most = min(int(MAX_SHARE * n), in_top, n - max(min_left, PLATEAU_POINTS))
    # descending loss: the first k are the transient, the next PLATEAU_POINTS its level
    down = y[::-1]
    found = 0
    for k in range(1, most + 1):
        level = down[k:k + PLATEAU_POINTS]
        gap = float(level.min() - down[:k].max())
        if gap >= min_rise and gap > float(np.ptp(level)):
            found = k
    return found


def spikes(loss: np.ndarray, y: np.ndarray, codes: np.ndarray | None,
           min_rise: float) -> np.ndarray:
    """A boolean mask (same order as `loss`, sorted ascending) of the isolated spikes.

    Example:
        >>> loss = np.linspace(1.0, 3.0, 12)
        >>> y = np.r_[np.zeros(6), 1.0, np.zeros(5)]
        >>> np.flatnonzero(spikes(loss, y, None, 0.1)).tolist()
        [6]
    """
    loss, y = np.asarray(loss, dtype=float), np.asarray(y, dtype=float)
    groups = np.zeros(loss.size, dtype=int) if codes is None else np.asarray(codes)
    out = np.zeros(loss.size, dtype=bool)
    for code in np.unique(groups):
        members = np.flatnonzero(groups == code)  # already in loss order
        if members.size < 3:
            continue
        values = y[members]
        before, here, after = values[:-2], values[1:-1], values[2:]
        wiggle = here - 0.5 * (before + after)
        scale = MAD_SD * float(np.median(np.abs(wiggle)))
        nearer = np.minimum(np.abs(here - before), np.abs(here - after))
        same_side = np.sign(here - before) == np.sign(here - after)
        out[members[1:-1]] = same_side & (nearer > max(SPIKE_SCALES * scale, min_rise))
    return out
