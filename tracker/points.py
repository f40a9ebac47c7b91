"""Reading and validating a points table: (loss, score) per checkpoint, task and metric.

The CSV is what `tracker export` writes, and the bring-your-own format:
`family,size,params,step,tokens_seen,loss,task,metric,score,n`. `task, metric, loss, score`
are required; the rest are optional, as are `higher_is_better` and `chance` (a run store
provides them). Rows with task "validation" are the loss itself and are left out.

Policy for bad values: a cell that is not a number at all (e.g. "abc" in `loss`) is an
error naming the column and line; an empty, NaN or infinite loss or score is *dropped*
and counted (`Points.n_dropped`), since exports of unfinished runs legitimately hold them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tracker.errors import TrackerError, did_you_mean, printable
from tracker.evals.interface import VALIDATION_TASK
from tracker.evals.metrics import LOSS_UNITS, LOSSES, METRICS

REQUIRED = ("task", "metric", "loss", "score")
OPTIONAL = ("family", "size", "params", "step", "tokens_seen", "n", "higher_is_better", "chance",
            "loss_metric")
TEXT_OPTIONAL = ("family", "size", "loss_metric")
NUMERIC = ("loss", "score", "params", "step", "tokens_seen", "n", "chance")


@dataclass(frozen=True)
class Points:
    """A validated points table; `frame` has every column of REQUIRED + OPTIONAL.

    `n_dropped` counts rows dropped for a non-finite loss or score; `notes` are one-line
    messages for the user (dropped rows, metrics of unknown direction).
    """

    frame: pd.DataFrame
    n_dropped: int
    notes: tuple[str, ...]


def read_points_csv(path: Path | str) -> Points:
    """Read and validate a points CSV; raises TrackerError with one actionable line."""
    path = Path(path)
    if not path.is_file():
        raise TrackerError(f"points file {path} does not exist")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise TrackerError(f"points file {path} is empty; expected a header with columns "
                           f"{', '.join(REQUIRED)}") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        first = str(error).strip().splitlines()[0]
        raise TrackerError(f"points file {path} is not a readable CSV: {first}") from None
    return validate_points(frame, source=str(path))


def validate_points(frame: pd.DataFrame, source: str = "points") -> Points:
    """Check columns and values of a points table (from a CSV or a run store)."""
    frame = frame.rename(columns=lambda c: str(c).strip())
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        hint = printable(did_you_mean(missing[0], frame.columns))
        raise TrackerError(f"{source}: missing column '{missing[0]}'{hint}; required columns: "
                           f"{', '.join(REQUIRED)}")
    if frame.empty:
        raise TrackerError(f"{source}: has a header but no rows of points")
    frame = frame.copy()
    for column in REQUIRED[:2]:
        _require_text(frame, column, source)
    for column in NUMERIC:
        if column in frame.columns:
            frame[column] = _numbers(frame[column], column, source)
    frame = frame[frame["task"] != VALIDATION_TASK]
    finite = np.isfinite(frame["loss"]) & np.isfinite(frame["score"])
    n_dropped = int((~finite).sum())
    notes = [f"{source}: dropped {n_dropped} point(s) with a NaN or infinite loss or score"
             ] if n_dropped else []
    frame = frame[finite]
    if frame.empty:
        raise TrackerError(f"{source}: no task points with a finite loss and score")
    frame, direction_notes = _with_direction(frame)
    return Points(_complete(frame), n_dropped, tuple(notes + direction_notes))


def _require_text(frame: pd.DataFrame, column: str, source: str) -> None:
    # a missing cell is empty: pandas 3's astype(str) keeps None/NaN missing, not "None"
    values = frame[column].where(frame[column].notna(), "").astype(str).str.strip()
    empty = values == ""
    if empty.any():
        line = int(np.flatnonzero(empty.to_numpy())[0]) + 2
        raise TrackerError(f"{source}: column '{column}' is empty on line {line}")
    frame[column] = values


def _numbers(column_values: pd.Series, column: str, source: str) -> pd.Series:
    """Parse numbers; empty/nan/inf become NaN/inf; anything else is an error."""
    if pd.api.types.is_numeric_dtype(column_values):
        return column_values.astype(float)
    # missing cells (None/NaN in a frame from the store) read as empty, whatever the dtype
    text = column_values.where(column_values.notna(), "").astype(str).str.strip()
    numbers = pd.to_numeric(text.replace("", "nan"), errors="coerce")
    bad = numbers.isna() & ~text.str.lower().isin(["", "nan", "na", "none", "null"])
    if bad.any():
        position = int(np.flatnonzero(bad.to_numpy())[0])
        raise TrackerError(f"{source}: column '{column}' has a non-numeric value "
                           f"'{printable(text.iloc[position])}' on line {position + 2}")
    return numbers.astype(float)


def _with_direction(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Fill higher_is_better from the metric table where the table lacks it."""
    frame = frame.copy()
    given = frame["higher_is_better"] if "higher_is_better" in frame.columns else None
    known = frame["metric"].map(metric_direction)
    unknown = sorted(set(frame.loc[known.isna(), "metric"]))
    if given is not None:
        parsed = given.map(_as_bool)
        known = parsed.where(parsed.notna(), known)
        unknown = sorted(set(frame.loc[known.isna(), "metric"]))
    frame["higher_is_better"] = known.fillna(True).astype(bool)
    notes = [f"metric '{name}' is not known; assuming higher is better" for name in unknown]
    return frame, notes


