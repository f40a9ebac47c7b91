"""The threshold report: figures/*.png, report.md, self-contained report.html.

Example:
    >>> from tracker.fit.table import fit_table
    >>> files = build_report(fit_table(points), Path("out"))  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tracker.fit.table import TableRow, ThresholdTable
from tracker.points import loss_label
from tracker.report.compare import compare_tasks
from tracker.report.document import Section, comparison_section, fmt, write_html, write_markdown
from tracker.report.figures import (
    forest_figure,
    loss_curve_figure,
    loss_figure,
    safe_name,
    tokens_figure,
)
from tracker.report.forecast import crossing_section

TITLE = "Loss thresholds report"
TABLE_HEADER = ("task", "metric", "verdict", "threshold", "95% CI", "slope", "baseline",
                "at chance", "delta BIC", "best smooth", "emergence", "points", "n examples")


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
    sections = [Section("Thresholds", _thresholds_text(rows), TABLE_HEADER,
                        tuple(_table_row(r) for r in rows)),
                comparison_section(compare_tasks(rows)),
                _sizes_section(rows),
                Section("Forest plot", figures=(forest_figure(rows, figure_dir /
                                                              "forest.png"),))]
    crossing = crossing_section(table, figure_dir / "crossing.png") if rows else None
    if crossing is not None:
        sections.append(crossing)
    curve = loss_curve_figure(rows, figure_dir / "validation_bpb.png") if rows else None
    if curve is not None:
        sections.insert(0, Section("Validation loss", figures=(curve,)))
    for i, task in enumerate(sorted({r.task for r in rows})):
        task_rows = [r for r in rows if r.task == task]
        stem = f"{i:03d}_{safe_name(task)}"
        task_figures = [loss_figure(task, task_rows, figure_dir / f"{stem}_loss.png"),
                        tokens_figure(task, task_rows, figure_dir / f"{stem}_tokens.png")]
        sections.append(Section(f"Task {task}",
                                figures=tuple(f for f in task_figures if f is not None)))
    notes = list(table.notes)
    markdown = write_markdown(out_dir / "report.md", TITLE, notes, sections)
    page = write_html(out_dir / "report.html", TITLE, notes, sections)
    figures = tuple(f for s in sections for f in s.figures)
    return ReportFiles(markdown, page, figures)


def _thresholds_text(rows: list[TableRow]) -> str:
    unit = loss_label(rows[0].points) if rows else "loss"
    return (f"Threshold and interval in loss units ({unit}). Slope: score change per "
            "unit loss decrease below the threshold (negative for lower-is-better metrics). "
            "delta BIC = BIC(best smooth) - BIC(hinge); > 10 with slope z > 3 is a threshold.")


SIZES_HEADER = ("task", "metric", "same loss, same score", "curve", "best by BIC",
                "largest size offset",
                "95% CI", "size", "threshold pooled", "threshold per size")


def _sizes_section(rows: list[TableRow]) -> Section:
    """Du et al.'s claims per series (tracker.fit.sizes): one curve for every size, and
    the threshold each size crosses."""
    text = ("Do models of different sizes at the same loss score the same (Du et al. 2024)? "
            "The pooled curve against a per-size offset and per-size curves, by BIC (size "
            "matters when either wins by more than 6; 'best by BIC' names the winner). The "
            "largest offset is in the metric's units, relative to the pooled curve, with an "
            "interval from resampling that size's checkpoints; per-size thresholds are fitted "
            "where a size's points span the pooled threshold with 5 on each side.")
    table = []
    for row in rows:
        sizes = row.sizes
        if sizes is None or sizes.verdict == "insufficient":
            continue
        per_size = ", ".join(f"{t.size} {t.threshold:.3f}" for t in sizes.thresholds) or "-"
        pooled = fmt(row.fit.threshold) if row.fit.verdict in ("threshold", "weak") else "-"
        table.append((row.task, row.metric, sizes.verdict, sizes.model, sizes.preferred,
                      fmt(sizes.largest_offset),
                      f"[{fmt(sizes.offset_ci[0])}, {fmt(sizes.offset_ci[1])}]",
                      sizes.offset_size, pooled, per_size))
    if not table:
        text = "Needs at least two model sizes with 3 checkpoints each; this table has fewer."
    return Section("Same loss, same score", text, SIZES_HEADER if table else (), tuple(table))


def _table_row(row: TableRow) -> tuple[str, ...]:
    fit = row.fit
    ci = f"[{fmt(fit.ci_low)}, {fmt(fit.ci_high)}]" if fit.verdict in ("threshold",
                                                                         "weak") else "-"
    n = row.points["n"]
    n_text = f"{n.median():.0f}" if n.notna().any() else "-"
    threshold = fmt(fit.threshold) if fit.verdict in ("threshold", "weak") else "-"
    return (row.task, row.metric, fit.verdict, threshold, ci, fmt(fit.slope),
            fmt(fit.baseline), fmt(fit.baseline_at_chance), fmt(fit.delta_bic),
            fit.best_smooth or "-", fmt(fit.emergence_score), str(fit.n_points), n_text)
