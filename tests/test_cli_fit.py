"""`tracker fit` and `tracker report` from the command line: outputs and one-line errors."""

import argparse
import importlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tracker.cli import fit_cmd, main, report_cmd
from tracker.errors import TrackerError
from tracker.fit.synthetic import demo_points


def parse(argv):
    """A parser with only the fit and report commands (independent of the other commands)."""
    parser = argparse.ArgumentParser(prog="tracker")
    subparsers = parser.add_subparsers(dest="command", required=True)
    fit_cmd.register(subparsers)
    report_cmd.register(subparsers)
    return parser.parse_args(argv)


@pytest.fixture(scope="module")
def points_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("points") / "points.csv"
    demo_points(np.random.default_rng(3)).to_csv(path, index=False)
    return path


def test_fit_points_writes_thresholds_csv(points_csv, tmp_path, capsys):
    args = parse(["fit", "--points", str(points_csv), "--out", str(tmp_path), "--boot", "60"])
    assert args.func(args) == 0
    table = pd.read_csv(tmp_path / "thresholds.csv")
    arith = table[table["task"] == "arithmetic"].set_index("metric")
    assert set(arith["verdict"]) == {"emerges"}
    assert (arith["ci_low"] < 2.4).all() and (arith["ci_high"] > 2.4).all()
    out = capsys.readouterr().out
    assert "arithmetic accuracy: emerges (from chance, abrupt), onset" in out and "wrote" in out
    twins = pd.read_csv(tmp_path / "twins.csv")
    pairs = twins.set_index(["task", "metric", "twin"])["verdict"].to_dict()
    assert pairs[("arithmetic", "accuracy", "p_correct")] == "survives"
    assert "arithmetic accuracy vs p_correct: survives" in out


def test_points_without_out_is_an_error(points_csv):
    args = parse(["fit", "--points", str(points_csv)])
    with pytest.raises(TrackerError, match="--points needs --out"):
        args.func(args)


def test_report_writes_files(points_csv, tmp_path):
    args = parse(["report", "--points", str(points_csv), "--out", str(tmp_path), "--boot", "60"])
    assert args.func(args) == 0
    assert (tmp_path / "report.md").is_file() and (tmp_path / "report.html").is_file()
    assert (tmp_path / "thresholds.csv").is_file()
    assert len(list((tmp_path / "figures").glob("*.png"))) >= 8


def full_cli():
    module = importlib.import_module("tracker.cli")  # a broken import fails, never skips
    module.build_parser()
    return module


