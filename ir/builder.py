"""The Builder: the one way code creates instructions.

It checks arity and attributes against the op table, infers the result type
with the op's shape rule, names the instruction, records its source location,
and inserts it at the current insertion point.

    >>> from jitflow.ir import DType, Module, TensorType, print_module
    >>> m = Module("example")
    >>> b = m.builder("main", entry=True)
    >>> x = b.parameter(TensorType(DType.F32, (4,)), name="x")
    >>> b.set_root(b.exponential(x))
    <Instruction %exponential = f32[4] exponential>
    >>> print(print_module(m), end="")
    HloModule example
    <BLANKLINE>
    ENTRY %main (x: f32[4]) -> f32[4] {
      %x = f32[4] parameter(0)
      ROOT %exponential = f32[4] exponential(%x)
    }

(The test suite runs this example with doctest, so it stays true.)

Every opcode is available as a method with ``-`` spelled ``_``
(``b.dynamic_slice(x, i, dynamic_slice_sizes=(2,))``).  Ops whose result type
is not determined by their operands take ``shape=``/``dtype=`` or ``type=``.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ..errors import IRError, SourceLocation
from .core import Computation, Instruction, Module
from .opdef import OPS, lookup
from .types import DType, TensorType, Type, same_ignoring_layout


class DeclaredTypeError(IRError):
    """A result type given to ``Builder.emit`` that contradicts the op table's inference."""

    def __init__(self, message: str, declared: Type, inferred: Type) -> None:
        super().__init__(message)
        self.declared = declared
        self.inferred = inferred


class Builder:
    def __init__(self, computation: Computation, *, source: SourceLocation | None = None) -> None:
        if computation.module is None:
            raise IRError(f"computation '{computation.name}' must belong to a Module to be built")
        self.computation = computation
        self.module: Module = computation.module
        self.source = source
        self._anchor: Instruction | None = None  # insert before this; None = at the end

    # -- insertion point and source metadata --------------------------------

    def set_insertion_point(self, *, before: Instruction | None = None,
                            after: Instruction | None = None) -> None:
        """New instructions go before ``before``, after ``after``, or (neither) at the end."""
        if before is not None and after is not None:
            raise IRError("give the insertion point as before= or after=, not both")
        if after is not None:
            before = self.computation.following(after)
        elif before is not None and before.parent is not self.computation:
            raise IRError(f"%{before.name} does not belong to computation '{self.computation.name}'")
        self._anchor = before

    @contextlib.contextmanager
    def at(self, source: SourceLocation | None) -> Iterator[Builder]:
        """Instructions built inside the block carry ``source``."""
        saved, self.source = self.source, source
        try:
            yield self
        finally:
            self.source = saved

    # -- building -----------------------------------------------------------

    def emit(self, opcode: str, *operands: Instruction, type: Type | None = None,
             shape: Sequence[int] | None = None, dtype: DType | None = None,
             called: Sequence[Computation] = (), name: str | None = None,
             **attrs: Any) -> Instruction:
        """Create an instruction of ``opcode``; the op table infers its type."""
        opdef = lookup(opcode)
        try:
            opdef.check_arity(len(operands))
            for operand in operands:
                if not isinstance(operand, Instruction):
                    raise IRError(f"operands must be instructions, got {operand!r}")
            attrs = opdef.normalize_attrs(attrs)
            declared = self._declared_type(operands, type, shape, dtype)
            if opdef.needs_declared_type and declared is None:
                raise IRError("its result type cannot be inferred: pass type= or shape=/dtype=")
            inferred = opdef.infer([o.type for o in operands], attrs, list(called), declared)
            if declared is not None and not same_ignoring_layout(declared, inferred):
                raise DeclaredTypeError(f"declared type {declared} does not match {inferred} "
                                        "inferred from the operands", declared, inferred)
        except IRError as error:
            operand_text = ", ".join(f"%{o.name}: {o.type}" for o in operands
                                     if isinstance(o, Instruction))
            where = f" at {self.source}" if self.source else ""
            message = f"cannot build {opcode}({operand_text}){where}: {error}"
            if isinstance(error, DeclaredTypeError):
                raise DeclaredTypeError(message, error.declared, error.inferred) from None
            raise IRError(message) from None
        # A declared type (it agrees with the inferred one) keeps its layouts.
        result_type = inferred if declared is None else declared
        inst = Instruction(self.module.unique_name(name or opcode), opcode, operands, result_type,
                           attrs, called, self.source)
        if self._anchor is None:
            self.computation.append(inst)
        else:
            self.computation.insert_before(self._anchor, inst)
        return inst

    @staticmethod
    def _declared_type(operands: Sequence[Instruction], type: Type | None,
                       shape: Sequence[int] | None, dtype: DType | None) -> Type | None:
        if type is not None:
            if shape is not None or dtype is not None:
                raise IRError("give either type= or shape=/dtype=, not both")
            return type
        if shape is None and dtype is None:
            return None
        first = operands[0].type if operands and isinstance(operands[0].type, TensorType) else None
        if dtype is None:
            if first is None:
                raise IRError("dtype= is needed when the first operand is not an array")
            dtype = first.dtype
        if shape is None:
            if first is None:
                raise IRError("shape= is needed when the first operand is not an array")
            shape = first.shape
        return TensorType(dtype, tuple(shape))

    def parameter(self, type: Type, *, name: str | None = None,
                  number: int | None = None) -> Instruction:
        """Parameter ``number`` (default: the next free one) of the computation."""
        if number is None:
            number = self.computation.parameter_count
        return self.emit("parameter", type=type, name=name or f"p{number}",
                         parameter_number=number)

    def constant(self, value: Any, dtype: DType | None = None, *,
                 name: str | None = None) -> Instruction:
        """A literal; ``dtype`` defaults to the NumPy value's own dtype."""
        array = np.asarray(value) if dtype is None else np.asarray(value, dtype=dtype.numpy)
        element = DType.from_numpy(array.dtype)
        return self.emit("constant", type=TensorType(element, array.shape), name=name,
                         literal=array)

    def set_root(self, inst: Instruction) -> Instruction:
        self.computation.set_root(inst)
        return inst

    def __getattr__(self, attribute: str) -> Callable[..., Instruction]:
        opcode = attribute.replace("_", "-")
        if attribute.startswith("_") or opcode not in OPS:
            raise AttributeError(f"Builder has no method '{attribute}' (and no opcode '{opcode}')")

        def build(*operands: Instruction, **kwargs: Any) -> Instruction:
            return self.emit(opcode, *operands, **kwargs)

        build.__name__ = attribute
        build.__doc__ = OPS[opcode].doc
        return build


def build_scalar_computation(module: Module, name: str, opcode: str, dtype: DType,
                             arity: int = 2) -> Computation:
    """A computation applying one elementwise op to scalars, e.g. a reducer ``add``."""
    builder = module.builder(name)
    params = [builder.parameter(TensorType(dtype, ())) for _ in range(arity)]
    builder.set_root(builder.emit(opcode, *params))
    return builder.computation
