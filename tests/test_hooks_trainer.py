"""TrackerCallback in a Trainer built the way the Hugging Face causal language modeling
guide builds one: text tokenized in a ``datasets.map``, the tokenizer only in the data
collator, no ``processing_class``. Configuration errors stop the run before its first step;
a scoring failure mid-run is recorded and never ends training."""

from __future__ import annotations

import logging
import math

import pandas as pd
import pytest
import torch
from datasets import Dataset
from transformers import (
    DataCollatorForLanguageModeling,
    Trainer,
    TrainingArguments,
    default_data_collator,
)

from tests.helpers import tiny_gpt_neox, tiny_llama, trained_tokenizer, write_jsonl
from tracker.cli import main
from tracker.errors import TrackerError
from tracker.evals.interface import EvalSettings, MetricScore, UnitResult
from tracker.hooks import TrackerCallback, evaluate_model
from tracker.store.run_store import RunStore

TEXT = [
    "In the beginning God created the heaven and the earth.",
    "A woman's best protection is a little money of her own.",
    "Godwin's Law: as a discussion grows longer, comparisons approach one.",
    "What is 12 plus 30? 42. What is 7 plus 5? 12.",
] * 4
BLOCK = 16
TASK = "arithmetic:add:1:n=5"


@pytest.fixture(scope="module")
def tokenizer():
    tokenizer = trained_tokenizer(TEXT, vocab_size=300)
    tokenizer.pad_token = tokenizer.eos_token  # as the guide does for GPT-style tokenizers
    return tokenizer


@pytest.fixture(scope="module")
def lm_dataset(tokenizer):
    """The guide's preprocessing: tokenize in a batched map, then concatenate and cut
    into blocks (labels are a copy of the inputs)."""

    def tokenize(batch):
        return tokenizer(batch["text"])

    def group_texts(batch):
        joined = {k: sum(batch[k], []) for k in batch}
        total = len(joined["input_ids"]) // BLOCK * BLOCK
        result = {k: [t[i:i + BLOCK] for i in range(0, total, BLOCK)] for k, t in joined.items()}
        result["labels"] = [list(ids) for ids in result["input_ids"]]
        return result

    dataset = Dataset.from_dict({"text": TEXT})
    tokenized = dataset.map(tokenize, batched=True, remove_columns=["text"])
    return tokenized.map(group_texts, batched=True)


@pytest.fixture
def validation(tmp_path):
    return write_jsonl(tmp_path / "val.jsonl", TEXT[:2])


def _trainer(tmp_path, model, dataset, collator, callback, **extra) -> Trainer:
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"), max_steps=4, save_steps=2, save_strategy="steps",
        per_device_train_batch_size=2, learning_rate=1e-3, logging_steps=1, report_to=[],
        use_cpu=True, disable_tqdm=True, dataloader_num_workers=0, save_only_model=True,
        seed=0,
    )
    return Trainer(model=model, args=args, train_dataset=dataset, data_collator=collator,
                   callbacks=[callback], **extra)


def _assert_scored_steps(run_dir, steps):
    records = RunStore(run_dir).records()
    assert sorted((r["step"], r["task"]) for r in records) == sorted(
        (step, task) for step in steps for task in ("validation", TASK))
    points = RunStore(run_dir).points()
    assert sorted(points["step"].unique()) == list(steps)
    assert all(math.isfinite(loss) for loss in points["loss"])


def test_tokenizer_found_in_the_data_collator(tokenizer, lm_dataset, validation, tmp_path):
    """The defect a user met: no processing_class, the tokenizer lives in the collator."""
    collator = DataCollatorForLanguageModeling(tokenizer=tokenizer, mlm=False)
    callback = TrackerCallback(tmp_path / "run", validation=validation, tasks=[TASK], limit=5)
    trainer = _trainer(tmp_path, tiny_gpt_neox(len(tokenizer)), lm_dataset, collator, callback)
    trainer.train()

    assert trainer.state.global_step == 4
    _assert_scored_steps(tmp_path / "run", [2, 4])
    assert RunStore(tmp_path / "run").failures() == {}
    assert [r.checkpoint.step for r in callback.results] == [2, 4]


def test_explicit_tokenizer_with_a_collator_that_has_none(tokenizer, lm_dataset, validation,
                                                          tmp_path):
    callback = TrackerCallback(tmp_path / "run", validation=validation, tasks=[TASK], limit=5,
                               tokenizer=tokenizer)
    trainer = _trainer(tmp_path, tiny_llama(len(tokenizer)), lm_dataset,
                       default_data_collator, callback)
    trainer.train()

    assert trainer.state.global_step == 4
    _assert_scored_steps(tmp_path / "run", [2, 4])


def _stack(rows):
    return {key: torch.tensor([row[key] for row in rows]) for key in rows[0]}


def test_no_tokenizer_anywhere_stops_before_the_first_step(tokenizer, lm_dataset, validation,
                                                          tmp_path):
    callback = TrackerCallback(tmp_path / "run", validation=validation, tasks=[TASK])
    trainer = _trainer(tmp_path, tiny_llama(len(tokenizer)), lm_dataset, _stack, callback)
    with pytest.raises(TrackerError, match="found no tokenizer.*tokenizer=") as raised:
        trainer.train()

    assert "\n" not in str(raised.value)
    assert trainer.state.global_step == 0
    assert not list((tmp_path / "out").glob("checkpoint-*"))
    assert not (tmp_path / "run").exists()


