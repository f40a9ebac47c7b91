"""The training mixture: blocks of text and blocks of generated problems (arithmetic, copying).

Problems are rendered by the tasks' own generators (:mod:`tracker.tasks.generators`), so
training and evaluation share one format (``Q: What is 80 plus 29?\\nA: 109``,
``Copy: q x b\\nA: q x b``). Problems
are grouped into short "sheets" of several problems separated by a blank line (the tasks'
few-shot separator), each sheet starting after an end-of-text token as a document does, so
the first problem of a sheet looks exactly like a zero-shot evaluation prompt.

Problems that appear in the evaluation tasks or in the mixture validation set are never
trained on (held out by prompt), so exact match measures arithmetic, not recall of the
test set, and the validation loss is a held-out loss.

The mixture validation set (:func:`mixture_validation`) is Du et al.'s pre-training loss:
the held-out text documents plus held-out problem sheets, in the training proportions
(problem tokens / text tokens = f / (1 - f) for the fraction f of problem blocks).

Every size of a ladder trains on the same blocks in the same order (Pythia's convention):
the blocks depend only on the corpus, the tokenizer, the mixture and the seed.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from tracker.tasks.generators import CopySpec, arithmetic_examples, copy_examples, example_text
from tracker.train.config import MixtureConfig, ProblemSpec

PROBLEMS_PER_SHEET = (4, 12)  # inclusive range, drawn uniformly per sheet
SHEET_SEPARATOR = "\n\n"
TOKENS_PER_PROBLEM_GUESS = 12  # only sizes the first draw; more are drawn if short


@dataclass(frozen=True)
class TrainingBlocks:
    """``tokens``: int32 array [n_blocks, context_length]; ``is_arithmetic``: bool [n_blocks]."""

    tokens: np.ndarray
    is_arithmetic: np.ndarray

    @property
    def arithmetic_fraction(self) -> float:
        return float(self.is_arithmetic.mean()) if len(self.is_arithmetic) else 0.0


def build_blocks(text_documents: Sequence[str], tokenizer, mixture: MixtureConfig, *,
                 n_blocks: int, context_length: int, seed: int,
                 held_out_prompts: Collection[str] = ()) -> TrainingBlocks:
    """``n_blocks`` training blocks; a fraction ``mixture.arithmetic_fraction`` of them
    (chosen at random, seeded) are arithmetic, the rest consecutive text."""
    rng = np.random.default_rng(seed)
    use_arithmetic = bool(mixture.problems) and mixture.arithmetic_fraction > 0
    is_arithmetic = (rng.random(n_blocks) < mixture.arithmetic_fraction) if use_arithmetic \
        else np.zeros(n_blocks, dtype=bool)
    n_arithmetic = int(is_arithmetic.sum())
    text = token_stream(text_documents, tokenizer)
    tokens = np.empty((n_blocks, context_length), dtype=np.int32)
    tokens[~is_arithmetic] = _chunks(text, n_blocks - n_arithmetic, context_length)
    if n_arithmetic:
        needed = n_arithmetic * context_length
        problems = arithmetic_stream(mixture.problems, tokenizer, needed, rng=rng,
                                     held_out_prompts=held_out_prompts)
        tokens[is_arithmetic] = _chunks(problems, n_arithmetic, context_length)
    return TrainingBlocks(tokens, is_arithmetic)


def token_stream(documents: Sequence[str], tokenizer) -> np.ndarray:
    """All documents' tokens, each preceded by end-of-text, as one int32 array."""
    if not documents:
        return np.zeros(0, dtype=np.int32)
    eos = tokenizer.eos_token_id
    encoded = tokenizer(list(documents), add_special_tokens=False)["input_ids"]
    return np.fromiter((t for ids in encoded for t in (eos, *ids)), dtype=np.int32)


