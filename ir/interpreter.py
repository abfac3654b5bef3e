"""The reference interpreter: evaluates any module with NumPy.

Its results define what every program means; compiled backends are tested
against it.  Each instruction is evaluated by its op table entry; a failure is
re-raised naming the instruction, its computation and the user's source line.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import InterpreterError, IRError, JitflowError
from .core import Computation, Instruction, Module
from .types import TensorType, TupleType, Type, type_of_value

Value = Any  # np.ndarray or a (nested) tuple of them


def evaluate(module: Module, *args: Any) -> Value:
    """Run the entry computation on ``args`` (arrays or tuples matching its parameters)."""
    return Interpreter(module).run(*args)


class Interpreter:
    def __init__(self, module: Module) -> None:
        self.module = module

    def run(self, *args: Any) -> Value:
        entry = self.module.entry
        params = entry.parameters
        if len(args) != len(params):
            raise InterpreterError(
                f"computation '{entry.name}' takes {len(params)} argument(s), got {len(args)}")
        values = [coerce_argument(value, param.type, f"argument {i} (%{param.name})")
                  for i, (value, param) in enumerate(zip(args, params))]
        return self.call(entry, values)

    def call(self, computation: Computation, args: Sequence[Value]) -> Value:
        if computation.root is None:
            raise InterpreterError(f"computation '{computation.name}' has no ROOT")
        env: dict[Instruction, Value] = {}
        params = computation.parameters
        for param in params:
            env[param] = args[param.attrs["parameter_number"]]
        for inst in computation.instructions:
            if inst.opcode == "parameter":
                continue
            env[inst] = self._evaluate(inst, [env[o] for o in inst.operands])
        return env[computation.root]

    def _evaluate(self, inst: Instruction, args: list[Value]) -> Value:
        try:
            return inst.opdef.evaluate(inst, args, self.call)
        except InterpreterError:
            raise
        # MemoryError: a valid type can still be far larger than this machine's memory.
        except (JitflowError, ArithmeticError, ValueError, TypeError, IndexError,
                MemoryError) as error:
            where = f" (from {inst.source})" if inst.source else ""
            computation = inst.parent.name if inst.parent else "?"
            raise InterpreterError(
                f"evaluating %{inst.name} = {inst.type} {inst.opcode} in computation "
                f"'{computation}'{where}: {error}") from error


def coerce_argument(value: Any, expected: Type, what: str) -> Value:
    """Check an argument against a parameter type; never silently cast."""
    if isinstance(expected, TupleType):
        if not isinstance(value, (tuple, list)) or len(value) != len(expected.elements):
            raise InterpreterError(f"{what} must be a tuple matching {expected}, got {_describe(value)}")
        return tuple(coerce_argument(v, t, f"{what}[{i}]")
                     for i, (v, t) in enumerate(zip(value, expected.elements)))
    array = np.asarray(value)
    try:
        actual = type_of_value(array)
    except IRError:
        raise InterpreterError(f"{what} has unsupported dtype {array.dtype}; expected {expected}") from None
    assert isinstance(expected, TensorType)
    if actual.dtype is not expected.dtype or actual.shape != expected.shape:
        raise InterpreterError(f"{what} must be {expected.without_layout()}, got {actual}")
    return array


def _describe(value: Any) -> str:
    try:
        return str(type_of_value(value))
    except (IRError, TypeError, ValueError):
        return type(value).__name__
