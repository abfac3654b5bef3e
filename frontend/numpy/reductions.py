"""Reductions: sum, prod, max, min, any, all, mean, var, std, argmax, argmin.

Each is an IR ``reduce`` whose reducer computation is built once per
(op, dtype) per module.  Result dtypes are NumPy's, found by running the NumPy
function on a one-element array of the input dtype (so ``np.sum`` of int8 is
int64 and of uint8 is uint64, ``np.mean`` of ints is float64, ...).
``mean`` is a sum divided by the count in NumPy's accumulation dtype;
``var``/``std`` are the mean of squared deviations; ``argmax``/``argmin`` are a
variadic reduce over (value, index) with NumPy's first-index and NaN-first rules.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable

import numpy as np

from ...errors import ShapeError, UnsupportedError
from ...ir import Computation, DType, Module, TensorType, build_scalar_computation
from ..trace.emitters import (broadcast_to, constant, convert, elementwise, emit, full_like, iota,
                              reshape)
from ..trace.tracer import Tracer, tracing_error
from .axes import kept_shape, normalize_axes, normalize_axis


def reject_arguments(function: str, **arguments: Any) -> None:
    """A located error for NumPy arguments jitflow does not trace (``out=``, ``where=``)."""
    for name, value in arguments.items():
        if value is not None:
            raise tracing_error(UnsupportedError,
                                f"argument {name}= of np.{function} is not supported under jit",
                                "leave it out and use the returned value")


def _as_tracer(a: Any) -> Tracer:
    if not isinstance(a, Tracer):  # NumPy dispatched here because another argument is traced
        raise tracing_error(UnsupportedError, "reducing a non-traced array under jit",
                            "apply NumPy to it outside the traced computation")
    return a


@functools.lru_cache(maxsize=None)
def numpy_result_dtype(function: Callable, dtype: np.dtype, requested: np.dtype | None) -> np.dtype:
    """The dtype NumPy's ``function`` returns for input ``dtype`` and ``dtype=requested``."""
    kwargs = {} if requested is None else {"dtype": requested}
    with np.errstate(all="ignore"):
        return np.asarray(function(np.ones((1,), dtype), **kwargs)).dtype


def _requested(dtype: Any) -> np.dtype | None:
    return None if dtype is None else np.dtype(dtype)


def reduce(x: Tracer, axes: tuple[int, ...], opcode: str, init: Any) -> Tracer:
    """``reduce`` of ``x`` over ``axes`` with the scalar op ``opcode``, starting from ``init``."""
    dtype = x.type.dtype
    reducer = x.ctx.computation(
        ("reducer", opcode, dtype),
        lambda module: build_scalar_computation(module, f"{opcode}_{dtype}", opcode, dtype))
    return emit(x.ctx, "reduce", x, constant(x.ctx, init, x.dtype), dimensions=axes,
                called=[reducer])


def _finish(result: Tracer, shape: tuple[int, ...], axes: tuple[int, ...],
            keepdims: bool) -> Tracer:
    return reshape(result, kept_shape(shape, axes)) if keepdims else result


def _with_initial(result: Tracer, initial: Any, opcode: str) -> Tracer:
    if initial is None:
        return result
    return elementwise(opcode, result, full_like(result, np.asarray(initial).astype(result.dtype)))


def _lowest(dtype: np.dtype) -> Any:
    if dtype.kind == "f" or dtype.name == "bfloat16":
        return -np.inf
    return False if dtype == np.bool_ else np.iinfo(dtype).min


def _highest(dtype: np.dtype) -> Any:
    if dtype.kind == "f" or dtype.name == "bfloat16":
        return np.inf
    return True if dtype == np.bool_ else np.iinfo(dtype).max


