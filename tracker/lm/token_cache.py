"""Token ids cached per tokenizer, in memory and on disk, so that a sweep tokenizes each
text once: once per tokenizer for the whole sweep, and once across processes and re-runs.

An entry is keyed by the tokenizer's fingerprint (a hash of its full definition,
:func:`tokenizer_fingerprint`), what was encoded (plain texts, or lm-eval's
context/continuation split) and a sha256 over the texts in order. It lives in memory for
the process and in ``<cache>/tokens/<fingerprint>/<key>.npz`` (``$TRACKER_CACHE_DIR``, else
``$XDG_CACHE_HOME/tracker``, else ``~/.cache/tracker``, as :mod:`tracker.families.weights`): flat
int32 ids with offsets, a few bytes per token, no Python object per id.

Safety: files are written to a temporary name and renamed (concurrent processes never see
half a file; two that race write the same bytes); an entry that cannot be read, does not
name its own key or has inconsistent offsets is ignored and rebuilt; a cache directory that
cannot be written only costs tokenizing again.

Example:
    >>> encode_texts(tokenizer, ["Q: 2+2=", "A: 4"])  # doctest: +SKIP
    [[48, 27, 374, 12, 19, 30], [34, 27, 577]]
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tracker.families.weights import cache_dir
from tracker.store.files import atomic_write

FORMAT = "1"  # bump when the encoding rules or the file layout change
MEMORY_ENTRIES = 64  # entries kept in memory (least recently used dropped; files stay)
# Process-wide caches, not registries: losing them only costs recomputing.
_FINGERPRINTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_MEMORY: OrderedDict[str, dict[str, np.ndarray]] = OrderedDict()


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """A stable hash of what a tokenizer does (its full definition when it is a fast one,
    with its BOS/EOS ids); computed once per tokenizer object."""
    with contextlib.suppress(TypeError):
        if tokenizer in _FINGERPRINTS:
            return _FINGERPRINTS[tokenizer]
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        definition = backend.to_str()
    else:
        definition = json.dumps(sorted(tokenizer.get_vocab().items()))
    specials = json.dumps([getattr(tokenizer, "bos_token_id", None),
                           getattr(tokenizer, "eos_token_id", None)])
    value = hashlib.sha256((definition + specials).encode("utf-8")).hexdigest()[:16]
    with contextlib.suppress(TypeError):
        _FINGERPRINTS[tokenizer] = value
    return value


def encode_texts(tokenizer: Any, texts: Sequence[str], *, cache: bool = True
                 ) -> list[list[int]]:
    """Token ids of each text, no special tokens added (``cache=False``: encode only)."""
    if not cache:
        return _batch_encode(tokenizer, texts)
    arrays = _cached(tokenizer, "texts", list(texts), lambda: _texts_arrays(tokenizer, texts))
    return _unpack(arrays["ids"], arrays["offsets"])


def encode_pairs(tokenizer: Any, pairs: Sequence[tuple[str, str]], prefix_token: int
                 ) -> list[tuple[list[int], list[int]]]:
    """(context ids, continuation ids) of each (context, continuation), split as lm-eval's
    HFLM does; ``tests/helpers_tasks.encode_pair`` is the one-pair reference that this
    equals pair for pair."""
    flat = [text for pair in pairs for text in pair] + [str(prefix_token)]
    arrays = _cached(tokenizer, "pairs", flat,
                     lambda: _pairs_arrays(tokenizer, pairs, prefix_token))
    contexts = _unpack(arrays["context_ids"], arrays["context_offsets"])
    continuations = _unpack(arrays["continuation_ids"], arrays["continuation_offsets"])
    return [(contexts[index], continuation)
            for index, continuation in zip(arrays["context_index"].tolist(), continuations,
                                           strict=True)]


def clear_memory() -> None:
    """Forget the in-memory entries (the files stay); for tests and benchmarks."""
    _MEMORY.clear()


def _batch_encode(tokenizer: Any, texts: Sequence[str]) -> list[list[int]]:
    """Batched (one call into a fast tokenizer's Rust code); equal to encoding one by one."""
    if not texts:
        return []
    return [list(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]]


def _texts_arrays(tokenizer: Any, texts: Sequence[str]) -> dict[str, np.ndarray]:
    ids, offsets = _pack(_batch_encode(tokenizer, texts))
    return {"ids": ids, "offsets": offsets}


def _pairs_arrays(tokenizer: Any, pairs: Sequence[tuple[str, str]], prefix_token: int
                  ) -> dict[str, np.ndarray]:
    """lm-eval's split for many pairs at once: unique contexts and whole strings encoded
    in two batched calls; an empty context becomes the prefix token."""
    moved = [(context, continuation) if context == ""
             else _move_trailing_space(context, continuation)
             for context, continuation in pairs]
    unique = sorted({context for (original, _), (context, _) in zip(pairs, moved, strict=True)
                     if original})
    context_ids = dict(zip(unique, _batch_encode(tokenizer, unique), strict=True))
    wholes = _batch_encode(tokenizer, [context + continuation for context, continuation in moved])
    table: dict[tuple[int, ...], int] = {}
    context_index: list[int] = []
    continuations: list[list[int]] = []
    contexts: list[list[int]] = []
    for (original, _), (context, _), whole in zip(pairs, moved, wholes, strict=True):
        if original:
            head = context_ids[context]
            tail = whole[len(head):]
        elif whole and whole[0] == prefix_token:
            head, tail = whole[:1], whole[1:]
        else:
            head, tail = [prefix_token], whole
        number = table.setdefault(tuple(head), len(table))
        if number == len(contexts):
            contexts.append(head)
        context_index.append(number)
        continuations.append(tail)
    context_flat, context_offsets = _pack(contexts)
    continuation_flat, continuation_offsets = _pack(continuations)
    return {"context_ids": context_flat, "context_offsets": context_offsets,
            "context_index": np.asarray(context_index, dtype=np.int64),
            "continuation_ids": continuation_flat, "continuation_offsets": continuation_offsets}


def _move_trailing_space(context: str, continuation: str) -> tuple[str, str]:
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        return context[:-n_spaces], context[-n_spaces:] + continuation
    return context, continuation


def _pack(rows: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(row) for row in rows], out=offsets[1:])
    ids = np.fromiter((token for row in rows for token in row), dtype=np.int32,
                      count=int(offsets[-1]))
    return ids, offsets


