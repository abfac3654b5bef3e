"""The VJP rule table: how each differentiable opcode pulls a cotangent back to its operands.

A rule is ``rule(builder, inst, cotangent) -> one entry per operand``: the
cotangent contribution for that operand, or None when the operand receives
none.  Rules emit their instructions through ``builder`` (which the
transformation in ``autodiff.py`` points at the computation being
differentiated) and may read ``inst``'s operands and ``inst`` itself (the
forward result) as residuals.

Cotangents of array values are instructions of the same type as the value.
Cotangents of tuple values (``tuple``, ``get-tuple-element``, ``while``,
``conditional``) are Python lists with one entry per element, None for
"zero"; ``autodiff.materialize`` turns them into tuple instructions.

Ops that have no rule and are listed in ``ZERO_GRADIENT`` are piecewise
constant or not numeric (compare, floor, sign, integer ops, iota, ...): they
pass no gradient, as in JAX.  An op with neither is an error (custom-call).

Conventions for the kinks, as JAX does: ``maximum``/``minimum`` split the
cotangent equally between tied operands; ``reduce`` with a max/min reducer
divides it among all positions (and the init value) equal to the result;
``abs`` has derivative ``sign(x)`` (0 at 0); ``clamp`` passes the cotangent
to the operand strictly inside (min, max) and to a bound only strictly beyond
it.
"""

from __future__ import annotations

import weakref
from typing import Any, Callable, Sequence, Union

import numpy as np

from ..errors import AutodiffError
from .analysis.dots import DotDimensions
from .builder import Builder, build_scalar_computation
from .core import Computation, Instruction, Module
from .types import DType, TensorType, TupleType, Type

# An array cotangent, or one list entry per element of a tuple value (None: zero).
Cotangent = Union[Instruction, list]
VjpRule = Callable[[Builder, Instruction, Any], Sequence[Any]]

VJP_RULES: dict[str, VjpRule] = {}

ZERO_GRADIENT: frozenset[str] = frozenset({
    "parameter", "constant", "iota", "compare", "is-finite", "sign", "floor", "ceil",
    "round-nearest-even", "round-nearest-afz", "not", "popcnt", "and", "or", "xor",
    "shift-left", "shift-right-arithmetic", "shift-right-logical", "bitcast-convert",
})


def register_vjp(*opcodes: str) -> Callable[[VjpRule], VjpRule]:
    """Declare ``rule`` as the VJP of ``opcodes`` (one rule per opcode)."""
    def register(rule: VjpRule) -> VjpRule:
        for opcode in opcodes:
            if opcode in VJP_RULES:
                raise AutodiffError(f"opcode '{opcode}' has two VJP rules")
            VJP_RULES[opcode] = rule
        return rule
    return register


# ---------------------------------------------------------------------------
# small builders shared by the rules


def has_float(type_: Type) -> bool:
    """Whether a value of this type can carry a gradient (some float element)."""
    if isinstance(type_, TupleType):
        return any(has_float(t) for t in type_.elements)
    return type_.dtype.is_float


def full(b: Builder, value: float, type_: TensorType) -> Instruction:
    """An array of ``type_`` filled with ``value`` (a scalar constant broadcast)."""
    scalar_value = b.constant(np.asarray(value, dtype=type_.dtype.numpy))
    if type_.shape == ():
        return scalar_value
    return b.broadcast(scalar_value, shape=type_.shape, dimensions=())


def zeros(b: Builder, type_: Type) -> Instruction:
    """Zeros of ``type_``; a tuple of zeros for a tuple type."""
    if isinstance(type_, TupleType):
        return b.tuple(*(zeros(b, t) for t in type_.elements))
    return full(b, 0, type_)


def like(b: Builder, value: float, inst: Instruction) -> Instruction:
    return full(b, value, inst.type)


def broadcast_to(b: Builder, x: Instruction, shape: Sequence[int],
                 dims: Sequence[int]) -> Instruction:
    """``x`` placed along result dimensions ``dims`` of ``shape`` (no-op when shapes agree)."""
    if tuple(x.type.shape) == tuple(shape) and list(dims) == list(range(len(shape))):
        return x
    return b.broadcast(x, shape=tuple(shape), dimensions=tuple(dims))


_REDUCERS: "weakref.WeakKeyDictionary[Module, dict[tuple, str]]" = weakref.WeakKeyDictionary()


