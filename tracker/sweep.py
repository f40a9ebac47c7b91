"""The sweep: plan units, skip stored ones, load each checkpoint once, evaluate, store.

Work is split by checkpoint across processes when launched with ``accelerate launch``
(or any torch.distributed launcher): process ``i`` of ``n`` takes every checkpoint whose
position in the plan is ``i`` modulo ``n``, so each unit is computed once and each worker
writes its own unit files to the shared store.

Storage failures: a unit whose file cannot be written is recorded as failed where that is
possible. When the operating system says every later write would fail too (disk full,
over quota, read-only file system, no permission: ``StorageError.stops_sweep``), or a
failure cannot even be recorded, the sweep stops at once with one
:class:`~tracker.errors.StorageError` line; the units stored so far are kept.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tqdm.auto import tqdm

from tracker.errors import CheckpointLoadError, StorageError, TrackerError
from tracker.evals.interface import VALIDATION_TASK, EvalSettings, Evaluation
from tracker.families.catalog import Checkpoint
from tracker.store.run_store import RunStore
from tracker.store.units import Unit

if TYPE_CHECKING:  # the model code (and torch) loads when a checkpoint does
    from tracker.lm.requests import LoadedModel

Loader = Callable[[Checkpoint], "LoadedModel"]


@dataclass(frozen=True)
class Shard:
    """This process's place among ``count`` workers."""

    index: int = 0
    count: int = 1

    def owns(self, position: int) -> bool:
        return position % self.count == self.index


@dataclass
class SweepSummary:
    computed: list[str] = field(default_factory=list)
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    tokens: int = 0
    examples: int = 0
    seconds: float = 0.0
    # keys this process computed that another process stored first (identical results;
    # those that differ are in ``differing`` as labels, and noted on the store)
    duplicates: list[str] = field(default_factory=list)
    differing: list[str] = field(default_factory=list)


def plan_units(checkpoints: Sequence[Checkpoint], evaluations: Sequence[Evaluation], *,
               limit: int | None, dtype: str, context_length: int | None = None
               ) -> list[Unit]:
    """Every (checkpoint x evaluation) unit, checkpoint-major, validation first
    (``context_length``: the ``--context-length`` the sweep loads models with, else None;
    it must be the ``EvalSettings.context_length`` the units are evaluated with)."""
    return [Unit(c, e, limit, dtype, context_length) for c in checkpoints for e in evaluations]


def evaluate_units(lm: LoadedModel, checkpoint: Checkpoint, evaluations: Sequence[Evaluation],
                   store: RunStore, settings: EvalSettings,
                   summary: SweepSummary | None = None) -> list[Unit]:
    """Evaluate the not-yet-stored units of one loaded checkpoint; return those computed.

    This is the one path by which results are made: ``tracker eval`` and the training
    hooks both call it, so their records are interchangeable.

    A unit that another process stored while this one computed it (two sweeps on one run
    directory) keeps the stored file: it counts in ``summary.duplicates`` when the results
    are identical, else in ``summary.differing`` with a one-line note on the store.
    """
    summary = summary if summary is not None else SweepSummary()
    done = []
    for evaluation in evaluations:
        unit = Unit(checkpoint, evaluation, settings.limit, lm.dtype, settings.context_length)
        if is_stored(store, unit):
            summary.skipped += 1
            continue
        started = time.perf_counter()
        result = evaluation.evaluate(lm, settings)
        elapsed = time.perf_counter() - started
        written = store.write_new(unit, result, params=lm.params, duration_s=elapsed,
                                  device=str(lm.device))
        if written.duplicate:
            if written.identical:
                summary.duplicates.append(unit.key)
            else:
                summary.differing.append(unit.label)
                store.note(f"unit {unit.label} [{unit.key}] was computed by another process "
                            "too, with different results; the one stored first is kept")
        summary.computed.append(unit.key)
        summary.tokens += int(result.extras.get("total_tokens", 0))
        summary.examples += 0 if unit.task == VALIDATION_TASK else len(result.examples)
        done.append(unit)
    return done


def is_stored(store: RunStore, unit: Unit) -> bool:
    """Whether ``unit`` is stored (its file verifies) and so is skipped.

    An evaluation whose inputs could change under an unchanged identity checks the stored
    record first: one with a ``stored_mismatch(record, limit)`` method (lm-eval tasks,
    whose rendered requests are hashed into each unit) returns what differs, and the
    sweep stops before any work in one line (TrackerError) rather than mix the two."""
    record = store.stored_record(unit)
    if record is None:
        return False
    check = getattr(unit.evaluation, "stored_mismatch", None)
    problem = check(record, unit.limit) if check is not None else None
    if problem:
        raise TrackerError(f"stored unit {unit.label} [{unit.key}]: {problem}")
    return True


