"""What the CLI shows on stderr: the library's log records, notes, and progress of long fits.

The library never prints: it returns notes as data and logs to the ``tracker`` logger.
:func:`show_library_log` routes that logger to stderr as ``tracker: note: ...`` (warnings)
and ``tracker: ...`` (information) lines.
"""

from __future__ import annotations

import logging
import sys
import time


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time (a captured one in tests too)."""

    def emit(self, record: logging.LogRecord) -> None:
        prefix = "tracker: note: " if record.levelno >= logging.WARNING else "tracker: "
        print(prefix + record.getMessage(), file=sys.stderr)


def show_library_log() -> None:
    """Route the ``tracker`` logger (information and up) to stderr, once."""
    logger = logging.getLogger("tracker")
    if not any(isinstance(handler, _StderrHandler) for handler in logger.handlers):
        logger.addHandler(_StderrHandler())
    logger.setLevel(logging.INFO)


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
