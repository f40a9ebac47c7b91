"""Table-level fitting (what `tracker fit` runs), on DataFrames built here."""

import numpy as np
import pandas as pd

from tracker.fit.synthetic import make_series, series_frame
from tracker.fit.table import SIZE_COLUMNS, THRESHOLD_COLUMNS, fit_table


def two_task_points(seed=0):
    rng = np.random.default_rng(seed)
    hinge = make_series("hinge", rng, eta=2.4, slope=0.5)
    flat = make_series("flat", rng, eta=2.4)
    return pd.concat([
        series_frame(hinge, "arith", "accuracy", hinge.score, 0.25),
        series_frame(hinge, "arith", "brier", 1.0 - hinge.score, 0.75),
        series_frame(flat, "navigate", "accuracy", flat.score, 0.25),
    ], ignore_index=True)


def test_thresholds_table_columns_and_verdicts(tmp_path):
    seen = []
    table = fit_table(two_task_points(), n_boot=100,
                      progress=lambda done, total, label: seen.append((done, total, label)))
    frame = table.to_frame()
    assert tuple(frame.columns) == THRESHOLD_COLUMNS + SIZE_COLUMNS
    verdicts = dict(zip(frame["task"] + "/" + frame["metric"], frame["verdict"], strict=True))
    assert verdicts == {"arith/accuracy": "emerges", "arith/brier": "emerges",
                        "navigate/accuracy": "flat"}
    brier = frame[frame["metric"] == "brier"].iloc[0]
    assert brier["slope"] < 0 and brier["baseline_at_chance"]
    assert seen[-1] == (3, 3, "navigate/accuracy")
    written = pd.read_csv(table.write_csv(tmp_path / "out" / "thresholds.csv"))
    assert len(written) == 3 and written["n_points"].tolist() == [200, 200, 200]


def test_results_do_not_depend_on_other_series():
    points = two_task_points()
    alone = fit_table(points[points["metric"] == "brier"], n_boot=100).rows[0].fit
    together = [r.fit for r in fit_table(points, n_boot=100).rows if r.metric == "brier"][0]
    assert (alone.threshold, alone.ci_low, alone.ci_high) == (
        together.threshold, together.ci_low, together.ci_high)


def test_per_example_rows_are_used_when_every_point_has_them():
    rng = np.random.default_rng(1)
    losses = np.linspace(1.5, 4.0, 40)
    p = 0.25 + 0.5 * np.maximum(2.5 - losses, 0)
    values = (rng.uniform(size=(40, 200)) < p[:, None]).astype(float)
    key = {"family": "f", "size": np.repeat(["a", "b", "c", "d"], 10), "step": np.arange(40)}
    points = pd.DataFrame({**key, "loss": losses, "task": "t", "metric": "accuracy",
                           "score": values.mean(axis=1), "n": 200})
    examples = pd.DataFrame({
        "family": "f", "size": np.repeat(key["size"], 200), "step": np.repeat(np.arange(40), 200),
        "task": "t", "metric": "accuracy", "example_id": np.tile(np.arange(200), 40),
        "value": values.ravel()})
    fit = fit_table(points, examples, n_boot=100).rows[0].fit
    assert fit.interval_method == "examples+groups"
    partial = fit_table(points, examples[examples["step"] > 0], n_boot=100).rows[0].fit
    assert partial.interval_method == "binomial+groups"


def test_emergence_uses_final_checkpoint_per_size_by_params():
    table = fit_table(two_task_points(), n_boot=60)
    arith = table.rows[0].fit
    assert arith.emergence_score > 0  # bigger models reach lower loss and score higher


def test_the_series_a_proxy_loss_comes_from_is_not_fitted_against_itself():
    points = two_task_points().assign(loss_metric="proxy_ln_arith_brier")
    table = fit_table(points, n_boot=50)
    assert {(row.task, row.metric) for row in table.rows} == {("arith", "accuracy"),
                                                              ("navigate", "accuracy")}
    [note] = [n for n in table.notes if "proxy" in n]
    assert note.startswith("arith/brier is the proxy loss itself and is not fitted")
    assert "arith's other metrics (accuracy) share its examples" in note


def test_worker_processes_give_the_serial_table():
    points = two_task_points()
    serial = fit_table(points, n_boot=60, workers=1).to_frame()
    parallel = fit_table(points, n_boot=60, workers=2).to_frame()
    pd.testing.assert_frame_equal(serial, parallel)
