"""Model families: which checkpoints exist, where they load from, and how many tokens each saw.

A family is data: ``configs/families/<name>.yaml`` (hub families such as Pythia, OLMo,
Amber; or local ones such as the embedded ``ladder``), or a directory given as a path that
holds Hugging Face checkpoints as ``PATH/<size>/step<N>/``.

Example:
    >>> family = load_family("pythia")
    >>> [c.revision for c in family.checkpoints(sizes=["70m"], steps=[0, 143000])]
    ['step0', 'step143000']
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from tracker.config import (
    FAMILY_DIR,
    PROJECT_ROOT,
    RUNS_DIR,
    StrictModel,
    load_model,
    resolve_project_path,
)
from tracker.errors import TrackerError, printable, unknown_name
from tracker.families.weights import weights_digest

STEP_DIR = re.compile(r"^step(\d+)$")
TOKEN_UNITS = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}


# What `tracker train` writes beside each checkpoint: {"tokens_seen": N}.
CHECKPOINT_META = "tracker_checkpoint.json"


class StepSchedule(StrictModel):
    """Pythia-like steps: 0, then powers of two up to ``log_until``, then every ``every``."""

    log_until: int = Field(ge=0)
    every: int = Field(gt=0)
    until: int = Field(gt=0)

    def steps(self) -> list[int]:
        powers = [2**i for i in range(64) if 2**i <= self.log_until]
        linear = list(range(self.every, self.until + 1, self.every))
        return sorted({0, *powers, *linear})


class SizeConfig(StrictModel):
    label: str
    params: int | None = Field(default=None, gt=0)
    repo: str | None = None  # overrides the family's repo pattern
    revisions: list[str] | None = None  # per-size revision names (irregular schedules)


class FamilyConfig(StrictModel):
    """One family file. Revisions come from a pattern (``revision: step{step}``) over
    ``steps``, or from explicit ``revisions`` lists parsed with ``revision_regex``, whose
    named groups ``step`` and optionally ``tokens`` + ``unit`` (K/M/B/T) give the step and
    tokens seen."""

    name: str
    description: str = ""
    architecture: Literal["gpt_neox", "llama", "olmo", "olmo2", "other"]
    source: Literal["hub", "local"]
    repo: str | None = None  # hub: pattern with {size}
    path: str | None = None  # local: directory of <size>/step<N>/, relative to the project
    # local: the config `tracker train` builds the family from. Such a family lives in the
    # run directory it is evaluated in (<run>/checkpoints), and its validation set and tasks
    # are the training config's `evaluation:` (one source of truth; see Family.in_run).
    train_config: str | None = None
    revision: str = "step{step}"
    revisions: list[str] | None = None
    revision_regex: str | None = None
    steps: list[int] | StepSchedule | None = None
    tokens_per_step: int | None = Field(default=None, gt=0)
    # tokens seen = (step + tokens_step_offset) * tokens_per_step; 1 where checkpoint N is
    # saved after N + 1 chunks (Amber's ckpt_000 has seen one chunk).
    tokens_step_offset: int = 0
    sizes: list[SizeConfig] = Field(default_factory=list)
    tokenizer: str | None = None
    trust_remote_code: bool = False
    # pickle weights (pytorch_model.bin) load, with torch.load(weights_only=True), for a
    # family whose published checkpoints have no safetensors (Pythia's step branches)
    allow_pickle: bool = False
    max_length: int | None = Field(default=None, gt=0)
    validation: str | None = None  # default --validation for this family
    tasks: list[str] | None = None  # default --tasks for this family

    @model_validator(mode="after")
    def _check_source(self) -> FamilyConfig:
        if self.source == "hub" and not self.repo:
            raise ValueError("a hub family needs 'repo' (a pattern such as 'org/model-{size}')")
        if self.source == "local" and not (self.path or self.train_config):
            raise ValueError("a local family needs 'path' (a directory of <size>/step<N>/) "
                             "or 'train_config' (a config `tracker train` builds it from)")
        if self.source == "hub" and not self.sizes:
            raise ValueError("a hub family needs at least one entry in 'sizes'")
        return self


@dataclass(frozen=True)
class Checkpoint:
    """One model to evaluate. ``location`` is a hub repo id or a local directory;
    ``revision`` is the hub branch (None for local)."""

    family: str
    size: str
    step: int
    tokens_seen: int | None
    location: str
    revision: str | None
    params: int | None
    trust_remote_code: bool = False
    tokenizer: str | None = None
    allow_pickle: bool = False

    @property
    def label(self) -> str:
        return f"{self.family}/{self.size}@step{self.step}"

    def identity(self) -> dict[str, object]:
        """What names this checkpoint's weights in a unit key: the hub repo and revision,
        or for a local checkpoint (no revision) family, size, step and a digest of its
        weight files (not its path: a moved run keeps its units; a family retrained in
        place gets new ones)."""
        local = self.revision is None
        return {
            "family": self.family,
            "size": self.size,
            "step": self.step,
            "location": None if local else self.location,
            "revision": self.revision,
            "weights": self.weights if local else None,
        }

    @cached_property
    def weights(self) -> str | None:
        """Content digest of a local checkpoint's weight files (cached on disk; None for
        hub checkpoints and directories without weights)."""
        if self.revision is not None:
            return None
        return weights_digest(self.location)


@dataclass(frozen=True)
class Family:
    config: FamilyConfig
    root: Path | None = None  # local families: resolved checkpoint directory

    @property
    def name(self) -> str:
        return self.config.name

    def in_run(self, run_dir: Path) -> Family:
        """This family as evaluated in ``run_dir``. A family trained by ``tracker train``
        (``train_config:``) lives there: checkpoints in ``<run>/checkpoints``, validation
        and tasks from the training config's ``evaluation:`` resolved against the run, so
        ``--run OTHER`` works from any working directory. Other families are unchanged."""
        if not self.config.train_config:
            return self
        from tracker.train.config import load_ladder_config

        training = load_ladder_config(resolve_project_path(self.config.train_config))
        config = self.config.model_copy(update={
            "path": str(Path(run_dir) / "checkpoints"),
            "validation": str(Path(run_dir) / training.evaluation.validation),
            "tasks": list(training.evaluation.tasks),
            "tokens_per_step": training.tokens_per_step,
        })
        return Family(config, Path(run_dir) / "checkpoints")

    def size_labels(self) -> list[str]:
        if self.config.source == "local":
            return _local_sizes(self._root())
        return [size.label for size in self.config.sizes]

    def checkpoints(
        self, sizes: list[str] | None = None, steps: list[int] | None = None
    ) -> list[Checkpoint]:
        """All checkpoints, or those of the given sizes and steps (each must exist)."""
        known_sizes = self.size_labels()
        for size in sizes or []:
            if size not in known_sizes:
                raise unknown_name(f"size of family '{self.name}'", size, known_sizes)
        chosen = sizes or known_sizes
        result = [c for size in chosen for c in self._size_checkpoints(size)]
        if steps is not None:
            available = {c.step for c in result}
            for step in steps:
                if step not in available:
                    near = sorted(available, key=lambda s: (abs(s - step), s))[:3]
                    raise TrackerError(
                        f"step {step} is not a checkpoint of family '{self.name}' "
                        f"(sizes {', '.join(chosen)}); nearest: {', '.join(map(str, near))}"
                    )
            result = [c for c in result if c.step in set(steps)]
        return result

    def _size_checkpoints(self, size: str) -> list[Checkpoint]:
        if self.config.source == "local":
            return _local_checkpoints(self, size)
        return _hub_checkpoints(self, size)

    def _root(self) -> Path:
        if self.root is None:
            raise TrackerError(f"family '{self.name}' has no local directory")
        return self.root


def family_names() -> list[str]:
    return sorted(path.stem for path in FAMILY_DIR.glob("*.yaml"))


def load_family(name_or_path: str) -> Family:
    """A family by config name, or a local directory of ``<size>/step<N>/`` checkpoints."""
    path = Path(name_or_path)
    config_path = FAMILY_DIR / f"{name_or_path}.yaml"
    if config_path.is_file():
        config = load_model(FamilyConfig, config_path)
        if config.train_config:
            return Family(config).in_run(RUNS_DIR / config.name)
        if config.source == "local":
            return Family(config, _resolve_local(config.path or ""))
        return Family(config)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        config = load_model(FamilyConfig, path)
        if config.train_config:  # relative to the family file, like its `path`
            training = _resolve_local(config.train_config, base=path.parent)
            config = config.model_copy(update={"train_config": str(training)})
            return Family(config).in_run(RUNS_DIR / config.name)
        root = _resolve_local(config.path, base=path.parent) if config.path else None
        return Family(config, root)
    if path.is_dir() or "/" in name_or_path or name_or_path.startswith("."):
        return local_family(path)
    raise unknown_name("family", name_or_path, family_names())


def local_family(path: Path) -> Family:
    """A family read from a directory tree ``PATH/<size>/step<N>/`` (save_pretrained)."""
    if not path.is_dir():
        raise TrackerError(
            f"family directory {path} does not exist; expected PATH/<size>/step<N>/ "
            "checkpoints saved with save_pretrained"
        )
    if not _local_sizes(path):
        raise TrackerError(
            f"family directory {path} holds no checkpoints; expected PATH/<size>/step<N>/ "
            "with config.json and weights"
        )
    config = FamilyConfig(name=path.resolve().name, architecture="other", source="local",
                          path=str(path))
    return Family(config, path)


def _resolve_local(path: str, base: Path = PROJECT_ROOT) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() else base / candidate


def _local_sizes(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    return sorted(
        child.name for child in root.iterdir()
        if child.is_dir() and any(STEP_DIR.match(grand.name) for grand in child.iterdir())
    )


def _local_checkpoints(family: Family, size: str) -> list[Checkpoint]:
    size_dir = family._root() / size
    found = []
    for child in size_dir.iterdir():
        match = STEP_DIR.match(child.name)
        if match and child.is_dir():
            step = int(match.group(1))
            found.append(Checkpoint(
                family=family.name, size=size, step=step,
                tokens_seen=_local_tokens_seen(child, step, family.config.tokens_per_step),
                location=str(child.resolve()), revision=None,
                params=count_parameters(child), trust_remote_code=family.config.trust_remote_code,
                allow_pickle=family.config.allow_pickle,
            ))
    return sorted(found, key=lambda c: c.step)


def count_parameters(checkpoint_dir: Path) -> int | None:
    """Parameters of a save_pretrained directory, read from safetensors headers only
    (no weights are loaded); None when there are none or they cannot be read (loading the
    checkpoint then reports the problem)."""
    from safetensors import SafetensorError, safe_open

    files = sorted(checkpoint_dir.glob("*.safetensors"))
    if not files:
        return None
    total = 0
    try:
        for file in files:
            with safe_open(str(file), framework="numpy") as handle:
                for name in handle.keys():  # noqa: SIM118 - safe_open is not a Mapping
                    shape = handle.get_slice(name).get_shape()
                    total += int(np.prod(shape)) if shape else 1
    except (SafetensorError, OSError):
        return None
    return total


def _local_tokens_seen(step_dir: Path, step: int, tokens_per_step: int | None) -> int | None:
    """From ``tracker_checkpoint.json`` (written by ``tracker train``), else the family's
    tokens per step."""
    meta = step_dir / CHECKPOINT_META
    if meta.is_file():
        value = json.loads(meta.read_text()).get("tokens_seen")
        if value is not None:
            return int(value)
    return step * tokens_per_step if tokens_per_step else None


def _hub_checkpoints(family: Family, size: str) -> list[Checkpoint]:
    config = family.config
    size_config = next(s for s in config.sizes if s.label == size)
    repo = _fill(size_config.repo or config.repo or "", "repo", size=size)
    revisions = size_config.revisions or config.revisions
    if revisions is not None:
        steps_tokens = [parse_revision(name, config.revision_regex) for name in revisions]
        pairs = list(zip(revisions, steps_tokens, strict=True))
    else:
        steps = config.steps.steps() if isinstance(config.steps, StepSchedule) else config.steps
        pairs = [(_fill(config.revision, "revision", step=s), (s, None)) for s in steps or []]
    result = []
    for revision, (step, tokens) in pairs:
        if tokens is None and config.tokens_per_step:
            tokens = (step + config.tokens_step_offset) * config.tokens_per_step
        result.append(Checkpoint(
            family=config.name, size=size, step=step, tokens_seen=tokens, location=repo,
            revision=revision, params=size_config.params,
            trust_remote_code=config.trust_remote_code, tokenizer=config.tokenizer,
            allow_pickle=config.allow_pickle,
        ))
    return sorted(result, key=lambda c: c.step)


def parse_revision(name: str, regex: str | None) -> tuple[int, int | None]:
    """Step and tokens seen from a revision name, e.g. ``step1000-tokens4B`` -> (1000, 4e9).

    Example:
        >>> olmo = r"step(?P<step>\\d+)-tokens(?P<tokens>\\d+)(?P<unit>[KMBT]?)"
        >>> parse_revision("step1000-tokens4B", olmo)
        (1000, 4000000000)
    """
    pattern = regex or r"step(?P<step>\d+)"
    try:
        match = re.search(pattern, name)
    except re.error as error:
        raise TrackerError(f"revision_regex '{printable(pattern)}' is not a valid regex: "
                           f"{error}") from None
    if not match:
        raise TrackerError(f"revision '{name}' does not match revision_regex '{pattern}'")
    groups = match.groupdict()
    try:
        step = int(groups["step"])
        tokens = groups.get("tokens")
        if tokens is None:
            return step, None
        return step, int(float(tokens) * TOKEN_UNITS[(groups.get("unit") or "").upper()])
    except (KeyError, TypeError, ValueError, OverflowError):
        raise TrackerError(f"revision_regex '{printable(pattern)}' must capture the step as a "
                           "number in (?P<step>...) (optionally (?P<tokens>...) and "
                           f"(?P<unit>K|M|B|T)); revision '{printable(name)}' gives "
                           f"{printable(groups)}") from None


def _fill(pattern: str, key: str, **values: object) -> str:
    """A family's ``repo``/``revision`` pattern filled in, or a one-line error."""
    try:
        return pattern.format(**values)
    except (KeyError, IndexError, ValueError) as error:
        fields = ", ".join("{" + name + "}" for name in values)
        raise TrackerError(f"'{key}' pattern '{printable(pattern)}' is not valid: use {fields} "
                           f"as its only placeholder ({type(error).__name__}: "
                           f"{printable(error)})") from None
