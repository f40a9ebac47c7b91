"""The report: the finding first (a sentence per task, the mirage table, small multiples),
then the tables; files, a self-contained HTML page, escaping; and the first screen as a
reader sees it in a real browser (headless Chromium)."""

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from tracker.fit.synthetic import demo_points, make_series, mirage_task, series_frame
from tracker.fit.table import fit_table
from tracker.report import build_report
from tracker.report.document import FINDINGS_RGB
from tracker.report.findings import task_findings

EVIL = "<script>alert('x')</script> & \"q\""
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def table():
    points = demo_points(np.random.default_rng(3))
    points.loc[points["task"] == "navigate", "task"] = EVIL
    return fit_table(points, n_boot=60)


@pytest.fixture(scope="module")
def report(table, tmp_path_factory):
    return build_report(table, tmp_path_factory.mktemp("report"))


def test_files_written(report):
    names = [p.name for p in report.figures]
    assert names[0] == "findings.png"  # the small multiples come first
    assert "forest.png" in names
    assert "validation_bpb.png" in names  # loss against tokens seen, a line per size
    assert sum(n.endswith("_loss.png") for n in names) == 4
    assert sum(n.endswith("_tokens.png") for n in names) == 4
    assert all(p.stat().st_size > 5000 for p in report.figures)


def test_html_is_self_contained_and_escaped(report):
    page = report.html.read_text()
    sources = re.findall(r"src='([^']*)'", page)
    assert len(sources) == len(report.figures)
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "mirage &lt;5-digit&gt;" in page


def test_the_report_opens_with_the_findings_then_the_mirage_table(report):
    text = report.markdown.read_text()
    headings = re.findall(r"^## (.+)$", text, flags=re.M)
    assert headings[:3] == ["Findings", "The mirage test", "Score against loss"]
    findings = text.split("## Findings", 1)[1].split("##", 1)[0]
    assert "- arithmetic: accuracy emerges from chance at 2." in findings
    assert "the tipping point survives the continuous metric (Du et al.)" in findings
    assert "- sports_understanding: accuracy rises throughout, with no plateau." in findings
    mirage = text.split("## The mirage test", 1)[1].split("##", 1)[0]
    assert "| arithmetic | accuracy | emerges (from chance, abrupt) |" in mirage
    assert "| survives |" in mirage


def test_the_full_table_is_folded_at_the_end(report):
    page = report.html.read_text()
    assert "<details><summary>Every series</summary>" in page
    assert page.index("Every series") > page.index("The mirage test") > page.index("Findings")


def _mirage_rows():
    smooth, smooth_examples = mirage_task("smooth", np.random.default_rng(0), task="smooth p")
    phase, phase_examples = mirage_task("phase", np.random.default_rng(1), task="phase change")
    return fit_table(pd.concat([smooth, phase]), pd.concat([smooth_examples, phase_examples]),
                     n_boot=200)


def test_sentences_say_made_by_the_metric_and_survives():
    table = _mirage_rows()
    found = {f.task: f for f in task_findings(table, "bits per byte")}
    assert found["smooth p"].pair.verdict == "made by the metric"
    assert "the jump is made by the metric" in found["smooth p"].sentence
    # p^8 of a smoothly improving p still steepens at the lowest loss: its onset moves
    assert "still steepening at the lowest loss" in found["smooth p"].sentence
    assert found["phase change"].pair.verdict == "survives"
    assert "target NLL emerges" in found["phase change"].sentence


def test_a_task_without_a_twin_has_no_pair():
    rng = np.random.default_rng(0)
    data = make_series("hinge", rng, eta=2.4, slope=0.5)
    table = fit_table(series_frame(data, "t", "accuracy", data.score, 0.25), n_boot=60)
    (finding,) = task_findings(table, "bits per byte")
    assert finding.twin is None and finding.pair is None
    assert finding.sentence.startswith("t: accuracy emerges from chance at")


def _screenshot(html: Path, png: Path, size: str) -> np.ndarray:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-quic", "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                        f"--user-data-dir={profile}", f"--screenshot={png}",
                        f"--window-size={size}", html.resolve().as_uri()],
                       check=True, capture_output=True, timeout=120)
    return imread(png)[..., :3]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/setup.sh "
                                              "installs it)")
