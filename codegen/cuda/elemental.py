"""The C elemental emitter: the value of any array instruction at one index, as C statements.

The CUDA twin of ``codegen/cpu/elemental.py``: each opcode has a generator
``index -> variable`` written in terms of its operands' generators (one table,
``ELEMENTAL``), so a fused computation is the composition of its instructions'
generators inside one loop body.  Scalar expressions come from the target's
``CStyleRenderer``; this module only walks indices and emits statements.

Values are cached per (instruction, index) inside the current scope (a loop body
pushes one), keyed by the index's *linear* form when it is known: ``x[i]``
reached through a broadcast and through a reshape is computed once.  Row
kernels (``kernels.py``) pre-compute reductions of whole rows cooperatively and
publish them in ``precomputed``; a reduce asked for at the current row takes
that value, any other reduce runs as an inline loop.
"""

from __future__ import annotations

import contextlib
import functools
import math
from typing import Callable, Iterator, Sequence

import numpy as np

from ...ir import DType, Instruction, TensorType, Trait
from ..errors import UnsupportedOpError
from .cstyle import HALVES, CStyleRenderer

Leaf = Callable[["Index"], str]
ElementalRule = Callable[["CEmitter", Instruction, "Index"], object]
ELEMENTAL: dict[str, ElementalRule] = {}

# Reducers that are one associative op of the two parameters (accumulated in f32 for halves).
UFUNC_REDUCERS = frozenset({"add", "multiply", "maximum", "minimum", "and", "or", "xor"})


class Index:
    """A position in an array of ``shape``: per-dimension C expressions, a linear one, or both."""

    __slots__ = ("shape", "dims", "linear")

    def __init__(self, shape: Sequence[int], dims: Sequence[str] | None = None,
                 linear: str | None = None) -> None:
        self.shape = tuple(shape)
        self.dims = list(dims) if dims is not None else None
        self.linear = linear
        if not self.shape:
            self.dims, self.linear = [], "0"
        elif len(self.shape) == 1:
            if self.dims is None:
                self.dims = [linear]
            self.linear = self.dims[0]

    @staticmethod
    def scalar() -> Index:
        return Index(())


