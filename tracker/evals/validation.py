"""The shared validation text and its loss: bits per byte, the x axis of every analysis.

``--validation NAME|PATH``: NAME is ``configs/validation/NAME.yaml`` (a local file or a hub
dataset); PATH is a ``.txt`` file (one document) or a ``.jsonl`` file with one
``{"text": ...}`` document per line.

bits per byte = total NLL in nats / (ln 2 * total UTF-8 bytes). It does not depend on the
tokenizer's granularity, so checkpoints with different tokenizers share one axis (Du et
al. 2024 use a normalized loss on a common validation set for the same reason).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from tracker.config import PROJECT_ROOT, VALIDATION_DIR, StrictModel, load_model
from tracker.errors import TrackerError, unknown_name
from tracker.evals.interface import VALIDATION_TASK, EvalSettings, MetricScore, UnitResult
from tracker.lm.token_cache import encode_texts

if TYPE_CHECKING:  # the model code (and torch) loads when a checkpoint is scored
    from tracker.lm.requests import LoadedModel



class ValidationConfig(StrictModel):
    name: str
    description: str = ""
    source: Literal["file", "hub"]
    path: str | None = None  # file: .txt or .jsonl, relative to the project root
    dataset: str | None = None  # hub: datasets.load_dataset arguments
    config: str | None = None
    split: str = "test"
    text_field: str = "text"
    max_documents: int | None = None


@dataclass(frozen=True)
class ValidationSet:
    """Documents scored independently; ``sha256`` versions the exact text."""

    name: str
    documents: tuple[str, ...]

    @cached_property
    def sha256(self) -> str:
        digest = hashlib.sha256()
        for document in self.documents:
            digest.update(hashlib.sha256(document.encode("utf-8")).digest())
        return digest.hexdigest()


def validation_names() -> list[str]:
    return sorted(path.stem for path in VALIDATION_DIR.glob("*.yaml"))


def load_validation(name_or_path: str | Path) -> ValidationSet:
    """A validation set by config name or file path (``.txt`` or ``.jsonl``)."""
    path = Path(name_or_path)
    config_path = VALIDATION_DIR / f"{name_or_path}.yaml"
    if config_path.is_file():
        return _from_config(load_model(ValidationConfig, config_path))
    if path.suffix in (".txt", ".jsonl") or path.exists():
        return ValidationSet(path.stem, read_documents(path))
    raise unknown_name("validation set", str(name_or_path), validation_names())


def _from_config(config: ValidationConfig) -> ValidationSet:
    if config.source == "file":
        path = Path(config.path or "")
        documents = read_documents(path if path.is_absolute() else PROJECT_ROOT / path)
    else:
        rows = _hub_rows(config)
        documents = tuple(str(row[config.text_field]) for row in rows
                          if str(row[config.text_field]).strip())
    return ValidationSet(config.name, documents[: config.max_documents])


def _hub_rows(config: ValidationConfig) -> Any:
    """The dataset's rows, or one line saying what could not be fetched and the way out
    (a local file, or the datasets cache with the offline variables)."""
    from datasets import load_dataset

    try:
        return load_dataset(config.dataset, config.config, split=config.split)
    except Exception as error:  # noqa: BLE001 - network, hub and cache errors alike
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise TrackerError(
            f"cannot load validation set '{config.name}' ({config.dataset}, "
            f"{config.config or 'default'}, split {config.split}) from the Hugging Face Hub: "
            f"{type(error).__name__}: {reason[:200]}. Pass --validation PATH (a .txt or "
            ".jsonl file), or fetch it once online (it is then cached under "
            "HF_DATASETS_CACHE) and run with HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1"
        ) from None


def read_documents(path: Path) -> tuple[str, ...]:
    """Documents of a ``.txt`` (the whole file) or ``.jsonl`` (``{"text": ...}``) file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise TrackerError(f"validation file {path} does not exist") from error
    except (OSError, UnicodeDecodeError) as error:
        raise TrackerError(f"cannot read validation file {path}: {error}") from error
    documents = _jsonl_documents(path, text) if path.suffix == ".jsonl" else (text,)
    documents = tuple(d for d in documents if d)
    if not documents:
        raise TrackerError(f"validation file {path} is empty; it needs at least one document")
    return documents


