"""``tracker import table``: per-checkpoint tables into a run store, through a mapping file.

Each row (checkpoint) of each file becomes a ``validation`` unit holding the chosen loss
(tracker.imports.loss_axis names it by set and unit) and one unit per task holding that
task's metrics, written as ``tracker eval`` writes its own units, so ``tracker status /
export / fit / report --run DIR`` read them. A unit's key digests what was imported for it,
so a re-import of the same files adds nothing, and a changed value is a new unit that
supersedes the old one. Every file is read and checked before anything is written.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tracker.errors import TrackerError
from tracker.evals.interface import VALIDATION_TASK, MetricScore, UnitResult
from tracker.evals.metrics import METRICS
from tracker.families.catalog import Checkpoint
from tracker.imports.lmeval import ImportedEvaluation, ImportSummary
from tracker.imports.loss_axis import check_run_axis
from tracker.imports.scores import empty_examples
from tracker.imports.table import MetricColumn, TableRun, TableSource, read_run
from tracker.imports.table_map import TableMap
from tracker.imports.writing import content_digest, imported_checkpoint, write_unit_groups
from tracker.store.run_store import RunStore
from tracker.store.units import Unit

DEVICE = "table import"
SOURCE = "table"


@dataclass(frozen=True)
class TableOptions:
    loss_set: str | None = None  # --loss: the validation set (default: the map's)
    progress: bool = True


def import_tables(sources: Sequence[TableSource], table_map: TableMap, run_dir: Path,
                  options: TableOptions) -> ImportSummary:
    """Read and check every file, then write its units into ``run_dir``."""
    if not sources:
        raise TrackerError("no table files given")
    runs = [read_run(source, table_map, options.loss_set) for source in sources]
    _refuse_duplicate_runs(runs)
    metric = runs[0].axis.metric
    store = RunStore(run_dir)
    check_run_axis(store, metric, table_map.tokenizer)
    total = sum(_unit_count(run) for run in runs)
    groups = [run_units(run, table_map) for run in runs]
    imported, skipped = write_unit_groups(store, groups, total=total,
                                          progress=options.progress, device=DEVICE)
    store.save_index()  # units verified by this import are not read again next time
    checkpoints = sum(len(run.rows) for run in runs)
    return ImportSummary(len(runs), checkpoints, imported, skipped, metric)


def _unit_count(run: TableRun) -> int:
    return len(run.rows) * (1 + len({m.task for m in run.metrics}))


def _refuse_duplicate_runs(runs: Sequence[TableRun]) -> None:
    seen: dict[tuple[str, str], str] = {}
    for run in runs:
        key = (run.family, run.size)
        if key in seen:
            raise TrackerError(f"{seen[key]} and {run.label} are both {run.family}/{run.size}; "
                               "give each training run its own size label ('sizes' rules)")
        seen[key] = run.label


def run_units(run: TableRun, table_map: TableMap) -> Iterator[tuple[Unit, UnitResult]]:
    """The units of one file: per checkpoint its loss (when given) and its tasks."""
    by_task: dict[str, list[MetricColumn]] = {}
    for metric in run.metrics:
        by_task.setdefault(metric.task, []).append(metric)
    for row in run.rows.to_dict("records"):
        checkpoint = _checkpoint(run, row)
        loss = row["loss"]
        if math.isfinite(loss):
            yield _loss_unit(run, checkpoint, loss)
        for task, columns in by_task.items():
            scores = _scores(row, columns, table_map, task)
            if scores:
                yield _task_unit(checkpoint, task, scores, run.label)


def _checkpoint(run: TableRun, row: dict) -> Checkpoint:
    step = row["step"]
    final = not math.isfinite(step)
    return Checkpoint(
        family=run.family, size=run.size,
        step=None if final else int(step),  # type: ignore[arg-type]  # final-only: no step
        tokens_seen=_count(row["tokens_seen"]), location=f"{run.family}/{run.size}",
        revision="final" if final else f"step{int(step)}", params=_count(row["params"]))


def _count(value: float) -> int | None:
    return int(value) if math.isfinite(value) else None


def _scores(row: dict, columns: list[MetricColumn], table_map: TableMap,
            task: str) -> tuple[MetricScore, ...]:
    info = table_map.task_info(task)
    n = info.n if info is not None else None
    chance = info.chance if info is not None else None
    return tuple(
        MetricScore(column.metric, float(row[column.column]), math.nan,
                    n,  # type: ignore[arg-type]  # None: the example count is unknown
                    column.higher_is_better, _chance(column.metric, chance))
        for column in columns if math.isfinite(row[column.column]))


def _chance(metric: str, chance: float | None) -> float | None:
    """The metric's chance level from the task's (accuracy-type) chance: the same for
    accuracy and p_correct, 1 - chance for Brier (tracker.evals.metrics' K-way formulas at
    K = 1/chance); None for metrics without one."""
    spec = METRICS.get(metric)
    if chance is None or spec is None or spec.chance is None:
        return None
    if chance == 0:
        return 0.0 if spec.binomial else None
    return float(spec.chance(1.0 / chance))  # type: ignore[arg-type]  # K need not be whole


def _loss_unit(run: TableRun, checkpoint: Checkpoint, loss: float) -> tuple[Unit, UnitResult]:
    score = MetricScore(run.axis.metric, loss, math.nan,
                        None,  # type: ignore[arg-type]  # the token count is not given
                        False, None)
    evaluation = ImportedEvaluation(
        VALIDATION_TASK, "1", None, None,
        tuple((key, "" if value is None else str(value))
              for key, value in run.axis.identity().items()), SOURCE)
    digest = content_digest([run.axis.identity(), loss])
    unit = Unit(imported_checkpoint(checkpoint, digest), evaluation, None, "none")
    extras = {"table_file": run.label, "loss_column": run.loss_column}
    return unit, UnitResult(VALIDATION_TASK, (score,), empty_examples(), extras)


def _task_unit(checkpoint: Checkpoint, task: str, scores: tuple[MetricScore, ...],
               label: str) -> tuple[Unit, UnitResult]:
    evaluation = ImportedEvaluation(task, "", None, None, (), SOURCE)
    digest = content_digest([[s.metric, s.score, s.n, s.chance] for s in scores])
    unit = Unit(imported_checkpoint(checkpoint, digest), evaluation, None, "none")
    return unit, UnitResult(task, scores, empty_examples(), {"table_file": label})
