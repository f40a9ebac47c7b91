"""lm-eval's requests scored by tracker, and lm-eval's per-document results as tracker rows.

:func:`score_instances` answers every ``Instance`` of the built lm-eval tasks with tracker's
batched scorer (:mod:`tracker.lm.scoring`), in lm-eval's response format: ``(logprob,
is_greedy)`` for ``loglikelihood``, the text for ``generate_until`` (stop strings: the
task's ``until`` plus the end-of-text string, as lm-eval's HFLM; budget: ``max_gen_toks``,
lm-eval's default 256). :func:`task_rows` then runs lm-eval's own ``apply_filters`` and
``process_results`` and adds tracker's continuous metrics:

- multiple_choice: tracker's multiple-choice metrics from the choices' log-likelihoods
  (``accuracy_norm`` per UTF-8 byte of lm-eval's choice text, as its ``acc_bytes``) and
  lm-eval's character-normalised ``acc_norm`` beside them when the task reports it;
- loglikelihood: ``target_nll``, ``target_nll_per_token`` and ``greedy_match`` (lm-eval's
  ``acc``);
- generate_until: each of lm-eval's numeric per-document metrics per filter (``exact_match``
  for the filter ``none``, else ``exact_match[strict-match]``, the import's naming), plus
  ``target_nll`` of the target after the prompt and the token edit distance between the
  generation and the target, its continuous twins;
- loglikelihood_rolling: each document scored whole by the validation loss's rolling scorer
  (:func:`tracker.lm.rolling.document_nll`: lm-eval's windows, context 1, the model's
  maximum length); lm-eval's ``process_results`` gives the word and byte counts, and the
  aggregates are lm-eval's ratios of sums: ``bits_per_byte``, ``byte_perplexity`` and
  ``word_perplexity``, with ``nats_per_token`` beside them, standard errors by the delta
  method over documents (:func:`rolling_scores`).
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import numpy as np

from tracker.errors import TrackerError
from tracker.evals import metrics
from tracker.evals.interface import MetricScore
from tracker.lm import token_cache
from tracker.lm.requests import GenerationRequest, LoglikelihoodRequest, LoglikelihoodResult

if TYPE_CHECKING:
    from tracker.lm.requests import LoadedModel

DEFAULT_MAX_GEN_TOKS = 256  # lm-eval's HFLM default
ACC_NORM = metrics.METRICS["acc_norm"]
LOGLIKELIHOOD_METRICS = ("target_nll", "target_nll_per_token", "greedy_match")
GENERATION_TWINS = ("token_edit_distance", "token_edit_distance_norm", "target_nll",
                    "target_nll_per_token")


@dataclasses.dataclass
class Scored:
    """tracker's answers, by ``id(instance)``: log-likelihood results (with token counts),
    for generate_until the target's log-likelihood results (one per target), and for
    loglikelihood_rolling the document's token count."""

    loglikelihood: dict[int, LoglikelihoodResult]
    targets: dict[int, list[LoglikelihoodResult]]
    document_tokens: dict[int, int] = dataclasses.field(default_factory=dict)


def score_instances(lm: LoadedModel, tasks: dict[str, Any], batch_size: int | None) -> Scored:
    """Answer every instance of ``tasks`` (lm-eval name -> built task) in place."""
    from tracker.lm import scoring  # torch loads with the first model call

    instances = [i for task in tasks.values() for i in task.instances]
    for instance in instances:
        instance.resps.clear()
        instance.filtered_resps.clear()
    pairs: list[tuple[int, str, str]] = []  # (id, context, continuation), ll and targets
    generating = [i for i in instances if i.request_type == "generate_until"]
    for instance in instances:
        if instance.request_type == "loglikelihood":
            pairs.append((id(instance), instance.args[0], instance.args[1]))
    for instance in generating:
        task = tasks[instance.task_name]
        for target in _targets(task, instance.doc):
            pairs.append((id(instance), instance.args[0], task.config.target_delimiter + target))
    results = scoring.loglikelihood(lm, [LoglikelihoodRequest(c, t) for _, c, t in pairs],
                                    batch_size=batch_size)
    scored = Scored({}, defaultdict(list))
    rolling = [i for i in instances if i.request_type == "loglikelihood_rolling"]
    if rolling:
        scored.document_tokens = _score_rolling(lm, rolling, batch_size)
    by_id = {id(i): i for i in instances}
    for (key, _, _), result in zip(pairs, results, strict=True):
        instance = by_id[key]
        if instance.request_type == "loglikelihood":
            scored.loglikelihood[key] = result
            instance.resps.append((result.logprob, result.is_greedy))
        else:
            scored.targets[key].append(result)
    if generating:
        texts = scoring.generate(lm, [_generation_request(lm, i) for i in generating],
                                 batch_size=batch_size)
        for instance, text in zip(generating, texts, strict=True):
            instance.resps.append(text)
    return scored


