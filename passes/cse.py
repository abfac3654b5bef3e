"""``cse``: common subexpression elimination by value numbering.

Two instructions of one computation compute the same value when they have the
same opcode, the same operands (in any order for commutative ops), the same
attributes (constants compared by their bytes, so ``0.0`` and ``-0.0`` differ),
the same result type (layout included) and call the same computations.  The
later one is replaced by the earlier.  Parameters and instructions with side
effects are never merged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Hashable

import numpy as np

from ..ir import Computation, Instruction, Module, Trait
from .base import Pass
from .effects import has_side_effects
from .match import constant_value
from .registry import register_pass


@register_pass("cse")
@dataclass(frozen=True)
class CSE(Pass):
    """Merge instructions that compute the same value (common subexpression elimination)."""

    def run(self, module: Module) -> bool:
        changed = False
        for computation in module.computations.values():
            changed = eliminate_common_subexpressions(computation) or changed
        return changed


def eliminate_common_subexpressions(computation: Computation) -> bool:
    # One forward walk suffices: operands come before users, so by the time an
    # instruction is keyed its operands are already the surviving representatives.
    numbering: dict[Hashable, Instruction] = {}
    changed = False
    for inst in list(computation.instructions):
        if inst.opcode == "parameter" or has_side_effects(inst):
            continue
        existing = numbering.setdefault(value_key(inst), inst)
        if existing is not inst:
            computation.replace_all_uses_with(inst, existing)
            computation.erase(inst)
            changed = True
    return changed


def value_key(inst: Instruction) -> Hashable:
    """Equal keys mean equal values (for instructions without side effects)."""
    operands: Hashable = inst.operands
    if inst.opdef.has(Trait.COMMUTATIVE):
        operands = frozenset(operands)
    attrs = tuple((name, _attr_key(inst, value)) for name, value in sorted(inst.attrs.items()))
    return inst.opcode, operands, attrs, inst.type, inst.called


def _attr_key(inst: Instruction, value: Any) -> Hashable:
    if isinstance(value, np.ndarray):
        # The literal as the constant produces it: its bytes in the result's element type.
        literal = constant_value(inst)
        return literal.dtype.str, literal.shape, literal.tobytes()
    return value
