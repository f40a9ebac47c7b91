"""The verdict rule (DESIGN.md, Statistics: thresholds).

BICs of the same weighted data (lower is better), with the design effect of points
clustered in sizes (tracker/fit/clustering.py). The threshold models are the hinge (3
parameters) and the capped hinge (4: flat, rise, flat); the kinked model is the better of
the two. margin = BIC(best smooth) - BIC(kinked).

| verdict        | rule                                                                     |
|----------------|--------------------------------------------------------------------------|
| insufficient   | fewer than 10 finite points                                              |
| flat           | scores constant, or no model beats the constant by more than 2 BIC units |
| slope change   | the broken stick (two slopes) beats the kinked model by > 2 BIC and the  |
|                | best smooth model by > 10: the score already rose before the kink        |
| threshold      | margin > 10, slope z > 3, eta interior, a material rise (material.py),   |
|                | the deciding smooth competitor converged, and q <= 0.05 (pvalue.py)      |
| weak           | margin in (6, 10] with z > 3 and eta interior; or margin > 10 with any   |
|                | of the other conditions failing (the reason names which)                 |
| smooth         | otherwise: a smooth model is as good or better (no decisive kink)        |

`threshold` is further qualified by its plateau where chance is known: `threshold (from
chance)` when the plateau is within the equivalence margin of chance, `threshold (kink
above chance)` otherwise (ThresholdFit.label). The smooth models are linear, sigmoid (4
parameters) and power law (3). Testing the hinge against the linear model alone (Davies)
is not enough: every sigmoid would be called a threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Verdict = Literal["threshold", "weak", "slope change", "smooth", "flat", "insufficient"]
VERDICTS: tuple[str, ...] = ("threshold", "weak", "slope change", "smooth", "flat",
                             "insufficient")
MIN_POINTS = 10
THRESHOLD_MARGIN = 10.0
WEAK_MARGIN = 6.0
FLAT_MARGIN = 2.0
BROKEN_MARGIN = 2.0
MIN_SLOPE_Z = 3.0
MAX_Q = 0.05
SMOOTH_MODELS = ("linear", "sigmoid", "power_law")
KINKED_MODELS = ("hinge", "capped")


@dataclass(frozen=True)
class Evidence:
    """What the rule needs beyond the BICs (all about the kinked model)."""

    slope_z: float
    interior: bool
    rise: float
    min_rise: float
    smooth_converged: bool = True
    q_value: float = 0.0


@dataclass(frozen=True)
class Decision:
    """The verdict, the best smooth and kinked models, and the BIC margin."""

    verdict: Verdict
    best_smooth: str
    delta_bic: float
    reason: str
    kinked: str = "hinge"


def best_kinked(bics: Mapping[str, float]) -> str:
    return min((name for name in KINKED_MODELS if name in bics), key=lambda name: bics[name])


def decide(bics: Mapping[str, float], evidence: Evidence) -> Decision:
    """Apply the rule to BICs keyed by model name ('constant', SMOOTH_MODELS, KINKED_MODELS
    and optionally 'broken_stick')."""
    best_smooth = min(SMOOTH_MODELS, key=lambda name: bics[name])
    kinked = best_kinked(bics)
    margin = bics[best_smooth] - bics[kinked]
    best_other = min(value for name, value in bics.items() if name != "constant")
    clean = evidence.slope_z > MIN_SLOPE_Z and evidence.interior

    def out(verdict: Verdict, reason: str) -> Decision:
        return Decision(verdict, best_smooth, margin, reason, kinked)

    if bics["constant"] - best_other <= FLAT_MARGIN:
        return out("flat", "no model beats a constant")
    broken = bics.get("broken_stick", float("inf"))
    if bics[kinked] - broken > BROKEN_MARGIN and bics[best_smooth] - broken > THRESHOLD_MARGIN:
        return out("slope change", "two slopes beat a flat plateau and every smooth model")
    if margin > THRESHOLD_MARGIN and clean:
        failing = _failing(evidence)
        if not failing:
            return out("threshold", f"{kinked} wins by > 10 BIC")
        return out("weak", f"{kinked} wins by > 10 BIC but " + "; ".join(failing))
    if margin > WEAK_MARGIN and (clean or margin > THRESHOLD_MARGIN):
        why = "hinge wins by 6-10 BIC" if clean else "kink without a clear rise or at an edge"
        return out("weak", why)
    return out("smooth", f"{best_smooth} is as good as the {kinked}")


def _failing(evidence: Evidence) -> list[str]:
    failing = []
    if not evidence.rise >= evidence.min_rise:
        failing.append(f"the rise {evidence.rise:.3g} is below the material "
                       f"{evidence.min_rise:g}")
    if not evidence.smooth_converged:
        failing.append("the deciding smooth competitor did not converge")
    if not evidence.q_value <= MAX_Q:
        failing.append(f"q = {evidence.q_value:.3g} > {MAX_Q} across the table")
    return failing
