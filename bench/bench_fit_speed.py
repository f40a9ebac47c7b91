"""`tracker fit` over 800 series, this tree against an earlier commit, side by side.

The same points (bench_threshold.speed_points: 200 tasks x 4 metrics, 200 points each, half
hinges and half sigmoids of width 0.2) are fitted by fit_table, the function `tracker fit`
calls, at its defaults (1,000 bootstrap replicates, one worker process per core), in fresh
processes, in turn: the earlier commit, this tree, and the earlier commit again with the two
process settings this tree applies itself (one BLAS thread per worker, large blocks kept on
the C heap: tracker/fit/parallel.py) given by environment variables, so that the ratio
against it isolates the fit's own work. Rounds are interleaved; wall and CPU seconds, the
load average before each run, and the verdicts are printed, then the median ratios.

    .venv/bin/python bench/bench_fit_speed.py --against e2d39ba --rounds 3

The earlier commit is checked out into a temporary git worktree (removed at the end).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from bench_threshold import speed_points  # noqa: E402

RUNNER = """
import json, os, sys, time
from collections import Counter
import pandas as pd
from tracker.fit.table import fit_table
points = pd.read_csv(sys.argv[1])
before = os.getloadavg()[0]
start, times = time.perf_counter(), os.times()
table = fit_table(points, random_state=0)
wall, after = time.perf_counter() - start, os.times()
cpu = sum(after[i] - times[i] for i in range(4))
print(json.dumps({"wall": wall, "cpu": cpu, "load": before,
                  "verdicts": dict(Counter(row.fit.verdict for row in table.rows))}))
"""
TUNED = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
         "MALLOC_MMAP_THRESHOLD_": str(32 * 2**20), "MALLOC_TRIM_THRESHOLD_": str(128 * 2**20)}


def run(tree: Path, points: Path, extra_env: dict[str, str]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), **extra_env}
    done = subprocess.run([sys.executable, "-c", RUNNER, str(points)], env=env, cwd=tree,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default="e2d39ba", help="the earlier commit")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch_dir = Path(scratch)
        points = scratch_dir / "points.csv"
        speed_points().to_csv(points, index=False)
        old = scratch_dir / "old"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old),
                        args.against], check=True, capture_output=True)
        try:
            variants = {f"{args.against}": (old, {}), "this tree": (ROOT, {}),
                        f"{args.against}, tuned environment": (old, TUNED)}
            results: dict[str, list[dict]] = {name: [] for name in variants}
            for round_ in range(args.rounds):
                for name, (tree, env) in variants.items():
                    result = run(tree, points, env)
                    results[name].append(result)
                    print(f"round {round_ + 1} {name:36s} {result['wall']:6.1f} s wall "
                          f"{result['cpu']:6.1f} s CPU  load before {result['load']:.2f}  "
                          f"{result['verdicts']}", flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                            str(old)], check=False, capture_output=True)
    medians = {name: float(np.median([r["wall"] for r in rows])) for name, rows in
               results.items()}
    new = medians["this tree"]
    print("\nmedian wall: " + ", ".join(f"{name} {value:.1f} s" for name, value in
                                        medians.items()))
    for name, value in medians.items():
        if name != "this tree":
            print(f"this tree / {name}: {new / value:.2f}x")
    print(f"machine: {os.cpu_count()} cores; {platform_line()}")


def platform_line() -> str:
    try:
        model = next(line.split(":", 1)[1].strip() for line in
                     Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    except (OSError, StopIteration):
        model = "unknown CPU"
    return model


if __name__ == "__main__":
    main()
