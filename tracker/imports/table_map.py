"""The mapping file of ``tracker import table``: which columns of a per-checkpoint table are
what (docs/imports.md documents every key; configs/imports/*.yaml are worked examples).

A table is one training run: one row per evaluated checkpoint, one column per metric (a
W&B or TensorBoard CSV export, an OLMo eval CSV). The map names

- the family, and the size (the run's label): for every file (``size: 1b``) or from the
  file's name by regexes (``sizes: [{file: REGEX, label: "{size}-{multiple}"}]``, the label
  a template over the regex's named groups);
- the step, tokens and parameter columns (tokens seen may be ``step x tokens_per_step``,
  a column or a number; parameters a column or a number per size);
- the loss columns (a regex whose named group ``set`` names the validation set) and their
  unit (nats per token or bits per byte), with the set imported by default;
- the (task, metric) columns by regexes (named group ``task``, and ``metric`` unless the
  rule names the metric), and each task's chance level and example count (null: unknown).

Regexes over columns must match the whole column name; regexes over file names are
searched in the name (not the directory).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from tracker.config import StrictModel, load_model
from tracker.errors import TrackerError

LossUnit = Literal["nats_per_token", "bits_per_byte"]


def _regex(text: str) -> str:
    try:
        re.compile(text)
    except re.error as error:
        raise ValueError(f"'{text}' is not a valid regex: {error}") from None
    return text


Regex = Annotated[str, AfterValidator(_regex)]


class SizeRule(StrictModel):
    """A run whose file name matches ``file`` (searched) has size ``label`` (a template
    over the regex's named groups) and, when given, family ``family`` (a template too)."""

    file: Regex
    label: str = "{size}"
    family: str | None = None



class LossColumns(StrictModel):
    column: Regex  # with the named group `set`
    unit: LossUnit
    default: str  # the set imported unless --loss says otherwise


    @model_validator(mode="after")
    def _has_set(self) -> LossColumns:
        if "set" not in re.compile(self.column).groupindex:
            raise ValueError(f"loss column regex '{self.column}' needs the named group "
                             "(?P<set>...)")
        return self


class MetricRule(StrictModel):
    """Columns whose whole name matches ``column`` are (task, metric) scores."""

    column: Regex  # with the named group `task` (and `metric` unless metric is given)
    metric: str | None = None
    higher_is_better: bool | None = None  # default: tracker's metric table


    @model_validator(mode="after")
    def _groups(self) -> MetricRule:
        groups = re.compile(self.column).groupindex
        if "task" not in groups:
            raise ValueError(f"metric column regex '{self.column}' needs the named group "
                             "(?P<task>...)")
        if self.metric is None and "metric" not in groups:
            raise ValueError(f"metric column regex '{self.column}' needs the named group "
                             "(?P<metric>...) or a 'metric' name")
        return self


class TaskInfo(StrictModel):
    """Chance level and example count of the tasks whose whole name matches ``task``."""

    task: Regex
    chance: float | None = Field(default=None, ge=0)  # of accuracy-type metrics
    n: int | None = Field(default=None, gt=0)  # examples (binomial variance); null: unknown



class TableMap(StrictModel):
    """One mapping file (see the module docstring)."""

    family: str
    tokenizer: str | None = None  # whose tokens the nats-per-token losses count
    size: str | None = None
    sizes: list[SizeRule] | None = None
    step: str | None = None  # column; absent: every row is a final checkpoint (no step)
    tokens: str | None = None  # column of tokens seen
    tokens_per_step: str | int | None = None  # column or number: tokens = step x this
    params: str | dict[str, int | None] | None = None  # column, or a count per size
    losses: LossColumns
    metrics: list[MetricRule] = Field(min_length=1)
    tasks: list[TaskInfo] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> TableMap:
        if (self.size is None) == (self.sizes is None):
            raise ValueError("give 'size' (one size for every file) or 'sizes' (rules over "
                             "file names), not both")
        if self.tokens is not None and self.tokens_per_step is not None:
            raise ValueError("give 'tokens' (a column) or 'tokens_per_step', not both")
        if self.tokens_per_step is not None and self.step is None:
            raise ValueError("'tokens_per_step' needs a 'step' column")
        return self

    def columns_named(self) -> dict[str, str]:
        """The columns the map names outright: what each is for -> column name."""
        named = {"step": self.step, "tokens": self.tokens,
                 "tokens_per_step": self.tokens_per_step, "params": self.params}
        return {role: column for role, column in named.items() if isinstance(column, str)}

    def run_of(self, path: str) -> tuple[str, str]:
        """(family, size) of a table file from its name. Raises TrackerError naming the file
        when no rule matches."""
        if self.size is not None:
            return self.family, self.size
        name = Path(path).name
        for rule in self.sizes or []:
            match = re.search(rule.file, name)
            if match:
                groups = {k: v for k, v in match.groupdict().items() if v is not None}
                return (_fill(rule.family, groups, path) if rule.family else self.family,
                        _fill(rule.label, groups, path))
        patterns = ", ".join(f"'{rule.file}'" for rule in self.sizes or [])
        raise TrackerError(f"{path}: the file name '{name}' matches no size pattern of the "
                           f"mapping ({patterns}); add a 'sizes' rule for it")

    def params_of(self, size: str) -> int | None:
        """The parameter count of a size from the map's per-size counts: the size itself,
        else its part before the first '-' (``190M-1xC`` is a run of 190M)."""
        if not isinstance(self.params, dict):
            return None
        return self.params.get(size, self.params.get(size.split("-", 1)[0]))

    def task_info(self, task: str) -> TaskInfo | None:
        """The first ``tasks`` entry matching the task's whole name."""
        return next((info for info in self.tasks if re.fullmatch(info.task, task)), None)


def _fill(template: str, groups: dict[str, str], path: str) -> str:
    try:
        return template.format(**groups)
    except (KeyError, IndexError) as error:
        raise TrackerError(f"{path}: the size template '{template}' names {error}, which its "
                           f"file pattern does not capture (named groups: "
                           f"{', '.join(groups) or 'none'})") from None


def load_map(path: Path) -> TableMap:
    """Read and validate a mapping file (yaml.safe_load; unknown keys rejected)."""
    if not Path(path).is_file():
        raise TrackerError(f"mapping file {path} does not exist")
    return load_model(TableMap, Path(path))