def scalar_reducer(module: Module, opcode: str, dtype: DType) -> Computation:
    """The module's ``opcode`` reducer over ``dtype`` scalars, built once per module."""
    # The cache keeps names: a computation refers back to its module, and a value that
    # holds its weak key alive would keep every module ever differentiated.
    cache = _REDUCERS.setdefault(module, {})
    computation = module.computations.get(cache.get((opcode, dtype), ""))
    if computation is None:
        computation = build_scalar_computation(module, f"vjp_{opcode}_{dtype}", opcode, dtype)
        cache[(opcode, dtype)] = computation.name
    return computation


def reduce_with(b: Builder, opcode: str, x: Instruction, dims: Sequence[int],
                init: float) -> Instruction:
    dims = tuple(sorted(dims))
    if not dims:
        return x
    start = b.constant(np.asarray(init, dtype=x.type.dtype.numpy))
    return b.reduce(x, start, dimensions=dims,
                    called=[scalar_reducer(b.module, opcode, x.type.dtype)])


def reduce_sum(b: Builder, x: Instruction, dims: Sequence[int]) -> Instruction:
    return reduce_with(b, "add", x, dims, 0)


def sum_all(b: Builder, x: Instruction) -> Instruction:
    return reduce_sum(b, x, range(x.type.rank))


def to_dtype(b: Builder, x: Instruction, dtype: DType) -> Instruction:
    return x if x.type.dtype is dtype else b.convert(x, dtype=dtype)


def where(b: Builder, predicate: Instruction, on_true: Instruction,
          on_false: Instruction) -> Instruction:
    return b.select(predicate, on_true, on_false)


def compare(b: Builder, x: Instruction, y: Instruction, direction: str) -> Instruction:
    return b.compare(x, y, direction=direction)


def reducer_opcode(computation: Computation) -> str | None:
    """The op of a reducer that applies one binary op to its two parameters, else None."""
    root, params = computation.root, computation.parameters
    if root is None or len(params) != 2 or len(root.operands) != 2:
        return None
    if set(root.operands) != set(params) or root.operands[0] is root.operands[1]:
        return None
    return root.opcode


# ---------------------------------------------------------------------------
# elementwise math


@register_vjp("negate")
def _negate(b, inst, ct):
    return (b.negate(ct),)


@register_vjp("abs")
def _abs(b, inst, ct):
    return (b.multiply(ct, b.sign(inst.operand(0))),)


@register_vjp("exponential")
def _exp(b, inst, ct):
    return (b.multiply(ct, inst),)


@register_vjp("exponential-minus-one")
def _expm1(b, inst, ct):
    return (b.multiply(ct, b.add(inst, like(b, 1, inst))),)


@register_vjp("log")
def _log(b, inst, ct):
    return (b.divide(ct, inst.operand(0)),)


@register_vjp("log-plus-one")
def _log1p(b, inst, ct):
    x = inst.operand(0)
    return (b.divide(ct, b.add(x, like(b, 1, x))),)


@register_vjp("sqrt")
def _sqrt(b, inst, ct):
    return (b.divide(b.multiply(ct, like(b, 0.5, inst)), inst),)


@register_vjp("rsqrt")
def _rsqrt(b, inst, ct):
    # d/dx x**-1/2 = -1/2 * rsqrt(x) / x
    x = inst.operand(0)
    return (b.divide(b.multiply(ct, b.multiply(inst, like(b, -0.5, inst))), x),)


@register_vjp("cbrt")
def _cbrt(b, inst, ct):
    # d/dx x**1/3 = 1 / (3 * cbrt(x)**2)
    return (b.divide(ct, b.multiply(like(b, 3, inst), b.multiply(inst, inst))),)


@register_vjp("tanh")
def _tanh(b, inst, ct):
    return (b.multiply(ct, b.subtract(like(b, 1, inst), b.multiply(inst, inst))),)


@register_vjp("logistic")
def _logistic(b, inst, ct):
    return (b.multiply(ct, b.multiply(inst, b.subtract(like(b, 1, inst), inst))),)


@register_vjp("sine")
def _sine(b, inst, ct):
    return (b.multiply(ct, b.cosine(inst.operand(0))),)


@register_vjp("cosine")
def _cosine(b, inst, ct):
    return (b.negate(b.multiply(ct, b.sine(inst.operand(0)))),)


@register_vjp("tan")
def _tan(b, inst, ct):
    return (b.multiply(ct, b.add(like(b, 1, inst), b.multiply(inst, inst))),)


@register_vjp("add")
def _add(b, inst, ct):
    return ct, ct


@register_vjp("subtract")
def _subtract(b, inst, ct):
    return ct, b.negate(ct)


