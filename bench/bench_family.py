"""The family benchmark: one `tracker eval` over K local checkpoints against the loop a user
writes around lm-eval and against lm-eval's best case, side by side, whole processes.

The family: K checkpoints of seeded random GPT-NeoX models with the real Pythia tokenizer,
``<work>/family-K/<size>/step<N>/`` as `save_pretrained` writes them. Two sizes, ``a``
(hidden 192 x 3 layers) and ``b`` (256 x 4), steps 0, 1000, ...: K = 1 and 3 are size ``a``
alone, K = 6 and 12 are both sizes at 3 and 6 steps. Each checkpoint is evaluated on:
- a validation text (``--validation-mb`` MB of BIG-bench inputs cut into 1-12 KB
  documents): bits per byte, lm-eval's ``loglikelihood_rolling``;
- a multiple-choice task (BIG-bench navigate, its first ``--mc-n`` questions);
- a generative task (BIG-bench 2-digit addition, its first ``--gen-n`` examples).
tracker reads the BIG-bench task.json files (trimmed copies); lm-eval reads the same
examples rendered by tracker into JSONL with a task YAML (bench/bench_tasks_vs_lmeval.py's
export, the one tests/test_lmeval_tasks.py checks for equal numbers).

The three sides, each timed as whole processes by bench/proc_timing.py (load average and
other work recorded, contended runs dropped from medians when quiet ones exist):
- ``tracker``: one `tracker eval --family <work>/family-K --dtype float32 --no-report`
  with a cold cache;
- ``loop``: what a user writes around lm-eval, one `python -m lm_eval run` per checkpoint.
  The loop over K checkpoints is the first K of those processes, so each is run once per
  repeat over the largest K and the loop's time at K is the sum of the first K;
- ``one process``: lm-eval's best case, one Python process (this file with
  ``--lmeval-process``) that imports lm-eval once, builds the TaskManager once and calls
  ``simple_evaluate`` on an ``HFLM`` per checkpoint.
lm-eval runs at each of ``--lmeval-batch-sizes`` (float32, as tracker here) and its best
median is the reference. Ratios are lm-eval's seconds over tracker's.

Where the time goes: import (a process that imports only what each side imports), then
for tracker the plan (task loading, tokenization, weights digests: the whole process less
import and sweep), the sweep less scoring (the first checkpoint's load, loads not hidden by
the prefetch, store writes) and the scoring itself (the units' ``duration_s``); for lm-eval's
one process, import, the ``HFLM`` loads and the ``simple_evaluate`` calls (tasks, requests
and model calls), as it measured them.

The metrics are compared per checkpoint: accuracy, exact match and bits per byte from
tracker's store against the loop's result files (the largest |difference| is printed).

``--lmeval-mc`` (issue 28, item 3): the multiple-choice task becomes lm-eval's registered
``arc_easy``, rendered by lm-eval on both sides, on rows made of the same navigate questions
(``question``, ``choices``, ``answerKey``). tracker runs ``lm-eval:arc_easy@ROWS``; lm-eval
runs the YAML a user writes for local rows (``include:`` the registered arc_easy.yaml,
``dataset_path: json``, ``data_files``), named ``bench_arc_easy``.

    .venv/bin/python bench/bench_family.py                         # K = 1, 3, 6, 12
    .venv/bin/python bench/bench_family.py --ks 6 --repeats 3
    .venv/bin/python bench/bench_family.py --device cuda --ks 1,3,6,12   # a GPU machine
    .venv/bin/python bench/bench_family.py --lmeval-mc --ks 1,3,6          # lm-eval-built MC
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_eval_vs_lmeval as whole  # noqa: E402
from proc_timing import Timed, run_line, run_timed, summarize  # noqa: E402

SIZES = {"a": (192, 3), "b": (256, 4)}  # size label -> (hidden, layers)
STEP_EVERY = 1000
MC_TASK, GEN_TASK = "navigate", "arithmetic/2_digit_addition"
METRICS = {"accuracy": "acc,none", "exact_match": "exact_match,extract",
           "bits_per_byte": "bits_per_byte,none"}  # tracker's metric -> lm-eval's key
IMPORTS = {"tracker": "import tracker.cli, tracker.lm.loading, torch, transformers",
           "lm-eval": "import lm_eval, lm_eval.models.huggingface, torch, transformers"}


def family_checkpoints(k: int) -> list[tuple[str, int]]:
    """(size, step) of the K-checkpoint family: one size below K = 6, two from there."""
    sizes = list(SIZES)[: 1 if k < 6 else 2]
    per_size = math.ceil(k / len(sizes))
    pairs = [(size, i * STEP_EVERY) for size in sizes for i in range(per_size)]
    return pairs[:k]


def build_checkpoints(root: Path, pairs: list[tuple[str, int]]) -> None:
    """``root/<size>/step<N>``: a distinct seeded random model each, as save_pretrained writes."""
    import torch
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    from tests.helpers import pythia_tokenizer

    tokenizer = pythia_tokenizer()
    for number, (size, step) in enumerate(pairs):
        target = root / size / f"step{step}"
        if (target / "config.json").is_file():
            continue
        hidden, layers = SIZES[size]
        config = GPTNeoXConfig(vocab_size=len(tokenizer), hidden_size=hidden,
                               num_hidden_layers=layers, num_attention_heads=hidden // 64,
                               intermediate_size=4 * hidden, max_position_embeddings=2048,
                               bos_token_id=0, eos_token_id=0)
        torch.manual_seed(1000 + number)
        GPTNeoXForCausalLM(config).save_pretrained(target)
        tokenizer.save_pretrained(target)


def link_family(checkpoints: Path, family: Path, pairs: list[tuple[str, int]]) -> None:
    """``family/<size>/step<N>``: hard links to the built checkpoints (no extra disk)."""
    for size, step in pairs:
        source, target = checkpoints / size / f"step{step}", family / size / f"step{step}"
        if target.is_dir():
            continue
        target.mkdir(parents=True)
        for file in source.iterdir():
            os.link(file, target / file.name)


def trimmed_task(name: str, n: int, directory: Path) -> str:
    """A copy of a BIG-bench task.json holding its first ``n`` examples; its directory."""
    source = Path(whole.task_path(name)) / "task.json"
    task = json.loads(source.read_text())
    if len(task["examples"]) < n:
        raise SystemExit(f"{name} has {len(task['examples'])} examples, fewer than {n}")
    task["examples"] = task["examples"][:n]
    target = directory / name.replace("/", "_")
    target.mkdir(parents=True, exist_ok=True)
    (target / "task.json").write_text(json.dumps(task))
    return str(target)


@dataclass(frozen=True)
class Setup:
    """What every run reads: the task directories and files of both sides."""

    work: Path
    task_paths: list[str]
    validation: Path
    lmeval_dir: Path
    lmeval_tasks: list[str]
    description: str


def prepare(args: argparse.Namespace, work: Path) -> Setup:
    import bench_tasks_vs_lmeval as reference

    from tests.helpers import LMEVAL_ROLLING_TASK
    from tracker.tasks import resolve_tasks

    paths = [trimmed_task(MC_TASK, args.mc_n, work / "tasks"),
             trimmed_task(GEN_TASK, args.gen_n, work / "tasks")]
    documents = whole.validation_documents(args.validation_mb)
    validation = work / "validation.jsonl"
    validation.write_text("".join(json.dumps({"text": d}) + "\n" for d in documents))
    lmeval_dir = work / "lmeval_tasks"
    lmeval_dir.mkdir(parents=True, exist_ok=True)
    tasks = resolve_tasks(paths)
    names = [reference.export_task(task, task.examples(), lmeval_dir) for task in tasks]
    mc_name = MC_TASK
    if args.lmeval_mc:
        paths[0], names[0] = registered_mc(tasks[0].examples(), work, lmeval_dir)
        mc_name = "lm-eval's arc_easy on navigate's questions"
    (lmeval_dir / "tracker_validation.yaml").write_text(
        LMEVAL_ROLLING_TASK.format(data=validation))
    size = sum(len(d.encode()) for d in documents) / 1e6
    return Setup(work, paths, validation, lmeval_dir, [*names, "tracker_validation"],
                 f"validation {len(documents)} documents ({size:.2f} MB), {mc_name} x "
                 f"{args.mc_n} (multiple choice), {GEN_TASK} x {args.gen_n} (greedy)")


def registered_mc(examples, work: Path, lmeval_dir: Path) -> tuple[str, str]:
    """The multiple-choice questions as rows of lm-eval's registered arc_easy: tracker's
    task spec (``lm-eval:arc_easy@ROWS``) and the name of lm-eval's YAML over the same rows."""
    import yaml

    from tracker.tasks.lmeval_offline import resolve_source

    rows = work / "arc_rows"
    rows.mkdir(parents=True, exist_ok=True)
    with (rows / "test.jsonl").open("w") as handle:
        for number, example in enumerate(examples):
            labels = [chr(ord("A") + i) for i in range(len(example.choices))]
            handle.write(json.dumps({"id": f"nav-{number}", "question": example.prompt,
                                     "choices": {"text": list(example.choices),
                                                 "label": labels},
                                     "answerKey": labels[example.answer]}) + "\n")
    leaf = resolve_source(f"arc_easy@{rows}")[0].leaves[0]
    (lmeval_dir / "bench_arc_easy.yaml").write_text(yaml.safe_dump(
        {"include": str(leaf.yaml_path), **leaf.overrides(), "task": "bench_arc_easy"}))
    return f"lm-eval:arc_easy@{rows}", "bench_arc_easy"


