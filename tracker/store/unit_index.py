"""The unit index of a run directory: verified unit records in one file (``index.json``).

Without it, reading a sweep's records means reading and checking every unit file, though
a record is a few kilobytes (bench/bench_store_scale.py measures a Pythia-sized sweep in
docs/performance.md). The index keeps, per unit file (its path under ``units/``), the
file's size, modification time and inode when it was verified, and the record then read.
:class:`~tracker.store.run_store.RunStore` trusts an entry only while all three still
match the file and the index still matches its own digest; the rules that keep corruption
from being used are in :mod:`tracker.store.run_store`.

The file is JSON (never pickle: a run directory may come from someone else), written
atomically: a header line with the sha256 of the entries, then the entries; a missing,
unreadable, foreign or damaged index (digest mismatch) is an empty one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from tracker.store.files import atomic_write

INDEX_NAME = "index.json"
FORMAT = "tracker-unit-index"
VERSION = 1
# A file modified this recently when verified is not indexed: a change to it within the
# file system's timestamp granularity might leave size, mtime and inode as they were.
RACY_SECONDS = 2.0

Signature = tuple[int, int, int]


def file_signature(stat: os.stat_result) -> Signature:
    """(size, mtime in ns, inode): what must be unchanged for an index entry to hold."""
    return (stat.st_size, stat.st_mtime_ns, stat.st_ino)


class UnitIndex:
    """relative path -> (signature, record) of unit files verified earlier."""

    def __init__(self, path: Path, entries: dict[str, list[Any]] | None = None) -> None:
        self.path = path
        self.entries: dict[str, list[Any]] = entries or {}
        self.dirty = False

    @classmethod
    def load(cls, path: Path) -> UnitIndex:
        try:
            header_text, _, body = path.read_bytes().partition(b"\n")
            header = json.loads(header_text)
            if not (isinstance(header, dict) and header.get("format") == FORMAT
                    and header.get("version") == VERSION
                    and header.get("sha256") == hashlib.sha256(body).hexdigest()):
                return cls(path)
            entries = json.loads(body)
        except (OSError, ValueError):
            return cls(path)
        return cls(path, entries) if isinstance(entries, dict) else cls(path)

    def get(self, relative: str, signature: Signature) -> dict[str, Any] | None:
        """The indexed record when the entry matches ``signature``; else None (the caller
        verifies the file)."""
        entry = self.entries.get(relative)
        if not (isinstance(entry, list) and len(entry) == 4 and isinstance(entry[3], dict)):
            return None
        return entry[3] if tuple(entry[:3]) == signature else None

    def put(self, relative: str, signature: Signature, record: dict[str, Any]) -> None:
        self.entries[relative] = [*signature, record]
        self.dirty = True

    def drop(self, relative: str) -> None:
        if self.entries.pop(relative, None) is not None:
            self.dirty = True

    def save(self, present: set[str]) -> None:
        """Write the entries of the ``present`` files atomically; errors of the operating
        system are ignored (the index is a cache)."""
        self.entries = {key: entry for key, entry in self.entries.items() if key in present}
        body = json.dumps(self.entries, separators=(",", ":")).encode("utf-8")
        header = json.dumps({"format": FORMAT, "version": VERSION,
                             "sha256": hashlib.sha256(body).hexdigest()}).encode("utf-8")
        with contextlib.suppress(OSError):
            atomic_write(self.path, lambda tmp: Path(tmp).write_bytes(header + b"\n" + body))
            self.dirty = False
