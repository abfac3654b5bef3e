"""The elemental emitter: the value of any array instruction at one index, as LLVM IR.

Like XLA's elemental IR emitter, each op is a generator ``index -> scalar`` written
in terms of its operands' generators, so a fused computation is just the
composition of its instructions' generators inside one loop body.  Which operand
elements an op reads is its description in ``ir/analysis/index_maps.py``, shared
with the CUDA backend; ``Elemental`` implements that module's ``IndexAlgebra``
with LLVM values (scalar math from ``lowering``, loops from ``loops``).  Only
leaves (constants, iota) have rules of their own here.

Generated code stays branch-free (vectorizable): reads that a select discards
still happen, at indices clamped into bounds.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from llvmlite import ir

from ...ir import DType, Instruction, TensorType, Trait
from ...ir.analysis.index_maps import description
from ...ir.analysis.reducers import single_op_reducer
from ..errors import UnsupportedOpError
from ..index_maps import ElementEmitter, scalar_instruction
from .layouts import element_offset
from .lowering import ELEMENTWISE, bitcast, convert, emit_elementwise
from .loops import Index, for_range, i64
from .scalars import (I8, I64, compute_dtype, element_ptr, intrinsic, load_element, narrow, register_type,
                      widen)

Leaf = Callable[[Index], object]  # index -> register value (or list of them for tuples)
ElementalRule = Callable[["Elemental", Instruction, Index], object]

# Float sums of at least two blocks add blocks of this many elements pairwise (see
# Elemental._pairwise_sum): a float32 sum of 10^8 elements had 3.6e-6 relative error as
# SIMD lanes of sequential sums, where NumPy's pairwise sum has ~3e-8.
SUM_BLOCK = 1024

# Float max/min reductions: the LLVM intrinsic with NumPy's NaN propagation.  It orders
# -0.0 below 0.0, so max gives 0.0 and min -0.0 where both zeros tie; NumPy's own choice
# among tied zeros depends on its SIMD path (README: "What agreeing means").
FLOAT_EXTREMA = {"maximum": "llvm.maximum", "minimum": "llvm.minimum"}


class Elemental(ElementEmitter):
    """Generates values of instructions at indices inside one function.

    ``leaves`` give the values of instructions produced elsewhere (buffers, bound
    scalars); everything else is generated from its operands.  Values are cached
    per (instruction, index) so shared subexpressions are emitted once.  Index values
    are i64 registers.
    """

    def __init__(self, b: ir.IRBuilder, leaves: dict[Instruction, Leaf]) -> None:
        self.b = b
        self.leaves = leaves
        # Called with (index, value) where a value is generated (kernels keep some for later).
        self.taps: dict[Instruction, Callable[[Index, object], None]] = {}
        self._cache: dict[tuple[int, int], tuple[Index, object]] = {}

    def value(self, inst: Instruction, index: Index) -> object:
        leaf = self.leaves.get(inst)
        if leaf is not None:
            return leaf(index)
        key = (id(inst), id(index))
        hit = self._cache.get(key)
        if hit is not None:
            return hit[1]
        rule = ELEMENTAL.get(inst.opcode) or description(inst.opcode)
        if rule is None:
            raise UnsupportedOpError(
                f"the cpu backend cannot compute {inst.opcode} inside a loop body ({inst.describe()})")
        result = rule(self, inst, index)
        self._cache[key] = (index, result)  # the Index is kept alive so its id stays unique
        tap = self.taps.get(inst)
        if tap is not None:
            tap(index, result)
        return result

    # -- the index algebra of ir/analysis/index_maps.py ------------------------------------

    def constant(self, value: int) -> ir.Constant:
        return i64(value)

    def literal(self, value: object) -> int | None:
        if isinstance(value, ir.Constant) and value.type == I64:
            return value.constant
        return None

    def emit_add(self, a: ir.Value, b: ir.Value) -> ir.Value:
        return self.b.add(a, b)

    def emit_sub(self, a: ir.Value, b: ir.Value) -> ir.Value:
        return self.b.sub(a, b)

    def emit_mul(self, a: ir.Value, b: ir.Value) -> ir.Value:
        return self.b.mul(a, b)

    def div(self, a: ir.Value, b: ir.Value) -> ir.Value:
        return self.b.sdiv(a, b)

    def rem(self, a: ir.Value, b: ir.Value) -> ir.Value:
        return self.b.srem(a, b)

    def compare(self, direction: str, a: ir.Value, b: ir.Value, unsigned: bool = False) -> ir.Value:
        return (self.b.icmp_unsigned if unsigned else self.b.icmp_signed)(direction, a, b)

    def and_(self, a: ir.Value, b: ir.Value) -> ir.Value:
        return self.b.and_(a, b)

    def select(self, predicate: ir.Value, on_true: ir.Value, on_false: ir.Value) -> ir.Value:
        return self.b.select(predicate, on_true, on_false)

    def clamp(self, value: ir.Value, low: int, high: int) -> ir.Value:
        b = self.b
        value = b.select(b.icmp_signed("<", value, i64(low)), i64(low), value)
        return b.select(b.icmp_signed(">", value, i64(high)), i64(high), value)

    def index(self, shape: Sequence[int], dims: Sequence[ir.Value] | None = None,
              linear: ir.Value | None = None) -> Index:
        return Index(shape, dims, linear)

    def dims(self, index: Index) -> list[ir.Value]:
        return index.dims(self.b)

    def linear(self, index: Index) -> ir.Value:
        return index.linear(self.b)

    def to_index(self, value: ir.Value, dtype: DType) -> ir.Value:
        return convert(self.b, value, dtype, DType.S64)

    def apply(self, inst: Instruction, args: list) -> ir.Value:
        return emit_elementwise(self.b, inst, args)

    def split_bits(self, inst: Instruction, wide: ir.Value, part: ir.Value) -> ir.Value:
        b = self.b
        source, target = inst.operands[0].type.dtype, inst.type.dtype
        bits = bitcast(b, wide, source, DType(f"u{source.bits}"))
        shift = b.mul(b.zext(part, bits.type) if bits.type.width > 64 else
                      b.trunc(part, bits.type) if bits.type.width < 64 else part,
                      ir.Constant(bits.type, target.bits))
        narrow_bits = b.trunc(b.lshr(bits, shift), ir.IntType(target.bits))
        return bitcast(b, narrow_bits, DType(f"u{target.bits}"), target)

    def join_bits(self, inst: Instruction, parts: list) -> ir.Value:
        b = self.b
        source, target = inst.operands[0].type.dtype, inst.type.dtype
        whole = ir.IntType(target.bits)
        acc = ir.Constant(whole, 0)
        for j, part in enumerate(parts):
            bits = bitcast(b, part, source, DType(f"u{source.bits}"))
            acc = b.or_(acc, b.shl(b.zext(bits, whole), ir.Constant(whole, j * source.bits)))
        return bitcast(b, acc, DType(f"u{target.bits}"), target)

    def call(self, computation, arguments: Sequence[Leaf], index: Index) -> object:
        return inline_computation(self.b, computation, arguments, index)

    def fold(self, inst: Instruction, inits: list, count: int, elements: Callable[[ir.Value], list]) -> object:
        b = self.b
        step = ReduceStep(b, inst)
        if step.is_float_sum() and count >= 2 * SUM_BLOCK:
            return self._pairwise_sum(step, inits, count, elements)
        slots = [entry_alloca(b, t) for t in step.accumulator_types()]
        for slot, init in zip(slots, step.enter(inits)):
            b.store(init, slot)
        with for_range(b, i64(0), i64(count), "r") as position:
            values = step.enter(elements(position))
            accumulators = [b.load(slot, typ=t) for slot, t in zip(slots, step.accumulator_types())]
            for slot, new in zip(slots, step.combine(accumulators, values)):
                b.store(new, slot)
        return step.leave([b.load(slot, typ=t) for slot, t in zip(slots, step.accumulator_types())])

    def _pairwise_sum(self, step: "ReduceStep", inits: list, count: int,
                      elements: Callable[[ir.Value], list]) -> object:
        """``init + sum(elements)`` as NumPy sums floats: blocks of ``SUM_BLOCK`` elements
        (each vectorized), and the block sums pairwise.  ``levels[k]`` holds the sum of the
        last complete run of 2**k blocks, as a binary counter holds its bits; block ``n``
        carries into every level where ``n`` has a one bit below its lowest zero bit."""
        b = self.b
        (t,) = step.accumulator_types()
        identity = ir.Constant(t, -0.0)  # x + -0.0 == x for every x, signed zeros included
        partial = entry_alloca(b, t)
        levels = entry_alloca(b, ir.ArrayType(t, 64))

        def level(number: ir.Value) -> ir.Value:
            return b.gep(levels, [i64(0), number], inbounds=True)

        def block_sum(first: ir.Value, size: int) -> ir.Value:
            b.store(identity, partial)
            with for_range(b, i64(0), i64(size), "r") as offset:
                (x,) = step.enter(elements(b.add(first, offset, flags=("nsw",))))
                b.store(step.combine([b.load(partial, typ=t)], [x])[0], partial)
            return b.load(partial, typ=t)

        blocks, rest = divmod(count, SUM_BLOCK)
        trailing_zeros = intrinsic(b.module, "llvm.cttz.i64", I64, [I64, ir.IntType(1)])
        with for_range(b, i64(0), i64(blocks), "block") as number:
            b.store(block_sum(b.mul(number, i64(SUM_BLOCK), flags=("nsw",)), SUM_BLOCK), partial)
            carries = b.call(trailing_zeros, [b.not_(number), ir.Constant(ir.IntType(1), 0)])
            with for_range(b, i64(0), carries, "carry") as k:
                b.store(b.fadd(b.load(level(k), typ=t), b.load(partial, typ=t)), partial)
            b.store(b.load(partial, typ=t), level(carries))
        # The runs left in the counter are the one bits of ``blocks``: oldest (highest) first.
        total: ir.Value = identity
        for k in reversed(range(blocks.bit_length())):
            if blocks >> k & 1:
                total = b.fadd(total, b.load(level(i64(k)), typ=t))
        if rest:
            total = b.fadd(total, block_sum(i64(blocks * SUM_BLOCK), rest))
        (init,) = step.enter(inits)
        return step.leave([b.fadd(init, total)])

    def sum_of_products(self, inst: Instruction, count: int,
                        factors: Callable[[ir.Value], tuple]) -> ir.Value:
        b = self.b
        lhs, rhs = inst.operands[0].type.dtype, inst.operands[1].type.dtype
        out = inst.type.dtype
        work = compute_dtype(out)
        slot = entry_alloca(b, register_type(work))
        b.store(ir.Constant(register_type(work), 0.0 if work.is_float else 0), slot)
        with for_range(b, i64(0), i64(count), "k") as k:
            x_value, y_value = factors(k)
            x = convert(b, x_value, lhs, work)
            y = convert(b, y_value, rhs, work)
            acc = b.load(slot, typ=register_type(work))
            if work.is_float:
                b.store(b.fadd(acc, b.fmul(x, y, flags=("contract",)), flags=("reassoc", "contract")), slot)
            else:
                b.store(b.add(acc, b.mul(x, y)), slot)
        return convert(b, b.load(slot, typ=register_type(work)), work, out)


def buffer_leaf(b: ir.IRBuilder, pointer: ir.Value, t: TensorType) -> Leaf:
    """Loads from a buffer laid out as ``t.layout`` says (row-major when it has none)."""
    def load(index: Index) -> ir.Value:
        offset = element_offset(b, index, t)
        return load_element(b, element_ptr(b, pointer, offset, t.dtype), t.dtype)

    return load


def inline_computation(b: ir.IRBuilder, computation, args: Sequence[Leaf], index: Index) -> object:
    """The root of ``computation`` at ``index`` with its parameters given by ``args``."""
    leaves = {p: args[p.attrs["parameter_number"]] for p in computation.parameters}
    return Elemental(b, leaves).value(computation.root, index)


# -- leaves -----------------------------------------------------------------------------

def constant_global(module: ir.Module, inst: Instruction) -> ir.GlobalVariable:
    """The literal of constant ``inst`` as an internal constant global (one per instruction)."""
    name = f"jf_constant.{inst.name}.{id(inst):x}"
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    data = np.asarray(inst.attrs["literal"]).astype(inst.type.dtype.numpy).tobytes() or b"\0"
    array = ir.ArrayType(I8, len(data))
    variable = ir.GlobalVariable(module, array, name)
    variable.global_constant = True
    variable.linkage = "internal"
    variable.initializer = ir.Constant(array, bytearray(data))
    return variable


def _constant(e: Elemental, inst: Instruction, index: Index) -> object:
    # Literals are stored row-major whatever layout the instruction declares.
    return buffer_leaf(e.b, constant_global(e.b.module, inst), inst.type.without_layout())(index)


def _iota(e: Elemental, inst: Instruction, index: Index) -> object:
    position = index.dims(e.b)[inst.attrs["iota_dimension"]]
    return convert(e.b, position, DType.S64, inst.type.dtype)


# The rules of leaves; every other op is its description in ir/analysis/index_maps.py.
ELEMENTAL: dict[str, ElementalRule] = {"constant": _constant, "iota": _iota}


# -- reduce -------------------------------------------------------------------------

class ReduceStep:
    """Combines accumulators with input elements using the reducer, in the right types."""

    def __init__(self, b: ir.IRBuilder, inst: Instruction) -> None:
        self.b = b
        self.inst = inst
        self.count = len(inst.operands) // 2
        self.dtypes = [o.type.dtype for o in inst.operands[:self.count]]
        self.ufunc = single_op_reducer(inst.called[0]) if self.count == 1 else None

    def is_float_sum(self) -> bool:
        return self.ufunc == "add" and compute_dtype(self.dtypes[0]).is_float

    def accumulator_types(self) -> list[ir.Type]:
        if self.ufunc is not None:
            return [register_type(compute_dtype(self.dtypes[0]))]
        return [register_type(d) for d in self.dtypes]

    def enter(self, values: list) -> list:
        """Input or init values in accumulator form."""
        if self.ufunc is not None:
            return [widen(self.b, values[0], self.dtypes[0])]
        return values

    def leave(self, accumulators: list) -> object:
        if self.ufunc is not None:
            return narrow(self.b, accumulators[0], self.dtypes[0])
        return accumulators[0] if self.count == 1 else accumulators

    def combine(self, accumulators: list, elements: list) -> list:
        b = self.b
        if self.ufunc is not None:
            dtype = compute_dtype(self.dtypes[0])
            (acc,), (x,) = accumulators, elements
            if self.ufunc == "add" and dtype.is_float:
                # reassoc lets LLVM keep several partial sums (SIMD lanes): the sum is
                # then not sequential; its error bound is that of a blocked sum.
                return [b.fadd(acc, x, flags=("reassoc",))]
            if self.ufunc in FLOAT_EXTREMA and dtype.is_float:
                # NaN-propagating max/min as an intrinsic LLVM vectorizes as a reduction
                # (the compare-and-select form stays one element at a time).
                return [b.call(_intrinsic(b.module, FLOAT_EXTREMA[self.ufunc], acc.type), [acc, x])]
            return [ELEMENTWISE[self.ufunc](b, scalar_instruction(self.ufunc, dtype), [acc, x])]
        reducer = self.inst.called[0]
        args = [(lambda v: (lambda i: v))(v) for v in accumulators + elements]
        result = inline_computation(b, reducer, args, Index.scalar())
        return result if isinstance(result, list) else [result]


def _intrinsic(module: ir.Module, name: str, t: ir.Type) -> ir.Function:
    """The binary LLVM intrinsic ``name`` on ``t`` (``llvm.maximum.f32``), declared once."""
    full = f"{name}.{'f32' if t == ir.FloatType() else 'f64'}"
    existing = module.globals.get(full)
    return existing if existing is not None else ir.Function(module, ir.FunctionType(t, [t, t]), full)


def entry_alloca(b: ir.IRBuilder, t: ir.Type) -> ir.Value:
    """An alloca in the function's entry block, where mem2reg turns it into registers."""
    entry = b.function.entry_basic_block
    with b.goto_block(entry):
        if entry.instructions:
            b.position_before(entry.instructions[0])
        return b.alloca(t)


def needs_dims(inst: Instruction) -> bool:
    """Whether generating ``inst`` uses per-dimension indices (so nested loops are cheaper)."""
    if inst.opcode == "bitcast-convert":
        return inst.type.dtype.bits != inst.operands[0].type.dtype.bits
    if inst.opdef.has_any(Trait.ELEMENTWISE, Trait.SOURCE):
        return False  # the same index in every operand; a buffer read at its linear index
    if inst.opcode == "reshape":
        return False  # the same linear index in its row-major operand
    if inst.opcode == "broadcast":
        return bool(inst.operands[0].type.shape)
    return True

