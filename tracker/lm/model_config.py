"""Reading a Hugging Face model config whose field names differ between architectures."""

from __future__ import annotations

from typing import Any


def config_int(config: Any, *names: str) -> int:
    """The first of ``names`` that ``config`` sets to a positive integer (GPT-NeoX says
    ``num_hidden_layers``, GPT-2 ``n_layer``, ...); 0 when none is."""
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return 0


DEFAULT_MAX_LENGTH = 2048  # when a config names no maximum number of positions


def model_max_length(model: Any) -> int:
    """The longest input a model takes: its config's maximum positions, else 2048."""
    return config_int(model.config, "max_position_embeddings", "n_positions", "n_ctx",
                      "seq_length") or DEFAULT_MAX_LENGTH
