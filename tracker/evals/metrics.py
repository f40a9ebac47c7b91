"""Per-example metrics for tasks, each declaring its direction and chance level.

Multiple choice (K choices, ``ll_j`` = summed log-likelihood of choice j in nats):

- ``accuracy``: argmax_j ll_j is the gold choice. Chance 1/K.
- ``accuracy_norm``: argmax_j ll_j / bytes_j (UTF-8 bytes of the choice text without the
  prompt/choice delimiter), lm-eval's ``acc_bytes`` (= its ``acc_norm`` on ASCII). Chance 1/K.
- ``p_correct`` (CorrectChoiceProb): softmax(ll)[gold]. Chance 1/K.
- ``brier``: sum_j (softmax(ll)_j - 1[j == gold])^2, range 0..2, lm-eval's
  ``brier_score`` convention; lower is better. Chance (K-1)/K.
- ``logprob_correct``: ll_gold (nats); ``logprob_correct_per_byte``: ll_gold / bytes_gold.

Generative (greedy generation after the task's stop handling and output_regex):

- ``exact_match``: the extracted answer equals a target (both stripped). Chance 0.
- ``token_edit_distance``: Levenshtein distance between generated and target token ids
  (each encoded on its own, no special tokens), the smallest over targets;
  ``token_edit_distance_norm``: that distance / target length in tokens.
- ``target_nll``: teacher-forced NLL (nats) of the target after the prompt, the smallest
  over targets; ``target_nll_per_token``: the same per target token.
- ``greedy_match``: the target is the greedy continuation token for token (lm-eval's
  ``acc`` for LAMBADA-style loglikelihood tasks).

A chance level of None means the metric has no guess-level (log-likelihoods, distances).
Each metric also declares the range its values can take (``low``, ``high``): proportions in
[0, 1], brier in [0, 2], log-likelihoods at most 0, distances and NLLs at least 0. A curve
extrapolated beyond the data (a forecast) is clipped to it (:func:`metric_range`).

What the emergence fit needs of a metric lives here too: whether its per-example values
are 0/1 (``binomial``: binomial weights and resampling), its material rise (``min_rise``,
in its units: the least change over the loss range that counts as an ability; 0.05 for
scores on [0, 1] and for any metric tracker does not know, 0.10 for NLLs in nats and
distances in tokens), and its continuous twins (``twins``: the mirage test pairs each
accuracy-type metric with them, :data:`CONTINUOUS_TWINS`): accuracy with p_correct and
brier, exact match with target NLL and token edit distance (and their per-token and
normalised forms, where a table has those), greedy match with target NLL.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from tracker.evals.interface import MetricScore

DEFAULT_MIN_RISE = 0.05


MetricKind = Literal["multiple_choice", "generative", "lm-eval", "loss"]


@dataclass(frozen=True)
class MetricSpec:
    """A metric's name, direction, chance level for an example with K choices, range,
    whether it is a 0/1 outcome, its material rise, its continuous twins, its kind (which
    examples produce it, or a validation loss) and whether it needs generated text."""

    name: str
    higher_is_better: bool
    chance: Callable[[int], float] | None = None
    low: float = -math.inf
    high: float = math.inf
    binomial: bool = False
    min_rise: float = DEFAULT_MIN_RISE
    twins: tuple[str, ...] = ()
    kind: MetricKind = "multiple_choice"
    from_generation: bool = False


def _one_in(k: int) -> float:
    return 1.0 / k


def _brier_chance(k: int) -> float:
    return (k - 1) / k


def _zero(k: int) -> float:
    return 0.0


_GEN: MetricKind = "generative"

# Every metric tracker knows, in one table: the fit, the report and the scorer read it.
REGISTRY: tuple[MetricSpec, ...] = (
    MetricSpec("accuracy", True, _one_in, 0.0, 1.0, binomial=True,
               twins=("p_correct", "brier")),
    MetricSpec("accuracy_norm", True, _one_in, 0.0, 1.0, binomial=True,
               twins=("p_correct", "brier")),
    MetricSpec("p_correct", True, _one_in, 0.0, 1.0),
    MetricSpec("brier", False, _brier_chance, 0.0, 2.0),
    MetricSpec("logprob_correct", True, high=0.0, min_rise=0.10),
    MetricSpec("logprob_correct_per_byte", True, high=0.0),
    MetricSpec("exact_match", True, _zero, 0.0, 1.0, binomial=True,
               twins=("target_nll", "token_edit_distance", "token_edit_distance_norm",
                      "target_nll_per_token"), kind=_GEN, from_generation=True),
    MetricSpec("token_edit_distance", False, low=0.0, min_rise=0.10, kind=_GEN,
               from_generation=True),
    MetricSpec("token_edit_distance_norm", False, low=0.0, kind=_GEN, from_generation=True),
    MetricSpec("target_nll", False, low=0.0, min_rise=0.10, kind=_GEN),
    MetricSpec("target_nll_per_token", False, low=0.0, kind=_GEN),
    MetricSpec("greedy_match", True, low=0.0, high=1.0, binomial=True,
               twins=("target_nll",), kind=_GEN),
    # reported by lm-eval and stored beside tracker's own (tracker.tasks.lmeval_rows):
    # ``acc_norm`` normalises by characters where ``accuracy_norm`` normalises by bytes
    MetricSpec("acc_norm", True, _one_in, 0.0, 1.0, binomial=True,
               twins=("p_correct", "brier"), kind="lm-eval"),
    # validation losses, the x axis; a run's axis is the first of LOSS_PREFERENCE it holds
    MetricSpec("bits_per_byte", False, low=0.0, kind="loss"),
    MetricSpec("nats_per_token", False, low=0.0, kind="loss"),
    MetricSpec("loss", False, low=0.0, kind="loss"),
)
LOSS_PREFERENCE = ("bits_per_byte", "loss")  # then loss_<set>_<unit>, then proxy_* losses
# the units a loss is given in: an imported loss is named loss_<set>_<unit>
LOSS_UNITS = ("nats_per_token", "bits_per_byte")


def _of_kind(kind: MetricKind) -> tuple[MetricSpec, ...]:
    return tuple(spec for spec in REGISTRY if spec.kind == kind)


MULTIPLE_CHOICE_METRICS = _of_kind("multiple_choice")
GENERATIVE_METRICS = _of_kind("generative")
LOSSES = {spec.name: spec for spec in _of_kind("loss")}
# the metrics of task examples (losses are the x axis, not a task's score)
METRICS = {spec.name: spec for spec in REGISTRY if spec.kind != "loss"}
# Per-example 0/1 outcomes: their means are binomial proportions (weights, resampling).
BINOMIAL_METRICS = frozenset(spec.name for spec in METRICS.values() if spec.binomial)
CONTINUOUS_TWINS = {spec.name: spec.twins for spec in METRICS.values() if spec.twins}
GENERATION_METRICS = tuple(spec.name for spec in REGISTRY if spec.from_generation)


def min_rise_for(metric: str) -> float:
    """The minimum material rise, in the metric's units (0.05 for unknown metrics).

    Example:
        >>> min_rise_for("target_nll")
        0.1
    """
    spec = METRICS.get(metric)
    return spec.min_rise if spec is not None else DEFAULT_MIN_RISE


def metric_range(name: str) -> tuple[float, float]:
    """(low, high) of a metric's values; unbounded for metrics tracker does not know.

    Example:
        >>> metric_range("brier")
        (0.0, 2.0)
    """
    spec = METRICS.get(name)
    return (spec.low, spec.high) if spec is not None else (-math.inf, math.inf)


def softmax(logprobs: np.ndarray) -> np.ndarray:
    """Numerically stable softmax of a 1-D array (as lm-eval's ``utils.softmax``)."""
    shifted = np.exp(logprobs - np.max(logprobs))
    return shifted / shifted.sum()


def multiple_choice_scores(
    logprobs: Sequence[float], answer: int, choice_bytes: Sequence[int]
) -> dict[str, float]:
    """Every multiple-choice metric for one question.

    Example:
        >>> multiple_choice_scores([-1.0, -1.0], 0, [3, 3])["brier"]
        0.5
    """
    lls = np.asarray(logprobs, dtype=np.float64)
    n_bytes = np.maximum(np.asarray(choice_bytes, dtype=np.float64), 1.0)
    probs = softmax(lls)
    gold = np.zeros_like(probs)
    gold[answer] = 1.0
    return {
        "accuracy": float(np.argmax(lls) == answer),
        "accuracy_norm": float(np.argmax(lls / n_bytes) == answer),
        "p_correct": float(probs[answer]),
        "brier": float(np.sum((probs - gold) ** 2)),
        "logprob_correct": float(lls[answer]),
        "logprob_correct_per_byte": float(lls[answer] / n_bytes[answer]),
    }


def extract_answer(generation: str, output_regex: str | None) -> str:
    """The answer text exact match compares: the first ``output_regex`` match (its first
    non-empty group, if it has groups), or the whole generation; stripped. No match -> ""."""
    if output_regex is None:
        return generation.strip()
    matches = re.findall(output_regex, generation)
    if not matches:
        return ""
    first = matches[0]
    if isinstance(first, tuple):
        first = next((group for group in first if group), "")
    return first.strip()


def token_edit_distance(generated: Sequence[int], target: Sequence[int]) -> int:
    """Levenshtein distance (insert, delete, substitute, each 1) between two id sequences.

    Example:
        >>> token_edit_distance([1, 2, 3], [1, 3])
        1
    """
    previous = list(range(len(target) + 1))
    for i, generated_id in enumerate(generated, start=1):
        current = [i]
        for j, target_id in enumerate(target, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (generated_id != target_id)))
        previous = current
    return previous[-1]


