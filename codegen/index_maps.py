"""The emitters' half of the index maps (``ir/analysis/index_maps.py``).

Both element emitters (LLVM values in ``cpu/elemental.py``, C expressions in
``cuda/elemental.py``) implement the maps' ``IndexAlgebra`` and instantiate the
same descriptions.  What they share is here: reading an operand is asking the
emitter for that instruction's value, and index arithmetic folds literals
(``x + 0``, ``x * 1``, ``2 + 3``) before a backend sees them, so descriptions stay
plain and the generated index code is as simple as hand-written code (LLVM's
vectorizer wants ``i`` and ``i + 1``, not ``i * 1 + 0``).
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from typing import Any, Sequence

from ..ir import DType, Instruction, TensorType

Value = Any  # an index or element value of one emitter
Index = Any  # an index of one emitter


class FoldingArithmetic(ABC):
    """``add``, ``sub`` and ``mul`` of the index algebra, with literals folded."""

    @abstractmethod
    def constant(self, value: int) -> Value:
        """The index literal ``value``."""

    @abstractmethod
    def literal(self, value: Value) -> int | None:
        """The integer ``value`` stands for when it is a literal, else None."""

    @abstractmethod
    def emit_add(self, a: Value, b: Value) -> Value: ...

    @abstractmethod
    def emit_sub(self, a: Value, b: Value) -> Value: ...

    @abstractmethod
    def emit_mul(self, a: Value, b: Value) -> Value: ...

    def add(self, a: Value, b: Value) -> Value:
        x, y = self.literal(a), self.literal(b)
        if x is not None and y is not None:
            return self.constant(x + y)
        if y == 0:
            return a
        if x == 0:
            return b
        return self.emit_add(a, b)

    def sub(self, a: Value, b: Value) -> Value:
        x, y = self.literal(a), self.literal(b)
        if x is not None and y is not None:
            return self.constant(x - y)
        if y == 0:
            return a
        return self.emit_sub(a, b)

    def mul(self, a: Value, b: Value) -> Value:
        x, y = self.literal(a), self.literal(b)
        if x is not None and y is not None:
            return self.constant(x * y)
        if y == 1:
            return a
        if x == 1:
            return b
        return self.emit_mul(a, b)


class ElementEmitter(FoldingArithmetic):
    """An emitter of instruction values at indices; operands are read through ``value``."""

    @abstractmethod
    def value(self, inst: Instruction, index: Index) -> Value:
        """``inst``'s value at ``index`` (a list of values for a tuple)."""

    @abstractmethod
    def index(self, shape: Sequence[int], dims: Sequence[Value] | None = None,
              linear: Value | None = None) -> Index: ...

    def operand(self, inst: Instruction, number: int, index: Index) -> Value:
        return self.value(inst.operands[number], index)

    def scalar_operand(self, inst: Instruction, number: int) -> Value:
        return self.value(inst.operands[number], self.index(()))


@functools.lru_cache(maxsize=None)
def scalar_instruction(opcode: str, dtype: DType) -> Instruction:
    """A detached ``opcode`` on two scalars of ``dtype``: what a scalar emitter needs to see
    to emit one step of a reduction or a multiply-add."""
    t = TensorType(dtype, ())
    operand = Instruction("x", "parameter", (), t, {"parameter_number": 0})
    return Instruction(opcode, opcode, (operand, operand), t)
