"""Bhagia et al. 2024's forecast in tracker: the shipped OLMo ladder, the paper's setup, and
the paper's own published 13B predictions as the independent reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tracker.cli import main as tracker
from tracker.errors import TrackerError
from tracker.forecast import forecast
from tracker.forecast import ladder_paper as paper
from tracker.forecast.feature import combine_tasks, skip_and_smooth, with_task_feature
from tracker.forecast.score import fit_score_curves
from tracker.imports.published_tables import published_map, published_tables
from tracker.imports.table_import import TableOptions, import_tables
from tracker.points import read_run

NEEDED = {run.split("/")[1] for run in paper.FIT_RUNS} | {"13B", "7B-anneal"}
FILES = {"13B": "peteish13_eval_full.csv", "7B-anneal": "peteish7_eval_anneal.csv"}


@pytest.fixture(scope="module")
def ladder_points(tmp_path_factory) -> pd.DataFrame:
    """The paper's fit runs and targets, imported from the shipped archive as a user would."""
    names = {FILES.get(size, f"{size}.csv") for size in NEEDED}
    sources = [s for s in published_tables("olmo-ladder") if s.label.split("/")[-1] in names]
    assert len(sources) == len(NEEDED)
    run = tmp_path_factory.mktemp("olmo-ladder")
    import_tables(sources, published_map("olmo-ladder"), run, TableOptions(progress=False))
    points, _ = read_run(run)
    return paper.paper_points(points)


def test_paper_setup_reproduces_the_papers_published_13b_predictions(ladder_points):
    result = forecast(ladder_points, list(paper.TARGETS), fit_sizes=list(paper.FIT_RUNS),
                      n_boot=10, **paper.PAPER.options())
    rows = result.to_frame()
    rows = rows[(rows["target"] == "olmo-2/13B") & (rows["metric"] == paper.METRIC)]
    assert sorted(rows["task"]) == sorted(paper.PUBLISHED_13B)
    for row in rows.itertuples():
        assert row.predicted_score == pytest.approx(paper.PUBLISHED_13B[row.task], abs=1e-4)
    # the truth: the mean of 13B's last 5 evaluations, as the paper's "Actual"
    hellaswag = rows.set_index("task").loc["hellaswag_val_rc_5shot"]
    assert hellaswag["true_score"] == pytest.approx(0.831905996799469, abs=1e-9)
    assert len(result.task_scalings) == len(paper.TASKS)


def test_the_annealed_7b_is_a_target_at_its_published_token_count(ladder_points):
    anneal = ladder_points[ladder_points["size"] == "7B-anneal"]
    assert set(anneal["tokens_seen"]) == {3_945_065_873_408}
    assert set(anneal["params"]) == {6_887_575_552}


def test_task_feature_is_the_same_tasks_score_at_the_same_checkpoint():
    points = pd.DataFrame({"family": "f", "size": "s", "step": [1, 1, 2, 2, 2],
                           "task": ["a", "a", "a", "a", "b"],
                           "metric": ["acc", "bpb", "acc", "bpb", "acc"],
                           "score": [0.3, 1.5, 0.4, 1.2, 0.9], "loss": 3.0})
    out = with_task_feature(points, "bpb")
    assert out[["step", "task", "score", "loss"]].to_dict("records") == [
        {"step": 1, "task": "a", "score": 0.3, "loss": 1.5},
        {"step": 2, "task": "a", "score": 0.4, "loss": 1.2}]  # b has no bpb: left out
    with pytest.raises(TrackerError, match="unknown feature 'bbp'.*did you mean 'bpb'"):
        with_task_feature(points, "bbp")


def test_skip_then_smooth_matches_a_hand_computed_moving_average():
    score = np.arange(20, dtype=float) ** 2
    points = pd.DataFrame({"family": "f", "size": "s", "task": "t", "metric": "m",
                           "step": np.arange(20)[::-1], "score": score[::-1], "loss": score})
    out = skip_and_smooth(points, skip=0.1, window=5)
    kept = score[2:]  # ceil(0.1 * 20) = 2 first checkpoints left out, in step order
    expected = [kept[max(0, i - 4):i + 1].mean() for i in range(len(kept))]
    np.testing.assert_allclose(out["score"], expected)


def test_combined_task_needs_every_part_at_a_checkpoint():
    points = pd.DataFrame({"family": "f", "size": "s", "step": [1, 1, 2], "metric": "m",
                           "task": ["a", "b", "a"], "score": [0.2, 0.6, 0.5], "n": None})
    out = combine_tasks(points, "ab", {"a": 0.25, "b": 0.75})
    assert out["step"].tolist() == [1]  # step 2 has no b
    assert out["score"].tolist() == pytest.approx([0.25 * 0.2 + 0.75 * 0.6])


@pytest.mark.parametrize("curve", ["ladder_sigmoid", "chance_sigmoid"])
def test_pinned_sigmoids_recover_a_curve_with_chance_and_one_at_its_ends(curve):
    loss = np.linspace(0.4, 2.0, 60)
    truth = 0.25 + 0.75 / (1 + np.exp(3.0 * (loss - 1.1)))
    fit = fit_score_curves(loss, truth, curves=(curve,), chance=0.25)[0]
    np.testing.assert_allclose(fit.predict(np.array([0.2, 1.1, 3.0])),
                               0.25 + 0.75 / (1 + np.exp(3.0 * (np.array([0.2, 1.1, 3.0]) - 1.1))),
                               atol=2e-3)


def test_unknown_curve_is_one_line_naming_the_choices(tmp_path, capsys):
    points = tmp_path / "points.csv"
    pd.DataFrame({"family": "f", "size": "1m", "step": 1, "task": "t", "metric": "accuracy",
                  "score": 0.5, "loss": 3.0}, index=[0]).to_csv(points, index=False)
    code = tracker(["forecast", "--points", str(points), "--out", str(tmp_path),
                    "--target", "7b", "--curves", "sigmoid,sigmod"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1
    assert "unknown step-2 curve 'sigmod'" in err[0] and "chance_sigmoid" in err[0]
