"""The default ladder trained with 3 seeds: do its verdicts and thresholds reproduce?

Each seed is the README's main job in its own run directory:
``tracker train --seed S --run OUT/S`` then ``tracker eval --family ladder --run OUT/S``
(which finds every unit stored by the training hook, fits and reports), then the same fit
against the text-only validation loss (``tracker report --setting validation=validation
--out OUT/S/text-loss``). The
seed is ``training.seed``: model initialisation and the order of the blocks; the corpus
split, the tokenizer, the problems drawn and both validation sets follow the config's
top-level seed, so every seed is scored on the same loss axis.

Prints, per task and metric, the verdict of each seed, how many seeds agree with the most
common verdict, and thresholds (median and range across seeds where one is found), then
per task the headline metric (exact match, or accuracy for multiple choice) at the last
step of each size, and the same-loss-same-score verdicts; and each seed's wall time (the
main job without set-up) and load average.

    nice -n 5 .venv/bin/python bench/bench_ladder_seeds.py --out /work/seed-runs

``--refit`` fits the stored runs again (``tracker report --run OUT/S``, both loss axes)
without training, e.g. after a change to ``tracker/fit``; the commit of ``tracker/fit``
the fits ran with is printed.

``--config`` trains another ladder config instead (a family file naming it is written
under OUT); ``--sizes llama-130k`` and ``--threads 1`` train a part of it (the config
written to OUT/config.yaml; the blocks and each size's initialisation do not depend on the
other sizes); ``--precision fp32`` (or ``bf16``) trains in that dtype instead of the
config's ``auto``, for the verdicts under both dtypes (docs/ladder.md). A seed whose run
directory already holds a report is not trained again (``--fresh`` removes them first).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tracker.train.config import load_ladder_config  # noqa: E402

HEADLINE = ("exact_match", "accuracy")  # the first a task has is its headline metric


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/ladder-seeds"))
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "ladder.yaml")
    parser.add_argument("--seeds", type=lambda t: [int(s) for s in t.split(",")],
                        help="comma-separated (default: the config's replicate_seeds)")
    parser.add_argument("--sizes", type=lambda t: t.split(","),
                        help="comma-separated size labels to train (default: all)")
    parser.add_argument("--threads", type=int, help="training.threads (default: the config's)")
    parser.add_argument("--precision", choices=("auto", "bf16", "fp32"),
                        help="training.precision (default: the config's, auto)")
    parser.add_argument("--fresh", action="store_true", help="retrain every seed")
    parser.add_argument("--figures", type=Path,
                        help="also draw each task's headline metric against both losses, "
                             "one panel per seed, into DIR/ladder-<task>.png")
    parser.add_argument("--refit", action="store_true",
                        help="fit and report the stored runs again, training nothing")
    args = parser.parse_args()
    config = load_ladder_config(args.config)
    seeds = args.seeds or config.replicate_seeds
    args.out.mkdir(parents=True, exist_ok=True)
    if args.sizes or args.threads or args.precision:
        args.config = part_of(args.config, args.out, args.sizes, args.threads, args.precision)
    family = family_file(args.out, args.config.resolve())
    timings = {seed: train_and_evaluate(args.out / str(seed), args.config.resolve(),
                                        family, seed, fresh=args.fresh, refit=args.refit)
               for seed in seeds}
    tables = {seed: pd.read_csv(args.out / str(seed) / "thresholds.csv") for seed in seeds}
    text_tables = {seed: pd.read_csv(args.out / str(seed) / "text-loss" / "thresholds.csv")
                   for seed in seeds}
    points = {seed: pd.read_csv(args.out / str(seed) / "points.csv") for seed in seeds}
    print(f"fits by tracker/fit at {fit_commit()}")
    print("\nx axis: the mixture validation loss (Du et al.'s pre-training loss; the default)")
    print_verdicts(tables)
    print("\nx axis: the text-only validation loss (second validation set)")
    print_verdicts(text_tables)
    print_twins({seed: args.out / str(seed) for seed in seeds})
    print_headline_scores(points)
    print_same_loss(tables)
    if args.figures:
        runs = {seed: args.out / str(seed) for seed in seeds}
        fits = {"mixture": tables, "text": text_tables}
        for path in draw_figures(points, runs, args.figures, fits):
            print(f"wrote {path}")
    print("\nper seed: wall time of train + eval (the main job without set-up), load average")
    for seed, (seconds, load) in timings.items():
        shown = "reused" if seconds is None else f"{seconds:.0f} s ({seconds / 60:.1f} min)"
        print(f"  seed {seed}: {shown}, load average after {load}")


def part_of(config: Path, out: Path, sizes: list[str] | None, threads: int | None,
            precision: str | None = None) -> Path:
    """OUT/config.yaml: ``config`` with only ``sizes``, another thread count and/or another
    training precision."""
    data = yaml.safe_load(config.read_text())
    if sizes:
        known = [size["label"] for size in data["sizes"]]
        unknown = [label for label in sizes if label not in known]
        if unknown:
            raise SystemExit(f"unknown size {unknown[0]}; the config has {', '.join(known)}")
        data["sizes"] = [size for size in data["sizes"] if size["label"] in sizes]
    if threads:
        data["training"]["threads"] = threads
    if precision:
        data["training"]["precision"] = precision
    path = out / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def family_file(out: Path, config: Path) -> str:
    """``ladder`` itself for the default config, else a family file naming ``config``."""
    if config == (ROOT / "configs" / "ladder.yaml").resolve():
        return "ladder"
    path = out / "family.yaml"
    path.write_text(yaml.safe_dump({"name": "ladder", "architecture": "other",
                                    "source": "local", "train_config": str(config),
                                    "description": "ladder (seeds bench)"}))
    return str(path)


def train_and_evaluate(run_dir: Path, config: Path, family: str, seed: int, *,
                       fresh: bool, refit: bool = False) -> tuple[float | None, str]:
    """Train + eval (the main job) + export + the text-loss report; returns the main job's
    wall time (None when reused) and the load average after it."""
    if fresh:
        shutil.rmtree(run_dir, ignore_errors=True)
    tracker = [sys.executable, "-m", "tracker"]
    text_report = [*tracker, "report", "--run", str(run_dir), "--setting",
                   "validation=validation", "--out", str(run_dir / "text-loss")]
    done = (run_dir / "points.csv").is_file() and (run_dir / "thresholds.csv").is_file()
    if done and not refit:
        if not (run_dir / "text-loss" / "thresholds.csv").is_file():
            run_logged(run_dir, seed, [text_report])
        return None, load_average()
    if refit:
        run_logged(run_dir, seed, [[*tracker, "report", "--run", str(run_dir)], text_report])
        return None, load_average()
    started = time.perf_counter()
    run_dir.mkdir(parents=True, exist_ok=True)
    run_logged(run_dir, seed, [
        [*tracker, "train", "--config", str(config), "--seed", str(seed), "--run",
         str(run_dir), "--quiet"],
        [*tracker, "eval", "--family", family, "--run", str(run_dir)]])
    seconds, load = time.perf_counter() - started, load_average()
    run_logged(run_dir, seed, [
        [*tracker, "export", "--run", str(run_dir), "--out", str(run_dir / "points.csv")],
        text_report])
    return seconds, load


def run_logged(run_dir: Path, seed: int, commands: list[list[str]]) -> None:
    """Run each command from the project root, output appended to OUT/S.log."""
    with run_dir.with_suffix(".log").open("a") as sink:
        for command in commands:
            print(f"seed {seed}: {' '.join(command[2:])}", flush=True)
            subprocess.run(command, cwd=ROOT, check=True, stdout=sink, stderr=subprocess.STDOUT)


def fit_commit() -> str:
    """The last commit that touched tracker/fit, and whether the tree there differs."""
    def git(*arguments: str) -> str:
        return subprocess.run(["git", *arguments], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip()
    commit = git("log", "-1", "--format=%h %s", "--", "tracker/fit")[:90]
    dirty = git("status", "--porcelain", "--", "tracker/fit")
    return commit + (" (with uncommitted changes)" if dirty else "")


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def print_verdicts(tables: dict[int, pd.DataFrame]) -> None:
    seeds = list(tables)
    frame = pd.concat([t.assign(seed=s) for s, t in tables.items()])
    print("\nverdicts and onsets across seeds (onset [95% CI] where the verdict has one)")
    header = ["task", "metric", *[f"seed {s}" for s in seeds], "agree", "onsets",
              "median [range]"]
    rows = []
    for (task, metric), group in frame.groupby(["task", "metric"], sort=True):
        by_seed = group.set_index("seed")
        verdicts = [str(by_seed.loc[s, "label"]) if s in by_seed.index else "-" for s in seeds]
        common, count = Counter(v.split(" (")[0] for v in verdicts).most_common(1)[0]
        emerging = [s for s in seeds if s in by_seed.index
                    and by_seed.loc[s, "verdict"] in ("emerges", "weak")
                    and np.isfinite(by_seed.loc[s, "threshold"])]
        found = [float(by_seed.loc[s, "threshold"]) for s in emerging]
        intervals = [f"{by_seed.loc[s, 'threshold']:.3f} [{by_seed.loc[s, 'ci_low']:.3f}, "
                     f"{by_seed.loc[s, 'ci_high']:.3f}]" for s in emerging]
        spread = (f"{np.median(found):.3f} [{min(found):.3f}, {max(found):.3f}]"
                  if found else "-")
        headline = "*" if metric == headline_metric(set(group["metric"]) |
                                                    set(frame[frame.task == task]["metric"])) \
            else ""
        rows.append([task, metric + headline, *verdicts, f"{count}/{len(seeds)} {common}",
                     "; ".join(intervals) or "-", spread])
    print_table(header, rows)
    print("* headline metric of the task")


def print_twins(runs: dict[int, Path]) -> None:
    """The mirage test per (task, metric, twin): each seed's pair verdict and onset gap."""
    print("\nthe mirage test (twins.csv, mixture loss): pair verdict [onset gap] per seed")
    frames = [pd.read_csv(run / "twins.csv").assign(seed=seed) for seed, run in runs.items()
              if (run / "twins.csv").is_file()]
    if not frames:
        return
    frame = pd.concat(frames)
    rows = []
    for (task, metric, twin), group in frame.groupby(["task", "metric", "twin"], sort=True):
        by_seed = group.set_index("seed")
        cells = [(f"{by_seed.loc[s, 'verdict']}" + (f" [{by_seed.loc[s, 'gap']:+.3f}]"
                                                    if np.isfinite(by_seed.loc[s, 'gap'])
                                                    else "")) if s in by_seed.index else "-"
                 for s in runs]
        rows.append([task, metric, twin, *cells])
    print_table(["task", "metric", "twin", *[f"seed {s}" for s in runs]], rows)


