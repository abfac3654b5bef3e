"""Static axis arguments: negative axes, tuples of axes, NumPy's AxisError as a located error."""

from __future__ import annotations

import operator
from typing import Any

from ...errors import TracingIndexError, TracingTypeError
from ..trace.tracer import tracing_error


def normalize_axis(axis: Any, ndim: int) -> int:
    """``axis`` in ``[-ndim, ndim)`` as a non-negative int."""
    try:
        index = operator.index(axis)
    except TypeError:
        raise tracing_error(TracingTypeError, f"axis {axis!r} is not an integer",
                            "axes must be static Python ints") from None
    if not -ndim <= index < ndim:
        raise tracing_error(TracingIndexError,
                            f"axis {index} is out of bounds for array of dimension {ndim}")
    return index % ndim


def normalize_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    """``None`` (every axis), an int or a tuple of ints as sorted, distinct, non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = [normalize_axis(a, ndim) for a in (axis if isinstance(axis, (tuple, list)) else (axis,))]
    if len(set(axes)) != len(axes):
        raise tracing_error(TracingIndexError, f"duplicate value in 'axis' {tuple(axis)}")
    return tuple(sorted(axes))


def kept_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` with the reduced ``axes`` set to 1 (``keepdims=True``)."""
    return tuple(1 if i in axes else d for i, d in enumerate(shape))
