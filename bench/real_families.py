"""The analyses of docs/real-families.md: OLMo-2 7B/13B multiple-choice against cloze format,
"same loss, same score" on OLMo's ladder, open_lm's three corpora, and Pythia v0 on WikiText
bits per byte.

    .venv/bin/python bench/real_families.py --out runs/real-families [--boot 400] \
        [--only olmo2,ladder,open-lm,pythia-v0] [--docs-figures]

1. Imports each published set into OUT/<source> when that run directory is absent
   (``tracker import table --published ...``, ``tracker import lm-eval --published ...``);
2. reads the points of the tasks it needs (tracker.points.read_run) and fits them with
   tracker.fit.table.fit_table, on subsets where the question needs one (OLMo-2 7B alone,
   13B alone, both pooled; open_lm with the corpus as the group);
3. prints every table as markdown (also written to OUT/real-families.md) and writes figures
   under OUT/figures; with --docs-figures copies the figures the doc embeds to docs/figures/.

Nothing here is timed as an assertion; the printed wall times are for the doc.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from tracker.cli import main as tracker
from tracker.fit.table import ThresholdTable, fit_table
from tracker.points import read_run
from tracker.report.figures import _loss_panel, figure_grid

ROOT = Path(__file__).resolve().parents[1]
IMPORTS = {"olmo": ["import", "table", "--published", "olmo-ladder"],
           "open-lm": ["import", "table", "--published", "open-lm-scaling"],
           "pythia-v0": ["import", "lm-eval", "--published", "pythia-v0"]}
OLMO2_MC = ("arc_easy_val", "csqa_val", "mmlu_stem_val", "mmlu_humanities_val",
            "mmlu_social_sciences_val", "mmlu_other_val")
CLOZE_METRICS = ("accuracy_norm", "accuracy", "p_correct", "log_p_correct",
                 "bits_per_byte_correct")
LADDER_TASKS = ("arc_easy_val_rc_5shot", "hellaswag_val_rc_5shot", "piqa_val_rc_5shot",
                "csqa_val_rc_5shot", "mmlu_stem_val_rc_5shot")
OPEN_LM_TASKS = ("arc_easy", "hellaswag", "piqa", "copa", "mmlu", "jeopardy",
                 "bigbench_qa_wikidata", "lambada_openai", "simple_arithmetic_nospaces")
PYTHIA_TASKS = ("lambada_openai", "arc_easy", "arc_challenge", "piqa", "sciq", "winogrande",
                "mmlu", "logiqa", "wsc")  # docs/pythia.md's v1 tasks
ZOOM = (3.2, 2.4)  # OLMo-2's trained checkpoints (c4_en nats per token)
DOC_FIGURES = ("olmo2-mc.png", "olmo2-cloze.png", "olmo-ladder.png", "open-lm.png",
               "pythia-v0.png")


def ensure_run(out: Path, source: str) -> Path:
    """OUT/<source>, imported from the shipped extract when absent."""
    run = out / source
    if not (run / "units").is_dir():
        started = time.perf_counter()
        code = tracker([*IMPORTS[source], "--run", str(run)])
        if code != 0:
            sys.exit(f"tracker {' '.join(IMPORTS[source])} exited {code}")
        print(f"<!-- imported {source} in {time.perf_counter() - started:.0f} s -->")
    return run


def points_of(run: Path, tasks) -> pd.DataFrame:
    points, _ = read_run(run, tasks=list(tasks))  # the imports carry no per-example rows
    return points[points["task"] != "validation"].reset_index(drop=True)


def fitted(points: pd.DataFrame, args) -> ThresholdTable:
    return fit_table(points, n_boot=args.boot, random_state=args.seed)


def num(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float | np.floating):
        return "inf" if math.isinf(value) and value > 0 else (
            "-inf" if math.isinf(value) else f"{value:.{digits}f}")
    return str(value)


def onset(row: pd.Series) -> str:
    if row["verdict"] not in ("emerges", "weak"):
        return ""
    return f"{num(row['threshold'])} [{num(row['ci_low'])}, {num(row['ci_high'])}]"


def markdown(frame: pd.DataFrame) -> str:
    head = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(num(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join([head, rule, *body])


class Output:
    """Tables to stdout and to OUT/real-families.md."""

    def __init__(self, path: Path):
        self.path = path
        self.parts: list[str] = []

    def add(self, text: str) -> None:
        print(text + "\n", flush=True)
        self.parts.append(text)
        self.path.write_text("\n\n".join(self.parts) + "\n")


def verdict_rows(table: ThresholdTable, subset: str) -> pd.DataFrame:
    frame = table.to_frame()
    ranges = {(row.task, row.metric): (row.points["loss"].min(), row.points["loss"].max())
              for row in table.rows}
    return pd.DataFrame({
        "task": frame["task"], "metric": frame["metric"], "models": subset,
        "points": frame["n_points"],
        "loss range": [f"{ranges[k][1]:.2f}-{ranges[k][0]:.2f}"
                       for k in zip(frame["task"], frame["metric"], strict=True)],
        "verdict": frame["label"], "onset [95% CI]": frame.apply(onset, axis=1),
        "plateau share": frame["plateau_share"], "baseline": frame["baseline"],
        "rise": frame["rise"], "ΔBIC": frame["delta_bic"],
        "plateau / no plateau": frame["best_plateau"] + " / " + frame["best_no_plateau"],
        "q": frame["q_value"], "reason": [row.fit.reason for row in table.rows]})


def panels(rows, path: Path, title: str, columns: int = 3,
           zoom: tuple[float, float] | None = None) -> Path:
    """tracker report's score-against-loss panels; ``zoom`` (high, low) limits the loss
    axis (the points outside are fitted, not drawn)."""
    figure, axes = figure_grid(len(rows), columns)
    for ax, row in zip(axes, rows, strict=True):
        _loss_panel(ax, row, _colours(row))
        if zoom is not None:
            ax.set_xlim(*zoom)
            inside = row.points[row.points["loss"].between(zoom[1], zoom[0])]["score"]
            pad = 0.05 * (inside.max() - inside.min())
            ax.set_ylim(inside.min() - pad, inside.max() + pad)
    figure.suptitle(title)
    figure.savefig(path)
    return path


def _colours(row) -> dict[str, tuple]:
    import matplotlib

    frame = row.points
    labels = (frame["family"].astype(str) + "/" + frame["size"].astype(str)).str.strip("/")
    order = (frame.assign(label=labels).groupby("label")["loss"].min()
             .sort_values(ascending=False).index.tolist())
    cmap = matplotlib.colormaps["viridis"]
    return {s: cmap(i / max(len(order) - 1, 1)) for i, s in enumerate(order)}


def olmo2(out: Path, args, output: Output) -> None:
    """Multiple-choice format against cloze, 7B alone, 13B alone and pooled."""
    run = ensure_run(out, "olmo")
    tasks = [f"{t}_{fmt}_5shot" for t in OLMO2_MC for fmt in ("mc", "rc")]
    started = time.perf_counter()
    points = points_of(run, tasks)
    # the two histories; the annealed 7B (one checkpoint, other data) is the forecast's target
    points = points[(points["family"] == "olmo-2") & points["size"].isin(["7B", "13B"])]
    trained = points[points["step"] > 0]  # step 0 (random weights) sits alone at loss 12.3-12.6
    subsets = {"7B": points[points["size"] == "7B"], "13B": points[points["size"] == "13B"],
               "7B+13B": points, "7B, step > 0": trained[trained["size"] == "7B"],
               "13B, step > 0": trained[trained["size"] == "13B"],
               "7B+13B, step > 0": trained}
    tables = {name: fitted(subset, args) for name, subset in subsets.items()}
    seconds = time.perf_counter() - started
    rows = pd.concat([verdict_rows(t, name) for name, t in tables.items()])
    rows = rows.sort_values(["task", "metric"], kind="stable")
    mc = rows[rows["task"].str.endswith("_mc_5shot")]
    output.add(f"### OLMo-2: multiple-choice format (loss c4_en, nats per token; "
               f"--boot {args.boot}; {seconds:.0f} s for all OLMo-2 fits)\n\n" + markdown(mc))
    output.add("#### Do the 7B and 13B onsets agree?\n\n" + markdown(agreement(tables)))
    pooled = ("7B+13B", "7B+13B, step > 0")  # the per-size cloze fits say the same
    cloze = rows[rows["task"].str.endswith("_rc_5shot") & rows["models"].isin(pooled)]
    output.add("### OLMo-2: cloze format and its continuous twins\n\n" + markdown(cloze))
    twins = pd.concat([tables[name].twins_frame().assign(models=name) for name in pooled])
    twins = twins[["task", "metric", "twin", "models", "verdict", "onset", "twin_onset", "gap",
                   "gap_low", "gap_high", "reason"]].sort_values(["task", "models"])
    output.add("#### Mirage test (twins.csv)\n\n" + markdown(twins))
    by = {(name, r.task, r.metric): r for name, t in tables.items() for r in t.rows}
    mc_rows = [by[(name, f"{t}_mc_5shot", m)] for t in OLMO2_MC[:3]
               for name in ("7B", "13B", "7B+13B") for m in ("accuracy", "accuracy_norm")
               if (name, f"{t}_mc_5shot", m) in by]
    panels(mc_rows, out / "figures" / "olmo2-mc.png",
           "OLMo-2 multiple-choice format: 7B, 13B, pooled (every checkpoint fitted; "
           "step 0, at loss 12.3-12.6, off the panel)", zoom=ZOOM)
    cloze_rows = [by[("7B+13B", "arc_easy_val_rc_5shot", m)] for m in CLOZE_METRICS
                  if ("7B+13B", "arc_easy_val_rc_5shot", m) in by]
    cloze_rows.insert(0, by[("7B+13B", "arc_easy_val_mc_5shot", "accuracy")])
    panels(cloze_rows, out / "figures" / "olmo2-cloze.png",
           "OLMo-2 ARC-Easy, 7B and 13B: multiple-choice accuracy, cloze accuracy and its "
           "twins (step 0 off the panel)", zoom=ZOOM)


def agreement(tables: dict[str, ThresholdTable]) -> pd.DataFrame:
    """Per multiple-choice series: the three onsets, whether 7B's and 13B's intervals
    overlap, and whether the pooled onset lies in both."""
    frames = {name: t.to_frame().set_index(["task", "metric"]) for name, t in tables.items()}
    records = []
    for key, suffix in ((k, s) for s in ("", ", step > 0") for k in frames["7B+13B"].index):
        if not key[0].endswith("_mc_5shot"):
            continue
        seven, thirteen, pooled = (frames[n + suffix].loc[key] for n in ("7B", "13B", "7B+13B"))
        both = all(r["verdict"] in ("emerges", "weak") for r in (seven, thirteen))
        overlap = (both and seven["ci_low"] <= thirteen["ci_high"]
                   and thirteen["ci_low"] <= seven["ci_high"])
        inside = both and pooled["verdict"] in ("emerges", "weak") and all(
            r["ci_low"] <= pooled["threshold"] <= r["ci_high"] for r in (seven, thirteen))
        records.append({"task": key[0], "metric": key[1],
                        "checkpoints": "step > 0" if suffix else "all",
                        "7B": onset(seven) or seven["label"],
                        "13B": onset(thirteen) or thirteen["label"],
                        "pooled": onset(pooled) or pooled["label"],
                        "intervals overlap": "yes" if overlap else ("no" if both else "n/a"),
                        "pooled onset in both": "yes" if inside else ("no" if both else "n/a"),
                        "same loss, same score (pooled)": pooled["same_loss_same_score"],
                        "largest offset [95% CI]": f"{num(pooled['size_offset'])} "
                        f"[{num(pooled['size_offset_ci_low'])}, "
                        f"{num(pooled['size_offset_ci_high'])}] at {pooled['size_offset_size']}"})
    return pd.DataFrame(records)


SIZE_VIEW = ["task", "metric", "label", "threshold", "ci_low", "ci_high",
             "same_loss_same_score", "size_model_preferred", "size_offset", "size_offset_size",
             "size_offset_ci_low", "size_offset_ci_high"]


def size_table(table: ThresholdTable, group: str) -> pd.DataFrame:
    frame = table.to_frame()
    return pd.DataFrame({
        "task": frame["task"], "metric": frame["metric"], "group": group,
        "points": frame["n_points"], "verdict": frame["label"],
        "onset [95% CI]": frame.apply(onset, axis=1),
        "same loss, same score": frame["same_loss_same_score"],
        "preferred": frame["size_model_preferred"],
        "largest offset [95% CI]": [f"{num(o)} [{num(lo)}, {num(hi)}]" if np.isfinite(o) else ""
                                    for o, lo, hi in zip(frame["size_offset"],
                                                         frame["size_offset_ci_low"],
                                                         frame["size_offset_ci_high"],
                                                         strict=True)],
        "at": frame["size_offset_size"]})


def regroup(points: pd.DataFrame, label: pd.Series, family: str) -> pd.DataFrame:
    """The same points with another group: family/size becomes family/label."""
    return points.assign(family=family, size=label.astype(str).to_numpy())


def ladder(out: Path, args, output: Output) -> None:
    """Same loss, same score across the ladder's 30 runs, then grouped by size and by
    token multiple."""
    run = ensure_run(out, "olmo")
    started = time.perf_counter()
    points = points_of(run, LADDER_TASKS)
    points = points[(points["family"] == "olmo-ladder")
                    & points["metric"].isin(["accuracy_norm", "accuracy", "p_correct"])]
    parts = points["size"].str.extract(r"^(?P<params>[0-9.]+[MB])-(?P<multiple>[0-9.]+xC)")
    views = {"run (30)": points,
             "size (5)": regroup(points, parts["params"], "olmo-ladder"),
             "multiple (5)": regroup(points, parts["multiple"], "olmo-ladder")}
    tables = {name: fitted(view, args) for name, view in views.items()}
    seconds = time.perf_counter() - started
    rows = pd.concat([size_table(t, name) for name, t in tables.items()])
    output.add(f"### OLMo ladder: same loss, same score (--boot {args.boot}; {seconds:.0f} s)"
               "\n\n" + markdown(rows.sort_values(["task", "metric"], kind="stable")))
    twins = pd.concat([t.twins_frame().assign(group=name) for name, t in tables.items()])
    output.add("#### Mirage test on the ladder (twins.csv)\n\n" + markdown(
        twins[["task", "metric", "twin", "group", "verdict", "onset", "twin_onset", "gap",
               "gap_low", "gap_high"]].sort_values(["task", "group"], kind="stable")))
    first = tables["size (5)"]
    panels([r for r in first.rows if r.metric != "p_correct"],
           out / "figures" / "olmo-ladder.png", "OLMo ladder: coloured by model size")


def open_lm(out: Path, args, output: Output) -> None:
    """Is the score a function of C4 loss alone across open_lm's three corpora?"""
    run = ensure_run(out, "open-lm")
    started = time.perf_counter()
    points = points_of(run, OPEN_LM_TASKS)
    by_corpus = regroup(points, points["family"].str.removeprefix("open-lm-"), "open-lm")
    table = fitted(by_corpus, args)
    seconds = time.perf_counter() - started
    output.add(f"### open_lm: corpus as the group (--boot {args.boot}; {seconds:.0f} s)\n\n"
               + markdown(size_table(table, "corpus (3)")))
    panels(list(table.rows)[:6], out / "figures" / "open-lm.png",
           "open_lm: final models coloured by training corpus")


