"""Token sequences that share prefixes, packed into rows where each prefix is stored once.

The questions of a multiple-choice task share far more than their own context: a task's
instruction, its few-shot examples, the opening words of similar questions. Grouping by
context (one pass per question) computes those shared tokens again for every question;
on four BIG-bench tasks 46% of the context tokens repeat an earlier question's prefix.

Here the sequences become a token trie laid out in rows: sorted, each sequence appends to
the current row only the tokens after its longest common prefix with the one before, so
within a row every prefix is stored once and a token's predecessor is an earlier token of
the same row. A row is one model input whose attention is not causal but a tree: a token
attends to itself and its ancestors only (:func:`row_tensors` builds the 4D mask), and its
position id is its depth. Its hidden state is then the one it has in its own sequence
alone, up to float rounding, because a causal LM's state at a token depends only on the
tokens before it in its sequence and their positions. (A library does not do this:
transformers takes the 4D mask and the position ids, the packing is ours.)

A row holds at most ``capacity`` tokens; a sequence that does not fit starts a new row,
with its shared prefix stored again there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

ROW_TOKENS = 256  # least capacity: 256, 512 within noise; wider slower (bench_prefix_tree.py)
MAX_ROW_TOKENS = 2048  # attention costs rows x width^2: wider rows only for longer sequences


@dataclass(frozen=True)
class PackedRow:
    """One model input: ``tokens[i]`` follows ``tokens[parents[i]]`` (-1: a first token)
    and sits at position ``depths[i]`` of its sequence."""

    tokens: tuple[int, ...]
    parents: tuple[int, ...]
    depths: tuple[int, ...]


@dataclass(frozen=True)
class Placement:
    """Where a sequence's read-out tokens landed: row ``row``, row-local indices ``nodes``."""

    row: int
    nodes: tuple[int, ...]


def row_capacity(longest: int) -> int:
    """Tokens a row may hold: room for two of the longest sequences (so that a shared
    few-shot prefix serves several questions), at least :data:`ROW_TOKENS`, at most
    :data:`MAX_ROW_TOKENS` unless one sequence alone is longer."""
    return max(longest, min(MAX_ROW_TOKENS, max(ROW_TOKENS, 2 * longest)))


def pack(sequences: Sequence[tuple[Sequence[int], int]], capacity: int
         ) -> tuple[list[PackedRow], list[Placement]]:
    """Pack ``(tokens, first)`` sequences into rows of at most ``capacity`` tokens
    (``capacity`` is raised to the longest sequence); placement ``i`` gives the row of
    sequence ``i`` and the row-local indices of its tokens ``first`` onwards.

    Example: ``[([5, 6, 7], 2), ([5, 6, 8], 1)]`` -> one row with tokens ``(5, 6, 7, 8)``,
    parents ``(-1, 0, 1, 1)``; placements ``(0, (2,))`` and ``(0, (1, 3))``.
    """
    capacity = max([capacity, *(len(tokens) for tokens, _ in sequences)])
    order = sorted(range(len(sequences)), key=lambda i: tuple(sequences[i][0]))
    rows: list[tuple[list[int], list[int], list[int]]] = []
    placements: list[Placement | None] = [None] * len(sequences)
    chain: list[int] = []  # row-local indices of the previous sequence's tokens
    previous: Sequence[int] = ()
    for index in order:
        tokens, first = sequences[index]
        shared = _common_prefix(tokens, previous) if rows else 0
        if not rows or len(rows[-1][0]) + len(tokens) - shared > capacity:
            rows.append(([], [], []))
            shared = 0
        row_tokens, parents, depths = rows[-1]
        chain = chain[:shared]
        for depth in range(shared, len(tokens)):
            row_tokens.append(int(tokens[depth]))
            parents.append(chain[-1] if chain else -1)
            depths.append(depth)
            chain.append(len(row_tokens) - 1)
        placements[index] = Placement(len(rows) - 1, tuple(chain[first:]))
        previous = tokens
    packed = [PackedRow(tuple(t), tuple(p), tuple(d)) for t, p, d in rows]
    return packed, [p for p in placements if p is not None]


def row_tensors(rows: Sequence[PackedRow], dtype: torch.dtype, device: torch.device
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(input_ids, position_ids, attention_mask)`` of rows padded to the widest: ids and
    positions ``[rows, width]``, the additive mask ``[rows, 1, width, width]`` in ``dtype``
    (0 where a token may attend, the dtype's minimum elsewhere; a padding token attends to
    itself only, so no row of the softmax is empty)."""
    width = max(len(row.tokens) for row in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    positions = torch.zeros((len(rows), width), dtype=torch.long)
    # numpy for the per-token row copies: about 1 us each against ~5 us for a torch
    # indexing call
    allowed = np.zeros((len(rows), width, width), dtype=bool)
    for number, row in enumerate(rows):
        ids[number, : len(row.tokens)] = torch.tensor(row.tokens, dtype=torch.long)
        positions[number, : len(row.tokens)] = torch.tensor(row.depths, dtype=torch.long)
        sees = allowed[number]
        np.fill_diagonal(sees, True)
        for node, parent in enumerate(row.parents):
            if parent >= 0:  # a parent precedes its children in the row
                sees[node] = sees[parent]
                sees[node, node] = True
    mask = torch.where(torch.from_numpy(allowed)[:, None], torch.zeros((), dtype=dtype),
                       torch.full((), torch.finfo(dtype).min, dtype=dtype))
    return ids.to(device), positions.to(device), mask.to(device)


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens ``a`` and ``b`` share."""
    shared = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        shared += 1
    return shared