def run_tracker(setup: Setup, k: int, number: int, device: str) -> Timed:
    run_dir = setup.work / "runs" / f"tracker-{k}-{number}"
    cache = setup.work / f"tracker-cache-{k}-{number}"
    for stale in (run_dir, cache):
        shutil.rmtree(stale, ignore_errors=True)  # a stored unit would be skipped, not timed
    command = [whole.TRACKER, "eval", "--family", str(setup.work / f"family-{k}"),
               "--run", str(run_dir), "--tasks", ",".join(setup.task_paths),
               "--validation", str(setup.validation), "--device", device,
               "--dtype", "float32", "--no-report", "--quiet"]
    timed = run_timed(f"tracker K={k}", command, env=whole.environment(cache)).check()
    shutil.rmtree(cache, ignore_errors=True)
    return timed


def lmeval_env(setup: Setup) -> dict[str, str]:
    env = whole.environment(None)
    env["HF_DATASETS_CACHE"] = str(setup.work / "hf-datasets")
    return env


def run_loop_process(setup: Setup, checkpoint: Path, batch_size: int, number: int,
                     device: str) -> Timed:
    out = setup.work / "lmeval-out" / f"loop-b{batch_size}-{number}" / checkpoint.parent.name \
        / checkpoint.name
    shutil.rmtree(out, ignore_errors=True)
    command = [whole.PYTHON, "-m", "lm_eval", "run", "--model", "hf", "--model_args",
               f"pretrained={checkpoint},dtype=float32", "--tasks", ",".join(setup.lmeval_tasks),
               "--include_path", str(setup.lmeval_dir), "--batch_size", str(batch_size),
               "--device", device, "--output_path", str(out)]
    return run_timed(f"lm-eval {checkpoint.parent.name}/{checkpoint.name} b{batch_size}",
                     command, env=lmeval_env(setup)).check()


