"""Bhagia et al. 2024's table in tracker: predict OLMo-2 7B (annealed, 4T tokens) and 13B (5T)
on 8 tasks from the OLMo ladder, offline. The numbers of docs/forecast.md.

    .venv/bin/python bench/forecast_ladder.py [--run runs/olmo-ladder] [--boot 200] [--seed 0]

Imports the shipped OLMo ladder unless ``--run`` already holds it (about a minute), then:

1. the paper's setup (tracker.forecast.ladder_paper.PAPER: task loss, their sigmoid, the
   first 10% skipped, moving average 5), beside the paper's own published 13B predictions;
2. the same with the C4 validation loss as the feature (Du et al.'s choice);
3. a choice made on the ladder alone: every protocol of a small grid (feature, curves,
   window) forecasts the four 1B runs from 190M-760M; the one with the lowest mean
   absolute error there forecasts 7B and 13B. The 7B and 13B truth plays no part in it.
   Its intervals are shown from both bootstraps (``forecast(resample=...)``): over the fit
   runs (the default) and over the sizes, then the runs within each, on the holdout and on
   the targets, with the coverage of step 2 alone at the real feature value.

4. the Pythia split of issue 29 (fit on 70m, 160m and 410m, predict 1.4b and 2.8b, pythia
   and pythia-deduped, final checkpoint, ARC-Easy/Challenge, PIQA, SciQ and WinoGrande
   accuracy, steps >= 1000; loss the labelled proxy ln LAMBADA perplexity) with tracker's
   default forecast and with the protocol chosen on the ladder (``--pythia-run``; the
   shipped published evaluations are imported there unless it holds them).

Each table gives per target and task the prediction with its 90% interval, the truth, the
error (points of accuracy), whether the interval covers the truth, and step 2 alone at the
target's real feature value.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_forecast  # noqa: E402  (the Pythia split reads its points as its table does)

from tracker.cli import main as tracker  # noqa: E402
from tracker.forecast import forecast
from tracker.forecast import ladder_paper as paper
from tracker.forecast.feature import VALIDATION_FEATURE
from tracker.forecast.score import CANDIDATES, CHANCE_SIGMOID, LADDER_SIGMOID
from tracker.points import read_run

HOLDOUT_FIT = tuple(run for run in paper.FIT_RUNS if "/1B-" not in run)
HOLDOUT_TARGETS = tuple(run for run in paper.FIT_RUNS if "/1B-" in run)
GRID = tuple(paper.Protocol(f"{feature_name}, {curve_name}, window {window}", feature,
                            curves, window=window)
             for (feature_name, feature), (curve_name, curves), window in itertools.product(
                 (("task loss", paper.TASK_LOSS), ("C4 loss", VALIDATION_FEATURE)),
                 (("ladder sigmoid", (LADDER_SIGMOID,)), ("chance sigmoid", (CHANCE_SIGMOID,)),
                  ("tracker's curves", CANDIDATES)),
                 (5, 1)))


PYTHIA_TASKS = bench_forecast.TASKS
PYTHIA_FIT = ("70m", "160m", "410m")
PYTHIA_TARGETS = ("1.4b", "2.8b")
PYTHIA_MIN_STEP = 1000  # after the proxy's gap (docs/pythia.md), as docs/forecast.md's table


def pythia_split(run: Path, protocols: dict[str, dict], n_boot: int,
                 seed: int) -> dict[str, pd.DataFrame]:
    """The Pythia split, one accuracy table per protocol (``forecast`` keyword options)."""
    points = bench_forecast.load_points(run)  # imports the shipped evaluations if absent
    points = points[points["metric"].isin(["accuracy", "proxy_ln_lambada_openai_ppl"])]
    out = {}
    for name, options in protocols.items():
        frame = forecast(points, list(PYTHIA_TARGETS), fit_sizes=list(PYTHIA_FIT),
                         min_step=PYTHIA_MIN_STEP, n_boot=n_boot, random_state=seed,
                         **options).to_frame()
        frame = _raw_truth(frame[frame["task"].isin(PYTHIA_TASKS)
                                 & (frame["metric"] == "accuracy")], points)
        out[name] = frame.assign(covers=(frame["score_low"] <= frame["true_score"])
                                 & (frame["true_score"] <= frame["score_high"]))
    return out


def _raw_truth(frame: pd.DataFrame, points: pd.DataFrame) -> pd.DataFrame:
    """The final checkpoint's own score as the truth (a moving average would report the mean
    of the last ones there), and the errors against it."""
    keys = ["label", "step", "task"]
    raw = points[points["metric"] == "accuracy"].assign(
        label=points["family"] + "/" + points["size"])[[*keys, "score"]]
    merged = frame.merge(raw, left_on=["target", "step", "task"], right_on=keys, how="left")
    merged["error"] += merged["true_score"] - merged["score"]
    merged["error_given_loss"] += merged["true_score"] - merged["score"]
    merged["true_score"] = merged.pop("score")
    return merged.drop(columns=["label"])


def load_points(run: Path) -> pd.DataFrame:
    if not (run / "units").is_dir():
        code = tracker(["import", "table", "--published", "olmo-ladder", "--run", str(run),
                        "--quiet"])
        if code != 0:
            sys.exit(f"tracker import exited {code}")
    points, _ = read_run(run)
    return paper.paper_points(points)


def run_protocol(points: pd.DataFrame, protocol: paper.Protocol, fit: tuple[str, ...],
                 targets: tuple[str, ...], n_boot: int, seed: int,
                 resample: str = "runs") -> pd.DataFrame:
    """One forecast's accuracy rows, with coverage and errors in points."""
    use = points if protocol.feature != VALIDATION_FEATURE else points[
        points["metric"] != paper.TASK_LOSS]
    result = forecast(use, list(targets), fit_sizes=list(fit), n_boot=n_boot,
                      random_state=seed, resample=resample, **protocol.options())
    frame = result.to_frame()
    frame = frame[frame["metric"] == paper.METRIC].copy()
    frame["covers"] = (frame["score_low"] <= frame["true_score"]) & (
        frame["true_score"] <= frame["score_high"])
    return frame


