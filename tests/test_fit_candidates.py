"""The candidates and the pieces around them: capped hinge, broken stick, design effect,
the joint interval's open sides, material rise and chance equivalence, p-values and
Benjamini-Hochberg."""

import numpy as np
import pytest

from tracker.fit import fit_threshold
from tracker.fit.broken import fit_broken_stick
from tracker.fit.capped import capped_curve, fit_capped_hinge
from tracker.fit.clustering import design_effect
from tracker.fit.emergence import final_by_scale
from tracker.fit.joint import _percentiles
from tracker.fit.pvalue import bh_q_values, tail_p_value
from tracker.fit.table import TableRow, with_q_values


def test_capped_hinge_recovers_exact_parameters_and_beats_a_brute_force_grid():
    rng = np.random.default_rng(0)
    L = rng.uniform(1.0, 4.0, 80)
    y = capped_curve(L, 2.6, 1.7, 0.25, 0.6) + rng.normal(0, 0.01, 80)
    fit = fit_capped_hinge(L, y, np.ones(80))
    assert fit.eta == pytest.approx(2.6, abs=0.03) and fit.cap == pytest.approx(1.7, abs=0.05)
    assert fit.ceiling == pytest.approx(0.25 + 0.6 * 0.9, abs=0.02)
    grid = np.linspace(1.0, 4.0, 121)
    best = np.inf
    for cap in grid:
        for eta in grid[grid > cap]:
            z = eta - np.clip(L, cap, eta)
            X = np.stack([np.ones_like(z), z], axis=1)
            resid = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
            best = min(best, float(resid @ resid))
    assert fit.sse <= best + 1e-9
    assert np.allclose(fit.predict(L), capped_curve(L, fit.eta, fit.cap, fit.c, fit.k))


def test_broken_stick_finds_both_slopes():
    rng = np.random.default_rng(1)
    L = rng.uniform(1.0, 4.0, 200)
    y = 0.3 + 0.05 * (4 - L) + 0.4 * np.maximum(2.5 - L, 0) + rng.normal(0, 0.005, 200)
    fit = fit_broken_stick(L, y, np.ones(200))
    assert fit.eta == pytest.approx(2.5, abs=0.03)
    assert fit.slope_above == pytest.approx(0.05, abs=0.01)
    assert fit.slope_below == pytest.approx(0.45, abs=0.02)


def test_design_effect_grows_with_shared_size_errors():
    rng = np.random.default_rng(2)
    codes = np.repeat(np.arange(5), 40)
    noise = rng.normal(size=200)
    assert design_effect(noise, np.ones(200), codes) < 1.5
    assert design_effect(noise + 2.0 * rng.normal(size=5)[codes], np.ones(200), codes) > 5
    assert design_effect(noise, np.ones(200), None) == 1.0


def test_replicates_without_a_plateau_are_counted_and_open_the_interval():
    etas = np.linspace(2.0, 3.0, 100)
    found = np.arange(100) >= 10  # 10% of replicates had no plateau-shaped curve
    onsets = np.where(found, etas, np.nan)
    low, high, count, side = _percentiles(onsets, np.where(found, 0, -1))
    assert count == 10 and side == "low" and np.isneginf(low) and high < 3.0
    low, high, count, side = _percentiles(onsets, np.where(found, 0, 1))
    assert side == "high" and np.isposinf(high) and low > 2.0  # rising without a plateau
    assert _percentiles(etas, np.zeros(100))[3] == ""


def test_an_emergence_whose_share_of_plateau_replicates_is_low_has_a_wide_interval():
    """A faint kink in noise: the onset's interval opens where replicates lose the plateau."""
    rng = np.random.default_rng(3)
    L = np.linspace(1.5, 4.0, 100)
    score = 0.25 + 0.06 * np.maximum(2.5 - L, 0) + rng.normal(0, 0.01, 100)
    fit = fit_threshold(L, score, n_boot=300, random_state=4, chance=0.25)
    assert fit.verdict in ("emerges", "weak")
    assert fit.plateau_share < 1.0 or fit.ci_high - fit.ci_low > 0.05


