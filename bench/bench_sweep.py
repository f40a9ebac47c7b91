"""A local family sweep: `tracker eval` wall time against the sum of its scoring time alone,
and the process's resident memory per checkpoint.

Builds a local family of ``--checkpoints`` checkpoints (``<dir>/random/step<N>/``, seeded
random GPT-NeoX with the Pythia tokenizer; ``--hidden``/``--layers`` set the shape, 70m by
default; ``--link-weights`` hard-links one weights file into every checkpoint to save disk
on long sweeps: every checkpoint is still loaded from its own directory), then runs one
whole ``tracker eval`` process over it: the validation loss of ``--validation-mb`` MB and
the four BIG-bench multiple-choice tasks of bench_eval_vs_lmeval plus its generative
2-digit addition, ``--limit`` examples each (``--limit`` caps the validation documents
too, as `tracker eval --limit` does).

Printed:
- scoring time alone: the sum of every unit's ``duration_s`` (``evaluate`` itself; no
  loading, no writing), read back from the store;
- the sweep's wall time as `tracker eval` reports it ("computed N units ... in S s": from
  the plan to the last unit written, the first checkpoint's load included) and the whole
  process's; each over the scoring time (target: sweep <= 1.1x);
- resident memory sampled every 0.2 s, its peak while each checkpoint was being scored
  (the checkpoint is told by the unit files present), and the growth per checkpoint over
  the second half of the sweep (flat: about 0 MB per checkpoint).

    .venv/bin/python bench/bench_sweep.py --checkpoints 12
    .venv/bin/python bench/bench_sweep.py --checkpoints 50 --link-weights --limit 20 \\
        --validation-mb 0.05        # memory across a long sweep
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_eval_vs_lmeval as whole  # noqa: E402


def build_family(root: Path, n_checkpoints: int, hidden: int, layers: int, link: bool) -> None:
    """``root/random/step<N>`` for N = 0, 1000, ...; each a distinct random model unless
    ``link`` (then one weights file, hard-linked)."""
    import torch
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    from tests.helpers import pythia_tokenizer

    tokenizer = pythia_tokenizer()
    config = GPTNeoXConfig(vocab_size=len(tokenizer), hidden_size=hidden,
                           num_hidden_layers=layers, num_attention_heads=max(1, hidden // 64),
                           intermediate_size=4 * hidden, max_position_embeddings=2048,
                           bos_token_id=0, eos_token_id=0)
    first: Path | None = None
    for number in range(n_checkpoints):
        target = root / "random" / f"step{number * 1000}"
        if (target / "config.json").is_file():
            first = first or target
            continue
        if link and first is not None:
            target.mkdir(parents=True)
            for file in first.iterdir():
                os.link(file, target / file.name)
            continue
        torch.manual_seed(number)
        GPTNeoXForCausalLM(config).save_pretrained(target)
        tokenizer.save_pretrained(target)
        first = first or target


class MemorySampler:
    """Samples a process's VmRSS and how many unit files its run directory holds."""

    def __init__(self, pid: int, units_dir: Path) -> None:
        self.pid, self.units_dir = pid, units_dir
        self.samples: list[tuple[float, int, float]] = []  # (seconds, units stored, RSS GB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        started = time.perf_counter()
        while not self._stop.wait(0.2):
            try:
                status = Path(f"/proc/{self.pid}/status").read_text()
            except OSError:
                return
            match = re.search(r"VmRSS:\s+(\d+) kB", status)
            units = sum(len(files) for _, _, files in os.walk(self.units_dir))
            if match:
                self.samples.append((time.perf_counter() - started, units,
                                     int(match.group(1)) / 1024**2))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", type=int, default=12)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--link-weights", action="store_true")
    parser.add_argument("--limit", type=int, default=40, help="examples per task")
    parser.add_argument("--validation-mb", type=float, default=0.1)
    parser.add_argument("--batch-size", default="auto", help="a number or auto")
    parser.add_argument("--no-prefetch", action="store_true",
                        help="pass --no-prefetch to tracker eval (for comparison)")
    parser.add_argument("--work", type=Path, help="keep the family and run here")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="tracker-bench-sweep-"))
    family = work / "family"
    build_family(family, args.checkpoints, args.hidden, args.layers, args.link_weights)
    data = work / "validation.jsonl"
    data.write_text("".join(json.dumps({"text": d}) + "\n"
                            for d in whole.validation_documents(args.validation_mb)))
    tasks = [whole.task_path(t) for t in whole.MC_TASKS] + [whole.generative_tasks()[0]]
    run_dir = work / f"run-{time.strftime('%H%M%S')}"
    command = [whole.TRACKER, "eval", "--family", str(family), "--run", str(run_dir),
               "--tasks", ",".join(tasks), "--validation", str(data), "--limit",
               str(args.limit), "--batch-size", str(args.batch_size), "--device", "cpu",
               "--no-report", "--quiet", *(["--no-prefetch"] if args.no_prefetch else [])]
    env = whole.environment(work / "cache")
    load_before = os.getloadavg()
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    with MemorySampler(process.pid, run_dir / "units") as sampler:
        stdout, stderr = process.communicate()
    process_seconds = time.perf_counter() - started
    if process.returncode != 0:
        print(stdout, stderr[-3000:])
        return 1
    report(args, run_dir, stdout, process_seconds, sampler.samples, load_before, len(tasks) + 1)
    return 0


def report(args: argparse.Namespace, run_dir: Path, stdout: str, process_seconds: float,
           samples: list[tuple[float, int, float]], load_before: tuple, units_per: int) -> None:
    from tracker.store.run_store import RunStore

    records = RunStore(run_dir).records()
    scoring = sum(float(r.get("duration_s") or 0.0) for r in records)
    match = re.search(r"computed (\d+) units.* in ([\d,.]+) s", stdout)
    sweep = float(match.group(2).replace(",", "")) if match else float("nan")
    print(f"{args.checkpoints} checkpoints ({args.hidden} x {args.layers}), {len(records)} units; "
          f"load average before {load_before}, after {os.getloadavg()}")
    print(f"{'scoring time alone (sum of units)':40} {scoring:9.1f} s")
    print(f"{'sweep wall time (tracker eval reports)':40} {sweep:9.1f} s  "
          f"{sweep / scoring:5.3f}x scoring  (target <= 1.1x)")
    print(f"{'whole process':40} {process_seconds:9.1f} s  {process_seconds / scoring:5.3f}x")
    print(f"tracker eval: {stdout.strip().splitlines()[0]}")
    peaks: dict[int, float] = {}
    for _, units, rss in samples:
        checkpoint = min(units // units_per, args.checkpoints - 1)
        peaks[checkpoint] = max(peaks.get(checkpoint, 0.0), rss)
    print("peak RSS GB while scoring each checkpoint: "
          + " ".join(f"{number}:{peak:.2f}" for number, peak in sorted(peaks.items())))
    half = [(n, p) for n, p in sorted(peaks.items()) if n >= args.checkpoints // 2]
    if len(half) >= 2:
        import numpy as np

        slope = np.polyfit([n for n, _ in half], [p for _, p in half], 1)[0] * 1024
        print(f"growth over the second half: {slope:+.1f} MB per checkpoint; peak overall "
              f"{max(peaks.values()):.2f} GB")


if __name__ == "__main__":
    sys.exit(main())