def _accumulating(name: str, numpy_function: Callable, opcode: str, identity: int):
    def reduction(a: Any, axis: Any = None, dtype: Any = None, out: Any = None,
                  keepdims: bool = False, initial: Any = None, where: Any = None) -> Tracer:
        reject_arguments(name, out=out, where=where)
        x = _as_tracer(a)
        result_dtype = numpy_result_dtype(numpy_function, x.dtype, _requested(dtype))
        axes = normalize_axes(axis, x.ndim)
        wide = convert(x, result_dtype)
        if wide.dtype == np.bool_:  # a sum of bools asked for as bool: or; a product: and
            opcode_here = {"add": "or", "multiply": "and"}[opcode]
        else:
            opcode_here = opcode
        result = reduce(wide, axes, opcode_here, identity)
        return _finish(_with_initial(result, initial, opcode_here), x.shape, axes, keepdims)
    reduction.__name__ = name
    return reduction


sum_ = _accumulating("sum", np.sum, "add", 0)
prod = _accumulating("prod", np.prod, "multiply", 1)


def _extremum(name: str, opcode: str, start: Callable[[np.dtype], Any]):
    def reduction(a: Any, axis: Any = None, out: Any = None, keepdims: bool = False,
                  initial: Any = None, where: Any = None) -> Tracer:
        reject_arguments(name, out=out, where=where)
        x = _as_tracer(a)
        axes = normalize_axes(axis, x.ndim)
        if initial is None and any(x.shape[d] == 0 for d in axes):
            raise tracing_error(ShapeError, f"zero-size array to reduction operation {opcode} "
                                            "which has no identity",
                                "pass initial= or reduce a non-empty axis")
        result = reduce(x, axes, opcode, start(x.dtype))
        return _finish(_with_initial(result, initial, opcode), x.shape, axes, keepdims)
    reduction.__name__ = name
    return reduction


max_ = _extremum("max", "maximum", _lowest)
min_ = _extremum("min", "minimum", _highest)


def _logical(name: str, opcode: str, identity: bool):
    def reduction(a: Any, axis: Any = None, out: Any = None, keepdims: bool = False, *,
                  where: Any = None) -> Tracer:
        reject_arguments(name, out=out, where=where)
        x = _as_tracer(a)
        axes = normalize_axes(axis, x.ndim)
        result = reduce(convert(x, np.bool_), axes, opcode, identity)
        return _finish(result, x.shape, axes, keepdims)
    reduction.__name__ = name
    return reduction


any_ = _logical("any", "or", False)
all_ = _logical("all", "and", True)


def _accumulation_dtype(dtype: np.dtype, requested: np.dtype | None, for_mean: bool) -> np.dtype:
    """NumPy's ``_mean``/``_var``: ints and bools in float64, float16 means in float32."""
    if requested is not None:
        return requested
    if dtype.kind in "biu":
        return np.dtype(np.float64)
    if for_mean and dtype == np.float16:
        return np.dtype(np.float32)
    return dtype


def _divide_by_count(total: Tracer, count: int) -> Tracer:
    # An integer accumulation (dtype=int) divides as floats and casts back, as NumPy does.
    numerator = total if total.type.dtype.is_float else convert(total, np.float64)
    return elementwise("divide", numerator, full_like(numerator, count))


def mean(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
         *, where: Any = None) -> Tracer:
    reject_arguments("mean", out=out, where=where)
    x = _as_tracer(a)
    axes = normalize_axes(axis, x.ndim)
    result_dtype = numpy_result_dtype(np.mean, x.dtype, _requested(dtype))
    accumulation = _accumulation_dtype(x.dtype, _requested(dtype), for_mean=True)
    total = reduce(convert(x, accumulation), axes, "add", 0)
    count = math.prod(x.shape[d] for d in axes)
    return _finish(convert(_divide_by_count(total, count), result_dtype), x.shape, axes, keepdims)


def var(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: int = 0,
        keepdims: bool = False, *, where: Any = None, mean: Any = None,
        correction: Any = None) -> Tracer:
    reject_arguments("var", out=out, where=where, mean=mean)
    return _variance(a, axis, dtype, correction if correction is not None else ddof, keepdims,
                     np.var)


def std(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: int = 0,
        keepdims: bool = False, *, where: Any = None, mean: Any = None,
        correction: Any = None) -> Tracer:
    reject_arguments("std", out=out, where=where, mean=mean)
    variance = _variance(a, axis, dtype, correction if correction is not None else ddof,
                         keepdims, np.std, in_accumulation_dtype=True)
    result_dtype = numpy_result_dtype(np.std, _as_tracer(a).dtype, _requested(dtype))
    return convert(elementwise("sqrt", variance), result_dtype)


