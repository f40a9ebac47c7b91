"""Points set aside before the emergence fit: a start-up transient and isolated spikes.

The shapes are the main job's add:2 token edit distance (runs/ladder, 2026-12-06): a random
model's answers 4-10 tokens off, about 2 tokens off after its first steps, flat there until
the ability arrives, plus one checkpoint per size that wanders off and comes back.
"""

from __future__ import annotations

import numpy as np

from tracker.fit import fit_threshold
from tracker.fit.setaside import spikes, startup_points

SIZES = 3


def _plateau_then_rise(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edit distance (lower is better) of 3 sizes x 20 checkpoints: ~2 tokens from loss 5.5
    down to 1.8, then falling to ~0.4 at loss 1.4; sizes interleaved in loss."""
    rng = np.random.default_rng(seed)
    loss = np.concatenate([np.linspace(5.5, 1.4, 20) + 0.03 * size for size in range(SIZES)])
    groups = np.repeat(np.arange(SIZES), 20)
    distance = 2.0 - 4.0 * np.maximum(1.8 - loss, 0.0) + rng.normal(0.0, 0.03, loss.size)
    return loss, distance, groups


def _with_startup(loss, distance, groups):
    """Each size's step 0 (a random model: 9-10 tokens off) at loss 6.0."""
    start = np.array([6.00, 5.98, 5.96])
    return (np.r_[start, loss], np.r_[[10.0, 9.0, 9.5], distance],
            np.r_[np.arange(SIZES), groups])


def test_a_start_up_jump_onto_the_plateau_is_set_aside_and_the_rise_emerges():
    loss, distance, groups = _with_startup(*_plateau_then_rise())
    fit = fit_threshold(loss, distance, groups=groups, higher_is_better=False, min_rise=0.1,
                        n_boot=100)
    assert fit.n_startup == 3
    assert abs(fit.startup_above - 5.5 - 0.03 * (SIZES - 1)) < 1e-9
    assert fit.verdict == "emerges"
    assert abs(fit.threshold - 1.8) < 0.1
    assert "after a start-up transient above 5.560" in fit.label
    assert fit.n_points == loss.size - 3


def test_without_the_start_up_jump_nothing_is_set_aside():
    loss, distance, groups = _plateau_then_rise()
    fit = fit_threshold(loss, distance, groups=groups, higher_is_better=False, min_rise=0.1,
                        n_boot=100)
    assert fit.n_startup == 0 and fit.n_spikes == 0
    assert fit.verdict == "emerges"
    assert "start-up" not in fit.label


def test_a_steady_rise_is_no_start_up_transient():
    """In a steady rise each gap between neighbours is smaller than the spread of the next
    five points: no count of highest-loss points passes, however steep."""
    loss = np.linspace(1.0, 6.0, 40)
    for slope in (0.5, 5.0):
        assert startup_points(loss, -slope * loss, 0.1, 10) == 0
    saturating = -np.exp(loss - 6.0) * 10.0  # steep at the top, flattening below
    assert startup_points(loss, saturating, 0.1, 10) == 0


def test_a_transient_is_confined_to_the_first_fifth():
    """A jump a third of the way down the range is not a start-up transient."""
    loss = np.linspace(1.0, 6.0, 30)
    y = np.where(loss > 4.3, -10.0, -2.0)
    assert startup_points(loss, y, 0.1, 10) == 0
    y = np.where(loss > 5.5, -10.0, -2.0)
    assert startup_points(loss, y, 0.1, 10) == np.count_nonzero(loss > 5.5)


def test_an_isolated_spike_is_set_aside_and_a_sharp_rise_is_kept():
    loss, distance, groups = _plateau_then_rise()
    spiked = distance.copy()
    at = np.flatnonzero(groups == 2)[6]  # one size's checkpoint at loss ~4.2: 6 tokens off
    spiked[at] = 6.2
    mask = spikes(loss[np.argsort(loss)], -spiked[np.argsort(loss)],
                  groups[np.argsort(loss)], 0.1)
    assert mask.sum() == 1 and np.argsort(loss)[mask][0] == at
    fit = fit_threshold(loss, spiked, groups=groups, higher_is_better=False, min_rise=0.1,
                        n_boot=100)
    assert fit.n_spikes == 1 and "1 spike set aside" in fit.label
    assert fit.verdict == "emerges"
    step = np.where(np.linspace(3.0, 1.0, 30) < 2.0, 1.0, 0.0)  # 0 -> 1 at one checkpoint
    assert not spikes(np.linspace(1.0, 3.0, 30), step[::-1], None, 0.05).any()


def test_proportions_keep_their_spikes():
    """0/1 proportions are left alone: their binomial weights hold their noise."""
    loss = np.linspace(1.0, 4.0, 40)
    accuracy = np.where(loss < 2.0, 0.25 + 0.5 * (2.0 - loss), 0.25)
    accuracy[30] = 0.6
    fit = fit_threshold(loss, accuracy, n=np.full(40, 500), binomial=True, chance=0.25,
                        min_rise=0.02, n_boot=100)
    assert fit.n_spikes == 0 and fit.n_points == 40
    continuous = fit_threshold(loss, accuracy, min_rise=0.02, n_boot=100)
    assert continuous.n_spikes == 1


def test_a_twin_that_worsens_and_then_improves_turns_and_its_pair_is_inconclusive():
    """The main job's normalised edit distance: level or slightly worse from loss 5.5 down to
    1.8, better below. A broken stick wins; it does not rise throughout, so the pair with an
    exact match that emerges is not 'made by the metric'."""
    from tracker.fit.mirage import twin_verdict

    loss, _, groups = _plateau_then_rise(seed=3)
    rng = np.random.default_rng(4)
    drifting = 0.75 + 0.05 * (5.5 - loss) - 1.5 * np.maximum(1.8 - loss, 0.0)
    drifting += rng.normal(0.0, 0.01, loss.size)
    twin = fit_threshold(loss, drifting, groups=groups, higher_is_better=False,
                         min_rise=0.05, n_boot=100)
    assert twin.verdict == "rises" and twin.model == "broken_stick"
    assert twin.rises_how.startswith("turns at ")
    assert abs(float(twin.rises_how.split()[-1]) - 1.8) < 0.1
    step = np.where(loss < 1.7, 0.5, 0.0)
    exact = fit_threshold(loss, step, n=np.full(loss.size, 200), groups=groups, chance=0.0,
                          binomial=True, n_boot=100)
    assert exact.verdict == "emerges"
    verdict, reason = twin_verdict("exact_match", exact, "token_edit_distance_norm", twin)
    assert verdict == "inconclusive" and "does not improve above" in reason
    improving = fit_threshold(loss, 2.0 - 0.2 * (5.5 - loss) - 1.5 * np.maximum(1.8 - loss, 0)
                              + rng.normal(0.0, 0.01, loss.size), groups=groups,
                              higher_is_better=False, min_rise=0.05, n_boot=100)
    assert improving.rises_how.startswith("slope change at ")
    assert twin_verdict("exact_match", exact, "target_nll", improving)[0] == "made by the metric"
