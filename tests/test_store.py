"""The run store: atomic unit files, records carrying what produced them, tables back."""


import numpy as np
import pandas as pd
import pytest

from tests.helpers import NamedEvaluation as FakeEvaluation
from tracker.evals.interface import MetricScore, UnitResult
from tracker.families.catalog import Checkpoint
from tracker.store.run_store import RunStore
from tracker.store.units import Unit, unit_key


def checkpoint(size="s", step=0):
    return Checkpoint("fam", size, step, step * 10, f"/x/{size}/step{step}", None, 123)


def result(task, values, metric="accuracy", higher=True):
    frame = pd.DataFrame({"example_id": [str(i) for i in range(len(values))], metric: values})
    score = MetricScore.from_values(metric, np.array(values), higher_is_better=higher,
                                    chance=0.5 if higher else None)
    return UnitResult(task, (score,), frame)


def test_unit_key_is_stable_and_sensitive_to_every_field():
    base = Unit(checkpoint(), FakeEvaluation("t"), None, "float32")
    assert base.key == Unit(checkpoint(), FakeEvaluation("t"), None, "float32").key
    variants = [Unit(checkpoint(step=1), FakeEvaluation("t"), None, "float32"),
                Unit(checkpoint(), FakeEvaluation("t", "2"), None, "float32"),
                Unit(checkpoint(), FakeEvaluation("t"), 5, "float32"),
                Unit(checkpoint(), FakeEvaluation("t"), None, "bfloat16")]
    assert len({base.key, *(v.key for v in variants)}) == 5
    assert unit_key({"b": 1, "a": 2}) == unit_key({"a": 2, "b": 1})


def hub(repo="org/model", revision="step1000", size="s", family="fam"):
    return Checkpoint(family, size, 1000, None, repo, revision, 123)


def local(directory, step=0):
    return Checkpoint("fam", "s", step, None, str(directory), None, 123)


def test_unit_key_changes_with_every_part_of_the_identity(tmp_path, monkeypatch):
    """Every field that can change a unit's result changes its key: the checkpoint's
    family, size, step, revision, hub repository and (local) weights digest, the
    evaluation's version, the limit, dtype, context length and tracker's scoring version;
    an identical identity gives the same key."""
    import tracker.store.units

    monkeypatch.setenv("TRACKER_CACHE_DIR", str(tmp_path / "cache"))
    weights_a, weights_b = tmp_path / "a", tmp_path / "b"
    for directory, payload in ((weights_a, b"first weights"), (weights_b, b"other weights")):
        directory.mkdir()
        (directory / "model.safetensors").write_bytes(payload)
    same_bytes = tmp_path / "copy"
    same_bytes.mkdir()
    (same_bytes / "model.safetensors").write_bytes(b"first weights")

    def unit(ckpt=None, evaluation=None, limit=None, dtype="float32", context_length=None):
        return Unit(ckpt or hub(), evaluation or FakeEvaluation("t"), limit, dtype,
                    context_length)

    base = unit()
    variants = {
        "family": unit(hub(family="other")),
        "size": unit(hub(size="l")),
        "revision": unit(hub(revision="step2000")),
        "repo": unit(hub(repo="org/model-deduped")),
        "version": unit(evaluation=FakeEvaluation("t", "2")),
        "limit": unit(limit=5),
        "dtype": unit(dtype="bfloat16"),
        "context_length": unit(context_length=16),
        "other context_length": unit(context_length=32),
        "weights": unit(local(weights_a)),
        "other weights": unit(local(weights_b)),
    }
    keys = {name: u.key for name, u in variants.items()}
    assert len({base.key, *keys.values()}) == 1 + len(variants), keys
    monkeypatch.setattr(tracker.store.units, "SCORING_VERSION", "scoring-version-changed")
    assert unit().key not in {base.key, *keys.values()}
    monkeypatch.undo()
    monkeypatch.setenv("TRACKER_CACHE_DIR", str(tmp_path / "cache"))

    # the same identity, rebuilt from fresh objects, is the same key (a moved copy of the
    # same weight bytes included: the path of a local checkpoint is not part of its key)
    assert unit().key == base.key
    assert unit(context_length=16).key == variants["context_length"].key
    assert unit(local(same_bytes)).key == variants["weights"].key
    assert local(weights_a).weights and local(weights_a).weights != local(weights_b).weights
    # no context length leaves the identity as it was before the field existed
    assert "context_length" not in base.identity()
    assert variants["context_length"].identity()["context_length"] == 16