def run_sweep(units: Sequence[Unit], store: RunStore, *, load: Loader,
              settings: EvalSettings, shard: Shard = Shard(), prefetch: bool = True
              ) -> SweepSummary:
    """Evaluate every missing unit of this shard, one checkpoint load per checkpoint.

    With ``prefetch`` the next checkpoint is loaded in a background thread while the
    current one is scored (two models are in memory at once). A checkpoint that fails to
    load (or a unit that raises) is recorded as failed and the sweep goes on; the caller
    reports failures at the end. A storage failure that every later write would share
    raises StorageError (see the module docstring).

    Stored units are verified before they are skipped (:func:`is_stored`): a corrupt file
    is moved aside and its unit computed again.
    """
    summary = SweepSummary()
    started = time.perf_counter()
    mine = [(c, us) for i, (c, us) in enumerate(_group_by_checkpoint(units)) if shard.owns(i)]
    pending = [(c, todo) for c, us in mine if (todo := [u for u in us if not is_stored(store, u)])]
    summary.skipped = sum(len(us) for _, us in mine) - sum(len(us) for _, us in pending)
    bar = tqdm(total=sum(len(us) for _, us in pending), desc="units", unit="unit",
               disable=not settings.progress, position=shard.index)
    try:
        with ThreadPoolExecutor(max_workers=1) if prefetch else nullcontext() as pool:
            loads = _load_ahead(pending, load, pool)
            for (checkpoint, todo), loaded in zip(pending, loads, strict=True):
                bar.set_description(checkpoint.label)
                if isinstance(loaded, CheckpointLoadError):
                    _record_failures(todo, str(loaded), store, summary)
                    bar.update(len(todo))
                    continue
                _evaluate_checkpoint(loaded, checkpoint, todo, store, settings, summary, bar)
                del loaded
    except StorageError as error:
        raise _stopped(error, summary) from error
    finally:
        bar.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _stopped(error: StorageError, summary: SweepSummary) -> StorageError:
    """The one line a sweep stopped by a storage failure ends with."""
    fix = {errno.ENOSPC: "free some space", errno.EDQUOT: "free some space",
           errno.EROFS: "make the run directory writable"}.get(
        error.errno or 0, "fix the run directory's permissions")
    return StorageError(f"{error}; the sweep stopped ({len(summary.computed)} units stored "
                        f"by this run are kept): {fix} and re-run to continue",
                        errno_value=error.errno)


def _load_ahead(pending: list[tuple[Checkpoint, list[Unit]]], load: Loader,
                pool: ThreadPoolExecutor | None) -> Iterator[LoadedModel | CheckpointLoadError]:
    """Yield each checkpoint's model (or its load error), loading the next one meanwhile."""
    if pool is None:
        for checkpoint, _ in pending:
            yield _try_load(load, checkpoint)
        return
    future: Future | None = pool.submit(_try_load, load, pending[0][0]) if pending else None
    for index in range(len(pending)):
        assert future is not None
        current = future.result()
        following = pending[index + 1][0] if index + 1 < len(pending) else None
        future = pool.submit(_try_load, load, following) if following else None
        yield current


def _try_load(load: Loader, checkpoint: Checkpoint) -> LoadedModel | CheckpointLoadError:
    try:
        return load(checkpoint)
    except CheckpointLoadError as error:
        return error


def _record_failures(units: list[Unit], error: str, store: RunStore,
                     summary: SweepSummary, *, best_effort: bool = False) -> None:
    """Record each unit as failed; a failure record that cannot be written raises
    StorageError (the store is unusable), unless ``best_effort``."""
    for unit in units:
        summary.failed.append((unit.label, error))
        try:
            store.write_failure(unit, error)
        except StorageError:
            if not best_effort:
                raise


def _evaluate_checkpoint(lm: LoadedModel, checkpoint: Checkpoint, todo: list[Unit],
                         store: RunStore, settings: EvalSettings, summary: SweepSummary,
                         bar: tqdm) -> None:
    for unit in todo:
        try:
            evaluate_units(lm, checkpoint, [unit.evaluation], store, settings, summary)
        except StorageError as error:
            _record_failures([unit], str(error), store, summary, best_effort=error.stops_sweep)
            if error.stops_sweep:
                raise
        except Exception as error:  # noqa: BLE001 - one broken unit must not end the sweep
            _record_failures([unit], f"{type(error).__name__}: {error}", store, summary)
        bar.update(1)
        elapsed = bar.format_dict.get("elapsed", 0)
        if elapsed > 0 and summary.tokens:
            bar.set_postfix(tok_s=f"{summary.tokens / elapsed:,.0f}")


def _group_by_checkpoint(units: Sequence[Unit]) -> list[tuple[Checkpoint, list[Unit]]]:
    groups: dict[Checkpoint, list[Unit]] = {}
    for unit in units:
        groups.setdefault(unit.checkpoint, []).append(unit)
    return list(groups.items())


def distributed_shard() -> Shard:
    """This process's shard under ``accelerate launch`` / torchrun (their RANK and
    WORLD_SIZE variables), else the whole plan."""
    count = int(os.environ.get("WORLD_SIZE", "1"))
    return Shard(int(os.environ.get("RANK", "0")), count) if count > 1 else Shard()


def wait_for_everyone() -> None:
    """Barrier across launched processes (gloo works on CPU and GPU hosts alike)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("gloo")
    dist.barrier()


def default_loader(*, device: str, dtype: str, context_length: int | None,
                   allow_pickle: bool = False) -> Loader:
    from tracker.lm.loading import load_checkpoint

    def load(checkpoint: Checkpoint) -> LoadedModel:
        return load_checkpoint(checkpoint, device=device, dtype=dtype,
                               context_length=context_length, allow_pickle=allow_pickle)

    return load
