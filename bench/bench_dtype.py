"""Scoring in bfloat16 against float32 on the same checkpoints: the gain and its cost.

For each checkpoint, the same evaluations (a validation text, a BIG-bench multiple-choice
task, a generative task) are scored once in float32 and once in bfloat16, in this process
(load excluded; each evaluation run ``--repeats`` times, best time kept, after one warm-up
scoring of the validation text in that dtype). Printed per (checkpoint, evaluation): the
scoring seconds in each dtype and their ratio, the largest per-example difference in
log-likelihood (validation: a document's total NLL in nats; multiple choice: the correct
choice's log-likelihood; generative: the target's NLL), the difference in bits per byte
(validation) or in the task's accuracy / exact match, and how many examples changed their
0/1 outcome. Then what ``--dtype auto`` picks here and the probe's timings.

Default checkpoints (seeded, built in a temporary directory, the Pythia tokenizer):
``random-256x4``, a random GPT-NeoX 256 wide and 4 deep, and ``answering-128x2``, a GPT-NeoX
128 wide and 2 deep trained for ``--train-steps`` steps on the generative task's examples
after the first ``--limit`` (meant to answer; at 150 steps its exact match was still 0).
``--family DIR`` scores every checkpoint of a local family instead (e.g. a trained
ladder's ``runs/ladder/checkpoints``), where accuracy and exact match mean something.

    .venv/bin/python bench/bench_dtype.py
    .venv/bin/python bench/bench_dtype.py --family runs/ladder/checkpoints --limit 100

A benchmark, never a timed assertion: the parity tests keep float32.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_eval_vs_lmeval as whole  # noqa: E402

DTYPES = ("float32", "bfloat16")
# per evaluation kind: the per-example log-likelihood column, the 0/1 outcome, the score
COLUMNS = {"validation": ("nll_nats", None, "bits_per_byte"),
           "multiple_choice": ("logprob_correct", "accuracy", "accuracy"),
           "generative": ("target_nll", "exact_match", "exact_match")}


def checkpoints(args: argparse.Namespace, work: Path) -> list:
    from tracker.families.catalog import load_family

    if args.family:
        return load_family(str(args.family)).checkpoints()
    family = work / "family"
    whole.build_random_model(family / "random-256x4" / "step0", 256, 4)
    whole.build_answering_model(family / "answering-128x2" / "step0",
                                [whole.task_path(args.gen_task)],
                                skip=args.limit, steps=args.train_steps)
    return load_family(str(family)).checkpoints()


def evaluations(args: argparse.Namespace, work: Path) -> list:
    from tests.helpers import write_jsonl
    from tracker.evals.validation import ValidationLoss, load_validation
    from tracker.tasks import resolve_tasks

    validation = write_jsonl(work / "validation.jsonl",
                             whole.validation_documents(args.validation_mb))
    tasks = resolve_tasks([whole.task_path(args.mc_task), whole.task_path(args.gen_task)])
    return [ValidationLoss(load_validation(str(validation))), *tasks]


def score(checkpoint, evaluation_list, dtype: str, args: argparse.Namespace) -> list:
    """(evaluation, best seconds, UnitResult) per evaluation, in ``dtype``."""
    from transformers.utils import logging as transformers_logging

    from tracker.evals.interface import EvalSettings
    from tracker.lm.loading import load_checkpoint

    transformers_logging.disable_progress_bar()
    lm = load_checkpoint(checkpoint, device="cpu", dtype=dtype)
    settings = EvalSettings(limit=args.limit, progress=False)
    evaluation_list[0].evaluate(lm, settings)  # warm-up: kernels, token caches
    scored = []
    for evaluation in evaluation_list:
        best, result = float("inf"), None
        for _ in range(args.repeats):
            started = time.perf_counter()
            result = evaluation.evaluate(lm, settings)
            best = min(best, time.perf_counter() - started)
        scored.append((evaluation, best, result))
    return scored


def kind(result) -> str:
    columns = set(result.examples.columns)
    if "nll_nats" in columns:
        return "validation"
    return "generative" if "exact_match" in columns else "multiple_choice"


def compare(label: str, f32, bf16) -> str:
    (evaluation, f32_s, ours), (_, bf16_s, theirs) = f32, bf16
    ll_column, outcome, metric = COLUMNS[kind(ours)]
    a = ours.examples.set_index("example_id")
    b = theirs.examples.set_index("example_id").loc[a.index]
    ll = (a[ll_column] - b[ll_column]).abs().max()
    before, after = ours.score(metric).score, theirs.score(metric).score
    flips = "-" if outcome is None else str(int((a[outcome] != b[outcome]).sum()))
    name = evaluation.name if len(evaluation.name) <= 28 else "..." + evaluation.name[-25:]
    return (f"| {label} | {name} | {len(a)} | {f32_s:.2f} | {bf16_s:.2f} | "
            f"{f32_s / bf16_s:.2f}x | {ll:.4f} | {metric} {before:.4f} -> {after:.4f} "
            f"({after - before:+.4f}) | {flips} |")


def machine() -> str:
    from tracker.lm.dtype import BF16_FLAGS, cpu_identity

    model, flags = cpu_identity()
    present = [flag for flag in BF16_FLAGS if flag in flags] or ["no bf16 flags"]
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"{model} ({', '.join(present)}), {os.cpu_count()} cores, load average {load}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--family", type=Path, help="a local family (default: built here)")
    parser.add_argument("--mc-task", default="navigate")
    parser.add_argument("--gen-task", default="arithmetic/2_digit_addition")
    parser.add_argument("--limit", type=int, default=200, help="examples (documents) each")
    parser.add_argument("--validation-mb", type=float, default=0.1)
    parser.add_argument("--train-steps", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from tracker.lm.dtype import checkpoint_shapes, choose_dtype

    print(f"machine: {machine()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        found, evaluation_list = checkpoints(args, work), evaluations(args, work)
        print("| checkpoint | evaluation | n | float32 s | bfloat16 s | speed-up | "
              "max abs d log-lik (nats) | score float32 -> bfloat16 | 0/1 flips |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
        for checkpoint in found:
            runs = {dtype: score(checkpoint, evaluation_list, dtype, args) for dtype in DTYPES}
            for f32, bf16 in zip(runs["float32"], runs["bfloat16"], strict=True):
                print(compare(checkpoint.label, f32, bf16), flush=True)
        choice = choose_dtype("cpu", checkpoint_shapes(found))
    print(f"--dtype auto here: {choice.describe()}; probe ms {choice.timings}")
    print(f"machine at the end: {machine()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