def run_one_process(setup: Setup, k: int, batch_size: int, device: str) -> Timed:
    family = setup.work / f"family-{k}"
    spec = {"checkpoints": [str(family / s / f"step{n}") for s, n in family_checkpoints(k)],
            "tasks": setup.lmeval_tasks, "include_path": str(setup.lmeval_dir),
            "batch_size": batch_size, "device": device}
    command = [whole.PYTHON, str(Path(__file__).resolve()), "--lmeval-process", json.dumps(spec)]
    return run_timed(f"lm-eval one process K={k} b{batch_size}", command,
                     env=lmeval_env(setup)).check()


def lmeval_process(spec: dict) -> None:
    """lm-eval's best case (run as its own process): one import, one TaskManager, then
    ``simple_evaluate`` on an ``HFLM`` per checkpoint. Prints its phases and results as JSON."""
    import time

    started = time.perf_counter()
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    imported = time.perf_counter()
    manager = TaskManager(include_path=spec["include_path"])
    load = compute = 0.0
    results = {}
    for checkpoint in spec["checkpoints"]:
        before = time.perf_counter()
        model = HFLM(pretrained=checkpoint, dtype="float32", batch_size=spec["batch_size"],
                     device=spec["device"])
        loaded = time.perf_counter()
        out = lm_eval.simple_evaluate(model=model, tasks=spec["tasks"], task_manager=manager,
                                      verbosity="ERROR")
        compute += time.perf_counter() - loaded
        load += loaded - before
        results[checkpoint] = out["results"]
        del model
    print(json.dumps({"import_s": imported - started, "load_s": load, "compute_s": compute,
                      "results": results}))


def import_seconds(side: str) -> Timed:
    return run_timed(f"import {side}", [whole.PYTHON, "-c", IMPORTS[side]],
                     env=whole.environment(None)).check()


