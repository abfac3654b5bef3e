"""``layout``: layout assignment.

Gives every array value a layout (a minor-to-major permutation, as in HLO).  The
default is row-major; entry parameters and the leaves of every computation's
root stay row-major, which is the layout users see and the runtime passes.

A ``transpose`` moves data only because its result is asked to be row-major.
Where every user of a transpose reads its operands by logical index (elementwise
kernels, fusions, reductions, data movement, and ``dot`` when BLAS can take the
operand with a transpose flag), the transpose instead gets the *permuted* layout
of its operand: result dimension ``i`` walks memory like operand dimension
``dimensions[i]``.  It is then a bitcast: backends give it its operand's buffer
and no kernel, and its readers compute physical offsets from the layout.

Values handed on as they are (tuple elements, ``while``/``conditional``/``call``
operands, custom-call operands) stay row-major, so every computation's
parameters and roots agree with their callers.  A fused computation's parameters
take the layouts of the fusion's operands; its inner values never reach memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..ir import Computation, Instruction, Module, TensorType, Trait, TupleType, Type, leaf_types
from .base import Pass, PassError, option
from .registry import register_pass


def _written_by_a_kernel_of_its_own(inst: Instruction) -> bool:
    """Whether a kernel of ``inst``'s computes its memory, so that its layout is ours to
    choose: not callers' arrays or literals, values recomputed by their readers, names of
    other buffers, loop state, or what a library call (a gemm) or a fusion writes."""
    return not inst.opdef.has_any(Trait.SOURCE, Trait.GENERATED, Trait.HOST_STEP, Trait.LIBRARY_CALL)


def row_major(t: Type) -> Type:
    """``t`` with every array leaf row-major."""
    if isinstance(t, TupleType):
        return TupleType(tuple(row_major(e) for e in t.elements))
    return t.with_layout(TensorType.default_layout(t.rank))


def layout_or_default(t: TensorType) -> tuple[int, ...]:
    return t.layout if t.layout is not None else TensorType.default_layout(t.rank)


def transposed_layout(operand_layout: Sequence[int], permutation: Sequence[int]) -> tuple[int, ...]:
    """The result layout that makes ``transpose(dimensions=permutation)`` move no data."""
    result_dim = {source: i for i, source in enumerate(permutation)}
    return tuple(result_dim[d] for d in operand_layout)


def blas_can_read(dot: Instruction, number: int, layout: Sequence[int]) -> bool:
    """Whether dot operand ``number`` stored in ``layout`` is a BLAS matrix (after its batch
    dims, which must be the most major), possibly transposed: no copy into matrix order."""
    side = "lhs" if number == 0 else "rhs"
    batch = list(dot.attrs[f"{side}_batch_dims"])
    contracting = list(dot.attrs[f"{side}_contracting_dims"])
    rank = dot.operands[number].type.rank
    free = [d for d in range(rank) if d not in batch + contracting]
    order = list(reversed(layout))  # most major first
    rest = order[len(batch):]
    return order[:len(batch)] == batch and rest in (free + contracting, contracting + free)


def missing_layouts(module: Module) -> list[str]:
    """Array values without a layout (every one has one after this pass)."""
    problems = []
    for computation in module.computations.values():
        for inst in computation.instructions:
            if any(leaf.layout is None for leaf in leaf_types(inst.type)):
                problems.append(f"%{inst.name} in '{computation.name}' has no layout: {inst.type}")
    return problems


@register_pass("layout")
@dataclass(frozen=True)
class LayoutAssignment(Pass):
    """Assign every array a layout; transposes become free layout changes where readers allow."""

    free_transposes: bool = option(True, "make transposes layout changes (bitcasts) where every "
                                         "user reads by logical index")

    def run(self, module: Module) -> bool:
        fusion_callers = _fusion_callers(module)
        changed = False
        for computation in _callers_first(module):
            changed = self._assign(computation, fusion_callers.get(computation)) or changed
        problems = missing_layouts(module)
        if problems:  # a bug in this pass, not in the user's program
            raise PassError(self.name, "left values without a layout:\n  " + "\n  ".join(problems))
        return changed

    def _assign(self, computation: Computation, fusion: Instruction | None) -> bool:
        changed = False
        for inst in computation.instructions:
            if inst.opcode == "parameter" and fusion is not None:
                number = inst.attrs["parameter_number"]
                operand_type = fusion.operands[number].type if number < len(fusion.operands) else inst.type
                new = _with_layouts_of(inst.type, operand_type)
            elif fusion is None and self._free_transpose(inst):
                operand = inst.operands[0].type
                new = inst.type.with_layout(
                    transposed_layout(layout_or_default(operand), inst.attrs["dimensions"]))
            elif fusion is None and (matrix := self._matrix_layout(inst)) is not None:
                new = inst.type.with_layout(matrix)
            else:
                new = row_major(inst.type)
            if new != inst.type:
                inst.type = new
                changed = True
        return changed

    def _free_transpose(self, inst: Instruction) -> bool:
        if not self.free_transposes or inst.opcode != "transpose" or inst is inst.parent.root:
            return False
        operand = inst.operands[0]
        if operand.opdef.has(Trait.GENERATED) or not isinstance(operand.type, TensorType):
            return False
        layout = transposed_layout(layout_or_default(operand.type), inst.attrs["dimensions"])
        for user in inst.users:
            if user.opdef.has(Trait.PASSES_BUFFERS_ON):
                return False
            if user.opcode == "dot" and not all(
                    blas_can_read(user, number, layout)
                    for number, o in enumerate(user.operands) if o is inst):
                return False
        return True


    def _matrix_layout(self, inst: Instruction) -> tuple[int, ...] | None:
        """For a value computed by a kernel and read by a dot that BLAS cannot take in row-major
        order: the layout that stores it as BLAS matrices, so the kernel writes what the dot
        reads instead of the dot copying it into matrix order."""
        if (not _written_by_a_kernel_of_its_own(inst) or inst is inst.parent.root
                or not isinstance(inst.type, TensorType) or not inst.users):
            return None
        wanted = None
        for user in inst.users:
            if user.opdef.has(Trait.PASSES_BUFFERS_ON):
                return None
            if user.opcode != "dot":
                continue
            for number, operand in enumerate(user.operands):
                if operand is not inst:
                    continue
                if blas_can_read(user, number, TensorType.default_layout(inst.type.rank)):
                    return None  # row-major already suits this reader
                layout = _matrix_order_layout(user, number)
                if wanted is not None and layout != wanted:
                    return None
                wanted = layout
        return wanted


def _matrix_order_layout(dot: Instruction, number: int) -> tuple[int, ...]:
    """The layout storing dot operand ``number`` as (batch, free, contracting) matrices for the
    lhs, (batch, contracting, free) for the rhs: what BLAS reads without a transpose flag."""
    side = "lhs" if number == 0 else "rhs"
    batch = list(dot.attrs[f"{side}_batch_dims"])
    contracting = list(dot.attrs[f"{side}_contracting_dims"])
    free = [d for d in range(dot.operands[number].type.rank) if d not in batch + contracting]
    major_first = batch + (free + contracting if number == 0 else contracting + free)
    return tuple(reversed(major_first))


def _with_layouts_of(t: Type, source: Type) -> Type:
    """``t`` with the layouts of ``source`` (same structure), row-major where it has none."""
    if isinstance(t, TupleType):
        if isinstance(source, TupleType) and len(source.elements) == len(t.elements):
            return TupleType(tuple(_with_layouts_of(e, s) for e, s in zip(t.elements, source.elements)))
        return row_major(t)
    if isinstance(source, TensorType) and source.shape == t.shape and source.layout is not None:
        return t.with_layout(source.layout)
    return row_major(t)


def _fusion_callers(module: Module) -> dict[Computation, Instruction]:
    """Each fused computation's first caller (its parameters take that caller's operand layouts)."""
    callers: dict[Computation, Instruction] = {}
    for inst in module.instructions():
        if inst.opcode == "fusion":
            for callee in inst.called:
                callers.setdefault(callee, inst)
    return callers


def _callers_first(module: Module) -> list[Computation]:
    """Computations with every caller before its callees (the entry first); the rest after."""
    order: list[Computation] = []
    seen: set[str] = set()

    def visit(computation: Computation) -> None:
        seen.add(computation.name)
        for inst in computation.instructions:
            for callee in inst.called:
                if callee.name not in seen:
                    visit(callee)
        order.append(computation)

    if module.entry_name in module.computations:
        visit(module.entry)
    for computation in module.computations.values():
        if computation.name not in seen:
            visit(computation)
    return list(reversed(order))
