"""`tracker train` end to end on a tiny config, and its pieces: config, schedule, mixture,
tokenizer, checkpoint layout, and agreement of the hook's units with `tracker eval`'s."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tracker.cli import main
from tracker.config import PROJECT_ROOT
from tracker.errors import TrackerError
from tracker.evals.interface import EvalSettings
from tracker.families.catalog import Family, FamilyConfig, load_family
from tracker.lm.loading import load_checkpoint
from tracker.store.run_store import RunStore
from tracker.sweep import plan_units, run_sweep
from tracker.tasks import resolve_tasks
from tracker.train.config import MixtureConfig, ProblemSpec, load_ladder_config
from tracker.train.ladder import ladder_evaluations, train_ladder, with_seed
from tracker.train.mixture import build_blocks, held_out_prompts
from tracker.train.tokenizer import train_tokenizer

TINY = {
    "name": "ladder",
    "corpus": {"validation_bytes_per_source": 1500},
    "tokenizer": {"vocab_size": 300},
    "mixture": {"arithmetic_fraction": 0.5, "problems": [{"task": "arithmetic:add:2"}]},
    "training": {"context_length": 32, "batch_size": 4, "max_steps": 8, "warmup_steps": 1,
                 "threads": 2},
    "checkpoints": {"log_from": 2, "log_until": 2, "every": 4},
    "sizes": [
        {"label": "a", "architecture": "llama", "hidden_size": 32, "layers": 1, "heads": 2,
         "intermediate_size": 64},
        {"label": "b", "architecture": "gpt_neox", "hidden_size": 32, "layers": 1, "heads": 2,
         "intermediate_size": 64},
    ],
    "evaluation": {"tasks": ["arithmetic:add:2:n=10"], "batch_size": 10},
}
PSALM = ("The LORD is my shepherd; I shall not want. He maketh me to lie down in green "
         "pastures: he leadeth me beside the still waters. ")


def write_config(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A two-size tiny ladder trained on a --corpus directory (seconds)."""
    base = tmp_path_factory.mktemp("ladder")
    corpus = base / "texts"
    corpus.mkdir()
    for i in range(20):
        (corpus / f"psalm{i}.txt").write_text(f"Psalm {i}. " + PSALM * (3 + i % 4))
    config = load_ladder_config(write_config(base / "tiny.yaml", TINY))
    checkpoints = train_ladder(config, run_dir=base / "run", corpus=corpus, progress=False)
    return config, base / "run", checkpoints


def test_checkpoints_in_the_local_family_layout(trained):
    config, run_dir, checkpoints = trained
    assert checkpoints == run_dir / "checkpoints"
    family = load_family(str(checkpoints))
    assert family.size_labels() == ["a", "b"]
    found = [(c.size, c.step, c.tokens_seen) for c in family.checkpoints()]
    assert found == [(size, step, step * 4 * 32) for size in "ab" for step in (0, 2, 4, 8)]
    step_dir = checkpoints / "a" / "step8"
    assert (step_dir / "model.safetensors").is_file()
    assert (step_dir / "tokenizer.json").is_file()
    meta = json.loads((step_dir / "tracker_checkpoint.json").read_text())
    # precision auto resolves to fp32 under the suite's $TRACKER_AUTO_DTYPE pin
    assert meta["tokens_seen"] == 1024 and meta["training_precision"] == "fp32"
    lm = load_checkpoint(family.checkpoints(sizes=["b"], steps=[8])[0])
    assert lm.dtype == "float32" and type(lm.model).__name__ == "GPTNeoXForCausalLM"
    assert not (run_dir / "trainer").exists()


def test_hook_units_are_the_ones_tracker_eval_looks_up(trained):
    config, run_dir, checkpoints = trained
    family = Family(FamilyConfig(name="ladder", architecture="other", source="local",
                                 path=str(checkpoints)), checkpoints)
    evaluations = ladder_evaluations(config, run_dir)
    units = plan_units(family.checkpoints(), evaluations, limit=None, dtype="float32")
    store = RunStore(run_dir)
    assert len(units) == 2 * 4 * 2 and all(store.has(unit) for unit in units)

    def no_loading(checkpoint):
        raise AssertionError(f"{checkpoint.label} loaded although every unit is stored")

    summary = run_sweep(units, store, load=no_loading, settings=EvalSettings(progress=False))
    assert summary.computed == [] and summary.skipped == len(units)


