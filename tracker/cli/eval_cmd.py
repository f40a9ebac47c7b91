"""``tracker eval``: parse, call :func:`tracker.family_eval.run_eval`, print.

Evaluates every checkpoint of a family, resumably, then fits and reports.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tracker.cli.fit_cmd import print_failed_fits
from tracker.cli.progress import ProgressPrinter, print_notes
from tracker.lm.batching import parse_batch_size

if TYPE_CHECKING:  # torch and the model code load when a sweep runs, not with every command
    from tracker.sweep import SweepSummary


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
    parser.add_argument("--dtype", default="auto",
                        choices=["auto", "float32", "bfloat16", "float16"],
                        help="'auto' (default): bfloat16 where this machine measures it faster "
                             "(CPU flags and a timed probe, cached), else float32")
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
    from tracker.family_eval import EvalRequest, plan_eval, run_eval

    request = EvalRequest(
        family=args.family, run_dir=args.run, sizes=args.sizes, steps=args.steps,
        validation=args.validation, tasks=args.tasks, limit=args.limit,
        batch_size=args.batch_size, context_length=args.context_length,
        num_fewshot=args.num_fewshot, device=args.device, dtype=args.dtype,
        report=not args.no_report, prefetch=not args.no_prefetch,
        progress=not args.quiet and sys.stderr.isatty(), allow_pickle=args.allow_pickle)
    plan = plan_eval(request)
    for warning in plan.warnings:
        print(f"tracker: warning: {warning}", file=sys.stderr)
    print(f"dtype: {plan.describe_dtype()}", flush=True)
    outcome = run_eval(plan, fit_progress=ProgressPrinter())
    _print_summary(outcome.sweep, outcome.run_dir, outcome.shard.count)
    if outcome.table is not None and outcome.report is not None:
        print_notes(outcome.table.notes)
        print_failed_fits(outcome.table)
        files = outcome.report
        print(f"wrote {files.markdown}, {files.html} and {len(files.figures)} figures")
    return 0 if outcome.ok else 1


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
