"""Which frames are jitflow's own: decided from the package directory, so that every folder
of the library is ours and the tests, examples and benchmarks it ships are user code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import jitflow
import jitflow.nn.module
from jitflow import jit, losses
from jitflow.errors import is_jitflow_code
from jitflow.passes.base import describe_exception

PACKAGE = Path(jitflow.__file__).parent
X = np.arange(6, dtype=np.float32).reshape(2, 3)


def test_every_folder_of_the_package_is_jitflow_code():
    assert is_jitflow_code(jitflow.nn.module.__file__)
    assert is_jitflow_code(losses.__file__)
    assert is_jitflow_code(jitflow.__file__)
    for folder in ("nn", "data", "export", "distribute"):  # folders not listed anywhere
        assert is_jitflow_code(str(PACKAGE / folder / "module.py"))
    assert is_jitflow_code(str(PACKAGE / "__main__.py"))


def test_shipped_user_code_and_other_files_are_not():
    assert not is_jitflow_code(__file__)
    for shipped in ("examples/quadratic_fit.py", "bench/run.py", "tests/op_cases.py", "demo.py"):
        assert not is_jitflow_code(str(PACKAGE / shipped)), shipped
    assert not is_jitflow_code(np.__file__)
    assert not is_jitflow_code("<string>")


def test_ops_a_library_function_emits_carry_the_users_line():
    def loss(y, prediction):
        return losses.mean_squared_error(y, prediction)
    module = jit(loss, backend="interpreter").trace(X, X)
    for inst in module.entry.instructions:
        assert inst.source is not None and inst.source.file == __file__, inst


def test_a_library_error_is_described_at_the_line_that_called_the_library():
    with pytest.raises(ValueError, match="broadcast") as caught:
        losses.mean_squared_error(np.zeros(2), np.zeros(3))  # fails inside nn/losses.py
    line = caught.traceback[0].lineno + 1  # pytest numbers lines from 0
    assert describe_exception(caught.value).endswith(f"({__file__}:{line})")
