"""fit_threshold: the emergence verdicts on one generator per shape, the onset and the width
against their closed forms, orientation, bad input, the result object.

Each shape test states what the previous rule ("is the curve kinked or curved?") said, so
that it fails on that rule where that rule was wrong: a sharp sigmoid from chance was
`smooth`, a series rising from its first checkpoint and then saturating was `threshold`.
"""

import json

import numpy as np
import pytest

import tracker
from tracker.fit import ThresholdFit, fit_threshold
from tracker.fit.emergence import emergence_score, final_by_scale
from tracker.fit.synthetic import WIDTHS, make_series


def fit_case(shape, seed=0, **kwargs):
    rng = np.random.default_rng(seed)
    data = make_series(shape, rng, **kwargs)
    fit = fit_threshold(data.loss, data.score, n=data.n, groups=data.size, chance=0.25,
                        binomial=True, random_state=rng)
    return data, fit


def test_hinge_emerges_from_chance_with_its_onset_covered():
    data, fit = fit_case("hinge", eta=2.4, slope=0.5)
    assert fit.verdict == "emerges" and fit.label == "emerges (from chance, abrupt)"
    assert abs(fit.threshold - 2.4) < 0.03 and fit.model in ("hinge", "capped")
    assert fit.ci_low < 2.4 < fit.ci_high and fit.ci_high - fit.ci_low < 0.15
    assert fit.baseline_at_chance is True and fit.slope == pytest.approx(0.5, abs=0.05)
    assert fit.interval_method == "binomial+groups" and fit.delta_bic > 10
    assert fit.plateau_share > 0.95 and not fit.steepening


@pytest.mark.parametrize("shape", ["sigmoid", "mid_sigmoid"])
def test_a_sigmoid_from_chance_emerges_with_onset_l0_plus_2s(shape):
    """The old rule called both `smooth` (a steep sigmoid fits as well as a hinge)."""
    data, fit = fit_case(shape, seed=1, eta=2.5)
    width = WIDTHS[shape]
    assert fit.verdict == "emerges" and fit.baseline_at_chance is True
    assert data.true_threshold == pytest.approx(2.5 + 2 * width)
    assert abs(fit.threshold - data.true_threshold) < 0.03
    assert fit.ci_low < data.true_threshold < fit.ci_high
    # the 10-90% span of a logistic of scale s is 2 s ln 9 (the largest size reaches its top)
    assert fit.width == pytest.approx(2 * width * np.log(9), rel=0.15)
    assert fit.width_low < fit.width < fit.width_high


@pytest.mark.parametrize("shape", ["wide_sigmoid", "linear", "gentle_power_law"])
def test_shapes_without_a_plateau_rise(shape):
    _, fit = fit_case(shape, seed=1)
    assert fit.verdict == "rises" and np.isnan(fit.threshold)
    assert fit.label in ("rises (throughout)",) or fit.label.startswith("rises (slope change")


def test_a_rise_from_the_first_checkpoint_that_saturates_is_not_an_emergence():
    """No plateau at high loss at all: the old rule's capped hinge called it `threshold`."""
    rng = np.random.default_rng(5)
    loss = np.sort(rng.uniform(1.5, 3.5, 200))
    p = np.minimum(0.25 + 0.45 * (3.6 - loss), 0.85)
    score = rng.binomial(500, p) / 500
    fit = fit_threshold(loss, score, n=np.full(200, 500), binomial=True, chance=0.25)
    assert fit.verdict == "rises"
    # and the label says where it saturates: 0.25 + 0.45 (3.6 - L) reaches 0.85 at 2.267
    assert fit.label.startswith("rises (levels off below ")
    assert abs(fit.ceiling - (3.6 - 0.6 / 0.45)) < 0.08


def test_a_step_from_zero_to_one_emerges_abruptly():
    """The ladder's copy:8 shape: 0.00 down to about 1.75 bits per byte, then 0.99 within
    0.1: an abrupt emergence (the old rule called it `smooth` in 2 of 3 seeds)."""
    rng = np.random.default_rng(8)
    loss = np.sort(rng.uniform(1.4, 6.0, 120))
    p = np.clip((1.75 - loss) / 0.1, 0.0, 0.99)
    score = rng.binomial(200, p) / 200
    fit = fit_threshold(loss, score, n=np.full(120, 200), binomial=True, chance=0.0)
    assert fit.label == "emerges (from chance, abrupt)"
    assert abs(fit.threshold - 1.75) < 0.03 and fit.width_frac < 0.05


def test_flat_at_chance_and_an_mmlu_like_drift_are_flat():
    _, flat = fit_case("flat", seed=2)
    assert flat.verdict == "flat" and abs(flat.baseline - 0.25) < 4 * flat.baseline_se
    assert np.isnan(flat.threshold) and flat.slope == 0.0
    _, drift = fit_case("mmlu_drift", seed=2)  # the old rule: `smooth`
    assert drift.verdict == "flat" and "below the material" in drift.reason


