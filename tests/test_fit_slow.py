"""The statistical guarantees of the emergence fit on synthetic data with a known answer,
the mirage test on Schaeffer et al.'s construction and on a real phase change, the fit's
totality on 1,000 further series of the property tests' generator, and the report rendered
in a real browser. Slow: a few minutes.

The bench (bench/bench_threshold.py) runs 200+ repetitions per case; here fewer, with the
bounds widened only by what the smaller sample needs where noted.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.fit_study import Case, multiple_testing, run_case, run_mirage
from tracker.cli import main

pytestmark = pytest.mark.slow
REPS = 60
COVERAGE_REPS = 100
# The band for the joint 95% interval of the onset is 85-99%. At 100 repetitions a
# coverage estimate near 0.95 has a binomial SE of 0.022; the band is kept as asked, so an
# interval that always covers (100 of 100) fails. The seeds are fixed: deterministic.
BAND = (0.85, 0.99)


@pytest.mark.parametrize("per_example", [False, True], ids=["points", "per example"])
@pytest.mark.parametrize("offset_sd", [0.0, 0.02])
def test_hinges_emerge_with_precise_covered_onsets(offset_sd, per_example):
    case = Case("hinge", "hinge", offset_sd, per_example=per_example)
    result = run_case(case, COVERAGE_REPS, seed=2000)
    assert result["emerges"] >= 0.95
    assert result["rmse"] <= 0.025
    assert BAND[0] <= result["coverage"] <= BAND[1]


def test_a_sharp_sigmoid_from_chance_emerges_at_l0_plus_2s():
    result = run_case(Case("sigmoid", "sigmoid"), COVERAGE_REPS, seed=2050)
    assert result["emerges"] >= 0.95 and result["rmse"] <= 0.03
    assert BAND[0] <= result["coverage"] <= BAND[1]


def test_coverage_holds_with_large_size_offsets():
    result = run_case(Case("hinge", "hinge", 0.05), COVERAGE_REPS, seed=2100)
    assert 0.85 <= result["coverage"] <= BAND[1]


def test_capped_hinge_emerges():
    assert run_case(Case("capped", "capped"), REPS, seed=2200)["emerges"] >= 0.9


@pytest.mark.parametrize("case", [
    Case("wide", "wide_sigmoid", 0.02, 0.01), Case("linear", "linear", 0.02, 0.01),
    Case("gentle power law", "gentle_power_law"), Case("saturating", "saturating")],
    ids=lambda c: c.label)
def test_shapes_without_a_plateau_rise(case):
    result = run_case(case, 40, seed=3000)
    assert result["emerges"] <= 0.05 and result["rises"] >= 0.9


@pytest.mark.parametrize("case", [Case("flat", "flat", 0.0, 0.01),
                                  Case("mmlu", "mmlu_drift")], ids=lambda c: c.label)
def test_flat_and_a_drift_of_a_point_are_flat(case):
    assert run_case(case, 40, seed=3100)["flat"] >= 0.9


def test_schaeffers_construction_is_made_by_the_metric():
    assert run_mirage("smooth", 20, seed=3300)["made by the metric"] >= 0.9


def test_a_real_phase_change_survives():
    result = run_mirage("phase", 20, seed=3400)
    assert result["survives"] >= 0.9 and result["gap"] > 0  # the twin leaves first


def test_false_discoveries_controlled_across_tables():
    result = multiple_testing(10, seed=3200)
    assert result["fdr"] <= 0.05 and result["power"] >= 0.9


def test_a_thousand_generated_series_fit_through_the_cli(tmp_path, capsys):
    """The totality tests' generator, 1,000 series in one points CSV: `tracker fit --points`
    exits 0 and fits every series; the only `failed` ones are those beyond +-1e100, which
    are documented as not fitted."""
    sys.path.insert(0, str(Path(__file__).parent))
    from test_fit_totality import draw_cases, make_points

    cases = draw_cases(np.random.default_rng(1000), 1000)
    frames = [make_points(**case, task=f"s{i:04d}") for i, case in enumerate(cases)]
    path = tmp_path / "points.csv"
    pd.concat(frames, ignore_index=True).to_csv(path, index=False)
    assert main(["fit", "--points", str(path), "--out", str(tmp_path), "--boot", "200"]) == 0
    table = pd.read_csv(tmp_path / "thresholds.csv")
    assert len(table) == 1000
    failed = table[table["verdict"] == "failed"]
    assert failed["note"].str.contains("1e\\+100").all(), failed["note"].tolist()
    huge = [i for i, frame in enumerate(frames)
            if max(frame["score"].abs().max(), frame["loss"].abs().max()) > 1e100]
    assert sorted(int(task[1:]) for task in failed["task"]) == huge


def test_report_renders_in_chromium(tmp_path):
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    script = Path(__file__).resolve().parents[1] / "bench" / "screenshot_report.py"
    done = subprocess.run([sys.executable, str(script), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "screenshot.png").stat().st_size > 50_000


def test_every_pythia_mmlu_series_is_flat(tmp_path):
    """Pythia's published MMLU: from below chance at initialisation (0.22) to chance, and a
    point or two above it for the largest models: no ability, on every checkpoint and on
    the steps after the proxy loss's gap (>= 1000). The earlier rule called it smooth."""
    from tracker.fit.table import fit_table
    from tracker.points import read_run

    run = tmp_path / "pythia"
    assert main(["import", "lm-eval", "--published", "pythia-v1", "--run", str(run),
                 "--quiet"]) == 0
    points, examples = read_run(run, tasks=["mmlu", "validation"])
    for subset in (points, points[points["step"] >= 1000]):
        table = fit_table(subset, examples, n_boot=200)
        assert {row.metric: row.fit.verdict for row in table.rows} == {
            "accuracy": "flat", "accuracy_norm": "flat"}
