"""Batch sizes when the user does not set one (``--batch-size auto``, the default).

A fixed number of rows is wrong at both ends: a few rows of short questions leave a CPU's
matrix units idle (docs/performance.md measures it), while 8 windows of 2048 tokens of a
12B model need gigabytes of activations. So the automatic sizes bound what a call
computes and holds:

- a log-likelihood call (multiple choice, scored targets): at most
  :data:`LOGLIKELIHOOD_TOKENS` padded context tokens and :data:`MAX_ROWS` continuations;
- generation: as many rows as the key/value cache of their contexts plus their token
  budget and the activations fit in :func:`memory_budget`, at most :data:`MAX_ROWS`;
- validation: :data:`VALIDATION_WINDOWS` windows of the context length (the earlier
  default), fewer where the memory bound says so.

Every size is also capped by the memory bound: rows x tokens x :func:`bytes_per_token`
within :func:`memory_budget` (a quarter of the free accelerator memory, else a quarter of
the available RAM, at most :data:`CPU_MEMORY_BYTES`). Batch sizes change no score beyond
float rounding, and are not part of a unit's key.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from tracker.lm.model_config import config_int

if TYPE_CHECKING:
    import torch

# padded context tokens per call; 1024, 2048 and 4096 measured in process on 2 cores, 2 runs
# each: within noise of each other (docs/performance.md), so the middle one
LOGLIKELIHOOD_TOKENS = 2048
MAX_ROWS = 256  # rows per call: 128 -> 200 rows gained a 70m model's generation only 4%
VALIDATION_WINDOWS = 8  # windows of the context length per validation call
CPU_MEMORY_BYTES = 2 << 30  # the most a CPU batch may hold (cache + activations)


def bytes_per_token(model: Any) -> int:
    """What one token of a batch holds during a forward: its key/value cache in every
    layer plus the widest activations (hidden state, attention and MLP projections), at
    the model's element size. An estimate from the config; 0 when the config says nothing."""
    config = getattr(model, "config", None)
    layers = config_int(config, "num_hidden_layers", "n_layer", "num_layers")
    hidden = config_int(config, "hidden_size", "n_embd", "d_model")
    if not layers or not hidden:
        return 0
    heads = config_int(config, "num_attention_heads", "n_head") or 1
    head_dim = config_int(config, "head_dim") or hidden // heads
    kv_heads = config_int(config, "num_key_value_heads") or heads
    intermediate = config_int(config, "intermediate_size", "n_inner", "ffn_dim") or 4 * hidden
    element = next((p.element_size() for p in model.parameters()), 4) \
        if hasattr(model, "parameters") else 4
    cache = 2 * layers * kv_heads * head_dim
    activations = 4 * hidden + 2 * intermediate
    return int((cache + activations) * element)


def memory_budget(device: torch.device) -> int:
    """Bytes a batch may hold: a quarter of the free memory of ``device`` (CUDA), else a
    quarter of the available RAM, at most :data:`CPU_MEMORY_BYTES`."""
    if device.type == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info(device)
        return int(free // 4)
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return CPU_MEMORY_BYTES
    return int(min(CPU_MEMORY_BYTES, available // 4))


def rows_within_memory(lm: Any, tokens_per_row: int) -> int:
    """How many rows of ``tokens_per_row`` tokens fit :func:`memory_budget` (at least 1,
    at most :data:`MAX_ROWS`)."""
    per_token = bytes_per_token(lm.model)
    if per_token <= 0:
        return MAX_ROWS
    fit = memory_budget(lm.device) // max(1, per_token * max(1, tokens_per_row))
    return int(max(1, min(MAX_ROWS, fit)))


def validation_tokens(lm: Any, batch_size: int | None, window: int) -> int:
    """Padded tokens per validation call: ``batch_size`` windows when set, else
    :data:`VALIDATION_WINDOWS` windows within the memory bound."""
    if batch_size is not None:
        return batch_size * window
    return min(VALIDATION_WINDOWS, rows_within_memory(lm, window)) * window


def parse_batch_size(text: str) -> int | None:
    """``--batch-size``: ``auto`` (None) or a positive number of sequences."""
    if text.strip().lower() == "auto":
        return None
    if text.strip().isdigit() and int(text) > 0:
        return int(text)
    raise argparse.ArgumentTypeError(f"expected 'auto' or a positive integer, not '{text}'")
