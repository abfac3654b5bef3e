"""Index maps: which operand elements each op reads for one element of its result.

In the spirit of XLA's indexing maps, every op that a loop body can compute is
described once here: which operand it reads, at which index (expressions in terms
of the output index, and of a loop position for reductions and dots), under which
guard (concatenate's pieces, pad's interior, dynamic-update-slice's window), and
what is read instead where the guard fails.  A description is a function
``(x, inst, out) -> value`` written over a small abstract interface,
``IndexAlgebra``: integer constants and arithmetic, comparisons, ``and``,
``select``, ``clamp``, indices (per-dimension or linear), and "read operand k at
this index".  What is not about indices (an elementwise op's scalar math, the
bits of a bitcast, a reducer's combine step, a multiply-add) is one interface call
that each backend implements its own way.

Three implementations instantiate the same descriptions: the CPU backend's with
LLVM values, the CUDA backend's with C expressions, and ``OperandReads`` below
with symbolic affine forms, from which the fusion pass learns whether an op reads
an operand only at its own output index and whether it evaluates some operand
element more than once.  A new structural op is written here once.

Reads that a select discards still happen in generated code (it stays
branch-free), so their indices are clamped into bounds.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence

from ..opdef import OPS, Trait
from ..types import DType, TupleType, Type, leaf_types
from .dots import DotDimensions

if TYPE_CHECKING:
    from ..core import Computation, Instruction

Value = Any   # an index or element value of one implementation (LLVM value, C expression, ...)
Index = Any   # an index of that implementation; every one has a ``shape``


class IndexAlgebra(Protocol):
    """What a description may do.  Index values are 64-bit signed integers; ``compare``
    and ``and_`` make predicates; ``select`` chooses between index or element values."""

    def constant(self, value: int) -> Value: ...
    def add(self, a: Value, b: Value) -> Value: ...
    def sub(self, a: Value, b: Value) -> Value: ...
    def mul(self, a: Value, b: Value) -> Value: ...
    def div(self, a: Value, b: Value) -> Value: ...  # truncating, as C and LLVM's sdiv
    def rem(self, a: Value, b: Value) -> Value: ...  # sign of the dividend
    def compare(self, direction: str, a: Value, b: Value, unsigned: bool = False) -> Value: ...
    def and_(self, a: Value, b: Value) -> Value: ...
    def select(self, predicate: Value, on_true: Value, on_false: Value) -> Value: ...
    def clamp(self, value: Value, low: int, high: int) -> Value: ...

    def index(self, shape: Sequence[int], dims: Sequence[Value] | None = None,
              linear: Value | None = None) -> Index: ...
    def dims(self, index: Index) -> list[Value]: ...
    def linear(self, index: Index) -> Value: ...  # the row-major offset

    def operand(self, inst: Instruction, number: int, index: Index) -> Value:
        """Operand ``number`` of ``inst`` at ``index`` (a list of values for a tuple)."""
    def to_index(self, value: Value, dtype: DType) -> Value:
        """An integer element of ``dtype`` as an index (u64 values >= 2**63 wrap negative)."""
    def apply(self, inst: Instruction, args: list[Value]) -> Value:
        """Elementwise ``inst`` on scalar ``args``."""
    def split_bits(self, inst: Instruction, wide: Value, part: Value) -> Value:
        """Part ``part`` (an index, least significant first) of a wider element, as ``inst``'s type."""
    def join_bits(self, inst: Instruction, parts: list[Value]) -> Value:
        """Narrower elements (least significant first) joined into one of ``inst``'s type."""
    def call(self, computation: Computation, arguments: Sequence[Callable[[Index], Value]],
             index: Index) -> Value:
        """The root of ``computation`` at ``index``, parameter k read through ``arguments[k]``."""
    def fold(self, inst: Instruction, inits: list[Value], count: int,
             elements: Callable[[Value], list[Value]]) -> Value:
        """``inst``'s reducer folded over positions 0..count-1 (``elements(position)``) from ``inits``."""
    def sum_of_products(self, inst: Instruction, count: int,
                        factors: Callable[[Value], tuple[Value, Value]]) -> Value:
        """The sum over positions 0..count-1 of the products ``factors(position)``, as ``inst``'s type."""