def _variance(a: Any, axis: Any, dtype: Any, ddof: int, keepdims: bool, numpy_function: Callable,
              in_accumulation_dtype: bool = False) -> Tracer:
    x = _as_tracer(a)
    axes = normalize_axes(axis, x.ndim)
    accumulation = _accumulation_dtype(x.dtype, _requested(dtype), for_mean=False)
    wide = convert(x, accumulation)
    count = math.prod(x.shape[d] for d in axes)
    mean_value = _divide_by_count(reduce(wide, axes, "add", 0), count)
    centre = reshape(mean_value, kept_shape(x.shape, axes))
    deviation = elementwise("subtract", convert(wide, centre.dtype), broadcast_to(centre, x.shape))
    squares = reduce(elementwise("multiply", deviation, deviation), axes, "add", 0)
    variance = _divide_by_count(squares, max(count - ddof, 0))
    if not in_accumulation_dtype:
        variance = convert(variance, numpy_result_dtype(numpy_function, x.dtype, _requested(dtype)))
    return _finish(variance, x.shape, axes, keepdims)


# -- argmax / argmin -------------------------------------------------------------

def argmax(a: Any, axis: Any = None, out: Any = None, *, keepdims: bool = False) -> Tracer:
    reject_arguments("argmax", out=out)
    return _arg_reduce(_as_tracer(a), axis, keepdims, "GT", "argmax")


def argmin(a: Any, axis: Any = None, out: Any = None, *, keepdims: bool = False) -> Tracer:
    reject_arguments("argmin", out=out)
    return _arg_reduce(_as_tracer(a), axis, keepdims, "LT", "argmin")


def _arg_reduce(x: Tracer, axis: Any, keepdims: bool, direction: str, name: str) -> Tracer:
    shape = x.shape
    if axis is None:
        x, axes = reshape(x, (x.size,)), (0,)
    else:
        axes = (normalize_axis(axis, x.ndim),)
    if x.shape[axes[0]] == 0:
        raise tracing_error(ShapeError, f"attempt to get {name} of an empty sequence")
    indices = iota(x.ctx, x.shape, axes[0], np.int64)
    dtype = x.type.dtype
    reducer = x.ctx.computation(("arg", direction, dtype),
                                lambda module: _arg_reducer(module, name, direction, dtype))
    start = _lowest(x.dtype) if direction == "GT" else _highest(x.dtype)
    both = emit(x.ctx, "reduce", x, indices, constant(x.ctx, start, x.dtype),
                constant(x.ctx, np.iinfo(np.int64).max, np.int64), dimensions=axes,
                called=[reducer])
    result = emit(x.ctx, "get-tuple-element", both, index=1)
    if not keepdims:
        return result
    return reshape(result, (1,) * len(shape) if axis is None else kept_shape(shape, axes))


def _arg_reducer(module: Module, name: str, direction: str, dtype: DType) -> Computation:
    """(value, index) pairs: the better value wins, NaN beats numbers, ties take the lower index."""
    b = module.builder(f"{name}_{dtype}")
    value_a, index_a = b.parameter(TensorType(dtype, ())), b.parameter(TensorType(DType.S64, ()))
    value_b, index_b = b.parameter(TensorType(dtype, ())), b.parameter(TensorType(DType.S64, ()))
    a_better = b.compare(value_a, value_b, direction=direction)
    tie = b.compare(value_a, value_b, direction="EQ")
    if dtype.is_float:
        a_nan = b.compare(value_a, value_a, direction="NE")
        b_nan = b.compare(value_b, value_b, direction="NE")
        a_better = b.emit("or", a_better, b.emit("and", a_nan, b.emit("not", b_nan)))
        tie = b.emit("or", tie, b.emit("and", a_nan, b_nan))
    lower_index = b.compare(index_a, index_b, direction="LT")
    pick_a = b.emit("or", a_better, b.emit("and", tie, lower_index))
    b.set_root(b.tuple(b.select(pick_a, value_a, value_b), b.select(pick_a, index_a, index_b)))
    return b.computation

