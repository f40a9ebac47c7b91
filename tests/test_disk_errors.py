"""Disk errors: a write that fails (disk full, read-only run directory) leaves the unit not
done, says so in one line naming the path and the system's reason, and loses nothing
stored. A sweep stops at the first write every later one would repeat (ENOSPC, EROFS,
EACCES), exit code 1, instead of recording a failure per unit."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import tracker.store.files
from tests.helpers import NamedEvaluation as FakeEvaluation
from tracker.cli import main
from tracker.errors import StorageError
from tracker.evals.interface import MetricScore, UnitResult
from tracker.families.catalog import Checkpoint
from tracker.store.run_store import RunStore
from tracker.store.units import Unit


def unit(step=0):
    checkpoint = Checkpoint("fam", "s", step, None, f"/x/s/step{step}", None, 1)
    return Unit(checkpoint, FakeEvaluation("task"), None, "float32")


def result(values):
    frame = pd.DataFrame({"example_id": [str(i) for i in range(len(values))],
                          "accuracy": np.asarray(values, dtype=float)})
    score = MetricScore.from_values("accuracy", frame["accuracy"].to_numpy(),
                                    higher_is_better=True, chance=0.5)
    return UnitResult("task", (score,), frame)


def full_disk_writer(code: int, calls: list):
    """pq.write_table that writes part of the file, then fails as a full disk does."""
    def write_table(table, where, **kwargs):
        calls.append(str(where))
        Path(where).write_bytes(b"PAR1 half a file")
        raise OSError(code, f"Error writing bytes to file. Detail: {os.strerror(code)}")
    return write_table


def snapshot(run: Path) -> dict[str, bytes]:
    """The stored results: every unit file's bytes."""
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*.parquet"))}


def temporaries(run: Path) -> list[Path]:
    return [p for p in run.rglob("*") if p.name.endswith(".tmp")]


def test_a_full_disk_write_raises_one_line_and_leaves_nothing_behind(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    kept = store.write(unit(0), result([1, 0]), params=1, duration_s=0, device="cpu")
    before = kept.read_bytes()
    monkeypatch.setattr(pq, "write_table", full_disk_writer(errno.ENOSPC, []))
    with pytest.raises(StorageError) as raised:
        store.write(unit(1), result([1, 1]), params=1, duration_s=0, device="cpu")
    message = str(raised.value)
    assert message == (f"cannot write {store.path(unit(1))}: No space left on device "
                       "(ENOSPC)")
    assert raised.value.stops_sweep and raised.value.exit_code == 1
    assert not store.has(unit(1)) and kept.read_bytes() == before
    assert temporaries(tmp_path) == []


def read_only(run: Path, monkeypatch) -> str:
    """Make ``run`` read-only: chmod, or, where chmod binds nothing (root), make every
    write tracker makes under ``run`` fail as the kernel would (EACCES). Returns how."""
    for path in [run, *run.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    if not os.access(run, os.W_OK):
        return "chmod"
    real = tracker.store.files.atomic_write

    def atomic_write(target, write):
        if Path(target).resolve().is_relative_to(run.resolve()):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(target))
        return real(target, write)

    for module in ("tracker.store.files", "tracker.store.run_store", "tracker.family_eval"):
        monkeypatch.setattr(f"{module}.atomic_write", atomic_write)
    return "simulated"


def writable_again(run: Path) -> None:
    for path in [run, *run.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def test_a_read_only_store_refuses_writes_in_one_line(tmp_path, monkeypatch):
    store = RunStore(tmp_path / "run")
    kept = store.write(unit(0), result([1, 0]), params=1, duration_s=0, device="cpu")
    before = snapshot(store.root)
    read_only(store.root, monkeypatch)
    try:
        with pytest.raises(StorageError) as raised:
            store.write(unit(1), result([1, 1]), params=1, duration_s=0, device="cpu")
        assert "Permission denied (EACCES)" in str(raised.value)
        assert str(store.root) in str(raised.value) and raised.value.stops_sweep
        with pytest.raises(StorageError, match="Permission denied"):
            store.write_failure(unit(1), "boom")
    finally:
        writable_again(store.root)
    assert snapshot(store.root) == before and kept.is_file()
    assert temporaries(store.root) == []



def run_eval(family, run, *extra) -> int:
    return main(["eval", "--family", str(family / "family"), "--validation",
                 str(family / "validation.jsonl"), "--run", str(run), "--device", "cpu",
                 "--no-report", "--quiet", "--context-length", "16", *extra])


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_the_sweep_stops_at_a_full_or_read_only_disk(family, tmp_path, monkeypatch, capsys,
                                                    code):
    run = tmp_path / "run"
    assert run_eval(family, run, "--steps", "0") == 0
    before = snapshot(run)
    capsys.readouterr()

    calls: list[str] = []
    monkeypatch.setattr(pq, "write_table", full_disk_writer(code, calls))
    assert run_eval(family, run) == 1
    err = capsys.readouterr().err
    assert len(calls) == 1  # stopped at the first failed write, not one failure per unit
    assert err.count("\n") == 1 and "Traceback" not in err
    target = Path(calls[0]).name.split(".")[1]  # .<name>.<pid>.<random>.tmp -> name
    assert err.startswith("tracker: error: cannot write ") and target in err
    assert f"{os.strerror(code)} ({errno.errorcode[code]})" in err
    assert "the sweep stopped (0 units stored by this run are kept)" in err
    assert "re-run to continue" in err
    assert snapshot(run) == before  # nothing lost, nothing half-written
    assert temporaries(run) == []
    failures = list((run / "failed").glob("*.json"))
    assert len(failures) == 1  # recorded, since this disk still takes a small file
    assert os.strerror(code) in json.loads(failures[0].read_text())["error"]

    monkeypatch.undo()
    assert run_eval(family, run) == 0
    assert "computed 2 units, 2 already stored, 0 failed" in capsys.readouterr().out
    assert not list((run / "failed").glob("*.json"))


def test_a_read_only_run_directory_stops_eval_before_any_work(family, tmp_path, monkeypatch,
                                                              capsys):
    run = tmp_path / "run"
    assert run_eval(family, run, "--steps", "0") == 0
    before = snapshot(run)
    capsys.readouterr()
    read_only(run, monkeypatch)
    try:
        assert run_eval(family, run) == 1
    finally:
        writable_again(run)
    err = capsys.readouterr().err
    assert err == (f"tracker: error: cannot write {run / 'plan.json'}: Permission denied "
                   "(EACCES)\n")
    assert snapshot(run) == before and temporaries(run) == []


def test_another_write_error_fails_the_unit_and_the_sweep_goes_on(family, tmp_path,
                                                                   monkeypatch, capsys):
    run = tmp_path / "run"
    real = pq.write_table
    calls: list[str] = []

    def flaky(table, where, **kwargs):
        calls.append(str(where))
        if len(calls) == 2:
            raise OSError(errno.EIO, "Input/output error")
        return real(table, where, **kwargs)

    monkeypatch.setattr(pq, "write_table", flaky)
    assert run_eval(family, run) == 1
    out = capsys.readouterr().out
    assert len(calls) == 4 and "computed 3 units, 0 already stored, 1 failed" in out
    assert "Input/output error (EIO)" in out
    assert temporaries(run) == []
