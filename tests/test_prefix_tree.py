"""Packed prefix trees: checked by brute force (each sequence read back from its row) and by
scoring through them on four architectures against an unbatched forward per request."""

import random

import pytest
import torch

from tests.helpers_tasks import encode_pair, reference_logprob, tiny_lm, tiny_tokenizer
from tracker.lm import prefix_tree, scoring
from tracker.lm.forward import tree_attention
from tracker.lm.loading import LoadedModel


def random_sequences(seed: int, n: int = 60) -> list[tuple[list[int], int]]:
    """Sequences over a 3-token vocabulary, so that many share prefixes of every length."""
    rng = random.Random(seed)
    sequences = []
    for _ in range(n):
        tokens = [rng.randrange(3) for _ in range(rng.randrange(1, 12))]
        sequences.append((tokens, rng.randrange(len(tokens))))
    return sequences


def path_to_root(row: prefix_tree.PackedRow, node: int) -> list[int]:
    tokens = []
    while node >= 0:
        tokens.append(row.tokens[node])
        node = row.parents[node]
    return tokens[::-1]


@pytest.mark.parametrize("capacity", [1, 8, 30, 10_000])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_sequence_reads_back_from_its_row(seed, capacity):
    sequences = random_sequences(seed)
    rows, placements = prefix_tree.pack(sequences, capacity)
    longest = max(len(tokens) for tokens, _ in sequences)
    assert len(placements) == len(sequences)
    for (tokens, first), placement in zip(sequences, placements, strict=True):
        row = rows[placement.row]
        assert len(placement.nodes) == len(tokens) - first
        for offset, node in enumerate(placement.nodes):
            assert path_to_root(row, node) == tokens[: first + offset + 1]
            assert row.depths[node] == first + offset
    for row in rows:
        assert len(row.tokens) <= max(capacity, longest)
        assert all(parent < node for node, parent in enumerate(row.parents))
        children = [(parent, token) for parent, token in zip(row.parents, row.tokens,
                                                             strict=True)]
        assert len(children) == len(set(children)), "a prefix stored twice in one row"


def test_one_wide_row_stores_each_distinct_prefix_once():
    sequences = random_sequences(3)
    rows, _ = prefix_tree.pack(sequences, 10_000)
    distinct = {tuple(tokens[:n]) for tokens, _ in sequences for n in range(1, len(tokens) + 1)}
    assert len(rows) == 1 and len(rows[0].tokens) == len(distinct)


def test_the_docstring_example():
    rows, placements = prefix_tree.pack([([5, 6, 7], 2), ([5, 6, 8], 1)], 10)
    assert rows == [prefix_tree.PackedRow((5, 6, 7, 8), (-1, 0, 1, 1), (0, 1, 2, 2))]
    assert placements == [prefix_tree.Placement(0, (2,)), prefix_tree.Placement(0, (1, 3))]


def test_the_mask_lets_a_token_see_exactly_its_ancestors():
    rows, _ = prefix_tree.pack(random_sequences(4), 25)
    ids, positions, mask = prefix_tree.row_tensors(rows, torch.float32, torch.device("cpu"))
    width = max(len(row.tokens) for row in rows)
    assert mask.shape == (len(rows), 1, width, width)
    for number, row in enumerate(rows):
        assert ids[number, : len(row.tokens)].tolist() == list(row.tokens)
        assert positions[number, : len(row.tokens)].tolist() == list(row.depths)
        for node in range(width):
            seen = {node}
            parent = row.parents[node] if node < len(row.tokens) else -1
            while parent >= 0:
                seen.add(parent)
                parent = row.parents[parent]
            allowed = (mask[number, 0, node] == 0).nonzero().flatten().tolist()
            assert allowed == sorted(seen)


def test_row_capacity_leaves_room_for_two_of_the_longest_within_bounds():
    assert prefix_tree.row_capacity(10) == prefix_tree.ROW_TOKENS
    assert prefix_tree.row_capacity(600) == 1200
    assert prefix_tree.row_capacity(1500) == prefix_tree.MAX_ROW_TOKENS
    assert prefix_tree.row_capacity(3000) == 3000


def tiny_olmo(version: int) -> LoadedModel:
    from transformers import Olmo2Config, Olmo2ForCausalLM, OlmoConfig, OlmoForCausalLM

    tokenizer = tiny_tokenizer()
    config_class, model_class = ((OlmoConfig, OlmoForCausalLM) if version == 1
                                 else (Olmo2Config, Olmo2ForCausalLM))
    torch.manual_seed(version)
    config = config_class(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                          num_attention_heads=4, intermediate_size=64,
                          max_position_embeddings=256, pad_token_id=0, bos_token_id=0,
                          eos_token_id=0)
    return LoadedModel.wrap(model_class(config).eval(), tokenizer)


ARCHITECTURES = {"gpt_neox": lambda: tiny_lm(), "llama": lambda: tiny_lm(architecture="llama"),
                 "olmo": lambda: tiny_olmo(1), "olmo2": lambda: tiny_olmo(2)}
STEM = "Answer the question about the list. "
QUESTIONS = ["Is 3 in 1 2 3?", "Is 3 in 1 2 4?", "Is 9 in 1 2 3 4 5?", "Which is first, 1 or 2?",
             "Which is first, 2 or 1?"]
ANSWERS = [" yes", " no", " maybe so", " 1", " 2"]


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
@pytest.mark.parametrize("batch_size", [None, 1, 3])
def test_scores_through_packed_trees_match_one_forward_per_request(architecture, batch_size,
                                                                   monkeypatch):
    lm = ARCHITECTURES[architecture]()
    assert tree_attention(lm.model)
    monkeypatch.setattr(prefix_tree, "ROW_TOKENS", 40)  # several rows, prefixes stored again
    monkeypatch.setattr(prefix_tree, "MAX_ROW_TOKENS", 40)
    packed = []
    pack = prefix_tree.pack
    monkeypatch.setattr(prefix_tree, "pack", lambda *a: packed.append(pack(*a)) or packed[-1])
    requests = [scoring.LoglikelihoodRequest(STEM + q + " Answer:", a)
                for q in QUESTIONS for a in ANSWERS]
    results = scoring.loglikelihood(lm, requests, batch_size=batch_size)
    [(rows, _)] = packed
    assert len(rows) > 1
    for request, result in zip(requests, results, strict=True):
        pair = encode_pair(lm.tokenizer, request.context, request.continuation)
        assert result.logprob == pytest.approx(reference_logprob(lm, *pair), abs=1e-4)
        assert result.n_tokens == len(pair[1])


def test_other_models_and_flash_attention_keep_the_grouped_path():
    from transformers import GPT2Config, GPT2LMHeadModel

    assert not tree_attention(GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=1, n_head=4)))
    lm = tiny_lm()
    lm.model.config._attn_implementation = "flash_attention_2"
    assert not tree_attention(lm.model)
