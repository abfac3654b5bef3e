"""``dce``: dead-code pruning.

Removes instructions whose value nothing uses (a ROOT is used by its
computation; parameters and instructions with side effects always stay), then
computations that the entry does not reach through ``to_apply=``, ``body=``,
branches or any other call.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Computation, Module
from ..ir.printer import computations_in_print_order
from .base import Pass
from .effects import is_trivially_dead
from .registry import register_pass


@register_pass("dce")
@dataclass(frozen=True)
class DCE(Pass):
    """Remove unused instructions and uncalled computations; side effects stay."""

    def run(self, module: Module) -> bool:
        changed = False
        for computation in module.computations.values():
            changed = remove_dead_instructions(computation) or changed
        return remove_uncalled_computations(module) or changed


def remove_dead_instructions(computation: Computation) -> bool:
    changed = False
    # Users come after their operands: walking backwards frees a whole dead chain in one walk.
    for inst in reversed(list(computation.instructions)):
        if is_trivially_dead(inst):
            computation.erase(inst)
            changed = True
    return changed


def remove_uncalled_computations(module: Module) -> bool:
    reached = {module.entry.name}
    pending = [module.entry]
    while pending:
        for inst in pending.pop().instructions:
            for callee in inst.called:
                if callee.name not in reached:
                    reached.add(callee.name)
                    pending.append(callee)
    # Callers before callees: a computation can only go once nothing calls it.
    dead = [c for c in reversed(computations_in_print_order(module)) if c.name not in reached]
    for computation in dead:
        module.remove_computation(computation)
    return bool(dead)
