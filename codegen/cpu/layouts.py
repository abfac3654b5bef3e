"""Physical layouts of buffers: where the element at a logical index lives.

A ``TensorType``'s layout is a minor-to-major permutation of its dimensions (HLO
style); ``None`` (no layout assigned) means row-major.  Kernels always iterate
and index by *logical* coordinates; these helpers turn coordinates into element
offsets, so a buffer in any layout can be read or written in place.
"""

from __future__ import annotations

from typing import Sequence

from llvmlite import ir

from ...ir import TensorType
from .loops import Index, i64


def layout_of(t: TensorType) -> tuple[int, ...]:
    return t.layout if t.layout is not None else TensorType.default_layout(t.rank)


def is_row_major(t: TensorType) -> bool:
    return t.layout is None or t.layout == TensorType.default_layout(t.rank)


def physical(t: TensorType) -> TensorType:
    """``t`` with its layout made explicit (row-major when none was assigned)."""
    return t if t.layout is not None else t.with_layout(TensorType.default_layout(t.rank))


def row_major(t: TensorType) -> TensorType:
    return t.with_layout(TensorType.default_layout(t.rank))


def element_strides(t: TensorType) -> list[int]:
    """Elements between neighbours along each logical dimension."""
    strides = [0] * t.rank
    step = 1
    for dim in layout_of(t):
        strides[dim] = step
        step *= t.shape[dim]
    return strides


def same_storage(a: TensorType, b: TensorType) -> bool:
    """Every logical index of ``a`` and ``b`` (same shape) is at the same element offset."""
    if a.shape != b.shape:
        return False
    return all(sa == sb for sa, sb, n in zip(element_strides(a), element_strides(b), a.shape) if n > 1)


def transpose_is_bitcast(operand: TensorType, result: TensorType, permutation: Sequence[int]) -> bool:
    """A transpose from ``operand`` to ``result`` moves no data: result dimension ``i`` walks
    memory exactly like operand dimension ``permutation[i]``."""
    source = element_strides(operand)
    target = element_strides(result)
    return all(target[i] == source[d] for i, d in enumerate(permutation) if result.shape[i] > 1)


def element_offset(b: ir.IRBuilder, index: Index, t: TensorType) -> ir.Value:
    """The element offset of ``index`` in a buffer of type ``t``."""
    if not t.shape:
        return i64(0)
    if is_row_major(t):
        return index.linear(b)
    offset: ir.Value | None = None
    for dim, stride in zip(index.dims(b), element_strides(t)):
        if stride == 0:
            continue
        term = dim if stride == 1 else b.mul(dim, i64(stride), flags=("nsw",))
        offset = term if offset is None else b.add(offset, term, flags=("nsw",))
    return offset if offset is not None else i64(0)
