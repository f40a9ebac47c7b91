"""Per-example rows of many unit files in long form, built as compact columns.

A Pythia-sized sweep holds ~40 million per-example rows (x 3 metrics in long form). Built
as one pandas frame per unit file and concatenated, with the example ids as Python
strings, that needs tens of gigabytes; here each column is kept as numpy arrays of codes
or numbers while the files are read, and the frame is assembled once at the end: text
columns categorical (one code per row), checkpoint columns repeated from one value per
file, example ids matched to a shared dictionary in Arrow (no Python object per row).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

EXAMPLE_COLUMNS = ("family", "size", "params", "step", "tokens_seen", "loss", "task", "metric",
           "example_id", "value", "loss_metric")
PER_FILE = ("family", "size", "params", "step", "tokens_seen", "loss", "task", "loss_metric")
TEXT = ("family", "size", "task", "loss_metric")


class LongRows:
    """Add unit files one by one (:meth:`add`), then take the frame (:meth:`frame`)."""

    def __init__(self, columns: list[str]) -> None:
        self.columns = columns
        self.per_file: dict[str, list[Any]] = {name: [] for name in PER_FILE}
        self.counts: list[int] = []
        self.metric_names: list[str] = []
        self.metric_codes: list[np.ndarray] = []
        self.ids = pa.array([], type=pa.string())
        self.id_codes: list[np.ndarray] = []
        self.values: list[np.ndarray] = []

    def add(self, constants: dict[str, Any], table: pa.Table) -> None:
        """One unit's rows: its numeric per-example columns in sorted name order, each
        example in file order; ``constants`` gives the PER_FILE values."""
        numeric = sorted(field.name for field in table.schema
                         if field.name != "example_id" and _is_numeric(field.type))
        n = table.num_rows * len(numeric)
        if n == 0:
            return
        for name in PER_FILE:
            self.per_file[name].append(constants[name])
        self.counts.append(n)
        if "metric" in self.columns:
            codes = [self._metric_code(name) for name in numeric]
            self.metric_codes.append(np.repeat(np.asarray(codes, dtype=np.int32),
                                               table.num_rows))
        if "example_id" in self.columns:
            self.id_codes.append(np.tile(self._id_codes(table.column("example_id")),
                                         len(numeric)))
        if "value" in self.columns:
            self.values.append(np.concatenate([_values(table.column(name)) for name in numeric]))

    def _metric_code(self, name: str) -> int:
        if name not in self.metric_names:
            self.metric_names.append(name)
        return self.metric_names.index(name)

    def _id_codes(self, column: pa.ChunkedArray) -> np.ndarray:
        """Codes of ``column``'s ids in the shared dictionary, adding ids not seen yet."""
        ids = pc.cast(column, pa.string()).combine_chunks()
        codes = pc.index_in(ids, value_set=self.ids)
        if codes.null_count:
            self.ids = pa.concat_arrays([self.ids, pc.unique(pc.filter(ids, pc.is_null(codes)))])
            codes = pc.index_in(ids, value_set=self.ids)
        return codes.to_numpy(zero_copy_only=False).astype(np.int32)

    def frame(self) -> pd.DataFrame:
        """The long frame; the per-file parts are released column by column."""
        counts = np.asarray(self.counts, dtype=np.int64)
        data: dict[str, Any] = {}
        for name in self.columns:
            if name in TEXT:
                labels = ["" if v is None else str(v) for v in self.per_file[name]]
                categories = sorted(set(labels))
                codes = np.searchsorted(np.asarray(categories, dtype=object),
                                        np.asarray(labels, dtype=object)).astype(np.int32)
                data[name] = pd.Categorical.from_codes(
                    np.repeat(codes.astype(_code_type(len(categories))), counts), categories)
            elif name in ("params", "tokens_seen"):
                data[name] = pd.array(np.repeat(np.asarray(
                    [pd.NA if v is None else v for v in self.per_file[name]], dtype=object),
                    counts), dtype="Int64")
            elif name == "step":
                steps = np.asarray(self.per_file[name], dtype=np.int64)
                narrow = len(steps) and int(np.abs(steps).max()) < 2**31
                data[name] = np.repeat(steps.astype(np.int32) if narrow else steps, counts)
            elif name == "loss":
                data[name] = np.repeat(np.asarray(self.per_file[name], dtype=np.float64),
                                       counts)
            elif name == "metric":
                data[name] = _sorted_categorical(_take_all(self.metric_codes),
                                                 self.metric_names)
            elif name == "example_id":
                data[name] = _sorted_categorical(_take_all(self.id_codes),
                                                 self.ids.to_pylist())
            elif name == "value":
                data[name] = _take_values(self.values)
        return pd.DataFrame(data, columns=self.columns, copy=False)  # no second copy


def _is_numeric(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)


def _values(column: pa.ChunkedArray) -> np.ndarray:
    """A metric column as float32 when every value is exactly a float32 (int8/int16/bool
    outcomes, float32 scores, small integers), else float64: half the memory of a
    Pythia-sized long table, the same numbers."""
    values = column.to_numpy(zero_copy_only=False)
    if values.dtype in (np.float32, np.int8, np.int16, np.uint8, np.uint16, np.bool_):
        return values.astype(np.float32)
    wide = values.astype(np.float64)
    narrow = wide.astype(np.float32)
    if np.array_equal(narrow, wide, equal_nan=True):
        return narrow
    return wide


def _take_values(parts: list[np.ndarray]) -> np.ndarray:
    """The value column: float32 when every part is (exactly), else float64."""
    if parts and all(part.dtype == np.float32 for part in parts):
        return _take_all(parts)
    joined = np.concatenate([part.astype(np.float64, copy=False) for part in parts]) \
        if parts else np.zeros(0)
    parts.clear()
    return joined


def _code_type(n_categories: int) -> type:
    """The narrowest code type pandas itself uses for this many categories."""
    return np.int8 if n_categories < 2**7 else np.int16 if n_categories < 2**15 else np.int32


def _take_all(parts: list[np.ndarray]) -> np.ndarray:
    """Concatenate and empty ``parts`` (so each column's pieces are freed once joined)."""
    joined = np.concatenate(parts) if parts else np.zeros(0)
    parts.clear()
    return joined


def _sorted_categorical(codes: np.ndarray, names: list[str]) -> pd.Categorical:
    """Categories in sorted (string) order, as a sort or pivot of plain strings sees them."""
    order = np.argsort(np.asarray(names, dtype=object), kind="stable")
    smallest = _code_type(len(names))
    rank: np.ndarray = np.empty(len(names), dtype=smallest)  # pandas' code width: no recast
    rank[order] = np.arange(len(names), dtype=smallest)
    return pd.Categorical.from_codes(rank[codes] if len(names) else codes,
                                     [names[i] for i in order])
