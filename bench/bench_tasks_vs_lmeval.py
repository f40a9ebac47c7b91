"""Our task scoring against lm-eval 0.4 on the same model directory and the same examples.

Builds a tiny random GPT-NeoX with the Pythia tokenizer (saved to a local directory), takes
the BIG-bench tasks bundled in tests/data (see its NOTICE), renders their examples with our code,
writes them as JSONL plus lm-eval custom task YAMLs (``doc_to_text: "{{prompt}}"``,
``target_delimiter: ""``), runs both sides offline and prints a table: the largest
absolute difference of any choice's log-likelihood, whether accuracy / accuracy_norm
(vs lm-eval's acc_bytes and acc_norm) / brier / exact_match agree, generations equal
string for string, and examples per second of each side, with the load average.

    .venv/bin/python bench/bench_tasks_vs_lmeval.py [--limit 50] [--hidden 64] [--layers 2]

``--speed-only`` skips the agreement table and prints only the model-call speed table
(ours and lm-eval's HFLM interleaved, fastest of ``--repeats`` each, with the load average).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers import bigbench_dir, pythia_tokenizer_file  # noqa: E402

BIGBENCH = bigbench_dir()
TOKENIZER_FILE = pythia_tokenizer_file()

# (our task name as resolved from a path, path under BIGBENCH)
DEFAULT_TASKS = ("navigate", "sports_understanding", "winowhy",
                 "arithmetic/2_digit_addition#multiple_choice", "arithmetic/2_digit_addition")


@dataclass(frozen=True)
class Comparison:
    """One task, both sides: the numbers the table and the slow test check."""

    task: str
    kind: str
    n_examples: int
    max_abs_ll_diff: float  # over every choice (MC) or target (generative) log-likelihood
    metrics_equal: dict  # our metric -> whether the per-example values agree
    max_brier_diff: float
    ours_seconds: float
    lmeval_seconds: float


def build_model_dir(directory: Path, *, hidden: int = 64, layers: int = 2, seed: int = 0) -> Path:
    """Save a seeded random GPT-NeoX and the Pythia tokenizer to ``directory``."""
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(TOKENIZER_FILE),
                                        bos_token="<|endoftext|>", eos_token="<|endoftext|>")
    torch.manual_seed(seed)
    config = GPTNeoXConfig(vocab_size=len(tokenizer), hidden_size=hidden,
                           num_hidden_layers=layers, num_attention_heads=4,
                           intermediate_size=4 * hidden, max_position_embeddings=2048,
                           bos_token_id=0, eos_token_id=0)
    GPTNeoXForCausalLM(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def export_task(task, examples, directory: Path) -> str:
    """Write ``examples`` as JSONL and an lm-eval task YAML; return the lm-eval task name."""
    name = "tracker_" + "".join(c if c.isalnum() else "_" for c in task.name)
    data = directory / f"{name}.jsonl"
    with data.open("w") as handle:
        for example in examples:
            handle.write(json.dumps(_record(task.kind, example)) + "\n")
    # lm-eval's brier_score aggregate needs one choice count for all questions (it builds
    # a 2-D array and fails otherwise), so it is asked for only then
    brier = task.kind == "multiple_choice" and len({len(e.choices) for e in examples}) == 1
    (directory / f"{name}.yaml").write_text(_yaml(name, data, task.kind, examples[0], brier))
    return name


def _record(kind: str, example) -> dict:
    if kind == "multiple_choice":
        return {"prompt": example.context(), "choices": list(example.continuations()),
                "answer": example.answer}
    return {"prompt": example.context(), "target": example.targets[0]}


def _yaml(name: str, data: Path, kind: str, example, brier: bool) -> str:
    head = (f"task: {name}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n"
            f"    test: {data}\ntest_split: test\ndoc_to_text: \"{{{{prompt}}}}\"\n")
    if kind == "multiple_choice":
        return head + ("output_type: multiple_choice\ndoc_to_choice: \"{{choices}}\"\n"
                       "doc_to_target: answer\ntarget_delimiter: \"\"\nmetric_list:\n"
                       "  - metric: acc\n  - metric: acc_norm\n  - metric: acc_bytes\n"
                       + ("  - metric: brier_score\n" if brier else ""))
    extract = ([{"function": "regex", "regex_pattern": example.output_regex},
                {"function": "take_first"}] if example.output_regex else
               [{"function": "remove_whitespace"}, {"function": "take_first"}])
    return head + ("output_type: generate_until\ndoc_to_target: target\n"
                   "target_delimiter: \"\"\ngeneration_kwargs:\n"
                   f"  until: {json.dumps(list(example.stop))}\n"
                   f"  max_gen_toks: {example.max_new_tokens}\n  do_sample: false\n"
                   f"filter_list:\n  - name: extract\n    filter: {json.dumps(extract)}\n"
                   "metric_list:\n  - metric: exact_match\n")


def lmeval_model(model_dir: Path, batch_size: int):
    from lm_eval.models.huggingface import HFLM

    return HFLM(pretrained=str(model_dir), dtype="float32", batch_size=batch_size, device="cpu")


def run_lmeval(lm, task_dir: Path, names: list[str]):
    """``lm_eval.simple_evaluate`` over the custom tasks; returns (samples by task, seconds)."""
    import lm_eval

    seconds = {}
    samples = {}
    for name in names:
        started = time.perf_counter()
        output = lm_eval.simple_evaluate(
            model=lm, tasks=[name], log_samples=True, verbosity="ERROR",
            task_manager=lm_eval.tasks.TaskManager(include_path=str(task_dir)))
        seconds[name] = time.perf_counter() - started
        samples[name] = sorted(output["samples"][name], key=lambda s: s["doc_id"])
    return samples, seconds


def compare_task(task, result, examples, lm_samples, ours_lls) -> tuple[float, dict, float]:
    """Largest log-likelihood difference and per-metric agreement for one task."""
    frame = result.examples
    if task.kind == "multiple_choice":
        theirs = [[float(resp[0]) for resp in s["filtered_resps"]] for s in lm_samples]
        diffs = [abs(a - b) for mine, other in zip(ours_lls, theirs, strict=True)
                 for a, b in zip(mine, other, strict=True)]
        agree = {
            "accuracy": _same(frame["accuracy"], [s["acc"] for s in lm_samples]),
            "accuracy_norm~acc_bytes": _same(frame["accuracy_norm"],
                                             [s["acc_bytes"] for s in lm_samples]),
            "accuracy_norm~acc_norm": _same(frame["accuracy_norm"],
                                            [s["acc_norm"] for s in lm_samples]),
        }
        if "brier_score" not in lm_samples[0]:  # not asked for: choice counts differ
            return max(diffs), agree, float("nan")
        brier = np.array([_lmeval_brier(s, len(e.choices)) for s, e in zip(lm_samples, examples,
                                                                           strict=True)])
        agree["brier"] = bool(np.max(np.abs(frame["brier"].to_numpy() - brier)) < 1e-6)
        return max(diffs), agree, float(np.max(np.abs(frame["brier"].to_numpy() - brier)))
    theirs_text = [s["resps"][0][0] for s in lm_samples]
    agree = {
        "exact_match": _same(frame["exact_match"], [s["exact_match"] for s in lm_samples]),
        "generation_strings": list(frame["generation"]) == theirs_text,
    }
    return float("nan"), agree, float("nan")


def _lmeval_brier(sample: dict, n_choices: int) -> float:
    gold, probs = sample["brier_score"]
    return float(np.sum((np.asarray(probs) - np.eye(n_choices)[gold]) ** 2))


def _same(ours, theirs) -> bool:
    return bool(np.array_equal(np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)))


def our_choice_lls(lm, task, examples, batch_size: int) -> list[list[float]]:
    from tracker.lm import scoring

    requests = [scoring.LoglikelihoodRequest(e.context(), c)
                for e in examples for c in e.continuations()]
    flat = iter(scoring.loglikelihood(lm, requests, batch_size=batch_size))
    return [[next(flat).logprob for _ in e.choices] for e in examples]


def generative_ll_diff(lm, reference, examples, batch_size: int) -> float:
    """Target log-likelihoods (our target_nll) against lm-eval's HFLM.loglikelihood."""
    from lm_eval.api.instance import Instance

    from tracker.lm import scoring

    pairs = [(e.context(), e.targets[0]) for e in examples]
    ours = scoring.loglikelihood(lm, [scoring.LoglikelihoodRequest(*p) for p in pairs],
                                 batch_size=batch_size)
    instances = [Instance("loglikelihood", {}, p, i) for i, p in enumerate(pairs)]
    theirs = reference.loglikelihood(instances, disable_tqdm=True)
    return max(abs(a.logprob - b[0]) for a, b in zip(ours, theirs, strict=True))


