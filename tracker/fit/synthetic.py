"""Synthetic (loss, score) series with a known answer, for benchmarks, tests and demos.

A ladder of `n_sizes` model sizes, each contributing an equal share of the checkpoints.
Every size starts at loss eta + 1.0 and trains down to a lower final loss the bigger it is
(eta - 0.4 for the smallest, eta - 1.0 for the largest), checkpoints evenly spread in loss
with a little jitter. Scores are Binomial(n_examples, p(L)) / n_examples, with p one of:

- hinge:        chance + slope * max(eta_s - L, 0); it emerges, with onset eta
- capped:       the hinge capped at a ceiling of 0.9, with slope ~ U[0.66, 0.75] so that only
                the largest size (final loss eta - 1.0) reaches the ceiling; onset eta
- sigmoid:      chance + (0.9 - chance) * logistic((eta - L) / 0.1): sharp, from chance,
                both plateaus seen; it emerges, with onset eta + 2 * 0.1 (tracker/fit/shape.py)
- mid_sigmoid:  as sigmoid with width 0.2 (onset eta + 0.4; the plateau at chance spans
                0.6 of the 2.0 loss units above it at the smallest size)
- wide_sigmoid: as sigmoid with width 0.5: mid-transition over the whole range, no plateau
- linear:       chance + 0.25 * (eta + 1.0 - L): no plateau
- power_law:    chance + 0.65 ((eta + 1) / L)^3 rescaled to run from chance at the highest
                loss to 0.9 at eta - 1.0: convex enough (3.8% of its rise at a fifth of the
                range) that it has a plateau by the shape rule
- gentle_power_law: the same with exponent 1 (9.7% of its rise at a fifth of the range): no
                plateau
- saturating:   chance + 0.35 (eta + 1.05 - L), capped at 0.85: it rises from the first
                checkpoint and saturates, with no plateau at high loss
- flat:         chance
- mmlu_drift:   an MMLU-like slow drift above chance: chance + 0.005 (eta + 1 - L) plus a
                small kink 0.02 max(eta - L, 0), with 14,000 examples (n_examples is
                ignored): a change that is real and detectable but not a material rise

`size_offset_sd` shifts each size's curve along the loss axis by its own N(0, sd) draw
(eta_s = eta + offset_s), the "sizes differ slightly" case; the target stays eta.
`size_bias_sd` adds to each size's probability its own N(0, sd) constant (a per-size bias
in score units). `item_sd` > 0 draws per-example values instead of binomial counts:
example i at a point is right when Phi(sqrt(r) a_i + sqrt(1 - r) e) < p, with a_i ~ N(0, 1)
the item's difficulty shared by every checkpoint, e ~ N(0, 1) fresh, and r = item_sd^2 /
(1 + item_sd^2); the marginal probability stays p, and `examples` holds the (n_points,
n_examples) matrix the per-example path (`tracker fit --run`) resamples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import special

Shape = Literal["hinge", "capped", "sigmoid", "mid_sigmoid", "wide_sigmoid", "linear",
                "power_law", "gentle_power_law", "saturating", "flat", "mmlu_drift"]
THRESHOLD_SHAPES = ("hinge", "capped")
EMERGING_SHAPES = ("hinge", "capped", "sigmoid", "mid_sigmoid")
CEILING = 0.9
MMLU_EXAMPLES = 14_000
WIDTHS = {"sigmoid": 0.1, "mid_sigmoid": 0.2, "wide_sigmoid": 0.5}
POWERS = {"power_law": 3.0, "gentle_power_law": 1.0}


@dataclass(frozen=True)
class SyntheticSeries:
    """One series: arrays of n_points, and the true threshold (nan for smooth shapes)."""

    loss: np.ndarray
    score: np.ndarray
    n: np.ndarray
    size: np.ndarray
    params: np.ndarray
    step: np.ndarray
    true_threshold: float
    true_slope: float
    examples: np.ndarray | None = None  # (n_points, n_examples) 0/1 values, item_sd > 0


def make_series(shape: Shape, rng: np.random.Generator, *, n_points: int = 200,
                n_examples: int = 500, n_sizes: int = 5, chance: float = 0.25,
                size_offset_sd: float = 0.0, eta: float | None = None,
                slope: float | None = None, size_bias_sd: float = 0.0,
                item_sd: float = 0.0) -> SyntheticSeries:
    """Draw one series; eta ~ U[2, 3] and slope ~ U[0.3, 0.6] unless given."""
    eta = float(rng.uniform(2.0, 3.0)) if eta is None else eta
    if slope is None:
        slope = float(rng.uniform(0.66, 0.75) if shape == "capped" else rng.uniform(0.3, 0.6))
    if shape == "mmlu_drift":
        n_examples = MMLU_EXAMPLES
    size = np.repeat(np.arange(n_sizes), int(np.ceil(n_points / n_sizes)))[:n_points]
    per_size = np.bincount(size, minlength=n_sizes)
    loss, step = np.empty(n_points), np.empty(n_points)
    for s in range(n_sizes):
        final = eta - 0.4 - 0.6 * s / max(n_sizes - 1, 1)
        members = np.flatnonzero(size == s)
        loss[members] = np.linspace(eta + 1.0, final, per_size[s])
        step[members] = np.arange(1, per_size[s] + 1) * 1000
    loss = loss + rng.normal(0.0, 0.01, n_points)
    offsets = rng.normal(0.0, size_offset_sd, n_sizes) if size_offset_sd > 0 else np.zeros(
        n_sizes)
    p = _probability(shape, loss - offsets[size], eta, slope, chance)
    if size_bias_sd > 0:
        p = p + rng.normal(0.0, size_bias_sd, n_sizes)[size]
    p = np.clip(p, 0.0, 1.0)
    examples = None
    if item_sd > 0:
        examples = item_matrix(p, n_examples, item_sd, rng)
        score = examples.mean(axis=1)
    else:
        score = rng.binomial(n_examples, p) / n_examples
    truth = true_onset(shape, eta)
    return SyntheticSeries(loss, score, np.full(n_points, n_examples), size,
                           (10.0 ** (6 + size)).astype(float), step, truth, slope, examples)


def true_onset(shape: Shape, eta: float) -> float:
    """The onset by the lag-time definition (tracker/fit/shape.py): eta for the kinked
    shapes, L0 + 2s for the sigmoids that start on a plateau; NaN for shapes without one."""
    if shape in THRESHOLD_SHAPES:
        return eta
    if shape in ("sigmoid", "mid_sigmoid"):
        return eta + 2.0 * WIDTHS[shape]
    return float("nan")


def item_matrix(p: np.ndarray, n_examples: int, item_sd: float,
                rng: np.random.Generator) -> np.ndarray:
    """0/1 values (n_points, n_examples) with marginal p and item effects shared across
    checkpoints (a Gaussian copula; see the module docstring)."""
    r = item_sd**2 / (1.0 + item_sd**2)
    items = rng.standard_normal(n_examples)
    latent = np.sqrt(r) * items[None, :] + np.sqrt(1.0 - r) * rng.standard_normal(
        (p.size, n_examples))
    return (special.ndtr(latent) < p[:, None]).astype(float)


def _probability(shape: Shape, loss: np.ndarray, eta: float, slope: float,
                 chance: float) -> np.ndarray:
    if shape == "hinge":
        return chance + slope * np.maximum(eta - loss, 0.0)
    if shape == "capped":
        return np.minimum(chance + slope * np.maximum(eta - loss, 0.0), CEILING)
    if shape in POWERS:
        top, bottom, power = eta + 1.0, eta - 1.0, POWERS[shape]
        curve = ((top / loss) ** power - 1.0) / ((top / bottom) ** power - 1.0)
        return chance + (CEILING - chance) * curve
    if shape == "mmlu_drift":
        return chance + 0.005 * (eta + 1.0 - loss) + 0.02 * np.maximum(eta - loss, 0.0)
    if shape in WIDTHS:
        return chance + (0.9 - chance) / (1.0 + np.exp((loss - eta) / WIDTHS[shape]))
    if shape == "linear":
        return chance + 0.25 * (eta + 1.0 - loss)
    if shape == "saturating":
        return np.minimum(chance + 0.35 * (eta + 1.05 - loss), 0.85)
    if shape == "flat":
        return np.full_like(loss, chance)
    raise ValueError(f"unknown shape '{shape}'")


def series_frame(data: SyntheticSeries, task: str, metric: str, score: np.ndarray,
                 chance: float = float("nan"), family: str = "synthetic") -> pd.DataFrame:
    """A points table (export columns) for one synthetic series and one metric's scores."""
    return pd.DataFrame({
        "family": family, "size": [f"s{s}" for s in data.size], "params": data.params,
        "step": data.step, "tokens_seen": data.step * 2**21, "loss": data.loss, "task": task,
        "metric": metric, "score": score, "n": data.n, "chance": chance})


