"""Where an ``lm-eval:TASK[@DIR]`` comes from: lm-eval's registered config, read offline.

``lm-eval:NAME`` names a task, a tag or a group of lm-eval's registry. This module reads
the registered YAML (without building anything: building a lm-eval task loads its dataset),
refuses what tracker cannot score, and writes, for each leaf task, an override YAML that
``include:``s the registered file and points the dataset at local split files::

    include: /.../lm_eval/tasks/arc/arc_easy.yaml
    dataset_path: json            # parquet for .parquet files
    dataset_name: null
    dataset_kwargs: {data_files: {test: DIR/test.jsonl}}
    training_split: null          # a split the YAML names but DIR lacks (lm-eval: KeyError)

A dict override of a registered name is not merged by lm-eval 0.4.13, hence the file.
``DIR`` holds ``{split}.jsonl`` or ``{split}.parquet`` per split the YAML names (test,
validation, train, dev, ...); a group's leaf task reads ``DIR/{leaf}/`` when that
directory exists, else ``DIR``. Without ``@DIR`` the hub dataset is used (online).

The identity of a source covers lm-eval's version, a hash of every leaf's merged config
(with each ``!function`` replaced by the hash of its Python file) and of every group
config, and a hash of the data files' contents (or the hub path and name).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracker.errors import TrackerError, unknown_name
from tracker.families.weights import cache_dir
from tracker.store.files import atomic_write

EXTRA_HINT = "pip install 'tracker[lmeval]'"
SPLIT_KEYS = ("training_split", "validation_split", "test_split", "fewshot_split")
FORMATS = {".jsonl": "json", ".parquet": "parquet"}


def lm_eval_version() -> str:
    """lm-eval's installed version, or a one-line error naming the extra."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        import lm_eval  # noqa: F401
    except ImportError as error:
        raise TrackerError(f"lm-eval tasks need the lm-eval package: {EXTRA_HINT}") from error
    try:
        return version("lm_eval")
    except PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class Registered:
    """What tracker reads of one entry of lm-eval's registry: its kind (TASK, GROUP, TAG,
    PY_TASK, ...), its YAML (None for a tag) and, for a tag, its tasks."""

    kind: str
    yaml_path: Path | None
    tags: tuple[str, ...] = ()


@functools.cache
def registry_index() -> dict[str, Registered]:
    """lm-eval's registered names (``TaskManager().task_index``: about 9 s of YAML parsing
    on a 2-core CPU), cached on disk per installed lm-eval and the exact set of its task
    files (path, size and modification time of each: 0.1 s to check), so a second process
    reads it in well under a second; once per process either way."""
    version = lm_eval_version()
    import lm_eval

    path = cache_dir() / "lmeval" / f"index-{_tasks_signature(version, lm_eval.__file__)}.json"
    cached = _read_index(path)
    if cached is not None:
        return cached
    from lm_eval.tasks import TaskManager

    index = {name: Registered(entry.kind.name, Path(entry.yaml_path) if entry.yaml_path
                              else None, tuple(sorted(entry.tags or ())))
             for name, entry in TaskManager().task_index.items()}
    _write_index(path, index)
    return index


def _tasks_signature(version: str, package_file: str) -> str:
    """A hash of lm-eval's version and of the path, size and mtime of its task files."""
    root = Path(package_file).parent / "tasks"
    digest = hashlib.sha256(f"{version}\0{root}\n".encode())
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            if name.endswith((".yaml", ".yml", ".py")):
                stat = os.stat(os.path.join(directory, name))
                digest.update(f"{directory}/{name}\0{stat.st_size}\0{stat.st_mtime_ns}\n"
                              .encode())
    return digest.hexdigest()[:24]


def _read_index(path: Path) -> dict[str, Registered] | None:
    """The cached index, or None when it is absent or unreadable (then rebuilt)."""
    try:
        entries = json.loads(path.read_text())
        return {name: Registered(kind, Path(yaml_path) if yaml_path else None, tuple(tags))
                for name, (kind, yaml_path, tags) in entries.items()}
    except (OSError, ValueError, TypeError):
        return None


def _write_index(path: Path, index: dict[str, Registered]) -> None:
    """Best effort: a cache directory that cannot be written only costs the next process
    the rebuild."""
    entries = {name: [entry.kind, str(entry.yaml_path) if entry.yaml_path else None,
                      list(entry.tags)] for name, entry in index.items()}
    text = json.dumps(entries)
    with contextlib.suppress(OSError):
        atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def load_config(path: Path) -> dict[str, Any]:
    """A registered YAML with its includes merged, ``!function`` left as path strings."""
    from lm_eval.tasks._yaml_loader import load_yaml

    return load_yaml(path, resolve_func=False)


