"""The threshold fit's statistical properties on synthetic data with a known answer.

Used by bench/bench_threshold.py (200+ repetitions per case) and tests/test_fit_slow.py.
Each case draws `reps` series (tracker/fit/synthetic.py) and fits them either directly
(points: binomial resampling of each point) or through the path `tracker fit --run` takes
(`per_example`: a points table plus per-example rows into fit_table, whose bootstrap
resamples the same examples for every checkpoint). Coverage is that of the joint 95%
interval, and of each part alone (examples only, sizes only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tracker.fit.core import fit_threshold
from tracker.fit.parallel import default_workers, ordered_map
from tracker.fit.result import ThresholdFit
from tracker.fit.synthetic import Shape, make_series, series_frame
from tracker.fit.table import TableRow, fit_series, with_q_values

CHANCE = 0.25
SMOOTH_SHAPES: tuple[Shape, ...] = ("sigmoid", "mid_sigmoid", "wide_sigmoid", "linear",
                                    "power_law", "flat")
LABELS = ("threshold (from chance)", "threshold (kink above chance)", "weak", "slope change",
          "smooth", "flat")


@dataclass(frozen=True)
class Case:
    label: str
    shape: Shape
    offset_sd: float = 0.0
    bias_sd: float = 0.0
    per_example: bool = False
    item_sd: float = 1.0


def fit_one(case: Case, rng: np.random.Generator, boot_rng: np.random.Generator,
            n_boot: int = 1000) -> tuple[ThresholdFit, float]:
    """One series of the case, fitted; returns the fit and the true threshold."""
    data = make_series(case.shape, rng, size_offset_sd=case.offset_sd,
                       size_bias_sd=case.bias_sd, item_sd=case.item_sd if case.per_example
                       else 0.0)
    if case.per_example:
        frame = series_frame(data, "task", "accuracy", data.score, CHANCE)
        frame["higher_is_better"] = True
        fit = fit_series(frame, data.examples, n_boot, boot_rng, interval_parts=True)
    else:
        fit = fit_threshold(data.loss, data.score, n=data.n, groups=data.size, chance=CHANCE,
                            binomial=True, random_state=boot_rng, n_boot=n_boot,
                            interval_parts=True)
    return fit, data.true_threshold


def _repetition(job) -> tuple[ThresholdFit, float]:
    """Repetition `rep` of a case: its data and its bootstrap each from their own seed, so
    repetitions can run in any order, in worker processes (tracker/fit/parallel.py)."""
    case, seed, rep, n_boot = job
    return fit_one(case, np.random.default_rng([seed, rep, 0]),
                   np.random.default_rng([seed, rep]), n_boot)


def run_case(case: Case, reps: int, seed: int, n_boot: int = 1000,
             workers: int | None = None) -> dict[str, float]:
    """Verdict rates, threshold RMSE, and coverage (joint and per part) over `reps`."""
    counts = dict.fromkeys(LABELS, 0.0)
    errors, joint, example, group = [], [], [], []
    jobs = [(case, seed, rep, n_boot) for rep in range(reps)]
    count = workers if workers is not None else default_workers(reps)
    for fit, truth in ordered_map(_repetition, jobs, count):
        label = fit.label if fit.label in counts else fit.verdict
        counts[label] = counts.get(label, 0.0) + 1.0 / reps
        if np.isfinite(truth):
            errors.append(fit.threshold - truth)
            joint.append(fit.ci_low <= truth <= fit.ci_high)
            example.append(fit.ci_example[0] <= truth <= fit.ci_example[1])
            group.append(fit.ci_group[0] <= truth <= fit.ci_group[1])
    threshold = counts["threshold (from chance)"] + counts["threshold (kink above chance)"]

    def mean(values):
        return float(np.mean(values)) if values else float("nan")

    return {"threshold": threshold, **counts,
            "rmse": float(np.sqrt(np.mean(np.square(errors)))) if errors else float("nan"),
            "coverage": mean(joint), "cov_examples": mean(example), "cov_sizes": mean(group)}


def multiple_testing(tables: int, seed: int, n_tasks: int = 20, n_true: int = 2,
                     n_boot: int = 200) -> dict[str, float]:
    """`tables` tables of n_tasks series (n_true hinges, the rest smooth shapes in turn),
    each fitted with Benjamini-Hochberg across the table; false discovery proportion (smooth
    series called threshold over all series called threshold) averaged over tables, and
    the share of tables with any false discovery and the true thresholds found.
    `n_boot` only sets the interval's replicates, which the verdict does not use."""
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
    """Table t of the multiple-testing study: (called threshold, truly a threshold)."""
    seed, t, n_tasks, n_true, n_boot = job
    rng = np.random.default_rng([seed, t, 0])
    rows, truth = [], []
    for i in range(n_tasks):
        shape: Shape = "hinge" if i < n_true else SMOOTH_SHAPES[(i - n_true) % len(SMOOTH_SHAPES)]
        data = make_series(shape, rng)
        fit = fit_threshold(data.loss, data.score, n=data.n, groups=data.size, chance=CHANCE,
                            binomial=True, n_boot=n_boot,
                            random_state=np.random.default_rng([seed, t, i]))
        rows.append(TableRow(f"task{i}", "accuracy", fit, pd.DataFrame()))
        truth.append(i < n_true)
    called = np.array([row.fit.verdict == "threshold" for row in with_q_values(rows)])
    return called, np.array(truth)