class CEmitter:
    """Emits C statements computing instruction values; ``lines`` is the generated body."""

    def __init__(self, renderer: CStyleRenderer, leaves: dict[Instruction, Leaf], itype: str,
                 constants: dict[str, str], prefix: str) -> None:
        self.r = renderer
        self.leaves = leaves
        self.leaves_in_order: list[Instruction] = []  # buffer leaves, in parameter order
        self.itype = itype
        self.constants = constants  # name -> definition, shared by a translation unit
        self.prefix = prefix
        self.lines: list[str] = []
        self.depth = 1
        self._count = 0
        # Cache scopes: values and known linear forms of indices made inside a loop body
        # stay there (their variables are out of scope after it).
        self._scopes: list[dict] = [{}]
        self._context = 0
        self._contexts = 0
        self.precomputed: dict[tuple, str] = {}

    # -- statements --------------------------------------------------------------------

    def emit(self, line: str) -> None:
        self.lines.append("  " * self.depth + line)

    def fresh(self, stem: str = "v") -> str:
        self._count += 1
        return f"{stem}{self._count}"

    def var(self, ctype: str, expr: str, stem: str = "v") -> str:
        name = self.fresh(stem)
        self.emit(f"const {ctype} {name} = {expr};")
        return name

    def mutable(self, ctype: str, expr: str, stem: str = "acc") -> str:
        name = self.fresh(stem)
        self.emit(f"{ctype} {name} = {expr};")
        return name

    @contextlib.contextmanager
    def block(self, header: str) -> Iterator[None]:
        """``header { ... }`` with a fresh cache scope: values made inside stay inside."""
        self.emit(header + " {")
        self.depth += 1
        self._scopes.append({})
        try:
            yield
        finally:
            self._scopes.pop()
            self.depth -= 1
            self.emit("}")

    def loop(self, variable: str, start: str, stop: str, step: str = "1") -> contextlib.AbstractContextManager:
        it = self.itype
        return self.block(f"for ({it} {variable} = {start}; {variable} < {stop}; {variable} += {step})")

    # -- indices --------------------------------------------------------------------------

    def dims(self, index: Index) -> list[str]:
        if index.dims is None:
            rest = index.linear
            dims: list[str] = [""] * len(index.shape)
            for d in range(len(index.shape) - 1, -1, -1):
                size = index.shape[d]
                if size == 1:
                    dims[d] = "0"
                elif d == 0:
                    dims[d] = rest
                else:
                    dims[d] = self.var(self.itype, f"{rest} % {size}", "d")
                    rest = self.var(self.itype, f"{rest} / {size}", "q")
            index.dims = dims
            self._scopes[-1][("linear", index.shape, tuple(dims))] = index.linear
        return index.dims

    def _lookup(self, key: tuple) -> object:
        for scope in reversed(self._scopes):
            hit = scope.get(key)
            if hit is not None:
                return hit
        return None

    def linear(self, index: Index) -> str:
        if index.linear is None:
            known = self._lookup(("linear", index.shape, tuple(index.dims)))
            if known is not None:
                return known
            # Dimensions of size 1 add nothing: (n, 1) indexed by (i, 0) is just i.
            terms = [(size, dim) for size, dim in zip(index.shape, index.dims) if size != 1]
            if not terms:
                return "0"
            expr = terms[0][1]
            for size, dim in terms[1:]:
                expr = f"({expr}) * {size} + {dim}"
            if len(terms) == 1:
                return expr
            known = self.var(self.itype, expr, "l")
            self._scopes[-1][("linear", index.shape, tuple(index.dims))] = known
            return known
        return index.linear

    def key(self, index: Index) -> object:
        if index.linear is not None:
            return index.linear
        known = self._lookup(("linear", index.shape, tuple(index.dims)))
        return known if known is not None else tuple(index.dims)

    # -- values ---------------------------------------------------------------------------

    def value(self, inst: Instruction, index: Index) -> object:
        """The variable holding ``inst`` at ``index`` (a list of them for tuples)."""
        key = (self._context, inst, self.key(index))
        hit = self._lookup(key)
        if hit is not None:
            return hit
        leaf = self.leaves.get(inst)
        if leaf is not None:
            result = leaf(index)
            self._scopes[-1][key] = result
            return result
        rule = ELEMENTAL.get(inst.opcode)
        if rule is None:
            raise UnsupportedOpError(
                f"the cuda backend cannot compute {inst.opcode} inside a kernel ({inst.describe()})")
        result = rule(self, inst, index)
        self._scopes[-1][key] = result
        return result

    def operand(self, inst: Instruction, number: int, index: Index) -> object:
        return self.value(inst.operands[number], index)

    def scalar_operand(self, inst: Instruction, number: int) -> str:
        return self.value(inst.operands[number], Index.scalar())

    def register(self, inst: Instruction) -> str:
        return self.r.register(inst.type.dtype)

    def inline(self, computation, args: Sequence[str]) -> object:
        """The root of a scalar ``computation`` (a reducer) applied to variables ``args``."""
        saved_context = self._context
        self._contexts += 1
        self._context = -self._contexts  # its own cache: a reducer may be inlined many times
        for param in computation.parameters:
            self.leaves[param] = (lambda v: lambda index: v)(args[param.attrs["parameter_number"]])
        try:
            return self.value(computation.root, Index.scalar())
        finally:
            for param in computation.parameters:
                del self.leaves[param]
            self._context = saved_context

    # -- buffers ----------------------------------------------------------------------------

    def buffer_leaf(self, pointer: str, t: TensorType) -> Leaf:
        """Loads from a row-major buffer named ``pointer``."""
        def load(index: Index) -> str:
            offset = self.linear(index) if t.shape else "0"
            return self.var(self.r.register(t.dtype), self.r.load(t.dtype, f"{pointer}[{offset}]"))
        return load

    def constant_array(self, inst: Instruction) -> str:
        """A ``__device__`` array of the literal's bits (exact for NaN payloads and -0)."""
        name = f"{self.prefix}_const_{len(self.constants)}"
        t = inst.type
        bits = t.dtype.bits if t.dtype is not DType.PRED else 8
        raw = np.asarray(inst.attrs["literal"]).astype(t.dtype.numpy).reshape(-1)
        words = raw.view(f"u{bits // 8}")
        suffix = "ull" if bits == 64 else "u"
        body = ", ".join(f"{int(w):#x}{suffix}" for w in words)
        self.constants[name] = f"__device__ const {self.r.unsigned(bits)} {name}[{len(words)}] = {{{body}}};"
        return name


