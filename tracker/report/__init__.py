"""The emergence report: figures/*.png, report.md, self-contained report.html.

It gives the finding first: one plain sentence per task (its headline metric, that
metric's continuous twin, and what the mirage test says of the pair), the mirage table with
one row per task, and small multiples of score against loss, headline metric and twin side
by side. Then the tables: every mirage pair, Du et al.'s same-loss-same-score check, the
onsets' forest plot, the loss curve, and, folded, the full per-metric table and each task's
panels.

Example:
    >>> from tracker.fit.table import fit_table
    >>> files = build_report(fit_table(points), Path("out"))  # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from tracker.fit.table import TableRow, ThresholdTable
from tracker.points import loss_label
from tracker.report.document import Section, fmt, write_html, write_markdown
from tracker.report.figures import (
    findings_figure,
    forest_figure,
    loss_curve_figure,
    loss_figure,
    safe_name,
    tokens_figure,
)
from tracker.report.findings import TaskFinding, metric_name, task_findings
from tracker.report.forecast import crossing_section

TITLE = "Emergence report"
TABLE_HEADER = ("task", "metric", "verdict", "onset", "95% CI", "width (10-90%)", "resolved",
                "plateau", "at chance", "plateau-shaped share", "curve", "delta BIC",
                "q", "emergence score", "points", "n examples", "reason")
MIRAGE_HEADER = ("task", "accuracy-type", "verdict", "onset [95% CI]", "continuous twin",
                 "verdict", "onset [95% CI]", "mirage test", "onset gap (twin - metric)")
PAIRS_HEADER = ("task", "metric", "twin", "mirage test", "onset gap [95% CI]", "paired",
                "reason")


@dataclass(frozen=True)
class ReportFiles:
    """Paths of what build_report wrote."""

    markdown: Path
    html: Path
    figures: tuple[Path, ...]


def build_report(table: ThresholdTable, out_dir: Path | str) -> ReportFiles:
    """Write figures, report.md and report.html for a fitted table into `out_dir`."""
    out_dir = Path(out_dir)
    figure_dir = out_dir / "figures"
    figure_dir.mkdir(parents=True, exist_ok=True)
    rows = list(table.rows)
    unit = _unit(rows)
    findings = task_findings(table, unit) if rows else []
    small = findings_figure(findings, figure_dir / "findings.png")
    sections = [Section("Findings", items=tuple(f.sentence for f in findings) or
                        ("No series to fit.",)),
                _mirage_section(findings),
                Section("Score against loss", _panels_text(unit),
                        figures=(small,) if small else ()),
                _pairs_section(table),
                _sizes_section(rows),
                Section("Onsets", figures=(forest_figure(rows, figure_dir / "forest.png"),))]
    crossing = crossing_section(table, figure_dir / "crossing.png") if rows else None
    if crossing is not None:
        sections.append(crossing)
    curve = loss_curve_figure(rows, figure_dir / "validation_bpb.png") if rows else None
    if curve is not None:
        sections.append(Section("Validation loss", figures=(curve,)))
    sections.append(Section("Every series", _table_text(loss_label(rows[0].points) if rows
                                                        else "loss"), TABLE_HEADER,
                            tuple(_table_row(r) for r in rows), folded=True))
    for i, task in enumerate(sorted({r.task for r in rows})):
        task_rows = [r for r in rows if r.task == task]
        stem = f"{i:03d}_{safe_name(task)}"
        task_figures = [loss_figure(task, task_rows, figure_dir / f"{stem}_loss.png"),
                        tokens_figure(task, task_rows, figure_dir / f"{stem}_tokens.png")]
        sections.append(Section(f"Task {task}: every metric",
                                figures=tuple(f for f in task_figures if f is not None),
                                folded=True))
    notes = list(table.notes)
    markdown = write_markdown(out_dir / "report.md", TITLE, notes, sections)
    page = write_html(out_dir / "report.html", TITLE, notes, sections)
    figures = tuple(f for s in sections for f in s.figures)
    return ReportFiles(markdown, page, figures)


def _unit(rows: list[TableRow]) -> str:
    """The loss axis in words for a sentence: 'bits per byte' for 'validation loss (bits
    per byte)'; any other label whole (a proxy loss stays named as one)."""
    label = loss_label(rows[0].points) if rows else "loss"
    prefix = "validation loss ("
    return label[len(prefix):-1] if label.startswith(prefix) and label.endswith(")") else label


def _onset(fit) -> str:
    if fit.verdict not in ("emerges", "weak") or not math.isfinite(fit.threshold):
        return "-"
    return f"{fmt(fit.threshold)} [{fmt(fit.ci_low)}, {fmt(fit.ci_high)}]"


