"""`tracker eval / status / export / families` end to end on a tiny local family, and the
one-line errors a user gets for bad input."""

import json

import pandas as pd
import pytest

from tests.helpers import SAMPLE_DOCUMENTS, save_local_family, trained_tokenizer, write_jsonl
from tracker.cli import main
from tracker.store import RunStore


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    save_local_family(root / "family", trained_tokenizer(), sizes=("s1", "s2"), steps=(0, 4))
    write_jsonl(root / "validation.jsonl", SAMPLE_DOCUMENTS)
    return root


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
    assert (bpb["loss"] == bpb["score"]).all()
    assert sorted(zip(bpb["size"], bpb["step"], bpb["tokens_seen"], strict=True)) == [
        ("s1", 0, 0), ("s1", 4, 256), ("s2", 0, 0), ("s2", 4, 256)]
    assert (points["n"] == len(SAMPLE_DOCUMENTS)).all()

    examples = tmp_path / "examples.csv"
    assert main(["export", "--run", str(run), "--examples", "--out", str(examples)]) == 0
    rows = pd.read_csv(examples)
    assert len(rows[rows["metric"] == "bits_per_byte"]) == 4 * len(SAMPLE_DOCUMENTS)


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
