"""`tracker import table`: per-checkpoint tables through a mapping file. End-to-end on slices
of the OLMo ladder and open_lm (tests/data/imports, see tests/data/NOTICE), a W&B-style
export with a map written from docs/imports.md, the loss axis, and one test per bad input."""

from __future__ import annotations

import argparse
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tracker.cli import main
from tracker.errors import TrackerError
from tracker.imports.published_tables import MAP_DIR
from tracker.imports.table import read_sources
from tracker.imports.table_import import TableOptions, import_tables
from tracker.imports.table_map import load_map
from tracker.store import RunStore

DATA = Path(__file__).resolve().parent / "data" / "imports"
OLMO_MAP = MAP_DIR / "olmo-ladder.yaml"
OPEN_LM_MAP = MAP_DIR / "open-lm-scaling.yaml"

WANDB_CSV = """\
_step,_runtime,_timestamp,train/loss,train/learning_rate,eval/loss,eval/hellaswag_acc,eval/hellaswag_acc_norm,eval/arc_easy_acc
0,1.2,1700000000,10.91,0.0,,,,
50,60.1,1700000060,6.02,0.0003,,,,
100,120.4,1700000120,4.71,0.0003,4.80,0.251,0.249,0.262
150,180.9,1700000180,4.20,0.0003,,,,
200,241.0,1700000241,3.95,0.0003,3.99,0.262,0.271,0.301
200,241.5,1700000241,,,,,,
300,362.2,1700000362,3.61,0.00029,3.70,0.281,0.297,0.352
"""

WANDB_MAP = """\
# my run's W&B export (written from docs/imports.md)
family: my-run
size: 125m
tokenizer: gpt2
step: _step
tokens_per_step: 262144        # 128 sequences x 2048 tokens
params: {125m: 124000000}
losses:
  column: '^(?P<set>eval)/loss$'
  unit: nats_per_token
  default: eval
metrics:
  - column: '^eval/(?P<task>.+)_acc_norm$'
    metric: accuracy_norm
  - column: '^eval/(?P<task>.+)_acc$'
    metric: accuracy
tasks:
  - {task: hellaswag, chance: 0.25, n: 10042}
  - {task: arc_easy, chance: 0.25, n: 2376}
"""


def import_cli(*args) -> int:
    return main(["import", "table", *map(str, args), "--quiet"])


def olmo_files() -> list[Path]:
    return sorted((DATA / "olmo-ladder").glob("*.csv"))


def test_olmo_slice_end_to_end(tmp_path, capsys):
    run = tmp_path / "run"
    assert import_cli(*olmo_files(), "--map", OLMO_MAP, "--run", run) == 0
    frames = {path.name: pd.read_csv(path) for path in olmo_files()}
    store = RunStore(run)
    scores = store.scores()
    loss = scores[scores["task"] == "validation"]
    assert set(loss["metric"]) == {"loss_c4_en_nats_per_token"}
    assert len(loss) == sum(len(frame) for frame in frames.values())  # one per row
    # the stored loss is the CSV's c4_en cross-entropy, row by row
    ladder = frames["190M-1xC.csv"]
    stored = loss[(loss["family"] == "olmo-ladder") & (loss["size"] == "190M-1xC")]
    stored, ladder = stored.sort_values("step"), ladder.sort_values("_step")
    assert stored["score"].tolist() == \
        ladder["eval/c4_en-validation/CrossEntropyLoss"].tolist()
    assert stored["tokens_seen"].tolist() == (ladder["_step"] * 524288).tolist()
    assert set(stored["params"]) == {190354176}
    tasks = scores[scores["task"] != "validation"]
    # every downstream column is one stored value
    columns = sum(sum(c.startswith("eval/downstream") for c in frame.columns) * len(frame)
                  for frame in frames.values())
    assert len(tasks) == columns
    arc = tasks[(tasks["task"] == "arc_easy_val_rc_5shot")]
    assert set(arc["metric"]) == {"accuracy_norm", "p_correct", "log_p_correct",
                                  "bits_per_byte_correct"}
    assert arc.loc[arc["metric"] == "accuracy_norm", "chance"].eq(0.25).all()
    mc = tasks[tasks["task"] == "arc_easy_val_mc_5shot"]
    assert set(mc["family"]) == {"olmo-2"} and set(mc["metric"]) == {"accuracy"}
    # tracker export carries the loss axis's name
    points = store.points()
    assert set(points["loss_metric"]) == {"loss_c4_en_nats_per_token"}
    capsys.readouterr()
    assert import_cli(*olmo_files(), "--map", OLMO_MAP, "--run", run) == 0
    assert "imported 0 units" in capsys.readouterr().out
    # tracker status names the run as imported, not as one the training hook filled
    units = len(store.stored_keys())
    assert main(["status", "--run", str(run)]) == 0
    assert (f"{run}: imported (tracker import; no eval plan): {units} units stored "
            f"({units} from a table), 0 failed") in capsys.readouterr().out


