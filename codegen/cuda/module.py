"""An IR module as one CUDA translation unit plus a host program that launches it.

Any verified module is accepted:

* a ``fusion`` instruction becomes one kernel (its ``dot`` instructions, if the
  fusion pass gave it a dot with an epilogue, run first on cuBLAS and the rest of
  the fusion is the kernel that follows, reading the product);
* without fusions, the backend groups instructions itself: every array
  instruction that the host needs (the root, operands of control flow, of dot, of
  tuples) is a kernel, and the cheap producers it reads (elementwise ops,
  broadcast, slices, ...) are recomputed inside it instead of being stored;
  reductions are kernels of their own unless the consumer is a row kernel that
  computes them cooperatively (so an unfused softmax is still one kernel);
* ``dot`` on f16/f32/f64 runs on cuBLAS through cupy (transposed operands are
  passed as views, which cupy turns into transpose flags); other dtypes get a kernel;
* ``while`` and ``conditional`` run on the host: the loop state stays on the
  device and only the predicate or branch index (one scalar) is copied back per
  iteration.  A whole-loop kernel would save that round trip for scalar loops, at
  the cost of a second code path for every op; the host loop keeps one.

All buffers are dense row-major arrays (the logical layout): inputs are made
contiguous on entry and results are fresh arrays, so layouts chosen by layout
assignment never change a result.  ``HostProgram`` is the plan the runtime
executes; ``translation_unit`` is the self-contained CUDA source of all kernels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from ...ir import Computation, DType, Instruction, Module, TensorType, Trait, TupleType, leaf_types
from ..errors import UnsupportedOpError, reject_custom_calls
from .cstyle import HELPERS, CudaRenderer
from .kernels import ROW_HELPERS, Kernel, KernelBuilder, row_plan

# dot on these runs on cuBLAS (f16 in f32, as the interpreter computes it).
CUBLAS_DTYPES = frozenset({DType.F16, DType.F32, DType.F64})


@dataclass
class Launch:
    """Run ``kernel`` on the values of ``inputs``; its outputs are the leaves of ``inst``."""

    inst: Instruction
    kernel: Kernel | None  # None: every output is empty
    inputs: list[Instruction]


@dataclass
class Dot:
    """``inst`` = dot of two device arrays on cuBLAS.  An operand that is a transpose is
    read as a transposed view of its source (``permutations``): cuBLAS gets a flag, not a
    copy."""

    inst: Instruction
    sources: tuple[Instruction, Instruction]
    permutations: tuple[tuple[int, ...] | None, tuple[int, ...] | None]


def dot_step(inst: Instruction) -> Dot:
    sources, permutations = [], []
    for operand in inst.operands:
        if operand.opcode == "transpose":
            sources.append(operand.operands[0])
            permutations.append(tuple(operand.attrs["dimensions"]))
        else:
            sources.append(operand)
            permutations.append(None)
    return Dot(inst, tuple(sources), tuple(permutations))


@dataclass
class Alias:
    """``inst`` takes the value of ``source`` (tuple, get-tuple-element, parameter binding)."""

    inst: Instruction
    source: Instruction | None = None


@dataclass
class Control:
    """``while``, ``conditional`` or ``call``: the host runs the called programs."""

    inst: Instruction
    programs: list["HostComputation"]


Step = Union[Launch, Dot, Alias, Control]


@dataclass
class HostComputation:
    computation: Computation
    steps: list[Step] = field(default_factory=list)


@dataclass
class HostProgram:
    module: Module
    entry: HostComputation
    kernels: list[Kernel]
    body: str  # constants and kernels, without includes and helpers
    uses_rows: bool
    prefix: str

    @property
    def source(self) -> str:
        """The self-contained translation unit: includes, helpers, constants, kernels."""
        return translation_unit([self], f"module {self.module.name}")

    @property
    def input_types(self) -> list[TensorType]:
        return [leaf for p in self.module.entry.parameters for leaf in leaf_types(p.type)]

    @property
    def output_types(self) -> list[TensorType]:
        return leaf_types(self.module.entry.result_type)


def uses_cublas(inst: Instruction) -> bool:
    return inst.opcode == "dot" and inst.type.dtype in CUBLAS_DTYPES and inst.type.size > 0


class Lowering:
    """Walks host-level computations, grouping array instructions into kernels."""

    def __init__(self, module: Module, prefix: str) -> None:
        reject_custom_calls(module, "cuda")
        self.module = module
        self.kernels = KernelBuilder(CudaRenderer(), prefix)
        self.prefix = prefix

    def lower(self) -> HostProgram:
        entry = self.host(self.module.entry)
        body = "\n".join(list(self.kernels.constants.values()) + [k.source for k in self.kernels.kernels])
        return HostProgram(self.module, entry, self.kernels.kernels, body, self.kernels.uses_rows,
                           self.prefix)

    # -- host computations ----------------------------------------------------------------

    def host(self, computation: Computation) -> HostComputation:
        program = HostComputation(computation)
        materialized = self._materialized(computation)
        for inst in computation.instructions:
            opcode = inst.opcode
            if opcode == "parameter":
                continue
            if opcode == "fusion":
                self._fusion(program, inst)
            elif inst.opdef.has(Trait.NAMES_BUFFERS):
                program.steps.append(Alias(inst))
            elif inst.opdef.has(Trait.CALLS_PROGRAMS):
                program.steps.append(Control(inst, [self.host(c) for c in inst.called]))
            elif uses_cublas(inst):
                program.steps.append(dot_step(inst))
            elif inst in materialized:
                self._launch(program, inst, materialized)
        return program

    def _materialized(self, computation: Computation) -> set[Instruction]:
        """Kernel instructions whose values are stored: the rest are recomputed by readers."""
        keep: set[Instruction] = set()
        for inst in computation.instructions:
            if uses_cublas(inst):
                keep.update(o for o in dot_step(inst).sources if _kernel_op(o))
            elif _on_host(inst):
                keep.update(o for o in inst.operands if _kernel_op(o))
        if _kernel_op(computation.root):
            keep.add(computation.root)
        # Loops (reductions, contractions) read by a kernel that cannot share them per row
        # are stored: recomputing them per element would multiply their cost.
        changed = True
        while changed:
            changed = False
            for inst in list(keep):
                scope, _ = _group(inst, keep)
                rows = row_plan(scope, [inst.type]) if isinstance(inst.type, TensorType) else None
                for member in scope:
                    if member is inst or not member.opdef.has(Trait.LOOP_PER_ELEMENT) or member in keep:
                        continue
                    if rows is None or member.opcode == "dot":
                        keep.add(member)
                        changed = True
        return keep

    def _launch(self, program: HostComputation, inst: Instruction, keep: set[Instruction]) -> None:
        scope, leaves = _group(inst, keep)
        outputs = _elements(inst)
        kernel = self.kernels.build(inst.name, scope, leaves, outputs) \
            if any(o.type.size for o in outputs) else None
        program.steps.append(Launch(inst, kernel, leaves))

    def _fusion(self, program: HostComputation, inst: Instruction) -> None:
        fused = inst.called[0]
        params = fused.parameters
        for param in params:
            program.steps.append(Alias(param, inst.operands[param.attrs["parameter_number"]]))
        # Library calls first (dot with its epilogue fused): the kernel then reads the product.
        library = [i for i in fused.instructions if uses_cublas(i)]
        leaves_set = set(params) | set(library)
        for dot in library:
            for operand in dot_step(dot).sources:
                if operand not in leaves_set and _kernel_op(operand):
                    scope, leaves = _group(operand, leaves_set)
                    kernel = self.kernels.build(operand.name, scope, leaves, [operand]) \
                        if operand.type.size else None
                    program.steps.append(Launch(operand, kernel, leaves))
                    leaves_set.add(operand)
            program.steps.append(dot_step(dot))
        root = fused.root
        outputs = list(root.operands) if root.opcode == "tuple" else [root]
        if any(isinstance(o.type, TupleType) for o in outputs):
            raise UnsupportedOpError(f"the cuda backend cannot store nested tuples ({inst.describe()})")
        scope: list[Instruction] = []
        seen: set[Instruction] = set()
        leaves: list[Instruction] = []
        for output in outputs:
            _collect(output, leaves_set, scope, seen, leaves, root=False)
        reads = sorted(leaves, key=lambda i: _order(fused, i))
        if any(o.type.size for o in outputs):
            kernel = self.kernels.build(inst.name, scope, reads, outputs)
        else:
            kernel = None
        program.steps.append(Launch(inst, kernel, reads))


def _elements(inst: Instruction) -> list[Instruction]:
    """The array values a kernel for ``inst`` stores: itself, or each element of its tuple
    (variadic reduce) as a detached get-tuple-element the emitter can evaluate."""
    if isinstance(inst.type, TensorType):
        return [inst]
    elements = []
    for number, element in enumerate(inst.type.elements):
        if not isinstance(element, TensorType):
            raise UnsupportedOpError(f"the cuda backend cannot store nested tuples ({inst.describe()})")
        elements.append(Instruction(f"{inst.name}.{number}", "get-tuple-element", (inst,), element,
                                    {"index": number}))
    return elements


def _on_host(inst: Instruction) -> bool:
    """Bound, named, run or launched by the host program, never computed inside a kernel."""
    return inst.opcode == "parameter" or inst.opdef.has(Trait.HOST_STEP)


def _kernel_op(inst: Instruction) -> bool:
    return not _on_host(inst) and not uses_cublas(inst)


def _group(inst: Instruction, keep: set[Instruction]) -> tuple[list[Instruction], list[Instruction]]:
    """The instructions computed inside ``inst``'s kernel and the stored values it reads."""
    scope: list[Instruction] = []
    leaves: list[Instruction] = []
    _collect(inst, keep, scope, set(), leaves, root=True)
    return scope, leaves