def _unpack(ids: np.ndarray, offsets: np.ndarray) -> list[list[int]]:
    values = ids.tolist()
    bounds = offsets.tolist()
    return [values[start:stop] for start, stop in zip(bounds[:-1], bounds[1:], strict=True)]


def _key(fingerprint: str, kind: str, texts: Sequence[str]) -> str:
    digest = hashlib.sha256(f"{FORMAT}\0{fingerprint}\0{kind}\0{len(texts)}".encode())
    for text in texts:
        encoded = text.encode("utf-8", "surrogatepass")
        digest.update(len(encoded).to_bytes(8, "little") + encoded)
    return digest.hexdigest()[:32]


def _cached(tokenizer: Any, kind: str, texts: list[str], build: Any) -> dict[str, np.ndarray]:
    fingerprint = tokenizer_fingerprint(tokenizer)
    key = _key(fingerprint, kind, texts)
    if key in _MEMORY:
        _MEMORY.move_to_end(key)
        return _MEMORY[key]
    path = cache_dir() / "tokens" / fingerprint / f"{key}.npz"
    arrays = _read(path, key, kind)
    if arrays is None:
        arrays = build()
        _write(path, key, arrays)
    _MEMORY[key] = arrays
    while len(_MEMORY) > MEMORY_ENTRIES:
        _MEMORY.popitem(last=False)
    return arrays


FIELDS = {"texts": (("ids", "offsets"),),
          "pairs": (("context_ids", "context_offsets"),
                    ("continuation_ids", "continuation_offsets"))}


def _read(path: Path, key: str, kind: str) -> dict[str, np.ndarray] | None:
    """The entry's arrays, or None when it is absent, unreadable or inconsistent."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        if str(arrays.pop("key")) != key:
            return None
        for ids_name, offsets_name in FIELDS[kind]:
            ids, offsets = arrays[ids_name], arrays[offsets_name]
            if (offsets[0] != 0 or offsets[-1] != len(ids)
                    or bool(np.any(np.diff(offsets) < 0))):
                return None
        if kind == "pairs":
            index = arrays["context_index"]
            n_contexts = len(arrays["context_offsets"]) - 1
            if (len(index) != len(arrays["continuation_offsets"]) - 1
                    or (len(index) and (index.min() < 0 or index.max() >= n_contexts))):
                return None
        return arrays
    except Exception:  # noqa: BLE001 - any damage to a cache file means "rebuild it"
        return None


def _write(path: Path, key: str, arrays: dict[str, np.ndarray]) -> None:
    def save(temporary: str) -> None:
        with open(temporary, "wb") as handle:
            np.savez(handle, key=np.array(key), **arrays)  # type: ignore[arg-type]

    with contextlib.suppress(OSError):  # an unwritable cache only costs tokenizing again
        atomic_write(path, save)
