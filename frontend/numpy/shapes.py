"""Shape manipulation with static sizes: reshape, transpose, squeeze, concatenate, split, ...

Arguments follow NumPy's signatures so that the functions serve both as
``np.<name>`` implementations and as ``Tracer`` methods.
"""

from __future__ import annotations

import math
import operator
from typing import Any, Sequence

import numpy as np

from ...errors import ShapeError, TracingTypeError, UnsupportedError
from ..trace.emitters import (broadcast_to as broadcast_tracer, concatenate as concatenate_tracers,
                              context_of, convert, full, lift, reshape as reshape_tracer, reverse,
                              slice_axis, transpose as transpose_tracer)
from ..trace.promotion import broadcast_shapes, format_shape, result_type
from ..trace.tracer import Tracer, tracing_error
from .axes import normalize_axes, normalize_axis
from .reductions import reject_arguments


def _static_shape(shape: Any) -> tuple[int, ...]:
    try:
        return tuple(operator.index(d) for d in shape) if isinstance(shape, (tuple, list)) else \
            (operator.index(shape),)
    except TypeError:
        raise tracing_error(TracingTypeError, f"shape {shape!r} is not a tuple of ints",
                            "shapes must be static; use x.shape or static arguments") from None


def _only_c_order(function: str, order: str) -> None:
    if order not in ("C", "A", "K"):
        raise tracing_error(UnsupportedError, f"order={order!r} in np.{function}",
                            "jitflow arrays are row-major; only order='C' is traced")