def test_chance_qualifies_the_onset_and_a_small_rise_is_not_an_ability():
    L = np.linspace(1.5, 4.0, 100)
    clean = fit_threshold(L, 0.25 + 0.5 * np.maximum(2.5 - L, 0), chance=0.25)
    assert clean.label == "emerges (from chance, abrupt)"
    above = fit_threshold(L, 0.40 + 0.5 * np.maximum(2.5 - L, 0), chance=0.25)
    assert above.label == "emerges (above chance, abrupt)"
    tiny = fit_threshold(L, 0.25 + 0.02 * np.maximum(2.5 - L, 0), chance=0.25)
    assert tiny.verdict == "flat" and "material" in tiny.reason


def test_emergence_needs_sizes_and_orders_consistently():
    L = np.linspace(1.5, 4.0, 100)
    assert np.isnan(fit_threshold(L, 0.25 + 0.5 * np.maximum(2.5 - L, 0)).emergence_score)
    loss = np.array([3.0, 2.0, 1.0])
    groups = np.array(["a", "b", "c"])
    partial = final_by_scale(loss, groups, np.array([1e9, np.nan, 1e6]))
    assert list(partial) == [0, 1, 2]  # counts incomplete: every size ordered by loss
    assert list(final_by_scale(loss, groups, np.array([1e9, 1e7, 1e6]))) == [2, 1, 0]


def test_p_values_and_benjamini_hochberg():
    null = np.random.default_rng(5).normal(size=200)
    assert tail_p_value(-10.0, null) == pytest.approx(1.0)
    extreme = tail_p_value(50.0, null)
    assert 0.0 < extreme < 1.0 / 201
    assert np.allclose(bh_q_values([0.01, 0.02, 0.03, 0.5]), [0.04, 0.04, 0.04, 0.5])


def test_a_lone_threshold_among_many_null_p_values_is_demoted_by_q():
    L = np.linspace(1.5, 4.0, 100)
    rng = np.random.default_rng(6)
    kink = fit_threshold(L, 0.25 + 0.5 * np.maximum(2.5 - L, 0) + rng.normal(0, 0.01, 100),
                         random_state=6)
    assert kink.verdict == "emerges"
    flat = fit_threshold(L, 0.25 + rng.normal(0, 0.02, 100), random_state=7)
    rows = [TableRow("t0", "m", kink, None)] + [TableRow(f"t{i}", "m", flat, None)
                                                  for i in range(1, 40)]
    fake_p = [min(kink.p_value * 100, 0.9)] + [0.9] * 39  # a lone p of ~0.01 among 40
    rows = [TableRow(r.task, r.metric, _with_p(r.fit, p), None)
            for r, p in zip(rows, fake_p, strict=True)]
    out = with_q_values(rows)
    assert out[0].fit.q_value > 0.05 and out[0].fit.verdict == "weak"


def _with_p(fit, p):
    from dataclasses import replace

    return replace(fit, p_value=max(p, 0.011))


def test_shared_threshold_matches_common_truth_and_is_preferred():
    from tracker.fit.shared import fit_shared

    rng = np.random.default_rng(8)
    data = {}
    for t, (c, k) in enumerate([(0.25, 0.5), (0.5, 0.3), (0.1, 0.2)]):
        L = rng.uniform(1.5, 4.0, 150)
        data[f"t{t}"] = (L, c + k * np.maximum(2.5 - L, 0) + rng.normal(0, 0.01, 150), None, True)
    shared = fit_shared(data)
    assert shared.threshold == pytest.approx(2.5, abs=0.02) and shared.preferred == "shared"
    L = rng.uniform(1.5, 4.0, 150)
    data["t3"] = (L, 0.25 + 0.5 * np.maximum(3.2 - L, 0) + rng.normal(0, 0.01, 150), None, True)
    assert fit_shared(data).preferred == "separate"
