"""``tracker train``: build the corpus and tokenizer, train every size, score every checkpoint."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="train a ladder of small models here, scoring every checkpoint")
    parser.add_argument("--config", type=Path, default=Path("configs/ladder.yaml"),
                        help="training config (default configs/ladder.yaml)")
    parser.add_argument("--run", type=Path,
                        help="run directory: data, tokenizer, checkpoints and the unit store "
                             "(default: the config's run_dir)")
    parser.add_argument("--corpus", type=Path,
                        help="a directory of .txt files to train on instead of the Debian text")
    parser.add_argument("--seed", type=int,
                        help="training seed: model initialisation and the order of the blocks "
                             "(default: the config's training.seed; the corpus split and the "
                             "problems drawn follow the config's top-level seed)")
    parser.add_argument("--deterministic", action="store_true",
                        help="float32, deterministic kernels, fixed threads: a size trained "
                             "twice on this machine gives byte-identical checkpoints (slower "
                             "than bf16 autocast where this CPU runs bf16 fast)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tracker.train.config import load_ladder_config
    from tracker.train.ladder import train_ladder, with_seed
    from tracker.train.precision import resolved_precision

    config, why = resolved_precision(with_seed(load_ladder_config(args.config), args.seed,
                                               deterministic=args.deterministic))
    print(f"training precision: {why}", flush=True)
    run_dir = args.run or Path(config.run_dir)
    started = time.perf_counter()
    checkpoints = train_ladder(config, run_dir=run_dir, corpus=args.corpus,
                               progress=not args.quiet)
    minutes = (time.perf_counter() - started) / 60
    print(f"trained {len(config.sizes)} sizes in {minutes:.1f} min; checkpoints: {checkpoints}")
    print(f"scores: {run_dir} (tracker status --run {run_dir}; "
          f"tracker eval --family {checkpoints} --run {run_dir} to fit and report)")
    return 0

