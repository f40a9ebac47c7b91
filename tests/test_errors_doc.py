"""Every row of docs/errors.md is a test: the bad input it describes is built in a fresh
directory, the command runs through ``tracker.cli.main``, and the user gets the documented
exit code and exactly the documented one line (``…`` in the documentation stands for a
part that varies: a temporary path, a long list of known names).

The table's columns: ``#``, what is wrong, the files to create (`` `path` = `text` ``,
with ``\\n`` for a new line; `` `path` = (empty) `` for an empty file; several separated
by ``<br>``), the command (run in that
directory, which also holds ``family/`` (a tiny local family: ``s1/step0``, ``s1/step4``),
``val.jsonl`` and ``points.csv``, both valid), the exit code, and the line. A line that
starts with ``FAILED`` is a failed unit, listed on stdout (stderr stays empty); every other
line is the whole of stderr. A failing row's message shows the line the command gives.
"""

from __future__ import annotations

import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "errors.md"
ELLIPSIS = "…"


@dataclass(frozen=True)
class Row:
    number: str
    problem: str
    files: tuple[tuple[str, str], ...]
    argv: tuple[str, ...]
    exit_code: int
    line: str


def _spans(cell: str) -> list[str]:
    """Code spans of a table cell: `` `x` `` or ``` `` x `` ``` (for text with backticks);
    ``\\|`` is a literal bar."""
    spans = re.findall(r"``\s(.+?)\s``|`([^`]+)`", cell)
    return [(double or single).replace("\\|", "|") for double, single in spans]


def _unescape(text: str) -> str:
    """``\\n`` is a new line, ``\\t`` a tab, ``\\\\`` a backslash; other backslashes stay."""
    escapes = {"n": "\n", "t": "\t", "\\": "\\"}
    return re.sub(r"\\([nt\\])", lambda m: escapes[m.group(1)], text)


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def parse_rows(text: str) -> list[Row]:
    """The rows of the markdown tables whose header starts with ``| # |``."""
    rows, in_table = [], False
    for line in text.splitlines():
        if line.startswith("| # |"):
            in_table = True
            continue
        if not line.startswith("|"):
            in_table = False
            continue
        cells = _cells(line)
        if not in_table or set(cells[0]) <= {"-", ":"}:
            continue
        number, problem, files, command, exit_code, message = cells
        pairs = [(path, "" if empty else text) for path, text, empty in
                 re.findall(r"`([^`]+)`\s*=\s*(?:`([^`]*)`|(\(empty\)))", files)]
        (command_text,) = _spans(command)
        (line_text,) = _spans(message)
        argv = shlex.split(command_text)
        assert argv[0] == "tracker", f"row {number}: a command starts with 'tracker'"
        rows.append(Row(number, problem, tuple((p, _unescape(t)) for p, t in pairs),
                        tuple(argv[1:]), int(exit_code), line_text))
    return rows


ROWS = parse_rows(DOC.read_text(encoding="utf-8")) if DOC.is_file() else []


def matches(documented: str, actual: str) -> bool:
    """``documented`` is ``actual`` with each ``…`` standing for any text."""
    pattern = ".*".join(re.escape(part) for part in documented.split(ELLIPSIS))
    return re.fullmatch(pattern, actual, flags=re.DOTALL) is not None


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> Path:
    from tests.helpers import SAMPLE_DOCUMENTS, save_local_family, trained_tokenizer, write_jsonl
    from tracker.fit.synthetic import demo_points

    root = tmp_path_factory.mktemp("error-assets")
    save_local_family(root / "family", trained_tokenizer(), sizes=("s1",), steps=(0, 4))
    write_jsonl(root / "val.jsonl", SAMPLE_DOCUMENTS)
    demo_points(np.random.default_rng(0)).to_csv(root / "points.csv", index=False)
    return root


def prepare(row: Row, assets: Path, work: Path) -> None:
    shutil.copytree(assets, work)
    for relative, text in row.files:
        path = work / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def run_row(row: Row, assets: Path, work: Path, capsys, monkeypatch) -> tuple[int, str, str]:
    from tracker.cli import main

    prepare(row, assets, work)
    monkeypatch.chdir(work)
    monkeypatch.setenv("TRACKER_CACHE_DIR", str(work.parent / "cache"))
    capsys.readouterr()
    code = main(list(row.argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_table_has_enough_rows():
    assert len(ROWS) >= 30
    assert len({row.number for row in ROWS}) == len(ROWS)


@pytest.mark.parametrize("row", ROWS, ids=[f"{r.number}-{r.argv[0]}" for r in ROWS])
def test_documented_error(row, assets, tmp_path, capsys, monkeypatch):
    code, out, err = run_row(row, assets, tmp_path / "work", capsys, monkeypatch)
    assert "Traceback" not in err
    if row.line.startswith("FAILED"):
        failed = [line.strip() for line in out.splitlines() if line.strip().startswith("FAILED")]
        assert err == "" and len(failed) == 1, (out, err)
        actual = failed[0]
    else:
        assert err.endswith("\n") and err.count("\n") == 1, err
        actual = err.rstrip("\n")
    assert matches(row.line, actual), f"row {row.number}: documented {row.line!r}, got {actual!r}"
    assert code == row.exit_code, (code, actual)
