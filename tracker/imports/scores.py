"""lm-eval's numbers as tracker scores: metric names, directions, chance, example counts,
per-example rows rebuilt from sample logs, and MMLU's subjects pooled into one task.

Names: ``acc`` -> ``accuracy`` (``greedy_match`` on loglikelihood tasks such as LAMBADA,
where lm-eval's acc means "the target is the greedy continuation"), ``acc_bytes`` ->
``accuracy_norm`` (tracker's per-byte normalisation), ``acc_norm`` -> ``accuracy_norm``
(lm-eval normalises per character: the same on ASCII text; kept as ``acc_norm`` where the
task also reports acc_bytes), ``brier_score`` -> ``brier``, ``exact_match`` ->
``exact_match``; any other metric keeps its lm-eval name (``ppl``, ``perplexity``,
``word_perplexity``, ``likelihood_difference``, ``pct_stereotype``, ...). A filter other than
``none`` is appended in brackets: ``exact_match[strict-match]``. Direction: tracker's own
for its metrics, else the file's ``higher_is_better``, else a small table (perplexities,
bits per byte and CrowS-Pairs' measures: lower is better), else higher (with a note).

Chance: tracker's chance for its metrics (1/K for accuracy-type and p_correct, (K-1)/K for
brier, 0 for exact match) with K from the sample logs, or for known tasks from
:data:`KNOWN_CHOICES` (ARC is 4 though a few ARC questions have 3 or 5 choices); else None.

Example counts: ``n-samples`` or the sample log; else, as in Pythia's published files, from
the standard error of a 0/1 metric such as accuracy. lm-eval reports a mean's standard
error with the sample variance (ddof=1): se^2 = p(1-p)/(n-1), so n = p(1-p)/se^2 + 1,
rounded. Needs 0 < p < 1; a task where that fails (LAMBADA accuracy 0 at step 0) takes the
count the same task has in the other files of the import.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tracker.evals.interface import MetricScore
from tracker.evals.metrics import METRICS, MetricSpec, aggregate, multiple_choice_scores
from tracker.imports.files import TaskEntry

MMLU_SUBJECTS = (
    "abstract_algebra", "anatomy", "astronomy", "business_ethics", "clinical_knowledge",
    "college_biology", "college_chemistry", "college_computer_science", "college_mathematics",
    "college_medicine", "college_physics", "computer_security", "conceptual_physics",
    "econometrics", "electrical_engineering", "elementary_mathematics", "formal_logic",
    "global_facts", "high_school_biology", "high_school_chemistry",
    "high_school_computer_science", "high_school_european_history", "high_school_geography",
    "high_school_government_and_politics", "high_school_macroeconomics",
    "high_school_mathematics", "high_school_microeconomics", "high_school_physics",
    "high_school_psychology", "high_school_statistics", "high_school_us_history",
    "high_school_world_history", "human_aging", "human_sexuality", "international_law",
    "jurisprudence", "logical_fallacies", "machine_learning", "management", "marketing",
    "medical_genetics", "miscellaneous", "moral_disputes", "moral_scenarios", "nutrition",
    "philosophy", "prehistory", "professional_accounting", "professional_law",
    "professional_medicine", "professional_psychology", "public_relations",
    "security_studies", "sociology", "us_foreign_policy", "virology", "world_religions",
)
MMLU_PREFIXES = ("hendrycksTest-", "mmlu_")
MMLU_TASK = "mmlu"
# Choices per question of well-known multiple-choice tasks (ARC: 4 for nearly every question;
# a few have 3 or 5, so its chance level is approximate).
KNOWN_CHOICES = {"arc_easy": 4, "arc_challenge": 4, "piqa": 2, "sciq": 4, "winogrande": 2,
                 "logiqa": 4, "wsc": 2, "hellaswag": 4, MMLU_TASK: 4}
RENAMED = {"acc_bytes": "accuracy_norm", "brier_score": "brier"}
LOWER_IS_BETTER = frozenset({"ppl", "perplexity", "word_perplexity", "byte_perplexity",
                             "bits_per_byte", "likelihood_difference", "likelihood_diff",
                             "pct_stereotype"})
# Per-example 0/1 metrics: their standard error gives the number of examples.
BINARY = frozenset({"acc", "acc_norm", "acc_bytes", "acc_mutual_info", "exact_match", "em",
                    "pct_stereotype"})
# Logged per example but not the metric itself (lm-eval's perplexity sample is a
# log-likelihood; its aggregate is exp(-mean)).
NOT_PER_EXAMPLE = frozenset({"perplexity", "ppl"})
DERIVED_MULTIPLE_CHOICE = ("accuracy", "p_correct", "brier", "logprob_correct",
                           "logprob_correct_per_byte")
SAMPLE_FIELDS = frozenset({"doc_id", "doc", "target", "arguments", "resps", "filtered_resps",
                           "filter", "metrics", "doc_hash", "prompt_hash", "target_hash"})


@dataclass(frozen=True)
class TaskScores:
    """A task's scores for one checkpoint, its per-example rows, n and notes."""

    scores: tuple[MetricScore, ...]
    examples: pd.DataFrame
    n: int
    notes: tuple[str, ...] = ()


