"""The verifier: checks the invariants every stage relies on.

* every computation has a ROOT that belongs to it; parameters are numbered 0..n-1;
* SSA: operands are defined earlier in the same computation; names are unique
  in the module; use-def links agree with operand lists;
* every instruction's type equals what the op table infers (layouts aside),
  which also checks called-computation signatures (reducers, while, branches);
* called computations belong to the module, no computation calls itself, and calls
  nest at most ``MAX_CALL_DEPTH`` deep.

Errors name the computation, the instruction and its source line.
"""

from __future__ import annotations

from ..errors import IRError, VerificationError
from .core import Computation, Instruction, Module
from .limits import MAX_CALL_DEPTH
from .opdef import BRANCHES, OPS
from .types import same_ignoring_layout


def verify(module: Module) -> None:
    """Raise ``VerificationError`` listing every problem found in ``module``."""
    problems: list[str] = []
    if module.entry_name is None or module.entry_name not in module.computations:
        problems.append(f"module '{module.name}' has no ENTRY computation")
    names: dict[str, str] = {}
    for computation in module.computations.values():
        problems.extend(_verify_computation(module, computation, names))
    problems.extend(_recursion_problems(module))
    if problems:
        raise VerificationError("IR verification failed:\n" + "\n".join(f"  {p}" for p in problems))


def _where(computation: Computation, inst: Instruction) -> str:
    text = f"in computation '{computation.name}', %{inst.name} ({inst.opcode})"
    if inst.source is not None:
        text += f" from {inst.source}"
    return text


def _verify_computation(module: Module, computation: Computation, names: dict[str, str]) -> list[str]:
    problems = []
    if computation.module is not module:
        problems.append(f"computation '{computation.name}' does not point back to its module")
    if computation.root is None:
        problems.append(f"computation '{computation.name}' has no ROOT")
    elif (computation.root.parent is not computation
          or computation.root not in computation.instructions):
        problems.append(f"ROOT %{computation.root.name} of '{computation.name}' is not in it")
    # A parameter without a number is reported by its own type check.
    numbers = sorted(i.attrs["parameter_number"] for i in computation.instructions
                     if i.opcode == "parameter" and isinstance(i.attrs.get("parameter_number"), int))
    if numbers != list(range(len(numbers))):
        problems.append(f"computation '{computation.name}' has parameter numbers {numbers}; "
                        f"expected 0..{len(numbers) - 1}")
    defined: set[Instruction] = set()
    for inst in computation.instructions:
        where = _where(computation, inst)
        if inst.name in names:
            problems.append(f"{where}: name %{inst.name} is already used in computation "
                            f"'{names[inst.name]}'")
        names[inst.name] = computation.name
        if inst.parent is not computation:
            problems.append(f"{where}: instruction does not point back to its computation")
        if inst.opcode not in OPS:
            problems.append(f"{where}: unknown opcode '{inst.opcode}'")
            defined.add(inst)
            continue
        for operand in inst.operands:
            if operand not in defined:
                problems.append(f"{where}: operand %{operand.name} is not defined before its use "
                                f"in this computation")
            elif inst not in operand._users:
                problems.append(f"{where}: operand %{operand.name} does not list it as a user")
        for user in inst.users:
            if inst not in user.operands:
                problems.append(f"{where}: lists %{user.name} as a user, which does not use it")
        for callee in inst.called:
            if module.computations.get(callee.name) is not callee:
                problems.append(f"{where}: calls computation '{callee.name}', which is not in the module")
        problems.extend(f"{where}: {p}" for p in _type_problems(inst))
        defined.add(inst)
    return problems


def _type_problems(inst: Instruction) -> list[str]:
    opdef = inst.opdef
    try:
        opdef.check_arity(len(inst.operands))
        attrs = opdef.normalize_attrs(dict(inst.attrs))
        roles = opdef.callees
        if roles and roles[0] != BRANCHES and len(inst.called) != len(roles):
            raise IRError(f"{inst.opcode} calls {len(roles)} computation(s) "
                          f"({', '.join(roles)}), got {len(inst.called)}")
        if any(c.root is None for c in inst.called):
            return []  # reported for the callee itself
        inferred = opdef.infer([o.type for o in inst.operands], attrs, list(inst.called), inst.type)
    except IRError as error:
        return [str(error)]
    if not same_ignoring_layout(inferred, inst.type):
        operand_types = ", ".join(str(o.type) for o in inst.operands)
        return [f"type {inst.type} does not match {inferred} inferred from operands ({operand_types})"]
    return []


def _recursion_problems(module: Module) -> list[str]:
    """Calls that form a cycle, or chains of calls deeper than ``MAX_CALL_DEPTH``.

    An explicit stack rather than recursion, so that a deep chain is reported, not a
    RecursionError; and no networkx: importing it costs ~0.2 s, which would land on
    every process's first jit call.
    """
    callees = {name: [callee.name for inst in computation.instructions for callee in inst.called]
               for name, computation in module.computations.items()}
    depth: dict[str, int] = {}  # finished computations: the longest chain of calls they start
    for start in callees:
        if start in depth:
            continue
        path = [start]
        position = {start: 0}  # of each computation on the path
        pending = [iter(callees[start])]
        while path:
            callee = next(pending[-1], None)
            if callee is None:
                name = path.pop()
                pending.pop()
                del position[name]
                depth[name] = 1 + max((depth.get(c, 0) for c in callees[name]), default=0)
                if depth[name] > MAX_CALL_DEPTH:
                    return [f"computation '{name}' starts a chain of calls {depth[name]} "
                            f"computations deep, more than the limit of {MAX_CALL_DEPTH}"]
            elif callee in position:
                path_text = " -> ".join(path[position[callee]:] + [callee])
                return [f"computations call each other recursively: {path_text}"]
            elif callee in callees and callee not in depth:
                position[callee] = len(path)
                path.append(callee)
                pending.append(iter(callees[callee]))
    return []
