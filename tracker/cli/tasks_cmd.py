"""``tracker tasks`` (one line per named task) and ``tracker tasks show NAME``."""

from __future__ import annotations

import argparse

from tracker.tasks.examples import Example, MultipleChoiceExample
from tracker.tasks.registry import TASKS, resolve_one
from tracker.tasks.task import Task

OTHER_SOURCES = (
    "arithmetic:OP:DIGITS[:bare][:n=N][:answer_digits=L][:seed=S]  any generated arithmetic "
    "(OP: add, sub, mul)",
    "PATH.jsonl                 a JSONL task (docs/tasks.md: multiple choice or generative)",
    "PATH/task.json | DIR       a BIG-bench task, or a directory of subtasks "
    "(#multiple_choice / #generative to pick a kind)",
    "lm-eval:NAME[@DIR]         a task, tag or group of lm-eval's registry, rows from DIR "
    "(pip install 'tracker[lmeval]')",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("tasks", help="list downstream tasks, or show one")
    parser.add_argument("action", nargs="?", choices=["show"], help="show two rendered prompts")
    parser.add_argument("name", nargs="?", help="task name, generator spec or path")
    parser.add_argument("--num-fewshot", type=int, default=None,
                        help="few-shot examples to show (default 0; an lm-eval task's YAML count)")
    parser.add_argument("--seed", type=int, default=1234, help="few-shot / generator seed")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.action == "show":
        if not args.name:
            print("usage: tracker tasks show NAME")
            return 2
        for task in resolve_one(args.name, num_fewshot=args.num_fewshot, seed=args.seed):
            print(describe(task))
        return 0
    for entry in TASKS:
        print(f"{entry.name:<24} {entry.description}")
    print("\nalso:")
    for line in OTHER_SOURCES:
        print(f"  {line}")
    return 0


def describe(task: Task, n_examples: int = 2) -> str:
    """The task's kind and source, then ``n_examples`` prompts exactly as scored."""
    lines = [f"task: {task.name}  ({task.kind}, version {task.version})",
             f"source: {task.source.identity()}"]
    for example in task.examples(limit=n_examples):
        lines += ["", f"--- example {example.example_id} ---", _render(example)]
    return "\n".join(lines)


def _render(example: Example) -> str:
    lines = ["prompt (between the bars, verbatim):", "|" + example.context() + "|"]
    if isinstance(example, MultipleChoiceExample):
        for number, continuation in enumerate(example.continuations()):
            mark = "*" if number == example.answer else " "
            lines.append(f" {mark} choice {number}: {continuation!r}")
    elif example.max_new_tokens == 0:  # lm-eval's loglikelihood_rolling: a document's loss
        lines.append(f"document, scored whole (no generation): {example.targets[0]!r}")
    else:
        lines.append(f"target(s): {', '.join(repr(t) for t in example.targets)}")
        lines.append(f"stop: {list(example.stop)!r}  max_new_tokens: {example.max_new_tokens}"
                     + (f"  output_regex: {example.output_regex!r}" if example.output_regex
                        else ""))
    return "\n".join(lines)