def demo_points(rng: np.random.Generator) -> pd.DataFrame:
    """A small multi-task table for the sample report: an emergence seen by accuracy and
    its continuous twins, Schaeffer et al.'s mirage (exact match of a per-token probability
    that improves smoothly: :func:`mirage_task`), a sigmoid mid-transition, and a task flat
    at chance."""
    frames = []
    hinge = make_series("hinge", rng, eta=2.4, slope=0.5)
    p = np.clip(hinge.score + rng.normal(0, 0.01, hinge.score.size), 0.01, 0.99)
    frames += [series_frame(hinge, "arithmetic", "accuracy", hinge.score, 0.25),
               series_frame(hinge, "arithmetic", "p_correct", p, 0.25),
               series_frame(hinge, "arithmetic", "brier", 1.0 - p, 0.75)]
    frames.append(mirage_task("smooth", rng, eta=2.4, task="mirage <5-digit>")[0])
    smooth = make_series("wide_sigmoid", rng, eta=2.6)
    frames.append(series_frame(smooth, "sports_understanding", "accuracy", smooth.score, 0.25))
    flat = make_series("flat", rng, eta=2.5)
    frames.append(series_frame(flat, "navigate", "accuracy", flat.score, 0.25))
    return pd.concat(frames, ignore_index=True)


