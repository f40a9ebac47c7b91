"""``tracker train``: corpus, tokenizer, then every size of the ladder with transformers.Trainer.

Each size trains on the same blocks in the same order. At every step of the schedule
(step 0, powers of two, then every N) the model is saved as a Hugging Face checkpoint
(safetensors, float32, with its tokenizer) in the local-family layout
``<run_dir>/checkpoints/<size>/step<N>/`` with ``tracker_checkpoint.json``
(``{"tokens_seen": ...}``), and scored at once through the training hook
(:func:`tracker.hooks.evaluate_model`) into the run's store, as ``tracker eval --family
ladder`` would score it. Training mixes bf16 autocast with float32 master weights (faster
on this CPU, see bench/bench_train.py); checkpoints and scores are float32.
``training.deterministic`` (``tracker train --deterministic``) trains in float32 with
deterministic kernels and a fixed number of threads instead: the same size trained twice on
one machine gives byte-identical checkpoints.

Validation: ``<run>/data/validation.jsonl`` holds the held-out text documents and
``<run>/data/validation_mixture.jsonl`` the same documents plus held-out problem sheets in
the training proportions (Du et al.'s pre-training loss; its problems are never trained on).

A size whose last checkpoint exists is skipped, so an interrupted ``tracker train`` resumes
at the first unfinished size (which restarts from step 0).

Example:
    >>> train_from_config(Path("configs/ladder.yaml"),
    ...                   run_dir=Path("runs/ladder"))  # doctest: +SKIP
    PosixPath('runs/ladder/checkpoints')
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import PreTrainedTokenizerFast, TrainerCallback

from tracker.evals.interface import Evaluation
from tracker.evals.validation import ValidationLoss, load_validation
from tracker.hooks import build_evaluations
from tracker.store.run_store import RunStore
from tracker.store.units import slug
from tracker.train.config import LadderConfig, SizeSpec, load_ladder_config
from tracker.train.corpus import CorpusFiles, build_corpus
from tracker.train.layout import LadderRun
from tracker.train.loop import train_size
from tracker.train.mixture import (
    TrainingBlocks,
    build_blocks,
    held_out_prompts,
    mixture_validation,
)
from tracker.train.precision import resolved_precision
from tracker.train.tokenizer import sample_for_tokenizer, train_tokenizer
from tracker.train.workers import train_sizes

LOG = logging.getLogger(__name__)
MIXTURE_VALIDATION = "data/validation_mixture.jsonl"  # relative to the run directory


def train_from_config(config_path: Path, *, run_dir: Path, corpus: Path | None = None,
                      progress: bool = True) -> Path:
    """Train every size of the config's ladder that is not trained yet; return the
    checkpoints directory (``<run_dir>/checkpoints``)."""
    config = load_ladder_config(config_path)
    return train_ladder(config, run_dir=run_dir, corpus=corpus, progress=progress)


def train_ladder(config: LadderConfig, *, run_dir: Path, corpus: Path | None = None,
                 root: Path = Path("/"), progress: bool = True) -> Path:
    """See :func:`train_from_config`; ``root`` is where Debian's files are (tests)."""
    if config.training.precision == "auto":
        config, why = resolved_precision(config)
        LOG.info("training precision: %s", why)
    run = LadderRun(config, Path(run_dir))
    configure_torch(config)
    files = build_corpus(config.corpus, run.run_dir, seed=config.seed, corpus_dir=corpus,
                         root=root)
    todo = [spec for spec in config.sizes if not run.is_trained(spec.label)]
    if not todo:
        return run.checkpoints
    tokenizer = prepare_tokenizer(run, files)
    tasks = build_evaluations(files.validation, config.evaluation.tasks)[1:]
    validation_prompts = write_mixture_validation(run, files, tokenizer, tasks)
    blocks = training_blocks(run, files, tokenizer, tasks, also_held_out=validation_prompts)
    train_sizes(run, todo, blocks, train_one, progress=progress)
    return run.checkpoints


def train_one(run: LadderRun, spec: SizeSpec, blocks: TrainingBlocks, *, progress: bool,
              position: int = 0, callbacks: Sequence[TrainerCallback] = ()) -> None:
    """Forget what is stored for one size, then train it from step 0 (the tokenizer and
    evaluations read from the run directory: the same in a worker process)."""
    tokenizer = PreTrainedTokenizerFast.from_pretrained(run.tokenizer_dir)
    forget_size(run, spec.label)
    train_size(run, spec, tokenizer, blocks, ladder_evaluations(run.config, run.run_dir),
               second_validation=second_validation(run.config, run.run_dir),
               progress=progress, position=position, callbacks=callbacks)


