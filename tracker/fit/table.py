"""Table-level fitting: one ThresholdFit per (task, metric) of a points table, and the
mirage test between each accuracy-type metric and its continuous twins.

This is what `tracker fit` and `tracker report` call. Series are pooled across families and
sizes (Du et al.: checkpoints with the same loss score the same); the model size
(family/size) is the group for the size bootstrap and the emergence score. Per-example rows,
when given, feed the example bootstrap (same examples resampled for every checkpoint).

Total by construction: each series is fitted on its own, and one whose fit raises (never
expected: every fitter returns a reason instead) gets verdict `failed` with the error in its
`note`, while the rest of the table is fitted and written.
"""

from __future__ import annotations

import logging
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from tracker.errors import FitError
from tracker.evals.metrics import BINOMIAL_METRICS, min_rise_for
from tracker.fit.core import DEFAULT_BOOT, fit_threshold
from tracker.fit.emergence import emergence_score, final_by_scale
from tracker.fit.mirage import TwinPair, pair_twins, twins_frame
from tracker.fit.parallel import default_workers, ordered_map
from tracker.fit.pvalue import bh_q_values
from tracker.fit.result import ThresholdFit
from tracker.fit.sizes import SizeConsistency, size_consistency
from tracker.fit.verdict import decide
from tracker.points import validate_points

LOG = logging.getLogger(__name__)  # under "tracker": the CLI prints it
THRESHOLD_COLUMNS = ("task", "metric", "verdict", "label", "threshold", "ci_low", "ci_high",
                     "width", "width_low", "width_high", "width_frac", "rise_10", "rise_90",
                     "n_in_rise", "resolved", "bracket", "steepening", "slope", "baseline",
                     "baseline_at_chance", "plateau_share", "model", "best_plateau",
                     "best_no_plateau", "delta_bic", "emergence_score", "n_points", "ci_open",
                     "n_nonrising", "rise", "p_value", "q_value", "note", "n_spikes",
                     "n_startup", "startup_above")
DERIVED = ("resolved", "bracket", "rise_10", "rise_90")  # not fields of ThresholdFit
FIT_COLUMNS = tuple(c for c in THRESHOLD_COLUMNS[2:] if c not in DERIVED)
SIZE_COLUMNS = ("same_loss_same_score", "size_model_preferred", "size_offset",
                "size_offset_size", "size_offset_ci_low", "size_offset_ci_high",
                "size_thresholds")
CHECKPOINT_KEY = ["family", "size", "step"]
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class TableRow:
    """The fit of one (task, metric) series and the points it was fitted to."""

    task: str
    metric: str
    fit: ThresholdFit
    points: pd.DataFrame
    sizes: SizeConsistency | None = None  # Du et al.'s claims; None without model sizes

    @property
    def bracket(self) -> str:
        """Where a rise too sharp for the checkpoints lies: the checkpoints on either side
        of its 10-90% span ('' when the span holds 2 points or more, or nothing emerges)."""
        if self.fit.resolved is not False:
            return ""
        loss = self.points["loss"].to_numpy(float)
        above = np.flatnonzero(loss > self.fit.upper)
        below = np.flatnonzero(loss < self.fit.lower)
        ends = [above[np.argmin(loss[above])] if above.size else None,
                below[np.argmax(loss[below])] if below.size else None]
        return " .. ".join(_checkpoint(self.points.iloc[i]) for i in ends if i is not None)


