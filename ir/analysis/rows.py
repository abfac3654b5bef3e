"""Rows of a loop nest: values a kernel may compute once per row instead of once per element.

A kernel's loop nest over ``loop_shape`` is walked as rows (every dimension but the
minor one) times columns.  A *row broadcast* repeats a row-shaped value along the
minor dimension; when everything between it and the kernel's outputs reads it only
at the loop's current row, the kernel computes it once per row, before the row's
column loop: a row softmax or a layer norm is one pass over each row.  The fusion
pass groups by this, and the CPU backend plans its row loops with it.

A GPU kernel instead gives each row a thread block: ``trailing_rows`` says when all
of a kernel's reductions fold the same trailing dimensions of a common row count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Collection, Sequence

from ..core import Instruction
from ..opdef import Cost, Trait
from ..types import TensorType
from .index_maps import OperandReads
from .reducers import single_op_reducer


def row_broadcasts(instructions: Collection[Instruction], loop_shape: Sequence[int],
                   reads: dict | None = None) -> list[Instruction]:
    """The broadcasts among ``instructions`` (one loop body; the outputs are those without
    users among them, or used by a tuple) that a loop nest over ``loop_shape``, walked as
    rows x columns, may compute once per row before the row's column loop.

    Such a broadcast repeats its operand along the minor dimension, its operand's
    dimensions are the major ones of the loop shape in order, and it is evaluated only
    at the loop's current row: on every path to an output, elementwise ops of the loop
    shape, and reductions of the minor dimension that are themselves only read through
    such broadcasts (as softmax's max and sum, layernorm's mean and variance).  Anything
    else (a transpose, a slice, a full reduction) could read another row, where the
    hoisted value would be wrong.

    ``reads``, a dict kept by a caller that asks again about a growing set of the same
    (unchanged) instructions, remembers which operands each user reads at its own index:
    deciding that is most of the work.
    """
    shape = tuple(loop_shape)
    if not shape:
        return []
    rows = _RowReads(instructions, shape, reads)
    return [inst for inst in instructions
            if _is_row_broadcast(inst, shape) and rows.at_row(inst)]


# Instructions computed inline for one element beyond which a value read by a row's
# reduction and again later is kept for the row even if each is cheap: in a chain of n
# row reductions (x = x - x.sum(-1)) each reduction's loop would otherwise recompute
# the chain from the input, n**2 / 2 instructions to compile and to run.
DEEP_RECOMPUTE = 4


def row_reused_values(instructions: Collection[Instruction], loop_shape: Sequence[int],
                      per_row: Collection[Instruction]) -> list[Instruction]:
    """Loop-shaped values that a row's reduction reads (before the column loop, as the
    ``per_row`` broadcasts are computed) and something else reads again at the same
    positions, as softmax's ``exp(x - max)``: worth keeping for the row instead of
    computing twice when expensive, or when computing one inline takes at least
    ``DEEP_RECOMPUTE`` instructions.  Each is read only at the current row (see
    ``row_broadcasts``).  In program order (``instructions`` is)."""
    shape = tuple(loop_shape)
    if not shape or not per_row:
        return []
    rows = _RowReads(instructions, shape)
    hoisted = set(per_row)
    inline: dict[Instruction, int] = {}  # instructions computed per element (kept: 0)
    found = []
    for inst in instructions:
        if inst in hoisted or inst.opdef.cost is Cost.FREE or inst.opdef.has(Trait.REDUCTION):
            continue  # a row value, or nothing to compute per element
        inline[inst] = 1 + sum(inline.get(operand, 0) for operand in inst.operands)
        if not (inst.opdef.cost is Cost.EXPENSIVE or inline[inst] >= DEEP_RECOMPUTE):
            continue
        if not _same_shape_as(inst, shape) or not rows.at_row(inst):
            continue
        users = rows.users(inst)
        in_row = [u for u in users if _reduces_minor(u, shape)]
        if in_row and len(in_row) < len(users) and _only_hoisted_rows(in_row, rows, shape, hoisted):
            found.append(inst)
            inline[inst] = 0
    return found


class _RowReads:
    """Which values of one loop body are read only at the loop's current row."""

    def __init__(self, instructions: Collection[Instruction], shape: tuple,
                 reads: dict | None = None) -> None:
        self.inside = set(instructions)
        self.shape = shape
        self._reads = {} if reads is None else reads  # (user, operand) -> read at own index
        self._at_row: dict[Instruction, bool] = {}     # loop-shaped, read at (row, any column)
        self._as_row: dict[Instruction, bool] = {}     # row-shaped, read at the row's index

    def users(self, inst: Instruction) -> list[Instruction]:
        return [u for u in inst.users if u in self.inside]

    def reads_at_own_index(self, user: Instruction, operand: Instruction) -> bool:
        """``user`` reads ``operand`` only at its own output index (as its index map says)."""
        key = (user, operand)
        found = self._reads.get(key)
        if found is None:
            found = self._reads[key] = OperandReads(user).only_at_output_index(operand)
        return found

    def at_row(self, inst: Instruction) -> bool:
        if inst not in self._at_row:
            self._at_row[inst] = False  # the graph is acyclic: only a placeholder
            self._at_row[inst] = all(
                u.opcode == "tuple"
                or self.reads_at_own_index(u, inst) and self.at_row(u)
                or _reduces_minor(u, self.shape) and self.as_row(u)
                for u in self.users(inst))
        return self._at_row[inst]

    def as_row(self, inst: Instruction) -> bool:
        if inst not in self._as_row:
            self._as_row[inst] = False
            shape = self.shape
            self._as_row[inst] = all(
                _is_row_broadcast(u, shape) and self.at_row(u)
                or self.reads_at_own_index(u, inst) and self.as_row(u)
                or u.opcode == "reshape" and _row_shape(inst.type.shape, shape)
                and _row_shape(u.type.shape, shape) and self.as_row(u)
                for u in self.users(inst))
        return self._as_row[inst]


