"""`tracker forecast`: predict a bigger model's scores (forecast.csv) from smaller ones."""

from __future__ import annotations

import math
from pathlib import Path

from tracker.cli.fit_cmd import add_setting_argument
from tracker.cli.progress import print_notes
from tracker.errors import TrackerError
from tracker.evals.interface import VALIDATION_TASK
from tracker.forecast.score import CANDIDATES, CURVES

DEFAULT_BOOT = 200


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "forecast", help="predict a bigger model's scores from smaller ones (forecast.csv)",
        description="Two steps (Bhagia et al. 2024): loss from parameters and tokens, "
                    "E + A/N^a + B/D^b, fitted to the fit sizes' final checkpoints; then "
                    "score from loss, the best of sigmoid, hinge and capped hinge, fitted "
                    "to their checkpoints. 90% intervals from bootstrapping sizes and "
                    "examples; the error where the target's real scores exist. See "
                    "docs/forecast.md.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", type=Path, help="run directory (points from the store)")
    source.add_argument("--points", type=Path, help="points CSV (as `tracker export` writes)")
    parser.add_argument("--target", type=_names, required=True,
                        help="size(s) to forecast, comma-separated: a size in the points "
                             "(2.8b, or pythia/2.8b) or a parameter count such as 7b")
    parser.add_argument("--at-tokens", type=float,
                        help="predict at this many tokens seen (default: the target's final "
                             "checkpoint, else the fit sizes' final token count)")
    parser.add_argument("--fit-sizes", type=_names,
                        help="sizes to fit on, comma-separated (default: every size smaller "
                             "than the smallest target)")
    parser.add_argument("--min-step", type=float, default=0,
                        help="leave checkpoints before this step out of step 2 (default 0)")
    parser.add_argument("--tasks", type=_names, help="forecast only these tasks")
    parser.add_argument("--feature", default="validation",
                        help="what step 1 predicts and step 2 reads: 'validation' (the "
                             "shared loss, default) or a metric of each task, such as "
                             "bits_per_byte_correct (the task's own loss, Bhagia et al.)")
    parser.add_argument("--curves", type=_names, default=list(CANDIDATES),
                        help=f"step 2's candidates, comma-separated, from {', '.join(CURVES)} "
                             f"(default {','.join(CANDIDATES)})")
    parser.add_argument("--window", type=int, default=1,
                        help="moving average over this many checkpoints (Bhagia et al.: 5; "
                             "default 1, none)")
    parser.add_argument("--skip", type=float, default=0.0,
                        help="leave this share of each fit size's first checkpoints out of "
                             "step 2 (Bhagia et al.: 0.1; default 0)")
    parser.add_argument("--out", type=Path, help="output directory (default: the run dir)")
    parser.add_argument("--boot", type=int, default=DEFAULT_BOOT,
                        help="bootstrap replicates (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    add_setting_argument(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    from tracker.forecast import forecast
    from tracker.points import read_points_csv, read_run

    if args.boot < 50:
        raise TrackerError(f"--boot {args.boot} is too few for a 90% interval; use 50 or more")
    if args.at_tokens is not None and not (math.isfinite(args.at_tokens)
                                           and args.at_tokens > 0):
        raise TrackerError(f"--at-tokens {args.at_tokens:g} must be a positive number")
    if args.run is not None:
        tasks = None if args.tasks is None else [*args.tasks, VALIDATION_TASK]
        points, _ = read_run(args.run, setting=args.setting, tasks=tasks)
        out_dir = args.out or args.run
    else:
        if args.out is None:
            raise TrackerError("--points needs --out DIR (where to write forecast.csv)")
        points, out_dir = read_points_csv(args.points).frame, args.out
        if args.tasks is not None:
            points = points[points["task"].isin(args.tasks)]
    result = forecast(points, args.target, fit_sizes=args.fit_sizes, at_tokens=args.at_tokens,
                      min_step=args.min_step, n_boot=args.boot, random_state=args.seed,
                      feature=args.feature, skip=args.skip, window=args.window,
                      curves=tuple(args.curves))
    print_notes(result.notes)
    if not result.rows:
        raise TrackerError("no series has 10 or more points on the fit sizes to fit step 2; "
                           "lower --min-step or add checkpoints")
    if result.task_scalings:
        print(f"fit sizes: {', '.join(result.fit_runs)}; step 1 per task on its "
              f"{result.feature}")
        for task, scaling in result.task_scalings:
            print(f"  {task}: {describe_scaling(scaling)}")
    else:
        print(f"fit sizes: {', '.join(result.fit_runs)}; {describe_scaling(result.scaling)}")
    for row in result.rows:
        print(describe(row))
    path = Path(out_dir) / "forecast.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    result.write_csv(path)
    print(f"wrote {path}")
    return 0


def describe_scaling(fit) -> str:
    text = f"step 1: L = {fit.E:.3g} + {fit.A:.3g}/N^{fit.alpha:.3f}"
    if fit.data_term:
        return text + f" + {fit.B:.3g}/D^{fit.beta:.3f}"
    return text + f" at D = {fit.tokens_fitted[0]:.3g} tokens (one token count fitted)"


def describe(row) -> str:
    """One line: target, series, predicted loss and score [interval], error if known."""
    text = (f"{row.target} {row.task} {row.metric}: loss {row.predicted_loss:.3f}, "
            f"{row.curve} -> {row.predicted_score:.3f} [{row.score_low:.3f}, "
            f"{row.score_high:.3f}]")
    if math.isfinite(row.error):
        text += f"; real {row.true_score:.3f} (error {row.error:+.3f})"
    return text
