"""The loss axis of imported results: one validation set, in one unit, per run directory.

An imported loss is stored as the one metric of a checkpoint's ``validation`` unit, named
``loss_<set>_<unit>`` (``loss_c4_en_nats_per_token``, ``loss_wikitext_bits_per_byte``), so
every axis, table and CSV that shows it names its set and unit (``tracker export``'s
``loss_metric`` column; :func:`tracker.points.loss_label`). The unit's evaluation records the
tokenizer whose tokens a nats-per-token loss counts.

Losses on different validation sets, in different units, or (nats per token) of different
tokenizers are not comparable, so one run directory holds one: an import whose loss differs
from the run's is refused in one line (import it into another ``--run``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tracker.errors import TrackerError
from tracker.evals.interface import VALIDATION_TASK
from tracker.evals.metrics import LOSS_UNITS
from tracker.store.run_store import RunStore, read_record


@dataclass(frozen=True)
class LossAxis:
    """A validation set and its unit (and, for nats per token, whose tokens)."""

    set: str
    unit: str
    tokenizer: str | None = None

    @property
    def metric(self) -> str:
        """The stored metric name.

        Example:
            >>> LossAxis("c4_en", "nats_per_token").metric
            'loss_c4_en_nats_per_token'
        """
        return loss_metric(self.set, self.unit)

    def identity(self) -> dict[str, Any]:
        return {"loss": self.metric, "loss_set": self.set, "loss_unit": self.unit,
                "tokenizer": self.tokenizer}


def loss_metric(loss_set: str, unit: str) -> str:
    if unit not in LOSS_UNITS:
        raise TrackerError(f"loss unit '{unit}' is not one of {', '.join(LOSS_UNITS)}")
    return f"loss_{re.sub(r'[^A-Za-z0-9]+', '_', loss_set).strip('_')}_{unit}"


def check_run_axis(store: RunStore, metric: str, tokenizer: str | None = None) -> None:
    """Refuse (TrackerError) when the run already holds losses of another metric, or
    nats-per-token losses counted by another tokenizer."""
    stored = _stored_axes(store)
    if not stored:
        return
    others = sorted({m for m, _ in stored if m != metric})
    if others:
        raise TrackerError(
            f"{store.root} holds the loss {', '.join(others)}; this import's loss is {metric}: "
            "losses on different validation sets or in different units never share an axis; "
            "import into another --run")
    tokenizers = sorted({t or "unknown" for m, t in stored if m == metric})
    if metric.endswith("_nats_per_token") and tokenizers != [tokenizer or "unknown"]:
        raise TrackerError(
            f"{store.root} holds {metric} counted by the tokenizer {', '.join(tokenizers)}; "
            f"this import's is {tokenizer or 'unknown'}: nats per token of different "
            "tokenizers never share an axis; import into another --run")


def _stored_axes(store: RunStore) -> set[tuple[str, str | None]]:
    """(loss metric, tokenizer) of every stored validation unit (records read from the
    files' footers: a corrupt file is found, and set aside, where its unit is read)."""
    axes = set()
    for path in store.unit_files():
        if not path.name.startswith(f"{VALIDATION_TASK}-"):
            continue
        try:
            record = read_record(path)
        except (OSError, KeyError, ValueError):
            continue
        if record.get("task") != VALIDATION_TASK:
            continue
        evaluation = record.get("identity", {}).get("evaluation", {})
        for score in record.get("scores", []):
            axes.add((str(score["metric"]), evaluation.get("tokenizer")))
    return axes
