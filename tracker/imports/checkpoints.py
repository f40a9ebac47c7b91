"""Which checkpoint a result file is about: (family, size, step) from model_args or the path.

1. ``model_args`` (or ``config.model_revision``):
   - a hub repo (``pretrained=EleutherAI/pythia-160m,revision=step93000``) that matches a
     family file's ``repo`` pattern (``configs/families/*.yaml``) maps to that family, the
     size the pattern captures (params from the family's sizes) and the step read from the
     revision by the family's ``revision`` pattern or ``revision_regex`` (tokens seen from
     ``tokens_per_step`` or the revision name). Where several patterns match, a size the
     family lists wins (``pythia-160m-deduped`` is pythia-deduped/160m, not
     pythia/160m-deduped); a size ``<listed size>-<variant>`` is a variant run of a listed
     size and takes its parameter count (``pythia-1b-bf16``, Pythia 1B retrained in bf16, is
     pythia/1b-bf16: its own training run, i.e. its own series in a fit, with the 1B's
     parameters and Pythia's 2,097,152 tokens per step). Renamed hub repos are aliased:
     ``EleutherAI/pythia-v1.1-<size>`` (the names Pythia's published evaluations use) is today's
     ``EleutherAI/pythia-<size>``. A repo no family file matches maps to family = its name
     without the size token, size = the token (``org/foo-7b-chat`` -> foo-chat, 7b).
   - a local directory ``pretrained=PATH/<size>/step<N>`` maps as ``tracker eval --family
     PATH`` would (family = PATH's directory name; params, tokens seen and the weights'
     digest from the checkpoint when it is still there).
2. Failing that, the file's path, matched by ``--pattern`` (a regex searched in the path,
   named groups ``family``, ``size``, ``step``; or ``model`` instead of family and size, a
   model name resolved like a hub repo name). The default, :data:`DEFAULT_PATTERN`, reads
   ``<model>-<size>[-<variant>]/.../<anything>step<N><anything>.json``, e.g.
   ``pythia-160m-deduped/zero-shot/160m-deduped_step3000.json``.
A path that gives a step other than the model_args revision is an error; ``--family NAME``
renames the family.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass
from pathlib import Path

from tracker.config import FAMILY_DIR, load_model
from tracker.errors import TrackerError
from tracker.families.catalog import Checkpoint, FamilyConfig, local_family, parse_revision
from tracker.imports.files import ResultFile

DEFAULT_PATTERN = (r"(?:^|.*/)(?P<model>[A-Za-z][\w.]*-\d+(?:\.\d+)?[kKmMbBtT](?:-[\w.]+)*)/"
                   r"(?:[^/]+/)*[^/]*?step-?(?P<step>\d+)[^/]*\.json$")
REPO_ALIASES = ((re.compile(r"^EleutherAI/pythia-v1\.1-", re.IGNORECASE), "EleutherAI/pythia-"),)
SIZE_TOKEN = re.compile(r"^\d+(?:\.\d+)?[kmbt]$", re.IGNORECASE)
STEP_IN_NAME = re.compile(r"step[-_]?(?P<step>\d+)")
LOCAL_STEP = re.compile(r"^step(\d+)$")


@dataclass(frozen=True)
class ImportedCheckpoint(Checkpoint):
    """A checkpoint as named by imported results. ``imported`` (a digest of what was
    imported for the unit) joins the checkpoint's identity: a changed result file is a new
    unit that supersedes the old one, while the unit's *setting* (everything in its key but
    the checkpoint: task, version, few-shot count, limit, dtype) stays shared by all the
    checkpoints of a sweep, as tracker.store.settings requires to read them as one series."""

    imported: str = ""

    def identity(self) -> dict[str, object]:
        return {**super().identity(), "imported": self.imported}


@dataclass(frozen=True)
class _Partial:
    family: str | None = None
    size: str | None = None
    step: int | None = None
    config: FamilyConfig | None = None
    checkpoint: Checkpoint | None = None  # complete, from a local family on disk
    location: str | None = None
    revision: str | None = None
    tokens_seen: int | None = None
    local: bool = False  # model_args named a local directory


class CheckpointMapper:
    """Maps result files to checkpoints (see the module docstring)."""

    def __init__(self, family: str | None = None, pattern: str | None = None) -> None:
        self.family = family
        self.pattern_text = pattern or DEFAULT_PATTERN
        try:
            self.pattern = re.compile(self.pattern_text)
        except re.error as error:
            raise TrackerError(f"--pattern '{self.pattern_text}' is not a valid regex: "
                               f"{error}") from None
        names = set(self.pattern.groupindex)
        if "step" not in names or not ({"family", "size"} <= names or "model" in names
                                         or ("size" in names and family)):
            raise TrackerError(f"--pattern '{self.pattern_text}' needs the named groups step "
                               "and family + size (or model), e.g. "
                               r"'(?P<family>[^/]+)/(?P<size>[^/]+)/step(?P<step>\d+)'")

    def checkpoint(self, result: ResultFile) -> Checkpoint:
        from_args = self._from_model_args(result)
        from_path = self._from_path(result.label)
        if from_args.step is not None and from_path.step is not None \
                and from_args.step != from_path.step:
            raise TrackerError(
                f"{result.label}: model_args names revision {from_args.revision or '?'} "
                f"(step {from_args.step}) but the path says step {from_path.step}; the file "
                "is misnamed or holds another checkpoint's results")
        if from_args.checkpoint is not None:
            return self._renamed(from_args.checkpoint)
        from_file = from_args.family is not None and from_args.size is not None
        base = from_args if from_file else from_path
        family, size = self.family or base.family, base.size
        step = from_args.step if from_args.step is not None else from_path.step
        if family is None or size is None or step is None:
            pretrained = result.pretrained or result.model_args.get("pretrained") or "none"
            raise TrackerError(
                f"{result.label}: cannot tell which checkpoint it holds (model_args "
                f"pretrained={pretrained}, revision={result.revision or 'none'}) and the path "
                f"does not match the pattern '{self.pattern_text}'; pass --pattern REGEX with "
                "named groups family, size and step")
        forced = family_configs().get(self.family) if self.family else None
        return _build(family, size, step, forced or base.config, from_args)

    def _renamed(self, checkpoint: Checkpoint) -> Checkpoint:
        return dataclasses.replace(checkpoint, family=self.family) if self.family else checkpoint

    def _from_model_args(self, result: ResultFile) -> _Partial:
        pretrained = result.pretrained
        if pretrained is None:
            return _Partial(step=_step_of(None, result.revision), revision=result.revision)
        if _is_local(pretrained):
            return _local(Path(pretrained))
        repo = pretrained
        for alias, replacement in REPO_ALIASES:
            repo = alias.sub(replacement, repo)
        config, family, size = resolve_name(repo)
        step = _step_of(config, result.revision)
        tokens = _tokens_of(config, result.revision, step)
        return _Partial(family, size, step, config, location=pretrained,
                        revision=result.revision, tokens_seen=tokens)

    def _from_path(self, label: str) -> _Partial:
        match = self.pattern.search(label)
        if not match:
            return _Partial()
        groups = match.groupdict()
        step = int(groups["step"]) if groups.get("step") else None
        family: str | None = groups.get("family")
        size: str | None = groups.get("size")
        config = family_configs().get(family or "")
        if groups.get("model"):
            config, family, named_size = resolve_name(groups["model"])
            size = size or named_size
        return _Partial(family, size, step, config)


def _build(family: str, size: str, step: int, config: FamilyConfig | None,
           from_args: _Partial) -> Checkpoint:
    """A checkpoint from what the file and the family file say. A hub family's repo and
    revision pattern fill what the file does not name; a checkpoint with no revision is
    keyed like a local one (by its weights, when its location still holds them)."""
    hub = config is not None and config.source == "hub" and bool(config.repo)
    tokens = from_args.tokens_seen
    if tokens is None and config is not None and config.tokens_per_step:
        tokens = (step + config.tokens_step_offset) * config.tokens_per_step
    location, revision = from_args.location, from_args.revision
    if location is None and hub and config is not None and config.repo:
        location = config.repo.format(size=size)
    if revision is None and hub and config is not None and not from_args.local:
        revision = config.revision.format(step=step)
    return Checkpoint(
        family=family, size=size, step=step, tokens_seen=tokens,
        location=location or f"{family}/{size}/step{step}", revision=revision,
        params=_params(config, size),
        trust_remote_code=bool(config and config.trust_remote_code),
        tokenizer=config.tokenizer if config else None,
    )


def _params(config: FamilyConfig | None, size: str) -> int | None:
    if config is None:
        return None
    labels = {s.label: s.params for s in config.sizes}
    if size in labels:
        return labels[size]
    base = _variant_of(size, labels)
    return labels[base] if base else None


def _variant_of(size: str, labels) -> str | None:
    """The listed size a ``<label>-<variant>`` size label is a variant of (longest)."""
    bases = [label for label in labels if size.lower().startswith(label.lower() + "-")]
    return max(bases, key=len) if bases else None


@functools.cache
def family_configs() -> dict[str, FamilyConfig]:
    """Every family file, by name (validated; a broken file is the user's error anyway)."""
    configs = {}
    for path in sorted(FAMILY_DIR.glob("*.yaml")):
        config = load_model(FamilyConfig, path)
        configs[config.name] = config
    return configs


def resolve_name(name: str) -> tuple[FamilyConfig | None, str, str]:
    """(family file or None, family name, size) of a hub repo id or a bare model name.

    Example:
        >>> config, family, size = resolve_name("EleutherAI/pythia-160m-deduped")
        >>> family, size
        ('pythia-deduped', '160m')
    """
    with_org = "/" in name
    best: tuple[int, str, FamilyConfig, str] | None = None
    for config in family_configs().values():
        if config.source != "hub" or not config.repo:
            continue
        labels = [s.label for s in config.sizes]
        candidates = [(config.repo, None)] + [(s.repo, s.label) for s in config.sizes if s.repo]
        for pattern, fixed in candidates:
            size = _match_repo(pattern, name, with_org)
            if size is None:
                continue
            size = fixed or size or (labels[0] if len(labels) == 1 else "")
            if not size:
                continue
            rank = 2 if size in labels else 1 if _variant_of(size, labels) else 0
            if best is None or rank > best[0]:
                best = (rank, config.name, config, size)
    if best is not None:
        return best[2], best[1], best[3]
    bare = name.rsplit("/", 1)[-1]
    tokens = bare.split("-")
    for index, token in enumerate(tokens):
        if SIZE_TOKEN.match(token) and len(tokens) > 1:
            return None, "-".join(tokens[:index] + tokens[index + 1:]), token
    return None, bare, bare


def _match_repo(pattern: str, name: str, with_org: bool) -> str | None:
    """The size a repo pattern (``org/model-{size}``) captures from ``name``; "" for a
    pattern without ``{size}`` that matches; None when it does not match."""
    if not with_org:
        pattern = pattern.rsplit("/", 1)[-1]
    parts = pattern.split("{size}")
    regex = "(?P<size>[^/]+?)".join(re.escape(part) for part in parts)
    match = re.fullmatch(regex, name, flags=re.IGNORECASE)
    if match is None:
        return None
    return match.group("size") if len(parts) > 1 else ""


def _step_of(config: FamilyConfig | None, revision: str | None) -> int | None:
    if not revision:
        return None
    if config is not None and config.revision_regex:
        try:
            return parse_revision(revision, config.revision_regex)[0]
        except TrackerError:
            pass
    if config is not None:
        parts = re.split(r"\{step(?::[^}]*)?\}", config.revision)
        if len(parts) == 2:
            regex = r"(?P<step>\d+)".join(re.escape(part) for part in parts)
            match = re.fullmatch(regex, revision)
            if match:
                return int(match.group("step"))
    match = STEP_IN_NAME.search(revision)
    return int(match.group("step")) if match else None


def _tokens_of(config: FamilyConfig | None, revision: str | None, step: int | None
               ) -> int | None:
    if config is None or not revision or step is None:
        return None
    if config.revision_regex:
        try:
            return parse_revision(revision, config.revision_regex)[1]
        except TrackerError:
            return None
    return None


def _is_local(pretrained: str) -> bool:
    if pretrained.startswith(("/", ".", "~")) or pretrained.count("/") >= 2:
        return True
    return Path(pretrained).is_dir()


def _local(path: Path) -> _Partial:
    """``PATH/<size>/step<N>``: the checkpoint ``tracker eval --family PATH`` would plan."""
    path = path.expanduser()
    match = LOCAL_STEP.match(path.name)
    if not match:
        return _Partial(location=str(path), local=True)
    step, size, root = int(match.group(1)), path.parent.name, path.parent.parent
    if root.is_dir():
        try:
            family = local_family(root)
            found = family.checkpoints(sizes=[size], steps=[step])
        except TrackerError:
            found = []
        if found:
            return _Partial(family.name, size, step, checkpoint=found[0], local=True)
    return _Partial(root.resolve().name, size, step, location=str(path.resolve()), local=True)
