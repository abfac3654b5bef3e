"""Accuracy of the vectorizable math functions (codegen/cpu/math.py) over whole domains.

float32: every 997th bit pattern (denormals, infinities and NaNs included) against
NumPy's float64 result rounded to float32.  float64: random bit patterns plus dense
samples of the interesting ranges against NumPy's float64 result.  The bounds
asserted are the ones written in each function's docstring.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from jitflow import runtime
from jitflow.codegen.cpu import math as vmath
from jitflow.ir import DType, Module, TensorType


def _logistic(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


REFERENCES = {"exponential": np.exp, "exponential-minus-one": np.expm1, "log": np.log,
              "log-plus-one": np.log1p, "tanh": np.tanh, "logistic": _logistic,
              "sine": np.sin, "cosine": np.cos, "tan": np.tan, "cbrt": np.cbrt}
SPECIALS = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 5e-324, -5e-324, 1e-45, 88.72, 709.78, -745.1,
            np.pi / 2, np.pi, 3 * np.pi / 2, 1e5, 1e9, 1e22, 3.4e38, -3.4e38, 1.7e308]


def documented_bounds(opcode: str) -> tuple[int, int]:
    doc = {**vmath.VECTOR_MATH, **vmath.VECTOR_MATH_BINARY}[opcode].__doc__
    match = re.search(r"Max error vs NumPy[^:]*: (\d+) ulp\s*\(f32[^)]*\),\s*(\d+) ulp\s*\(f64\)", doc)
    assert match, f"{opcode}: the docstring must state its bounds"
    return int(match.group(1)), int(match.group(2))


def domain(dtype: np.dtype) -> np.ndarray:
    if dtype == np.float32:
        sweep = np.arange(0, 2 ** 32, 997, dtype=np.uint64).astype(np.uint32).view(np.float32)
    else:
        rng = np.random.default_rng(0)
        sweep = np.concatenate([
            rng.integers(0, 2 ** 64, 1_000_000, dtype=np.uint64).view(np.float64),
            rng.uniform(-40, 40, 300_000), rng.uniform(-1e-3, 1e-3, 100_000),
            np.exp(rng.uniform(-745, 709, 200_000)), -np.exp(rng.uniform(-745, 709, 100_000))])
    with np.errstate(over="ignore"):
        return np.concatenate([sweep.astype(dtype), np.array(SPECIALS).astype(dtype)])


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


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("opcode", sorted(REFERENCES))
def test_max_ulp_error_is_the_documented_bound(opcode, dtype):
    x = domain(np.dtype(dtype))
    module = Module("math")
    b = module.builder("main", entry=True)
    b.set_root(b.emit(opcode, b.parameter(TensorType(DType.from_numpy(dtype), x.shape))))
    got = runtime.compile(module)(x)
    with np.errstate(all="ignore"):
        want = REFERENCES[opcode](x.astype(np.float64)).astype(dtype)
    errors = ulp_distance(got, want)
    worst = int(np.argmax(errors))
    bound = documented_bounds(opcode)[0 if dtype == np.float32 else 1]
    assert errors[worst] <= bound, f"{opcode}({x[worst]!r}) = {got[worst]!r}, NumPy: {want[worst]!r}"
    zeros = want == 0
    np.testing.assert_array_equal(np.signbit(got[zeros]), np.signbit(want[zeros]), err_msg="sign of zero")


def test_math_loops_are_vectorized():
    module = Module("vector")
    b = module.builder("main", entry=True)
    x = b.parameter(TensorType(DType.F32, (4096,)))
    b.set_root(b.tanh(b.exponential(b.log(x))))
    optimized = runtime.compile(module).llvm_ir_optimized
    assert re.search(r"<(8|16) x float>", optimized)
    assert "call float @" not in optimized  # no scalar libm call in the loop


def _power_operands(dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Random bit-pattern pairs, moderate ranges, integer exponents and every pair of specials."""
    rng = np.random.default_rng(1)
    n = 1_000_000
    width = np.uint32 if dtype == np.float32 else np.uint64
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 3.0, -3.0,
                         1e-45, -1e-45, 3.4e38, -3.4e38, 0.9999999, 1.0000001, 16777216.0, 16777217.0])
    with np.errstate(over="ignore"):
        specials = specials.astype(dtype)
    bits = lambda: rng.integers(0, np.iinfo(width).max, n, dtype=width, endpoint=True).view(dtype)
    x = np.concatenate([bits(), rng.uniform(0, 10, n).astype(dtype), rng.uniform(-10, 10, n).astype(dtype),
                        np.repeat(specials, len(specials))])
    y = np.concatenate([bits(), rng.uniform(-40, 40, n).astype(dtype),
                        rng.integers(-30, 30, n).astype(dtype), np.tile(specials, len(specials))])
    return x, y


