"""Elementwise ops: unary and binary arithmetic, compare, select, clamp, convert, bitcast-convert."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ...errors import IRError
from ..opdef import AttrKind, AttrSpec, Cost, OpDef, Trait, dtype_kinds, register_op
from ..types import DType, TensorType
from .common import (as_array, check_kinds, declared_array, is_float, is_half, same_arrays, shape_text,
                     traits_of)

ELEMENTWISE = frozenset({Trait.ELEMENTWISE})
# add, multiply, maximum, minimum, and, or, xor: a reducer of one of them may regroup freely.
COMMUTATIVE_ASSOCIATIVE = frozenset({Trait.ELEMENTWISE, Trait.COMMUTATIVE, Trait.ASSOCIATIVE})
DIRECTIONS = ("EQ", "NE", "LT", "LE", "GT", "GE")
COMPARISON_TYPES = ("FLOAT", "TOTALORDER", "SIGNED", "UNSIGNED")


def _declare_unary(opcode: str, kinds: str, fn: Callable[[np.ndarray], np.ndarray], doc: str,
                   cost: Cost, result: DType | None = None) -> None:
    def infer(types, attrs, called, declared):
        operand = as_array(types[0], "the operand")
        check_kinds(operand, kinds, f"{opcode}'s operand")
        return TensorType(result or operand.dtype, operand.shape)

    def evaluate(inst, args, call):
        x = args[0]
        out_dtype = inst.type.dtype.numpy
        with np.errstate(all="ignore"):
            if is_half(x.dtype):
                return np.asarray(fn(x.astype(np.float32))).astype(out_dtype)
            return np.asarray(fn(x)).astype(out_dtype, copy=False)

    register_op(OpDef(opcode, (1, 1), infer, evaluate, traits=ELEMENTWISE, doc=doc, cost=cost))


def _declare_binary(opcode: str, kinds: str, fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
                    doc: str, cost: Cost, commutative_associative: bool = False) -> None:
    def infer(types, attrs, called, declared):
        operand = same_arrays(types)
        check_kinds(operand, kinds, f"{opcode}'s operands")
        return operand

    def evaluate(inst, args, call):
        x, y = args
        with np.errstate(all="ignore"):
            if is_half(x.dtype):
                return np.asarray(fn(x.astype(np.float32), y.astype(np.float32))).astype(x.dtype)
            return np.asarray(fn(x, y)).astype(x.dtype, copy=False)

    register_op(OpDef(opcode, (2, 2), infer, evaluate,
                      traits=COMMUTATIVE_ASSOCIATIVE if commutative_associative else ELEMENTWISE,
                      doc=doc, cost=cost))


def _sign(x: np.ndarray) -> np.ndarray:
    # XLA: sign(+-0) is +-0 and sign(NaN) is NaN; np.sign loses the sign of zero.
    return np.where(x == 0, x, np.sign(x)) if x.dtype.kind == "f" else np.sign(x)


def _logistic(x: np.ndarray) -> np.ndarray:
    # e = exp(-|x|) never overflows; e / (1 + e) keeps tiny results for x << 0
    # (1 - 1 / (1 + e) would round them to 0).
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _round_half_away(x: np.ndarray) -> np.ndarray:
    whole = np.trunc(x)
    fraction = x - whole  # exact in floating point
    # Only add when rounding away: whole + 0 would turn -0.0 (and -0.4 -> -0.0) into +0.0.
    return np.where(np.abs(fraction) >= 0.5, whole + np.sign(x), whole).astype(x.dtype)


def _popcnt(x: np.ndarray) -> np.ndarray:
    # np.bitwise_count counts the bits of |x|; XLA counts the two's-complement bits.
    return np.bitwise_count(x.view(_unsigned(x.dtype)))


def _bitwise_not(x: np.ndarray) -> np.ndarray:
    return np.logical_not(x) if x.dtype == np.bool_ else np.invert(x)


def _int_divide(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if is_float(x.dtype):
        return np.divide(x, y)
    safe = np.where(y == 0, 1, y).astype(x.dtype)
    quotient = np.floor_divide(x, safe)
    # floor -> truncate toward zero
    inexact = (quotient * safe) != x
    quotient = np.where(inexact & ((x < 0) != (safe < 0)), quotient + 1, quotient).astype(x.dtype)
    return np.where(y == 0, np.array(-1).astype(x.dtype), quotient)


def _int_remainder(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if is_float(x.dtype):
        return np.fmod(x, y)
    quotient = _int_divide(x, y)
    remainder = (x - quotient * np.where(y == 0, 0, y).astype(x.dtype)).astype(x.dtype)
    return np.where(y == 0, x, remainder)


def _power(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if is_float(x.dtype):
        return np.power(x, y)
    # Integer power by repeated squaring (wrapping); a negative exponent gives 1
    # for base 1 and 0 otherwise, as XLA's elemental emitter does (even for base -1).
    exponent = np.where(y < 0, 0, y).astype(np.uint64)
    base = x.copy()
    result = np.ones_like(x)
    while np.any(exponent):
        odd = (exponent & 1).astype(bool)
        result = np.where(odd, result * base, result).astype(x.dtype)
        base = (base * base).astype(x.dtype)
        exponent = exponent >> np.uint64(1)
    if x.dtype.kind == "i":
        result = np.where(y < 0, (x == 1).astype(x.dtype), result)
    return result.astype(x.dtype)


def _unsigned(dtype: np.dtype) -> np.dtype:
    return np.dtype(f"u{dtype.itemsize}")


def _shift_amount(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    amount = y.view(_unsigned(y.dtype)) if y.dtype.kind == "i" else y
    too_far = amount >= x.dtype.itemsize * 8
    return np.where(too_far, 0, amount).astype(_unsigned(x.dtype)), too_far


def _shift_left(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    amount, too_far = _shift_amount(x, y)
    shifted = np.left_shift(x.view(_unsigned(x.dtype)), amount).view(x.dtype)
    return np.where(too_far, np.zeros_like(x), shifted)


def _shift_right_logical(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    amount, too_far = _shift_amount(x, y)
    shifted = np.right_shift(x.view(_unsigned(x.dtype)), amount).view(x.dtype)
    return np.where(too_far, np.zeros_like(x), shifted)


def _shift_right_arithmetic(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    amount, too_far = _shift_amount(x, y)
    if x.dtype.kind == "u":  # arithmetic shift of an unsigned value: sign bit from the top bit
        signed = x.view(np.dtype(f"i{x.dtype.itemsize}"))
        return _shift_right_arithmetic(signed, y).view(x.dtype)
    shifted = np.right_shift(x, amount.astype(x.dtype))
    fill = np.where(x < 0, -1, 0).astype(x.dtype)
    return np.where(too_far, fill, shifted)


def _declare_elementwise_ops() -> None:
    F, I, N, PI = "f", "su", "suf", "psu"
    unary = [
        ("abs", "sf", np.abs, "Absolute value; abs(INT_MIN) wraps to INT_MIN.", Cost.CHEAP),
        ("negate", N, np.negative, "Negation; wraps for integers.", Cost.CHEAP),
        ("sign", "sf", _sign, "-1, 0 or 1 (keeps the sign of zero; NaN for NaN).", Cost.NORMAL),
        ("floor", F, np.floor, "Round toward -inf.", Cost.NORMAL),
        ("ceil", F, np.ceil, "Round toward +inf.", Cost.NORMAL),
        ("round-nearest-even", F, np.rint, "Round to nearest, ties to even.", Cost.NORMAL),
        ("round-nearest-afz", F, _round_half_away, "Round to nearest, ties away from zero.",
         Cost.NORMAL),
        ("exponential", F, np.exp, "e**x.", Cost.EXPENSIVE),
        ("exponential-minus-one", F, np.expm1, "e**x - 1, accurate near 0.", Cost.EXPENSIVE),
        ("log", F, np.log, "Natural logarithm; NaN below 0, -inf at 0.", Cost.EXPENSIVE),
        ("log-plus-one", F, np.log1p, "log(1 + x), accurate near 0.", Cost.EXPENSIVE),
        ("sqrt", F, np.sqrt, "Square root; NaN below 0.", Cost.EXPENSIVE),
        ("rsqrt", F, lambda x: 1.0 / np.sqrt(x), "1 / sqrt(x).", Cost.EXPENSIVE),
        ("cbrt", F, np.cbrt, "Cube root.", Cost.EXPENSIVE),
        ("tanh", F, np.tanh, "Hyperbolic tangent.", Cost.EXPENSIVE),
        ("logistic", F, _logistic, "1 / (1 + e**-x), computed without overflow.", Cost.EXPENSIVE),
        ("sine", F, np.sin, "Sine.", Cost.EXPENSIVE),
        ("cosine", F, np.cos, "Cosine.", Cost.EXPENSIVE),
        ("tan", F, np.tan, "Tangent.", Cost.EXPENSIVE),
        ("not", PI, _bitwise_not, "Logical not of pred, bitwise not of integers.", Cost.CHEAP),
        ("popcnt", I, _popcnt, "Number of set bits (of the two's-complement representation).",
         Cost.NORMAL),
    ]
    for opcode, kinds, fn, doc, cost in unary:
        _declare_unary(opcode, kinds, fn, doc, cost)
    _declare_unary("is-finite", F, np.isfinite, "True where x is neither inf nor NaN.", Cost.NORMAL,
                   DType.PRED)

    binary = [
        ("add", N, np.add, "x + y; wraps for integers.", Cost.CHEAP, True),
        ("subtract", N, np.subtract, "x - y; wraps for integers.", Cost.CHEAP, False),
        ("multiply", N, np.multiply, "x * y; wraps for integers.", Cost.CHEAP, True),
        ("divide", N, _int_divide,
         "x / y.  Integers truncate toward zero; x / 0 is -1 and INT_MIN / -1 is INT_MIN.",
         Cost.EXPENSIVE, False),
        ("remainder", N, _int_remainder,
         "Remainder with the sign of x (C fmod).  x % 0 is x; INT_MIN % -1 is 0.",
         Cost.EXPENSIVE, False),
        ("power", N, _power,
         "x ** y.  Integer x ** negative is 1 for x = 1, else 0 (XLA, even for x = -1).",
         Cost.EXPENSIVE, False),
        ("maximum", "p" + N, np.maximum, "Larger of x and y; NaN if either is NaN.", Cost.CHEAP, True),
        ("minimum", "p" + N, np.minimum, "Smaller of x and y; NaN if either is NaN.", Cost.CHEAP, True),
        ("atan2", F, np.arctan2, "Angle of (y=x0, x=x1), in (-pi, pi].", Cost.EXPENSIVE, False),
        ("and", PI, np.bitwise_and, "Logical/bitwise and.", Cost.CHEAP, True),
        ("or", PI, np.bitwise_or, "Logical/bitwise or.", Cost.CHEAP, True),
        ("xor", PI, np.bitwise_xor, "Logical/bitwise exclusive or.", Cost.CHEAP, True),
        ("shift-left", I, _shift_left, "x << y; 0 when y >= bit width.", Cost.NORMAL, False),
        ("shift-right-arithmetic", I, _shift_right_arithmetic,
         "x >> y filling with the sign bit; all sign bits when y >= bit width.", Cost.NORMAL, False),
        ("shift-right-logical", I, _shift_right_logical,
         "x >> y filling with zeros; 0 when y >= bit width.", Cost.NORMAL, False),
    ]
    for opcode, kinds, fn, doc, cost, commutative_associative in binary:
        _declare_binary(opcode, kinds, fn, doc, cost, commutative_associative)



def _total_order_key(x: np.ndarray) -> np.ndarray:
    """Integers ordering floats as -NaN < -inf < ... < -0 < +0 < ... < inf < NaN."""
    signed = x.view(np.dtype(f"i{x.dtype.itemsize}"))
    mask = np.array(np.iinfo(signed.dtype).max, dtype=signed.dtype)
    return np.where(signed < 0, signed ^ mask, signed)


_COMPARATORS = {"EQ": np.equal, "NE": np.not_equal, "LT": np.less, "LE": np.less_equal,
                "GT": np.greater, "GE": np.greater_equal}


def _infer_compare(types, attrs, called, declared):
    operand = same_arrays(types)
    kind = attrs.get("comparison_type")
    if kind is not None:
        expected = {"p": ("UNSIGNED",), "s": ("SIGNED",), "u": ("UNSIGNED",),
                    "f": ("FLOAT", "TOTALORDER")}[dtype_kinds(operand.dtype)]
        if kind not in expected:
            raise IRError(f"comparison type {kind} does not apply to {operand.dtype}")
    return TensorType(DType.PRED, operand.shape)


def _evaluate_compare(inst, args, call):
    x, y = args
    if inst.attrs.get("comparison_type") == "TOTALORDER":
        x, y = _total_order_key(x), _total_order_key(y)
    with np.errstate(invalid="ignore"):  # NaN operands (bf16 warns about them)
        return _COMPARATORS[inst.attrs["direction"]](x, y)


def _infer_select(types, attrs, called, declared):
    predicate = as_array(types[0], "select's predicate")
    value = same_arrays(types[1:])
    if predicate.dtype is not DType.PRED:
        raise IRError(f"select's predicate must be pred, got {predicate.dtype}")
    if predicate.shape not in ((), value.shape):
        raise IRError(f"select's predicate {shape_text(predicate)} must be a scalar or match "
                      f"{shape_text(value)}")
    return value


def _infer_clamp(types, attrs, called, declared):
    low, operand, high = (as_array(t, name) for t, name in zip(types, ("min", "operand", "max")))
    for bound, name in ((low, "min"), (high, "max")):
        if bound.dtype is not operand.dtype or bound.shape not in ((), operand.shape):
            raise IRError(f"clamp's {name} {shape_text(bound)} must be a scalar or match the "
                          f"operand {shape_text(operand)} with the same element type")
    return operand.without_layout()


def _evaluate_clamp(inst, args, call):
    low, x, high = args
    return np.minimum(np.maximum(x, low), high).astype(x.dtype)


def _infer_convert(types, attrs, called, declared):
    operand = as_array(types[0], "the operand")
    result = declared_array(declared)
    if result.shape != operand.shape:
        raise IRError(f"convert keeps the shape: {shape_text(operand)} cannot become {shape_text(result)}")
    return result.without_layout()


def _convert(x: np.ndarray, target: DType) -> np.ndarray:
    out = target.numpy
    if target is DType.PRED:
        return x != 0
    if target.is_integer and is_float(x.dtype):
        wide = x.astype(np.float64)
        info = np.iinfo(out)
        # Saturate; compare in float64 where INT64_MAX rounds up to 2**63.
        result = np.where(wide >= float(info.max), info.max, 0).astype(out)
        in_range = (wide < float(info.max)) & (wide > float(info.min))
        with np.errstate(invalid="ignore"):
            inner = np.where(in_range, wide, 0).astype(out)
        result = np.where(in_range, inner, result)
        result = np.where(wide <= float(info.min), np.array(info.min, dtype=out), result)
        return np.where(np.isnan(wide), np.zeros((), dtype=out), result).astype(out)
    with np.errstate(all="ignore"):
        return x.astype(out)


def _infer_bitcast_convert(types, attrs, called, declared):
    operand = as_array(types[0], "the operand")
    result = declared_array(declared)
    in_bits, out_bits = operand.dtype.bits, result.dtype.bits
    if DType.PRED in (operand.dtype, result.dtype):
        raise IRError("bitcast-convert does not apply to pred")
    if in_bits == out_bits:
        expected = operand.shape
    elif in_bits > out_bits:
        if in_bits % out_bits:
            raise IRError(f"cannot bitcast {operand.dtype} to {result.dtype}")
        expected = operand.shape + (in_bits // out_bits,)
    else:
        ratio = out_bits // in_bits
        if not operand.shape or operand.shape[-1] != ratio:
            raise IRError(f"bitcast-convert from {operand.dtype} to {result.dtype} needs a minor "
                          f"dimension of {ratio}, got {shape_text(operand)}")
        expected = operand.shape[:-1]
    if result.shape != expected:
        raise IRError(f"bitcast-convert of {shape_text(operand)} to {result.dtype} gives shape "
                      f"{list(expected)}, not {list(result.shape)}")
    return result.without_layout()


def _evaluate_bitcast_convert(inst, args, call):
    x = np.ascontiguousarray(args[0])
    return x.view(inst.type.dtype.numpy).reshape(inst.type.shape)


def _declare_conversion_and_selection() -> None:
    """convert, bitcast-convert, compare, select and clamp."""
    for opdef in [
        OpDef("convert", (1, 1), _infer_convert,
              lambda inst, args, call: _convert(args[0], inst.type.dtype),
              needs_declared_type=True,
              doc="Element type conversion: float->int saturates (NaN -> 0), int->int wraps, "
                  "x->pred is x != 0.",
              traits=traits_of(Trait.ELEMENTWISE), cost=Cost.CHEAP),
        OpDef("bitcast-convert", (1, 1), _infer_bitcast_convert, _evaluate_bitcast_convert,
              needs_declared_type=True,
              doc="Reinterpret the bits; a width change adds or removes a minor dimension.",
              traits=traits_of(Trait.INDEXING), cost=Cost.CHEAP),
        OpDef("compare", (2, 2), _infer_compare, _evaluate_compare,
              attrs=(AttrSpec("direction", AttrKind.ENUM, choices=DIRECTIONS),
                     AttrSpec("comparison_type", AttrKind.ENUM, required=False,
                              choices=COMPARISON_TYPES, text_name="type")),
              doc="Elementwise comparison giving pred; type=TOTALORDER orders NaNs and -0 < +0.",
              traits=traits_of(Trait.ELEMENTWISE), cost=Cost.CHEAP),
        OpDef("select", (3, 3), _infer_select,
              lambda inst, args, call: np.where(args[0], args[1], args[2]).astype(args[1].dtype),
              doc="on_true where the predicate holds, else on_false.",
              traits=traits_of(Trait.ELEMENTWISE), cost=Cost.CHEAP),
        OpDef("clamp", (3, 3), _infer_clamp, _evaluate_clamp,
              doc="clamp(min, x, max) = minimum(maximum(x, min), max).",
              traits=traits_of(Trait.ELEMENTWISE), cost=Cost.NORMAL),
    ]:
        register_op(opdef)


_declare_elementwise_ops()
_declare_conversion_and_selection()
