"""``buffers``: liveness-based buffer assignment for the entry computation.

Every entry value that needs memory of its own (a kernel's, a dot's, a fusion's,
a loop's or a conditional's result) gets a byte range in one workspace.  Values
whose live ranges do not overlap share memory; an elementwise instruction (or a
fusion whose every read of an operand is at the output's own index) writes over
an operand that dies there, when that operand owns its buffer and has the same
size and layout ("in place").  An output of the entry does the same with the
output buffer: the operand it overwrites (a matmul before its bias and activation,
a gradient before the parameter update) is computed straight into the output
buffer, and needs no workspace.  The result is a ``BufferPlan`` attached to the
module as ``module.buffer_plan``; backends place values where it says.

What owns no workspace memory: parameters and constants (the caller's buffers,
literals), ``tuple``/``get-tuple-element`` and ``call`` (they name buffers of
their operands), a transpose that ``layout`` turned into a bitcast (its operand's
buffer), the leaves of the root (the output buffers), and a ``broadcast`` or
``iota`` whose readers all compute it inline (elementwise kernels do; a dot, a
fusion or control flow reads memory, so for those it gets a buffer).  Values that *name*
another's buffer keep it alive for as long as they are used themselves; so do
``broadcast``/``iota``, which backends may recompute from their operands inside
each consumer.

Liveness follows the entry's instruction order (its schedule).  A ``while``,
``conditional`` or ``call`` uses all its operands at its own position and
defines its result there; the values inside called computations are not planned
here (a backend places them after the plan's region, apart from all of it).

A plan describes one version of the module: it records the instructions it saw,
and ``is_current`` refuses it once any pass changed the module afterwards.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from ..ir import Computation, Instruction, Module, TensorType, Trait, TupleType, leaf_types
from .base import Pass, option
from .layout import layout_or_default, transposed_layout
from .registry import register_pass

ALIGNMENT = 64
# Bounds a value's time at its position: before and after anything nested there.
_FOREVER = float("inf")


@dataclass
class BufferPlan:
    """Where the values of ``computations`` (the entry and what it runs inline) live in
    the workspace, and what that saves.

    ``offsets`` maps each planned instruction to one byte offset per array leaf of its
    type (``None``: not planned, the backend finds it memory elsewhere); ``live`` gives
    its first and last positions in its computation, ``intervals`` the same as schedule
    times comparable across computations.  ``into_outputs`` maps a value to the entry
    output that overwrites it in place: it lives in that output's buffer.
    """

    computation: Computation
    computations: frozenset[Computation]
    offsets: dict[Instruction, tuple[int | None, ...]]
    sizes: dict[Instruction, tuple[int, ...]]
    live: dict[Instruction, tuple[int, int]]
    intervals: dict[Instruction, tuple[tuple, tuple]]
    aliases: frozenset[Instruction]
    in_place: dict[Instruction, Instruction]
    into_outputs: dict[Instruction, Instruction]
    workspace_bytes: int
    unshared_bytes: int
    fingerprint: tuple = field(repr=False)

    def is_current(self, module: Module) -> bool:
        """Whether ``module`` is still exactly what this plan was made for."""
        return self.fingerprint == module_fingerprint(module)

    @property
    def ratio(self) -> float:
        return self.workspace_bytes / self.unshared_bytes if self.unshared_bytes else 1.0

    def summary(self) -> str:
        return (f"buffers: entry '{self.computation.name}': peak {self.workspace_bytes} bytes, "
                f"one buffer per value {self.unshared_bytes} bytes ({100 * self.ratio:.1f}%), "
                f"{len(self.offsets)} values, {len(self.in_place) + len(self.into_outputs)} in place, "
                f"{len(self.aliases)} free transposes")

    def report(self) -> str:
        lines = [f"// {self.summary()}"]
        for inst, offsets in self.offsets.items():
            start, end = self.live[inst]
            places = ", ".join(f"[{o}, {o + s})" if o is not None else "elsewhere"
                               for o, s in zip(offsets, self.sizes[inst]))
            note = f" in place of %{self.in_place[inst].name}" if inst in self.in_place else ""
            lines.append(f"// buffer %{inst.name}: {places} live {start}..{end}{note}")
        for inst, output in self.into_outputs.items():
            lines.append(f"// buffer %{inst.name}: output %{output.name}'s, which overwrites it in place")
        return "\n".join(lines)


def module_fingerprint(module: Module) -> tuple:
    """Everything a plan depends on, by identity for instructions and computations."""
    return tuple((computation, computation.root,
                  tuple((inst, inst.opcode, inst.type, inst.operands, inst.called)
                        for inst in computation.instructions))
                 for computation in module.computations.values())


def _aligned(n: int) -> int:
    return -(-n // ALIGNMENT) * ALIGNMENT


@register_pass("buffers")
@dataclass(frozen=True)
class BufferAssignment(Pass):
    """Plan the entry's workspace: reuse dead buffers, update in place, report peak bytes."""

    report: bool = option(False, "write the plan (peak bytes, each value's range) to stderr")
    in_place: bool = option(True, "let elementwise results overwrite an operand that dies there")

    def run(self, module: Module) -> bool:
        plan = plan_buffers(module, in_place=self.in_place)
        module.buffer_plan = plan
        if self.report:
            print(plan.report(), file=sys.stderr)
        return False  # an analysis attached to the module: the IR itself is unchanged