def _jsonl_documents(path: Path, text: str) -> tuple[str, ...]:
    documents = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise TrackerError(f"{path}:{number}: not valid JSON ({error.msg})") from error
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise TrackerError(f'{path}:{number}: expected an object {{"text": "..."}}')
        documents.append(record["text"])
    return tuple(documents)


class ValidationLoss:
    """The validation loss as an :class:`~tracker.evals.interface.Evaluation`.

    Token ids are cached per tokenizer (:mod:`tracker.lm.token_cache`: keyed by a hash of the
    tokenizer's definition and of the text, in memory and on disk), so a sweep over many
    checkpoints of one family tokenizes the text once.
    """

    name = VALIDATION_TASK
    version = "1"

    def __init__(self, validation: ValidationSet, context_length: int | None = None) -> None:
        self.validation = validation
        self.context_length = context_length

    def identity(self) -> dict[str, Any]:
        return {
            "task": self.name,
            "version": self.version,
            "validation": self.validation.name,
            "sha256": self.validation.sha256,
            "context_length": self.context_length,
            "windows": "lm-eval-rolling-context1",
        }

    def evaluate(self, lm: LoadedModel, settings: EvalSettings) -> UnitResult:
        from tracker.lm.rolling import document_nll

        documents = self.validation.documents[: settings.limit]
        tokens = self._tokens(lm.tokenizer)[: len(documents)]
        nll = document_nll(lm, tokens,
                           max_length=min(lm.max_length, self.context_length or lm.max_length),
                           batch_size=settings.batch_size, progress=settings.progress)
        n_tokens = np.array([len(ids) for ids in tokens], dtype=np.int64)
        n_bytes = np.array([len(d.encode("utf-8")) for d in documents], dtype=np.int64)
        return summarize(nll, n_tokens, n_bytes)

    def _tokens(self, tokenizer: Any) -> list[list[int]]:
        """Every document's ids, through :mod:`tracker.lm.token_cache` (memory, then disk)."""
        return encode_texts(tokenizer, self.validation.documents)


def summarize(nll: np.ndarray, n_tokens: np.ndarray, n_bytes: np.ndarray) -> UnitResult:
    """Per-document rows and the ratio aggregates with delta-method standard errors."""
    ln2 = math.log(2)
    examples = pd.DataFrame({
        "example_id": [str(i) for i in range(len(nll))],
        "nll_nats": nll,
        "tokens": n_tokens,
        "bytes": n_bytes,
        "bits_per_byte": nll / (ln2 * np.maximum(n_bytes, 1)),
    })
    scores = (
        ratio_score("bits_per_byte", nll / ln2, n_bytes),
        ratio_score("nats_per_token", nll, n_tokens),
    )
    extras = {"total_nats": float(nll.sum()), "total_tokens": int(n_tokens.sum()),
              "total_bytes": int(n_bytes.sum())}
    return UnitResult(VALIDATION_TASK, scores, examples, extras)


def ratio_score(metric: str, numerator: np.ndarray, denominator: np.ndarray) -> MetricScore:
    """sum(numerator) / sum(denominator), with the delta-method standard error over
    documents (nan for a single document)."""
    total = float(denominator.sum())
    ratio = float(numerator.sum()) / total
    n = len(numerator)
    if n > 1:
        residual = numerator - ratio * denominator
        stderr = math.sqrt(n / (n - 1) * float((residual**2).sum())) / total
    else:
        stderr = float("nan")
    return MetricScore(metric, ratio, stderr, n, higher_is_better=False, chance=None)
