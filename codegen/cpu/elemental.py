"""The elemental emitter: the value of any array instruction at one index, as LLVM IR.

Like XLA's elemental IR emitter, each op is a generator ``index -> scalar`` written
in terms of its operands' generators, so a fused computation is just the
composition of its instructions' generators inside one loop body.  One table
maps opcodes to generators; elementwise ops share one entry that defers to the
scalar emitters in ``lowering``.

Reads that a select discards (concatenate, pad, dynamic-update-slice) still
happen, so their indices are clamped into bounds: the code stays branch-free
(vectorizable) and never reads outside a buffer.
"""

from __future__ import annotations

import functools
import math
from typing import Callable, Sequence

import numpy as np
from llvmlite import ir

from ...ir import DType, Instruction, TensorType, Trait
from ..errors import UnsupportedOpError
from .layouts import element_offset
from .lowering import ELEMENTWISE, bitcast, convert, emit_elementwise
from .loops import Index, for_range, i64
from .scalars import I1, I8, compute_dtype, element_ptr, load_element, narrow, register_type, widen

Leaf = Callable[[Index], object]  # index -> register value (or list of them for tuples)
ElementalRule = Callable[["Elemental", Instruction, Index], object]
ELEMENTAL: dict[str, ElementalRule] = {}

# Reducers that are one associative op on the two parameters: they accumulate in the
# compute type (f32 for halves, as the interpreter's NumPy reduction does).
UFUNC_REDUCERS = frozenset({"add", "multiply", "maximum", "minimum", "and", "or", "xor"})
# Float max/min reductions: the LLVM intrinsic with NumPy's NaN propagation (signed zeros
# may pick the other zero: -0.0 and 0.0 compare equal).
FLOAT_EXTREMA = {"maximum": "llvm.maximum", "minimum": "llvm.minimum"}


