"""What identifies a local checkpoint's weights: a content digest of its weight files.

A local checkpoint (``PATH/<size>/step<N>/``) has no revision that pins its weights: a
family retrained in place keeps its paths. Unit keys therefore hold a digest of the weight
files' bytes, so new weights are new units and old scores are never reused for them.

Hashing reads every weight file once; the digest is cached on disk (``$TRACKER_CACHE_DIR``,
else ``$XDG_CACHE_HOME/tracker``, else ``~/.cache/tracker``), keyed by each file's path,
size and modification time, so a sweep that is planned again costs a ``stat`` per file.
A copied or moved checkpoint is hashed again and gets the same digest.

:func:`digest_ahead` hashes a sweep's checkpoints in a background thread while the
command imports torch and transformers: file reads and hashlib release the GIL, so on a
second core a cold digest (0.26 s for a 282 MB checkpoint on the bench machine) runs
beside the imports instead of after them.

Example:
    >>> weights_digest(Path("runs/ladder/checkpoints/neox-1.2m/step100"))  # doctest: +SKIP
    'sha256:3f6c0d...'
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path

from tracker.store.files import atomic_write

WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth")


_AHEAD: dict[str, threading.Event] = {}  # checkpoint directory -> set once hashed ahead


def digest_ahead(checkpoint_dirs: Iterable[Path | str]) -> None:
    """Start computing :func:`weights_digest` of each directory, in order, in one daemon
    thread (a command that stops early does not wait for it); :func:`weights_digest` of a
    directory given here waits for it, then reads the digest from the cache instead of
    hashing again."""
    queued = [(str(d), _AHEAD.setdefault(_key(d), threading.Event())) for d in checkpoint_dirs
              if _key(d) not in _AHEAD]

    def work() -> None:
        for directory, hashed in queued:
            with contextlib.suppress(Exception):  # the caller hashes again, and raises
                _digest(Path(directory))  # into the on-disk cache
            hashed.set()

    if queued:
        threading.Thread(target=work, name="tracker-weights-digest", daemon=True).start()


def weights_digest(checkpoint_dir: Path | str) -> str | None:
    """sha256 over the checkpoint's weight files (names and bytes, in name order); None
    when the directory holds none (loading it then reports the problem)."""
    ahead = _AHEAD.pop(_key(checkpoint_dir), None)
    if ahead is not None:
        # its digest is then in the on-disk cache under the files' stamp, so weights
        # rewritten since are hashed again, and a failure there is raised here
        ahead.wait()
    return _digest(Path(checkpoint_dir))


def _key(checkpoint_dir: Path | str) -> str:
    return os.path.abspath(checkpoint_dir)


def _digest(checkpoint_dir: Path) -> str | None:
    files = weight_files(checkpoint_dir)
    if not files:
        return None
    stamp = _stamp(files)
    cached = _cache_path(stamp)
    if cached.is_file():
        return cached.read_text().strip()
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode("utf-8") + b"\0")
        with file.open("rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    value = f"sha256:{digest.hexdigest()}"
    with contextlib.suppress(OSError):  # an unwritable cache only costs a re-hash next time
        atomic_write(cached, lambda tmp: Path(tmp).write_text(value))
    return value


def weight_files(checkpoint_dir: Path) -> list[Path]:
    if not checkpoint_dir.is_dir():
        return []
    found = {file for pattern in WEIGHT_PATTERNS for file in checkpoint_dir.glob(pattern)}
    return sorted(file for file in found if file.is_file())


def cache_dir() -> Path:
    configured = os.environ.get("TRACKER_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tracker"


def _stamp(files: list[Path]) -> str:
    listing = []
    for file in files:
        stat = file.stat()
        listing.append([str(file.resolve()), stat.st_size, stat.st_mtime_ns])
    return hashlib.sha256(json.dumps(listing).encode("utf-8")).hexdigest()


def _cache_path(stamp: str) -> Path:
    return cache_dir() / "weights" / stamp[:2] / stamp
