"""Helpers shared by the CPU backend's tests: run a module both ways and compare."""

from __future__ import annotations

import numpy as np

from jitflow import runtime
from jitflow.ir import DType, evaluate, leaf_types

# Transcendental results differ from NumPy by a few ulp (bounds in codegen/cpu/math/)
# and reductions sum in a different order, so floats compare with a tolerance.
TOLERANCE = {DType.F16: 2e-3, DType.BF16: 1.6e-2, DType.F32: 2e-5, DType.F64: 1e-12}


def flatten(value) -> list:
    if isinstance(value, (tuple, list)):
        return [leaf for element in value for leaf in flatten(element)]
    return [value]


def assert_same(actual, expected, rtol: float, where: str = "result") -> None:
    """Equal dtype and shape; integers exactly; floats within rtol, NaNs and infinities in place."""
    if isinstance(expected, tuple):
        assert isinstance(actual, tuple) and len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_same(a, e, rtol, f"{where}[{i}]")
        return
    expected = np.asarray(expected)
    assert isinstance(actual, np.ndarray), f"{where}: {type(actual).__name__} is not an ndarray"
    assert actual.dtype == expected.dtype and actual.shape == expected.shape, (
        f"{where}: got {actual.dtype}{list(actual.shape)}, expected {expected.dtype}{list(expected.shape)}")
    if expected.dtype.kind not in "fV" and expected.dtype != DType.BF16.numpy:
        np.testing.assert_array_equal(actual, expected, err_msg=where)
        return
    a, e = actual.astype(np.float64), expected.astype(np.float64)
    np.testing.assert_array_equal(np.isnan(a), np.isnan(e), err_msg=f"{where}: NaN positions")
    np.testing.assert_array_equal(a[np.isinf(e)], e[np.isinf(e)], err_msg=f"{where}: infinities")
    finite = np.isfinite(e)
    scale = max(float(np.abs(e[finite]).max(initial=0.0)), 1.0)
    np.testing.assert_allclose(a[finite], e[finite], rtol=rtol, atol=rtol * scale, err_msg=where)


def check_against_interpreter(module, *inputs, rtol: float | None = None):
    """Compile ``module`` for the CPU, run it and the interpreter on ``inputs``, compare."""
    expected = evaluate(module, *inputs)
    executable = runtime.compile(module)
    actual = executable(*flatten(inputs))
    if rtol is None:
        rtol = max(TOLERANCE.get(t.dtype, 0.0) for t in leaf_types(module.entry.result_type))
    assert_same(actual, expected, rtol)
    return actual


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Units in the last place between a and b (0 for two NaNs, inf for one NaN)."""
    width = np.int32 if a.dtype == np.float32 else np.int64
    mask = np.int64(np.iinfo(width).max)

    def ordered(x: np.ndarray) -> np.ndarray:
        bits = x.view(width).astype(np.int64)
        return np.where(bits < 0, -(bits & mask), bits)

    oa, ob = ordered(a), ordered(b)
    same_sign = (oa >= 0) == (ob >= 0)
    near = np.abs(np.where(same_sign, oa - ob, 0)).astype(np.float64)
    far = np.abs(oa.astype(np.float64)) + np.abs(ob.astype(np.float64))
    distance = np.where(same_sign, near, far)
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    return np.where(nan_a & nan_b, 0.0, np.where(nan_a != nan_b, np.inf, distance))
