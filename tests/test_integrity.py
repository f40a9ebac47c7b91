"""Corrupted results: a unit file cut short, garbled or tampered with is detected on read,
moved aside to ``corrupt/`` (never deleted), reported in one line, and computed again by
the next ``tracker eval``. Before this, half a unit file made every later ``tracker eval``,
``export`` and ``fit`` die with ``pyarrow.lib.ArrowInvalid: Parquet magic bytes not found``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.helpers import NamedEvaluation as FakeEvaluation
from tracker.cli import main
from tracker.evals.interface import MetricScore, UnitResult
from tracker.families.catalog import Checkpoint
from tracker.store.integrity import RECORD_KEY, read_unit, rows_checksum
from tracker.store.run_store import RunStore
from tracker.store.units import Unit

TASK = "arithmetic:add:1"



def unit(task="task", step=0):
    checkpoint = Checkpoint("fam", "s", step, step * 10, f"/x/s/step{step}", None, 123)
    return Unit(checkpoint, FakeEvaluation(task), None, "float32")


def result(task, values):
    frame = pd.DataFrame({"example_id": [str(i) for i in range(len(values))],
                          "accuracy": np.asarray(values, dtype=float),
                          "generation": [f"answer {v}" for v in values]})
    score = MetricScore.from_values("accuracy", np.asarray(values, dtype=float),
                                    higher_is_better=True, chance=0.5)
    return UnitResult(task, (score,), frame)


def truncate_to_half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def flip_data_page_byte(path: Path, column: str) -> None:
    """Flip the last byte of ``column``'s column chunk: page data, not a page header."""
    metadata = pq.ParquetFile(path).metadata
    row_group = metadata.row_group(0)
    index = [row_group.column(i).path_in_schema for i in range(row_group.num_columns)]
    chunk = row_group.column(index.index(column))
    start = (chunk.dictionary_page_offset if chunk.has_dictionary_page
             else chunk.data_page_offset)
    data = bytearray(path.read_bytes())
    data[start + chunk.total_compressed_size - 1] ^= 0x01
    path.write_bytes(bytes(data))


def test_rows_checksum_ignores_layout_but_not_values():
    table = pa.table({"x": [1.0, None, 3.0], "id": ["a", "b", None]})
    rechunked = pa.concat_tables([table.slice(0, 1), table.slice(1)])
    assert rows_checksum(table) == rows_checksum(rechunked)
    assert rows_checksum(table) == rows_checksum(table.replace_schema_metadata({b"k": b"v"}))
    assert rows_checksum(table) != rows_checksum(pa.table({"x": [1.0, None, 3.5],
                                                           "id": ["a", "b", None]}))
    assert rows_checksum(table) != rows_checksum(pa.table({"x": [1.0, 0.0, 3.0],
                                                           "id": ["a", "b", None]}))
    assert rows_checksum(table) != rows_checksum(pa.table({"y": [1.0, None, 3.0],
                                                           "id": ["a", "b", None]}))


def test_written_units_carry_checksums_that_verify(tmp_path):
    store = RunStore(tmp_path)
    path = store.write(unit(), result("task", [1, 0, 1]), params=1, duration_s=0, device="cpu")
    record, table = read_unit(path)
    assert record["rows_sha256"] == rows_checksum(table)
    assert len(record["record_sha256"]) == 64
    assert store.has(unit()) and store.notes == []


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "rows", "record",
                                    "stripped"])
def test_a_damaged_unit_file_is_set_aside_and_counts_as_not_stored(tmp_path, damage,
                                                                  monkeypatch):
    store = RunStore(tmp_path)
    kept = store.write(unit(step=1), result("task", [0, 0, 1]), params=1, duration_s=0,
                       device="cpu")
    if damage == "rows":  # values changed, page checksums off: only rows_sha256 can tell
        monkeypatch.setattr("tracker.store.run_store.write_parquet",
                            lambda table, tmp: pq.write_table(table, tmp))
    path = store.write(unit(), result("task", [1, 0, 1]), params=1, duration_s=0, device="cpu")
    original = path.read_bytes()
    if damage == "truncate":
        truncate_to_half(path)
    elif damage == "flip":
        flip_data_page_byte(path, "accuracy")
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "rows":
        table = pq.read_table(path)
        values = table["accuracy"].to_numpy().copy()
        values[values == 0] = 1.0
        changed = table.set_column(1, "accuracy", pa.array(values))
        pq.write_table(changed.replace_schema_metadata(table.schema.metadata), path)
    elif damage == "stripped":  # a score changed and both digest keys deleted with it
        table = pq.read_table(path)
        record = json.loads(table.schema.metadata[RECORD_KEY])
        record["scores"][0]["score"] = 0.99
        del record["rows_sha256"], record["record_sha256"]
        metadata = {**table.schema.metadata, RECORD_KEY: json.dumps(record).encode()}
        pq.write_table(table.replace_schema_metadata(metadata), path, write_page_checksum=True)
    elif damage == "record":  # a score in the footer's record changed, rows intact
        table = pq.read_table(path)
        record = json.loads(table.schema.metadata[RECORD_KEY])
        record["scores"][0]["score"] = 0.99
        metadata = {**table.schema.metadata, RECORD_KEY: json.dumps(record).encode()}
        pq.write_table(table.replace_schema_metadata(metadata), path, write_page_checksum=True)
    damaged = path.read_bytes()
    assert damaged != original

    fresh = RunStore(tmp_path)
    notes = fresh.notes
    assert not fresh.has(unit())
    assert fresh.has(unit(step=1))
    aside = tmp_path / "corrupt" / path.relative_to(tmp_path / "units")
    assert aside.read_bytes() == damaged  # moved, byte for byte, never deleted
    assert not path.exists() and kept.exists()
    assert len(notes) == 1 and "\n" not in notes[0]
    assert str(path) in notes[0] and str(aside) in notes[0] and "recomputes" in notes[0]
    assert [r["step"] for r in fresh.records()] == [1]


