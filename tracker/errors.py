"""User-facing errors: one line that names what is wrong and how to fix it.

The CLI prints a :class:`TrackerError` as a single line (no traceback unless ``--debug``)
and exits non-zero. Library callers get an ordinary exception they can catch.
"""

from __future__ import annotations

import difflib
import errno
import os
from collections.abc import Iterable


class TrackerError(Exception):
    """An error caused by the user's input or environment, with a message they can act on.

    The CLI exits with ``exit_code`` (2: the input needs fixing)."""

    exit_code = 2


class StorageError(TrackerError):
    """Writing to (or reading from) the run directory failed in the operating system: a
    full disk, a read-only file system, no permission. The message names the path and the
    system's reason; ``errno`` is the system's error number (None when unknown).

    The CLI exits 1 (the run failed, its input was fine). ``stops_sweep`` is true where
    every later write would fail the same way (disk full, over quota, read-only, no
    permission), so a sweep stops at the first one instead of failing every unit.
    """

    exit_code = 1
    STOPPING = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})

    def __init__(self, message: str, *, errno_value: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno_value

    @property
    def stops_sweep(self) -> bool:
        return self.errno in self.STOPPING

    @classmethod
    def from_os_error(cls, action: str, path: object, error: OSError) -> StorageError:
        """``cannot <action> <path>: <reason> (<ERRNO>)``, e.g. ``cannot write
        runs/x/plan.json: No space left on device (ENOSPC)``."""
        return cls(f"cannot {action} {path}: {describe_os_error(error)}",
                   errno_value=error.errno)


class FitError(TrackerError):
    """No series of a table could be fitted (every fit failed; each failure's reason was
    printed). The CLI exits 1: the run failed, though each series' input was readable."""

    exit_code = 1


class CheckpointLoadError(TrackerError):
    """A checkpoint could not be loaded; the sweep records it as failed and goes on."""


def describe_os_error(error: OSError) -> str:
    """The system's text for an OSError's errno and its symbolic name, on one line.

    Example:
        >>> describe_os_error(OSError(errno.ENOSPC, "disk full"))
        'No space left on device (ENOSPC)'
    """
    if error.errno:
        name = errno.errorcode.get(error.errno)
        return os.strerror(error.errno) + (f" ({name})" if name else "")
    return " ".join(str(error.strerror or error).split()) or type(error).__name__


def one_line(error: BaseException) -> str:
    """``Type: message`` with the message's whitespace (newlines included) collapsed.

    Example:
        >>> one_line(ValueError("bad\\n value"))
        'ValueError: bad value'
    """
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def printable(text: object) -> str:
    """``text`` as it may appear inside a one-line message: unchanged when printable, else
    with its control characters (newlines, tabs, NUL) escaped as Python writes them.

    Example:
        >>> printable("a\\nb")
        'a\\\\nb'
    """
    text = str(text)
    return text if text.isprintable() else repr(text)[1:-1]


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest known name, or ``""``.

    Example:
        >>> did_you_mean("pythai", ["pythia", "ladder"])
        " (did you mean 'pythia'?)"
    """
    matches = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""


def unknown_name(kind: str, name: str, known: Iterable[str]) -> TrackerError:
    """Build the standard error for an unknown family, task, size, ... name."""
    known = sorted(known)
    listing = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
    return TrackerError(
        f"unknown {kind} '{name}'{did_you_mean(name, known)}; known: {listing or 'none'}"
    )
