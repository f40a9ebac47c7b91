"""Series fitted on several cores: a table's series are independent (each has its own random
generator, seeded from the table's seed and its names), so their fits can run in worker
processes and come back in order, identical to a serial run (tests/test_fit_table.py).

Workers are spawned (not forked: a fork of a process holding BLAS threads can hang) and
only used for tables big enough to repay their start-up (about a second each).

Each worker runs its BLAS on one thread (:func:`start_worker`): the workers already use
every core, and two workers with two BLAS threads each took 1.8 times as long on 2 cores
(docs/performance.md). Every process that fits (this one, and each worker) keeps large
temporaries on the C heap (:func:`keep_large_blocks`): a bootstrap's arrays of 1,000
replicates x 200 points are 1.6 MB each, above glibc's threshold for allocating by mmap, so
each temporary came as fresh pages from the kernel, zeroed and faulted in one by one; an
elementwise operation then took 8 times as long as the arithmetic.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

MIN_SERIES = 32  # below this, start-up costs more than the cores save
MAX_WORKERS = 4
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
MMAP_THRESHOLD = 32 * 2**20  # glibc's largest: blocks below it come from the heap
TRIM_THRESHOLD = 128 * 2**20  # freed heap kept for reuse up to this much


def default_workers(n_series: int) -> int:
    """1 for small tables; else the machine's cores, at most MAX_WORKERS."""
    if n_series < MIN_SERIES:
        return 1
    return max(1, min(os.cpu_count() or 1, MAX_WORKERS))


def keep_large_blocks() -> bool:
    """Ask glibc to serve blocks up to 32 MB from its heap and keep 128 MB of freed heap
    for reuse, for this process; True where that was done (glibc only: elsewhere a no-op,
    and the fits are only slower)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = getattr(libc, "mallopt", None)
    except OSError:
        return False
    if mallopt is None:
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def start_worker() -> None:
    """A worker's set-up: one BLAS thread (threadpoolctl, which scikit-learn brings), large
    blocks kept on the heap."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
    keep_large_blocks()


def ordered_map(function: Callable[[Any], Any], jobs: Iterable[Any],
                workers: int) -> Iterator[Any]:
    """function(job) for every job, in order; in `workers` processes when workers > 1."""
    if workers <= 1:
        keep_large_blocks()
        yield from map(function, jobs)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context,
                             initializer=start_worker) as pool:
        yield from pool.map(function, jobs, chunksize=4)