def tracker_phases(setup: Setup, timed: Timed, imported: float, k: int, number: int) -> dict:
    """import / plan / sweep less scoring / scoring seconds of one tracker run."""
    from tracker.store.run_store import RunStore

    line = next(x for x in timed.stdout.splitlines() if x.startswith("computed "))
    sweep = float(line.split(" in ", 1)[1].split(" s", 1)[0].replace(",", ""))
    records = RunStore(setup.work / "runs" / f"tracker-{k}-{number}").records()
    scoring = float(sum(r["duration_s"] for r in records))
    return {"import": imported, "plan": timed.seconds - imported - sweep,
            "sweep less scoring": sweep - scoring, "scoring": scoring}


def tracker_metrics(setup: Setup, k: int, number: int) -> dict[tuple[str, str, str], float]:
    """(checkpoint dir name, task, metric) -> score, from the run's store."""
    from tracker.store.run_store import RunStore

    frame = RunStore(setup.work / "runs" / f"tracker-{k}-{number}").scores()
    frame = frame[frame["metric"].isin(list(METRICS))]
    return {(f"{row.size}/step{row.step}", _plain(str(row.task)), str(row.metric)):
            float(row.score) for row in frame.itertuples()}


def loop_metrics(setup: Setup, batch_size: int, number: int) -> dict[tuple[str, str, str], float]:
    out = setup.work / "lmeval-out" / f"loop-b{batch_size}-{number}"
    found = {}
    for path in out.rglob("results_*.json"):
        checkpoint = path.relative_to(out).parts[:2]
        for task, values in json.loads(path.read_text())["results"].items():
            for metric, key in METRICS.items():
                if key in values:
                    found[("/".join(checkpoint), _plain(task), metric)] = float(values[key])
    return found


def _plain(task: str) -> str:
    """A task name both sides share: tracker's validation set and lm-eval's exported names."""
    task = task.removeprefix("tracker_").removeprefix("bench_").removeprefix("lm-eval:")
    task = task.split("@", 1)[0]
    if task in ("validation", "tracker_validation") or task.endswith(".jsonl"):
        return "validation"
    return "".join(c if c.isalnum() else "_" for c in task.split("/")[-1])


