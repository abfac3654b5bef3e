"""Data movement: iota, broadcast, reshape, transpose, slices, concatenate, pad, reverse."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ...errors import IRError
from ..opdef import AttrKind, AttrSpec, Cost, OpDef, Trait, register_op
from ..types import DType, TensorType, Type
from .common import as_array, check_dims, declared_array, shape_text, traits_of


def _infer_iota(types, attrs, called, declared):
    result = declared_array(declared)
    dimension = attrs["iota_dimension"]
    if not 0 <= dimension < result.rank:
        raise IRError(f"iota_dimension={dimension} out of range for {shape_text(result)}")
    if result.dtype is DType.PRED:
        raise IRError("iota cannot produce pred")
    return result.without_layout()


def _evaluate_iota(inst, args, call):
    shape, dimension = inst.type.shape, inst.attrs["iota_dimension"]
    line = np.arange(shape[dimension]).astype(inst.type.dtype.numpy)
    view = [1] * len(shape)
    view[dimension] = shape[dimension]
    return np.broadcast_to(line.reshape(view), shape).copy()


def _infer_broadcast(types, attrs, called, declared):
    operand = as_array(types[0], "the operand")
    result = declared_array(declared)
    dims = attrs["dimensions"]
    if result.dtype is not operand.dtype:
        raise IRError(f"broadcast keeps the element type: {operand.dtype} cannot become {result.dtype}")
    if len(dims) != operand.rank:
        raise IRError(f"dimensions={{{','.join(map(str, dims))}}} must name one result dimension "
                      f"for each of the operand's {operand.rank}")
    check_dims(dims, result.rank, "dimensions")
    if list(dims) != sorted(dims):
        raise IRError(f"dimensions={{{','.join(map(str, dims))}}} must be increasing; "
                      "transpose explicitly")
    for i, d in enumerate(dims):
        if operand.shape[i] not in (1, result.shape[d]):
            raise IRError(f"operand dimension {i} (size {operand.shape[i]}) cannot broadcast to "
                          f"result dimension {d} (size {result.shape[d]})")
    return result.without_layout()


def _evaluate_broadcast(inst, args, call):
    shape = inst.type.shape
    view = [1] * len(shape)
    for i, d in enumerate(inst.attrs["dimensions"]):
        view[d] = args[0].shape[i]
    return np.broadcast_to(args[0].reshape(view), shape).copy()


def _infer_reshape(types, attrs, called, declared):
    operand = as_array(types[0], "the operand")
    result = declared_array(declared)
    if result.dtype is not operand.dtype or result.size != operand.size:
        raise IRError(f"reshape cannot turn {shape_text(operand)} into {shape_text(result)}")
    return result.without_layout()


def _infer_transpose(types, attrs, called, declared):
    operand = as_array(types[0], "the operand")
    dims = attrs["dimensions"]
    if sorted(dims) != list(range(operand.rank)):
        raise IRError(f"dimensions={{{','.join(map(str, dims))}}} is not a permutation of the "
                      f"{operand.rank} dimensions of {shape_text(operand)}")
    return TensorType(operand.dtype, tuple(operand.shape[d] for d in dims))


def _infer_slice(types, attrs, called, declared):
    operand = as_array(types[0], "the operand")
    spec = attrs["slice"]
    if len(spec) != operand.rank:
        raise IRError(f"slice gives {len(spec)} ranges for the {operand.rank} dimensions of "
                      f"{shape_text(operand)}")
    shape = []
    for d, (start, limit, stride) in enumerate(spec):
        if not (0 <= start <= limit <= operand.shape[d]) or stride < 1:
            raise IRError(f"slice [{start}:{limit}:{stride}] is invalid for dimension {d} of size "
                          f"{operand.shape[d]}")
        shape.append(-(-(limit - start) // stride))
    return TensorType(operand.dtype, tuple(shape))


def _evaluate_slice(inst, args, call):
    return args[0][tuple(slice(a, b, c) for a, b, c in inst.attrs["slice"])].copy()


def _check_indices(types: Sequence[Type], rank: int, op: str) -> None:
    if len(types) != rank:
        raise IRError(f"{op} needs {rank} start indices (one per dimension), got {len(types)}")
    kinds = set()
    for i, t in enumerate(types):
        index = as_array(t, f"start index {i}")
        if index.shape != () or not index.dtype.is_integer:
            raise IRError(f"start index {i} must be an integer scalar, got {shape_text(index)}")
        kinds.add(index.dtype)
    if len(kinds) > 1:
        raise IRError("start indices must all have the same element type")


def _clamped_starts(indices: Sequence[np.ndarray], limits: Sequence[int]) -> list[int]:
    """XLA clamps start indices so that the window stays in bounds."""
    return [int(min(max(int(i), 0), limit)) for i, limit in zip(indices, limits)]


def _infer_dynamic_slice(types, attrs, called, declared):
    operand = as_array(types[0], "the operand")
    _check_indices(types[1:], operand.rank, "dynamic-slice")
    sizes = attrs["dynamic_slice_sizes"]
    if len(sizes) != operand.rank or any(not 0 <= s <= d for s, d in zip(sizes, operand.shape)):
        raise IRError(f"dynamic_slice_sizes={{{','.join(map(str, sizes))}}} does not fit "
                      f"{shape_text(operand)}")
    return TensorType(operand.dtype, tuple(sizes))


def _evaluate_dynamic_slice(inst, args, call):
    operand, sizes = args[0], inst.attrs["dynamic_slice_sizes"]
    starts = _clamped_starts(args[1:], [d - s for d, s in zip(operand.shape, sizes)])
    return operand[tuple(slice(a, a + s) for a, s in zip(starts, sizes))].copy()


def _infer_dynamic_update_slice(types, attrs, called, declared):
    operand = as_array(types[0], "the operand")
    update = as_array(types[1], "the update")
    _check_indices(types[2:], operand.rank, "dynamic-update-slice")
    if update.dtype is not operand.dtype or update.rank != operand.rank or any(
            u > d for u, d in zip(update.shape, operand.shape)):
        raise IRError(f"update {shape_text(update)} does not fit in {shape_text(operand)}")
    return operand.without_layout()


def _evaluate_dynamic_update_slice(inst, args, call):
    operand, update = args[0], args[1]
    starts = _clamped_starts(args[2:], [d - u for d, u in zip(operand.shape, update.shape)])
    result = operand.copy()
    result[tuple(slice(a, a + u) for a, u in zip(starts, update.shape))] = update
    return result


def _infer_concatenate(types, attrs, called, declared):
    arrays = [as_array(t, f"operand {i}") for i, t in enumerate(types)]
    (dimension,) = attrs["dimensions"] if len(attrs["dimensions"]) == 1 else (None,)
    first = arrays[0]
    if dimension is None or not 0 <= dimension < first.rank:
        raise IRError(f"concatenate needs one dimension in range for rank {first.rank}, "
                      f"got dimensions={{{','.join(map(str, attrs['dimensions']))}}}")
    total = 0
    for i, other in enumerate(arrays):
        same = other.rank == first.rank and all(
            a == b for d, (a, b) in enumerate(zip(other.shape, first.shape)) if d != dimension)
        if other.dtype is not first.dtype or not same:
            raise IRError(f"operand {i} {shape_text(other)} cannot be concatenated with "
                          f"{shape_text(first)} along dimension {dimension}")
        total += other.shape[dimension]
    shape = list(first.shape)
    shape[dimension] = total
    return TensorType(first.dtype, tuple(shape))


def _infer_pad(types, attrs, called, declared):
    operand = as_array(types[0], "the operand")
    value = as_array(types[1], "the padding value")
    if value.shape != () or value.dtype is not operand.dtype:
        raise IRError(f"padding value must be a {operand.dtype} scalar, got {shape_text(value)}")
    config = attrs["padding"]
    if len(config) != operand.rank:
        raise IRError(f"padding has {len(config)} entries for the {operand.rank} dimensions of "
                      f"{shape_text(operand)}")
    shape = []
    for d, (low, high, interior) in enumerate(config):
        if interior < 0:
            raise IRError(f"interior padding of dimension {d} is negative ({interior})")
        size = operand.shape[d]
        padded = low + high + size + max(size - 1, 0) * interior
        if padded < 0:
            raise IRError(f"padding {low}_{high}_{interior} leaves dimension {d} negative")
        shape.append(padded)
    return TensorType(operand.dtype, tuple(shape))


def _evaluate_pad(inst, args, call):
    operand, value = args
    config = inst.attrs["padding"]
    grown = [max(lo, 0) + max(hi, 0) + d + max(d - 1, 0) * it
             for (lo, hi, it), d in zip(config, operand.shape)]
    result = np.full(grown, value, dtype=operand.dtype)
    result[tuple(slice(max(lo, 0), max(lo, 0) + (d - 1) * (it + 1) + 1 if d else max(lo, 0), it + 1)
                 for (lo, hi, it), d in zip(config, operand.shape))] = operand
    # Negative low/high padding crops.
    crop = tuple(slice(max(-lo, 0), size - max(-hi, 0)) for (lo, hi, it), size in zip(config, grown))
    return result[crop].copy()


def _infer_reverse(types, attrs, called, declared):
    operand = as_array(types[0], "the operand")
    check_dims(attrs["dimensions"], operand.rank, "dimensions")
    return operand.without_layout()


def _declare_data_movement() -> None:
    """Ops that move elements or compute them from indices."""
    INTS, INT = AttrKind.INTS, AttrKind.INT
    for opdef in [
        OpDef("iota", (0, 0), _infer_iota, _evaluate_iota,
              attrs=(AttrSpec("iota_dimension", INT),), needs_declared_type=True,
              doc="0, 1, 2, ... along iota_dimension, broadcast over the others.",
              traits=traits_of(Trait.GENERATED, Trait.INDEXING), cost=Cost.FREE),
        OpDef("broadcast", (1, 1), _infer_broadcast, _evaluate_broadcast,
              attrs=(AttrSpec("dimensions", INTS),), needs_declared_type=True,
              doc="Operand dimension i becomes result dimension dimensions[i]; others repeat.",
              traits=traits_of(Trait.GENERATED, Trait.INDEXING), cost=Cost.FREE),
        OpDef("reshape", (1, 1), _infer_reshape,
              lambda inst, args, call: args[0].reshape(inst.type.shape).copy(),
              needs_declared_type=True, doc="Same elements in row-major order, new shape.",
              traits=traits_of(Trait.INDEXING, Trait.MAY_ALIAS_OPERAND), cost=Cost.CHEAP),
        OpDef("transpose", (1, 1), _infer_transpose,
              lambda inst, args, call: np.transpose(args[0], inst.attrs["dimensions"]).copy(),
              attrs=(AttrSpec("dimensions", INTS),),
              doc="Result dimension i is operand dimension dimensions[i].",
              traits=traits_of(Trait.INDEXING, Trait.MAY_ALIAS_OPERAND), cost=Cost.CHEAP),
        OpDef("slice", (1, 1), _infer_slice, _evaluate_slice,
              attrs=(AttrSpec("slice", AttrKind.SLICE),),
              doc="Static [start:limit:stride] window of every dimension.",
              traits=traits_of(Trait.INDEXING), cost=Cost.CHEAP),
        OpDef("dynamic-slice", (2, None), _infer_dynamic_slice, _evaluate_dynamic_slice,
              attrs=(AttrSpec("dynamic_slice_sizes", INTS),),
              doc="Window at run-time start indices (clamped to stay in bounds).",
              traits=traits_of(Trait.INDEXING), cost=Cost.NORMAL),
        OpDef("dynamic-update-slice", (3, None), _infer_dynamic_update_slice,
              _evaluate_dynamic_update_slice,
              doc="Operand with `update` written at run-time start indices (clamped).",
              cost=Cost.NORMAL),
        OpDef("concatenate", (1, None), _infer_concatenate,
              lambda inst, args, call: np.concatenate(args, axis=inst.attrs["dimensions"][0]),
              attrs=(AttrSpec("dimensions", INTS),), doc="Join operands along one dimension.",
              traits=traits_of(Trait.INDEXING), cost=Cost.NORMAL),
        OpDef("pad", (2, 2), _infer_pad, _evaluate_pad,
              attrs=(AttrSpec("padding", AttrKind.PADDING),),
              doc="Edge (possibly negative) and interior padding with a scalar value.",
              traits=traits_of(Trait.INDEXING), cost=Cost.NORMAL),
        OpDef("reverse", (1, 1), _infer_reverse,
              lambda inst, args, call: np.flip(args[0], inst.attrs["dimensions"]).copy(),
              attrs=(AttrSpec("dimensions", INTS),), doc="Reverse the order along dimensions.",
              traits=traits_of(Trait.INDEXING), cost=Cost.CHEAP),
    ]:
        register_op(opdef)


_declare_data_movement()
