"""The C elemental emitter: the value of any array instruction at one index, as C statements.

The CUDA twin of ``codegen/cpu/elemental.py``: each op is a generator
``index -> variable`` written in terms of its operands' generators, so a fused
computation is the composition of its instructions' generators inside one loop
body.  Which operand elements an op reads is its description in
``ir/analysis/index_maps.py``, shared with the CPU backend; ``CEmitter``
implements that module's ``IndexAlgebra`` with C expressions.  Scalar expressions
come from the target's ``CStyleRenderer``; this module emits statements.

Values are cached per (instruction, index) inside the current scope (a loop body
pushes one), keyed by the index's *linear* form when it is known: ``x[i]``
reached through a broadcast and through a reshape is computed once.  Row
kernels (``kernels.py``) pre-compute reductions of whole rows cooperatively and
publish them in ``precomputed``; a reduce asked for at the current row takes
that value, any other reduce runs as an inline loop.
"""

from __future__ import annotations

import contextlib
import re
from typing import Callable, Iterator, Sequence

import numpy as np

from ...ir import DType, Instruction, TensorType
from ...ir.analysis.index_maps import description
from ...ir.analysis.reducers import single_op_reducer
from ..errors import UnsupportedOpError
from ..index_maps import ElementEmitter, scalar_instruction
from .cstyle import HALVES, CStyleRenderer

Leaf = Callable[["Index"], str]
ElementalRule = Callable[["CEmitter", Instruction, "Index"], object]
_LITERAL = re.compile(r"\(?(-?\d+)\)?")


class _Choice(str):
    """A ``?:`` expression between values: bound to a variable of the element type when it
    is an instruction's value, used inline when it is part of an index."""


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


