"""The model boundary's torch-free types: the loaded-model handle, the requests a task
sends, their results and defaults.

Tasks and evaluations name these without importing torch; :mod:`tracker.lm.loading` makes
a :class:`LoadedModel` and :mod:`tracker.lm.scoring` answers the requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tracker.errors import TrackerError
from tracker.lm.model_config import model_max_length

if TYPE_CHECKING:
    import torch

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


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to score: eval mode, on ``device``, with its tokenizer.

    ``max_length`` is the longest input the model takes (its maximum positions unless the
    user asked for a shorter context); ``params`` counts every weight.
    """

    model: Any
    tokenizer: Any
    device: torch.device
    dtype: str
    max_length: int
    params: int

    @classmethod
    def wrap(
        cls, model: Any, tokenizer: Any, *, max_length: int | None = None, dtype: str | None = None
    ) -> LoadedModel:
        """Wrap a live model (e.g. inside a training loop) without copying it."""
        first = next(model.parameters())
        return cls(
            model=model,
            tokenizer=tokenizer,
            device=first.device,
            dtype=dtype or str(first.dtype).removeprefix("torch."),
            max_length=max_length or model_max_length(model),
            params=sum(p.numel() for p in model.parameters()),
        )
