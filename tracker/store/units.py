"""Units: the smallest resumable piece of work, one checkpoint x one evaluation.

A unit's key is a hash of everything that determines its result: the checkpoint's
identity, the evaluation's identity (task or validation set, version, prompt format,
few-shot settings, content hash), the example limit, the dtype, the context length
(``--context-length``: a task's long prompts are cut from the left to fit it) and tracker's
scoring version. A stored key is never recomputed; a change to any of these is a new unit.
A unit without a context length (the model's own maximum) leaves it out of its identity;
stored keys must never change (tests/test_stored_runs.py).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from tracker import SCORING_VERSION
from tracker.evals.interface import Evaluation
from tracker.families.catalog import Checkpoint

KEY_LENGTH = 20


@dataclass(frozen=True)
class Unit:
    checkpoint: Checkpoint
    evaluation: Evaluation
    limit: int | None
    dtype: str
    context_length: int | None = None

    def identity(self) -> dict[str, Any]:
        identity = {
            "checkpoint": self.checkpoint.identity(),
            "evaluation": self.evaluation.identity(),
            "limit": self.limit,
            "dtype": self.dtype,
            "scoring_version": SCORING_VERSION,
        }
        if self.context_length is not None:
            identity["context_length"] = self.context_length
        return identity

    @cached_property
    def key(self) -> str:
        """Computed once: ``store.has`` asks for it on every lookup of a sweep."""
        return unit_key(self.identity())

    @property
    def task(self) -> str:
        return self.evaluation.name

    @property
    def label(self) -> str:
        return f"{self.checkpoint.label} {self.task}"

    @property
    def relative_path(self) -> str:
        """``<family>/<size>/step<N>/<task>-<key>.parquet``: browsable, and unique by key."""
        c = self.checkpoint
        return f"{slug(c.family)}/{slug(c.size)}/step{c.step}/{slug(self.task)}-{self.key}.parquet"


def unit_key(identity: dict[str, Any]) -> str:
    """A stable hash of a JSON-able identity (sorted keys, no whitespace).

    Example:
        >>> unit_key({"a": 1}) == unit_key({"a": 1})
        True
    """
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:KEY_LENGTH]


def slug(text: str) -> str:
    """A file-name-safe version of a label (task names may be paths): one path component
    of letters, digits and ``._+-``, never ``.`` or ``..``, so no name (``../../x``,
    ``/etc/passwd``) can place a file outside the run directory.

    Example:
        >>> slug("../../etc/passwd"), slug(".."), slug("arithmetic:add:2")
        ('.._.._etc_passwd', '_', 'arithmetic_add_2')
    """
    cleaned = re.sub(r"[^A-Za-z0-9._+-]+", "_", text).strip("_")[:80]
    return cleaned if cleaned.strip(".") else "_"