def _rule(*opcodes: str) -> Callable[[ElementalRule], ElementalRule]:
    def decorate(fn: ElementalRule) -> ElementalRule:
        for opcode in opcodes:
            ELEMENTAL[opcode] = fn
        return fn
    return decorate


def _clamp(e: CEmitter, value: str, low: int, high: int) -> str:
    return e.var(e.itype, f"({value} < {low} ? ({e.itype}){low} : ({value} > {high} ? "
                          f"({e.itype}){high} : {value}))", "c")


# -- elementwise ------------------------------------------------------------------------

def _elementwise(e: CEmitter, inst: Instruction, index: Index) -> str:
    args = []
    for operand in inst.operands:
        # select's predicate and clamp's bounds may be scalars broadcast over the result.
        same_shape = operand.type.shape == inst.type.shape
        args.append(e.value(operand, index if same_shape else Index.scalar()))
    return e.var(e.register(inst), e.r.elementwise(inst, args))


def _register_elementwise() -> None:
    from ...ir import OPS

    for opcode, opdef in OPS.items():
        if opdef.has(Trait.ELEMENTWISE) and opcode != "bitcast-convert":
            ELEMENTAL[opcode] = _elementwise


_register_elementwise()


@_rule("bitcast-convert")
def _bitcast_convert(e: CEmitter, inst: Instruction, index: Index) -> str:
    r = e.r
    source, target = inst.operands[0].type, inst.type
    if source.dtype.bits == target.dtype.bits:
        bits = r.to_bits(source.dtype, e.operand(inst, 0, index))
        return e.var(e.register(inst), r.from_bits(target.dtype, bits))
    dims = e.dims(index)
    if source.dtype.bits > target.dtype.bits:  # one wide element -> a minor dimension of parts
        wide = e.operand(inst, 0, Index(source.shape, dims[:-1]))
        bits = r.to_bits(source.dtype, wide)
        part = f"({r.unsigned(target.dtype.bits)})({bits} >> ({dims[-1]} * {target.dtype.bits}))"
        return e.var(e.register(inst), r.from_bits(target.dtype, part))
    whole = r.unsigned(target.dtype.bits)  # parts of the minor dimension -> one wide element
    terms = []
    for j in range(source.shape[-1]):
        part = e.operand(inst, 0, Index(source.shape, list(dims) + [str(j)]))
        terms.append(f"(({whole}){r.to_bits(source.dtype, part)} << {j * source.dtype.bits})")
    return e.var(e.register(inst), r.from_bits(target.dtype, " | ".join(terms)))


# -- leaves and data movement ---------------------------------------------------------------

@_rule("constant")
def _constant(e: CEmitter, inst: Instruction, index: Index) -> str:
    t = inst.type
    if t.size == 1:
        value = np.asarray(inst.attrs["literal"]).astype(t.dtype.numpy).reshape(-1)[0]
        return e.var(e.register(inst), e.r.literal(t.dtype, value))
    name = e.constant_array(inst)
    word = f"{name}[{e.linear(index)}]"
    if t.dtype is DType.PRED:
        return e.var("bool", f"({word} != 0)")
    return e.var(e.register(inst), e.r.from_bits(t.dtype, word))


@_rule("iota")
def _iota(e: CEmitter, inst: Instruction, index: Index) -> str:
    position = e.dims(index)[inst.attrs["iota_dimension"]]
    return e.var(e.register(inst), e.r.convert(f"(long long){position}", DType.S64, inst.type.dtype))


@_rule("broadcast")
def _broadcast(e: CEmitter, inst: Instruction, index: Index) -> object:
    operand = inst.operands[0].type
    if not operand.shape:
        return e.operand(inst, 0, Index.scalar())
    dims = e.dims(index)
    source = [dims[d] if operand.shape[i] != 1 else "0" for i, d in enumerate(inst.attrs["dimensions"])]
    return e.operand(inst, 0, Index(operand.shape, source))