def headline_metric(metrics: set[str]) -> str | None:
    return next((m for m in HEADLINE if m in metrics), None)


def print_headline_scores(points: dict[int, pd.DataFrame]) -> None:
    """Headline metric and loss at each size's last step: median [range] across seeds."""
    print("\nheadline metric and loss at the last step, median [range] across seeds")
    frame = pd.concat([p.assign(seed=s) for s, p in points.items()])
    last = frame[frame["step"] == frame.groupby(["seed", "size"])["step"].transform("max")]
    rows = []
    for task, group in last.groupby("task", sort=True):
        metric = headline_metric(set(group["metric"]))
        if metric is None:
            continue
        for size, at in group[group["metric"] == metric].groupby("size", sort=False):
            scores, losses = at["score"].to_numpy(), at["loss"].to_numpy()
            rows.append([task, metric, size, spread(scores), spread(losses)])
    print_table(["task", "metric", "size", "score", "loss"], rows)


def spread(values: np.ndarray) -> str:
    return f"{np.median(values):.3f} [{values.min():.3f}, {values.max():.3f}]"


def print_same_loss(tables: dict[int, pd.DataFrame]) -> None:
    print("\nsame loss, same score across sizes (headline metrics), per seed")
    rows = []
    for seed, table in tables.items():
        for task, group in table.groupby("task", sort=True):
            metric = headline_metric(set(group["metric"]))
            row = group[group["metric"] == metric]
            if metric is None or row.empty or "same_loss_same_score" not in row:
                continue
            first = row.iloc[0]
            rows.append([seed, task, metric, first["same_loss_same_score"],
                         first.get("size_model_preferred", "-"),
                         _fmt(first.get("size_offset")), first.get("size_offset_size", "-")])
    print_table(["seed", "task", "metric", "same loss same score", "BIC prefers",
                 "largest offset", "size"], rows)


