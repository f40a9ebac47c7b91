"""The setup of Bhagia et al. 2024 ("Establishing Task Scaling Laws via Compute-Efficient
Model Ladders", arXiv 2412.04403) on the OLMo ladder as `tracker import table --published
olmo-ladder` stores it, and their published predictions to check a reproduction against.

Every fact here is read from allenai/OLMo-ladder at commit 67a3f44
(src/scripts/paper/README.md, configs/final.json, src/scaling/utils.py,
src/scripts/paper/figures/chained_main.csv):

- fit on the ladder's 190M, 370M, 760M and 1B runs at 1, 2, 5 and 10x Chinchilla tokens;
- targets OLMo-2 7B after its anneal (N = 6,887,575,552, D = 3,945,065,873,408) and 13B
  (N = 13,202,396,160, D = 5,000,088,518,656), the truth the mean of their last 5
  evaluations (one for the annealed 7B);
- 8 tasks, cloze (rc) format, length-normalised accuracy; MMLU the mean of its four test
  subject groups weighted 0.215, 0.335, 0.219, 0.231;
- step 1 on each task's bits per byte of the correct answer; step 2 the sigmoid with the
  first 10% of each run's evaluations left out and a moving average over 5.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from tracker.forecast.feature import combine_tasks
from tracker.forecast.score import LADDER_SIGMOID

FAMILY = "olmo-ladder"
FIT_RUNS = tuple(f"{FAMILY}/{size}-{multiple}xC" for size in ("190M", "370M", "760M", "1B")
                 for multiple in (1, 2, 5, 10))
TARGETS = ("olmo-2/7B-anneal", "olmo-2/13B")
MMLU = "mmlu_avg_test_rc_5shot"
MMLU_WEIGHTS = {"mmlu_stem_test_rc_5shot": 0.215, "mmlu_humanities_test_rc_5shot": 0.335,
                "mmlu_social_sciences_test_rc_5shot": 0.219,
                "mmlu_other_test_rc_5shot": 0.231}
TASKS = (MMLU, "hellaswag_val_rc_5shot", "arc_challenge_test_rc_5shot",
         "arc_easy_test_rc_5shot", "piqa_val_rc_5shot", "csqa_val_rc_5shot",
         "socialiqa_val_rc_5shot", "openbookqa_test_rc_5shot")
METRIC = "accuracy_norm"
TASK_LOSS = "bits_per_byte_correct"
# chained_main.csv: the 13B-5T predictions of the paper's own code (its 7B ones are not
# published as a file); a reproduction must match them.
PUBLISHED_13B = {MMLU: 0.5126799915287485, "hellaswag_val_rc_5shot": 0.8530359563499285,
                 "arc_challenge_test_rc_5shot": 0.5267099358093748,
                 "arc_easy_test_rc_5shot": 0.7724156000459201,
                 "piqa_val_rc_5shot": 0.820804177694882, "csqa_val_rc_5shot": 0.7760887505172276,
                 "socialiqa_val_rc_5shot": 0.5994822062474122,
                 "openbookqa_test_rc_5shot": 0.4486477676972386}


@dataclass(frozen=True)
class Protocol:
    """The choices of a two-step forecast that tracker.forecast.forecast takes."""

    name: str
    feature: str
    curves: tuple[str, ...]
    skip: float = 0.1
    window: int = 5

    def options(self) -> dict:
        return {"feature": self.feature, "curves": self.curves, "skip": self.skip,
                "window": self.window}


PAPER = Protocol("Bhagia et al. 2024", TASK_LOSS, (LADDER_SIGMOID,))


def paper_points(points: pd.DataFrame) -> pd.DataFrame:
    """The points a forecast of the paper's table needs: the 8 tasks (MMLU combined) with
    their accuracy and task loss, the validation series, on the fit runs and targets."""
    combined = combine_tasks(points[points["metric"].isin([METRIC, TASK_LOSS])], MMLU,
                             MMLU_WEIGHTS)
    frame = pd.concat([points, combined], ignore_index=True)
    labels = frame["family"] + "/" + frame["size"]
    keep = (labels.isin([*FIT_RUNS, *TARGETS])
            & (frame["task"].isin(TASKS) & frame["metric"].isin([METRIC, TASK_LOSS])
               | (frame["task"] == "validation")))
    return frame[keep].reset_index(drop=True)
