"""The model boundary for tasks: batched log-likelihoods and batched greedy generation.

Two calls over lists of typed requests, after lm-eval's ``lm_eval/api/model.py``:

- :func:`loglikelihood` -- summed log-probability (nats) of each ``continuation`` given its
  ``context``, and whether it is the greedy continuation.
- :func:`generate` -- greedy decoding until a stop string, end-of-text or a token budget.

Tokenization follows lm-eval's HFLM for causal models so the numbers agree with it: no
special tokens are added; a context's trailing whitespace moves onto the continuation;
context + continuation are encoded whole and split after the context's own tokens; an
empty context becomes the prefix token (BOS, else EOS); an input longer than
``max_length + 1`` tokens loses tokens from the left of the context.

Speed: on the models of :data:`~tracker.lm.forward.TREE_ATTENTION_MODEL_TYPES` every token
prefix that requests share (a question's context for its choices, a task's instruction or
few-shot examples across its questions) is computed once: the requests are packed into
rows of a token trie scored under a tree-shaped attention mask (:mod:`tracker.lm.prefix_tree`).
Other models group requests by context: the context runs once and its key/value cache is
reused by every continuation; groups are sorted by length so batches carry little
padding. Generation is batched with left padding and a KV cache; rows leave the batch as
soon as they finish (:func:`_generate_batch`).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from tracker.errors import TrackerError
from tracker.lm import batching, prefix_tree, token_cache
from tracker.lm.forward import HEAD_CHUNK, HeadRows, SplitModel, split_model, tree_attention
from tracker.lm.requests import (
    GenerationRequest,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    prefix_token_id,
)

if TYPE_CHECKING:
    from tracker.lm.requests import LoadedModel


@dataclass(frozen=True)
class _Group:
    """Requests sharing one (truncated) context: ``rows`` are (request index, continuation ids)."""

    context_ids: tuple[int, ...]
    rows: tuple[tuple[int, tuple[int, ...]], ...]


def loglikelihood(
    lm: LoadedModel, requests: Sequence[LoglikelihoodRequest], *,
    batch_size: int | None = None, share_context: bool = True,
) -> list[LoglikelihoodResult]:
    """Log-likelihood of each request's continuation, in request order.

    ``batch_size`` bounds the continuations scored per forward pass (all choices of one
    question always go together); None sizes batches by tokens and memory
    (:mod:`tracker.lm.batching`). An empty continuation scores 0.0 with 0 tokens.
    ``share_context=False`` scores every request on its own (for benchmarks only).
    """
    results: list[LoglikelihoodResult | None] = [None] * len(requests)
    groups = _group_by_context(lm, requests, results)
    if not share_context:
        groups = [_Group(g.context_ids, (row,)) for g in groups for row in g.rows]
    split = split_model(lm.model)
    with torch.inference_mode():
        if split is not None and share_context and tree_attention(lm.model) and groups:
            _score_tree(lm, split, groups, batch_size, results)
        elif split is not None:
            _score_split(lm, split, _batches(lm, groups, batch_size), results)
        else:
            for batch in _batches(lm, groups, batch_size):
                for index, result in _score_batch(lm, batch):
                    results[index] = result
    return [result for result in results if result is not None]


@dataclass(frozen=True)
class TreeBatch:
    """One forward pass of the tree path: packed ``rows`` and what is read from them, per
    request ``(request index, row slot, row-local nodes, continuation ids)``."""

    rows: list[prefix_tree.PackedRow]
    reads: list[tuple[int, int, tuple[int, ...], tuple[int, ...]]]


def tree_batches(lm: LoadedModel, groups: list[_Group], batch_size: int | None
                 ) -> list[TreeBatch]:
    """Every request's tokens (context + continuation but its last token) packed into rows
    that store each shared prefix once (:mod:`tracker.lm.prefix_tree`), the rows batched by
    :func:`_row_calls`."""
    owners = [(index, continuation) for group in groups for index, continuation in group.rows]
    sequences = [(group.context_ids + continuation[:-1], len(group.context_ids) - 1)
                 for group in groups for _, continuation in group.rows]
    longest = max(len(tokens) for tokens, _ in sequences)
    rows, placements = prefix_tree.pack(sequences, prefix_tree.row_capacity(longest))
    read_from: dict[int, list[int]] = {}  # row -> the requests read from it
    for number, placement in enumerate(placements):
        read_from.setdefault(placement.row, []).append(number)
    return [TreeBatch([rows[row] for row in call],
                      [(owners[number][0], slot, placements[number].nodes, owners[number][1])
                       for slot, row in enumerate(call) for number in read_from[row]])
            for call in _row_calls(lm, rows, batch_size, longest)]


def _score_tree(lm: LoadedModel, split: SplitModel, groups: list[_Group],
                batch_size: int | None, results: list) -> None:
    """The fastest path: the base model on each :func:`tree_batches` batch under its
    tree-shaped attention mask; the hidden states that predict continuation tokens go
    through the output layer in chunks (:class:`~tracker.lm.forward.HeadRows`)."""
    dtype = next(lm.model.parameters()).dtype
    pending = HeadRows(split.head)
    segments: list[tuple[int, int]] = []  # (request index, its tokens) in pending order
    for batch in tree_batches(lm, groups, batch_size):
        ids, positions, mask = prefix_tree.row_tensors(batch.rows, dtype, lm.device)
        hidden = split.base(input_ids=ids, position_ids=positions, attention_mask=mask,
                            use_cache=False).last_hidden_state
        _read_out(hidden, batch.reads, pending, segments, results)
    if pending.n_rows:
        _settle(pending, segments, results)


def _row_calls(lm: LoadedModel, rows: list[prefix_tree.PackedRow], batch_size: int | None,
               longest: int) -> list[list[int]]:
    """Packed rows (their numbers) per forward pass, widest first: at most ``batch_size``
    times the longest request's tokens when set (the volume of ``batch_size`` unpacked
    requests), else :data:`~tracker.lm.batching.LOGLIKELIHOOD_TOKENS` padded tokens within the
    memory bound; a row wider than the bound goes alone."""
    budget = batching.LOGLIKELIHOOD_TOKENS if batch_size is None else batch_size * longest
    calls: list[list[int]] = []
    row_cap = batching.MAX_ROWS
    for row in sorted(range(len(rows)), key=lambda r: len(rows[r].tokens), reverse=True):
        if calls:
            width = len(rows[calls[-1][0]].tokens)  # a call's first row is its widest
            if (len(calls[-1]) + 1) * width <= budget and len(calls[-1]) < row_cap:
                calls[-1].append(row)
                continue
        calls.append([row])
        if batch_size is None:
            row_cap = batching.rows_within_memory(lm, len(rows[row].tokens))
    return calls


def _score_split(lm: LoadedModel, split: SplitModel, batches: list[list[_Group]],
                 results: list) -> None:
    """The fast path (:mod:`tracker.lm.forward`): per batch the base model alone on the
    prefixes (no mask: right padding under causal attention) and on the tails; the tails'
    hidden states wait in :class:`~tracker.lm.forward.HeadRows` until enough have gathered
    for the output layer."""
    pending = HeadRows(split.head)
    segments: list[tuple[int, int]] = []  # (request index, its tokens) in pending order
    for batch in batches:
        prefix, tail = batch_calls(lm, batch)
        owners = tail.pop("owners")
        cache = None
        if prefix is not None:
            cache = _output_cache(run_model(split.base, input_ids=prefix["input_ids"],
                                            use_cache=True))
            cache.batch_select_indices(owners)
        hidden = run_model(split.base, **tail, cache=cache,
                           use_cache=cache is not None).last_hidden_state
        tails = (row for group in batch for row in group.rows)
        _read_out(hidden, [(index, row, range(len(continuation)), continuation)
                           for row, (index, continuation) in enumerate(tails)],
                  pending, segments, results)
    if pending.n_rows:
        _settle(pending, segments, results)


def _read_out(hidden: torch.Tensor, reads: Sequence[tuple[int, int, Sequence[int],
                                                        Sequence[int]]],
              pending: HeadRows, segments: list[tuple[int, int]], results: list) -> None:
    """Queue for the output layer the hidden states of each read ``(request index, row,
    positions, continuation ids)``, its continuation as their targets; score the queue
    once a chunk of :data:`~tracker.lm.forward.HEAD_CHUNK` rows has gathered."""
    rows: list[int] = []
    positions: list[int] = []
    targets: list[int] = []
    for index, row, read, continuation in reads:
        rows.extend([row] * len(read))
        positions.extend(read)
        targets.extend(continuation)
        segments.append((index, len(continuation)))
    pending.add(hidden[torch.tensor(rows), torch.tensor(positions)], torch.tensor(targets))
    if pending.n_rows >= HEAD_CHUNK:
        _settle(pending, segments, results)


def _settle(pending: HeadRows, segments: list[tuple[int, int]], results: list) -> None:
    """Score every pending row and write each finished request's result; empties both."""
    logprob, greedy = pending.take()
    start = 0
    for index, count in segments:
        results[index] = LoglikelihoodResult(float(logprob[start : start + count].sum()),
                                             bool(greedy[start : start + count].all()), count)
        start += count
    segments.clear()