def mmlu_subject(task: str) -> str | None:
    for prefix in MMLU_PREFIXES:
        if task.startswith(prefix) and task[len(prefix):] in MMLU_SUBJECTS:
            return task[len(prefix):]
    return None


def known_choices(task: str) -> int | None:
    return 4 if mmlu_subject(task) else KNOWN_CHOICES.get(task)


def metric_name(entry: TaskEntry, metric: str, filter_: str = "none") -> str:
    """tracker's name for one of lm-eval's metrics of ``entry`` (see the module docstring).

    Example:
        >>> from tracker.imports.files import TaskEntry
        >>> entry = TaskEntry("lambada_openai", "0", 0, None, (), {}, None, " ", "")
        >>> metric_name(entry, "acc"), metric_name(entry, "ppl")
        ('greedy_match', 'ppl')
    """
    if metric == "acc":
        base = "greedy_match" if _is_loglikelihood(entry) else "accuracy"
    elif metric == "acc_norm":
        has_bytes = any(m.name == "acc_bytes" for m in entry.metrics)
        base = "acc_norm" if has_bytes else "accuracy_norm"
    else:
        base = RENAMED.get(metric, metric)
    return base if filter_ == "none" else f"{base}[{filter_}]"


def base_name(name: str) -> str:
    return name.split("[", 1)[0]


def _is_loglikelihood(entry: TaskEntry) -> bool:
    if entry.output_type is not None:
        return entry.output_type == "loglikelihood"
    return entry.name.startswith("lambada")


def direction(entry: TaskEntry, metric: str, name: str) -> bool | None:
    spec = METRICS.get(base_name(name))
    if spec is not None:
        return spec.higher_is_better
    given = entry.higher_is_better.get(metric)
    if given is not None:
        return given
    return False if metric in LOWER_IS_BETTER else None


def chance_level(name: str, choices: Sequence[int] | None) -> float | None:
    """Chance of tracker metric ``name`` averaged over the examples' choice counts."""
    spec = METRICS.get(base_name(name))
    if spec is None or spec.chance is None:
        return None
    if base_name(name) == "exact_match":
        return 0.0
    if not choices:
        return None
    return float(np.mean([spec.chance(k) for k in choices]))


def n_from_stderr(entry: TaskEntry) -> int | None:
    """Examples of a task from the standard error of a 0/1 metric: n = p(1-p)/se^2 + 1.

    Example:
        >>> from tracker.imports.files import MetricValue, TaskEntry
        >>> acc = MetricValue("acc", "none", 0.3, math.sqrt(0.3 * 0.7 / 999))
        >>> n_from_stderr(TaskEntry("sciq", "0", 0, None, (acc,), {}, None, " ", ""))
        1000
    """
    estimates = [round(m.value * (1 - m.value) / m.stderr**2 + 1) for m in entry.metrics
                 if m.name in BINARY and 0 < m.value < 1 and math.isfinite(m.stderr)
                 and m.stderr > 0]
    return Counter(estimates).most_common(1)[0][0] if estimates else None


def pooled_stderr(stderrs: Sequence[float], sizes: Sequence[int]) -> float:
    """Standard error of an example-weighted mean of subtasks, from the pooled variance
    (lm-eval's ``pooled_sample_stderr``, used by its groups such as mmlu)."""
    total = sum(sizes)
    if total - len(sizes) <= 0:
        return math.nan
    variance = sum((n - 1) * se**2 * n for n, se in zip(sizes, stderrs, strict=True))
    return math.sqrt(variance / (total - len(sizes)) / total)


