"""ThresholdFit: the immutable result of one emergence fit (units documented per field)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from tracker.fit.curves import LABELS, CurveFit
from tracker.fit.verdict import Evidence, Verdict

NAN = float("nan")
NAN2 = (NAN, NAN)


@dataclass(frozen=True)
class ThresholdFit:
    """Whether, where and how abruptly an ability emerges as loss falls, for one (task,
    metric) series.

    Units: `threshold` (the onset), `ci_low`, `ci_high`, `width` and its interval, `upper`
    and `lower` are loss units (e.g. bits per byte); `width_frac` is the width over the
    observed loss range. `baseline` is the plateau's level (the fitted curve at the highest
    observed loss), `rise` the fitted rise below it, both in the metric's own units (`rise`
    positive = improving). `slope` is the steepest rate of change as loss falls (the tangent
    that defines the onset), in metric units per unit of loss *decrease*: positive for a
    higher-is-better metric that improves, negative for a lower-is-better one (brier, edit
    distance, NLL) that improves. Internally the fit runs on the oriented score (the score,
    or minus it when lower is better); `curves` hold oriented parameters, and `predict`
    returns original units.

    `verdict` (tracker/fit/verdict.py): emerges, weak, rises, flat, insufficient, failed;
    `label` adds the qualifiers (from / above / below chance, abrupt / graded; a slope
    change). `model` is the curve the onset and the figures' fit come from: the best
    plateau-shaped curve for emerges and weak, else the best curve. `delta_bic` =
    BIC(best curve without a plateau) - BIC(best plateau-shaped curve): positive favours an
    emergence. `ci_low`/`ci_high` are the joint bootstrap's (examples and sizes together,
    every candidate refitted per replicate); +-inf where more than 2.5% of replicates had
    no plateau-shaped curve on that side (`ci_open`, `n_nonrising`); `plateau_share` is the
    share of replicates whose best curve is plateau-shaped. `ci_example` and `ci_group` are
    each part alone (only with interval_parts). `design_effect` is the clustering of points
    in sizes used by BIC; `p_value` the parametric-bootstrap p for "a plateau-shaped curve
    beats every curve without one", `q_value` its Benjamini-Hochberg adjustment across the
    table (= p for a lone fit). `converged` is False when any candidate's refinement did
    not settle (see `curves[i].message`). `n_spikes` isolated spikes (one size's checkpoint
    far off both its neighbours) and the `n_startup` highest-loss points (a start-up
    transient: a jump onto the plateau at the first checkpoints) were set aside before
    fitting (tracker/fit/setaside.py), so the fit and `n_points` cover losses up to
    `startup_above`. `steepening`: the curve still steepens at the lowest observed loss,
    so its onset (the steepest tangent's) moves with the end of the data. `note` says why a
    fit failed, or that its points were merged.
    """

    verdict: Verdict
    threshold: float = NAN
    ci_low: float = NAN
    ci_high: float = NAN
    slope: float = NAN
    baseline: float = NAN
    baseline_se: float = NAN
    baseline_at_chance: bool | None = None
    chance: float | None = None
    delta_bic: float = NAN
    model: str = ""
    best_plateau: str = ""
    best_no_plateau: str = ""
    abrupt: bool | None = None
    width: float = NAN
    width_low: float = NAN
    width_high: float = NAN
    width_frac: float = NAN
    upper: float = NAN  # the loss where the rise reaches 10%
    lower: float = NAN  # ... and 90%
    n_in_rise: int = 0  # observed points with loss in [lower, upper]
    steepening: bool = False  # the curve is steepest at the lowest loss: the onset moves
    # with the end of the data (an accelerating rise, e.g. exact match p^8)
    ceiling: float = NAN  # for `rises`: the loss below which the curve levels off
    # (tracker.fit.shape.ceiling, the plateau rule mirrored); NaN where it does not
    n_spikes: int = 0  # isolated spikes set aside (tracker/fit/setaside.py)
    n_startup: int = 0  # the highest-loss points set aside as a start-up transient
    startup_above: float = NAN  # ... the highest loss fitted (they lie above it)
    set_aside: tuple[float, ...] = field(default=(), repr=False)  # the losses of both kinds
    plateau_share: float = NAN
    emergence_score: float = NAN
    n_points: int = 0
    n_dropped: int = 0
    higher_is_better: bool = True
    interior: bool = False
    reason: str = ""
    interval_method: str = "none"
    ci_example: tuple[float, float] = NAN2
    ci_group: tuple[float, float] = NAN2
    n_boot: int = 0
    bic: tuple[tuple[str, float], ...] = ()
    curves: tuple[CurveFit, ...] = field(default=())
    plateau_shaped: tuple[str, ...] = ()  # the curves classed plateau-then-rise
    converged: bool = True
    rise: float = NAN
    design_effect: float = 1.0
    p_value: float = NAN
    q_value: float = NAN
    evidence: Evidence | None = None
    n_nonrising: int = 0
    ci_open: str = ""
    interval_note: str = ""
    note: str = ""
    onset_draws: tuple[float, ...] = field(default=(), repr=False, compare=False)

    @property
    def plateau(self) -> str:
        """'from chance', 'above chance', 'below chance', or '' (chance unknown, or no
        emergence); above and below in the metric's own direction."""
        if (self.verdict not in ("emerges", "weak") or self.baseline_at_chance is None
                or self.chance is None):
            return ""
        if self.baseline_at_chance:
            return "from chance"
        better = (self.baseline > self.chance) == self.higher_is_better
        return "above chance" if better else "below chance"

    @property
    def label(self) -> str:
        """The verdict as the table shows it, e.g. 'emerges (from chance, abrupt)'."""
        aside = [self.set_aside_note] if self.set_aside_note else []
        if self.verdict in ("emerges", "weak"):
            parts = [self.plateau] if self.plateau else []
            if self.abrupt is not None:
                parts.append("abrupt" if self.abrupt else "graded")
            parts += aside
            return f"{self.verdict} ({', '.join(parts)})" if parts else self.verdict
        if self.verdict == "rises":
            return f"rises ({', '.join([self.rises_how, *aside])})"
        if aside and self.verdict == "flat":
            return f"flat ({aside[0]})"
        return self.verdict

    @property
    def set_aside_note(self) -> str:
        """What was set aside before fitting (tracker/fit/setaside.py): 'after a start-up
        transient above L', 'K spikes set aside', both, or ''."""
        parts = []
        if self.n_startup:
            parts.append(f"after a start-up transient above {self.startup_above:.3f}")
        if self.n_spikes:
            parts.append(f"{self.n_spikes} spike{'s' if self.n_spikes > 1 else ''} set aside")
        return ", ".join(parts)

    @property
    def rises_how(self) -> str:
        """For `rises`: 'throughout', 'levels off below L', 'slope change at L' (a broken
        stick improving on both sides of its kink), 'turns at L' (a broken stick that does
        not improve above its kink: level or worse there, better below), or 'declines'
        (worse as loss falls)."""
        if self.rise < 0:
            return "declines as loss falls"
        if math.isfinite(self.ceiling):
            return f"levels off below {self.ceiling:.3f}"
        if self.model == "broken_stick":
            curve = self.curve("broken_stick")
            if curve is not None and np.isfinite(curve.params[0]):
                # oriented y = a + g L + k max(eta - L, 0): above the kink it improves as
                # the loss falls only where g < 0
                turns = curve.params[2] >= 0
                return f"{'turns' if turns else 'slope change'} at {curve.params[0]:.3f}"
        return "throughout"

    def curve(self, name: str) -> CurveFit | None:
        return next((curve for curve in self.curves if curve.name == name), None)

    def predict(self, loss: np.ndarray, model: str | None = None) -> np.ndarray:
        """Fitted score (original units) of `model` (default: `self.model`)."""
        name = model or self.model
        curve = self.curve(name)
        if curve is None:
            have = ", ".join(c.name for c in self.curves) or "none"
            raise KeyError(f"no fitted curve '{name}'; have {have}")
        sign = 1.0 if self.higher_is_better else -1.0
        return sign * curve.predict(np.asarray(loss, dtype=float))

    def conf_int(self) -> tuple[float, float]:
        """The onset's 95% bootstrap interval (loss units)."""
        return (self.ci_low, self.ci_high)

    @property
    def resolved(self) -> bool | None:
        """Whether at least 2 observed points lie inside the 10-90% span of the rise (None
        without an emergence)."""
        if self.verdict not in ("emerges", "weak") or not math.isfinite(self.width):
            return None
        return self.n_in_rise >= 2

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready values (curves as nested dicts; the replicates' onsets left
        out)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "onset_draws"}
        out["curves"] = [asdict(curve) for curve in self.curves]
        out["bic"] = dict(self.bic)
        out["evidence"] = None if self.evidence is None else asdict(self.evidence)
        out["label"] = self.label
        return out

    def summary(self) -> str:
        """A few human lines: the finding, the onset with its interval, the evidence."""
        lines = [f"verdict: {self.label} ({self.reason}); {self.n_points} points"
                 + (f", {self.n_dropped} dropped (NaN/inf)" if self.n_dropped else "")
                 + (f", {self.n_spikes} isolated spikes set aside" if self.n_spikes else "")
                 + (f", {self.n_startup} above loss {self.startup_above:.4f} set aside as a "
                    "start-up transient" if self.n_startup else "")]
        if self.note:
            lines.append(f"note: {self.note}")
        if math.isfinite(self.threshold):
            lines.append(
                f"onset: {self.threshold:.4f} loss ({LABELS.get(self.model, self.model)}), "
                f"95% CI [{self.ci_low:.4f}, {self.ci_high:.4f}] ({self.interval_method}"
                f"{'; open ' + self.ci_open if self.ci_open else ''}; {self.n_nonrising} of "
                f"{self.n_boot} replicates without a plateau; plateau-shaped winner in "
                f"{self.plateau_share:.0%})")
            lines.append(f"width (10-90%): {self.width:.4f} loss [{self.width_low:.4f}, "
                         f"{self.width_high:.4f}], {self.width_frac:.1%} of the range, "
                         f"{self.n_in_rise} points inside"
                         + ("" if self.resolved else ": not resolved"))
            lines.append(f"plateau {self.baseline:.4f}"
                         + _chance_text(self.baseline_at_chance, self.chance)
                         + f"; steepest slope {self.slope:+.4f} per unit loss decrease")
        if self.bic:
            bics = ", ".join(f"{name} {value:.1f}" for name, value in self.bic)
            lines.append(f"BIC: {bics}; plateau-shaped: {', '.join(self.plateau_shaped) or '-'};"
                         f" delta_bic {self.delta_bic:.1f}")
        lines.append(f"p = {self.p_value:.3g}, q = {self.q_value:.3g}; design effect "
                     f"{self.design_effect:.2f}; emergence score: {self.emergence_score:.2f}")
        return "\n".join(lines)


def _chance_text(at_chance: bool | None, chance: float | None) -> str:
    if at_chance is None or chance is None:
        return ""
    return f" ({'consistent' if at_chance else 'not consistent'} with chance {chance:g})"