def test_the_first_screen_shows_the_findings_and_the_figure_follows(report, tmp_path):
    """A reader's first screen (1400 x 900) holds the findings box (its red border, drawn
    nowhere else on the page); a taller window shows the small multiples (coloured
    points) beneath it."""
    target = np.array(FINDINGS_RGB) / 255.0
    first = _screenshot(report.html, tmp_path / "first.png", "1400,900")
    border = np.all(np.abs(first - target) < 0.02, axis=2)
    rows = np.flatnonzero(border.any(axis=1))
    assert rows.size > 50 and rows.max() < 900  # a box of sentences, on the first screen
    tall = _screenshot(report.html, tmp_path / "tall.png", "1400,2600")
    below = tall[rows.max():]
    saturation = below.max(axis=2) - below.min(axis=2)
    assert (saturation > 0.25).mean() > 0.005  # the figure's coloured points


def test_a_twin_that_disagrees_with_the_headline_twin_is_named():
    """copy:8's shape: exact match and edit distance emerge, target NLL rises throughout."""
    rng = np.random.default_rng(4)
    hinge = make_series("hinge", rng, eta=2.4, slope=0.5)
    line = make_series("linear", rng, eta=2.4)
    frames = [series_frame(hinge, "copy", "exact_match", hinge.score - 0.25, 0.0),
              series_frame(hinge, "copy", "token_edit_distance", 8 * (1.25 - hinge.score)),
              series_frame(line, "copy", "target_nll", 10 * (1.25 - line.score))]
    table = fit_table(pd.concat(frames, ignore_index=True), n_boot=100)
    (finding,) = task_findings(table, "bits per byte")
    assert finding.pair.verdict == "made by the metric"
    assert finding.sentence.endswith("; but with token edit distance it survives.")


def test_a_rise_between_two_checkpoints_is_not_resolved_and_they_are_named():
    """A step whose 10-90% span holds no checkpoint: the sentence and thresholds.csv name
    the two checkpoints on either side, where more should be evaluated."""
    rng = np.random.default_rng(6)
    loss = np.r_[np.linspace(4.0, 2.2, 40), np.linspace(1.9, 1.2, 20)]
    score = np.where(loss < 2.05, 0.9, 0.0) + rng.normal(0, 0.005, loss.size)
    points = pd.DataFrame({"family": "f", "size": "s", "step": np.arange(loss.size) * 100.0,
                           "loss": loss, "task": "jump", "metric": "exact_match",
                           "score": np.clip(score, 0, 1), "n": 200.0, "chance": 0.0})
    table = fit_table(points, n_boot=100)
    (row,) = table.rows
    assert row.fit.verdict == "emerges" and row.fit.resolved is False
    assert row.bracket == "f/s step 3900 (2.200) .. f/s step 4000 (1.900)"
    (finding,) = task_findings(table, "bits per byte")
    assert "not resolved: the rise falls between f/s step 3900 (2.200) .. f/s step 4000" \
           in finding.sentence
    frame = table.to_frame()
    assert frame["resolved"].tolist() == [False] and frame["bracket"].iloc[0] == row.bracket


def test_the_fit_is_drawn_within_the_metric_range(tmp_path):
    """A fitted line that dips below NLL 0 at the lowest losses (copy:8's target NLL did)
    is drawn clipped at 0, where the metric can be, not below it."""
    from matplotlib.figure import Figure

    from tracker.fit.curves import CurveFit
    from tracker.fit.result import ThresholdFit
    from tracker.fit.table import TableRow
    from tracker.report.figures import _loss_panel

    loss = np.linspace(1.5, 4.0, 30)
    points = pd.DataFrame({"family": "f", "size": "s", "step": np.arange(30.0), "loss": loss,
                           "task": "copy", "metric": "target_nll", "score": 2 * (loss - 1.7)})
    # oriented (higher is better): -nll = -2 (L - 1.8) = 3.6 - 2 L, so nll < 0 below L 1.8
    line = CurveFit("linear", (3.6, -2.0), 0.1)
    fit = ThresholdFit("rises", model="linear", curves=(line,), higher_is_better=False,
                       rise=1.0)
    assert fit.predict(np.array([1.5]))[0] < 0  # the curve itself goes below 0
    ax = Figure().subplots()
    _loss_panel(ax, TableRow("copy", "target_nll", fit, points), {"f/s": "C0"})
    (drawn,) = [line for line in ax.get_lines() if len(line.get_ydata()) == 400]
    assert np.min(drawn.get_ydata()) == 0.0 and np.max(drawn.get_ydata()) > 4
