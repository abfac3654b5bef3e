"""Helpers shared by the pass tests: exact comparison of results, IR from text."""

from __future__ import annotations

import numpy as np

from jitflow.errors import InterpreterError
from jitflow.ir import Module, evaluate, parse_module, verify
from jitflow.passes import PassManager


def outcome(module: Module, inputs):
    """The result, or the InterpreterError when evaluation fails."""
    try:
        return evaluate(module, *inputs)
    except InterpreterError as error:
        return error


def assert_same(actual, expected, where: str = "result") -> None:
    """Same dtype and shape; NaNs in the same places; every other element bit for bit."""
    if isinstance(expected, InterpreterError):
        assert isinstance(actual, InterpreterError), f"{where}: {expected} no longer raised"
        return
    assert not isinstance(actual, InterpreterError), f"{where}: now raises {actual}"
    if isinstance(expected, tuple):
        assert isinstance(actual, tuple) and len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_same(a, e, f"{where}[{i}]")
        return
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert (actual.dtype, actual.shape) == (expected.dtype, expected.shape), where
    if expected.dtype.kind not in "biu":
        nan = np.isnan(expected.astype(np.float64))
        np.testing.assert_array_equal(np.isnan(actual.astype(np.float64)), nan,
                                      err_msg=f"{where}: NaN positions")
        actual, expected = actual[~nan], expected[~nan]
    bits = f"u{expected.dtype.itemsize}"
    np.testing.assert_array_equal(actual.view(bits), expected.view(bits), err_msg=where)


def run_passes(text: str, pipeline: str) -> Module:
    """Parse ``text``, run ``pipeline`` verifying after each pass, and return the module."""
    module = parse_module(text)
    verify(module)
    PassManager(pipeline, verify=True).run(module)
    return module


def opcodes(module: Module) -> list[str]:
    """The entry's opcodes in order; a fusion contributes the instructions it fused."""
    found = []
    for inst in module.entry.instructions:
        if inst.opcode == "fusion":
            found.extend(i.opcode for i in inst.called[0].instructions if i.opcode != "parameter")
        else:
            found.append(inst.opcode)
    return found
