"""Running one task on one loaded model: scoring requests out, metric rows back.

The model is only touched through :mod:`tracker.lm.scoring`; metrics come from
:mod:`tracker.evals.metrics`. The result keeps one row per example (``example_id`` plus one
float column per metric; generative tasks also keep the ``generation`` text).
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

import pandas as pd

from tracker.evals import metrics
from tracker.evals.interface import UnitResult
from tracker.lm import scoring, token_cache
from tracker.tasks.base import GenerativeExample, MultipleChoiceExample

if TYPE_CHECKING:
    from tracker.evals.interface import EvalSettings
    from tracker.lm.loading import LoadedModel
    from tracker.tasks.base import Task

GENERATION_METRICS = ("exact_match", "token_edit_distance", "token_edit_distance_norm")


def evaluate_task(task: Task, lm: LoadedModel, settings: EvalSettings) -> UnitResult:
    """Score every example of ``task`` (the first ``settings.limit``) and aggregate."""
    examples = task.examples(settings.limit)
    started = time.perf_counter()
    if task.kind == "multiple_choice":
        rows = _multiple_choice_rows(lm, examples, settings.batch_size)
        specs = metrics.MULTIPLE_CHOICE_METRICS
        n_choices = [len(e.choices) for e in examples if isinstance(e, MultipleChoiceExample)]
    else:
        rows = _generative_rows(lm, examples, settings.batch_size, task.metrics)
        specs = metrics.GENERATIVE_METRICS
        n_choices = None
    seconds = time.perf_counter() - started
    if task.metrics is not None:
        specs = tuple(spec for spec in specs if spec.name in task.metrics)
    keep = ["example_id", *(spec.name for spec in specs)]
    frame = pd.DataFrame(rows)
    frame = frame[keep + (["generation"] if "generation" in frame else [])]
    rate = len(examples) / seconds if seconds > 0 else float("inf")
    if settings.progress:
        print(f"{task.name}: {len(examples)} examples in {seconds:.1f} s "
              f"({rate:.1f} examples/s)", file=sys.stderr)
    extras = {"n_examples": len(examples), "seconds": seconds, "examples_per_second": rate}
    return UnitResult(task.name, metrics.aggregate(frame, specs, n_choices), frame, extras)


def _multiple_choice_rows(
    lm: LoadedModel, examples: tuple, batch_size: int | None
) -> list[dict]:
    requests = [scoring.LoglikelihoodRequest(example.context(), continuation)
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
    generate = wanted is None or any(name in wanted for name in GENERATION_METRICS)
    generations = [""] * len(examples)
    if generate:
        requests = [scoring.GenerationRequest(e.context(), e.stop, e.max_new_tokens)
                    for e in examples]
        generations = scoring.generate(lm, requests, batch_size=batch_size)
    target_requests = [scoring.LoglikelihoodRequest(e.context(), target)
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