def _collect(inst: Instruction, keep: set[Instruction], scope: list, seen: set, leaves: list,
             root: bool = True) -> None:
    if inst in seen:
        return
    seen.add(inst)
    if not root and (inst in keep or not _kernel_op(inst)) or inst.opcode == "parameter":
        leaves.append(inst)
        return
    for operand in inst.operands:
        _collect(operand, keep, scope, seen, leaves, root=False)
    scope.append(inst)  # operands first: reductions are listed in dependency order


def _order(computation: Computation, inst: Instruction) -> int:
    return computation.instructions.index(inst) if inst.parent is computation else -1


def translation_unit(programs: list[HostProgram], what: str) -> str:
    """One CUDA source holding the kernels of ``programs`` (their prefixes must differ)."""
    count = sum(len(p.kernels) for p in programs)
    parts = [f"// jitflow CUDA translation unit for {what}: {count} kernel(s)"]
    parts += [f"#include <{name}>" for name in CudaRenderer.INCLUDES]
    parts.append(HELPERS)
    if any(p.uses_rows for p in programs):
        parts.append(ROW_HELPERS)
    parts += [p.body for p in programs]
    return "\n".join(parts)


def lower_module(module: Module, prefix: str = "jf") -> HostProgram:
    """The host program and CUDA translation unit of ``module``."""
    return Lowering(module, prefix).lower()
