"""The fast path (base model, then the output layer only where needed) equals the model's
own logits: token NLLs on right-padded batches without a mask, the gathered head rows, and
the model types it refuses."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import tiny_gpt_neox, tiny_llama
from tracker.lm import forward


@pytest.fixture(params=["gpt_neox", "llama"])
def model(request):
    build = tiny_gpt_neox if request.param == "gpt_neox" else tiny_llama
    return build(101, seed=5, max_positions=64)


def reference_nll(model, rows):
    """One row at a time, no padding, full logits: the plain definition."""
    values = []
    for row in rows:
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([row[:-1]])).logits[0].double()
        log_probs = logits.log_softmax(-1)
        values.append([-float(log_probs[i, t]) for i, t in enumerate(row[1:])])
    return values


def test_token_nll_on_a_padded_batch_equals_rows_scored_alone(model, monkeypatch):
    rows = [[1, 5, 9, 13, 2, 7, 7, 30], [4, 8, 15], [16, 23, 42, 99, 3]]
    width = max(len(r) - 1 for r in rows)
    input_ids = torch.zeros((len(rows), width), dtype=torch.long)
    for number, row in enumerate(rows):
        input_ids[number, : len(row) - 1] = torch.tensor(row[:-1])
    index_rows = [n for n, row in enumerate(rows) for _ in row[1:]]
    positions = [i for row in rows for i in range(len(row) - 1)]
    targets = [t for row in rows for t in row[1:]]
    expected = [v for values in reference_nll(model, rows) for v in values]
    monkeypatch.setattr(forward, "HEAD_CHUNK", 4)  # several chunks
    for split in (True, False):
        if not split:
            monkeypatch.setattr(forward, "PLAIN_HEAD_MODEL_TYPES", frozenset())
        with torch.no_grad():
            nll = forward.token_nll(model, input_ids, [len(r) - 1 for r in rows],
                                    torch.tensor(index_rows), torch.tensor(positions),
                                    torch.tensor(targets))
        assert nll.tolist() == pytest.approx(expected, rel=1e-5, abs=1e-5), split


def test_head_rows_gathered_across_adds_equal_full_log_softmax(model, monkeypatch):
    monkeypatch.setattr(forward, "HEAD_CHUNK", 3)
    split = forward.split_model(model)
    assert split is not None
    hidden = torch.randn(7, model.config.hidden_size)
    targets = torch.tensor([0, 5, 100, 7, 7, 3, 50])
    pending = forward.HeadRows(split.head)
    pending.add(hidden[:2], targets[:2])
    pending.add(hidden[2:], targets[2:])
    assert pending.n_rows == 7
    with torch.no_grad():
        logprob, greedy = pending.take()
        log_probs = split.head(hidden).log_softmax(-1)
    assert pending.n_rows == 0
    assert logprob.tolist() == pytest.approx(log_probs[range(7), targets].tolist(), abs=1e-6)
    assert greedy.tolist() == (log_probs.argmax(-1) == targets).tolist()


def test_only_plain_head_model_types_are_split():
    assert forward.split_model(tiny_gpt_neox(50)) is not None

    class Scaled(torch.nn.Module):  # e.g. a model whose logits are scaled or soft-capped
        config = type("Config", (), {"model_type": "gemma2"})()

    assert forward.split_model(Scaled()) is None
    assert forward.split_model(torch.nn.Linear(2, 2)) is None
