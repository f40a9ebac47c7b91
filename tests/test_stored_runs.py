"""A run directory written by an earlier tracker reads back identically, and its units are
recognised as done: a change to the code's layout must change neither exports nor unit keys.

tests/data/run-before-layout/ holds a run written on 2026-12-04 by tracker at commit 31be2e9,
before the package moved into subpackages, with the two exports made from it then:

    tracker eval --family fam --validation val.jsonl --tasks arithmetic:add:1,copy:4 \
        --limit 6 --no-report       # fam = save_local_family(sizes=(s1, s2), steps=(0, 10))
    tracker export --run run --out points.csv
    tracker export --run run --out examples.csv --examples
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from tests.helpers import (
    SAMPLE_DOCUMENTS,
    save_local_family,
    trained_tokenizer,
    unpacked_data,
    write_jsonl,
)
from tracker.cli import main


@pytest.fixture()
def old_run(tmp_path: Path) -> Path:
    fixture = unpacked_data() / "run-before-layout"
    run = tmp_path / "run"
    run.mkdir()
    with tarfile.open(fixture / "run.tar") as archive:
        archive.extractall(run, filter="data")
    return run


@pytest.mark.parametrize(("name", "extra"), [("points.csv", []),
                                             ("examples.csv", ["--examples"])])
def test_exports_of_an_old_run_are_byte_equal(old_run: Path, tmp_path: Path, name: str,
                                              extra: list[str]) -> None:
    out = tmp_path / name
    assert main(["export", "--run", str(old_run), "--out", str(out), *extra]) == 0
    expected = (unpacked_data() / "run-before-layout" / name).read_bytes()
    assert out.read_bytes() == expected


def test_old_units_are_found_by_their_keys(old_run: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    # The same seeded checkpoints at the same family name: every unit key must match.
    family = save_local_family(tmp_path / "fam", trained_tokenizer(), sizes=("s1", "s2"),
                               steps=(0, 10))
    validation = write_jsonl(tmp_path / "val.jsonl", SAMPLE_DOCUMENTS)
    capsys.readouterr()
    assert main(["eval", "--family", str(family), "--validation", str(validation),
                 "--tasks", "arithmetic:add:1,copy:4", "--limit", "6", "--run", str(old_run),
                 "--quiet", "--no-report"]) == 0
    assert "computed 0 units, 12 already stored, 0 failed" in capsys.readouterr().out
