"""The shipped real-family extracts: each `--published` import stores as many checkpoints and
metric values as its source files hold, counted here from the files themselves (pandas and
json over the archives, not the importer), and the v0 slice in tests/data imports end to end.
The OLMo ladder's full import (86,000 units, about a minute) is marked slow."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pandas as pd
import pytest

from tracker.cli import main
from tracker.imports.files import DATA_DIR, collect_sources
from tracker.imports.lmeval import ImportOptions, import_sources, published_options
from tracker.store import RunStore

SLICE = Path(__file__).resolve().parent / "data" / "imports" / "pythia-v0"


def members(archive: str, prefix: str, suffix: str) -> dict[str, bytes]:
    with tarfile.open(DATA_DIR / archive, "r:xz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()  # type: ignore[union-attr]
                if m.isfile() and m.name.startswith(prefix) and m.name.endswith(suffix)}


def table_counts(archive: str, prefix: str, task_prefix: str, loss_column: str
                 ) -> tuple[int, int, int]:
    """(rows, loss cells, task cells) of the tables in an archive."""
    rows = losses = values = 0
    for data in members(archive, prefix, ".csv").values():
        frame = pd.read_csv(pd.io.common.BytesIO(data))
        rows += len(frame)
        losses += int(frame[loss_column].notna().sum())
        tasks = [c for c in frame.columns if c.startswith(task_prefix)]
        values += int(frame[tasks].notna().sum().sum())
    return rows, losses, values


def store_counts(run: Path) -> tuple[int, int, int]:
    scores = RunStore(run).scores()
    loss = scores[scores["task"] == "validation"]
    checkpoints = len(scores[["family", "size", "step"]].drop_duplicates())
    return checkpoints, len(loss), len(scores) - len(loss)


def published(kind: str, name: str, run: Path) -> None:
    assert main(["import", kind, "--published", name, "--run", str(run), "--quiet"]) == 0


def test_open_lm_counts(tmp_path):
    published("table", "open-lm-scaling", tmp_path)
    assert store_counts(tmp_path) == table_counts("open-lm-scaling.tar.xz", "models/", "eval/",
                                                  "loss/c4_val")
    assert store_counts(tmp_path)[0] == 104


@pytest.mark.slow
def test_olmo_ladder_counts(tmp_path):
    published("table", "olmo-ladder", tmp_path)
    expected = table_counts("olmo-ladder.tar.xz", "ladder-runs/", "eval/downstream",
                            "eval/c4_en-validation/CrossEntropyLoss")
    assert store_counts(tmp_path) == expected
    assert expected[0] == 3850  # 30 ladder runs (37-203 checkpoints) + 186 (7B) + 94 (13B)
    #                             + 1 (7B after its anneal)


def v0_counts(files: dict[str, bytes]) -> tuple[int, int, int]:
    """(files, wikitext losses, metric values of the other tasks) from the JSON."""
    values = 0
    for data in files.values():
        results = json.loads(data)["results"]
        values += sum(1 for task, entry in results.items() if task != "wikitext"
                      for key, value in entry.items()
                      if not key.endswith("_stderr") and isinstance(value, int | float))
    losses = sum("wikitext" in json.loads(data)["results"] for data in files.values())
    return len(files), losses, values


def stored_without_pooled(run: Path) -> tuple[int, int, int]:
    """Store counts less the pooled MMLU task (derived from the subjects, not in the files)."""
    scores = RunStore(run).scores()
    pooled = int((scores["task"] == "mmlu").sum())
    checkpoints, losses, values = store_counts(run)
    return checkpoints, losses, values - pooled


def test_pythia_v0_counts(tmp_path):
    published("lm-eval", "pythia-v0", tmp_path)
    files = members("pythia-evals-v0-zero-shot.tar.xz", "pythia-", ".json")
    assert stored_without_pooled(tmp_path) == v0_counts(files)
    assert len(files) == 150


def test_pythia_v0_slice_aligns_by_tokens(tmp_path):
    options = published_options("pythia-v0", ImportOptions(progress=False))
    import_sources(collect_sources([SLICE]), tmp_path, options)
    loss = RunStore(tmp_path).scores().query("task == 'validation'")
    assert set(loss["metric"]) == {"loss_wikitext_bits_per_byte"}
    tokens = loss.set_index(["size", "step"])["tokens_seen"]
    # 160m's 71,500 steps and 6.9b's 143,000 saw the same tokens
    assert tokens[("160m", 71500)] == tokens[("6.9b", 143000)] == 143000 * 2097152
    assert tokens[("160m", 1500)] == 2 * tokens[("6.9b", 3000)] // 2 == 1500 * 2 * 2097152


def test_pythia_v0_published_tokens_and_loss(tmp_path):
    published("lm-eval", "pythia-v0", tmp_path)
    scores = RunStore(tmp_path).scores()
    loss = scores[scores["task"] == "validation"]
    assert set(loss["metric"]) == {"loss_wikitext_bits_per_byte"}
    assert set(loss["family"]) == {"pythia-v0", "pythia-v0-deduped"}
    final = loss.groupby(["family", "size"])["tokens_seen"].max()
    assert final.nunique() == 1 and int(final.iloc[0]) == 143000 * 2097152
    small = loss[(loss["size"] == "160m") & (loss["family"] == "pythia-v0")]
    assert int(small["step"].max()) == 71500
    files = members("pythia-evals-v0-zero-shot.tar.xz", "pythia-160m/", ".json")
    (name,) = [name for name in files if "global_step71500_" in name]
    expected = json.loads(files[name])["results"]["wikitext"]["bits_per_byte"]
    assert float(small.loc[small["step"] == 71500, "score"].iloc[0]) == expected
    assert "wikitext" not in set(scores["task"])  # the loss, not a task
