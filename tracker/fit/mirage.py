"""The mirage test: does an accuracy-type metric's emergence survive its continuous twin?

Du et al. (2024) found that the tipping point survives continuous metrics (CorrectChoiceProb,
Brier); Schaeffer et al. (2023) argue that sharp jumps are made by all-or-nothing metrics
(exact match ~ p^L of a per-token probability p that improves smoothly). Each accuracy-type
metric is paired with its continuous twins (tracker.evals.metrics.CONTINUOUS_TWINS: accuracy with
p_correct and brier, exact match with target NLL and token edit distance), and each pair
gets a verdict from the two series' own verdicts (tracker/fit/verdict.py):

| pair verdict        | accuracy-type | twin                                          |
|---------------------|---------------|-----------------------------------------------|
| survives            | emerges       | emerges (Du et al.)                           |
| made by the metric  | emerges       | rises throughout (Schaeffer et al.)           |
| twin only           | rises or flat | emerges                                       |
| neither             | rises or flat | rises or flat                                 |
| inconclusive        | either is weak, insufficient or failed; or emerges against a flat twin, |
|                     | or against a twin that turns (level or worse above a kink, better below) |

For `survives` the onset gap (twin minus accuracy-type, loss units) is reported with a 95%
interval: a continuous twin usually leaves its plateau earlier (for a per-token probability
that jumps over 0.03 bits per byte, -8 ln p leaves its plateau about 0.14 above p^8), so
what separates the papers is whether the twin has a plateau at all, not whether the onsets
coincide. The gap's replicates are paired when both series were resampled from the same
per-example rows with the same draws (fit_table seeds a task's bootstrap once for all its
metrics); otherwise they are independent draws, and the interval is wider than a paired
one would be.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from tracker.evals.metrics import CONTINUOUS_TWINS
from tracker.fit.result import ThresholdFit

TwinVerdict = Literal["survives", "made by the metric", "twin only", "neither",
                      "inconclusive"]
TWIN_COLUMNS = ("task", "metric", "twin", "verdict", "onset", "ci_low", "ci_high",
                "twin_onset", "twin_ci_low", "twin_ci_high", "gap", "gap_low", "gap_high",
                "paired", "reason")
MIN_DRAWS = 20
NAN = float("nan")


@dataclass(frozen=True)
class TwinPair:
    """One accuracy-type metric against one continuous twin, for one task (loss units)."""

    task: str
    metric: str
    twin: str
    verdict: TwinVerdict
    onset: float
    ci_low: float
    ci_high: float
    twin_onset: float
    twin_ci_low: float
    twin_ci_high: float
    gap: float = NAN
    gap_low: float = NAN
    gap_high: float = NAN
    paired: bool = False
    reason: str = ""


def pair_twins(fits: dict[tuple[str, str], ThresholdFit]) -> tuple[TwinPair, ...]:
    """Every (task, accuracy-type metric, twin) present in `fits`, keyed (task, metric)."""
    pairs = []
    for (task, metric), fit in sorted(fits.items()):
        for twin in CONTINUOUS_TWINS.get(metric, ()):
            other = fits.get((task, twin))
            if other is not None:
                pairs.append(compare(task, metric, fit, twin, other))
    return tuple(pairs)


def compare(task: str, metric: str, fit: ThresholdFit, twin: str,
            other: ThresholdFit) -> TwinPair:
    """The pair's verdict, and the onset gap where both emerge."""
    verdict, reason = twin_verdict(metric, fit, twin, other)
    gap, low, high, paired = NAN, NAN, NAN, False
    if verdict == "survives":
        gap = other.threshold - fit.threshold
        low, high, paired = _gap_interval(fit, other)
    return TwinPair(task, metric, twin, verdict, fit.threshold, fit.ci_low, fit.ci_high,
                    other.threshold, other.ci_low, other.ci_high, gap, low, high, paired,
                    reason)


def twin_verdict(metric: str, fit: ThresholdFit, twin: str,
                 other: ThresholdFit) -> tuple[TwinVerdict, str]:
    """(verdict, reason) from the two series' verdicts (the table in the module's doc)."""
    unsure = [f"{name} is {f.verdict}" for name, f in ((metric, fit), (twin, other))
              if f.verdict in ("weak", "insufficient", "failed")]
    if unsure:
        return "inconclusive", "; ".join(unsure)
    first, second = fit.verdict == "emerges", other.verdict == "emerges"
    if first and second:
        return "survives", f"both emerge: the tipping point survives {twin}"
    if first and other.verdict == "rises" and other.rises_how.startswith("turns"):
        kink = other.rises_how.removeprefix("turns at ")
        return "inconclusive", (f"{twin} does not improve above {kink} and improves below "
                                "it, with no plateau by the rule: neither a twin that rises "
                                "throughout nor one that emerges")
    if first and other.verdict == "rises":
        how = other.rises_how
        change = (f", with a {how} ({float(how.rsplit(' ', 1)[1]) - fit.threshold:+.2f} "
                  "from the onset)") if how.startswith("slope change") else ""
        rises = (f"rises from the highest loss and {how}" if how.startswith("levels off")
                 else "rises throughout")
        return "made by the metric", (f"{metric} emerges but {twin} {rises}{change}: "
                                      "the jump is made by the metric")
    if first:
        return "inconclusive", f"{metric} emerges but {twin} is flat"
    if second:
        return "twin only", f"{twin} emerges, {metric} {fit.verdict}"
    return "neither", f"{metric} {fit.verdict}, {twin} {other.verdict}"


def _gap_interval(fit: ThresholdFit, other: ThresholdFit) -> tuple[float, float, bool]:
    """95% interval of twin onset - onset from the replicates' onsets, paired replicate by
    replicate when both came from the same draws (per-example rows)."""
    first, second = np.asarray(fit.onset_draws), np.asarray(other.onset_draws)
    if first.size < MIN_DRAWS or second.size != first.size:
        return NAN, NAN, False
    paired = (fit.interval_method.startswith("examples")
              and fit.interval_method == other.interval_method)
    both = np.isfinite(first) & np.isfinite(second)
    if both.sum() < MIN_DRAWS:
        return NAN, NAN, paired
    gaps = second[both] - first[both]
    low, high = np.quantile(gaps, [0.025, 0.975], method="inverted_cdf")
    return float(low), float(high), paired


def twins_frame(pairs: tuple[TwinPair, ...]) -> pd.DataFrame:
    """The twins.csv table."""
    return pd.DataFrame([{column: getattr(pair, column) for column in TWIN_COLUMNS}
                         for pair in pairs], columns=list(TWIN_COLUMNS))
