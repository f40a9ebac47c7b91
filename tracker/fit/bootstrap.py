"""Bootstrap replicates that keep the data's dependence, for the threshold's interval.

Two sources of uncertainty, resampled together in each replicate of the joint bootstrap
(tracker/fit/joint.py; DESIGN.md, Statistics):

1. Test examples. With per-example values (a matrix points x examples, NaN where a point
   lacks an example) the same resampled example indices are used for every checkpoint of a
   replicate, because every checkpoint answers the same questions. Without them, accuracy-
   type points with known n are resampled as Binomial(n, observed score) / n (what resampling
   each point's examples independently gives), and other metrics by a residual bootstrap
   around the hinge fit (standardised by the weights).
2. Model sizes (or any `groups`): groups are drawn with replacement and every point of a
   drawn group enters with that multiplicity, as a weight, so the losses need no re-sorting.

All replicates are arrays (B, n_points); the hinge is then fitted to all of them at once.
"""

from __future__ import annotations

import numpy as np


def example_replicates(values: np.ndarray, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """Scores (B, n_points) from examples resampled once per replicate, shared by all points."""
    present = np.isfinite(values)
    filled = np.where(present, values, 0.0)
    n_examples = values.shape[1]
    counts = rng.multinomial(n_examples, np.full(n_examples, 1.0 / n_examples), size=n_boot)
    totals = counts @ filled.T
    used = counts @ present.T.astype(float)
    return totals / np.maximum(used, 1.0)


def binomial_replicates(
    score: np.ndarray, n: np.ndarray, rng: np.random.Generator, n_boot: int
) -> np.ndarray:
    """Binomial(n, score) / n per point, shape (B, n_points)."""
    trials = np.maximum(np.round(np.asarray(n, dtype=float)), 1).astype(np.int64)
    p = np.clip(score, 0.0, 1.0)
    return rng.binomial(trials, p, size=(n_boot, len(score))) / trials


def residual_replicates(
    fitted: np.ndarray, y: np.ndarray, w: np.ndarray, rng: np.random.Generator, n_boot: int,
    n_params: int = 3,
) -> np.ndarray:
    """fitted + resampled standardised residuals (inflated for the parameters fitted)."""
    scale = np.sqrt(w)
    standardised = (y - fitted) * scale
    standardised = standardised * np.sqrt(len(y) / max(len(y) - n_params, 1))
    draws = rng.integers(len(y), size=(n_boot, len(y)))
    return fitted + standardised[draws] / scale


def group_multiplicities(codes: np.ndarray, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """How many times each point's group was drawn, shape (B, n_points)."""
    n_groups = int(codes.max()) + 1
    draws = rng.integers(n_groups, size=(n_boot, n_groups))
    counts = np.zeros((n_boot, n_groups))
    np.add.at(counts, (np.arange(n_boot)[:, None], draws), 1.0)
    return counts[:, codes]


def cluster_weights(clusters: np.ndarray, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """Weights (B, n_points) of a two-stage bootstrap: the clusters (a forecast's model sizes)
    by the Bayesian bootstrap (Rubin 1981: each cluster weighted n_clusters x Dirichlet(1,
    ..., 1)), then the points of each cluster (its runs) drawn with replacement within it.

    Why Bayesian at the top: a forecast's fit has 3-5 sizes, and the runs of one size share
    its parameter count, so the extrapolation in N rests on the sizes, not on the runs. The
    classical bootstrap over 3-4 sizes repeats one and drops another in most draws, leaving
    the scaling law's N term (which needs 3 distinct counts) unidentified; the Dirichlet
    weights keep every size in with a random weight, so every replicate is a proper fit.
    """
    codes = np.unique(clusters, return_inverse=True)[1].ravel()
    n_clusters = int(codes.max()) + 1
    top = rng.dirichlet(np.ones(n_clusters), size=n_boot) * n_clusters
    within = np.zeros((n_boot, len(codes)))
    for cluster in range(n_clusters):
        members = np.flatnonzero(codes == cluster)
        drawn = members[rng.integers(len(members), size=(n_boot, len(members)))]
        np.add.at(within, (np.arange(n_boot)[:, None], drawn), 1.0)
    return top[:, codes] * within
