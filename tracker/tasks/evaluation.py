"""Running one task on one loaded model: scoring requests out, metric rows back.

The model is only touched through :mod:`tracker.lm.scoring`; metrics come from
:mod:`tracker.evals.metrics`. The result keeps one row per example (``example_id`` plus one
float column per metric; generative tasks also keep the ``generation`` text).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import pandas as pd

from tracker.evals import metrics
from tracker.evals.interface import UnitResult
from tracker.lm import token_cache
from tracker.lm.requests import GenerationRequest, LoglikelihoodRequest
from tracker.tasks.examples import Example, GenerativeExample, MultipleChoiceExample, TaskKind

if TYPE_CHECKING:
    from tracker.evals.interface import EvalSettings
    from tracker.lm.requests import LoadedModel

LOG = logging.getLogger(__name__)  # under "tracker": the CLI prints it


def evaluate_task(name: str, kind: TaskKind, examples: tuple[Example, ...],
                  wanted: tuple[str, ...] | None, lm: LoadedModel,
                  settings: EvalSettings) -> UnitResult:
    """Score a task's rendered ``examples`` and aggregate the metrics ``wanted`` (None: all
    of the kind's)."""
    started = time.perf_counter()
    if kind == "multiple_choice":
        rows = _multiple_choice_rows(lm, examples, settings.batch_size)
        specs = metrics.MULTIPLE_CHOICE_METRICS
        n_choices = [len(e.choices) for e in examples if isinstance(e, MultipleChoiceExample)]
    else:
        rows = _generative_rows(lm, examples, settings.batch_size, wanted)
        specs = metrics.GENERATIVE_METRICS
        n_choices = None
    seconds = time.perf_counter() - started
    if wanted is not None:
        specs = tuple(spec for spec in specs if spec.name in wanted)
    keep = ["example_id", *(spec.name for spec in specs)]
    frame = pd.DataFrame(rows)
    frame = frame[keep + (["generation"] if "generation" in frame else [])]
    rate = len(examples) / seconds if seconds > 0 else float("inf")
    if settings.progress:
        LOG.info("%s: %d examples in %.1f s (%.1f examples/s)", name, len(examples), seconds,
                 rate)
    extras = {"n_examples": len(examples), "seconds": seconds, "examples_per_second": rate}
    return UnitResult(name, metrics.aggregate(frame, specs, n_choices), frame, extras)


def _multiple_choice_rows(
    lm: LoadedModel, examples: tuple, batch_size: int | None
) -> list[dict]:
    from tracker.lm import scoring  # torch loads with the first model call

    requests = [LoglikelihoodRequest(example.context(), continuation)
                for example in examples for continuation in example.continuations()]
    results = iter(scoring.loglikelihood(lm, requests, batch_size=batch_size))
    rows = []
    for example in examples:
        assert isinstance(example, MultipleChoiceExample)
        logprobs = [next(results).logprob for _ in example.choices]
        choice_bytes = [len(choice.encode("utf-8")) for choice in example.choices]
        scores = metrics.multiple_choice_scores(logprobs, example.answer, choice_bytes)
        rows.append({"example_id": example.example_id, **scores})
    return rows


def _generative_rows(
    lm: LoadedModel, examples: tuple, batch_size: int | None, wanted: tuple[str, ...] | None
) -> list[dict]:
    from tracker.lm import scoring  # torch loads with the first model call

    generate = wanted is None or any(name in wanted for name in metrics.GENERATION_METRICS)
    generations = [""] * len(examples)
    if generate:
        requests = [GenerationRequest(e.context(), e.stop, e.max_new_tokens)
                    for e in examples]
        generations = scoring.generate(lm, requests, batch_size=batch_size)
    target_requests = [LoglikelihoodRequest(e.context(), target)
                       for e in examples for target in e.targets]
    target_results = iter(scoring.loglikelihood(lm, target_requests, batch_size=batch_size))
    target_ids = iter(token_cache.encode_texts(
        lm.tokenizer, [target.strip() for e in examples for target in e.targets]))
    answers = [metrics.extract_answer(generation, example.output_regex)
               for example, generation in zip(examples, generations, strict=True)]
    answer_ids = token_cache.encode_texts(lm.tokenizer, answers, cache=False)
    rows = []
    for example, generation, answer, ids in zip(examples, generations, answers, answer_ids,
                                                strict=True):
        assert isinstance(example, GenerativeExample)
        target_scores = [
            metrics.TargetScore(tuple(next(target_ids)), result.logprob, result.n_tokens,
                                result.is_greedy)
            for result in (next(target_results) for _ in example.targets)
        ]
        scores = metrics.generative_scores(answer, ids, example.targets, target_scores)
        rows.append({"example_id": example.example_id, **scores, "generation": generation})
    return rows
