"""Helpers for patterns: what a value is known to be at compile time."""

from __future__ import annotations

import numpy as np

from ..ir import Instruction


def constant_value(inst: Instruction) -> np.ndarray:
    """The array a ``constant`` instruction produces, in its result's element type."""
    return inst.opdef.evaluate(inst, [], None)


def splat_value(inst: Instruction) -> np.generic | None:
    """The one value all elements of ``inst`` have, if known: a constant or a broadcast of one.

    Elements must be equal bit for bit, so ``{0.0, -0.0}`` is no splat (patterns
    on floats care about the sign of zero).  None when not known, or empty.
    """
    while inst.opcode == "broadcast":
        inst = inst.operand(0)
    if inst.opcode != "constant":
        return None
    flat = constant_value(inst).reshape(-1)
    if flat.size == 0:
        return None
    bits = flat.view(f"u{flat.itemsize}")
    if bits.size > 1 and np.any(bits != bits[0]):
        return None
    return flat[0]
