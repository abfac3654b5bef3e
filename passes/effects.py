"""Which instructions passes must keep and never merge: those with side effects.

An instruction has side effects when its op has the ``SIDE_EFFECTING`` trait (or
is a custom-call declared with ``custom_call_has_side_effect=true``), or when a
computation it calls, directly or further down, holds such an instruction: a
``while`` whose body has a side-effecting custom-call has side effects too.
"""

from __future__ import annotations

from ..ir import Computation, Instruction, is_side_effecting


def has_side_effects(inst: Instruction) -> bool:
    return is_side_effecting(inst) or any(_computation_has_side_effects(c, set())
                                          for c in inst.called)


def _computation_has_side_effects(computation: Computation, seen: set[str]) -> bool:
    if computation.name in seen:  # reached again through another caller: already answered no
        return False
    seen.add(computation.name)
    return any(is_side_effecting(inst)
               or any(_computation_has_side_effects(c, seen) for c in inst.called)
               for inst in computation.instructions)


def is_trivially_dead(inst: Instruction) -> bool:
    """Nothing uses it and removing it changes nothing: not a ROOT, parameter or side effect."""
    computation = inst.parent
    return (not inst.users and computation is not None and computation.root is not inst
            and inst.opcode != "parameter" and not has_side_effects(inst))
