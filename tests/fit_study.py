"""The emergence fit's statistical properties on synthetic data with a known answer.

Used by bench/bench_threshold.py (200+ repetitions per case) and tests/test_fit_slow.py.
Each case draws `reps` series (tracker/fit/synthetic.py) and fits them through the path
`tracker fit --points` takes (a one-series points table through fit_table), or, with
`per_example`, the path `tracker fit --run` takes (a points table plus per-example rows,
whose bootstrap resamples the same examples for every checkpoint). Coverage is that of the
joint 95% interval of the onset against the shape's true onset (eta for kinked shapes,
L0 + 2s for a sigmoid from chance), and of each part alone (examples only, sizes only).
The mirage study fits Schaeffer et al.'s construction and a real phase change (three
metrics per task, per-example rows) and counts the pairs' verdicts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tracker.fit.parallel import default_workers, ordered_map
from tracker.fit.result import ThresholdFit
from tracker.fit.synthetic import Mirage, Shape, make_series, mirage_task, series_frame
from tracker.fit.table import TableRow, fit_series, fit_table, with_q_values
from tracker.points import validate_points

CHANCE = 0.25
NULL_SHAPES: tuple[Shape, ...] = ("wide_sigmoid", "linear", "gentle_power_law", "saturating",
                                  "flat")
LABELS = ("emerges (from chance)", "emerges (not at chance)", "weak", "rises", "flat",
          "insufficient", "failed")


@dataclass(frozen=True)
class Case:
    label: str
    shape: Shape
    offset_sd: float = 0.0
    bias_sd: float = 0.0
    per_example: bool = False
    item_sd: float = 1.0


def fit_one(case: Case, rng: np.random.Generator, seed: list[int],
            n_boot: int = 1000) -> tuple[ThresholdFit, float]:
    """One series of the case, fitted; returns the fit and the true onset."""
    data = make_series(case.shape, rng, size_offset_sd=case.offset_sd,
                       size_bias_sd=case.bias_sd, item_sd=case.item_sd if case.per_example
                       else 0.0)
    frame = validate_points(series_frame(data, "task", "accuracy", data.score, CHANCE)).frame
    examples = data.examples if case.per_example else None
    fit = fit_series(frame, examples, n_boot, np.random.default_rng(seed), interval_parts=True,
                     interval_state=seed)
    return fit, data.true_threshold


def _repetition(job) -> tuple[ThresholdFit, float]:
    """Repetition `rep` of a case: its data and its bootstrap each from their own seed, so
    repetitions can run in any order, in worker processes (tracker/fit/parallel.py)."""
    case, seed, rep, n_boot = job
    return fit_one(case, np.random.default_rng([seed, rep, 0]), [seed, rep], n_boot)


def run_case(case: Case, reps: int, seed: int, n_boot: int = 1000,
             workers: int | None = None) -> dict[str, float]:
    """Verdict rates, onset RMSE, and coverage (joint and per part) over `reps`."""
    counts = dict.fromkeys(LABELS, 0.0)
    errors, joint, example, group = [], [], [], []
    jobs = [(case, seed, rep, n_boot) for rep in range(reps)]
    count = workers if workers is not None else default_workers(reps)
    for fit, truth in ordered_map(_repetition, jobs, count):
        label = _label(fit)
        counts[label] = counts.get(label, 0.0) + 1.0 / reps
        if np.isfinite(truth) and fit.verdict == "emerges":
            errors.append(fit.threshold - truth)
            joint.append(fit.ci_low <= truth <= fit.ci_high)
            example.append(fit.ci_example[0] <= truth <= fit.ci_example[1])
            group.append(fit.ci_group[0] <= truth <= fit.ci_group[1])

    def mean(values):
        return float(np.mean(values)) if values else float("nan")

    return {"emerges": counts["emerges (from chance)"] + counts["emerges (not at chance)"],
            **counts,
            "rmse": float(np.sqrt(np.mean(np.square(errors)))) if errors else float("nan"),
            "coverage": mean(joint), "cov_examples": mean(example), "cov_sizes": mean(group)}


def _label(fit: ThresholdFit) -> str:
    if fit.verdict == "emerges":
        return "emerges (not at chance)" if fit.baseline_at_chance is False else (
            "emerges (from chance)")
    return fit.verdict


def run_mirage(kind: Mirage, reps: int, seed: int, n_boot: int = 1000) -> dict[str, float]:
    """Pair verdict rates (exact match against target NLL) over `reps` tasks, with the
    exact match and target NLL verdict rates and the mean onset gap where both emerge."""
    jobs = [(kind, seed, rep, n_boot) for rep in range(reps)]
    pairs: Counter[str] = Counter()
    metrics: Counter[tuple[str, str]] = Counter()
    gaps: list[float] = []
    for pair, verdicts in ordered_map(_mirage_repetition, jobs, default_workers(reps)):
        pairs[pair.verdict] += 1
        metrics.update(verdicts)
        if np.isfinite(pair.gap):
            gaps.append(pair.gap)
    out = {verdict: pairs[verdict] / reps for verdict in
           ("survives", "made by the metric", "twin only", "neither", "inconclusive")}
    out.update({f"{m} {v}": c / reps for (m, v), c in sorted(metrics.items())})
    out["gap"] = float(np.mean(gaps)) if gaps else float("nan")
    return out


def _mirage_repetition(job):
    kind, seed, rep, n_boot = job
    points, examples = mirage_task(kind, np.random.default_rng([seed, rep, 0]))
    points = points[points["metric"].isin(["exact_match", "target_nll"])]
    table = fit_table(points, examples, n_boot=n_boot, random_state=[seed, rep], workers=1)
    (pair,) = [p for p in table.twins if p.twin == "target_nll"]
    return pair, [(row.metric, row.fit.verdict) for row in table.rows]


def multiple_testing(tables: int, seed: int, n_tasks: int = 20, n_true: int = 2,
                     n_boot: int = 200) -> dict[str, float]:
    """`tables` tables of n_tasks series (n_true hinges, the rest shapes without a plateau
    in turn: NULL_SHAPES), each fitted with Benjamini-Hochberg across the table; false
    discovery proportion (a shape without a plateau called `emerges`, over all series called
    `emerges`) averaged over tables, the share of tables with any false discovery, and the
    true emergences found. `n_boot` only sets the interval's replicates."""
    jobs = [(seed, t, n_tasks, n_true, n_boot) for t in range(tables)]
    fdp, any_false, power = [], [], []
    for called, real in ordered_map(_table, jobs, default_workers(tables)):
        false = int((called & ~real).sum())
        fdp.append(false / max(int(called.sum()), 1))
        any_false.append(false > 0)
        power.append(float((called & real).sum()) / n_true)
    return {"tables": tables, "fdr": float(np.mean(fdp)), "any_false": float(np.mean(any_false)),
            "power": float(np.mean(power))}


def _table(job) -> tuple[np.ndarray, np.ndarray]:
    """Table t of the multiple-testing study: (called emerges, truly an emergence)."""
    seed, t, n_tasks, n_true, n_boot = job
    rng = np.random.default_rng([seed, t, 0])
    rows, truth = [], []
    for i in range(n_tasks):
        shape: Shape = "hinge" if i < n_true else NULL_SHAPES[(i - n_true) % len(NULL_SHAPES)]
        data = make_series(shape, rng)
        frame = validate_points(series_frame(data, f"task{i}", "accuracy", data.score,
                                             CHANCE)).frame
        fit = fit_series(frame, None, n_boot, np.random.default_rng([seed, t, i]))
        rows.append(TableRow(f"task{i}", "accuracy", fit, pd.DataFrame()))
        truth.append(i < n_true)
    called = np.array([row.fit.verdict == "emerges" for row in with_q_values(rows)])
    return called, np.array(truth)
