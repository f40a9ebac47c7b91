"""``tracker eval``: evaluate every checkpoint of a family, resumably, then fit and report."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tracker.batching import parse_batch_size
from tracker.cli.progress import ProgressPrinter, print_note, print_notes
from tracker.errors import StorageError, TrackerError
from tracker.files import atomic_write
from tracker.paths import RUNS_DIR, resolve_project_path
from tracker.settings import setting_of
from tracker.store import RunStore

if TYPE_CHECKING:  # torch and the model code load when a sweep runs, not with every command
    from tracker.evaluate import SweepSummary
    from tracker.families import Family


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval", help="evaluate a family's checkpoints: validation loss and tasks")
    parser.add_argument("--family", required=True, help="family name or local directory")
    parser.add_argument("--sizes", type=_csv, help="comma-separated size labels (default all)")
    parser.add_argument("--steps", type=_int_csv, help="comma-separated steps (default all)")
    parser.add_argument("--validation", help="validation set name or .txt/.jsonl path")
    parser.add_argument("--tasks", type=_csv,
                        help="comma-separated task names or paths, or 'none'")
    parser.add_argument("--run", type=Path, help="run directory (default runs/<family>)")
    parser.add_argument("--limit", type=int, help="first N examples (documents) per task")
    parser.add_argument("--batch-size", type=parse_batch_size, default=None, metavar="B",
                        help="sequences per batch, or 'auto' (default): sized by tokens and "
                             "memory per call")
    parser.add_argument("--context-length", type=int, help="max tokens per window")
    parser.add_argument("--num-fewshot", type=int, default=None,
                        help="few-shot examples (default 0; an lm-eval task's YAML count)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--no-report", action="store_true", help="skip the fit and report")
    parser.add_argument("--no-prefetch", action="store_true",
                        help="do not load the next checkpoint while scoring the current one")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--allow-pickle", action="store_true",
                        help="load checkpoints whose only weights are pickle files "
                             "(pytorch_model.bin) with torch.load(weights_only=True); "
                             "without it they are refused")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tracker.families import load_family
    from tracker.weights import digest_ahead

    family = load_family(args.family)
    run_dir = args.run or RUNS_DIR / family.name
    if run_dir.exists() and not run_dir.is_dir():
        raise TrackerError(f"--run {run_dir} is a file; the run directory must be a "
                           "directory (it is created when absent)")
    family = _trained_if_needed(family.in_run(run_dir), run_dir)
    checkpoints = family.checkpoints(sizes=args.sizes, steps=args.steps)
    # the weight digests the plan needs, hashed on another core while torch imports
    digest_ahead(c.location for c in checkpoints if c.revision is None)

    from transformers.utils import logging as transformers_logging

    from tracker.checkpoints import pickle_warnings, remote_code_warnings
    from tracker.evaluate import (
        default_loader,
        distributed_shard,
        plan_units,
        run_sweep,
        wait_for_everyone,
    )
    from tracker.results import EvalSettings
    from tracker.validation import ValidationLoss, load_validation

    transformers_logging.disable_progress_bar()  # our own bar shows units and tokens/s
    validation_name = args.validation or family.config.validation
    if not validation_name:
        raise TrackerError(f"family '{family.name}' names no default validation set; "
                           "pass --validation NAME or a .txt/.jsonl file")
    evaluations = [ValidationLoss(load_validation(validation_name), args.context_length)]
    evaluations += _tasks(args.tasks or family.config.tasks or ["none"], args.num_fewshot)
    settings = EvalSettings(batch_size=args.batch_size, limit=args.limit,
                            progress=not args.quiet and sys.stderr.isatty(),
                            context_length=args.context_length)
    units = plan_units(checkpoints, evaluations, limit=args.limit, dtype=args.dtype,
                       context_length=args.context_length)
    # a trained family's second validation set (its text alone), so that a report can be
    # drawn against either; planned first, so the plan's setting of "validation" (which
    # fit/report read by default) stays the first set's
    second = plan_units(checkpoints, _second_validation(family, args), limit=args.limit,
                        dtype=args.dtype, context_length=args.context_length)
    store = RunStore(run_dir, on_note=print_note)
    shard = distributed_shard()
    if shard.index == 0:
        for warning in remote_code_warnings(checkpoints) + pickle_warnings(checkpoints):
            print(f"tracker: warning: {warning}", file=sys.stderr)
        removed = store.remove_stale_temporaries()
        if removed:
            print_note(f"removed {len(removed)} temporary file(s) left in {run_dir} by an "
                       "interrupted run")
        _write_plan(store, second + units)
    loader = default_loader(device=args.device, dtype=args.dtype,
                            context_length=args.context_length, allow_pickle=args.allow_pickle)
    summary = run_sweep(units + second, store, load=loader, settings=settings, shard=shard,
                        prefetch=not args.no_prefetch)
    wait_for_everyone()
    _print_summary(summary, run_dir, shard.count)
    if shard.index == 0 and len(evaluations) > 1 and not args.no_report and not summary.failed:
        _fit_and_report(run_dir)
    return 1 if summary.failed else 0


def _trained_if_needed(family: Family, run_dir: Path) -> Family:
    """A family with a training config is trained into ``run_dir`` when it is absent
    there (its checkpoints are listed from disk, so the same object then sees them)."""
    config = family.config
    if config.train_config and not family.size_labels():
        from transformers.utils import logging as transformers_logging

        from tracker.train import train_from_config

        transformers_logging.disable_progress_bar()  # the training bar shows progress
        print(f"family '{family.name}' is not trained yet in {run_dir}: training it from "
              f"{config.train_config} (one time)", file=sys.stderr)
        train_from_config(resolve_project_path(config.train_config), run_dir=run_dir)
    return family


def _second_validation(family: Family, args: argparse.Namespace) -> list:
    """``[ValidationLoss]`` of the training config's ``evaluation.second_validation`` for a
    family trained by ``tracker train`` evaluated on its own validation set, else ``[]``."""
    if not family.config.train_config or args.validation:
        return []
    from tracker.train.config import load_ladder_config
    from tracker.validation import ValidationLoss, load_validation

    training = load_ladder_config(resolve_project_path(family.config.train_config))
    name = training.evaluation.second_validation
    if name is None or family.root is None:
        return []
    path = family.root.parent / name  # relative to the run directory, as the hook reads it
    return [ValidationLoss(load_validation(str(path)), args.context_length)]


def _tasks(names: list[str], num_fewshot: int | None) -> list:
    if names == ["none"]:
        return []
    from tracker.tasks import resolve_tasks

    return list(resolve_tasks(names, num_fewshot=num_fewshot))


def _write_plan(store: RunStore, units: list) -> None:
    """plan.json, atomically; a run directory that cannot be written stops here, before
    any work, with one line (StorageError)."""
    plan = [{"key": u.key, "label": u.label, "task": u.task,
             "setting": setting_of(u.identity()).id} for u in units]
    text = json.dumps(plan, indent=0)
    target = store.root / "plan.json"
    try:
        atomic_write(target, lambda tmp: Path(tmp).write_text(text))
    except OSError as error:
        raise StorageError.from_os_error("write", target, error) from error


def _print_summary(summary: SweepSummary, run_dir: Path, processes: int) -> None:
    rate = ""
    if summary.seconds > 0 and summary.tokens:
        rate += f", {summary.tokens / summary.seconds:,.0f} validation tokens/s"
    if summary.seconds > 0 and summary.examples:
        rate += f", {summary.examples / summary.seconds:,.1f} task examples/s"
    print(f"computed {len(summary.computed)} units, {summary.skipped} already stored, "
          f"{len(summary.failed)} failed in {summary.seconds:,.1f} s{rate}"
          + _duplicates(summary)
          + (f" (this process of {processes})" if processes > 1 else ""))
    for label, error in summary.failed:
        print(f"  FAILED {label}: {error}")
    print(f"results: {run_dir}  (tracker status --run {run_dir}; "
          f"tracker export --run {run_dir} --out points.csv)")


def _duplicates(summary: SweepSummary) -> str:
    """``; N computed by another process too (identical)`` (and those that differ)."""
    parts = []
    if summary.duplicates:
        parts.append(f"{len(summary.duplicates)} computed by another process too (identical)")
    if summary.differing:
        parts.append(f"{len(summary.differing)} computed by another process too with "
                     "different results (kept the one stored first)")
    return "".join(f"; {part}" for part in parts)


def _fit_and_report(run_dir: Path) -> None:
    """Thresholds and the report for the whole run, as `tracker report --run` writes them
    (the setting this eval planned; default bootstrap and seed)."""
    from tracker.cli.fit_cmd import check_fitted
    from tracker.fit.table import fit_table
    from tracker.points import read_run
    from tracker.report import build_report

    table = fit_table(*read_run(run_dir, on_note=print_note),
                      progress=ProgressPrinter())
    print_notes(table.notes)
    check_fitted(table)
    table.write_csv(run_dir / "thresholds.csv")
    files = build_report(table, run_dir)
    print(f"wrote {files.markdown}, {files.html} and {len(files.figures)} figures")


def _csv(text: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list")
    return items


def _int_csv(text: str) -> list[int]:
    try:
        return [int(item) for item in _csv(text)]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers: {text}") from error
