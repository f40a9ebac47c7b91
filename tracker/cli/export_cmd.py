"""``tracker export``: the points table (or per-example rows) of a run as CSV."""

from __future__ import annotations

import argparse
from pathlib import Path

from tracker.cli.fit_cmd import add_setting_argument
from tracker.errors import TrackerError
from tracker.store.run_store import RunStore


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("export", help="write a run's results as CSV")
    parser.add_argument("--run", type=Path, required=True, help="run directory")
    parser.add_argument("--out", type=Path, required=True, help="CSV file to write")
    parser.add_argument("--examples", action="store_true", help="per-example rows instead")
    add_setting_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    store = RunStore(args.run)
    if not store.has_unit_files():
        raise TrackerError(f"{args.run} holds no finished units; run `tracker eval` first")
    table = store.examples(args.setting) if args.examples else store.points(setting=args.setting)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(f"wrote {len(table)} rows to {args.out}")
    return 0
