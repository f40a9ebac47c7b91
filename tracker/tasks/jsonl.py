"""JSONL tasks: the documented plain format, one JSON object per line.

Multiple choice::

    {"prompt": "Q: Is the sky blue?\\nA:", "choices": [" yes", " no"], "answer": 0}

Each choice is scored as the continuation exactly as written (put any leading space in
the choice). Generative::

    {"prompt": "80+29=", "target": "109", "stop": ["\\n"], "max_new_tokens": 8}

``target`` may be a list (any one counts); ``stop`` defaults to a newline and
``max_new_tokens`` to 32; ``output_regex`` (optional) extracts the answer before exact
match. Optional on both kinds: ``id`` (the example id; default the 0-based line index
among examples) and ``metadata`` (ignored). The prompt is used verbatim; blank lines are
skipped. One file holds one kind.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from tracker.errors import TrackerError, did_you_mean, printable
from tracker.lm.requests import DEFAULT_MAX_NEW_TOKENS, DEFAULT_STOP
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

MULTIPLE_CHOICE_KEYS = {"prompt", "choices", "answer", "id", "metadata"}
GENERATIVE_KEYS = {"prompt", "target", "stop", "max_new_tokens", "output_regex", "id",
                   "metadata"}


def jsonl_task(path: Path, *, num_fewshot: int = 0, seed: int = 1234) -> Task:
    """Read and validate ``path``; the task is named after the file's stem."""
    raw = _read_bytes(path)
    examples = parse_jsonl(raw.decode("utf-8", errors="replace"), str(path))
    kind: TaskKind = ("multiple_choice" if isinstance(examples[0], MultipleChoiceExample)
                      else "generative")
    source = LoadedExamples(examples, {"format": "jsonl", "file": path.name,
                                       "sha256": hashlib.sha256(raw).hexdigest()})
    return Task(name=path.stem, kind=kind, source=source, num_fewshot=num_fewshot, seed=seed)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise TrackerError(f"cannot read task file {path}: {error.strerror}") from error


def parse_jsonl(text: str, source: str) -> tuple[Example, ...]:
    """Parse every non-blank line; errors name ``source`` and the 1-based line number."""
    examples: list[Example] = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{source}:{line_number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise TrackerError(f"{where}: not valid JSON ({error.msg} at column "
                               f"{error.colno})") from error
        examples.append(parse_record(record, where, default_id=str(len(examples))))
    if not examples:
        raise TrackerError(f"{source}: no examples (the file is empty)")
    kinds = {type(example) for example in examples}
    if len(kinds) > 1:
        raise TrackerError(f"{source}: mixes multiple-choice and generative lines; "
                           f"use one file per kind")
    return tuple(examples)


def parse_record(record: Any, where: str, *, default_id: str) -> Example:
    """One line's object as an example, or a one-line error naming ``where``."""
    if not isinstance(record, dict):
        raise TrackerError(f"{where}: expected a JSON object, got {type(record).__name__}")
    if not isinstance(record.get("prompt"), str):
        raise TrackerError(f"{where}: missing 'prompt' (a string)")
    if "choices" in record:
        _check_keys(record, MULTIPLE_CHOICE_KEYS, where)
        check_choices(where, record["choices"], record.get("answer"))
        return MultipleChoiceExample(str(record.get("id", default_id)), record["prompt"],
                                     tuple(record["choices"]), record["answer"])
    if "target" in record:
        _check_keys(record, GENERATIVE_KEYS, where)
        return _generative(record, where, default_id)
    raise TrackerError(f"{where}: needs 'choices' + 'answer' (multiple choice) or 'target' "
                       f"(generative)")


def _generative(record: dict, where: str, default_id: str) -> GenerativeExample:
    target = record["target"]
    targets = check_targets(where, [target] if isinstance(target, str) else target)
    stop = record.get("stop", list(DEFAULT_STOP))
    stop = [stop] if isinstance(stop, str) else stop
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise TrackerError(f"{where}: 'stop' must be a list of non-empty strings")
    max_new = record.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)
    if isinstance(max_new, bool) or not isinstance(max_new, int) or max_new < 1:
        raise TrackerError(f"{where}: 'max_new_tokens' must be a positive integer, "
                           f"got {max_new!r}")
    regex = record.get("output_regex")
    if regex is not None and not isinstance(regex, str):
        raise TrackerError(f"{where}: 'output_regex' must be a string")
    if regex is not None:
        try:
            re.compile(regex)
        except re.error as error:
            raise TrackerError(f"{where}: output_regex {regex!r} is not a valid regex: "
                               f"{error}") from error
    return GenerativeExample(str(record.get("id", default_id)), record["prompt"], targets,
                             tuple(stop), max_new, regex)


def _check_keys(record: dict, allowed: set[str], where: str) -> None:
    for key in record:
        if key not in allowed:
            raise TrackerError(f"{where}: unknown key '{printable(key)}'"
                               f"{did_you_mean(key, allowed)}; "
                               f"allowed: {', '.join(sorted(allowed))}")
