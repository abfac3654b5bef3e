"""One LLVM module per executable: the entry function, its buffers, and its kernels.

The entry is ``void jf_entry(i8** buffers)``: ``buffers`` holds the inputs (entry
parameters, tuples flattened), then the outputs (root leaves), then one workspace
for temporaries; a call is one native call.  Computations are emitted in order:

* array instructions become kernels (``kernels.py``): one loop nest each, or one
  per ``fusion`` instruction (its fused computation is composed inside the loop);
* ``dot`` on f32/f64 calls BLAS;
* ``tuple``/``get-tuple-element`` are resolved at compile time (shapes are static);
* ``while``, ``conditional`` and ``call`` emit their computations inline, with
  basic blocks for the control flow; loop state lives in workspace buffers.

Root values a kernel computes are written straight into their output buffer.  The
entry's other values go where the ``buffers`` pass planned them in the workspace
(``module.buffer_plan``, used only while it matches the module); everything else
(values inside loop bodies and branches, copies codegen makes itself, or every
value when there is no plan) gets a temporary of its own after the plan's region.
Buffers carry their layouts: kernels index them by logical coordinates through
the layout's strides, and a transpose that ``layout`` made free shares its
operand's buffer.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable, Sequence, Union

from llvmlite import ir

from ...ir import Computation, Instruction, Module, TensorType, Trait, TupleType, Type, leaf_types
from ...ir.analysis.dots import dot_sizes
from ...ir.analysis.index_maps import start_indices
from ...ir.analysis.rows import row_broadcasts, row_reused_values
from ..errors import reject_custom_calls
from . import kernels
from .buffers import Buffer, leaves
from .elemental import Elemental, buffer_leaf, constant_global, needs_dims
from .layouts import is_row_major, physical, row_major, same_storage, transpose_is_bitcast
from .loops import Index, delinearize, for_range, i64, linearize
from .pyarray import ArrayObjectLayout, emit_objects_entry
from .scalars import I1, I8, I32, I64, PTR, element_ptr, store_element

@dataclass(frozen=True, eq=False)
class Deferred:
    """An index-only array (broadcast, iota) not stored anywhere: kernels that read it
    recompute it inside their loop; it gets a buffer only where one is needed."""

    inst: Instruction
    operands: tuple


Value = Union[Buffer, Deferred, tuple]
ENTRY = "jf_entry"
OBJECTS_ENTRY = "jf_entry_objects"
OutputTree = Union[int, tuple]

# Temporaries are aligned for vector loads; we never claim more than that.
ALIGNMENT = 64
# Workspaces up to this size live on the native stack (no allocation per call).
STACK_WORKSPACE = 64 * 1024

@dataclass
class LoopNest:
    """One kernel's loop nest before it is built: the instructions computed inside, the
    buffers read (by the instruction standing for them), the buffers stored, the values
    stored at an index, and what the instruction it computes evaluates to."""

    scope: list[Instruction]
    inputs: dict[Instruction, Buffer]
    outputs: list[Buffer]
    body: Callable[[Elemental, Index], list]
    value: Value


@dataclass
class Plan:
    """What the runtime needs to call the entry function."""

    inputs: list[TensorType]
    input_names: list[str]
    outputs: list[TensorType]
    output_tree: OutputTree
    workspace_bytes: int
    kernel_count: int
    uses_blas: bool
    dot_epilogues: int  # instructions run on each block of a dot's rows as it is computed
    uses_threads: bool
    stack_workspace: bool
    largest_kernel_work: int


class EntryBuilder:
    """Builds the LLVM module of an executable from an IR module."""

    def __init__(self, module: Module, threads: int, blas: bool,
                 array_layout: ArrayObjectLayout | None) -> None:
        reject_custom_calls(module, "cpu")
        self.array_layout = array_layout
        self.hlo = module
        self.blas = blas
        self.uses_blas = False
        self.dot_epilogues = 0
        self.llvm = ir.Module(name=module.name)
        self.kernels = kernels.KernelSet(self.llvm, threads)
        entry = module.entry
        self.input_types = [leaf for p in entry.parameters for leaf in leaf_types(p.type)]
        self.output_types = leaf_types(entry.result_type)
        self.workspace_slot = len(self.input_types) + len(self.output_types)
        # The buffer plan (passes/buffers.py) places the entry's values in the workspace;
        # a plan made before the module last changed is ignored, never trusted.  Whatever
        # the plan does not place is bump-allocated after its region.
        plan = getattr(module, "buffer_plan", None)
        self.plan = plan if plan is not None and plan.is_current(module) else None
        self.workspace_bytes = self.plan.workspace_bytes if self.plan is not None else 0
        fn = ir.Function(self.llvm, ir.FunctionType(ir.VoidType(), [PTR]), ENTRY)
        if array_layout is not None:
            fn.linkage = "internal"  # only reached through the objects entry: compile it once
        self.buffers = fn.args[0]
        self.b = ir.IRBuilder(fn.append_basic_block("entry"))
        self._destinations: dict[Instruction, Buffer] = {}
        self._emitting: list[tuple[Computation, bool]] = []  # (computation, is a loop body)
        self._values: list[dict[Instruction, Value]] = []     # their values so far

    # -- the whole program ------------------------------------------------------------

    def build(self) -> tuple[ir.Module, Plan]:
        entry = self.hlo.entry
        slot = 0
        args = []
        for param in entry.parameters:
            value, slot = self._slots(param.type, slot)
            args.append(value)
        outputs, _ = self._slots(entry.result_type, slot)
        self._plan_direct_outputs(entry.root, outputs)
        if self.plan is not None:
            # Values the output overwrites in place are computed in its buffer.
            for value, output in self.plan.into_outputs.items():
                target = self._destinations.get(output)
                if isinstance(target, Buffer):  # same bytes, maybe another element type
                    self._destinations.setdefault(value, dataclasses.replace(target, type=physical(value.type)))
        result = self.buffer(self.emit(entry, args))
        for source, target in zip(leaves(result), leaves(outputs)):
            if source != target:
                self.copy(source, target)
        self.b.ret_void()
        self.kernels.finish()
        stack_workspace = self.array_layout is not None and 0 < self.workspace_bytes <= STACK_WORKSPACE
        if self.array_layout is not None:
            emit_objects_entry(self.llvm, OBJECTS_ENTRY, self.llvm.globals[ENTRY], self.array_layout,
                               self.input_types, self.workspace_slot,
                               self.workspace_bytes if stack_workspace else 0,
                               bool(self.workspace_bytes) and not stack_workspace, ALIGNMENT)
        names = [f"%{p.name}" + (f"[{i}]" if isinstance(p.type, TupleType) else "")
                 for p in entry.parameters for i in range(len(leaf_types(p.type)))]
        plan = Plan(self.input_types, names, self.output_types, _tree(entry.result_type, [0]),
                    self.workspace_bytes, len(self.kernels.kernels), self.uses_blas, self.dot_epilogues,
                    bool(self.kernels.parallel_kernels), stack_workspace, self.kernels.largest_work)
        return self.llvm, plan

    def _slots(self, t: Type, first: int) -> tuple[Value, int]:
        if isinstance(t, TupleType):
            values = []
            for element in t.elements:
                value, first = self._slots(element, first)
                values.append(value)
            return tuple(values), first
        return Buffer(t.without_layout(), slot=first), first + 1

    def _plan_direct_outputs(self, root: Instruction, outputs: Value) -> None:
        """Root leaves computed by kernels write their output buffer directly."""
        if root.opcode == "tuple":
            for operand, output in zip(root.operands, outputs):
                self._plan_direct_outputs(operand, output)
        elif isinstance(outputs, Buffer) and not _names_or_binds(root):
            self._destinations.setdefault(root, outputs)

    # -- buffers ------------------------------------------------------------------------

    def temporary(self, t: TensorType) -> Buffer:
        offset = -(-self.workspace_bytes // ALIGNMENT) * ALIGNMENT
        self.workspace_bytes = offset + t.nbytes
        return Buffer(physical(t), slot=self.workspace_slot, offset=offset)

    def temporaries(self, t: Type) -> Value:
        if isinstance(t, TupleType):
            return tuple(self.temporaries(e) for e in t.elements)
        return self.temporary(t)

    def destination(self, inst: Instruction) -> Value:
        return (self._destinations.get(inst) or self._planned(inst.type, inst, [0])
                or self.temporaries(inst.type))

    def _planned(self, t: Type, inst: Instruction, leaf: list[int]) -> Value | None:
        """``inst``'s buffers where the plan put them (leaves it left out are new temporaries)."""
        offsets = self.plan.offsets.get(inst) if self.plan is not None else None
        if offsets is None:
            return None
        if isinstance(t, TupleType):
            return tuple(self._planned(e, inst, leaf) for e in t.elements)
        offset = offsets[leaf[0]]
        leaf[0] += 1
        if offset is None:
            return self.temporary(t)
        return Buffer(physical(t), slot=self.workspace_slot, offset=offset)

    def constant(self, inst: Instruction) -> Buffer:
        # Literals are stored row-major whatever layout the instruction declares.
        return Buffer(row_major(inst.type), constant=constant_global(self.llvm, inst))

    def buffer(self, value: Value) -> Buffer | tuple:
        """``value`` with deferred arrays computed into buffers, at this point of the code.

        Not cached: a buffer filled inside one branch or loop body would be stale elsewhere.
        """
        if isinstance(value, tuple):
            return tuple(self.buffer(v) for v in value)
        if isinstance(value, Deferred):
            return self._elemental_kernel(value.inst, list(value.operands), defer=False)
        return value

    def copy(self, source: Value, target: Value) -> None:
        for src, dst in zip(leaves(self.buffer(source)), leaves(target)):
            if src == dst or src.nbytes == 0:
                continue
            if not same_storage(physical(src.type), physical(dst.type)):
                self._relayout(src, dst)
                continue
            memcpy = self.llvm.globals.get("llvm.memcpy.p0.p0.i64") or ir.Function(
                self.llvm, ir.FunctionType(ir.VoidType(), [PTR, PTR, I64, I1]), "llvm.memcpy.p0.p0.i64")
            self.b.call(memcpy, [dst.pointer(self.b, self.buffers), src.pointer(self.b, self.buffers),
                                 i64(src.nbytes), ir.Constant(I1, 0)])

    def _relayout(self, source: Buffer, target: Buffer) -> None:
        """Copy between buffers of different layouts: a kernel reading and writing by logical index."""
        placeholder = Instruction("relayout.source", "parameter", (), source.type, {"parameter_number": 0})
        identity = tuple(range(source.type.rank))
        detached = Instruction("relayout", "transpose", (placeholder,), target.type,
                               {"dimensions": identity})
        self._kernel(LoopNest([detached], {placeholder: source}, [target],
                              lambda e, index: [e.value(detached, index)], target))

    def _transpose(self, inst: Instruction, operands: list[Value]) -> Value:
        """A transpose whose result layout walks memory as its operand lies is a bitcast: the
        operand's buffer seen through the result's type.  Where a buffer plan covers ``inst``
        it must agree (it kept the operand alive for the result's uses)."""
        value = operands[0]
        planned_scope = self.plan is not None and inst.parent in self.plan.computations
        may_alias = inst in self.plan.aliases if planned_scope else True
        result_type = physical(inst.type)
        if (may_alias and inst not in self._destinations and isinstance(value, Buffer)
                and transpose_is_bitcast(value.type, result_type, inst.attrs["dimensions"])):
            return Buffer(result_type, slot=value.slot, offset=value.offset, constant=value.constant)
        return self._elemental_kernel(inst, operands)

    # -- computations -------------------------------------------------------------------

    def emit(self, computation: Computation, args: Sequence[Value], loop_body: bool = False) -> Value:
        """Emit ``computation`` at the current position; returns the root's value.

        ``loop_body``: the computation is a while body whose parameter is the loop state,
        buffers this code owns (so a state element may be updated in place)."""
        values: dict[Instruction, Value] = {}
        self._emitting.append((computation, loop_body))
        self._values.append(values)
        for inst in computation.instructions:
            if inst in values:  # computed inside the dot before it (see ``_dot``)
                continue
            if inst.opcode == "parameter":
                values[inst] = args[inst.attrs["parameter_number"]]
                continue
            handler = SEQUENTIAL.get(inst.opcode, EntryBuilder._elemental_kernel)
            values[inst] = handler(self, inst, [values[o] for o in inst.operands])
        self._emitting.pop()
        self._values.pop()
        return values[computation.root]

    def _elemental_kernel(self, inst: Instruction, operands: list[Value], defer: bool = True) -> Value:
        """One loop nest computing ``inst`` from its operands (deferred ones recomputed inline)."""
        if defer and inst.opdef.has(Trait.GENERATED):
            return Deferred(inst, tuple(operands))
        nest = self._elemental_nest(inst, operands)
        self._kernel(nest)
        return nest.value

    def _elemental_nest(self, inst: Instruction, operands: list[Value]) -> LoopNest:
        target = self.destination(inst)
        scope = [inst]
        inputs: dict[Instruction, Buffer] = {}
        self._gather(inst, operands, scope, inputs)
        return LoopNest(scope, inputs, leaves(target), lambda e, index: _as_list(e.value(inst, index)), target)

    def _gather(self, inst: Instruction, operands: Sequence[Value], scope: list, inputs: dict) -> None:
        """The buffers a kernel for ``inst`` reads, looking through deferred operands."""
        for operand, value in zip(inst.operands, operands):
            # A deferred value reached through a tuple (a branch's or loop's parameter) is
            # another instruction than the operand: that one gets a buffer instead.
            if isinstance(value, Deferred) and value.inst is operand:
                scope.append(value.inst)
                self._gather(value.inst, value.operands, scope, inputs)
            else:
                inputs[operand] = self.buffer(value)

    def _kernel(self, nest: LoopNest) -> None:
        built = self._loop_kernel(nest)
        if built is not None:
            fn, size, work = built
            self.kernels.run(self.b, self.buffers, fn, size, work)

    def _loop_kernel(self, nest: LoopNest) -> tuple[ir.Function, int, int] | None:
        """The kernel function of ``nest``, its element count and work (None if empty)."""
        scope, inputs = nest.scope, nest.inputs
        shape = nest.outputs[0].type.shape
        size = math.prod(shape)
        if size == 0:
            return None
        # Broadcasts of computed row values (reductions) are computed once per row; a plain
        # load is left to LLVM, so that elementwise kernels keep their flat loop.
        per_row = [inst for inst in row_broadcasts(scope, shape)
                   if inst.operands[0] not in inputs and inst.operands[0].opcode != "constant"]
        nested = bool(per_row) or any(needs_dims(i) for i in scope)
        reused = row_reused_values(scope, shape, per_row)
        # A reduction behind a per-row value would be needed before the tile is done.
        column_reduces = [] if per_row else kernels.column_reductions(scope, shape)
        fn = self.kernels.loop_kernel(shape, inputs, nest.outputs, nest.body, nested, per_row, reused,
                                      column_reduces)
        return fn, size, size * _inner_trips(scope)

    def _fusion(self, inst: Instruction, operands: list[Value]) -> Value:
        nest = self._fusion_nest(inst, operands)
        if nest is not None:
            self._kernel(nest)
            return nest.value
        # A multi-output fusion whose elements differ in shape: one loop nest per element.
        computation = inst.called[0]
        inputs = {p: self.buffer(operands[p.attrs["parameter_number"]]) for p in computation.parameters}
        scope = [i for i in computation.instructions if i.opcode != "parameter"]
        target = self.destination(inst)
        for element, buffer in zip(computation.root.operands, target):
            self._kernel(LoopNest(scope, inputs, leaves(buffer),
                                  (lambda x: lambda e, index: _as_list(e.value(x, index)))(element), buffer))
        return target

    def _fusion_nest(self, inst: Instruction, operands: list[Value]) -> LoopNest | None:
        """The one loop nest of a fusion (a multi-output one stores every element in it, its
        inputs read once); None if its outputs differ in shape."""
        computation = inst.called[0]
        root = computation.root
        if root.opcode == "tuple" and not _same_shaped_arrays(root.operands):
            return None
        inputs = {p: self.buffer(operands[p.attrs["parameter_number"]]) for p in computation.parameters}
        scope = [i for i in computation.instructions if i.opcode != "parameter"]
        target = self.destination(inst)
        if root.opcode == "tuple":
            body = lambda e, index: [e.value(element, index) for element in root.operands]  # noqa: E731
        else:
            body = lambda e, index: _as_list(e.value(root, index))  # noqa: E731
        return LoopNest(scope, inputs, leaves(target), body, target)

    def _dot(self, inst: Instruction, operands: list[Value]) -> Value:
        if not (self.blas and kernels.wants_blas(inst)):
            return self._elemental_kernel(inst, operands)
        lhs, rhs = (self.buffer(o) for o in operands)
        layout = kernels.blas_layout(inst, lhs.type, rhs.type)
        if layout is None:
            lhs, rhs = self._matrix_order(inst, 0, lhs), self._matrix_order(inst, 1, rhs)
            layout = (False, False)
        target = self.destination(inst)
        # gemm writes row-major; another destination layout gets a relayout copy after it.
        result = target if is_row_major(target.type) else self.temporary(row_major(inst.type))
        batch, m, n, k = dot_sizes(inst)
        by_rows = kernels.gemm_by_rows(inst, self.kernels.threads)
        gemm = self.kernels.gemm_kernel(inst, lhs, rhs, result, layout, by_rows)
        fusable = by_rows and batch == 1 and result is target
        epilogue = self._epilogue(inst, result, (lhs, rhs)) if fusable else None
        if epilogue is not None:
            # Each thread runs the epilogue over its own rows right after computing them,
            # while they are still in its cache (XLA's dot output fusion, at row granularity).
            follower, nest, (fn, _, _) = epilogue
            gemm = self.kernels.rows_then(gemm, fn, n)
            self._values[-1][follower] = nest.value
            self.dot_epilogues += 1
        self.kernels.run(self.b, self.buffers, gemm, m if by_rows else n, batch * m * n * k,
                         kernels.GEMM_PARALLEL_WORK)
        self.copy(result, target)
        self.uses_blas = True
        return target

    def _epilogue(self, dot: Instruction, result: Buffer, operands: tuple) -> tuple | None:
        """The instruction right after ``dot`` as a loop nest that can run on each block of the
        dot's rows as soon as it is computed, or None: an elementwise op or a fusion with the
        dot's shape that reads the dot only at the index it computes, and writes no buffer the
        dot reads (another thread may still be reading it)."""
        computation = self._emitting[-1][0]
        values = self._values[-1]
        following = iter(computation.instructions[computation.instructions.index(dot) + 1:])
        follower = next(following, None)
        # Constants and broadcasts in between emit no code: evaluated now, as they would be.
        while follower is not None and _emits_no_code(follower) and dot not in follower.operands:
            values[follower] = SEQUENTIAL.get(follower.opcode, EntryBuilder._elemental_kernel)(
                self, follower, [values[o] for o in follower.operands])
            follower = next(following, None)
        if follower is None or dot not in follower.operands or follower.opdef.has(Trait.GENERATED):
            return None
        operands_of = [result if o is dot else values.get(o) for o in follower.operands]
        if any(v is None for v in operands_of):
            return None
        # The leaves through which the loop nest reads the dot.
        if follower.opcode == "fusion":
            reads = [p for p in follower.called[0].parameters
                     if follower.operands[p.attrs["parameter_number"]] is dot]
            nest = self._fusion_nest(follower, operands_of)
        elif follower.opcode not in SEQUENTIAL and follower.opdef.has(Trait.ELEMENTWISE):
            reads = [dot]
            nest = self._elemental_nest(follower, operands_of)
        else:
            return None
        if nest is None or any(out.type.shape != dot.type.shape for out in nest.outputs):
            return None
        if not all(kernels.read_only_at_loop_index(leaf, nest.scope, dot.type.shape) for leaf in reads):
            return None
        if any(out.overlaps(source) for out in nest.outputs for source in operands):
            return None
        if any(result.overlaps(buffer) for leaf, buffer in nest.inputs.items() if leaf not in reads):
            return None
        built = self._loop_kernel(nest)
        return (follower, nest, built) if built is not None else None

    def _matrix_order(self, inst: Instruction, number: int, value: Buffer) -> Buffer:
        """Copy a dot operand into (batch, free, contracting) / (batch, contracting, free) order."""
        operand = inst.operands[number]
        permutation = kernels.matrix_order(inst, number)
        target = self.temporary(kernels.permuted(operand.type, permutation))
        detached = Instruction(f"{operand.name}.matrix", "transpose", (operand,), target.type,
                               {"dimensions": tuple(permutation)})
        self._kernel(LoopNest([detached], {operand: value}, [target],
                              lambda e, index: [e.value(detached, index)], target))
        return target

    # -- control flow ------------------------------------------------------------------

    def _while(self, inst: Instruction, operands: list[Value]) -> Value:
        condition, body = inst.called
        state = self.destination(inst)
        self.copy(operands[0], state)
        b = self.b
        header = b.function.append_basic_block("while.condition")
        loop = b.function.append_basic_block("while.body")
        done = b.function.append_basic_block("while.done")
        b.branch(header)
        b.position_at_end(header)
        keep_going = self._load_pred(self.emit(condition, [state]))
        b.cbranch(keep_going, loop, done)
        b.position_at_end(loop)
        self._assign(state, self.emit(body, [state], loop_body=True))
        b.branch(header)
        b.position_at_end(done)
        return state

    def _assign(self, state: Value, new: Value) -> None:
        """state := new, where new may hold state buffers in other positions (a swap)."""
        state_leaves, new_leaves = leaves(state), leaves(self.buffer(new))
        staged = []
        for target, source in zip(state_leaves, new_leaves):
            if source != target and source in state_leaves:
                copy = self.temporary(source.type)
                self.copy(source, copy)
                source = copy
            staged.append(source)
        for target, source in zip(state_leaves, staged):
            self.copy(source, target)

    def _load_pred(self, value: Value) -> ir.Value:
        pointer = self.buffer(value).pointer(self.b, self.buffers)
        return self.b.trunc(self.b.load(pointer, typ=I8), I1)

    def _conditional(self, inst: Instruction, operands: list[Value]) -> Value:
        b = self.b
        branches = inst.called
        selector_type = inst.operands[0].type
        raw = b.load(self.buffer(operands[0]).pointer(b, self.buffers), typ=I8 if selector_type.dtype.is_pred else I32)
        if selector_type.dtype.is_pred:
            index = b.select(b.trunc(raw, I1), ir.Constant(I32, 0), ir.Constant(I32, 1))
        else:  # XLA: an out-of-range index runs the last branch
            in_range = b.icmp_unsigned("<", raw, ir.Constant(I32, len(branches)))
            index = b.select(in_range, raw, ir.Constant(I32, len(branches) - 1))
        result = self.destination(inst)
        done = b.function.append_basic_block("conditional.done")
        switch = b.switch(index, done)
        for number, branch in enumerate(branches):
            block = b.function.append_basic_block(f"conditional.branch{number}")
            switch.add_case(ir.Constant(I32, number), block)
            b.position_at_end(block)
            self.copy(self.emit(branch, [operands[1 + number]]), result)
            b.branch(done)
        b.position_at_end(done)
        return result

    def _dynamic_update_slice(self, inst: Instruction, operands: list[Value]) -> Value:
        """``out[t] = row`` in a loop: written into the loop-state buffer when the old value
        dies here, so each iteration costs the window, not a copy of the whole array."""
        target = operands[0]
        if not (isinstance(target, Buffer) and self._state_dies_at(inst)):
            return self._elemental_kernel(inst, operands)
        update = inst.operands[1].type
        if update.size == 0:
            return target
        b = self.b
        leaves = {o: buffer_leaf(b, self.buffer(v).pointer(b, self.buffers), o.type)
                  for o, v in zip(inst.operands[1:], operands[1:])}
        elemental = Elemental(b, leaves)
        starts = start_indices(elemental, inst, 2, [d - u for d, u in zip(inst.type.shape, update.shape)])
        pointer = target.pointer(b, self.buffers)
        with for_range(b, i64(0), i64(update.size), "window") as linear:
            dims = delinearize(b, linear, update.shape)
            value = elemental.value(inst.operands[1], Index(update.shape, dims=dims, linear=linear))
            at = linearize(b, [b.add(start, dim) for start, dim in zip(starts, dims)], inst.type.shape)
            store_element(b, value, element_ptr(b, pointer, at, update.dtype), update.dtype)
        return target

    def _state_dies_at(self, inst: Instruction) -> bool:
        """Whether ``inst``'s operand 0 is a loop-state element that nothing reads after
        ``inst`` (through any alias of its buffer, or a lazily computed broadcast of it)."""
        computation, loop_body = self._emitting[-1]
        source = inst.operands[0]
        if not (loop_body and source.opcode == "get-tuple-element"
                and source.operands[0].opcode == "parameter"
                and inst.type.layout in (None, TensorType.default_layout(inst.type.rank))):
            return False
        position = {i: n for n, i in enumerate(computation.instructions)}
        state = source.operands[0]
        if any(user.opcode != "get-tuple-element" for user in state.users):
            return False
        pending = [g for g in state.users if g.attrs["index"] == source.attrs["index"]]
        aliases = set(pending)
        seen: set[Instruction] = set()
        while pending:
            value = pending.pop()
            for reader in value.users:
                if reader is inst or reader in seen:
                    continue
                seen.add(reader)
                if _reads_through(reader):
                    aliases.add(reader)
                    pending.append(reader)
                elif position.get(reader, len(position)) > position[inst]:
                    return False
        # The window must not be read from the buffer it is written into.
        return not any(operand in aliases for operand in inst.operands[1:])

    def _call(self, inst: Instruction, operands: list[Value]) -> Value:
        return self.emit(inst.called[0], operands)