def _group_by_context(
    lm: LoadedModel, requests: Sequence[LoglikelihoodRequest], results: list
) -> list[_Group]:
    """Encode (through the token cache), left-truncate to ``max_length + 1`` tokens, and
    group by context ids."""
    grouped: dict[tuple[int, ...], list[tuple[int, tuple[int, ...]]]] = {}
    encoded = token_cache.encode_pairs(lm.tokenizer, [(r.context, r.continuation)
                                                      for r in requests],
                                       prefix_token_id(lm.tokenizer))
    for index, (context_ids, continuation_ids) in enumerate(encoded):
        if not continuation_ids:
            results[index] = LoglikelihoodResult(0.0, True, 0)
            continue
        if len(continuation_ids) > lm.max_length:
            raise TrackerError(f"continuation of {len(continuation_ids)} tokens is longer than the "
                             f"model's {lm.max_length}-token context")
        keep = lm.max_length + 1 - len(continuation_ids)
        context_key = tuple(context_ids[-keep:])
        grouped.setdefault(context_key, []).append((index, tuple(continuation_ids)))
    return [_Group(context, tuple(rows)) for context, rows in grouped.items()]


def _batches(lm: LoadedModel, groups: list[_Group], batch_size: int | None
             ) -> list[list[_Group]]:
    """Longest contexts first; groups with a one-token context (no cache) batch apart.

    A batch holds at most ``batch_size`` continuations; with None, at most
    :data:`~tracker.lm.batching.LOGLIKELIHOOD_TOKENS` padded tokens (contexts and
    continuations) and as many continuations as the memory bound allows."""
    ordered = sorted(groups, key=lambda g: (len(g.context_ids) > 1, len(g.context_ids)),
                     reverse=True)
    longest_tail = max((len(c) for g in groups for _, c in g.rows), default=1)
    batches: list[list[_Group]] = []
    rows = 0
    row_cap = max(batch_size or 1, 1)  # with None, set by the memory bound at each new batch
    for group in ordered:
        cached = len(group.context_ids) > 1
        fits = (bool(batches) and (len(batches[-1][0].context_ids) > 1) == cached
                and rows + len(group.rows) <= row_cap)
        if fits and batch_size is None:
            width = len(batches[-1][0].context_ids)  # the batch's first group is its longest
            padded = (len(batches[-1]) + 1) * width + (rows + len(group.rows)) * longest_tail
            fits = padded <= batching.LOGLIKELIHOOD_TOKENS
        if fits:
            batches[-1].append(group)
            rows += len(group.rows)
        else:
            batches.append([group])
            rows = len(group.rows)
            if batch_size is None:
                row_cap = batching.rows_within_memory(lm, len(group.context_ids) + longest_tail)
    return batches


