"""The requests a task sends to the model boundary, their results and defaults (torch-free).

Tasks build these without importing torch; :mod:`tracker.lm.scoring` answers them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tracker.errors import TrackerError

# A generation's defaults: stop at the end of the line, at most 32 new tokens.
DEFAULT_STOP = ("\n",)
DEFAULT_MAX_NEW_TOKENS = 32


@dataclass(frozen=True)
class LoglikelihoodRequest:
    """Score ``continuation`` (exactly as written, any leading space included) after ``context``."""

    context: str
    continuation: str


@dataclass(frozen=True)
class LoglikelihoodResult:
    """``logprob``: summed natural-log probability of the continuation's tokens (<= 0).

    ``is_greedy``: every continuation token is the argmax given what precedes it.
    ``n_tokens``: how many tokens the continuation has (for per-token averages).
    """

    logprob: float
    is_greedy: bool
    n_tokens: int


@dataclass(frozen=True)
class GenerationRequest:
    """Greedy-decode after ``context`` until a ``stop`` string, end-of-text or the budget."""

    context: str
    stop: tuple[str, ...] = DEFAULT_STOP
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS


def prefix_token_id(tokenizer: Any) -> int:
    """The token that stands in for an empty context and starts every document: BOS, else
    EOS (lm-eval's choice)."""
    for name in ("bos_token_id", "eos_token_id"):
        value = getattr(tokenizer, name, None)
        if value is not None:
            return int(value)
    raise TrackerError("the tokenizer has neither a BOS nor an EOS token to stand for an empty "
                       "context or start a document; set tokenizer.bos_token or eos_token")
