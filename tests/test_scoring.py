"""Scoring against an unbatched, uncached reference forward on a tiny model."""

from __future__ import annotations

import pytest
import torch

from tests.helpers_tasks import encode, encode_pair, reference_logprob, tiny_lm
from tracker.lm import scoring
from tracker.lm.loading import LoadedModel

CONTEXTS = ["Q: Is the sky blue?\nA: ", "What is 80 plus 29?", "", "a", "The quick brown fox"]
CONTINUATIONS = [" True", "False", " 109 and more words here", "x"]



def test_encode_pair_moves_trailing_space_onto_continuation(lm):
    context_ids, continuation_ids = encode_pair(lm.tokenizer, "A: ", "True")
    assert context_ids == encode(lm.tokenizer, "A:")
    assert lm.tokenizer.decode(continuation_ids) == " True"


def test_empty_context_becomes_the_prefix_token(lm):
    context_ids, continuation_ids = encode_pair(lm.tokenizer, "", "True")
    assert context_ids == [lm.tokenizer.eos_token_id]
    assert continuation_ids == encode(lm.tokenizer, "True")


@pytest.mark.parametrize("batch_size", [1, 3, 16])
@pytest.mark.parametrize("share_context", [True, False])
def test_loglikelihood_matches_reference(lm, batch_size, share_context):
    requests = [scoring.LoglikelihoodRequest(c, x) for c in CONTEXTS for x in CONTINUATIONS]
    results = scoring.loglikelihood(lm, requests, batch_size=batch_size,
                                    share_context=share_context)
    for request, result in zip(requests, results, strict=True):
        context_ids, continuation_ids = encode_pair(lm.tokenizer, request.context,
                                                            request.continuation)
        assert result.logprob == pytest.approx(reference_logprob(lm, context_ids,
                                                                 continuation_ids), abs=1e-4)
        assert result.n_tokens == len(continuation_ids)


def test_shared_context_cache_works_for_llama_too():
    llama = tiny_lm(architecture="llama")
    requests = [scoring.LoglikelihoodRequest(c, x) for c in CONTEXTS for x in CONTINUATIONS]
    for request, result in zip(requests, scoring.loglikelihood(llama, requests, batch_size=8),
                               strict=True):
        pair = encode_pair(llama.tokenizer, request.context, request.continuation)
        assert result.logprob == pytest.approx(reference_logprob(llama, *pair), abs=1e-4)


def test_empty_continuation_scores_zero(lm):
    [result] = scoring.loglikelihood(lm, [scoring.LoglikelihoodRequest("abc", "")])
    assert result == scoring.LoglikelihoodResult(0.0, True, 0)


def test_is_greedy_for_the_argmax_continuation(lm):
    checked = 0
    for context in [c for c in CONTEXTS if c]:
        context_ids = encode(lm.tokenizer, context)
        with torch.no_grad():
            best = int(lm.model(input_ids=torch.tensor([context_ids])).logits[0, -1].argmax())
        continuation = lm.tokenizer.decode([best])
        if encode_pair(lm.tokenizer, context, continuation) != (context_ids, [best]):
            continue  # the text re-tokenizes differently; not a clean case
        [result] = scoring.loglikelihood(lm, [scoring.LoglikelihoodRequest(context,
                                                                           continuation)])
        assert result.is_greedy
        checked += 1
    assert checked >= 1


def test_long_inputs_are_truncated_from_the_left():
    short = tiny_lm(max_positions=16)
    context = "The quick brown fox jumps over the lazy dog. " * 3
    request = scoring.LoglikelihoodRequest(context, " Plausible or implausible?")
    [result] = scoring.loglikelihood(short, [request])
    context_ids, continuation_ids = encode_pair(short.tokenizer, context,
                                                        request.continuation)
    kept = (context_ids + continuation_ids)[-(short.max_length + 1):]
    expected = reference_logprob(short, kept[: len(kept) - len(continuation_ids)],
                                 continuation_ids)
    assert result.logprob == pytest.approx(expected, abs=1e-4)


def _greedy_reference(lm: LoadedModel, context: str, n_tokens: int) -> str:
    ids = encode(lm.tokenizer, context)
    new: list[int] = []
    with torch.no_grad():
        for _ in range(n_tokens):
            token = int(lm.model(input_ids=torch.tensor([ids + new])).logits[0, -1].argmax())
            if token == lm.tokenizer.eos_token_id:
                break
            new.append(token)
    return lm.tokenizer.decode(new, skip_special_tokens=True)


def test_batched_generation_matches_unbatched_greedy(lm):
    contexts = ["What is 80 plus 29?", "Q", "Question: Which gas do plants absorb?\nAnswer:"]
    requests = [scoring.GenerationRequest(c, ("\u2603",), 6) for c in contexts]
    for batch_size in (1, 3):
        texts = scoring.generate(lm, requests, batch_size=batch_size)
        assert texts == [_greedy_reference(lm, c, 6) for c in contexts]


