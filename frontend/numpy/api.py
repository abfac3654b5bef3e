"""The NumPy surface jitflow traces: ONE table from NumPy function or ufunc to implementation.

``Tracer.__array_ufunc__`` and ``Tracer.__array_function__`` look the NumPy
callable up in ``NUMPY_API``; whatever is not there is an error naming the
function and the user's line.  An elementwise ufunc's entry is a ``Ufunc``: its
IR rule (see ``elementwise``) and, where NumPy's ``ufunc.reduce`` has a
reduction we implement, that reduction.  Every other entry is a function with
NumPy's signature, called with the arguments NumPy received.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from . import elementwise as ew
from . import linalg, reductions, shapes
from ...errors import UnsupportedError
from ..trace.emitters import broadcast_to, context_of, convert, lift, reshape
from ..trace.promotion import broadcast_shapes, dtype_of, result_type
from ..trace.tracer import Tracer, numpy_name, tracing_error
from .axes import normalize_axis
from .indexing import getitem


@dataclass(frozen=True)
class Ufunc:
    """An elementwise ufunc: its IR rule and, optionally, what ``ufunc.reduce`` means."""

    rule: ew.Rule
    reduction: Callable[..., Tracer] | None = None
    exact_int_scalars: bool = False  # comparisons: NumPy 2 allows uint8_array > -5


# -- NumPy functions implemented in terms of the ufuncs ------------------------------

def where(condition: Any, x: Any = None, y: Any = None, /) -> Tracer:
    if x is None or y is None:
        raise tracing_error(UnsupportedError, "np.where with only a condition (np.nonzero)",
                            "its result size depends on the data; use np.where(cond, x, y)")
    ctx = context_of((condition, x, y))
    dtype = result_type(x, y)
    shape = broadcast_shapes(*(ew.shape_of(v) for v in (condition, x, y)))
    mask = broadcast_to(convert(lift(ctx, condition), np.bool_), shape)
    on_true, on_false = (broadcast_to(lift(ctx, v, dtype), shape) for v in (x, y))
    return Tracer(ctx, ctx.emit("select", mask.inst, on_true.inst, on_false.inst))


def clip(a: Any, a_min: Any = None, a_max: Any = None, out: Any = None, *, min: Any = None,
         max: Any = None) -> Tracer:
    """minimum(maximum(a, low), high) as NumPy 2 computes it (NaN propagates)."""
    reductions.reject_arguments("clip", out=out)
    low = a_min if a_min is not None else min
    high = a_max if a_max is not None else max
    result = a
    if low is not None:
        result = np.maximum(result, _clip_bound(a, low))
    if high is not None:
        result = np.minimum(result, _clip_bound(a, high))
    return result


def _clip_bound(a: Any, bound: Any) -> Any:
    """NumPy 2 clips integer arrays by Python ints outside their range without overflowing."""
    dtype = dtype_of(a)
    if type(bound) is int and dtype.kind in "iu":
        info = np.iinfo(dtype)
        return int(np.clip(bound, info.min, info.max))
    return bound


def round_(a: Tracer, decimals: int = 0, out: Any = None) -> Tracer:
    """Round half to even; ``decimals`` scales by 10**decimals first, as NumPy does."""
    reductions.reject_arguments("round", out=out)
    if a.dtype.kind in "biu":
        if decimals >= 0:
            return a
        scale = 10.0 ** -decimals
        return (np.rint(a.astype(np.float64) / scale) * scale).astype(a.dtype)
    if decimals == 0:
        return np.rint(a)
    if decimals > 0:
        scale = 10.0 ** decimals
        return np.rint(a * scale) / scale
    scale = 10.0 ** -decimals
    return np.rint(a / scale) * scale


def isclose(a: Any, b: Any, rtol: float = 1e-05, atol: float = 1e-08,
            equal_nan: bool = False) -> Tracer:
    """NumPy's formula: |a - b| <= atol + rtol * |b| where b is finite, or a == b."""
    ctx = context_of((a, b))
    x, y = lift(ctx, a), lift(ctx, b, result_type(b, 1.0))
    result = (np.less_equal(np.abs(x - y), atol + rtol * np.abs(y)) & np.isfinite(y)) | (x == y)
    if equal_nan:
        result = result | (np.isnan(x) & np.isnan(y))
    return result