def test_loss_choice_names_the_axis(tmp_path):
    run = tmp_path / "run"
    assert import_cli(*olmo_files(), "--map", OLMO_MAP, "--run", run, "--loss", "pile") == 0
    scores = RunStore(run).scores()
    metrics = set(scores.loc[scores["task"] == "validation", "metric"])
    assert metrics == {"loss_pile_nats_per_token"}


def test_open_lm_final_only(tmp_path):
    files = sorted((DATA / "open-lm").glob("*.csv"))
    run = tmp_path / "run"
    assert import_cli(*files, "--map", OPEN_LM_MAP, "--run", run) == 0
    scores = RunStore(run).scores()
    assert set(scores["family"]) == {"open-lm-c4_original", "open-lm-rpj",
                                     "open-lm-rw_original"}
    assert scores["step"].isna().all()  # final models: no step
    arc = scores[scores["task"] == "arc_easy"]
    assert arc["n"].eq(2376).all() and arc["chance"].eq(0.25).all()
    lambada = scores[scores["task"] == "lambada_openai"]
    assert set(lambada["metric"]) == {"exact_match"} and lambada["chance"].eq(0).all()
    points = RunStore(run).points()
    assert points["loss"].notna().all()


def test_wandb_export_with_a_users_map(tmp_path):
    csv = tmp_path / "wandb_export_2024-01-01.csv"
    csv.write_text(WANDB_CSV)
    map_file = tmp_path / "my-run.yaml"
    map_file.write_text(WANDB_MAP)
    run = tmp_path / "run"
    assert import_cli(csv, "--map", map_file, "--run", run) == 0
    scores = RunStore(run).scores()
    loss = scores[scores["task"] == "validation"].sort_values("step")
    assert loss["step"].tolist() == [100, 200, 300]  # rows without eval/loss have no loss
    assert loss["score"].tolist() == [4.80, 3.99, 3.70]
    assert loss["tokens_seen"].tolist() == [100 * 262144, 200 * 262144, 300 * 262144]
    hellaswag = scores[scores["task"] == "hellaswag"]
    assert set(hellaswag["metric"]) == {"accuracy", "accuracy_norm"}
    assert len(hellaswag) == 6 and hellaswag["n"].eq(10042).all()
    arc = scores[scores["task"] == "arc_easy"].sort_values("step")
    assert arc["score"].tolist() == [0.262, 0.301, 0.352]


def test_hf_trainer_log_with_the_docs_map(tmp_path):
    """A real `Trainer` log history (train, eval and summary rows per step; tests/data/imports/
    hf-trainer/SOURCE.md) imported with the map docs/imports.md shows for it: 6 checkpoints,
    eval_loss and eval_token_accuracy as in the file, the training loss left out."""
    docs = (Path(__file__).resolve().parents[1] / "docs" / "imports.md").read_text()
    block = docs.split("A map for a Hugging Face `Trainer`", 1)[1]
    map_text = block.split("```yaml\n", 1)[1].split("```", 1)[0]
    map_file = tmp_path / "trainer.yaml"
    map_file.write_text(map_text)
    csv = DATA / "hf-trainer" / "neox-tiny_log_history.csv"
    run = tmp_path / "run"
    assert import_cli(csv, "--map", map_file, "--run", run) == 0
    log = pd.read_csv(csv)
    evals = log.dropna(subset=["eval_loss"]).set_index("step")
    scores = RunStore(run).scores()
    loss = scores[scores["task"] == "validation"].set_index("step")["score"].sort_index()
    assert loss.index.tolist() == [20, 40, 60, 80, 100, 120]
    assert loss.tolist() == evals["eval_loss"].tolist()
    token = scores[scores["task"] == "token"].set_index("step")["score"].sort_index()
    assert token.tolist() == evals["eval_token_accuracy"].tolist()
    assert set(scores["task"]) == {"validation", "token"}
    before = sorted(p.name for p in (run / "units").rglob("*.parquet"))
    assert import_cli(csv, "--map", map_file, "--run", run) == 0
    assert sorted(p.name for p in (run / "units").rglob("*.parquet")) == before


def bad_import(tmp_path, *, csv_text: str | None = None, map_text: str | None = None,
               name: str = "wandb.csv") -> str:
    csv = tmp_path / name
    csv.write_text(WANDB_CSV if csv_text is None else csv_text)
    map_file = tmp_path / "map.yaml"
    map_file.write_text(WANDB_MAP if map_text is None else map_text)
    with pytest.raises(TrackerError) as error:
        import_tables(read_sources([csv]), load_map(map_file), tmp_path / "run", TableOptions())
    message = str(error.value)
    assert "\n" not in message
    assert not (tmp_path / "run" / "units").exists()  # nothing written
    return message


def test_missing_column_did_you_mean(tmp_path):
    message = bad_import(tmp_path, map_text=WANDB_MAP.replace("step: _step", "step: step_"))
    assert "no column 'step_' (the map's step) (did you mean '_step'?)" in message


def test_non_numeric_cell(tmp_path):
    message = bad_import(tmp_path, csv_text=WANDB_CSV.replace("3.99,0.262", "3.99,n/a"))
    assert "wandb.csv: line 6, column 'eval/hellaswag_acc': 'n/a' is not a number" in message


