"""The paths a new user takes, end to end, with inputs tracker did not make.

Checkpoints here are plain ``save_pretrained`` output (no ``tracker_checkpoint.json``, so
tokens seen are unknown), the run directory and the working directory are elsewhere, and
results of different settings share one run directory. Each test failed on the code
before the fix it guards (see the issue "Paths a new user takes").
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.helpers import (
    SAMPLE_DOCUMENTS,
    tiny_gpt_neox,
    tiny_llama,
    trained_tokenizer,
    write_jsonl,
)
from tracker.cli import main
from tracker.fit.table import _example_matrix, fit_table
from tracker.points import read_run

TASK = "arithmetic:add:1:n=12"
STEPS = (0, 100, 200, 300, 400, 500)


@pytest.fixture(scope="module")
def user_family(tmp_path_factory) -> Path:
    """Three sizes x six steps, saved exactly as a user's training script would."""
    root = tmp_path_factory.mktemp("user") / "my-models"
    tokenizer = trained_tokenizer()
    builders = [("small", tiny_gpt_neox), ("mid", tiny_llama), ("big", tiny_gpt_neox)]
    for size_index, (size, build) in enumerate(builders):
        for step in STEPS:
            model = build(len(tokenizer), seed=100 * size_index + step)
            model.save_pretrained(root / size / f"step{step}")
            tokenizer.save_pretrained(root / size / f"step{step}")
    return root


