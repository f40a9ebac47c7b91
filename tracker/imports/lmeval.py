"""Import lm-eval results into a run store: one unit per (checkpoint, task), plus a loss unit
per checkpoint, written with RunStore.write like ``tracker eval``'s own units."""

from __future__ import annotations

import dataclasses
import math
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from tracker.errors import TrackerError
from tracker.evals.interface import VALIDATION_TASK, MetricScore, UnitResult
from tracker.families.catalog import Checkpoint
from tracker.imports.checkpoints import CheckpointMapper
from tracker.imports.files import (
    ResultFile,
    ResultSource,
    TaskEntry,
    collect_sources,
    file_digest,
    parse_result,
    shipped_members,
)
from tracker.imports.loss_axis import check_run_axis
from tracker.imports.scores import (
    MMLU_TASK,
    TaskScores,
    empty_examples,
    mmlu_subject,
    n_from_stderr,
    pool_subtasks,
    sample_rows,
    task_scores,
)
from tracker.imports.writing import content_digest, imported_checkpoint, write_units
from tracker.store.run_store import RunStore
from tracker.store.units import Unit

if TYPE_CHECKING:
    from tracker.evals.interface import EvalSettings
    from tracker.lm.requests import LoadedModel

PUBLISHED = {"pythia-v1": "pythia-evals-v1-zero-shot.tar.xz",
             "pythia-v0": "pythia-evals-v0-zero-shot.tar.xz"}
PUBLISHED_LOSS = {"pythia-v1": "lambada_openai:ppl", "pythia-v0": "wikitext:bits_per_byte"}
# a published set's default loss that is a real validation loss (not a proxy): set, unit
REAL_LOSS = {"pythia-v0": ("wikitext", "bits_per_byte")}
PERPLEXITIES = ("ppl", "perplexity", "word_perplexity", "byte_perplexity")
LOG_SCALE = ("bits_per_byte", "nll", "loss", "nats_per_token", "target_nll")
METRIC_ALIASES = {"ppl": "perplexity", "perplexity": "ppl"}
MAX_LISTED = 5


@dataclass(frozen=True)
class ImportOptions:
    family: str | None = None  # force the family name
    pattern: str | None = None  # regex over result paths (tracker.imports.checkpoints)
    losses: Path | None = None  # CSV family,size,step,loss
    loss_from: str | None = None  # TASK:METRIC, e.g. lambada_openai:ppl
    progress: bool = True
    loss_metric: str | None = None  # the --loss-from loss's stored name (default: a proxy's)
    mapper: Any = None  # maps a ResultFile to its Checkpoint (default: CheckpointMapper)
    # the --loss-from task is the loss only (a validation text such as wikitext): no task
    # unit of its own, and its example count may be unknown
    loss_only: bool = False


@dataclass(frozen=True)
class ImportSummary:
    files: int
    checkpoints: int
    imported: int
    skipped: int
    loss_metric: str | None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImportedEvaluation:
    """What produced an imported unit (a tracker.evals.interface.Evaluation that is never run).
    Its identity is the unit's setting: source, task, version, few-shot count, limit."""

    task: str
    task_version: str
    num_fewshot: int | None
    limit: float | None
    details: tuple[tuple[str, str], ...] = ()
    source: str = "lm-eval"  # what the results came from: lm-eval, a table

    @property
    def name(self) -> str:
        return self.task

    @property
    def version(self) -> str:
        return self.task_version

    def identity(self) -> dict[str, Any]:
        return {"source": self.source, "task": self.task, "task_version": self.task_version,
                "num_fewshot": self.num_fewshot, "limit": _limit(self.limit) or self.limit,
                **dict(self.details)}

    def evaluate(self, lm: LoadedModel, settings: EvalSettings) -> UnitResult:
        raise TrackerError(f"task '{self.task}' was imported from {self.source} results; it "
                           "cannot be evaluated here (evaluate it with `tracker eval --tasks`)")


