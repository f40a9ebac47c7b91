"""`tracker fit`: loss thresholds per (task, metric) into thresholds.csv."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd

from tracker.cli.progress import ProgressPrinter, print_note, print_notes
from tracker.errors import TrackerError
from tracker.fit.core import DEFAULT_BOOT


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "fit", help="fit loss thresholds per task and metric (thresholds.csv)",
        description="Decide, per task and metric, whether an ability emerges as loss falls "
                    "(emerges, weak, rises, flat, insufficient), where the rise begins (the "
                    "onset, with a bootstrap interval) and how abruptly; and whether the "
                    "continuous twin of each accuracy-type metric agrees (twins.csv).")
    add_input_arguments(parser)
    parser.add_argument("--shared", type=lambda text: [t for t in text.split(",") if t],
                        help="also fit one threshold shared by these tasks (comma-separated; "
                             "task-specific plateaus and slopes) and test it against "
                             "separate thresholds, per metric the tasks have in common")
    parser.set_defaults(func=run)


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """--run / --points / --out / --boot / --seed, shared with `tracker report`."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", type=Path, help="run directory (points from the store)")
    source.add_argument("--points", type=Path, help="points CSV (as `tracker export` writes)")
    parser.add_argument("--out", type=Path, help="output directory (default: the run dir)")
    parser.add_argument("--boot", type=int, default=DEFAULT_BOOT,
                        help=f"joint bootstrap replicates (default {DEFAULT_BOOT})")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    add_setting_argument(parser)
    parser.add_argument("--tasks", type=lambda text: [t for t in text.split(",") if t],
                        help="with --run: fit only these tasks (comma-separated)")
    parser.add_argument("--group", default="size",
                        help="what a group of checkpoints is, for the bootstrap, the design "
                             "effect and 'same loss, same score': 'size' (each family/size, "
                             "the default), 'family' (e.g. open_lm's training corpora), or a "
                             "regex whose (?P<group>...) is searched in 'family/size'")


def add_setting_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--setting", help="with --run: which stored setting to read where a task has several "
                          "(key=value words such as 'limit=20 dtype=float32', or an id); "
                          "default: the one the latest `tracker eval` planned")


def load_inputs(args) -> tuple[pd.DataFrame, pd.DataFrame | None, Path]:
    """Points, per-example rows (or None) and the output directory from the arguments."""
    from tracker.fit.groups import regroup
    from tracker.points import read_points_csv, read_run

    if args.boot < 50:
        raise TrackerError(f"--boot {args.boot} is too few for a 95% interval; use 50 or more")
    group = getattr(args, "group", None)
    if args.run is not None:
        points, examples = read_run(args.run, setting=getattr(args, "setting", None),
                                    tasks=getattr(args, "tasks", None))
        regrouped = regroup(points, group)
        if regrouped is not points and examples is not None:
            print_note(f"--group {group}: per-example rows are left out (they belong to one "
                       "checkpoint each, and a group holds several at a step); the bootstrap "
                       "resamples the groups and each point's own sampling")
            examples = None
        return regrouped, examples, args.out or args.run
    if args.out is None:
        raise TrackerError("--points needs --out DIR (where to write the results)")
    return regroup(read_points_csv(args.points).frame, group), None, args.out


def fit_inputs(args):
    """Load the inputs and fit the table, with progress on stderr."""
    from tracker.fit.table import fit_table

    points, examples, out_dir = load_inputs(args)
    table = fit_table(points, examples, n_boot=args.boot, random_state=args.seed,
                      progress=ProgressPrinter())
    print_notes(table.notes)
    check_fitted(table)
    return table, out_dir


def run(args) -> int:
    table, out_dir = fit_inputs(args)
    path = table.write_csv(Path(out_dir) / "thresholds.csv")
    for row in table.rows:
        print(describe(row.task, row.metric, row.fit))
    for pair in table.twins:
        print(describe_twin(pair))
    print(f"wrote {path} and {path.with_name('twins.csv')}")
    if getattr(args, "shared", None):
        for line in shared_lines(table, args.shared):
            print(line)
    return 0


def check_fitted(table) -> None:
    """One stderr line per series whose fit failed; when no series was fitted at all, one
    line only, as a FitError (exit 1, nothing written)."""
    from tracker.fit.table import require_fitted

    require_fitted(table)
    print_failed_fits(table)


def print_failed_fits(table) -> None:
    """One stderr line per series whose fit failed."""
    for row in table.failed:
        print_note(f"the fit of {row.task}/{row.metric} failed ({row.fit.note}); the other "
                   "series are fitted")


def shared_lines(table, tasks: list[str]) -> list[str]:
    """One line per metric common to `tasks`: the shared threshold against separate ones."""
    from tracker.evals.metrics import BINOMIAL_METRICS
    from tracker.fit.shared import fit_shared

    rows = {(row.task, row.metric): row for row in table.rows}
    missing = [t for t in tasks if not any(task == t for task, _ in rows)]
    if missing:
        raise TrackerError(f"--shared names tasks not in the points: {', '.join(missing)}; "
                           "check the spelling against the table's task column")
    metrics = sorted(set.intersection(*({m for task, m in rows if task == t} for t in tasks)))
    if not metrics:
        raise TrackerError("--shared tasks have no metric in common")
    lines = []
    for metric in metrics:
        data = {t: (rows[t, metric].points["loss"], rows[t, metric].points["score"],
                    None, rows[t, metric].fit.higher_is_better) for t in tasks}
        shared = fit_shared(data, binomial=metric in BINOMIAL_METRICS)
        lines.append(f"shared {','.join(tasks)} {metric}: threshold {shared.threshold:.3f} "
                     f"(separate: {', '.join(f'{e:.3f}' for e in shared.separate)}); BIC "
                     f"shared {shared.bic_shared:.1f} vs separate {shared.bic_separate:.1f}: "
                     f"{shared.preferred} preferred")
    return lines


def describe(task: str, metric: str, fit) -> str:
    """One line per series: the labelled verdict and, where it emerges, the onset
    [interval] and the 10-90% width."""
    text = f"{task} {metric}: {fit.label}"
    if math.isfinite(fit.threshold) and fit.verdict in ("emerges", "weak"):
        text += (f", onset {fit.threshold:.3f} [{fit.ci_low:.3f}, {fit.ci_high:.3f}], width "
                 f"{fit.width:.3f}" + ("" if fit.resolved else " (not resolved)"))
    if fit.verdict == "failed":
        text += f": {fit.note}"
    return text


def describe_twin(pair) -> str:
    """One line per mirage-test pair."""
    text = f"{pair.task} {pair.metric} vs {pair.twin}: {pair.verdict}"
    if math.isfinite(pair.gap):
        text += f", onset gap {pair.gap:+.3f} [{pair.gap_low:+.3f}, {pair.gap_high:+.3f}]"
    return text
