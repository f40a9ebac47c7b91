"""``tracker train``: the embedded ``ladder`` family, trained here from free Debian text.

- :mod:`tracker.train.sources` / :mod:`tracker.train.corpus`: documents from Debian text
  packages (or ``--corpus DIR``), validation held out by document;
- :mod:`tracker.train.tokenizer`: byte-level BPE with ``tokenizers``;
- :mod:`tracker.train.models`: LLaMA-style and GPT-NeoX-style configs;
- :mod:`tracker.train.mixture`: text blocks plus generated arithmetic in the tasks' format;
- :mod:`tracker.train.ladder` / :mod:`tracker.train.loop`: transformers.Trainer per size,
  checkpoints on a log-then-linear schedule, each scored through :mod:`tracker.hooks`.

Imported lazily: ``import tracker.train`` does not import torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["train_from_config", "ladder_evaluations"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from tracker.train import ladder

        return getattr(ladder, name)
    raise AttributeError(f"module 'tracker.train' has no attribute '{name}'")