def test_validation_loss_falls_and_scores_are_recorded(trained):
    _, run_dir, _ = trained
    points = RunStore(run_dir).points()
    loss = points[(points.task == "validation") & (points.metric == "bits_per_byte")]
    for _, rows in loss.groupby("size"):
        by_step = rows.sort_values("step")["score"].to_numpy()
        assert by_step[-1] < by_step[0]
    metrics = set(points[points.task == "arithmetic:add:2:n=10"].metric)
    assert {"exact_match", "target_nll", "token_edit_distance"} <= metrics


def test_second_run_trains_nothing(trained, monkeypatch):
    config, run_dir, _ = trained
    import tracker.train.ladder as trainer

    monkeypatch.setattr(trainer, "train_one", lambda *a, **k: pytest.fail("retrained"))
    train_ladder(config, run_dir=run_dir, corpus=run_dir.parent / "texts", progress=False)


def test_schedule_is_log_then_linear():
    config = load_ladder_config(PROJECT_ROOT / "configs/ladder.yaml")
    steps = config.checkpoint_steps()
    assert steps[0] == 0 and steps[-1] == config.training.max_steps
    gaps = np.diff(steps)
    log = [s for s in steps[1:] if s <= config.checkpoints.log_until]
    assert log == [steps[1] * 2**i for i in range(len(log))] and len(log) >= 3
    assert set(gaps[len(log) + 1:]) == {config.checkpoints.every}


@pytest.mark.parametrize("name", ["ladder.yaml", "ladder-gpu.yaml"])
def test_shipped_configs_load(name):
    config = load_ladder_config(PROJECT_ROOT / "configs" / name)
    assert {s.architecture for s in config.sizes} == {"llama", "gpt_neox"}
    assert config.mixture.arithmetic_fraction > 0


def test_ladder_family_is_derived_from_the_training_config(tmp_path):
    """One source of truth: `tracker eval --family ladder --run R` reads checkpoints from
    R/checkpoints and validation and tasks from configs/ladder.yaml's `evaluation:`, the
    settings the hook scored with, so their unit keys agree in any run directory."""
    family = load_family("ladder").in_run(tmp_path / "other")
    config = load_ladder_config(PROJECT_ROOT / "configs" / "ladder.yaml")
    assert family.root == tmp_path / "other" / "checkpoints"
    assert family.config.validation == str(tmp_path / "other" / config.evaluation.validation)
    assert family.config.tasks == config.evaluation.tasks
    assert family.config.tokens_per_step == config.tokens_per_step
    assert config.evaluation.limit is None


def test_unknown_key_in_ladder_config(tmp_path):
    bad = dict(TINY, training={**TINY["training"], "max_step": 3})
    with pytest.raises(TrackerError, match=r"unknown key 'training.max_step'.*did you mean "
                                            r"'max_steps'"):
        load_ladder_config(write_config(tmp_path / "bad.yaml", bad))


def test_cli_prints_one_line_errors(tmp_path, capsys):
    bad = dict(TINY, sizez=[])
    assert main(["train", "--config", str(write_config(tmp_path / "bad.yaml", bad))]) == 2
    assert "unknown key 'sizez' (did you mean 'sizes'?)" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    config = write_config(tmp_path / "tiny.yaml", TINY)
    assert main(["train", "--config", str(config), "--run", str(tmp_path / "r"),
                 "--corpus", str(empty)]) == 2
    err = capsys.readouterr().err
    assert "has no text" in err and err.count("\n") == 1


def test_tokenizer_splits_digits_and_round_trips():
    tokenizer = train_tokenizer([PSALM * 5, "What is 12 plus 30?"] * 5, vocab_size=300)
    text = "Q: What is 80 plus 29?\nA: 109"
    tokens = tokenizer.convert_ids_to_tokens(tokenizer(text)["input_ids"])
    assert tokens[-3:] == ["1", "0", "9"]
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text


