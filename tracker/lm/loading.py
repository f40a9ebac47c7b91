"""Loading one checkpoint with transformers into a :class:`LoadedModel`.

Safety, because a checkpoint is someone else's file:

- Weights load from safetensors only. A checkpoint with pickle weights alone
  (``pytorch_model.bin``, ``*.pt``) is refused with one line (recorded as a failed unit)
  unless the user passes ``tracker eval --allow-pickle``; then transformers loads them with
  ``torch.load(weights_only=True)`` (its default in transformers 5, passed explicitly here;
  transformers also refuses that path on torch older than 2.6, CVE-2025-32434).
- ``trust_remote_code`` stays off unless the family file sets it, and then
  :func:`remote_code_warnings` names every repository whose code will run.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch

from tracker.errors import CheckpointLoadError, TrackerError
from tracker.families.catalog import Checkpoint
from tracker.lm.model_config import model_max_length
from tracker.lm.requests import LoadedModel

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# weight files torch.load unpickles (a pickle can run code while it loads)
PICKLE_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")
ALLOW_PICKLE_HINT = ("pickle can run code while it loads: convert the weights to safetensors, "
                     "or pass --allow-pickle to load them with torch.load(weights_only=True)")


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as error:
        raise TrackerError(f"unknown --device '{device}'; use cpu, cuda, cuda:N or auto") from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise TrackerError("--device cuda asked for, but torch sees no CUDA GPU; use --device cpu")
    return resolved


def load_checkpoint(
    checkpoint: Checkpoint,
    *,
    device: str = "cpu",
    dtype: str = "float32",
    context_length: int | None = None,
    allow_pickle: bool = False,
) -> LoadedModel:
    """Load weights and tokenizer of ``checkpoint``; any failure is a CheckpointLoadError.

    Weights load from safetensors files only, unless ``allow_pickle`` (then pickle weights
    load with ``torch.load(weights_only=True)`` where there are no safetensors)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if dtype not in DTYPES:
        raise TrackerError(f"unknown --dtype '{dtype}'; use one of {', '.join(DTYPES)}")
    torch_device = resolve_device(device)
    allow_pickle = allow_pickle or checkpoint.allow_pickle
    if not allow_pickle:
        refuse_pickle_only(checkpoint)
    source = dict(revision=checkpoint.revision, trust_remote_code=checkpoint.trust_remote_code)
    try:
        tokenizer = AutoTokenizer.from_pretrained(checkpoint.tokenizer or checkpoint.location,
                                                  **source)
        model = AutoModelForCausalLM.from_pretrained(
            checkpoint.location, dtype=DTYPES[dtype], weights_only=True,
            use_safetensors=None if allow_pickle else True, **source
        )
    except Exception as error:  # noqa: BLE001 - any loader failure is reported, not raised
        message = " ".join(str(error).split()) or type(error).__name__
        if not allow_pickle and "cannot be loaded with `safetensors`" in message:
            raise CheckpointLoadError(
                f"cannot load {checkpoint.label}: {checkpoint.location} has no safetensors "
                f"weights at revision {checkpoint.revision}; {ALLOW_PICKLE_HINT}") from error
        first = str(error).strip().splitlines()[0] if str(error).strip() else message
        raise CheckpointLoadError(f"cannot load {checkpoint.label}: {first}") from error
    model.to(torch_device).eval()  # type: ignore[arg-type]  # transformers types .to oddly
    max_length = model_max_length(model)
    if context_length is not None:
        max_length = min(max_length, context_length)
    return LoadedModel(model, tokenizer, torch_device, dtype, max_length,
                       sum(p.numel() for p in model.parameters()))


def pickle_only_weights(directory: Path) -> list[str]:
    """Names of the pickle weight files of a local checkpoint directory that holds no
    safetensors file (empty when it has safetensors, no weights, or is not a directory)."""
    if not directory.is_dir() or any(directory.glob("*.safetensors")):
        return []
    return sorted({file.name for pattern in PICKLE_WEIGHTS for file in directory.glob(pattern)
                   if file.is_file()})


def refuse_pickle_only(checkpoint: Checkpoint) -> None:
    """Raise CheckpointLoadError for a local checkpoint whose only weights are pickles.

    (A hub checkpoint is checked by transformers itself: ``use_safetensors=True``.)"""
    if checkpoint.revision is not None:
        return
    pickles = pickle_only_weights(Path(checkpoint.location))
    if pickles:
        raise CheckpointLoadError(
            f"cannot load {checkpoint.label}: its weights are pickle files only "
            f"({', '.join(pickles[:3])}{', ...' if len(pickles) > 3 else ''} in "
            f"{checkpoint.location}); {ALLOW_PICKLE_HINT}")


def pickle_warnings(checkpoints: Iterable[Checkpoint]) -> list[str]:
    """One line per family that opts in to pickle weights (``allow_pickle: true``)."""
    families = sorted({c.family for c in checkpoints if c.allow_pickle})
    return [f"family '{name}' allows pickle weights where a checkpoint has no safetensors; "
            "they load with torch.load(weights_only=True)" for name in families]


def remote_code_warnings(checkpoints: Iterable[Checkpoint]) -> list[str]:
    """One line per repository (or local family directory) whose checkpoints load with
    ``trust_remote_code``: the Python code shipped with them runs on this machine."""
    lines: dict[str, str] = {}
    for checkpoint in checkpoints:
        if not checkpoint.trust_remote_code:
            continue
        local = checkpoint.revision is None
        where = str(Path(checkpoint.location).parent.parent) if local else checkpoint.location
        lines.setdefault(where, (
            f"family '{checkpoint.family}' sets trust_remote_code: Python code shipped with "
            f"{where} runs on this machine when its checkpoints load; use only repositories "
            "you trust"))
    return list(lines.values())
