"""The named tasks, in one table, and :func:`resolve_tasks` for ``--tasks a,b,...``.

A name is, in this order: a registry name (the table below), a generator spec
(``arithmetic:OP:DIGITS[:...]`` or ``copy:LENGTH[:...]``, see
:mod:`tracker.tasks.generators`), or a path: a ``.jsonl`` file
(:mod:`tracker.tasks.jsonl`), a BIG-bench ``task.json`` or a directory of them
(:mod:`tracker.tasks.bigbench`; append ``#multiple_choice`` or ``#generative`` to choose
the kind of a task that has both), or ``lm-eval:NAME[@DIR]``, a task, tag or group of
lm-eval's registry (:mod:`tracker.tasks.lmeval`; the optional extra ``tracker[lmeval]``).

``num_fewshot`` None means "not given": 0 for tracker's tasks, the YAML's for lm-eval's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tracker.errors import TrackerError, unknown_name
from tracker.tasks import hub
from tracker.tasks.bigbench import bigbench_tasks
from tracker.tasks.examples import TaskKind
from tracker.tasks.generators import arithmetic_task, copy_task, parse_copy_spec, parse_spec
from tracker.tasks.jsonl import jsonl_task
from tracker.tasks.lmeval import PREFIX as LMEVAL_PREFIX
from tracker.tasks.lmeval import lmeval_task
from tracker.tasks.task import Task


@dataclass(frozen=True)
class TaskEntry:
    """A named task: what it is, and how to build it for a few-shot count and seed."""

    name: str
    description: str
    build: Callable[[int, int], Task]


def _hub(spec: hub.HubSpec) -> TaskEntry:
    return TaskEntry(spec.name, f"{spec.description} [hub: {spec.path}]",
                     lambda k, seed: hub.hub_task(spec, num_fewshot=k, seed=seed))


def _arithmetic(name: str, description: str) -> TaskEntry:
    return TaskEntry(name, description,
                     lambda k, seed: arithmetic_task(parse_spec(name, seed=seed), num_fewshot=k))


TASKS: tuple[TaskEntry, ...] = (
    *(_hub(spec) for spec in hub.HUB_TASKS),
    _arithmetic("arithmetic:add:1", "1-digit addition, 'What is 3 plus 5?' (generated)"),
    _arithmetic("arithmetic:add:2", "2-digit addition, 'What is 80 plus 29?' (generated)"),
    _arithmetic("arithmetic:add:3", "3-digit addition (generated)"),
    _arithmetic("arithmetic:sub:2", "2-digit subtraction, 'What is 61 minus 49?' (generated)"),
    _arithmetic("arithmetic:mul:1", "1-digit multiplication (generated)"),
    _arithmetic("arithmetic:mul:2", "2-digit multiplication, 'What is 50 times 20?' (generated)"),
    _arithmetic("arithmetic:add:2:bare", "2-digit addition, bare '80+29=' (generated)"),
    _arithmetic("arithmetic:mul:2:bare", "2-digit multiplication, bare '50*20=' (generated)"),
    _arithmetic("arithmetic:add:2:choices=4",
                "2-digit addition as multiple choice among 4 near misses (generated)"),
    TaskEntry("copy:8", "in-context copying of 8 random letters, 'Copy: q x b ...' (generated)",
              lambda k, seed: copy_task(parse_copy_spec("copy:8", seed=seed), num_fewshot=k)),
)

KINDS: tuple[TaskKind, ...] = ("multiple_choice", "generative")


def resolve_tasks(names: list[str], *, num_fewshot: int | None = None, seed: int = 1234
                  ) -> list[Task]:
    """Tasks for ``--tasks``: registry names, generator specs, or paths.

    Example:
        >>> [t.name for t in resolve_tasks(["arithmetic:add:2"])]
        ['arithmetic:add:2']
    """
    tasks: list = []
    for name in (n.strip() for n in names):
        if name:
            tasks.extend(resolve_one(name, num_fewshot=num_fewshot, seed=seed))
    seen: set[str] = set()
    for task in tasks:
        if task.name in seen:
            raise TrackerError(f"two tasks are named '{task.name}'; rename one of the files")
        seen.add(task.name)
    return tasks


def resolve_one(name: str, *, num_fewshot: int | None = None, seed: int = 1234) -> list:
    """The task(s) one name stands for (a directory of BIG-bench subtasks gives several)."""
    if name.startswith(LMEVAL_PREFIX):
        return list(lmeval_task(name[len(LMEVAL_PREFIX):], num_fewshot=num_fewshot, seed=seed))
    return _resolve_own(name, num_fewshot=num_fewshot or 0, seed=seed)


def _resolve_own(name: str, *, num_fewshot: int, seed: int) -> list[Task]:
    table = {entry.name: entry for entry in TASKS}
    if name in table:
        return [table[name].build(num_fewshot, seed)]
    if name.startswith("arithmetic:"):
        return [arithmetic_task(parse_spec(name, seed=seed), num_fewshot=num_fewshot)]
    if name.startswith("copy:"):
        return [copy_task(parse_copy_spec(name, seed=seed), num_fewshot=num_fewshot)]
    location, kind = _split_kind(name)
    path = Path(location).expanduser()
    if path.suffix == ".jsonl" and path.is_file():
        return [jsonl_task(path, num_fewshot=num_fewshot, seed=seed)]
    if path.exists():
        return bigbench_tasks(path, kind=kind, num_fewshot=num_fewshot, seed=seed)
    if "/" in location or path.suffix in (".json", ".jsonl"):
        raise TrackerError(f"task file or directory '{location}' does not exist")
    raise unknown_name("task", name, table)


def _split_kind(name: str) -> tuple[str, TaskKind | None]:
    location, hash_sign, kind = name.rpartition("#")
    if not hash_sign:
        return name, None
    if kind not in KINDS:
        raise TrackerError(f"unknown task kind '#{kind}' in '{name}'; use #multiple_choice or "
                           f"#generative")
    return location, kind  # type: ignore[return-value]
