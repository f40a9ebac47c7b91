"""The bare limit: a loop of `model(input_ids)` over exactly the token batches tracker scores,
against tracker's own validation and multiple-choice scoring on the same batches.

Validation: the rolling windows of ``--validation-mb`` MB of text (bench_eval_vs_lmeval's
documents) cut and batched by ``tracker.lm.rolling`` (``window_batches``, ``--batch-size`` x
context tokens per batch); the bare loop calls ``model(input_ids=batch)`` on each batch and
nothing else (no loss, no mask: the model's own full logits), tracker calls
``tracker.lm.rolling.score_windows``. ``--legacy`` also times the previous scoring (masked
forward, full float32 logits, one cross-entropy over every position) for a before/after.

Multiple choice: the questions of the four BIG-bench tasks of bench_eval_vs_lmeval, packed
and batched by ``tracker.lm.scoring`` (``tree_batches``: shared prefixes stored once, a tree
attention mask); the bare loop calls ``model(input_ids, position_ids, attention_mask)`` on
the same packed rows (full logits at every position) and nothing else; tracker calls
``tracker.lm.scoring.loglikelihood`` (tokenization and packing included). A model outside
``tracker.lm.forward.TREE_ATTENTION_MODEL_TYPES`` is measured on the grouped path's two calls
per batch (the shared prefixes with a cache, then the choices' tails on it).

Each is timed ``--repeats`` times, interleaved, in this one process; the table shows the
median seconds, tokens/s and tracker's throughput as a percentage of the bare loop's, with
the load average (runs over 2.5 are marked contended).

    .venv/bin/python bench/bench_forward_limit.py [--validation-mb 0.25] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import bench_eval_vs_lmeval as whole  # noqa: E402
import torch  # noqa: E402

from tracker.families.catalog import local_family  # noqa: E402
from tracker.lm import batching, prefix_tree, rolling, scoring  # noqa: E402
from tracker.lm.forward import tree_attention  # noqa: E402
from tracker.lm.loading import LoadedModel, load_checkpoint  # noqa: E402


def validation_windows(lm: LoadedModel, megabytes: float) -> list[rolling.Window]:
    prefix = rolling.prefix_token_id(lm.tokenizer)
    documents = whole.validation_documents(megabytes)
    return [window for number, text in enumerate(documents)
            for window in rolling.rolling_windows(
                lm.tokenizer(text, add_special_tokens=False)["input_ids"], prefix,
                lm.max_length, document=number)]


def bare_validation(lm: LoadedModel, windows: list[rolling.Window], batch_tokens: int
                    ) -> Callable[[], None]:
    batches = [rolling.batch_inputs([windows[i] for i in batch]).to(lm.device)
               for batch in rolling.window_batches(windows, batch_tokens)]

    def run() -> None:
        with torch.inference_mode():
            for input_ids in batches:
                lm.model(input_ids=input_ids)
    return run


def legacy_validation(lm: LoadedModel, windows: list[rolling.Window], batch_tokens: int
                      ) -> Callable[[], None]:
    """The scoring before issue 12: attention mask, full logits, cross-entropy over all."""
    def run() -> None:
        with torch.inference_mode():
            for batch_ids in rolling.window_batches(windows, batch_tokens):
                batch = [windows[i] for i in batch_ids]
                inputs = rolling.batch_inputs(batch)
                mask = torch.zeros_like(inputs)
                targets = torch.full_like(inputs, -100)
                for row, window in enumerate(batch):
                    n_in, n_out = len(window.inputs), len(window.targets)
                    mask[row, :n_in] = 1
                    targets[row, n_in - n_out : n_in] = torch.tensor(window.targets)
                logits = lm.model(input_ids=inputs, attention_mask=mask).logits
                torch.nn.functional.cross_entropy(
                    logits.float().flatten(0, 1), targets.flatten(), ignore_index=-100,
                    reduction="none").view(len(batch), -1).double().sum(dim=1).tolist()
    return run


def mc_requests(limit: int) -> list[scoring.LoglikelihoodRequest]:
    from tracker.tasks import resolve_tasks

    tasks = resolve_tasks([whole.task_path(name) for name in whole.MC_TASKS])
    return [scoring.LoglikelihoodRequest(e.context(), c)
            for task in tasks for e in task.examples(limit) for c in e.continuations()]


def bare_mc(lm: LoadedModel, requests: list[scoring.LoglikelihoodRequest],
            batch_size: int | None) -> Callable[[], None]:
    """The model calls tracker.lm.scoring makes, prepared in advance: on the packed rows of
    the tree path (tracker.lm.prefix_tree) where the model takes it, else the grouped path's
    two calls per batch."""
    groups = scoring._group_by_context(lm, requests, [None] * len(requests))
    if tree_attention(lm.model):
        dtype = next(lm.model.parameters()).dtype
        inputs = [prefix_tree.row_tensors(batch.rows, dtype, lm.device)
                  for batch in scoring.tree_batches(lm, groups, batch_size)]

        def run_tree() -> None:
            with torch.inference_mode():
                for ids, positions, mask in inputs:
                    lm.model(input_ids=ids, position_ids=positions, attention_mask=mask)
        return run_tree
    calls = [scoring.batch_calls(lm, batch) for batch in scoring._batches(lm, groups, batch_size)]

    def run() -> None:
        with torch.inference_mode():
            for prefix, tail_call in calls:
                tail = dict(tail_call)
                owners, cache = tail.pop("owners"), None
                if prefix is not None:
                    cache = scoring._output_cache(scoring.run_model(
                        lm.model, **prefix, use_cache=True, logits_to_keep=1))
                    cache.batch_select_indices(owners)
                scoring.run_model(lm.model, **tail, cache=cache, use_cache=cache is not None)
    return run


def timed(call: Callable[[], None]) -> tuple[float, float]:
    load = os.getloadavg()[0]
    started = time.perf_counter()
    call()
    return time.perf_counter() - started, load


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path,
                        help="a local family directory (default: build the 70m-shaped one)")
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--validation-mb", type=float, default=0.25)
    parser.add_argument("--context", type=int, default=2048)
    parser.add_argument("--mc-limit", type=int, default=75)
    parser.add_argument("--batch-size", type=batching.parse_batch_size, default=None,
                        help="rows per call, or auto (the default: tracker's own sizes)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--legacy", action="store_true",
                        help="also time the scoring before issue 12 (masked, full logits)")
    parser.add_argument("--suites", default="validation,mc")
    args = parser.parse_args()
    family = args.model_dir or Path("/tmp/tracker-bench-forward/family")
    if args.model_dir is None and not (family / "random" / "step0" / "config.json").is_file():
        whole.build_random_model(family / "random" / "step0", args.hidden, args.layers)
    lm = load_checkpoint(local_family(family).checkpoints()[0], context_length=args.context)
    print(f"{os.cpu_count()} cores, torch threads {torch.get_num_threads()}, model "
          f"{lm.params / 1e6:.1f}M parameters, context {lm.max_length}, load average "
          f"{os.getloadavg()}")
    sides: dict[str, dict[str, Callable[[], None]]] = {}
    tokens: dict[str, int] = {}
    if "validation" in args.suites:
        windows = validation_windows(lm, args.validation_mb)
        batch_tokens = batching.validation_tokens(lm, args.batch_size, lm.max_length)
        tokens["validation"] = sum(len(w.targets) for w in windows)
        sides["validation"] = {
            "bare model(input_ids)": bare_validation(lm, windows, batch_tokens),
            "tracker score_windows": lambda: rolling.score_windows(
                lm.model, windows, device=lm.device, batch_tokens=batch_tokens)}
        if args.legacy:
            sides["validation"]["before (masked, full CE)"] = legacy_validation(
                lm, windows, batch_tokens)
    if "mc" in args.suites:
        requests = mc_requests(args.mc_limit)
        tokens["mc"] = len(requests)
        sides["mc"] = {
            "bare model calls": bare_mc(lm, requests, args.batch_size),
            "tracker loglikelihood": lambda: scoring.loglikelihood(
                lm, requests, batch_size=args.batch_size)}
    print(f"{'suite':11} {'side':28} {'median s':>9} {'per s':>10} {'of bare':>8}  runs (s @ load)")
    for suite, calls in sides.items():
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in calls}
        for _ in range(args.repeats):
            for name, call in calls.items():
                runs[name].append(timed(call))
        bare = statistics.median(s for s, _ in runs[next(iter(calls))])
        unit = "tok/s" if suite == "validation" else "req/s"
        for name, times in runs.items():
            median = statistics.median(s for s, _ in times)
            each = ", ".join(f"{s:.1f}@{load:.1f}" + ("!" if load > 2.5 else "")
                             for s, load in times)
            print(f"{suite:11} {name:28} {median:9.2f} {tokens[suite] / median:8,.0f} {unit[:3]}"
                  f" {100 * bare / median:7.1f}%  {each}", flush=True)
    print(f"('!' marks a contended run: load average over 2.5); load average now "
          f"{os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
