"""The run store: one immutable file per finished unit, read back as pandas DataFrames.

Layout of a run directory::

    runs/<run>/
      units/<family>/<size>/step<N>/<task>-<key>.parquet   one per finished unit
      failed/<key>.json                                      last failure of a unit
      plan.json                                              units of the last `tracker eval`

A unit file holds the per-example rows as a Parquet table and the unit's record (what
produced it, its aggregate scores) as JSON in the file's metadata. Files are written to a
temporary name in the same directory and renamed, so a crash never leaves half a result
and concurrent workers never collide: readers only ever see whole files.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import tracker
from tracker.files import atomic_write
from tracker.results import UnitResult
from tracker.settings import select_records, setting_of
from tracker.units import Unit, slug

RECORD_KEY = b"tracker.record"
EXPORT_COLUMNS = ["family", "size", "params", "step", "tokens_seen", "loss", "task", "metric",
                  "score", "n"]
LOSS_METRICS = ("bits_per_byte", "loss")  # in order of preference; then proxy_* metrics


class RunStore:
    """Read and write the units of one run directory.

    Example:
        >>> store = RunStore(Path("runs/pythia"))  # doctest: +SKIP
        >>> store.points().head()                  # doctest: +SKIP
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    @property
    def units_dir(self) -> Path:
        return self.root / "units"

    def path(self, unit: Unit) -> Path:
        return self.units_dir / unit.relative_path

    def has(self, unit: Unit) -> bool:
        return self.path(unit).is_file()

    def write(self, unit: Unit, result: UnitResult, *, params: int | None,
              duration_s: float, device: str) -> Path:
        """Store a finished unit atomically and clear any failure recorded for it."""
        record = unit_record(unit, result, params=params, duration_s=duration_s, device=device)
        table = pa.Table.from_pandas(result.examples, preserve_index=False)
        table = table.replace_schema_metadata({RECORD_KEY: json.dumps(record).encode("utf-8")})
        target = self.path(unit)
        atomic_write(target, lambda tmp: pq.write_table(table, tmp))
        self.failure_path(unit.key).unlink(missing_ok=True)
        self._supersede_others(unit, target)
        return target

    def _supersede_others(self, unit: Unit, kept: Path) -> None:
        """Move aside (to ``superseded/``) stored units of the same checkpoint label, task
        and setting but another key: results of weights that were replaced in place (a
        family retrained, a checkpoint overwritten). Nothing is deleted."""
        setting = setting_of(unit.identity())
        for path in kept.parent.glob(f"{slug(unit.task)}-*.parquet"):
            if path == kept:
                continue
            try:
                record = read_record(path)
            except (OSError, KeyError, ValueError, pa.ArrowException):
                continue  # unreadable files are not ours to move
            if record["task"] == unit.task and setting_of(record["identity"]) == setting:
                target = self.root / "superseded" / path.relative_to(self.units_dir)
                target.parent.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(FileNotFoundError):  # a concurrent writer moved it
                    os.replace(path, target)

    def failure_path(self, key: str) -> Path:
        return self.root / "failed" / f"{key}.json"

    def write_failure(self, unit: Unit, error: str) -> None:
        payload = {"key": unit.key, "label": unit.label, "error": error,
                   "identity": unit.identity(), "time": time.time()}
        text = json.dumps(payload, indent=1, default=str)
        atomic_write(self.failure_path(unit.key), lambda tmp: Path(tmp).write_text(text))

    def failures(self) -> dict[str, dict[str, Any]]:
        folder = self.root / "failed"
        if not folder.is_dir():
            return {}
        return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}

    def unit_files(self) -> list[Path]:
        return sorted(self.units_dir.glob("**/*.parquet")) if self.units_dir.is_dir() else []

    def records(self) -> list[dict[str, Any]]:
        """Every stored unit's record (read from file metadata; rows are not loaded)."""
        return [read_record(path) for path in self.unit_files()]

    def planned_settings(self) -> dict[str, str]:
        """task -> setting id of the latest ``tracker eval`` plan (empty without one)."""
        plan_path = self.root / "plan.json"
        if not plan_path.is_file():
            return {}
        return {u["task"]: u["setting"] for u in json.loads(plan_path.read_text())
                if "task" in u and "setting" in u}

    def selected(self, setting: str | None = None) -> list[tuple[Path, dict[str, Any]]]:
        """(file, record) of the units that are read together: one setting per task
        (tracker.settings); raises TrackerError when that choice is ambiguous."""
        files = self.unit_files()
        records = [read_record(path) for path in files]
        chosen = select_records(records, choice=setting, planned=self.planned_settings(),
                                source=str(self.root))
        kept = {id(record) for record in chosen}
        return [(path, record) for path, record in zip(files, records, strict=True)
                if id(record) in kept]

    def stored_keys(self) -> set[str]:
        return {path.stem.rsplit("-", 1)[-1] for path in self.unit_files()}

    def scores(self, setting: str | None = None) -> pd.DataFrame:
        """One row per (unit, metric): checkpoint columns, task, metric and the aggregate."""
        return scores_frame([record for _, record in self.selected(setting)])

    def points(self, validation_metric: str | None = None,
               setting: str | None = None) -> pd.DataFrame:
        """The export table: every score with its checkpoint's validation loss as ``loss``
        (one setting per task, see :meth:`selected`)."""
        return attach_loss(self.scores(setting), validation_metric)

    def examples(self, setting: str | None = None) -> pd.DataFrame:
        """Per-example rows in long form: checkpoint columns, loss, task, metric,
        example_id, value (numeric per-example columns only; one setting per task)."""
        frames, records = [], []
        for path, record in self.selected(setting):
            records.append(record)
            wide = pq.read_table(path).to_pandas()
            numeric = [c for c in wide.columns
                       if c != "example_id" and pd.api.types.is_numeric_dtype(wide[c])]
            long = wide.melt(id_vars=["example_id"], value_vars=numeric, var_name="metric",
                             value_name="value")
            for column, value in _checkpoint_columns(record).items():
                long[column] = value
            long["task"] = record["task"]
            frames.append(long)
        columns = ["family", "size", "params", "step", "tokens_seen", "task", "metric",
                   "example_id", "value"]
        if not frames:
            return pd.DataFrame(columns=[*columns, "loss"])
        table = pd.concat(frames, ignore_index=True)[columns]
        return attach_loss(table, losses=scores_frame(records))