def _mirage_section(findings: list[TaskFinding]) -> Section:
    """One row per task: headline metric, its twin, the mirage test."""
    rows = []
    for finding in findings:
        head, twin, pair = finding.headline, finding.twin, finding.pair
        gap = "-" if pair is None or not math.isfinite(pair.gap) else (
            f"{pair.gap:+.3f} [{pair.gap_low:+.3f}, {pair.gap_high:+.3f}]")
        rows.append((finding.task, metric_name(head.metric), head.fit.label, _onset(head.fit),
                     metric_name(twin.metric) if twin else "-",
                     twin.fit.label if twin else "-", _onset(twin.fit) if twin else "-",
                     pair.verdict if pair else "no continuous twin", gap))
    text = ("Does an accuracy-type metric's emergence survive its continuous twin (Du et al. "
            "2024), or is the jump made by the metric (Schaeffer et al. 2023)? 'survives': "
            "both emerge; 'made by the metric': the twin rises throughout. A continuous "
            "twin usually leaves its plateau earlier (a positive gap): what separates the "
            "papers is whether the twin has a plateau at all.")
    return Section("The mirage test", text, MIRAGE_HEADER, tuple(rows))


def _panels_text(unit: str) -> str:
    return (f"The loss axis ({unit}) runs from high to low. Points by model size; the black "
            "line is "
            "the curve the verdict rests on; for an emergence, the red line is the onset "
            "(where the steepest tangent meets the plateau), the red band its 95% interval "
            "and the blue band the 10-90% span of the rise.")


def _pairs_section(table: ThresholdTable) -> Section:
    rows = tuple((p.task, metric_name(p.metric), metric_name(p.twin), p.verdict,
                  "-" if not math.isfinite(p.gap) else
                  f"{p.gap:+.3f} [{p.gap_low:+.3f}, {p.gap_high:+.3f}]",
                  fmt(p.paired) if math.isfinite(p.gap) else "-", p.reason)
                 for p in table.twins)
    text = ("Every accuracy-type metric against each of its continuous twins (twins.csv). "
            "The gap's interval pairs the two series' bootstrap replicates where both were "
            "resampled from the same per-example rows.")
    if not rows:
        text = "No accuracy-type metric has a continuous twin in this table."
    return Section("Every mirage pair", text, PAIRS_HEADER if rows else (), rows)


def _table_text(unit: str) -> str:
    return (f"Onset, interval and width in loss units ({unit}). Plateau: the fitted level "
            "at the highest loss, in the metric's units. Plateau-shaped share: the share of "
            "bootstrap replicates whose best curve has a plateau then a rise. delta BIC = "
            "BIC(best curve without a plateau) - BIC(best plateau-shaped curve); > 10 with "
            "an interior onset and q <= 0.05 is an emergence (docs/thresholds.md).")


SIZES_HEADER = ("task", "metric", "same loss, same score", "curve", "best by BIC",
                "largest size offset",
                "95% CI", "size", "onset pooled", "onset per size")


def _sizes_section(rows: list[TableRow]) -> Section:
    """Du et al.'s claims per series (tracker.fit.sizes): one curve for every size, and
    the onset each size crosses."""
    text = ("Do models of different sizes at the same loss score the same (Du et al. 2024)? "
            "The pooled curve against a per-size offset and per-size curves, by BIC (size "
            "matters when either wins by more than 6; 'best by BIC' names the winner). The "
            "largest offset is in the metric's units, relative to the pooled curve, with an "
            "interval from resampling that size's checkpoints; per-size onsets are fitted "
            "where a size's points span the pooled onset with 5 on each side.")
    table = []
    for row in rows:
        sizes = row.sizes
        if sizes is None or sizes.verdict == "insufficient":
            continue
        per_size = ", ".join(f"{t.size} {t.threshold:.3f}" for t in sizes.thresholds) or "-"
        pooled = fmt(row.fit.threshold) if row.fit.verdict in ("emerges", "weak") else "-"
        table.append((row.task, row.metric, sizes.verdict, sizes.model, sizes.preferred,
                      fmt(sizes.largest_offset),
                      f"[{fmt(sizes.offset_ci[0])}, {fmt(sizes.offset_ci[1])}]",
                      sizes.offset_size, pooled, per_size))
    if not table:
        text = "Needs at least two model sizes with 3 checkpoints each; this table has fewer."
    return Section("Same loss, same score", text, SIZES_HEADER if table else (), tuple(table))


def _table_row(row: TableRow) -> tuple[str, ...]:
    fit = row.fit
    emerging = fit.verdict in ("emerges", "weak")
    n = row.points["n"]
    n_text = f"{n.median():.0f}" if n.notna().any() else "-"
    resolved = "-" if fit.resolved is None else ("yes" if fit.resolved else
                                                f"no: between {row.bracket}")
    return (row.task, row.metric, fit.label, fmt(fit.threshold) if emerging else "-",
            f"[{fmt(fit.ci_low)}, {fmt(fit.ci_high)}]" if emerging else "-",
            f"{fmt(fit.width)} [{fmt(fit.width_low)}, {fmt(fit.width_high)}]" if emerging
            else "-", resolved, fmt(fit.baseline), fmt(fit.baseline_at_chance),
            fmt(fit.plateau_share), fit.model or "-", fmt(fit.delta_bic), fmt(fit.q_value),
            fmt(fit.emergence_score), str(fit.n_points), n_text, fit.reason)