def _fmt(value) -> str:
    try:
        return f"{float(value):+.3f}"
    except (TypeError, ValueError):
        return str(value)


def draw_figures(points: dict[int, pd.DataFrame], runs: dict[int, Path], out: Path,
                 fits: dict[str, dict[int, pd.DataFrame]]) -> list[Path]:
    """Per task: its headline metric against the mixture loss (top row) and the text loss
    (bottom row), one column per seed, one line per size; loss falls to the right. Each
    panel names that fit's verdict and, for an emergence, draws its onset (red line) and
    95% interval (red band) and the 10-90% span of the rise (blue band)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    frame = pd.concat([p.assign(seed=s) for s, p in points.items()])
    text = {seed: text_losses(run_dir) for seed, run_dir in runs.items()}
    written = []
    for task, group in frame[frame.task != "validation"].groupby("task", sort=True):
        metric = headline_metric(set(group["metric"]))
        if metric is None:
            continue
        rows = group[group.metric == metric]
        figure, axes = plt.subplots(2, len(points), figsize=(3.2 * len(points), 5.2),
                                    sharey=True, squeeze=False)
        for column, seed in enumerate(points):
            for row, (axis_name, losses) in enumerate((("mixture", None), ("text", text[seed]))):
                ax = axes[row][column]
                for size, at in rows[rows.seed == seed].groupby("size", sort=False):
                    at = at.sort_values("step")
                    x = at["loss"] if losses is None else at["step"].map(losses.get(size, {}))
                    ax.plot(x, at["score"], marker="o", markersize=2.5, linewidth=1, label=size)
                table = fits[axis_name][seed]
                fit = table[(table.task == task) & (table.metric == metric)]
                label = str(fit["label"].iloc[0]) if len(fit) else "-"
                if len(fit) and fit["verdict"].iloc[0] in ("emerges", "weak"):
                    first = fit.iloc[0]
                    if np.isfinite(first["rise_10"]) and np.isfinite(first["rise_90"]):
                        ax.axvspan(first["rise_90"], first["rise_10"], color="#2471a3",
                                   alpha=0.15)
                    low, high = ax.get_xlim()
                    ax.axvspan(max(first["ci_low"], min(low, high)),
                               min(first["ci_high"], max(low, high)), color="#c0392b",
                               alpha=0.2)
                    ax.axvline(first["threshold"], color="#c0392b", linewidth=1)
                ax.invert_xaxis()
                ax.set_xlabel(f"{axis_name} validation, bits per byte", fontsize=8)
                ax.set_title(f"seed {seed}: {label}", fontsize=8)
                ax.tick_params(labelsize=7)
        axes[0][0].set_ylabel(metric)
        axes[1][0].set_ylabel(metric)
        axes[0][-1].legend(fontsize=7)
        figure.suptitle(task, fontsize=10)
        figure.tight_layout()
        path = out / f"ladder-{task.replace(':', '-').replace('=', '')}.png"
        figure.savefig(path, dpi=70)
        plt.close(figure)
        written.append(path)
    return written


def text_losses(run_dir: Path) -> dict[str, dict[int, float]]:
    """size -> step -> text-only validation bits per byte (the text-loss report's points)."""
    from tracker.store.run_store import RunStore

    points = RunStore(run_dir).points(setting="validation=validation", tasks=[])
    rows = points[(points.task == "validation") & (points.metric == "bits_per_byte")]
    return {size: dict(zip(at["step"], at["score"], strict=True))
            for size, at in rows.groupby("size")}


def print_table(header: list[str], rows: list[list]) -> None:
    cells = [header, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
