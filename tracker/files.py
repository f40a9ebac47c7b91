"""Atomic file writes: readers only ever see whole files."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path


def atomic_write(target: Path, write: Callable[[str], object]) -> None:
    """Write through ``write(tmp_path)`` then rename onto ``target`` (atomic on POSIX).

    The temporary file sits beside the target (same file system) under a name unique to
    this process and call, so concurrent writers never collide; it is removed on failure.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.parent / f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        write(str(temporary))
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
