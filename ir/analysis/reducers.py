"""Reducers that are one associative op on their two parameters (``add``, ``maximum``, ...).

Such a reducer can be computed in any order and grouping: the interpreter maps it
to a NumPy ufunc's ``reduce``, the backends to vector or warp-shuffle reductions.
Which ops qualify is the op table's ``Trait.ASSOCIATIVE``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..opdef import Trait

if TYPE_CHECKING:
    from ..core import Computation


def single_op_reducer(computation: Computation) -> str | None:
    """The opcode of ``computation`` if it applies one associative, commutative op to its two
    parameters (in either order), else None."""
    root = computation.root
    params = computation.parameters
    if (len(params) == 2 and root is not None and root.opdef.has(Trait.ASSOCIATIVE)
            and root.opdef.has(Trait.COMMUTATIVE)
            and len(root.operands) == 2 and set(root.operands) == set(params)):
        return root.opcode
    return None