@dataclass(frozen=True)
class TargetScore:
    """What scoring says about one target string of a generative example."""

    token_ids: tuple[int, ...]  # the stripped target encoded on its own (edit distance)
    logprob: float  # teacher-forced, after the prompt, nats
    n_tokens: int  # tokens of the target as scored after the prompt
    is_greedy: bool


def generative_scores(
    answer: str, generated_ids: Sequence[int], targets: Sequence[str],
    target_scores: Sequence[TargetScore],
) -> dict[str, float]:
    """Every generative metric for one example; distances and NLLs take the best target."""
    distances = [token_edit_distance(generated_ids, score.token_ids) for score in target_scores]
    normalized = [d / max(len(s.token_ids), 1) for d, s in zip(distances, target_scores,
                                                                strict=True)]
    nlls = [-score.logprob for score in target_scores]
    per_token = [-s.logprob / max(s.n_tokens, 1) for s in target_scores]
    return {
        "exact_match": float(any(answer == target.strip() for target in targets)),
        "token_edit_distance": float(min(distances)),
        "token_edit_distance_norm": float(min(normalized)),
        "target_nll": float(min(nlls)),
        "target_nll_per_token": float(min(per_token)),
        "greedy_match": float(any(score.is_greedy for score in target_scores)),
    }


def aggregate(
    examples: pd.DataFrame, specs: Sequence[MetricSpec], n_choices: Sequence[int] | None = None
) -> tuple[MetricScore, ...]:
    """Mean and standard error of each metric column; chance averaged over examples' K."""
    scores = []
    for spec in specs:
        if spec.name not in examples:
            continue
        chance = None
        if spec.chance is not None:
            ks = n_choices if n_choices is not None else [1] * len(examples)
            chance = float(np.mean([spec.chance(k) for k in ks])) if len(ks) else None
        scores.append(MetricScore.from_values(spec.name, examples[spec.name].to_numpy(),
                                              higher_is_better=spec.higher_is_better,
                                              chance=chance))
    return tuple(scores)