class Elemental:
    """Generates values of instructions at indices inside one function.

    ``leaves`` give the values of instructions produced elsewhere (buffers, bound
    scalars); everything else is generated from its operands.  Values are cached
    per (instruction, index) so shared subexpressions are emitted once.
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
        rule = ELEMENTAL.get(inst.opcode)
        if rule is None:
            raise UnsupportedOpError(
                f"the cpu backend cannot compute {inst.opcode} inside a loop body ({inst.describe()})")
        result = rule(self, inst, index)
        self._cache[key] = (index, result)  # the Index is kept alive so its id stays unique
        tap = self.taps.get(inst)
        if tap is not None:
            tap(index, result)
        return result

    def operand(self, inst: Instruction, number: int, index: Index) -> object:
        return self.value(inst.operands[number], index)

    def scalar_operand(self, inst: Instruction, number: int) -> object:
        return self.value(inst.operands[number], Index.scalar())


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


def _rule(*opcodes: str) -> Callable[[ElementalRule], ElementalRule]:
    def decorate(fn: ElementalRule) -> ElementalRule:
        for opcode in opcodes:
            ELEMENTAL[opcode] = fn
        return fn

    return decorate


def _clamp(b: ir.IRBuilder, value: ir.Value, low: int, high: int) -> ir.Value:
    value = b.select(b.icmp_signed("<", value, i64(low)), i64(low), value)
    return b.select(b.icmp_signed(">", value, i64(high)), i64(high), value)


# -- elementwise ------------------------------------------------------------------

def _elementwise(e: Elemental, inst: Instruction, index: Index) -> object:
    args = []
    for operand in inst.operands:
        # select's predicate and clamp's bounds may be scalars broadcast over the result.
        same_shape = operand.type.shape == inst.type.shape
        args.append(e.value(operand, index if same_shape else Index.scalar()))
    return emit_elementwise(e.b, inst, args)


for _opcode in ELEMENTWISE:
    if _opcode != "bitcast-convert":
        ELEMENTAL[_opcode] = _elementwise


@_rule("bitcast-convert")
def _bitcast_convert(e: Elemental, inst: Instruction, index: Index) -> object:
    b = e.b
    source, target = inst.operands[0].type, inst.type
    if source.dtype.bits == target.dtype.bits:
        return _elementwise(e, inst, index)
    dims = index.dims(b)
    if source.dtype.bits > target.dtype.bits:  # one wide element -> a minor dimension of parts
        wide = e.operand(inst, 0, Index(source.shape, dims[:-1]))
        bits = bitcast(b, wide, source.dtype, DType(f"u{source.dtype.bits}"))
        shift = b.mul(b.zext(dims[-1], bits.type) if bits.type.width > 64 else
                      b.trunc(dims[-1], bits.type) if bits.type.width < 64 else dims[-1],
                      ir.Constant(bits.type, target.dtype.bits))
        part = b.trunc(b.lshr(bits, shift), ir.IntType(target.dtype.bits))
        return bitcast(b, part, DType(f"u{target.dtype.bits}"), target.dtype)
    whole = ir.IntType(target.dtype.bits)  # parts of the minor dimension -> one wide element
    acc = ir.Constant(whole, 0)
    for j in range(source.shape[-1]):
        part = e.operand(inst, 0, Index(source.shape, list(dims) + [i64(j)]))
        bits = bitcast(b, part, source.dtype, DType(f"u{source.dtype.bits}"))
        acc = b.or_(acc, b.shl(b.zext(bits, whole), ir.Constant(whole, j * source.dtype.bits)))
    return bitcast(b, acc, DType(f"u{target.dtype.bits}"), target.dtype)


# -- leaves and data movement ---------------------------------------------------------

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


@_rule("constant")
def _constant(e: Elemental, inst: Instruction, index: Index) -> object:
    # Literals are stored row-major whatever layout the instruction declares.
    return buffer_leaf(e.b, constant_global(e.b.module, inst), inst.type.without_layout())(index)


@_rule("iota")
def _iota(e: Elemental, inst: Instruction, index: Index) -> object:
    position = index.dims(e.b)[inst.attrs["iota_dimension"]]
    return convert(e.b, position, DType.S64, inst.type.dtype)


@_rule("broadcast")
def _broadcast(e: Elemental, inst: Instruction, index: Index) -> object:
    operand = inst.operands[0].type
    if not operand.shape:
        return e.operand(inst, 0, Index.scalar())
    dims = index.dims(e.b)
    source = [dims[d] if operand.shape[i] != 1 else i64(0)
              for i, d in enumerate(inst.attrs["dimensions"])]
    return e.operand(inst, 0, Index(operand.shape, source))


@_rule("reshape")
def _reshape(e: Elemental, inst: Instruction, index: Index) -> object:
    operand = inst.operands[0].type
    if not inst.type.shape or not operand.shape:
        return e.operand(inst, 0, Index(operand.shape, linear=i64(0)) if operand.shape else Index.scalar())
    return e.operand(inst, 0, Index(operand.shape, linear=index.linear(e.b)))


@_rule("transpose")
def _transpose(e: Elemental, inst: Instruction, index: Index) -> object:
    dims = index.dims(e.b)
    source: list = [None] * len(dims)
    for i, d in enumerate(inst.attrs["dimensions"]):
        source[d] = dims[i]
    return e.operand(inst, 0, Index(inst.operands[0].type.shape, source))


@_rule("slice")
def _slice(e: Elemental, inst: Instruction, index: Index) -> object:
    b = e.b
    source = []
    for dim, (start, _, stride) in zip(index.dims(b), inst.attrs["slice"]):
        scaled = dim if stride == 1 else b.mul(dim, i64(stride))
        source.append(scaled if start == 0 else b.add(scaled, i64(start)))
    return e.operand(inst, 0, Index(inst.operands[0].type.shape, source))


@_rule("reverse")
def _reverse(e: Elemental, inst: Instruction, index: Index) -> object:
    b = e.b
    shape = inst.type.shape
    reversed_dims = set(inst.attrs["dimensions"])
    source = [b.sub(i64(shape[d] - 1), dim) if d in reversed_dims else dim
              for d, dim in enumerate(index.dims(b))]
    return e.operand(inst, 0, Index(shape, source))


def start_indices(e: Elemental, inst: Instruction, first: int, limits: Sequence[int]) -> list:
    """Run-time start indices, clamped (as XLA does) so that the window stays in bounds."""
    b = e.b
    starts = []
    for d, limit in enumerate(limits):
        operand = inst.operands[first + d]
        raw = e.scalar_operand(inst, first + d)
        wide = convert(b, raw, operand.type.dtype, DType.S64)
        if operand.type.dtype is DType.U64:  # values >= 2**63 are large, not negative
            wide = b.select(b.icmp_unsigned(">", wide, i64(limit)), i64(limit), wide)
        starts.append(_clamp(b, wide, 0, limit))
    return starts


@_rule("dynamic-slice")
def _dynamic_slice(e: Elemental, inst: Instruction, index: Index) -> object:
    operand = inst.operands[0].type
    sizes = inst.attrs["dynamic_slice_sizes"]
    starts = start_indices(e, inst, 1, [d - s for d, s in zip(operand.shape, sizes)])
    source = [e.b.add(start, dim) for start, dim in zip(starts, index.dims(e.b))]
    return e.operand(inst, 0, Index(operand.shape, source))


@_rule("dynamic-update-slice")
def _dynamic_update_slice(e: Elemental, inst: Instruction, index: Index) -> object:
    b = e.b
    operand, update = inst.operands[0].type, inst.operands[1].type
    if update.size == 0:
        return e.operand(inst, 0, index)
    starts = start_indices(e, inst, 2, [d - u for d, u in zip(operand.shape, update.shape)])
    inside = ir.Constant(I1, 1)
    source = []
    for dim, start, size in zip(index.dims(b), starts, update.shape):
        offset = b.sub(dim, start)
        inside = b.and_(inside, b.icmp_unsigned("<", offset, i64(size)))  # also rejects negatives
        source.append(_clamp(b, offset, 0, size - 1))
    new = e.operand(inst, 1, Index(update.shape, source))
    old = e.operand(inst, 0, index)
    return b.select(inside, new, old)


@_rule("concatenate")
def _concatenate(e: Elemental, inst: Instruction, index: Index) -> object:
    b = e.b
    (axis,) = inst.attrs["dimensions"]
    dims = index.dims(b)
    result = None
    offset = 0
    for number, operand in enumerate(inst.operands):
        size = operand.type.shape[axis]
        if size == 0:
            continue
        local = _clamp(b, b.sub(dims[axis], i64(offset)), 0, size - 1)
        source = list(dims)
        source[axis] = local
        value = e.operand(inst, number, Index(operand.type.shape, source))
        if result is None:
            result = value
        else:
            result = b.select(b.icmp_signed("<", dims[axis], i64(offset)), result, value)
        offset += size
    return result


@_rule("pad")
def _pad(e: Elemental, inst: Instruction, index: Index) -> object:
    b = e.b
    operand = inst.operands[0].type
    padding_value = e.scalar_operand(inst, 1)
    if operand.size == 0:
        return padding_value
    inside = ir.Constant(I1, 1)
    source = []
    for dim, (low, _, interior), size in zip(index.dims(b), inst.attrs["padding"], operand.shape):
        shifted = b.sub(dim, i64(low))
        step = interior + 1
        position = shifted if step == 1 else b.sdiv(shifted, i64(step))
        inside = b.and_(inside, b.icmp_signed(">=", shifted, i64(0)))
        inside = b.and_(inside, b.icmp_signed("<", position, i64(size)))
        if step != 1:
            on_grid = b.icmp_signed("==", b.srem(shifted, i64(step)), i64(0))
            inside = b.and_(inside, on_grid)
        source.append(_clamp(b, position, 0, size - 1))
    value = e.operand(inst, 0, Index(operand.shape, source))
    return b.select(inside, value, padding_value)


# -- tuples and calls inside loop bodies --------------------------------------------

@_rule("tuple")
def _tuple(e: Elemental, inst: Instruction, index: Index) -> object:
    return [e.value(o, index) for o in inst.operands]


@_rule("get-tuple-element")
def _get_tuple_element(e: Elemental, inst: Instruction, index: Index) -> object:
    return e.operand(inst, 0, index)[inst.attrs["index"]]


@_rule("call", "fusion")
def _call(e: Elemental, inst: Instruction, index: Index) -> object:
    args = [(lambda o: (lambda i: e.value(o, i)))(o) for o in inst.operands]
    return inline_computation(e.b, inst.called[0], args, index)


# -- reduce -------------------------------------------------------------------------

def ufunc_reducer(computation) -> str | None:
    """The opcode of a reducer that is one associative op on its two parameters, else None."""
    root = computation.root
    params = computation.parameters
    if (len(params) == 2 and root is not None and root.opcode in UFUNC_REDUCERS
            and len(root.operands) == 2 and set(root.operands) == set(params)):
        return root.opcode
    return None


def reduce_input_indexer(b: ir.IRBuilder, inst: Instruction, out: Index) -> Callable[[ir.Value], Index]:
    """The input index of each reduced position (row-major over the reduced dimensions).

    Call it before the loop over positions: what it needs of ``out`` is computed here,
    where it dominates the loop and whatever follows it (``out`` caches it for later
    users, which a value first computed inside the loop body would not dominate)."""
    shape = inst.operands[0].type.shape
    reduced = sorted(inst.attrs["dimensions"])
    rank = len(shape)
    count = math.prod(shape[d] for d in reduced)
    if reduced == list(range(rank - len(reduced), rank)):
        # Reduced dimensions form the minor block: the input offset is linear in position.
        if not out.shape:
            return lambda position: Index(shape, linear=position)
        base = b.mul(out.linear(b), i64(count))
        return lambda position: Index(shape, linear=b.add(base, position))
    kept_dims = out.dims(b)

    def index(position: ir.Value) -> Index:
        by_dim = dict(zip(reduced, Index([shape[d] for d in reduced], linear=position).dims(b)))
        kept = iter(kept_dims)
        return Index(shape, [by_dim[d] if d in by_dim else next(kept) for d in range(rank)])

    return index


class ReduceStep:
    """Combines accumulators with input elements using the reducer, in the right types."""

    def __init__(self, b: ir.IRBuilder, inst: Instruction) -> None:
        self.b = b
        self.inst = inst
        self.count = len(inst.operands) // 2
        self.dtypes = [o.type.dtype for o in inst.operands[:self.count]]
        self.ufunc = ufunc_reducer(inst.called[0]) if self.count == 1 else None

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


@functools.lru_cache(maxsize=None)
def scalar_instruction(opcode: str, dtype: DType) -> Instruction:
    """A detached ``opcode`` on two scalars of ``dtype``: what a scalar emitter needs to see."""
    t = TensorType(dtype, ())
    operand = Instruction("x", "parameter", (), t, {"parameter_number": 0})
    return Instruction(opcode, opcode, (operand, operand), t)


def entry_alloca(b: ir.IRBuilder, t: ir.Type) -> ir.Value:
    """An alloca in the function's entry block, where mem2reg turns it into registers."""
    entry = b.function.entry_basic_block
    with b.goto_block(entry):
        if entry.instructions:
            b.position_before(entry.instructions[0])
        return b.alloca(t)