def _score_batch(lm: LoadedModel, batch: list[_Group]) -> list[tuple[int, LoglikelihoodResult]]:
    """One pass over the shared prefixes (context minus its last token), one over the tails.

    A tail row is ``[last context token] + continuation[:-1]``; its logits predict the
    continuation. Rows reuse their group's prefix cache through ``batch_select_indices``.
    """
    prefix, tail = batch_calls(lm, batch)
    owners = tail.pop("owners")
    cache = None
    if prefix is not None:
        cache = _output_cache(run_model(lm.model, **prefix, use_cache=True, logits_to_keep=1))
        cache.batch_select_indices(owners)
    logits = run_model(lm.model, **tail, cache=cache, use_cache=cache is not None).logits
    targets = [list(continuation) for group in batch for _, continuation in group.rows]
    indices = [index for group in batch for index, _ in group.rows]
    return list(zip(indices, _continuation_scores(logits, targets), strict=True))


def batch_calls(lm: LoadedModel, batch: list[_Group]) -> tuple[dict | None, dict]:
    """The keyword arguments of a batch's two model calls: the prefixes' (None when every
    context is one token) and the tails' (with ``owners``: each tail row's prefix row, for
    ``batch_select_indices``)."""
    prefixes = [list(group.context_ids[:-1]) for group in batch]
    tails = [[group.context_ids[-1], *continuation[:-1]]
             for group in batch for _, continuation in group.rows]
    owners = torch.tensor([number for number, group in enumerate(batch) for _ in group.rows],
                          device=lm.device)
    tail_ids, tail_mask = _pad_right(tails, lm.device)
    if not any(prefixes):
        return None, {"input_ids": tail_ids, "attention_mask": tail_mask, "owners": owners}
    prefix_ids, prefix_mask = _pad_right(prefixes, lm.device)
    prefix_rows = prefix_mask[owners]
    offsets = prefix_rows.sum(dim=1, keepdim=True)
    return ({"input_ids": prefix_ids, "attention_mask": prefix_mask},
            {"input_ids": tail_ids, "attention_mask": torch.cat([prefix_rows, tail_mask], 1),
             "position_ids": offsets + torch.arange(tail_ids.shape[1], device=lm.device),
             "owners": owners})