def take(a: Any, indices: Any, axis: Any = None, out: Any = None, mode: str = "raise") -> Tracer:
    reductions.reject_arguments("take", out=out)
    if mode != "raise":
        raise tracing_error(UnsupportedError, f"np.take with mode={mode!r}", "use mode='raise'")
    if axis is None:
        return getitem(reshape(a, (a.size,)), indices)
    axis = normalize_axis(axis, a.ndim)
    return getitem(a, (slice(None),) * axis + (indices,))


def result_type_(*arrays_and_dtypes: Any) -> np.dtype:
    return result_type(*arrays_and_dtypes)


def _ufunc_reduction(ufunc: np.ufunc, reduction: Callable[..., Tracer]) -> Callable[..., Tracer]:
    """``ufunc.reduce(a, axis=0, ...)``: NumPy's default axis for it is 0, not None."""
    def reduce(a: Any, axis: Any = 0, *args: Any, **kwargs: Any) -> Tracer:
        return reduction(a, axis, *args, **kwargs)
    reduce.__name__ = f"{ufunc.__name__}.reduce"
    return reduce


# -- THE table ------------------------------------------------------------------------

NUMPY_API: dict[Any, Any] = {
    # arithmetic
    np.add: Ufunc(ew.binary("add", on_bool="or"), reductions.sum_),
    np.subtract: Ufunc(ew.binary("subtract")),
    np.multiply: Ufunc(ew.binary("multiply", on_bool="and"), reductions.prod),
    np.true_divide: Ufunc(ew.binary("divide")),
    np.floor_divide: Ufunc(ew.floor_divide),
    np.remainder: Ufunc(ew.remainder),
    np.fmod: Ufunc(ew.fmod),
    np.power: Ufunc(ew.binary("power")),
    np.float_power: Ufunc(ew.binary("power")),
    np.negative: Ufunc(ew.unary("negate")),
    np.positive: Ufunc(ew.identity),
    np.absolute: Ufunc(ew.absolute),
    np.fabs: Ufunc(ew.absolute),
    np.sign: Ufunc(ew.sign),
    np.square: Ufunc(ew.square),
    np.reciprocal: Ufunc(ew.reciprocal),
    np.maximum: Ufunc(ew.binary("maximum"), reductions.max_),
    np.minimum: Ufunc(ew.binary("minimum"), reductions.min_),
    np.fmax: Ufunc(ew.fmax),
    np.fmin: Ufunc(ew.fmin),
    # rounding
    np.floor: Ufunc(ew.float_only("floor", lambda x: x)),
    np.ceil: Ufunc(ew.float_only("ceil", lambda x: x)),
    np.trunc: Ufunc(ew.trunc),
    np.rint: Ufunc(ew.unary("round-nearest-even")),
    # transcendental
    np.exp: Ufunc(ew.unary("exponential")),
    np.exp2: Ufunc(ew.exp2),
    np.expm1: Ufunc(ew.unary("exponential-minus-one")),
    np.log: Ufunc(ew.unary("log")),
    np.log2: Ufunc(ew.log_base(2.0)),
    np.log10: Ufunc(ew.log_base(10.0)),
    np.log1p: Ufunc(ew.unary("log-plus-one")),
    np.sqrt: Ufunc(ew.unary("sqrt")),
    np.cbrt: Ufunc(ew.unary("cbrt")),
    np.sin: Ufunc(ew.unary("sine")),
    np.cos: Ufunc(ew.unary("cosine")),
    np.tan: Ufunc(ew.unary("tan")),
    np.arcsin: Ufunc(ew.arcsin),
    np.arccos: Ufunc(ew.arccos),
    np.arctan: Ufunc(ew.arctan),
    np.arctan2: Ufunc(ew.binary("atan2")),
    np.sinh: Ufunc(ew.sinh),
    np.cosh: Ufunc(ew.cosh),
    np.tanh: Ufunc(ew.unary("tanh")),
    # comparison and classification
    np.equal: Ufunc(ew.comparison("EQ"), exact_int_scalars=True),
    np.not_equal: Ufunc(ew.comparison("NE"), exact_int_scalars=True),
    np.less: Ufunc(ew.comparison("LT"), exact_int_scalars=True),
    np.less_equal: Ufunc(ew.comparison("LE"), exact_int_scalars=True),
    np.greater: Ufunc(ew.comparison("GT"), exact_int_scalars=True),
    np.greater_equal: Ufunc(ew.comparison("GE"), exact_int_scalars=True),
    np.isnan: Ufunc(ew.is_nan),
    np.isinf: Ufunc(ew.is_inf),
    np.isfinite: Ufunc(ew.is_finite),
    # logical and bitwise
    np.logical_and: Ufunc(ew.logical("and"), reductions.all_),
    np.logical_or: Ufunc(ew.logical("or"), reductions.any_),
    np.logical_xor: Ufunc(ew.logical("xor")),
    np.logical_not: Ufunc(ew.logical("not")),
    np.bitwise_and: Ufunc(ew.binary("and")),
    np.bitwise_or: Ufunc(ew.binary("or")),
    np.bitwise_xor: Ufunc(ew.binary("xor")),
    np.invert: Ufunc(ew.unary("not")),
    np.left_shift: Ufunc(ew.binary("shift-left")),
    np.right_shift: Ufunc(ew.right_shift),
    # elementwise functions that are not ufuncs
    np.where: where,
    np.clip: clip,
    np.round: round_,
    np.around: round_,
    np.isclose: isclose,
    # reductions
    np.sum: reductions.sum_,
    np.prod: reductions.prod,
    np.max: reductions.max_,
    np.amax: reductions.max_,
    np.min: reductions.min_,
    np.amin: reductions.min_,
    np.mean: reductions.mean,
    np.var: reductions.var,
    np.std: reductions.std,
    np.argmax: reductions.argmax,
    np.argmin: reductions.argmin,
    np.any: reductions.any_,
    np.all: reductions.all_,
    # products
    np.matmul: linalg.matmul,
    np.dot: linalg.dot,
    np.vdot: linalg.vdot,
    np.inner: linalg.inner,
    np.outer: linalg.outer,
    np.tensordot: linalg.tensordot,
    np.einsum: linalg.einsum,
    # shapes
    np.reshape: shapes.reshape,
    np.ravel: shapes.ravel,
    np.transpose: shapes.transpose,
    np.matrix_transpose: shapes.matrix_transpose,
    np.swapaxes: shapes.swapaxes,
    np.moveaxis: shapes.moveaxis,
    np.expand_dims: shapes.expand_dims,
    np.squeeze: shapes.squeeze,
    np.broadcast_to: shapes.broadcast_to,
    np.broadcast_arrays: shapes.broadcast_arrays,
    np.concatenate: shapes.concatenate,
    np.stack: shapes.stack,
    np.hstack: shapes.hstack,
    np.vstack: shapes.vstack,
    np.atleast_1d: shapes.atleast_1d,
    np.atleast_2d: shapes.atleast_2d,
    np.tril: shapes.tril,
    np.triu: shapes.triu,
    np.split: shapes.split,
    np.flip: shapes.flip,
    np.take: take,
    # creation from an existing array, dtypes, static facts
    np.zeros_like: shapes.zeros_like,
    np.ones_like: shapes.ones_like,
    np.empty_like: shapes.zeros_like,
    np.full_like: shapes.full_like,
    np.copy: shapes.copy,
    np.astype: shapes.astype,
    np.result_type: result_type_,
    np.shape: shapes.shape,
    np.ndim: shapes.ndim,
    np.size: shapes.size,
}


