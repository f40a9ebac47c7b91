"""Emergence-fit study on synthetic data with a known answer, and the speed benchmark.

Prints four tables:
1. per case (--reps repetitions, 200 by default): verdict rates (emerges = from chance +
   above chance, weak, rises, flat), and where the truth has an onset the onset's RMSE and
   the coverage of the joint 95% interval and of each part alone (examples only, sizes
   only); points through the path `tracker fit --points` takes, and the same generator
   with per-item difficulty through the per-example path (`tracker fit --run`); size
   offsets, per-size bias, a capped hinge, sigmoids from chance, shapes without a plateau
   (a sigmoid mid-transition, a line, a gentle power law, a rise that saturates from the
   first checkpoint), a convex power law, flat series and an MMLU-like drift;
2. the mirage test: Schaeffer et al.'s construction (exact match of a smoothly improving
   per-token probability) and a real phase change, the pair's verdict rates;
3. multiple testing: --tables tables of 20 series (2 hinges, 18 without a plateau),
   Benjamini-Hochberg across each: mean false discovery proportion, share of tables with
   any, power;
4. speed: 800 fits (200 tasks x 4 metrics, 200 points each) with intervals, through the
   table-level function the CLI uses (its default worker processes: one per core), wall
   and CPU seconds, with the load average it ran under (bench/bench_fit_speed.py compares
   it with an earlier commit, side by side).

Repetitions (and tables) run in worker processes, one per core (tracker/fit/parallel.py);
each has its own seeds, so the numbers do not depend on how many.

Usage: .venv/bin/python bench/bench_threshold.py [--reps 200] [--tables 200] [--boot 1000]
       [--cases 'hinge|capped'] [--skip-study] [--skip-mirage] [--skip-tables]
       [--skip-speed]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the study lives in tests/
from tests.fit_study import NULL_SHAPES, Case, multiple_testing, run_case, run_mirage
from tracker.fit.synthetic import make_series
from tracker.fit.table import fit_table

CASES = (
    Case("hinge", "hinge"),
    Case("hinge, offsets sd 0.02", "hinge", 0.02),
    Case("hinge, offsets sd 0.05", "hinge", 0.05),
    Case("hinge, per example", "hinge", per_example=True),
    Case("hinge, per example, offsets 0.02", "hinge", 0.02, per_example=True),
    Case("hinge, per example, offsets 0.05", "hinge", 0.05, per_example=True),
    Case("capped hinge (ceiling 0.9)", "capped"),
    Case("sigmoid from chance (width 0.1)", "sigmoid"),
    Case("sigmoid, offsets 0.02 + bias 0.01", "sigmoid", 0.02, 0.01),
    Case("sigmoid from chance (width 0.2)", "mid_sigmoid"),
    Case("wide sigmoid (width 0.5)", "wide_sigmoid"),
    Case("wide sigmoid, offsets + bias", "wide_sigmoid", 0.02, 0.01),
    Case("linear", "linear"),
    Case("linear, offsets + bias", "linear", 0.02, 0.01),
    Case("gentle power law", "gentle_power_law"),
    Case("gentle power law, offsets + bias", "gentle_power_law", 0.02, 0.01),
    Case("saturating from the start", "saturating"),
    Case("convex power law", "power_law"),
    Case("flat at chance", "flat"),
    Case("flat at chance, bias 0.01", "flat", 0.0, 0.01),
    Case("MMLU-like drift (14,000 examples)", "mmlu_drift"),
)
COLUMNS = ["emerges", "emerges (from chance)", "emerges (not at chance)", "weak", "rises",
           "flat", "rmse", "coverage", "cov_examples", "cov_sizes", "seconds"]
MIRAGE_COLUMNS = ["made by the metric", "survives", "inconclusive", "twin only", "neither",
                  "gap", "seconds"]


def study(reps: int, n_boot: int, only: str = "") -> pd.DataFrame:
    """One row per case (seeds fixed per case, so a case's row does not depend on --cases)."""
    rows = {}
    for i, case in enumerate(CASES):
        if only and not any(part in case.label for part in only.split("|")):
            continue
        start = time.perf_counter()
        rows[case.label] = run_case(case, reps, seed=1000 + i, n_boot=n_boot)
        rows[case.label]["seconds"] = time.perf_counter() - start
    return pd.DataFrame.from_dict(rows, orient="index")[COLUMNS]


def mirage_study(reps: int, n_boot: int) -> pd.DataFrame:
    rows = {}
    for i, (label, kind) in enumerate((("Schaeffer: p smooth, exact match p^8", "smooth"),
                                       ("phase change of p (scale 0.03)", "phase"))):
        start = time.perf_counter()
        rows[label] = run_mirage(kind, reps, seed=5000 + i, n_boot=n_boot)
        rows[label]["seconds"] = time.perf_counter() - start
    return pd.DataFrame.from_dict(rows, orient="index")[MIRAGE_COLUMNS]


def speed_points(n_tasks: int = 200, seed: int = 7) -> pd.DataFrame:
    """200 tasks x 4 metrics (accuracy, exact_match, p_correct, brier), 200 points each."""
    rng = np.random.default_rng(seed)
    frames = []
    for t in range(n_tasks):
        data = make_series("hinge" if t % 2 else "mid_sigmoid", rng)
        for metric in ("accuracy", "exact_match", "p_correct", "brier"):
            score = data.score if metric != "brier" else 1.0 - data.score
            if metric == "p_correct":
                score = score + rng.normal(0, 0.01, score.size)
            frames.append(pd.DataFrame({
                "family": "synthetic", "size": data.size.astype(str), "params": data.params,
                "step": data.step, "tokens_seen": data.step * 2**21, "loss": data.loss,
                "task": f"task{t:03d}", "metric": metric, "score": score, "n": data.n}))
    return pd.concat(frames, ignore_index=True)


def speed() -> None:
    points = speed_points()
    before = os.getloadavg()
    start, cpu = time.perf_counter(), _cpu_seconds()
    table = fit_table(points, random_state=0)
    seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    load = os.getloadavg()
    counts = Counter(row.fit.verdict for row in table.rows)
    print(f"\nspeed: {len(table.rows)} fits (200 tasks x 4 metrics, 200 points each) with "
          f"intervals ({table.rows[0].fit.n_boot} joint bootstrap replicates each) in "
          f"{seconds:.1f} s wall, {cpu:.1f} s CPU (this process and its workers), on "
          f"{os.cpu_count()} cores; load average "
          f"before {before[0]:.2f}, after {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"verdicts {dict(counts)}")


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished worker processes."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--tables", type=int, default=200)
    parser.add_argument("--boot", type=int, default=1000, help="joint bootstrap replicates")
    parser.add_argument("--cases", default="", help="only cases whose label contains one of "
                        "these |-separated strings")
    parser.add_argument("--skip-mirage", action="store_true")
    parser.add_argument("--skip-tables", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-study", action="store_true")
    args = parser.parse_args()
    if not args.skip_study:
        print(f"study: {args.reps} repetitions per case; 200 points, n = 500 examples, "
              f"chance 0.25, 5 sizes, {args.boot} joint bootstrap replicates; load average "
              "before " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
        with pd.option_context("display.width", 250, "display.precision", 3):
            print(study(args.reps, args.boot, args.cases).to_string(
                float_format=lambda x: f"{x:.3f}"))
        print("load average after " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    if not args.skip_mirage:
        print(f"\nmirage test: {args.reps} tasks per case (exact match against target NLL, "
              "per-example rows, 300 examples, 5 sizes); load average before "
              + " ".join(f"{x:.2f}" for x in os.getloadavg()))
        with pd.option_context("display.width", 250):
            print(mirage_study(args.reps, args.boot).to_string(
                float_format=lambda x: f"{x:.3f}"))
    if not args.skip_tables:
        start = time.perf_counter()
        tables = multiple_testing(args.tables, seed=99)
        print(f"\nmultiple testing: {args.tables} tables of 20 series (2 hinges, 18 without "
              f"a plateau: {', '.join(NULL_SHAPES)} in turn), BH across each: false "
              f"discovery proportion {tables['fdr']:.3f} on average; tables with any false "
              f"discovery {tables['any_false']:.3f}; true emergences found "
              f"{tables['power']:.3f}; {time.perf_counter() - start:.0f} s")
    if not args.skip_speed:
        speed()


if __name__ == "__main__":
    main()
