"""Progress lines on stderr for the CLI's long fits."""

from __future__ import annotations

import sys
import time


class ProgressPrinter:
    """Prints "fit i/N task/metric" to stderr at most every 2 s, and the last one."""

    def __init__(self, every_s: float = 2.0) -> None:
        self.every_s = every_s
        self.last = time.monotonic()

    def __call__(self, done: int, total: int, label: str) -> None:
        now = time.monotonic()
        if now - self.last >= self.every_s or (done == total and total >= 20):
            print(f"tracker: fit {done}/{total} series ({label})", file=sys.stderr)
            self.last = now


def print_note(note: str) -> None:
    """One note for the user (a fit's note, a corrupt unit set aside), on stderr."""
    print(f"tracker: note: {note}", file=sys.stderr)


def print_notes(notes) -> None:
    for note in notes:
        print_note(note)
