"""Du et al.'s claims per series: "same loss, same score" (pooled against per-size curves)
and per-size onsets, on synthetic sizes whose truth is known."""

import numpy as np
import pytest

from tracker.fit import fit_threshold
from tracker.fit.sizes import size_consistency

SIZES = ("s", "m", "l", "xl")


def three_size_hinge(offsets, *, seed=0, noise=0.01, eta=2.5, points_per_size=30):
    """Accuracy-like scores: flat at 0.25 above loss eta, rising 0.4 per unit below it;
    each size covers an overlapping loss range and may be shifted by its offset."""
    rng = np.random.default_rng(seed)
    loss, score, sizes = [], [], []
    for index, (size, offset) in enumerate(zip(SIZES, offsets, strict=True)):
        own = np.sort(rng.uniform(1.6 + 0.1 * index, 3.4 - 0.1 * index, points_per_size))
        truth = 0.25 + 0.4 * np.clip(eta - own, 0, None) + offset
        loss += list(own)
        score += list(truth + rng.normal(0, noise, own.size))
        sizes += [size] * own.size
    return np.array(loss), np.array(score), np.array(sizes)


def test_one_curve_for_every_size_is_consistent():
    loss, score, sizes = three_size_hinge([0, 0, 0, 0])
    fit = fit_threshold(loss, score, groups=sizes, chance=0.25, n_boot=50)
    assert fit.verdict == "emerges"
    result = size_consistency(fit, loss, score, sizes)
    assert result.verdict == "consistent across sizes"
    assert result.model == fit.model and result.model in ("hinge", "capped")
    assert result.n_sizes == 4
    assert result.offset_ci[0] <= 0 <= result.offset_ci[1]  # the truth (no offset) is inside
    assert len(result.thresholds) == 4  # every size spans 2.5 with 5+ points on each side
    for size_threshold in result.thresholds:
        assert abs(size_threshold.threshold - 2.5) < 0.15


def test_a_size_that_scores_higher_at_the_same_loss_matters():
    loss, score, sizes = three_size_hinge([0, 0, 0, 0.08])
    fit = fit_threshold(loss, score, groups=sizes, chance=0.25, n_boot=50)
    result = size_consistency(fit, loss, score, sizes)
    assert result.verdict == "size matters"
    assert result.offset_size == "xl"
    assert result.offset_ci[0] < 0.08 * 0.8 and result.largest_offset > 0.04
    assert result.offset_ci[0] > 0  # clearly above the pooled curve


@pytest.mark.parametrize("seed", range(5))
def test_no_false_alarm_over_seeds(seed):
    loss, score, sizes = three_size_hinge([0, 0, 0, 0], seed=seed)
    fit = fit_threshold(loss, score, groups=sizes, chance=0.25, n_boot=50)
    assert size_consistency(fit, loss, score, sizes).verdict == "consistent across sizes"


def test_lower_is_better_metric_reports_offsets_in_its_own_units():
    loss, score, sizes = three_size_hinge([0, 0, 0, 0.08])
    fit = fit_threshold(loss, -score, groups=sizes, higher_is_better=False, n_boot=50)
    result = size_consistency(fit, loss, -score, sizes)
    assert result.verdict == "size matters" and result.offset_size == "xl"
    assert result.largest_offset < -0.04 and result.offset_ci[1] < 0


def test_one_size_is_insufficient():
    loss, score, sizes = three_size_hinge([0, 0, 0, 0])
    keep = sizes == "s"
    fit = fit_threshold(loss[keep], score[keep], n_boot=50)
    assert size_consistency(fit, loss[keep], score[keep], sizes[keep]).verdict == "insufficient"
