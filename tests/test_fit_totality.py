"""One series must never crash a fit: every entry point returns a result or a recorded
reason, on series of every shape (hypothesis), and no solver that can raise on a singular
system is called unguarded in tracker/fit or tracker/forecast.

The generator (`series_strategy`) draws the shapes that broke or could break a fitter:
perfect steps (globally, and within single sizes only), constant, all-zero and all-one
series, two distinct values, ties and duplicate losses, a single size, sizes with 1-3
points, 1 point, huge and tiny magnitudes, spikes, monotone and non-monotone noise. Each is
fitted through the public entry points: fit_threshold, fit_table, `tracker fit --points`,
and the forecast (tracker.forecast.predict.forecast). HYPOTHESIS_EXAMPLES sets how many
series a property draws (the fast suite's default is small; tests/test_fit_slow.py runs the
same generator on 1,000 further series).
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracker.cli import main
from tracker.fit import fit_threshold
from tracker.fit.table import fit_table
from tracker.fit.verdict import VERDICTS

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "60"))
SHAPES = ("step", "size_step", "constant", "zeros", "ones", "two_values", "ties", "spike",
          "monotone", "noise", "sigmoid", "hinge")
SCALES = (1.0, 1e-6, 1e6, 1e-300, 1e90, 1e150)


def make_points(shape: str, sizes: list[int], scale: float, seed: int, with_n: bool,
                loss_scale: float = 1.0, task: str = "t",
                metric: str = "accuracy") -> pd.DataFrame:
    """A points table (export columns) of one series of `shape`, `sizes` points per size;
    scores times `scale`, losses times `loss_scale`."""
    rng = np.random.default_rng(seed)
    size = np.repeat(np.arange(len(sizes)), sizes)
    n = size.size
    loss = rng.uniform(1.0, 4.0, n)
    if shape == "ties":
        loss = np.round(loss, 0)  # 2 to 4 distinct losses, each repeated
    cut = 2.5
    score = {
        "step": np.where(loss < cut, 0.6, 0.0),
        "size_step": np.where((loss < cut) & (size == 0), 0.6, 0.0) + 0.01 * size,
        "constant": np.full(n, 0.3),
        "zeros": np.zeros(n),
        "ones": np.ones(n),
        "two_values": rng.choice([0.0, 1.0], n),
        "ties": np.where(loss < cut, 0.5, 0.25),
        "spike": np.where(np.arange(n) == n // 2, 1.0, 0.25),
        "monotone": np.sort(rng.uniform(0, 1, n))[np.argsort(np.argsort(-loss))],
        "noise": rng.uniform(0, 1, n),
        "sigmoid": 0.25 + 0.6 / (1 + np.exp((loss - cut) / 0.05)),
        "hinge": 0.25 + 0.4 * np.maximum(cut - loss, 0) + rng.normal(0, 0.01, n),
    }[shape] * scale
    return pd.DataFrame({"family": "f", "size": [f"s{s}" for s in size],
                         "params": 1e6 * (size + 1.0), "step": np.arange(n) + 1.0,
                         "tokens_seen": (np.arange(n) + 1.0) * 1e6,
                         "loss": loss * loss_scale, "task": task, "metric": metric,
                         "score": score, "n": 200.0 if with_n else np.nan})


def draw_cases(rng: np.random.Generator, count: int) -> list[dict]:
    """`count` series of the strategy's kinds drawn with numpy (for the 1,000-series run)."""
    return [dict(shape=str(rng.choice(SHAPES)),
                 sizes=[int(v) for v in rng.integers(1, 41, int(rng.integers(1, 7)))],
                 scale=float(rng.choice(SCALES)), seed=int(rng.integers(0, 2**16)),
                 with_n=bool(rng.integers(2)),
                 loss_scale=float(rng.choice([1.0, 1.0, 1e-3, 1e3, 1e120])))
            for _ in range(count)]


@st.composite
def series_strategy(draw):
    n_sizes = draw(st.integers(1, 6))
    sizes = draw(st.lists(st.integers(1, 40), min_size=n_sizes, max_size=n_sizes))
    return dict(shape=draw(st.sampled_from(SHAPES)), sizes=sizes,
                scale=draw(st.sampled_from(SCALES)), seed=draw(st.integers(0, 2**16)),
                with_n=draw(st.booleans()),
                loss_scale=draw(st.sampled_from([1.0, 1.0, 1e-3, 1e3, 1e120])))


def check_fit(fit) -> None:
    assert fit.verdict in VERDICTS, fit
    if fit.verdict == "failed":
        assert fit.note, fit


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=series_strategy(), higher=st.booleans(), binomial=st.booleans(),
       chance=st.sampled_from([None, 0.0, 0.25]))
def test_fit_threshold_returns_a_result_on_every_shape(case, higher, binomial, chance):
    frame = make_points(**case)
    fit = fit_threshold(frame["loss"], frame["score"],
                        n=frame["n"] if case["with_n"] else None, groups=frame["size"],
                        higher_is_better=higher, chance=chance, binomial=binomial,
                        n_boot=60, n_pboot=30, random_state=case["seed"])
    check_fit(fit)
    assert fit.n_points <= len(frame)


