"""A sweep killed with SIGKILL again and again, and two sweeps on one run directory at
once, end with the same exported bytes (CPU, float32) as one uninterrupted run: nothing
half-written is ever read, nothing computed twice is stored twice, no temporary file is
left behind."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import SAMPLE_DOCUMENTS, save_local_family, trained_tokenizer, write_jsonl

pytestmark = pytest.mark.slow
GENERATIVE = "arithmetic:add:1:n=8"
KILLS = 10
SUMMARY = re.compile(r"computed (\d+) units, (\d+) already stored, (\d+) failed")
DUPLICATES = re.compile(r"(\d+) computed by another process too \(identical\)")


@pytest.fixture(scope="module")
def family(tmp_path_factory) -> Path:
    """2 sizes x 3 steps, a validation set, a multiple-choice JSONL task."""
    root = tmp_path_factory.mktemp("crash")
    save_local_family(root / "family", trained_tokenizer(), sizes=("s1", "s2"),
                      steps=(0, 1, 2), max_positions=64)
    write_jsonl(root / "validation.jsonl", SAMPLE_DOCUMENTS * 3)
    questions = [("Is the sky blue?", [" yes", " no"], 0),
                 ("Is fire cold?", [" yes", " no", " maybe"], 1),
                 ("Which is a number?", [" seven", " dog", " blue"], 0),
                 ("The quick brown fox jumps over the lazy", [" dog", " cat"], 0),
                 ("2 + 2 =", [" 3", " 4", " 5", " 22"], 1),
                 ("Which word is a colour?", [" green", " table"], 0)]
    (root / "choices.jsonl").write_text("".join(
        json.dumps({"prompt": f"Q: {q}\nA:", "choices": c, "answer": a}) + "\n"
        for q, c, a in questions))
    return root


def eval_args(root: Path, run: Path) -> list[str]:
    return ["eval", "--family", str(root / "family"), "--validation",
            str(root / "validation.jsonl"), "--tasks",
            f"{root / 'choices.jsonl'},{GENERATIVE}", "--run", str(run), "--device", "cpu",
            "--dtype", "float32", "--context-length", "16", "--no-report", "--quiet",
            "--batch-size", "4"]


UNITS = 2 * 3 * 3  # checkpoints x (validation + 2 tasks)


def tracker(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tracker", *args], capture_output=True,
                          text=True)


def exports(run: Path, out: Path) -> tuple[bytes, bytes]:
    points, examples = out.with_suffix(".points.csv"), out.with_suffix(".examples.csv")
    for extra, target in (((), points), (("--examples",), examples)):
        done = tracker("export", "--run", str(run), "--out", str(target), *extra)
        assert done.returncode == 0, done.stderr
    return points.read_bytes(), examples.read_bytes()


def leftovers(run: Path) -> tuple[list[Path], list[Path]]:
    """Temporary files anywhere under the run, and files set aside as corrupt."""
    return ([p for p in run.rglob("*") if p.name.endswith(".tmp")],
            [p for p in (run / "corrupt").rglob("*") if p.is_file()])


def stored(run: Path) -> int:
    return len(list(run.glob("units/**/*.parquet")))


def planned_keys_present(run: Path) -> bool:
    keys = {unit["key"] for unit in json.loads((run / "plan.json").read_text())}
    present = {p.stem.rsplit("-", 1)[-1] for p in run.glob("units/**/*.parquet")}
    return len(keys) == UNITS and keys <= present and len(present) == UNITS


@pytest.fixture(scope="module")
def reference(family, tmp_path_factory):
    """An uninterrupted run's exports, and how long the run took."""
    run = tmp_path_factory.mktemp("whole") / "run"
    started = time.monotonic()
    whole = tracker(*eval_args(family, run))
    seconds = time.monotonic() - started
    assert whole.returncode == 0, whole.stderr
    assert f"computed {UNITS} units, 0 already stored, 0 failed" in whole.stdout
    points, examples = exports(run, run.parent / "whole")
    assert points.count(b"\n") > UNITS and examples.count(b"\n") > points.count(b"\n")
    return points, examples, seconds


def test_a_sweep_killed_ten_times_exports_the_uninterrupted_bytes(family, reference,
                                                                  tmp_path):
    expected_points, expected_examples, _ = reference
    run = tmp_path / "killed"
    rng = random.Random(20240611)
    log = []
    for kill in range(KILLS):
        before = stored(run)
        process = subprocess.Popen([sys.executable, "-m", "tracker", *eval_args(family, run)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        started = time.monotonic()
        if kill < 3:  # during start-up: imports, the plan, the first load, before any unit
            time.sleep(rng.uniform(0.2, 2.0))
        else:  # just after this run stored a unit: inside the next unit, or its write
            # (a checkpoint's task units take milliseconds, so units come in bursts)
            while stored(run) == before and process.poll() is None:
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, 0.08))
        finished = process.poll() is not None
        if not finished:
            os.kill(process.pid, signal.SIGKILL)
        _, err = process.communicate()
        if finished:  # it ran to the end before the kill: it must have succeeded
            assert process.returncode == 0, err.decode()[-2000:]
        temporaries, corrupt = leftovers(run)
        log.append(f"kill {kill + 1}: after {time.monotonic() - started:.2f} s, units "
                   f"{before} -> {stored(run)}, {len(temporaries)} temporary file(s) left, "
                   f"{len(corrupt)} corrupt" + (" (the run had finished)" if finished else ""))
    print("\n".join(log))
    # how far the kills get depends on the machine's speed and load: what must hold is
    # that several of them interrupted a sweep with work left (not that work remains now)
    interrupted = sum("(the run had finished)" not in line for line in log)
    assert interrupted >= 5, log
    final = tracker(*eval_args(family, run))
    log.append(f"final run: {final.stdout.splitlines()[0] if final.stdout else ''}; "
               f"notes: {[line for line in final.stderr.splitlines() if 'note' in line]}")
    print(log[-1])
    assert final.returncode == 0, final.stderr
    match = SUMMARY.search(final.stdout)
    assert match and int(match[1]) + int(match[2]) == UNITS and match[3] == "0"
    temporaries, corrupt = leftovers(run)
    assert temporaries == [], temporaries
    assert corrupt == [], corrupt  # a killed write never leaves a unit file half-written
    assert "corrupt unit file" not in final.stderr
    assert planned_keys_present(run)
    assert exports(run, tmp_path / "killed") == (expected_points, expected_examples)


def test_two_sweeps_at_once_on_one_run_store_each_unit_once(family, reference, tmp_path):
    expected_points, expected_examples, _ = reference
    run = tmp_path / "both"
    processes = [subprocess.Popen([sys.executable, "-m", "tracker", *eval_args(family, run)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
    outputs = [process.communicate(timeout=600) for process in processes]
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
        assert "different results" not in out + err and "corrupt" not in err
    print("\n".join(out.splitlines()[0] for out, _ in outputs))
    computed = duplicates = 0
    for out, _ in outputs:
        match = SUMMARY.search(out)
        assert match and match[3] == "0"
        computed += int(match[1])
        found = DUPLICATES.search(out)
        duplicates += int(found[1]) if found else 0
    # every unit stored once: what both computed, less those the other one stored first
    assert computed - duplicates == UNITS
    temporaries, corrupt = leftovers(run)
    assert temporaries == [] and corrupt == []
    assert planned_keys_present(run)
    assert exports(run, tmp_path / "both") == (expected_points, expected_examples)
