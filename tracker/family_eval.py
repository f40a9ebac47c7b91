"""``tracker eval`` as a library call: plan a family's units, sweep them, then fit and report.

Two steps, so that a caller can show what the plan warns about before the long part:

    >>> plan = plan_eval(EvalRequest("pythia", tasks=["arithmetic:add:2"]))  # doctest: +SKIP
    >>> plan.warnings                                                        # doctest: +SKIP
    >>> outcome = run_eval(plan)                                             # doctest: +SKIP
    >>> outcome.sweep.computed, outcome.report                               # doctest: +SKIP

:func:`evaluate_family` does both. Nothing here prints: notes go to the ``tracker`` logger
and into the returned objects; the CLI (:mod:`tracker.cli.eval_cmd`) formats them.

A family built by ``tracker train`` (``train_config:`` in its family file) is trained into
the run directory the first time it is evaluated there (:meth:`Family.in_run
<tracker.families.catalog.Family.in_run>` says where its checkpoints and validation text
live); its second validation set (the text alone, beside the mixture) is planned too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tracker.config import RUNS_DIR, resolve_project_path
from tracker.errors import StorageError, TrackerError
from tracker.store.files import atomic_write
from tracker.store.run_store import RunStore
from tracker.store.settings import setting_of

if TYPE_CHECKING:  # torch and the model code load when a sweep runs, not on import
    from tracker.evals.interface import EvalSettings, Evaluation
    from tracker.families.catalog import Checkpoint, Family
    from tracker.fit.table import ThresholdTable
    from tracker.lm.dtype import Choice
    from tracker.report import ReportFiles
    from tracker.store.units import Unit
    from tracker.sweep import Shard, SweepSummary

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalRequest:
    """What ``tracker eval`` is asked: the options of its command line, as data."""

    family: str
    run_dir: Path | None = None  # default runs/<family>
    sizes: list[str] | None = None
    steps: list[int] | None = None
    validation: str | None = None  # default: the family's
    tasks: list[str] | None = None  # default: the family's; ["none"] for the loss alone
    limit: int | None = None
    batch_size: int | None = None  # None: sized by tokens and memory per call
    context_length: int | None = None
    num_fewshot: int | None = None  # None: 0, or an lm-eval task's own count
    device: str = "auto"
    dtype: str = "auto"  # "auto": measured on this machine (tracker.lm.dtype); else a dtype
    report: bool = True
    prefetch: bool = True
    progress: bool = False
    allow_pickle: bool = False


@dataclass(frozen=True)
class EvalPlan:
    """The units one ``tracker eval`` will run, and what a user should know first."""

    request: EvalRequest
    family: Family
    run_dir: Path
    checkpoints: list[Checkpoint]
    evaluations: list[Evaluation]
    units: list[Unit]  # the validation set's and the tasks'
    second: list[Unit]  # a trained family's second validation set, else []
    settings: EvalSettings
    dtype: str  # the resolved dtype: what the units are keyed by and models load in
    dtype_choice: Choice | None = None  # why, when the request said "auto"
    warnings: tuple[str, ...] = ()  # trust_remote_code, pickle weights

    def describe_dtype(self) -> str:
        """``float32`` or ``bfloat16 (auto: why)``: the line a CLI prints once."""
        return self.dtype if self.dtype_choice is None else self.dtype_choice.describe()


@dataclass(frozen=True)
class EvalOutcome:
    """What one ``tracker eval`` did."""

    run_dir: Path
    sweep: SweepSummary
    shard: Shard
    notes: tuple[str, ...] = ()
    table: ThresholdTable | None = None  # fitted when asked for and nothing failed
    report: ReportFiles | None = None

    @property
    def ok(self) -> bool:
        return not self.sweep.failed


@dataclass(frozen=True)
class Fitted:
    """The thresholds table of a run and the report written from it."""

    table: ThresholdTable
    report: ReportFiles
    notes: tuple[str, ...] = ()


def plan_eval(request: EvalRequest) -> EvalPlan:
    """Resolve the family, its checkpoints, the validation set and tasks into units (a
    trained family is trained first, once). Raises :class:`TrackerError` on bad input."""
    from tracker.families.catalog import load_family
    from tracker.families.weights import digest_ahead

    family = load_family(request.family)
    run_dir = request.run_dir or RUNS_DIR / family.name
    if run_dir.exists() and not run_dir.is_dir():
        raise TrackerError(f"--run {run_dir} is a file; the run directory must be a "
                           "directory (it is created when absent)")
    family = _trained_if_needed(family.in_run(run_dir), run_dir)
    checkpoints = family.checkpoints(sizes=request.sizes, steps=request.steps)
    # the weight digests the plan needs, hashed on another core while torch imports
    digest_ahead(c.location for c in checkpoints if c.revision is None)

    from tracker.evals.interface import EvalSettings
    from tracker.evals.validation import ValidationLoss, load_validation
    from tracker.lm.loading import pickle_warnings, remote_code_warnings
    from tracker.sweep import plan_units

    validation_name = request.validation or family.config.validation
    if not validation_name:
        raise TrackerError(f"family '{family.name}' names no default validation set; "
                           "pass --validation NAME or a .txt/.jsonl file")
    evaluations: list[Evaluation] = [
        ValidationLoss(load_validation(validation_name), request.context_length)]
    evaluations += _tasks(request.tasks or family.config.tasks or ["none"], request.num_fewshot)
    settings = EvalSettings(batch_size=request.batch_size, limit=request.limit,
                            progress=request.progress, context_length=request.context_length)
    dtype, choice = _scoring_dtype(request, checkpoints, evaluations, run_dir)
    units = plan_units(checkpoints, evaluations, limit=request.limit, dtype=dtype,
                       context_length=request.context_length)
    # planned first, so the plan's setting of "validation" (which fit and report read by
    # default) stays the first set's
    second = plan_units(checkpoints, _second_validation(family, request), limit=request.limit,
                        dtype=dtype, context_length=request.context_length)
    warnings = tuple(remote_code_warnings(checkpoints) + pickle_warnings(checkpoints))
    return EvalPlan(request, family, run_dir, checkpoints, evaluations, units, second,
                    settings, dtype, choice, warnings)


def run_eval(plan: EvalPlan, *, fit_progress: Callable[[int, int, str], None] | None = None
             ) -> EvalOutcome:
    """Sweep the plan's units (this process's shard under ``accelerate launch``), then,
    unless the request says not to or a unit failed, fit thresholds and write the report."""
    from transformers.utils import logging as transformers_logging

    from tracker.sweep import default_loader, distributed_shard, run_sweep, wait_for_everyone

    transformers_logging.disable_progress_bar()  # our own bar shows units and tokens/s
    request = plan.request
    store = RunStore(plan.run_dir)
    shard = distributed_shard()
    notes: list[str] = []
    if shard.index == 0:
        removed = store.remove_stale_temporaries()
        if removed:
            notes.append(f"removed {len(removed)} temporary file(s) left in {plan.run_dir} by "
                         "an interrupted run")
            LOG.warning("%s", notes[-1])
        write_plan(store, plan.second + plan.units)
    loader = default_loader(device=request.device, dtype=plan.dtype,
                            context_length=request.context_length,
                            allow_pickle=request.allow_pickle)
    summary = run_sweep(plan.units + plan.second, store, load=loader, settings=plan.settings,
                        shard=shard, prefetch=request.prefetch)
    wait_for_everyone()
    outcome = EvalOutcome(plan.run_dir, summary, shard, tuple(notes))
    if (shard.index == 0 and len(plan.evaluations) > 1 and request.report
            and not summary.failed):
        fitted = fit_and_report(plan.run_dir, progress=fit_progress)
        outcome = EvalOutcome(plan.run_dir, summary, shard, tuple(notes) + fitted.notes,
                              fitted.table, fitted.report)
    return outcome


def evaluate_family(request: EvalRequest) -> EvalOutcome:
    """``tracker eval``, whole: :func:`plan_eval` then :func:`run_eval`."""
    plan = plan_eval(request)
    for warning in plan.warnings:
        LOG.warning("%s", warning)
    LOG.info("dtype: %s", plan.describe_dtype())
    return run_eval(plan)


def fit_and_report(run_dir: Path, *, progress: Callable[[int, int, str], None] | None = None
                   ) -> Fitted:
    """Thresholds and the report for the whole run, as ``tracker report --run`` writes them
    (the setting the latest eval planned; default bootstrap and seed). Raises
    :class:`~tracker.errors.FitError` when no series could be fitted."""
    from tracker.fit.table import fit_table, require_fitted
    from tracker.points import read_run
    from tracker.report import build_report

    table = fit_table(*read_run(run_dir), progress=progress)
    require_fitted(table)
    table.write_csv(run_dir / "thresholds.csv")
    return Fitted(table, build_report(table, run_dir), tuple(table.notes))


def write_plan(store: RunStore, units: list[Unit]) -> None:
    """plan.json, atomically (what fit and report read to choose the setting); a run
    directory that cannot be written stops here, before any work, with one line."""
    plan = [{"key": u.key, "label": u.label, "task": u.task,
             "setting": setting_of(u.identity()).id} for u in units]
    text = json.dumps(plan, indent=0)
    target = store.root / "plan.json"
    try:
        atomic_write(target, lambda tmp: Path(tmp).write_text(text))
    except OSError as error:
        raise StorageError.from_os_error("write", target, error) from error


def _trained_if_needed(family: Family, run_dir: Path) -> Family:
    """A family with a training config is trained into ``run_dir`` when it is absent
    there (its checkpoints are listed from disk, so the same object then sees them)."""
    config = family.config
    if config.train_config and not family.size_labels():
        from transformers.utils import logging as transformers_logging

        from tracker.train import train_from_config

        transformers_logging.disable_progress_bar()  # the training bar shows progress
        LOG.warning("family '%s' is not trained yet in %s: training it from %s (one time)",
                    family.name, run_dir, config.train_config)
        train_from_config(resolve_project_path(config.train_config), run_dir=run_dir)
    return family


def _scoring_dtype(request: EvalRequest, checkpoints: list[Checkpoint],
                   evaluations: list[Evaluation], run_dir: Path) -> tuple[str, Choice | None]:
    """The dtype the units are keyed by and scored in: the request's, or for ``auto`` the
    probe's choice (:func:`tracker.lm.dtype.choose_dtype` at the first local checkpoint's
    shapes), unless none of the plan's units is stored in that dtype and some are in the
    other: a run keeps the dtype it was started in (the training hook scores the ladder in
    float32, and a run of an earlier tracker was float32), rather than being recomputed."""
    if request.dtype != "auto":
        return request.dtype, None
    from tracker.lm.dtype import Choice, checkpoint_shapes, choose_dtype
    from tracker.lm.loading import resolve_device
    from tracker.sweep import plan_units

    choice = choose_dtype(resolve_device(request.device), checkpoint_shapes(checkpoints))
    stored = RunStore(run_dir).stored_keys() if run_dir.is_dir() else set()

    def stored_in(dtype: str) -> int:
        units = plan_units(checkpoints, evaluations, limit=request.limit, dtype=dtype,
                           context_length=request.context_length)
        return sum(unit.key in stored for unit in units)

    if stored and not stored_in(choice.dtype):
        for other in ("float32", "bfloat16"):
            if other != choice.dtype and (count := stored_in(other)):
                return other, Choice(other, f"{count} units of this plan are stored in {other} "
                                     f"in {run_dir}, so the run keeps it (the probe chose "
                                     f"{choice.dtype}: pass --dtype {choice.dtype} to score "
                                     "in it)", choice.timings)
    return choice.dtype, choice


def _second_validation(family: Family, request: EvalRequest) -> list[Evaluation]:
    """``[ValidationLoss]`` of the training config's ``evaluation.second_validation`` for a
    family trained by ``tracker train`` evaluated on its own validation set, else ``[]``."""
    if not family.config.train_config or request.validation or family.root is None:
        return []
    from tracker.train.config import load_ladder_config
    from tracker.train.ladder import second_validation

    training = load_ladder_config(resolve_project_path(family.config.train_config))
    run_dir = family.root.parent  # the family's checkpoints are <run>/checkpoints
    second = second_validation(training, run_dir, request.context_length)
    return [] if second is None else [second]


def _tasks(names: list[str], num_fewshot: int | None) -> list[Evaluation]:
    if names == ["none"]:
        return []
    from tracker.tasks import resolve_tasks

    return list(resolve_tasks(names, num_fewshot=num_fewshot))