def plan_buffers(module: Module, *, in_place: bool = True) -> BufferPlan:
    """Place the values of the entry and of the loop bodies, conditions and branches it runs:
    in schedule order, each takes the buffer of an operand it may overwrite, else the
    tightest aligned gap among the ranges live at the same time."""
    planner = _Planner(module, in_place)
    planner.plan_scope(module.entry, (), _root_leaves(module.entry.root))
    peak = max((r.offset + r.size for r in planner.records), default=0)
    return BufferPlan(module.entry, frozenset(planner.computations), planner.offsets, planner.sizes,
                      planner.live, planner.intervals, frozenset(planner.aliases), planner.donors,
                      planner.into_outputs, _aligned(peak), planner.unshared, module_fingerprint(module))


@dataclass
class _Range:
    """Bytes [offset, offset + size) in use from ``start`` to ``stop`` (schedule times)."""

    offset: int
    size: int
    start: tuple
    stop: tuple


class _Planner:
    """Places values scope by scope into one list of ranges.

    A value's time is its position in its computation, prefixed by the position of each
    ``while``/``conditional`` that runs that computation (and which of its computations
    it is), compared lexicographically: a loop body's values lie within the loop's
    instant.  A value is live from before anything nested at its definition until after
    anything nested at its last use, so whatever a body holds never meets it.
    """

    def __init__(self, module: Module, in_place: bool) -> None:
        self.in_place = in_place
        self.callers = Counter(callee for inst in module.instructions() for callee in inst.called)
        self.records: list[_Range] = []
        self.record_of: dict[Instruction, _Range] = {}
        self.offsets: dict[Instruction, tuple[int | None, ...]] = {}
        self.sizes: dict[Instruction, tuple[int, ...]] = {}
        self.live: dict[Instruction, tuple[int, int]] = {}
        self.intervals: dict[Instruction, tuple[tuple, tuple]] = {}
        self.donors: dict[Instruction, Instruction] = {}
        self.into_outputs: dict[Instruction, Instruction] = {}
        self.aliases: set[Instruction] = set()
        self.computations: list[Computation] = []
        self.unshared = 0

    def plan_scope(self, computation: Computation, prefix: tuple, outputs: set[Instruction]) -> None:
        self.computations.append(computation)
        order = computation.instructions
        position = {inst: i for i, inst in enumerate(order)}
        aliases = {i for i in order if _is_free_transpose(i, outputs)}
        self.aliases |= aliases
        names_operands = {i for i in order if _names_other_buffers(i)
                          or i.opdef.has(Trait.GENERATED) or i in aliases}
        end = _live_ends(order, position, computation.root, names_operands)

        def owner(inst: Instruction) -> bool:
            return (not inst.opdef.has(Trait.SOURCE) and not _names_other_buffers(inst)
                    and inst not in aliases and inst not in outputs and not _always_recomputed(inst))

        if self.in_place:
            for output in outputs:
                donor = _output_donor(output, position, end, names_operands, owner)
                if donor is not None and donor not in self.into_outputs:
                    self.into_outputs[donor] = output
        for inst in order:
            if inst in self.into_outputs:
                self.unshared += sum(_aligned(leaf.nbytes) for leaf in leaf_types(inst.type))
            elif owner(inst):
                self.live[inst] = (position[inst], end[inst])
                self.place(inst, prefix + (position[inst], -_FOREVER), prefix + (end[inst], _FOREVER),
                           position, end, names_operands)
            if inst.opdef.has(Trait.CONTROL_FLOW):
                for number, callee in enumerate(inst.called):
                    # A computation run from two places would need a plan per place.
                    if self.callers[callee] == 1 and callee.root is not None:
                        self.plan_scope(callee, prefix + (position[inst], number), set())

    def place(self, inst: Instruction, start: tuple, stop: tuple, position: dict, end: dict,
              names_operands: set[Instruction]) -> None:
        leaf_sizes = tuple(leaf.nbytes for leaf in leaf_types(inst.type))
        self.sizes[inst] = leaf_sizes
        self.intervals[inst] = (start, stop)
        self.unshared += sum(_aligned(s) for s in leaf_sizes)
        donor = (_in_place_donor(inst, position, end, self.record_of, names_operands)
                 if self.in_place else None)
        if donor is not None:
            record = self.record_of[donor]
            record.stop = max(record.stop, stop)
            self.record_of[inst] = record
            self.offsets[inst] = (record.offset,)
            self.donors[inst] = donor
            return
        placed: list[int | None] = []
        for size in leaf_sizes:
            if size == 0:
                placed.append(None)
                continue
            record = _Range(_best_fit(self.records, size, start, stop), size, start, stop)
            self.records.append(record)
            placed.append(record.offset)
            if len(leaf_sizes) == 1:
                self.record_of[inst] = record
        self.offsets[inst] = tuple(placed)


