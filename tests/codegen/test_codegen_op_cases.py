"""Every program of the interpreter's op corpus (tests/op_cases.py) through the CPU backend.

The interpreter's result is the reference; custom-call cases (no CPU lowering) and
cases whose evaluation must fail are skipped.  The backend honors layouts: entry
parameters and results cross the call as C-order arrays of their logical values, and
values inside are stored in their declared layouts and indexed through their strides.
A ``@colmajor`` variant whose text differs from its row-major twin's is therefore a
program of its own (other LLVM IR, its own compile-cache entry) that must agree with
the interpreter as well.
"""

from __future__ import annotations

import pytest

import op_cases
from codegen_util import check_against_interpreter

CASES = [case for case in op_cases.CASES if case.raises is None]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_op_case_on_cpu(case, custom_call_registry):
    module = case.build()
    if any(inst.opcode == "custom-call" for inst in module.instructions()):
        pytest.skip("custom-call has no cpu lowering")
    if case.setup is not None:
        case.setup()
    check_against_interpreter(module, *case.inputs, rtol=max(case.rtol, 1e-6 if case.rtol else 0.0))
