"""What every math family shares: float formats, the arithmetic emitter, f64 tables,
and the rounding of float32 results that were computed in float64."""

from __future__ import annotations

import contextlib
import contextvars
import math
from dataclasses import dataclass
from typing import Iterator

from llvmlite import ir

from ..scalars import F32, F64, f64_to_f32_round_to_odd, fabs, float_unary, fma, fmuladd, intrinsic


@dataclass(frozen=True)
class Precision:
    """Constants of one floating-point format."""

    int_type: ir.IntType
    mantissa_bits: int
    bias: int
    exp_degree: int       # Taylor degree for e**r, |r| <= ln2/2
    log_terms: int        # atanh series terms for log, |s| <= 0.1716
    exp_low: float        # exp(x) is 0 below this
    exp_high: float       # exp(x) is inf above this
    ln2_hi: float         # ln2 = ln2_hi + ln2_lo; k * ln2_hi is exact for the k that occur
    ln2_lo: float
    tanh_one: float       # tanh(|x|) rounds to 1 above this
    expm1_big: float      # expm1(x) == exp(x) in this format above this


PRECISION = {
    F64: Precision(ir.IntType(64), 52, 1023, 13, 10, -746.0, 710.0,
                   6.93147180369123816490e-01, 1.90821492927058770002e-10, 20.0, 40.0),
    F32: Precision(ir.IntType(32), 23, 127, 7, 4, -104.0, 89.0,
                   0.693145751953125, 1.428606765330187045e-06, 10.0, 20.0),
}


class FloatEmitter:
    """Arithmetic shorthand on one float type."""

    def __init__(self, b: ir.IRBuilder, t: ir.Type) -> None:
        self.b = b
        self.t = t
        self.p = PRECISION[t]

    def c(self, value: float) -> ir.Constant:
        return ir.Constant(self.t, value)

    def ci(self, value: int) -> ir.Constant:
        return ir.Constant(self.p.int_type, value)

    def add(self, x, y):
        return self.b.fadd(x, y)

    def sub(self, x, y):
        return self.b.fsub(x, y)

    def mul(self, x, y):
        return self.b.fmul(x, y)

    def div(self, x, y):
        return self.b.fdiv(x, y)

    def select(self, cond, x, y):
        return self.b.select(cond, x, y)

    def lt(self, x, y):
        return self.b.fcmp_ordered("<", x, y)

    def gt(self, x, y):
        return self.b.fcmp_ordered(">", x, y)

    def eq(self, x, y):
        return self.b.fcmp_ordered("==", x, y)

    def isnan(self, x):
        return self.b.fcmp_unordered("uno", x, x)

    def abs(self, x):
        return self.b.call(fabs(self.b.module, self.t), [x])

    def rint(self, x):
        return self.b.call(float_unary(self.b.module, "rint", self.t), [x])

    def copysign(self, magnitude, sign):
        fn = intrinsic(self.b.module, f"llvm.copysign.{'f32' if self.t == F32 else 'f64'}",
                       self.t, [self.t, self.t])
        return self.b.call(fn, [magnitude, sign])

    def fma(self, x, y, z):
        return self.b.call(fma(self.b.module, self.t), [x, y, z])

    def two_sum(self, x, y):
        """(s, err) with s = fl(x + y) and s + err == x + y exactly (Knuth: no ordering needed)."""
        s = self.add(x, y)
        virtual_y = self.sub(s, x)
        err = self.add(self.sub(x, self.sub(s, virtual_y)), self.sub(y, virtual_y))
        return s, err

    def fast_two_sum(self, x, y):
        """(s, err) with s + err == x + y exactly, for |x| >= |y| (or x == 0)."""
        s = self.add(x, y)
        return s, self.sub(y, self.sub(s, x))

    def bits(self, x):
        return self.b.bitcast(x, self.p.int_type)

    def from_bits(self, i):
        return self.b.bitcast(i, self.t)

    def horner(self, x, coefficients: list[float]):
        """c0 + x*(c1 + x*(c2 + ...)), highest degree last in ``coefficients``."""
        # fmuladd: one FMA per term where the host has FMA (half the instructions of
        # multiply-then-add, and one rounding instead of two).
        muladd = fmuladd(self.b.module, self.t)
        acc = self.c(coefficients[-1])
        for coefficient in reversed(coefficients[:-1]):
            acc = self.b.call(muladd, [x, acc, self.c(coefficient)])
        return acc

    def pow2(self, k):
        """2**k as a float, for integer k in the normal exponent range."""
        shifted = self.b.shl(self.b.add(k, self.ci(self.p.bias)), self.ci(self.p.mantissa_bits))
        return self.from_bits(shifted)

    def scale(self, x, k):
        """x * 2**k for |k| up to twice the exponent range, rounding once (denormals too)."""
        half = self.b.ashr(k, self.ci(1))
        return self.mul(self.mul(x, self.pow2(half)), self.pow2(self.b.sub(k, half)))

    def reduce_ln2(self, x):
        """(r, k) with x = k*ln2 + r, |r| <= ln2/2; x must be finite and in the exp range."""
        kf = self.rint(self.mul(x, self.c(1 / math.log(2))))
        r = self.sub(self.sub(x, self.mul(kf, self.c(self.p.ln2_hi))), self.mul(kf, self.c(self.p.ln2_lo)))
        return r, self.b.fptosi(kf, self.p.int_type)

    def sanitize(self, x, low: float, high: float):
        """x clamped to [low, high] with NaN replaced by 0 (fptosi of NaN is poison)."""
        clamped = self.select(self.lt(x, self.c(low)), self.c(low),
                              self.select(self.gt(x, self.c(high)), self.c(high), x))
        return self.select(self.isnan(x), self.c(0.0), clamped)


# -- float32 results computed in float64 -------------------------------------------

_NARROWING = contextvars.ContextVar("jitflow_math_narrowing_to_half", default=False)


@contextlib.contextmanager
def narrowing_to_half(active: bool) -> Iterator[None]:
    """Within: the f32 results computed in f64 will be rounded on to f16 by the caller."""
    token = _NARROWING.set(active)
    try:
        yield
    finally:
        _NARROWING.reset(token)


def to_f32(b: ir.IRBuilder, value: ir.Value) -> ir.Value:
    """An f64 result rounded to f32.  When the caller narrows on to f16, LLVM folds the two
    roundings into one f64 -> f16 fptrunc (exact: 24 >= 2*11 + 2), which x86 lowers to a
    call of ``__truncdfhf2`` that the JIT does not resolve; rounding to odd first (bit
    operations the fold cannot see through) gives the same f16 result without it."""
    if _NARROWING.get():
        return f64_to_f32_round_to_odd(b, value)
    return b.fptrunc(value, F32)


def constant_table(module: ir.Module, name: str, values: list[float]) -> ir.GlobalVariable:
    """A private constant array of doubles named ``name``, emitted once per LLVM module."""
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    array = ir.ArrayType(F64, len(values))
    table = ir.GlobalVariable(module, array, name=name)
    table.global_constant = True
    table.linkage = "private"
    table.initializer = ir.Constant(array, values)
    return table
