"""Observation weights for the threshold fit (inverse variances, up to a common factor).

- Accuracy-type metrics (a proportion of n right/wrong examples): w = n / (p (1 - p)), the
  binomial variance. p comes from a model-free running mean of the scores over neighbouring
  losses, not from any one model's fitted curve: the hinge and its smooth competitors must be
  compared under the same weights (else their BICs are not comparable), and weights taken
  from the hinge's own fit would favour the hinge. p is clipped to [0.01, 0.99] so a score of
  exactly 0 or 1 does not get an infinite weight.
- Other metrics: w = n when n (examples per point) is known, a mean's variance being ~1/n;
  otherwise 1.
"""

from __future__ import annotations

import numpy as np

P_CLIP = 0.01


def running_mean(y: np.ndarray, half_window: int) -> np.ndarray:
    """Mean of y over positions i-h..i+h (clipped at the ends), along the last axis."""
    y2 = np.atleast_2d(y)
    n = y2.shape[1]
    cs = np.concatenate([np.zeros((y2.shape[0], 1)), np.cumsum(y2, axis=1)], axis=1)
    idx = np.arange(n)
    lo = np.clip(idx - half_window, 0, n)
    hi = np.clip(idx + half_window + 1, 0, n)
    width = 2 * half_window + 1
    if n <= width:  # every window is clipped: index them all
        out = (cs[:, hi] - cs[:, lo]) / (hi - lo)
        return out.reshape(np.shape(y))
    out = np.empty_like(y2, dtype=float)  # full windows by slicing, the clipped ends by index
    out[:, half_window:n - half_window] = (cs[:, width:] - cs[:, :n + 1 - width]) / width
    ends = np.r_[0:half_window, n - half_window:n]
    out[:, ends] = (cs[:, hi[ends]] - cs[:, lo[ends]]) / (hi[ends] - lo[ends])
    return out.reshape(np.shape(y))


def observation_weights(y: np.ndarray, n: np.ndarray | None, binomial: bool) -> np.ndarray:
    """Weights for scores `y` (shape (n_points,) or (B, n_points), sorted by loss).

    Example:
        >>> observation_weights(np.array([0.5, 0.5]), None, binomial=False)
        array([1., 1.])
    """
    y = np.asarray(y, dtype=float)
    if n is None:
        return np.ones_like(y)
    counts = np.broadcast_to(np.asarray(n, dtype=float), y.shape)
    if not binomial:
        return np.array(counts)
    half = max(2, y.shape[-1] // 20)
    p = np.clip(running_mean(y, half), P_CLIP, 1.0 - P_CLIP)
    return counts / (p * (1.0 - p))