def arithmetic_stream(specs: Sequence[ProblemSpec], tokenizer, n_tokens: int, *,
                      rng: np.random.Generator, held_out_prompts: Collection[str] = ()
                      ) -> np.ndarray:
    """At least ``n_tokens`` tokens of problem sheets (specs mixed by weight)."""
    pieces: list[np.ndarray] = []
    total = 0
    while total < n_tokens:
        n_problems = max(64, (n_tokens - total) // TOKENS_PER_PROBLEM_GUESS)
        texts = arithmetic_texts(specs, n_problems, rng=rng, held_out_prompts=held_out_prompts)
        sheets = _sheets(texts, rng)
        piece = token_stream(sheets, tokenizer)
        pieces.append(piece)
        total += len(piece)
    return np.concatenate(pieces)


def arithmetic_texts(problems: Sequence[ProblemSpec], n_problems: int, *,
                     rng: np.random.Generator, held_out_prompts: Collection[str] = ()
                     ) -> list[str]:
    """About ``n_problems`` rendered problems, each spec drawn in proportion to its weight,
    shuffled together; held-out prompts are dropped."""
    weights = np.array([problem.weight for problem in problems], dtype=np.float64)
    counts = rng.multinomial(n_problems, weights / weights.sum())
    held_out = set(held_out_prompts)
    texts: list[str] = []
    for problem, count in zip(problems, counts, strict=True):
        if count == 0:
            continue
        seed = int(rng.integers(2**31))
        spec = problem.spec
        examples = copy_examples(spec.length, int(count), seed) if isinstance(spec, CopySpec) \
            else arithmetic_examples(spec.operation, spec.digits, int(count), seed,
                                     spec.wording, reversed=spec.reversed)
        texts.extend(example_text(e) for e in examples if e.prompt not in held_out)
    order = rng.permutation(len(texts))
    return [texts[i] for i in order]


def _sheets(texts: list[str], rng: np.random.Generator) -> list[str]:
    sheets, start = [], 0
    low, high = PROBLEMS_PER_SHEET
    while start < len(texts):
        size = int(rng.integers(low, high + 1))
        sheets.append(SHEET_SEPARATOR.join(texts[start:start + size]))
        start += size
    return sheets


def _chunks(stream: np.ndarray, n_blocks: int, context_length: int) -> np.ndarray:
    """``n_blocks`` consecutive blocks of ``stream``, wrapping round if it is short."""
    if n_blocks == 0:
        return np.zeros((0, context_length), dtype=np.int32)
    needed = n_blocks * context_length
    if len(stream) == 0:
        raise ValueError("no training text to fill the text blocks")
    repeats = -(-needed // len(stream))
    return np.tile(stream, repeats)[:needed].reshape(n_blocks, context_length)


def held_out_prompts(tasks: Sequence) -> set[str]:
    """Prompts of every example of the evaluation tasks, generative or multiple choice
    (few-shot text stripped: the last problem of a prompt is the one being asked)."""
    prompts = set()
    for task in tasks:
        if not hasattr(task, "source"):  # a validation loss, not a task
            continue
        for example in task.source.load():
            prompts.add(example.prompt.split(SHEET_SEPARATOR)[-1])
    return prompts


MIXTURE_VALIDATION_SEED_OFFSET = 7_919  # problems drawn apart from the training stream's


def mixture_validation(text_documents: Sequence[str], tokenizer, mixture: MixtureConfig, *,
                       seed: int, held_out_prompts: Collection[str] = ()
                       ) -> tuple[list[str], set[str]]:
    """Documents of the mixture validation set (the text documents, then problem sheets
    whose tokens are ``f / (1 - f)`` times the text's) and the prompts of its problems,
    which training must hold out. Problems of the evaluation tasks are left out of it too."""
    fraction = mixture.arithmetic_fraction if mixture.problems else 0.0
    if fraction <= 0:
        return list(text_documents), set()
    text_tokens = len(token_stream(text_documents, tokenizer))
    needed = int(round(text_tokens * fraction / max(1e-9, 1 - fraction)))
    rng = np.random.default_rng(seed + MIXTURE_VALIDATION_SEED_OFFSET)
    sheets: list[str] = []
    total = 0
    while total < needed:
        texts = arithmetic_texts(mixture.problems, 64, rng=rng, held_out_prompts=held_out_prompts)
        for sheet in _sheets(texts, rng):
            sheets.append(sheet)
            total += len(token_stream([sheet], tokenizer))
            if total >= needed:
                break
    prompts = {problem.split("\nA:")[0] + "\nA:" for sheet in sheets
               for problem in sheet.split(SHEET_SEPARATOR)}
    return [*text_documents, *sheets], prompts