def test_a_climb_from_below_chance_to_chance_is_no_ability():
    """A random model's answer-format bias (0.20 on a 4-way task) unlearnt, then a point
    above chance: a change of 0.06 in all, but only 0.01 from chance up (Pythia's MMLU)."""
    rng = np.random.default_rng(12)
    loss = np.sort(rng.uniform(2.0, 20.0, 300))
    p = np.where(loss > 5, 0.25 - 0.05 * (loss - 5) / 15, 0.25 + 0.01 * (5 - loss) / 3)
    score = rng.binomial(14_000, p) / 14_000
    fit = fit_threshold(loss, score, n=np.full(300, 14_000), binomial=True, chance=0.25)
    assert fit.verdict == "flat" and "material" in fit.reason
    no_chance = fit_threshold(loss, score, n=np.full(300, 14_000), binomial=True)
    assert no_chance.verdict != "flat"  # the same change, chance unknown, is material


def test_constant_scores_are_flat_without_crashing():
    fit = fit_threshold(np.linspace(1, 3, 50), np.full(50, 0.25), chance=0.25)
    assert fit.verdict == "flat" and fit.baseline == 0.25 and fit.baseline_at_chance


def test_fewer_than_ten_points_is_insufficient():
    fit = fit_threshold([3.0, 2.5, 2.0, 1.5], [0.25, 0.25, 0.4, 0.6])
    assert fit.verdict == "insufficient" and fit.n_points == 4
    assert "insufficient" in fit.summary()
    few = fit_threshold(np.repeat([2.0, 3.0], 10), np.tile([0.1, 0.2], 10))
    assert few.verdict == "insufficient" and "distinct losses" in few.reason


def test_nan_and_infinite_losses_are_dropped_and_counted():
    loss = np.linspace(1.5, 4.0, 60)
    score = 0.25 + 0.5 * np.maximum(2.5 - loss, 0)
    loss[[3, 7]] = [np.nan, np.inf]
    score[10] = np.nan
    fit = fit_threshold(loss, score)
    assert fit.n_dropped == 3 and fit.n_points == 57
    assert fit.verdict == "emerges" and "3 dropped" in fit.summary()


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="loss has 3 values but score has 2"):
        fit_threshold([1, 2, 3], [0.1, 0.2])


def test_lower_is_better_metric_is_oriented():
    """Brier falls as loss falls: the same onset, slope negative in brier units."""
    loss = np.linspace(1.5, 4.0, 120)
    rng = np.random.default_rng(4)
    brier = 0.75 - 0.6 * np.maximum(2.6 - loss, 0) + rng.normal(0, 0.01, 120)
    fit = fit_threshold(loss, brier, higher_is_better=False, chance=0.75)
    assert fit.verdict == "emerges" and abs(fit.threshold - 2.6) < 0.03
    assert fit.slope == pytest.approx(-0.6, abs=0.05) and fit.baseline == pytest.approx(
        0.75, abs=0.01)
    assert np.allclose(fit.predict(np.array([3.5])), 0.75, atol=0.01)
    assert fit.predict(np.array([1.6]))[0] < 0.3


def test_random_state_accepts_int_and_generator_reproducibly():
    data = make_series("hinge", np.random.default_rng(9))
    args = (data.loss, data.score)
    kwargs = dict(n=data.n, groups=data.size, binomial=True)
    first = fit_threshold(*args, random_state=5, **kwargs)
    again = fit_threshold(*args, random_state=np.random.default_rng(5), **kwargs)
    assert (first.ci_low, first.ci_high) == (again.ci_low, again.ci_high)


def test_the_same_interval_seed_gives_the_same_replicates():
    """Two metrics of one task seeded alike draw the same examples (the mirage test's
    paired gap); a different seed draws others."""
    data = make_series("hinge", np.random.default_rng(10), item_sd=1.0)
    kwargs = dict(n=data.n, groups=data.size, binomial=True, examples=data.examples)
    first = fit_threshold(data.loss, data.score, interval_state=[1, 2], **kwargs)
    again = fit_threshold(data.loss, data.score, random_state=7, interval_state=[1, 2],
                          **kwargs)
    other = fit_threshold(data.loss, data.score, interval_state=[1, 3], **kwargs)
    assert first.onset_draws == again.onset_draws != other.onset_draws


