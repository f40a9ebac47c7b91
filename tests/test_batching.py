"""Automatic batch sizes (``--batch-size auto``): bounded by tokens and memory, same scores."""

from __future__ import annotations

import argparse

import pytest

from tests.helpers_tasks import encode, encode_pair, reference_logprob
from tracker.lm import batching, scoring
from tracker.lm.batching import parse_batch_size

CONTEXTS = ["Q: Is the sky blue?\nA: ", "What is 80 plus 29?", "", "a",
            "The quick brown fox jumps over the lazy dog " * 4]
CONTINUATIONS = [" True", "False", " 109 and more words here", "x"]



def test_bytes_per_token_of_gpt_neox_is_its_cache_and_widest_activations(lm):
    config = lm.model.config
    head_dim = config.hidden_size // config.num_attention_heads
    cache = 2 * config.num_hidden_layers * config.num_attention_heads * head_dim
    activations = 4 * config.hidden_size + 2 * config.intermediate_size
    assert batching.bytes_per_token(lm.model) == 4 * (cache + activations)  # float32


def test_rows_within_memory_follows_the_budget(lm, monkeypatch):
    per_token = batching.bytes_per_token(lm.model)
    monkeypatch.setattr(batching, "memory_budget", lambda device: per_token * 100 * 7)
    assert batching.rows_within_memory(lm, 100) == 7
    assert batching.rows_within_memory(lm, 10_000) == 1  # never 0
    monkeypatch.setattr(batching, "memory_budget", lambda device: 1 << 60)
    assert batching.rows_within_memory(lm, 100) == batching.MAX_ROWS


def test_memory_budget_is_a_quarter_of_available_ram_at_most_the_cap():
    import torch

    budget = batching.memory_budget(torch.device("cpu"))
    assert 0 < budget <= batching.CPU_MEMORY_BYTES


def test_automatic_batches_keep_questions_whole_and_within_the_token_bound(lm, monkeypatch):
    monkeypatch.setattr(batching, "LOGLIKELIHOOD_TOKENS", 64)
    requests = [scoring.LoglikelihoodRequest(f"{c} {n}", x)
                for n in range(6) for c in CONTEXTS for x in CONTINUATIONS]
    groups = scoring._group_by_context(lm, requests, [None] * len(requests))
    batches = scoring._batches(lm, groups, None)
    assert sorted(index for b in batches for g in b for index, _ in g.rows) == list(
        range(len(requests)))
    longest_tail = max(len(c) for g in groups for _, c in g.rows)
    assert len(batches) > 1
    for batch in batches:
        rows = sum(len(g.rows) for g in batch)
        padded = len(batch) * max(len(g.context_ids) for g in batch) + rows * longest_tail
        assert len(batch) == 1 or padded <= 64


def test_automatic_batches_match_the_reference(lm, monkeypatch):
    monkeypatch.setattr(batching, "LOGLIKELIHOOD_TOKENS", 48)
    requests = [scoring.LoglikelihoodRequest(c, x) for c in CONTEXTS for x in CONTINUATIONS]
    for request, result in zip(requests, scoring.loglikelihood(lm, requests), strict=True):
        pair = encode_pair(lm.tokenizer, request.context, request.continuation)
        assert result.logprob == pytest.approx(reference_logprob(lm, *pair), abs=1e-4)


def test_automatic_generation_rows_follow_memory_and_give_the_same_texts(lm, monkeypatch):
    requests = [scoring.GenerationRequest(c or "Q", ("\u2603",), 5) for c in CONTEXTS]
    fixed = scoring.generate(lm, requests, batch_size=1)
    batches: list[tuple[int, int]] = []  # (rows, longest context) of each batch
    original = scoring._generate_batch

    def spy(lm_, batch, contexts):
        batches.append((len(batch), max(len(ids) for ids in contexts)))
        return original(lm_, batch, contexts)

    monkeypatch.setattr(scoring, "_generate_batch", spy)
    per_token = batching.bytes_per_token(lm.model)
    longest = max(len(encode(lm.tokenizer, r.context)) for r in requests) + 5
    budget = per_token * longest * 2  # two rows of the longest context fit, not three
    monkeypatch.setattr(batching, "memory_budget", lambda device: budget)
    assert scoring.generate(lm, requests) == fixed
    assert sum(rows for rows, _ in batches) == len(requests) and len(batches) > 1
    assert batches[0] == (2, longest - 5)
    for rows, width in batches:
        assert rows * (width + 5) * per_token <= budget


@pytest.mark.parametrize("text, expected", [("auto", None), ("AUTO", None), ("16", 16)])
def test_batch_size_argument(text, expected):
    assert parse_batch_size(text) == expected


@pytest.mark.parametrize("text", ["0", "-4", "big", "1.5"])
def test_batch_size_argument_refuses_anything_else(text):
    with pytest.raises(argparse.ArgumentTypeError, match="'auto' or a positive integer"):
        parse_batch_size(text)
