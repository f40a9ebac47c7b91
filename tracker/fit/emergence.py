"""The BIG-bench emergence score over model sizes (Srivastava et al. 2022).

    E = sign(argmax y - argmin y) * (max y - min y) / sqrt(median((y_i - y_{i-1})^2))

with y the scores of the models sorted by scale. Like BIG-bench, one score per model: each
size's final checkpoint (largest step, or lowest loss when steps are unknown), sorted by
parameter count when every size has one (else, for every size alike, by that checkpoint's
loss, highest first, since bigger models reach lower loss: mixing the two keys would put
sizes without a count in an arbitrary place). Scores are oriented so that a positive E means
"better with scale" for lower-is-better metrics too. Without model sizes there is no score
(NaN): checkpoints of one run are not models of different scale.
"""

from __future__ import annotations

import numpy as np


def emergence_score(scores_by_scale: np.ndarray) -> float:
    """E for scores already sorted from smallest to largest model; nan for < 3 models.

    Example:
        >>> round(emergence_score(np.array([0.25, 0.25, 0.26, 0.6])), 6)
        35.0
    """
    y = np.asarray(scores_by_scale, dtype=float)
    if y.size < 3:
        return float("nan")
    spread = float(y.max() - y.min())
    if spread == 0.0:
        return 0.0
    sign = float(np.sign(int(np.argmax(y)) - int(np.argmin(y))))
    typical_step = float(np.sqrt(np.median(np.diff(y) ** 2)))
    if typical_step == 0.0:
        return sign * float("inf")
    return sign * spread / typical_step


def final_by_scale(
    loss: np.ndarray,
    groups: np.ndarray | None,
    params: np.ndarray | None = None,
    step: np.ndarray | None = None,
) -> np.ndarray:
    """Indices of each group's final checkpoint, ordered from smallest to largest model."""
    loss = np.asarray(loss, dtype=float)
    if groups is None:
        return np.argsort(-loss, kind="stable")
    groups = np.asarray(groups)
    finals = []
    for label in np.unique(groups):
        members = np.flatnonzero(groups == label)
        if step is not None and np.all(np.isfinite(step[members])):
            chosen = members[np.argmax(step[members])]
        else:
            chosen = members[np.argmin(loss[members])]
        finals.append(chosen)
    chosen_all = np.asarray(finals, dtype=int)
    counts = None if params is None else np.asarray(params, dtype=float)[chosen_all]
    keys = counts if counts is not None and np.all(np.isfinite(counts)) else -loss[chosen_all]
    order = np.argsort(keys, kind="stable")
    return chosen_all[order]
