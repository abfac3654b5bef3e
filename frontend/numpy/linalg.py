"""matmul, dot, tensordot, inner, vdot, outer and einsum as IR ``dot`` (general dot).

Every product becomes one ``dot`` with explicit batch and contracting
dimensions, plus the broadcasts, reshapes and transposes that put NumPy's
result dimensions in NumPy's order.  Bool products (NumPy: or of ands) run in
int64 and compare with zero, since the IR's dot has no pred form.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ...errors import ShapeError, UnsupportedError
from ..trace.emitters import (broadcast_to, compare, context_of, convert, emit, full_like, lift,
                              reshape, transpose)
from ..trace.promotion import broadcast_shapes, format_shape, result_type, ufunc_loop
from ..trace.tracer import Tracer, tracing_error
from .elementwise import apply_ufunc, binary
from .reductions import reduce, reject_arguments


def dot_general(lhs: Tracer, rhs: Tracer, contracting: tuple[Sequence[int], Sequence[int]],
                batch: tuple[Sequence[int], Sequence[int]] = ((), ())) -> Tracer:
    """IR dot of operands of one dtype: result dims are batch, lhs free, rhs free."""
    if lhs.dtype == np.bool_:
        product = dot_general(convert(lhs, np.int64), convert(rhs, np.int64), contracting, batch)
        return compare(product, full_like(product, 0), "NE")
    return emit(lhs.ctx, "dot", lhs, rhs, lhs_contracting_dims=tuple(contracting[0]),
                rhs_contracting_dims=tuple(contracting[1]), lhs_batch_dims=tuple(batch[0]),
                rhs_batch_dims=tuple(batch[1]))


def _ndim(value: Any) -> int:
    return value.ndim if isinstance(value, Tracer) else np.ndim(value)


def _strong(value: Any) -> Any:
    """np.dot and friends call np.asarray on their operands: Python scalars are not weak there."""
    if isinstance(value, Tracer):
        return Tracer(value.ctx, value.inst) if value.weak else value
    return np.asarray(value)


def _multiply(a: Any, b: Any) -> Tracer:
    """np.multiply: what dot and inner do when an operand is a scalar."""
    return apply_ufunc(np.multiply, binary("multiply", "and"), (_strong(a), _strong(b)),
                       keep_weak=False)


def _lift_pair(a: Any, b: Any) -> tuple[Tracer, Tracer]:
    """Both operands as tracers of their NumPy result type."""
    a, b = _strong(a), _strong(b)
    ctx = context_of((a, b))
    dtype = result_type(a, b)
    return lift(ctx, a, dtype), lift(ctx, b, dtype)


def _not_aligned(a: Tracer, b: Tracer, a_axis: int, b_axis: int, function: str) -> ShapeError:
    return tracing_error(
        ShapeError, f"{function}: shapes {format_shape(a.shape)} and {format_shape(b.shape)} are "
                    f"not aligned: {a.shape[a_axis]} (dim {a_axis}) != {b.shape[b_axis]} "
                    f"(dim {b_axis})")


def matmul(x1: Any, x2: Any) -> Tracer:
    """``x1 @ x2`` with NumPy's 1-D promotion and broadcast batch dimensions."""
    (in1, in2), (result_dtype,) = ufunc_loop(np.matmul, (x1, x2))
    ctx = context_of((x1, x2))
    a, b = lift(ctx, x1, in1), lift(ctx, x2, in2)
    for position, operand in enumerate((a, b)):
        if operand.ndim == 0:
            raise tracing_error(ShapeError, f"matmul: input operand {position} does not have "
                                            "enough dimensions (it is 0-d); use * for scalars")
    a2 = reshape(a, (1,) + a.shape) if a.ndim == 1 else a
    b2 = reshape(b, b.shape + (1,)) if b.ndim == 1 else b
    if a2.shape[-1] != b2.shape[-2]:
        raise _not_aligned(a, b, a.ndim - 1, max(b.ndim - 2, 0), "matmul")
    batch = broadcast_shapes(a2.shape[:-2], b2.shape[:-2], what="matmul batch dimensions")
    a2 = broadcast_to(a2, batch + a2.shape[-2:])
    b2 = broadcast_to(b2, batch + b2.shape[-2:])
    batch_dims = tuple(range(len(batch)))
    product = dot_general(a2, b2, ((a2.ndim - 1,), (b2.ndim - 2,)), (batch_dims, batch_dims))
    shape = batch + a.shape[-2:-1] + b.shape[-1:] if b.ndim > 1 else batch + a.shape[-2:-1]
    return convert(reshape(product, shape), result_dtype)


def dot(a: Any, b: Any, out: Any = None) -> Tracer:
    reject_arguments("dot", out=out)
    if _ndim(a) == 0 or _ndim(b) == 0:
        return _multiply(a, b)
    x, y = _lift_pair(a, b)
    b_axis = 0 if y.ndim == 1 else y.ndim - 2
    if x.shape[-1] != y.shape[b_axis]:
        raise _not_aligned(x, y, x.ndim - 1, b_axis, "dot")
    return dot_general(x, y, ((x.ndim - 1,), (b_axis,)))


def inner(a: Any, b: Any) -> Tracer:
    x, y = _lift_pair(a, b)
    if x.ndim == 0 or y.ndim == 0:
        return _multiply(x, y)
    if x.shape[-1] != y.shape[-1]:
        raise _not_aligned(x, y, x.ndim - 1, y.ndim - 1, "inner")
    return dot_general(x, y, ((x.ndim - 1,), (y.ndim - 1,)))