def _score_rolling(lm: LoadedModel, instances: list[Any], batch_size: int | None
                   ) -> dict[int, int]:
    """Answer each loglikelihood_rolling request as lm-eval does, with the document's summed
    log-likelihood (a float), here from tracker's rolling scorer; each document's token
    count by ``id(instance)``."""
    from tracker.lm.rolling import document_nll

    tokens = token_cache.encode_texts(lm.tokenizer, [i.args[0] for i in instances])
    nll = document_nll(lm, tokens, max_length=lm.max_length, batch_size=batch_size)
    for instance, value in zip(instances, nll, strict=True):
        instance.resps.append(-float(value))
    return {id(instance): len(ids) for instance, ids in zip(instances, tokens, strict=True)}


def _generation_request(lm: LoadedModel, instance: Any) -> GenerationRequest:
    from lm_eval.models.utils import handle_stop_sequences

    context, kwargs = instance.args[0], dict(instance.args[1] or {})
    eos = lm.tokenizer.decode([lm.tokenizer.eos_token_id]) \
        if lm.tokenizer.eos_token_id is not None else None
    until = handle_stop_sequences(kwargs.get("until"), eos=eos)
    return GenerationRequest(context, tuple(until),
                                     int(kwargs.get("max_gen_toks", DEFAULT_MAX_GEN_TOKS)))


def _targets(task: Any, doc: dict) -> list[str]:
    target = task.doc_to_target(doc)
    return [str(t) for t in target] if isinstance(target, list) else [str(target)]


def task_rows(lm: LoadedModel, task: Any, scored: Scored, limit: int | None
              ) -> tuple[list[dict[str, Any]], list[int]]:
    """One row per document of ``task`` (after lm-eval's filters and ``process_results``),
    and each document's number of choices (1 for non-multiple-choice)."""
    task.apply_filters()
    by_doc: dict[int, list[Any]] = defaultdict(list)
    for instance in task.instances:
        by_doc[instance.doc_id].append(instance)
    rows, n_choices = [], []
    kind = task.OUTPUT_TYPE
    for doc_id, doc in task.doc_iterator(limit=limit):
        instances = sorted(by_doc[doc_id], key=lambda i: i.idx)
        theirs = {key: task.process_results(doc, [i.filtered_resps[key] for i in instances])
                  for key in instances[0].filtered_resps}
        row: dict[str, Any] = {"example_id": str(doc_id)}
        if kind == "multiple_choice":
            choices = task.doc_to_choice(doc)
            lls = [scored.loglikelihood[id(i)].logprob for i in instances]
            row |= metrics.multiple_choice_scores(lls, gold_index(task, doc, choices),
                                                  [len(c.encode("utf-8")) for c in choices])
            if "acc_norm" in theirs.get("none", {}):
                row["acc_norm"] = float(theirs["none"]["acc_norm"])
            n_choices.append(len(choices))
        elif kind == "loglikelihood_rolling":
            counts = theirs.get("none") or next(iter(theirs.values()))
            row |= _rolling_row(instances[0], counts, scored)
            n_choices.append(1)
        elif kind == "loglikelihood":
            result = scored.loglikelihood[id(instances[0])]
            row |= {"target_nll": -result.logprob,
                    "target_nll_per_token": -result.logprob / max(result.n_tokens, 1),
                    "greedy_match": float(result.is_greedy)}
            n_choices.append(1)
        else:
            row |= _generation_row(lm, task, doc, instances[0], scored, theirs)
            n_choices.append(1)
        rows.append(row)
    return rows, n_choices


