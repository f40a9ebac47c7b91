"""Pythia's published zero-shot evaluations, analysed with tracker: the numbers and figures
of docs/pythia.md.

    .venv/bin/python bench/pythia_published.py [--run runs/pythia-published] [--boot 200]

1. ``tracker import lm-eval --published pythia-v1`` (432 files shipped with tracker; loss =
   the labelled proxy ln LAMBADA perplexity);
2. ``tracker report --tasks ...`` on every checkpoint;
3. the same fit on checkpoints at step >= 1000 only (``tracker fit --points``): the
   published steps leave a gap in the proxy loss between step 512 and step 1000;
4. prints both tables (markdown) and copies two score-against-loss figures to
   docs/figures/.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import pandas as pd

from tracker.cli import main as tracker

ROOT = Path(__file__).resolve().parents[1]
TASKS = ("lambada_openai", "arc_easy", "arc_challenge", "piqa", "sciq", "winogrande", "mmlu",
         "logiqa", "wsc")
FIGURES = {"arc_easy": "pythia-arc-easy.png", "logiqa": "pythia-logiqa.png"}
COLUMNS = ["task", "metric", "label", "threshold", "ci_low", "ci_high", "width", "baseline",
           "baseline_at_chance", "model", "best_no_plateau", "delta_bic", "q_value",
           "same_loss_same_score", "size_model_preferred", "size_offset",
           "size_offset_ci_low", "size_offset_ci_high", "size_offset_size"]
TWIN_COLUMNS = ["task", "metric", "twin", "verdict", "gap", "gap_low", "gap_high", "reason"]


def run(command: list[str]) -> None:
    code = tracker(command)
    if code != 0:
        sys.exit(f"tracker {' '.join(command)} exited {code}")


def show(title: str, path: Path) -> None:
    table = pd.read_csv(path)
    emerging = table["verdict"].isin(["emerges", "weak"])
    for column in ("threshold", "ci_low", "ci_high", "width"):
        table[column] = table[column].where(emerging)
    table["baseline_at_chance"] = table["baseline_at_chance"].map(
        {True: "yes", False: "no"}).fillna("-")
    print(f"\n### {title}\n")
    print(table[COLUMNS].to_markdown(index=False, floatfmt=".3f"))
    twins = pd.read_csv(path.with_name("twins.csv"))[TWIN_COLUMNS]
    print(f"\n### {title}: the mirage test\n")
    print(twins.to_markdown(index=False, floatfmt=".3f"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/pythia-published"))
    parser.add_argument("--boot", type=int, default=200)
    args = parser.parse_args()
    run(["import", "lm-eval", "--published", "pythia-v1", "--run", str(args.run), "--quiet"])
    tasks = ",".join(TASKS)
    run(["report", "--run", str(args.run), "--tasks", tasks, "--boot", str(args.boot)])
    show("All 432 checkpoints", args.run / "thresholds.csv")
    for task, name in FIGURES.items():
        figure = next((args.run / "figures").glob(f"*_{task}_loss.png"))
        target = ROOT / "docs" / "figures" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(figure, target)
        print(f"\nfigure: {target.relative_to(ROOT)}")

    later = args.run / "from-step-1000"
    run(["export", "--run", str(args.run), "--out", str(later / "points-all.csv")])
    points = pd.read_csv(later / "points-all.csv")
    points = points[(points["step"] >= 1000) & points["task"].isin([*TASKS, "validation"])]
    points.to_csv(later / "points.csv", index=False)
    run(["fit", "--points", str(later / "points.csv"), "--out", str(later),
         "--boot", str(args.boot)])
    show("Checkpoints at step >= 1000 (after the gap in proxy loss)", later / "thresholds.csv")


if __name__ == "__main__":
    main()