def test_size_matching_no_pattern(tmp_path):
    text = WANDB_MAP.replace("size: 125m", "sizes:\n  - {file: '^run-(?P<size>\\d+m)\\.csv$'}")
    message = bad_import(tmp_path, map_text=text, name="export.csv")
    assert "the file name 'export.csv' matches no size pattern" in message


def test_unknown_map_key(tmp_path):
    message = bad_import(tmp_path, map_text=WANDB_MAP.replace("tokens_per_step:",
                                                              "tokens_per_stp:"))
    assert "unknown key 'tokens_per_stp' (did you mean 'tokens_per_step'?)" in message


def test_unknown_loss_set(tmp_path):
    csv = tmp_path / "wandb.csv"
    csv.write_text(WANDB_CSV)
    map_file = tmp_path / "map.yaml"
    map_file.write_text(WANDB_MAP)
    with pytest.raises(TrackerError, match="unknown loss set 'evl' \\(did you mean 'eval'"):
        import_tables(read_sources([csv]), load_map(map_file), tmp_path / "run",
                      TableOptions(loss_set="evl"))


def test_metric_of_unknown_direction(tmp_path):
    text = WANDB_MAP.replace("metric: accuracy_norm", "metric: acc_n")
    message = bad_import(tmp_path, map_text=text)
    assert "metric 'acc_n'" in message and "higher_is_better" in message


def test_conflicting_rows_of_one_step(tmp_path):
    text = WANDB_CSV.replace("200,241.5,1700000241,,,,,,", "200,241.5,1700000241,,,4.2,,,")
    message = bad_import(tmp_path, csv_text=text)
    assert "step 200 has different values of column 'eval/loss' on lines 6, 7" in message


def test_cli_error_is_one_line(tmp_path, capsys):
    csv = tmp_path / "wandb.csv"
    csv.write_text(WANDB_CSV.replace("0.301", "x"))
    map_file = tmp_path / "map.yaml"
    map_file.write_text(WANDB_MAP)
    assert import_cli(csv, "--map", map_file, "--run", tmp_path / "run") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("tracker: error: ") and "line 6" in err


def test_two_loss_axes_never_share_a_run(tmp_path, capsys):
    run = tmp_path / "run"
    assert import_cli(*olmo_files(), "--map", OLMO_MAP, "--run", run) == 0
    files = sorted((DATA / "open-lm").glob("*.csv"))
    before = len(RunStore(run).unit_files())
    capsys.readouterr()
    assert import_cli(*files, "--map", OPEN_LM_MAP, "--run", run) == 2
    err = capsys.readouterr().err
    assert "holds the loss loss_c4_en_nats_per_token" in err and "loss_c4_val" in err
    assert len(RunStore(run).unit_files()) == before


def test_same_set_other_tokenizer_refused(tmp_path, capsys):
    run = tmp_path / "run"
    assert import_cli(*olmo_files(), "--map", OLMO_MAP, "--run", run) == 0
    other = tmp_path / "other.yaml"
    other.write_text(OLMO_MAP.read_text().replace("tokenizer: olmo-ladder (Bhagia et al. 2024)",
                                                  "tokenizer: gpt2"))
    copy = tmp_path / "190M-5xC.csv"
    shutil.copy(DATA / "olmo-ladder" / "190M-1xC.csv", copy)
    capsys.readouterr()
    assert import_cli(copy, "--map", other, "--run", run) == 2
    assert "counted by the tokenizer olmo-ladder" in capsys.readouterr().err


def test_changed_value_supersedes(tmp_path):
    csv = tmp_path / "wandb.csv"
    csv.write_text(WANDB_CSV)
    map_file = tmp_path / "map.yaml"
    map_file.write_text(WANDB_MAP)
    run = tmp_path / "run"
    assert import_cli(csv, "--map", map_file, "--run", run) == 0
    csv.write_text(WANDB_CSV.replace("0.352", "0.353"))
    assert import_cli(csv, "--map", map_file, "--run", run) == 0
    arc = RunStore(run).scores().query("task == 'arc_easy' and step == 300")
    assert arc["score"].tolist() == [0.353]
    assert math.isclose(float(arc["score"].iloc[0]), 0.353)


def test_every_published_set_is_offered_and_named_in_the_top_level_help():
    from tracker.cli import PUBLISHED_DATA, build_parser
    from tracker.imports.lmeval import PUBLISHED
    from tracker.imports.published_tables import PUBLISHED_TABLES

    parser = build_parser("import")
    sources = next(a for a in parser._subparsers._group_actions[0].choices["import"]._actions
                   if isinstance(a, argparse._SubParsersAction)).choices
    offered = {name: next(a.choices for a in sources[name]._actions
                          if a.dest == "published") for name in ("lm-eval", "table")}
    assert set(offered["lm-eval"]) == set(PUBLISHED)
    assert set(offered["table"]) == set(PUBLISHED_TABLES)
    for name in [*PUBLISHED, *PUBLISHED_TABLES]:
        assert f"--published {name} " in PUBLISHED_DATA
