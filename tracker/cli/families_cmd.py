"""``tracker families`` and ``tracker families show NAME``."""

from __future__ import annotations

import argparse

from tracker.families.catalog import Family, family_names, load_family


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("families", help="list model families, or show one")
    parser.add_argument("action", nargs="?", choices=["show"], help="show one family")
    parser.add_argument("name", nargs="?", help="family name or local directory")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.action == "show":
        if not args.name:
            print("usage: tracker families show NAME")
            return 2
        print(describe(load_family(args.name)))
        return 0
    for name in family_names():
        family = load_family(name)
        config = family.config
        where = config.repo if config.source == "hub" else config.path
        sizes = family.size_labels() if config.source == "hub" or family.root else []
        print(f"{name:<18} {config.source:<5} {len(sizes):>2} sizes  {where}  "
              f"{config.description}")
    return 0


def describe(family: Family) -> str:
    config = family.config
    lines = [f"family: {family.name}", f"description: {config.description}",
             f"architecture: {config.architecture}", f"source: {config.source}"]
    if config.source == "hub":
        lines.append(f"repo: {config.repo}  (trust_remote_code: {config.trust_remote_code})")
    else:
        lines.append(f"path: {family.root}")
    sizes = family.size_labels()
    if not sizes:
        lines.append("checkpoints: none on disk yet")
    for size in sizes:
        checkpoints = family.checkpoints(sizes=[size])
        steps = [c.step for c in checkpoints]
        shown = ", ".join(map(str, steps[:6])) + (" ... " + str(steps[-1]) if len(steps) > 6
                                                   else "")
        params = checkpoints[0].params if checkpoints else None
        where = checkpoints[0].location if checkpoints else ""
        lines.append(f"  {size:<8} params={params or '?':<12} {len(steps):>3} checkpoints: "
                     f"{shown}  <- {where}")
    if config.validation:
        lines.append(f"default validation: {config.validation}")
    if config.tasks:
        lines.append(f"default tasks: {', '.join(config.tasks)}")
    return "\n".join(lines)
