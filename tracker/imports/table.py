"""Reading per-checkpoint tables through a mapping file (tracker.imports.table_map): one
:class:`TableRun` per file, its checkpoints' losses and (task, metric) scores, checked.

Every check runs before anything is written, and each failure is one line naming the file
(and the line and column of a bad cell): a column the map names but the file lacks ("did
you mean"), a non-numeric cell, a file name no size pattern matches, an unknown loss set.
Empty cells (and ``nan``) are missing values: that metric is not imported for that row.
Rows of the same step are one checkpoint (W&B logs train and eval metrics on separate rows);
two different values of one column at one step are an error.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from tracker.errors import TrackerError, did_you_mean, printable, unknown_name
from tracker.imports.loss_axis import LossAxis
from tracker.imports.table_map import TableMap
from tracker.points import metric_direction

MISSING = ("", "nan", "na", "none", "null")


@dataclass(frozen=True)
class TableSource:
    """One table file, every cell as text; ``label`` is its path as shown in messages and
    matched by the map's size patterns."""

    label: str
    frame: pd.DataFrame


@dataclass(frozen=True)
class MetricColumn:
    column: str
    task: str
    metric: str
    higher_is_better: bool


@dataclass(frozen=True)
class TableRun:
    """One file read through the map: its run's family and size, one row per checkpoint
    (columns step, tokens_seen, params, loss and one per metric column; NaN where
    missing) and what each metric column is."""

    label: str
    family: str
    size: str
    rows: pd.DataFrame
    metrics: tuple[MetricColumn, ...]
    axis: LossAxis
    loss_column: str


def read_sources(paths: Sequence[Path]) -> list[TableSource]:
    """The files named (CSV, optionally compressed: .csv.gz, .csv.xz, ...)."""
    sources = []
    for path in paths:
        if not path.is_file():
            raise TrackerError(f"table file {path} does not exist")
        sources.append(read_source(path.as_posix(), path))
    return sources