@pytest.mark.parametrize("header,message", [
    ("task,metric,score\n", "missing column 'loss'"),
    ("task,metric,loss,score\n", "header but no rows"),
])
def test_bad_points_print_one_line_and_exit_2(tmp_path, capsys, header, message):
    cli = full_cli()
    path = tmp_path / "bad.csv"
    path.write_text(header)
    assert cli.main(["fit", "--points", str(path), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and err[0].startswith("tracker: error:")


def test_main_runs_fit_end_to_end(points_csv, tmp_path):
    cli = full_cli()
    assert cli.main(["fit", "--points", str(points_csv), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "thresholds.csv").is_file()


def test_missing_run_directory(tmp_path):
    args = parse(["fit", "--run", str(tmp_path / "none")])
    with pytest.raises(TrackerError, match="does not exist"):
        args.func(args)


def test_fit_run_reads_the_store_and_writes_into_the_run(tmp_path, monkeypatch):
    """--run uses RunStore.points()/examples() (the store's contract), faked here."""
    import tracker.store.run_store

    points = demo_points(np.random.default_rng(3))
    points = points[points["task"] == "arithmetic"].assign(
        higher_is_better=lambda f: f["metric"] != "brier", stderr=0.01)
    validation = points[points["metric"] == "accuracy"].assign(
        task="validation", metric="bits_per_byte", score=lambda f: f["loss"])

    class FakeStore:
        def __init__(self, root):
            self.root = root

        def points(self, setting=None, tasks=None):
            return pd.concat([points, validation], ignore_index=True)

        def examples(self, setting=None, tasks=None, columns=None):
            return pd.DataFrame(columns=["family", "size", "params", "step", "tokens_seen",
                                         "loss", "task", "metric", "example_id", "value"])

    monkeypatch.setattr(tracker.store.run_store, "RunStore", FakeStore)
    args = parse(["fit", "--run", str(tmp_path), "--boot", "60"])
    assert args.func(args) == 0
    table = pd.read_csv(tmp_path / "thresholds.csv")
    assert list(table["metric"]) == ["accuracy", "brier", "p_correct"]
    assert set(table["verdict"]) == {"emerges"}
    assert table.set_index("metric").loc["brier", "slope"] < 0


def test_fit_shared_prints_one_threshold_for_the_tasks(points_csv, tmp_path, capsys):
    args = parse(["fit", "--points", str(points_csv), "--out", str(tmp_path), "--boot", "60",
                  "--shared", "arithmetic,sports_understanding"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "shared arithmetic,sports_understanding accuracy: threshold" in out
    bad = parse(["fit", "--points", str(points_csv), "--out", str(tmp_path), "--boot", "60",
                 "--shared", "arithmetic,nosuchtask"])
    with pytest.raises(TrackerError, match="nosuchtask"):
        bad.func(bad)


REPRO = Path(__file__).parent / "data" / "fit-singular-sigmoid.csv"


def test_the_singular_sigmoid_repro_emerges_instead_of_crashing(tmp_path, capsys):
    """A perfect step within single sizes made the sigmoid's Gauss-Newton system singular
    (numpy.linalg.LinAlgError from fit/sigmoid.py, no thresholds.csv at all). Through the
    CLI, alone and inside a 150-series table."""
    assert main(["fit", "--points", str(REPRO), "--out", str(tmp_path / "alone")]) == 0
    alone = pd.read_csv(tmp_path / "alone" / "thresholds.csv")
    assert alone["verdict"].tolist() == ["emerges"] and 1.9 < alone["threshold"][0] < 2.1
    points = pd.read_csv(REPRO)
    rng = np.random.default_rng(0)
    others = [points.assign(task=f"other{i}", score=np.clip(
        points["score"] + rng.normal(0, 0.02, len(points)), 0, 1)) for i in range(149)]
    big = tmp_path / "big.csv"
    pd.concat([points, *others], ignore_index=True).to_csv(big, index=False)
    assert main(["fit", "--points", str(big), "--out", str(tmp_path / "big"), "--boot",
                 "100"]) == 0
    table = pd.read_csv(tmp_path / "big" / "thresholds.csv")
    assert len(table) == 150 and "failed" not in set(table["verdict"])
    assert table.set_index("task").loc["phase9", "verdict"] == "emerges"


def test_a_series_whose_fit_raises_is_failed_and_the_rest_is_written(points_csv, tmp_path,
                                                                    capsys, monkeypatch):
    import tracker.fit.table as table_module

    real = table_module.fit_series

    def flaky(series, *args, **kwargs):
        if series["task"].iloc[0] == "navigate":
            raise FloatingPointError("a solver gave up")
        return real(series, *args, **kwargs)

    monkeypatch.setattr(table_module, "fit_series", flaky)
    assert main(["fit", "--points", str(points_csv), "--out", str(tmp_path), "--boot",
                 "60"]) == 0
    table = pd.read_csv(tmp_path / "thresholds.csv").set_index(["task", "metric"])
    assert table.loc[("navigate", "accuracy"), "verdict"] == "failed"
    assert "FloatingPointError: a solver gave up" in table.loc[("navigate", "accuracy"), "note"]
    assert (table["verdict"] != "failed").sum() == len(table) - 1
    err = capsys.readouterr().err
    assert err.count("the fit of navigate/accuracy failed") == 1


def test_no_series_fitted_exits_1_with_one_line(points_csv, tmp_path, capsys, monkeypatch):
    import tracker.fit.table as table_module

    def broken(series, *args, **kwargs):
        raise ArithmeticError("nothing works")

    monkeypatch.setattr(table_module, "fit_series", broken)
    assert main(["fit", "--points", str(points_csv), "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "tracker: error: no series could be fitted" in err
    assert "ArithmeticError: nothing works (and " in err
    assert not (tmp_path / "thresholds.csv").exists()
