"""Rolling windows: every token predicted exactly once, as lm-eval does, and the window
scores equal a brute-force token-by-token computation."""

import numpy as np
import pytest
import torch

from tests.helpers import tiny_gpt_neox
from tracker.lm.requests import prefix_token_id
from tracker.lm.rolling import rolling_windows, score_windows


@pytest.mark.parametrize("length", [1, 2, 5, 16, 17, 33, 100])
@pytest.mark.parametrize("max_length", [1, 4, 16])
def test_every_token_is_predicted_exactly_once(length, max_length):
    tokens = list(range(10, 10 + length))
    windows = list(rolling_windows(tokens, 0, max_length))
    predicted = [t for w in windows for t in w.targets]
    assert predicted == tokens
    for window in windows:
        assert 1 <= len(window.inputs) <= max_length
        assert len(window.targets) <= len(window.inputs)
        # the inputs end exactly one position before the last target
        sequence = [0, *tokens]
        end = sequence.index(window.targets[-1]) if window.targets[-1] in tokens else None
        assert tuple(sequence[end - len(window.inputs): end]) == window.inputs


def test_lm_eval_windows_match_their_reference_implementation():
    utils = pytest.importorskip("lm_eval.utils")
    tokens = list(range(1, 40))
    for max_length in (1, 3, 8, 39, 64):
        theirs = [utils.make_disjoint_window(w) for w in
                  utils.get_rolling_token_windows(tokens, 0, max_length, 1)]
        ours = list(rolling_windows(tokens, 0, max_length))
        assert len(theirs) == len(ours)
        for (context, continuation), window in zip(theirs, ours, strict=True):
            assert tuple(continuation) == window.targets
            assert tuple((context + continuation)[:-1][-max_length:]) == window.inputs


def test_empty_document_has_no_windows():
    assert list(rolling_windows([], 0, 8)) == []


def test_window_nll_equals_brute_force_sum():
    model = tiny_gpt_neox(97, max_positions=32)
    rng = np.random.default_rng(0)
    tokens = rng.integers(1, 97, size=45).tolist()
    windows = list(rolling_windows(tokens, 0, 8))
    batched = score_windows(model, windows, device=torch.device("cpu"), batch_tokens=24).sum()
    brute = 0.0
    for window in windows:  # one window at a time, one target at a time
        with torch.no_grad():
            logits = model(torch.tensor([window.inputs])).logits[0].double()
        log_probs = torch.log_softmax(logits, -1)
        offset = len(window.inputs) - len(window.targets)
        for i, target in enumerate(window.targets):
            brute -= float(log_probs[offset + i, target])
    assert batched == pytest.approx(brute, rel=1e-6)


def test_prefix_token_prefers_bos_then_eos():
    class Tok:
        bos_token_id = None
        eos_token_id = 7

    assert prefix_token_id(Tok()) == 7
    Tok.bos_token_id = 3
    assert prefix_token_id(Tok()) == 3
