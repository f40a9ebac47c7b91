"""The whole-process floor: a fresh process that does only the model work tracker does.

``python bench/bare_process.py MODEL_DIR INPUTS`` imports torch and transformers, loads the
model with ``AutoModelForCausalLM.from_pretrained`` and runs, on token inputs prepared in
advance by :func:`prepare` (tracker's own tokenization, packing and batching, saved with
``torch.save``), exactly the forward passes tracker makes and nothing else:

- ``loglikelihood`` (multiple choice, validation): per call the base model on the batch
  (with the packed rows' positions and tree mask where tracker uses them), then the output
  layer and a log-softmax on the read-out positions only, in chunks;
- ``generate``: per batch one prefill keeping the last position's logits, then one token
  per step with the KV cache, each row for as many steps as it ran in tracker (measured by
  :func:`prepare`), finished rows dropped as tracker drops them; no text is decoded.

No tokenizer, task, store or result is touched, so its wall time, measured from outside,
is close to the least any tool built on torch and transformers can take for the same exact
model work on this machine: import, load and compute. (Close: the output layer runs per
call here, and pooling read-outs across calls, as tracker does, can save a little more.)
bench_eval_vs_lmeval.py runs it beside tracker and lm-eval (``--no-floor`` skips it);
lm-eval's time over this one bounds, nearly, the ratio any such tool could reach.
The child prints one JSON line of its phases' seconds.
"""

from __future__ import annotations

import inspect
import json
import sys
import time
from pathlib import Path

STARTED = time.perf_counter()
HEAD_CHUNK = 4096  # output-layer rows per chunk, as tracker.lm.forward.HEAD_CHUNK


def _loglikelihood(model, call) -> None:  # noqa: ANN001 - the child imports torch late
    import torch

    base, head = model.base_model, model.get_output_embeddings()
    extra = {k: call[k] for k in ("position_ids", "attention_mask") if k in call}
    hidden = base(input_ids=call["input_ids"], use_cache=False, **extra).last_hidden_state
    picked = hidden[call["rows"], call["positions"]]
    for start in range(0, len(picked), HEAD_CHUNK):
        logits = head(picked[start : start + HEAD_CHUNK]).float()
        targets = call["targets"][start : start + HEAD_CHUNK, None]
        torch.log_softmax(logits, dim=-1).gather(1, targets)


def _generate(model, call) -> None:  # noqa: ANN001
    import torch

    # the cache argument's name: ``cache`` from transformers 5.2x on, ``past_key_values`` before
    name = "cache" if "cache" in inspect.signature(type(model).forward).parameters else (
        "past_key_values")
    mask, steps = call["attention_mask"], call["steps"]
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    output = model(input_ids=call["input_ids"], attention_mask=mask, position_ids=positions,
                   use_cache=True, logits_to_keep=1)
    cache, done = output[name], 1
    going = torch.arange(len(steps))
    while True:
        tokens = output.logits[:, -1, :].argmax(dim=-1)
        keep = (steps[going] > done).nonzero().flatten()
        if len(keep) == 0:
            return
        if len(keep) < len(going):
            cache.batch_select_indices(keep)
            mask, tokens, going = mask[keep], tokens[keep], going[keep]
        next_position = mask.sum(dim=1, keepdim=True)
        mask = torch.cat([mask, mask.new_ones((len(going), 1))], dim=1)
        output = model(input_ids=tokens[:, None], attention_mask=mask,
                       position_ids=next_position, use_cache=True, **{name: cache})
        done += 1


def main() -> int:
    import torch
    from transformers import AutoModelForCausalLM

    imported = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.float32).eval()
    loaded = time.perf_counter()
    calls = torch.load(sys.argv[2], weights_only=True)
    with torch.inference_mode():
        for call in calls:
            (_generate if "steps" in call else _loglikelihood)(model, call)
    finished = time.perf_counter()
    print(json.dumps({"import_s": imported - STARTED, "load_s": loaded - imported,
                      "compute_s": finished - loaded, "calls": len(calls)}))
    return 0


