"""Accuracy of the vectorizable math functions (codegen/cpu/math/) over whole domains.

float32: every 997th bit pattern (denormals, infinities and NaNs included) against
NumPy's float64 result rounded to float32.  float64: random bit patterns plus dense
samples of the interesting ranges against NumPy's float64 result.  The bounds
asserted are the ones written in each function's docstring.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import jitflow
from jitflow import runtime
from jitflow.codegen.cpu import math as vmath
from jitflow.codegen.cpu.math import inverse_trig, powers, trig
from jitflow.ir import DType, Module, TensorType

from codegen_util import ulp_distance


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
    n = 500_000
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


BINARY_REFERENCES = {"power": np.power, "atan2": np.arctan2, "remainder": np.fmod}


# float64 remainder is libm's fmod, as NumPy's: its special values are checked below, and
# sweeping random bit patterns through two exact, slow fmods would only cost seconds.
_BINARY_CASES = [(opcode, dtype) for opcode in sorted(BINARY_REFERENCES) for dtype in (np.float32, np.float64)
                 if (opcode, dtype) != ("remainder", np.float64)]


@pytest.mark.parametrize("opcode, dtype", _BINARY_CASES, ids=lambda v: v if isinstance(v, str) else np.dtype(v).name)
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


def test_trig_reduction_constant_matches_mpmath():
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(450):
        assert trig._TWO_OVER_PI == int(mpmath.floor(2 / mpmath.pi * mpmath.mpf(2) ** trig._TWO_OVER_PI_BITS))


def test_float32_trig_power_atan2_cbrt_remainder_loops_are_vectorized():
    module = Module("vector")
    b = module.builder("main", entry=True)
    x = b.parameter(TensorType(DType.F32, (4096,)))
    angle = b.emit("atan2", b.emit("sine", x), b.emit("cbrt", b.emit("tan", x)))
    b.set_root(b.emit("remainder", b.emit("power", angle, b.emit("cosine", x)), x))
    optimized = runtime.compile(module).llvm_ir_optimized
    assert re.search(r"<(8|16) x (float|double)>", optimized)
    assert not re.search(r"call \w* ?(float|double) @(?!llvm\.)", optimized)  # no libm call


@pytest.mark.parametrize("opcode", ["sine", "cosine", "tan", "cbrt", "power", "atan2", "remainder"])
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
    with np.errstate(invalid="ignore"):
        want = reference(*(o.astype(np.float64) for o in operands)).astype(np.float16)
    assert ulp_distance(got.astype(np.float32), want.astype(np.float32)).max() <= 2 ** 13  # 1 f16 ulp


# -- float64 trig, power, atan2: exact references, tables, vectorization ------------------

def _compile_unary(opcode: str, dtype: np.dtype, size: int):
    module = Module(opcode)
    b = module.builder("main", entry=True)
    b.set_root(b.emit(opcode, b.parameter(TensorType(DType.from_numpy(dtype), (size,)))))
    return runtime.compile(module)


# The double nearest a multiple of pi/2 (2**-61 away, the hardest reduction), its negation,
# doubles rounded from k * pi/2 for k across the range, and extremes.
_HARD_TRIG_INPUTS = [6381956970095103 * 2.0 ** 797, -6381956970095103 * 2.0 ** 797,
                     1.7976931348623157e308, 2.0 ** 1023, 1e300, 1e22, 2.0 ** 60, 1e-300, 5e-324, 0.7853981633974483,
                     0.7853981633974484, 2.356194490192345, 8.98846567431158e307, 3.0 * 2 ** 1000]


def test_float64_trig_is_within_one_ulp_of_the_exact_value_at_the_hardest_reductions():
    """Against mpmath (NumPy's own cos/tan are 8 and 14 ulp off at the first input)."""
    mpmath = pytest.importorskip("mpmath")
    rng = np.random.default_rng(7)
    with mpmath.workdps(60):
        near = [float(k * mpmath.pi / 2) for k in
                [int(v) for v in rng.integers(1, 2 ** 62, 60)] + [2 ** 200 + 3, 2 ** 500 + 11, 2 ** 1020 // 3]]
    x = np.array(_HARD_TRIG_INPUTS + near)
    x = np.concatenate([x, np.nextafter(x, 0), -x])
    references = {"sine": mpmath.sin, "cosine": mpmath.cos, "tan": mpmath.tan}
    for opcode, exact in references.items():
        got = _compile_unary(opcode, np.dtype(np.float64), x.size)(x)
        with mpmath.workdps(1000):  # the reduction of 2**1023 needs ~1000 bits of pi
            want = np.array([float(exact(mpmath.mpf(float(v)))) for v in x])  # float() rounds correctly
        errors = ulp_distance(got, want)
        worst = int(np.argmax(errors))
        assert errors[worst] <= 1, f"{opcode}({x[worst]!r}) = {got[worst]!r}, exact: {want[worst]!r}"


def test_float64_trig_table_rows_sum_to_the_scaled_two_over_pi():
    mpmath = pytest.importorskip("mpmath")
    words = np.array(trig._f64_table_words()).reshape(-1, 4)
    assert words.shape[0] == trig._F64_TABLE_ENTRIES
    # Fixed grids: t0 on 2**-51, t1 on 2**-104, t2 on 2**-157 (what keeps the sums exact).
    for column, grid in enumerate(trig._F64_TABLE_GRIDS):
        scaled = words[:, column] * 2.0 ** grid
        assert np.all(scaled == np.round(scaled)), f"word {column} is off its 2**-{grid} grid"
    with mpmath.workdps(450):
        two_over_pi = 2 / mpmath.pi
        for row in [0, 1, 52, 53, 300, 850, 1024]:
            exponent = row + trig._F64_TABLE_FIRST_EXPONENT
            exact = mpmath.fmod(two_over_pi * mpmath.mpf(2) ** exponent, 4)
            total = sum(mpmath.mpf(float(w)) for w in words[row])
            assert abs(total - exact) < mpmath.mpf(2) ** -205, row


def test_atan_and_log_tables_match_mpmath():
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(60):
        for j, (hi, lo) in enumerate(inverse_trig._ATAN_EIGHTHS):
            assert abs(mpmath.mpf(hi) + mpmath.mpf(lo) - mpmath.atan(mpmath.mpf(j) / 8)) < mpmath.mpf(2) ** -105
        for constant, (hi, lo) in ((mpmath.pi, inverse_trig._PI), (mpmath.pi / 2, inverse_trig._HALF_PI)):
            assert abs(mpmath.mpf(hi) + mpmath.mpf(lo) - constant) < mpmath.mpf(2) ** -105
        inverses, log_hi, log_lo = powers._log_table()
        assert 1.0 in inverses and log_hi[inverses.index(1.0)] == 0.0
        for inverse, hi, lo in zip(inverses, log_hi, log_lo):
            assert abs(mpmath.mpf(hi) + mpmath.mpf(lo) + mpmath.log(mpmath.mpf(inverse))) < mpmath.mpf(2) ** -104


def _binary(opcode: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    module = Module(opcode)
    b = module.builder("main", entry=True)
    t = TensorType(DType.from_numpy(x.dtype), x.shape)
    b.set_root(b.emit(opcode, b.parameter(t), b.parameter(t)))
    return runtime.compile(module)(x, y)


def test_float64_power_and_atan2_are_within_one_ulp_of_the_exact_value():
    """Against mpmath where results are hardest: large |y log x| (near overflow and into the
    denormals), x near 1 with huge y, and atan2 near the octant boundaries."""
    mpmath = pytest.importorskip("mpmath")
    rng = np.random.default_rng(3)
    n = 150
    base = np.exp(rng.uniform(-5, 5, n))
    x = np.concatenate([base, 1 + rng.uniform(-1e-9, 1e-9, n), -rng.uniform(0.5, 2, n)])
    y = np.concatenate([rng.uniform(-745, 709, n) / np.log(base),  # denormal ... near-overflow results
                        rng.uniform(-1e11, 1e11, n),                # x near 1, huge y
                        rng.integers(-1000, 1000, n).astype(np.float64)])  # negative x, integer y
    got = _binary("power", x, y)
    with mpmath.workdps(50):  # float() of an mpf rounds correctly, to denormals and inf too
        want = np.array([float(mpmath.power(mpmath.mpf(a), mpmath.mpf(b))) for a, b in zip(x, y)])
    errors = ulp_distance(got, want)
    worst = int(np.argmax(errors))
    assert errors[worst] <= 1, f"power({x[worst]!r}, {y[worst]!r}) = {got[worst]!r}, exact: {want[worst]!r}"

    angles = rng.uniform(-np.pi, np.pi, 400)
    angles[:16] = np.arange(-8, 8) * np.pi / 4  # octant boundaries
    radius = np.exp(rng.uniform(-600, 600, angles.size))
    ya, xa = radius * np.sin(angles), radius * np.cos(angles)
    got = _binary("atan2", ya, xa)
    with mpmath.workdps(50):
        want = np.array([float(mpmath.atan2(mpmath.mpf(a), mpmath.mpf(b))) for a, b in zip(ya, xa)])
    errors = ulp_distance(got, want)
    worst = int(np.argmax(errors))
    assert errors[worst] <= 1, f"atan2({ya[worst]!r}, {xa[worst]!r}) = {got[worst]!r}, exact: {want[worst]!r}"


_POWER_SPECIALS = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0, -3.0, 1.5, -1.5,
                   5e-324, -5e-324, 1.7976931348623157e308, -1.7976931348623157e308, 2.0 ** 53, 2.0 ** 53 + 2,
                   9007199254740993.0, 0.9999999999999999, 1.0000000000000002, 1e-308, 1024.0, -1075.0]


@pytest.mark.parametrize("opcode", sorted(BINARY_REFERENCES))
def test_float64_power_and_atan2_special_values_match_numpy_bit_for_bit(opcode):
    specials = np.array(_POWER_SPECIALS)
    x, y = np.repeat(specials, specials.size), np.tile(specials, specials.size)
    got = _binary(opcode, x, y)
    with np.errstate(all="ignore"):
        want = BINARY_REFERENCES[opcode](x, y)
    exactly = ~np.isfinite(want) | (want == 0) | (np.abs(want) == 1) | (np.abs(x) == 1) | (y == 0)
    np.testing.assert_array_equal(got[exactly], want[exactly])  # NaNs, infinities, zeros, ones
    np.testing.assert_array_equal(np.signbit(got[exactly & ~np.isnan(want)]),
                                  np.signbit(want[exactly & ~np.isnan(want)]))
    assert ulp_distance(got, want).max() <= documented_bounds(opcode)[1]


def test_jitted_float64_sine_loop_is_vectorized_without_libm():
    import jitflow

    sine = jitflow.jit(lambda x: np.sin(x))
    x = np.linspace(-1e6, 1e6, 4099)
    executable = sine.compile(x)
    optimized = executable.llvm_ir_optimized
    assert re.search(r"<(4|8) x double>", optimized)
    assert not re.search(r"@(sin|__sin\w*)\b", optimized)
    assert not re.search(r"call \w* ?(<\d+ x )?double>? @(?!llvm\.)", optimized)
    np.testing.assert_array_max_ulp(sine(x), np.sin(x), maxulp=1)


def test_float64_trig_power_atan2_loops_are_vectorized():
    module = Module("vector")
    b = module.builder("main", entry=True)
    x = b.parameter(TensorType(DType.F64, (4096,)))
    angle = b.emit("atan2", b.emit("sine", x), b.emit("tan", x))
    b.set_root(b.emit("power", angle, b.emit("cosine", x)))
    optimized = runtime.compile(module).llvm_ir_optimized
    assert re.search(r"<(4|8) x double>", optimized)
    assert not re.search(r"call \w* ?(<\d+ x )?double>? @(?!llvm\.)", optimized)  # no libm call


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tanh_never_leaves_minus_one_to_one(dtype):
    # Every float32 in [8, 10] (where the float32 fit ends and tanh reaches 1), and as many
    # float64 across [8, 20]: |tanh| <= 1, so arccos(tanh(x)) is a number as in NumPy.
    if dtype == np.float32:
        bits = np.arange(np.float32(8.0).view(np.int32), np.float32(10.0).view(np.int32) + 1)
        x = bits.astype(np.int32).view(np.float32)
    else:
        x = np.linspace(8.0, 20.0, 1_000_001)
    x = np.concatenate([x, -x])
    y = jitflow.jit(np.tanh)(x)
    assert np.abs(y).max() <= 1.0
    at_nine = np.array([9.0, -9.0], dtype)
    np.testing.assert_allclose(jitflow.jit(lambda v: np.arccos(np.tanh(v)))(at_nine),
                               np.arccos(np.tanh(at_nine)), rtol=1e-3)
