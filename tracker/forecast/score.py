"""Step 2 of a forecast: score from loss, the best of the tracker's candidate curves.

Candidates (fitted by the threshold fit's own code, tracker.fit): the 4-parameter sigmoid
in loss (Bhagia et al. 2024), the hinge, and the capped hinge (flat, rise, flat). Each is
fitted by weighted least squares on the oriented score (higher is better) with the
threshold fit's weights (binomial variance for accuracy-type metrics), and the one with
the lowest BIC is kept (the threshold fit's BIC and weights). The threshold fit's linear
and power-law competitors are not candidates: they have no plateau, and the OLMo
ladder's step 2 is the sigmoid.

A chosen curve is refitted unchanged in kind for every bootstrap replicate
(:func:`refit`); the choice itself is made once, on the data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tracker.fit.candidates import BY_NAME
from tracker.fit.core import prepare_series
from tracker.fit.curves import N_PARAMS, bic, sse_floor
from tracker.fit.smooth import fit_sigmoid
from tracker.fit.weights import observation_weights

Predictor = Callable[[np.ndarray], np.ndarray]
CANDIDATES = ("sigmoid", "hinge", "capped")  # names as in tracker.fit.curves
REPLICATE_STARTS = 2


@dataclass(frozen=True)
class ScoreCurve:
    """One fitted candidate: ``name``, its weighted SSE and BIC, and ``predict`` (loss ->
    score in the metric's own units)."""

    name: str
    sse: float
    bic: float
    oriented: Predictor
    sign: float

    def predict(self, loss) -> np.ndarray:
        return self.sign * self.oriented(np.asarray(loss, dtype=float))


def fit_score_curves(loss, score, n=None, *, binomial: bool = False,
                     higher_is_better: bool = True) -> tuple[ScoreCurve, ...]:
    """Every candidate fitted to one series, best (lowest BIC) first.

    Example:
        >>> L = np.linspace(2, 5, 60); p = 0.25 + 0.5 / (1 + np.exp((L - 3.5) / 0.3))
        >>> fit_score_curves(L, p)[0].name
        'sigmoid'
    """
    series = prepare_series(loss, score, n, None, None, higher_is_better)
    loss, y, sign = series.loss, series.y, series.sign
    w = observation_weights(y, series.n, binomial)  # needs loss sorted ascending
    floor = sse_floor(y, w)
    curves = []
    for name in CANDIDATES:
        predictor, sse = refit(name, loss, y, w)
        curves.append(ScoreCurve(name, sse, bic(sse, len(y), N_PARAMS[name], floor), predictor,
                                 sign))
    return tuple(sorted(curves, key=lambda c: c.bic))


def refit(name: str, loss: np.ndarray, y: np.ndarray, w: np.ndarray, *,
          replicate: bool = False) -> tuple[Predictor, float]:
    """Fit candidate ``name`` to sorted ``loss``, oriented ``y``, weights ``w``: its
    predictor (oriented units) and weighted SSE. ``replicate``: a bootstrap replicate,
    whose sigmoid is refined from the grid's REPLICATE_STARTS best starts rather than the
    fit module's default (the same fit on Pythia's series, at a third of the time)."""
    if name not in CANDIDATES:
        raise ValueError(f"unknown score curve '{name}'")
    fit = (fit_sigmoid(loss, y, w, n_starts=REPLICATE_STARTS) if replicate and name == "sigmoid"
           else BY_NAME[name].fit(loss, y, w))
    return fit.predict, float(fit.sse)
