"""Does an ability emerge as loss falls? Every candidate curve classed by its shape, the
onset with a joint bootstrap interval, the width of the rise, and the mirage test.

Public API: :func:`fit_threshold` (one series) and :class:`ThresholdFit` (its result);
:func:`tracker.fit.table.fit_table` fits every (task, metric) of a points table and pairs
each accuracy-type metric with its continuous twins (tracker/fit/mirage.py).
"""

from tracker.fit.core import fit_threshold
from tracker.fit.result import ThresholdFit

__all__ = ["ThresholdFit", "fit_threshold"]
