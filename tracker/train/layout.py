"""Where one run of a ladder config keeps its files: ``<run>/checkpoints/<size>/step<N>/``
(a local family) and ``<run>/tokenizer``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tracker.families.catalog import CHECKPOINT_META
from tracker.train.config import LadderConfig


@dataclass(frozen=True)
class LadderRun:
    """Where one run of a ladder config lives."""

    config: LadderConfig
    run_dir: Path

    @property
    def checkpoints(self) -> Path:
        return self.run_dir / "checkpoints"

    @property
    def tokenizer_dir(self) -> Path:
        return self.run_dir / "tokenizer"

    def step_dir(self, size: str, step: int) -> Path:
        return self.checkpoints / size / f"step{step}"

    def is_trained(self, size: str) -> bool:
        last = self.step_dir(size, self.config.training.max_steps)
        return (last / CHECKPOINT_META).is_file()