def resolve_shape(size: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` with a single -1 filled in so that it holds ``size`` elements."""
    unknown = [i for i, d in enumerate(shape) if d == -1]
    known = math.prod(d for d in shape if d != -1)
    if len(unknown) > 1 or any(d < -1 for d in shape):
        raise tracing_error(ShapeError, f"invalid shape {format_shape(shape)} for reshape")
    if unknown and known and size % known == 0:
        shape = shape[:unknown[0]] + (size // known,) + shape[unknown[0] + 1:]
    if math.prod(shape) != size or -1 in shape:
        raise tracing_error(ShapeError, f"cannot reshape array of size {size} into shape "
                                        f"{format_shape(shape)}")
    return shape


def reshape(a: Tracer, /, shape: Any = None, order: str = "C", *, newshape: Any = None,
            copy: Any = None) -> Tracer:
    _only_c_order("reshape", order)
    target = _static_shape(shape if shape is not None else newshape)
    return reshape_tracer(a, resolve_shape(a.size, target))


def reshape_method(self: Tracer, *shape: Any, order: str = "C", copy: Any = None) -> Tracer:
    """``x.reshape(2, 3)`` or ``x.reshape((2, 3))``."""
    return reshape(self, shape[0] if len(shape) == 1 else shape, order)


def ravel(a: Tracer, order: str = "C") -> Tracer:
    _only_c_order("ravel", order)
    return reshape_tracer(a, (a.size,))


def transpose(a: Tracer, axes: Any = None) -> Tracer:
    if axes is None:
        return transpose_tracer(a, tuple(reversed(range(a.ndim))))
    permutation = tuple(normalize_axis(d, a.ndim) for d in axes)
    if sorted(permutation) != list(range(a.ndim)):
        raise tracing_error(ShapeError,
                            f"axes {tuple(axes)} don't match array of dimension {a.ndim}")
    return transpose_tracer(a, permutation)


def transpose_method(self: Tracer, *axes: Any) -> Tracer:
    """``x.transpose()``, ``x.transpose(1, 0)`` or ``x.transpose((1, 0))``."""
    if not axes or axes == (None,):
        return transpose(self)
    return transpose(self, axes[0] if len(axes) == 1 else axes)


def matrix_transpose(x: Tracer) -> Tracer:
    """``x.mT``: swap the last two axes."""
    if x.ndim < 2:
        raise tracing_error(ShapeError,
                            f"matrix transpose needs at least 2 dimensions, got {x.ndim}")
    return swapaxes(x, -1, -2)


def swapaxes(a: Tracer, axis1: int, axis2: int) -> Tracer:
    permutation = list(range(a.ndim))
    i, j = normalize_axis(axis1, a.ndim), normalize_axis(axis2, a.ndim)
    permutation[i], permutation[j] = permutation[j], permutation[i]
    return transpose_tracer(a, permutation)


def moveaxis(a: Tracer, source: Any, destination: Any) -> Tracer:
    sources = _axis_list(source, a.ndim)
    destinations = _axis_list(destination, a.ndim)
    if len(sources) != len(destinations):
        raise tracing_error(ShapeError, "`source` and `destination` arguments must have the same "
                                        "number of elements")
    order = [d for d in range(a.ndim) if d not in sources]
    for dest, src in sorted(zip(destinations, sources)):
        order.insert(dest, src)
    return transpose_tracer(a, order)


def _axis_list(axis: Any, ndim: int) -> list[int]:
    return [normalize_axis(d, ndim) for d in (axis if isinstance(axis, (tuple, list)) else [axis])]


def expand_dims(a: Tracer, axis: Any) -> Tracer:
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    ndim = a.ndim + len(axes)
    new_axes = normalize_axes(axes, ndim)
    dims = iter(a.shape)
    return reshape_tracer(a, tuple(1 if d in new_axes else next(dims) for d in range(ndim)))


def squeeze(a: Tracer, axis: Any = None) -> Tracer:
    if axis is None:
        axes = tuple(i for i, d in enumerate(a.shape) if d == 1)
    else:
        axes = normalize_axes(axis, a.ndim)
        if any(a.shape[d] != 1 for d in axes):
            raise tracing_error(ShapeError, "cannot select an axis to squeeze out which has size "
                                            f"not equal to one (shape {format_shape(a.shape)})")
    return reshape_tracer(a, tuple(d for i, d in enumerate(a.shape) if i not in axes))


def broadcast_to(array: Tracer, shape: Any, subok: bool = False) -> Tracer:
    target = _static_shape(shape)
    if broadcast_shapes(array.shape, target, what="operand") != target:
        raise tracing_error(ShapeError, f"cannot broadcast an array of shape "
                                        f"{format_shape(array.shape)} to shape "
                                        f"{format_shape(target)}")
    return broadcast_tracer(array, target)


def broadcast_arrays(*args: Any, subok: bool = False) -> tuple[Tracer, ...]:
    ctx = context_of(args)
    tracers = [lift(ctx, a) for a in args]
    shape = broadcast_shapes(*(t.shape for t in tracers))
    return tuple(broadcast_tracer(t, shape) for t in tracers)


def _lift_all(arrays: Sequence[Any], dtype: Any) -> list[Tracer]:
    ctx = context_of(arrays)
    common = np.dtype(dtype) if dtype is not None else result_type(*arrays)
    return [lift(ctx, a, common) for a in arrays]


def concatenate(arrays: Sequence[Any], axis: Any = 0, out: Any = None, *, dtype: Any = None,
                casting: str = "same_kind") -> Tracer:
    reject_arguments("concatenate", out=out)
    tracers = _lift_all(list(arrays), dtype)
    if axis is None:
        tracers, axis = [reshape_tracer(t, (t.size,)) for t in tracers], 0
    if any(t.ndim == 0 for t in tracers):
        raise tracing_error(ShapeError, "zero-dimensional arrays cannot be concatenated")
    first = tracers[0]
    dimension = normalize_axis(axis, first.ndim)
    for t in tracers[1:]:
        if t.ndim != first.ndim or any(a != b for d, (a, b) in enumerate(zip(t.shape, first.shape))
                                       if d != dimension):
            raise tracing_error(ShapeError, "all the input array dimensions except for the "
                                            "concatenation axis must match exactly: shapes "
                                            f"{format_shape(first.shape)} and "
                                            f"{format_shape(t.shape)}")
    return concatenate_tracers(tracers, dimension)


def stack(arrays: Sequence[Any], axis: int = 0, out: Any = None, *, dtype: Any = None,
          casting: str = "same_kind") -> Tracer:
    reject_arguments("stack", out=out)
    tracers = _lift_all(list(arrays), dtype)
    shapes = {t.shape for t in tracers}
    if len(shapes) != 1:
        raise tracing_error(ShapeError, "all input arrays must have the same shape, got "
                            + " ".join(format_shape(t.shape) for t in tracers))
    dimension = normalize_axis(axis, tracers[0].ndim + 1)
    return concatenate_tracers([expand_dims(t, dimension) for t in tracers], dimension)


def atleast_1d(*arys: Any) -> Any:
    return _atleast(arys, lambda x: reshape_tracer(x, (1,)) if x.ndim == 0 else x)


def atleast_2d(*arys: Any) -> Any:
    return _atleast(arys, lambda x: reshape_tracer(x, (1,) * (2 - x.ndim) + x.shape)
                    if x.ndim < 2 else x)


def _atleast(arys: tuple, grow: Any) -> Any:
    ctx = context_of(arys)
    results = [grow(lift(ctx, a)) for a in arys]
    return results[0] if len(results) == 1 else tuple(results)


def hstack(tup: Sequence[Any], *, dtype: Any = None, casting: str = "same_kind") -> Tracer:
    arrays = atleast_1d(*tup)
    arrays = arrays if isinstance(arrays, tuple) else (arrays,)
    return concatenate(arrays, axis=0 if arrays[0].ndim == 1 else 1, dtype=dtype)


def vstack(tup: Sequence[Any], *, dtype: Any = None, casting: str = "same_kind") -> Tracer:
    arrays = atleast_2d(*tup)
    return concatenate(arrays if isinstance(arrays, tuple) else (arrays,), axis=0, dtype=dtype)


def tril(m: Tracer, k: int = 0) -> Tracer:
    return _triangle(m, np.tri(*m.shape[-2:], k=k, dtype=bool))


def triu(m: Tracer, k: int = 0) -> Tracer:
    return _triangle(m, ~np.tri(*m.shape[-2:], k=k - 1, dtype=bool))


def _triangle(m: Tracer, keep: np.ndarray) -> Tracer:
    """``m`` where the static mask ``keep`` holds, zero elsewhere (the mask is a constant)."""
    if m.ndim < 2:
        raise tracing_error(ShapeError, f"tril/triu need at least 2 dimensions, got {m.ndim}")
    return np.where(keep, m, np.zeros((), m.dtype))


def split(ary: Tracer, indices_or_sections: Any, axis: int = 0) -> list[Tracer]:
    dimension = normalize_axis(axis, ary.ndim)
    size = ary.shape[dimension]
    if isinstance(indices_or_sections, (int, np.integer)):
        sections = int(indices_or_sections)
        if sections <= 0 or size % sections:
            raise tracing_error(ShapeError, f"array split does not result in an equal division: "
                                            f"{size} into {sections}")
        bounds = list(range(0, size + 1, size // sections)) if size else [0] * (sections + 1)
    else:
        bounds = [0, *(min(max(int(i) + (size if i < 0 else 0), 0), size)
                       for i in indices_or_sections), size]
    return [slice_axis(ary, dimension, start, max(start, limit))
            for start, limit in zip(bounds, bounds[1:])]


def flip(m: Tracer, axis: Any = None) -> Tracer:
    return reverse(m, normalize_axes(axis, m.ndim))


def _like(a: Tracer, fill: Any, dtype: Any, shape: Any) -> Tracer:
    target = a.shape if shape is None else _static_shape(shape)
    return full(a.ctx, fill, target, a.dtype if dtype is None else np.dtype(dtype))


def zeros_like(a: Tracer, dtype: Any = None, order: str = "K", subok: bool = True,
               shape: Any = None, *, device: Any = None) -> Tracer:
    return _like(a, 0, dtype, shape)


def ones_like(a: Tracer, dtype: Any = None, order: str = "K", subok: bool = True,
              shape: Any = None, *, device: Any = None) -> Tracer:
    return _like(a, 1, dtype, shape)


def full_like(a: Any, fill_value: Any, dtype: Any = None, order: str = "K", subok: bool = True,
              shape: Any = None, *, device: Any = None) -> Tracer:
    if isinstance(fill_value, Tracer):
        target = a.shape if shape is None else _static_shape(shape)
        return broadcast_tracer(convert(fill_value, a.dtype if dtype is None else dtype), target)
    return _like(a, fill_value, dtype, shape)


def astype(x: Tracer, dtype: Any, order: str = "K", casting: str = "unsafe", subok: bool = True,
           copy: bool = True, *, device: Any = None) -> Tracer:
    """NumPy casting; float to int truncates toward zero (out-of-range values saturate)."""
    return convert(x, np.dtype(dtype))


def copy(a: Tracer, order: str = "K", subok: bool = False) -> Tracer:
    return a  # tracers are immutable, so a copy is the value itself


def shape(a: Any) -> tuple[int, ...]:
    return a.shape


def ndim(a: Any) -> int:
    return a.ndim


def size(a: Any, axis: Any = None) -> int:
    return a.size if axis is None else a.shape[normalize_axis(axis, a.ndim)]

