"""The statistical guarantees of the threshold fit (issue 10's must-shows), on synthetic data
with a known answer, and the report rendered in a real browser. Slow: a few minutes.

The bench (bench/bench_threshold.py) runs 200+ repetitions per case; here fewer, with the
bounds widened only by what the smaller sample needs where noted.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tracker.fit.study import Case, multiple_testing, run_case

pytestmark = pytest.mark.slow
REPS = 60
COVERAGE_REPS = 100
# The band for the joint 95% interval is 92-98%. At 100 repetitions a coverage
# estimate near 0.95 has a binomial SE of sqrt(0.95 * 0.05 / 100) = 0.022, so the lower edge
# is widened by 2 SEs (0.92 - 0.044 = 0.876 -> 0.87); the upper edge is held at 0.99 (at most
# 99 of 100 covered), so an interval that always covers - the old joint bootstrap's 1.00 -
# fails. The seeds are fixed: the test is deterministic. "Still >= 90%" at offsets SD 0.05
# is widened the same way (0.90 - 0.044 -> 0.85).
BAND = (0.87, 0.99)


@pytest.mark.parametrize("per_example", [False, True], ids=["points", "per example"])
@pytest.mark.parametrize("offset_sd", [0.0, 0.02])
def test_true_thresholds_found_precisely_and_covered(offset_sd, per_example):
    case = Case("hinge", "hinge", offset_sd, per_example=per_example)
    result = run_case(case, COVERAGE_REPS, seed=2000)
    assert result["threshold"] >= 0.95
    assert result["rmse"] <= 0.02
    assert BAND[0] <= result["coverage"] <= BAND[1]


@pytest.mark.parametrize("per_example", [False, True], ids=["points", "per example"])
def test_coverage_holds_with_large_size_offsets(per_example):
    result = run_case(Case("hinge", "hinge", 0.05, per_example=per_example), COVERAGE_REPS,
                      seed=2100)
    assert 0.85 <= result["coverage"] <= BAND[1]


def test_capped_hinge_keeps_its_threshold():
    assert run_case(Case("capped", "capped"), REPS, seed=2200)["threshold"] >= 0.9


@pytest.mark.parametrize("case", [
    Case("sigmoid", "sigmoid"), Case("wide", "wide_sigmoid", 0.02, 0.01),
    Case("linear", "linear", 0.02, 0.01), Case("power law", "power_law"),
    Case("flat", "flat", 0.0, 0.01)], ids=lambda c: c.label)
def test_smooth_shapes_rarely_called_thresholds(case):
    assert run_case(case, 40, seed=3000)["threshold"] <= 0.05


def test_mmlu_like_drift_is_never_emergence():
    assert run_case(Case("mmlu", "mmlu_drift"), 40, seed=3100)[
        "threshold (from chance)"] == 0.0


def test_false_discoveries_controlled_across_tables():
    result = multiple_testing(10, seed=3200)
    assert result["fdr"] <= 0.05 and result["power"] >= 0.9


def test_report_renders_in_chromium(tmp_path):
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    script = Path(__file__).resolve().parents[1] / "bench" / "screenshot_report.py"
    done = subprocess.run([sys.executable, str(script), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "screenshot.png").stat().st_size > 50_000
