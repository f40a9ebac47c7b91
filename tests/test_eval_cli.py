"""`tracker eval / status / export / families` end to end on a tiny local family, and the
one-line errors a user gets for bad input."""

import json
import math

import pandas as pd
import pytest

from tests.helpers import SAMPLE_DOCUMENTS, save_local_family, trained_tokenizer
from tracker.cli import main
from tracker.store.run_store import RunStore


def run_eval(family, run, *extra):
    return main(["eval", "--family", str(family / "family"), "--validation",
                 str(family / "validation.jsonl"), "--run", str(run), "--device", "cpu",
                 "--no-report", "--quiet", "--context-length", "16", *extra])


def test_eval_status_export_round_trip(family, tmp_path, capsys):
    run = tmp_path / "run"
    assert run_eval(family, run) == 0
    assert "computed 4 units, 0 already stored, 0 failed" in capsys.readouterr().out
    assert run_eval(family, run) == 0  # a re-run computes nothing
    assert "computed 0 units, 4 already stored" in capsys.readouterr().out

    assert main(["status", "--run", str(run)]) == 0
    assert "4 units planned: 4 done, 0 missing, 0 failed" in capsys.readouterr().out

    out = tmp_path / "points.csv"
    assert main(["export", "--run", str(run), "--out", str(out)]) == 0
    points = pd.read_csv(out)
    assert list(points.columns[:10]) == ["family", "size", "params", "step", "tokens_seen",
                                         "loss", "task", "metric", "score", "n"]
    assert set(points["metric"]) == {"bits_per_byte", "nats_per_token"}
    bpb = points[points["metric"] == "bits_per_byte"]
    assert (bpb["loss_metric"] == "bits_per_byte").all()
    assert sorted(zip(bpb["size"], bpb["step"], bpb["tokens_seen"], strict=True)) == [
        ("s1", 0, 0), ("s1", 4, 256), ("s2", 0, 0), ("s2", 4, 256)]
    assert (points["n"] == len(SAMPLE_DOCUMENTS)).all()

    examples = tmp_path / "examples.csv"
    assert main(["export", "--run", str(run), "--examples", "--out", str(examples)]) == 0
    rows = pd.read_csv(examples)
    assert len(rows[rows["metric"] == "bits_per_byte"]) == 4 * len(SAMPLE_DOCUMENTS)
    # the loss is pooled over documents (total nats over total bytes), not a mean of the
    # per-document bits per byte: rebuild it from the per-document rows
    wide = rows.pivot_table(index=["size", "step", "example_id"], columns="metric",
                            values="value").reset_index()
    pooled = wide.groupby(["size", "step"]).apply(
        lambda d: d["nll_nats"].sum() / (math.log(2) * d["bytes"].sum()), include_groups=False)
    for (size, step), value in pooled.items():
        row = bpb[(bpb["size"] == size) & (bpb["step"] == step)]
        assert row["loss"].iloc[0] == pytest.approx(value, rel=1e-12)
        assert abs(value - wide[(wide["size"] == size) & (wide["step"] == step)][
            "bits_per_byte"].mean()) > 1e-3  # the two means differ: the test can tell


def test_eval_with_tasks_fits_and_writes_the_report(family, tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["eval", "--family", str(family / "family"), "--validation",
                 str(family / "validation.jsonl"), "--run", str(run), "--device", "cpu",
                 "--quiet", "--tasks", "arithmetic:add:1", "--limit", "3"])
    assert code == 0
    out = capsys.readouterr().out
    assert "computed 8 units" in out and "task examples/s" in out
    thresholds = pd.read_csv(run / "thresholds.csv")
    assert set(thresholds["task"]) == {"arithmetic:add:1"}
    assert {"exact_match", "target_nll", "token_edit_distance"} <= set(thresholds["metric"])
    assert (run / "report.html").is_file() and (run / "report.md").is_file()
    points = RunStore(run).points()
    assert set(points["task"]) == {"validation", "arithmetic:add:1"}
    assert points["loss"].notna().all()


