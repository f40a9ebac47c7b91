"""The run's unit index (tracker.store.unit_index): records come from one file instead of a full
read of every unit file, yet a changed, removed, damaged or forged unit is never used.
Files are aged past RACY_SECONDS with os.utime (the index skips files modified moments
before they were verified)."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from tests.helpers import NamedEvaluation as FakeEvaluation
from tests.test_integrity import flip_data_page_byte
from tracker.evals.interface import MetricScore, UnitResult
from tracker.families.catalog import Checkpoint
from tracker.store import integrity
from tracker.store.run_store import RunStore
from tracker.store.unit_index import INDEX_NAME
from tracker.store.units import Unit


def unit(task="task", step=0):
    checkpoint = Checkpoint("fam", "s", step, step * 10, f"/x/s/step{step}", None, 123)
    return Unit(checkpoint, FakeEvaluation(task), None, "float32")


def result(task, values):
    values = np.asarray(values, dtype=float)
    frame = pd.DataFrame({"example_id": [str(i) for i in range(len(values))],
                          "accuracy": values, "brier": 1 - values,
                          "generation": [f"answer {v}" for v in values]})
    scores = (MetricScore.from_values("accuracy", values, higher_is_better=True, chance=0.5),
              MetricScore.from_values("brier", 1 - values, higher_is_better=False, chance=None))
    return UnitResult(task, scores, frame)


def age(path, seconds=60):
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - int(seconds * 1e9)))


@pytest.fixture
def run(tmp_path):
    store = RunStore(tmp_path)
    for step in range(3):
        loss = UnitResult("validation", (MetricScore("bits_per_byte", 3.0 - step, 0.1, 1, False),),
                          pd.DataFrame({"example_id": ["0"], "bits_per_byte": [3.0 - step]}))
        store.write(Unit(unit(step=step).checkpoint, FakeEvaluation("validation"), None,
                         "float32"), loss, params=1, duration_s=0, device="cpu")
        store.write(unit(step=step), result("task", [1, 0, step % 2]), params=1, duration_s=0,
                    device="cpu")
    for path in store.unit_files():
        age(path)
    return tmp_path


def count_reads(monkeypatch):
    calls = []
    original = integrity.read_unit

    def counting(path):
        calls.append(path)
        return original(path)

    monkeypatch.setattr("tracker.store.run_store.read_unit", counting)
    return calls


def test_records_come_from_the_index_once_built(run, monkeypatch):
    before = RunStore(run).points()
    assert (run / INDEX_NAME).is_file()
    reads = count_reads(monkeypatch)
    after = RunStore(run).points()
    assert reads == []  # every record from the index
    pd.testing.assert_frame_equal(before, after)


def test_fresh_files_are_not_indexed(tmp_path):
    store = RunStore(tmp_path)
    store.write(unit(), result("task", [1, 0]), params=1, duration_s=0, device="cpu")
    assert len(store.records()) == 1
    assert not (tmp_path / INDEX_NAME).exists()  # modified moments ago: could be racy


def test_a_changed_file_is_verified_again_and_a_damaged_one_set_aside(run, monkeypatch):
    RunStore(run).points()
    path = RunStore(run).path(unit(step=1))
    path.write_bytes(path.read_bytes()[:100])  # size and mtime change
    store = RunStore(run)
    points = store.points()
    notes = store.notes
    assert sorted(points[points["task"] == "task"]["step"].unique()) == [0, 2]
    assert len(notes) == 1 and "corrupt unit file" in notes[0]
    assert str(path.relative_to(run / "units").as_posix()) not in read_index(run)[1]


def test_rows_damaged_behind_the_index_are_caught_before_use(run):
    """Size, mtime and inode kept: the record comes from the index, but examples() checks
    the rows against their digest and sets the file aside before its rows are used."""
    RunStore(run).points()
    path = RunStore(run).path(unit(step=1))
    stat = path.stat()
    flip_data_page_byte(path, "accuracy")  # in place: same inode, same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_ino) == (stat.st_size, stat.st_ino)
    store = RunStore(run)
    examples = store.examples()
    notes = store.notes
    assert sorted(set(examples[examples["task"] == "task"]["step"])) == [0, 2]
    assert len(notes) == 1 and "corrupt unit file" in notes[0]


def read_index(run):
    header, _, body = (run / INDEX_NAME).read_text().partition("\n")
    return json.loads(header), json.loads(body)


def test_a_changed_index_is_not_trusted(run, monkeypatch):
    RunStore(run).points()
    header, entries = read_index(run)
    key = next(k for k in entries if "/step1/task-" in k)
    entries[key][3]["scores"][0]["score"] = 0.99
    (run / INDEX_NAME).write_text(json.dumps(header) + "\n" + json.dumps(entries))
    reads = count_reads(monkeypatch)
    points = RunStore(run).points()
    assert len(reads) == 6  # the index no longer matches its digest: every file verified
    row = points[(points["task"] == "task") & (points["step"] == 1)
                 & (points["metric"] == "accuracy")]
    assert row["score"].tolist() == pytest.approx([2 / 3])  # values 1, 0, 1; not 0.99


def test_an_entry_without_its_file_is_ignored(run):
    RunStore(run).points()
    path = RunStore(run).path(unit(step=2))
    path.unlink()
    points = RunStore(run).points()
    assert sorted(points[points["task"] == "task"]["step"].unique()) == [0, 1]
    assert not RunStore(run).has(unit(step=2))


@pytest.mark.parametrize("text", ["", "{", "[]", '{"format": "other"}\n{}',
                                  '{"format": "tracker-unit-index", "version": 1}\n{}'])
def test_an_unreadable_index_is_rebuilt(run, text):
    expected = RunStore(run).points()
    (run / INDEX_NAME).write_text(text)
    pd.testing.assert_frame_equal(RunStore(run).points(), expected)
    assert read_index(run)[0]["format"] == "tracker-unit-index"


def test_examples_are_long_sorted_and_carry_the_loss(run):
    examples = RunStore(run).examples()
    assert list(examples.columns) == ["family", "size", "params", "step", "tokens_seen", "loss",
                                      "task", "metric", "example_id", "value", "loss_metric"]
    task = examples[examples["task"] == "task"]
    assert len(task) == 3 * 2 * 3  # steps x metrics x examples
    assert task["metric"].astype(str).tolist()[:6] == ["accuracy"] * 3 + ["brier"] * 3
    step1 = task[(task["step"] == 1) & (task["metric"] == "accuracy")]
    assert step1["value"].tolist() == [1.0, 0.0, 1.0]
    assert set(step1["loss"]) == {2.0} and set(step1["loss_metric"]) == {"bits_per_byte"}
    ordered = examples.astype({c: str for c in ("family", "size", "task", "metric")})
    resorted = ordered.sort_values(["family", "size", "step", "task", "metric"], kind="stable",
                                   ignore_index=True)
    pd.testing.assert_frame_equal(ordered, resorted)
    projected = RunStore(run).examples(columns=["step", "task", "value"])
    assert list(projected.columns) == ["step", "task", "value"]
    assert projected["value"].tolist() == examples["value"].tolist()
