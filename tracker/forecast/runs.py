"""The runs (one per family and size) of a points table, and which are fitted or forecast.

A run is named ``family/size`` (``pythia-deduped/2.8b``). A size given by the user picks
every run of that size (``2.8b``: both Pythia families) or one run (``pythia/2.8b``); a
size in no run is accepted only when its label states a parameter count (``7b``, ``350m``),
for a forecast without real scores to compare with.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tracker.errors import TrackerError, did_you_mean, printable

MIN_FIT_SIZES = 3  # distinct parameter counts: E, A and alpha need three
SUFFIXES = {"k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}
CHECKPOINT_COLUMNS = ["family", "size", "params", "step", "tokens_seen", "loss"]


@dataclass(frozen=True)
class Run:
    """One model: its label, parameter count and checkpoints (step-sorted rows of
    CHECKPOINT_COLUMNS; empty for a size named by the user that no run holds)."""

    label: str
    family: str
    size: str
    params: float
    checkpoints: pd.DataFrame

    @property
    def has_data(self) -> bool:
        return not self.checkpoints.empty


def checkpoints_of(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (family, size, step): its parameters, tokens seen and loss."""
    table = frame.drop_duplicates(["family", "size", "step"])[CHECKPOINT_COLUMNS]
    return table.sort_values(["family", "size", "step"], ignore_index=True)


def runs_of(frame: pd.DataFrame) -> dict[str, Run]:
    """Every run of a validated points frame, by label."""
    runs = {}
    for (family, size), part in checkpoints_of(frame).groupby(["family", "size"], sort=False):
        label = f"{family}/{size}".strip("/")
        params = part["params"].dropna()
        runs[label] = Run(label, str(family), str(size),
                          float(params.iloc[0]) if len(params) else float("nan"),
                          part.reset_index(drop=True))
    return runs


def pick_runs(runs: dict[str, Run], names: Sequence[str], role: str) -> list[Run]:
    """The runs named (by size or family/size); a parameter-count label names a run
    without data. Raises TrackerError for a name that is neither."""
    picked: list[Run] = []
    for name in names:
        matches = [r for r in runs.values() if name in (r.size, r.label)]
        if not matches:
            params = params_from_label(name)
            if params is None or role != "target":
                sizes = sorted({r.size for r in runs.values()})
                raise TrackerError(
                    f"unknown {role} size '{printable(name)}'{did_you_mean(name, sizes)}; "
                    f"sizes in the points: {', '.join(sizes)}"
                    + (" (or a parameter count such as 7b)" if role == "target" else ""))
            matches = [Run(name, "", name, params, pd.DataFrame(columns=CHECKPOINT_COLUMNS))]
        seen = {r.label for r in picked}
        picked += [_with_params(m) for m in matches if m.label not in seen]
    return picked


def _with_params(run: Run) -> Run:
    """A run without a params column takes the count its size label states, if any."""
    if np.isfinite(run.params):
        return run
    params = params_from_label(run.size)
    if params is None:
        raise TrackerError(f"run {run.label} has no parameter count (params column) and its "
                           "size label states none; add a params column")
    return Run(run.label, run.family, run.size, params, run.checkpoints)


def default_fit_runs(runs: dict[str, Run], targets: list[Run]) -> list[Run]:
    """Every run smaller (in parameters) than the smallest target."""
    smallest = min(t.params for t in targets)
    sized = [_with_params(r) if params_from_label(r.size) is not None else r
             for r in runs.values()]
    return [r for r in sized if np.isfinite(r.params) and r.params < smallest]


def check_fit_runs(fit_runs: list[Run], targets: list[Run]) -> None:
    """Enough distinct sizes, parameter counts and tokens seen; no target among them."""
    overlap = sorted({r.label for r in fit_runs} & {t.label for t in targets if t.has_data})
    if overlap:
        raise TrackerError(f"{overlap[0]} is both a fit size and a target; leave it out of "
                           "--fit-sizes")
    distinct = sorted({r.params for r in fit_runs})
    if len(distinct) < MIN_FIT_SIZES:
        names = ", ".join(r.label for r in fit_runs) or "none"
        raise TrackerError(f"too few fit sizes: need {MIN_FIT_SIZES} model sizes smaller than "
                           f"the target (or named by --fit-sizes), got {len(distinct)} "
                           f"({names})")
    no_tokens = [r.label for r in fit_runs if not r.checkpoints["tokens_seen"].notna().any()]
    if no_tokens:
        raise TrackerError(f"run {no_tokens[0]} has no tokens_seen; step 1 needs the tokens "
                           "each checkpoint saw (record them, or add a tokens_seen column)")


def params_from_label(label: str) -> float | None:
    """Parameter count stated by a size label, or None.

    Example:
        >>> params_from_label("2.8b"), params_from_label("350M"), params_from_label("tiny")
        (2800000000.0, 350000000.0, None)
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmbt])\s*", label.lower())
    return None if match is None else float(match.group(1)) * SUFFIXES[match.group(2)]
