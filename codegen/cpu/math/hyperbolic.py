"""tanh and logistic: float32 tanh by a rational fit, the rest through exp and expm1."""

from __future__ import annotations

from llvmlite import ir

from .emitter import FloatEmitter
from .exp_log import exp, expm1_moderate


# float32 tanh(a) = (a + a**3 P(a*a)) / Q(a*a) on [0, 9], Q(0) = 1: a rational minimax fit of
# tanh(a)/a (relative error 7e-9, a tenth of an f32 ulp; fitted by iteratively reweighted
# least squares against mpmath).  One division and ten FMAs instead of expm1's reduction:
# twice as fast, and gelu runs at memory speed.
_TANH_F32_P = (0.1308574080467224, 0.003105852520093322, 1.1173134225828107e-05,
               -2.029565138172984e-08, 5.308736089615351e-11, -8.560196280114896e-14)
_TANH_F32_Q = (0.46419069170951843, 0.0245028305798769, 0.0002548846823628992)
_TANH_F32_FIT_END = 9.0
_TANH_F32_ONE = 9.0109  # atanh(1 - 2**-25): tanh rounds to 1 from here on


def tanh(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """Hyperbolic tangent.  Max error vs NumPy: 4 ulp (f32), 3 ulp (f64).

    float32 (and the half types, computed in float32): the rational fit above.  float64:
    t / (t + 2) with t = expm1(2|x|).  Exactly +-1 where tanh rounds to 1, and never
    outside [-1, 1]; the sign (of zero too) comes from x; NaN propagates.
    """
    e = FloatEmitter(b, x.type)
    a = e.abs(x)
    if x.type == ir.FloatType():
        # Tiny a: a**3 underflows and the quotient is a / 1, exactly a.  NaN stays NaN.
        clamped = e.select(e.gt(a, e.c(_TANH_F32_FIT_END)), e.c(_TANH_F32_FIT_END), a)
        s = e.mul(clamped, clamped)
        numerator = e.fma(e.mul(clamped, s), e.horner(s, list(_TANH_F32_P)), clamped)
        result = e.div(numerator, e.horner(s, [1.0, *_TANH_F32_Q]))
        # Near its end the fit overshoots 1, but below _TANH_F32_ONE tanh rounds to at most
        # the float below 1: so a tanh never leaves [-1, 1] (arccos(tanh(x)) is a number).
        below_one = e.c(1.0 - 2.0 ** -24)
        result = e.select(e.gt(result, below_one), below_one, result)
        return e.copysign(e.select(e.gt(a, e.c(_TANH_F32_ONE)), e.c(1.0), result), x)
    clamped = e.select(e.gt(a, e.c(e.p.tanh_one)), e.c(e.p.tanh_one), a)
    t = expm1_moderate(e, e.add(clamped, clamped))  # 2 * tanh_one <= expm1_big
    result = e.div(t, e.add(t, e.c(2.0)))
    # NaN propagates; +-0 and denormals are their own tanh (t / (t + 2) would lose them).
    tiny = e.lt(a, e.c(2.0 ** -(e.p.mantissa_bits + 2)))
    return e.copysign(e.select(b.or_(tiny, e.isnan(x)), a, result), x)


def logistic(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """1 / (1 + e**-x) computed as the interpreter does, from e = exp(-|x|) (no overflow).

    Max error vs NumPy (on the interpreter's formula): 2 ulp (f32), 2 ulp (f64).
    """
    e = FloatEmitter(b, x.type)
    ex = exp(b, b.fneg(e.abs(x)))
    denominator = e.add(e.c(1.0), ex)
    positive = b.fcmp_ordered(">=", x, e.c(0.0))
    return e.select(positive, e.div(e.c(1.0), denominator), e.div(ex, denominator))