def _same_shape_as(inst: Instruction, shape: tuple) -> bool:
    return isinstance(inst.type, TensorType) and inst.type.shape == shape


def _only_hoisted_rows(reductions: list, rows: _RowReads, shape: tuple, hoisted: set) -> bool:
    """Every use of these row reductions ends in a hoisted broadcast: they are computed
    before the column loop, never inside it."""
    pending = list(reductions)
    seen: set = set()
    while pending:
        for user in rows.users(pending.pop()):
            if user in seen or user in hoisted:
                continue
            if _same_shape_as(user, shape):
                return False  # reaches the column loop without being hoisted
            seen.add(user)
            pending.append(user)
    return True


def _row_shape(operand: Sequence[int], loop_shape: tuple) -> bool:
    """The loop shape's major dimensions in order, with unit dimensions anywhere, the minor
    one included: its index is the current row's."""
    kept = [d for d in operand if d != 1]
    return kept == [d for d in loop_shape[:-1] if d != 1] and len(operand) <= len(loop_shape)


def _is_row_broadcast(inst: Instruction, loop_shape: tuple) -> bool:
    if inst.opcode != "broadcast" or inst.type.shape != loop_shape:
        return False
    operand = inst.operands[0].type.shape
    dims = tuple(inst.attrs["dimensions"])
    minor = len(loop_shape) - 1
    return (dims == tuple(range(len(operand)))
            and all(size == (1 if d == minor else loop_shape[d]) for d, size in zip(dims, operand)))


def _reduces_minor(inst: Instruction, loop_shape: tuple) -> bool:
    """A reduction of exactly the minor dimension of a loop-shaped operand."""
    return (inst.opcode == "reduce" and len(inst.operands) == 2
            and inst.operands[0].type.shape == loop_shape
            and tuple(inst.attrs["dimensions"]) == (len(loop_shape) - 1,))


@dataclass(frozen=True)
class TrailingRows:
    """Every reduction of a kernel folds its operand's trailing dimensions into ``rows``
    rows; the longest folds ``longest`` elements per row; output ``k``'s leading
    ``splits[k]`` dimensions index the rows."""

    rows: int
    splits: tuple[int, ...]
    longest: int


def trailing_rows(scope: Collection[Instruction], outputs: Sequence[TensorType]) -> TrailingRows | None:
    """The rows of ``scope``'s reductions, when each is a single-op reduction of its operand's
    trailing dimensions, all keep the same number of rows, and each output's shape splits
    into those rows and the rest; else None (also when nothing reduces)."""
    reductions = [i for i in scope if i.opdef.has(Trait.REDUCTION)]
    if not reductions:
        return None
    rows, longest = None, 0
    for inst in reductions:
        if len(inst.operands) != 2 or single_op_reducer(inst.called[0]) is None:
            return None
        shape = inst.operands[0].type.shape
        reduced = sorted(inst.attrs["dimensions"])
        first = len(shape) - len(reduced)
        if reduced != list(range(first, len(shape))):
            return None
        kept = math.prod(shape[:first])
        if rows is not None and kept != rows:
            return None
        rows = kept
        longest = max(longest, math.prod(shape[first:]))
    splits = []
    for t in outputs:
        split = next((p for p in range(len(t.shape) + 1) if math.prod(t.shape[:p]) == rows), None)
        if split is None:
            return None
        splits.append(split)
    return TrailingRows(rows, tuple(splits), longest)