def with_seed(config: LadderConfig, seed: int | None = None, *,
              deterministic: bool = False) -> LadderConfig:
    """The config with ``training.seed`` (initialisation, block order) replaced and/or
    deterministic training switched on (``tracker train --seed / --deterministic``)."""
    update: dict = {}
    if seed is not None:
        update["seed"] = seed
    if deterministic:
        update["deterministic"] = True
    if not update:
        return config
    return config.model_copy(update={"training": config.training.model_copy(update=update)})


def configure_torch(config: LadderConfig) -> None:
    """Threads for the corpus, tokenizer and blocks (``training.threads``); the sizes'
    threads and deterministic kernels are set where they train
    (:func:`tracker.train.workers.use_threads`)."""
    if config.training.threads:
        torch.set_num_threads(config.training.threads)


def write_mixture_validation(run: LadderRun, files: CorpusFiles, tokenizer,
                             tasks: Sequence[Evaluation]) -> set[str]:
    """Write ``<run>/data/validation_mixture.jsonl`` (rewritten only when its content
    changes) and return its problems' prompts, which training holds out."""
    text = [json.loads(line)["text"]
            for line in files.validation.read_text("utf-8").splitlines() if line.strip()]
    documents, prompts = mixture_validation(text, tokenizer, run.config.mixture,
                                            seed=run.config.seed,
                                            held_out_prompts=held_out_prompts(tasks))
    content = "".join(json.dumps({"text": d}, ensure_ascii=False) + "\n" for d in documents)
    path = run.run_dir / MIXTURE_VALIDATION
    if not path.is_file() or path.read_text("utf-8") != content:
        path.write_text(content, encoding="utf-8")
    return prompts


def forget_size(run: LadderRun, size: str) -> None:
    """Remove a size's checkpoints and stored units before it is trained (again): units
    are keyed by family, size and step, so scores of an earlier, unfinished model of the
    same name would otherwise stand for the new one."""
    shutil.rmtree(run.checkpoints / size, ignore_errors=True)
    units = RunStore(run.run_dir).units_dir / slug(run.config.name) / slug(size)
    shutil.rmtree(units, ignore_errors=True)


def ladder_evaluations(config: LadderConfig, run_dir: Path) -> list[Evaluation]:
    """The validation loss and tasks the ladder is scored on, built one way for the hook
    and for ``tracker eval --family ladder`` so their unit keys agree."""
    validation = Path(run_dir) / config.evaluation.validation
    return build_evaluations(validation, config.evaluation.tasks)


def second_validation(config: LadderConfig, run_dir: Path, context_length: int | None = None
                      ) -> Evaluation | None:
    """The second validation loss (``evaluation.second_validation``: the text alone, beside
    the mixture), as the hook scores it and ``tracker eval`` plans it."""
    name = config.evaluation.second_validation
    return None if name is None else ValidationLoss(load_validation(Path(run_dir) / name),
                                                    context_length)


def prepare_tokenizer(run: LadderRun, files: CorpusFiles) -> PreTrainedTokenizerFast:
    """Train the BPE tokenizer on the training text, or reuse the one trained on the same
    corpus with the same settings."""
    stamp = {"corpus": json.loads(files.manifest.read_text("utf-8"))["identity"],
             "tokenizer": run.config.tokenizer.model_dump()}
    stamp_path = run.tokenizer_dir / "tracker_tokenizer.json"
    if stamp_path.is_file() and json.loads(stamp_path.read_text("utf-8")) == stamp:
        return PreTrainedTokenizerFast.from_pretrained(run.tokenizer_dir)
    documents = sample_for_tokenizer(files.train_documents(), run.config.tokenizer.training_bytes)
    tokenizer = train_tokenizer(documents, vocab_size=run.config.tokenizer.vocab_size)
    tokenizer.save_pretrained(run.tokenizer_dir)
    stamp_path.write_text(json.dumps(stamp, indent=1), encoding="utf-8")
    return tokenizer


def training_blocks(run: LadderRun, files: CorpusFiles, tokenizer,
                    tasks: Sequence[Evaluation], *, also_held_out: set[str] | None = None
                    ) -> TrainingBlocks:
    training = run.config.training
    return build_blocks(
        files.train_documents(), tokenizer, run.config.mixture,
        n_blocks=training.max_steps * training.batch_size,
        context_length=training.context_length, seed=run.config.seed,
        held_out_prompts=held_out_prompts(tasks) | (also_held_out or set()),
    )
