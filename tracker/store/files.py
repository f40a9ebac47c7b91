"""Atomic file writes: readers only ever see whole files."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path

# ``.<name>.<pid>.<host>-<random>.tmp``: the host (a digest of its name) and process that
# write it, so a later run can tell the leftovers of a killed process from live writes
TEMPORARY = re.compile(r"^\..+\.(?P<pid>\d+)\.(?P<host>[0-9a-f]{6})-[0-9a-f]{8}\.tmp$")
FOREIGN_TEMPORARY_AGE_S = 24 * 3600  # another host's temporary file is stale after this


def _host() -> str:
    return hashlib.sha256(socket.gethostname().encode("utf-8")).hexdigest()[:6]


def _temporary(target: Path) -> Path:
    return target.parent / (f".{target.name}.{os.getpid()}.{_host()}-{uuid.uuid4().hex[:8]}"
                            ".tmp")


def atomic_write(target: Path, write: Callable[[str], object]) -> None:
    """Write through ``write(tmp_path)`` then rename onto ``target`` (atomic on POSIX).

    The temporary file sits beside the target (same file system) under a name unique to
    this process and call, so concurrent writers never collide; it is removed on failure
    (a process killed outright leaves it: :func:`remove_stale_temporaries`).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary(target)
    try:
        write(str(temporary))
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def atomic_create(target: Path, write: Callable[[str], object]) -> bool:
    """As :func:`atomic_write`, but never replaces an existing ``target``: False (nothing
    written) when it exists. Atomic where the file system has hard links (the temporary
    file is linked to ``target``, which fails when it exists); elsewhere checked just
    before the rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary(target)
    try:
        write(str(temporary))
        try:
            os.link(temporary, target)
        except FileExistsError:
            return False
        except OSError as error:
            if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV,
                                   errno.EMLINK, errno.ENOSYS):
                raise
            if target.exists():
                return False
            os.replace(temporary, target)
        return True
    finally:
        temporary.unlink(missing_ok=True)


def remove_stale_temporaries(root: Path) -> list[Path]:
    """Remove the temporary files (:func:`atomic_write`) under ``root`` left by processes
    that were killed before they could: those of this host whose process is gone, and
    other hosts' older than a day. Returns the paths removed."""
    if not root.is_dir():
        return []
    removed, host, now = [], _host(), time.time()
    for path in root.rglob(".*.tmp"):
        match = TEMPORARY.match(path.name)
        if match is None or not path.is_file():
            continue
        if match["host"] == host:
            stale = not _alive(int(match["pid"]))
        else:
            try:
                stale = now - path.stat().st_mtime > FOREIGN_TEMPORARY_AGE_S
            except FileNotFoundError:
                continue
        if stale:
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True