Description = Callable[[IndexAlgebra, "Instruction", Index], Value]
READS: dict[str, Description] = {}


def description(opcode: str) -> Description | None:
    """How ``opcode`` computes one result element from its operands (None: no loop body can)."""
    found = READS.get(opcode)
    if found is None:
        opdef = OPS.get(opcode)
        if opdef is not None and opdef.has(Trait.ELEMENTWISE):
            return _elementwise
    return found


def _reads(*opcodes: str) -> Callable[[Description], Description]:
    def register(fn: Description) -> Description:
        for opcode in opcodes:
            READS[opcode] = fn
        return fn

    return register


def _both(x: IndexAlgebra, a: Value | None, b: Value) -> Value:
    return b if a is None else x.and_(a, b)


# -- elementwise -----------------------------------------------------------------------

def _elementwise(x: IndexAlgebra, inst: Instruction, out: Index) -> Value:
    # select's predicate and clamp's bounds may be scalars used at every position.
    args = [x.operand(inst, number, out if operand.type.shape == inst.type.shape else x.index(()))
            for number, operand in enumerate(inst.operands)]
    return x.apply(inst, args)


@_reads("bitcast-convert")
def _bitcast_convert(x: IndexAlgebra, inst: Instruction, out: Index) -> Value:
    source, target = inst.operands[0].type, inst.type
    if source.dtype.bits == target.dtype.bits:
        return _elementwise(x, inst, out)
    dims = x.dims(out)
    if source.dtype.bits > target.dtype.bits:  # one wide element -> a minor dimension of parts
        return x.split_bits(inst, x.operand(inst, 0, x.index(source.shape, dims[:-1])), dims[-1])
    return x.join_bits(inst, [x.operand(inst, 0, x.index(source.shape, [*dims, x.constant(j)]))
                              for j in range(source.shape[-1])])


# -- data movement ---------------------------------------------------------------------

@_reads("broadcast")
def _broadcast(x: IndexAlgebra, inst: Instruction, out: Index) -> Value:
    operand = inst.operands[0].type
    if not operand.shape:
        return x.operand(inst, 0, x.index(()))
    dims = x.dims(out)
    source = [dims[d] if operand.shape[i] != 1 else x.constant(0)
              for i, d in enumerate(inst.attrs["dimensions"])]
    return x.operand(inst, 0, x.index(operand.shape, source))


@_reads("reshape")
def _reshape(x: IndexAlgebra, inst: Instruction, out: Index) -> Value:
    operand = inst.operands[0].type
    if not operand.shape:
        return x.operand(inst, 0, x.index(()))
    # Row-major order is kept: the same linear offset, no division into dimensions.
    linear = x.linear(out) if inst.type.shape else x.constant(0)
    return x.operand(inst, 0, x.index(operand.shape, linear=linear))


@_reads("transpose")
def _transpose(x: IndexAlgebra, inst: Instruction, out: Index) -> Value:
    dims = x.dims(out)
    source: list = [None] * len(dims)
    for i, d in enumerate(inst.attrs["dimensions"]):
        source[d] = dims[i]
    return x.operand(inst, 0, x.index(inst.operands[0].type.shape, source))


@_reads("slice")
def _slice(x: IndexAlgebra, inst: Instruction, out: Index) -> Value:
    source = [x.add(x.mul(dim, x.constant(stride)), x.constant(start))
              for dim, (start, _, stride) in zip(x.dims(out), inst.attrs["slice"])]
    return x.operand(inst, 0, x.index(inst.operands[0].type.shape, source))