def supported_functions() -> list[str]:
    """Names of every NumPy function and ufunc jitflow traces, as ``np.<name>``."""
    return sorted({numpy_name(f) for f in NUMPY_API})


def _unsupported(what: str) -> UnsupportedError:
    return tracing_error(
        UnsupportedError, f"unsupported NumPy function {what}",
        f"jitflow traces {len(NUMPY_API)} NumPy functions (listed by "
        "jitflow.frontend.supported_functions()); compute this outside the jitted function and "
        "pass the result in as an argument")


def _call_ufunc(ufunc: np.ufunc, operands: tuple, *, keep_weak: bool = False,
                dtype: Any = None) -> Tracer:
    entry = NUMPY_API[ufunc]
    if isinstance(entry, Ufunc):
        return ew.apply_ufunc(ufunc, entry.rule, operands, keep_weak=keep_weak, dtype=dtype,
                              exact_int_scalars=entry.exact_int_scalars)
    return entry(*operands)


_UFUNC_KEYWORDS = frozenset({"dtype"})


def defers(values: Any) -> bool:
    """Whether an operand (or an element of a list/tuple operand) is of a type that reads
    itself first, as ``jitflow.Variable`` does: the tracer then returns NotImplemented, so
    that Python and NumPy call that type's override, which traces its current value."""
    return any(getattr(type(v), "__jitflow_defers__", False)
               or (type(v) in (list, tuple) and defers(v)) for v in values)


