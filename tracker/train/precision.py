"""The ladder's training precision: ``training.precision: auto`` resolved on this machine.

``bf16`` (autocast, float32 master weights) or ``fp32``. ``auto`` (the default) asks
:func:`tracker.lm.dtype.choose_dtype` at the ladder's own shapes (a step's tokens x each
size's hidden and MLP widths) and thread count, so bf16 autocast trains only where this CPU
measures bf16 matmuls faster (on a CPU without bf16 instructions it trained 2.4-2.8x
slower). ``training.deterministic`` always trains in fp32. The resolved precision is
recorded in every checkpoint's ``tracker_checkpoint.json``.

Example:
    >>> ladder = load_ladder_config("configs/ladder.yaml")  # doctest: +SKIP
    >>> config, why = resolved_precision(ladder)  # doctest: +SKIP
    >>> config.training.precision  # doctest: +SKIP
    'bf16'
"""

from __future__ import annotations

import torch

from tracker.lm.dtype import choose_dtype, model_shapes
from tracker.train.config import LadderConfig
from tracker.train.workers import size_threads


def resolved_precision(config: LadderConfig) -> tuple[LadderConfig, str]:
    """The config with ``training.precision`` ``bf16`` or ``fp32`` (never ``auto``), and a
    line saying why."""
    training = config.training
    if training.deterministic:
        precision, why = "fp32", "fp32 (deterministic training)"
    elif training.precision != "auto":
        precision, why = training.precision, f"{training.precision} (training.precision)"
    else:
        tokens = training.batch_size * training.context_length
        shapes = [shape for spec in config.sizes
                  for shape in model_shapes(spec.hidden_size, spec.intermediate_size, tokens)]
        threads = size_threads(training, running=min(training.workers, len(config.sizes)))
        device = "cuda" if torch.cuda.is_available() else "cpu"
        choice = choose_dtype(device, shapes, threads=threads)
        precision = "bf16" if choice.dtype == "bfloat16" else "fp32"
        why = f"{precision} ({choice.describe()})"
    if precision == training.precision:
        return config, why
    update = {"training": training.model_copy(update={"precision": precision})}
    return config.model_copy(update=update), why
