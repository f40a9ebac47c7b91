"""Settings: which stored results may share a fit.

A unit's *setting* is everything in its key but the checkpoint: the evaluation's identity
(task or validation text, version, prompt, few-shot count, context length), the example
limit, the dtype and the scoring version. One run directory may hold several settings of
the same task (``--limit 20`` and a full run, float32 and bfloat16); points of different
settings must never meet in one series, nor per-example rows be averaged across them.

Reading picks one setting per task: the only one stored; else the one a ``--setting``
choice names; else the one the latest ``tracker eval`` planned (``plan.json``); else it
refuses with one line that names the settings found and how to choose.

Example:
    >>> setting_of({"checkpoint": {}, "evaluation": {"task": "t"}, "limit": 20,
    ...             "dtype": "float32", "scoring_version": "1"}).label
    'limit=20 dtype=float32'
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tracker.errors import TrackerError
from tracker.store.units import unit_key

SETTING_ID_LENGTH = 8
# Fields shown in a setting's label when they are set (the id covers the rest), read from
# the unit identity's top level, else from its evaluation's identity.
LABELLED_FIELDS = (("context_length", "context"), ("num_fewshot", "fewshot"),
                   ("validation", "validation"))  # which validation text: mixture or text


@dataclass(frozen=True)
class Setting:
    """``id``: a short hash of the unit identity minus the checkpoint; ``label``: the
    fields a user chooses between, as ``key=value`` words."""

    id: str
    label: str

    def matches(self, choice: str) -> bool:
        """``choice`` is an id (or its prefix) or ``key=value`` words, all of which must be
        in the label (``limit=20``, ``dtype=bfloat16 limit=all``)."""
        words = choice.replace(",", " ").split()
        if len(words) == 1 and "=" not in words[0]:
            return self.id.startswith(words[0])
        return set(words) <= set(self.label.split())


def setting_of(identity: dict[str, Any]) -> Setting:
    """The setting of a unit identity (``Unit.identity()``, stored in every record)."""
    rest = {key: value for key, value in identity.items() if key != "checkpoint"}
    evaluation = rest.get("evaluation") or {}
    limit = rest.get("limit")
    words = [f"limit={'all' if limit is None else limit}", f"dtype={rest.get('dtype')}"]
    for field, short in LABELLED_FIELDS:
        value = rest.get(field)
        if value is None:
            value = evaluation.get(field)
        if value is not None:
            words.append(f"{short}={value}")
    return Setting(unit_key(rest)[:SETTING_ID_LENGTH], " ".join(words))


def select_records(records: Sequence[dict[str, Any]], *, choice: str | None = None,
                   planned: dict[str, str] | None = None, source: str = "run"
                   ) -> list[dict[str, Any]]:
    """The records of one setting per task (see the module docstring); ``planned`` maps
    task -> setting id of the latest plan."""
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_task[record["task"]].append(record)
    setting = {id(record): setting_of(record["identity"]) for record in records}
    chosen: set[int] = set()
    for task, task_records in by_task.items():
        settings = {setting[id(r)] for r in task_records}
        keep = _choose(task, settings, choice, (planned or {}).get(task), source)
        kept = [r for r in task_records if setting[id(r)] == keep]
        _refuse_duplicates(task, kept, source)
        chosen |= {id(r) for r in kept}
    return [r for r in records if id(r) in chosen]


def _refuse_duplicates(task: str, records: list[dict[str, Any]], source: str) -> None:
    """Two units of one checkpoint, task and setting (keys differ only by the checkpoint's
    identity, e.g. its hub location) cannot both be points of one series."""
    seen: dict[tuple[Any, ...], str] = {}
    for record in records:
        checkpoint = (record["family"], record["size"], record["step"])
        if checkpoint in seen:
            family, size, step = checkpoint
            raise TrackerError(
                f"{source}: task '{task}' has two results for {family}/{size}@step{step} "
                f"under one setting (units {seen[checkpoint]} and {record['key']}); move the "
                "stale one out of units/")
        seen[checkpoint] = record["key"]


def _choose(task: str, settings: set[Setting], choice: str | None, planned: str | None,
            source: str) -> Setting:
    if choice is not None:
        matching = [s for s in settings if s.matches(choice)]
        if len(matching) == 1:
            return matching[0]
        if len(settings) == 1 and not matching:
            return next(iter(settings))  # a task stored under one setting only is unambiguous
        raise TrackerError(f"{source}: --setting '{choice}' matches {len(matching)} of the "
                           f"settings of task '{task}': {describe(settings)}")
    if len(settings) == 1:
        return next(iter(settings))
    for setting in settings:
        if setting.id == planned:
            return setting
    raise TrackerError(
        f"{source}: task '{task}' has results of {len(settings)} settings "
        f"({describe(settings)}), which must not be mixed; choose one with --setting "
        f"'{sorted(settings, key=lambda s: s.label)[0].label}' (or an id)")


def describe(settings: Iterable[Setting]) -> str:
    return "; ".join(f"{s.label} [id {s.id}]" for s in sorted(settings, key=lambda s: s.label))