def array_ufunc(ufunc: np.ufunc, method: str, inputs: tuple, kwargs: dict) -> Any:
    """``Tracer.__array_ufunc__``: ``np.exp(x)``, ``np.add.reduce(x)``, ``np.multiply.outer``."""
    if defers(inputs):
        return NotImplemented
    entry = NUMPY_API.get(ufunc)
    if entry is None:
        raise _unsupported(numpy_name(ufunc))
    if method == "__call__":
        unknown = set(kwargs) - _UFUNC_KEYWORDS
        if unknown:
            reductions.reject_arguments(ufunc.__name__, **{k: kwargs[k] for k in unknown})
        return _call_ufunc(ufunc, inputs, dtype=kwargs.get("dtype"))
    if method == "reduce" and isinstance(entry, Ufunc) and entry.reduction is not None:
        return _ufunc_reduction(ufunc, entry.reduction)(*inputs, **kwargs)
    if method == "outer" and isinstance(entry, Ufunc) and not kwargs:
        a, b = inputs
        ctx = context_of(inputs)
        x, y = lift(ctx, a), lift(ctx, b)
        return _call_ufunc(ufunc, (reshape(x, x.shape + (1,) * y.ndim), y))
    raise _unsupported(f"{numpy_name(ufunc)}.{method}")


def array_function(func: Callable, args: tuple, kwargs: dict) -> Any:
    """``Tracer.__array_function__``: every other NumPy function."""
    if defers(args) or defers(kwargs.values()):
        return NotImplemented
    implementation = NUMPY_API.get(func)
    if implementation is None or isinstance(implementation, Ufunc):
        raise _unsupported(numpy_name(func))
    return implementation(*args, **kwargs)


def operator(ufunc: np.ufunc, reflected: bool = False) -> Callable[[Tracer, Any], Tracer]:
    """``x + y`` (or ``y + x`` when reflected): the ufunc with weak scalars kept weak."""
    def method(self: Tracer, other: Any) -> Tracer:
        if getattr(type(other), "__jitflow_defers__", False):
            return NotImplemented
        operands = (other, self) if reflected else (self, other)
        return _call_ufunc(ufunc, operands, keep_weak=True)
    return method


def unary_operator(ufunc: np.ufunc) -> Callable[[Tracer], Tracer]:
    def method(self: Tracer) -> Tracer:
        return _call_ufunc(ufunc, (self,), keep_weak=True)
    return method