def _always_recomputed(inst: Instruction) -> bool:
    """An index-only value that every reader computes inline: it never reaches memory."""
    return inst.opdef.has(Trait.GENERATED) and not any(_reads_memory(user) for user in inst.users)


def _reads_memory(inst: Instruction) -> bool:
    """Takes its operands' memory as it is (library calls, control flow, names of buffers,
    fusion parameters); every other reader computes a generated operand inline."""
    return inst.opdef.has_any(Trait.HOST_STEP, Trait.LIBRARY_CALL)


def _names_other_buffers(inst: Instruction) -> bool:
    """Owns no buffer: names its operands' (a tuple, an element of one) or its callee's
    result (a ``call``; ``while`` and ``conditional`` copy theirs into their own buffer)."""
    return inst.opdef.has(Trait.NAMES_BUFFERS) or inst.opcode == "call"


def _root_leaves(root: Instruction) -> set[Instruction]:
    """Instructions whose values are root leaves: they are written to the output buffers."""
    if root.opcode == "tuple":
        return {leaf for operand in root.operands for leaf in _root_leaves(operand)}
    return {root}


def storage_layout(inst: Instruction) -> tuple[int, ...]:
    """How ``inst``'s buffer is laid out: callers' arrays and literals are row-major."""
    t = inst.type
    if inst.opdef.has(Trait.SOURCE):
        return TensorType.default_layout(t.rank)
    return layout_or_default(t)


def _is_free_transpose(inst: Instruction, outputs: set[Instruction]) -> bool:
    if inst.opcode != "transpose" or inst in outputs:
        return False
    operand = inst.operands[0]
    if operand.opdef.has(Trait.GENERATED) or not isinstance(operand.type, TensorType):
        return False
    return storage_layout(inst) == transposed_layout(storage_layout(operand), inst.attrs["dimensions"])


