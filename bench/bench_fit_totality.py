"""How many generated series does it take to crash a fit? This tree against an earlier commit.

Draws series with the totality tests' generator (tests/test_fit_totality.py: perfect steps,
globally and within single sizes, constant, all-zero, all-one, two values, ties, spikes,
monotone and non-monotone noise, 1-40 points per size, 1-6 sizes, magnitudes from 1e-300 to
1e150) and fits each, alone, with fit_table, the function `tracker fit` calls, in the tree
given. Prints the first exception (type, message, where) and how many series it took, per
seed; a TrackerError for values beyond +-1e100 (which the earlier commit raised for the
whole table, and this tree records as verdict `failed`) is counted apart and skipped. For
this tree it also counts series whose verdict is `failed` for another reason.

    .venv/bin/python bench/bench_fit_totality.py --against e2d39ba --series 5000 --seeds 0,1,2

The earlier commit is checked out into a temporary git worktree (removed at the end).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNNER = """
import sys, traceback, warnings
import numpy as np
warnings.simplefilter("ignore")
sys.path.insert(0, sys.argv[1])
from test_fit_totality import draw_cases, make_points
from tracker.fit.table import fit_table
seed, count = int(sys.argv[2]), int(sys.argv[3])
refused = failed = 0
for i, case in enumerate(draw_cases(np.random.default_rng(seed), count), start=1):
    try:
        table = fit_table(make_points(**case), n_boot=60)
    except Exception as error:
        if type(error).__name__ == "TrackerError" and "1e+100" in str(error):
            refused += 1
            continue
        frames = traceback.extract_tb(error.__traceback__)[::-1][:6]
        print(f"seed {seed}: series {i}: {type(error).__name__}: {str(error)[:120]} at "
              + " <- ".join(frame.name for frame in frames) + f"; case {case}")
        break
    failed += sum(row.fit.verdict == "failed" and "1e+100" not in row.fit.note
                  for row in table.rows)
else:
    print(f"seed {seed}: no exception in {count} series")
print(f"seed {seed}: {refused} tables refused for values beyond 1e100; {failed} series "
      "failed for another reason")
"""


def run(tree: Path, seed: int, count: int) -> str:
    done = subprocess.run([sys.executable, "-c", RUNNER, str(ROOT / "tests"), str(seed),
                           str(count)], env={**os.environ, "PYTHONPATH": str(tree)},
                          cwd=tree, capture_output=True, text=True, check=False)
    return (done.stdout + done.stderr[-500:] if done.returncode else done.stdout).strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default="e2d39ba")
    parser.add_argument("--series", type=int, default=5000)
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    with tempfile.TemporaryDirectory() as scratch:
        old = Path(scratch) / "old"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old),
                        args.against], check=True, capture_output=True)
        try:
            for name, tree in ((args.against, old), ("this tree", ROOT)):
                print(f"== {name}")
                for seed in seeds:
                    print(run(tree, seed, args.series), flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                            str(old)], check=False, capture_output=True)


if __name__ == "__main__":
    main()