def test_readers_set_corrupt_files_aside_instead_of_dying(tmp_path):
    store = RunStore(tmp_path)
    for step in (0, 1, 2):
        store.write(unit(step=step), result("task", [1, 0, step % 2]), params=1,
                    duration_s=0, device="cpu")
    truncate_to_half(store.path(unit(step=1)))
    fresh = RunStore(tmp_path)
    notes = fresh.notes
    assert sorted(fresh.points()["step"]) == [0, 2]
    assert sorted(set(fresh.examples()["step"])) == [0, 2]
    assert len(notes) == 1 and (tmp_path / "corrupt").is_dir()
    # a second corruption of the same unit is kept beside the first, not over it
    fresh.write(unit(step=1), result("task", [1, 1, 1]), params=1, duration_s=0, device="cpu")
    truncate_to_half(fresh.path(unit(step=1)))
    again = RunStore(tmp_path)
    assert not again.has(unit(step=1))
    notes += again.notes
    assert len(list((tmp_path / "corrupt").rglob("*"))) - 3 == 2  # 3 directories, 2 files


def test_export_and_fit_on_a_damaged_run_note_it_in_one_line(tmp_path, capsys):
    """Before: pyarrow.lib.ArrowInvalid from both commands."""
    store = RunStore(tmp_path / "run")
    for step in range(4):
        validation = Unit(unit(step=step).checkpoint, FakeEvaluation("validation"), None,
                          "float32")
        loss = UnitResult("validation", (MetricScore("bits_per_byte", 3.0 - step, 0.1, 4,
                                                     False, None),),
                          pd.DataFrame({"example_id": ["0"], "bits_per_byte": [3.0 - step]}))
        store.write(validation, loss, params=1, duration_s=0, device="cpu")
        store.write(unit(step=step), result("task", [1, 0, step % 2]), params=1,
                    duration_s=0, device="cpu")
    truncate_to_half(store.path(unit(step=2)))
    out = tmp_path / "points.csv"
    assert main(["export", "--run", str(tmp_path / "run"), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tracker: note: corrupt unit file ")
    assert "Traceback" not in err and sorted(set(pd.read_csv(out)["step"])) == [0, 1, 2, 3]
    points = pd.read_csv(out)
    assert sorted(points[points["task"] == "task"]["step"]) == [0, 1, 3]

    truncate_to_half(store.path(unit(step=3)))
    assert main(["fit", "--run", str(tmp_path / "run"), "--boot", "50"]) == 0
    err = capsys.readouterr().err
    corrupt = [line for line in err.splitlines() if "corrupt unit file" in line]
    assert len(corrupt) == 1 and corrupt[0].startswith("tracker: note: corrupt unit file ")
    assert "Traceback" not in err and (tmp_path / "run" / "thresholds.csv").is_file()
    assert len(list((tmp_path / "run" / "corrupt").rglob("*.parquet"))) == 2



def run_eval(family, run) -> int:
    return main(["eval", "--family", str(family / "family"), "--validation",
                 str(family / "validation.jsonl"), "--run", str(run), "--device", "cpu",
                 "--quiet", "--no-report", "--context-length", "16", "--tasks", TASK,
                 "--limit", "3"])


def export(run: Path, out: Path) -> bytes:
    assert main(["export", "--run", str(run), "--out", str(out)]) == 0
    return out.read_bytes()


def test_eval_recomputes_a_truncated_and_a_garbled_unit(family, tmp_path, capsys):
    clean = tmp_path / "clean"
    assert run_eval(family, clean) == 0
    expected = export(clean, tmp_path / "clean.csv")
    damaged_run = tmp_path / "damaged"
    shutil.copytree(clean, damaged_run)
    files = RunStore(damaged_run).unit_files()
    assert len(files) == 8
    cut = next(p for p in files if p.name.startswith("validation-"))
    garbled = next(p for p in files if p.name.startswith("arithmetic"))
    truncate_to_half(cut)
    flip_data_page_byte(garbled, "target_nll")
    damaged = {cut: cut.read_bytes(), garbled: garbled.read_bytes()}
    capsys.readouterr()

    assert run_eval(family, damaged_run) == 0
    captured = capsys.readouterr()
    assert "computed 2 units, 6 already stored, 0 failed" in captured.out
    notes = captured.err.splitlines()
    assert len(notes) == 2 and all(n.startswith("tracker: note: corrupt unit file ")
                                   for n in notes)
    for path, data in damaged.items():
        aside = damaged_run / "corrupt" / path.relative_to(damaged_run / "units")
        assert aside.read_bytes() == data
        assert path.is_file() and path.read_bytes() != data  # recomputed under its own name
    assert export(damaged_run, tmp_path / "damaged.csv") == expected
    assert run_eval(family, damaged_run) == 0
    assert "computed 0 units, 8 already stored" in capsys.readouterr().out
