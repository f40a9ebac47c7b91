"""What counts as a material rise, and a plateau "at chance", per metric type.

A threshold is emergence only when the score rises by a material amount over the data's
range (the fitted rise from the plateau to the lowest loss seen; for a capped hinge, to its
ceiling) and the plateau before it sits at chance.

| metric type                                     | minimum rise | chance margin |
|-------------------------------------------------|--------------|---------------|
| scores on [0, 1]: accuracy-type proportions,    | 0.05         | 0.02          |
| p_correct, brier, normalised edit distance, and |              |               |
| any metric tracker does not know                |              |               |
| target NLL (nats)                               | 0.10         | (no chance)   |

The plateau is at chance when |baseline - chance| <= max(2 SE, margin), with the SE of the
plateau inflated for clustering by size (tracker/fit/clustering.py): an equivalence margin,
so that 14,000 examples do not make a plateau 0.003 above chance "not at chance", while a
plateau 0.05 above it is a kink above chance whatever its SE.
"""

from __future__ import annotations

import math

DEFAULT_MIN_RISE = 0.05
DEFAULT_CHANCE_MARGIN = 0.02
MIN_RISE = {"target_nll": 0.10}


def min_rise_for(metric: str) -> float:
    """The minimum material rise, in the metric's units."""
    return MIN_RISE.get(metric, DEFAULT_MIN_RISE)


def at_chance(level: float, se: float, chance: float | None,
              margin: float = DEFAULT_CHANCE_MARGIN) -> bool | None:
    """Plateau within max(2 SE, margin) of chance (None when chance is unknown)."""
    if chance is None or not math.isfinite(chance):
        return None
    se = se if math.isfinite(se) else 0.0
    return bool(abs(level - chance) <= max(2.0 * se, margin, 1e-12))
