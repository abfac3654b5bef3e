"""Passes with bugs, loaded with --load-pass-plugin by the negative FileCheck tests."""

import jitflow
from jitflow.ir import TensorType


@jitflow.register_pass("widen-root")
def widen_root(module) -> bool:
    """Give the entry's ROOT a type its operands do not produce."""
    root = module.entry.root
    root.type = TensorType(root.type.dtype, root.type.shape + (1,))
    return True


@jitflow.register_pass("divide-by-zero")
def divide_by_zero(module) -> bool:
    """Crash."""
    return len(module.computations) / 0 > 1


@jitflow.register_pass("forget-result")
def forget_result(module) -> None:
    """Return nothing instead of whether the module changed."""
