"""``tracker status --run DIR``: done / missing / failed units of the last planned eval."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from tracker.errors import TrackerError
from tracker.store.run_store import RunStore


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("status", help="done / missing / failed units of a run")
    parser.add_argument("--run", type=Path, required=True, help="run directory")
    parser.add_argument("--all", action="store_true", help="list every missing unit")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    store = RunStore(args.run)
    plan_path = store.root / "plan.json"
    if not plan_path.is_file():
        return _unplanned(store)
    plan = json.loads(plan_path.read_text())
    stored = store.stored_keys()
    failures = store.failures()
    done = [u for u in plan if u["key"] in stored]
    failed = [u for u in plan if u["key"] not in stored and u["key"] in failures]
    missing = [u for u in plan if u["key"] not in stored and u["key"] not in failures]
    print(f"{store.root}: {len(plan)} units planned: {len(done)} done, "
          f"{len(missing)} missing, {len(failed)} failed")
    for unit in failed:
        print(f"  failed  {unit['label']}: {failures[unit['key']]['error']}")
    shown = missing if args.all else missing[:10]
    for unit in shown:
        print(f"  missing {unit['label']}")
    if len(shown) < len(missing):
        print(f"  ... and {len(missing) - len(shown)} more missing (--all lists them)")
    return 0


def _unplanned(store: RunStore) -> int:
    """A run the training hook filled (no ``tracker eval`` plan): stored and failed units."""
    if not store.root.is_dir():
        raise TrackerError(f"run directory {store.root} does not exist")
    stored = store.stored_keys()
    failures = {k: f for k, f in store.failures().items() if k not in stored}
    imported = Counter(source for record in store.records()
                       if (source := _imported_from(record)) is not None)
    if imported:
        sources = ", ".join(f"{count} from {source}" for source, count in sorted(imported.items()))
        print(f"{store.root}: imported (tracker import; no eval plan): {len(stored)} units "
              f"stored ({sources}), {len(failures)} failed")
    else:
        print(f"{store.root}: no plan (filled by the training hook or not yet evaluated): "
              f"{len(stored)} units stored, {len(failures)} failed")
    for failure in failures.values():
        print(f"  failed  {failure['label']}: {failure['error']}")
    return 0


def _imported_from(record: dict) -> str | None:
    """'a table' or 'lm-eval results' for a unit that `tracker import` wrote, else None."""
    identity = record.get("identity", {})
    if identity.get("checkpoint", {}).get("imported") is None:
        return None
    source = identity.get("evaluation", {}).get("source", "")
    return {"table": "a table", "lm-eval": "lm-eval results"}.get(source, source or "import")
