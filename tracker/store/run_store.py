"""The run store: one immutable file per finished unit, read back as pandas DataFrames.

Layout of a run directory::

    runs/<run>/
      units/<family>/<size>/step<N>/<task>-<key>.parquet   one per finished unit
      failed/<key>.json                                      last failure of a unit
      corrupt/<family>/<size>/step<N>/<file>                 unit files that failed to verify
      plan.json                                              units of the last `tracker eval`

A unit file holds the per-example rows as a Parquet table and the unit's record (what
produced it, its aggregate scores) as JSON in the file's metadata. Files are written to a
temporary name in the same directory and renamed, so a crash never leaves half a result
and concurrent workers never collide: readers only ever see whole files.

Integrity (:mod:`tracker.store.integrity`): the record carries ``rows_sha256`` (a digest of the
rows in a canonical form) and ``record_sha256`` (a digest of the record's other fields),
and Parquet page checksums are written and verified. A unit file that cannot be read (cut
short, garbled) or whose digests do not match is *corrupt*: it is moved aside to
``corrupt/`` (never deleted), a one-line note says so, and the unit counts as not stored,
so the next ``tracker eval`` recomputes it. Files are verified where they are read:
:meth:`RunStore.has` (every unit a sweep would skip), :meth:`RunStore.records`,
:meth:`RunStore.selected` and everything built on it (scores, points, examples); each file
is verified once per store object. Files written before the digests existed are checked
for readability only.

The unit index (``index.json``, :class:`UnitIndex`) keeps the record of every unit file
that verified, keyed by the file's relative path with its size, modification time and
inode, so a later process reads records from one file instead of reading and checking
every unit file again. It is only a cache: the unit files on disk say which units exist
(an entry without its file is ignored and pruned), an entry whose file changed in any of
those three is stale and the file is verified again, a file modified less than
:data:`RACY_SECONDS` before it was verified is never indexed (a change within the file
system's timestamp granularity could go unseen), the index must match its own
digest, and the per-example rows are verified whenever they are read
(:meth:`RunStore.examples`), so corruption is still found before a result is used. A
missing, unreadable or foreign index is rebuilt.

Writes that fail in the operating system (disk full, read-only directory) raise
:class:`~tracker.errors.StorageError` naming the path and the reason; nothing stored is
touched and no temporary file is left behind.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import tracker
from tracker.errors import StorageError, unknown_name
from tracker.evals.interface import VALIDATION_TASK, MetricScore, UnitResult
from tracker.evals.metrics import LOSS_PREFERENCE
from tracker.store.example_rows import EXAMPLE_COLUMNS, LongRows
from tracker.store.files import atomic_create, atomic_write, remove_stale_temporaries
from tracker.store.integrity import (
    RECORD_KEY,
    ROWS_DIGEST,
    CorruptUnit,
    read_unit,
    sealed_record,
    write_parquet,
)
from tracker.store.settings import select_records, setting_of
from tracker.store.unit_index import INDEX_NAME, RACY_SECONDS, UnitIndex, file_signature
from tracker.store.units import Unit, slug

logger = logging.getLogger(__name__)
EXPORT_COLUMNS = ["family", "size", "params", "step", "tokens_seen", "loss", "task", "metric",
                  "score", "n"]


@dataclass(frozen=True)
class Written:
    """What :meth:`RunStore.write_new` did: wrote ``path``, or (``duplicate``) found the
    unit stored by another process first, with rows and scores ``identical`` or not."""

    path: Path
    duplicate: bool = False
    identical: bool = True


class RunStore:
    """Read and write the units of one run directory.

    One-line notes for the user (a corrupt unit file moved aside) are kept in ``notes`` and
    logged as warnings to the ``tracker`` logger (the CLI prints them as ``tracker: note:``).

    Example:
        >>> store = RunStore(Path("runs/pythia"))  # doctest: +SKIP
        >>> store.points().head()                  # doctest: +SKIP
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.notes: list[str] = []
        # path -> (signature, record) of files read and checked by this object
        self._verified: dict[Path, tuple[tuple[int, int, int], dict[str, Any]]] = {}
        self._index: UnitIndex | None = None

    @property
    def units_dir(self) -> Path:
        return self.root / "units"

    def path(self, unit: Unit) -> Path:
        return self.units_dir / unit.relative_path

    def has(self, unit: Unit) -> bool:
        """Whether the unit is stored and its file verifies; a corrupt file is moved aside
        (``corrupt/``) and the unit counts as not stored."""
        return self.stored_record(unit) is not None

    def stored_record(self, unit: Unit) -> dict[str, Any] | None:
        """The verified record of ``unit``'s file; None when it is not stored (or corrupt,
        and then moved aside as by :meth:`has`)."""
        path = self.path(unit)
        return self._verify(path) if path.is_file() else None

    def write(self, unit: Unit, result: UnitResult, *, params: int | None,
              duration_s: float, device: str) -> Path:
        """Store a finished unit atomically and clear any failure recorded for it.

        Raises StorageError (path and reason in one line) when the file cannot be written;
        the unit is then not stored and nothing else in the run is touched."""
        _, table = _sealed(unit, result, params=params, duration_s=duration_s, device=device)
        target = self.path(unit)
        try:
            atomic_write(target, lambda tmp: write_parquet(table, tmp))
        except OSError as error:
            raise StorageError.from_os_error("write", target, error) from error
        self._after_write(unit, target)
        return target

    def write_new(self, unit: Unit, result: UnitResult, *, params: int | None,
                  duration_s: float, device: str) -> Written:
        """Store a finished unit unless its key is stored already (another process computed
        it too and wrote first: concurrent sweeps, a hook beside ``tracker eval``); then
        nothing is written, and the answer says whether the stored rows and scores are
        identical to these. The check and the write are one atomic step where the file
        system has hard links. A stored file that does not verify is set aside (see
        :meth:`has`) and this result takes its place. Raises StorageError as :meth:`write`.
        """
        record, table = _sealed(unit, result, params=params, duration_s=duration_s,
                                device=device)
        target = self.path(unit)
        for _ in range(3):  # a corrupt file in the way is moved aside, then try again
            try:
                created = atomic_create(target, lambda tmp: write_parquet(table, tmp))
            except OSError as error:
                raise StorageError.from_os_error("write", target, error) from error
            if created:
                self._after_write(unit, target)
                return Written(target)
            stored = self._verify(target)
            if stored is not None:
                return Written(target, duplicate=True, identical=_same_result(record, stored))
        raise StorageError(f"cannot write {target}: another file keeps taking its place")

    def _after_write(self, unit: Unit, target: Path) -> None:
        with contextlib.suppress(OSError):  # a stale failure record only misleads `status`
            self.failure_path(unit.key).unlink(missing_ok=True)
        self._supersede_others(unit, target)

    def remove_stale_temporaries(self) -> list[Path]:
        """Remove temporary files under the run directory left by killed processes
        (:func:`tracker.store.files.remove_stale_temporaries`); returns those removed."""
        return remove_stale_temporaries(self.root)

    def _verify(self, path: Path) -> dict[str, Any] | None:
        """The record of ``path`` once its file is read and checked (once per store object
        while the file is unchanged, and taken from the unit index while its entry is
        current); None, with the file moved aside, when it is corrupt (or gone)."""
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        signature = file_signature(stat)
        cached = self._verified.get(path)
        if cached is not None and cached[0] == signature:
            return cached[1]
        index = self.index()
        relative = path.relative_to(self.units_dir).as_posix()
        record = index.get(relative, signature)
        if record is None:
            try:
                record, _ = read_unit(path)
            except CorruptUnit as corrupt:
                self._set_aside(corrupt)
                return None
            if time.time() - stat.st_mtime > RACY_SECONDS:
                index.put(relative, signature, record)
        self._verified[path] = (signature, record)
        return record

    def index(self) -> UnitIndex:
        """The run's unit index (read on first use)."""
        if self._index is None:
            self._index = UnitIndex.load(self.root / INDEX_NAME)
        return self._index

    def save_index(self, present: Sequence[Path] | None = None) -> None:
        """Write the unit index when it changed, keeping entries of ``present`` files (all
        unit files when None). Best effort: a run directory that cannot be written is
        still read, only more slowly next time."""
        if self._index is not None and self._index.dirty:
            files = self.unit_files() if present is None else present
            self._index.save({path.relative_to(self.units_dir).as_posix() for path in files})

    def read_verified(self, path: Path) -> tuple[dict[str, Any], pa.Table] | None:
        """Record and rows of one unit file, verified now (rows digest included); None,
        with the file moved aside, when it is corrupt or gone."""
        try:
            record, table = read_unit(path)
        except CorruptUnit as corrupt:
            self._set_aside(corrupt)
            return None
        except StorageError:
            if not path.exists():
                return None
            raise
        return record, table

    def _set_aside(self, corrupt: CorruptUnit) -> None:
        """Move a corrupt unit file to ``corrupt/`` (a free name there: nothing is ever
        overwritten or deleted) and note it."""
        path = corrupt.path
        target = _free_name(self.root / "corrupt" / path.relative_to(self.units_dir))
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
        except FileNotFoundError:
            return  # another worker moved it first
        except OSError as error:
            raise StorageError.from_os_error(f"move corrupt unit file {path} to", target,
                                             error) from error
        self._verified.pop(path, None)
        self.index().drop(path.relative_to(self.units_dir).as_posix())
        self.note(f"corrupt unit file {path} ({corrupt.reason}); moved to {target}; "
                   "`tracker eval` recomputes it")

    def note(self, text: str) -> None:
        """A one-line note for the user: kept in ``notes`` and logged."""
        self.notes.append(text)
        logger.warning("%s", text)

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
        """Record the unit's last failure; raises StorageError when it cannot be written."""
        payload = {"key": unit.key, "label": unit.label, "error": error,
                   "identity": unit.identity(), "time": time.time()}
        text = json.dumps(payload, indent=1, default=str)
        target = self.failure_path(unit.key)
        try:
            atomic_write(target, lambda tmp: Path(tmp).write_text(text))
        except OSError as os_error:
            raise StorageError.from_os_error("write", target, os_error) from os_error

    def failures(self) -> dict[str, dict[str, Any]]:
        folder = self.root / "failed"
        if not folder.is_dir():
            return {}
        return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}

    def unit_files(self) -> list[Path]:
        """Every unit file, sorted (``os.walk``: several times faster than a recursive
        ``Path.glob`` over a sweep's thousands of directories)."""
        found = [os.path.join(folder, name)
                 for folder, _, names in os.walk(self.units_dir)
                 for name in names if name.endswith(".parquet")]
        return [Path(name) for name in sorted(found)]

    def has_unit_files(self) -> bool:
        """Whether any unit file is stored (stops at the first one found)."""
        return any(name.endswith(".parquet")
                   for _, _, names in os.walk(self.units_dir) for name in names)

    def records(self) -> list[dict[str, Any]]:
        """Every stored unit's record (files verified; corrupt ones are set aside)."""
        return [record for _, record in self._verified_records()]

    def _verified_records(self) -> list[tuple[Path, dict[str, Any]]]:
        """(file, record) of every unit file that verifies; corrupt files are set aside."""
        files = self.unit_files()
        pairs = [(path, self._verify(path)) for path in files]
        self.save_index(files)
        return [(path, record) for path, record in pairs if record is not None]

    def planned_settings(self) -> dict[str, str]:
        """task -> setting id of the latest ``tracker eval`` plan (empty without one)."""
        plan_path = self.root / "plan.json"
        if not plan_path.is_file():
            return {}
        return {u["task"]: u["setting"] for u in json.loads(plan_path.read_text())
                if "task" in u and "setting" in u}

    def selected(self, setting: str | None = None, tasks: Sequence[str] | None = None
                 ) -> list[tuple[Path, dict[str, Any]]]:
        """(file, record) of the units that are read together: one setting per task
        (tracker.store.settings), of the given ``tasks`` (and the validation loss) when given;
        raises TrackerError when that choice is ambiguous or a task is not stored."""
        pairs = self._verified_records()
        if tasks is not None:
            stored = sorted({record["task"] for _, record in pairs})
            for task in tasks:
                if task not in stored:
                    raise unknown_name(f"task in {self.root}", task, stored)
            wanted = {*tasks, VALIDATION_TASK}
            pairs = [(path, record) for path, record in pairs if record["task"] in wanted]
        chosen = select_records([record for _, record in pairs], choice=setting,
                                planned=self.planned_settings(), source=str(self.root))
        kept = {id(record) for record in chosen}
        return [(path, record) for path, record in pairs if id(record) in kept]

    def stored_keys(self) -> set[str]:
        return {path.stem.rsplit("-", 1)[-1] for path in self.unit_files()}

    def scores(self, setting: str | None = None,
               tasks: Sequence[str] | None = None) -> pd.DataFrame:
        """One row per (unit, metric): checkpoint columns, task, metric and the aggregate."""
        return scores_frame([record for _, record in self.selected(setting, tasks)])

    def points(self, validation_metric: str | None = None, setting: str | None = None,
               tasks: Sequence[str] | None = None) -> pd.DataFrame:
        """The export table: every score with its checkpoint's validation loss as ``loss``
        (one setting per task, see :meth:`selected`)."""
        return attach_loss(self.scores(setting, tasks), validation_metric)

    def examples(self, setting: str | None = None, tasks: Sequence[str] | None = None,
                 columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Per-example rows in long form: checkpoint columns, loss, task, metric,
        example_id, value (numeric per-example columns only; one setting per task), in
        (family, size, step, task, metric) order; ``columns`` keeps only those named.

        Each unit file is read once and its rows verified against their digest before
        they are used; a corrupt file is set aside and its unit left out. Text columns
        are categorical (:mod:`tracker.store.example_rows`), so a Pythia-sized sweep (~40
        million rows per metric) fits in memory."""
        wanted = list(EXAMPLE_COLUMNS if columns is None else columns)
        unknown = [c for c in wanted if c not in EXAMPLE_COLUMNS]
        if unknown:
            raise ValueError(f"unknown example columns {unknown}; known: {EXAMPLE_COLUMNS}")
        pairs = sorted(self.selected(setting, tasks), key=lambda pair: _unit_order(pair[1]))
        losses = _losses_by_checkpoint([record for _, record in pairs])
        rows = LongRows(wanted)
        for path, _ in pairs:
            verified = self.read_verified(path)
            if verified is None:
                continue
            record, table = verified
            loss, loss_metric = losses.get(_checkpoint_key(record), (np.nan, ""))
            rows.add({**_checkpoint_columns(record), "task": record["task"], "loss": loss,
                      "loss_metric": loss_metric}, table)
        return rows.frame()




def _unit_order(record: dict[str, Any]) -> tuple:
    """(family, size, step, task), missing values last, as pandas sorts them."""
    return tuple((record.get(name) is None, record.get(name) or "")
                 if name != "step" else (record.get(name) is None, record.get(name) or 0)
                 for name in ("family", "size", "step", "task"))


def _checkpoint_key(record: dict[str, Any]) -> tuple:
    return (record["family"], record["size"], record["step"])


def _losses_by_checkpoint(records: list[dict[str, Any]]) -> dict[tuple, tuple[float, str]]:
    """(family, size, step) -> (validation loss, its metric) as :func:`attach_loss` picks
    them for these records."""
    table = attach_loss(scores_frame(records))
    validation = table[table["task"] == VALIDATION_TASK].drop_duplicates(["family", "size", "step"])
    return {(row.family, row.size, row.step): (row.loss, row.loss_metric)
            for row in validation.itertuples(index=False)}


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
    LOSS_PREFERENCE (tracker.evals.metrics) it holds (one metric for the whole run: losses
    of different kinds never share an axis; a checkpoint without it has an empty loss)."""
    source = table if losses is None else losses
    validation = source[source["task"] == VALIDATION_TASK]
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
    """bits per byte, else a loss given with the results (``loss``), else an imported loss
    labelled by its set and unit (``loss_<set>_<unit>``, tracker.imports.loss_axis), else a
    labelled proxy (``proxy_*``, e.g. ln LAMBADA perplexity from imported lm-eval results)."""
    for metric in LOSS_PREFERENCE:
        if metric in metrics:
            return metric
    labelled = sorted(m for m in metrics if m.startswith("loss_"))
    if labelled:
        return labelled[0]
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
        "scores": [_score_fields(score) for score in result.scores],
        "extras": dict(result.extras),
        "dtype": unit.dtype,
        "device": device,
        "duration_s": duration_s,
        "tracker_version": tracker.__version__,
        "scoring_version": tracker.SCORING_VERSION,
    }