def compare(work: Path, task_paths: list[str], *, limit: int, batch_size: int = 16,
            hidden: int = 64, layers: int = 2) -> list[Comparison]:
    """Run both sides on every task; ``work`` receives the model, JSONL and YAML files."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tracker.evals.interface import EvalSettings
    from tracker.lm.loading import LoadedModel
    from tracker.tasks import resolve_tasks

    model_dir = build_model_dir(work / "model", hidden=hidden, layers=layers)
    lm = LoadedModel.wrap(AutoModelForCausalLM.from_pretrained(model_dir).eval(),
                          AutoTokenizer.from_pretrained(model_dir))
    tasks = resolve_tasks([str(BIGBENCH / p) for p in task_paths])
    task_dir = work / "lmeval_tasks"
    task_dir.mkdir(exist_ok=True)
    names = [export_task(t, t.examples(limit), task_dir) for t in tasks]
    reference = lmeval_model(model_dir, batch_size)
    lm_samples, lm_seconds = run_lmeval(reference, task_dir, names)
    comparisons = []
    for task, name in zip(tasks, names, strict=True):
        examples = task.examples(limit)
        started = time.perf_counter()
        result = task.evaluate(lm, EvalSettings(batch_size=batch_size, limit=limit,
                                                progress=False))
        ours_seconds = time.perf_counter() - started
        if task.kind == "multiple_choice":
            lls = our_choice_lls(lm, task, examples, batch_size)
            ll_diff, agree, brier_diff = compare_task(task, result, examples, lm_samples[name], lls)
        else:
            _, agree, brier_diff = compare_task(task, result, examples, lm_samples[name], None)
            ll_diff = generative_ll_diff(lm, reference, examples, batch_size)
        comparisons.append(Comparison(task.name, task.kind, len(examples), ll_diff, agree,
                                      brier_diff, ours_seconds, lm_seconds[name]))
    return comparisons


def shared_context_speedup(work: Path, task_path: str, limit: int, batch_size: int) -> tuple:
    """Seconds for our loglikelihood with and without the shared context cache."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tracker.lm import scoring
    from tracker.lm.loading import LoadedModel
    from tracker.tasks import resolve_tasks

    model_dir = work / "model"
    lm = LoadedModel.wrap(AutoModelForCausalLM.from_pretrained(model_dir).eval(),
                          AutoTokenizer.from_pretrained(model_dir))
    examples = resolve_tasks([str(BIGBENCH / task_path)])[0].examples(limit)
    requests = [scoring.LoglikelihoodRequest(e.context(), c)
                for e in examples for c in e.continuations()]
    timings = []
    for share in (True, False):
        started = time.perf_counter()
        scoring.loglikelihood(lm, requests, batch_size=batch_size, share_context=share)
        timings.append(time.perf_counter() - started)
    return tuple(timings)


