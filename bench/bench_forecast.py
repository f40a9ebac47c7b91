"""Forecast Pythia's three largest sizes from the five smallest: the numbers of
docs/forecast.md.

    .venv/bin/python bench/bench_forecast.py [--run runs/pythia-published] [--boot 200]
                                             [--seed 0]

Imports Pythia's published zero-shot results (shipped with tracker; loss = the labelled
proxy ln LAMBADA perplexity) unless ``--run`` already holds them, fits on 70m-1.4b (both
pythia and pythia-deduped), predicts the final checkpoint (step 143000) of 2.8b, 6.9b and
12b on ARC-Easy, ARC-Challenge, PIQA, SciQ and WinoGrande (accuracy), and prints, beside
tracker's forecast, two baselines:

- step 2: a plain 4-parameter sigmoid, unweighted, on the fit sizes' checkpoints at step
  >= 1000, read at the target's real loss;
- two steps: an unconstrained Chinchilla form (plain least squares on the loss, no bounds)
  on the fit sizes' checkpoints at step >= 3000, then that sigmoid.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tracker.cli import main as tracker
from tracker.fit.smooth import fit_sigmoid
from tracker.forecast import forecast, runs_of
from tracker.forecast.scaling import fit_scaling_law
from tracker.points import read_run, validate_points

TASKS = ("arc_easy", "arc_challenge", "piqa", "sciq", "winogrande")
METRIC = "accuracy"
TARGETS = ("2.8b", "6.9b", "12b")
MIN_STEP = 1000  # after the proxy's gap (docs/pythia.md); the baseline sigmoid's too
BASELINE_STEP1_MIN_STEP = 3000


@dataclass(frozen=True)
class Result:
    table: pd.DataFrame  # one row per target and task, ours and the baselines
    summary: dict[str, float]


def load_points(run: Path) -> pd.DataFrame:
    if not (run / "units").is_dir():
        code = tracker(["import", "lm-eval", "--published", "pythia-v1", "--run", str(run),
                        "--quiet"])
        if code != 0:
            sys.exit(f"tracker import exited {code}")
    points, _ = read_run(run, tasks=[*TASKS, "validation"])
    return points


def measure(points: pd.DataFrame, n_boot: int = 200, seed: int = 0) -> Result:
    """Tracker's forecast and both baselines on the same points."""
    points = points[points["metric"].isin([METRIC, "proxy_ln_lambada_openai_ppl"])]
    ours = forecast(points, TARGETS, min_step=MIN_STEP, n_boot=n_boot, random_state=seed)
    table = ours.to_frame()
    table = table[table["task"].isin(TASKS)].reset_index(drop=True)
    base_given, base_end, all_checkpoints = baselines(points, ours.fit_runs, table)
    table["baseline_given_loss_error"] = base_given - table["true_score"]
    table["baseline_error"] = base_end - table["true_score"]
    table["all_checkpoints_loss_error"] = all_checkpoints - table["true_loss"]
    covered = ((table["score_low"] <= table["true_score"])
               & (table["true_score"] <= table["score_high"]))
    covered_given = ((table["given_loss_low"] <= table["true_score"])
                     & (table["true_score"] <= table["given_loss_high"]))
    summary = {**within_fit_sizes(points),
        "step 2 MAE (given the real loss), points": 100 * table["error_given_loss"].abs().mean(),
        "baseline step 2 MAE, points": 100 * table["baseline_given_loss_error"].abs().mean(),
        "two steps MAE, points": 100 * table["error"].abs().mean(),
        "baseline two steps MAE, points": 100 * table["baseline_error"].abs().mean(),
        "step 1 loss MAE (final checkpoints, tracker)":
            (table["predicted_loss"] - table["true_loss"]).abs().mean(),
        "step 1 loss MAE (same fit on every checkpoint at step >= 3000)":
            table["all_checkpoints_loss_error"].abs().mean(),
        "90% intervals covering the truth, two steps": float(covered.mean()),
        "90% intervals covering the truth, step 2": float(covered_given.mean()),
        "predictions": float(len(table)),
    }
    return Result(table, summary)