@_reads("reverse")
def _reverse(x: IndexAlgebra, inst: Instruction, out: Index) -> Value:
    shape = inst.type.shape
    flipped = set(inst.attrs["dimensions"])
    source = [x.sub(x.constant(shape[d] - 1), dim) if d in flipped else dim
              for d, dim in enumerate(x.dims(out))]
    return x.operand(inst, 0, x.index(shape, source))


def start_indices(x: IndexAlgebra, inst: Instruction, first: int, limits: Sequence[int]) -> list[Value]:
    """The run-time start indices in operands ``first``..., clamped (as XLA does) to
    [0, limit] so that the window stays in bounds."""
    starts = []
    for d, limit in enumerate(limits):
        dtype = inst.operands[first + d].type.dtype
        start = x.to_index(x.operand(inst, first + d, x.index(())), dtype)
        if dtype is DType.U64:  # values >= 2**63 are large, not negative
            start = x.select(x.compare(">", start, x.constant(limit), unsigned=True), x.constant(limit), start)
        starts.append(x.clamp(start, 0, limit))
    return starts


@_reads("dynamic-slice")
def _dynamic_slice(x: IndexAlgebra, inst: Instruction, out: Index) -> Value:
    operand = inst.operands[0].type
    sizes = inst.attrs["dynamic_slice_sizes"]
    starts = start_indices(x, inst, 1, [d - s for d, s in zip(operand.shape, sizes)])
    source = [x.add(start, dim) for start, dim in zip(starts, x.dims(out))]
    return x.operand(inst, 0, x.index(operand.shape, source))


@_reads("dynamic-update-slice")
def _dynamic_update_slice(x: IndexAlgebra, inst: Instruction, out: Index) -> Value:
    operand, update = inst.operands[0].type, inst.operands[1].type
    if update.size == 0:
        return x.operand(inst, 0, out)
    starts = start_indices(x, inst, 2, [d - u for d, u in zip(operand.shape, update.shape)])
    inside, source = None, []
    for dim, start, size in zip(x.dims(out), starts, update.shape):
        offset = x.sub(dim, start)
        # One unsigned comparison also rejects negative offsets.
        inside = _both(x, inside, x.compare("<", offset, x.constant(size), unsigned=True))
        source.append(x.clamp(offset, 0, size - 1))
    new = x.operand(inst, 1, x.index(update.shape, source))
    if inside is None:  # a scalar update replaces the whole (scalar) operand
        return new
    return x.select(inside, new, x.operand(inst, 0, out))


@_reads("concatenate")
def _concatenate(x: IndexAlgebra, inst: Instruction, out: Index) -> Value:
    (axis,) = inst.attrs["dimensions"]
    pieces, offset = [], 0
    for number, operand in enumerate(inst.operands):
        size = operand.type.shape[axis]
        if size:
            pieces.append((number, offset, size))
        offset += size
    if len(pieces) == 1:  # every other operand is empty: the one left is the result
        return x.operand(inst, pieces[0][0], out)
    dims = x.dims(out)
    result = None
    for number, offset, size in pieces:
        source = list(dims)
        source[axis] = x.clamp(x.sub(dims[axis], x.constant(offset)), 0, size - 1)
        value = x.operand(inst, number, x.index(inst.operands[number].type.shape, source))
        result = value if result is None else x.select(
            x.compare("<", dims[axis], x.constant(offset)), result, value)
    return result


@_reads("pad")
def _pad(x: IndexAlgebra, inst: Instruction, out: Index) -> Value:
    operand = inst.operands[0].type
    padding_value = x.operand(inst, 1, x.index(()))
    if operand.size == 0:
        return padding_value
    inside, source = None, []
    for dim, (low, _, interior), size in zip(x.dims(out), inst.attrs["padding"], operand.shape):
        shifted = x.sub(dim, x.constant(low))
        step = interior + 1
        position = shifted if step == 1 else x.div(shifted, x.constant(step))
        inside = _both(x, inside, x.compare(">=", shifted, x.constant(0)))
        inside = _both(x, inside, x.compare("<", position, x.constant(size)))
        if step != 1:
            inside = _both(x, inside, x.compare("==", x.rem(shifted, x.constant(step)), x.constant(0)))
        source.append(x.clamp(position, 0, size - 1))
    value = x.operand(inst, 0, x.index(operand.shape, source))
    return value if inside is None else x.select(inside, value, padding_value)


