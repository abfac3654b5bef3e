"""``x[key]`` for tracers: NumPy basic indexing plus integer-array indexing along one axis.

Supported entries: ints (negative ones count from the end), slices with any
step, ``None``, ``...``, traced integer scalars (a ``dynamic-slice``; like XLA,
an out-of-range traced index is clamped, where NumPy would raise), and one
integer array (a static NumPy array or list, a static boolean mask, or a traced
integer array) which gathers along its axis: one slice per index plus a
``concatenate`` (static indices), or one ``dynamic-slice`` per index (traced
indices, whose count is static).

The work is done in a fixed order: one ``slice`` (and ``reverse`` for negative
steps) for every static entry, one ``dynamic-slice`` for traced scalars, one
``reshape`` dropping integer axes and adding ``None`` axes, then the gather.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import TracingIndexError, UnsupportedError
from ..trace.emitters import (concatenate, constant, convert, elementwise, emit, full, full_like,
                              reshape, reverse, select, slice_axis, transpose)
from ..trace.tracer import Tracer, tracing_error

_HINT = ("jitflow indexes with ints, slices, None, ..., traced integer scalars and one integer "
         "array")


@dataclass
class _Plan:
    """What each entry of the key does, gathered while walking it."""

    slices: list[tuple[int, int, int]]        # static (start, limit, stride) per input axis
    reversed_axes: list[int] = field(default_factory=list)
    dynamic: dict[int, Tracer] = field(default_factory=dict)  # input axis -> traced index
    result_dims: list[Any] = field(default_factory=list)     # input axis, or None for a new axis
    array: Any = None                                        # the integer-array index, if any
    array_position: int = -1                                 # its place in result_dims
    advanced_entries: list[int] = field(default_factory=list)  # key positions of ints and arrays


def getitem(x: Tracer, key: Any) -> Tracer:
    entries = _expand_ellipsis(x, key if isinstance(key, tuple) else (key,))
    plan = _plan(x, entries)
    y = _apply_static(x, plan)
    y = _apply_dynamic(y, plan)
    kept_shape = [1 if d is None else y.shape[d] for d in plan.result_dims]
    y = reshape(y, kept_shape)
    if plan.array is None:
        return y
    y = _gather(y, plan.array_position, plan.array)
    if not _contiguous(plan.advanced_entries):
        # NumPy puts the indexed dimensions first when advanced indices are separated.
        width = np.ndim(plan.array) if not isinstance(plan.array, Tracer) else plan.array.ndim
        moved = list(range(plan.array_position, plan.array_position + width))
        y = transpose(y, moved + [d for d in range(y.ndim) if d not in moved])
    return y


def _normalize_entry(entry: Any) -> Any:
    """Static lists and masks become integer arrays; everything else is checked."""
    if entry is None or entry is Ellipsis or isinstance(entry, (slice, Tracer)):
        return entry
    if isinstance(entry, (bool, np.bool_)):
        raise tracing_error(UnsupportedError, "indexing with a Python bool", _HINT)
    if isinstance(entry, (list, np.ndarray)):
        array = np.asarray(entry)
        if array.dtype == np.bool_:
            if array.ndim != 1:
                raise tracing_error(UnsupportedError, "a boolean mask with more than one dimension",
                                    "index with np.nonzero(mask) per axis")
            return np.nonzero(array)[0]
        if array.size == 0:
            return array.astype(np.int64)
        if array.dtype.kind not in "iu":
            raise tracing_error(TracingIndexError, "arrays used as indices must be of integer (or "
                                                   f"boolean) type, got {array.dtype}")
        return array
    try:
        return operator.index(entry)
    except TypeError:
        raise tracing_error(TracingIndexError, f"cannot index with {type(entry).__name__}",
                            _HINT) from None


def _expand_ellipsis(x: Tracer, key: tuple) -> list[Any]:
    entries = [_normalize_entry(e) for e in key]
    if sum(e is Ellipsis for e in entries) > 1:
        raise tracing_error(TracingIndexError, "an index can only have a single ellipsis ('...')")
    consumed = sum(e is not None and e is not Ellipsis for e in entries)
    if consumed > x.ndim:
        raise tracing_error(TracingIndexError, f"too many indices for array: array is "
                                               f"{x.ndim}-dimensional, but {consumed} were indexed")
    fill = [slice(None)] * (x.ndim - consumed)
    for at, entry in enumerate(entries):
        if entry is Ellipsis:
            return entries[:at] + fill + entries[at + 1:]
    return entries + fill


def _plan(x: Tracer, entries: list[Any]) -> _Plan:
    plan = _Plan(slices=[(0, d, 1) for d in x.shape])
    axis = 0
    for position, entry in enumerate(entries):
        if entry is None:
            plan.result_dims.append(None)
            continue
        size = x.shape[axis]
        if isinstance(entry, slice):
            _plan_slice(plan, axis, entry, size)
            plan.result_dims.append(axis)
        elif isinstance(entry, Tracer) and entry.ndim == 0:
            _check_integer(entry)
            plan.dynamic[axis] = entry
            plan.advanced_entries.append(position)
        elif isinstance(entry, (Tracer, np.ndarray)):
            if plan.array is not None:
                raise tracing_error(UnsupportedError, "integer-array indexing along more than one "
                                                      "axis", "index one axis at a time")
            plan.array = _checked_indices(entry, size, axis)
            plan.array_position = len(plan.result_dims)
            plan.advanced_entries.append(position)
            plan.result_dims.append(axis)
        else:
            index = _static_index(entry, size, axis)
            plan.slices[axis] = (index, index + 1, 1)
            plan.advanced_entries.append(position)
        axis += 1
    return plan


def _plan_slice(plan: _Plan, axis: int, entry: slice, size: int) -> None:
    for part in (entry.start, entry.stop, entry.step):
        if isinstance(part, Tracer):
            raise tracing_error(UnsupportedError, "a slice with traced bounds",
                                "slice bounds must be static; use static arguments")
    start, stop, step = entry.indices(size)
    count = len(range(start, stop, step))
    if step > 0:
        plan.slices[axis] = (start, start + max(count - 1, 0) * step + (count > 0), step)
        return
    # A negative step reads the reversed axis forwards from position size - 1 - start.
    plan.reversed_axes.append(axis)
    first = size - 1 - start
    plan.slices[axis] = (first, first + (count - 1) * -step + 1, -step) if count else (0, 0, 1)


def _static_index(index: int, size: int, axis: int) -> int:
    if not -size <= index < size:
        raise tracing_error(TracingIndexError, f"index {index} is out of bounds for axis {axis} "
                                               f"with size {size}")
    return index % size


def _check_integer(index: Tracer) -> None:
    if index.dtype.kind not in "iu":
        raise tracing_error(TracingIndexError, "arrays used as indices must be of integer type, "
                                               f"got a traced {index.dtype} array",
                            "a traced boolean mask has a data-dependent shape; use np.where")


def _checked_indices(indices: Any, size: int, axis: int) -> Any:
    if isinstance(indices, Tracer):
        _check_integer(indices)
        return indices
    bad = indices[(indices < -size) | (indices >= size)]
    if bad.size:
        raise tracing_error(TracingIndexError, f"index {int(bad.flat[0])} is out of bounds for "
                                               f"axis {axis} with size {size}")
    return np.where(indices < 0, indices + size, indices)


def _contiguous(positions: list[int]) -> bool:
    return not positions or positions == list(range(positions[0], positions[0] + len(positions)))


def _apply_static(x: Tracer, plan: _Plan) -> Tracer:
    x = reverse(x, plan.reversed_axes)
    if all(s == (0, d, 1) for s, d in zip(plan.slices, x.shape)):
        return x
    return emit(x.ctx, "slice", x, slice=plan.slices, weak=x.weak)


def _apply_dynamic(x: Tracer, plan: _Plan) -> Tracer:
    if not plan.dynamic:
        return x
    starts = [_normalized_start(plan.dynamic[d], x.shape[d]) if d in plan.dynamic
              else constant(x.ctx, 0, np.int64) for d in range(x.ndim)]
    sizes = [1 if d in plan.dynamic else x.shape[d] for d in range(x.ndim)]
    return _dynamic_slice(x, starts, sizes)


def _dynamic_slice(x: Tracer, starts: list[Tracer], sizes: list[int]) -> Tracer:
    if any(size > extent for size, extent in zip(sizes, x.shape)):
        # A traced index into an empty axis has no element to clamp to.  NumPy would raise
        # when it ran; a loop with zero trips traces such a read without running it: zeros.
        return full(x.ctx, 0, sizes, x.dtype)
    return emit(x.ctx, "dynamic-slice", x, *starts, dynamic_slice_sizes=sizes, weak=x.weak)


def _normalized_start(index: Tracer, size: int) -> Tracer:
    """A traced index as an int64 start, counting negative ones from the end."""
    index = convert(index, np.int64)
    wrapped = elementwise("add", index, full_like(index, size))
    return select(elementwise("compare", index, full_like(index, 0), direction="LT"),
                  wrapped, index)


def _gather(x: Tracer, axis: int, indices: Any) -> Tracer:
    """``np.take(x, indices, axis)`` with the indices' shape replacing ``axis``."""
    index_shape = np.shape(indices) if not isinstance(indices, Tracer) else indices.shape
    if isinstance(indices, Tracer):
        flat = reshape(indices, (indices.size,))
        pieces = [_dynamic_row(x, axis, reshape(slice_axis(flat, 0, k, k + 1), ()))
                  for k in range(indices.size)]
    else:
        pieces = _static_rows(x, axis, [int(i) for i in np.ravel(indices)])
    rows = concatenate(pieces, axis) if pieces else slice_axis(x, axis, 0, 0)
    return reshape(rows, x.shape[:axis] + tuple(index_shape) + x.shape[axis + 1:])


def _static_rows(x: Tracer, axis: int, indices: list[int]) -> list[Tracer]:
    """Rows at static indices; an increasing arithmetic progression is one strided slice."""
    if len(indices) > 1:
        step = indices[1] - indices[0]
        if step > 0 and indices == list(range(indices[0], indices[-1] + 1, step)):
            return [slice_axis(x, axis, indices[0], indices[-1] + 1, step)]
    return [slice_axis(x, axis, i, i + 1) for i in indices]


def _dynamic_row(x: Tracer, axis: int, index: Tracer) -> Tracer:
    starts = [_normalized_start(index, x.shape[d]) if d == axis else constant(x.ctx, 0, np.int64)
              for d in range(x.ndim)]
    sizes = [1 if d == axis else x.shape[d] for d in range(x.ndim)]
    return _dynamic_slice(x, starts, sizes)

