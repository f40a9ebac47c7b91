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

``ladder_sigmoid`` is Bhagia et al.'s own step 2, for reproducing their table (OLMo-ladder,
src/fitting/step2.py): score = a / (1 + e^(-k (L - x0))) + b with a in [-1, 0], x0 and k
at least 0, b in [0, 1], fitted by scipy's ``curve_fit`` from their first start
(a = chance - 1, x0 = 0.9, k = 3, b = 1) with a helper point, score 1 at loss 0. It is
written here, not taken from a library, because it is that paper's particular choice of
bounds, start and helper point; it is not one of the default candidates.

``chance_sigmoid`` pins both ends instead of fitting them: chance at a large loss, 1 at loss
0, score = c + (1 - c) / (1 + e^(k (L - x0))) with c the task's chance level, k and x0
fitted (``curve_fit``, k >= 0). Two parameters, so extrapolation past the data follows the
one shape the ends allow.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from tracker.errors import TrackerError, did_you_mean, printable
from tracker.fit.candidates import BY_NAME
from tracker.fit.core import prepare_series
from tracker.fit.curves import N_PARAMS, bic, logistic, sse_floor
from tracker.fit.smooth import fit_sigmoid
from tracker.fit.weights import observation_weights

Predictor = Callable[[np.ndarray], np.ndarray]
CANDIDATES = ("sigmoid", "hinge", "capped")  # names as in tracker.fit.curves
LADDER_SIGMOID = "ladder_sigmoid"
CHANCE_SIGMOID = "chance_sigmoid"
CURVES = (*CANDIDATES, LADDER_SIGMOID, CHANCE_SIGMOID)
N_CURVE_PARAMS = {**{name: N_PARAMS[name] for name in CANDIDATES}, LADDER_SIGMOID: 4,
                  CHANCE_SIGMOID: 2}
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


def check_curves(curves: Sequence[str]) -> None:
    """A one-line error for an empty or unknown set of step-2 curves."""
    unknown = [name for name in curves if name not in CURVES]
    if unknown or not curves:
        raise TrackerError(f"unknown step-2 curve '{printable(unknown[0]) if unknown else ''}'"
                           f"{did_you_mean(unknown[0], CURVES) if unknown else ''}; choose "
                           f"from {', '.join(CURVES)}")


def fit_score_curves(loss, score, n=None, *, binomial: bool = False,
                     higher_is_better: bool = True, curves: Sequence[str] = CANDIDATES,
                     chance: float = 0.25) -> tuple[ScoreCurve, ...]:
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
    fitted = []
    for name in curves:
        predictor, sse = refit(name, loss, y, w, chance=chance)
        fitted.append(ScoreCurve(name, sse, bic(sse, len(y), N_CURVE_PARAMS[name], floor),
                                 predictor, sign))
    return tuple(sorted(fitted, key=lambda c: c.bic))


def refit(name: str, loss: np.ndarray, y: np.ndarray, w: np.ndarray, *,
          replicate: bool = False, chance: float = 0.25) -> tuple[Predictor, float]:
    """Fit candidate ``name`` to sorted ``loss``, oriented ``y``, weights ``w``: its
    predictor (oriented units) and weighted SSE. ``replicate``: a bootstrap replicate,
    whose sigmoid is refined from the grid's REPLICATE_STARTS best starts rather than the
    fit module's default (the same fit on Pythia's series, at a third of the time).
    ``chance``: the ladder sigmoid's start."""
    if name == LADDER_SIGMOID:
        return fit_ladder_sigmoid(loss, y, w, chance)
    if name == CHANCE_SIGMOID:
        return fit_chance_sigmoid(loss, y, w, chance)
    if name not in CANDIDATES:
        raise ValueError(f"unknown score curve '{name}'")
    fit = (fit_sigmoid(loss, y, w, n_starts=REPLICATE_STARTS) if replicate and name == "sigmoid"
           else BY_NAME[name].fit(loss, y, w))
    return fit.predict, float(fit.sse)


def _ladder_curve(x, a, x0, k, b):
    return a * logistic(k * (x - x0)) + b  # a / (1 + e^(-k (x - x0))) + b, overflow-free


def fit_ladder_sigmoid(loss: np.ndarray, y: np.ndarray, w: np.ndarray,
                       chance: float) -> tuple[Predictor, float]:
    """Bhagia et al.'s step 2 (module docstring): its predictor and weighted SSE on the
    data (the helper point not counted). Weights enter as curve_fit's sigma = 1 / sqrt(w);
    all equal, as for the OLMo ladder (no example counts), it is their unweighted fit."""
    x = np.append(np.asarray(loss, float), 0.0)
    target = np.append(np.asarray(y, float), 1.0)
    weights = np.append(np.asarray(w, float), np.median(w) if len(w) else 1.0)
    return _curve_fit(_ladder_curve, loss, y, w, (x, target, weights),
                      start=[chance - 1.0, 0.9, 3.0, 1.0],
                      bounds=([-1.0, 0.0, 0.0, 0.0], [0.0, np.inf, np.inf, 1.0]))


def fit_chance_sigmoid(loss: np.ndarray, y: np.ndarray, w: np.ndarray,
                       chance: float) -> tuple[Predictor, float]:
    """chance + (1 - chance) / (1 + e^(k (L - x0))) (module docstring), started at the
    loss halfway through the data and a slope spanning it."""
    loss = np.asarray(loss, float)
    span = float(np.ptp(loss)) or 1.0

    def curve(x, x0, k):
        return chance + (1.0 - chance) * logistic(-k * (x - x0))

    return _curve_fit(curve, loss, y, w, (loss, np.asarray(y, float), np.asarray(w, float)),
                      start=[float(np.median(loss)), 4.0 / span],
                      bounds=([-np.inf, 0.0], [np.inf, np.inf]))


def _curve_fit(curve, loss, y, w, data, *, start, bounds) -> tuple[Predictor, float]:
    """scipy's curve_fit on ``data`` (x, y, weights); the predictor and the weighted SSE on
    (loss, y, w). A fit that fails is a flat line at the weighted mean, never an exception."""
    x, target, weights = data
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optimize.OptimizeWarning)
            params, _ = optimize.curve_fit(curve, x, target, p0=start,
                                           sigma=1.0 / np.sqrt(np.maximum(weights, 1e-300)),
                                           bounds=bounds, maxfev=500_000)

        def predictor(values: np.ndarray) -> np.ndarray:
            return curve(np.asarray(values, float), *params)
    except (RuntimeError, ValueError):
        mean = float(np.average(y, weights=w))

        def predictor(values: np.ndarray) -> np.ndarray:
            return np.full(np.shape(values), mean)

    return predictor, float(np.sum(w * (predictor(loss) - y) ** 2))
