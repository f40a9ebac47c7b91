"""Rolling-window log-likelihood of whole documents (the x axis of every analysis).

Each document is scored on its own. Its tokens are cut into windows of at most
``max_length`` inputs so that every token is predicted exactly once; the first window is
fed the prefix token (BOS, else EOS) so that the first token is predicted too. This is
lm-eval's ``loglikelihood_rolling`` convention (``get_rolling_token_windows`` with
``context_len=1`` followed by ``make_disjoint_window``), reproduced here so that our bits
per byte equal lm-eval's; a later window's inputs are the ``max_length`` tokens before
its last prediction, so the final window of a document sees a full context.

Windows of all documents are sorted by length and batched with right padding, so a batch
wastes little compute; only positions that predict a target reach the output layer
(:mod:`tracker.lm.forward`); sums are accumulated in float64.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm.auto import tqdm

from tracker.lm.forward import token_nll
from tracker.lm.requests import prefix_token_id

if TYPE_CHECKING:
    from tracker.lm.requests import LoadedModel


@dataclass(frozen=True)
class Window:
    """``inputs`` are fed to the model; the last ``len(targets)`` positions predict
    ``targets``. ``document`` indexes the document the window belongs to."""

    document: int
    inputs: tuple[int, ...]
    targets: tuple[int, ...]


def rolling_windows(
    tokens: Sequence[int], prefix_token: int, max_length: int, document: int = 0
) -> Iterator[Window]:
    """Cut one document into disjoint-prediction windows (lm-eval, context_len=1).

    Example:
        >>> [(w.inputs, w.targets) for w in rolling_windows([5, 6, 7, 8, 9], 0, 3)]
        [((0, 5, 6), (5, 6, 7)), ((6, 7, 8), (8, 9))]
    """
    if max_length < 1:
        raise ValueError("max_length must be at least 1")
    tokens = list(tokens)
    if not tokens:
        return
    first = min(max_length, len(tokens))
    yield Window(document, tuple([prefix_token, *tokens[: first - 1]]), tuple(tokens[:first]))
    predicted = first
    while predicted < len(tokens):
        n_predict = min(len(tokens) - predicted, max_length)
        end = predicted + n_predict
        start = max(end - max_length - 1, 0)
        inputs = tokens[start : end - 1]
        yield Window(document, tuple(inputs), tuple(tokens[predicted:end]))
        predicted = end


def window_batches(windows: Sequence[Window], batch_tokens: int) -> list[list[int]]:
    """Window indices in batches: longest first, each batch at most ``batch_tokens`` padded
    tokens (at least one window). ``bench/bench_forward_limit.py`` times the bare model on
    exactly these batches."""
    order = sorted(range(len(windows)), key=lambda i: -len(windows[i].inputs))
    batches, position = [], 0
    while position < len(order):
        count = max(1, batch_tokens // len(windows[order[position]].inputs))
        batches.append(order[position : position + count])
        position += count
    return batches


def batch_inputs(batch: Sequence[Window]) -> torch.Tensor:
    """The windows' inputs right-padded (with id 0) to ``[len(batch), longest]``."""
    inputs = torch.zeros((len(batch), max(len(w.inputs) for w in batch)), dtype=torch.long)
    for row, window in enumerate(batch):
        inputs[row, : len(window.inputs)] = torch.tensor(window.inputs)
    return inputs


def document_nll(lm: LoadedModel, tokens: Sequence[Sequence[int]], *, max_length: int,
                 batch_size: int | None, progress: bool = False) -> np.ndarray:
    """Negative log-likelihood (nats, float64) of each whole document, every token predicted
    once in rolling windows of at most ``max_length`` inputs: the validation loss's and
    lm-eval's ``loglikelihood_rolling`` (:mod:`tracker.tasks.lmeval_rows`) one scorer."""
    from tracker.lm.batching import validation_tokens

    prefix = prefix_token_id(lm.tokenizer)
    windows = [window for index, ids in enumerate(tokens)
               for window in rolling_windows(ids, prefix, max_length, document=index)]
    window_nll = score_windows(lm.model, windows, device=lm.device,
                               batch_tokens=validation_tokens(lm, batch_size, max_length),
                               progress=progress)
    nll = np.zeros(len(tokens))
    np.add.at(nll, [w.document for w in windows], window_nll)
    return nll


@torch.inference_mode()
def score_windows(
    model: torch.nn.Module,
    windows: Sequence[Window],
    *,
    device: torch.device,
    batch_tokens: int,
    progress: bool = False,
) -> np.ndarray:
    """Negative log-likelihood (nats, float64) of each window's targets, in input order.

    Windows are sorted longest first and packed into batches of at most ``batch_tokens``
    padded tokens (:func:`window_batches`).
    """
    nll = np.zeros(len(windows), dtype=np.float64)
    bar = tqdm(total=len(windows), desc="validation", unit="win", disable=not progress,
               leave=False)
    for batch in window_batches(windows, batch_tokens):
        nll[batch] = _score_batch(model, [windows[i] for i in batch], device)
        bar.update(len(batch))
    bar.close()
    return nll


def _score_batch(model: torch.nn.Module, batch: list[Window], device: torch.device
                 ) -> np.ndarray:
    """NLL of each window's targets: only the positions that predict a target reach the
    output layer (:func:`tracker.lm.forward.token_nll`); per-token values summed in float64."""
    rows: list[int] = []
    positions: list[int] = []
    targets: list[int] = []
    for row, window in enumerate(batch):
        n_in, n_out = len(window.inputs), len(window.targets)
        rows.extend([row] * n_out)
        positions.extend(range(n_in - n_out, n_in))
        targets.extend(window.targets)
    per_token = token_nll(model, batch_inputs(batch).to(device), [len(w.inputs) for w in batch],
                          torch.tensor(rows, device=device),
                          torch.tensor(positions, device=device), torch.tensor(targets))
    sums = np.zeros(len(batch), dtype=np.float64)
    np.add.at(sums, np.asarray(rows), per_token.double().numpy())
    return sums
