"""Checkpoints of Pythia's first (v0) training runs, as their published lm-eval files name them.

The v0 models are not today's Pythia (v1): they are the families ``pythia-v0`` and
``pythia-v0-deduped``, with the sizes and parameter counts of the v1 family files (the same
architectures). Every v0 run saw the same tokens as v1 in all (Pythia's tokens per step
times its last step: 143,000 x 2,097,152), but the small models (160m, 410m, 1.4b) took
71,500 steps of twice the batch: the files' ``model_args.train_iters`` says which, so tokens
seen = step x total tokens / train_iters, and sizes line up by tokens, not by step.
"""

from __future__ import annotations

from tracker.errors import TrackerError
from tracker.families.catalog import Checkpoint
from tracker.imports.checkpoints import CheckpointMapper, family_configs
from tracker.imports.files import ResultFile

V1_FAMILY = "pythia"


class V0Mapper:
    """Maps a v0 result file to its checkpoint (see the module docstring)."""

    def __init__(self) -> None:
        self.base = CheckpointMapper()

    def checkpoint(self, result: ResultFile) -> Checkpoint:
        v1 = self.base.checkpoint(result)
        family = v1.family.replace(V1_FAMILY, "pythia-v0", 1)
        train_iters = result.model_args.get("train_iters", "")
        if not train_iters.isdigit() or int(train_iters) <= 0:
            raise TrackerError(f"{result.label}: model_args has no train_iters, so the tokens "
                               "its steps saw are unknown")
        tokens = v1.step * total_tokens() // int(train_iters)
        return Checkpoint(family=family, size=v1.size, step=v1.step, tokens_seen=tokens,
                          location=f"{family}/{v1.size}", revision=f"step{v1.step}",
                          params=v1.params, tokenizer=v1.tokenizer)


def total_tokens() -> int:
    """Tokens of a whole Pythia run: the family file's tokens per step x its last step."""
    config = family_configs()[V1_FAMILY]
    steps = config.steps
    last = steps.until if steps is not None and not isinstance(steps, list) else max(steps or [0])
    return int(config.tokens_per_step or 0) * int(last)