def run_model(model: Any, *, cache: Any = None, **arguments: Any) -> Any:
    """``model(**arguments)`` with ``cache`` passed under the name this transformers
    version takes (``cache`` from 5.2x on, ``past_key_values`` before)."""
    if cache is not None:
        arguments[_cache_argument(type(model))] = cache
    return model(**arguments)


def _cache_argument(model_class: Any) -> str:
    """``cache`` or ``past_key_values``: what ``model_class.forward`` takes (a signature
    lookup, microseconds against a forward pass's milliseconds)."""
    parameters = inspect.signature(model_class.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def _output_cache(output: Any) -> Any:
    """The key/value cache a forward returned (``cache``, or ``past_key_values`` before)."""
    cache = output.get("cache") if hasattr(output, "get") else None
    return cache if cache is not None else output.past_key_values


def _pad_right(rows: list[list[int]], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, mask) of shape [len(rows), longest row]; padding id 0 is masked out."""
    width = max(len(row) for row in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for number, row in enumerate(rows):
        ids[number, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[number, : len(row)] = 1
    return ids.to(device), mask.to(device)


def _continuation_scores(
    logits: torch.Tensor, targets: list[list[int]]
) -> list[LoglikelihoodResult]:
    """Sum log-softmax (float32) at each row's target ids; greedy when all are argmax."""
    log_probs = logits.float().log_softmax(dim=-1)
    scores = []
    for row, target in enumerate(targets):
        target_ids = torch.tensor(target, device=logits.device)
        row_log_probs = log_probs[row, : len(target)]
        picked = row_log_probs.gather(1, target_ids[:, None]).squeeze(1)
        greedy = bool((row_log_probs.argmax(dim=-1) == target_ids).all())
        scores.append(LoglikelihoodResult(float(picked.sum()), greedy, len(target)))
    return scores


def generate(
    lm: LoadedModel, requests: Sequence[GenerationRequest], *, batch_size: int | None = None
) -> list[str]:
    """Greedy continuations, in request order, each cut before its first stop string.

    As lm-eval's ``generate_until``: the context is encoded whole (no special tokens),
    left-truncated to leave room for ``max_new_tokens``, decoding stops at end-of-text,
    special tokens are dropped from the text, and the text is cut at the earliest
    occurrence of any stop string. ``batch_size`` rows decode together; None: as many as
    the memory bound allows (:mod:`tracker.lm.batching`).
    """
    contexts = [_generation_context(lm, request, ids) for request, ids in zip(
        requests, token_cache.encode_texts(lm.tokenizer, [r.context for r in requests]),
        strict=True)]
    order = sorted(range(len(requests)),
                   key=lambda i: (requests[i].max_new_tokens, -len(contexts[i])))
    texts: list[str] = [""] * len(requests)
    with torch.inference_mode():
        start = 0
        while start < len(order):
            rows = batch_size or batching.rows_within_memory(lm, max(
                len(contexts[i]) + requests[i].max_new_tokens
                for i in order[start : start + batching.MAX_ROWS]))
            chunk = order[start : start + max(rows, 1)]
            done = _generate_batch(lm, [requests[i] for i in chunk], [contexts[i] for i in chunk])
            for index, text in zip(chunk, done, strict=True):
                texts[index] = text
            start += len(chunk)
    return texts


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` before the earliest occurrence of any non-empty stop string."""
    for term in stop:
        if term:
            text = text.split(term)[0]
    return text


def _generate_batch(lm: LoadedModel, batch: list[GenerationRequest],
                    contexts: list[list[int]]) -> list[str]:
    """Greedy decoding of one left-padded batch with a KV cache, written here rather than
    through ``model.generate`` so that finished rows leave the batch: a row ends at its
    own stop string, end-of-text or token budget, and the next step runs only the rows
    still going (their cache rows kept by ``batch_select_indices``). Positions follow
    ``generate``'s (cumulative attention mask), so the tokens are the same."""
    tokenizer = lm.tokenizer
    width = max(len(ids) for ids in contexts)
    ids = torch.full((len(batch), width), _pad_id(tokenizer), dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, context in enumerate(contexts):
        ids[row, width - len(context):] = torch.tensor(context, dtype=torch.long)
        mask[row, width - len(context):] = 1
    mask = mask.to(lm.device)
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    output = run_model(lm.model, input_ids=ids.to(lm.device), attention_mask=mask,
                       position_ids=positions, use_cache=True, logits_to_keep=1)
    cache = _output_cache(output)
    new_ids: list[list[int]] = [[] for _ in batch]
    rows = list(range(len(batch)))  # batch row -> request position, for rows still going
    while True:
        tokens = output.logits[:, -1, :].argmax(dim=-1)
        going = [i for i, token in enumerate(tokens.tolist())
                 if not _finished(tokenizer, batch[rows[i]], new_ids[rows[i]], token)]
        if not going:
            break
        if len(going) < len(rows):
            keep = torch.tensor(going, device=lm.device)
            cache.batch_select_indices(keep)
            mask, tokens = mask[keep], tokens[keep]
            rows = [rows[i] for i in going]
        next_position = mask.sum(dim=1, keepdim=True)
        mask = torch.cat([mask, mask.new_ones((len(rows), 1))], dim=1)
        output = run_model(lm.model, input_ids=tokens[:, None], attention_mask=mask,
                           position_ids=next_position, cache=cache, use_cache=True)
    return [cut_at_stop(tokenizer.decode(generated, skip_special_tokens=True), request.stop)
            for generated, request in zip(new_ids, batch, strict=True)]


def _finished(tokenizer: Any, request: GenerationRequest, generated: list[int],
              token: int) -> bool:
    """Take ``token`` into ``generated`` (unless it is end-of-text) and say whether the row
    is done: end-of-text, its token budget used, or a stop string in its decoded text."""
    if token == tokenizer.eos_token_id:
        return True
    generated.append(token)
    if len(generated) >= request.max_new_tokens:
        return True
    text = tokenizer.decode(generated, skip_special_tokens=True)
    return any(term and term in text for term in request.stop)


def _generation_context(lm: LoadedModel, request: GenerationRequest,
                        context_ids: list[int]) -> list[int]:
    """The context's ids (the prefix token for an empty one), left-truncated to leave room
    for the request's token budget."""
    room = lm.max_length - request.max_new_tokens
    if room <= 0:
        raise TrackerError(f"max_new_tokens={request.max_new_tokens} leaves no room for a context "
                         f"in the model's {lm.max_length} tokens")
    return (context_ids or [prefix_token_id(lm.tokenizer)])[-room:]


def _pad_id(tokenizer: Any) -> int:
    for token_id in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if token_id is not None:
            return int(token_id)
    return 0
