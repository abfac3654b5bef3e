"""Every built-in pass, and the default pipeline, keep every corpus program's result.

Each case of ``op_cases`` (``@colmajor`` variants included) runs through each
pass alone and through the default pipeline, verified after every pass, and must
evaluate to exactly what the unoptimized program gives: same dtype and shape,
NaNs in the same places, every other element bit for bit (or fail the same way).
A second variant binds the inputs as constants, so that constant folding
evaluates the whole program at compile time.
"""

from __future__ import annotations

import numpy as np
import pytest

from jitflow.ir import Builder, Module, TensorType
from jitflow.passes import DEFAULT_PIPELINE, PassManager, registered_passes

from op_cases import CASES, OpCase
from passes_util import assert_same, outcome

BUILTIN_PASSES = sorted(name for name, cls in registered_passes().items()
                        if cls.__module__.startswith("jitflow.passes."))
PIPELINES = [*BUILTIN_PASSES, DEFAULT_PIPELINE]


def with_constant_inputs(module: Module, inputs: tuple) -> bool:
    """Replace every use of each array parameter by a constant of its input; False if none is."""
    entry = module.entry
    builder = Builder(entry)
    builder.set_insertion_point(before=entry.instructions[0])
    bound = False
    for param, value in zip(entry.parameters, inputs):
        if isinstance(param.type, TensorType) and param.users:
            constant = builder.emit("constant", type=param.type, literal=np.asarray(value))
            entry.replace_all_uses_with(param, constant)
            bound = True
    return bound


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_passes_keep_results(case: OpCase, custom_call_registry):
    if case.setup is not None:
        case.setup()
    expected = outcome(case.build(), case.inputs)
    for pipeline in PIPELINES:
        module = case.build()
        PassManager(pipeline, verify=True).run(module)
        assert_same(outcome(module, case.inputs), expected, f"{case.id} after {pipeline}")
        folded = case.build()
        if with_constant_inputs(folded, case.inputs):
            PassManager(pipeline, verify=True).run(folded)
            assert_same(outcome(folded, case.inputs), expected,
                        f"{case.id} with constant inputs after {pipeline}")