@register_vjp("multiply")
def _multiply(b, inst, ct):
    x, y = inst.operands
    return b.multiply(ct, y), b.multiply(x, ct)


@register_vjp("divide")
def _divide(b, inst, ct):
    y = inst.operand(1)
    return b.divide(ct, y), b.negate(b.divide(b.multiply(ct, inst), y))


@register_vjp("remainder")
def _remainder(b, inst, ct):
    # x - y * trunc(x / y): d/dy is -trunc(x / y)
    x, y = inst.operands
    quotient = b.divide(x, y)
    truncated = b.multiply(b.sign(quotient), b.floor(b.abs(quotient)))
    return ct, b.negate(b.multiply(ct, truncated))


@register_vjp("power")
def _power(b, inst, ct):
    x, y = inst.operands
    zero = like(b, 0, x)
    # y * x**(y-1), taken as 0 where y == 0 (so that 0**0 has derivative 0, not NaN)
    dx = b.multiply(y, b.power(x, b.subtract(y, like(b, 1, y))))
    dx = where(b, compare(b, y, zero, "EQ"), zero, dx)
    # log(x) * x**y, with log(1) substituted where x == 0 as JAX does
    safe_x = where(b, compare(b, x, zero, "EQ"), like(b, 1, x), x)
    dy = b.multiply(b.log(safe_x), inst)
    return b.multiply(ct, dx), b.multiply(ct, dy)


def _balanced_share(b: Builder, x: Instruction, result: Instruction,
                    other: Instruction) -> Instruction:
    """1 where ``x`` alone produced ``result``, 1/2 where ``other`` ties with it, else 0."""
    one, half, zero = like(b, 1, x), like(b, 0.5, x), like(b, 0, x)
    tie = where(b, compare(b, other, result, "EQ"), half, one)
    return where(b, compare(b, x, result, "EQ"), tie, zero)


@register_vjp("maximum", "minimum")
def _extremum(b, inst, ct):
    x, y = inst.operands
    return (b.multiply(ct, _balanced_share(b, x, inst, y)),
            b.multiply(ct, _balanced_share(b, y, inst, x)))


@register_vjp("atan2")
def _atan2(b, inst, ct):
    # atan2(y=x0, x=x1): d/dx0 = x1 / (x0^2 + x1^2), d/dx1 = -x0 / (x0^2 + x1^2)
    y, x = inst.operands
    scaled = b.divide(ct, b.add(b.multiply(x, x), b.multiply(y, y)))
    return b.multiply(scaled, x), b.negate(b.multiply(scaled, y))


@register_vjp("select")
def _select(b, inst, ct):
    predicate = inst.operand(0)
    zero = like(b, 0, ct)
    return None, where(b, predicate, ct, zero), where(b, predicate, zero, ct)


@register_vjp("clamp")
def _clamp(b, inst, ct):
    low, x, high = inst.operands
    zero = like(b, 0, ct)
    low_b = low if low.type.shape == x.type.shape else broadcast_to(b, low, x.type.shape, ())
    high_b = high if high.type.shape == x.type.shape else broadcast_to(b, high, x.type.shape, ())
    inside = b.emit("and", compare(b, x, low_b, "GT"), compare(b, x, high_b, "LT"))
    low_ct = where(b, compare(b, low_b, x, "GT"), ct, zero)
    high_ct = where(b, compare(b, high_b, x, "LT"), ct, zero)
    if low.type.shape != x.type.shape:
        low_ct = sum_all(b, low_ct)
    if high.type.shape != x.type.shape:
        high_ct = sum_all(b, high_ct)
    return low_ct, where(b, inside, ct, zero), high_ct


@register_vjp("convert")
def _convert(b, inst, ct):
    operand = inst.operand(0)
    if not operand.type.dtype.is_float:
        return (None,)
    return (to_dtype(b, ct, operand.type.dtype),)


# ---------------------------------------------------------------------------
# shapes and data movement


@register_vjp("broadcast")
def _broadcast(b, inst, ct):
    operand = inst.operand(0)
    dims = inst.attrs["dimensions"]
    result_shape = inst.type.shape
    # Sum over new dimensions and over size-1 operand dimensions that were stretched.
    summed = [d for d in range(len(result_shape)) if d not in dims]
    summed += [d for i, d in enumerate(dims)
               if operand.type.shape[i] == 1 and result_shape[d] != 1]
    reduced = reduce_sum(b, ct, summed)
    if reduced.type.shape != operand.type.shape:
        reduced = b.reshape(reduced, shape=operand.type.shape)
    return (reduced,)


