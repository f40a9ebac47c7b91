"""Importing results computed elsewhere into a run store: lm-eval's result files.

``tracker import lm-eval PATH... --run DIR`` (or ``--published pythia-v1``) turns each
(checkpoint, task) of lm-eval output into a unit of the store ``tracker eval`` writes, so
``tracker status / export / fit / report`` read them unchanged and a re-import changes
nothing (the same results give the same unit keys, which are skipped).

- Files: lm-eval 0.4.x ``results_<datetime>.json`` with their ``samples_<task>_*.jsonl``
  logs, and the older ``{results, versions, config}`` files (Pythia's published results):
  :mod:`tracker.imports.files`.
- Checkpoints: (family, size, step) from ``model_args`` (hub repo and revision, or a local
  ``PATH/<size>/step<N>``), else from the path by ``--pattern``:
  :mod:`tracker.imports.checkpoints`.
- Scores: lm-eval's metric names mapped onto tracker's, per-example rows rebuilt from the
  sample logs (p_correct, brier from the choices' log-likelihoods), example counts from
  ``n-samples``, the logs or the standard errors (n = p(1-p)/se^2 + 1), MMLU's subjects
  pooled into a task ``mmlu`` as lm-eval's group does: :mod:`tracker.imports.scores`.
- The loss axis: a unit with task ``validation`` per checkpoint whose one metric is
  ``loss`` (``--losses FILE.csv``, columns family,size,step,loss) or a labelled proxy
  (``--loss-from TASK:METRIC``: ``proxy_ln_<task>_<metric>`` = ln(perplexity) for
  perplexities, ``proxy_<task>_<metric>`` as it is for log-scale metrics such as
  bits_per_byte); lower is better, no chance level. Without either, tasks are imported and
  fit/report wait for a loss. :mod:`tracker.imports.lmeval`.
"""

from tracker.imports.lmeval import (
    ImportOptions,
    ImportSummary,
    import_lmeval,
    import_published,
    import_sources,
)

__all__ = ["ImportOptions", "ImportSummary", "import_lmeval", "import_published",
           "import_sources"]