@_rule("reduce")
def _reduce(e: Elemental, inst: Instruction, index: Index) -> object:
    b = e.b
    step = ReduceStep(b, inst)
    inits = step.enter([e.scalar_operand(inst, step.count + i) for i in range(step.count)])
    slots = [entry_alloca(b, t) for t in step.accumulator_types()]
    for slot, init in zip(slots, inits):
        b.store(init, slot)
    shape = inst.operands[0].type.shape
    count = math.prod(shape[d] for d in inst.attrs["dimensions"])
    input_index = reduce_input_indexer(b, inst, index)
    with for_range(b, i64(0), i64(count), "r") as position:
        source = input_index(position)
        elements = step.enter([e.operand(inst, i, source) for i in range(step.count)])
        accumulators = [b.load(slot, typ=t) for slot, t in zip(slots, step.accumulator_types())]
        for slot, new in zip(slots, step.combine(accumulators, elements)):
            b.store(new, slot)
    return step.leave([b.load(slot, typ=t) for slot, t in zip(slots, step.accumulator_types())])


# -- dot (generated loops; BLAS is called from kernels.py) --------------------------------

@_rule("dot")
def _dot(e: Elemental, inst: Instruction, index: Index) -> object:
    b = e.b
    lhs, rhs = inst.operands[0].type, inst.operands[1].type
    lb, rb = inst.attrs["lhs_batch_dims"], inst.attrs["rhs_batch_dims"]
    lc, rc = inst.attrs["lhs_contracting_dims"], inst.attrs["rhs_contracting_dims"]
    lf = [d for d in range(lhs.rank) if d not in lb + lc]
    rf = [d for d in range(rhs.rank) if d not in rb + rc]
    out_dtype = inst.type.dtype
    work = compute_dtype(out_dtype)
    dims = index.dims(b) if inst.type.shape else []
    batch, lfree, rfree = dims[:len(lb)], dims[len(lb):len(lb) + len(lf)], dims[len(lb) + len(lf):]
    contract_shape = [lhs.shape[d] for d in lc]
    slot = entry_alloca(b, register_type(work))
    zero = ir.Constant(register_type(work), 0.0 if work.is_float else 0)
    b.store(zero, slot)
    with for_range(b, i64(0), i64(math.prod(contract_shape)), "k") as k:
        contract = Index(contract_shape, linear=k).dims(b) if contract_shape else []
        lhs_dims = _place(lhs.rank, zip(lb, batch), zip(lf, lfree), zip(lc, contract))
        rhs_dims = _place(rhs.rank, zip(rb, batch), zip(rf, rfree), zip(rc, contract))
        x = convert(b, e.operand(inst, 0, Index(lhs.shape, lhs_dims)), lhs.dtype, work)
        y = convert(b, e.operand(inst, 1, Index(rhs.shape, rhs_dims)), rhs.dtype, work)
        acc = b.load(slot, typ=register_type(work))
        if work.is_float:
            b.store(b.fadd(acc, b.fmul(x, y, flags=("contract",)), flags=("reassoc", "contract")), slot)
        else:
            b.store(b.add(acc, b.mul(x, y)), slot)
    return convert(b, b.load(slot, typ=register_type(work)), work, out_dtype)


def _place(rank: int, *pairs) -> list:
    dims: list = [None] * rank
    for group in pairs:
        for d, value in group:
            dims[d] = value
    return dims


def needs_dims(inst: Instruction) -> bool:
    """Whether generating ``inst`` uses per-dimension indices (so nested loops are cheaper)."""
    if inst.opdef.has(Trait.ELEMENTWISE) and inst.opcode != "bitcast-convert":
        return False
    if inst.opcode == "bitcast-convert":
        return inst.type.dtype.bits != inst.operands[0].type.dtype.bits
    if inst.opcode in ("parameter", "constant", "reshape"):
        return False
    if inst.opcode == "broadcast":
        return bool(inst.operands[0].type.shape)
    return True

