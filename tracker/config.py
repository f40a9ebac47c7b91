"""Where the project's configs live, and reading YAML config files into validated pydantic
models, with errors a user can act on.

Every config model forbids unknown keys; a bad file gives one line naming the file, the key,
the bad value and (for a misspelt key) the closest allowed key.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from tracker.errors import TrackerError, did_you_mean, printable

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = PROJECT_ROOT / "configs"
FAMILY_DIR = CONFIG_DIR / "families"
VALIDATION_DIR = CONFIG_DIR / "validation"
RUNS_DIR = Path("runs")  # outputs: relative to the working directory, like any output path

Model = TypeVar("Model", bound=BaseModel)


def resolve_project_path(path: str | Path) -> Path:
    """A path from a shipped config (``configs/ladder.yaml``): absolute, or relative to the
    project root, so it means the same file from any working directory."""
    candidate = Path(path)
    return candidate if candidate.is_absolute() else PROJECT_ROOT / candidate


class StrictModel(BaseModel):
    """Base for config models: immutable, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def read_yaml(path: Path) -> object:
    """``yaml.safe_load`` a file, turning I/O and syntax errors into one-line errors."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise TrackerError(f"cannot read config {path}: {error.strerror}") from error
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise TrackerError(f"{path}: not valid YAML: {_yaml_problem(error)}") from error


def _yaml_problem(error: yaml.YAMLError) -> str:
    """The parser's problem and where (line, column), on one line."""
    problem = getattr(error, "problem", None)
    mark = getattr(error, "problem_mark", None)
    if problem is None:
        return " ".join(str(error).split())
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return f"{problem}{where}"


def load_model(model: type[Model], path: Path) -> Model:
    """Read ``path`` and validate it as ``model``."""
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise TrackerError(f"{path}: expected a mapping of keys to values at the top level")
    return validate(model, data, source=str(path))


def validate(model: type[Model], data: dict, *, source: str) -> Model:
    """Validate ``data`` as ``model``; the first problem becomes a one-line TrackerError."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise TrackerError(f"{source}: {describe_error(model, error)}") from error


def describe_error(model: type[BaseModel], error: ValidationError) -> str:
    """The first problem, a misspelt key before all else (a misspelt required key is
    also reported missing; the misspelling is what to fix)."""
    errors = error.errors()
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    location = printable(".".join(str(part) for part in first["loc"]))
    if first["type"] == "value_error":  # a check across keys (model_validator) or a value's
        message = printable(str(first["msg"]).removeprefix("Value error, "))
        return f"key '{location}': {message}" if location else message
    if first["type"] == "extra_forbidden":
        allowed = _allowed_keys(model, first["loc"])
        key = str(first["loc"][-1])
        hint = did_you_mean(printable(key), allowed)
        return f"unknown key '{location}'{hint}; allowed: {', '.join(sorted(allowed))}"
    if first["type"] == "missing":
        return f"missing required key '{location}'"
    value = first.get("input")
    return f"key '{location}' has bad value {value!r}: {printable(first['msg'])}"


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """Field names of the (possibly nested) model that owns the unknown key."""
    current: type[BaseModel] = model
    for part in loc[:-1]:
        field = current.model_fields.get(str(part)) if isinstance(part, str) else None
        annotation = getattr(field, "annotation", None)
        nested = _first_model(annotation)
        if nested is not None:
            current = nested
    return list(current.model_fields)


def _first_model(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _first_model(arg)
        if found is not None:
            return found
    return None
