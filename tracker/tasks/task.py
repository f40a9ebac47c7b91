"""A :class:`Task`: a named, versioned set of examples that evaluates on a loaded model.

A task is an :class:`tracker.evals.interface.Evaluation`: ``name``, ``version``, ``identity()``
and ``evaluate(lm, settings)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tracker.errors import TrackerError
from tracker.tasks.examples import Example, ExampleSource, TaskKind
from tracker.tasks.fewshot import with_fewshot

if TYPE_CHECKING:
    from tracker.evals.interface import EvalSettings, UnitResult
    from tracker.lm.requests import LoadedModel


@dataclass(frozen=True)
class Task:
    """A named, versioned set of examples with a few-shot setting.

    ``metrics`` narrows what is reported (e.g. LAMBADA reports no generation metrics,
    so nothing is generated); None means every metric of the task's kind.
    ``fewshot_separator`` joins demonstrations and the query.
    """

    name: str
    kind: TaskKind
    source: ExampleSource
    version: str = "1"
    num_fewshot: int = 0
    seed: int = 1234
    fewshot_separator: str = "\n\n"
    metrics: tuple[str, ...] | None = None
    _examples: dict = field(default_factory=dict, compare=False, repr=False)

    def identity(self) -> dict[str, Any]:
        """JSON-able: everything besides the checkpoint that determines the result."""
        return {
            "task": self.name, "kind": self.kind, "version": self.version,
            "source": self.source.identity(), "num_fewshot": self.num_fewshot,
            "seed": self.seed, "fewshot_separator": self.fewshot_separator,
            "metrics": list(self.metrics) if self.metrics is not None else None,
        }

    def examples(self, limit: int | None = None) -> tuple[Example, ...]:
        """The rendered examples (few-shot demonstrations prepended), the first ``limit``."""
        if "all" not in self._examples:  # loaded once per task object, reused per checkpoint
            loaded = self.source.load()
            if not loaded:
                raise TrackerError(f"task '{self.name}' has no examples")
            self._examples["all"] = loaded
        pool = self._examples["all"]
        chosen = pool[:limit] if limit is not None else pool
        return with_fewshot(chosen, pool, self.num_fewshot, self.seed, self.fewshot_separator)

    def evaluate(self, lm: LoadedModel, settings: EvalSettings) -> UnitResult:
        from tracker.tasks.evaluation import evaluate_task  # imports torch: only when scoring

        return evaluate_task(self.name, self.kind, self.examples(settings.limit), self.metrics,
                             lm, settings)