BINARY_REFERENCES = {"power": np.power, "atan2": np.arctan2}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("opcode", sorted(BINARY_REFERENCES))
def test_binary_max_ulp_error_is_the_documented_bound(opcode, dtype):
    x, y = _power_operands(np.dtype(dtype))
    module = Module(opcode)
    b = module.builder("main", entry=True)
    t = TensorType(DType.from_numpy(dtype), x.shape)
    b.set_root(b.emit(opcode, b.parameter(t), b.parameter(t)))
    got = runtime.compile(module)(x, y)
    with np.errstate(all="ignore"):
        want = BINARY_REFERENCES[opcode](x.astype(np.float64), y.astype(np.float64)).astype(dtype)
    errors = ulp_distance(got, want)
    worst = int(np.argmax(errors))
    bound = documented_bounds(opcode)[0 if dtype == np.float32 else 1]
    assert errors[worst] <= bound, f"{opcode}({x[worst]!r}, {y[worst]!r}) = {got[worst]!r}, NumPy: {want[worst]!r}"
    zeros = want == 0
    np.testing.assert_array_equal(np.signbit(got[zeros]), np.signbit(want[zeros]), err_msg="sign of zero")


def test_float32_trig_reduction_table_matches_mpmath():
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(300):
        assert vmath._TWO_OVER_PI == int(mpmath.floor(2 / mpmath.pi * mpmath.mpf(2) ** vmath._TWO_OVER_PI_BITS))


def test_float32_trig_power_atan2_cbrt_loops_are_vectorized():
    module = Module("vector")
    b = module.builder("main", entry=True)
    x = b.parameter(TensorType(DType.F32, (4096,)))
    angle = b.emit("atan2", b.emit("sine", x), b.emit("cbrt", b.emit("tan", x)))
    b.set_root(b.emit("power", angle, b.emit("cosine", x)))
    optimized = runtime.compile(module).llvm_ir_optimized
    assert re.search(r"<(8|16) x (float|double)>", optimized)
    assert not re.search(r"call \w* ?(float|double) @(?!llvm\.)", optimized)  # no libm call


@pytest.mark.parametrize("opcode", ["sine", "cosine", "tan", "cbrt", "power", "atan2"])
def test_float16_results_computed_in_float64_need_no_runtime_library(opcode):
    """LLVM folds f64 -> f32 -> f16 into one fptrunc, a __truncdfhf2 call on x86: avoided."""
    x = np.linspace(-4, 4, 301).astype(np.float16)
    binary = opcode in BINARY_REFERENCES
    module = Module("half")
    b = module.builder("main", entry=True)
    t = TensorType(DType.F16, x.shape)
    params = [b.parameter(t) for _ in range(2 if binary else 1)]
    b.set_root(b.emit(opcode, *params))
    executable = runtime.compile(module)
    assert "__truncdfhf2" not in executable.asm
    y = np.abs(x) + np.float16(0.5)
    operands = (y, x) if binary else (x,)
    got = executable(*operands)
    reference = {**REFERENCES, **BINARY_REFERENCES}[opcode]
    want = reference(*(o.astype(np.float64) for o in operands)).astype(np.float16)
    assert ulp_distance(got.astype(np.float32), want.astype(np.float32)).max() <= 2 ** 13  # 1 f16 ulp
