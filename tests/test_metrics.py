"""Metrics against closed forms and brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from tracker.evals import metrics


@pytest.mark.parametrize("k", [2, 4, 7])
def test_uniform_logprobs_give_chance_levels(k):
    scores = metrics.multiple_choice_scores([-3.0] * k, answer=1, choice_bytes=[4] * k)
    assert scores["p_correct"] == pytest.approx(1 / k)
    assert scores["brier"] == pytest.approx((k - 1) / k)
    assert scores["brier"] == pytest.approx(metrics.METRICS["brier"].chance(k))
    assert scores["accuracy"] == 0.0  # ties go to the first choice, as np.argmax and lm-eval


def test_uniform_four_way_brier_is_lm_eval_075():
    assert metrics.multiple_choice_scores([0.0] * 4, 0, [1] * 4)["brier"] == pytest.approx(0.75)


def test_confident_correct_and_wrong():
    right = metrics.multiple_choice_scores([0.0, -100.0], 0, [1, 1])
    wrong = metrics.multiple_choice_scores([-100.0, 0.0], 0, [1, 1])
    assert right["accuracy"] == 1.0 and right["brier"] == pytest.approx(0.0)
    assert wrong["accuracy"] == 0.0 and wrong["brier"] == pytest.approx(2.0)
    assert right["logprob_correct"] == 0.0 and wrong["logprob_correct"] == -100.0


def test_accuracy_norm_divides_by_bytes():
    # choice 1 has the lower total but the higher per-byte log-likelihood
    scores = metrics.multiple_choice_scores([-4.0, -6.0], 1, [2, 6])
    assert scores["accuracy"] == 0.0 and scores["accuracy_norm"] == 1.0
    assert scores["logprob_correct_per_byte"] == pytest.approx(-1.0)


def _levenshtein_brute(a, b):
    """Shortest edit script by breadth-first search over strings (tiny inputs only)."""
    frontier, seen, steps = {tuple(a)}, {tuple(a)}, 0
    alphabet = set(a) | set(b)
    while tuple(b) not in frontier:
        nxt = set()
        for s in frontier:
            for i in range(len(s) + 1):
                nxt |= {s[:i] + (c,) + s[i:] for c in alphabet}
                if i < len(s):
                    nxt.add(s[:i] + s[i + 1:])
                    nxt |= {s[:i] + (c,) + s[i + 1:] for c in alphabet}
        frontier, steps = nxt - seen, steps + 1
        seen |= nxt
    return steps


def test_token_edit_distance_matches_brute_force():
    for a, b in itertools.product([(), (1,), (1, 2), (2, 1, 3)], [(), (1,), (3, 1), (1, 2, 3)]):
        assert metrics.token_edit_distance(a, b) == _levenshtein_brute(a, b)


def test_extract_answer_regex_and_strip():
    assert metrics.extract_answer(" 109 apples", r"[-+]?\d+") == "109"
    assert metrics.extract_answer("no digits", r"\d+") == ""
    assert metrics.extract_answer("x=12;", r"x=(\d+)") == "12"
    assert metrics.extract_answer("  hi \n", None) == "hi"


def test_generative_scores_take_best_target():
    targets = ("109", "one hundred nine")
    scores = metrics.generative_scores(
        "109", [5, 6], targets,
        [metrics.TargetScore((5, 6), -2.0, 2, True), metrics.TargetScore((7, 8, 9), -9.0, 3,
                                                                           False)])
    assert scores["exact_match"] == 1.0
    assert scores["token_edit_distance"] == 0.0 and scores["token_edit_distance_norm"] == 0.0
    assert scores["target_nll"] == 2.0 and scores["target_nll_per_token"] == 1.0
    assert scores["greedy_match"] == 1.0


def test_aggregate_mean_stderr_and_chance():
    frame = pd.DataFrame({"example_id": ["0", "1", "2", "3"],
                          "accuracy": [1.0, 0.0, 1.0, 1.0], "brier": [0.1, 0.9, 0.2, 0.4]})
    scores = metrics.aggregate(frame, metrics.MULTIPLE_CHOICE_METRICS, [2, 2, 4, 4])
    accuracy = next(s for s in scores if s.metric == "accuracy")
    assert accuracy.score == 0.75
    assert accuracy.stderr == pytest.approx(np.std([1, 0, 1, 1], ddof=1) / 2)
    assert accuracy.chance == pytest.approx((0.5 + 0.5 + 0.25 + 0.25) / 4)
    brier = next(s for s in scores if s.metric == "brier")
    assert not brier.higher_is_better and brier.chance == pytest.approx((0.5 + 0.5 + .75 + .75) / 4)
    assert {s.metric for s in scores} == {"accuracy", "brier"}


def test_every_metric_declares_the_direction_its_meaning_implies():
    """Scores of a correct answer rise, distances and losses fall: written out per metric,
    so a flipped flag (which would invert every fit of that metric) fails here."""
    higher = {"accuracy", "accuracy_norm", "acc_norm", "p_correct", "logprob_correct",
              "logprob_correct_per_byte", "exact_match", "greedy_match"}
    lower = {"brier", "token_edit_distance", "token_edit_distance_norm", "target_nll",
             "target_nll_per_token"}
    assert set(metrics.METRICS) == higher | lower
    for name, spec in metrics.METRICS.items():
        assert spec.higher_is_better is (name in higher), name
