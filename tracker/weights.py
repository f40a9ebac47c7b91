"""What identifies a local checkpoint's weights: a content digest of its weight files.

A local checkpoint (``PATH/<size>/step<N>/``) has no revision that pins its weights: a
family retrained in place keeps its paths. Unit keys therefore hold a digest of the weight
files' bytes, so new weights are new units and old scores are never reused for them.

Hashing reads every weight file once; the digest is cached on disk (``$TRACKER_CACHE_DIR``,
else ``$XDG_CACHE_HOME/tracker``, else ``~/.cache/tracker``), keyed by each file's path,
size and modification time, so a sweep that is planned again costs a ``stat`` per file.
A copied or moved checkpoint is hashed again and gets the same digest.

Example:
    >>> weights_digest(Path("runs/ladder/checkpoints/neox-1.2m/step100"))  # doctest: +SKIP
    'sha256:3f6c0d...'
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from tracker.files import atomic_write

WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth")


def weights_digest(checkpoint_dir: Path | str) -> str | None:
    """sha256 over the checkpoint's weight files (names and bytes, in name order); None
    when the directory holds none (loading it then reports the problem)."""
    files = weight_files(Path(checkpoint_dir))
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