@_rule("reshape")
def _reshape(e: CEmitter, inst: Instruction, index: Index) -> object:
    operand = inst.operands[0].type
    if not operand.shape:
        return e.operand(inst, 0, Index.scalar())
    linear = e.linear(index) if inst.type.shape else "0"
    return e.operand(inst, 0, Index(operand.shape, linear=linear))


@_rule("transpose")
def _transpose(e: CEmitter, inst: Instruction, index: Index) -> object:
    dims = e.dims(index)
    source: list = [None] * len(dims)
    for i, d in enumerate(inst.attrs["dimensions"]):
        source[d] = dims[i]
    return e.operand(inst, 0, Index(inst.operands[0].type.shape, source))


@_rule("slice")
def _slice(e: CEmitter, inst: Instruction, index: Index) -> object:
    source = []
    for dim, (start, _, stride) in zip(e.dims(index), inst.attrs["slice"]):
        scaled = dim if stride == 1 else f"{dim} * {stride}"
        source.append(scaled if start == 0 else f"({scaled} + {start})")
    return e.operand(inst, 0, Index(inst.operands[0].type.shape, source))


@_rule("reverse")
def _reverse(e: CEmitter, inst: Instruction, index: Index) -> object:
    shape = inst.type.shape
    flipped = set(inst.attrs["dimensions"])
    source = [f"({shape[d] - 1} - {dim})" if d in flipped else dim for d, dim in enumerate(e.dims(index))]
    return e.operand(inst, 0, Index(shape, source))


def _start_indices(e: CEmitter, inst: Instruction, first: int, limits: Sequence[int]) -> list[str]:
    """Run-time start indices, clamped (as XLA does) so that the window stays in bounds."""
    starts = []
    for d, limit in enumerate(limits):
        raw = e.scalar_operand(inst, first + d)
        dtype = inst.operands[first + d].type.dtype
        if dtype.is_unsigned_int:  # compare unsigned: values >= 2**63 are large, not negative
            starts.append(e.var(e.itype, f"({raw} > {limit}u ? ({e.itype}){limit} : ({e.itype}){raw})", "s"))
        else:
            wide = e.var("long long", f"(long long){raw}", "s")
            starts.append(e.var(e.itype, f"({e.itype})({wide} < 0 ? 0 : ({wide} > {limit} ? {limit} : {wide}))", "s"))
    return starts


@_rule("dynamic-slice")
def _dynamic_slice(e: CEmitter, inst: Instruction, index: Index) -> object:
    operand = inst.operands[0].type
    sizes = inst.attrs["dynamic_slice_sizes"]
    starts = _start_indices(e, inst, 1, [d - s for d, s in zip(operand.shape, sizes)])
    source = [f"({start} + {dim})" for start, dim in zip(starts, e.dims(index))]
    return e.operand(inst, 0, Index(operand.shape, source))


@_rule("dynamic-update-slice")
def _dynamic_update_slice(e: CEmitter, inst: Instruction, index: Index) -> object:
    operand, update = inst.operands[0].type, inst.operands[1].type
    if update.size == 0:
        return e.operand(inst, 0, index)
    starts = _start_indices(e, inst, 2, [d - u for d, u in zip(operand.shape, update.shape)])
    inside, source = [], []
    for dim, start, size in zip(e.dims(index), starts, update.shape):
        offset = e.var(e.itype, f"{dim} - {start}", "o")
        inside.append(f"({offset} >= 0 && {offset} < {size})")
        source.append(_clamp(e, offset, 0, size - 1))
    new = e.operand(inst, 1, Index(update.shape, source))
    old = e.operand(inst, 0, index)
    return e.var(e.register(inst), f"({' && '.join(inside) or 'true'} ? {new} : {old})")


@_rule("concatenate")
def _concatenate(e: CEmitter, inst: Instruction, index: Index) -> object:
    (axis,) = inst.attrs["dimensions"]
    dims = e.dims(index)
    result, offset = None, 0
    for number, operand in enumerate(inst.operands):
        size = operand.type.shape[axis]
        if size == 0:
            continue
        source = list(dims)
        source[axis] = _clamp(e, f"({dims[axis]} - {offset})", 0, size - 1)
        value = e.operand(inst, number, Index(operand.type.shape, source))
        result = value if result is None else e.var(
            e.register(inst), f"({dims[axis]} < {offset} ? {result} : {value})")
        offset += size
    return result


