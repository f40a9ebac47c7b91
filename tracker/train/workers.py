"""The sizes of a ladder trained one after another, or side by side in worker processes.

``training.workers`` sizes train at once, each in its own process with an equal share of
``training.threads``. A model at this ladder's scale does not use two cores well (the
timings are in docs/ladder.md), so two sizes trained at once on one thread each finish
sooner than one after the other on two threads, with the same data, schedule and
checkpoints.

Workers are spawned (a fork of a process holding torch's thread pool can hang). The
largest sizes start first. Once no size is waiting, a worker that falls idle hands its
threads to the sizes still training (:class:`ShareThreads`); not in deterministic mode,
where every size trains on one fixed number of threads, since a reduction split over
another number of threads sums in another order.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

import torch
from transformers import TrainerCallback

from tracker.train.config import SizeSpec, TrainingConfig
from tracker.train.layout import LadderRun
from tracker.train.mixture import TrainingBlocks

_WORKER: dict[str, Any] = {}  # in a worker process: its progress-bar row and the idle count


TrainOne = Callable[..., None]  # (run, spec, blocks, *, progress, position, callbacks)


def train_sizes(run: LadderRun, specs: Sequence[SizeSpec], blocks: TrainingBlocks,
                train_one: TrainOne, *, progress: bool = True) -> None:
    """``train_one`` (a module-level function, so a worker can import it) for each of
    ``specs``, in this process or in ``training.workers`` worker processes. A size that
    fails raises here; sizes not started are cancelled, finished ones stay."""
    training = run.config.training
    workers = min(training.workers, len(specs))
    threads = size_threads(training, running=workers)
    if workers <= 1:
        use_threads(training, threads)
        for spec in specs:
            train_one(run, spec, blocks, progress=progress)
        return
    context = multiprocessing.get_context("spawn")
    rows = context.Queue()
    for row in range(workers):
        rows.put(row)
    idle = context.Value("i", 0)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context,
                             initializer=_start_worker, initargs=(rows, idle)) as pool:
        waiting = {pool.submit(_train_in_worker, train_one, run, spec, blocks, threads,
                               workers, progress)
                   for spec in sorted(specs, key=training_cost, reverse=True)}
        while waiting:
            done, waiting = wait(waiting, return_when=FIRST_COMPLETED)
            failed = [future for future in done if future.exception() is not None]
            if failed:
                for future in waiting:
                    future.cancel()  # sizes not started stay untrained; running ones finish
                raise failed[0].exception()  # type: ignore[misc]
            with idle.get_lock():
                idle.value = max(0, workers - len(waiting))


def size_threads(training: TrainingConfig, *, running: int) -> int:
    """Threads for each of ``running`` sizes training at once: ``training.threads`` (or
    torch's default) shared out; in deterministic mode always the share of the configured
    number of workers, so a size's thread count never depends on what else is left."""
    if training.deterministic:
        return max(1, (training.threads or 1) // training.workers)
    total = training.threads or torch.get_num_threads()
    return max(1, total // max(1, running))


def use_threads(training: TrainingConfig, threads: int) -> None:
    """Set this process's torch threads for training, and deterministic kernels in
    deterministic mode (the same float32 operations in the same order every time)."""
    torch.set_num_threads(threads)
    if training.deterministic:
        torch.use_deterministic_algorithms(True)


def training_cost(spec: SizeSpec) -> int:
    """Weights in the decoder's matrices, a proxy for its time per step (ordering only)."""
    mlp_matrices = 3 if spec.architecture == "llama" else 2  # gated MLP: gate, up, down
    return spec.layers * spec.hidden_size * (4 * spec.hidden_size
                                             + mlp_matrices * spec.intermediate_size)


class ShareThreads(TrainerCallback):
    """Between steps: ``total`` threads over the workers not idle (see the module)."""

    def __init__(self, idle, workers: int, threads: int) -> None:
        self.idle = idle
        self.workers = workers
        self.threads = threads
        self.total = threads * workers

    def on_step_end(self, args, state, control, **kwargs):
        running = max(1, self.workers - self.idle.value)
        wanted = max(self.threads, self.total // running)
        if wanted != torch.get_num_threads():
            torch.set_num_threads(wanted)


def _start_worker(rows, idle) -> None:
    _WORKER["row"] = rows.get()
    _WORKER["idle"] = idle


def _train_in_worker(train_one: TrainOne, run: LadderRun, spec: SizeSpec,
                     blocks: TrainingBlocks, threads: int, workers: int,
                     progress: bool) -> str:
    training = run.config.training
    use_threads(training, threads)
    callbacks = [] if training.deterministic else [
        ShareThreads(_WORKER["idle"], workers=workers, threads=threads)]
    train_one(run, spec, blocks, progress=progress, position=_WORKER["row"],
              callbacks=callbacks)
    return spec.label
