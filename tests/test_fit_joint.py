"""The joint interval's pieces against independent references: the linearised cluster
jackknife (through the numerical tangent space of the hinge) against refits without each
size, the sizes' scale under no size effects and under strong ones, and the sigmoid's
Levenberg-Marquardt against scipy."""


import numpy as np
import pytest
from scipy import optimize

from tracker.fit import fit_threshold, joint
from tracker.fit.core import prepare_series
from tracker.fit.curves import CurveFit
from tracker.fit.hinge import fit_hinge, hinge_curve
from tracker.fit.shape import Frame
from tracker.fit.smooth import fit_sigmoid
from tracker.fit.synthetic import make_series
from tracker.fit.weights import observation_weights, running_mean


def _series(offset_sd, seed, n_examples=500):
    data = make_series("hinge", np.random.default_rng(seed), size_offset_sd=offset_sd,
                       n_examples=n_examples, eta=2.5, slope=0.5)
    series = prepare_series(data.loss, data.score, data.n, data.size, None, True)
    weights = observation_weights(series.y, series.n, True)
    fit = fit_hinge(series.loss, series.y, weights)
    return series, weights, (float(fit.eta[0]), float(fit.c[0]), float(fit.k[0]))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_linearised_jackknife_matches_refits_without_each_size(seed):
    """The leave-one-size-out changes of eta, linearised, against refits without the size:
    the same signs and sizes; the linearised jackknife variance 0.6-1.1 of the refits' (the
    kink moves non-linearly when a whole size goes; measured 0.68-0.98)."""
    series, weights, params = _series(0.05, seed, n_examples=20_000)
    residual = series.y - hinge_curve(series.loss, *params)
    sizes = joint.size_deviation(series.loss, residual, weights, CurveFit("hinge", params, 0.0),
                                 Frame.of(series.loss, 0.0, 0.05), series.codes)
    linear, refits = [], []
    for code in range(5):
        keep = series.codes != code
        refit = fit_hinge(series.loss, series.y, np.where(keep, weights, 0.0))
        refits.append(params[0] - float(refit.eta[0]))
        linear.append(float(np.sum((sizes.jackknife * residual)[~keep])))
    assert np.corrcoef(linear, refits)[0, 1] > 0.95
    assert 0.6 < np.sum(np.square(linear)) / np.sum(np.square(refits)) < 1.1


def test_size_scale_is_small_without_size_effects_and_large_with_them():
    scales = {}
    for sd in (0.0, 0.08):
        values = []
        for seed in range(6):
            series, weights, params = _series(sd, seed)
            rng = np.random.default_rng(seed)
            residual = series.y - hinge_curve(series.loss, *params)
            sizes = joint.size_deviation(series.loss, residual, weights,
                                         CurveFit("hinge", params, 0.0),
                                         Frame.of(series.loss, 0.0, 0.05), series.codes)
            noisy = rng.binomial(series.n.astype(int), series.y, (400, series.y.size)) / series.n
            values.append(joint.size_scale(sizes, residual, noisy - series.y, weights))
        scales[sd] = float(np.median(values))
    assert scales[0.0] < 0.5 < scales[0.08]


def test_joint_interval_widens_with_size_offsets_beyond_the_examples_part():
    data = make_series("hinge", np.random.default_rng(3), size_offset_sd=0.06, eta=2.5,
                       slope=0.5)
    fit = fit_threshold(data.loss, data.score, n=data.n, groups=data.size, binomial=True,
                        chance=0.25, random_state=3, interval_parts=True)
    joint_width = fit.ci_high - fit.ci_low
    assert joint_width > 1.3 * (fit.ci_example[1] - fit.ci_example[0])
    assert fit.interval_method == "binomial+groups"


@pytest.mark.parametrize("shape", ["sigmoid", "mid_sigmoid", "wide_sigmoid", "power_law"])
def test_sigmoid_fit_is_as_good_as_scipy_from_many_starts(shape):
    data = make_series(shape, np.random.default_rng(4), size_offset_sd=0.02)
    order = np.argsort(data.loss)
    loss, y = data.loss[order], data.score[order]
    w = observation_weights(y, data.n[order], True)
    fit = fit_sigmoid(loss, y, w)
    span = float(np.ptp(loss))
    best = np.inf
    for l0 in np.linspace(loss.min() - span, loss.max() + span, 9):
        for log_s in np.log(span * np.array([0.003, 0.03, 0.1, 0.3, 1.0, 3.0])):
            def residual(theta):
                lo, hi, centre, ls = theta
                return np.sqrt(w) * (lo + (hi - lo) / (1 + np.exp((loss - centre)
                                                                  / np.exp(ls))) - y)
            bounds = ([-np.inf, -np.inf, loss.min() - 2 * span, np.log(span * 1e-3)],
                      [np.inf, np.inf, loss.max() + 2 * span, np.log(span * 10)])
            result = optimize.least_squares(residual, [y.min(), y.max(), l0, log_s],
                                            bounds=bounds)
            best = min(best, 2 * result.cost)
    assert fit.sse <= best * (1 + 1e-4) and fit.converged


def test_running_mean_matches_a_loop():
    y = np.random.default_rng(5).normal(size=(3, 57))
    for half in (1, 2, 10, 40):
        loop = np.array([[row[max(i - half, 0):i + half + 1].mean() for i in range(57)]
                         for row in y])
        assert np.allclose(running_mean(y, half), loop)
