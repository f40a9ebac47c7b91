"""Whole-process speed: `tracker eval` against `lm_eval run`, side by side, same model and data.

Each side is its own process from the shell prompt to the exit (imports, task loading,
model loading, scoring, writing results), as a new user runs it. Both get the same local
model directory (a seeded random GPT-NeoX, 70m-shaped by default: hidden 512 x 6 layers,
8 heads, 2048 positions, with the real Pythia tokenizer from tests/data) and the same
examples: tracker reads the BIG-bench task.json files itself; lm-eval reads them rendered
by tracker into JSONL with a custom task YAML (``dataset_path: json``; the YAML is the one
tests/test_lmeval_tasks.py checks for equal numbers).

Suites (``--suites``):
- ``mc``: four BIG-bench multiple-choice tasks (navigate, sports_understanding, winowhy,
  2-digit addition as multiple choice), ``--mc-limit`` questions each.
- ``gen``: greedy generation on BIG-bench 2-digit addition and a BIG-bench generative task
  (unit_conversion/unit_addition_general when ../shared/external/bigbench has it, else
  3-digit subtraction), ``--gen-limit`` examples each.
- ``validation``: bits per byte of ``--validation-mb`` MB of text (BIG-bench inputs cut
  into documents of 1-12 KB; lm-eval's ``loglikelihood_rolling`` with a custom YAML).

``--model random`` (default): on a random model no generation meets its stop string, so
every row decodes its whole budget on both sides. ``--model answering``: a small GPT-NeoX
(hidden 128 x 2, Pythia tokenizer) trained here for ``--train-steps`` steps on the
generative tasks' other examples, so that it answers in a few tokens and stops at the
newline, as a trained checkpoint does; the table says which model it was.

lm-eval runs at every batch size of ``--lmeval-batch-sizes`` and its best median is the
reference. Runs are interleaved (tracker, lm-eval b1, lm-eval b2, ..., repeated), each
timed with its load average and the cores other work held meanwhile (bench/proc_timing.py);
contended runs are dropped from the medians when quiet ones exist. tracker runs with a
fresh ``TRACKER_CACHE_DIR`` each time (a cold cache: weights digest and tokenization
included) unless ``--warm-cache``; lm-eval keeps its datasets cache warm (a warm-up run
first), which favours lm-eval. In the ``mc`` and ``gen`` suites tracker also scores a
one-document validation text (it always scores the loss); that is in its time.

    .venv/bin/python bench/bench_eval_vs_lmeval.py --suites mc,gen,validation --repeats 3

The floor (unless ``--no-floor``): bench/bare_process.py, a process that imports torch and
transformers, loads the same model and makes exactly tracker's model calls on inputs
prepared here by tracker's own code (packed rows and masks, window batches, generation
batches with each row's step count), and nothing else: no tokenizer, task, store or
result. It runs after each tracker run. lm-eval's time over the floor's is about the most
any tool on torch and transformers can reach on this machine with the same exact model
work (the "at floor" column); tracker's time over it is what tracker adds.

Agreement is checked on the aggregates of both outputs (accuracy per task, exact match,
bits per byte) and printed with the table; the per-example parity is the slow tests'.
"""

from __future__ import annotations

import argparse
import json
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

from proc_timing import Timed, run_line, run_timed, summarize  # noqa: E402

from tests.helpers import bigbench_dir  # noqa: E402

EXTERNAL = ROOT.parent / "shared" / "external" / "bigbench"
MC_TASKS = ("navigate", "sports_understanding", "winowhy",
            "arithmetic/2_digit_addition#multiple_choice")
GEN_TASKS = ("arithmetic/2_digit_addition", "unit_conversion/unit_addition_general")
GEN_FALLBACK = "arithmetic/3_digit_subtraction"
PYTHON = sys.executable
TRACKER = str(Path(sys.executable).with_name("tracker"))


@dataclass(frozen=True)
class Suite:
    """One comparison: what each side runs and how its output is read."""

    name: str
    tracker_args: list[str]
    lmeval_tasks: list[str]
    description: str
    task_paths: list[str]
    documents: list[str]
    limit: int | None