Mirage = Literal["smooth", "phase"]
TARGET_TOKENS = 8
PHASE_SCALE = 0.03  # the logistic scale of the phase change in p, loss units


def mirage_task(kind: Mirage, rng: np.random.Generator, *, n_points: int = 200,
                n_examples: int = 300, n_sizes: int = 5, eta: float = 2.5,
                item_sd: float = 0.3, task: str = "mirage") -> tuple[pd.DataFrame,
                                                                     pd.DataFrame]:
    """Schaeffer et al.'s construction, per example: a target of 8 tokens, each right with
    probability p, exact match = all 8 right (probability p^8), target NLL = -8 ln p, token
    edit distance ~ Binomial(8, 1 - p). Example i has p_i = p(L) shifted by its own
    difficulty d_i ~ N(0, item_sd) on the logit scale (shared by every checkpoint).

    - smooth: the per-token NLL -ln p(L) is linear in the loss, from 0.05 at eta - 1 to 1.5
      at eta + 1: exact match emerges (p^8 sits near 0, then climbs), target NLL and edit
      distance rise throughout: the pair's verdict is `made by the metric`;
    - phase: p jumps from 0.2 to 0.97 at eta (a logistic of scale 0.03 in loss): every
      metric has a plateau and emerges: `survives`.

    Returns (points, per-example rows) in the columns `tracker export` writes, for fit_table.
    """
    shell = make_series("flat", rng, n_points=n_points, n_sizes=n_sizes, eta=eta)
    loss = shell.loss
    if kind == "smooth":
        per_token = 0.05 + (1.5 - 0.05) * (loss - (eta - 1.0)) / 2.0
        base = np.exp(-np.clip(per_token, 1e-6, None))
    else:
        base = 0.2 + (0.97 - 0.2) * special.expit((eta - loss) / PHASE_SCALE)
    difficulty = rng.normal(0.0, item_sd, n_examples)
    p = special.expit(special.logit(np.clip(base, 1e-9, 1 - 1e-9))[:, None] + difficulty)
    right = rng.uniform(size=(n_points, n_examples, TARGET_TOKENS)) < p[..., None]
    values = {"exact_match": right.all(axis=2).astype(float),
              "target_nll": -TARGET_TOKENS * np.log(p),
              "token_edit_distance": (~right).sum(axis=2).astype(float)}
    frames, rows = [], []
    for metric, matrix in values.items():
        frames.append(series_frame(shell, task, metric, matrix.mean(axis=1),
                                   0.0 if metric == "exact_match" else float("nan")))
        rows.append(pd.DataFrame({
            "family": "synthetic", "size": np.repeat([f"s{s}" for s in shell.size], n_examples),
            "step": np.repeat(shell.step, n_examples), "task": task, "metric": metric,
            "example_id": np.tile(np.arange(n_examples), n_points),
            "value": matrix.ravel()}))
    points = pd.concat(frames, ignore_index=True).assign(n=float(n_examples))
    return points, pd.concat(rows, ignore_index=True)