def task_scores(entry: TaskEntry, n: int, examples: pd.DataFrame,
                choices: Sequence[int] | None) -> TaskScores:
    """The file's aggregates under tracker's names, plus the means of per-example metrics
    the file does not report (p_correct, brier, ... rebuilt from the sample log)."""
    table_k = known_choices(entry.name)
    known = choices or ([table_k] if table_k else None)
    scores, notes = [], []
    for value in entry.metrics:
        name = metric_name(entry, value.name, value.filter)
        higher = direction(entry, value.name, name)
        if higher is None:
            notes.append(f"task '{entry.name}' metric '{name}': direction unknown; assuming "
                         "higher is better")
            higher = True
        scores.append(MetricScore(name, value.value, value.stderr, n, higher,
                                  chance_level(name, known)))
    reported = {score.metric for score in scores}
    specs = []
    for column in examples.columns:
        if column == "example_id" or column in reported:
            continue
        spec = METRICS.get(base_name(column))
        higher = spec.higher_is_better if spec else (direction(entry, column, column) is not False)
        specs.append(MetricSpec(column, higher, spec.chance if spec else None))
    derived = aggregate(examples, specs, choices)
    scores += [_with_chance(score, known) for score in derived]
    return TaskScores(tuple(scores), examples, n, tuple(notes))


def _with_chance(score: MetricScore, choices: Sequence[int] | None) -> MetricScore:
    """aggregate() without choice counts reads K=1; use the known K instead."""
    if score.chance is None:
        return score
    return MetricScore(score.metric, score.score, score.stderr, score.n,
                       score.higher_is_better, chance_level(score.metric, choices))


def pool_subtasks(parts: Sequence[tuple[str, TaskScores]]) -> TaskScores:
    """One task from subtasks (MMLU's subjects), as lm-eval's groups aggregate: each metric
    the subtasks share is their example-weighted mean, with the pooled standard error.
    Per-example rows are kept (ids ``<subtask>/<id>``) when every subtask has them."""
    sizes = [part.n for _, part in parts]
    first = {score.metric: score for score in parts[0][1].scores}
    shared = [name for name in first
              if all(name in {s.metric for s in part.scores} for _, part in parts)]
    scores = []
    for name in shared:
        items = [next(s for s in part.scores if s.metric == name) for _, part in parts]
        total = sum(sizes)
        mean = sum(n * s.score for n, s in zip(sizes, items, strict=True)) / total
        chances = [s.chance for s in items]
        chance = (None if any(c is None for c in chances) else
                  sum(n * c for n, c in zip(sizes, chances, strict=True) if c is not None)
                  / total)
        scores.append(MetricScore(name, mean, pooled_stderr([s.stderr for s in items], sizes),
                                  total, first[name].higher_is_better, chance))
    frames = [part.examples for _, part in parts]
    if all(len(frame) for frame in frames):
        examples = pd.concat([frame.assign(example_id=name + "/" + frame["example_id"])
                              for (name, _), frame in zip(parts, frames, strict=True)],
                             ignore_index=True)
    else:
        examples = empty_examples()
    return TaskScores(tuple(scores), examples, sum(sizes))


@functools.cache
def empty_examples() -> pd.DataFrame:
    """The rows of a unit without per-example results: an empty ``example_id`` column.
    One shared frame (building 40,000 empty frames took longer than writing the units);
    the store only reads it."""
    return pd.DataFrame({"example_id": pd.Series([], dtype=str)})