class CEmitter(ElementEmitter):
    """Emits C statements computing instruction values; ``lines`` is the generated body.
    Index values are C expressions of type ``itype`` (``long long`` for run-time starts)."""

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
        rule = ELEMENTAL.get(inst.opcode) or description(inst.opcode)
        if rule is None:
            raise UnsupportedOpError(
                f"the cuda backend cannot compute {inst.opcode} inside a kernel ({inst.describe()})")
        result = rule(self, inst, index)
        if isinstance(result, _Choice):
            result = self.var(self.register(inst), result)
        self._scopes[-1][key] = result
        return result

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

    # -- the index algebra of ir/analysis/index_maps.py ------------------------------------

    def constant(self, value: int) -> str:
        return str(value) if value >= 0 else f"({value})"

    def literal(self, value: object) -> int | None:
        match = _LITERAL.fullmatch(value) if isinstance(value, str) else None
        return int(match.group(1)) if match else None

    def emit_add(self, a: str, b: str) -> str:
        return f"({a} + {b})"

    def emit_sub(self, a: str, b: str) -> str:
        return f"({a} - {b})"

    def emit_mul(self, a: str, b: str) -> str:
        return f"({a} * {b})"

    def div(self, a: str, b: str) -> str:
        return f"({self._bound(a)} / {b})"

    def rem(self, a: str, b: str) -> str:
        return f"({self._bound(a)} % {b})"

    def compare(self, direction: str, a: str, b: str, unsigned: bool = False) -> str:
        a, b = self._bound(a), self._bound(b)
        if unsigned:
            a, b = f"(unsigned long long)({a})", f"(unsigned long long)({b})"
        return f"{a} {direction} {b}"

    def and_(self, a: str, b: str) -> str:
        return f"{a} && {b}"

    def select(self, predicate: str, on_true: str, on_false: str) -> str:
        return _Choice(f"(({predicate}) ? {on_true} : {on_false})")

    def clamp(self, value: str, low: int, high: int) -> str:
        value, it = self._bound(value), self.itype
        return self.var(it, f"({value} < {low} ? ({it}){low} : ({value} > {high} ? ({it}){high} : {value}))", "c")

    def _bound(self, value: str) -> str:
        """``value`` as a variable (an expression used more than once is computed once)."""
        if value.isidentifier() or self.literal(value) is not None:
            return value
        key = ("bound", value)
        known = self._lookup(key)
        if known is None:
            known = self._scopes[-1][key] = self.var("auto", value, "o")
        return known

    def index(self, shape: Sequence[int], dims: Sequence[str] | None = None, linear: str | None = None) -> Index:
        if linear is not None and not linear.isidentifier() and self.literal(linear) is None:
            linear = self.var(self.itype, linear, "l")  # loads and dimensions share it
        return Index(shape, dims, linear)

    def to_index(self, value: str, dtype: DType) -> str:
        return f"(long long){value}"

    def apply(self, inst: Instruction, args: list) -> str:
        if inst.opcode == "bitcast-convert":  # same width: reinterpret the bits
            bits = self.r.to_bits(inst.operands[0].type.dtype, args[0])
            return self.var(self.register(inst), self.r.from_bits(inst.type.dtype, bits))
        return self.var(self.register(inst), self.r.elementwise(inst, args))

    def split_bits(self, inst: Instruction, wide: str, part: str) -> str:
        r, target = self.r, inst.type.dtype
        bits = r.to_bits(inst.operands[0].type.dtype, wide)
        return self.var(self.register(inst), r.from_bits(
            target, f"({r.unsigned(target.bits)})({bits} >> ({part} * {target.bits}))"))

    def join_bits(self, inst: Instruction, parts: list) -> str:
        r, source, target = self.r, inst.operands[0].type.dtype, inst.type.dtype
        whole = r.unsigned(target.bits)
        terms = [f"(({whole}){r.to_bits(source, part)} << {j * source.bits})" for j, part in enumerate(parts)]
        return self.var(self.register(inst), r.from_bits(target, " | ".join(terms)))

    def call(self, computation, arguments: Sequence[Leaf], index: Index) -> object:
        saved = {}
        for param in computation.parameters:
            saved[param] = self.leaves.get(param)
            self.leaves[param] = arguments[param.attrs["parameter_number"]]
        try:
            return self.value(computation.root, index)
        finally:
            for param, previous in saved.items():
                if previous is None:
                    del self.leaves[param]
                else:
                    self.leaves[param] = previous

    def fold(self, inst: Instruction, inits: list, count: int, elements: Callable[[str], list]) -> object:
        dtypes = [o.type.dtype for o in inst.operands[:len(inits)]]
        ufunc = single_op_reducer(inst.called[0]) if len(inits) == 1 else None
        if ufunc is not None:
            work = compute_dtype(dtypes[0])
            acc = self.mutable(self.r.register(work), inits[0])
            position = self.fresh("r")
            with self.loop(position, "0", str(count)):
                (element,) = elements(position)
                self.emit(f"{acc} = {self.r.elementwise(scalar_instruction(ufunc, work), [acc, element])};")
            return self.var(self.register(inst), self.r.round_to(dtypes[0], acc))
        accumulators = [self.mutable(self.r.register(d), init) for d, init in zip(dtypes, inits)]
        position = self.fresh("r")
        with self.loop(position, "0", str(count)):
            combined = self.inline(inst.called[0], accumulators + elements(position))
            combined = combined if isinstance(combined, list) else [combined]
            # Read all results before assigning: the reducer may swap its accumulators.
            staged = [self.var(self.r.register(d), v) for d, v in zip(dtypes, combined)]
            for acc, new in zip(accumulators, staged):
                self.emit(f"{acc} = {new};")
        finals = [self.var(self.r.register(d), acc) for d, acc in zip(dtypes, accumulators)]
        return finals[0] if len(finals) == 1 else finals

    def sum_of_products(self, inst: Instruction, count: int, factors: Callable[[str], tuple]) -> str:
        r = self.r
        lhs, rhs = inst.operands[0].type.dtype, inst.operands[1].type.dtype
        out = inst.type.dtype
        work = compute_dtype(out)
        acc = self.mutable(r.register(work), r.literal(work, 0))
        k = self.fresh("k")
        with self.loop(k, "0", str(count)):
            x, y = factors(k)
            xv = self.var(r.register(work), r.convert(x, lhs, work) if lhs is not work else x)
            yv = self.var(r.register(work), r.convert(y, rhs, work) if rhs is not work else y)
            p = self.var(r.register(work), r.elementwise(scalar_instruction("multiply", work), [xv, yv]))
            self.emit(f"{acc} = {r.elementwise(scalar_instruction('add', work), [acc, p])};")
        return self.var(self.register(inst), r.convert(acc, work, out) if work is not out else acc)

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


# -- leaves and data movement ---------------------------------------------------------------

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


def _iota(e: CEmitter, inst: Instruction, index: Index) -> str:
    position = e.dims(index)[inst.attrs["iota_dimension"]]
    return e.var(e.register(inst), e.r.convert(f"(long long){position}", DType.S64, inst.type.dtype))


def _reduce(e: CEmitter, inst: Instruction, index: Index) -> object:
    hit = e.precomputed.get((inst, e.key(index)))
    if hit is not None:
        return hit  # a row kernel reduced this row cooperatively
    if index.shape:  # index math of the output position happens once, outside the loop
        e.linear(index)
        e.dims(index)
    return description("reduce")(e, inst, index)


# The rules of leaves and of reductions a row kernel computes cooperatively; every other op
# is its description in ir/analysis/index_maps.py.
ELEMENTAL: dict[str, ElementalRule] = {"constant": _constant, "iota": _iota, "reduce": _reduce}


def compute_dtype(dtype: DType) -> DType:
    return DType.F32 if dtype in HALVES else dtype
