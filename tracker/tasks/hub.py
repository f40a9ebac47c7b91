"""Hub datasets with the prompts lm-eval 0.4 uses (its task YAMLs, zero-shot).

Loaded with ``datasets.load_dataset`` when the task is evaluated (so listing and resolving
work offline); ``data_files`` points a task at local copies shaped like the hub dataset.
Choices are scored after lm-eval's ``target_delimiter`` (" "), and byte normalization
counts the choice without it, as lm-eval's ``acc_norm`` / ``acc_bytes`` do.

- mmlu (cais/mmlu "all", test): "The following are multiple choice questions (with
  answers) about {subject}.\\n\\n{question}\\nA. ..\\nB. ..\\nC. ..\\nD. ..\\nAnswer:",
  choices " A".." D".
- hellaswag (Rowan/hellaswag, validation): "{activity_label}: {ctx_a} {Ctx_b}" and the
  endings, cleaned as lm-eval's ``preprocess``.
- arc_easy, arc_challenge (allenai/ai2_arc, test): "Question: {question}\\nAnswer:".
- piqa (baber/piqa, validation): "Question: {goal}\\nAnswer:", choices sol1, sol2.
- sciq (allenai/sciq, test): "{support}\\nQuestion: {question}\\nAnswer:", choices the
  three distractors then the correct answer (gold index 3).
- lambada (EleutherAI/lambada_openai, test): the text without its last word; target
  " " + last word; reports target_nll and greedy_match (lm-eval's acc), no generation.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tracker.errors import TrackerError
from tracker.tasks.examples import Example, GenerativeExample, MultipleChoiceExample, TaskKind
from tracker.tasks.task import Task


def mmlu_example(doc: dict, index: int) -> Example:
    subject = str(doc.get("subject", "")).replace("_", " ")
    lines = [doc["question"].strip()] + [f"{letter}. {choice}" for letter, choice
                                         in zip("ABCD", doc["choices"], strict=True)]
    preamble = f"The following are multiple choice questions (with answers) about {subject}.\n\n"
    return MultipleChoiceExample(str(index), "\n".join(lines) + "\nAnswer:",
                                 ("A", "B", "C", "D"), int(doc["answer"]), " ", preamble)


def _hellaswag_clean(text: str) -> str:
    text = text.strip().replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    return text.replace("  ", " ")


def hellaswag_example(doc: dict, index: int) -> Example:
    context = doc["ctx_a"] + " " + doc["ctx_b"].capitalize()
    return MultipleChoiceExample(str(index), _hellaswag_clean(doc["activity_label"] + ": " +
                                                              context),
                                 tuple(_hellaswag_clean(e) for e in doc["endings"]),
                                 int(doc["label"]), " ")


def arc_example(doc: dict, index: int) -> Example:
    labels = list(doc["choices"]["label"])
    return MultipleChoiceExample(str(doc.get("id", index)),
                                 f"Question: {doc['question']}\nAnswer:",
                                 tuple(doc["choices"]["text"]), labels.index(doc["answerKey"]),
                                 " ")


def piqa_example(doc: dict, index: int) -> Example:
    return MultipleChoiceExample(str(index), f"Question: {doc['goal']}\nAnswer:",
                                 (doc["sol1"], doc["sol2"]), int(doc["label"]), " ")


def sciq_example(doc: dict, index: int) -> Example:
    prompt = f"{doc['support'].lstrip()}\nQuestion: {doc['question']}\nAnswer:"
    choices = (doc["distractor1"], doc["distractor2"], doc["distractor3"], doc["correct_answer"])
    return MultipleChoiceExample(str(index), prompt, choices, 3, " ")


def lambada_example(doc: dict, index: int) -> Example:
    words = doc["text"].split(" ")
    return GenerativeExample(str(index), " ".join(words[:-1]), (" " + words[-1],))


@dataclass(frozen=True)
class HubSpec:
    """One hub task: where its rows live and how a row becomes an example."""

    name: str
    kind: TaskKind
    path: str
    config: str | None
    split: str
    convert: Callable[[dict, int], Example]
    description: str
    metrics: tuple[str, ...] | None = None


@dataclass(frozen=True)
class HubSource:
    """Rows from the hub (or from local ``data_files`` shaped like them), loaded lazily."""

    spec: HubSpec
    data_files: str | None = None

    def identity(self) -> dict[str, Any]:
        return {"format": "hub", "dataset": self.spec.path, "config": self.spec.config,
                "split": self.spec.split, "data_files": self.data_files}

    def load(self) -> tuple[Example, ...]:
        rows = self._rows()
        return tuple(self.spec.convert(dict(row), index) for index, row in enumerate(rows))

    def _rows(self) -> Any:
        import datasets

        try:
            if self.data_files is not None:
                return datasets.load_dataset("json", data_files=self.data_files, split="train")
            return datasets.load_dataset(self.spec.path, self.spec.config, split=self.spec.split)
        except Exception as error:  # noqa: BLE001 - any loader failure becomes one line
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise TrackerError(f"cannot load {self.spec.name} from the hub dataset "
                               f"{self.spec.path} (offline?): {first}") from error


def hub_task(spec: HubSpec, *, data_files: str | None = None, num_fewshot: int = 0,
             seed: int = 1234) -> Task:
    """A task over ``spec``'s dataset (or local ``data_files``)."""
    return Task(name=spec.name, kind=spec.kind, source=HubSource(spec, data_files),
                num_fewshot=num_fewshot, seed=seed, metrics=spec.metrics)


HUB_TASKS: tuple[HubSpec, ...] = (
    HubSpec("mmlu", "multiple_choice", "cais/mmlu", "all", "test", mmlu_example,
            "MMLU, 57 subjects, 4 choices (lm-eval prompt)"),
    HubSpec("hellaswag", "multiple_choice", "Rowan/hellaswag", None, "validation",
            hellaswag_example, "HellaSwag sentence completion, 4 endings"),
    HubSpec("arc_easy", "multiple_choice", "allenai/ai2_arc", "ARC-Easy", "test", arc_example,
            "AI2 ARC Easy science questions"),
    HubSpec("arc_challenge", "multiple_choice", "allenai/ai2_arc", "ARC-Challenge", "test",
            arc_example, "AI2 ARC Challenge science questions"),
    HubSpec("piqa", "multiple_choice", "baber/piqa", None, "validation", piqa_example,
            "PIQA physical commonsense, 2 solutions"),
    HubSpec("sciq", "multiple_choice", "allenai/sciq", None, "test", sciq_example,
            "SciQ science questions with a support passage, 4 choices"),
    HubSpec("lambada", "generative", "EleutherAI/lambada_openai", "default", "test",
            lambada_example, "LAMBADA (OpenAI) last word: target NLL and greedy match",
            ("target_nll", "target_nll_per_token", "greedy_match")),
)
