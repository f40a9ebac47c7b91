"""`tracker fit/report --group`: what a group of checkpoints is (tracker/fit/groups.py), on the
shipped open_lm extract (104 final models of three training corpora: `tracker import table
--published open-lm-scaling`) and on ladder-style size names."""

from __future__ import annotations

import pandas as pd
import pytest

from tracker.cli import main
from tracker.errors import TrackerError
from tracker.fit.groups import GROUPED, regroup

LADDER = pd.DataFrame({"family": "olmo-ladder",
                       "size": ["190M-1xC", "190M-5xC", "370M-1xC", "1B-10xC"],
                       "score": [0.1, 0.2, 0.3, 0.4]})


def test_by_family_and_by_regex():
    by_size = regroup(LADDER, "/(?P<group>[0-9.]+[MB])-")
    assert by_size["size"].tolist() == ["190M", "190M", "370M", "1B"]
    assert set(by_size["family"]) == {GROUPED}
    by_multiple = regroup(LADDER, r"-(?P<group>[0-9.]+xC)$")
    assert by_multiple["size"].tolist() == ["1xC", "5xC", "1xC", "10xC"]
    assert by_multiple["score"].tolist() == LADDER["score"].tolist()  # every point kept
    assert regroup(LADDER, "size") is LADDER and regroup(LADDER, None) is LADDER
    two = LADDER.assign(family=["a", "a", "b", "b"])
    assert regroup(two, "family")["size"].tolist() == ["a", "a", "b", "b"]


@pytest.mark.parametrize("spec, words", [
    ("/(?P<group>[0-9.]+[MB]", "is not a regular expression"),
    ("/([0-9.]+[MB])-", "has no named group"),
    ("/(?P<group>[0-9]+M)-", "does not match checkpoint 'olmo-ladder/1B-10xC'"),
])
def test_a_bad_group_is_one_line(spec, words):
    with pytest.raises(TrackerError) as error:
        regroup(LADDER, spec)
    assert words in str(error.value) and "\n" not in str(error.value)


def test_the_corpus_as_the_group_on_open_lm(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["import", "table", "--published", "open-lm-scaling", "--run", str(run),
                 "--quiet"]) == 0
    out = tmp_path / "by-corpus"
    assert main(["fit", "--run", str(run), "--group", "family", "--out", str(out),
                 "--boot", "50", "--tasks", "arc_easy"]) == 0
    table = pd.read_csv(out / "thresholds.csv")
    corpora = {"open-lm-c4_original", "open-lm-rpj", "open-lm-rw_original"}
    assert set(table["size_offset_size"].dropna()) <= {f"{GROUPED}/{c}" for c in corpora}
    assert table["size_offset_size"].notna().any()
    default = tmp_path / "by-size"
    assert main(["fit", "--run", str(run), "--out", str(default), "--boot", "50",
                 "--tasks", "arc_easy"]) == 0
    sizes = pd.read_csv(default / "thresholds.csv")["size_offset_size"].dropna()
    assert not set(sizes) & {f"{GROUPED}/{c}" for c in corpora}
    capsys.readouterr()
    assert main(["fit", "--run", str(run), "--group", "(x", "--out", str(out)]) != 0
    assert "is not a regular expression" in capsys.readouterr().err
