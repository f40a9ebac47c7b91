"""What a task is made of: examples, where they come from, and their shared checks.

A task's examples come from an :class:`ExampleSource` (a JSONL file, a BIG-bench task.json,
a generator, a hub dataset) whose ``identity()`` says what determines them (for files: a
hash of the content). The :class:`~tracker.tasks.task.Task` that evaluates them is in
:mod:`tracker.tasks.task`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from tracker.errors import TrackerError
from tracker.lm.requests import DEFAULT_MAX_NEW_TOKENS, DEFAULT_STOP

TaskKind = Literal["multiple_choice", "generative"]


@dataclass(frozen=True)
class MultipleChoiceExample:
    """One question: each choice is scored as ``delimiter + choice`` after ``context()``.

    ``context()`` is ``preamble + prompt``: the preamble (BIG-bench's ``task_prefix``,
    MMLU's subject line) comes once, before any few-shot demonstrations.

    ``delimiter`` is "" for JSONL and BIG-bench (choices are scored exactly as written) and
    " " for the hub tasks (lm-eval's ``target_delimiter``); byte normalization counts the
    bytes of ``choice`` alone, as lm-eval does.
    """

    example_id: str
    prompt: str
    choices: tuple[str, ...]
    answer: int
    delimiter: str = ""
    preamble: str = ""

    def context(self) -> str:
        return self.preamble + self.prompt

    def continuations(self) -> tuple[str, ...]:
        return tuple(self.delimiter + choice for choice in self.choices)

    def answer_text(self) -> str:
        """What a few-shot demonstration shows after the prompt."""
        return self.delimiter + self.choices[self.answer]


@dataclass(frozen=True)
class GenerativeExample:
    """A prompt to continue greedily after ``context()``; any of ``targets`` is correct.

    ``output_regex`` (optional) extracts the answer from the generation before exact match
    (BIG-bench's convention: the first match).
    """

    example_id: str
    prompt: str
    targets: tuple[str, ...]
    stop: tuple[str, ...] = DEFAULT_STOP
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    output_regex: str | None = None
    preamble: str = ""

    def context(self) -> str:
        return self.preamble + self.prompt

    def answer_text(self) -> str:
        return self.targets[0]


Example = MultipleChoiceExample | GenerativeExample


class ExampleSource(Protocol):
    """Where a task's examples come from; ``load`` may be slow (a hub download)."""

    def identity(self) -> dict[str, Any]: ...

    def load(self) -> tuple[Example, ...]: ...


@dataclass(frozen=True)
class LoadedExamples:
    """A source whose examples are already in memory (files parsed at resolve time)."""

    examples: tuple[Example, ...]
    description: dict[str, Any]

    def identity(self) -> dict[str, Any]:
        return dict(self.description)

    def load(self) -> tuple[Example, ...]:
        return self.examples


def check_choices(where: str, choices: Sequence[Any], answer: Any) -> None:
    """The shared checks of a multiple-choice question, as one-line errors."""
    if not isinstance(choices, list | tuple) or not all(isinstance(c, str) for c in choices):
        raise TrackerError(f"{where}: 'choices' must be a list of strings")
    if len(choices) < 2:
        raise TrackerError(f"{where}: a question needs at least two choices, got {len(choices)}")
    if isinstance(answer, bool) or not isinstance(answer, int):
        raise TrackerError(f"{where}: 'answer' must be an integer index into 'choices'")
    if not 0 <= answer < len(choices):
        raise TrackerError(f"{where}: answer index {answer} is out of range for "
                           f"{len(choices)} choices (0..{len(choices) - 1})")


def check_targets(where: str, targets: Sequence[Any]) -> tuple[str, ...]:
    """Targets as a tuple of non-empty strings, or a one-line error."""
    if not isinstance(targets, list | tuple) or not targets \
            or not all(isinstance(t, str) for t in targets):
        raise TrackerError(f"{where}: 'target' must be a string or a non-empty list of strings")
    if any(t.strip() == "" for t in targets):
        raise TrackerError(f"{where}: empty target; every target needs some text")
    return tuple(targets)