def test_mixture_fraction_format_and_held_out_problems():
    tokenizer = train_tokenizer([PSALM * 5, "Q: What is 12 plus 30?\nA: 42"] * 5,
                                vocab_size=300)
    tasks = resolve_tasks(["arithmetic:add:2:n=300"])
    held_out = held_out_prompts(tasks)
    mixture = MixtureConfig(arithmetic_fraction=0.25,
                            problems=[ProblemSpec(task="arithmetic:add:2")])
    blocks = build_blocks([PSALM * 4] * 10, tokenizer, mixture, n_blocks=400,
                          context_length=64, seed=3, held_out_prompts=held_out)
    assert blocks.tokens.shape == (400, 64)
    assert 0.18 < blocks.arithmetic_fraction < 0.32
    arithmetic = tokenizer.decode(blocks.tokens[blocks.is_arithmetic].ravel())
    example = tasks[0].examples()[0]
    assert example.prompt.startswith("Q: What is ") and example.prompt.endswith("\nA:")
    problems = [p for p in arithmetic.split("<|endoftext|>") if p][1:-1]
    assert problems and all(p.startswith("Q: What is ") for p in problems)
    assert not any(prompt in arithmetic for prompt in held_out)
    text = tokenizer.decode(blocks.tokens[~blocks.is_arithmetic].ravel())
    assert "Q: What is" not in text and "shepherd" in text


def test_retraining_a_size_forgets_its_old_units(tmp_path):
    from tracker.train.ladder import forget_size
    from tracker.train.layout import LadderRun

    config = load_ladder_config(write_config(tmp_path / "tiny.yaml", TINY))
    run = LadderRun(config, tmp_path / "run")
    stale = run.run_dir / "units" / "ladder" / "a" / "step2" / "validation-0123.parquet"
    kept = run.run_dir / "units" / "ladder" / "b" / "step2" / "validation-4567.parquet"
    for path in (stale, kept, run.step_dir("a", 2) / "config.json"):
        path.parent.mkdir(parents=True)
        path.write_text("x")
    forget_size(run, "a")
    assert not stale.exists() and not run.step_dir("a", 2).exists()
    assert kept.exists()


def test_deterministic_training_gives_byte_identical_checkpoints(tmp_path):
    """`--deterministic`: the smallest size trained twice (a few steps, float32,
    deterministic kernels, fixed threads) saves byte-identical safetensors; a different
    seed does not (so the comparison can fail)."""
    corpus = tmp_path / "texts"
    corpus.mkdir()
    for i in range(12):
        (corpus / f"psalm{i}.txt").write_text(f"Psalm {i}. " + PSALM * (2 + i % 3))
    # bf16 asked for: deterministic mode trains float32 all the same
    data = {**TINY, "sizes": TINY["sizes"][:1], "evaluation": {"tasks": []},
            "training": {**TINY["training"], "precision": "bf16"}}
    config = with_seed(load_ladder_config(write_config(tmp_path / "tiny.yaml", data)),
                       deterministic=True)
    assert config.training.deterministic and config.training.precision == "bf16"
    weights = []
    for name, seed in (("first", None), ("second", None), ("other_seed", 99)):
        run_config = with_seed(config, seed)
        train_ladder(run_config, run_dir=tmp_path / name, corpus=corpus, progress=False)
        weights.append((tmp_path / name / "checkpoints" / "a" / "step8" /
                        "model.safetensors").read_bytes())
    assert weights[0] == weights[1]
    assert weights[0] != weights[2]