@dataclass(frozen=True)
class ThresholdTable:
    """All fits of a points table, in (task, metric) order, the mirage test's pairs, and
    notes for the user."""

    rows: tuple[TableRow, ...]
    notes: tuple[str, ...] = ()
    twins: tuple[TwinPair, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """The thresholds.csv table (loss units for the onset, its interval and the width;
        metric units otherwise)."""
        records = [{"task": row.task, "metric": row.metric,
                    **{c: getattr(row.fit, c) for c in FIT_COLUMNS},
                    "resolved": row.fit.resolved, "bracket": row.bracket,
                    "rise_10": row.fit.upper, "rise_90": row.fit.lower,
                    **_size_columns(row.sizes)}
                   for row in self.rows]
        return pd.DataFrame(records, columns=[*THRESHOLD_COLUMNS, *SIZE_COLUMNS])

    def twins_frame(self) -> pd.DataFrame:
        """The twins.csv table (tracker/fit/mirage.py)."""
        return twins_frame(self.twins)

    def write_csv(self, path: Path | str) -> Path:
        """thresholds.csv at `path`, and twins.csv beside it."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.to_frame().to_csv(path, index=False)
        self.twins_frame().to_csv(path.with_name("twins.csv"), index=False)
        return path

    @property
    def failed(self) -> tuple[TableRow, ...]:
        return tuple(row for row in self.rows if row.fit.verdict == "failed")


def require_fitted(table: ThresholdTable) -> None:
    """A :class:`FitError` (one line, exit 1) when no series of ``table`` could be fitted;
    a table with some fitted series passes, each failed row keeping its note."""
    failed = table.failed
    if table.rows and len(failed) == len(table.rows):
        first = failed[0]
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        raise FitError(f"no series could be fitted: {first.task}/{first.metric}: "
                       f"{first.fit.note}{more}; nothing written")


def _checkpoint(point: pd.Series) -> str:
    """'size step N (loss)' for one point of a series."""
    where = "/".join(str(v) for v in (point["family"], point["size"]) if str(v)) or "point"
    step = point["step"]
    step_text = f" step {step:.0f}" if isinstance(step, float) and math.isfinite(step) else ""
    return f"{where}{step_text} ({point['loss']:.3f})"


def fit_table(points: pd.DataFrame, examples: pd.DataFrame | None = None, *,
              n_boot: int = DEFAULT_BOOT, random_state=0,
              progress: Progress | None = None, workers: int | None = None) -> ThresholdTable:
    """Fit every (task, metric) series of `points` (export columns; validated here).

    Each series gets its own generator, seeded from `random_state` and its (task, metric)
    names, so a series' fit does not depend on which other series are in the table (nor
    on `workers`, the processes fitting them: default 1 for fewer than 32 series, else the
    machine's cores up to 4; tracker/fit/parallel.py); its q-value (Benjamini-Hochberg over
    every series' p-value) does, by design: an `emerges` verdict needs q <= 0.05 (else it
    is `weak`, and the reason says so). The joint bootstrap of every metric of one task is
    seeded from the task's name alone, so the mirage test's onset gaps are paired.

    Example:
        >>> table = fit_table(pd.read_csv("points.csv"))  # doctest: +SKIP
        >>> table.write_csv("thresholds.csv")             # doctest: +SKIP
    """
    validated = validate_points(points)
    frame, circular = without_proxy_source(validated.frame)
    base_seed = int(np.random.default_rng(random_state).integers(2**63))
    groups = frame.groupby(["task", "metric"], sort=True)
    frames = [series.reset_index(drop=True) for _, series in groups]
    jobs = [(series, _example_matrix(series, examples), n_boot,
             [base_seed, zlib.crc32(f"{task}\0{metric}".encode())],
             [base_seed, zlib.crc32(f"{task}\0".encode())])
            for ((task, metric), _), series in zip(groups, frames, strict=True)]
    count = workers if workers is not None else default_workers(len(jobs))
    rows = []
    for i, (job, (fit, sizes)) in enumerate(zip(jobs, ordered_map(_fit_job, jobs, count),
                                                strict=True)):
        series = job[0]
        task, metric = str(series["task"].iloc[0]), str(series["metric"].iloc[0])
        rows.append(TableRow(task, metric, fit, series, sizes))
        if progress is not None:
            progress(i + 1, len(jobs), f"{task}/{metric}")
    rows = with_q_values(rows)
    twins = pair_twins({(row.task, row.metric): row.fit for row in rows})
    return ThresholdTable(tuple(rows), validated.notes + circular, twins)


def _fit_job(job) -> tuple[ThresholdFit, SizeConsistency | None]:
    """One series' fit and size checks (module level: run in worker processes too). Any
    exception is caught here and becomes verdict `failed` with its reason, so one series
    can never stop the table."""
    series, matrix, n_boot, seed, interval_seed = job
    child = np.random.default_rng(seed)
    try:
        fit = fit_series(series, matrix, n_boot, child, interval_state=interval_seed)
    except Exception as error:  # noqa: BLE001 - totality: recorded, never raised
        return _failed(series, error), None
    try:
        return fit, _consistency(series, fit, child)
    except Exception as error:  # noqa: BLE001 - the size check alone failed
        note = f"the size check failed: {type(error).__name__}: {error}"
        return replace(fit, note=(fit.note + "; " if fit.note else "") + note), None


def _failed(series: pd.DataFrame, error: Exception) -> ThresholdFit:
    task, metric = series["task"].iloc[0], series["metric"].iloc[0]
    note = f"{type(error).__name__}: {error}"
    LOG.debug("fit of %s/%s failed: %s", task, metric, note)  # the row keeps the note
    return ThresholdFit("failed", reason="the fit raised an error", note=note,
                        n_points=len(series),
                        higher_is_better=bool(series["higher_is_better"].iloc[0]))


def with_q_values(rows: list[TableRow]) -> list[TableRow]:
    """Benjamini-Hochberg q-values across the rows, and the verdicts re-decided with them."""
    q_values = bh_q_values([row.fit.p_value for row in rows])
    return [replace(row, fit=requalify(row.fit, float(q))) for row, q in zip(rows, q_values,
                                                                            strict=True)]


def requalify(fit: ThresholdFit, q_value: float) -> ThresholdFit:
    """The fit with its table-wide q-value; an emergence whose q exceeds 0.05 becomes weak."""
    if fit.evidence is None or not fit.bic or fit.verdict not in ("emerges", "weak"):
        return replace(fit, q_value=q_value)
    plateau = {name: name in fit.plateau_shaped for name, _ in fit.bic}
    decision = decide(dict(fit.bic), plateau, replace(fit.evidence, q_value=q_value))
    return replace(fit, q_value=q_value, verdict=decision.verdict, reason=decision.reason,
                   evidence=replace(fit.evidence, q_value=q_value))


def without_proxy_source(frame: pd.DataFrame) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """A proxy loss made from a series' own results (``proxy_ln_lambada_openai_ppl`` is
    LAMBADA's perplexity) would be fitted against itself: that series is left out, and the
    other metrics of its task are named in a note (they share the proxy's examples)."""
    proxies = {str(m) for m in frame["loss_metric"].unique() if str(m).startswith("proxy_")}
    series = frame[["task", "metric"]].drop_duplicates().itertuples(index=False)
    circular = {(str(task), str(metric)) for task, metric in series for proxy in proxies
                if proxy.removeprefix("proxy_").removeprefix("ln_") == f"{task}_{metric}"}
    if not circular:
        return frame, ()
    notes = []
    for task, metric in sorted(circular):
        others = sorted(set(frame.loc[(frame["task"] == task) & (frame["metric"] != metric),
                                      "metric"]))
        notes.append(f"{task}/{metric} is the proxy loss itself and is not fitted"
                     + (f"; {task}'s other metrics ({', '.join(others)}) share its examples"
                        " with the loss: read them with care" if others else ""))
    drop = pd.Series([(t, m) in circular for t, m in zip(frame["task"], frame["metric"],
                                                         strict=True)], index=frame.index)
    return frame[~drop], tuple(notes)


def fit_series(series: pd.DataFrame, examples: np.ndarray | None, n_boot: int,
               rng: np.random.Generator, interval_parts: bool = False,
               interval_state=None) -> ThresholdFit:
    """fit_threshold on one series' columns, then the emergence score by parameter count."""
    metric = str(series["metric"].iloc[0])
    higher = bool(series["higher_is_better"].iloc[0])
    n = series["n"].to_numpy(float)
    groups = _groups(series)
    chance_values = series["chance"].to_numpy(float)
    chance = float(np.nanmedian(chance_values)) if np.isfinite(chance_values).any() else None
    fit = fit_threshold(series["loss"], series["score"], n=n if np.isfinite(n).all() else None,
                        groups=groups, higher_is_better=higher, chance=chance,
                        random_state=rng, binomial=metric in BINOMIAL_METRICS,
                        examples=examples, n_boot=n_boot, min_rise=min_rise_for(metric),
                        interval_parts=interval_parts, interval_state=interval_state)
    if groups is None or fit.verdict in ("insufficient", "failed"):
        return fit
    loss = series["loss"].to_numpy(float)
    finals = final_by_scale(loss, groups, series["params"].to_numpy(float),
                            series["step"].to_numpy(float))
    oriented = (1.0 if higher else -1.0) * series["score"].to_numpy(float)
    return replace(fit, emergence_score=emergence_score(oriented[finals]))


def _consistency(series: pd.DataFrame, fit: ThresholdFit,
                 rng: np.random.Generator) -> SizeConsistency | None:
    groups = _groups(series)
    if groups is None:
        return None
    n = series["n"].to_numpy(float)
    return size_consistency(fit, series["loss"], series["score"], groups,
                            n=n if np.isfinite(n).all() else None,
                            binomial=str(series["metric"].iloc[0]) in BINOMIAL_METRICS,
                            random_state=rng)


def _size_columns(sizes: SizeConsistency | None) -> dict[str, object]:
    if sizes is None:
        return {"same_loss_same_score": "no sizes"}
    per_size = "; ".join(f"{t.size} {t.threshold:.4g}" for t in sizes.thresholds)
    return {"same_loss_same_score": sizes.verdict, "size_model_preferred": sizes.preferred,
            "size_offset": sizes.largest_offset,
            "size_offset_size": sizes.offset_size, "size_offset_ci_low": sizes.offset_ci[0],
            "size_offset_ci_high": sizes.offset_ci[1], "size_thresholds": per_size}


def _groups(series: pd.DataFrame) -> np.ndarray | None:
    """family/size labels, or None when the table names no sizes."""
    if (series["size"] == "").all():
        return None
    return (series["family"].astype(str) + "/" + series["size"].astype(str)).to_numpy()


def _example_matrix(series: pd.DataFrame, examples: pd.DataFrame | None) -> np.ndarray | None:
    """(n_points, n_examples) values aligned to the series rows; None unless every point
    has per-example rows (a partial matrix would mix two bootstraps)."""
    if examples is None or examples.empty:
        return None
    task, metric = series["task"].iloc[0], series["metric"].iloc[0]
    subset = examples[(examples["task"] == task) & (examples["metric"] == metric)]
    if subset.empty:
        return None
    subset = subset.assign(family=subset["family"].fillna("").astype(str),
                           size=subset["size"].fillna("").astype(str),
                           step=pd.to_numeric(subset["step"], errors="coerce").astype(float))
    wide = subset.pivot_table(index=CHECKPOINT_KEY, columns="example_id", values="value",
                              aggfunc="mean")
    index = pd.MultiIndex.from_frame(series[CHECKPOINT_KEY].astype(
        {"family": str, "size": str, "step": float}))
    if not index.isin(wide.index).all():
        return None
    return wide.reindex(index).to_numpy(float)