def prepare(family_dir: str, tasks: list, documents: list[str], limit: int | None,
            out: str) -> str:
    """Save the model inputs tracker's ``tracker eval`` of ``tasks`` (their first ``limit``
    examples) and of the validation ``documents`` runs, built by tracker's own code in
    this process, in its order: validation windows, then per task its generation batches
    and its log-likelihood calls. A one-line description back."""
    import torch

    from tracker.families.catalog import local_family
    from tracker.lm import rolling, scoring
    from tracker.lm.batching import validation_tokens
    from tracker.lm.loading import load_checkpoint

    lm = load_checkpoint(local_family(Path(family_dir)).checkpoints()[0])
    calls: list[dict] = []
    prefix = rolling.prefix_token_id(lm.tokenizer)
    windows = [w for number, text in enumerate(documents)
               for w in rolling.rolling_windows(scoring.encode(lm.tokenizer, text), prefix,
                                                lm.max_length, document=number)]
    for batch in rolling.window_batches(windows, validation_tokens(lm, None, lm.max_length)):
        chosen = [windows[i] for i in batch]
        rows, positions, targets = [], [], []
        for row, window in enumerate(chosen):
            n_in, n_out = len(window.inputs), len(window.targets)
            rows += [row] * n_out
            positions += range(n_in - n_out, n_in)
            targets += window.targets
        calls.append(_reads({"input_ids": rolling.batch_inputs(chosen)}, rows, positions,
                            targets))
    generated = 0
    for task in tasks:
        examples = task.examples(limit)
        if task.kind == "multiple_choice":
            requests = [scoring.LoglikelihoodRequest(e.context(), c)
                        for e in examples for c in e.continuations()]
        else:
            batches = _generation_calls(lm, [scoring.GenerationRequest(
                e.context(), e.stop, e.max_new_tokens) for e in examples])
            generated += sum(int(c["steps"].sum()) for c in batches)
            calls += batches
            requests = [scoring.LoglikelihoodRequest(e.context(), t)
                        for e in examples for t in e.targets]
        calls += _tree_calls(lm, requests)
    torch.save(calls, out)
    tokens = sum(c["input_ids"].numel() for c in calls)
    return (f"{len(calls)} calls, {tokens:,} input tokens with padding"
            + (f", {generated:,} generated tokens" if generated else ""))


def _tree_calls(lm, requests: list) -> list[dict]:  # noqa: ANN001
    """The packed rows, positions and tree masks of tracker's tree path, with the hidden
    states each reads out and their targets."""
    import torch

    from tracker.lm import prefix_tree, scoring
    from tracker.lm.forward import tree_attention

    if not tree_attention(lm.model):
        raise SystemExit(f"{lm.model.config.model_type}: the floor covers the tree path only")
    groups = scoring._group_by_context(lm, requests, [None] * len(requests))
    calls = []
    for batch in scoring.tree_batches(lm, groups, None):
        ids, positions, mask = prefix_tree.row_tensors(batch.rows, torch.float32, lm.device)
        rows, read, targets = [], [], []
        for _, slot, nodes, continuation in batch.reads:
            rows += [slot] * len(nodes)
            read += nodes
            targets += continuation
        calls.append(_reads({"input_ids": ids, "position_ids": positions,
                             "attention_mask": mask}, rows, read, targets))
    return calls


def _reads(call: dict, rows: list[int], positions: list[int], targets: list[int]) -> dict:
    import torch

    return {**call, "rows": torch.tensor(rows), "positions": torch.tensor(positions),
            "targets": torch.tensor(targets)}


def _generation_calls(lm, requests: list) -> list[dict]:  # noqa: ANN001
    """tracker's generation batches, with the steps each row ran: ``scoring.generate`` is
    run once here with its per-row stop check counted."""
    import torch

    from tracker.lm import scoring

    calls: list[dict] = []
    finished, generate_batch = scoring._finished, scoring._generate_batch
    steps: dict[int, int] = {}

    def counting_finished(tokenizer, request, generated, token):  # noqa: ANN001, ANN202
        steps[id(request)] = steps.get(id(request), 0) + 1
        return finished(tokenizer, request, generated, token)

    def recording_batch(lm_, batch, contexts):  # noqa: ANN001, ANN202
        texts = generate_batch(lm_, batch, contexts)
        width = max(len(ids) for ids in contexts)
        ids = torch.full((len(batch), width), scoring._pad_id(lm_.tokenizer), dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, context in enumerate(contexts):
            ids[row, width - len(context):] = torch.tensor(context)
            mask[row, width - len(context):] = 1
        calls.append({"input_ids": ids, "attention_mask": mask,
                      "steps": torch.tensor([steps[id(r)] for r in batch])})
        return texts

    scoring._finished, scoring._generate_batch = counting_finished, recording_batch
    try:
        scoring.generate(lm, requests)
    finally:
        scoring._finished, scoring._generate_batch = finished, generate_batch
    return calls


if __name__ == "__main__":
    sys.exit(main())
