"""Reading lm-eval result files, in the 0.4.x format and in the older one.

- 0.4.x (``results_<datetime>.json``, what ``lm_eval --output_path`` writes): ``results``
  maps a task to ``"<metric>,<filter>"`` keys (``"acc,none"``, ``"acc_stderr,none"``),
  with ``versions``, ``n-shot``, ``n-samples`` (``effective`` = examples scored),
  ``configs`` (the task's YAML as run: ``output_type``, ``target_delimiter``, ...),
  ``higher_is_better``, ``group_subtasks`` and ``config`` (``model_args``,
  ``model_revision``, ``model_dtype``, ``limit``). With ``--log_samples`` the per-example
  logs lie beside it as ``samples_<task>_<datetime>.jsonl`` (same datetime).
- Older harness (Pythia's published files): ``{results, versions, config}`` with plain
  metric keys (``"acc"``, ``"acc_stderr"``), ``config.model_args`` and
  ``config.num_fewshot``; no example counts and no sample logs.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import tarfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracker.errors import TrackerError, printable

DATE_SUFFIX = re.compile(r"_(\d{4}-\d{2}-\d{2}T[0-9.\-]+)$")
# top-level sections that are JSON objects in every lm-eval version that writes them
SECTIONS = ("config", "configs", "versions", "n-shot", "n-samples", "higher_is_better",
            "group_subtasks", "groups")
NOT_LMEVAL = ("not lm-eval output (expected a JSON object with 'results' and 'versions' or "
              "'config', as lm-eval writes)")


@dataclass(frozen=True)
class ResultSource:
    """One result file's text. ``label`` is its path as shown in messages and matched by
    ``--pattern``; ``directory`` is where its sample logs would lie (None in an archive)."""

    label: str
    text: str
    directory: Path | None = None
    explicit: bool = True  # named by the user (not found by a directory search)


@dataclass(frozen=True)
class MetricValue:
    """One aggregate as lm-eval reported it: metric name, filter ("none" in old files)."""

    name: str
    filter: str
    value: float
    stderr: float


@dataclass(frozen=True)
class TaskEntry:
    """One task of one result file."""

    name: str
    version: str
    num_fewshot: int | None
    n: int | None  # n-samples "effective" (0.4.x); None in old files
    metrics: tuple[MetricValue, ...]
    higher_is_better: Mapping[str, bool | None]
    output_type: str | None
    target_delimiter: str
    digest: str  # sha256 of what the file says about this task

    def metric(self, name: str, filter_: str = "none") -> MetricValue | None:
        for value in self.metrics:
            if value.name == name and value.filter == filter_:
                return value
        return None


@dataclass(frozen=True)
class ResultFile:
    source: ResultSource
    model_args: Mapping[str, str]
    pretrained: str | None
    revision: str | None
    dtype: str
    limit: float | None
    tasks: Mapping[str, TaskEntry]
    groups: tuple[str, ...]  # 0.4.x group results (not imported; their subtasks are)
    date_id: str | None = None

    @property
    def label(self) -> str:
        return self.source.label

    def samples(self, task: str) -> list[dict[str, Any]] | None:
        """The task's per-example log (``samples_<task>_<datetime>.jsonl``), or None; read
        on each call (not kept: the logs of a large sweep need not fit in memory)."""
        path = self.samples_path(task)
        return read_samples(path) if path is not None else None

    def samples_path(self, task: str) -> Path | None:
        folder = self.source.directory
        if folder is None or not folder.is_dir():
            return None
        if self.date_id is not None:
            exact = folder / f"samples_{task}_{self.date_id}.jsonl"
            if exact.is_file():
                return exact
        # one log of that task in the folder, whatever its datetime (names are exact: the
        # datetime must follow the task name, so mmlu_x never takes mmlu_x_y's log)
        pattern = re.compile(rf"samples_{re.escape(task)}_(\d{{4}}-\d{{2}}-\d{{2}}T[0-9.\-]+)"
                             r"\.jsonl$")
        found = [p for p in folder.glob(f"samples_{task}_*.jsonl") if pattern.match(p.name)]
        return found[0] if len(found) == 1 else None


def collect_sources(paths: Sequence[Path]) -> list[ResultSource]:
    """Result files named in ``paths`` or found under its directories (``*.json``,
    recursively; JSON files there that are not lm-eval output are skipped later)."""
    sources: list[ResultSource] = []
    for path in paths:
        if path.is_file():
            sources.append(_source(path, explicit=True))
        elif path.is_dir():
            found = sorted(p for p in path.rglob("*.json") if p.is_file()
                           and not p.name.startswith("samples_"))
            sources.extend(_source(p, explicit=False) for p in found)
        else:
            raise TrackerError(f"{path} does not exist; give lm-eval result files (*.json) or "
                               "directories holding them")
    return sources


def _source(path: Path, *, explicit: bool) -> ResultSource:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise TrackerError(f"{path}: cannot read: {error}") from error
    return ResultSource(path.as_posix(), text, path.parent, explicit)


def parse_result(source: ResultSource) -> ResultFile:
    """Parse one result file (either format); TrackerError in one line when it is not
    lm-eval output."""
    try:
        data = json.loads(source.text)
    except json.JSONDecodeError as error:
        raise TrackerError(f"{source.label}: {NOT_LMEVAL}; not valid JSON ({error.msg} at "
                           f"line {error.lineno})") from None
    if not is_lmeval_output(data):
        raise TrackerError(f"{source.label}: {NOT_LMEVAL}")
    for section in SECTIONS:
        _object(data.get(section), section, source.label)
    config = data.get("config") or {}
    model_args = parse_model_args(config.get("model_args"))
    modern = "n-samples" in data or "configs" in data or any(
        "," in key for entry in data["results"].values() for key in entry)
    groups = _groups(data) if modern else set()
    tasks = {}
    for name, entry in data["results"].items():
        if name in groups:
            continue
        for section in ("configs", "higher_is_better"):
            _object((data.get(section) or {}).get(name), f"{section}.{name}", source.label)
        tasks[name] = _task_entry(name, entry, data, modern)
    revision = model_args.get("revision") or config.get("model_revision")
    dtype = model_args.get("dtype") or str(config.get("model_dtype") or "") or "auto"
    date = DATE_SUFFIX.search(Path(source.label).stem)
    return ResultFile(
        source=source, model_args=model_args,
        pretrained=_pretrained(model_args, data, config),
        revision=None if revision in (None, "", "main") else str(revision),
        dtype=dtype.removeprefix("torch."), limit=_number(config.get("limit")),
        tasks=tasks, groups=tuple(sorted(groups & set(data["results"]))),
        date_id=date.group(1) if date else None,
    )


def _object(value: object, where: str, label: str) -> None:
    """Sections of a result file are JSON objects (or absent)."""
    if value is not None and not isinstance(value, dict):
        raise TrackerError(f"{label}: '{printable(where)}' must be a JSON object as lm-eval "
                           f"writes it, not {type(value).__name__}")


def is_lmeval_output(data: object) -> bool:
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        return False
    if not ("versions" in data or "config" in data):
        return False
    return all(isinstance(entry, dict) for entry in data["results"].values())


def parse_model_args(value: object) -> dict[str, str]:
    """``"pretrained=X,revision=step1,dtype=float32"`` (or a dict) as a dict of strings.

    Example:
        >>> parse_model_args("use_accelerate=True,pretrained=EleutherAI/pythia-160m")
        {'use_accelerate': 'True', 'pretrained': 'EleutherAI/pythia-160m'}
    """
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    if not isinstance(value, str):
        return {}
    pairs = [item.split("=", 1) for item in value.split(",") if "=" in item]
    return {key.strip(): val.strip() for key, val in pairs}


def _pretrained(model_args: Mapping[str, str], data: dict, config: dict) -> str | None:
    for candidate in (model_args.get("pretrained"), model_args.get("model"),
                      data.get("model_name"), config.get("model")):
        if isinstance(candidate, str) and "/" in candidate:
            return candidate
    return None


def _groups(data: dict) -> set[str]:
    subtasks = data.get("group_subtasks") or {}
    named = {name for name, children in subtasks.items() if children}
    return named | set(data.get("groups") or {})


def _task_entry(name: str, entry: dict, data: dict, modern: bool) -> TaskEntry:
    metrics = _modern_metrics(entry) if modern else _old_metrics(entry)
    configs = (data.get("configs") or {}).get(name) or {}
    n_shot = (data.get("n-shot") or {}).get(name, configs.get("num_fewshot"))
    if n_shot is None and not modern:
        n_shot = (data.get("config") or {}).get("num_fewshot")
    counts = (data.get("n-samples") or {}).get(name) or {}
    n = counts.get("effective") if isinstance(counts, dict) else None
    version = (data.get("versions") or {}).get(name, "")
    higher = (data.get("higher_is_better") or {}).get(name) or {}
    payload = {"results": entry, "version": version, "n": n, "num_fewshot": n_shot}
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
    return TaskEntry(
        name=name, version=str(version), num_fewshot=_int_or_none(n_shot),
        n=_int_or_none(n), metrics=tuple(metrics),
        higher_is_better={str(k): (v if isinstance(v, bool) else None)
                          for k, v in higher.items()},
        output_type=configs.get("output_type"),
        target_delimiter=str(configs.get("target_delimiter", " ")), digest=digest,
    )


def _modern_metrics(entry: dict) -> Iterator[MetricValue]:
    for key, value in entry.items():
        if "," not in key:
            continue  # name, alias, sample_len
        metric, filter_ = key.split(",", 1)
        number = _number(value)
        if metric.endswith("_stderr") or number is None:
            continue
        stderr = _number(entry.get(f"{metric}_stderr,{filter_}"))
        yield MetricValue(metric, filter_, number, math.nan if stderr is None else stderr)


def _old_metrics(entry: dict) -> Iterator[MetricValue]:
    for key, value in entry.items():
        number = _number(value)
        if key.endswith("_stderr") or number is None:
            continue
        stderr = _number(entry.get(f"{key}_stderr"))
        yield MetricValue(key, "none", number, math.nan if stderr is None else stderr)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _int_or_none(value: object) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def read_samples(path: Path) -> list[dict[str, Any]]:
    """The per-example records of one ``samples_<task>_*.jsonl``."""
    records = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise TrackerError(f"{path}:{number}: not valid JSON ({error.msg})") from None
    return records


def file_digest(path: Path | None) -> str | None:
    if path is None:
        return None
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


# Where the published sets shipped with tracker live (tracker/data, see its NOTICE).
DATA_DIR = Path(__file__).resolve().parents[1] / "data"


def shipped_members(archive: str, keep: Callable[[str], bool]) -> list[tuple[str, bytes]]:
    """(name, bytes) of each file of a shipped ``.tar.xz`` whose name ``keep`` accepts, in
    name order; a one-line error when the archive is missing from this installation."""
    path = DATA_DIR / archive
    if not path.is_file():
        raise TrackerError(f"the published set {path} is missing from this installation")
    members = []
    with tarfile.open(path, "r:xz") as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            handle = tar.extractfile(member) if member.isfile() else None
            if handle is not None and keep(member.name):
                members.append((member.name, handle.read()))
    return members