@pytest.fixture
def elsewhere(tmp_path, monkeypatch) -> Path:
    """A working directory that is neither the project nor the run directory."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def _eval(family: Path | str, run: Path, validation: Path, *extra: str) -> int:
    return main(["eval", "--family", str(family), "--run", str(run), "--validation",
                 str(validation), "--tasks", TASK, "--quiet", *extra])


def test_plain_checkpoints_without_metadata_evaluate_fit_and_report(
        user_family, elsewhere, tmp_path, capsys):
    validation = write_jsonl(tmp_path / "val.jsonl", SAMPLE_DOCUMENTS)
    run = tmp_path / "runs" / "mine"
    assert _eval(user_family, run, validation) == 0, capsys.readouterr().err
    assert "computed 36 units" in capsys.readouterr().out
    assert (run / "report.html").is_file() and (run / "thresholds.csv").is_file()
    thresholds = pd.read_csv(run / "thresholds.csv")
    assert set(thresholds["task"]) == {TASK} and (thresholds["n_points"] == 18).all()
    assert set(thresholds["same_loss_same_score"]) <= {"consistent across sizes",
                                                       "size matters"}
    # the per-example bootstrap (examples shared across checkpoints) and the size bootstrap
    # both ran: the path `tracker fit --run` takes
    points, examples = read_run(run)
    table = fit_table(points, examples, n_boot=50)
    fitted = [row for row in table.rows if row.fit.reason != "constant scores"]
    assert len(fitted) >= 4  # target NLL and edit distances vary even for random models
    assert all(_example_matrix(row.points, examples) is not None for row in fitted)
    assert all(row.fit.interval_method == "examples+groups" for row in fitted
               if row.fit.verdict in ("emerges", "weak"))

    assert main(["export", "--run", str(run), "--out", "points.csv"]) == 0
    text = (elsewhere / "points.csv").read_text().splitlines()
    header = text[0].split(",")
    first = dict(zip(header, text[1].split(","), strict=True))
    assert first["tokens_seen"] == ""  # unknown stays empty, never 'nan'
    assert first["params"].isdigit() and first["step"].isdigit()
    assert main(["report", "--points", "points.csv", "--out", "again"]) == 0
    assert (elsewhere / "again" / "report.html").is_file()
    assert main(["eval", "--family", str(user_family), "--run", str(run), "--validation",
                 str(validation), "--tasks", TASK, "--quiet", "--no-report"]) == 0
    assert "computed 0 units, 36 already stored" in capsys.readouterr().out


def test_settings_of_one_run_never_mix(user_family, elsewhere, tmp_path, capsys):
    validation = write_jsonl(tmp_path / "val.jsonl", SAMPLE_DOCUMENTS)
    run = tmp_path / "run"
    assert _eval(user_family, run, validation, "--no-report", "--limit", "3") == 0
    assert _eval(user_family, run, validation) == 0  # the full setting, planned last
    full = _export(run)
    assert len(full) == len(full.drop_duplicates(["size", "step", "task", "metric"]))
    assert set(full.loc[full.task == TASK, "n"]) == {12}
    limited = _export(run, "--setting", "limit=3")
    assert set(limited.loc[limited.task == TASK, "n"]) == {3}
    assert not limited["loss"].equals(full["loss"])  # the loss of 3 documents, not of all
    examples = _export(run, "--examples", "--setting", "limit=3")
    assert set(examples.loc[examples.task == TASK, "example_id"]) == {0, 1, 2}

    (run / "plan.json").unlink()  # no plan says which setting is current: refuse
    capsys.readouterr()
    assert main(["export", "--run", str(run), "--out", "x.csv"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "limit=3" in error and "limit=all" in error
    assert "--setting" in error
    assert main(["fit", "--run", str(run), "--boot", "50"]) == 2


def test_retrained_weights_are_scored_again(user_family, elsewhere, tmp_path, capsys):
    family = tmp_path / "family"
    shutil.copytree(user_family, family)
    validation = write_jsonl(tmp_path / "val.jsonl", SAMPLE_DOCUMENTS)
    run = tmp_path / "run"
    assert _eval(family, run, validation, "--no-report") == 0
    before = _export(run)
    shutil.rmtree(family / "big" / "step500")  # retrained in place: other weights, same path
    shutil.copytree(user_family / "big" / "step100", family / "big" / "step500")
    capsys.readouterr()
    assert _eval(family, run, validation, "--no-report") == 0
    assert "computed 2 units, 34 already stored" in capsys.readouterr().out
    after = _export(run)
    assert len(after) == len(before)  # the stale scores are set aside, not mixed in
    moved = list((run / "superseded").glob("**/*.parquet"))
    assert len(moved) == 2
    new = after[(after["size"] == "big") & (after["step"] == 500)]
    twin = after[(after["size"] == "big") & (after["step"] == 100)]
    assert new["loss"].iloc[0] == twin["loss"].iloc[0]  # same weights, same loss


def test_ladder_trains_into_another_run_from_another_directory(elsewhere, tmp_path, capsys):
    """The main job's train-if-absent path on a tiny config, with the family file, run
    directory and working directory in three different places; a second run computes
    nothing."""
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "tiny-ladder.yaml").write_text(yaml.safe_dump(TINY_LADDER))
    (configs / "tiny.yaml").write_text(yaml.safe_dump(
        {"name": "tiny", "architecture": "other", "source": "local",
         "train_config": "tiny-ladder.yaml"}))
    run = tmp_path / "elsewhere" / "run"
    arguments = ["eval", "--family", str(configs / "tiny.yaml"), "--run", str(run), "--quiet"]
    assert main(arguments) == 0, capsys.readouterr().err
    assert "computed 0 units, 16 already stored" in capsys.readouterr().out  # the hook's
    assert (run / "checkpoints" / "a" / "step4" / "model.safetensors").is_file()
    assert (run / "report.html").is_file()
    assert not (elsewhere / "runs").exists() and not (configs / "runs").exists()
    capsys.readouterr()
    assert main(arguments + ["--no-report"]) == 0
    out = capsys.readouterr().out
    assert "computed 0 units, 16 already stored" in out  # 2 sizes x steps 0,1,2,4 x 2 units


def test_unreachable_hub_validation_is_one_line(elsewhere, capsys):
    assert main(["eval", "--family", "pythia", "--sizes", "14m", "--steps", "0",
                 "--run", "r"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "cannot load validation set 'wikitext-2'" in error and "--validation PATH" in error


TINY_LADDER = {
    "name": "tiny",
    "corpus": {"sources": ["kjv", "fortunes"], "train_bytes_per_source": 20000,
               "validation_bytes_per_source": 1500, "max_document_bytes": 2000},
    "tokenizer": {"vocab_size": 300, "training_bytes": 40000},
    "mixture": {"arithmetic_fraction": 0.5, "problems": [{"task": "arithmetic:add:1"}]},
    "training": {"context_length": 32, "batch_size": 4, "max_steps": 4, "warmup_steps": 1,
                 "threads": 2, "precision": "fp32"},
    "checkpoints": {"log_from": 1, "log_until": 2, "every": 4},
    "sizes": [
        {"label": "a", "architecture": "llama", "hidden_size": 32, "layers": 1, "heads": 2,
         "intermediate_size": 64},
        {"label": "b", "architecture": "gpt_neox", "hidden_size": 32, "layers": 1, "heads": 2,
         "intermediate_size": 64},
    ],
    "evaluation": {"tasks": ["arithmetic:add:1:n=10"], "batch_size": 10},
}


def _export(run: Path, *extra: str) -> pd.DataFrame:
    out = run.parent / "export.csv"
    assert main(["export", "--run", str(run), "--out", str(out), *extra]) == 0
    return pd.read_csv(out)
