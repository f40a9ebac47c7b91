"""Series fitted on several cores: a table's series are independent (each has its own random
generator, seeded from the table's seed and its names), so their fits can run in worker
processes and come back in order, identical to a serial run (tests/test_fit_table.py).

Workers are spawned (not forked: a fork of a process holding BLAS threads can hang) and
only used for tables big enough to repay their start-up (about a second each).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

MIN_SERIES = 32  # below this, start-up costs more than the cores save
MAX_WORKERS = 4


def default_workers(n_series: int) -> int:
    """1 for small tables; else the machine's cores, at most MAX_WORKERS."""
    if n_series < MIN_SERIES:
        return 1
    return max(1, min(os.cpu_count() or 1, MAX_WORKERS))


def ordered_map(function: Callable[[Any], Any], jobs: Iterable[Any],
                workers: int) -> Iterator[Any]:
    """function(job) for every job, in order; in `workers` processes when workers > 1."""
    if workers <= 1:
        yield from map(function, jobs)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield from pool.map(function, jobs, chunksize=4)