def _generation_row(lm: LoadedModel, task: Any, doc: dict, instance: Any, scored: Scored,
                    theirs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """lm-eval's numeric metrics per filter, then the twins (best target)."""
    row: dict[str, Any] = {}
    for filter_key, values in theirs.items():
        for metric, value in values.items():
            if isinstance(value, bool | int | float):
                row[metric if filter_key == "none" else f"{metric}[{filter_key}]"] = float(value)
    generation = instance.resps[0]
    targets = _targets(task, doc)
    ids = token_cache.encode_texts(lm.tokenizer, [generation.strip(), *(t.strip()
                                                                       for t in targets)],
                                   cache=False)
    twins = [metrics.TargetScore(tuple(target_ids), result.logprob, result.n_tokens,
                                 result.is_greedy)
             for target_ids, result in zip(ids[1:], scored.targets[id(instance)], strict=True)]
    ours = metrics.generative_scores(generation.strip(), ids[0], targets, twins)
    return row | {name: ours[name] for name in GENERATION_TWINS} | {"generation": generation}


def _rolling_row(instance: Any, theirs: dict[str, Any], scored: Scored) -> dict[str, Any]:
    """One document's log-likelihood and lm-eval's counts (its ``(loglikelihood, count)``
    pairs: words for word_perplexity, UTF-8 bytes for the other two)."""
    nll = -float(instance.resps[0])
    row: dict[str, Any] = {"nll_nats": nll, "tokens": scored.document_tokens[id(instance)]}
    for metric, column in (("word_perplexity", "words"), ("bits_per_byte", "bytes"),
                           ("byte_perplexity", "bytes")):
        if metric in theirs:
            row[column] = int(theirs[metric][1])
    if "bytes" in row:
        row["bits_per_byte"] = nll / (math.log(2) * max(row["bytes"], 1))
    return row


def rolling_scores(frame: Any) -> tuple[MetricScore, ...]:
    """lm-eval's aggregates of a loglikelihood_rolling task, ratios of sums over documents
    (``bits_per_byte`` = nats / (ln 2 bytes), the perplexities exp(nats / count)), each with
    the delta-method standard error of :func:`tracker.evals.validation.ratio_score`."""
    from tracker.evals.validation import ratio_score

    nll = frame["nll_nats"].to_numpy(dtype=np.float64)
    scores = []
    if "bytes" in frame:
        n_bytes = frame["bytes"].to_numpy(dtype=np.float64)
        scores.append(ratio_score("bits_per_byte", nll / math.log(2), n_bytes))
        scores.append(_perplexity("byte_perplexity", ratio_score("nats", nll, n_bytes)))
    if "words" in frame:
        scores.append(_perplexity("word_perplexity",
                                  ratio_score("nats", nll, frame["words"].to_numpy(np.float64))))
    scores.append(ratio_score("nats_per_token", nll, frame["tokens"].to_numpy(np.float64)))
    return tuple(scores)


def _perplexity(metric: str, nats: MetricScore) -> MetricScore:
    """exp of a nats-per-unit ratio; standard error exp(r) * se(r) (delta method)."""
    value = math.exp(nats.score)
    return MetricScore(metric, value, value * nats.stderr, nats.n, higher_is_better=False)


def task_scores(task: Any, frame: Any, n_choices: list[int]) -> tuple[MetricScore, ...]:
    """A task's aggregate scores from its rows (:func:`task_rows`)."""
    if task.OUTPUT_TYPE == "loglikelihood_rolling":
        return rolling_scores(frame)
    specs = metric_specs(task.OUTPUT_TYPE, list(frame.columns), task.higher_is_better())
    return metrics.aggregate(frame, specs, n_choices)


def gold_index(task: Any, doc: dict, choices: list[str]) -> int:
    """The gold choice as lm-eval's ``process_results`` reads it (one gold only)."""
    gold = task.doc_to_text(doc) if task.multiple_input else task.doc_to_target(doc)
    if isinstance(gold, str):
        gold = choices.index(gold) if gold in choices else -1
    if isinstance(gold, list) or not isinstance(gold, int) or not 0 <= gold < len(choices):
        raise TrackerError(f"lm-eval task '{task.task_name}': document gold {gold!r} is not "
                           f"one index into its {len(choices)} choices; tracker scores "
                           "single-gold multiple choice only")
    return gold


def metric_specs(kind: str, columns: list[str], higher: dict[str, bool]
                 ) -> tuple[metrics.MetricSpec, ...]:
    """The specs of a task's metric columns: tracker's, ``acc_norm``, and lm-eval's own
    generation metrics (named per filter; the direction lm-eval declares)."""
    if kind == "multiple_choice":
        return (*metrics.MULTIPLE_CHOICE_METRICS, *((ACC_NORM,) if "acc_norm" in columns
                                                    else ()))
    if kind == "loglikelihood":
        return tuple(metrics.METRICS[name] for name in LOGLIKELIHOOD_METRICS)
    specs = []
    for column in columns:
        if column in ("example_id", "generation", *GENERATION_TWINS):
            continue
        base = column.split("[", 1)[0]
        known = metrics.METRICS.get(base)
        specs.append(dataclasses.replace(known, name=column) if known is not None
                     else metrics.MetricSpec(column, higher.get(base, True)))
    return (*specs, *(metrics.METRICS[name] for name in GENERATION_TWINS))