def pythia_v0(out: Path, args, output: Output) -> None:
    """Thresholds and the same-loss table on WikiText bits per byte."""
    run = ensure_run(out, "pythia-v0")
    started = time.perf_counter()
    points = points_of(run, PYTHIA_TASKS)
    points = points[points["metric"] != "ppl"]  # LAMBADA's perplexity: greedy_match is kept
    table = fitted(points, args)
    seconds = time.perf_counter() - started
    view = pd.concat([verdict_rows(table, "all 10 runs").drop(columns=["models"]),
                      size_table(table, "run")[["same loss, same score", "preferred",
                                                "largest offset [95% CI]", "at"]]], axis=1)
    output.add(f"### Pythia v0 on WikiText bits per byte (--boot {args.boot}; {seconds:.0f} s)"
               "\n\n" + markdown(view))
    twins = table.twins_frame()
    if not twins.empty:
        output.add("#### Mirage test\n\n" + markdown(
            twins[["task", "metric", "twin", "verdict", "onset", "twin_onset", "gap", "reason"]]))
    panels([r for r in table.rows if r.metric in ("accuracy", "acc_norm")][:6],
           out / "figures" / "pythia-v0.png", "Pythia v0: score against WikiText bits per byte")


ANALYSES = {"olmo2": olmo2, "ladder": ladder, "open-lm": open_lm, "pythia-v0": pythia_v0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "real-families")
    parser.add_argument("--boot", type=int, default=400, help="joint bootstrap replicates")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default=",".join(ANALYSES),
                        help=f"comma-separated analyses of {', '.join(ANALYSES)}")
    parser.add_argument("--docs-figures", action="store_true",
                        help="copy the figures the doc embeds to docs/figures/real-families-*")
    args = parser.parse_args(argv)
    (args.out / "figures").mkdir(parents=True, exist_ok=True)
    output = Output(args.out / "real-families.md")
    for name in args.only.split(","):
        started = time.perf_counter()
        ANALYSES[name](args.out, args, output)
        print(f"<!-- {name}: {time.perf_counter() - started:.0f} s -->\n", flush=True)
    if args.docs_figures:
        for figure in DOC_FIGURES:
            source = args.out / "figures" / figure
            if source.exists():  # a 256-colour palette: a third of the size, same picture
                with Image.open(source) as image:
                    image.convert("RGB").quantize(256).save(
                        ROOT / "docs" / "figures" / f"real-families-{figure}", optimize=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
