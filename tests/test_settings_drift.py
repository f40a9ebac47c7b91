"""Settings drift: two `tracker eval` runs on one run directory that differ in one setting
(a task's prompt text, the validation text, the context length, the dtype, the few-shot
count) store new units beside the old ones, and `tracker fit --run` fits only the setting
the latest eval planned: the same thresholds as a run directory that holds that setting
alone. Without plan.json the choice is ambiguous and fit refuses in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import SAMPLE_DOCUMENTS, save_local_family, trained_tokenizer, write_jsonl
from tracker.cli import main

pytestmark = pytest.mark.slow
STEPS = (0, 1, 2)
SIZES = ("s1", "s2")
CHECKPOINTS = len(SIZES) * len(STEPS)
TASK = "choices"  # the JSONL task's name: its file's stem
# prompts longer than 16 tokens, so a context of 16 cuts them (from the left)
PREAMBLE = "Read the question below carefully and answer it with one word only, please. "
QUESTIONS = [("Is the sky blue?", [" yes", " no"], 0),
             ("Is fire cold?", [" yes", " no"], 1),
             ("Which is a number?", [" seven", " dog", " blue"], 0),
             ("The quick brown fox jumps over the lazy", [" dog", " cat"], 0),
             ("What is 2 + 2?", [" 3", " 4", " 5"], 1),
             ("Which word is a colour?", [" green", " table"], 0),
             ("Is ice cold?", [" yes", " no"], 0),
             ("Which animal barks?", [" dog", " fish"], 0)]


def write_task(path: Path, prompt: str = "Q: {q}\nA:") -> Path:
    path.write_text("".join(
        json.dumps({"prompt": PREAMBLE + prompt.format(q=q), "choices": c, "answer": a}) + "\n"
        for q, c, a in QUESTIONS))
    return path


@pytest.fixture(scope="module")
def family(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("drift") / "family"
    return save_local_family(root, trained_tokenizer(), sizes=SIZES, steps=STEPS,
                             max_positions=64)


# kind -> (extra arguments of the first run, of the second, a change to the inputs made
# between them, a word the second setting's label shows)
def change_prompt(inputs: Path) -> None:
    write_task(inputs / f"{TASK}.jsonl", prompt="Question: {q}\nAnswer:")


def change_validation(inputs: Path) -> None:
    write_jsonl(inputs / "validation.jsonl", list(reversed(SAMPLE_DOCUMENTS)) + ["More text."])


KINDS = {
    "prompt": ((), (), change_prompt, None),
    "validation": ((), (), change_validation, None),
    "context_length": ((), ("--context-length", "16"), None, "context=16"),
    "dtype": ((), ("--dtype", "bfloat16"), None, "dtype=bfloat16"),
    "num_fewshot": ((), ("--num-fewshot", "1"), None, "fewshot=1"),
}


def inputs_in(folder: Path) -> Path:
    folder.mkdir(parents=True)
    write_task(folder / f"{TASK}.jsonl")
    write_jsonl(folder / "validation.jsonl", SAMPLE_DOCUMENTS)
    return folder


def run_eval(family: Path, inputs: Path, run: Path, extra, capsys) -> str:
    capsys.readouterr()
    code = main(["eval", "--family", str(family), "--run", str(run), "--validation",
                 str(inputs / "validation.jsonl"), "--tasks", str(inputs / f"{TASK}.jsonl"),
                 "--device", "cpu", "--quiet", "--no-report", "--batch-size", "8", *extra])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def fit(run: Path, capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["fit", "--run", str(run), "--boot", "50"])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_changed_setting_is_new_units_and_never_mixed_in_a_fit(family, tmp_path, capsys,
                                                                  kind):
    first, second, change, label = KINDS[kind]
    inputs = inputs_in(tmp_path / "inputs")
    both, alone = tmp_path / "both", tmp_path / "alone"
    out = run_eval(family, inputs, both, first, capsys)
    assert f"computed {2 * CHECKPOINTS} units, 0 already stored" in out
    if change is not None:
        change(inputs)
    out = run_eval(family, inputs, both, second, capsys)
    # the changed setting is new units: all of them, or those of the one changed input
    new = CHECKPOINTS if kind in ("prompt", "validation", "num_fewshot") else 2 * CHECKPOINTS
    assert f"computed {new} units, {2 * CHECKPOINTS - new} already stored" in out
    run_eval(family, inputs, alone, second, capsys)

    code, err = fit(both, capsys)
    assert code == 0, err
    code, err = fit(alone, capsys)
    assert code == 0, err
    mixed = pd.read_csv(both / "thresholds.csv")
    single = pd.read_csv(alone / "thresholds.csv")
    assert set(mixed["task"]) == {TASK} and (mixed["n_points"] == CHECKPOINTS).all()
    pd.testing.assert_frame_equal(mixed, single)

    (both / "plan.json").unlink()  # nothing says which setting is current: refuse
    code, err = fit(both, capsys)
    assert code == 2 and err.count("\n") == 1 and err.startswith("tracker: error: ")
    assert "must not be mixed" in err and "--setting" in err
    if label is not None:
        assert label in err


def test_a_setting_label_names_its_validation_text():
    from tracker.store.settings import setting_of

    def identity(name):
        return {"checkpoint": {"step": 1}, "limit": None, "dtype": "float32",
                "evaluation": {"task": "validation", "validation": name, "sha256": name}}

    mixture, text = setting_of(identity("validation_mixture")), setting_of(identity("validation"))
    assert mixture.label == "limit=all dtype=float32 validation=validation_mixture"
    assert text.matches("validation=validation") and not mixture.matches("validation=validation")
