"""What ``--dtype auto`` resolves to on this machine: bfloat16 only where it measures faster.

On a CPU, bfloat16 runs fast only with native instructions (AMX tiles, AVX512-BF16); without
them torch emulates it, and bf16 training was measured 2.4-2.8x slower than float32 on such a
Xeon (docs/performance.md). So bfloat16 is chosen when the CPU's flags (``/proc/cpuinfo``)
name ``amx_bf16`` or ``avx512_bf16`` *and* a timed probe of matmuls at the model's shapes
(best of several repeats, a few milliseconds each) runs bfloat16 at least ``BF16_MARGIN``
times faster than float32; else float32. A CUDA device uses bfloat16 where
``torch.cuda.is_bf16_supported()``. ``$TRACKER_AUTO_DTYPE`` (``float32`` or ``bfloat16``)
pins the answer without a probe (the test suite pins float32).

A CPU's decision is cached in ``<cache>/dtype.json`` (``$TRACKER_CACHE_DIR``, else
``$XDG_CACHE_HOME/tracker``, else ``~/.cache/tracker``), keyed by the CPU model, its flags,
torch's version, the thread count and the shapes; a corrupt cache file is ignored and
rewritten.

Example:
    >>> choose_dtype("cpu").dtype in ("float32", "bfloat16")  # doctest: +SKIP
    True
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Literal

import torch

from tracker.errors import TrackerError
from tracker.families.catalog import Checkpoint
from tracker.families.weights import cache_dir
from tracker.lm.model_config import config_int
from tracker.store.files import atomic_write

LOG = logging.getLogger(__name__)

AutoDtype = Literal["float32", "bfloat16"]
Shape = tuple[int, int, int]  # (rows, inner, columns): a [rows, inner] @ [inner, columns] matmul
BF16_FLAGS = ("amx_bf16", "avx512_bf16")
BF16_MARGIN = 1.15  # bfloat16 must run at least this many times faster than float32
PIN_VARIABLE = "TRACKER_AUTO_DTYPE"
REPEATS = 7  # best of: a busy machine's slow repeats do not decide
CALLS_PER_REPEAT = 3
PROBE_TOKENS = 512  # rows of the probe's matmuls: a batch of tokens


@dataclass(frozen=True)
class Choice:
    """The dtype ``auto`` resolved to, why, and the probe's timings (milliseconds per dtype,
    summed over the shapes; empty when no probe ran)."""

    dtype: AutoDtype
    reason: str
    timings: dict[str, float] = field(default_factory=dict)
    cached: bool = False

    def describe(self) -> str:
        """``bfloat16 (auto: ...)``: the line a CLI prints."""
        return f"{self.dtype} (auto: {self.reason}{', cached' if self.cached else ''})"


def model_shapes(hidden_size: int, intermediate_size: int, tokens: int = PROBE_TOKENS
                 ) -> list[Shape]:
    """The matmuls of one decoder layer on ``tokens`` tokens: attention projection and the
    two MLP matmuls."""
    return [(tokens, hidden_size, hidden_size), (tokens, hidden_size, intermediate_size),
            (tokens, intermediate_size, hidden_size)]


DEFAULT_SHAPES = model_shapes(256, 1024)


def checkpoint_shapes(checkpoints: Iterable[Checkpoint]) -> list[Shape]:
    """:func:`model_shapes` of the first local checkpoint's ``config.json``;
    ``DEFAULT_SHAPES`` for a hub family (nothing is downloaded to plan) or an unreadable
    config."""
    first = next(iter(checkpoints), None)
    if first is None or first.revision is not None:
        return list(DEFAULT_SHAPES)
    try:
        config = json.loads((Path(first.location) / "config.json").read_text("utf-8"))
    except (OSError, ValueError):
        return list(DEFAULT_SHAPES)
    fields = SimpleNamespace(**config) if isinstance(config, dict) else None
    hidden = config_int(fields, "hidden_size", "n_embd", "d_model")
    if hidden:
        return model_shapes(hidden, config_int(fields, "intermediate_size", "n_inner")
                            or 4 * hidden)
    return list(DEFAULT_SHAPES)


def choose_dtype(device: str | torch.device, shapes: Sequence[Shape] = DEFAULT_SHAPES, *,
                 threads: int | None = None, cache: Path | None = None) -> Choice:
    """bfloat16 or float32 for ``device`` (see the module docstring); ``threads``: the torch
    CPU threads the work will run on (default: the current count); ``cache``: the cache
    file (default ``<cache>/dtype.json``)."""
    pinned = os.environ.get(PIN_VARIABLE)
    if pinned:
        if pinned not in ("float32", "bfloat16"):
            raise TrackerError(f"${PIN_VARIABLE} is '{pinned}'; use float32 or bfloat16")
        return Choice(pinned, f"${PIN_VARIABLE}={pinned}")  # type: ignore[arg-type]
    device = torch.device(device)
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return Choice("bfloat16", "the CUDA device supports bf16")
        return Choice("float32", "the CUDA device does not support bf16")
    if device.type != "cpu":
        return Choice("float32", f"no bf16 probe for {device.type} devices")
    model, flags = cpu_identity()
    present = [flag for flag in BF16_FLAGS if flag in flags]
    if not present:
        return Choice("float32", f"the CPU has no bf16 instructions ({', '.join(BF16_FLAGS)})")
    threads = threads or torch.get_num_threads()
    key = _cache_key(model, flags, threads, shapes)
    path = cache or cache_dir() / "dtype.json"
    entries = read_cache(path)
    if key in entries:
        return entries[key]
    with torch_threads(threads):
        timings = {dtype: time_matmuls(dtype, shapes) for dtype in ("float32", "bfloat16")}
    choice = decide(timings, present)
    write_cache(path, {**entries, key: choice})
    return choice


def decide(timings: dict[str, float], flags: Sequence[str]) -> Choice:
    """bfloat16 when its probe time is at most float32's divided by ``BF16_MARGIN``; it is
    never chosen when measured slower."""
    float32_ms, bfloat16_ms = timings["float32"], timings["bfloat16"]
    speedup = float32_ms / bfloat16_ms if bfloat16_ms > 0 else 0.0
    measured = (f"probe {bfloat16_ms:.1f} ms in bfloat16 vs {float32_ms:.1f} ms in float32, "
                f"{speedup:.2f}x; CPU flags {', '.join(flags)}")
    rounded = {dtype: round(ms, 3) for dtype, ms in timings.items()}
    if speedup >= BF16_MARGIN:
        return Choice("bfloat16", f"bfloat16 measured faster: {measured}", rounded)
    return Choice("float32", f"bfloat16 not faster by {BF16_MARGIN}x: {measured}", rounded)


def time_matmuls(dtype: str, shapes: Sequence[Shape], repeats: int = REPEATS) -> float:
    """Milliseconds for ``CALLS_PER_REPEAT`` matmuls of each shape in ``dtype`` (best of
    ``repeats``, after one warm-up), summed over the shapes."""
    generator = torch.Generator().manual_seed(0)
    total = 0.0
    for rows, inner, columns in shapes:
        left = torch.randn(rows, inner, generator=generator).to(getattr(torch, dtype))
        right = torch.randn(inner, columns, generator=generator).to(getattr(torch, dtype))
        torch.matmul(left, right)
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            for _ in range(CALLS_PER_REPEAT):
                torch.matmul(left, right)
            best = min(best, time.perf_counter() - started)
        total += best * 1000
    return total


def cpu_identity(cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[str, frozenset[str]]:
    """(model name, flags) of the first processor in ``cpuinfo``; ("unknown", {}) where the
    file is absent (not Linux) or unreadable."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "unknown", frozenset()
    fields: dict[str, str] = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        fields.setdefault(name.strip(), value.strip())
    return fields.get("model name", "unknown"), frozenset(fields.get("flags", "").split())


def read_cache(path: Path) -> dict[str, Choice]:
    """The cached choices; an absent, unreadable or corrupt file reads as empty (and is
    rewritten by the next probe)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {key: Choice(value["dtype"], value["reason"], dict(value["timings"]), cached=True)
                for key, value in raw.items() if value["dtype"] in ("float32", "bfloat16")}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        LOG.info("ignoring the unreadable dtype cache %s; it is rewritten", path)
        return {}


def write_cache(path: Path, entries: dict[str, Choice]) -> None:
    """Write the cache atomically; a cache that cannot be written only costs a probe."""
    content = {key: {k: v for k, v in asdict(choice).items() if k != "cached"}
               for key, choice in entries.items()}
    try:
        atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(content, indent=1)))
    except OSError as error:
        LOG.info("cannot write the dtype cache %s: %s", path, error)


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _cache_key(model: str, flags: frozenset[str], threads: int, shapes: Sequence[Shape]) -> str:
    flags_digest = hashlib.sha256(" ".join(sorted(flags)).encode()).hexdigest()[:12]
    shape_text = ",".join("x".join(map(str, shape)) for shape in shapes)
    return f"{model} | flags {flags_digest} | torch {torch.__version__} | threads {threads} " \
           f"| {shape_text}"
