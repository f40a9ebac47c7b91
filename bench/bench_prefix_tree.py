"""Multiple choice in one process: the grouped path (one pass per question's context, its
cache reused by the choices) against packed prefix trees (tracker.lm.prefix_tree) at several
row capacities, on the same requests, interleaved.

Requests: the four BIG-bench multiple-choice tasks of bench_eval_vs_lmeval, ``--limit``
questions each, on a local model (default: bench_eval_vs_lmeval's random 70m-shaped GPT-NeoX
with the Pythia tokenizer, built when absent). Each side is timed ``--repeats`` times
(tokenization through the warm token cache included); the table shows medians, the speed-up
over the grouped path, the tokens the model runs on, the largest log-likelihood
difference from the grouped path and how many greedy flags differ, with the load average.

    .venv/bin/python bench/bench_prefix_tree.py [--capacities 256,512,1024] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import bench_eval_vs_lmeval as whole  # noqa: E402
import torch  # noqa: E402

from tracker.families.catalog import local_family  # noqa: E402
from tracker.lm import prefix_tree, scoring  # noqa: E402
from tracker.lm.loading import load_checkpoint  # noqa: E402
from tracker.tasks import resolve_tasks  # noqa: E402


def task_requests(limit: int) -> list[list[scoring.LoglikelihoodRequest]]:
    tasks = resolve_tasks([whole.task_path(name) for name in whole.MC_TASKS])
    return [[scoring.LoglikelihoodRequest(e.context(), c)
             for e in task.examples(limit) for c in e.continuations()] for task in tasks]


def score(lm, requests, capacity: int | None) -> tuple[list, int]:
    """Every task's results and the tokens packed (None: the grouped path, tokens 0)."""
    packed: list[int] = []
    if capacity is None:
        with mock.patch.object(scoring, "tree_attention", lambda model: False):
            return [r for task in requests for r in scoring.loglikelihood(lm, task)], 0
    pack = prefix_tree.pack

    def counting_pack(*args):
        rows, placements = pack(*args)
        packed.append(sum(len(row.tokens) for row in rows))
        return rows, placements

    with mock.patch.multiple(prefix_tree, ROW_TOKENS=capacity, MAX_ROW_TOKENS=capacity,
                             pack=counting_pack):
        results = [r for task in requests for r in scoring.loglikelihood(lm, task)]
    return results, sum(packed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=Path("/tmp/evb/family"))
    parser.add_argument("--limit", type=int, default=75)
    parser.add_argument("--capacities", default="128,256,512,1024,2048")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    step_dir = args.model_dir / "random" / "step0"
    if not (step_dir / "config.json").is_file():
        whole.build_random_model(step_dir, 512, 6)
    lm = load_checkpoint(local_family(args.model_dir).checkpoints()[0])
    requests = task_requests(args.limit)
    sides: list[int | None] = [None, *(int(c) for c in args.capacities.split(","))]
    reference, _ = score(lm, requests, None)  # warm-up: token cache, first-call costs
    seconds: dict[int | None, list[float]] = {side: [] for side in sides}
    loads: list[float] = []
    outcome: dict[int | None, tuple[list, int]] = {}
    with torch.inference_mode():
        for _ in range(args.repeats):
            for side in sides:
                loads.append(os.getloadavg()[0])
                started = time.perf_counter()
                outcome[side] = score(lm, requests, side)
                seconds[side].append(time.perf_counter() - started)
    print(f"{os.cpu_count()} cores, torch threads {torch.get_num_threads()}, "
          f"{sum(len(t) for t in requests)} requests, load average "
          f"{min(loads):.2f}-{max(loads):.2f}")
    grouped = statistics.median(seconds[None])
    print(f"{'path':<22}{'median s':>9}{'speed-up':>10}{'tokens':>8}{'max |dlogprob|':>16}"
          f"{'greedy diff':>12}  runs s")
    for side in sides:
        results, tokens = outcome[side]
        diff = max(abs(a.logprob - b.logprob) for a, b in zip(reference, results, strict=True))
        flips = sum(a.is_greedy != b.is_greedy for a, b in zip(reference, results, strict=True))
        name = "grouped (per context)" if side is None else f"trie, rows of {side}"
        median = statistics.median(seconds[side])
        print(f"{name:<22}{median:>9.2f}{grouped / median:>9.2f}x{tokens or '':>8}"
              f"{diff:>16.1e}{flips:>12}  " + ", ".join(f"{s:.2f}" for s in seconds[side]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
