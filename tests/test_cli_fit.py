"""`tracker fit` and `tracker report` from the command line: outputs and one-line errors."""

import argparse
import importlib

import numpy as np
import pandas as pd
import pytest

from tracker.cli import fit_cmd, report_cmd
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
    assert set(arith["verdict"]) == {"threshold"}
    assert (arith["ci_low"] < 2.4).all() and (arith["ci_high"] > 2.4).all()
    out = capsys.readouterr().out
    assert "arithmetic accuracy: threshold at loss" in out and "wrote" in out


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
    import tracker.store

    points = demo_points(np.random.default_rng(3))
    points = points[points["task"] == "arithmetic"].assign(
        higher_is_better=lambda f: f["metric"] != "brier", stderr=0.01)
    validation = points[points["metric"] == "accuracy"].assign(
        task="validation", metric="bits_per_byte", score=lambda f: f["loss"])

    class FakeStore:
        def __init__(self, root, **options):  # options: on_note
            self.root = root

        def points(self, setting=None, tasks=None):
            return pd.concat([points, validation], ignore_index=True)

        def examples(self, setting=None, tasks=None, columns=None):
            return pd.DataFrame(columns=["family", "size", "params", "step", "tokens_seen",
                                         "loss", "task", "metric", "example_id", "value"])

    monkeypatch.setattr(tracker.store, "RunStore", FakeStore)
    args = parse(["fit", "--run", str(tmp_path), "--boot", "60"])
    assert args.func(args) == 0
    table = pd.read_csv(tmp_path / "thresholds.csv")
    assert list(table["metric"]) == ["accuracy", "brier", "p_correct"]
    assert set(table["verdict"]) == {"threshold"}
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