def metric_direction(metric: str) -> bool | None:
    """True/False for known metrics (tracker.evals.metrics), None when unknown."""
    spec = METRICS.get(metric) or LOSSES.get(metric)
    return None if spec is None else spec.higher_is_better


def _as_bool(value) -> bool | None:
    text = str(value).strip().lower()
    if text in {"true", "1", "1.0", "yes"}:
        return True
    if text in {"false", "0", "0.0", "no"}:
        return False
    return None


def _complete(frame: pd.DataFrame) -> pd.DataFrame:
    """Add absent optional columns (NaN / empty) so downstream code needs no checks."""
    frame = frame.copy()
    for column in OPTIONAL:
        if column not in frame.columns:
            frame[column] = np.nan if column in NUMERIC else ""
    for column in TEXT_OPTIONAL:
        frame[column] = frame[column].fillna("").astype(str)
    return frame.reset_index(drop=True)


LOSS_LABELS = {"bits_per_byte": "validation loss (bits per byte)",
               "nats_per_token": "validation loss (nats per token)",
               "loss": "loss (as given with the results)"}


def loss_label(frame: pd.DataFrame) -> str:
    """The x axis's name for a points table: from its ``loss_metric`` column (what
    ``tracker export`` writes), with a proxy loss named as one; plain "loss" without it.

    Example:
        >>> loss_label(pd.DataFrame({"loss_metric": ["proxy_ln_lambada_openai_ppl"]}))
        'PROXY loss: ln(lambada_openai ppl)'
    """
    names = sorted(set(frame.get("loss_metric", pd.Series(dtype=str)).dropna().astype(str)))
    labels = [_loss_metric_label(name) for name in names if name]
    return " / ".join(labels) if labels else "loss"


def _loss_metric_label(name: str) -> str:
    """``loss_c4_en_nats_per_token`` (an imported loss: tracker.imports.loss_axis) reads
    'validation loss on c4_en (nats per token)'."""
    if name in LOSS_LABELS:
        return LOSS_LABELS[name]
    for unit in LOSS_UNITS:
        if name.startswith("loss_") and name.endswith("_" + unit):
            loss_set = name.removeprefix("loss_").removesuffix("_" + unit)
            return f"validation loss on {loss_set} ({unit.replace('_', ' ')})"
    if name.startswith("proxy_ln_"):
        task, _, metric = name.removeprefix("proxy_ln_").rpartition("_")
        return f"PROXY loss: ln({task} {metric})"
    if name.startswith("proxy_"):
        return "PROXY loss: " + name.removeprefix("proxy_")
    return name


# what the per-example bootstrap reads (tracker.fit.table): a Pythia-sized sweep's long
# table without its per-row loss and counts is about half the memory
# the per-example columns the fit reads (of tracker.store.example_rows.EXAMPLE_COLUMNS)
FIT_EXAMPLE_COLUMNS = ("family", "size", "step", "task", "metric", "example_id", "value")


def read_run(run_dir: Path | str, setting: str | None = None, *,
             tasks: Sequence[str] | None = None
             ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Points and per-example rows of a run directory (tracker.store.run_store.RunStore), one
    setting per task (tracker.store.settings). The store's one-line notes (a corrupt unit file
    set aside) go to the ``tracker`` logger."""
    from tracker.store.run_store import RunStore  # the store pulls in pyarrow; only needed here

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise TrackerError(f"run directory {run_dir} does not exist")
    store = RunStore(run_dir)
    points = store.points(setting=setting, tasks=tasks)
    if points.empty:
        raise TrackerError(f"run directory {run_dir} has no results yet; run `tracker eval`")
    examples = store.examples(setting=setting, tasks=tasks, columns=FIT_EXAMPLE_COLUMNS)
    return points, (None if examples.empty else examples)