def read_source(label: str, handle: str | Path | IO[bytes]) -> TableSource:
    """One CSV table (a path, compression inferred from its name, or an open file)."""
    try:
        frame = pd.read_csv(handle, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError,
            EOFError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else "empty"
        raise TrackerError(f"{label}: not a readable CSV table: {printable(first)}") from None
    return TableSource(label, frame.rename(columns=lambda c: str(c).strip()))


def read_run(source: TableSource, table_map: TableMap, loss_set: str | None) -> TableRun:
    """One file through the map (see the module docstring)."""
    family, size = table_map.run_of(source.label)
    frame = source.frame
    for role, column in table_map.columns_named().items():
        _require_column(source.label, frame, column, role)
    axis, loss_column = _loss_column(source.label, frame, table_map, loss_set)
    metrics = _metric_columns(source.label, frame, table_map, exclude={loss_column})
    numbers = {column: _numbers(source.label, frame, column)
               for column in [loss_column, *table_map.columns_named().values(),
                              *(m.column for m in metrics)]}
    rows = _checkpoint_rows(source.label, pd.DataFrame(numbers), table_map, size,
                            loss_column)
    return TableRun(source.label, family, size, rows, metrics, axis, loss_column)


def _require_column(label: str, frame: pd.DataFrame, column: str, role: str) -> None:
    if column not in frame.columns:
        hint = printable(did_you_mean(column, frame.columns))
        raise TrackerError(f"{label}: no column '{printable(column)}' (the map's {role})"
                           f"{hint}; the file has {len(frame.columns)} columns")


def _loss_column(label: str, frame: pd.DataFrame, table_map: TableMap,
                 loss_set: str | None) -> tuple[LossAxis, str]:
    spec = table_map.losses
    sets: dict[str, str] = {}
    for column in frame.columns:
        match = re.fullmatch(spec.column, column)
        if match:
            sets.setdefault(match.group("set"), column)
    chosen = loss_set or spec.default
    if not sets:
        raise TrackerError(f"{label}: no column matches the loss regex '{spec.column}'")
    if chosen not in sets:
        error = unknown_name("loss set", chosen, sets)
        raise TrackerError(f"{label}: {error}")
    return LossAxis(chosen, spec.unit, table_map.tokenizer), sets[chosen]


def _metric_columns(label: str, frame: pd.DataFrame, table_map: TableMap,
                    exclude: set[str]) -> tuple[MetricColumn, ...]:
    """(task, metric) of every column a metric rule matches (the first rule that does)."""
    found: dict[tuple[str, str], str] = {}
    metrics = []
    for column in frame.columns:
        if column in exclude:
            continue
        for rule in table_map.metrics:
            match = re.fullmatch(rule.column, column)
            if match is None:
                continue
            task, metric = match.group("task"), rule.metric or match.group("metric")
            if (task, metric) in found:
                raise TrackerError(f"{label}: columns '{found[(task, metric)]}' and "
                                   f"'{column}' are both task '{task}' metric '{metric}'")
            found[(task, metric)] = column
            higher = rule.higher_is_better
            if higher is None:
                higher = metric_direction(metric)
            if higher is None:
                raise TrackerError(f"{label}: metric '{metric}' (column '{column}') is not one "
                                   "tracker knows; give its rule higher_is_better: true/false")
            metrics.append(MetricColumn(column, task, metric, higher))
            break
    if not metrics:
        rules = ", ".join(f"'{rule.column}'" for rule in table_map.metrics)
        raise TrackerError(f"{label}: no column matches a metric rule of the map ({rules})")
    return tuple(metrics)


def _numbers(label: str, frame: pd.DataFrame, column: str) -> pd.Series:
    """A column as floats; empty / nan cells missing; anything else non-numeric an error
    naming the file, line and column."""
    try:  # every cell a number (the usual case): numpy parses them at once
        return frame[column].astype(float)
    except ValueError:
        pass
    text = frame[column].astype(str).str.strip()
    numbers = pd.to_numeric(text.where(~text.str.lower().isin(MISSING), "nan"), errors="coerce")
    bad = numbers.isna() & ~text.str.lower().isin(MISSING)
    if bad.any():
        position = int(np.flatnonzero(bad.to_numpy())[0])
        raise TrackerError(f"{label}: line {position + 2}, column '{printable(column)}': "
                           f"'{printable(text.iloc[position])}' is not a number")
    return numbers.astype(float)


def _checkpoint_rows(label: str, numbers: pd.DataFrame, table_map: TableMap, size: str,
                     loss_column: str) -> pd.DataFrame:
    """One row per checkpoint: step (or none), tokens_seen, params, loss, metric columns."""
    frame = numbers.copy()
    frame["_line"] = np.arange(len(frame)) + 2
    if table_map.step is None:
        if len(frame) != 1:
            raise TrackerError(f"{label}: the map names no step column, so the file must hold "
                               f"one row (a final checkpoint), not {len(frame)}")
        frame["step"] = np.nan
    else:
        frame["step"] = _steps(label, frame, table_map.step)
        frame = _one_row_per_step(label, frame)
    frame["tokens_seen"] = _tokens(frame, table_map)
    frame["params"] = _params(frame, table_map, size)
    frame["loss"] = frame[loss_column]
    return frame.reset_index(drop=True)


def _steps(label: str, frame: pd.DataFrame, column: str) -> pd.Series:
    steps = frame[column]
    bad = steps.isna() | (steps != np.floor(steps)) | (steps < 0)
    if bad.any():
        position = int(np.flatnonzero(bad.to_numpy())[0])
        raise TrackerError(f"{label}: line {position + 2}, column '{printable(column)}': the "
                           "step must be a whole number >= 0 on every row")
    return steps


def _one_row_per_step(label: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of one step merged (first value of each column); conflicting values are an
    error."""
    values = [c for c in frame.columns if c not in ("step", "_line")]
    conflicts = frame.groupby("step")[values].nunique() > 1
    if conflicts.to_numpy().any():
        step, column = conflicts.stack().loc[lambda flags: flags].index[0]
        lines = frame.loc[frame["step"] == step, "_line"].tolist()
        raise TrackerError(f"{label}: step {int(step)} has different values of column "
                           f"'{printable(column)}' on lines {', '.join(map(str, lines))}")
    return frame.groupby("step", as_index=False, sort=True).first()


def _tokens(frame: pd.DataFrame, table_map: TableMap) -> pd.Series:
    if table_map.tokens is not None:
        return frame[table_map.tokens]
    per_step = table_map.tokens_per_step
    if per_step is None:
        return pd.Series(np.nan, index=frame.index)
    factor = frame[per_step] if isinstance(per_step, str) else float(per_step)
    return frame["step"] * factor


def _params(frame: pd.DataFrame, table_map: TableMap, size: str) -> pd.Series:
    if isinstance(table_map.params, str):
        return frame[table_map.params]
    count = table_map.params_of(size)
    return pd.Series(np.nan if count is None else float(count), index=frame.index)