@register_vjp("reshape")
def _reshape(b, inst, ct):
    return (b.reshape(ct, shape=inst.operand(0).type.shape),)


@register_vjp("transpose")
def _transpose(b, inst, ct):
    permutation = inst.attrs["dimensions"]
    inverse = [0] * len(permutation)
    for position, dim in enumerate(permutation):
        inverse[dim] = position
    return (b.transpose(ct, dimensions=inverse),)


@register_vjp("reverse")
def _reverse(b, inst, ct):
    return (b.reverse(ct, dimensions=inst.attrs["dimensions"]),)


@register_vjp("slice")
def _slice(b, inst, ct):
    operand_shape = inst.operand(0).type.shape
    padding = []
    for (start, _limit, stride), size, extent in zip(inst.attrs["slice"], inst.type.shape,
                                                       operand_shape):
        covered = size + max(size - 1, 0) * (stride - 1)
        padding.append((start, extent - start - covered, stride - 1))
    return (b.pad(ct, full(b, 0, TensorType(ct.type.dtype, ())), padding=padding),)


@register_vjp("pad")
def _pad(b, inst, ct):
    operand, value = inst.operands
    config = inst.attrs["padding"]
    # Undo negative (cropping) padding by padding the cotangent with zeros, then take
    # the operand's positions out of the uncropped array.
    uncrop = [(max(-low, 0), max(-high, 0), 0) for low, high, _ in config]
    if any(low or high for low, high, _ in uncrop):
        ct_full = b.pad(ct, full(b, 0, TensorType(ct.type.dtype, ())), padding=uncrop)
    else:
        ct_full = ct
    window = []
    for (low, _high, interior), size in zip(config, operand.type.shape):
        start = max(low, 0)
        limit = start + (size - 1) * (interior + 1) + 1 if size else start
        window.append((start, limit, interior + 1))
    operand_ct = b.slice(ct_full, slice=window)
    value_ct = b.subtract(sum_all(b, ct), sum_all(b, operand_ct))
    return operand_ct, value_ct


@register_vjp("concatenate")
def _concatenate(b, inst, ct):
    (dim,) = inst.attrs["dimensions"]
    results, offset = [], 0
    for operand in inst.operands:
        width = operand.type.shape[dim]
        window = [(0, s, 1) for s in ct.type.shape]
        window[dim] = (offset, offset + width, 1)
        results.append(b.slice(ct, slice=window))
        offset += width
    return tuple(results)


@register_vjp("dynamic-slice")
def _dynamic_slice(b, inst, ct):
    operand, *indices = inst.operands
    placed = b.dynamic_update_slice(zeros(b, operand.type), ct, *indices)
    return (placed, *[None] * len(indices))


@register_vjp("dynamic-update-slice")
def _dynamic_update_slice(b, inst, ct):
    operand, update, *indices = inst.operands
    operand_ct = b.dynamic_update_slice(ct, zeros(b, update.type), *indices)
    update_ct = b.dynamic_slice(ct, *indices, dynamic_slice_sizes=update.type.shape)
    return (operand_ct, update_ct, *[None] * len(indices))


@register_vjp("tuple")
def _tuple(b, inst, ct):
    return tuple(ct)


@register_vjp("get-tuple-element")
def _get_tuple_element(b, inst, ct):
    elements: list = [None] * len(inst.operand(0).type.elements)
    elements[inst.attrs["index"]] = ct
    return (elements,)


# ---------------------------------------------------------------------------
# reduce and dot


def _reduce_add(b, inst, ct, x, init, kept, dims):
    return broadcast_to(b, ct, x.type.shape, kept), sum_all(b, ct)


def _reduce_extremum(b, inst, ct, x, init, kept, dims):
    # Divide the cotangent among every position equal to the result, init included.
    dtype = x.type.dtype
    at_result = to_dtype(b, compare(b, x, broadcast_to(b, inst, x.type.shape, kept), "EQ"), dtype)
    init_b = broadcast_to(b, init, inst.type.shape, ())
    init_is_result = to_dtype(b, compare(b, init_b, inst, "EQ"), dtype)
    counts = b.add(reduce_sum(b, at_result, dims), init_is_result)
    share = b.divide(ct, counts)
    x_ct = b.multiply(at_result, broadcast_to(b, share, x.type.shape, kept))
    return x_ct, sum_all(b, b.multiply(init_is_result, share))