@dataclass(frozen=True)
class LeafConfig:
    """One lm-eval task to build: its registered YAML, merged config and local data."""

    name: str
    yaml_path: Path
    config: dict[str, Any]
    data_files: dict[str, Path]  # split -> file; empty: the hub dataset

    def overrides(self) -> dict[str, Any]:
        """The keys an override YAML sets on top of the registered config."""
        if not self.data_files:
            return {}
        suffix = next(iter(self.data_files.values())).suffix
        changed: dict[str, Any] = {
            "dataset_path": FORMATS[suffix], "dataset_name": None,
            "dataset_kwargs": {"data_files": {s: str(p) for s, p in self.data_files.items()}}}
        for key in SPLIT_KEYS:
            split = self.config.get(key)
            if split is not None and split not in self.data_files:
                changed[key] = None
        return changed

    def override_yaml(self) -> str:
        import yaml

        return yaml.safe_dump({"include": str(self.yaml_path), **self.overrides()},
                              sort_keys=True)

    def num_fewshot(self, requested: int | None) -> int:
        """The few-shot count lm-eval's ``simple_evaluate`` would use: the request, except
        where the YAML pins 0; else the YAML's; else 0."""
        configured = self.config.get("num_fewshot")
        if requested is not None and configured != 0:
            return requested
        return int(configured or 0)


@dataclass(frozen=True)
class LmEvalSource:
    """What ``lm-eval:NAME[@DIR]`` stands for: its leaf tasks and the groups over them.

    ``kind`` is lm-eval's (task, group); a tag is resolved into one source per task.
    ``groups`` maps each group name to its registered YAML, outermost first.
    """

    name: str
    kind: str
    leaves: tuple[LeafConfig, ...]
    groups: tuple[tuple[str, Path], ...]
    data_dir: Path | None
    config_sha256: str  # hash_configs(leaves, groups), fixed when resolved
    data_sha256: str  # hash_data(leaves), fixed when resolved

    def identity(self) -> dict[str, Any]:
        return {"format": "lm-eval", "lm_eval": lm_eval_version(), "name": self.name,
                "kind": self.kind, "config_sha256": self.config_sha256,
                "data_sha256": self.data_sha256}

    def write_overrides(self, directory: Path) -> None:
        """Override YAMLs for every leaf and group into ``directory`` (for lm-eval's
        ``TaskManager(include_path=directory, include_defaults=False)``)."""
        for leaf in self.leaves:
            (directory / f"{leaf.name}.yaml").write_text(leaf.override_yaml())
        for name, path in self.groups:
            (directory / f"_group_{name}.yaml").write_text(f"include: {json.dumps(str(path))}\n")


def hash_configs(leaves: tuple[LeafConfig, ...], groups: tuple[tuple[str, Path], ...]
                 ) -> str:
    """A hash of every leaf's merged config (data paths left out: the data has its own
    hash) and every group's, ``!function`` files by content."""
    parts = [[leaf.name, _canonical({**leaf.config, **leaf.overrides(),
                                     "dataset_kwargs": None})] for leaf in leaves]
    parts += [[name, _canonical(load_config(path))] for name, path in groups]
    return _sha256(json.dumps(parts, sort_keys=True, default=str).encode())


def hash_data(leaves: tuple[LeafConfig, ...]) -> str:
    """The data files' contents, per leaf and split; or the hub path and name."""
    digest = hashlib.sha256()
    for leaf in leaves:
        if not leaf.data_files:
            digest.update(json.dumps([leaf.name, leaf.config.get("dataset_path"),
                                      leaf.config.get("dataset_name")]).encode())
        for split, path in sorted(leaf.data_files.items()):
            digest.update(f"{leaf.name}\0{split}\0{_file_sha256(path)}\0".encode())
    return digest.hexdigest()


def resolve_source(spec: str) -> list[LmEvalSource]:
    """``NAME[@DIR]`` -> one source (a task or group) or one per task of a tag.

    Example:
        >>> # resolve_source("arc_easy@tests/fixtures/arc")[0].leaves[0].data_files
    """
    lm_eval_version()  # the one-line error naming the extra, before anything else
    name, _, location = spec.partition("@")
    data_dir = Path(location).expanduser() if location else None
    if data_dir is not None and not data_dir.is_dir():
        raise TrackerError(f"lm-eval:{spec}: data directory '{data_dir}' does not exist")
    index = registry_index()
    if name not in index:
        raise unknown_name("lm-eval task", name, index)
    kind = index[name].kind
    if kind == "TAG":
        return [_source(task, data_dir, index) for task in sorted(index[name].tags)]
    return [_source(name, data_dir, index)]


