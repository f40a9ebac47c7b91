"""One size of the ladder: a transformers.Trainer run that saves and scores on a schedule.

The Trainer does the optimization (AdamW, cosine decay to a floor, gradient clipping,
bf16 autocast); :class:`LadderCheckpoints` saves the model at the schedule's steps in the
local-family layout and scores it through the training hook; its progress bar shows the
training loss, validation bits per byte and arithmetic exact match as they come.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_callback import PrinterCallback
from transformers.utils import logging as transformers_logging

from tracker.errors import TrackerError
from tracker.evals.interface import VALIDATION_TASK, Evaluation
from tracker.families.catalog import CHECKPOINT_META
from tracker.hooks import HookResult, evaluate_model
from tracker.train.config import SizeSpec, TrainingConfig
from tracker.train.layout import LadderRun
from tracker.train.mixture import TrainingBlocks
from tracker.train.models import build_model, non_embedding_params


class BlockDataset(torch.utils.data.Dataset):
    """Fixed-length token blocks; the model shifts labels itself."""

    def __init__(self, tokens: np.ndarray) -> None:
        self.tokens = tokens

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"input_ids": torch.from_numpy(self.tokens[index].astype(np.int64))}


def collate_blocks(rows: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    input_ids = torch.stack([row["input_ids"] for row in rows])
    return {"input_ids": input_ids, "labels": input_ids}


def train_size(run: LadderRun, spec: SizeSpec, tokenizer, blocks: TrainingBlocks,
               evaluations: Sequence[Evaluation], *, second_validation: Evaluation | None = None,
               progress: bool = True, position: int = 0,
               callbacks: Sequence[TrainerCallback] = ()) -> None:
    """Train one rung from scratch, saving and scoring at every scheduled step
    (``position``: the progress bar's row when sizes train side by side)."""
    training = run.config.training
    model = build_model(spec, vocab_size=len(tokenizer), context_length=training.context_length,
                        seed=training.seed, bos_token_id=tokenizer.bos_token_id,
                        eos_token_id=tokenizer.eos_token_id,
                        pad_token_id=tokenizer.pad_token_id)
    saver = LadderCheckpoints(run, spec.label, tokenizer, evaluations,
                              second_validation=second_validation, progress=progress,
                              position=position)
    trainer = Trainer(model=model, args=training_arguments(run, spec),
                      train_dataset=BlockDataset(blocks.tokens), data_collator=collate_blocks,
                      callbacks=[saver, *callbacks])
    trainer.remove_callback(PrinterCallback)  # the progress bar shows the loss instead
    trainer.train()
    shutil.rmtree(run.run_dir / "trainer" / spec.label, ignore_errors=True)  # scratch output
    with contextlib.suppress(OSError):  # another size may still be using the folder
        (run.run_dir / "trainer").rmdir()


def training_precision(training: TrainingConfig) -> str:
    """``bf16`` or ``fp32``: what this config trains in (resolved by
    :func:`tracker.train.precision.resolved_precision` before training starts)."""
    if training.precision == "auto":
        raise TrackerError("training.precision 'auto' reached the trainer unresolved; "
                           "train through tracker.train.ladder.train_ladder")
    return "fp32" if training.deterministic else training.precision


def training_arguments(run: LadderRun, spec: SizeSpec) -> TrainingArguments:
    training = run.config.training
    return TrainingArguments(
        output_dir=str(run.run_dir / "trainer" / spec.label),
        per_device_train_batch_size=training.batch_size,
        max_steps=training.max_steps,
        learning_rate=training.learning_rate,
        lr_scheduler_type="cosine_with_min_lr",
        lr_scheduler_kwargs={"min_lr_rate": training.min_learning_rate_ratio},
        warmup_steps=training.warmup_steps,
        weight_decay=training.weight_decay,
        adam_beta2=0.95,
        max_grad_norm=1.0,
        bf16=training_precision(training) == "bf16",
        full_determinism=training.deterministic,
        use_cpu=not torch.cuda.is_available(),
        seed=training.seed,
        data_seed=training.seed,
        save_strategy="no",
        logging_steps=10,
        report_to=[],
        disable_tqdm=True,
        dataloader_num_workers=0,
    )


class LadderCheckpoints(TrainerCallback):
    """Save + score at the schedule's steps (step 0 before the first update)."""

    def __init__(self, run: LadderRun, size: str, tokenizer, evaluations: Sequence[Evaluation],
                 *, second_validation: Evaluation | None = None, progress: bool = True,
                 position: int = 0) -> None:
        self.run = run
        self.size = size
        self.tokenizer = tokenizer
        self.evaluations = list(evaluations)
        self.second_validation = second_validation
        self.steps = set(run.config.checkpoint_steps())
        self.progress = progress
        self.position = position
        self.results: list[HookResult] = []
        self._bar: tqdm | None = None
        self._postfix: dict[str, str] = {}

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self._bar = tqdm(total=state.max_steps, desc=self.size, unit="step",
                         disable=not self.progress, dynamic_ncols=True,
                         position=self.position)
        if 0 in self.steps:
            self._checkpoint(model, 0)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step in self.steps:
            self._checkpoint(model, state.global_step)
        if self._bar is not None:
            self._bar.update(1)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self._postfix["loss"] = f"{float(logs['loss']):.2f}"
            self._show()

    def on_train_end(self, args, state, control, **kwargs):
        if self._bar is not None:
            self._bar.close()

    def _checkpoint(self, model, step: int) -> None:
        location = save_checkpoint(model, self.tokenizer, self.run.step_dir(self.size, step),
                                   tokens_seen=step * self.run.config.tokens_per_step,
                                   precision=training_precision(self.run.config.training))
        evaluation = self.run.config.evaluation
        where: dict[str, Any] = {
            "step": step, "run_dir": self.run.run_dir, "family": self.run.config.name,
            "size": self.size, "tokens_seen": step * self.run.config.tokens_per_step,
            "location": str(location), "limit": evaluation.limit,
            "batch_size": evaluation.batch_size}
        result = evaluate_model(model, self.tokenizer, validation=self.evaluations[0],
                                tasks=self.evaluations[1:], **where)
        if self.second_validation is not None:
            evaluate_model(model, self.tokenizer, validation=self.second_validation, **where)
        if result is not None:
            self.results.append(result)
            self._postfix.update(_headline(result))
            self._show()

    def _show(self) -> None:
        if self._bar is not None:
            self._bar.set_postfix(self._postfix, refresh=False)


def save_checkpoint(model, tokenizer, step_dir: Path, *, tokens_seen: int,
                    precision: str | None = None) -> Path:
    """``save_pretrained`` (safetensors, float32) + tokenizer + ``tracker_checkpoint.json``
    (tokens seen, parameters and the ``training_precision`` it was trained in), written
    beside and renamed into place, so a crash never leaves a half checkpoint that the family
    loader would list. Returns the resolved step directory."""
    temporary = step_dir.with_name(f".{step_dir.name}.tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    with _quiet_saving():
        model.save_pretrained(temporary, safe_serialization=True)
        tokenizer.save_pretrained(temporary)
    meta: dict[str, Any] = {"tokens_seen": int(tokens_seen),
                            "non_embedding_params": non_embedding_params(model)}
    if precision is not None:
        meta["training_precision"] = precision
    (temporary / CHECKPOINT_META).write_text(json.dumps(meta) + "\n", encoding="utf-8")
    shutil.rmtree(step_dir, ignore_errors=True)
    temporary.rename(step_dir)
    return step_dir.resolve()


@contextlib.contextmanager
def _quiet_saving() -> Iterator[None]:
    """No "Writing model shards" bar between the training progress bar's updates."""
    was_enabled = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            transformers_logging.enable_progress_bar()


def _headline(result: HookResult) -> dict[str, str]:
    shown = {}
    if VALIDATION_TASK in result.scores:
        shown["bpb"] = f"{result.scores['validation'].get('bits_per_byte', float('nan')):.3f}"
    for task, scores in result.scores.items():
        if "exact_match" in scores:
            shown[task.split(":n=")[0].removeprefix("arithmetic:")] = \
                f"{scores['exact_match']:.2f}"
    return shown