# -- tuples and calls --------------------------------------------------------------------

@_reads("tuple")
def _tuple(x: IndexAlgebra, inst: Instruction, out: Index) -> Value:
    return [x.operand(inst, number, out) for number in range(len(inst.operands))]


@_reads("get-tuple-element")
def _get_tuple_element(x: IndexAlgebra, inst: Instruction, out: Index) -> Value:
    return x.operand(inst, 0, out)[inst.attrs["index"]]


@_reads("call", "fusion")
def _call(x: IndexAlgebra, inst: Instruction, out: Index) -> Value:
    arguments = [functools.partial(x.operand, inst, number) for number in range(len(inst.operands))]
    return x.call(inst.called[0], arguments, out)


# -- reduce and dot: a loop over positions --------------------------------------------------

def reduced_size(inst: Instruction) -> int:
    shape = inst.operands[0].type.shape
    return math.prod(shape[d] for d in inst.attrs["dimensions"])


def reduce_input_indexer(x: IndexAlgebra, inst: Instruction, out: Index) -> Callable[[Value], Index]:
    """The input index of each reduced position (row-major over the reduced dimensions).

    Call it before the loop over positions: what it needs of ``out`` is computed here,
    where it dominates the loop and whatever follows it."""
    shape = inst.operands[0].type.shape
    reduced = sorted(inst.attrs["dimensions"])
    rank = len(shape)
    if reduced == list(range(rank - len(reduced), rank)):
        # Reduced dimensions form the minor block: the input offset is linear in position.
        if not out.shape:
            return lambda position: x.index(shape, linear=position)
        base = x.mul(x.linear(out), x.constant(reduced_size(inst)))
        return lambda position: x.index(shape, linear=x.add(base, position))
    kept_dims = x.dims(out)
    reduced_shape = [shape[d] for d in reduced]

    def index(position: Value) -> Index:
        by_dim = dict(zip(reduced, x.dims(x.index(reduced_shape, linear=position))))
        kept = iter(kept_dims)
        return x.index(shape, [by_dim[d] if d in by_dim else next(kept) for d in range(rank)])

    return index


@_reads("reduce")
def _reduce(x: IndexAlgebra, inst: Instruction, out: Index) -> Value:
    count = len(inst.operands) // 2
    inits = [x.operand(inst, count + i, x.index(())) for i in range(count)]
    input_index = reduce_input_indexer(x, inst, out)

    def elements(position: Value) -> list[Value]:
        source = input_index(position)
        return [x.operand(inst, i, source) for i in range(count)]

    return x.fold(inst, inits, reduced_size(inst), elements)


def dot_operand_indexer(x: IndexAlgebra, inst: Instruction,
                        out: Index) -> Callable[[Value], tuple[Index, Index]]:
    """The lhs and rhs indices of each contracted position (row-major over the contracting
    dimensions); what it needs of ``out`` is computed before the loop, as for reduce."""
    dims = DotDimensions.of(inst)
    lhs, rhs = inst.operands[0].type, inst.operands[1].type
    batch, lhs_free, rhs_free = dims.split_result(x.dims(out) if out.shape else [])
    contracting_shape = [lhs.shape[d] for d in dims.lhs_contracting]

    def indices(position: Value) -> tuple[Index, Index]:
        contracted = x.dims(x.index(contracting_shape, linear=position)) if contracting_shape else []
        lhs_dims = _place(lhs.rank, zip(dims.lhs_batch, batch), zip(dims.lhs_free, lhs_free),
                          zip(dims.lhs_contracting, contracted))
        rhs_dims = _place(rhs.rank, zip(dims.rhs_batch, batch), zip(dims.rhs_free, rhs_free),
                          zip(dims.rhs_contracting, contracted))
        return x.index(lhs.shape, lhs_dims), x.index(rhs.shape, rhs_dims)

    return indices


