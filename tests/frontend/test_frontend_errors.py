"""Every tracing error names the construct, this file and the exact offending line.

Line numbers come from the traced function's ``co_firstlineno`` plus the
offending line's offset inside it (``_line(f, n)``: the n-th line of f's body).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import jitflow.runtime
from jitflow import (ArgumentError, BackendError, ConcretizationError, JitflowError,
                     ScalarOverflowError, ShapeError, TracingError, TracingIndexError,
                     TracingTypeError, UnsupportedError, jit)

HERE = os.path.basename(__file__)
X = np.arange(12, dtype=np.float32).reshape(3, 4)


def _line(fn, offset: int) -> int:
    """The line ``offset`` lines below ``def``."""
    return fn.__code__.co_firstlineno + offset


def _raises(error_type, fn, *args, **jit_options) -> str:
    with pytest.raises(error_type) as info:
        jit(fn, backend="interpreter", **jit_options)(*args)
    assert isinstance(info.value, JitflowError)
    return str(info.value)


def _assert_located(message: str, fn, offset: int) -> None:
    assert f"{HERE}:{_line(fn, offset)}" in message, message
    assert f"(in {fn.__name__})" in message, message


def test_unsupported_numpy_function_names_it_and_the_line():
    def f(x):
        y = x + 1
        return np.fft.fft(y)
    message = _raises(UnsupportedError, f, X)
    assert "unsupported NumPy function np.fft.fft" in message
    _assert_located(message, f, 2)
    assert "jitflow traces" in message and "supported_functions()" in message


def test_unsupported_top_level_function_and_ufunc_method():
    def sort(x):
        return np.sort(x)

    def accumulate(x):
        return np.add.accumulate(x)
    _assert_located(_raises(UnsupportedError, sort, X), sort, 1)
    message = _raises(UnsupportedError, accumulate, X)
    assert "np.add.accumulate" in message
    _assert_located(message, accumulate, 1)


def test_python_if_on_traced_value():
    def f(x):
        if x.sum() > 0:
            return x
        return -x
    # With AutoGraph (the default) this becomes a conditional; without it, the error.
    message = _raises(ConcretizationError, f, X, autograph=False)
    assert "Python bool" in message and "np.where" in message and "AutoGraph" in message
    _assert_located(message, f, 1)
    np.testing.assert_array_equal(jit(f, backend="interpreter")(X), X)


def test_python_while_and_boolean_operators_on_traced_values():
    def loop(x):
        while x.max() > 1:
            x = x / 2
        return x

    def both(x):
        return (x > 0) and (x < 5)
    _assert_located(_raises(ConcretizationError, loop, X, autograph=False), loop, 1)
    _assert_located(_raises(ConcretizationError, both, X), both, 1)  # an array in `and`


def test_float_int_and_asarray_of_traced_values():
    def to_float(x):
        return float(x.sum())

    def to_int(x):
        return x * int(x[0, 0])

    def to_numpy(x):
        return np.asarray(x) + 1

    def to_range(x):
        return np.arange(x[0, 1])
    message = _raises(ConcretizationError, to_float, X)
    assert "Python float" in message
    _assert_located(message, to_float, 1)
    _assert_located(_raises(ConcretizationError, to_int, X), to_int, 1)
    message = _raises(ConcretizationError, to_numpy, X)
    assert "NumPy array" in message
    _assert_located(message, to_numpy, 1)
    _assert_located(_raises(ConcretizationError, to_range, X), to_range, 1)


def test_broadcast_mismatch_names_both_shapes():
    def f(x, y):
        z = x * 2
        return z + y
    message = _raises(ShapeError, f, np.ones((3, 4)), np.ones((3,)))
    assert "(3, 4)" in message and "(3,)" in message
    _assert_located(message, f, 2)


def test_matmul_mismatch_names_both_shapes():
    def f(x, w):
        return x @ w
    message = _raises(ShapeError, f, np.ones((3, 4)), np.ones((5, 2)))
    assert "(3, 4)" in message and "(5, 2)" in message and "matmul" in message
    _assert_located(message, f, 1)

    def g(x, w):
        return np.dot(x, w)
    _assert_located(_raises(ShapeError, g, np.ones((3, 4)), np.ones((5,))), g, 1)


def test_static_index_out_of_range_is_an_index_error():
    def f(x):
        return x[3]

    def g(x):
        return x[:, [0, -5]]

    def h(x):
        return x.sum(axis=2)
    for fn in (f, g, h):
        message = _raises(TracingIndexError, fn, X)
        assert "out of bounds" in message
        _assert_located(message, fn, 1)
    with pytest.raises(IndexError):
        jit(f, backend="interpreter")(X)


def test_too_many_indices():
    def f(x):
        return x[0, 0, 0]
    message = _raises(TracingIndexError, f, X)
    assert "too many indices" in message
    _assert_located(message, f, 1)


def test_python_int_out_of_range_follows_nep50():
    def f(x):
        return x + 300
    message = _raises(ScalarOverflowError, f, np.ones(3, np.int8))
    assert "300" in message and "int8" in message
    _assert_located(message, f, 1)
    with pytest.raises(OverflowError):
        jit(f, backend="interpreter")(np.ones(3, np.int8))


def test_no_loop_for_these_dtypes():
    def f(x, y):
        return x - y
    message = _raises(TracingTypeError, f, np.ones(3, bool), np.ones(3, bool))
    assert "np.subtract" in message
    _assert_located(message, f, 1)


def test_bad_reshape_and_squeeze():
    def f(x):
        return x.reshape(5, -1)

    def g(x):
        return np.squeeze(x, axis=0)
    message = _raises(ShapeError, f, X)
    assert "cannot reshape array of size 12 into shape (5, -1)" in message
    _assert_located(message, f, 1)
    _assert_located(_raises(ShapeError, g, X), g, 1)


def test_unsupported_arguments():
    def f(x):
        return np.sum(x, out=x)
    message = _raises(UnsupportedError, f, X)
    assert "out=" in message
    _assert_located(message, f, 1)


def test_item_assignment():
    def f(x):
        x[0] = 1.0
        return x
    message = _raises(TracingError, f, X, autograph=False)
    assert "immutable" in message and "np.where" in message
    _assert_located(message, f, 1)
    expected = X.copy()
    expected[0] = 1.0
    np.testing.assert_array_equal(jit(f, backend="interpreter")(X), expected)  # AutoGraph: functional


def test_leaked_tracer():
    leaked = []

    def f(x):
        leaked.append(x)
        return x

    def g(x):
        return x + leaked[0]
    jit(f, backend="interpreter")(X)
    message = _raises(TracingError, g, X)
    assert "different jit traces" in message
    _assert_located(message, g, 1)


def test_non_array_argument_names_its_path():
    def f(params):
        return params["w"] * 2
    with pytest.raises(ArgumentError) as info:
        jit(f, backend="interpreter")({"w": X, "name": "dense"})
    assert "params['name']" in str(info.value) and "static_argnames" in str(info.value)


def test_unhashable_static_argument():
    def f(x, sizes):
        return x
    with pytest.raises(ArgumentError, match="static argument 'sizes' must be hashable"):
        jit(f, static_argnames="sizes", backend="interpreter")(X, [1, 2])


def test_bad_static_argument_declarations():
    def f(x, n):
        return x
    with pytest.raises(ArgumentError, match="'m'"):
        jit(f, static_argnames=("m",))
    with pytest.raises(ArgumentError, match="static_argnums 2"):
        jit(f, static_argnums=2)


def test_unknown_backend():
    with pytest.raises(BackendError, match="unknown backend 'tpu'"):
        jit(lambda x: x, backend="tpu")


def test_cpu_backend_compiles_through_the_runtime(monkeypatch):
    targets = []
    compile_module = jitflow.runtime.compile

    def recording_compile(module, target="cpu"):
        targets.append(target)
        return compile_module(module, target)

    monkeypatch.setattr(jitflow.runtime, "compile", recording_compile)
    np.testing.assert_array_equal(jit(lambda x: x + 1)(X), X + 1)
    assert targets == ["cpu"]


def test_bad_output():
    def f(x):
        return x, "done"
    message = _raises(TracingError, f, X)
    assert "output 1" in message and "str" in message


def test_every_instruction_carries_the_user_line():
    def f(x, y):
        a = np.exp(x) * 2.0
        b = a.sum(axis=0) + y[1:3].mean()
        return np.where(b > 0, b, 0.0)
    module = jit(f, backend="interpreter").trace(X, X)
    expected_lines = {_line(f, 0), _line(f, 1), _line(f, 2), _line(f, 3)}
    lines = set()
    for inst in module.entry.instructions:
        assert inst.source is not None and inst.source.file == __file__, inst
        lines.add(inst.source.line)
    assert lines == expected_lines
