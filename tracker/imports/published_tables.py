"""The per-checkpoint tables shipped with tracker (``tracker import table --published NAME``):
compressed extracts in tracker/data (licences and what was changed: tracker/data/NOTICE),
each read through its mapping file in configs/imports/, the same file a user copies for
tables of their own (one home for what the columns mean)."""

from __future__ import annotations

import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

from tracker.config import CONFIG_DIR
from tracker.errors import TrackerError, unknown_name
from tracker.imports.table import TableSource, read_source
from tracker.imports.table_map import TableMap, load_map

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
MAP_DIR = CONFIG_DIR / "imports"


@dataclass(frozen=True)
class PublishedTables:
    archive: str  # in tracker/data
    members: str  # regex over the archive's member names: the tables to import
    map_file: str  # in configs/imports


PUBLISHED_TABLES = {
    "olmo-ladder": PublishedTables("olmo-ladder.tar.xz", r"^ladder-runs/.+\.csv$",
                                   "olmo-ladder.yaml"),
    "open-lm-scaling": PublishedTables("open-lm-scaling.tar.xz", r"^models/.+\.csv$",
                                       "open-lm-scaling.yaml"),
}


def published_map(name: str) -> TableMap:
    return load_map(MAP_DIR / _published(name).map_file)


def published_tables(name: str) -> list[TableSource]:
    """The tables of a published set, in member-name order."""
    published = _published(name)
    path = DATA_DIR / published.archive
    if not path.is_file():
        raise TrackerError(f"the published set {path} is missing from this installation")
    sources = []
    with tarfile.open(path, "r:xz") as archive:
        for member in sorted(archive.getmembers(), key=lambda m: m.name):
            handle = archive.extractfile(member) if member.isfile() else None
            if handle is not None and re.search(published.members, member.name):
                sources.append(read_source(member.name, handle))
    return sources


def _published(name: str) -> PublishedTables:
    if name not in PUBLISHED_TABLES:
        raise unknown_name("published table set", name, PUBLISHED_TABLES)
    return PUBLISHED_TABLES[name]
