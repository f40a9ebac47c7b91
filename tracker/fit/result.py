"""ThresholdFit: the immutable result of one threshold fit (units documented per field)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tracker.fit.capped import capped_curve
from tracker.fit.hinge import hinge_curve
from tracker.fit.smooth import SmoothFit
from tracker.fit.verdict import Evidence, Verdict

NAN = float("nan")


@dataclass(frozen=True)
class ThresholdFit:
    """Where (and whether) an ability emerges as loss falls, for one (task, metric) series.

    Units: `threshold`, `ci_low`, `ci_high` are loss units (e.g. bits per byte). `baseline` is
    the plateau score above the threshold, in the metric's own units. `slope` is the change in
    score per unit of loss *decrease* below the threshold, in the metric's units: positive
    for higher-is-better metrics that improve, negative for lower-is-better ones (brier, edit
    distance, NLL) that improve. Internally the fit runs on the oriented score (the score, or
    minus it when lower is better); `hinge` and `smooth` hold oriented parameters, and
    `predict` returns original units.

    `delta_bic` = BIC(best smooth) - BIC(kinked model): positive favours a threshold;
    `kinked_model` is "hinge" or "capped" (flat, rise, flat: then `threshold`, `slope` and
    `baseline` are the capped hinge's, and `capped` holds (eta, cap, c, k) oriented).
    `broken_stick` holds (eta, a, g, k) of the two-slope candidate (verdict "slope change").
    `ci_low`/`ci_high` are the joint bootstrap's (examples and sizes together); +-inf where
    more than 2.5% of replicates did not rise on that side (`ci_open`, `n_nonrising`).
    `ci_example` and `ci_group` are each part alone (only with interval_parts).
    `rise` is the fitted rise over the data's range (metric units, positive = improving);
    `design_effect` the clustering of points in sizes used by BIC (for the deciding
    comparison, tracker/fit/clustering.py); `p_value` the
    parametric-bootstrap p for "a threshold beats the best smooth model", `q_value` its
    Benjamini-Hochberg adjustment across the table (= p for a lone fit). `converged` is
    False when any nonlinear competitor's refinement failed (see `smooth[i].message`).
    `plateau` / `label`: where chance is known, whether a threshold rises from chance.
    """

    verdict: Verdict
    threshold: float = NAN
    ci_low: float = NAN
    ci_high: float = NAN
    slope: float = NAN
    slope_z: float = NAN
    baseline: float = NAN
    baseline_se: float = NAN
    baseline_at_chance: bool | None = None
    chance: float | None = None
    delta_bic: float = NAN
    best_smooth: str = ""
    emergence_score: float = NAN
    n_points: int = 0
    n_dropped: int = 0
    higher_is_better: bool = True
    interior: bool = False
    reason: str = ""
    interval_method: str = "none"
    ci_example: tuple[float, float] = (NAN, NAN)
    ci_group: tuple[float, float] = (NAN, NAN)
    n_boot: int = 0
    hinge: tuple[float, float, float] = (NAN, NAN, NAN)  # (eta, c, k), oriented
    bic: tuple[tuple[str, float], ...] = ()
    smooth: tuple[SmoothFit, ...] = field(default=())
    converged: bool = True
    kinked_model: str = "hinge"
    capped: tuple[float, float, float, float] = (NAN, NAN, NAN, NAN)  # (eta, cap, c, k)
    broken_stick: tuple[float, float, float, float] = (NAN, NAN, NAN, NAN)  # (eta, a, g, k)
    rise: float = NAN
    design_effect: float = 1.0
    p_value: float = NAN
    q_value: float = NAN
    evidence: Evidence | None = None
    n_nonrising: int = 0
    ci_open: str = ""
    interval_note: str = ""

    @property
    def plateau(self) -> str:
        """'from chance', 'kink above chance', or '' (chance unknown, or no threshold)."""
        if self.verdict != "threshold" or self.baseline_at_chance is None:
            return ""
        return "from chance" if self.baseline_at_chance else "kink above chance"

    @property
    def label(self) -> str:
        """The verdict as the table shows it, e.g. 'threshold (from chance)'."""
        return f"{self.verdict} ({self.plateau})" if self.plateau else self.verdict

    def predict(self, loss: np.ndarray, model: str = "hinge") -> np.ndarray:
        """Fitted score (original units) of `model` ('hinge' or a smooth model's name)."""
        loss = np.asarray(loss, dtype=float)
        sign = 1.0 if self.higher_is_better else -1.0
        if model == "kinked":
            model = self.kinked_model
        if model == "hinge" and self.kinked_model == "capped":
            model = "capped"  # the threshold model that was fitted is the capped one
        if model == "hinge":
            eta, c, k = self.hinge
            return sign * hinge_curve(loss, eta, c, k)
        if model == "capped":
            eta, cap, c, k = self.capped
            return sign * capped_curve(loss, eta, cap, c, k)
        if model == "broken_stick":
            eta, a, g, k = self.broken_stick
            return sign * (a + g * loss + k * np.maximum(eta - loss, 0.0))
        for fit in self.smooth:
            if fit.name == model:
                return sign * fit.predict(loss)
        raise KeyError(f"no fitted model '{model}'; have hinge, {', '.join(self.bic_models)}")

    @property
    def bic_models(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.bic)

    def conf_int(self) -> tuple[float, float]:
        """The threshold's 95% bootstrap interval (loss units)."""
        return (self.ci_low, self.ci_high)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready values (smooth fits as nested dicts)."""
        out = asdict(self)
        out["smooth"] = [asdict(fit) for fit in self.smooth]
        out["bic"] = dict(self.bic)
        return out

    def summary(self) -> str:
        """A few human lines: verdict, threshold with interval, evidence."""
        lines = [f"verdict: {self.label} ({self.reason}); {self.n_points} points"
                 + (f", {self.n_dropped} dropped (NaN/inf)" if self.n_dropped else "")]
        if math.isfinite(self.threshold):
            lines.append(f"threshold: {self.threshold:.4f} loss ({self.kinked_model}), 95% CI "
                         f"[{self.ci_low:.4f}, {self.ci_high:.4f}] ({self.interval_method}"
                         f"{'; open ' + self.ci_open if self.ci_open else ''}; "
                         f"{self.n_nonrising} of {self.n_boot} replicates did not rise)")
            lines.append(f"slope: {self.slope:+.4f} per unit loss decrease (z = "
                         f"{self.slope_z:.1f}); baseline {self.baseline:.4f}"
                         + _chance_text(self.baseline_at_chance, self.chance))
        if self.bic:
            bics = ", ".join(f"{name} {value:.1f}" for name, value in self.bic)
            lines.append(f"BIC: {bics}; best smooth {self.best_smooth}, "
                         f"delta_bic {self.delta_bic:.1f}")
        lines.append(f"p = {self.p_value:.3g}, q = {self.q_value:.3g}; design effect "
                     f"{self.design_effect:.2f}; emergence score: {self.emergence_score:.2f}")
        return "\n".join(lines)


def _chance_text(at_chance: bool | None, chance: float | None) -> str:
    if at_chance is None or chance is None:
        return ""
    return f" ({'consistent' if at_chance else 'not consistent'} with chance {chance:g})"