def task_path(name: str) -> str:
    """A BIG-bench task path from tests/data, else ../shared/external (``#kind`` kept)."""
    location, hash_sign, kind = name.partition("#")
    for base in (bigbench_dir(), EXTERNAL):
        if (base / location / "task.json").is_file():
            return str(base / location) + hash_sign + kind
    raise FileNotFoundError(location)


def generative_tasks() -> list[str]:
    paths = []
    for name in GEN_TASKS:
        try:
            paths.append(task_path(name))
        except FileNotFoundError:
            paths.append(task_path(GEN_FALLBACK))
    return paths


def build_random_model(directory: Path, hidden: int, layers: int) -> None:
    import torch
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    from tests.helpers import pythia_tokenizer

    tokenizer = pythia_tokenizer()
    torch.manual_seed(0)
    config = GPTNeoXConfig(vocab_size=len(tokenizer), hidden_size=hidden,
                           num_hidden_layers=layers, num_attention_heads=max(1, hidden // 64),
                           intermediate_size=4 * hidden, max_position_embeddings=2048,
                           bos_token_id=0, eos_token_id=0)
    GPTNeoXForCausalLM(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)


def build_answering_model(directory: Path, task_paths: list[str], skip: int, steps: int) -> None:
    """A small GPT-NeoX trained on ``context`` then ``target + "\\n"`` of the examples after
    the first ``skip`` (those are evaluated), so that it answers briefly and stops."""
    import torch
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    from tests.helpers import pythia_tokenizer
    from tracker.tasks import resolve_tasks

    tokenizer = pythia_tokenizer()
    # the ids generation sees: the context as encoded alone, then the answer and the stop
    encoded = [tokenizer.encode(e.context()) + tokenizer.encode(e.targets[0] + "\n")
               for task in resolve_tasks(task_paths) for e in task.examples()[skip:]]
    torch.manual_seed(0)
    config = GPTNeoXConfig(vocab_size=len(tokenizer), hidden_size=128, num_hidden_layers=2,
                           num_attention_heads=2, intermediate_size=512,
                           max_position_embeddings=2048, bos_token_id=0, eos_token_id=0)
    model = GPTNeoXForCausalLM(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    for step in range(steps):
        rows = [encoded[i] for i in torch.randint(len(encoded), (16,), generator=generator)]
        width = max(map(len, rows))
        ids = torch.tensor([r + [0] * (width - len(r)) for r in rows])
        labels = torch.tensor([r + [-100] * (width - len(r)) for r in rows])
        loss = model(input_ids=ids, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 50 == 0 or step == steps - 1:
            print(f"  training the answering model: step {step}, loss {loss.item():.3f}",
                  flush=True)
    model.eval().save_pretrained(directory)
    tokenizer.save_pretrained(directory)


def validation_documents(megabytes: float) -> list[str]:
    """Documents of 1-12 KB cut from the BIG-bench inputs, ``megabytes`` MB in all."""
    pieces = []
    for path in sorted(bigbench_dir().glob("**/task.json")):
        examples = json.loads(path.read_text()).get("examples", [])
        pieces.append("\n".join(str(e.get("input", "")) for e in examples))
    text = "\n\n".join(pieces)
    documents, position, number, goal = [], 0, 0, int(megabytes * 1_000_000)
    while sum(len(d) for d in documents) < goal:
        size = 1000 + (number * 7919) % 11000
        documents.append(text[position : position + size])
        position = (position + size) % max(1, len(text) - 12000)
        number += 1
    return documents


def export_lmeval_tasks(task_paths: list[str], limit: int, directory: Path) -> list[str]:
    """JSONL + YAML for lm-eval of tracker's rendered examples; the lm-eval task names."""
    import bench_tasks_vs_lmeval as reference

    from tracker.tasks import resolve_tasks

    return [reference.export_task(task, task.examples(limit), directory)
            for task in resolve_tasks(task_paths)]


def lmeval_validation_task(data: Path, directory: Path) -> str:
    from tests.helpers import LMEVAL_ROLLING_TASK

    (directory / "tracker_validation.yaml").write_text(LMEVAL_ROLLING_TASK.format(data=data))
    return "tracker_validation"


def prepare(args: argparse.Namespace, work: Path) -> tuple[Path, list[Suite]]:
    """The model directory (``work/family/<model>/step0``) and the suites' files."""
    family = work / "family"
    model_dir = family / args.model / "step0"
    task_dir = work / "lmeval_tasks"
    task_dir.mkdir(parents=True, exist_ok=True)
    gen_paths = generative_tasks()
    if not (model_dir / "config.json").is_file():
        if args.model == "answering":
            build_answering_model(model_dir, gen_paths, args.gen_limit, args.train_steps)
        else:
            build_random_model(model_dir, args.hidden, args.layers)
    tiny = work / "one_document.jsonl"
    tiny_text = "A short validation document."
    tiny.write_text(json.dumps({"text": tiny_text}) + "\n")
    suites = []
    for name in args.suites.split(","):
        if name == "mc":
            paths = [task_path(t) for t in MC_TASKS]
            suites.append(Suite("mc", ["--tasks", ",".join(paths), "--limit",
                                       str(args.mc_limit), "--validation", str(tiny)],
                                export_lmeval_tasks(paths, args.mc_limit, task_dir),
                                f"multiple choice, 4 BIG-bench tasks x {args.mc_limit}",
                                paths, [tiny_text], args.mc_limit))
        elif name == "gen":
            suites.append(Suite("gen", ["--tasks", ",".join(gen_paths), "--limit",
                                        str(args.gen_limit), "--validation", str(tiny)],
                                export_lmeval_tasks(gen_paths, args.gen_limit, task_dir),
                                f"greedy generation, 2 BIG-bench tasks x {args.gen_limit}",
                                gen_paths, [tiny_text], args.gen_limit))
        elif name == "validation":
            data = work / "validation.jsonl"
            documents = validation_documents(args.validation_mb)
            data.write_text("".join(json.dumps({"text": d}) + "\n" for d in documents))
            size = sum(len(d.encode()) for d in documents) / 1e6
            suites.append(Suite("validation", ["--tasks", "none", "--validation", str(data)],
                                [lmeval_validation_task(data, task_dir)],
                                f"validation loss, {len(documents)} documents, {size:.2f} MB",
                                [], documents, None))
        else:
            raise SystemExit(f"unknown suite '{name}': use mc, gen, validation")
    return model_dir, suites


THREADS: list[str] = []  # --threads, when given: OMP_NUM_THREADS for both sides


def environment(cache: Path | None) -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "PYTHONPATH": str(ROOT)}
    if THREADS:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = THREADS[0]
    if cache is not None:
        env["TRACKER_CACHE_DIR"] = str(cache)
    return env


def run_tracker(suite: Suite, model_dir: Path, work: Path, args: argparse.Namespace,
                number: int) -> Timed:
    run_dir = work / "runs" / f"{suite.name}-{number}"
    shutil.rmtree(run_dir, ignore_errors=True)  # a stored unit would be skipped, not timed
    cache = work / "tracker-cache" if args.warm_cache else work / f"tracker-cache-{number}"
    command = [TRACKER, "eval", "--family", str(model_dir.parent.parent), "--run", str(run_dir),
               "--batch-size", str(args.batch_size), "--device", "cpu", "--no-report",
               "--quiet", *suite.tracker_args]
    timed = run_timed(f"tracker {suite.name}", command, env=environment(cache)).check()
    if not args.warm_cache:
        shutil.rmtree(cache, ignore_errors=True)
    return timed


def run_lmeval(suite: Suite, model_dir: Path, work: Path, batch_size: int,
               number: int) -> Timed:
    out = work / "lmeval-out" / f"{suite.name}-{batch_size}-{number}"
    shutil.rmtree(out, ignore_errors=True)
    command = [PYTHON, "-m", "lm_eval", "run", "--model", "hf", "--model_args",
               f"pretrained={model_dir},dtype=float32", "--tasks", ",".join(suite.lmeval_tasks),
               "--include_path", str(work / "lmeval_tasks"), "--batch_size", str(batch_size),
               "--device", "cpu", "--output_path", str(out)]
    env = environment(None)
    env["HF_DATASETS_CACHE"] = str(work / "hf-datasets")
    return run_timed(f"lm-eval {suite.name} b{batch_size}", command, env=env).check()


def floor_inputs(suite: Suite, model_dir: Path, work: Path) -> Path:
    """The model inputs of tracker's run of ``suite``, saved for bench/bare_process.py."""
    import bare_process

    from tracker.tasks import resolve_tasks

    out = work / f"floor-{suite.name}.pt"
    described = bare_process.prepare(str(model_dir.parent.parent), list(resolve_tasks(
        suite.task_paths)), suite.documents, suite.limit, str(out))
    print(f"  floor inputs: {described}", flush=True)
    return out


def run_floor(suite: Suite, model_dir: Path, inputs: Path) -> Timed:
    command = [PYTHON, str(ROOT / "bench" / "bare_process.py"), str(model_dir), str(inputs)]
    return run_timed(f"floor {suite.name}", command, env=environment(None)).check()


def floor_phases(timed: Timed) -> str:
    """The floor process's own import / load / compute seconds."""
    phases = json.loads(timed.stdout.strip().splitlines()[-1])
    return (f"import {phases['import_s']:.1f} s, load {phases['load_s']:.1f} s, "
            f"compute {phases['compute_s']:.1f} s")


def tracker_scores(work: Path, suite: Suite, number: int) -> dict[str, float]:
    """task -> the agreement metric from the run's stored records (via the store API)."""
    from tracker.store.run_store import RunStore

    records = RunStore(work / "runs" / f"{suite.name}-{number}").scores()
    wanted = {"mc": "accuracy", "gen": "exact_match", "validation": "bits_per_byte"}[suite.name]
    frame = records[records["metric"] == wanted]
    return {str(row.task): float(row.score) for row in frame.itertuples()}


def lmeval_scores(work: Path, suite: Suite, batch_size: int, number: int) -> dict[str, float]:
    out = work / "lmeval-out" / f"{suite.name}-{batch_size}-{number}"
    results = {}
    for path in out.rglob("results_*.json"):
        results.update(json.loads(path.read_text())["results"])
    metric = {"mc": "acc,none", "gen": "exact_match,extract",
              "validation": "bits_per_byte,none"}[suite.name]
    return {name: float(values[metric]) for name, values in results.items() if metric in values}


def tracker_rates(timed: Timed) -> str:
    """The examples/s and tokens/s line `tracker eval` printed."""
    lines = [line for line in timed.stdout.splitlines() if line.startswith("computed ")]
    return lines[-1].split(" in ", 1)[-1] if lines else ""


def agreement(ours: dict[str, float], theirs: dict[str, float]) -> str:
    """Largest difference between matching aggregates (task names differ by a prefix)."""
    diffs = []
    for name, value in theirs.items():
        match = [v for k, v in ours.items()
                 if name.endswith("".join(c if c.isalnum() else "_" for c in k))
                 or (name == "tracker_validation" and k == "validation")]
        if match:
            diffs.append(abs(match[0] - value))
    if not diffs:
        return "no matching aggregates"
    return f"{len(diffs)} aggregates, max |diff| {max(diffs):.2e}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suites", default="mc,gen,validation")
    parser.add_argument("--model", choices=["random", "answering"], default="random")
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--train-steps", type=int, default=200,
                        help="training steps of the answering model")
    parser.add_argument("--mc-limit", type=int, default=75, help="questions per MC task")
    parser.add_argument("--gen-limit", type=int, default=100, help="examples per gen task")
    parser.add_argument("--validation-mb", type=float, default=1.0)
    parser.add_argument("--batch-size", default="auto",
                        help="tracker's --batch-size (a number or auto, the default)")
    parser.add_argument("--lmeval-batch-sizes", default="4,16,64")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warm-cache", action="store_true",
                        help="keep tracker's cache between runs (tokenization, weights digest)")
    parser.add_argument("--work", type=Path, help="keep files here (default: a temp dir)")
    parser.add_argument("--no-floor", action="store_true",
                        help="skip the floor process (bench/bare_process.py: imports, load "
                             "and the same model calls, nothing else)")
    parser.add_argument("--threads", type=int,
                        help="OMP_NUM_THREADS for both sides (default: torch's own choice, "
                             "one per core; on a machine shared with other work, 1 keeps "
                             "OpenMP from spinning on a descheduled thread)")
    args = parser.parse_args()
    if args.threads:
        THREADS.append(str(args.threads))
    work = args.work or Path(tempfile.mkdtemp(prefix="tracker-bench-eval-"))
    work.mkdir(parents=True, exist_ok=True)
    model_dir, suites = prepare(args, work)
    batch_sizes = [int(b) for b in args.lmeval_batch_sizes.split(",")]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"model '{args.model}' at {model_dir}; tracker --batch-size {args.batch_size}; "
          f"lm-eval batch sizes {batch_sizes}; cache {'warm' if args.warm_cache else 'cold'}; "
          f"threads {args.threads or 'default'}")
    table = []
    for suite in suites:
        print(f"\n== {suite.name}: {suite.description}", flush=True)
        warm = run_lmeval(suite, model_dir, work, batch_sizes[0], -1)
        print(f"  lm-eval warm-up (datasets cache) {run_line(warm)}", flush=True)
        inputs = None if args.no_floor else floor_inputs(suite, model_dir, work)
        ours: list[Timed] = []
        floor: list[Timed] = []
        theirs: dict[int, list[Timed]] = {b: [] for b in batch_sizes}
        for number in range(args.repeats):
            ours.append(run_tracker(suite, model_dir, work, args, number))
            print(f"  tracker          {run_line(ours[-1])}  {tracker_rates(ours[-1])}",
                  flush=True)
            if inputs is not None:
                floor.append(run_floor(suite, model_dir, inputs))
                print(f"  floor            {run_line(floor[-1])}  {floor_phases(floor[-1])}",
                      flush=True)
            for batch_size in batch_sizes:
                theirs[batch_size].append(run_lmeval(suite, model_dir, work, batch_size, number))
                print(f"  lm-eval b{batch_size:<6} {run_line(theirs[batch_size][-1])}",
                      flush=True)
        best = min(batch_sizes, key=lambda b: summarize(theirs[b]).median)
        check = agreement(tracker_scores(work, suite, 0), lmeval_scores(work, suite, best, 0))
        cpu = statistics.median(r.cpu_seconds for r in theirs[best]) / statistics.median(
            r.cpu_seconds for r in ours)
        table.append((suite, summarize(ours), best, summarize(theirs[best]), cpu, check,
                      summarize(floor).median if floor else float("nan")))
    print(f"\n{'suite':11} {'tracker s':>9} {'lm-eval s':>9} {'lm-eval b':>9} {'speed-up':>8}"
          f" {'cpu ratio':>9} {'floor s':>7} {'at floor':>8}  runs (tracker; lm-eval)"
          f"            agreement")
    for suite, mine, best, other, cpu, check, least in table:
        print(f"{suite.name:11} {mine.median:9.1f} {other.median:9.1f} {best:9d} "
              f"{other.median / mine.median:7.2f}x {cpu:8.2f}x {least:7.1f} "
              f"{other.median / least:7.2f}x  {mine.note():>16}; {other.note():16}  {check}")
    print("speed-up: ratio of median wall seconds (the target's measure); cpu ratio: of "
          "median CPU seconds (steadier when the machine is shared; with --threads 1 it is "
          "the work done); floor s: median of bench/bare_process.py (a process that imports "
          "torch and transformers, loads the model and makes tracker's model calls, nothing "
          "else); at floor: lm-eval's time over it, about the most any tool on torch and "
          "transformers could reach here with the same exact model work")
    print(f"model: {args.model}; load average now {os.getloadavg()}; work files in {work}")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
