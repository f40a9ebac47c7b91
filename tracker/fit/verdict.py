"""The verdict rule (DESIGN.md, Statistics: emergence, thresholds, and the mirage test).

The question is not "is the curve kinked or curved?" but: does the score stay on a plateau
and then rise once the loss falls below some value? Every candidate curve (constant, line,
power law, sigmoid, hinge, capped hinge, broken stick) is classed by the shape of its fitted
curve on the observed range (tracker/fit/shape.py), not by its family; BICs are of the same
weighted data, with the design effect of points clustered in sizes
(tracker/fit/clustering.py). margin = BIC(best curve without a plateau) - BIC(best
plateau-then-rise curve).

| verdict      | rule                                                                       |
|--------------|----------------------------------------------------------------------------|
| insufficient | fewer than 10 finite points, or fewer than 3 distinct losses; or too few   |
|              | points on the plateau's side: the best curve, without a plateau only for   |
|              | want of points, sits at its level over the plateau's share of the range    |
|              | but over 2-4 checkpoints before it rises (margin <= 6)                     |
| flat         | no curve beats a constant by more than 2 BIC, or the best curve's fitted   |
|              | change across the observed range (counted from chance up, where chance is  |
|              | known) is below the material rise (tracker.evals.metrics)                  |
| emerges      | margin > 10, the rise seen by 5 points or more (below the loss where the   |
|              | curve reaches 10% of its rise), the deciding fits converged, and q <= 0.05 |
|              | across the table (pvalue.py)                                               |
| weak         | margin in (6, 10]; or margin > 10 with another condition failing (the      |
|              | reason names which)                                                        |
| rises        | otherwise: a material change with no decisive plateau                      |
| failed       | the fit raised (tracker/fit/table.py records the reason; never expected)   |

Before the rule, isolated spikes and a start-up transient are set aside
(tracker/fit/setaside.py), so the plateau is judged from the highest loss after the first
checkpoints' jump onto it.

A sigmoid that sits at chance and then climbs is therefore an emergence with a graded onset,
not a "smooth alternative" of the hinge; a series that rises from its first checkpoint and
then saturates has no plateau at high loss, and rises.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from tracker.fit.shape import PLATEAU_POINTS

Verdict = Literal["emerges", "weak", "rises", "flat", "insufficient", "failed"]
VERDICTS: tuple[str, ...] = ("emerges", "weak", "rises", "flat", "insufficient", "failed")
MIN_POINTS = 10
MIN_LOSSES = 3
MIN_BELOW = 5  # points in the rise, as the hinge asks of each side of its kink
EMERGES_MARGIN = 10.0
WEAK_MARGIN = 6.0
FLAT_MARGIN = 2.0
MAX_Q = 0.05


@dataclass(frozen=True)
class Evidence:
    """What the rule needs beyond the BICs and the shapes (metric units, loss units)."""

    change: float  # the best curve's fitted change across the observed range, absolute
    min_rise: float
    points_below: int  # observed points below the best plateau curve's 10% level
    converged: bool  # the two deciding fits
    q_value: float = 0.0
    short_plateau: ShortPlateau | None = None  # the best curve's, when it has no plateau


@dataclass(frozen=True)
class ShortPlateau:
    """The best curve sits at its level over `points` checkpoints before it rises, fewer
    than a plateau needs: the lowest of them at loss `last`, the next one down at `next_`."""

    points: int
    last: float
    next_: float


@dataclass(frozen=True)
class Decision:
    """The verdict, its reason, the best curves with and without a plateau, the margin."""

    verdict: Verdict
    reason: str
    best_plateau: str
    best_other: str
    delta_bic: float


def best_of(bics: Mapping[str, float], names) -> str:
    """The lowest-BIC name among `names` ('' when there is none with a finite BIC)."""
    finite = [name for name in names if np.isfinite(bics.get(name, np.inf))]
    return min(finite, key=lambda name: bics[name]) if finite else ""


def decide(bics: Mapping[str, float], plateau: Mapping[str, bool],
           evidence: Evidence) -> Decision:
    """Apply the rule to BICs and shapes keyed by curve name ('constant' included)."""
    curves = [name for name in bics if name != "constant"]
    best_plateau = best_of(bics, [name for name in curves if plateau.get(name)])
    best_other = best_of(bics, [name for name in curves if not plateau.get(name)])
    if not best_plateau:
        margin = -np.inf
    elif not best_other:
        margin = np.inf
    else:
        margin = float(bics[best_other] - bics[best_plateau])

    def out(verdict: Verdict, reason: str) -> Decision:
        return Decision(verdict, reason, best_plateau, best_other, margin)

    best = best_of(bics, curves)
    if not best or bics["constant"] - bics[best] <= FLAT_MARGIN:
        return out("flat", "no curve beats a constant")
    if not evidence.change >= evidence.min_rise:
        return out("flat", f"the fitted change across the range, {evidence.change:.3g}, is "
                           f"below the material {evidence.min_rise:g}")
    if margin > EMERGES_MARGIN:
        failing = _failing(evidence)
        if not failing:
            return out("emerges", f"a plateau-shaped {best_plateau} beats every curve "
                                  "without a plateau by > 10 BIC")
        return out("weak", f"a plateau-shaped {best_plateau} wins by > 10 BIC but "
                           + "; ".join(failing))
    if margin > WEAK_MARGIN:
        return out("weak", f"a plateau-shaped {best_plateau} wins by only 6-10 BIC")
    short = evidence.short_plateau
    if short is not None and margin <= WEAK_MARGIN:
        return out("insufficient", f"{best_other} sits at its level over only {short.points} "
                                   f"checkpoints before it rises (a plateau needs "
                                   f"{PLATEAU_POINTS}): evaluate checkpoints between loss "
                                   f"{short.last:.3f} and {short.next_:.3f}")
    if not best_plateau:
        return out("rises", "no candidate curve has a plateau")
    if margin < 0:
        return out("rises", f"no decisive plateau: {best_other}, without a plateau, beats the "
                            f"plateau-shaped {best_plateau} by {-margin:.1f} BIC")
    return out("rises", f"no decisive plateau: {best_other} is within {margin:.1f} BIC of "
                        f"the plateau-shaped {best_plateau}")


def _failing(evidence: Evidence) -> list[str]:
    failing = []
    if evidence.points_below < MIN_BELOW:
        failing.append(f"the rise is seen by {evidence.points_below} points (fewer than "
                       f"{MIN_BELOW}, below its 10% level): evaluate checkpoints at lower "
                       "loss")
    if not evidence.converged:
        failing.append("a deciding fit did not converge")
    if not evidence.q_value <= MAX_Q:
        failing.append(f"q = {evidence.q_value:.3g} > {MAX_Q} across the table")
    return failing
