"""The ladder's generated abilities: in-context copying, addition as multiple choice, and
their place in the training mixture (trained in the tasks' format, test problems held out)."""

from __future__ import annotations

import numpy as np
import pytest

from tracker.errors import TrackerError
from tracker.tasks import resolve_tasks
from tracker.tasks.examples import GenerativeExample, MultipleChoiceExample
from tracker.tasks.generators import copy_examples, parse_copy_spec
from tracker.train.config import MixtureConfig, ProblemSpec
from tracker.train.mixture import arithmetic_texts, held_out_prompts, mixture_validation
from tracker.train.tokenizer import train_tokenizer


def test_copy_problems_are_distinct_letters_whose_answer_is_the_prompt():
    examples = copy_examples(8, 50, seed=3)
    for example in examples:
        letters = example.prompt.removeprefix("Copy: ").removesuffix("\nA:").split(" ")
        assert len(letters) == len(set(letters)) == 8
        assert all(len(letter) == 1 and letter.islower() for letter in letters)
        assert example.targets == (" " + " ".join(letters),)
    assert len({e.prompt for e in examples}) == 50
    assert copy_examples(8, 50, seed=3) == examples
    assert copy_examples(8, 50, seed=4) != examples


def test_copy_task_names_and_errors():
    [task] = resolve_tasks(["copy:5:n=7:seed=9"])
    assert task.name == "copy:5:n=7:seed=9" and task.kind == "generative"
    assert len(task.examples()) == 7
    assert parse_copy_spec("copy:8").name == "copy:8"
    [registered] = resolve_tasks(["copy:8"])
    assert len(registered.examples()) == 1000
    for bad in ("copy:x", "copy:8:k=2", "copy:27"):
        with pytest.raises(TrackerError, match="copy"):
            resolve_tasks([bad])[0].examples()


def test_addition_as_multiple_choice_differs_in_the_tens_digit():
    [task] = resolve_tasks(["arithmetic:add:2:choices=4:n=300"])
    [generative] = resolve_tasks(["arithmetic:add:2:n=300"])
    assert task.kind == "multiple_choice" and task.name == "arithmetic:add:2:n=300:choices=4"
    answers_seen = set()
    for question, problem in zip(task.examples(), generative.examples(), strict=True):
        assert isinstance(question, MultipleChoiceExample)
        assert isinstance(problem, GenerativeExample)
        assert question.prompt == problem.prompt
        assert question.choices[question.answer] == problem.targets[0]
        values = [int(choice) for choice in question.choices]
        assert len(set(values)) == 4 and min(values) >= 0
        assert {v % 10 for v in values} == {values[question.answer] % 10}
        answers_seen.add(question.answer)
    assert answers_seen == {0, 1, 2, 3}  # the answer's position is shuffled
    with pytest.raises(TrackerError, match="choices=K"):
        resolve_tasks(["arithmetic:add:2:choices=1"])


def test_mixture_holds_copying_and_addition_and_never_a_test_problem():
    tasks = resolve_tasks(["copy:8:n=300", "arithmetic:add:2:choices=4:n=300"])
    held_out = held_out_prompts(tasks)
    assert held_out == {e.prompt for task in tasks for e in task.examples()}
    assert len(held_out) > 590 and all(p.endswith("\nA:") for p in held_out)
    specs = [ProblemSpec(task="arithmetic:add:2", weight=2), ProblemSpec(task="copy:3", weight=1)]
    texts = arithmetic_texts(specs, 3000, rng=np.random.default_rng(0), held_out_prompts=held_out)
    copies = [t for t in texts if t.startswith("Copy: ")]
    assert 800 < len(copies) < 1200 and len(texts) > 2900
    copy_held_out = held_out_prompts(resolve_tasks(["copy:3:n=500"]))
    texts = arithmetic_texts(specs, 3000, rng=np.random.default_rng(0),
                             held_out_prompts=copy_held_out)
    assert not {t.split("\nA:")[0] + "\nA:" for t in texts} & copy_held_out


def test_mixture_validation_without_problems_is_the_text():
    tokenizer = train_tokenizer(["some words here and there"] * 50, vocab_size=300)
    documents, prompts = mixture_validation(["a text", "another"], tokenizer,
                                            MixtureConfig(arithmetic_fraction=0.0), seed=1)
    assert documents == ["a text", "another"] and prompts == set()


def test_reversed_addition_writes_the_answer_least_significant_digit_first():
    """`:reversed` (Lee et al. 2023's reverse format): same problems and prompts as the plain
    task, the answer's digits reversed, checked against Python's own sum; the multiple-choice
    twin's choices are reversed too and still differ from the answer in the tens place only."""
    [plain, reversed_, choices] = resolve_tasks(
        ["arithmetic:add:2:n=200", "arithmetic:add:2:reversed:n=200",
         "arithmetic:add:2:reversed:n=200:choices=4"])
    assert reversed_.name == "arithmetic:add:2:reversed:n=200"
    for p, r, q in zip(plain.examples(), reversed_.examples(), choices.examples(), strict=True):
        assert p.prompt == r.prompt == q.prompt
        a, b = (int(x) for x in p.prompt.removeprefix("Q: What is ").split("?")[0]
                .split(" plus "))
        assert r.targets == (" " + str(a + b)[::-1],) and p.targets == (f" {a + b}",)
        assert q.choices[q.answer] == r.targets[0]
        values = [int(choice.strip()[::-1]) for choice in q.choices]
        assert {v % 10 for v in values} == {(a + b) % 10}
        assert len(set(values)) == 4
    config = ProblemSpec(task="arithmetic:add:2:reversed")
    texts = arithmetic_texts([config], 50, rng=np.random.default_rng(0))
    for text in texts:
        question, answer = text.split("\nA: ")
        a, b = (int(x) for x in question.removeprefix("Q: What is ").rstrip("?").split(" plus "))
        assert answer == str(a + b)[::-1]
    with pytest.raises(TrackerError, match="reversed"):
        resolve_tasks(["arithmetic:add:2:backwards"])
