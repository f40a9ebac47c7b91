"""The shared threshold (--shared) is exact: never worse than a brute-force grid of etas."""

import numpy as np
import pytest

from tracker.fit.hinge import MIN_SIDE
from tracker.fit.shared import _task, fit_shared, shared_eta, task_sse


def brute_force_sse(tasks, n_grid=40_001):
    """Min over a grid of etas of the summed per-task SSEs, each solved by weighted least
    squares at that eta (shared.task_sse: no prefix sums)."""
    low = max(t.loss[MIN_SIDE - 1] for t in tasks)
    high = min(t.loss[-MIN_SIDE] for t in tasks)
    grid = np.linspace(low, high, n_grid)
    total = sum(task_sse(t, grid) for t in tasks)
    return float(total.min()), float(grid[np.argmin(total)])


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_shared_threshold_equals_brute_force_grid(seed):
    rng = np.random.default_rng(seed)
    tasks = []
    for _ in range(2 + seed % 3):  # 2, 3 and 4 tasks: polynomials of degree 6, 10, 14
        n = int(rng.integers(30, 120))
        loss = np.sort(rng.uniform(1.5, 4.0, n))
        y = (rng.uniform(0, 0.5) + rng.uniform(0, 0.6) * np.maximum(rng.uniform(2.2, 2.8)
                                                                     - loss, 0)
             + rng.normal(0, 0.03, n))
        tasks.append(_task(loss, y, rng.uniform(0.5, 2.0, n)))
    eta = shared_eta(tasks)
    exact = float(sum(task_sse(t, np.array([eta])) for t in tasks)[0])
    grid_sse, grid_eta = brute_force_sse(tasks)
    assert exact <= grid_sse + 1e-12  # never worse than any grid point
    assert abs(eta - grid_eta) < 1e-3


def test_shared_fit_reports_the_likelihood_ratio_against_separate_thresholds():
    rng = np.random.default_rng(9)
    loss = rng.uniform(1.5, 4.0, (2, 150))
    common = {f"t{i}": (loss[i], 0.25 + 0.4 * np.maximum(2.5 - loss[i], 0)
                        + rng.normal(0, 0.01, 150), None, True) for i in range(2)}
    assert fit_shared(common).lr_p_value > 0.01
    apart = dict(common, t1=(loss[1], 0.25 + 0.4 * np.maximum(3.1 - loss[1], 0)
                             + rng.normal(0, 0.01, 150), None, True))
    result = fit_shared(apart)
    assert result.preferred == "separate" and result.lr_p_value < 1e-6