def test_rows_that_finish_early_leave_the_batch_without_changing_the_others(lm):
    """Budgets of 1 to 7 tokens and a stop string met early: rows leave the batch at
    different steps (their cache rows dropped); every text still equals the row decoded
    on its own, cut where that row's stop or budget says."""
    contexts = ["What is 80 plus 29?", "Q", "Question: Which gas do plants absorb?\nAnswer:",
                "a", "The quick brown fox", "Is the sky blue?"]
    free = [_greedy_reference(lm, c, 7) for c in contexts]
    stops = [("\u2603",)] * len(contexts)
    stops[0] = (free[0][1:3],) if len(free[0]) > 2 else ("\u2603",)  # met after a token or two
    requests = [scoring.GenerationRequest(c, stop, 1 + i)
                for i, (c, stop) in enumerate(zip(contexts, stops, strict=True))]
    expected = [scoring.cut_at_stop(_greedy_reference(lm, r.context, r.max_new_tokens), r.stop)
                for r in requests]
    assert scoring.generate(lm, requests, batch_size=len(requests)) == expected
    assert len({len(text) for text in expected}) > 2  # rows really end at different steps


def test_generation_is_cut_at_the_first_stop_string(lm):
    [free] = scoring.generate(lm, [scoring.GenerationRequest("Q", ("\u2603",), 8)])
    assert len(free) > 2
    stop = free[1:3]
    [cut] = scoring.generate(lm, [scoring.GenerationRequest("Q", (stop,), 8)])
    assert cut == free.split(stop)[0]
    assert scoring.cut_at_stop("12\n34.", ["\n", "."]) == "12"


def test_is_greedy_is_false_when_a_token_is_not_the_argmax(lm):
    """The least likely next token is not greedy; nor is an argmax first token followed by
    a non-argmax second one."""
    checked = 0
    for context in [c for c in CONTEXTS if c]:
        context_ids = encode(lm.tokenizer, context)
        with torch.no_grad():
            logits = lm.model(input_ids=torch.tensor([context_ids])).logits[0, -1]
        best, worst = int(logits.argmax()), int(logits.argmin())
        with torch.no_grad():
            after = lm.model(input_ids=torch.tensor([context_ids + [best]])).logits[0, -1]
        second_worst = int(after.argmin())
        for tokens in ([worst], [best, second_worst]):
            continuation = lm.tokenizer.decode(tokens)
            if encode_pair(lm.tokenizer, context, continuation) != (context_ids,
                                                                           tokens):
                continue  # re-tokenizes differently: not a clean case
            [result] = scoring.loglikelihood(
                lm, [scoring.LoglikelihoodRequest(context, continuation)])
            assert not result.is_greedy
            checked += 1
    assert checked >= 2


CHARS = "AQTeru:? \nxabc"


@pytest.fixture(scope="module")
def char_lm():
    """One token per character, with ids written down here: pairs tokenized by hand."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from tests.helpers import tiny_gpt_neox

    vocab = {"<eos>": 0, "<unk>": 1, **{c: i + 2 for i, c in enumerate(CHARS)}}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<eos>",
                                   unk_token="<unk>")
    return LoadedModel.wrap(tiny_gpt_neox(len(vocab), seed=3), fast)


def _by_hand(text: str) -> list[int]:
    return [CHARS.index(c) + 2 for c in text]


@pytest.mark.parametrize(("context", "continuation", "context_ids", "continuation_ids"), [
    ("Q: ", "True", _by_hand("Q:"), _by_hand(" True")),  # trailing space moves over
    ("Q:\n ", "abc", _by_hand("Q:"), _by_hand("\n abc")),
    ("", "True", [0], _by_hand("True")),  # empty context: the EOS prefix token
    ("A?", " x", _by_hand("A?"), _by_hand(" x")),
])
def test_hand_tokenized_pairs(char_lm, context, continuation, context_ids, continuation_ids):
    assert encode_pair(char_lm.tokenizer, context, continuation) == (
        context_ids, continuation_ids)
    ids = torch.tensor([context_ids + continuation_ids])
    with torch.no_grad():
        log_probs = torch.log_softmax(char_lm.model(input_ids=ids).logits[0].double(), -1)
    start = len(context_ids)
    expected = sum(float(log_probs[start - 1 + i, token])
                   for i, token in enumerate(continuation_ids))
    [result] = scoring.loglikelihood(char_lm, [scoring.LoglikelihoodRequest(context,
                                                                            continuation)])
    assert result.logprob == pytest.approx(expected, abs=1e-5)
    assert result.n_tokens == len(continuation_ids)
