"""The training config (``configs/ladder.yaml``): corpus, tokenizer, mixture, sizes, schedule.

Validated on load like every config: unknown keys are rejected with the file, the key and
the closest allowed key. Paths inside are relative to the project root, except the
evaluation's validation file, which is relative to the run directory (the corpus builder
writes it there).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from tracker.config import StrictModel, load_model
from tracker.errors import TrackerError
from tracker.tasks.generators import ArithmeticSpec, CopySpec, generator_spec
from tracker.train.sources import SOURCE_NAMES


class CorpusConfig(StrictModel):
    """How much of each Debian text source to use, and how much to hold out (by document)."""

    sources: list[str] = Field(default_factory=lambda: list(SOURCE_NAMES))
    train_bytes_per_source: int = Field(default=1_000_000, gt=0)
    validation_bytes_per_source: int = Field(default=16_000, gt=0)
    max_document_bytes: int = Field(default=16_000, gt=0)  # longer documents are split

    @model_validator(mode="after")
    def _known_sources(self) -> CorpusConfig:
        unknown = [name for name in self.sources if name not in SOURCE_NAMES]
        if unknown:
            raise ValueError(f"unknown corpus source '{unknown[0]}'; known: "
                             f"{', '.join(SOURCE_NAMES)}")
        return self


class TokenizerConfig(StrictModel):
    vocab_size: int = Field(default=2048, ge=300)
    training_bytes: int = Field(default=4_000_000, gt=0)  # of training text, to learn merges


class ProblemSpec(StrictModel):
    """One generated task in the training mixture, named as ``--tasks`` names it
    (``arithmetic:add:2``, ``arithmetic:add:2:reversed``, ``arithmetic:mul:1:bare``,
    ``copy:8``; :mod:`tracker.tasks.generators`), with its weight in the mixture by count."""

    task: str
    weight: float = Field(default=1.0, gt=0)

    @field_validator("task")
    @classmethod
    def _a_generator(cls, task: str) -> str:
        try:
            generator_spec(task)
        except TrackerError as error:
            raise ValueError(str(error)) from None
        return task

    @property
    def spec(self) -> ArithmeticSpec | CopySpec:
        return generator_spec(self.task)


class MixtureConfig(StrictModel):
    """``arithmetic_fraction`` of the training blocks hold generated problems in the tasks'
    Q/A format (several per block: the ``problems`` mixed by weight);
    the rest is text."""

    arithmetic_fraction: float = Field(default=0.5, ge=0, le=1)
    problems: list[ProblemSpec] = Field(default_factory=list)


class SizeSpec(StrictModel):
    """One rung: a LLaMA-style or GPT-NeoX-style decoder built from a transformers config."""

    label: str = Field(pattern=r"^[A-Za-z0-9._-]+$")
    architecture: Literal["llama", "gpt_neox"]
    hidden_size: int = Field(gt=0)
    layers: int = Field(gt=0)
    heads: int = Field(gt=0)
    intermediate_size: int = Field(gt=0)


class TrainingConfig(StrictModel):
    context_length: int = Field(default=128, gt=8)
    batch_size: int = Field(default=16, gt=0)
    max_steps: int = Field(gt=0)
    learning_rate: float = Field(default=3e-3, gt=0)
    min_learning_rate_ratio: float = Field(default=0.1, ge=0, le=1)
    warmup_steps: int = Field(default=50, ge=0)
    weight_decay: float = Field(default=0.1, ge=0)
    # "auto": bf16 autocast where this machine measures bf16 faster, else fp32
    # (tracker/train/precision.py); deterministic training is always fp32
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    threads: int | None = Field(default=None, gt=0)  # torch CPU threads; None: torch's choice
    # sizes trained at once, each in its own process with threads / workers threads
    # (tracker/train/workers.py: faster on a few cores for models this small)
    workers: int = Field(default=1, gt=0)
    seed: int = 1234  # model initialisation and the order of the blocks
    # float32, deterministic kernels (torch.use_deterministic_algorithms), fixed threads:
    # a size trained twice on one machine gives byte-identical checkpoints
    deterministic: bool = False


class CheckpointSchedule(StrictModel):
    """Pythia-like: step 0, powers of two from ``log_from`` to ``log_until``, then the
    multiples of ``every`` above ``log_until`` to the end of training (the last step is
    always saved).

    Example:
        >>> CheckpointSchedule(log_from=8, log_until=64, every=100).steps(450)
        [0, 8, 16, 32, 64, 100, 200, 300, 400, 450]
    """

    log_from: int = Field(default=1, gt=0)
    log_until: int = Field(ge=0)
    every: int = Field(gt=0)

    def steps(self, max_steps: int) -> list[int]:
        powers = [2**i for i in range(64) if self.log_from <= 2**i <= self.log_until]
        linear = [s for s in range(self.every, max_steps + 1, self.every) if s > self.log_until]
        return sorted({0, *[p for p in powers if p <= max_steps], *linear, max_steps})


class EvaluationConfig(StrictModel):
    """What the hook scores at every checkpoint (and ``tracker eval --family ladder`` too)."""

    # relative to the run directory. data/validation_mixture.jsonl: held out from the
    # training mixture in its proportions (Du et al.'s pre-training loss);
    # data/validation.jsonl: the held-out text alone
    validation: str = "data/validation.jsonl"
    # a second validation set the hook also scores (another setting of "validation")
    second_validation: str | None = None
    tasks: list[str] = Field(default_factory=list)
    limit: int | None = Field(default=None, gt=0)
    batch_size: int = Field(default=32, gt=0)


class LadderConfig(StrictModel):
    name: str = "ladder"
    description: str = ""
    run_dir: str = "runs/ladder"  # default --run, relative to the working directory
    seed: int = 1234
    corpus: CorpusConfig = Field(default_factory=CorpusConfig)
    tokenizer: TokenizerConfig = Field(default_factory=TokenizerConfig)
    mixture: MixtureConfig = Field(default_factory=MixtureConfig)
    training: TrainingConfig
    checkpoints: CheckpointSchedule
    sizes: list[SizeSpec] = Field(min_length=1)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    # the seeds bench/bench_ladder_seeds.py trains the ladder with (training.seed each)
    replicate_seeds: list[int] = Field(default_factory=lambda: [1234, 2345, 3456])

    @model_validator(mode="after")
    def _unique_labels(self) -> LadderConfig:
        labels = [size.label for size in self.sizes]
        duplicated = sorted({label for label in labels if labels.count(label) > 1})
        if duplicated:
            raise ValueError(f"size labels must be unique; repeated: {', '.join(duplicated)}")
        return self

    def checkpoint_steps(self) -> list[int]:
        return self.checkpoints.steps(self.training.max_steps)

    @property
    def tokens_per_step(self) -> int:
        return self.training.batch_size * self.training.context_length


def load_ladder_config(path: Path | str) -> LadderConfig:
    """Read and validate a training config; errors are one line naming file and key."""
    return load_model(LadderConfig, Path(path))