def test_a_missing_validation_file_stops_before_the_first_step(tokenizer, lm_dataset, tmp_path):
    missing = tmp_path / "nowhere" / "val.jsonl"
    callback = TrackerCallback(tmp_path / "run", validation=missing, tasks=[TASK])
    collator = DataCollatorForLanguageModeling(tokenizer=tokenizer, mlm=False)
    trainer = _trainer(tmp_path, tiny_llama(len(tokenizer)), lm_dataset, collator, callback)
    with pytest.raises(TrackerError, match="does not exist") as raised:
        trainer.train()

    assert str(missing) in str(raised.value)
    assert trainer.state.global_step == 0
    assert not list((tmp_path / "out").glob("checkpoint-*"))


def test_an_unknown_task_stops_before_the_first_step(tokenizer, lm_dataset, validation,
                                                     tmp_path):
    callback = TrackerCallback(tmp_path / "run", validation=validation, tasks=["arithmetc"])
    trainer = _trainer(tmp_path, tiny_llama(len(tokenizer)), lm_dataset, default_data_collator,
                       callback, processing_class=tokenizer)
    with pytest.raises(TrackerError, match="unknown task 'arithmetc'"):
        trainer.train()
    assert trainer.state.global_step == 0


class Flaky:
    """A task that raises while ``broken`` (a bug, or out of memory); same identity after."""

    name, version = "flaky", "1"

    def __init__(self) -> None:
        self.broken = True

    def identity(self):
        return {"task": "flaky", "version": "1"}

    def evaluate(self, lm, settings: EvalSettings) -> UnitResult:
        if self.broken:
            raise RuntimeError("boom: CUDA out of memory (simulated)")
        values = pd.Series([1.0, 0.0])
        return UnitResult("flaky", (MetricScore.from_values(
            "accuracy", values.to_numpy(), higher_is_better=True, chance=0.5),),
            pd.DataFrame({"example_id": ["0", "1"], "accuracy": values}))


def test_a_scoring_failure_is_recorded_and_training_goes_on(tokenizer, lm_dataset, validation,
                                                            tmp_path, caplog, capsys):
    flaky = Flaky()
    callback = TrackerCallback(tmp_path / "run", validation=validation, tasks=[TASK, flaky],
                               limit=5, size="tiny")
    collator = DataCollatorForLanguageModeling(tokenizer=tokenizer, mlm=False)
    model = tiny_llama(len(tokenizer))
    trainer = _trainer(tmp_path, model, lm_dataset, collator, callback,
                       processing_class=tokenizer)
    with caplog.at_level(logging.WARNING, logger="tracker.hooks"):
        trainer.train()

    assert trainer.state.global_step == 4
    assert sorted(p.name for p in (tmp_path / "out").glob("checkpoint-*")) == \
        ["checkpoint-2", "checkpoint-4"]
    store = RunStore(tmp_path / "run")
    failures = store.failures()
    assert sorted(f["label"] for f in failures.values()) == \
        ["run/tiny@step2 flaky", "run/tiny@step4 flaky"]
    assert all("RuntimeError: boom" in f["error"] for f in failures.values())
    _assert_scored_steps(tmp_path / "run", [2, 4])  # the other units of each step were stored
    warnings = [r for r in caplog.records if r.name == "tracker.hooks"]
    assert len(warnings) == 2 and all(r.levelno == logging.WARNING for r in warnings)
    assert "step 2" in warnings[0].getMessage() and "boom" in warnings[0].getMessage()
    assert all("\n" not in r.getMessage() for r in warnings)
    capsys.readouterr()
    assert main(["status", "--run", str(tmp_path / "run")]) == 0
    status = capsys.readouterr().out
    assert "2 failed" in status and "failed  run/tiny@step4 flaky: " in status

    # the recorded failures name the units a later successful scoring of the same saved
    # checkpoints stores (and so clears)
    flaky.broken = False
    for step in (2, 4):
        result = evaluate_model(model, tokenizer, step=step, run_dir=tmp_path / "run",
                                validation=validation, tasks=[TASK, flaky], size="tiny",
                                limit=5, location=str(tmp_path / "out" / f"checkpoint-{step}"))
        assert result is not None and result.computed == 1
    assert store.failures() == {}


def test_a_failing_validation_records_every_unit_of_the_step(tokenizer, lm_dataset, tmp_path,
                                                              caplog):
    """Nothing of the step is stored (the task after the validation loss was never reached):
    the failure records still carry the keys that evaluate_model stores under."""
    flaky = Flaky()
    callback = TrackerCallback(tmp_path / "run", validation=flaky, tasks=[TASK], every=3,
                               limit=5)
    collator = DataCollatorForLanguageModeling(tokenizer=tokenizer, mlm=False)
    model = tiny_llama(len(tokenizer))
    trainer = _trainer(tmp_path, model, lm_dataset, collator, callback)
    with caplog.at_level(logging.WARNING, logger="tracker.hooks"):
        trainer.train()

    assert trainer.state.global_step == 4
    store = RunStore(tmp_path / "run")
    failures = store.failures().values()
    assert sorted(f["label"] for f in failures) == [f"run/model@step3 {TASK}",
                                                     "run/model@step3 flaky"]
    assert all("RuntimeError: boom" in f["error"] for f in failures)
    assert store.records() == [] and callback.results == []
    assert len([r for r in caplog.records if r.name == "tracker.hooks"]) == 1
    flaky.broken = False
    evaluate_model(model, tokenizer, step=3, run_dir=tmp_path / "run", validation=flaky,
                   tasks=[TASK], limit=5)
    assert store.failures() == {} and len(store.records()) == 2