def test_moving_a_local_family_keeps_its_stored_units(family, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    assert run_eval(family, run, "--sizes", "s1") == 0
    moved = tmp_path / "elsewhere" / "family"
    shutil.copytree(family / "family", moved)
    assert main(["eval", "--family", str(moved), "--validation",
                 str(family / "validation.jsonl"), "--run", str(run), "--device", "cpu",
                 "--no-report", "--quiet", "--context-length", "16", "--sizes", "s1"]) == 0
    assert "computed 0 units, 2 already stored" in capsys.readouterr().out


def test_units_are_keyed_by_what_determines_them(family, tmp_path):
    run = tmp_path / "run"
    assert run_eval(family, run, "--sizes", "s1", "--steps", "0") == 0
    assert run_eval(family, run, "--sizes", "s1", "--steps", "0", "--limit", "2") == 0
    records = RunStore(run).records()
    assert len(records) == 2
    assert {r["identity"]["limit"] for r in records} == {None, 2}
    assert all(r["tracker_version"] and r["key"] for r in records)


def test_checkpoint_that_fails_to_load_is_recorded_and_the_sweep_goes_on(family, tmp_path,
                                                                           capsys):
    broken = tmp_path / "broken"
    save_local_family(broken, trained_tokenizer(), sizes=("s1",), steps=(0, 1, 2))
    (broken / "s1" / "step1" / "model.safetensors").write_bytes(b"not weights")
    run = tmp_path / "run"
    code = main(["eval", "--family", str(broken), "--validation",
                 str(family / "validation.jsonl"), "--run", str(run), "--device", "cpu",
                 "--no-report", "--quiet"])
    out = capsys.readouterr().out
    assert code == 1
    assert "computed 2 units, 0 already stored, 1 failed" in out
    assert "FAILED broken/s1@step1 validation: cannot load broken/s1@step1" in out
    assert main(["status", "--run", str(run)]) == 0
    assert "3 units planned: 2 done, 0 missing, 1 failed" in capsys.readouterr().out
    failure = json.loads(next((run / "failed").glob("*.json")).read_text())
    assert failure["label"] == "broken/s1@step1 validation"


@pytest.mark.parametrize(("argv", "message"), [
    (["eval", "--family", "pythai"], "unknown family 'pythai' (did you mean 'pythia'?)"),
    (["eval", "--family", "pythia", "--sizes", "70M", "--validation", "x.txt"],
     "unknown size of family 'pythia' '70M' (did you mean '70m'?)"),
    (["eval", "--family", "pythia", "--sizes", "70m", "--steps", "7", "--validation", "x.txt"],
     "step 7 is not a checkpoint of family 'pythia'"),
    (["eval", "--family", "./no/such/dir"], "family directory no/such/dir does not exist"),
    (["status", "--run", "/nonexistent/run"], "run directory /nonexistent/run does not exist"),
    (["export", "--run", "/nonexistent/run", "--out", "x.csv"], "holds no finished units"),
])
def test_bad_input_is_one_clear_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_empty_validation_file_is_one_clear_line(family, tmp_path, capsys):
    (tmp_path / "empty.txt").write_text("")
    code = main(["eval", "--family", str(family / "family"), "--validation",
                 str(tmp_path / "empty.txt"), "--run", str(tmp_path / "run")])
    assert code == 2
    assert "empty.txt is empty" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_families_lists_and_shows(capsys):
    assert main(["families"]) == 0
    assert "pythia" in capsys.readouterr().out
    assert main(["families", "show", "pythia"]) == 0
    shown = capsys.readouterr().out
    assert "EleutherAI/pythia-70m" in shown and "154 checkpoints" in shown


def test_status_all_lists_every_missing_unit(family, tmp_path, capsys):
    run = tmp_path / "run"
    store = RunStore(run)
    run.mkdir()
    plan = [{"key": f"k{i:02d}", "label": f"f/s@step{i} validation"} for i in range(13)]
    (run / "plan.json").write_text(json.dumps(plan))
    assert main(["status", "--run", str(run)]) == 0
    short = capsys.readouterr().out
    assert "13 units planned: 0 done, 13 missing" in short
    assert short.count("  missing ") == 10 and "... and 3 more missing (--all" in short
    assert main(["status", "--run", str(run), "--all"]) == 0
    full = capsys.readouterr().out
    assert full.count("  missing ") == 13 and "f/s@step12 validation" in full
    assert store.stored_keys() == set()


def test_no_prefetch_gives_the_same_results(family, tmp_path):
    assert run_eval(family, tmp_path / "a") == 0
    assert run_eval(family, tmp_path / "b", "--no-prefetch") == 0
    first, second = (RunStore(tmp_path / r).points() for r in "ab")
    pd.testing.assert_frame_equal(first, second)


def test_a_unit_that_raises_is_recorded_while_the_others_are_stored(family, tmp_path):
    """Not a load failure: the model loads, one evaluation raises on one checkpoint."""
    from tracker.evals.interface import EvalSettings
    from tracker.evals.validation import ValidationLoss, load_validation
    from tracker.families.catalog import load_family
    from tracker.sweep import default_loader, plan_units, run_sweep

    class Exploding:
        name, version = "exploding", "1"

        def identity(self):
            return {"task": self.name}

        def evaluate(self, lm, settings):
            raise RuntimeError("a bug in this task")

    checkpoints = load_family(str(family / "family")).checkpoints()
    validation = ValidationLoss(load_validation(family / "validation.jsonl"), 16)
    units = plan_units(checkpoints, [validation, Exploding()], limit=None, dtype="float32")
    store = RunStore(tmp_path / "run")
    summary = run_sweep(units, store, load=default_loader(device="cpu", dtype="float32",
                                                          context_length=16),
                        settings=EvalSettings(progress=False))
    assert len(summary.computed) == 4 and len(summary.failed) == 4
    assert all(error == "RuntimeError: a bug in this task" for _, error in summary.failed)
    assert {r["task"] for r in store.records()} == {"validation"}
    assert len(store.failures()) == 4


def test_eval_as_a_library_call_returns_a_typed_outcome(family, tmp_path, capsys):
    from tracker.family_eval import EvalRequest, evaluate_family, plan_eval

    request = EvalRequest(str(family / "family"), run_dir=tmp_path / "run",
                          validation=str(family / "validation.jsonl"),
                          tasks=["arithmetic:add:1:n=12"], limit=12)
    plan = plan_eval(request)
    assert len(plan.units) == 8 and plan.second == [] and plan.warnings == ()
    outcome = evaluate_family(request)
    assert outcome.ok and len(outcome.sweep.computed) == 8 and outcome.sweep.skipped == 0
    assert outcome.table is not None and outcome.report is not None
    assert outcome.report.html.is_file() and (tmp_path / "run" / "thresholds.csv").is_file()
    assert {row.task for row in outcome.table.rows} == {"arithmetic:add:1:n=12"}
    again = evaluate_family(request)
    assert again.sweep.computed == [] and again.sweep.skipped == 8
    assert capsys.readouterr().out == ""  # the library prints nothing