def within_fit_sizes(points: pd.DataFrame) -> dict[str, float]:
    """Step 1's choice of checkpoints checked on the fit sizes alone: 70m-1b predicting the
    final loss of 1.4b, fitted to final checkpoints or to every checkpoint at step >= 3000."""
    runs = runs_of(validate_points(points).frame)
    held_out = [run for run in runs.values() if run.size == "1.4b"]
    smaller = [run for run in runs.values() if run.params < held_out[0].params]
    truth = pd.concat([run.checkpoints.iloc[[-1]] for run in held_out])
    choices = {"final checkpoints": pd.concat([r.checkpoints.iloc[[-1]] for r in smaller]),
               "every checkpoint at step >= 3000": pd.concat(
                   [r.checkpoints[r.checkpoints["step"] >= 3000] for r in smaller])}
    out = {}
    for name, anchors in choices.items():
        fit = fit_scaling_law(anchors["params"], anchors["tokens_seen"], anchors["loss"])
        error = fit.predict(truth["params"], truth["tokens_seen"]) - truth["loss"]
        out[f"1.4b from 70m-1b: step 1 loss MAE, {name}"] = float(np.mean(np.abs(error)))
    return out


def baselines(points: pd.DataFrame, fit_runs: tuple[str, ...], table: pd.DataFrame):
    """Per row of ``table``: the step-2 baseline at the real loss, the two-step baseline,
    and (the ablation of step 1's choice of checkpoints) the loss tracker's own step-1 fit
    predicts when fitted to every checkpoint at step >= 3000 instead of the final ones."""
    frame = validate_points(points).frame
    labels = (frame["family"] + "/" + frame["size"]).str.strip("/")
    fitted = frame[labels.isin(fit_runs)]
    runs = runs_of(frame)
    anchors = pd.concat([runs[r].checkpoints for r in fit_runs])
    anchors = anchors[anchors["step"] >= BASELINE_STEP1_MIN_STEP]
    chinchilla = fit_scaling_law(anchors["params"], anchors["tokens_seen"], anchors["loss"],
                                 robust=False, bounded=False)
    every = fit_scaling_law(anchors["params"], anchors["tokens_seen"], anchors["loss"])
    every_loss = every.predict(table["params"].to_numpy(float), table["tokens"].to_numpy(float))
    given, end = [], []
    for row in table.itertuples():
        series = fitted[(fitted["task"] == row.task) & (fitted["metric"] == row.metric)
                        & (fitted["step"] >= MIN_STEP)].sort_values("loss")
        loss = series["loss"].to_numpy(float)
        sigmoid = fit_sigmoid(loss, series["score"].to_numpy(float), np.ones_like(loss))
        given.append(float(sigmoid.predict(np.array([row.true_loss]))[0]))
        end.append(float(sigmoid.predict(chinchilla.predict(row.params, row.tokens))))
    return np.array(given), np.array(end), every_loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/pythia-published"))
    parser.add_argument("--boot", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    points = load_points(args.run)
    started = time.perf_counter()
    result = measure(points, n_boot=args.boot, seed=args.seed)
    columns = {"target": "target", "task": "task", "curve": "curve",
               "true_loss": "real loss", "predicted_loss": "predicted loss",
               "true_score": "real", "predicted_score": "two steps",
               "score_low": "90% low", "score_high": "90% high",
               "score_given_loss": "step 2", "baseline_error": "baseline two steps error",
               "baseline_given_loss_error": "baseline step 2 error"}
    shown = result.table[list(columns)].rename(columns=columns)
    print(shown.to_markdown(index=False, floatfmt=".3f"))
    print()
    print(pd.Series(result.summary).to_frame("value").to_markdown(floatfmt=".2f"))
    print(f"\n(forecast and baselines took {time.perf_counter() - started:.0f} s, "
          f"{args.boot} bootstrap replicates)")


if __name__ == "__main__":
    main()
