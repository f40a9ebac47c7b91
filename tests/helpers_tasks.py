"""Shared fixtures for the task, scoring and metric tests: a tiny model built in-test.

The tokenizer is a byte-level BPE trained in well under a second on a few sentences (the
builders come from ``tests/helpers.py``), so the tests need no network and no files outside
the repository.
"""

from __future__ import annotations

import os

import torch

from tests.helpers import tiny_gpt_neox, tiny_llama, trained_tokenizer

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