def test_sizes_trained_side_by_side_equal_sizes_trained_in_turn(tmp_path):
    """`training.workers: 2`: both sizes train at once in worker processes (one thread
    each), and in deterministic mode their checkpoints are byte-identical to the same sizes
    trained one after the other in this process on one thread; every checkpoint is scored
    into the store either way."""
    corpus = tmp_path / "texts"
    corpus.mkdir()
    for i in range(12):
        (corpus / f"psalm{i}.txt").write_text(f"Psalm {i}. " + PSALM * (2 + i % 3))
    weights = {}
    for name, threads, workers in (("in_turn", 1, 1), ("side_by_side", 2, 2)):
        data = {**TINY, "training": {**TINY["training"], "threads": threads,
                                     "workers": workers}}
        config = with_seed(load_ladder_config(write_config(tmp_path / f"{name}.yaml", data)),
                           deterministic=True)
        run_dir = tmp_path / name
        train_ladder(config, run_dir=run_dir, corpus=corpus, progress=False)
        weights[name] = {size: (run_dir / "checkpoints" / size / "step8" /
                                "model.safetensors").read_bytes() for size in "ab"}
        family = Family(FamilyConfig(name="ladder", architecture="other", source="local",
                                     path=str(run_dir / "checkpoints")), run_dir / "checkpoints")
        units = plan_units(family.checkpoints(), ladder_evaluations(config, run_dir),
                           limit=None, dtype="float32")
        assert len(units) == 2 * 4 * 2 and all(RunStore(run_dir).has(u) for u in units)
        assert not (run_dir / "trainer").exists()
    assert weights["in_turn"] == weights["side_by_side"]


def test_threads_are_shared_out_between_workers():
    from tracker.train.config import TrainingConfig
    from tracker.train.workers import size_threads

    config = TrainingConfig(max_steps=1, threads=2, workers=2)
    assert size_threads(config, running=2) == 1
    assert size_threads(config, running=1) == 2  # the last size left takes both
    deterministic = config.model_copy(update={"deterministic": True})
    assert size_threads(deterministic, running=1) == 1  # fixed: part of the result


def _wait_for_idle_sibling(run, spec, blocks, *, progress, position, callbacks):
    """A stand-in for train_one in a worker: the small size returns at once; the big one
    records whether, while it still runs, it is told that the other worker is idle."""
    import time

    if spec.label == "b":
        share = callbacks[0]
        deadline = time.monotonic() + 20
        while share.idle.value == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        (run.run_dir / "told").write_text(str(share.idle.value))


def test_the_last_size_training_is_told_when_the_other_worker_is_idle(tmp_path):
    from tracker.train.layout import LadderRun
    from tracker.train.workers import train_sizes

    data = {**TINY, "training": {**TINY["training"], "threads": 2, "workers": 2}}
    data["sizes"] = [TINY["sizes"][0], {**TINY["sizes"][1], "hidden_size": 64}]  # b: larger
    config = load_ladder_config(write_config(tmp_path / "tiny.yaml", data))
    run = LadderRun(config, tmp_path)
    train_sizes(run, config.sizes, None, _wait_for_idle_sibling, progress=False)
    assert (tmp_path / "told").read_text() == "1"


def test_a_size_left_alone_takes_the_idle_workers_threads():
    import multiprocessing

    import torch

    from tracker.train.workers import ShareThreads

    before = torch.get_num_threads()
    idle = multiprocessing.get_context("spawn").Value("i", 0)
    share = ShareThreads(idle, workers=2, threads=1)
    try:
        torch.set_num_threads(1)
        share.on_step_end(None, None, None)
        assert torch.get_num_threads() == 1  # both workers busy
        idle.value = 1
        share.on_step_end(None, None, None)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_mixture_validation_is_held_out_in_training_proportions(trained):
    """validation_mixture.jsonl: the text validation documents, then problem sheets whose
    tokens are f/(1-f) of the text's; none of its problems is in the training blocks."""
    config, run_dir, _ = trained
    from transformers import PreTrainedTokenizerFast

    from tracker.train.mixture import token_stream

    tokenizer = PreTrainedTokenizerFast.from_pretrained(run_dir / "tokenizer")
    read = lambda name: [json.loads(line)["text"]  # noqa: E731
                         for line in (run_dir / "data" / name).read_text().splitlines()]
    text, mixture = read("validation.jsonl"), read("validation_mixture.jsonl")
    assert mixture[: len(text)] == text
    sheets = mixture[len(text):]
    ratio = len(token_stream(sheets, tokenizer)) / len(token_stream(text, tokenizer))
    fraction = config.mixture.arithmetic_fraction
    assert ratio == pytest.approx(fraction / (1 - fraction), rel=0.2)
    problems = {p for sheet in sheets for p in sheet.split("\n\n")}
    assert problems and all(p.startswith("Q: What is ") for p in problems)
    from tracker.train.corpus import build_corpus
    from tracker.train.ladder import training_blocks, write_mixture_validation
    from tracker.train.layout import LadderRun

    run = LadderRun(config, run_dir)
    files = build_corpus(config.corpus, run_dir, seed=config.seed)
    prompts = write_mixture_validation(run, files, tokenizer, [])
    blocks = training_blocks(run, files, tokenizer, [], also_held_out=prompts)
    trained_text = tokenizer.decode(blocks.tokens[blocks.is_arithmetic].ravel().tolist())
    assert not any(p in trained_text for p in problems)