def model_call_seconds(lm, reference, task, examples, batch_size: int,
                       repeats: int = 3) -> tuple[float, float]:
    """Seconds in the model boundary alone, ours vs lm-eval's HFLM methods: the fastest of
    ``repeats`` interleaved runs each, so a burst of load on a shared machine hits both."""
    from lm_eval.api.instance import Instance

    from tracker.lm import scoring

    if task.kind == "multiple_choice":
        pairs = [(e.context(), c) for e in examples for c in e.continuations()]
        requests = [scoring.LoglikelihoodRequest(*p) for p in pairs]
        instances = [Instance("loglikelihood", {}, p, i) for i, p in enumerate(pairs)]
        ours = lambda: scoring.loglikelihood(lm, requests, batch_size=batch_size)  # noqa: E731
        theirs = lambda: reference.loglikelihood(instances, disable_tqdm=True)  # noqa: E731
    else:
        requests = [scoring.GenerationRequest(e.context(), e.stop, e.max_new_tokens)
                    for e in examples]
        instances = [Instance("generate_until", {}, (r.context, {
            "until": list(r.stop), "max_gen_toks": r.max_new_tokens, "do_sample": False}), i)
            for i, r in enumerate(requests)]
        ours = lambda: scoring.generate(lm, requests, batch_size=batch_size)  # noqa: E731
        theirs = lambda: reference.generate_until(instances, disable_tqdm=True)  # noqa: E731
    timings: dict[str, list[float]] = {"ours": [], "theirs": []}
    for _ in range(repeats):
        for side, call in (("ours", ours), ("theirs", theirs)):
            started = time.perf_counter()
            call()
            timings[side].append(time.perf_counter() - started)
    return min(timings["ours"]), min(timings["theirs"])


