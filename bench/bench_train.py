"""Training throughput on this machine: float32 vs bf16 autocast, plain loop vs Trainer,
and the Trainer in ``--deterministic`` mode (float32, deterministic kernels).

Prints a table of tokens per second for each rung of a ladder config (random tokens, so
no corpus is needed), then, for the smallest rung, whether two Trainer runs of ``--steps``
steps end with bit-identical weights in bf16 autocast and in deterministic mode. Used to
choose ``training.precision`` and the loop of ``tracker train``; never a timed assertion
in the tests.

    python bench/bench_train.py [--config configs/ladder.yaml] [--steps 12] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import time
from functools import partial

import torch
from transformers import Trainer, TrainerCallback, TrainingArguments

from tracker.train.config import load_ladder_config
from tracker.train.models import build_model, non_embedding_params


def plain_loop(model, batch: torch.Tensor, steps: int, bf16: bool) -> float:
    """Seconds per step (median after two warm-up steps) of forward+backward+AdamW."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - started)
    return sorted(times[2:])[len(times[2:]) // 2]


class _StepTimer(TrainerCallback):
    def __init__(self) -> None:
        self.times: list[float] = []
        self.started = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        self.started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.times.append(time.perf_counter() - self.started)


def trainer_loop(model, batch: torch.Tensor, steps: int, bf16: bool,
                 deterministic: bool = False) -> float:
    rows = [{"input_ids": row, "labels": row} for row in batch] * steps
    timer = _StepTimer()
    args = TrainingArguments(output_dir="/tmp/bench_train", per_device_train_batch_size=len(batch),
                             max_steps=steps, bf16=bf16, use_cpu=True, report_to=[],
                             save_strategy="no", disable_tqdm=True, logging_steps=10**6,
                             full_determinism=deterministic)
    torch.use_deterministic_algorithms(deterministic)
    try:
        Trainer(model=model, args=args, train_dataset=rows, callbacks=[timer]).train()
    finally:
        torch.use_deterministic_algorithms(False)
    kept = timer.times[2:]
    return sorted(kept)[len(kept) // 2]


def identical_twice(spec, vocab: int, batch: torch.Tensor, steps: int, bf16: bool,
                    deterministic: bool) -> bool:
    """Two Trainer runs from the same initialisation: bit-identical weights at the end?"""
    states = []
    for _ in range(2):
        model = build_model(spec, vocab_size=vocab, context_length=batch.shape[1], seed=0)
        trainer_loop(model, batch, steps, bf16, deterministic)
        states.append(model.state_dict())
    return all(torch.equal(states[0][name], states[1][name]) for name in states[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/ladder.yaml")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--vocab", type=int, default=2048)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = load_ladder_config(args.config)
    context, batch_size = config.training.context_length, config.training.batch_size
    batch = torch.randint(0, args.vocab, (batch_size, context))
    print(f"threads={args.threads} batch={batch_size}x{context} load={os.getloadavg()[0]:.2f}")
    print(f"{'size':<14}{'non-emb':>10}{'loop':>9}{'precision':>11}{'tokens/s':>10}")
    variants = [("plain", plain_loop, False, "fp32"), ("plain", plain_loop, True, "bf16"),
                ("trainer", trainer_loop, False, "fp32"), ("trainer", trainer_loop, True, "bf16"),
                ("trainer", partial(trainer_loop, deterministic=True), False, "determ.")]
    for spec in config.sizes:
        for loop_name, loop, bf16, label in variants:
            model = build_model(spec, vocab_size=args.vocab, context_length=context, seed=0)
            seconds = loop(model, batch, args.steps, bf16)
            print(f"{spec.label:<14}{non_embedding_params(model):>10,}{loop_name:>9}"
                  f"{label:>11}{batch.numel() / seconds:>10,.0f}", flush=True)
    smallest = config.sizes[0]
    for label, bf16, deterministic in (("bf16 autocast", True, False),
                                       ("deterministic fp32", False, True)):
        same = identical_twice(smallest, args.vocab, batch, args.steps, bf16, deterministic)
        print(f"{smallest.label}, {label}, two runs of {args.steps} steps: "
              f"{'bit-identical' if same else 'DIFFERENT'} weights")


if __name__ == "__main__":
    main()
