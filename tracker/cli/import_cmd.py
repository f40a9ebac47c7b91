"""``tracker import lm-eval`` and ``tracker import table``: results computed elsewhere into a
run store (tracker.imports)."""

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
--loss-from lambada_openai:ppl unless told otherwise. --published pythia-v0 imports the
150 files of Pythia's first (v0) runs that hold WikiText (Apache-2.0): families pythia-v0
and pythia-v0-deduped, 160m-12b, with the real loss loss_wikitext_bits_per_byte, and tokens
seen from each file's train_iters (the small v0 models took 71,500 steps of twice the
batch: compare sizes by tokens)."""

TABLE_DESCRIPTION = """\
Import per-checkpoint tables (one row per step, one column per metric: W&B or TensorBoard
CSV exports, OLMo eval CSVs; .csv, .csv.gz, .csv.xz) into the run store, one unit per
(checkpoint, task) plus one per checkpoint for the loss, beside `tracker eval`'s units;
`tracker status/export/fit/report --run DIR` read them. Re-importing imports nothing.

--map MAP.yaml says what the columns are (docs/imports.md; examples in configs/imports/):
family and size (one for every file, or from the file name by regexes), the step, tokens
and parameter columns, the loss columns (a regex naming the validation set) and their
unit (nats_per_token or bits_per_byte), the (task, metric) columns by regexes, and each
task's chance level and example count (or unknown). Unknown keys are refused.

The loss axis: --loss SET picks the validation set (default: the map's 'default'); it is
stored as loss_<set>_<unit>, which names every axis and CSV column. A run directory holds
one loss: an import whose set, unit or tokenizer differs from the run's is refused.

Published sets (shipped, offline; licences in tracker/data/NOTICE):
  olmo-ladder      allenai/OLMo-ladder (Apache-2.0): Bhagia et al. 2024's 30 ladder runs
                   (190M-3B x 0.5-10x Chinchilla tokens) and OLMo-2 7B and 13B, every
                   checkpoint, 11 validation losses (default c4_en, nats per token)
  open-lm-scaling  mlfoundations/scaling (MIT): Gadre et al. 2024's 104 final models on
                   C4, RedPajama, RefinedWeb (families open-lm-<corpus>), 8 validation
                   losses (default c4_val, nats per token), 46 tasks
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("import", help="import results computed elsewhere (lm-eval "
                                   "files, per-checkpoint tables)")
    sources = parser.add_subparsers(dest="source", metavar="SOURCE", required=True)
    lmeval = sources.add_parser(
        "lm-eval", help="lm-eval result files into a run store", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    lmeval.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                        help="result files or directories (searched recursively)")
    lmeval.add_argument("--published", choices=["pythia-v1", "pythia-v0"],
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
    _register_table(sources)


def _register_table(sources: argparse._SubParsersAction) -> None:
    table = sources.add_parser(
        "table", help="per-checkpoint tables (W&B / OLMo CSVs) through a mapping file",
        description=TABLE_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    table.add_argument("paths", nargs="*", type=Path, metavar="FILE",
                       help="table files (CSV, optionally compressed)")
    table.add_argument("--map", type=Path, metavar="MAP.yaml",
                       help="the mapping file (required with FILEs)")
    table.add_argument("--published", choices=["olmo-ladder", "open-lm-scaling"],
                       help="a published set shipped with tracker instead of FILEs")
    table.add_argument("--run", type=Path, required=True, help="run directory")
    table.add_argument("--loss", metavar="SET",
                       help="the validation set of the loss axis (default: the map's)")
    table.add_argument("--quiet", action="store_true", help="no progress bar")
    table.set_defaults(func=run_table)


def run_table(args: argparse.Namespace) -> int:
    from tracker.imports.published_tables import published_map, published_tables
    from tracker.imports.table import read_sources
    from tracker.imports.table_import import TableOptions, import_tables
    from tracker.imports.table_map import load_map

    if bool(args.paths) == bool(args.published):
        raise TrackerError("give table files with --map MAP.yaml, or --published NAME "
                           "(not both)")
    if args.published:
        table_map = load_map(args.map) if args.map else published_map(args.published)
        sources = published_tables(args.published)
    elif args.map is None:
        raise TrackerError("--map MAP.yaml is required with table files (see docs/imports.md "
                           "and configs/imports/ for examples)")
    else:
        table_map, sources = load_map(args.map), read_sources(args.paths)
    options = TableOptions(loss_set=args.loss, progress=not args.quiet and sys.stderr.isatty())
    summary = import_tables(sources, table_map, args.run, options)
    print(f"imported {summary.imported} units, {summary.skipped} already stored "
          f"({summary.files} files, {summary.checkpoints} checkpoints) into {args.run}")
    print(f"loss axis: {summary.loss_metric}")
    return 0


def run(args: argparse.Namespace) -> int:
    from tracker.imports import ImportOptions, import_lmeval, import_published

    if bool(args.paths) == bool(args.published):
        raise TrackerError("give result files or directories, or --published pythia-v1 / "
                           "pythia-v0 (not both)")
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