def _source(name: str, data_dir: Path | None, index: dict[str, Any]) -> LmEvalSource:
    entry = index[name]
    groups: list[tuple[str, Path]] = []
    leaf_names = list(dict.fromkeys(_leaves(name, index, groups)))
    leaves = tuple(_leaf(leaf, index[leaf].yaml_path, data_dir, grouped=bool(groups))
                   for leaf in leaf_names)
    kind = "group" if entry.kind == "GROUP" else "task"
    return LmEvalSource(name, kind, leaves, tuple(groups), data_dir,
                        hash_configs(leaves, tuple(groups)), hash_data(leaves))


def _leaves(name: str, index: dict[str, Any], groups: list[tuple[str, Path]]
            ) -> Iterator[str]:
    """The leaf task names under ``name`` (a task, tag or group), in the group's order;
    the groups met are appended to ``groups``."""
    entry = index[name]
    kind = entry.kind
    if kind == "PY_TASK":
        raise TrackerError(f"lm-eval task '{name}' is a Python class task; tracker scores "
                           "YAML tasks only")
    if kind == "TASK":
        yield name
        return
    if kind == "TAG":
        for task in sorted(entry.tags):
            yield from _leaves(task, index, groups)
        return
    groups.append((name, entry.yaml_path))
    for item in load_config(entry.yaml_path).get("task") or []:
        child = item if isinstance(item, str) else item.get("task") or item.get("group")
        if not isinstance(child, str) or child not in index or \
                (isinstance(item, dict) and len(item) > 1):
            raise TrackerError(f"lm-eval group '{name}' defines member {item!r} inline; "
                               "tracker runs groups of registered tasks only")
        yield from _leaves(child, index, groups)


def _leaf(name: str, yaml_path: Path, data_dir: Path | None, *, grouped: bool) -> LeafConfig:
    config = load_config(yaml_path)
    _refuse(name, config)
    if data_dir is None:
        return LeafConfig(name, yaml_path, config, {})
    own = data_dir / name
    directory = own if own.is_dir() else data_dir
    if grouped and not own.is_dir() and not _split_files(data_dir, config):
        raise TrackerError(f"lm-eval:{name}: no data for this subtask; put its split files "
                           f"in {own}/")
    files = _split_files(directory, config)
    if not any(config.get(key) in files for key in ("test_split", "validation_split")):
        wanted = sorted({str(config[k]) for k in ("test_split", "validation_split")
                         if config.get(k)})
        raise TrackerError(f"lm-eval:{name}: {directory} has no file for its evaluation split "
                           f"({' or '.join(wanted) or 'none named'}); expected e.g. "
                           f"{directory / (wanted[0] if wanted else 'test')}.jsonl")
    if len({path.suffix for path in files.values()}) > 1:
        raise TrackerError(f"lm-eval:{name}: {directory} mixes .jsonl and .parquet split "
                           "files; use one format")
    return LeafConfig(name, yaml_path, config, files)


def _split_files(directory: Path, config: dict[str, Any]) -> dict[str, Path]:
    files = {}
    for split in {config[key] for key in SPLIT_KEYS if config.get(key)}:
        for suffix in FORMATS:
            path = directory / f"{split}{suffix}"
            if path.is_file():
                files[str(split)] = path
                break
    return files


def _refuse(name: str, config: dict[str, Any]) -> None:
    """One line for what tracker does not score (the issue's list)."""
    generation = config.get("generation_kwargs") or {}
    reasons = [
        ("class" in config, "is a Python class task"),
        (config.get("custom_dataset") is not None, "builds its data with custom_dataset"),
        (bool(config.get("unsafe_code")), "runs unsafe code"),
        (bool(config.get("doc_to_image") or config.get("doc_to_audio")), "is multimodal"),
        (int(config.get("repeats") or 1) > 1, "repeats generations (sampling)"),
        (bool(generation.get("do_sample")) or float(generation.get("temperature") or 0) > 0,
         "samples its generations"),
    ]
    for refused, reason in reasons:
        if refused:
            raise TrackerError(f"lm-eval task '{name}' {reason}; tracker cannot score it")


def _canonical(value: Any) -> Any:
    """``value`` with every ``!function`` path string replaced by its file's hash."""
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, str) and value.startswith("/"):
        module, _, function = value.rpartition(".")
        source = Path(module + ".py")
        if source.is_file():
            return {"function": function, "module": source.name,
                    "sha256": _file_sha256(source)}
    return value


def _file_sha256(path: Path) -> str:
    return _sha256(path.read_bytes())


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