def _score_fields(score: MetricScore) -> dict[str, Any]:
    """``dataclasses.asdict`` of a MetricScore, whose fields are all scalars, without its
    recursive deep copy (measurable in an import's many small units)."""
    return {name: getattr(score, name) for name in SCORE_FIELDS}


def _arrow_table(examples: pd.DataFrame) -> pa.Table:
    """The per-example rows as an Arrow table. An empty frame's table depends only on its
    columns and dtypes, so it is converted once per kind (an imported unit has no rows)."""
    if len(examples):
        return pa.Table.from_pandas(examples, preserve_index=False)
    kind = tuple(zip(examples.columns, map(str, examples.dtypes), strict=True))
    table = _EMPTY_TABLES.get(kind)
    if table is None:
        table = _EMPTY_TABLES.setdefault(kind, pa.Table.from_pandas(examples,
                                                                    preserve_index=False))
    return table


SCORE_FIELDS = tuple(field.name for field in fields(MetricScore))
_EMPTY_TABLES: dict[tuple, pa.Table] = {}


def _sealed(unit: Unit, result: UnitResult, *, params: int | None, duration_s: float,
            device: str) -> tuple[dict[str, Any], pa.Table]:
    """A unit's sealed record and its table with the record in the metadata."""
    record = unit_record(unit, result, params=params, duration_s=duration_s, device=device)
    table = _arrow_table(result.examples)
    record = sealed_record(record, table)
    table = table.replace_schema_metadata({RECORD_KEY: json.dumps(record).encode("utf-8")})
    return record, table


def _same_result(ours: dict[str, Any], stored: dict[str, Any]) -> bool:
    """Same per-example rows (their digest) and the same aggregate scores (compared as
    JSON, so NaN equals NaN)."""
    return (ours.get(ROWS_DIGEST) == stored.get(ROWS_DIGEST)
            and json.dumps(ours["scores"], sort_keys=True)
            == json.dumps(stored.get("scores"), sort_keys=True))


def read_record(path: Path) -> dict[str, Any]:
    """A unit file's record, from the Parquet footer alone (not verified: see read_unit)."""
    metadata = pq.read_schema(path).metadata or {}
    return json.loads(metadata[RECORD_KEY])


def _free_name(target: Path) -> Path:
    """``target``, or ``target.1``, ``target.2``, ... whichever does not exist yet."""
    candidate, number = target, 0
    while candidate.exists():
        number += 1
        candidate = target.with_name(f"{target.name}.{number}")
    return candidate


def _checkpoint_columns(record: dict[str, Any]) -> dict[str, Any]:
    return {name: record[name] for name in ("family", "size", "params", "step", "tokens_seen")}