def _reduce_multiply(b, inst, ct, x, init, kept, dims):
    # Products of "all the other elements", exact when some elements are zero.
    zero, one = like(b, 0, x), like(b, 1, x)
    is_zero = compare(b, x, zero, "EQ")
    nonzero = where(b, is_zero, one, x)
    product_nonzero = reduce_with(b, "multiply", nonzero, dims, 1)
    zero_count = reduce_sum(b, to_dtype(b, is_zero, x.type.dtype), dims)
    count_b = broadcast_to(b, zero_count, x.type.shape, kept)
    product_b = broadcast_to(b, product_nonzero, x.type.shape, kept)
    only_zero = where(b, compare(b, count_b, like(b, 1, count_b), "EQ"), product_b, zero)
    no_zero = where(b, compare(b, count_b, like(b, 0, count_b), "EQ"),
                    b.divide(product_b, nonzero), zero)
    others = where(b, is_zero, only_zero, no_zero)
    scaled = b.multiply(ct, broadcast_to(b, init, ct.type.shape, ()))
    x_ct = b.multiply(others, broadcast_to(b, scaled, x.type.shape, kept))
    product = where(b, compare(b, zero_count, like(b, 0, zero_count), "EQ"), product_nonzero,
                    like(b, 0, product_nonzero))
    return x_ct, sum_all(b, b.multiply(ct, product))


_REDUCE_RULES = {"add": _reduce_add, "maximum": _reduce_extremum, "minimum": _reduce_extremum,
                 "multiply": _reduce_multiply}


@register_vjp("reduce")
def _reduce(b, inst, ct):
    if isinstance(inst.type, TupleType):
        # Variadic reduces (argmax-style) are differentiable only through their index outputs,
        # which carry no gradient.
        if any(c is not None for c in ct):
            raise AutodiffError(f"cannot differentiate the value results of a variadic reduce "
                                f"{inst.describe()}")
        return (None,) * len(inst.operands)
    x, init = inst.operands
    reducer = reducer_opcode(inst.called[0])
    rule = _REDUCE_RULES.get(reducer)
    if rule is None:
        raise AutodiffError(f"no gradient for reduce with reducer '{inst.called[0].name}' "
                            f"({reducer or 'not a single binary op'}) at {inst.describe()}; "
                            f"differentiable reducers: {', '.join(sorted(_REDUCE_RULES))}")
    dims = inst.attrs["dimensions"]
    kept = [d for d in range(x.type.rank) if d not in dims]
    return rule(b, inst, ct, x, init, kept, dims)


def _transposed_to(b: Builder, product: Instruction, labels: list[int]) -> Instruction:
    """``product``, whose dimension k is operand dimension ``labels[k]``, in operand order."""
    permutation = [labels.index(d) for d in range(len(labels))]
    if permutation == list(range(len(labels))):
        return product
    return b.transpose(product, dimensions=permutation)


@register_vjp("dot")
def _dot(b, inst, ct):
    # Each operand's cotangent contracts the cotangent with the other operand over the other's
    # free dimensions.  The other operand keeps its side (lhs stays lhs) so that plain matrix
    # products give their cotangents in the operand's own layout, without a transpose.
    lhs, rhs = inst.operands
    dims = DotDimensions.of(inst)
    lb, lc, lf = list(dims.lhs_batch), list(dims.lhs_contracting), list(dims.lhs_free)
    rb, rc, rf = list(dims.rhs_batch), list(dims.rhs_contracting), list(dims.rhs_free)
    if not lhs.type.dtype.is_float:
        return None, None
    ct = to_dtype(b, ct, lhs.type.dtype)
    nb = len(lb)
    ct_batch = list(range(nb))
    ct_lhs_free = list(range(nb, nb + len(lf)))
    ct_rhs_free = list(range(nb + len(lf), nb + len(lf) + len(rf)))
    # dims of dot(ct, rhs): batch, lhs free, then rhs contracting dims in increasing order
    lhs_product = b.dot(ct, rhs, lhs_batch_dims=ct_batch, rhs_batch_dims=rb,
                        lhs_contracting_dims=ct_rhs_free, rhs_contracting_dims=rf)
    lhs_ct = _transposed_to(b, lhs_product, lb + lf + [lc[rc.index(d)] for d in sorted(rc)])
    # dims of dot(lhs, ct): batch, lhs contracting dims in increasing order, then rhs free
    rhs_product = b.dot(lhs, ct, lhs_batch_dims=lb, rhs_batch_dims=ct_batch,
                        lhs_contracting_dims=lf, rhs_contracting_dims=ct_lhs_free)
    rhs_ct = _transposed_to(b, rhs_product, rb + [rc[lc.index(d)] for d in sorted(lc)] + rf)
    return lhs_ct, rhs_ct