def scores_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (unit, metric) of the given unit records."""
    rows = [
        {**_checkpoint_columns(record), "task": record["task"], **score}
        for record in records
        for score in record["scores"]
    ]
    columns = ["family", "size", "params", "step", "tokens_seen", "task", "metric", "score",
               "stderr", "n", "higher_is_better", "chance"]
    table = pd.DataFrame(rows, columns=columns)
    # unknown (None) counts are missing values, never text: empty cells in an export
    for column in ("params", "tokens_seen"):
        table[column] = pd.to_numeric(table[column]).astype("Int64")
    table["chance"] = pd.to_numeric(table["chance"]).astype(float)
    return table


def attach_loss(table: pd.DataFrame, validation_metric: str | None = None,
                losses: pd.DataFrame | None = None) -> pd.DataFrame:
    """Add ``loss`` = the checkpoint's validation ``validation_metric`` to every row, and
    ``loss_metric`` naming it. Without a choice, the run's loss is the first of
    LOSS_METRICS it holds (one metric for the whole run: losses of different kinds never
    share an axis; a checkpoint without it has an empty loss)."""
    source = table if losses is None else losses
    validation = source[source["task"] == "validation"]
    metric = validation_metric or _run_loss_metric(set(validation["metric"]))
    loss = validation[validation["metric"] == metric]
    loss = loss[["family", "size", "step", "score"]].rename(columns={"score": "loss"})
    merged = table.merge(loss, on=["family", "size", "step"], how="left")
    merged["loss_metric"] = metric or ""
    front = [c for c in EXPORT_COLUMNS if c in merged.columns]
    rest = [c for c in merged.columns if c not in front]
    merged = merged[front + rest]
    return merged.sort_values(["family", "size", "step", "task", "metric"], kind="stable",
                              ignore_index=True)


def _run_loss_metric(metrics: set[str]) -> str | None:
    """bits per byte, else a loss given with the results (``loss``), else a labelled proxy
    (``proxy_*``, e.g. ln LAMBADA perplexity from imported lm-eval results)."""
    for metric in LOSS_METRICS:
        if metric in metrics:
            return metric
    proxies = sorted(m for m in metrics if m.startswith("proxy_"))
    return proxies[0] if proxies else None


def unit_record(unit: Unit, result: UnitResult, *, params: int | None, duration_s: float,
                device: str) -> dict[str, Any]:
    checkpoint = unit.checkpoint
    return {
        "key": unit.key,
        "identity": unit.identity(),
        "family": checkpoint.family,
        "size": checkpoint.size,
        "params": params if params is not None else checkpoint.params,
        "step": checkpoint.step,
        "tokens_seen": checkpoint.tokens_seen,
        "revision": checkpoint.revision,
        "location": checkpoint.location,
        "task": result.task,
        "task_version": unit.evaluation.version,
        "scores": [asdict(score) for score in result.scores],
        "extras": dict(result.extras),
        "dtype": unit.dtype,
        "device": device,
        "duration_s": duration_s,
        "tracker_version": tracker.__version__,
        "scoring_version": tracker.SCORING_VERSION,
    }


def read_record(path: Path) -> dict[str, Any]:
    metadata = pq.read_schema(path).metadata or {}
    return json.loads(metadata[RECORD_KEY])


def _checkpoint_columns(record: dict[str, Any]) -> dict[str, Any]:
    return {name: record[name] for name in ("family", "size", "params", "step", "tokens_seen")}
