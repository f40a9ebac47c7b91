"""``tracker import lm-eval``: lm-eval result files into a run store (tracker.imports)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tracker.errors import TrackerError

DESCRIPTION = """\
Import lm-eval results (0.4.x results_*.json with their samples_*.jsonl logs, or the
older {results, versions, config} files) into the run store, one unit per (checkpoint,
task), beside `tracker eval`'s units; `tracker status/export/fit/report --run DIR` read
them. Re-importing the same files imports nothing.

Checkpoint of a file: from config.model_args (pretrained=ORG/REPO,revision=stepN: a repo
that matches a family file's repo pattern maps to that family and size; a local
pretrained=PATH/<size>/step<N> maps to family = PATH's directory name), else from its
path by --pattern. The default pattern reads <model>-<size>[-<variant>]/.../...step<N>...json
(pythia-160m-deduped/zero-shot/160m-deduped_step3000.json -> pythia-deduped, 160m, 3000).

Example counts: n-samples, else the sample log, else (Pythia's published files) the
standard error of a 0/1 metric such as accuracy: n = p(1-p)/se^2 + 1, rounded (lm-eval's
se^2 = p(1-p)/(n-1)); a task whose accuracy is 0 or 1 takes its count from the other files.

MMLU's subjects (hendrycksTest-*, mmlu_*) are also pooled into a task 'mmlu' (example-
weighted mean, pooled standard error, as lm-eval's group).

Loss (the x axis): --losses FILE.csv (family,size,step,loss), or --loss-from TASK:METRIC
(a proxy: ln of a perplexity, e.g. lambada_openai:ppl -> proxy_ln_lambada_openai_ppl;
log-scale metrics such as bits_per_byte as they are). --published pythia-v1 imports
Pythia's published zero-shot results shipped with tracker (432 files, Apache-2.0) with
--loss-from lambada_openai:ppl unless told otherwise."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("import", help="import results computed elsewhere (lm-eval)")
    sources = parser.add_subparsers(dest="source", metavar="SOURCE", required=True)
    lmeval = sources.add_parser(
        "lm-eval", help="lm-eval result files into a run store", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    lmeval.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                        help="result files or directories (searched recursively)")
    lmeval.add_argument("--published", choices=["pythia-v1"],
                        help="a published set shipped with tracker instead of PATHs")
    lmeval.add_argument("--run", type=Path, required=True, help="run directory")
    lmeval.add_argument("--family", help="family name for every file (default: from the file)")
    lmeval.add_argument("--pattern", help="regex over result paths with named groups family, "
                                          "size and step (or model and step)")
    loss = lmeval.add_mutually_exclusive_group()
    loss.add_argument("--losses", type=Path, metavar="FILE.csv",
                      help="losses per checkpoint: columns family,size,step,loss")
    loss.add_argument("--loss-from", metavar="TASK:METRIC",
                      help="a proxy loss from the results, e.g. lambada_openai:ppl")
    lmeval.add_argument("--quiet", action="store_true", help="no progress bar")
    lmeval.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tracker.imports import ImportOptions, import_lmeval, import_published

    if bool(args.paths) == bool(args.published):
        raise TrackerError("give result files or directories, or --published pythia-v1 "
                           "(not both)")
    options = ImportOptions(family=args.family, pattern=args.pattern, losses=args.losses,
                            loss_from=args.loss_from,
                            progress=not args.quiet and sys.stderr.isatty())
    if args.published:
        summary = import_published(args.published, args.run, options)
    else:
        summary = import_lmeval(args.paths, args.run, options)
    for note in summary.notes:
        print(f"tracker: note: {note}", file=sys.stderr)
    print(f"imported {summary.imported} units, {summary.skipped} already stored "
          f"({summary.files} files, {summary.checkpoints} checkpoints) into {args.run}")
    if summary.loss_metric is None:
        print("no loss imported: `tracker fit` and `tracker report` need one; import again "
              "with --losses FILE.csv or --loss-from TASK:METRIC (e.g. lambada_openai:ppl)")
    else:
        print(f"loss axis: {summary.loss_metric}")
    return 0