def agreement(ours: dict, theirs: dict) -> str:
    shared = sorted(set(ours) & set(theirs))
    if not shared:
        return f"no shared metrics (tracker {sorted(ours)[:3]}, lm-eval {sorted(theirs)[:3]})"
    worst = max(abs(ours[key] - theirs[key]) for key in shared)
    missing = len(set(ours) | set(theirs)) - len(shared)
    return (f"{len(shared)} checkpoint metrics compared, max |diff| {worst:.2e}"
            + (f", {missing} on one side only" if missing else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ks", default="1,3,6,12", help="family sizes K (checkpoints)")
    parser.add_argument("--mc-n", type=int, default=200, help="multiple-choice questions")
    parser.add_argument("--gen-n", type=int, default=100, help="generative examples")
    parser.add_argument("--validation-mb", type=float, default=0.05)
    parser.add_argument("--lmeval-batch-sizes", default="16,64")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (both sides)")
    parser.add_argument("--work", type=Path, help="keep files here (default: a temp dir)")
    parser.add_argument("--lmeval-mc", action="store_true",
                        help="the multiple-choice task is lm-eval's registered arc_easy on "
                             "the same questions, rendered by lm-eval on both sides")
    parser.add_argument("--lmeval-process", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.lmeval_process:
        lmeval_process(json.loads(args.lmeval_process))
        return 0
    ks = sorted(int(k) for k in args.ks.split(","))
    batch_sizes = [int(b) for b in args.lmeval_batch_sizes.split(",")]
    work = args.work or Path(tempfile.mkdtemp(prefix="tracker-bench-family-"))
    work.mkdir(parents=True, exist_ok=True)
    largest = family_checkpoints(ks[-1])
    build_checkpoints(work / "checkpoints", largest)
    for k in ks:
        link_family(work / "checkpoints", work / f"family-{k}", family_checkpoints(k))
    setup = prepare(args, work)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"device {args.device}; K = {ks}; each checkpoint: {setup.description}; lm-eval "
          f"batch sizes {batch_sizes}; load average {os.getloadavg()[0]:.2f}", flush=True)
    warm = run_loop_process(setup, work / "family-1" / "a" / "step0", batch_sizes[0], -1,
                            args.device)
    print(f"  lm-eval warm-up (datasets cache)  {run_line(warm)}", flush=True)

    imports = {side: [] for side in IMPORTS}
    ours: dict[int, list[Timed]] = {k: [] for k in ks}
    phases: dict[int, list[dict]] = {k: [] for k in ks}
    loop: dict[int, list[list[Timed]]] = {b: [] for b in batch_sizes}  # per repeat, per ckpt
    single: dict[tuple[int, int], list[Timed]] = {(k, b): [] for k in ks for b in batch_sizes}
    for number in range(args.repeats):
        for side in IMPORTS:
            imports[side].append(import_seconds(side))
            print(f"  {'import ' + side:32} {run_line(imports[side][-1])}", flush=True)
        imported = imports["tracker"][-1].seconds
        for k in ks:
            ours[k].append(run_tracker(setup, k, number, args.device))
            phases[k].append(tracker_phases(setup, ours[k][-1], imported, k, number))
            print(f"  {'tracker K=' + str(k):32} {run_line(ours[k][-1])}  "
                  + ", ".join(f"{n} {s:.1f} s" for n, s in phases[k][-1].items()), flush=True)
        for b in batch_sizes:
            loop[b].append([])
            for size, step in largest:
                checkpoint = work / f"family-{ks[-1]}" / size / f"step{step}"
                loop[b][-1].append(run_loop_process(setup, checkpoint, b, number, args.device))
                print(f"  {'lm-eval run ' + size + '/step' + str(step) + ' b' + str(b):32} "
                      f"{run_line(loop[b][-1][-1])}", flush=True)
            for k in ks:
                single[k, b].append(run_one_process(setup, k, b, args.device))
                split = json.loads(single[k, b][-1].stdout.strip().splitlines()[-1])
                print(f"  {'lm-eval one process K=' + str(k) + ' b' + str(b):32} "
                      f"{run_line(single[k, b][-1])}  import {split['import_s']:.1f} s, load "
                      f"{split['load_s']:.1f} s, evaluate {split['compute_s']:.1f} s",
                      flush=True)
    report(args, setup, ks, batch_sizes, imports, ours, phases, loop, single)
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def report(args, setup, ks, batch_sizes, imports, ours, phases, loop, single) -> None:
    def loop_seconds(b: int, k: int) -> list[float]:
        return [sum(r.seconds for r in runs[:k]) for runs in loop[b]]

    def loop_quiet(b: int, k: int) -> list[float]:
        quiet = [sum(r.seconds for r in runs[:k]) for runs in loop[b]
                 if not any(r.contended for r in runs[:k])]
        return quiet or loop_seconds(b, k)

    best_loop = {k: min(batch_sizes, key=lambda b: statistics.median(loop_quiet(b, k)))
                 for k in ks}
    best_single = {k: min(batch_sizes, key=lambda b: summarize(single[k, b]).median)
                   for k in ks}
    print(f"\n{'K':>3} {'tracker s':>9} {'loop s':>8} {'b':>3} {'x loop':>7} {'one proc s':>10}"
          f" {'b':>3} {'x one proc':>10}  tracker split (median s)          runs")
    for k in ks:
        mine = summarize(ours[k])
        looped = statistics.median(loop_quiet(best_loop[k], k))
        one = summarize(single[k, best_single[k]])
        split = {n: statistics.median(p[n] for p in phases[k]) for n in phases[k][0]}
        contended = sum(any(r.contended for r in runs[:k]) for runs in loop[best_loop[k]])
        print(f"{k:3d} {mine.median:9.1f} {looped:8.1f} {best_loop[k]:3d} "
              f"{looped / mine.median:6.2f}x {one.median:10.1f} {best_single[k]:3d} "
              f"{one.median / mine.median:9.2f}x  "
              + " / ".join(f"{v:.1f}" for v in split.values())
              + f"  tracker {mine.note()}; loop {contended} of {len(loop[best_loop[k]])} "
              f"contended; one process {one.note()}")
    print("tracker split: " + " / ".join(phases[ks[0]][0]) + " (see the docstring)")
    for side, runs in imports.items():
        print(f"import alone, {side}: median {summarize(runs).median:.1f} s")
    for k in ks:
        b = best_single[k]
        splits = [json.loads(r.stdout.strip().splitlines()[-1]) for r in single[k, b]]
        print(f"lm-eval one process K={k} b{b}: import "
              f"{statistics.median(s['import_s'] for s in splits):.1f} s, load "
              f"{statistics.median(s['load_s'] for s in splits):.1f} s, evaluate "
              f"{statistics.median(s['compute_s'] for s in splits):.1f} s (medians)")
    ours_metrics = tracker_metrics(setup, ks[-1], 0)
    print(f"metrics, tracker K={ks[-1]} against the lm-eval loop b{best_loop[ks[-1]]}: "
          + agreement(ours_metrics, loop_metrics(setup, best_loop[ks[-1]], 0)))
    print(f"load average now {os.getloadavg()}; work files in {setup.work}")


if __name__ == "__main__":
    sys.exit(main())
