"""What a unit measures: the :class:`~tracker.evals.interface.Evaluation` interface, the
metric registry (``metrics``: direction, chance, binomial or not, material rise, kind and
continuous twins of every metric), and the shared validation text (``validation``). The
tasks themselves are in :mod:`tracker.tasks`.
"""
