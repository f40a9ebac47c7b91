"""The report's finding first: one plain sentence per task, and the mirage test's headline
pair per task (the question Du et al. and Schaeffer et al. argue about, answered on this
data).

A task's headline metric is its first accuracy-type metric in HEADLINE_ORDER (exact match,
accuracy, ...), else its first metric; its headline twin is the first of the metric's
continuous twins (tracker.evals.metrics.CONTINUOUS_TWINS) that the table has.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tracker.evals.metrics import CONTINUOUS_TWINS
from tracker.fit.mirage import TwinPair
from tracker.fit.result import ThresholdFit
from tracker.fit.table import TableRow, ThresholdTable

HEADLINE_ORDER = ("exact_match", "accuracy", "accuracy_norm", "greedy_match")
METRIC_NAMES = {"exact_match": "exact match", "accuracy": "accuracy",
                "accuracy_norm": "normalised accuracy", "greedy_match": "greedy match",
                "p_correct": "p(correct)", "brier": "Brier score", "target_nll": "target NLL",
                "token_edit_distance": "token edit distance",
                "token_edit_distance_norm": "normalised edit distance",
                "target_nll_per_token": "target NLL per token",
                "logprob_correct": "log p(correct)"}
PAIR_READING = {"survives": "the tipping point survives the continuous metric (Du et al.)",
                "made by the metric": "the jump is made by the metric: the continuous twin "
                                      "rises throughout (Schaeffer et al.)",
                "twin only": "only the continuous twin has a plateau",
                "neither": "neither metric has a plateau-then-rise",
                "inconclusive": "the comparison is inconclusive"}


_VERB = {"survives": "survives", "made by the metric": "is made by the metric",
         "twin only": "emerges in the twin only", "neither": "emerges in neither",
         "inconclusive": "is inconclusive"}


@dataclass(frozen=True)
class TaskFinding:
    """One task's headline: its metric's row, its twin's row (or None), the pair."""

    task: str
    headline: TableRow
    twin: TableRow | None
    pair: TwinPair | None
    sentence: str


def metric_name(metric: str) -> str:
    return METRIC_NAMES.get(metric, metric.replace("_", " "))


def task_findings(table: ThresholdTable, unit: str) -> list[TaskFinding]:
    """One finding per task of the table, in task order; `unit` names the loss axis."""
    rows = {(row.task, row.metric): row for row in table.rows}
    pairs = {(p.task, p.metric, p.twin): p for p in table.twins}
    findings = []
    for task in sorted({row.task for row in table.rows}):
        metrics = [metric for t, metric in rows if t == task]
        head = next((m for m in HEADLINE_ORDER if m in metrics), metrics[0])
        twin = next((t for t in CONTINUOUS_TWINS.get(head, ()) if t in metrics), None)
        pair = pairs.get((task, head, twin)) if twin else None
        twin_row = rows[task, twin] if twin else None
        others = [p for (t, m, _), p in pairs.items() if t == task and m == head
                  and p is not pair and (pair is None or p.verdict != pair.verdict)]
        text = sentence(task, rows[task, head], twin_row, pair, unit)
        if others:  # the other twins disagree with the headline twin: say so
            verdicts = dict.fromkeys(p.verdict for p in others)
            text = text[:-1] + "; but " + "; ".join(
                "with " + " and ".join(metric_name(p.twin) for p in others
                                       if p.verdict == verdict)
                + f" it {_VERB.get(verdict, verdict)}" for verdict in verdicts) + "."
        findings.append(TaskFinding(task, rows[task, head], twin_row, pair, text))
    return findings


def sentence(task: str, head: TableRow, twin: TableRow | None, pair: TwinPair | None,
             unit: str) -> str:
    """e.g. 'copy:8: exact match emerges from chance at 1.72 bits per byte [1.59, 1.81],
    abrupt; target NLL emerges at 1.86 [1.80, 1.90]; the tipping point survives the
    continuous metric (Du et al.).'"""
    parts = [describe(metric_name(head.metric), head.fit, unit, head.bracket)]
    if twin is not None:
        parts.append(describe(metric_name(twin.metric), twin.fit, "", twin.bracket))
    if pair is not None:
        parts.append(PAIR_READING[pair.verdict])
    return f"{task}: " + "; ".join(parts) + "."


def describe(name: str, fit: ThresholdFit, unit: str, bracket: str = "") -> str:
    """The verdict of one series in words; `bracket` names the checkpoints around a rise
    too sharp for them (TableRow.bracket)."""
    if fit.verdict in ("emerges", "weak"):
        where = f"{fit.threshold:.2f}" + (f" {unit}" if unit else "")
        interval = f" [{_bound(fit.ci_low)}, {_bound(fit.ci_high)}]"
        chance = f" {fit.plateau}" if fit.plateau else ""
        how = "" if fit.abrupt is None else (", abrupt" if fit.abrupt else ", graded")
        verb = "emerges" if fit.verdict == "emerges" else "may emerge (weak evidence)"
        text = f"{name} {verb}{chance} at {where}{interval}{how}"
        if fit.resolved is False:
            text += (" (not resolved: the rise falls between "
                     + (f"{bracket}; evaluate or save checkpoints between them)" if bracket
                        else "two checkpoints)"))
        elif fit.steepening:
            text += (" (still steepening at the lowest loss evaluated: the onset moves with "
                     "it)")
        return text
    if fit.verdict == "rises":
        how = fit.rises_how
        if how == "throughout":
            return f"{name} rises throughout, with no plateau"
        if how.startswith("levels off"):
            return f"{name} rises with no plateau at high loss, then {how}"
        if how.startswith("turns"):
            kink = how.removeprefix("turns at ")
            return (f"{name} {how}: no better (or worse) above {kink}, better below, with "
                    "no plateau by the rule")
        return f"{name} {how}" if how.startswith("declines") else (
            f"{name} rises with no plateau, with a {how}")
    if fit.verdict == "flat":
        return f"{name} stays flat" + (" at chance" if fit.baseline_at_chance else "")
    if fit.verdict == "insufficient":
        return f"{name}: too few points to tell"
    return f"{name}: the fit failed ({fit.note})"


def _bound(value: float) -> str:
    if math.isinf(value):
        return "-inf" if value < 0 else "inf"
    return "-" if math.isnan(value) else f"{value:.2f}"
