"""Threshold crossing during training (tracker.forecast.crossing), on a synthetic ladder
whose answer is known: a run cut at 60% of its steps must forecast a crossing step inside
the interval of the step at which the full run crossed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tracker.fit.table import fit_table
from tracker.forecast.crossing import fit_loss_curve, forecast_crossings, tokens_at_loss

ETA = 2.0  # the true threshold, in loss units
TOKENS_PER_STEP = 1000
STEPS = np.arange(100, 5001, 100)
# Irreducible loss per run: "target" reaches ETA at step 4000 (80% of its steps); the
# others cross early (they pin the threshold) or never.
OFFSETS = {"s1": 1.6, "target": 1.316, "s3": 1.1, "s4": 0.9, "s5": 0.6}


def true_loss(offset: float, tokens: np.ndarray) -> np.ndarray:
    return offset + 3.0 * (tokens / 1e5) ** -0.4


def ladder(seed: int = 0, n_examples: int = 400) -> pd.DataFrame:
    """Validation loss and an accuracy that rises linearly below ETA, for every run."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, (size, offset) in enumerate(OFFSETS.items()):
        tokens = STEPS * TOKENS_PER_STEP
        loss = true_loss(offset, tokens) + rng.normal(0, 0.01, len(STEPS))
        p = np.clip(0.25 + 0.6 * np.maximum(ETA - loss, 0), 0, 1)
        score = rng.binomial(n_examples, p) / n_examples
        for step, d, lo, sc in zip(STEPS, tokens, loss, score, strict=True):
            base = dict(family="synthetic", size=size, params=1e6 * (i + 1), step=step,
                        tokens_seen=d, loss=lo)
            rows.append({**base, "task": "skill", "metric": "accuracy", "score": sc,
                         "n": n_examples})
    return pd.DataFrame(rows)


def test_tokens_at_loss_inverts_the_fitted_curve():
    tokens = np.linspace(1e6, 5e6, 30)
    loss = true_loss(1.3, tokens)
    curve = fit_loss_curve("r", pd.DataFrame({"step": tokens / 1000, "tokens_seen": tokens,
                                              "loss": loss}), n_boot=50)
    assert curve.fit is not None
    reached = tokens_at_loss(curve.fit, 2.0)
    assert reached == pytest.approx(1e5 * ((2.0 - 1.3) / 3.0) ** (-1 / 0.4), rel=1e-3)
    assert curve.tokens_per_step == pytest.approx(1000)
    assert tokens_at_loss(curve.fit, 1.2) == float("inf")  # below the offset: never


def test_too_few_checkpoints_is_insufficient():
    points = ladder()
    points = points[(points["size"] != "target") | (points["step"] <= 300)]
    table = fit_table(points, n_boot=50)
    found = forecast_crossings(points, table, n_boot=50, runs=["synthetic/target"])
    assert found and all(c.status == "insufficient" for c in found)


def test_cut_run_forecasts_the_step_the_full_run_crossed():
    full = ladder()
    cut_at = 0.6 * STEPS.max()
    cut = full[(full["size"] != "target") | (full["step"] <= cut_at)]

    full_table = fit_table(full, n_boot=200)
    (actual,) = forecast_crossings(full, full_table, runs=["synthetic/target"])
    cut_table = fit_table(cut, n_boot=200)
    (forecast,) = forecast_crossings(cut, cut_table, runs=["synthetic/target"])

    print(f"\nthreshold (full run) {full_table.rows[0].fit.threshold:.3f} "
          f"[{actual.threshold_low:.3f}, {actual.threshold_high:.3f}], true {ETA}")
    print(f"full run crossed at step {actual.step:.0f}, interval "
          f"[{actual.step_low:.0f}, {actual.step_high:.0f}] ({actual.status})")
    print(f"cut at step {cut_at:.0f}: forecast step {forecast.step:.0f} "
          f"[{forecast.step_low:.0f}, {forecast.step_high:.0f}] ({forecast.status})")
    assert actual.status == "crossed"
    assert forecast.status == "forecast"  # not yet crossed at the cut
    assert forecast.latest_step == cut_at
    assert actual.step_low <= forecast.step <= actual.step_high
    assert forecast.step_low <= forecast.step <= forecast.step_high
    true_step = 1e5 * ((ETA - OFFSETS["target"]) / 3.0) ** (-1 / 0.4) / TOKENS_PER_STEP
    assert actual.step_low <= true_step <= actual.step_high


def test_report_has_the_crossing_table_and_figure(tmp_path):
    from tracker.report import build_report

    points = ladder()
    points = points[(points["size"] != "target") | (points["step"] <= 3000)]
    files = build_report(fit_table(points, n_boot=50), tmp_path)
    text = files.markdown.read_text()
    assert "## Onset crossing forecast" in text
    assert "| synthetic/target | skill | accuracy |" in text
    target_row = next(line for line in text.splitlines()
                      if line.startswith("| synthetic/target | skill"))
    assert "| forecast |" in target_row
    assert tmp_path / "figures" / "crossing.png" in files.figures


def test_report_without_a_threshold_has_no_crossing_section(tmp_path):
    from tracker.report import build_report

    points = ladder()
    points = points.assign(score=0.5)  # flat: no threshold
    text = build_report(fit_table(points, n_boot=50), tmp_path).markdown.read_text()
    assert "Onset crossing forecast" not in text
