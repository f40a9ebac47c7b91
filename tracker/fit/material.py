"""A plateau "at chance": the equivalence margin (the material rise of each metric is in
tracker.evals.metrics, beside its direction and chance level).

The plateau is at chance when |level - chance| <= max(2 SE, 0.02), with the SE of the
plateau inflated for clustering by size (tracker/fit/clustering.py): an equivalence margin,
so that 14,000 examples do not make a plateau 0.003 above chance "not at chance", while a
plateau 0.05 above it is above chance whatever its SE. Metrics without a chance level (NLL,
distances) get no such qualifier.
"""

from __future__ import annotations

import math

from tracker.evals.metrics import DEFAULT_MIN_RISE

__all__ = ["DEFAULT_CHANCE_MARGIN", "DEFAULT_MIN_RISE", "at_chance"]
DEFAULT_CHANCE_MARGIN = 0.02


def at_chance(level: float, se: float, chance: float | None,
              margin: float = DEFAULT_CHANCE_MARGIN) -> bool | None:
    """Plateau within max(2 SE, margin) of chance (None when chance is unknown)."""
    if chance is None or not math.isfinite(chance):
        return None
    se = se if math.isfinite(se) else 0.0
    return bool(abs(level - chance) <= max(2.0 * se, margin, 1e-12))
