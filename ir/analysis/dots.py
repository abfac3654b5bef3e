"""The dimensions of a ``dot``: batch, contracting and free dimensions of each side.

A general dot's result is its batch dimensions, then the lhs free dimensions, then
the rhs free dimensions, each group in increasing dimension order (XLA's rule).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..core import Instruction


@dataclass(frozen=True)
class DotDimensions:
    lhs_batch: tuple[int, ...]
    rhs_batch: tuple[int, ...]
    lhs_contracting: tuple[int, ...]
    rhs_contracting: tuple[int, ...]
    lhs_free: tuple[int, ...]
    rhs_free: tuple[int, ...]

    @staticmethod
    def of(inst: Instruction) -> DotDimensions:
        attrs = inst.attrs
        lb, rb = tuple(attrs["lhs_batch_dims"]), tuple(attrs["rhs_batch_dims"])
        lc, rc = tuple(attrs["lhs_contracting_dims"]), tuple(attrs["rhs_contracting_dims"])
        lhs_rank, rhs_rank = inst.operands[0].type.rank, inst.operands[1].type.rank
        return DotDimensions(lb, rb, lc, rc,
                             tuple(d for d in range(lhs_rank) if d not in lb + lc),
                             tuple(d for d in range(rhs_rank) if d not in rb + rc))

    def split_result(self, dims: list) -> tuple[list, list, list]:
        """A result index's values split into (batch, lhs free, rhs free)."""
        nb, nl = len(self.lhs_batch), len(self.lhs_free)
        return dims[:nb], dims[nb:nb + nl], dims[nb + nl:]


def dot_sizes(inst: Instruction) -> tuple[int, int, int, int]:
    """(batch, m, n, k) of a dot: the sizes of its batch, lhs free, rhs free and contracting groups."""
    dims = DotDimensions.of(inst)
    lhs, rhs = inst.operands[0].type.shape, inst.operands[1].type.shape
    size = lambda shape, group: math.prod(shape[d] for d in group)
    return (size(lhs, dims.lhs_batch), size(lhs, dims.lhs_free), size(rhs, dims.rhs_free),
            size(lhs, dims.lhs_contracting))
