"""TrackerCallback(..., forecast=True): one forecast line per evaluation, never an error."""

from __future__ import annotations

import logging

import numpy as np

from tests.test_forecast_crossing import ladder
from tracker.families.catalog import Checkpoint
from tracker.fit.table import fit_table
from tracker.forecast import live
from tracker.forecast.crossing import forecast_crossings
from tracker.hooks import HookResult, TrackerCallback


def result(step: int) -> HookResult:
    checkpoint = Checkpoint(family="synthetic", size="target", step=step, tokens_seen=None,
                            location="x", revision=None, params=1)
    return HookResult(checkpoint, 1, {})


def test_describe_a_forecast_crossing():
    points = ladder()
    points = points[(points["size"] != "target") | (points["step"] <= 3000)]
    (crossing,) = forecast_crossings(points, fit_table(points, n_boot=50), n_boot=50,
                                     runs=["synthetic/target"])
    text = live.describe(crossing)
    assert text.startswith("skill accuracy threshold 2.0")
    assert f"expected at step {crossing.step:.0f} [" in text
    assert np.isfinite(crossing.step)


def test_callback_prints_one_line_per_evaluation(monkeypatch, capsys, tmp_path):
    calls = []

    def fake(run_dir, run, step):
        calls.append((run, step))
        return f"forecast at step {step}: skill accuracy threshold 2.000: expected at step 9"

    monkeypatch.setattr(live, "crossing_line", fake)
    callback = TrackerCallback(tmp_path, validation="v.jsonl", forecast=True)
    callback._print_forecast(result(30))
    assert calls == [("synthetic/target", 30)]
    assert capsys.readouterr().out.strip().splitlines() == [callback.forecasts[0]]


def test_a_failing_forecast_is_a_warning(monkeypatch, caplog, tmp_path):
    def broken(run_dir, run, step):
        raise ValueError("no points")

    monkeypatch.setattr(live, "crossing_line", broken)
    callback = TrackerCallback(tmp_path, validation="v.jsonl", forecast=True)
    with caplog.at_level(logging.WARNING, logger="tracker.hooks"):
        callback._print_forecast(result(30))
    assert "forecast at step 30 failed" in caplog.text and "no points" in caplog.text
    assert callback.forecasts == []


def test_a_real_trainer_run_prints_a_forecast_line_at_each_save(tmp_path, capsys):
    """Through the store: read_run, the threshold fit and the loss curve on a live run (too
    short for a threshold, so the line says so)."""
    from tests.test_hooks import CONTEXT, TEXT, _train, dataset, tokenizer  # noqa: F401
    from tracker.evals.validation import ValidationSet

    tok = tokenizer.__wrapped__()
    data = dataset.__wrapped__(tok)
    callback = TrackerCallback(tmp_path / "store", validation=ValidationSet("v", tuple(TEXT)),
                               tasks=["arithmetic:add:1:n=5"], family="run", size="tiny",
                               tokens_per_step=2 * CONTEXT, forecast=True)
    _train(tok, data, tmp_path, [callback], "with")
    lines = [line for line in capsys.readouterr().out.splitlines()
             if line.startswith("forecast at step")]
    assert lines == callback.forecasts
    assert [line.split(":")[0] for line in lines] == [f"forecast at step {s}"
                                                      for s in (5, 10, 15, 20)]
    assert all("no task has a loss threshold yet" in line for line in lines)
