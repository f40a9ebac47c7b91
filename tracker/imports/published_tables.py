"""The per-checkpoint tables shipped with tracker (``tracker import table --published NAME``):
compressed extracts in tracker/data (licences and what was changed: tracker/data/NOTICE),
each read through its mapping file in configs/imports/, the same file a user copies for
tables of their own (one home for what the columns mean)."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from tracker.config import CONFIG_DIR
from tracker.errors import unknown_name
from tracker.imports.files import shipped_members
from tracker.imports.table import TableSource, read_source
from tracker.imports.table_map import TableMap, load_map

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
    return [read_source(member, io.BytesIO(data)) for member, data in
            shipped_members(published.archive, lambda m: bool(re.search(published.members, m)))]


def _published(name: str) -> PublishedTables:
    if name not in PUBLISHED_TABLES:
        raise unknown_name("published table set", name, PUBLISHED_TABLES)
    return PUBLISHED_TABLES[name]