def vdot(a: Any, b: Any) -> Tracer:
    x, y = _lift_pair(a, b)
    if x.size != y.size:
        raise _not_aligned(x, y, 0, 0, "vdot")
    return dot_general(reshape(x, (x.size,)), reshape(y, (y.size,)), ((0,), (0,)))


def outer(a: Any, b: Any, out: Any = None) -> Tracer:
    reject_arguments("outer", out=out)
    x, y = _lift_pair(a, b)
    return _multiply(reshape(x, (x.size, 1)), reshape(y, (1, y.size)))


def tensordot(a: Any, b: Any, axes: Any = 2) -> Tracer:
    x, y = _lift_pair(a, b)
    if isinstance(axes, int):
        a_axes, b_axes = list(range(x.ndim - axes, x.ndim)), list(range(axes))
    else:
        a_axes, b_axes = ([axes_part] if isinstance(axes_part, int) else list(axes_part)
                          for axes_part in axes)
    a_axes = [d % x.ndim for d in a_axes]
    b_axes = [d % y.ndim for d in b_axes]
    for i, j in zip(a_axes, b_axes):
        if x.shape[i] != y.shape[j]:
            raise _not_aligned(x, y, i, j, "tensordot")
    return dot_general(x, y, (a_axes, b_axes))


# -- einsum ------------------------------------------------------------------------

def einsum(subscripts: Any, *operands: Any, out: Any = None, dtype: Any = None,
           order: str = "K", casting: str = "safe", optimize: Any = False) -> Tracer:
    """einsum without ``...`` or repeated labels in one operand: matmul-like contractions."""
    reject_arguments("einsum", out=out)
    if not isinstance(subscripts, str):
        raise tracing_error(UnsupportedError, "einsum in the (operand, sublist) form",
                            "pass the subscripts as a string such as 'ij,jk->ik'")
    inputs, output = _parse_subscripts(subscripts, len(operands))
    common = np.dtype(dtype) if dtype is not None else result_type(*operands)
    ctx = context_of(operands)
    tracers = [lift(ctx, x, common) for x in operands]
    _check_label_sizes(inputs, tracers)
    current, labels = _sum_unneeded(tracers[0], inputs[0], set(output) | set("".join(inputs[1:])))
    for k in range(1, len(tracers)):
        keep = set(output) | set("".join(inputs[k + 1:]))
        other, other_labels = _sum_unneeded(tracers[k], inputs[k], keep | set(labels))
        current, labels = _contract(current, labels, other, other_labels, keep)
    return transpose(current, [labels.index(c) for c in output])


def _parse_subscripts(subscripts: str, count: int) -> tuple[list[str], str]:
    text = subscripts.replace(" ", "")
    if "." in text:
        raise tracing_error(UnsupportedError, f"einsum with '...' ({subscripts!r})",
                            "write every dimension's label explicitly")
    inputs_text, arrow, output = text.partition("->")
    inputs = inputs_text.split(",")
    if len(inputs) != count:
        raise tracing_error(ShapeError, f"einsum subscripts {subscripts!r} name {len(inputs)} "
                                        f"operands but {count} were given")
    if not arrow:  # implicit output: labels seen once, in alphabetical order
        joined = "".join(inputs)
        output = "".join(sorted(c for c in set(joined) if joined.count(c) == 1))
    for labels in inputs:
        if len(set(labels)) != len(labels):
            raise tracing_error(UnsupportedError, f"einsum with a repeated label in {labels!r} "
                                                  "(a trace or diagonal)",
                                "use np.diagonal or an explicit mask")
    return inputs, output


def _check_label_sizes(inputs: list[str], tracers: list[Tracer]) -> None:
    sizes: dict[str, int] = {}
    for position, (labels, tracer) in enumerate(zip(inputs, tracers)):
        if len(labels) != tracer.ndim:
            raise tracing_error(ShapeError, f"einsum operand {position} has shape "
                                            f"{format_shape(tracer.shape)} but subscripts "
                                            f"{labels!r} name {len(labels)} dimensions")
        for label, size in zip(labels, tracer.shape):
            if sizes.setdefault(label, size) != size:
                raise tracing_error(ShapeError, f"einsum: label {label!r} has size {sizes[label]} "
                                                f"and size {size} (operand {position}, shape "
                                                f"{format_shape(tracer.shape)})")


def _sum_unneeded(x: Tracer, labels: str, keep: set[str]) -> tuple[Tracer, str]:
    axes = tuple(i for i, c in enumerate(labels) if c not in keep)
    if not axes:
        return x, labels
    return reduce(x, axes, "or" if x.dtype == np.bool_ else "add", 0), \
        "".join(c for c in labels if c in keep)


def _contract(a: Tracer, a_labels: str, b: Tracer, b_labels: str,
              keep: set[str]) -> tuple[Tracer, str]:
    shared = [c for c in a_labels if c in b_labels]
    batch = [c for c in shared if c in keep]
    contracted = [c for c in shared if c not in keep]
    product = dot_general(a, b, ([a_labels.index(c) for c in contracted],
                                 [b_labels.index(c) for c in contracted]),
                          ([a_labels.index(c) for c in batch], [b_labels.index(c) for c in batch]))
    labels = "".join(batch) + "".join(c for c in a_labels if c not in shared) + \
        "".join(c for c in b_labels if c not in shared)
    return product, labels