@settings(max_examples=max(EXAMPLES // 4, 5), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cases=st.lists(series_strategy(), min_size=1, max_size=5))
def test_fit_table_fits_every_series_of_a_table(cases):
    frames = [make_points(**case, task=f"task{i}", metric=metric)
              for i, case in enumerate(cases) for metric in ("accuracy", "p_correct")]
    table = fit_table(pd.concat(frames, ignore_index=True), n_boot=60)
    assert len(table.rows) == 2 * len(cases)
    for row in table.rows:
        check_fit(row.fit)
    table.to_frame()
    table.twins_frame()


@settings(max_examples=max(EXAMPLES // 6, 4), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(cases=st.lists(series_strategy(), min_size=1, max_size=3))
def test_tracker_fit_points_exits_0_or_1_with_one_line(cases, tmp_path_factory, capsys):
    out = tmp_path_factory.mktemp("fit")
    frames = [make_points(**case, task=f"task{i}") for i, case in enumerate(cases)]
    path = out / "points.csv"
    pd.concat(frames, ignore_index=True).to_csv(path, index=False)
    code = main(["fit", "--points", str(path), "--out", str(out), "--boot", "60"])
    err = capsys.readouterr().err
    assert code in (0, 1), err
    assert "Traceback" not in err
    if code == 0:
        assert len(pd.read_csv(out / "thresholds.csv")) == len(cases)


@settings(max_examples=max(EXAMPLES // 6, 4), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cases=st.lists(series_strategy(), min_size=3, max_size=3))
def test_the_forecast_returns_rows_or_a_one_line_error(cases):
    from tracker.errors import TrackerError
    from tracker.forecast.predict import forecast

    frames = []
    for i, case in enumerate(cases):  # three sizes of one task: fit two, predict the third
        frame = make_points(**{**case, "sizes": [max(case["sizes"][0], 3)]}, task="t")
        frames.append(frame.assign(size=f"m{i}", params=1e6 * 10**i))
    try:
        result = forecast(pd.concat(frames, ignore_index=True), ["f/m2"], n_boot=30)
    except TrackerError as error:
        assert "\n" not in str(error)
        return
    for row in result.rows:
        assert isinstance(row.predicted_score, float)


def test_a_million_points_are_merged_and_fitted():
    rng = np.random.default_rng(0)
    n = 1_000_000
    loss = rng.uniform(1.5, 4.0, n)
    score = rng.binomial(100, 0.25 + 0.5 * np.maximum(2.5 - loss, 0)) / 100
    fit = fit_threshold(loss, score, n=np.full(n, 100), binomial=True, n_boot=200)
    assert fit.verdict == "emerges" and abs(fit.threshold - 2.5) < 0.01
    assert "1,000,000 points" in fit.note and fit.n_points <= 20_000


def test_one_point_and_one_size_with_one_point_each():
    check_fit(fit_threshold([2.0], [0.5]))
    frame = make_points("hinge", [1] * 12, 1.0, 0, True)
    check_fit(fit_threshold(frame["loss"], frame["score"], groups=frame["size"]))


FORBIDDEN = ("solve", "inv", "cholesky", "eig", "eigh", "det")


def _calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            yield node


def test_no_solver_that_raises_on_a_singular_system_is_called_in_the_fits():
    """np.linalg.solve/inv/cholesky raise LinAlgError on a singular matrix (the repro's
    crash): the fits use closed forms, least squares (lstsq) or pseudo-inverses (pinv)
    instead; scipy's least_squares raises on non-finite residuals and sits in a try."""
    offenders = []
    for path in sorted([*(ROOT / "tracker" / "fit").glob("*.py"),
                        *(ROOT / "tracker" / "forecast").glob("*.py")]):
        tree = ast.parse(path.read_text())
        guarded = {id(call) for node in ast.walk(tree) if isinstance(node, ast.Try)
                   for call in _calls(node)}
        for call in _calls(tree):
            owner = ast.unparse(call.func.value)
            if owner.endswith("linalg") and call.func.attr in FORBIDDEN:
                offenders.append(f"{path.name}:{call.lineno}: {ast.unparse(call.func)}")
            if call.func.attr == "least_squares" and id(call) not in guarded:
                offenders.append(f"{path.name}:{call.lineno}: unguarded least_squares")
    assert offenders == []


@pytest.mark.parametrize("shape", ["step", "size_step"])
def test_perfect_steps_emerge(shape):
    frame = make_points(shape, [25] * 8, 1.0, 3, True)
    fit = fit_threshold(frame["loss"], frame["score"], n=frame["n"], groups=frame["size"],
                        binomial=True, chance=0.0)
    assert fit.verdict in (("emerges",) if shape == "step" else VERDICTS)
