"""Integrity of unit files: checksums written with every unit, verified when it is read.

A unit file's record (JSON in the Parquet metadata) carries ``rows_sha256``, a digest of
its per-example rows in a canonical form (:func:`rows_checksum`), and ``record_sha256``, a
digest of the record's other fields (:func:`record_checksum`; a score changed in the
footer is caught too). Parquet's own page checksums (CRC32 per data page) are written and
verified as well, so a flipped byte is caught before a decoder sees it.

:func:`read_unit` raises :class:`CorruptUnit` (with a one-line reason) for a file that is
cut short, garbled, fails a checksum or lacks one; :class:`tracker.store.run_store.RunStore` moves
such files aside and computes their units again. Both digests are required: a record
without them is corrupt, so deleting a digest key cannot pass a changed file. Every
released tracker version (0.1.0 since 2026-11-23) writes them, and the version a record
names cannot tell an older file from a stripped one (it has always read 0.1.0), so files of
the development builds before that are recomputed rather than trusted.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tracker.errors import StorageError, one_line

RECORD_KEY = b"tracker.record"
ROWS_DIGEST = "rows_sha256"
RECORD_DIGEST = "record_sha256"


class CorruptUnit(Exception):
    """A unit file that cannot be trusted; ``reason`` is one line."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def write_parquet(table: pa.Table, path: str) -> None:
    """Write a unit's table with Parquet page checksums (CRC32 per data page)."""
    pq.write_table(table, path, write_page_checksum=True)


def read_unit(path: Path) -> tuple[dict[str, Any], pa.Table]:
    """A unit file's record and rows, verified: readable to the end, page checksums,
    ``rows_sha256`` against the rows and ``record_sha256`` against the record, both
    required.

    Raises CorruptUnit with a one-line reason; PermissionError and other errors of the
    operating system (rather than of the file's bytes) propagate as StorageError.
    """
    try:
        table = pq.read_table(path, page_checksum_verification=True)
    except (PermissionError, IsADirectoryError) as error:
        raise StorageError.from_os_error("read", path, error) from error
    except (OSError, pa.ArrowException, ValueError, IndexError, RuntimeError) as error:
        reason = one_line(error).replace(f"Could not open Parquet input source '{path}': ", "")
        raise CorruptUnit(path, f"unreadable: {reason}") from error
    try:
        record = json.loads((table.schema.metadata or {})[RECORD_KEY])
    except (KeyError, ValueError) as error:
        raise CorruptUnit(path, "no readable tracker record in its metadata") from error
    if not isinstance(record, dict):
        raise CorruptUnit(path, "its tracker record is not a JSON object")
    missing = [key for key in (RECORD_DIGEST, ROWS_DIGEST) if key not in record]
    if missing:
        raise CorruptUnit(path, f"its record has no {' and no '.join(missing)} checksum")
    if record_checksum(record) != record[RECORD_DIGEST]:
        raise CorruptUnit(path, "its record does not match its checksum")
    if rows_checksum(table) != record[ROWS_DIGEST]:
        raise CorruptUnit(path, "its rows do not match the checksum in its record")
    return record, table


def sealed_record(record: dict[str, Any], table: pa.Table) -> dict[str, Any]:
    """The record with ``rows_sha256`` of ``table`` and then ``record_sha256`` of the
    whole (as read back from JSON, so the digest is of exactly what is stored)."""
    sealed = json.loads(json.dumps({**record, ROWS_DIGEST: rows_checksum(table)}))
    sealed[RECORD_DIGEST] = record_checksum(sealed)
    return sealed


def record_checksum(record: dict[str, Any]) -> str:
    """sha256 of the record's fields but ``record_sha256``, as canonical JSON."""
    fields = {key: value for key, value in record.items() if key != RECORD_DIGEST}
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def rows_checksum(table: pa.Table) -> str:
    """sha256 of a table's rows in a canonical form: per column its name, length, null
    mask and values (numbers as their type's bytes with nulls as 0, anything else as
    JSON). It does not depend on chunking, Arrow buffer layout, Parquet encoding or schema
    metadata, so the digest taken at write time equals the one of the rows read back.

    Example:
        >>> rows_checksum(pa.table({"x": [1.0, None]})) == rows_checksum(
        ...     pa.table({"x": [1.0, None]}))
        True
    """
    digest = hashlib.sha256()
    for name, column in zip(table.column_names, table.columns, strict=True):
        array = column.combine_chunks()
        digest.update(json.dumps([name, len(array)]).encode("utf-8") + b"\0")
        nulls = array.is_null().to_numpy(zero_copy_only=False)
        digest.update(np.packbits(nulls).tobytes())
        digest.update(_canonical_values(array))
    return digest.hexdigest()


def _canonical_values(array: pa.Array) -> bytes:
    kind = array.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        zero = pa.scalar(False if pa.types.is_boolean(kind) else 0, type=kind)
        values = pc.fill_null(array, zero).to_numpy(zero_copy_only=False)
        return str(kind).encode("utf-8") + b"\0" + np.ascontiguousarray(values).tobytes()
    text = json.dumps(array.to_pylist(), ensure_ascii=False, default=str)
    return b"json\0" + text.encode("utf-8")