@_rule("pad")
def _pad(e: CEmitter, inst: Instruction, index: Index) -> object:
    operand = inst.operands[0].type
    padding_value = e.scalar_operand(inst, 1)
    if operand.size == 0:
        return padding_value
    inside, source = [], []
    for dim, (low, _, interior), size in zip(e.dims(index), inst.attrs["padding"], operand.shape):
        shifted = e.var(e.itype, f"{dim} - ({low})", "p")
        step = interior + 1
        position = shifted if step == 1 else e.var(e.itype, f"{shifted} / {step}", "p")
        inside.append(f"{shifted} >= 0 && {position} < {size}")
        if step != 1:
            inside.append(f"{shifted} % {step} == 0")
        source.append(_clamp(e, position, 0, size - 1))
    value = e.operand(inst, 0, Index(operand.shape, source))
    return e.var(e.register(inst), f"(({' && '.join(inside) or 'true'}) ? {value} : {padding_value})")


# -- tuples and calls inside kernels ----------------------------------------------------------

@_rule("tuple")
def _tuple(e: CEmitter, inst: Instruction, index: Index) -> object:
    return [e.value(o, index) for o in inst.operands]


@_rule("get-tuple-element")
def _get_tuple_element(e: CEmitter, inst: Instruction, index: Index) -> object:
    return e.operand(inst, 0, index)[inst.attrs["index"]]


@_rule("call", "fusion")
def _call(e: CEmitter, inst: Instruction, index: Index) -> object:
    computation = inst.called[0]
    saved = {}
    for param in computation.parameters:
        operand = inst.operands[param.attrs["parameter_number"]]
        saved[param] = e.leaves.get(param)
        e.leaves[param] = (lambda o: lambda i: e.value(o, i))(operand)
    try:
        return e.value(computation.root, index)
    finally:
        for param, previous in saved.items():
            if previous is None:
                del e.leaves[param]
            else:
                e.leaves[param] = previous


# -- reduce ----------------------------------------------------------------------------------

def ufunc_reducer(computation) -> str | None:
    """The opcode of a reducer that is one associative op on its two parameters, else None."""
    root = computation.root
    params = computation.parameters
    if (len(params) == 2 and root is not None and root.opcode in UFUNC_REDUCERS
            and len(root.operands) == 2 and set(root.operands) == set(params)):
        return root.opcode
    return None


@functools.lru_cache(maxsize=None)
def scalar_instruction(opcode: str, dtype: DType) -> Instruction:
    """A detached ``opcode`` on two scalars of ``dtype``: what the renderer needs to see."""
    t = TensorType(dtype, ())
    operand = Instruction("x", "parameter", (), t, {"parameter_number": 0})
    return Instruction(opcode, opcode, (operand, operand), t)


def compute_dtype(dtype: DType) -> DType:
    return DType.F32 if dtype in HALVES else dtype


def reduce_input_index(e: CEmitter, inst: Instruction, out: Index, position: str) -> Index:
    """The input index of reduced position ``position`` (row-major over the reduced dimensions)."""
    shape = inst.operands[0].type.shape
    reduced = sorted(inst.attrs["dimensions"])
    rank = len(shape)
    count = math.prod(shape[d] for d in reduced)
    if reduced == list(range(rank - len(reduced), rank)):
        # The reduced dimensions form the minor block: the input offset is linear in position.
        if not out.shape:
            return Index(shape, linear=position)
        return Index(shape, linear=e.var(e.itype, f"{e.linear(out)} * {count} + {position}", "l"))
    reduced_dims = e.dims(Index([shape[d] for d in reduced], linear=position))
    kept = iter(e.dims(out))
    by_dim = dict(zip(reduced, reduced_dims))
    return Index(shape, [by_dim[d] if d in by_dim else next(kept) for d in range(rank)])


