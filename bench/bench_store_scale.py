"""The analysis side at Pythia scale: a synthetic run store shaped like a full sweep of one
family, written through ``RunStore``'s own API, and the whole ``tracker`` processes that
read it, timed with their peak memory.

Shape (the defaults): 10 sizes x 154 checkpoints (Pythia's steps 0, 1, 2, 4, ..., 512,
1000, 2000, ..., 143000); per checkpoint the validation loss (200 documents) and 8
multiple-choice tasks with the example counts of lm-eval's Pythia set (one of 14,000,
like MMLU), three per-example metrics each (accuracy and accuracy_norm as int8, brier as
float32): ~42 million per-example rows in 13,860 unit files. Scores follow a logistic in
the checkpoint's loss with Bernoulli noise per example, so fits have something to find.

Each command runs as its own process under ``/usr/bin/time -v`` (wall seconds, peak
resident memory) at normal priority, with the load average before and after:
``tracker status``, ``tracker export``, ``tracker export --examples``, ``tracker fit
--run`` (per-example bootstrap; its replicates are the fit's default unless ``--boot``)
and ``tracker report``. ``--repeats`` runs each command that many times (the median is
printed). A memory cap (``--max-memory-gb``, default 12) keeps a runaway command from
taking the shared machine down; a command that hits it is reported as failed.

    .venv/bin/python bench/bench_store_scale.py --store /tmp/pythia-scale [--sizes 10]
        [--checkpoints 154] [--scale 1.0] [--commands status,export,examples,fit,report]

The store is written once and reused while its shape file matches (``--rewrite`` forces).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tracker.evals.interface import MetricScore, UnitResult  # noqa: E402
from tracker.families.catalog import Checkpoint  # noqa: E402
from tracker.store.run_store import RunStore  # noqa: E402
from tracker.store.settings import setting_of  # noqa: E402
from tracker.store.units import Unit  # noqa: E402

SIZES = ("14m", "31m", "70m", "160m", "410m", "1b", "1.4b", "2.8b", "6.9b", "12b")
PARAMS = (14e6, 31e6, 70e6, 160e6, 410e6, 1.0e9, 1.4e9, 2.8e9, 6.9e9, 12e9)
STEPS = (0, *(2**i for i in range(10)), *range(1000, 143001, 1000))  # 154 checkpoints
TASKS = (("mmlu", 14000, 4), ("lambada_openai", 5153, 2), ("arc_easy", 2376, 4),
         ("piqa", 1838, 2), ("winogrande", 1267, 2), ("arc_challenge", 1172, 4),
         ("sciq", 1000, 4), ("logiqa", 651, 4))
VALIDATION_DOCUMENTS = 200
TOKENS_PER_STEP = 2_097_152
COMMANDS = ("status", "export", "examples", "fit", "report")


@dataclass(frozen=True)
class SyntheticEvaluation:
    """A stand-in evaluation (never run): its identity names the synthetic task."""

    name: str
    version: str = "1"

    def identity(self) -> dict[str, Any]:
        return {"source": "bench_store_scale", "task": self.name, "version": self.version}

    def evaluate(self, lm, settings):  # pragma: no cover - never called
        raise RuntimeError("synthetic")


def checkpoints(n_sizes: int, n_steps: int) -> list[Checkpoint]:
    steps = STEPS[:: max(1, len(STEPS) // n_steps)][:n_steps]
    return [Checkpoint("pythia", size, step, step * TOKENS_PER_STEP, f"EleutherAI/pythia-{size}",
                       f"step{step}", int(params))
            for size, params in zip(SIZES[:n_sizes], PARAMS[:n_sizes], strict=True)
            for step in steps]


def synthetic_loss(checkpoint: Checkpoint) -> float:
    """Bits per byte falling with parameters and tokens (a Chinchilla-like surface)."""
    tokens = max(checkpoint.tokens_seen or 0, TOKENS_PER_STEP)
    return 0.55 + 180.0 / (checkpoint.params or 1) ** 0.34 + 60.0 / tokens ** 0.28


def task_result(name: str, n_examples: int, n_choices: int, loss: float,
                rng: np.random.Generator) -> UnitResult:
    chance = 1.0 / n_choices
    # examples of varying difficulty: each has its own loss at which it is learned
    difficulty = np.random.default_rng(zlib.crc32(name.encode())).normal(0.9, 0.15, n_examples)
    p = chance + (1 - chance) / (1 + np.exp((loss - difficulty) / 0.05))
    accuracy = (rng.random(n_examples) < p).astype(np.int8)
    accuracy_norm = (rng.random(n_examples) < p).astype(np.int8)
    brier = ((1 - p) ** 2 + rng.normal(0, 0.02, n_examples) ** 2).astype(np.float32)
    frame = pd.DataFrame({"example_id": [str(i) for i in range(n_examples)],
                          "accuracy": accuracy, "accuracy_norm": accuracy_norm,
                          "brier": brier})
    scores = (MetricScore.from_values("accuracy", accuracy, higher_is_better=True, chance=chance),
              MetricScore.from_values("accuracy_norm", accuracy_norm, higher_is_better=True,
                                      chance=chance),
              MetricScore.from_values("brier", brier, higher_is_better=False, chance=None))
    return UnitResult(name, scores, frame, {"n_examples": n_examples})


def validation_result(loss: float, rng: np.random.Generator) -> UnitResult:
    n_bytes = rng.integers(2000, 8000, VALIDATION_DOCUMENTS).astype(np.int32)
    tokens = (n_bytes / 4).astype(np.int32)
    bpb = np.maximum(loss + rng.normal(0, 0.05, VALIDATION_DOCUMENTS), 0.05).astype(np.float32)
    nll = (bpb * n_bytes * np.log(2)).astype(np.float32)
    frame = pd.DataFrame({"example_id": [str(i) for i in range(VALIDATION_DOCUMENTS)],
                          "nll_nats": nll, "tokens": tokens, "bytes": n_bytes,
                          "bits_per_byte": bpb})
    total_bits = float(nll.sum() / np.log(2))
    scores = (MetricScore("bits_per_byte", total_bits / float(n_bytes.sum()), 0.001,
                          VALIDATION_DOCUMENTS, False),
              MetricScore("nats_per_token", float(nll.sum()) / float(tokens.sum()), 0.001,
                          VALIDATION_DOCUMENTS, False))
    return UnitResult("validation", scores, frame, {})


def write_store(root: Path, n_sizes: int, n_steps: int, scale: float) -> dict[str, Any]:
    """Write every unit through RunStore.write (and the plan as `tracker eval` does)."""
    store = RunStore(root)
    tasks = [(name, max(10, int(n * scale)), k) for name, n, k in TASKS]
    evaluations = [SyntheticEvaluation("validation")] + [SyntheticEvaluation(t[0]) for t in tasks]
    rng = np.random.default_rng(0)
    plan, rows, started = [], 0, time.perf_counter()
    for number, checkpoint in enumerate(checkpoints(n_sizes, n_steps)):
        loss = synthetic_loss(checkpoint)
        results = [validation_result(loss, rng)] + [task_result(name, n, k, loss, rng)
                                                    for name, n, k in tasks]
        for evaluation, result in zip(evaluations, results, strict=True):
            unit = Unit(checkpoint, evaluation, None, "float16")
            store.write(unit, result, params=checkpoint.params, duration_s=1.0, device="cuda")
            plan.append({"key": unit.key, "label": unit.label, "task": unit.task,
                         "setting": setting_of(unit.identity()).id})
            rows += len(result.examples)
        if number % 100 == 0:
            print(f"  wrote checkpoint {number + 1} ({rows:,} rows, "
                  f"{time.perf_counter() - started:.0f} s)", flush=True)
    (root / "plan.json").write_text(json.dumps(plan, indent=0))
    return {"units": len(plan), "rows": rows, "write_seconds": time.perf_counter() - started}


def command_line(name: str, store: Path, out: Path, boot: int | None) -> list[str]:
    tracker = [sys.executable, "-m", "tracker"]
    boot_args = [] if boot is None else ["--boot", str(boot)]
    return {
        "status": [*tracker, "status", "--run", str(store)],
        "export": [*tracker, "export", "--run", str(store), "--out", str(out / "points.csv")],
        "examples": [*tracker, "export", "--run", str(store), "--examples",
                     "--out", str(out / "examples.csv")],
        "fit": [*tracker, "fit", "--run", str(store), "--out", str(out / "fit"), *boot_args],
        "report": [*tracker, "report", "--run", str(store), "--out", str(out / "report"),
                   *boot_args],
    }[name]


def timed(command: list[str], max_memory_gb: float) -> dict[str, Any]:
    """Wall seconds and peak resident memory of one process (``/usr/bin/time -v``) under an
    address-space cap; the load average before and after."""
    limit_kb = int(max_memory_gb * 1024 * 1024)
    shell = f"ulimit -v {limit_kb}; exec /usr/bin/time -v " + " ".join(
        _quote(part) for part in command)
    before = os.getloadavg()[0]
    started = time.perf_counter()
    done = subprocess.run(["bash", "-c", shell], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    seconds = time.perf_counter() - started
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    tail = (done.stdout.strip().splitlines() or [""])[-1][:100]
    if done.returncode != 0:
        tail = "FAILED: " + " | ".join(done.stderr.strip().splitlines()[-3:])[:300]
    return {"seconds": seconds, "peak_gb": int(peak.group(1)) / 1024**2 if peak else float("nan"),
            "rc": done.returncode, "load_before": before, "load_after": os.getloadavg()[0],
            "tail": tail}


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--sizes", type=int, default=10)
    parser.add_argument("--checkpoints", type=int, default=154)
    parser.add_argument("--scale", type=float, default=1.0, help="x every task's examples")
    parser.add_argument("--rewrite", action="store_true")
    parser.add_argument("--commands", default=",".join(COMMANDS))
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--boot", type=int, default=None,
                        help="bootstrap replicates for fit/report (default: the fit's own)")
    parser.add_argument("--max-memory-gb", type=float, default=12.0)
    args = parser.parse_args()
    shape = {"sizes": args.sizes, "checkpoints": args.checkpoints, "scale": args.scale}
    shape_file = args.store / "bench_shape.json"
    if args.rewrite or not shape_file.is_file() or json.loads(shape_file.read_text()) != shape:
        if args.store.exists() and any(args.store.iterdir()):
            raise SystemExit(f"{args.store} is not empty and holds another shape; "
                             "give an empty directory")
        args.store.mkdir(parents=True, exist_ok=True)
        written = write_store(args.store, args.sizes, args.checkpoints, args.scale)
        shape_file.write_text(json.dumps(shape))
        (args.store / "bench_written.json").write_text(json.dumps(written))
    written = json.loads((args.store / "bench_written.json").read_text())
    print(f"store {args.store}: {written['units']:,} units, {written['rows']:,} per-example "
          f"rows (written in {written['write_seconds']:.0f} s through RunStore.write)")
    out = args.store.parent / (args.store.name + "-out")
    out.mkdir(exist_ok=True)
    print(f"{'command':10} {'median s':>9} {'peak GB':>8} {'load before/after':>18}  runs (s)"
          "  output")
    for name in args.commands.split(","):
        runs = [timed(command_line(name, args.store, out, args.boot), args.max_memory_gb)
                for _ in range(args.repeats)]
        median = statistics.median(r["seconds"] for r in runs)
        peak = max(r["peak_gb"] for r in runs)
        loads = ", ".join(f"{r['load_before']:.1f}/{r['load_after']:.1f}" for r in runs)
        each = ", ".join(f"{r['seconds']:.1f}" for r in runs)
        print(f"{name:10} {median:9.1f} {peak:8.2f} {loads:>18}  {each}  {runs[-1]['tail']}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
