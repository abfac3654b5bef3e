"""Printing IR as HLO text.  ``parser.parse_module(print_module(m))`` rebuilds ``m``."""

from __future__ import annotations

import numpy as np

from .core import Computation, Instruction, Module
from .attributes import AttrKind, quote
from .opdef import BRANCHES
from .types import DType, TupleType


def print_module(module: Module) -> str:
    lines = [f"HloModule {module.name}", ""]
    for computation in computations_in_print_order(module):
        lines.append(print_computation(computation))
        lines.append("")
    return "\n".join(lines)


def computations_in_print_order(module: Module) -> list[Computation]:
    """Callees before callers and the entry last, as XLA prints them."""
    ordered: list[Computation] = []
    seen: set[str] = set()

    def visit(computation: Computation) -> None:
        if computation.name in seen:
            return
        seen.add(computation.name)
        for inst in computation.instructions:
            for callee in inst.called:
                visit(callee)
        ordered.append(computation)

    for computation in module.computations.values():
        if computation.name != module.entry_name:
            visit(computation)
    if module.entry_name is not None:
        visit(module.entry)
    return ordered


def print_computation(computation: Computation) -> str:
    module = computation.module
    is_entry = module is not None and module.entry_name == computation.name
    params = ", ".join(f"{p.name}: {p.type}" for p in computation.parameters)
    result = f" -> {computation.root.type}" if computation.root is not None else ""
    header = f"{'ENTRY ' if is_entry else ''}%{computation.name} ({params}){result} {{"
    body = [("  ROOT " if inst is computation.root else "  ") + print_instruction(inst)
            for inst in computation.instructions]
    return "\n".join([header, *body, "}"])


def print_instruction(inst: Instruction) -> str:
    opdef = inst.opdef
    if inst.opcode == "parameter":
        inside = str(inst.attrs["parameter_number"])
    elif inst.opcode == "constant":
        inside = format_literal(inst.attrs["literal"], inst.type.dtype)
    else:
        inside = ", ".join(f"%{o.name}" for o in inst.operands)
    parts = [f"%{inst.name} = {inst.type} {inst.opcode}({inside})"]
    for spec in opdef.attrs:
        if spec.kind is AttrKind.LITERAL or spec.name == "parameter_number":
            continue
        if spec.name not in inst.attrs:
            continue
        value = inst.attrs[spec.name]
        if not spec.required and spec.default is not None and value == spec.normalize(spec.default):
            continue
        parts.append(f"{spec.spelling}={spec.format(value)}")
    parts.extend(_format_callees(inst))
    if inst.source is not None:
        parts.append(f"metadata={{{format_metadata(inst)}}}")
    return ", ".join(parts)


def _format_callees(inst: Instruction) -> list[str]:
    roles = inst.opdef.callees
    if roles == (BRANCHES,):
        selector = inst.operands[0].type
        if not isinstance(selector, TupleType) and selector.dtype is DType.PRED:
            true_branch, false_branch = inst.called
            return [f"true_computation=%{true_branch.name}",
                    f"false_computation=%{false_branch.name}"]
        return ["branch_computations={" + ", ".join(f"%{c.name}" for c in inst.called) + "}"]
    return [f"{role}=%{callee.name}" for role, callee in zip(roles, inst.called)]


def format_metadata(inst: Instruction) -> str:
    source = inst.source
    fields = []
    if source.function:
        fields.append(f"op_name={quote(source.function)}")
    if source.file:
        fields.append(f"source_file={quote(source.file)}")
    if source.line is not None:
        fields.append(f"source_line={source.line}")
    return " ".join(fields)


def format_scalar(value, dtype: DType) -> str:
    if dtype is DType.PRED:
        return "true" if bool(value) else "false"
    if dtype.is_integer:
        return str(int(value))
    if dtype is DType.BF16:
        value = np.float32(value)  # every bf16 is exactly an f32; print that shortest form
    return str(value)


def format_literal(array: np.ndarray, dtype: DType) -> str:
    array = np.asarray(array).astype(dtype.numpy, copy=False)
    if array.ndim == 0:
        return format_scalar(array[()], dtype)

    def nested(a: np.ndarray) -> str:
        if a.ndim == 1:
            return "{" + ", ".join(format_scalar(v, dtype) for v in a) + "}"
        return "{" + ", ".join(nested(sub) for sub in a) + "}"

    return nested(array)
