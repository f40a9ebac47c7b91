"""The training hooks: a real transformers.Trainer run with the callback stores one unit per
save and leaves the training losses exactly as they are without it."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from transformers import (
    DataCollatorForLanguageModeling,
    LlamaForCausalLM,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

from tracker import hooks
from tracker.evals.validation import ValidationSet
from tracker.hooks import TrackerCallback, evaluate_model, untouched_training
from tracker.store.run_store import RunStore
from tracker.train.config import SizeSpec
from tracker.train.models import build_model, model_config
from tracker.train.tokenizer import train_tokenizer

TEXT = [
    "In the beginning God created the heaven and the earth. " * 3,
    "A woman's best protection is a little money of her own. " * 3,
    "Godwin's Law: as a discussion grows longer, comparisons approach one. " * 3,
    "What is 12 plus 30? 42. What is 7 plus 5? 12. " * 3,
]
CONTEXT = 32
SPEC = SizeSpec(label="t", architecture="llama", hidden_size=32, layers=1, heads=2,
                intermediate_size=64)


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(TEXT * 5, vocab_size=300)


@pytest.fixture(scope="module")
def dataset(tokenizer):
    ids = [t for doc in TEXT * 8 for t in tokenizer(doc)["input_ids"]]
    blocks = [ids[i:i + CONTEXT] for i in range(0, len(ids) - CONTEXT, CONTEXT)]
    return [{"input_ids": torch.tensor(b), "labels": torch.tensor(b)} for b in blocks]


def _train(tokenizer, dataset, tmp_path, callbacks, name):
    """20 steps with attention dropout on (so RNG use during the hook would show), saving
    every 5."""
    config = model_config(SPEC, vocab_size=len(tokenizer), context_length=CONTEXT,
                          bos_token_id=0, eos_token_id=0, pad_token_id=1)
    config.attention_dropout = 0.3
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    args = TrainingArguments(
        output_dir=str(tmp_path / name), per_device_train_batch_size=2, max_steps=20,
        save_strategy="steps", save_steps=5, save_only_model=True, logging_steps=1,
        learning_rate=3e-3, report_to=[], disable_tqdm=True, use_cpu=True, seed=7,
        dataloader_num_workers=0,
    )
    trainer = Trainer(model=model, args=args, train_dataset=dataset,
                      processing_class=tokenizer, callbacks=callbacks)
    trainer.train()
    return [row["loss"] for row in trainer.state.log_history if "loss" in row]


def test_callback_stores_one_unit_per_save_and_keeps_losses(tokenizer, dataset, tmp_path):
    validation = ValidationSet("tiny", tuple(TEXT[:2]))
    callback = TrackerCallback(tmp_path / "store", validation=validation, family="run",
                               size="tiny", tokens_per_step=2 * CONTEXT)
    with_hook = _train(tokenizer, dataset, tmp_path, [callback], "with")
    without = _train(tokenizer, dataset, tmp_path, [], "without")

    assert len(with_hook) == 20
    assert with_hook == without  # exactly, step for step
    records = RunStore(tmp_path / "store").records()
    assert sorted(r["step"] for r in records) == [5, 10, 15, 20]
    assert {r["task"] for r in records} == {"validation"}
    assert [r["tokens_seen"] for r in sorted(records, key=lambda r: r["step"])] == \
        [5 * 64, 10 * 64, 15 * 64, 20 * 64]
    assert all(r["location"].endswith(f"checkpoint-{r['step']}") for r in records)
    assert len(callback.results) == 4


def test_a_callback_that_leaves_rng_used_would_change_the_losses(tokenizer, dataset, tmp_path):
    """The control for the test above: dropout makes the losses depend on the RNG."""

    class Careless(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            torch.rand(10)

    careless = _train(tokenizer, dataset, tmp_path, [Careless()], "careless")
    assert careless[:5] == _train(tokenizer, dataset, tmp_path, [], "clean")[:5]
    assert careless != _train(tokenizer, dataset, tmp_path, [], "clean2")


def test_callback_every_n_steps(tokenizer, dataset, tmp_path):
    validation = ValidationSet("tiny", tuple(TEXT[:1]))
    callback = TrackerCallback(tmp_path / "store", validation=validation, every=10)
    _train(tokenizer, dataset, tmp_path, [callback], "every")
    assert sorted(r["step"] for r in RunStore(tmp_path / "store").records()) == [10, 20]
    assert [result.checkpoint.step for result in callback.results] == [10, 20]


def test_callback_finds_the_tokenizer_inside_the_trainers_column_removing_collator(
        tokenizer, dataset, tmp_path):
    """A dataset that is not a datasets.Dataset: the Trainer wraps the collator in its
    RemoveColumnsCollator, and the callback looks through it."""
    config = model_config(SPEC, vocab_size=len(tokenizer), context_length=CONTEXT,
                          bos_token_id=0, eos_token_id=0, pad_token_id=1)
    args = TrainingArguments(output_dir=str(tmp_path / "out"), per_device_train_batch_size=2,
                             max_steps=2, save_steps=2, report_to=[], disable_tqdm=True,
                             use_cpu=True, save_only_model=True)
    callback = TrackerCallback(tmp_path / "store", validation=ValidationSet("tiny", TEXT[:1]))
    trainer = Trainer(model=LlamaForCausalLM(config), args=args,
                      train_dataset=[{"input_ids": row["input_ids"]} for row in dataset],
                      data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
                      callbacks=[callback])
    trainer.train()
    assert [r["step"] for r in RunStore(tmp_path / "store").records()] == [2]


def test_every_must_be_save_or_positive():
    with pytest.raises(ValueError, match="every"):
        TrackerCallback("runs/x", validation="v.jsonl", every=0)


def test_evaluate_model_restores_mode_and_rng_even_on_error(tokenizer, tmp_path):
    model = build_model(SPEC, vocab_size=len(tokenizer), context_length=CONTEXT, seed=0)
    model.train()

    class Broken:
        name, version = "broken", "1"

        def identity(self):
            return {"task": "broken"}

        def evaluate(self, lm, settings):
            assert not lm.model.training and not torch.is_grad_enabled()
            torch.rand(3), np.random.rand(), random.random()  # consume every RNG
            raise RuntimeError("boom")

    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    expected = (torch.rand(1).item(), np.random.rand(), random.random())
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    with pytest.raises(RuntimeError, match="boom"):
        evaluate_model(model, tokenizer, step=3, run_dir=tmp_path, validation=Broken())
    assert model.training
    assert (torch.rand(1).item(), np.random.rand(), random.random()) == expected


def test_evaluate_model_scores_in_float32_under_autocast(tokenizer, tmp_path):
    model = build_model(SPEC, vocab_size=len(tokenizer), context_length=CONTEXT, seed=0)
    validation = ValidationSet("tiny", tuple(TEXT[:2]))
    plain = evaluate_model(model, tokenizer, step=1, run_dir=tmp_path / "a", validation=validation)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = evaluate_model(model, tokenizer, step=1, run_dir=tmp_path / "b",
                               validation=validation)
    assert plain.computed == 1 and mixed.computed == 1
    assert mixed.scores["validation"] == plain.scores["validation"]


def test_evaluate_model_does_nothing_off_the_main_process(tokenizer, tmp_path, monkeypatch):
    model = build_model(SPEC, vocab_size=len(tokenizer), context_length=CONTEXT, seed=0)
    monkeypatch.setattr(hooks, "is_main_process", lambda: False)
    result = evaluate_model(model, tokenizer, step=1, run_dir=tmp_path,
                            validation=ValidationSet("tiny", ("some text",)))
    assert result is None
    assert RunStore(tmp_path).records() == []


def test_second_call_recomputes_nothing(tokenizer, tmp_path):
    model = build_model(SPEC, vocab_size=len(tokenizer), context_length=CONTEXT, seed=0)
    validation = ValidationSet("tiny", tuple(TEXT[:2]))
    first = evaluate_model(model, tokenizer, step=2, run_dir=tmp_path, validation=validation,
                           tasks=["arithmetic:add:1:n=5"], tokens_seen=128)
    again = evaluate_model(model, tokenizer, step=2, run_dir=tmp_path, validation=validation,
                           tasks=["arithmetic:add:1:n=5"], tokens_seen=128)
    assert first.computed == 2 and again.computed == 0
    assert again.scores == first.scores
    assert set(first.scores["arithmetic:add:1:n=5"]) >= {"exact_match", "target_nll"}


def test_untouched_training_restores_train_mode():
    layer = torch.nn.Linear(2, 2).train()
    with untouched_training(layer):
        assert not layer.training
    assert layer.training