def _live_ends(order: list[Instruction], position: dict[Instruction, int], root: Instruction,
               names_operands: set[Instruction]) -> dict[Instruction, int]:
    """The last position at which each value's memory may still be read."""
    end = {inst: position[inst] for inst in order}
    end[root] = len(order)  # copied to the outputs after the last instruction
    for inst in reversed(order):
        for user in inst.users:
            if user not in position:
                continue
            last = end[user] if user in names_operands else position[user]
            end[inst] = max(end[inst], last)
    return end


def _best_fit(records: list[_Range], size: int, start: tuple, stop: tuple) -> int:
    """The lowest-waste aligned offset free of every range live during [start, stop]."""
    busy = sorted((r.offset, r.offset + r.size) for r in records if r.start <= stop and start <= r.stop)
    best: tuple[int, int] | None = None  # (gap size, offset)
    cursor = 0
    for low, high in busy:
        if low - cursor >= size and (best is None or low - cursor < best[0]):
            best = (low - cursor, cursor)
        cursor = max(cursor, _aligned(high))
    return best[1] if best is not None else cursor


def _in_place_donor(inst: Instruction, position: dict[Instruction, int], end: dict[Instruction, int],
                    record_of: dict[Instruction, _Range],
                    names_operands: set[Instruction]) -> Instruction | None:
    """An operand whose buffer ``inst`` may overwrite: it dies here, owns a buffer of the same
    size and layout, and ``inst`` reads it only at the index it writes."""
    if not isinstance(inst.type, TensorType):
        return None
    for operand in inst.operands:
        if (operand in record_of and end[operand] == position[inst]
                and record_of[operand].stop[-2] == position[inst] and not operand.opdef.has(Trait.GENERATED)
                and _may_overwrite(inst, operand, names_operands)):
            return operand
    return None


def _output_donor(output: Instruction, position: dict[Instruction, int], end: dict[Instruction, int],
                  names_operands: set[Instruction],
                  owner: Callable[[Instruction], bool]) -> Instruction | None:
    """An operand of the entry output ``output`` that may live in the output's buffer: it
    would own a buffer of the same size and layout, dies at ``output``, which reads it only
    at the index it writes."""
    if not isinstance(output.type, TensorType) or output not in position:
        return None
    for operand in output.operands:
        if (owner(operand) and not operand.opdef.has(Trait.CONTROL_FLOW) and end[operand] == position[output]
                and _may_overwrite(output, operand, names_operands)):
            return operand
    return None


def _may_overwrite(inst: Instruction, operand: Instruction, names_operands: set[Instruction]) -> bool:
    """Whether ``inst``'s result may take ``operand``'s memory, given that ``operand`` dies at
    ``inst``: same bytes, shape and layout, no value naming its buffer, and read only at the
    index ``inst`` writes."""
    return (isinstance(operand.type, TensorType) and operand.type.nbytes == inst.type.nbytes
            and operand.type.shape == inst.type.shape and storage_layout(operand) == storage_layout(inst)
            and not any(user in names_operands for user in operand.users)
            and _reads_at_own_index(inst, operand))


def _reads_at_own_index(inst: Instruction, operand: Instruction) -> bool:
    if inst.opdef.has(Trait.ELEMENTWISE):
        return True  # same shape as the result (checked by the caller): read at the output index
    if inst.opcode != "fusion":
        return False
    fused = inst.called[0]
    # A fused dot may be computed into the output buffer before the elementwise part runs.
    if (fused.root is None or isinstance(fused.root.type, TupleType)
            or any(i.opcode == "dot" for i in fused.instructions)):
        return False
    numbers = {n for n, o in enumerate(inst.operands) if o is operand}
    starts = [p for p in fused.parameters if p.attrs["parameter_number"] in numbers]
    return all(_elementwise_to_root(p, inst.type.shape) for p in starts)


def _elementwise_to_root(value: Instruction, shape: tuple[int, ...]) -> bool:
    """Every path from ``value`` goes through same-shape elementwise ops only."""
    pending, seen = [value], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        if not isinstance(current.type, TensorType) or current.type.shape != shape:
            return False
        for user in current.users:
            if not user.opdef.has(Trait.ELEMENTWISE):
                return False
            pending.append(user)
    return True
