"""Loop and index helpers for generated code."""

from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

from llvmlite import ir

from .scalars import I64


def i64(value: int) -> ir.Constant:
    return ir.Constant(I64, value)


@contextlib.contextmanager
def for_range(b: ir.IRBuilder, start: ir.Value, stop: ir.Value, name: str = "i") -> Iterator[ir.Value]:
    """``for i in range(start, stop)``: the body is emitted inside the ``with`` block.

    A plain counted loop (one phi, unit step) is what LLVM's vectorizer recognizes.
    """
    function = b.function
    header = function.append_basic_block(f"{name}.header")
    body = function.append_basic_block(f"{name}.body")
    done = function.append_basic_block(f"{name}.done")
    before = b.block
    b.branch(header)
    b.position_at_end(header)
    counter = b.phi(I64, name=name)
    counter.add_incoming(start, before)
    b.cbranch(b.icmp_signed("<", counter, stop), body, done)
    b.position_at_end(body)
    yield counter
    following = b.add(counter, i64(1), name=f"{name}.next", flags=("nsw",))
    counter.add_incoming(following, b.block)
    b.branch(header)
    b.position_at_end(done)


def row_major_strides(shape: Sequence[int]) -> list[int]:
    strides = [1] * len(shape)
    for d in range(len(shape) - 2, -1, -1):
        strides[d] = strides[d + 1] * shape[d + 1]
    return strides


def linearize(b: ir.IRBuilder, dims: Sequence[ir.Value], shape: Sequence[int]) -> ir.Value:
    offset: ir.Value = i64(0)
    for dim, stride in zip(dims, row_major_strides(shape)):
        if stride == 0:
            continue
        term = dim if stride == 1 else b.mul(dim, i64(stride), flags=("nsw",))
        offset = term if isinstance(offset, ir.Constant) and offset.constant == 0 else b.add(
            offset, term, flags=("nsw",))
    return offset


def delinearize(b: ir.IRBuilder, linear: ir.Value, shape: Sequence[int]) -> list[ir.Value]:
    dims: list[ir.Value] = [i64(0)] * len(shape)
    rest = linear
    for d in range(len(shape) - 1, -1, -1):
        if shape[d] == 1:
            continue
        if d == 0 or all(s == 1 for s in shape[:d]):
            dims[d] = rest
            break
        dims[d] = b.urem(rest, i64(shape[d]))
        rest = b.udiv(rest, i64(shape[d]))
    return dims


class Index:
    """A position in an array of ``shape``: per-dimension i64 values, the row-major offset, or both.

    Whichever form is missing is computed on first use, so elementwise chains keep
    the cheap linear offset and shape-changing ops get dimensions.
    """

    def __init__(self, shape: Sequence[int], dims: Sequence[ir.Value] | None = None,
                 linear: ir.Value | None = None) -> None:
        self.shape = tuple(shape)
        self._dims = list(dims) if dims is not None else None
        self._linear = linear
        if dims is None and linear is None:
            if self.shape:
                raise ValueError("an Index needs dims or a linear offset")
            self._dims = []

    @staticmethod
    def scalar() -> Index:
        return Index(())

    def dims(self, b: ir.IRBuilder) -> list[ir.Value]:
        if self._dims is None:
            self._dims = delinearize(b, self._linear, self.shape)
        return self._dims

    def linear(self, b: ir.IRBuilder) -> ir.Value:
        if self._linear is None:
            self._linear = linearize(b, self._dims, self.shape)
        return self._linear