def speed_table(work: Path, task_paths: list[str], limit: int, batch_size: int,
                repeats: int = 3) -> None:
    """Examples per second in the model boundary alone (no task setup on either side)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tracker.lm.loading import LoadedModel
    from tracker.tasks import resolve_tasks

    model_dir = work / "model"
    lm = LoadedModel.wrap(AutoModelForCausalLM.from_pretrained(model_dir).eval(),
                          AutoTokenizer.from_pretrained(model_dir))
    reference = lmeval_model(model_dir, batch_size)
    print(f"{'task (model calls only)':46} {'n':>4} {'ours ex/s':>9} {'lm-eval ex/s':>12} "
          f"{'speedup':>8}  load average")
    for task in resolve_tasks([str(BIGBENCH / p) for p in task_paths]):
        examples = task.examples(limit)
        ours, theirs = model_call_seconds(lm, reference, task, examples, batch_size, repeats)
        print(f"{task.name:46} {len(examples):4d} {len(examples) / ours:9.1f} "
              f"{len(examples) / theirs:12.1f} {theirs / ours:7.2f}x  {os.getloadavg()[0]:.2f}")


def print_table(comparisons: list[Comparison]) -> None:
    print(f"{'task':46} {'kind':15} {'n':>4} {'max|dll|':>9} {'brier':>8} "
          f"{'ours ex/s':>9} {'lm-eval ex/s':>12}  agreement")
    for c in comparisons:
        agree = ", ".join(f"{k}={'yes' if v else 'NO'}" for k, v in c.metrics_equal.items())
        print(f"{c.task:46} {c.kind:15} {c.n_examples:4d} {c.max_abs_ll_diff:9.2e} "
              f"{c.max_brier_diff:8.1e} {c.n_examples / c.ours_seconds:9.1f} "
              f"{c.n_examples / c.lmeval_seconds:12.1f}  {agree}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--tasks", default=",".join(DEFAULT_TASKS))
    parser.add_argument("--speed-only", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    with tempfile.TemporaryDirectory(prefix="tracker-bench-") as tmp:
        work = Path(tmp)
        if args.speed_only:
            build_model_dir(work / "model", hidden=args.hidden, layers=args.layers)
            print(f"load average before: {os.getloadavg()}")
            speed_table(work, args.tasks.split(","), args.limit, args.batch_size, args.repeats)
            print(f"load average after: {os.getloadavg()}")
            return 0
        comparisons = compare(work, args.tasks.split(","), limit=args.limit,
                              batch_size=args.batch_size, hidden=args.hidden, layers=args.layers)
        print(f"load average before the table: {os.getloadavg()}")
        print_table(comparisons)
        shared, unshared = shared_context_speedup(work, "arithmetic/2_digit_addition"
                                                  "#multiple_choice", args.limit, args.batch_size)
        print(f"shared-context cache, 7-choice arithmetic MC, {args.limit} questions: "
              f"{shared:.2f} s with, {unshared:.2f} s without ({unshared / shared:.2f}x)")
        speed_table(work, args.tasks.split(","), args.limit, args.batch_size)
        print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
