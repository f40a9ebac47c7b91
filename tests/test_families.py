"""Families: Pythia's 154 revisions, local directory families, and errors on bad names."""

import pytest

from tests.helpers import save_local_family, trained_tokenizer
from tracker.config import validate
from tracker.errors import TrackerError
from tracker.families.catalog import FamilyConfig, load_family, parse_revision


def test_pythia_has_154_revisions_per_size_and_tokens_per_step():
    family = load_family("pythia")
    checkpoints = family.checkpoints(sizes=["160m"])
    assert len(checkpoints) == 154
    revisions = [c.revision for c in checkpoints]
    assert revisions[:12] == ["step0", "step1", "step2", "step4", "step8", "step16", "step32",
                              "step64", "step128", "step256", "step512", "step1000"]
    assert revisions[-1] == "step143000"
    assert checkpoints[-1].tokens_seen == 143000 * 2_097_152
    assert {c.location for c in checkpoints} == {"EleutherAI/pythia-160m"}
    assert family.size_labels() == ["14m", "31m", "70m", "160m", "410m", "1b", "1.4b", "2.8b",
                                    "6.9b", "12b"]
    deduped = load_family("pythia-deduped").checkpoints(sizes=["12b"], steps=[143000])
    assert deduped[0].location == "EleutherAI/pythia-12b-deduped"


def test_unknown_family_suggests_the_closest():
    with pytest.raises(TrackerError, match=r"unknown family 'pythai' \(did you mean 'pythia'\?\)"):
        load_family("pythai")


def test_unknown_size_and_step():
    family = load_family("pythia")
    with pytest.raises(TrackerError, match=r"unknown size of family 'pythia' '70M'.*did you mean"):
        family.checkpoints(sizes=["70M"])
    with pytest.raises(TrackerError, match=r"step 1500 is not a checkpoint.*nearest: 1000, 2000"):
        family.checkpoints(sizes=["70m"], steps=[1500])


def test_missing_local_directory(tmp_path):
    with pytest.raises(TrackerError, match="family directory .*nope does not exist"):
        load_family(str(tmp_path / "nope"))


def test_local_directory_without_checkpoints(tmp_path):
    (tmp_path / "empty" / "s1").mkdir(parents=True)
    with pytest.raises(TrackerError, match="holds no checkpoints"):
        load_family(str(tmp_path / "empty"))


def test_local_family_reads_steps_tokens_and_params(tmp_path):
    root = save_local_family(tmp_path / "fam", trained_tokenizer(), steps=(0, 5))
    family = load_family(str(root))
    checkpoints = family.checkpoints()
    assert [(c.size, c.step, c.tokens_seen) for c in checkpoints] == [
        ("s1", 0, 0), ("s1", 5, 320), ("s2", 0, 0), ("s2", 5, 320)]
    assert all(c.params and c.params > 10_000 for c in checkpoints)
    assert all(c.revision is None for c in checkpoints)


def test_family_config_rejects_unknown_keys_with_a_suggestion():
    data = {"name": "x", "architecture": "llama", "source": "hub", "repo": "o/{size}",
            "sizes": [{"label": "1b"}], "tokens_per_stepp": 5}
    with pytest.raises(TrackerError, match=r"unknown key 'tokens_per_stepp' \(did you mean "
                                           r"'tokens_per_step'\?\)"):
        validate(FamilyConfig, data, source="f.yaml")


def test_parse_revision_with_tokens():
    regex = r"step(?P<step>\d+)-tokens(?P<tokens>\d+)(?P<unit>[KMBT])"
    assert parse_revision("step1000-tokens4B", regex) == (1000, 4_000_000_000)
    with pytest.raises(TrackerError, match="does not match"):
        parse_revision("main", regex)
