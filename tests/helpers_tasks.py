"""Shared fixtures for the task, scoring and metric tests: a tiny model built in-test.

The tokenizer is a byte-level BPE trained in well under a second on a few sentences (the
builders come from ``tests/helpers.py``), so the tests need no network and no files outside
the repository.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from tests.helpers import tiny_gpt_neox, tiny_llama, trained_tokenizer
from tracker.lm.requests import prefix_token_id

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

CORPUS = [
    "What is 80 plus 29? 109. What is 7 times 6? 42.",
    "Q: Is the sky blue?\nA: True\nQ: Is grass red?\nA: False",
    "The quick brown fox jumps over the lazy dog. Plausible or implausible?",
    "Question: Which gas do plants absorb?\nAnswer: carbon dioxide oxygen nitrogen",
] * 20


def tiny_tokenizer():
    """A byte-level BPE tokenizer (vocab 400) with <|endoftext|> as BOS and EOS (id 0)."""
    return trained_tokenizer(CORPUS, vocab_size=400)


def tiny_lm(seed: int = 0, max_positions: int = 256, architecture: str = "gpt_neox"):
    """A :class:`LoadedModel` around a tiny random model (GPT-NeoX or Llama) and tokenizer."""
    from tracker.lm.loading import LoadedModel

    tokenizer = tiny_tokenizer()
    build = tiny_gpt_neox if architecture == "gpt_neox" else tiny_llama
    model = build(len(tokenizer), seed=seed, max_positions=max_positions)
    return LoadedModel.wrap(model, tokenizer)


def reference_logprob(lm, context_ids: list[int], continuation_ids: list[int]) -> float:
    """Unbatched, uncached log-likelihood: one forward over context + continuation."""
    ids = torch.tensor([context_ids + continuation_ids])
    with torch.no_grad():
        log_probs = lm.model(input_ids=ids).logits.float().log_softmax(-1)[0]
    start = len(context_ids) - 1
    picked = [log_probs[start + i, token] for i, token in enumerate(continuation_ids)]
    return float(sum(picked))


def encode(tokenizer: Any, text: str) -> list[int]:
    """Token ids of ``text`` with no special tokens added."""
    return list(tokenizer.encode(text, add_special_tokens=False))


def encode_pair(tokenizer: Any, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """The reference split of (context, continuation) into token ids, written after lm-eval's
    HFLM one pair at a time (tracker's batched :func:`tracker.lm.token_cache.encode_pairs`
    must equal it pair for pair).

    Example: ``("Q: 2+2=", " 4")`` -> ids of ``"Q: 2+2="`` and the ids that follow them in
    the encoding of ``"Q: 2+2= 4"``.
    """
    if context == "":
        continuation_ids = encode(tokenizer, continuation)
        prefix = prefix_token_id(tokenizer)
        if continuation_ids and continuation_ids[0] == prefix:
            return continuation_ids[:1], continuation_ids[1:]
        return [prefix], continuation_ids
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
    whole = encode(tokenizer, context + continuation)
    context_ids = encode(tokenizer, context)
    return context_ids, whole[len(context_ids):]
