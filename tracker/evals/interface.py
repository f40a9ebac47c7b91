"""The typed boundary between evaluation and storage.

An :class:`Evaluation` (the validation loss, or a task) scores one loaded model and returns
a :class:`UnitResult`: aggregate :class:`MetricScore` values plus the per-example rows
that feed the per-example bootstrap. The runner turns (checkpoint x evaluation) into a
unit, keys it, and stores the result; nothing here knows about files.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from tracker.lm.requests import LoadedModel


# The task name of the validation loss in every record (the x axis of every analysis).
VALIDATION_TASK = "validation"

@dataclass(frozen=True)
class MetricScore:
    """One aggregate: mean over ``n`` examples with its standard error.

    ``chance`` is the score of a uniform random guess (None where undefined, e.g. NLL).
    """

    metric: str
    score: float
    stderr: float
    n: int
    higher_is_better: bool
    chance: float | None = None

    @classmethod
    def from_values(
        cls, metric: str, values: np.ndarray, *, higher_is_better: bool, chance: float | None
    ) -> MetricScore:
        """Mean and standard error of the mean (ddof=1) of per-example values."""
        values = np.asarray(values, dtype=np.float64)
        n = int(values.size)
        stderr = float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
        return cls(metric, float(values.mean()), stderr, n, higher_is_better, chance)


@dataclass(frozen=True)
class UnitResult:
    """What one evaluation of one checkpoint produced.

    ``examples`` is a wide frame: an ``example_id`` column (str) and one float column per
    per-example metric (other columns, e.g. a generated string, are kept as they are).
    ``extras`` holds exact totals that are not means (validation: ``total_nats``,
    ``total_tokens``, ``total_bytes``).
    """

    task: str
    scores: tuple[MetricScore, ...]
    examples: pd.DataFrame
    extras: Mapping[str, Any] = field(default_factory=dict)

    def score(self, metric: str) -> MetricScore:
        for item in self.scores:
            if item.metric == metric:
                return item
        raise KeyError(metric)


@dataclass(frozen=True)
class EvalSettings:
    """Run-wide knobs that do not change what a unit measures (except ``limit``).

    ``limit`` truncates every task to its first N examples (and the validation set to its
    first N documents) and is therefore part of every unit key; so is ``context_length``
    (``--context-length``; None: the model's own maximum), with which the loader caps the
    model's window. ``batch_size`` None sizes batches by tokens and memory
    (:mod:`tracker.lm.batching`).
    """

    batch_size: int | None = None
    limit: int | None = None
    progress: bool = True
    context_length: int | None = None


class Evaluation(Protocol):
    """Anything the runner can evaluate on a loaded model: the validation loss or a task.

    ``name`` is the task name used in records ("validation" for the loss); ``identity()``
    returns JSON-able data that, with the checkpoint and settings, determines the result.
    """

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    def identity(self) -> dict[str, Any]: ...

    def evaluate(self, lm: LoadedModel, settings: EvalSettings) -> UnitResult: ...