@dataclass
class _Checkpoint:
    """Everything imported for one checkpoint: task -> (file, entry), later files winning."""

    checkpoint: Checkpoint
    tasks: dict[str, tuple[ResultFile, TaskEntry]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Loss:
    metric: str
    source: str
    score: float
    stderr: float
    n: int | None
    dtype: str


def import_lmeval(paths: Sequence[Path], run_dir: Path, options: ImportOptions) -> ImportSummary:
    """Import result files (and directories of them) into ``run_dir``."""
    return import_sources(collect_sources(paths), run_dir, options)


def import_published(name: str, run_dir: Path, options: ImportOptions) -> ImportSummary:
    """Import a published set shipped with tracker (options: :func:`published_options`)."""
    return import_sources(published_sources(name), run_dir, published_options(name, options))


def published_options(name: str, options: ImportOptions) -> ImportOptions:
    """A published set's defaults where ``options`` leave them open: ``pythia-v1``'s loss
    is the proxy ln(LAMBADA perplexity); ``pythia-v0``'s is WikiText bits per byte, a real
    loss (imported as the loss only), with checkpoints by tracker.imports.pythia_v0."""
    from tracker.imports.loss_axis import loss_metric
    from tracker.imports.pythia_v0 import V0Mapper

    if name == "pythia-v0" and options.mapper is None:
        options = dataclasses.replace(options, mapper=V0Mapper())
    if not options.losses and not options.loss_from and name in PUBLISHED_LOSS:
        real = REAL_LOSS.get(name)
        options = dataclasses.replace(options, loss_from=PUBLISHED_LOSS[name],
                                      loss_metric=loss_metric(*real) if real else None,
                                      loss_only=real is not None)
    return options


def published_sources(name: str) -> list[ResultSource]:
    if name not in PUBLISHED:
        raise TrackerError(f"unknown published set '{name}'; known: {', '.join(PUBLISHED)}")
    return [ResultSource(member, data.decode("utf-8")) for member, data in
            shipped_members(PUBLISHED[name], lambda m: m.endswith(".json"))]


def import_sources(sources: Sequence[ResultSource], run_dir: Path,
                   options: ImportOptions) -> ImportSummary:
    """Check everything first (files, checkpoints, counts, losses), then write."""
    if options.losses and options.loss_from:
        raise TrackerError("give --losses or --loss-from, not both")
    notes: list[str] = []
    results = _parse_all(sources, notes)
    mapper = options.mapper or CheckpointMapper(options.family, options.pattern)
    checkpoints = _by_checkpoint(results, mapper, notes)
    counts = _count_consensus(checkpoints)
    losses = _losses(checkpoints, options, counts)
    if options.loss_only and options.loss_from:  # the loss's task is no task unit
        for item in checkpoints.values():
            item.tasks.pop(options.loss_from.partition(":")[0], None)
    for item in checkpoints.values():
        for result, entry in item.tasks.values():
            _examples_count(result, entry, counts)  # raises before anything is written
    store = RunStore(run_dir)
    metric = next(iter(losses.values())).metric if losses else None
    if metric is not None:
        check_run_axis(store, metric)
    total = sum(_unit_count(item, key in losses) for key, item in checkpoints.items())
    units = (pair for key, item in sorted(checkpoints.items())
             for pair in _units(item, counts, losses.get(key), notes))
    imported, skipped = write_units(store, units, total=total, progress=options.progress)
    return ImportSummary(len(results), len(checkpoints), imported, skipped, metric,
                         tuple(dict.fromkeys(notes)))


def _parse_all(sources: Sequence[ResultSource], notes: list[str]) -> list[ResultFile]:
    results, foreign = [], 0
    for source in sources:
        try:
            results.append(parse_result(source))
        except TrackerError:
            if source.explicit:
                raise
            foreign += 1  # a directory may hold other JSON (configs, tokenizers)
    if foreign:
        notes.append(f"skipped {foreign} JSON file(s) that are not lm-eval results")
    if not results:
        skipped = f"; {foreign} other JSON file(s) skipped" if foreign else ""
        raise TrackerError("no lm-eval result files found (results_*.json as lm-eval "
                           "--output_path writes them, or the older {results, versions, "
                           "config} files)" + skipped)
    groups = sorted({group for result in results for group in result.groups})
    if groups:
        notes.append(f"group results are not imported, their subtasks are: "
                     f"{_listing(groups)}")
    return results


def _by_checkpoint(results: Sequence[ResultFile], mapper: Any,
                   notes: list[str]) -> dict[tuple[str, str, int], _Checkpoint]:
    checkpoints: dict[tuple[str, str, int], _Checkpoint] = {}
    for result in sorted(results, key=lambda r: r.label):
        checkpoint = mapper.checkpoint(result)
        key = (checkpoint.family, checkpoint.size, checkpoint.step)
        item = checkpoints.setdefault(key, _Checkpoint(checkpoint))
        for name, entry in result.tasks.items():
            if name in item.tasks:
                notes.append(f"{checkpoint.label} task '{name}' is in {item.tasks[name][0].label} "
                             f"and {result.label}; kept the latter")
            item.tasks[name] = (result, entry)
    return checkpoints


def _count_consensus(checkpoints: dict[Any, _Checkpoint]) -> dict[tuple[str, str], int]:
    """Per (task, version): the most common example count read from standard errors."""
    estimates: dict[tuple[str, str], Counter[int]] = defaultdict(Counter)
    for item in checkpoints.values():
        for _, entry in item.tasks.values():
            n = n_from_stderr(entry)
            if n is not None:
                estimates[(entry.name, entry.version)][n] += 1
    return {key: counter.most_common(1)[0][0] for key, counter in estimates.items()}


def _examples_count(result: ResultFile, entry: TaskEntry,
                    consensus: dict[tuple[str, str], int]) -> int | None:
    """n from n-samples; else from the sample log (None: counted there); else from the
    standard error (this file's, else the same task's in the other files)."""
    if entry.n is not None:
        return entry.n
    if result.samples_path(entry.name) is not None:
        return None
    n = n_from_stderr(entry) or consensus.get((entry.name, entry.version))
    if n is None:
        raise TrackerError(f"{result.label}: task '{entry.name}': cannot tell how many "
                           "examples it has (no n-samples, no sample log, no 0/1 metric with "
                           "a standard error)")
    return n


def _unit_count(item: _Checkpoint, has_loss: bool) -> int:
    pooled = MMLU_TASK not in item.tasks and any(mmlu_subject(name) for name in item.tasks)
    return len(item.tasks) + int(pooled) + int(has_loss)


def _units(item: _Checkpoint, counts: dict[tuple[str, str], int], loss: _Loss | None,
           notes: list[str]) -> Iterator[tuple[Unit, UnitResult]]:
    subjects: list[tuple[str, TaskScores, ResultFile, TaskEntry, str]] = []
    for name, (result, entry) in sorted(item.tasks.items()):
        scored, digest = _score_task(result, entry, counts, notes)
        yield _unit(item.checkpoint, result, entry, scored, digest)
        if mmlu_subject(name) and MMLU_TASK not in item.tasks:
            subjects.append((name, scored, result, entry, digest))
    if subjects:
        yield _mmlu_unit(item.checkpoint, subjects)
    if loss is not None:
        yield _loss_unit(item.checkpoint, loss)


def _score_task(result: ResultFile, entry: TaskEntry, counts: dict[tuple[str, str], int],
                notes: list[str]) -> tuple[TaskScores, str]:
    samples = result.samples(entry.name)
    examples, choices = empty_examples(), None
    if samples:
        examples, choices, sample_notes = sample_rows(entry, samples)
        notes.extend(sample_notes)
    n = len(examples) if len(examples) else _examples_count(result, entry, counts)
    scored = task_scores(entry, int(n or 0), examples, choices)
    notes.extend(scored.notes)
    digest = content_digest({"entry": entry.digest,
                             "samples": file_digest(result.samples_path(entry.name))})
    return scored, digest


def _unit(checkpoint: Checkpoint, result: ResultFile, entry: TaskEntry, scored: TaskScores,
          digest: str) -> tuple[Unit, UnitResult]:
    evaluation = ImportedEvaluation(entry.name, entry.version, entry.num_fewshot,
                                    result.limit)
    unit = Unit(imported_checkpoint(checkpoint, digest), evaluation, _limit(result.limit),
                result.dtype)
    extras = {"lm_eval_file": result.label, "n_examples": scored.n}
    return unit, UnitResult(entry.name, scored.scores, scored.examples, extras)


def _mmlu_unit(checkpoint: Checkpoint,
               subjects: list[tuple[str, TaskScores, ResultFile, TaskEntry, str]]
               ) -> tuple[Unit, UnitResult]:
    pooled = pool_subtasks([(name, scored) for name, scored, *_ in subjects])
    names = [name for name, *_ in subjects]
    versions = sorted({entry.version for *_, entry, _ in subjects})
    fewshots = {entry.num_fewshot for *_, entry, _ in subjects}
    first = subjects[0][2]
    details = (("pooled_from", f"{len(names)} subtasks {content_digest(names)[:16]}"),)
    evaluation = ImportedEvaluation(MMLU_TASK, "+".join(versions),
                                    fewshots.pop() if len(fewshots) == 1 else None,
                                    first.limit, details)
    digest = content_digest([digest for *_, digest in subjects])
    unit = Unit(imported_checkpoint(checkpoint, digest), evaluation, _limit(first.limit),
                first.dtype)
    extras = {"pooled_from": names, "n_examples": pooled.n}
    return unit, UnitResult(MMLU_TASK, pooled.scores, pooled.examples, extras)


def _loss_unit(checkpoint: Checkpoint, loss: _Loss) -> tuple[Unit, UnitResult]:
    score = MetricScore(loss.metric, loss.score, loss.stderr,
                        loss.n,  # type: ignore[arg-type]  # None: not counted
                        False, None)
    evaluation = ImportedEvaluation(VALIDATION_TASK, "1", None, None,
                                    (("loss", loss.metric), ("loss_from", loss.source)))
    digest = content_digest([loss.metric, loss.source, loss.score, loss.stderr, loss.n])
    unit = Unit(imported_checkpoint(checkpoint, digest), evaluation, None, loss.dtype)
    return unit, UnitResult(VALIDATION_TASK, (score,), empty_examples(), {"loss_from": loss.source})


def _losses(checkpoints: dict[tuple[str, str, int], _Checkpoint], options: ImportOptions,
            counts: dict[tuple[str, str], int]) -> dict[tuple[str, str, int], _Loss]:
    if options.losses is not None:
        return _csv_losses(options.losses, checkpoints)
    if options.loss_from is not None:
        return _proxy_losses(options.loss_from, checkpoints, counts, options)
    return {}


def _csv_losses(path: Path, checkpoints: dict[tuple[str, str, int], _Checkpoint]
                ) -> dict[tuple[str, str, int], _Loss]:
    if not path.is_file():
        raise TrackerError(f"losses file {path} does not exist")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else "empty"
        raise TrackerError(f"losses file {path} is not a readable CSV: {first}") from None
    table = table.rename(columns=lambda c: str(c).strip())
    missing = [c for c in ("family", "size", "step", "loss") if c not in table.columns]
    if missing:
        raise TrackerError(f"losses file {path}: missing column '{missing[0]}'; required "
                           "columns: family, size, step, loss")
    given: dict[tuple[str, str, int], float] = {}
    for line, row in enumerate(table.itertuples(index=False), start=2):
        try:
            key = (str(row.family).strip(), str(row.size).strip(), int(str(row.step).strip()))
            given[key] = float(str(row.loss).strip())
        except ValueError:
            raise TrackerError(f"losses file {path}: line {line}: step must be an integer and "
                               "loss a number") from None
    absent = [checkpoints[key].checkpoint.label for key in sorted(checkpoints)
              if key not in given]
    if absent:
        raise TrackerError(f"losses file {path} has no loss for {len(absent)} imported "
                           f"checkpoint(s): {_listing(absent)}")
    return {key: _Loss("loss", "losses csv", given[key], math.nan, 0, "none")
            for key in checkpoints}


def _proxy_losses(spec: str, checkpoints: dict[tuple[str, str, int], _Checkpoint],
                  counts: dict[tuple[str, str], int], options: ImportOptions
                  ) -> dict[tuple[str, str, int], _Loss]:
    task, _, metric = spec.partition(":")
    if not task or not metric:
        raise TrackerError(f"--loss-from '{spec}' must be TASK:METRIC, e.g. lambada_openai:ppl")
    if metric in PERPLEXITIES:
        name = f"proxy_ln_{task}_{metric}"
    elif metric in LOG_SCALE:
        name = f"proxy_{task}_{metric}"
    else:
        raise TrackerError(f"--loss-from '{spec}': '{metric}' is not a perplexity "
                           f"({', '.join(PERPLEXITIES)}) or a log-scale loss "
                           f"({', '.join(LOG_SCALE)})")
    name = options.loss_metric or name
    losses, absent = {}, []
    for key, item in sorted(checkpoints.items()):
        found = item.tasks.get(task)
        value = None
        if found is not None:
            entry = found[1]
            value = entry.metric(metric) or entry.metric(METRIC_ALIASES.get(metric, ""))
        if found is None or value is None or not value.value > 0:
            absent.append(item.checkpoint.label)
            continue
        result, entry = found
        n = _loss_count(result, entry, counts, options.loss_only)
        if n is None and not options.loss_only:
            samples = result.samples(entry.name) or []
            n = len({str(s.get("doc_id")) for s in samples})
        if metric in PERPLEXITIES:  # ln(ppl), its standard error by the delta method
            score, stderr = math.log(value.value), value.stderr / value.value
        else:
            score, stderr = value.value, value.stderr
        losses[key] = _Loss(name, spec, score, stderr, n, result.dtype)
    if absent:
        raise TrackerError(f"--loss-from {spec}: no {metric} of task '{task}' for "
                           f"{len(absent)} checkpoint(s): {_listing(absent)}")
    return losses


def _loss_count(result: ResultFile, entry: TaskEntry, counts: dict[tuple[str, str], int],
                loss_only: bool) -> int | None:
    """The loss task's example count; None where unknown and the task is the loss only."""
    try:
        return _examples_count(result, entry, counts)
    except TrackerError:
        if loss_only:
            return None
        raise


def _limit(limit: float | None) -> int | None:
    """lm-eval's limit as a unit's: a count (a fraction of the examples, which lm-eval also
    accepts, stays in the evaluation's identity only)."""
    return None if limit is None or not float(limit).is_integer() else int(limit)


def _listing(items: Sequence[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else "")
