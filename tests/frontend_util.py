"""Shared helpers of the frontend tests: run a function through jit and through NumPy, compare."""

from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np
import pytest

import jitflow
from jitflow import JitflowError, jit
from jitflow.frontend.trace.pytree import flatten


def assert_same(actual: Any, expected: Any, rtol: float = 1e-6, atol: float = 0.0) -> None:
    """Same tree, same dtypes, same shapes, same values (NaNs equal, -0.0 == 0.0)."""
    actual_leaves, actual_tree = flatten(actual)
    expected_leaves, expected_tree = flatten(expected)
    assert actual_tree == expected_tree, (actual, expected)
    for got, want in zip(actual_leaves, expected_leaves):
        got, want = np.asarray(got), np.asarray(want)
        assert got.dtype == want.dtype, f"dtype {got.dtype} != NumPy's {want.dtype}"
        assert got.shape == want.shape, f"shape {got.shape} != NumPy's {want.shape}"
        if want.dtype.kind == "f":
            tolerance = {2: 1e-3, 4: max(rtol, 1e-6)}.get(want.dtype.itemsize, rtol)
            np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64),
                                       rtol=tolerance, atol=atol, equal_nan=True)
        else:
            np.testing.assert_array_equal(got, want)


# The backends every differential test runs on.
BACKENDS = ("interpreter", "cpu")


def check(fn: Callable, *args: Any, rtol: float = 1e-6, atol: float = 0.0,
          **jit_options: Any) -> Any:
    """jit(fn) on every backend in BACKENDS agrees with fn run eagerly by NumPy."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's 0/0, log(-1), ... warnings
        expected = fn(*args)
        for backend in BACKENDS:
            actual = jit(fn, backend=backend, **jit_options)(*args)
            assert_same(actual, expected, rtol=rtol, atol=atol)
    return actual


def check_or_raise(fn: Callable, *args: Any, **kwargs: Any) -> None:
    """Like ``check``; where NumPy raises, jit raises a JitflowError of the same Python kind."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            fn(*args)
        except (TypeError, ValueError, OverflowError, IndexError) as numpy_error:
            kind = next(k for k in (OverflowError, TypeError, IndexError, ValueError)
                        if isinstance(numpy_error, k))
            with pytest.raises(kind) as caught:
                jit(fn, backend=BACKENDS[0])(*args)  # tracing fails before any backend runs
            assert isinstance(caught.value, JitflowError), caught.value
            return
    check(fn, *args, **kwargs)


def count_slow_path(monkeypatch) -> list:
    """Records every jit call that binds its arguments (the slow path); cache hits do not."""
    bound = []
    original = jitflow.frontend.Jitted._bind

    def counting(self, args, kwargs, *rest):
        bound.append((self.__name__, len(args), tuple(kwargs)))
        return original(self, args, kwargs, *rest)
    monkeypatch.setattr(jitflow.frontend.Jitted, "_bind", counting)
    return bound
