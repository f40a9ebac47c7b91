"""Build the published extracts in tracker/data from ../shared/external (a maintainer's tool;
tracker itself never reads ../shared/external). Deterministic: sorted names, fixed mtimes,
xz -9e. What each extract keeps and changes is written in tracker/data/NOTICE.

    .venv/bin/python scripts/build_extracts.py [EXTERNAL_DIR]
"""

from __future__ import annotations

import csv
import io
import json
import lzma
import re
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tracker" / "data"
MTIME = 1672531200  # 2023-01-01T00:00:00Z
# OLMo ladder: the 30 ladder runs, OLMo-2 7B / 13B's full evaluation histories and the 7B after
# its anneal, Bhagia et al.'s 7B target (the other peteish files are slices of these or of
# other runs)
OLMO_FILES = re.compile(
    r"^(\d+[MB]-[\d.]+xC(-rerun)?|peteish(7|13)_eval_full|peteish7_eval_anneal)\.csv$")
OLMO_DROPPED = ("optim/learning_rate_group0", "learning_rate_peak",
                "throughput/total_training_Gflops")
V0_KEPT_ARGS = ("iteration", "train_iters", "seq_length")


def add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), MTIME, 0o644
    archive.addfile(info, io.BytesIO(data))


def write_archive(path: Path, members: list[tuple[str, bytes]]) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in sorted(members):
            add(archive, name, data)
    path.write_bytes(lzma.compress(buffer.getvalue(), preset=9 | lzma.PRESET_EXTREME))
    print(f"{path.name}: {len(members)} files, {path.stat().st_size} bytes")


def olmo_ladder(source: Path) -> list[tuple[str, bytes]]:
    """The CSVs with their cells as written; only the optimiser columns dropped."""
    members = []
    for path in sorted((source / "ladder-runs").glob("*.csv")):
        if not OLMO_FILES.match(path.name):
            continue
        rows = list(csv.reader(path.read_text().splitlines()))
        keep = [i for i, name in enumerate(rows[0]) if name not in OLMO_DROPPED]
        if "_step" not in rows[0]:  # the annealed 7B: one row, tokens but no step
            rows = _with_step(rows)
            keep = [*keep, len(rows[0]) - 1]
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows([[row[i] for i in keep] for row in rows])
        members.append((f"ladder-runs/{path.name}", out.getvalue().encode()))
    members.append(("final.json", (source / "final.json").read_bytes()))
    return members


def _with_step(rows: list[list[str]]) -> list[list[str]]:
    """A `_step` column derived as throughput/total_tokens / batch_size_in_tokens (an
    integer for the annealed 7B: 3,945,065,873,408 / 4,194,304 = 940,577)."""
    tokens, batch = rows[0].index("throughput/total_tokens"), rows[0].index("batch_size_in_tokens")
    steps = []
    for row in rows[1:]:
        step, rest = divmod(int(float(row[tokens])), int(float(row[batch])))
        if rest:
            raise ValueError(f"tokens {row[tokens]} are not a whole number of batches")
        steps.append(str(step))
    return [[*rows[0], "_step"], *[[*row, step] for row, step in zip(rows[1:], steps, strict=True)]]


def open_lm_set(val_data: str) -> str:
    """``training/eval_data/val_tok_mult/paloma_c4_en/00000001.tar`` -> paloma_c4_en;
    ``training/eval_data/c4_val/shard-...tar`` -> c4_val."""
    parts = val_data.split("/")
    return parts[parts.index("val_tok_mult") + 1] if "val_tok_mult" in parts else parts[-2]


def open_lm(source: Path) -> list[tuple[str, bytes]]:
    """One CSV per model: its hyperparameters, 8 validation losses (nats per token) and the
    46 downstream scores, values as the JSON files hold them."""
    data = source / "exp_data"
    members = []
    for path in sorted((data / "models").glob("*.json")):
        model = json.loads(path.read_text())
        hyper = model["hyperparameters"]
        evals = json.loads((data / "evals" / f"evaluation_{model['name']}_heavy.json")
                           .read_text())["eval_metrics"]["icl"]
        row = {"name": model["name"], "dataset": model["dataset_name"],
               "params": hyper["params"], "params_no_embed": hyper["params_no_embed"],
               "tokens": hyper["tokens"], "chinchilla_multiplier": hyper["chinchilla_multiplier"]}
        for result in model["results"]:
            row[f"loss/{open_lm_set(result['val_data'][0])}"] = repr(result["loss"])
        for task in sorted(evals):
            row[f"eval/{task}"] = repr(evals[task])
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(row), lineterminator="\n")
        writer.writeheader()
        writer.writerow(row)
        members.append((f"models/{model['name']}.csv", out.getvalue().encode()))
    members.append(("eval_metadata.csv", (data / "eval_metadata.csv").read_bytes()))
    return members


def pythia_v0(source: Path) -> list[tuple[str, bytes]]:
    """The result files that hold wikitext (the real bits-per-byte loss): results and
    versions as published, config trimmed to num_fewshot, limit and the model_args that
    name the checkpoint (iteration, train_iters, seq_length)."""
    members = []
    for path in sorted((source / "evals-v0").rglob("*.json")):
        data = json.loads(path.read_text())
        if "wikitext" not in data["results"]:
            continue
        config = data["config"]
        args = {key: config["model_args"][key] for key in V0_KEPT_ARGS}
        trimmed = {"results": data["results"], "versions": data["versions"],
                   "config": {"model": config.get("model"), "model_args": args,
                              "num_fewshot": config.get("num_fewshot"),
                              "limit": config.get("limit")}}
        name = path.relative_to(source / "evals-v0").as_posix()
        members.append((name, json.dumps(trimmed, indent=1, sort_keys=True).encode()))
    return members


def main(external: Path) -> None:
    write_archive(DATA / "olmo-ladder.tar.xz", olmo_ladder(external / "olmo-ladder"))
    write_archive(DATA / "open-lm-scaling.tar.xz", open_lm(external / "open-lm-scaling"))
    write_archive(DATA / "pythia-evals-v0-zero-shot.tar.xz", pythia_v0(external / "pythia"))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "external")