def sample_rows(entry: TaskEntry, samples: Iterable[dict[str, Any]]
                ) -> tuple[pd.DataFrame, list[int] | None, tuple[str, ...]]:
    """Per-example rows from an lm-eval 0.4 sample log: the metrics lm-eval logged (under
    tracker's names) and, from the logged log-likelihoods, for multiple choice accuracy,
    p_correct, brier, logprob_correct(_per_byte) (tracker.evals.metrics.multiple_choice_scores),
    for loglikelihood tasks target_nll and greedy_match. Returns (rows, choices per example
    or None, notes)."""
    rows: dict[str, dict[str, float]] = {}
    choices: dict[str, int] = {}
    unknown_gold = 0
    for sample in samples:
        filter_ = str(sample.get("filter") or "none")
        suffix = "" if filter_ == "none" else f"[{filter_}]"
        doc = str(sample.get("doc_id"))
        row = rows.setdefault(doc, {})
        logged = sample.get("metrics")
        names = ([m for m in logged if isinstance(m, str)] if isinstance(logged, list)
                 else [k for k in sample if k not in SAMPLE_FIELDS])
        for metric in names:
            value = _scalar(sample.get(metric))
            if value is not None and metric not in NOT_PER_EXAMPLE:
                row[metric_name(entry, metric, filter_)] = value
        pairs = _loglikelihoods(sample.get("filtered_resps"))
        if pairs is None:
            continue
        kind = entry.output_type or ("multiple_choice" if len(pairs) > 1 else "loglikelihood")
        if kind == "loglikelihood" and len(pairs) == 1:
            row.setdefault("target_nll" + suffix, -pairs[0][0])
            row.setdefault("greedy_match" + suffix, float(pairs[0][1]))
        elif kind == "multiple_choice":
            lls = [ll for ll, _ in pairs]
            if "acc_mutual_info" in names and len(lls) % 2 == 0:
                lls = lls[: len(lls) // 2]  # then the unconditional log-likelihoods
            texts = _continuations(sample, entry.target_delimiter, len(lls))
            gold = gold_index(sample, lls, texts)
            if gold is None:
                unknown_gold += 1
                continue
            choice_bytes = [len(t.encode("utf-8")) for t in texts] if texts else [1] * len(lls)
            computed = multiple_choice_scores(lls, gold, choice_bytes)
            for name in DERIVED_MULTIPLE_CHOICE:
                if name == "logprob_correct_per_byte" and not texts:
                    continue
                row.setdefault(name + suffix, computed[name])
            choices[doc] = len(lls)
    frame = pd.DataFrame([{"example_id": doc, **values} for doc, values in rows.items()])
    if frame.empty:
        return empty_examples(), None, ()
    notes: tuple[str, ...] = ()
    if unknown_gold:
        derived = [c for c in frame.columns if base_name(c) in DERIVED_MULTIPLE_CHOICE
                   and c not in _logged_names(entry)]
        frame = frame.drop(columns=derived)
        notes = (f"task '{entry.name}': the gold choice of {unknown_gold} logged examples is "
                 "not recoverable; p_correct and brier are not rebuilt",)
    frame["example_id"] = frame["example_id"].astype(str)
    counts = [choices[doc] for doc in frame["example_id"] if doc in choices]
    return frame, counts if len(counts) == len(frame) else None, notes


def _logged_names(entry: TaskEntry) -> set[str]:
    return {metric_name(entry, m.name, m.filter) for m in entry.metrics}


def gold_index(sample: Mapping[str, Any], lls: Sequence[float],
               texts: Sequence[str] | None) -> int | None:
    """The gold choice of a logged multiple-choice example: from a logged (gold, ...) pair
    (brier_score, likelihood), the target as an index or as a choice's text, or the logged
    accuracy; a candidate must agree with the logged accuracy."""
    k = len(lls)
    accuracy = _scalar(sample.get("acc"))
    best = int(np.argmax(lls))
    unique = int(np.sum(np.asarray(lls) == lls[best])) == 1
    candidates: list[int] = []
    for key in ("brier_score", "likelihood"):
        value = sample.get(key)
        if isinstance(value, list | tuple) and value and _is_int(value[0]):
            candidates.append(int(value[0]))
    target = sample.get("target")
    if isinstance(target, str):
        if texts and list(texts).count(target) == 1:
            candidates.append(list(texts).index(target))
        if target.strip().isdigit():
            candidates.append(int(target.strip()))
    elif isinstance(target, int) and not isinstance(target, bool):
        candidates.append(target)
    if accuracy is not None and unique:
        if accuracy == 1.0:
            candidates.append(best)
        elif k == 2:
            candidates.append(1 - best)
    for candidate in candidates:
        if 0 <= candidate < k and (accuracy is None or float(best == candidate) == accuracy):
            return candidate
    return None


def _continuations(sample: Mapping[str, Any], delimiter: str, k: int) -> list[str] | None:
    """The choice texts (continuations without the target delimiter), when logged."""
    arguments = sample.get("arguments")
    if isinstance(arguments, dict):  # 0.4.x: {"gen_args_0": {"arg_0": ctx, "arg_1": cont}}
        items = [arguments[key] for key in sorted(arguments, key=_arg_index)]
        conts = [item.get("arg_1") for item in items if isinstance(item, dict)]
    elif isinstance(arguments, list):  # earlier 0.4: [[ctx, cont], ...]
        conts = [item[1] if isinstance(item, list | tuple) and len(item) > 1 else None
                 for item in arguments]
    else:
        return None
    texts = [c for c in conts[:k] if isinstance(c, str)]
    if len(texts) < k:
        return None
    return [c[len(delimiter):] if delimiter and c.startswith(delimiter) else c for c in texts]


def _arg_index(key: str) -> int:
    digits = key.rsplit("_", 1)[-1]
    return int(digits) if digits.isdigit() else 0


def _loglikelihoods(responses: object) -> list[tuple[float, bool]] | None:
    """``[[ll, is_greedy], ...]`` (numbers or, as 0.4.x writes them, strings) as pairs."""
    if not isinstance(responses, list) or not responses:
        return None
    pairs = []
    for item in responses:
        if not isinstance(item, list | tuple) or len(item) != 2:
            return None
        ll, greedy = _float(item[0]), _bool(item[1])
        if ll is None or greedy is None:
            return None
        pairs.append((ll, greedy))
    return pairs


def _float(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if value in ("True", "False"):
        return value == "True"
    return None


def _scalar(value: object) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
