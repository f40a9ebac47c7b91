"""BIG-bench JSON tasks: ``task.json`` files and directories of subtasks.

Rendering, as BIG-bench's ``json_task.py`` (defaults in brackets)::

    context = task_prefix [""]
            + example_input_prefix ["\\nQ: "] + input
            + (choice_prefix ["\\n  choice: "] + choice_prefix.join(shuffled choices)
               if multiple choice and append_choices_to_input [true])
            + example_output_prefix ["\\nA: "]

Multiple choice (from ``target_scores``): each choice key is scored exactly as written
after the context (lm-eval moves the context's trailing space onto it); the gold choice is
the first with the highest score. The appended choice list is the sorted keys permuted by
``numpy.random.default_rng([seed, i])`` for example i. Generative (from ``target``, a string
or a list): greedy generation after the context, cut at ``stop_string`` if the task has
one, else at a newline; ``output_regex`` (first match) extracts the answer before exact
match. Few-shot demonstrations are joined by a single space (BIG-bench's separator) and
``task_prefix`` appears once, before them.

A task.json with both ``target`` and ``target_scores`` (e.g. arithmetic) is generative
when its ``preferred_score`` is a generative metric (``exact_str_match``, ``bleu``, ...),
else multiple choice; append ``#multiple_choice`` or ``#generative`` to the path to choose.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from tracker.errors import TrackerError, printable
from tracker.tasks.examples import (
    Example,
    GenerativeExample,
    LoadedExamples,
    MultipleChoiceExample,
    TaskKind,
    check_choices,
    check_targets,
)
from tracker.tasks.task import Task

GENERATIVE_SCORES = {"exact_str_match", "bleu", "rouge", "bleurt", "sequence_f1"}
DEFAULT_INPUT_PREFIX = "\nQ: "
DEFAULT_OUTPUT_PREFIX = "\nA: "
DEFAULT_CHOICE_PREFIX = "\n  choice: "
MAX_NEW_TOKENS = 32
# task.json keys whose value is text (None, where allowed, means "absent")
TEXT_KEYS = ("task_prefix", "example_input_prefix", "example_output_prefix", "choice_prefix")
OPTIONAL_TEXT_KEYS = ("stop_string", "output_regex")


def bigbench_tasks(
    path: Path, *, kind: TaskKind | None = None, num_fewshot: int = 0, seed: int = 1234
) -> list[Task]:
    """Tasks of a task.json, or of a directory (its task.json, else each subtask's)."""
    if path.is_dir():
        own = path / "task.json"
        if own.is_file() and "examples" in _read_json(own):
            return [bigbench_task(own, kind=kind, num_fewshot=num_fewshot, seed=seed)]
        subtasks = sorted(p.parent for p in path.glob("*/task.json"))
        if not subtasks:
            raise TrackerError(f"{path}: no task.json with examples here or in a subdirectory")
        return [bigbench_task(sub / "task.json", kind=kind, num_fewshot=num_fewshot, seed=seed)
                for sub in subtasks]
    return [bigbench_task(path, kind=kind, num_fewshot=num_fewshot, seed=seed)]


def bigbench_task(
    path: Path, *, kind: TaskKind | None = None, num_fewshot: int = 0, seed: int = 1234
) -> Task:
    """One task.json as a :class:`Task`, e.g. ``navigate`` or ``arithmetic/2_digit_addition``."""
    raw = _read_bytes(path)
    data = _read_json(path, raw)
    records = data.get("examples")
    if not isinstance(records, list) or not records:
        hint = " (for a task made of subtasks, pass its directory)" if path.name == "task.json" \
            else ""
        raise TrackerError(f"{path}: task.json has no examples{hint}")
    _check_text_keys(data, path)
    default_kind = _default_kind(data, records)
    name = _task_name(path, data) + (f"#{kind}" if kind and kind != default_kind else "")
    kind = kind or default_kind
    examples = tuple(_example(data, record, kind, index, seed, f"{path}: example {index}")
                     for index, record in enumerate(records))
    source = LoadedExamples(examples, {"format": "bigbench", "file": f"{name}/task.json",
                                       "sha256": hashlib.sha256(raw).hexdigest()})
    return Task(name=name, kind=kind, source=source, num_fewshot=num_fewshot, seed=seed,
                fewshot_separator=" ")


def _task_name(path: Path, data: dict) -> str:
    """``name`` from the file (else its directory), under the parent task for subtasks."""
    name = str(data.get("name") or path.parent.name).replace(":", "/")
    parent = path.parent.parent
    if (parent / "task.json").is_file() and "/" not in name:
        name = f"{parent.name}/{name}"
    return name


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise TrackerError(f"cannot read task file {path}: {error.strerror}") from error


def _read_json(path: Path, raw: bytes | None = None) -> dict:
    try:
        data = json.loads(raw if raw is not None else _read_bytes(path))
    except json.JSONDecodeError as error:
        raise TrackerError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") \
            from error
    except UnicodeDecodeError as error:
        raise TrackerError(f"{path}: not valid JSON (not UTF-8 text: byte {error.start} "
                           f"cannot be decoded)") from error
    if not isinstance(data, dict):
        raise TrackerError(f"{path}: expected a JSON object at the top level")
    return data


def _check_text_keys(data: dict, path: Path) -> None:
    for key in TEXT_KEYS + OPTIONAL_TEXT_KEYS:
        value = data.get(key)
        if key in data and not isinstance(value, str) \
                and not (value is None and key in OPTIONAL_TEXT_KEYS):
            raise TrackerError(f"{path}: '{key}' must be a string, got {type(value).__name__}")


def _default_kind(data: dict, records: list) -> TaskKind:
    has_scores = all(isinstance(r, dict) and "target_scores" in r for r in records)
    has_target = all(isinstance(r, dict) and "target" in r for r in records)
    preferred = data.get("preferred_score")
    generative = isinstance(preferred, str) and preferred in GENERATIVE_SCORES
    if has_scores and (not has_target or not generative):
        return "multiple_choice"
    return "generative"


def _example(data: dict, record: Any, kind: TaskKind, index: int, seed: int,
             where: str) -> Example:
    if not isinstance(record, dict) or not isinstance(record.get("input"), str):
        raise TrackerError(f"{where}: needs an 'input' string")
    text = data.get("example_input_prefix", DEFAULT_INPUT_PREFIX) + record["input"]
    output_prefix = data.get("example_output_prefix", DEFAULT_OUTPUT_PREFIX)
    preamble = data.get("task_prefix", "")
    if kind == "multiple_choice":
        scores = record.get("target_scores")
        if not isinstance(scores, dict):
            raise TrackerError(f"{where}: a multiple-choice example needs 'target_scores'")
        choices = list(scores)
        answer = int(np.argmax(_scores(scores, where))) if choices else 0
        check_choices(where, choices, answer)
        if data.get("append_choices_to_input", True):
            prefix = data.get("choice_prefix", DEFAULT_CHOICE_PREFIX)
            shuffled = np.random.default_rng([seed, index]).permutation(sorted(choices))
            text += prefix + prefix.join(str(c) for c in shuffled)
        return MultipleChoiceExample(str(index), text + output_prefix, tuple(choices), answer,
                                     preamble=preamble)
    target = record.get("target")
    targets = check_targets(where, [target] if isinstance(target, str) else target or [])
    regex = data.get("output_regex")
    if regex is not None:
        _check_regex(regex, where)
    stop = (data["stop_string"],) if data.get("stop_string") else ("\n",)
    return GenerativeExample(str(index), text + output_prefix, targets, stop, MAX_NEW_TOKENS,
                             regex, preamble=preamble)


def _scores(scores: dict, where: str) -> list[float]:
    """The target_scores' values as numbers, or a one-line error."""
    values = []
    for choice, value in scores.items():
        try:
            values.append(float(value))
        except (TypeError, ValueError):
            raise TrackerError(f"{where}: target_scores['{printable(choice)}'] must be a number, "
                               f"got {value!r}") from None
    return values


def _check_regex(regex: str, where: str) -> None:
    try:
        re.compile(regex)
    except re.error as error:
        raise TrackerError(f"{where}: output_regex {regex!r} is not a valid regex: {error}") \
            from error