@_rule("reduce")
def _reduce(e: CEmitter, inst: Instruction, index: Index) -> object:
    hit = e.precomputed.get((inst, e.key(index)))
    if hit is not None:
        return hit
    count = len(inst.operands) // 2
    dtypes = [o.type.dtype for o in inst.operands[:count]]
    ufunc = ufunc_reducer(inst.called[0]) if count == 1 else None
    shape = inst.operands[0].type.shape
    size = math.prod(shape[d] for d in inst.attrs["dimensions"])
    if index.shape:  # index math of the output position happens once, outside the loop
        e.linear(index)
        e.dims(index)
    if ufunc is not None:
        work = compute_dtype(dtypes[0])
        (acc,) = accumulators = [e.mutable(e.r.register(work), e.scalar_operand(inst, 1))]
        position = e.fresh("r")
        with e.loop(position, "0", str(size)):
            source = reduce_input_index(e, inst, index, position)
            element = e.operand(inst, 0, source)
            e.emit(f"{acc} = {e.r.elementwise(scalar_instruction(ufunc, work), [acc, element])};")
        return e.var(e.register(inst), e.r.round_to(dtypes[0], acc))
    accumulators = [e.mutable(e.r.register(d), e.scalar_operand(inst, count + i))
                    for i, d in enumerate(dtypes)]
    position = e.fresh("r")
    with e.loop(position, "0", str(size)):
        source = reduce_input_index(e, inst, index, position)
        elements = [e.operand(inst, i, source) for i in range(count)]
        combined = e.inline(inst.called[0], accumulators + elements)
        combined = combined if isinstance(combined, list) else [combined]
        # Read all results before assigning: the reducer may swap its accumulators.
        staged = [e.var(e.r.register(d), v) for d, v in zip(dtypes, combined)]
        for acc, new in zip(accumulators, staged):
            e.emit(f"{acc} = {new};")
    finals = [e.var(e.r.register(d), acc) for d, acc in zip(dtypes, accumulators)]
    return finals[0] if count == 1 else finals


# -- dot (an inline loop; cuBLAS is called by the runtime where it applies) ----------------

@_rule("dot")
def _dot(e: CEmitter, inst: Instruction, index: Index) -> str:
    lhs, rhs = inst.operands[0].type, inst.operands[1].type
    lb, rb = inst.attrs["lhs_batch_dims"], inst.attrs["rhs_batch_dims"]
    lc, rc = inst.attrs["lhs_contracting_dims"], inst.attrs["rhs_contracting_dims"]
    lf = [d for d in range(lhs.rank) if d not in lb + lc]
    rf = [d for d in range(rhs.rank) if d not in rb + rc]
    out = inst.type.dtype
    work = compute_dtype(out)
    dims = e.dims(index) if inst.type.shape else []
    batch, lfree, rfree = dims[:len(lb)], dims[len(lb):len(lb) + len(lf)], dims[len(lb) + len(lf):]
    contract_shape = [lhs.shape[d] for d in lc]
    acc = e.mutable(e.r.register(work), e.r.literal(work, 0))
    k = e.fresh("k")
    with e.loop(k, "0", str(math.prod(contract_shape))):
        contract = e.dims(Index(contract_shape, linear=k)) if contract_shape else []
        lhs_dims = _place(lhs.rank, zip(lb, batch), zip(lf, lfree), zip(lc, contract))
        rhs_dims = _place(rhs.rank, zip(rb, batch), zip(rf, rfree), zip(rc, contract))
        x = e.r.convert(e.operand(inst, 0, Index(lhs.shape, lhs_dims)), lhs.dtype, work) \
            if lhs.dtype is not work else e.operand(inst, 0, Index(lhs.shape, lhs_dims))
        y = e.r.convert(e.operand(inst, 1, Index(rhs.shape, rhs_dims)), rhs.dtype, work) \
            if rhs.dtype is not work else e.operand(inst, 1, Index(rhs.shape, rhs_dims))
        xv, yv = e.var(e.r.register(work), x), e.var(e.r.register(work), y)
        product = e.r.elementwise(scalar_instruction("multiply", work), [xv, yv])
        p = e.var(e.r.register(work), product)
        e.emit(f"{acc} = {e.r.elementwise(scalar_instruction('add', work), [acc, p])};")
    result = e.r.convert(acc, work, out) if work is not out else acc
    return e.var(e.register(inst), result)


def _place(rank: int, *pairs) -> list:
    dims: list = [None] * rank
    for group in pairs:
        for d, value in group:
            dims[d] = value
    return dims
