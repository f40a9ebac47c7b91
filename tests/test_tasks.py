"""Task sources, rendering, bad input (one clear line each) and evaluation end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import bigbench_dir
from tracker.errors import TrackerError
from tracker.evals.interface import EvalSettings
from tracker.tasks import arithmetic_examples, example_text, resolve_tasks
from tracker.tasks.examples import GenerativeExample, MultipleChoiceExample
from tracker.tasks.generators import parse_spec

MC_LINES = [
    {"prompt": "Q: Is the sky blue?\nA:", "choices": [" True", " False"], "answer": 0},
    {"prompt": "Q: Is grass red?\nA:", "choices": [" True", " False"], "answer": 1, "id": "g"},
    {"prompt": "Q: 2+2?\nA:", "choices": [" 3", " 4", " 5"], "answer": 1},
]
GEN_LINES = [
    {"prompt": "80+29=", "target": "109"},
    {"prompt": "7*6=", "target": ["42", "forty-two"], "stop": ["\n", "."], "max_new_tokens": 4},
]


def write_jsonl(path: Path, records) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n"
                            for r in records))
    return path


def write_bigbench(directory: Path, data: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "task.json").write_text(json.dumps(data))
    return directory / "task.json"



def test_jsonl_multiple_choice(tmp_path):
    [task] = resolve_tasks([str(write_jsonl(tmp_path / "yesno.jsonl", MC_LINES))])
    assert task.name == "yesno" and task.kind == "multiple_choice"
    first, second, _ = task.examples()
    assert first == MultipleChoiceExample("0", "Q: Is the sky blue?\nA:", (" True", " False"), 0)
    assert second.example_id == "g"


def test_jsonl_generative_defaults(tmp_path):
    [task] = resolve_tasks([str(write_jsonl(tmp_path / "sums.jsonl", GEN_LINES))])
    first, second = task.examples()
    assert first == GenerativeExample("0", "80+29=", ("109",), ("\n",), 32)
    assert second.targets == ("42", "forty-two") and second.stop == ("\n", ".")
    assert second.max_new_tokens == 4


def test_identity_is_json_and_follows_content(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", MC_LINES)
    before = resolve_tasks([str(path)])[0].identity()
    json.dumps(before)
    write_jsonl(path, MC_LINES[:2])
    after = resolve_tasks([str(path)])[0].identity()
    assert before["source"]["sha256"] != after["source"]["sha256"]
    assert resolve_tasks([str(path)], num_fewshot=1)[0].identity()["num_fewshot"] == 1


@pytest.mark.parametrize(("records", "message"), [
    (["{not json"], r"bad\.jsonl:1: not valid JSON"),
    ([MC_LINES[0], '{"prompt": "x", "choices": [" a"', MC_LINES[1]], r"bad\.jsonl:2: not valid"),
    ([{"prompt": "Q", "choices": [" a"], "answer": 0}], "at least two choices, got 1"),
    ([{"prompt": "Q", "choices": [" a", " b"], "answer": 2}], "answer index 2 is out of range"),
    ([{"prompt": "Q", "target": ""}], "empty target"),
    ([{"prompt": "Q", "target": []}], "'target' must be a string or a non-empty list"),
    ([{"prompt": "Q", "choices": [" a", " b"], "answr": 0}], "did you mean 'answer'"),
    ([MC_LINES[0], GEN_LINES[0]], "mixes multiple-choice and generative"),
    ([], "no examples"),
])
def test_jsonl_bad_input_is_one_line(tmp_path, records, message):
    path = write_jsonl(tmp_path / "bad.jsonl", records)
    with pytest.raises(TrackerError, match=message) as caught:
        resolve_tasks([str(path)])
    assert "\n" not in str(caught.value)


def test_bigbench_rendering_multiple_choice(tmp_path):
    path = write_bigbench(tmp_path / "toy", {
        "name": "toy", "task_prefix": "Answer.\n", "example_input_prefix": "\nIn: ",
        "example_output_prefix": "\nOut: ", "choice_prefix": "\n - ",
        "examples": [{"input": "sky?", "target_scores": {"blue": 1, "red": 0}}]})
    [task] = resolve_tasks([str(path)])
    [example] = task.examples()
    assert example.choices == ("blue", "red") and example.answer == 0
    assert example.context() in ("Answer.\n\nIn: sky?\n - blue\n - red\nOut: ",
                                 "Answer.\n\nIn: sky?\n - red\n - blue\nOut: ")


def test_bigbench_defaults_and_generative(tmp_path):
    path = write_bigbench(tmp_path / "gen", {
        "output_regex": r"\d+", "stop_string": ".",
        "examples": [{"input": "What is 1 plus 1?", "target": "2"}]})
    [task] = resolve_tasks([str(path)])
    [example] = task.examples()
    assert task.kind == "generative" and task.name == "gen"
    assert example.context() == "\nQ: What is 1 plus 1?\nA: "
    assert example.stop == (".",) and example.output_regex == r"\d+"


def test_bigbench_append_choices_false_and_kind_override(tmp_path):
    data = {"append_choices_to_input": False, "preferred_score": "exact_str_match",
            "examples": [{"input": "1+1", "target": "2", "target_scores": {"2": 1, "3": 0}}]}
    path = write_bigbench(tmp_path / "both", data)
    assert resolve_tasks([str(path)])[0].kind == "generative"
    [mc] = resolve_tasks([f"{path}#multiple_choice"])
    assert mc.kind == "multiple_choice" and mc.name == "both#multiple_choice"
    assert mc.examples()[0].context() == "\nQ: 1+1\nA: "


def test_bigbench_directory_of_subtasks(tmp_path):
    write_bigbench(tmp_path / "parent", {"name": "parent"})
    for sub in ("b_sub", "a_sub"):
        write_bigbench(tmp_path / "parent" / sub, {
            "name": sub, "examples": [{"input": "x", "target_scores": {"y": 1, "z": 0}}]})
    names = [task.name for task in resolve_tasks([str(tmp_path / "parent")])]
    assert names == ["parent/a_sub", "parent/b_sub"]


@pytest.mark.parametrize(("data", "message"), [
    ({"name": "empty"}, "task.json has no examples"),
    ({"examples": []}, "task.json has no examples"),
    ({"examples": [{"input": "x", "target_scores": {"only": 1}}]}, "at least two choices"),
    ({"examples": [{"input": "x", "target": ""}]}, "empty target"),
    ({"examples": [{"target": "1"}]}, "needs an 'input' string"),
])
def test_bigbench_bad_input_is_one_line(tmp_path, data, message):
    path = write_bigbench(tmp_path / "bad", data)
    with pytest.raises(TrackerError, match=message) as caught:
        resolve_tasks([str(path)])
    assert "\n" not in str(caught.value)


def test_unknown_task_name_suggests_the_closest():
    with pytest.raises(TrackerError, match="unknown task 'hellaswg' \\(did you mean 'hellaswag'"):
        resolve_tasks(["hellaswg"])
    with pytest.raises(TrackerError, match="does not exist"):
        resolve_tasks(["no/such/file.jsonl"])


def test_arithmetic_generator_is_seeded_and_worded():
    bare = arithmetic_examples("add", 2, 50, seed=7, wording="bare")
    assert bare == arithmetic_examples("add", 2, 50, seed=7, wording="bare")
    assert bare != arithmetic_examples("add", 2, 50, seed=8, wording="bare")
    for example in bare:
        a, b = example.prompt.removesuffix("=").split("+")
        assert len(a) == len(b) == 2 and int(example.targets[0]) == int(a) + int(b)
    [worded] = arithmetic_examples("mul", 3, 1, seed=7)
    assert worded.prompt.startswith("Q: What is ") and " times " in worded.prompt
    assert example_text(worded) == worded.prompt + worded.targets[0]


def test_arithmetic_answer_digits_fix_the_target_length():
    examples = arithmetic_examples("add", 2, 40, seed=1, answer_digits=3)
    assert all(len(e.targets[0].strip()) == 3 for e in examples)
    with pytest.raises(TrackerError, match="answer_digits"):
        arithmetic_examples("add", 1, 5, seed=1, answer_digits=4)


def test_arithmetic_specs_parse_and_round_trip():
    spec = parse_spec("arithmetic:sub:3:bare:n=20:answer_digits=2")
    assert (spec.operation, spec.digits, spec.wording, spec.n, spec.answer_digits) == \
        ("sub", 3, "bare", 20, 2)
    assert parse_spec(spec.name) == spec
    with pytest.raises(TrackerError, match="bad generator"):
        parse_spec("arithmetic:div:2")
    [task] = resolve_tasks(["arithmetic:mul:1:n=10"])
    assert task.kind == "generative" and len(task.examples()) == 10


def test_fewshot_is_seeded_and_never_shows_the_query(tmp_path):
    records = [{"prompt": f"Q{i}:", "choices": [" a", " b"], "answer": i % 2} for i in range(6)]
    path = write_jsonl(tmp_path / "shots.jsonl", records)
    [task] = resolve_tasks([str(path)], num_fewshot=2, seed=3)
    first = task.examples()
    assert first == resolve_tasks([str(path)], num_fewshot=2, seed=3)[0].examples()
    assert task.examples(limit=2) == first[:2]
    for i, example in enumerate(first):
        shots = example.prompt.split("\n\n")
        assert len(shots) == 3 and shots[-1] == f"Q{i}:"
        assert all(not shot.startswith(f"Q{i}:") for shot in shots[:-1])
    with pytest.raises(TrackerError, match="few-shot"):
        resolve_tasks([str(path)], num_fewshot=6)[0].examples()


def test_multiple_choice_task_evaluates_to_rows(tmp_path, lm):
    [task] = resolve_tasks([str(write_jsonl(tmp_path / "mc.jsonl", MC_LINES))])
    result = task.evaluate(lm, EvalSettings(batch_size=4, progress=False))
    assert list(result.examples.columns) == ["example_id", "accuracy", "accuracy_norm",
                                             "p_correct", "brier", "logprob_correct",
                                             "logprob_correct_per_byte"]
    assert list(result.examples["example_id"]) == ["0", "g", "2"]
    brier = result.score("brier")
    assert brier.n == 3 and not brier.higher_is_better
    assert brier.chance == pytest.approx((0.5 + 0.5 + 2 / 3) / 3)
    assert result.extras["n_examples"] == 3


def test_generative_task_evaluates_to_rows(tmp_path, lm):
    [task] = resolve_tasks([str(write_jsonl(tmp_path / "gen.jsonl", GEN_LINES))])
    result = task.evaluate(lm, EvalSettings(batch_size=2, limit=2, progress=False))
    frame = result.examples
    assert set(frame.columns) == {"example_id", "exact_match", "token_edit_distance",
                                  "token_edit_distance_norm", "target_nll",
                                  "target_nll_per_token", "greedy_match", "generation"}
    assert (frame["target_nll"] > 0).all() and frame["generation"].map(type).eq(str).all()
    assert result.score("exact_match").chance == 0.0


def test_bundled_bigbench_tasks_render():
    tasks = resolve_tasks([str(bigbench_dir() / "navigate"), str(bigbench_dir() / "arithmetic")])
    assert tasks[0].name == "navigate" and tasks[0].kind == "multiple_choice"
    names = [t.name for t in tasks[1:]]
    assert "arithmetic/2_digit_addition" in names and len(names) == 20
    addition = tasks[1 + names.index("arithmetic/2_digit_addition")].examples(1)[0]
    assert addition.context() == "\nQ: What is 80 plus 29?\nA: "
    assert addition.targets == ("109",)
