"""Few-shot rendering with a fixed seed.

Demonstrations are drawn from the task's own examples, never the query itself: for the
example at position i, ``numpy.random.default_rng([seed, i])`` picks ``k`` others without
replacement, so the same example always gets the same demonstrations whatever ``limit`` is.
Each demonstration is ``prompt + answer_text`` (the gold choice, or the first target);
demonstrations and the query are joined by the task's separator.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from tracker.errors import TrackerError
from tracker.tasks.examples import Example


def with_fewshot(
    chosen: Sequence[Example], pool: Sequence[Example], k: int, seed: int, separator: str
) -> tuple[Example, ...]:
    """``chosen`` (a prefix of ``pool``) with ``k`` demonstrations prepended to each prompt.

    Example:
        >>> # with_fewshot(examples[:10], examples, k=3, seed=1234, separator="\\n\\n")
    """
    if k == 0:
        return tuple(chosen)
    if k < 0 or k >= len(pool):
        raise TrackerError(f"cannot draw {k} few-shot examples from a task of {len(pool)}; "
                           f"use --num-fewshot between 0 and {len(pool) - 1}")
    rendered = []
    for position, example in enumerate(chosen):
        picks = _draw(position, len(pool), k, seed)
        shots = [pool[j].prompt + pool[j].answer_text() for j in picks]
        prompt = separator.join([*shots, example.prompt])
        rendered.append(dataclasses.replace(example, prompt=prompt))
    return tuple(rendered)


def _draw(position: int, pool_size: int, k: int, seed: int) -> list[int]:
    rng = np.random.default_rng([seed, position])
    others = np.delete(np.arange(pool_size), position)
    return [int(j) for j in rng.choice(others, size=k, replace=False)]