def test_train_cli_passes_seed_and_deterministic(tmp_path, monkeypatch, capsys):
    """`tracker train --seed 7 --deterministic` trains the config with training.seed 7 in
    deterministic mode (the data seed unchanged); without them the config is as written."""
    import tracker.train.ladder as trainer

    seen = []
    monkeypatch.setattr(trainer, "train_ladder",
                        lambda config, **kwargs: seen.append(config) or tmp_path)
    path = write_config(tmp_path / "tiny.yaml", TINY)
    assert main(["train", "--config", str(path), "--run", str(tmp_path / "r"),
                 "--seed", "7", "--deterministic", "--quiet"]) == 0
    assert main(["train", "--config", str(path), "--run", str(tmp_path / "r"), "--quiet"]) == 0
    assert (seen[0].training.seed, seen[0].training.deterministic, seen[0].seed) == (7, True, 1234)
    assert (seen[1].training.seed, seen[1].training.deterministic) == (1234, False)


def test_eval_scores_both_validation_sets_and_reports_against_either(tmp_path, capsys):
    """`tracker eval` of a trained family scores the training config's validation set and
    its `second_validation` (the text alone), so a run evaluated from plain checkpoints (no
    hook units) can be drawn against either: the plan's setting (the mixture) by default,
    the text with `--setting validation=validation`."""
    corpus = tmp_path / "texts"
    corpus.mkdir()
    for i in range(12):
        (corpus / f"psalm{i}.txt").write_text(f"Psalm {i}. " + PSALM * (2 + i % 3))
    data = {**TINY, "sizes": TINY["sizes"][:1],
            "evaluation": {"validation": "data/validation_mixture.jsonl",
                           "second_validation": "data/validation.jsonl",
                           "tasks": ["arithmetic:add:2:n=10"], "batch_size": 10}}
    config_path = write_config(tmp_path / "tiny.yaml", data)
    run = tmp_path / "run"
    train_ladder(load_ladder_config(config_path), run_dir=run, corpus=corpus, progress=False)
    hook = RunStore(run).points(setting="validation=validation")
    shutil.rmtree(run / "units")  # as if the checkpoints came without the hook's scores
    family = write_config(tmp_path / "family.yaml", {
        "name": "ladder", "architecture": "other", "source": "local",
        "train_config": str(config_path)})
    assert main(["eval", "--family", str(family), "--run", str(run), "--quiet"]) == 0
    assert "computed 12 units" in capsys.readouterr().out  # 4 steps x (2 losses + 1 task)

    def loss_axis(*setting: str) -> pd.Series:
        out = tmp_path / "points.csv"
        assert main(["export", "--run", str(run), "--out", str(out), *setting]) == 0
        points = pd.read_csv(out)
        rows = points[(points.task == "validation") & (points.metric == "bits_per_byte")]
        return rows.sort_values("step").set_index("step")["score"]

    mixture, text = loss_axis(), loss_axis("--setting", "validation=validation")
    hook_text = hook[(hook.task == "validation") & (hook.metric == "bits_per_byte")]
    assert text.to_numpy() == pytest.approx(hook_text.sort_values("step")["score"].to_numpy())
    assert not np.allclose(mixture.to_numpy(), text.to_numpy())
    out = tmp_path / "text-report"
    assert main(["report", "--run", str(run), "--setting", "validation=validation",
                 "--out", str(out)]) == 0
    assert (out / "report.md").is_file()
