"""tracker.forecast and `tracker forecast` on a synthetic ladder whose answer is known:
losses from a Chinchilla law, scores Binomial(n, sigmoid(loss)) / n."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tracker.cli import main
from tracker.errors import TrackerError
from tracker.forecast import forecast
from tracker.forecast.runs import params_from_label
from tracker.forecast.scaling import fit_scaling_law

SIZES = {"10m": 1e7, "20m": 2e7, "40m": 4e7, "80m": 8e7, "160m": 1.6e8, "640m": 6.4e8}
STEPS = np.arange(2000, 20001, 2000)
TOKENS_PER_STEP = 1e5


def law(params, tokens):
    return 1.7 + 400 / params**0.34 + 410 / tokens**0.28


def accuracy(loss):
    return 0.25 + 0.6 / (1 + np.exp((loss - 3.6) / 0.3))


def ladder(seed: int = 0, n_examples: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for size, params in SIZES.items():
        for step in STEPS:
            tokens = step * TOKENS_PER_STEP
            loss = law(params, tokens) + rng.normal(0, 0.003)
            score = rng.binomial(n_examples, accuracy(loss)) / n_examples
            rows.append(dict(family="toy", size=size, params=params, step=step,
                             tokens_seen=tokens, loss=loss, task="skill", metric="accuracy",
                             score=score, n=n_examples))
    return pd.DataFrame(rows)


def test_scaling_law_recovers_a_known_law_with_both_terms():
    n, d = np.meshgrid(list(SIZES.values())[:4], STEPS[::3] * TOKENS_PER_STEP)
    fit = fit_scaling_law(n.ravel(), d.ravel(), law(n, d).ravel())
    assert fit.data_term
    assert fit.alpha == pytest.approx(0.34, abs=0.01)
    assert fit.beta == pytest.approx(0.28, abs=0.01)
    assert float(fit.predict(1e10, 1e12)) == pytest.approx(law(1e10, 1e12), rel=1e-3)


def test_one_token_count_leaves_the_data_term_out():
    params = np.array(list(SIZES.values()))
    fit = fit_scaling_law(params, np.full(len(params), 2e9), law(params, 2e9))
    assert not fit.data_term
    assert float(fit.predict(5e9, 2e9)) == pytest.approx(law(5e9, 2e9), rel=2e-3)


def test_forecast_of_the_largest_size_is_close_and_covered():
    result = forecast(ladder(), ["640m"], n_boot=50)
    (row,) = result.rows
    assert result.fit_runs == ("toy/10m", "toy/160m", "toy/20m", "toy/40m", "toy/80m")
    assert row.true_loss == pytest.approx(law(6.4e8, 2e9), abs=0.01)
    assert abs(row.predicted_loss - row.true_loss) < 0.02
    assert abs(row.error) < 0.03 and abs(row.error_given_loss) < 0.03
    assert row.score_low <= row.true_score <= row.score_high
    assert row.given_loss_low <= row.true_score <= row.given_loss_high
    assert row.curve == "sigmoid"


def test_a_size_without_data_is_forecast_without_an_error():
    result = forecast(ladder(), ["1b"], n_boot=50)
    (row,) = result.rows
    assert row.params == 1e9 and np.isnan(row.error) and np.isnan(row.true_score)
    assert row.predicted_loss == pytest.approx(law(1e9, 2e9), abs=0.03)


def test_params_from_label():
    assert params_from_label("12b") == 12e9
    assert params_from_label("1b-bf16") is None


@pytest.mark.parametrize("kwargs, message", [
    (dict(targets=["huge"]), "unknown target size 'huge'"),
    (dict(targets=["640m"], fit_sizes=["10m", "20m"]), "too few fit sizes"),
    (dict(targets=["640m"], fit_sizes=["10m", "20m", "nope"]), "unknown fit size 'nope'"),
    (dict(targets=["640m"], fit_sizes=["10m", "20m", "640m"]), "both a fit size and a target"),
    (dict(targets=["20m"]), "too few fit sizes"),
    (dict(targets=[]), "no target size given"),
])
def test_bad_input_is_one_clear_error(kwargs, message):
    with pytest.raises(TrackerError, match=message):
        forecast(ladder(), kwargs.pop("targets"), n_boot=50, **kwargs)


def test_no_tokens_seen_is_an_error():
    points = ladder().assign(tokens_seen=np.nan)
    with pytest.raises(TrackerError, match="no tokens_seen"):
        forecast(points, ["640m"], n_boot=50)


def test_at_tokens_outside_one_fitted_token_count_is_an_error():
    points = ladder()
    points = points[points["step"] == STEPS.max()].copy()  # one token count: 2e9
    points.loc[points["size"] == "640m", "tokens_seen"] = 4e9  # the target trained longer
    with pytest.raises(TrackerError, match="cannot be predicted"):
        forecast(points, ["640m"], n_boot=50)


def test_cli_writes_forecast_csv(tmp_path, capsys):
    path = tmp_path / "points.csv"
    ladder().to_csv(path, index=False)
    assert main(["forecast", "--points", str(path), "--target", "640m", "--out",
                 str(tmp_path), "--boot", "50"]) == 0
    out = capsys.readouterr().out
    assert "toy/640m skill accuracy" in out and "error" in out
    table = pd.read_csv(tmp_path / "forecast.csv")
    assert list(table["target"]) == ["toy/640m"]
    assert {"predicted_loss", "predicted_score", "score_low", "score_high", "error"} \
        <= set(table.columns)


def test_cli_unknown_size_is_one_line(tmp_path, capsys):
    path = tmp_path / "points.csv"
    ladder().to_csv(path, index=False)
    assert main(["forecast", "--points", str(path), "--target", "640n", "--out",
                 str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown target size '640n'" in err[0]


def test_the_capped_hinge_wins_on_a_saturating_series():
    loss = np.linspace(1, 5, 80)
    y = 0.25 + 0.2 * np.clip(4.0 - loss, 0, 2.0)  # flat, rise, flat
    assert score_curves_names(loss, y)[0] == "capped"


def score_curves_names(loss, y):
    from tracker.forecast.score import fit_score_curves

    return [c.name for c in fit_score_curves(loss, y)]


def test_predictions_and_intervals_stay_inside_the_metric_range():
    # target NLL falls linearly with the loss and reaches 0 just past the fit sizes' data:
    # the curve extrapolated to 640m's loss (~3.12) goes below 0, an NLL cannot
    frame = ladder()
    frame["metric"] = "target_nll"
    frame["score"] = np.maximum(3.0 * (frame["loss"] - 3.2), 0.0) + 0.01
    frame["n"] = np.nan
    result = forecast(frame, ["640m"], n_boot=50)
    (row,) = result.rows
    assert row.predicted_score == 0.0 and row.score_low == 0.0 and row.score_high >= 0.0
    assert row.score_given_loss == 0.0 and row.given_loss_low == 0.0
    assert row.error == pytest.approx(-row.true_score)


def test_without_example_counts_the_interval_holds_a_new_evaluation_not_only_the_curve():
    """n unknown (the OLMo ladder's files): the target's own scatter around the curve is
    drawn from the fit points' residuals, so the interval is as wide as that scatter. 80m
    lies inside the fit sizes, where the curve itself is known to about +-0.015 (the
    interval without the scatter was 0.030 wide)."""
    rng = np.random.default_rng(3)
    points = ladder()
    sd = 0.02
    points["score"] = accuracy(points["loss"]) + rng.normal(0, sd, len(points))
    points["n"] = None
    (row,) = forecast(points, ["80m"], fit_sizes=["10m", "20m", "40m", "160m", "640m"],
                      n_boot=200).rows
    assert row.given_loss_high - row.given_loss_low > 2 * 1.645 * sd * 0.8
    assert row.score_high - row.score_low > 2 * 1.645 * sd * 0.8


def test_a_prediction_below_chance_is_clipped_to_chance_with_a_note():
    """Small models can sit under chance (Pythia's ARC-Challenge: 0.22); the forecast of
    a bigger one then says chance, flags the row and notes it."""
    rng = np.random.default_rng(5)
    points = ladder()
    points["score"] = rng.binomial(2000, 0.22, len(points)) / 2000
    points["chance"] = 0.25
    result = forecast(points, ["640m"], n_boot=50)
    (row,) = result.rows
    assert row.below_chance and row.predicted_score == 0.25
    assert row.score_low >= 0.25
    assert any("toy/640m skill accuracy: the curve predicts below chance" in note
               for note in result.notes)
    points["chance"] = 0.1  # the same curve above a lower chance level: untouched
    (row,) = forecast(points, ["640m"], n_boot=50).rows
    assert not row.below_chance and 0.2 < row.predicted_score < 0.25


def test_the_bootstrap_over_sizes_gives_intervals_and_an_unknown_resampling_is_refused():
    """forecast(resample='sizes'): the Bayesian bootstrap over sizes, then runs; same point
    predictions as over runs (only the intervals differ), each inside its interval."""
    points = ladder()
    runs = forecast(points, ["640m"], n_boot=40).to_frame()
    sizes = forecast(points, ["640m"], n_boot=40, resample="sizes").to_frame()
    assert np.allclose(runs["predicted_score"], sizes["predicted_score"])
    assert ((sizes["score_low"] <= sizes["predicted_score"])
            & (sizes["predicted_score"] <= sizes["score_high"])).all()
    assert not np.allclose(runs["score_low"], sizes["score_low"])
    with pytest.raises(TrackerError, match="unknown resampling 'clusters'; choose from runs"):
        forecast(points, ["640m"], n_boot=5, resample="clusters")