def test_write_read_points_and_examples(tmp_path):
    store = RunStore(tmp_path)
    for step, (loss, accuracy) in enumerate([(3.0, [0, 1, 0, 0]), (2.0, [1, 1, 0, 1])]):
        validation = Unit(checkpoint(step=step), FakeEvaluation("validation"), None, "float32")
        loss_result = UnitResult("validation", (MetricScore("bits_per_byte", loss, 0.1, 4,
                                                            False, None),),
                                 pd.DataFrame({"example_id": ["0"], "bits_per_byte": [loss]}))
        store.write(validation, loss_result, params=99, duration_s=0.1, device="cpu")
        task = Unit(checkpoint(step=step), FakeEvaluation("task"), None, "float32")
        store.write(task, result("task", accuracy), params=99, duration_s=0.1, device="cpu")
        assert store.has(task)
    points = store.points()
    task_points = points[points["task"] == "task"]
    assert task_points["loss"].tolist() == [3.0, 2.0]
    assert task_points["score"].tolist() == [0.25, 0.75]
    assert task_points["params"].tolist() == [99, 99]
    assert task_points["tokens_seen"].tolist() == [0, 10]
    examples = store.examples()
    task_rows = examples[examples["task"] == "task"]
    assert len(task_rows) == 8
    assert task_rows.groupby("step")["value"].mean().tolist() == [0.25, 0.75]
    assert set(task_rows["loss"]) == {3.0, 2.0}
    record = store.records()[0]
    assert record["tracker_version"] and record["scoring_version"] and record["key"]


def test_a_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    unit = Unit(checkpoint(), FakeEvaluation("task"), None, "float32")

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("pyarrow.parquet.write_table", crash)
    with pytest.raises(KeyboardInterrupt):
        store.write(unit, result("task", [1, 0]), params=1, duration_s=0, device="cpu")
    assert not store.has(unit)
    assert list(tmp_path.rglob("*")) == [] or all(p.is_dir() for p in tmp_path.rglob("*"))


def test_success_clears_an_earlier_failure(tmp_path):
    store = RunStore(tmp_path)
    unit = Unit(checkpoint(), FakeEvaluation("task"), None, "float32")
    store.write_failure(unit, "boom")
    assert unit.key in store.failures()
    store.write(unit, result("task", [1, 0]), params=1, duration_s=0, device="cpu")
    assert store.failures() == {}


def test_write_new_never_replaces_a_stored_unit_and_compares(tmp_path):
    """A unit another process stored first is kept; the second result is reported as a
    duplicate, identical or not (the check and the write are one atomic link)."""
    store = RunStore(tmp_path)
    unit = Unit(checkpoint(), FakeEvaluation("task"), None, "float32")
    first = store.write_new(unit, result("task", [0, 1, 1]), params=1, duration_s=0.1,
                            device="cpu")
    assert not first.duplicate and store.has(unit)
    stored = first.path.read_bytes()
    again = store.write_new(unit, result("task", [0, 1, 1]), params=1, duration_s=9.0,
                            device="cuda")
    assert again.duplicate and again.identical
    other = store.write_new(unit, result("task", [1, 1, 1]), params=1, duration_s=0.1,
                            device="cpu")
    assert other.duplicate and not other.identical
    assert first.path.read_bytes() == stored  # the first result stays
    assert [p.name for p in tmp_path.rglob("*.tmp")] == []


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    import os
    import subprocess
    import sys

    from tracker.store.files import _temporary, remove_stale_temporaries

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    mine = _temporary(tmp_path / "units" / "x.parquet")
    mine.parent.mkdir(parents=True)
    mine.write_text("being written")
    left = mine.with_name(mine.name.replace(f".{os.getpid()}.", f".{dead}."))
    left.write_text("half")
    other_host = mine.with_name(".x.parquet.1.abcdef-0123abcd.tmp")
    other_host.write_text("another machine's live write")
    assert remove_stale_temporaries(tmp_path) == [left]
    assert mine.is_file() and other_host.is_file()  # live here; another host's, recent
