"""Writing imported units into a run store: what every importer shares."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable

from tqdm.auto import tqdm

from tracker.families import Checkpoint
from tracker.imports.checkpoints import ImportedCheckpoint
from tracker.results import UnitResult
from tracker.store import RunStore
from tracker.units import Unit

DEVICE = "lm-eval import"


def write_units(store: RunStore, units: Iterable[tuple[Unit, UnitResult]], *, total: int,
                progress: bool, device: str = DEVICE) -> tuple[int, int]:
    """Write each unit the store lacks (as ``tracker eval`` writes its own); returns
    (imported, already stored)."""
    imported = skipped = 0
    with tqdm(total=total, desc="import", unit="unit", disable=not progress,
              leave=False) as bar:
        for unit, unit_result in units:
            if store.has(unit):
                skipped += 1
            else:
                store.write(unit, unit_result, params=unit.checkpoint.params, duration_s=0.0,
                            device=device)
                imported += 1
            bar.update()
    return imported, skipped


def imported_checkpoint(checkpoint: Checkpoint, digest: str) -> ImportedCheckpoint:
    """The checkpoint with the digest of what was imported for a unit in its identity."""
    fields = {f.name: getattr(checkpoint, f.name) for f in dataclasses.fields(Checkpoint)}
    return ImportedCheckpoint(**fields, imported=digest)


def content_digest(payload: object) -> str:
    """sha256 of a JSON-able payload (sorted keys)."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
