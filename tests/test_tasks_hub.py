"""Hub tasks rendered offline from small local fixtures shaped like the datasets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.helpers_tasks import encode_pair, reference_logprob, tiny_lm
from tracker.cli import main
from tracker.errors import TrackerError
from tracker.evals.interface import EvalSettings
from tracker.tasks import hub

MMLU = {"question": " What is 2+2? ", "subject": "elementary_mathematics",
        "choices": ["3", "4", "5", "6"], "answer": 1}
HELLASWAG = {"activity_label": "Removing ice", "ctx_a": "A man scrapes a car.",
             "ctx_b": "then, he", "endings": ["drives [title] away.", "sings.", "eats.", "runs."],
             "label": "0"}
ARC = {"id": "Q1", "question": "Which is a gas?", "answerKey": "C",
       "choices": {"text": ["rock", "water", "steam"], "label": ["A", "B", "C"]}}
PIQA = {"goal": "Open a jar", "sol1": "twist the lid", "sol2": "eat the lid", "label": 0}
SCIQ = {"support": "  Plants use light.", "question": "What do plants use?",
        "distractor1": "sound", "distractor2": "heat", "distractor3": "wind",
        "correct_answer": "light"}
LAMBADA = {"text": "she opened the door and saw her old friend"}


def test_mmlu_prompt_is_lm_evals():
    example = hub.mmlu_example(MMLU, 0)
    assert example.context() == (
        "The following are multiple choice questions (with answers) about elementary "
        "mathematics.\n\nWhat is 2+2?\nA. 3\nB. 4\nC. 5\nD. 6\nAnswer:")
    assert example.continuations() == (" A", " B", " C", " D") and example.answer == 1


def test_hellaswag_preprocessing():
    example = hub.hellaswag_example(HELLASWAG, 0)
    assert example.context() == "Removing ice: A man scrapes a car. Then, he"
    assert example.choices[0] == "drives. away." and example.answer == 0


def test_arc_piqa_sciq_prompts():
    arc = hub.arc_example(ARC, 0)
    assert arc.context() == "Question: Which is a gas?\nAnswer:" and arc.answer == 2
    assert arc.continuations()[2] == " steam" and arc.example_id == "Q1"
    piqa = hub.piqa_example(PIQA, 0)
    assert piqa.context() == "Question: Open a jar\nAnswer:" and piqa.choices[1] == "eat the lid"
    sciq = hub.sciq_example(SCIQ, 0)
    assert sciq.context() == "Plants use light.\nQuestion: What do plants use?\nAnswer:"
    assert sciq.choices[sciq.answer] == "light"


def test_lambada_scores_the_last_word():
    example = hub.lambada_example(LAMBADA, 0)
    assert example.context() == "she opened the door and saw her old"
    assert example.targets == (" friend",)


@pytest.mark.parametrize("spec", hub.HUB_TASKS, ids=lambda s: s.name)
def test_every_hub_task_evaluates_from_local_files(tmp_path, spec):
    fixture = {"mmlu": MMLU, "hellaswag": HELLASWAG, "arc_easy": ARC, "arc_challenge": ARC,
               "piqa": PIQA, "sciq": SCIQ, "lambada": LAMBADA}[spec.name]
    data = tmp_path / f"{spec.name}.jsonl"
    data.write_text(json.dumps(fixture) + "\n" + json.dumps(fixture) + "\n")
    task = hub.hub_task(spec, data_files=str(data))
    assert task.identity()["source"]["dataset"] == spec.path
    lm = tiny_lm()
    result = task.evaluate(lm, EvalSettings(batch_size=4, progress=False))
    assert result.examples.shape[0] == 2
    if spec.name == "lambada":  # no generation: NLL and greedy match only
        assert {s.metric for s in result.scores} == set(spec.metrics)
        return
    # values, not only shapes: each choice scored by an unbatched reference forward
    for row, example in zip(result.examples.itertuples(), task.examples(), strict=True):
        logprobs = np.array([reference_logprob(lm, *encode_pair(lm.tokenizer, example.context(),
                                                                choice))
                             for choice in example.continuations()])
        probabilities = np.exp(logprobs - logprobs.max())
        probabilities /= probabilities.sum()
        assert row.accuracy == float(np.argmax(logprobs) == example.answer)
        assert row.p_correct == pytest.approx(probabilities[example.answer], abs=1e-4)


def test_offline_hub_task_fails_with_one_line(tmp_path):
    task = hub.hub_task(hub.HUB_TASKS[0], data_files=str(tmp_path / "missing.jsonl"))
    with pytest.raises(TrackerError, match="cannot load mmlu") as caught:
        task.examples()
    assert "\n" not in str(caught.value)


def test_cli_lists_and_shows_tasks(tmp_path, capsys):
    assert main(["tasks"]) == 0
    listing = capsys.readouterr().out
    assert "mmlu" in listing and "arithmetic:add:2" in listing
    data = tmp_path / "yn.jsonl"
    data.write_text(json.dumps({"prompt": "Sky blue?", "choices": [" yes", " no"],
                                "answer": 0}) + "\n")
    assert main(["tasks", "show", str(data)]) == 0
    shown = capsys.readouterr().out
    assert "|Sky blue?|" in shown and "* choice 0: ' yes'" in shown
    assert main(["tasks", "show", "arithmetic:add:2:bare"]) == 0
    assert shown.count("--- example") == 1 and capsys.readouterr().out.count("--- example") == 2
    assert main(["tasks", "show", "mmlx"]) == 2
    assert "did you mean 'mmlu'" in capsys.readouterr().err