def test_per_example_matrix_drives_the_example_bootstrap():
    rng = np.random.default_rng(6)
    loss = np.linspace(1.5, 4.0, 60)
    p = 0.25 + 0.5 * np.maximum(2.5 - loss, 0)
    difficulty = rng.uniform(-0.1, 0.1, 300)  # shared examples: correlated across points
    values = (rng.uniform(size=(60, 300)) < np.clip(p[:, None] + difficulty, 0, 1)) * 1.0
    fit = fit_threshold(loss, values.mean(axis=1), n=np.full(60, 300), binomial=True,
                        examples=values)
    assert fit.interval_method == "examples" and fit.ci_low < fit.threshold < fit.ci_high


def test_result_is_frozen_and_serialisable():
    _, fit = fit_case("hinge", eta=2.5, slope=0.4)
    with pytest.raises(AttributeError):
        fit.verdict = "rises"
    data = fit.to_dict()
    json.dumps(data)
    assert data["verdict"] == "emerges" and {c["name"] for c in data["curves"]} == {
        "constant", "linear", "power_law", "sigmoid", "hinge", "capped", "broken_stick"}
    assert "onset_draws" not in data and data["label"] == fit.label
    assert "onset:" in fit.summary() and fit.conf_int() == (fit.ci_low, fit.ci_high)
    assert tracker.fit_threshold is fit_threshold and tracker.ThresholdFit is ThresholdFit
    assert set(fit.plateau_shaped) >= {"hinge"} and "linear" not in fit.plateau_shaped


def test_emergence_score_formula():
    assert emergence_score(np.array([0.25, 0.25, 0.26, 0.6])) == pytest.approx(35.0)
    assert emergence_score(np.array([0.6, 0.26, 0.25, 0.25])) == pytest.approx(-35.0)
    assert np.isnan(emergence_score(np.array([0.1, 0.2])))
    assert emergence_score(np.array([0.3, 0.3, 0.3])) == 0.0


def test_final_checkpoint_per_size_ordered_by_params():
    loss = np.array([3.0, 2.5, 2.8, 2.0, 3.2, 2.9])
    groups = np.array(["b", "b", "a", "a", "c", "c"])
    params = np.array([2e6, 2e6, 1e7, 1e7, 1e6, 1e6])
    step = np.array([1, 2, 1, 2, 1, 2])
    assert final_by_scale(loss, groups, params, step).tolist() == [5, 1, 3]


def _chance_then_climb(n_plateau: int, seed: int = 0):
    """`n_plateau` checkpoints at chance spread over the high-loss third of the range, then
    30 dense checkpoints climbing a sharp sigmoid from chance to 0.9 (OLMo-2 13B's shape)."""
    rng = np.random.default_rng(seed)
    plateau = np.linspace(4.0, 3.0, n_plateau)
    climb = np.linspace(2.7, 2.0, 30)  # the first of them already on the way up
    loss = np.concatenate([plateau, climb])
    truth = 0.25 + 0.65 / (1 + np.exp((loss - 2.7) / 0.04))
    n = 500
    return loss, rng.binomial(n, truth) / n, np.full(loss.size, n)


@pytest.mark.parametrize("n_plateau", [3, 4])
def test_a_climb_from_chance_after_too_few_checkpoints_is_insufficient_not_a_rise(n_plateau):
    loss, score, n = _chance_then_climb(n_plateau)
    fit = fit_threshold(loss, score, n=n, chance=0.25, binomial=True, n_boot=50, n_pboot=50)
    assert fit.verdict == "insufficient", (fit.verdict, fit.reason)
    assert f"only {n_plateau} checkpoints" in fit.reason and "evaluate checkpoints" in fit.reason


def test_the_same_climb_after_enough_checkpoints_emerges():
    loss, score, n = _chance_then_climb(6)
    fit = fit_threshold(loss, score, n=n, chance=0.25, binomial=True, n_boot=50, n_pboot=50)
    assert fit.verdict in ("emerges", "weak"), (fit.verdict, fit.reason)
    assert 2.6 < fit.threshold < 2.9


def test_a_curve_that_flattens_where_the_data_still_fall_does_not_level_off():
    """The ceiling is the fitted curve's, checked against the data: the same capped curve
    levels off below its cap when the lowest-loss points sit on it, and not when they fall
    further (add:2's token edit distance: a power law flat below 5.7 bits per byte while the
    last checkpoints' distance halves)."""
    from tracker.fit.shape import Frame, ceiling

    loss = np.linspace(1.0, 4.0, 61)
    params = np.array([3.5, 2.0, 0.0, 1.0])  # capped: eta 3.5, cap 2.0, level 0, slope 1
    on_curve = 1.0 * (3.5 - np.clip(loss, 2.0, 3.5))
    frame = Frame.of(loss, 0.0, 0.1)
    assert abs(ceiling("capped", params, frame, on_curve) - 2.0) < 0.2
    still_falling = on_curve + np.where(loss < 1.3, 0.5, 0.0)
    assert np.isnan(ceiling("capped", params, frame, still_falling))