def _place(rank: int, *pairs: Any) -> list:
    dims: list = [None] * rank
    for group in pairs:
        for d, value in group:
            dims[d] = value
    return dims


@_reads("dot")
def _dot(x: IndexAlgebra, inst: Instruction, out: Index) -> Value:
    indices = dot_operand_indexer(x, inst, out)
    lhs = inst.operands[0].type

    def factors(position: Value) -> tuple[Value, Value]:
        lhs_index, rhs_index = indices(position)
        return x.operand(inst, 0, lhs_index), x.operand(inst, 1, rhs_index)

    return x.sum_of_products(inst, math.prod(lhs.shape[d] for d in DotDimensions.of(inst).lhs_contracting),
                             factors)


# -- the same descriptions, read symbolically: what the fusion pass asks -------------------

@dataclass(frozen=True)
class _Affine:
    """sum(coefficient * atom) + offset (+ a part that is the same at every position, such
    as a run-time start index, when ``unknown``).  Atoms are the output's dimensions and
    loop positions, each ranging over [0, size)."""
    terms: tuple[tuple[str, int], ...] = ()
    offset: int = 0
    unknown: bool = False


@dataclass(frozen=True)
class _Opaque:
    """A value that is no affine form of the atoms; it depends on ``atoms`` (none: the same
    at every position)."""
    atoms: frozenset = frozenset()


@dataclass
class _SymbolicIndex:
    shape: tuple
    dims: list | None
    linear: object | None


@dataclass(frozen=True)
class Read:
    """One read of a description: operand ``number`` at an index of ``shape`` whose row-major
    offset is ``offset``, done at every combination of the atoms in ``varying``."""
    number: int
    shape: tuple
    offset: object
    varying: tuple


def _atoms(value: Any) -> frozenset:
    if isinstance(value, _Affine):
        return frozenset(atom for atom, _ in value.terms)
    if isinstance(value, _Opaque):
        return value.atoms
    if isinstance(value, list):
        return frozenset().union(*map(_atoms, value))
    return frozenset()


def _opaque(*values: Any) -> _Opaque:
    return _Opaque(frozenset().union(*map(_atoms, values)))


def _is_literal(value: Any) -> bool:
    return isinstance(value, _Affine) and not value.terms and not value.unknown


class OperandReads:
    """Which operand elements ``inst`` reads for its result elements: its description
    evaluated on affine forms of the output index's dimensions.  ``known`` is False where
    there is no description (or the result is a tuple of several shapes); the answers are
    then the cautious ones."""

    def __init__(self, inst: Instruction) -> None:
        self.inst = inst
        self._recording = _recording(inst)
        self.known = self._recording is not None

    def only_at_output_index(self, operand: Instruction) -> bool:
        """``operand`` is read (at least once) and only at the output's own index."""
        if not self.known:
            return False
        found = self._reads_of(operand)
        out = self._recording.out
        return bool(found) and all(r.shape == out.shape and r.offset == out.linear for r in found)

    def rereads(self, operand: Instruction) -> bool:
        """Some element of ``operand`` is evaluated more than once: at several output
        positions (a broadcast, a clamped or discarded read) or loop positions."""
        return not self.known or not all(self._recording.one_to_one(r) for r in self._reads_of(operand))

    def _reads_of(self, operand: Instruction) -> list[Read]:
        numbers = {n for n, o in enumerate(self.inst.operands) if o is operand}
        return [r for r in self._recording.reads if r.number in numbers]


