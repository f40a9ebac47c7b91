"""Model calls shared by the validation loss and task scoring: the output layer only where a
prediction is needed, fused with the cross-entropy.

A causal LM's logits are its output layer applied to the final hidden states. On a small
model with a 50k vocabulary that layer is most of the arithmetic, and its float32 logits
for a batch of 8 windows of 2048 tokens are 3.3 GB written and read back once more by the
log-softmax. So for the model types whose logits are exactly ``lm_head(hidden)`` (no
scaling, no soft-capping: :data:`PLAIN_HEAD_MODEL_TYPES`) the base model runs alone, the
positions that predict something are picked, and the head runs on them in chunks of
:data:`HEAD_CHUNK` rows, each chunk's cross-entropy taken at once. Every other model goes
through ``model(...).logits``; the numbers are the same up to float rounding (tested).

Right-padded batches carry no attention mask on the fast path: under causal attention a
real position never sees the padding after it, the positions are ``0..n-1`` either way,
and without a mask the attention kernel takes its causal path (no ``[batch, heads, n, n]``
mask tensor).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

# model_type values whose CausalLM forward is `logits = lm_head(base(...).last_hidden_state)`
PLAIN_HEAD_MODEL_TYPES = frozenset({"gpt_neox", "llama", "mistral", "qwen2", "qwen3", "gpt2",
                                    "olmo", "olmo2", "opt"})
# model_type values whose attention takes a custom 4D mask and explicit position ids with
# nothing else depending on the layout (no sliding window, no positions from the mask):
# packed prefix trees (tracker.lm.prefix_tree) give them the same hidden states (tested)
TREE_ATTENTION_MODEL_TYPES = frozenset({"gpt_neox", "llama", "olmo", "olmo2"})
HEAD_CHUNK = 512  # rows per output-layer call: 512 x 50k float32 = 100 MB (fastest measured)


@dataclass(frozen=True)
class SplitModel:
    """A causal LM as its base model (hidden states) and its output layer."""

    base: Any
    head: Any


def split_model(model: Any) -> SplitModel | None:
    """The (base, head) of a model whose logits are exactly ``head(hidden)``, else None."""
    config = getattr(model, "config", None)
    if getattr(config, "model_type", None) not in PLAIN_HEAD_MODEL_TYPES:
        return None
    base = getattr(model, "base_model", None)
    get_head = getattr(model, "get_output_embeddings", None)
    head = get_head() if callable(get_head) else None
    if base is None or base is model or head is None:
        return None
    return SplitModel(base, head)


def tree_attention(model: Any) -> bool:
    """Whether ``model`` can score packed prefix trees: a :data:`TREE_ATTENTION_MODEL_TYPES`
    model under an attention implementation that honours a custom 4D mask (sdpa, eager;
    not flash-attention, which takes no mask)."""
    config = getattr(model, "config", None)
    return (getattr(config, "model_type", None) in TREE_ATTENTION_MODEL_TYPES
            and getattr(config, "_attn_implementation", None) in ("sdpa", "eager"))


def token_nll(model: Any, input_ids: torch.Tensor, lengths: list[int], rows: torch.Tensor,
              positions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood (nats, float32, on CPU) of ``targets[i]`` as predicted at
    position ``positions[i]`` of row ``rows[i]`` of the right-padded ``input_ids``
    (``[batch, width]``; row r holds ``lengths[r]`` real tokens)."""
    split = split_model(model)
    if split is None:
        mask = torch.zeros_like(input_ids)
        for row, length in enumerate(lengths):
            mask[row, :length] = 1
        logits = model(input_ids=input_ids, attention_mask=mask, use_cache=False).logits
        return _cross_entropy(logits[rows, positions], targets).cpu()
    hidden = split.base(input_ids=input_ids, use_cache=False).last_hidden_state
    return head_nll(split.head, hidden[rows, positions], targets)


def head_nll(head: Any, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of ``head(hidden)`` (``hidden``: ``[n, hidden size]``) at ``targets``,
    :data:`HEAD_CHUNK` rows at a time; float32 on CPU."""
    nll = torch.empty(len(targets), dtype=torch.float32)
    for start in range(0, len(targets), HEAD_CHUNK):
        stop = start + HEAD_CHUNK
        nll[start:stop] = _cross_entropy(head(hidden[start:stop]), targets[start:stop]).cpu()
    return nll


def _cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cross_entropy(logits.float(), targets.to(logits.device),
                                             reduction="none")


class HeadRows:
    """Hidden states waiting for the output layer, gathered across small batches.

    Scoring a few continuations per batch would read the output layer's whole weight matrix
    (vocabulary x hidden: 100 MB at 70m scale) for a few dozen rows each time; collected
    here, they go through it :data:`HEAD_CHUNK` rows at a time. :meth:`take` returns every
    pending row's log-probability of its target and whether the target is the argmax.
    """

    def __init__(self, head: Any) -> None:
        self.head = head
        self._hidden: list[torch.Tensor] = []
        self._targets: list[torch.Tensor] = []
        self.n_rows = 0

    def add(self, hidden: torch.Tensor, targets: torch.Tensor) -> None:
        self._hidden.append(hidden)
        self._targets.append(targets)
        self.n_rows += len(targets)

    def take(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(log-probability float32, is-argmax bool) per pending row, in order; empties."""
        hidden, targets = torch.cat(self._hidden), torch.cat(self._targets)
        self._hidden, self._targets, self.n_rows = [], [], 0
        logprob = torch.empty(len(targets), dtype=torch.float32)
        greedy = torch.empty(len(targets), dtype=torch.bool)
        for start in range(0, len(targets), HEAD_CHUNK):
            stop = start + HEAD_CHUNK
            log_probs = self.head(hidden[start:stop]).float().log_softmax(dim=-1)
            chunk_targets = targets[start:stop].to(log_probs.device)
            logprob[start:stop] = log_probs.gather(1, chunk_targets[:, None]).squeeze(1).cpu()
            greedy[start:stop] = (log_probs.argmax(dim=-1) == chunk_targets).cpu()
        return logprob, greedy