def summary(frame: pd.DataFrame) -> dict[str, float]:
    given = ((frame["given_loss_low"] <= frame["true_score"])
             & (frame["true_score"] <= frame["given_loss_high"]))
    return {"mae": 100 * float(frame["error"].abs().mean()),
            "mae_given_loss": 100 * float(frame["error_given_loss"].abs().mean()),
            "coverage": float(frame["covers"].mean()), "n": len(frame),
            "coverage_given_loss": float(given.mean()),
            "width": 100 * float((frame["score_high"] - frame["score_low"]).mean())}


def interval_line(name: str, stats: dict[str, float]) -> str:
    n = stats["n"]
    return (f"| {name} | {stats['coverage']:.0%} ({round(stats['coverage'] * n)}/{n}) | "
            f"{stats['width']:.1f} | {stats['coverage_given_loss']:.0%} "
            f"({round(stats['coverage_given_loss'] * n)}/{n}) |")


def markdown(frame: pd.DataFrame, published: bool) -> str:
    head = ["target", "task", "curve", "predicted [90%]", "true", "error", "covers",
            "step 2 alone: error"]
    if published:
        head.insert(4, "paper's prediction")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in frame.sort_values(["target", "task"]).itertuples():
        cells = [row.target.split("/")[-1], row.task, row.curve,
                 f"{row.predicted_score:.3f} [{row.score_low:.3f}, {row.score_high:.3f}]",
                 f"{row.true_score:.3f}", f"{100 * row.error:+.1f}",
                 "yes" if row.covers else "**no**", f"{100 * row.error_given_loss:+.1f}"]
        if published:
            value = paper.PUBLISHED_13B.get(row.task) if row.target.endswith("13B") else None
            cells.insert(4, "" if value is None else f"{value:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def line(name: str, stats: dict[str, float]) -> str:
    return (f"| {name} | {stats['mae']:.2f} | {stats['mae_given_loss']:.2f} | "
            f"{stats['coverage']:.0%} ({round(stats['coverage'] * stats['n'])}/{stats['n']}) |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/olmo-ladder"))
    parser.add_argument("--boot", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pythia-run", type=Path, default=Path("runs/pythia-published"))
    args = parser.parse_args(argv)
    start = time.perf_counter()
    points = load_points(args.run)
    print(f"points: {len(points)} rows, {time.perf_counter() - start:.0f} s")

    tables = {}
    for protocol in (paper.PAPER, paper.Protocol("paper's setup, C4 loss", VALIDATION_FEATURE,
                                                 (LADDER_SIGMOID,))):
        tables[protocol.name] = run_protocol(points, protocol, paper.FIT_RUNS, paper.TARGETS,
                                             args.boot, args.seed)
    reproduced = tables[paper.PAPER.name]
    gap = [abs(row.predicted_score - paper.PUBLISHED_13B[row.task])
           for row in reproduced.itertuples() if row.target.endswith("13B")]
    print(f"\nreproduction: largest gap to the paper's published 13B predictions "
          f"{max(gap):.2g} ({len(gap)} tasks)")

    print("\n## Choice on the ladder alone: 190M-760M predict the four 1B runs\n")
    print("| protocol | MAE (points) | step 2 alone | coverage |\n|---|---|---|---|")
    holdout = {}
    for protocol in GRID:
        frame = run_protocol(points, protocol, HOLDOUT_FIT, HOLDOUT_TARGETS,
                             max(50, args.boot // 4), args.seed)
        holdout[protocol.name] = summary(frame)
        print(line(protocol.name, holdout[protocol.name]))
    chosen = min(GRID, key=lambda p: holdout[p.name]["mae"])
    print(f"\nchosen: {chosen.name}")
    tables[f"chosen on the ladder: {chosen.name}"] = run_protocol(
        points, chosen, paper.FIT_RUNS, paper.TARGETS, args.boot, args.seed)

    print("\n## The intervals: the bootstrap over runs (the default) or over sizes, then runs"
          f" ({chosen.name})\n")
    print("| resampling, predictions | coverage | mean width (points) | step 2 alone: coverage |"
          "\n|---|---|---|---|")
    for resample in ("runs", "sizes"):
        for where, fit, goals, n_boot in (("1B holdout", HOLDOUT_FIT, HOLDOUT_TARGETS,
                                           max(50, args.boot // 4)),
                                          ("7B and 13B", paper.FIT_RUNS, paper.TARGETS,
                                           args.boot)):
            frame = (tables[f"chosen on the ladder: {chosen.name}"]
                     if (resample, where) == ("runs", "7B and 13B")  # computed above
                     else run_protocol(points, chosen, fit, goals, n_boot, args.seed, resample))
            print(interval_line(f"{resample}, {where}", summary(frame)))

    print("\n## 7B and 13B, 8 tasks\n")
    print("| protocol | MAE (points) | step 2 alone | coverage |\n|---|---|---|---|")
    for name, frame in tables.items():
        print(line(name, summary(frame)))
    for name, frame in tables.items():
        print(f"\n### {name}\n")
        print(markdown(frame, published=name == paper.PAPER.name))
    print("\n## The Pythia split: 70m-410m predict 1.4b and 2.8b (both families)\n")
    chosen_name = f"chosen on the ladder: {chosen.name}" + (
        "" if chosen.feature == VALIDATION_FEATURE else " (but the proxy loss as feature: "
        "Pythia's evaluations have no task loss)")
    split = pythia_split(args.pythia_run, {
        "tracker's default forecast": {},
        chosen_name: chosen.options() | {"feature": VALIDATION_FEATURE}}, args.boot, args.seed)
    print("| protocol | MAE (points) | step 2 alone | coverage |\n|---|---|---|---|")
    for name, frame in split.items():
        print(line(name, summary(frame)))
    for name, frame in split.items():
        print(f"\n### Pythia: {name}\n")
        print(markdown(frame, published=False))
    print(f"\ntotal {time.perf_counter() - start:.0f} s, load {np.round(_load(), 2)}")
    return 0


def _load() -> tuple[float, ...]:
    import os
    return os.getloadavg()


if __name__ == "__main__":
    sys.exit(main())
