"""Small IR-building helpers on tracers: the vocabulary the NumPy implementations use.

Each helper emits one (or a few) IR instructions with static shapes worked out
here, so the NumPy-level code (``elementwise``, ``reductions``, ``shapes``,
``indexing``, ``linalg``) reads like NumPy and never touches the builder.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from ...errors import ScalarOverflowError
from ...ir import DType, TensorType
from .promotion import check_supported, is_python_scalar, weak_dtype
from .tracer import TraceContext, Tracer, check_same_context, mixed_traces_error, tracing_error


def context_of(values: Iterable[Any]) -> TraceContext:
    """The trace context of the tracers among ``values`` (there is at least one)."""
    return check_same_context([v for v in values if isinstance(v, Tracer)])


def ir_dtype(dtype: Any) -> DType:
    return check_supported(np.dtype(dtype))


def emit(ctx: TraceContext, opcode: str, *operands: Tracer, weak: bool = False,
         **kwargs: Any) -> Tracer:
    return Tracer(ctx, ctx.emit(opcode, *(o.inst for o in operands), **kwargs), weak)


def constant(ctx: TraceContext, value: Any, dtype: Any = None) -> Tracer:
    """A literal; Python ints that do not fit ``dtype`` raise as in NumPy 2."""
    if dtype is None:
        array = np.asarray(value, dtype=weak_dtype(value)) if is_python_scalar(value) else \
            np.asarray(value)
    else:
        try:
            array = np.asarray(value, dtype=np.dtype(dtype)) if is_python_scalar(value) else \
                np.asarray(value).astype(dtype)
        except OverflowError as error:  # NEP 50: int8_array + 300
            raise tracing_error(ScalarOverflowError, str(error),
                                "NumPy 2 keeps the array's dtype for Python scalars (NEP 50); "
                                "cast the array first (x.astype(np.int16))") from None
    ir_dtype(array.dtype)
    return ctx.constant(array)


def lift(ctx: TraceContext, value: Any, dtype: Any = None) -> Tracer:
    """Any operand as a tracer of ``dtype`` (default: its own): converts or makes a constant."""
    if isinstance(value, Tracer):
        if value.ctx is not ctx:
            raise mixed_traces_error()
        return value if dtype is None else convert(value, dtype)
    return constant(ctx, value, dtype)


def convert(x: Tracer, dtype: Any, weak: bool = False) -> Tracer:
    target = ir_dtype(dtype)
    if target is x.type.dtype:
        return x if x.weak == weak else Tracer(x.ctx, x.inst, weak)
    return emit(x.ctx, "convert", x, dtype=target, weak=weak)


def broadcast_to(x: Tracer, shape: Sequence[int]) -> Tracer:
    """NumPy-style broadcast of ``x`` to ``shape`` (trailing dimensions aligned)."""
    shape = tuple(shape)
    if x.shape == shape:
        return x
    offset = len(shape) - x.ndim
    return emit(x.ctx, "broadcast", x, shape=shape, dimensions=tuple(range(offset, len(shape))),
                weak=x.weak)


def reshape(x: Tracer, shape: Sequence[int]) -> Tracer:
    shape = tuple(shape)
    return x if x.shape == shape else emit(x.ctx, "reshape", x, shape=shape, weak=x.weak)


def transpose(x: Tracer, permutation: Sequence[int]) -> Tracer:
    permutation = tuple(permutation)
    if permutation == tuple(range(x.ndim)):
        return x
    return emit(x.ctx, "transpose", x, dimensions=permutation, weak=x.weak)


def slice_axis(x: Tracer, axis: int, start: int, limit: int, stride: int = 1) -> Tracer:
    """``x`` restricted to ``start:limit:stride`` (positive stride, in range) along ``axis``."""
    if (start, limit, stride) == (0, x.shape[axis], 1):
        return x
    spec = [(0, d, 1) for d in x.shape]
    spec[axis] = (start, limit, stride)
    return emit(x.ctx, "slice", x, slice=spec, weak=x.weak)


def reverse(x: Tracer, axes: Sequence[int]) -> Tracer:
    return emit(x.ctx, "reverse", x, dimensions=tuple(axes), weak=x.weak) if axes else x


def concatenate(xs: Sequence[Tracer], axis: int) -> Tracer:
    if len(xs) == 1:
        return xs[0]
    return emit(xs[0].ctx, "concatenate", *xs, dimensions=(axis,))


def elementwise(opcode: str, *xs: Tracer, weak: bool = False, **attrs: Any) -> Tracer:
    """An elementwise op on operands of one shape (and, except select, one dtype)."""
    return emit(xs[0].ctx, opcode, *xs, weak=weak, **attrs)


def compare(x: Tracer, y: Tracer, direction: str) -> Tracer:
    return emit(x.ctx, "compare", x, y, direction=direction)


def select(predicate: Tracer, on_true: Tracer, on_false: Tracer) -> Tracer:
    return emit(predicate.ctx, "select", predicate, on_true, on_false,
                weak=on_true.weak and on_false.weak)


def full(ctx: TraceContext, value: Any, shape: Sequence[int], dtype: Any) -> Tracer:
    """``value`` (scalar) broadcast to ``shape`` as ``dtype``."""
    return broadcast_to(constant(ctx, np.asarray(value).astype(dtype)), shape)


def full_like(x: Tracer, value: Any) -> Tracer:
    return full(x.ctx, value, x.shape, x.dtype)


def iota(ctx: TraceContext, shape: Sequence[int], axis: int, dtype: Any = np.int64) -> Tracer:
    return emit(ctx, "iota", type=TensorType(ir_dtype(dtype), tuple(shape)), iota_dimension=axis)

