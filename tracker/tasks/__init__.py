"""Downstream tasks: sources (JSONL, BIG-bench, generators, hub), few-shot, and the registry.

``resolve_tasks(["mmlu", "arithmetic:add:2", "my_task.jsonl"])`` gives :class:`Task`
objects, each an :class:`tracker.evals.interface.Evaluation`. See ``docs/tasks.md``.
"""

from tracker.tasks.examples import GenerativeExample, MultipleChoiceExample
from tracker.tasks.generators import arithmetic_examples, example_text
from tracker.tasks.registry import TASKS, resolve_tasks
from tracker.tasks.task import Task

__all__ = [
    "TASKS",
    "GenerativeExample",
    "MultipleChoiceExample",
    "Task",
    "arithmetic_examples",
    "example_text",
    "resolve_tasks",
]