def _emits_no_code(inst: Instruction) -> bool:
    """Constants become globals and broadcasts are computed where they are read."""
    return inst.opcode == "constant" or inst.opdef.has(Trait.GENERATED)


def _names_or_binds(inst: Instruction) -> bool:
    """Not a kernel that could write an output buffer directly: a parameter or constant, a
    name of other buffers, or a loop, branch or call (which copies its callee's result)."""
    return inst.opdef.has_any(Trait.SOURCE, Trait.NAMES_BUFFERS, Trait.CALLS_PROGRAMS)


def _reads_through(inst: Instruction) -> bool:
    """Shares its operand's buffer (a free transpose or reshape, a tuple) or computes from it
    lazily where it is read (a broadcast): reading ``inst`` reads the operand."""
    return inst.opdef.has_any(Trait.GENERATED, Trait.MAY_ALIAS_OPERAND, Trait.NAMES_BUFFERS)


def _as_list(value: object) -> list:
    return value if isinstance(value, list) else [value]


def _same_shaped_arrays(values: Sequence[Instruction]) -> bool:
    return bool(values) and all(isinstance(v.type, TensorType) and v.type.shape == values[0].type.shape
                                for v in values)


def _inner_trips(scope: list[Instruction]) -> int:
    """Loop trips per output element inside the body (reductions and contractions)."""
    trips = 1
    for inst in scope:
        if inst.opcode == "reduce":
            shape = inst.operands[0].type.shape
            trips = max(trips, math.prod(shape[d] for d in inst.attrs["dimensions"]))
        elif inst.opcode == "dot":
            trips = max(trips, dot_sizes(inst)[3])
    return trips


def _tree(t: Type, counter: list[int]) -> OutputTree:
    """The root's structure with output numbers at the leaves."""
    if isinstance(t, TupleType):
        return tuple(_tree(e, counter) for e in t.elements)
    counter[0] += 1
    return counter[0] - 1


SEQUENTIAL: dict[str, Callable[[EntryBuilder, Instruction, list], Value]] = {
    "constant": lambda self, inst, operands: self.constant(inst),
    "tuple": lambda self, inst, operands: tuple(operands),
    "get-tuple-element": lambda self, inst, operands: operands[0][inst.attrs["index"]],
    "fusion": EntryBuilder._fusion,
    "transpose": EntryBuilder._transpose,
    "dot": EntryBuilder._dot,
    "while": EntryBuilder._while,
    "conditional": EntryBuilder._conditional,
    "call": EntryBuilder._call,
    "dynamic-update-slice": EntryBuilder._dynamic_update_slice,
}
"""Opcodes emitted at the computation level; every other opcode is an elemental kernel."""
