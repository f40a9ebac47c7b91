"""What a forecast's two steps pass between them, and how its series are prepared.

The intermediate feature is what step 1 predicts from parameters and tokens and what step 2
reads the score off:

- ``validation``: the points' own loss, the validation text every task shares (Du et al.
  2024; C4 for the OLMo ladder);
- a metric name such as ``bits_per_byte_correct``: each task's own loss, that metric's
  score of the same task at the same checkpoint (Bhagia et al. 2024's "task loss", the bits
  per byte of the correct answer).

Two preparations of Bhagia et al.'s protocol (OLMo-ladder, src/scaling/utils.py,
``get_step2_data_by_name``): the first share of each run's checkpoints left out, then a
trailing moving average over a window of checkpoints, the first ones averaging what there is.
The last point of a smoothed run is then the mean of its last ``window`` checkpoints, the
paper's step-1 value. And :func:`combine_tasks`, a weighted mean of several tasks at each
checkpoint (their MMLU: the four subject groups, weighted by question counts).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from tracker.errors import TrackerError, did_you_mean

VALIDATION_FEATURE = "validation"
SERIES = ["family", "size", "task", "metric"]
CHECKPOINT = ["family", "size", "step"]


def with_task_feature(points: pd.DataFrame, feature: str) -> pd.DataFrame:
    """Every series but ``feature``'s own, its loss replaced by the same task's ``feature``
    score at the same checkpoint; rows with no such score are left out.

    Example:
        >>> p = pd.DataFrame({"family": "f", "size": "s", "step": [1, 1], "task": "t",
        ...                   "metric": ["accuracy", "bpb"], "score": [0.3, 1.2], "loss": 3.0})
        >>> with_task_feature(p, "bpb")[["metric", "score", "loss"]].to_dict("records")
        [{'metric': 'accuracy', 'score': 0.3, 'loss': 1.2}]
    """
    if feature == VALIDATION_FEATURE:
        return points
    metrics = sorted(points["metric"].unique())
    if feature not in metrics:
        raise TrackerError(f"unknown feature '{feature}'{did_you_mean(feature, metrics)}: it "
                           f"must be '{VALIDATION_FEATURE}' or a metric of the points "
                           f"({', '.join(metrics)})")
    keys = [*CHECKPOINT, "task"]
    values = (points.loc[points["metric"] == feature, [*keys, "score"]]
              .drop_duplicates(keys).rename(columns={"score": "_feature"}))
    rest = points[points["metric"] != feature].merge(values, on=keys, how="inner")
    rest["loss"] = rest.pop("_feature")
    return rest.reset_index(drop=True)


def skip_and_smooth(points: pd.DataFrame, *, skip: float = 0.0, window: int = 1
                    ) -> pd.DataFrame:
    """Per series (family, size, task, metric) in step order: the first ceil(``skip`` x its
    checkpoints) left out, then score and loss replaced by their trailing mean over
    ``window`` checkpoints (fewer at the start).

    Example:
        >>> p = pd.DataFrame({"family": "f", "size": "s", "task": "t", "metric": "m",
        ...                   "step": range(5), "score": [0., 1, 2, 3, 4], "loss": 1.0})
        >>> skip_and_smooth(p, skip=0.2, window=2)["score"].tolist()
        [1.0, 1.5, 2.5, 3.5]
    """
    if not 0.0 <= skip < 1.0:
        raise TrackerError(f"skip {skip:g} must be in [0, 1): the share of each run's first "
                           "checkpoints left out")
    if window < 1:
        raise TrackerError(f"moving-average window {window} must be 1 or more")
    if skip == 0.0 and window == 1:
        return points
    ordered = points.sort_values([*SERIES, "step"], kind="stable")
    parts = []
    for _, series in ordered.groupby(SERIES, sort=False):
        kept = series.iloc[math.ceil(skip * len(series)):].copy()
        for column in ("score", "loss"):
            kept[column] = kept[column].rolling(window, min_periods=1).mean().to_numpy()
        parts.append(kept)
    return pd.concat(parts, ignore_index=True) if parts else points.iloc[:0]


def combine_tasks(points: pd.DataFrame, name: str, weights: Mapping[str, float]
                  ) -> pd.DataFrame:
    """A task ``name``: at each checkpoint and metric, the ``weights``-weighted mean of the
    named tasks' scores, where all of them have one (their example counts summed).

    Example:
        >>> p = pd.DataFrame({"family": "f", "size": "s", "step": 1, "metric": "m",
        ...                   "task": ["a", "b"], "score": [0.25, 0.75], "n": [10, 30]})
        >>> combine_tasks(p, "ab", {"a": 1, "b": 3})[["task", "score", "n"]].to_dict("records")
        [{'task': 'ab', 'score': 0.625, 'n': 40.0}]
    """
    missing = sorted(set(weights) - set(points["task"]))
    if missing:
        raise TrackerError(f"cannot combine into '{name}': no task '{missing[0]}' in the points")
    part = points[points["task"].isin(list(weights))].copy()
    part["_w"] = part["task"].map(weights).astype(float)
    part["_wy"] = part["_w"] * part["score"]
    keys = [*CHECKPOINT, "metric"]
    grouped = part.groupby(keys, sort=True, dropna=False)
    combined = grouped.first().reset_index()
    combined["score"] = (grouped["_wy"].sum() / grouped["_w"].sum()).to_numpy()
    combined["n"] = grouped["n"].sum(min_count=len(weights)).to_numpy(float)
    complete = (grouped["task"].nunique() == len(weights)).to_numpy()
    combined["task"] = name
    return combined.loc[complete, list(points.columns)].reset_index(drop=True)


def chance_of(points: pd.DataFrame, task: str) -> float:
    """The task's chance level from the points' ``chance`` column, NaN where unknown."""
    if "chance" not in points:
        return float("nan")
    values = points.loc[points["task"] == task, "chance"].dropna()
    return float(values.iloc[0]) if len(values) else float("nan")


def finite_or(value: float, default: float) -> float:
    return value if np.isfinite(value) else default