_RECORDINGS: dict[tuple, _Recorder | None] = {}
_MAX_RECORDINGS = 4096


def _recording(inst: Instruction) -> _Recorder | None:
    """The symbolic reads of ``inst``, shared by every instruction of the same signature (the
    reads depend only on the opcode, the types and the attributes)."""
    key = (inst.opcode, inst.type, tuple(o.type for o in inst.operands), _frozen(inst.attrs))
    if key in _RECORDINGS:
        return _RECORDINGS[key]
    if len(_RECORDINGS) >= _MAX_RECORDINGS:
        _RECORDINGS.clear()
    describe = description(inst.opcode)
    shapes = {leaf.shape for leaf in leaf_types(inst.type)}
    recorder = None
    if describe is not None and len(shapes) == 1:
        recorder = _Recorder(next(iter(shapes)))
        describe(recorder, inst, recorder.out)
        recorder.linear(recorder.out)
    _RECORDINGS[key] = recorder
    return recorder


def _frozen(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(map(_frozen, value))
    return value


class _Recorder:
    """The index algebra on affine forms: records every read of a description."""

    def __init__(self, shape: tuple) -> None:
        self.ranges: dict[str, int] = {}
        self.reads: list[Read] = []
        self._split: dict[str, list] = {}
        dims = [self._atom(f"d{d}", size) for d, size in enumerate(shape)]
        self._varying = [atom for dim in dims for atom in _atoms(dim)]
        self.out = _SymbolicIndex(tuple(shape), dims, None)

    def one_to_one(self, read: Read) -> bool:
        """Distinct positions where ``read`` is done read distinct elements."""
        if not isinstance(read.offset, _Affine):
            return not read.varying
        coefficients = dict(read.offset.terms)
        if set(read.varying) - set(coefficients):
            return False  # the same element at every value of a missing atom
        covered = 0  # distinct offsets: each coefficient exceeds what the smaller ones reach
        for atom, coefficient in sorted(coefficients.items(), key=lambda item: abs(item[1])):
            if abs(coefficient) <= covered:
                return False
            covered += abs(coefficient) * (self.ranges[atom] - 1)
        return True

    def _atom(self, name: str, size: int) -> _Affine:
        if size <= 1:
            return _Affine()
        self.ranges[name] = size
        return _Affine(((name, 1),))

    def constant(self, value: int) -> _Affine:
        return _Affine((), value)

    def add(self, a: Any, b: Any, sign: int = 1) -> Any:
        if isinstance(a, _Affine) and isinstance(b, _Affine):
            terms = dict(a.terms)
            for atom, coefficient in b.terms:
                terms[atom] = terms.get(atom, 0) + sign * coefficient
            return _Affine(tuple(sorted((atom, c) for atom, c in terms.items() if c)),
                           a.offset + sign * b.offset, a.unknown or b.unknown)
        for affine, other in ((a, b), (b, a)):
            if isinstance(affine, _Affine) and not _atoms(other):
                return _Affine(affine.terms, affine.offset, True)
        return _opaque(a, b)

    def sub(self, a: Any, b: Any) -> Any:
        return self.add(a, b, -1)

    def mul(self, a: Any, b: Any) -> Any:
        for literal, other in ((a, b), (b, a)):
            if _is_literal(literal) and isinstance(other, _Affine):
                c = literal.offset
                return _Affine(tuple((atom, k * c) for atom, k in other.terms if k * c),
                               other.offset * c, other.unknown)
        return _opaque(a, b)

    def div(self, a: Any, b: Any) -> _Opaque:
        return _opaque(a, b)

    def rem(self, a: Any, b: Any) -> _Opaque:
        return _opaque(a, b)

    def compare(self, direction: str, a: Any, b: Any, unsigned: bool = False) -> _Opaque:
        return _opaque(a, b)

    def and_(self, a: Any, b: Any) -> _Opaque:
        return _opaque(a, b)

    def select(self, predicate: Any, on_true: Any, on_false: Any) -> Any:
        if isinstance(on_true, list):
            return [self.select(predicate, t, f) for t, f in zip(on_true, on_false)]
        return _opaque(predicate, on_true, on_false)

    def clamp(self, value: Any, low: int, high: int) -> _Opaque:
        return _opaque(value)

    def index(self, shape: Sequence[int], dims: Sequence | None = None, linear: Any = None) -> _SymbolicIndex:
        if not shape:
            return _SymbolicIndex((), [], _Affine())
        return _SymbolicIndex(tuple(shape), list(dims) if dims is not None else None, linear)

    def dims(self, index: _SymbolicIndex) -> list:
        if index.dims is None:
            index.dims = self._delinearize(index.linear, index.shape)
        return index.dims

    def _delinearize(self, linear: Any, shape: tuple) -> list:
        if len(shape) == 1:
            return [linear]
        loop = linear.terms[0][0] if isinstance(linear, _Affine) and len(linear.terms) == 1 else None
        if (loop is not None and linear.terms[0][1] == 1 and not linear.offset and not linear.unknown
                and self.ranges[loop] == math.prod(shape)):
            # A loop position over a whole shape: one atom per dimension instead.
            if loop not in self._split:
                self._split[loop] = [self._atom(f"{loop}.{d}", size) for d, size in enumerate(shape)]
                self._varying.remove(loop)
                self._varying += [atom for part in self._split[loop] for atom in _atoms(part)]
            return self._split[loop]
        return [_Affine() if size == 1 else _opaque(linear) for size in shape]

    def linear(self, index: _SymbolicIndex) -> Any:
        if index.linear is None:
            offset, stride = _Affine(), 1
            for dim, size in reversed(list(zip(index.dims, index.shape))):
                offset = self.add(offset, self.mul(dim, self.constant(stride)))
                stride *= size
            index.linear = offset
        return index.linear

    def operand(self, inst: Instruction, number: int, index: _SymbolicIndex) -> Any:
        offset = self.linear(index)
        self.reads.append(Read(number, index.shape, offset, tuple(self._varying)))
        return self._value(inst.operands[number].type, _atoms(offset))

    def _value(self, t: Type, atoms: frozenset) -> Any:
        if isinstance(t, TupleType):
            return [self._value(element, atoms) for element in t.elements]
        return _Opaque(atoms)

    def to_index(self, value: Any, dtype: DType) -> _Opaque:
        return _opaque(value)

    def apply(self, inst: Instruction, args: list) -> _Opaque:
        return _opaque(*args)

    def split_bits(self, inst: Instruction, wide: Any, part: Any) -> _Opaque:
        return _opaque(wide, part)

    def join_bits(self, inst: Instruction, parts: list) -> _Opaque:
        return _opaque(*parts)

    def call(self, computation: Computation, arguments: Sequence[Callable], index: _SymbolicIndex) -> Any:
        # What the callee reads is not followed: each argument counts as read anywhere.
        everywhere = _Opaque(frozenset(self._varying))
        for param in computation.parameters:
            shape = getattr(param.type, "shape", ())
            arguments[param.attrs["parameter_number"]](self.index(shape, linear=everywhere))
        return self._value(computation.root.type, everywhere.atoms)

    def fold(self, inst: Instruction, inits: list, count: int, elements: Callable) -> Any:
        self._loop(count, elements)
        return self._value(inst.type, frozenset(self._varying))

    def sum_of_products(self, inst: Instruction, count: int, factors: Callable) -> _Opaque:
        self._loop(count, factors)
        return _Opaque(frozenset(self._varying))

    def _loop(self, count: int, body: Callable) -> None:
        outside = list(self._varying)
        position = self._atom(f"p{len(self.ranges)}", count)
        self._varying += list(_atoms(position))
        body(position)
        self._varying = outside
