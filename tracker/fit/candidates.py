"""Every candidate curve of one series, fitted once on the data and refitted on replicates.

The table of fitters: each curve of tracker/fit/curves.py has a fitter for one series (the
most careful fit: exact searches, several starts, polishing) and a vectorised refit for
bootstrap replicates (B, n), started from the data's fit where the fit is iterative, since
the replicates lie around the data. A fitter or refit that fails numerically gives an
infinite SSE (a curve that never wins), with the reason on the fit: never an exception.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from tracker.fit.broken import fit_broken_curve, refit_broken
from tracker.fit.capped import fit_capped_curve, refit_capped
from tracker.fit.curves import CurveFit
from tracker.fit.hinge import fit_hinge_curve, refit_hinge
from tracker.fit.smooth import (
    fit_constant,
    fit_linear,
    fit_power_law,
    fit_sigmoid,
    refit_constant,
    refit_linear,
    refit_power_law,
    refit_sigmoid,
)

Fitter = Callable[[np.ndarray, np.ndarray, np.ndarray], CurveFit]
Refitter = Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Candidate:
    name: str
    fit: Fitter
    refit: Refitter


CANDIDATES: tuple[Candidate, ...] = (
    Candidate("constant", fit_constant, refit_constant),
    Candidate("linear", fit_linear, refit_linear),
    Candidate("power_law", fit_power_law, refit_power_law),
    Candidate("sigmoid", fit_sigmoid, refit_sigmoid),
    Candidate("hinge", fit_hinge_curve, refit_hinge),
    Candidate("capped", fit_capped_curve, refit_capped),
    Candidate("broken_stick", fit_broken_curve, refit_broken),
)
BY_NAME = {candidate.name: candidate for candidate in CANDIDATES}


@dataclass(frozen=True)
class Refits:
    """One candidate refitted to B replicates: params (B, p), SSE (B,), converged (B,)."""

    name: str
    params: np.ndarray
    sse: np.ndarray
    converged: np.ndarray


def fit_candidates(loss: np.ndarray, y: np.ndarray, w: np.ndarray,
                   names: tuple[str, ...] | None = None) -> tuple[CurveFit, ...]:
    """Each candidate (all, or those named) fitted to one series, loss sorted ascending."""
    chosen = CANDIDATES if names is None else tuple(BY_NAME[name] for name in names)
    return tuple(_finite(candidate.fit(loss, y, w)) for candidate in chosen)


def refit_candidates(loss: np.ndarray, Y: np.ndarray, w: np.ndarray,
                     fits: tuple[CurveFit, ...]) -> tuple[Refits, ...]:
    """Each fitted candidate refitted to every row of Y (B, n) under the fixed weights w."""
    out = []
    for fit in fits:
        with np.errstate(all="ignore"):
            params, sse, converged = BY_NAME[fit.name].refit(loss, Y, w, fit)
        sse = np.where(np.isfinite(sse), sse, np.inf)
        out.append(Refits(fit.name, params, sse, converged))
    return tuple(out)


def _finite(fit: CurveFit) -> CurveFit:
    """A fit whose SSE or parameters are not finite cannot be compared: its SSE is set to
    infinity (the reason kept), so it never wins and never makes a NaN BIC."""
    if np.isfinite(fit.sse) and all(np.isfinite(fit.params)):
        return fit
    message = fit.message or "the fit is not finite (overflow in the curve)"
    return replace(fit, sse=float("inf"), converged=False, message=message)
