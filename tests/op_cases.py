"""A corpus of small IR programs with inputs and independently computed results.

Every case is one module built with ``jitflow.ir.Builder`` plus the arguments of
its entry computation and the value it must produce under XLA's operation
semantics (openxla.org/xla/operation_semantics).  Expected values are written
out by hand or computed by the scalar oracles below, which use plain Python
arithmetic (``int``, ``float``, ``math``, ``struct``) rather than anything in the
op table.  ``tests/test_interpreter_ops.py`` evaluates the cases; the parser's
tests round-trip every program through ``all_case_modules()``.

Conventions:

* ``rtol``/``atol`` of 0 means exact: integers and pred bit for bit, floats
  equal with NaNs in the same places and the sign of every zero preserved.
* ``raises`` is a regular expression that the ``InterpreterError`` must match
  instead of producing a result.
* ``setup`` runs before evaluation (it registers custom-call targets; the test
  restores the registry afterwards).
* Each case whose entry has a parameter of rank >= 2 also exists as a
  ``...@colmajor`` variant in which those parameters carry the non-default
  layout ``{0,1,...}``; the interpreter works on logical values, so the expected
  result is the same.
"""

from __future__ import annotations

import itertools
import math
import re
import struct
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import numpy as np

from jitflow.ir import (Builder, DType, Module, TensorType, TupleType, build_scalar_computation,
                        register_custom_call, scalar)

BF16 = DType.BF16.numpy
PRED = DType.PRED
S8, S16, S32, S64 = DType.S8, DType.S16, DType.S32, DType.S64
U8, U16, U32, U64 = DType.U8, DType.U16, DType.U32, DType.U64
F16, BF16_, F32, F64 = DType.F16, DType.BF16, DType.F32, DType.F64

SIGNED = (S8, S16, S32, S64)
UNSIGNED = (U8, U16, U32, U64)
INTS = SIGNED + UNSIGNED
FLOATS = (F16, BF16_, F32, F64)
NUMERIC = INTS + FLOATS
ALL_DTYPES = (PRED,) + NUMERIC

INF, NAN = math.inf, math.nan

# Tolerances for results that are not correctly rounded (transcendental functions).
# Halves are computed in f32 and rounded once more, so allow one unit in the last place.
APPROX = {F16: 1e-3, BF16_: 8e-3, F32: 2e-6, F64: 1e-13}


@dataclass(frozen=True)
class OpCase:
    id: str
    build: Callable[[], Module]
    inputs: tuple = ()
    expected: Any = None
    rtol: float = 0.0
    atol: float = 0.0
    raises: str | None = None
    setup: Callable[[], None] | None = None


CASES: list[OpCase] = []
_IDS: set[str] = set()


def add_case(id: str, build: Callable[[], Module], inputs: Sequence = (), expected: Any = None,
             **options: Any) -> None:
    if id in _IDS:
        raise AssertionError(f"duplicate case id {id}")
    _IDS.add(id)
    CASES.append(OpCase(id, _named(build, id), tuple(inputs), expected, **options))


def _module_name(id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", id)


def _named(build: Callable[[], Module], id: str) -> Callable[[], Module]:
    def named() -> Module:
        module = build()
        module.name = _module_name(id)
        return module

    return named


# ---------------------------------------------------------------------------
# building helpers

_COLUMN_MAJOR: list[bool] = []  # non-empty while a @colmajor variant is being built


def _column_major(t):
    if isinstance(t, TupleType):
        return TupleType(tuple(_column_major(e) for e in t.elements))
    if t.rank >= 2 and t.layout is None:
        return t.with_layout(tuple(range(t.rank)))
    return t


def array_type(value: Any) -> TensorType:
    array = np.asarray(value)
    return TensorType(DType.from_numpy(array.dtype), array.shape)


def value_type(value: Any):
    if isinstance(value, tuple):
        return TupleType(tuple(value_type(v) for v in value))
    return array_type(value)


def param(b: Builder, t, name: str | None = None):
    """An entry parameter of type ``t`` (or of the type of the value ``t``)."""
    if not isinstance(t, (TensorType, TupleType)):
        t = value_type(t)
    if _COLUMN_MAJOR:
        t = _column_major(t)
    return b.parameter(t, name=name)


def entry() -> tuple[Module, Builder]:
    module = Module("case")
    return module, module.builder("main", entry=True)


def arr(dtype: DType, values: Any, shape: Sequence[int] | None = None) -> np.ndarray:
    with np.errstate(all="ignore"):
        if dtype.is_float:
            array = np.asarray(np.array(values, dtype=np.float64).astype(dtype.numpy))
        else:
            array = np.array(values, dtype=dtype.numpy)
    return array if shape is None else array.reshape(shape)


def fill(dtype: DType, values: Sequence, shape: Sequence[int]) -> np.ndarray:
    """``values`` repeated to fill ``shape`` (row-major)."""
    return np.resize(arr(dtype, list(values)), tuple(shape))


def op_module(opcode: str, *inputs: Any, result_type: TensorType | None = None,
              **attrs: Any) -> Callable[[], Module]:
    """A module whose root applies ``opcode`` to parameters shaped like ``inputs``."""
    types = [value_type(x) for x in inputs]

    def build() -> Module:
        module, b = entry()
        params = [param(b, t) for t in types]
        b.set_root(b.emit(opcode, *params, type=result_type, **attrs))
        return module

    return build


def compare(b: Builder, x, y, direction: str, comparison_type: str | None = None):
    """``compare`` with an optional comparison type (``type=`` in HLO text)."""
    if comparison_type is None:
        return b.compare(x, y, direction=direction)
    return b.compare(x, y, direction=direction, comparison_type=comparison_type)


def _variadic_reducer(module: Module, name: str, body: Callable, dtypes: Sequence[DType]):
    """A reducer computation ``(accumulators..., elements...) -> tuple`` built by ``body``."""
    rb = module.builder(name)
    params = [rb.parameter(scalar(d)) for d in list(dtypes) * 2]
    rb.set_root(body(rb, *params))
    return rb.computation


# ---------------------------------------------------------------------------
# scalar oracles: plain Python, independent of the op table

def wrap(value: int, dtype: DType) -> int:
    bits = dtype.bits
    value %= 1 << bits
    if dtype.is_signed_int and value >= 1 << (bits - 1):
        value -= 1 << bits
    return value


def _as_unsigned(value: int, dtype: DType) -> int:
    return value % (1 << dtype.bits)


def _as_signed(value: int, dtype: DType) -> int:
    value %= 1 << dtype.bits
    return value - (1 << dtype.bits) if value >= 1 << (dtype.bits - 1) else value


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def _zero_like(result: float, x: float) -> float:
    """Rounding functions keep the sign of x when the result is zero (C semantics)."""
    return math.copysign(0.0, x) if result == 0 else result


def _int_power(a: int, b: int, dtype: DType) -> int:
    if b < 0:
        return 1 if a == 1 else 0  # XLA: even (-1) ** negative is 0
    return wrap(pow(a, b, 1 << dtype.bits), dtype)


def _shift_amount(b: int, dtype: DType) -> int:
    return _as_unsigned(b, dtype)  # negative amounts read as (huge) unsigned values


def _shl(a: int, b: int, d: DType) -> int:
    n = _shift_amount(b, d)
    return 0 if n >= d.bits else wrap(a << n, d)


def _shr_logical(a: int, b: int, d: DType) -> int:
    n = _shift_amount(b, d)
    return 0 if n >= d.bits else wrap(_as_unsigned(a, d) >> n, d)


def _shr_arithmetic(a: int, b: int, d: DType) -> int:
    n = min(_shift_amount(b, d), d.bits - 1)  # shifting by >= width leaves only sign bits
    return wrap(_as_signed(a, d) >> n, d)


INT_UNARY: dict[str, Callable[[int, DType], int]] = {
    "abs": lambda a, d: wrap(abs(a), d),
    "negate": lambda a, d: wrap(-a, d),
    "sign": lambda a, d: (a > 0) - (a < 0),
    "not": lambda a, d: wrap(~a, d),
    "popcnt": lambda a, d: bin(_as_unsigned(a, d)).count("1"),
}

INT_BINARY: dict[str, Callable[[int, int, DType], int]] = {
    "add": lambda a, b, d: wrap(a + b, d),
    "subtract": lambda a, b, d: wrap(a - b, d),
    "multiply": lambda a, b, d: wrap(a * b, d),
    "divide": lambda a, b, d: wrap(-1, d) if b == 0 else wrap(_trunc_div(a, b), d),
    "remainder": lambda a, b, d: a if b == 0 else wrap(a - b * _trunc_div(a, b), d),
    "power": _int_power,
    "maximum": lambda a, b, d: max(a, b),
    "minimum": lambda a, b, d: min(a, b),
    "and": lambda a, b, d: wrap(a & b, d),
    "or": lambda a, b, d: wrap(a | b, d),
    "xor": lambda a, b, d: wrap(a ^ b, d),
    "shift-left": _shl,
    "shift-right-logical": _shr_logical,
    "shift-right-arithmetic": _shr_arithmetic,
}

PRED_UNARY = {"not": lambda a: not a}
PRED_BINARY = {"maximum": lambda a, b: a or b, "minimum": lambda a, b: a and b,
               "and": lambda a, b: a and b, "or": lambda a, b: a or b, "xor": lambda a, b: a != b}


def _guard(fn: Callable[[float], float], *, domain_error: Callable[[float], float] = lambda x: NAN,
           overflow: Callable[[float], float] = lambda x: INF) -> Callable[[float], float]:
    def guarded(x: float) -> float:
        if math.isnan(x):
            return NAN
        try:
            return fn(x)
        except ValueError:
            return domain_error(x)
        except OverflowError:
            return overflow(x)

    return guarded


def _round_even(x: float) -> float:
    return x if not math.isfinite(x) else _zero_like(float(round(x)), x)


def _round_afz(x: float) -> float:
    if not math.isfinite(x):
        return x
    whole = math.floor(abs(x))
    result = whole + (1 if abs(x) - whole >= 0.5 else 0)
    return math.copysign(float(result), x)


def _rounding(fn: Callable[[float], int]) -> Callable[[float], float]:
    return lambda x: x if not math.isfinite(x) else _zero_like(float(fn(x)), x)


def _rsqrt(x: float) -> float:
    if math.isnan(x) or x < 0:
        return NAN
    if x == 0:
        return math.copysign(INF, x)
    return 1.0 / math.sqrt(x)


def _logistic(x: float) -> float:
    try:
        return 1.0 / (1.0 + math.exp(-x))
    except OverflowError:  # exp(-x) overflows for very negative x
        return 0.0


def _log_domain(x: float) -> float:
    return -INF if x == 0 else NAN


def _sign(x: float) -> float:
    return x if math.isnan(x) or x == 0 else math.copysign(1.0, x)


FLOAT_UNARY: dict[str, Callable[[float], Any]] = {
    "abs": math.fabs,
    "negate": lambda x: -x,
    "sign": _sign,
    "floor": _rounding(math.floor),
    "ceil": _rounding(math.ceil),
    "round-nearest-even": _round_even,
    "round-nearest-afz": _round_afz,
    "exponential": _guard(math.exp),
    "exponential-minus-one": _guard(math.expm1),
    "log": _guard(math.log, domain_error=_log_domain),
    "log-plus-one": _guard(math.log1p, domain_error=lambda x: -INF if x == -1 else NAN),
    "sqrt": _guard(math.sqrt),
    "rsqrt": _rsqrt,
    "cbrt": _guard(math.cbrt),
    "tanh": _guard(math.tanh),
    "logistic": _guard(_logistic),
    "sine": _guard(math.sin),
    "cosine": _guard(math.cos),
    "tan": _guard(math.tan),
    "is-finite": math.isfinite,
}


def _fmod(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b) or math.isinf(a) or b == 0:
        return NAN
    return a if math.isinf(b) else math.fmod(a, b)


def _fpow(a: float, b: float) -> float:
    try:
        return math.pow(a, b)
    except ValueError:  # 0 ** negative, or negative ** non-integer
        if a == 0:
            odd = b == math.floor(b) and b % 2 == 1
            return math.copysign(INF, a) if odd else INF
        return NAN
    except OverflowError:
        return INF


def _fmax(a: float, b: float) -> float:
    return NAN if math.isnan(a) or math.isnan(b) else max(a, b)


def _fmin(a: float, b: float) -> float:
    return NAN if math.isnan(a) or math.isnan(b) else min(a, b)


def _np64(op: Callable) -> Callable[[float, float], float]:
    def fn(a: float, b: float) -> float:
        with np.errstate(all="ignore"):
            return float(op(np.float64(a), np.float64(b)))

    return fn


FLOAT_BINARY: dict[str, Callable[[float, float], float]] = {
    "add": _np64(lambda a, b: a + b),
    "subtract": _np64(lambda a, b: a - b),
    "multiply": _np64(lambda a, b: a * b),
    "divide": _np64(lambda a, b: a / b),
    "remainder": _fmod,
    "power": _fpow,
    "maximum": _fmax,
    "minimum": _fmin,
    "atan2": math.atan2,
}


def _total_order_key(x: float) -> tuple:
    if math.isnan(x):
        return (math.copysign(2, x), 0.0, 0)
    return (0, x, int(math.copysign(1, x)))


COMPARISONS = {"EQ": lambda a, b: a == b, "NE": lambda a, b: a != b, "LT": lambda a, b: a < b,
               "LE": lambda a, b: a <= b, "GT": lambda a, b: a > b, "GE": lambda a, b: a >= b}


def py_values(array: np.ndarray) -> list:
    """Elements as Python bools, ints or floats, in row-major order."""
    array = np.asarray(array)
    if array.dtype == np.bool_ or array.dtype.kind in "iu":
        return array.ravel().tolist()
    return array.astype(np.float64).ravel().tolist()


def from_py(values: Sequence, dtype: DType, shape: Sequence[int]) -> np.ndarray:
    return arr(dtype, list(values), tuple(shape))


def oracle(fn: Callable, out: DType, *arrays: np.ndarray) -> np.ndarray:
    """Apply a scalar oracle elementwise (all arrays have one shape)."""
    shape = np.shape(arrays[0])
    columns = [py_values(a) for a in arrays]
    return from_py([fn(*row) for row in zip(*columns)], out, shape)


def scalar_oracle(opcode: str, dtype: DType) -> Callable:
    if dtype is PRED:
        return (PRED_UNARY | PRED_BINARY)[opcode]
    if dtype.is_integer:
        fn = (INT_UNARY | INT_BINARY)[opcode]
        return lambda *values: fn(*values, dtype)
    return (FLOAT_UNARY | FLOAT_BINARY)[opcode]


# ---------------------------------------------------------------------------
# value sets

def int_values(dtype: DType) -> list[int]:
    info = np.iinfo(dtype.numpy)
    if dtype.is_signed_int:
        return [0, 1, -1, 2, -2, 7, -7, int(info.min), int(info.min) + 1, int(info.max)]
    return [0, 1, 2, 7, 1 << (dtype.bits - 1), int(info.max) - 1, int(info.max)]


def shift_amounts(dtype: DType) -> list[int]:
    n = dtype.bits
    if dtype.is_signed_int:
        return [0, 1, 3, n - 1, n, n + 1, -1, -n, int(np.iinfo(dtype.numpy).min)]
    return [0, 1, 3, n - 1, n, n + 1, 2 * n, int(np.iinfo(dtype.numpy).max)]


def power_exponents(dtype: DType) -> list[int]:
    if dtype.is_signed_int:
        return [0, 1, 2, 3, 5, dtype.bits - 1, dtype.bits, -1, -2, -3, int(np.iinfo(dtype.numpy).min)]
    return [0, 1, 2, 3, 5, dtype.bits, int(np.iinfo(dtype.numpy).max)]


FLOAT_ARITH = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 65504.0, 1e30, INF, -INF, NAN]
FLOAT_MINMAX = [0.0, 1.0, -1.0, 0.5, -2.5, 3.0, INF, -INF, NAN]  # no -0.0: max(-0, +0) is unspecified
FLOAT_POWER_BASES = [0.0, 1.0, 2.0, 0.5, -2.0, 3.0, -1.5]
FLOAT_POWER_EXPONENTS = [0.0, 1.0, 2.0, -1.0, 0.5, 3.0, -2.0]
FLOAT_ATAN2 = [0.0, -0.0, 1.0, -1.0, 2.5, INF, -INF, NAN]
FLOAT_ROUNDING = [0.0, -0.0, 0.4, -0.4, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 3.7, -3.7, 1e30, INF, -INF, NAN]
FLOAT_UNARY_VALUES = {
    "exponential": [0.0, -0.0, 0.5, -1.0, 2.0, -2.5, 3.0, INF, -INF, NAN],
    "exponential-minus-one": [0.0, -0.0, 0.5, -1.0, 2.0, -2.5, 3.0, INF, -INF, NAN],
    "log": [1.0, 0.5, 2.0, 3.0, 10.0, 0.0, -0.0, -1.0, INF, NAN],
    "log-plus-one": [0.0, -0.0, 0.5, -0.5, 1.0, 3.0, -1.0, -2.0, INF, NAN],
    "sqrt": [0.0, -0.0, 0.25, 2.0, 9.0, 10.0, -1.0, INF, -INF, NAN],
    "rsqrt": [0.25, 2.0, 4.0, 10.0, 0.0, -0.0, -1.0, INF, NAN],
    "cbrt": [0.0, -0.0, -8.0, 27.0, 2.0, -3.0, 0.5, INF, -INF, NAN],
    "tanh": [0.0, -0.0, 0.5, -0.5, 1.0, 3.0, -3.0, 20.0, INF, -INF, NAN],
    "logistic": [0.0, -0.0, 0.5, -0.5, 2.0, -2.0, 5.0, -5.0, INF, -INF, NAN],
    "sine": [0.0, -0.0, 0.5, -0.5, 1.0, -2.0, 3.0, INF, -INF, NAN],
    "cosine": [0.0, -0.0, 0.5, -0.5, 1.0, -2.0, 3.0, INF, -INF, NAN],
    "tan": [0.0, -0.0, 0.5, -0.5, 1.0, -2.0, 3.0, INF, -INF, NAN],
}
EXACT_FLOAT_UNARY = {"abs", "negate", "sign", "floor", "ceil", "round-nearest-even",
                     "round-nearest-afz", "sqrt", "is-finite"}
EXACT_FLOAT_BINARY = {"add", "subtract", "multiply", "divide", "remainder", "maximum", "minimum"}

S, U, F, P = SIGNED, UNSIGNED, FLOATS, (PRED,)
UNARY_DTYPES = {
    "abs": S + F, "negate": S + U + F, "sign": S + F, "not": P + S + U, "popcnt": S + U,
    **{op: F for op in ["floor", "ceil", "round-nearest-even", "round-nearest-afz", "exponential",
                        "exponential-minus-one", "log", "log-plus-one", "sqrt", "rsqrt", "cbrt",
                        "tanh", "logistic", "sine", "cosine", "tan", "is-finite"]},
}
BINARY_DTYPES = {
    **{op: S + U + F for op in ["add", "subtract", "multiply", "divide", "remainder", "power"]},
    "maximum": P + S + U + F, "minimum": P + S + U + F, "atan2": F,
    **{op: P + S + U for op in ["and", "or", "xor"]},
    **{op: S + U for op in ["shift-left", "shift-right-arithmetic", "shift-right-logical"]},
}


def unary_values(opcode: str, dtype: DType) -> list:
    if dtype is PRED:
        return [False, True]
    if dtype.is_integer:
        return int_values(dtype)
    if opcode in FLOAT_UNARY_VALUES:
        return FLOAT_UNARY_VALUES[opcode]
    return FLOAT_ROUNDING + [65504.0, 1.2e-7]


def binary_values(opcode: str, dtype: DType) -> tuple[list, list]:
    if dtype is PRED:
        return [False, True], [False, True]
    if dtype.is_integer:
        values = int_values(dtype)
        if opcode.startswith("shift"):
            return values, shift_amounts(dtype)
        if opcode == "power":
            return values, power_exponents(dtype)
        return values, values
    if opcode == "power":
        return FLOAT_POWER_BASES, FLOAT_POWER_EXPONENTS
    if opcode == "atan2":
        return FLOAT_ATAN2, FLOAT_ATAN2
    if opcode in ("maximum", "minimum"):
        return FLOAT_MINMAX, FLOAT_MINMAX
    return FLOAT_ARITH, FLOAT_ARITH


def _tolerance(opcode: str, dtype: DType, exact: set[str]) -> dict:
    if not dtype.is_float or opcode in exact:
        return {}
    return {"rtol": APPROX[dtype]}


def _result_dtype(opcode: str, dtype: DType) -> DType:
    return PRED if opcode == "is-finite" else dtype


# ---------------------------------------------------------------------------
# elementwise sweeps: every accepted dtype, then shapes (0-d, size 0, size 1, layouts)

def _unary_cases() -> None:
    for opcode, dtypes in UNARY_DTYPES.items():
        for dtype in dtypes:
            x = arr(dtype, unary_values(opcode, dtype))
            out = _result_dtype(opcode, dtype)
            add_case(f"{opcode}-{dtype}", op_module(opcode, x), [x],
                     oracle(scalar_oracle(opcode, dtype), out, x),
                     **_tolerance(opcode, dtype, EXACT_FLOAT_UNARY))
        _shape_cases(opcode, 1, dtypes)


def _binary_cases() -> None:
    for opcode, dtypes in BINARY_DTYPES.items():
        for dtype in dtypes:
            xs, ys = binary_values(opcode, dtype)
            # the full cross product as a 2-D grid: x varies along rows, y along columns
            x = arr(dtype, [[a] * len(ys) for a in xs])
            y = arr(dtype, [ys] * len(xs))
            add_case(f"{opcode}-{dtype}", op_module(opcode, x, y), [x, y],
                     oracle(scalar_oracle(opcode, dtype), dtype, x, y),
                     **_tolerance(opcode, dtype, EXACT_FLOAT_BINARY))
        _shape_cases(opcode, 2, dtypes)


def _shape_cases(opcode: str, arity: int, dtypes: Sequence[DType]) -> None:
    """0-d, size-0, size-1 and explicitly laid out operands for one elementwise op."""
    dtype = F32 if F32 in dtypes else S32 if S32 in dtypes else dtypes[0]
    if arity == 1:
        value_sets = [unary_values(opcode, dtype)]
    else:
        value_sets = list(binary_values(opcode, dtype))
        value_sets[1] = value_sets[1][3:] + value_sets[1][:3]  # pair different values up
    out = _result_dtype(opcode, dtype)
    tolerance = _tolerance(opcode, dtype, EXACT_FLOAT_UNARY | EXACT_FLOAT_BINARY)
    layouts = {"0d": ((), None), "size0": ((0,), None), "size0x": ((2, 0), None),
               "size1": ((1, 1), None), "colmajor": ((2, 3), (0, 1)), "3d-layout": ((2, 1, 3), (1, 2, 0))}
    for label, (shape, layout) in layouts.items():
        inputs = [fill(dtype, values, shape) for values in value_sets]
        expected = oracle(scalar_oracle(opcode, dtype), out, *inputs)

        def build(shape=shape, layout=layout, n=len(inputs)):
            module, b = entry()
            params = [param(b, TensorType(dtype, shape, layout)) for _ in range(n)]
            result = TensorType(out, shape, layout)  # a laid-out result type, too
            b.set_root(b.emit(opcode, *params, type=result if layout else None))
            return module

        add_case(f"{opcode}-{label}", build, inputs, expected, **tolerance)


def _elementwise_edge_cases() -> None:
    """The XLA corner cases, with results written out by hand."""
    i32 = np.iinfo(np.int32)
    imin, imax = int(i32.min), int(i32.max)

    def case(id, opcode, inputs, expected, **options):
        add_case(id, op_module(opcode, *inputs), inputs, expected, **options)

    case("divide-s32-edges", "divide",
         [arr(S32, [7, -7, 7, -7, 5, -5, imin, 3, 0]), arr(S32, [2, 2, -2, -2, 0, 0, -1, 0, 0])],
         arr(S32, [3, -3, -3, 3, -1, -1, imin, -1, -1]))
    case("divide-u8-by-zero", "divide", [arr(U8, [7, 255, 0]), arr(U8, [2, 0, 0])],
         arr(U8, [3, 255, 255]))
    case("remainder-s32-edges", "remainder",
         [arr(S32, [7, -7, 7, -7, 5, -5, imin, imin]), arr(S32, [2, 2, -2, -2, 0, 0, -1, 3])],
         arr(S32, [1, -1, 1, -1, 5, -5, 0, -2]))
    case("remainder-f32-edges", "remainder",
         [arr(F32, [7.5, -7.5, 5.0, 1.0, INF, -0.0, -4.0]),
          arr(F32, [2.0, 2.0, 0.0, INF, 1.0, 1.0, 2.0])],
         arr(F32, [1.5, -1.5, NAN, 1.0, NAN, -0.0, -0.0]))
    case("divide-f32-edges", "divide",
         [arr(F32, [1.0, -1.0, 0.0, -0.0, 1.0, 7.0]), arr(F32, [0.0, 0.0, 0.0, 1.0, -INF, -2.0])],
         arr(F32, [INF, -INF, NAN, -0.0, -0.0, -3.5]))
    case("add-s8-wraps", "add", [arr(S8, [127, -128, 100]), arr(S8, [1, -1, 100])],
         arr(S8, [-128, 127, -56]))
    case("subtract-u8-wraps", "subtract", [arr(U8, [0, 5]), arr(U8, [1, 10])], arr(U8, [255, 251]))
    case("multiply-s8-wraps", "multiply", [arr(S8, [64, -128, 16, 3]), arr(S8, [2, -1, 16, -5])],
         arr(S8, [-128, -128, 0, -15]))
    case("multiply-u8-wraps", "multiply", [arr(U8, [16, 255]), arr(U8, [16, 255])], arr(U8, [0, 1]))
    case("negate-s8-wraps", "negate", [arr(S8, [-128, 127, 0, -1])], arr(S8, [-128, -127, 0, 1]))
    case("negate-f32-zeros", "negate", [arr(F32, [0.0, -0.0, INF])], arr(F32, [-0.0, 0.0, -INF]))
    case("abs-s8-wraps", "abs", [arr(S8, [-128, -127, 0, 5])], arr(S8, [-128, 127, 0, 5]))
    case("abs-f32-edges", "abs", [arr(F32, [-0.0, -INF, NAN, -2.5])], arr(F32, [0.0, INF, NAN, 2.5]))
    case("sign-f32-edges", "sign", [arr(F32, [-0.0, 0.0, -3.0, 2.0, NAN, -INF, 1e-40])],
         arr(F32, [-0.0, 0.0, -1.0, 1.0, NAN, -1.0, 1.0]))
    case("sign-s32-edges", "sign", [arr(S32, [-5, 0, 7, imin, imax])], arr(S32, [-1, 0, 1, -1, 1]))
    case("maximum-f32-nan", "maximum", [arr(F32, [NAN, 1.0, 2.0, -INF]), arr(F32, [1.0, NAN, 3.0, NAN])],
         arr(F32, [NAN, NAN, 3.0, NAN]))
    case("minimum-f32-nan", "minimum", [arr(F32, [NAN, 1.0, 2.0, INF]), arr(F32, [1.0, NAN, 3.0, NAN])],
         arr(F32, [NAN, NAN, 2.0, NAN]))
    case("maximum-pred-table", "maximum", [arr(PRED, [True, False, True, False]),
                                     arr(PRED, [True, True, False, False])],
         arr(PRED, [True, True, True, False]))
    case("minimum-pred-table", "minimum", [arr(PRED, [True, False, True, False]),
                                     arr(PRED, [True, True, False, False])],
         arr(PRED, [True, False, False, False]))
    case("shift-left-s32-edges", "shift-left",
         [arr(S32, [1, 1, 1, 1, -1, 3]), arr(S32, [0, 31, 32, -1, 4, 100])],
         arr(S32, [1, imin, 0, 0, -16, 0]))
    case("shift-right-logical-s32-edges", "shift-right-logical",
         [arr(S32, [-1, -1, -1, 16, imin]), arr(S32, [28, 32, -1, 2, 31])],
         arr(S32, [15, 0, 0, 4, 1]))
    case("shift-right-arithmetic-s32-edges", "shift-right-arithmetic",
         [arr(S32, [-16, -16, 16, -1, 16, -7]), arr(S32, [2, 32, 33, -1, 40, 1])],
         arr(S32, [-4, -1, 0, -1, 0, -4]))
    case("shift-right-arithmetic-u8-top-bit", "shift-right-arithmetic",
         [arr(U8, [0x80, 0x80, 0x40, 0xF0]), arr(U8, [1, 8, 9, 2])], arr(U8, [0xC0, 0xFF, 0, 0xFC]))
    case("shift-right-logical-u8-by-hand", "shift-right-logical",
         [arr(U8, [0x80, 0xFF, 0xFF]), arr(U8, [7, 8, 255])], arr(U8, [1, 0, 0]))
    case("popcnt-s8-negative", "popcnt", [arr(S8, [-1, -128, 0, 7, 127])], arr(S8, [8, 1, 0, 3, 7]))
    case("popcnt-s64-negative", "popcnt", [arr(S64, [-1, -2, 1 << 62])], arr(S64, [64, 63, 1]))
    case("popcnt-u64-max", "popcnt", [arr(U64, [2**64 - 1, 0, 0xF0F0])], arr(U64, [64, 0, 8]))
    case("not-pred-by-hand", "not", [arr(PRED, [True, False])], arr(PRED, [False, True]))
    case("not-s8-by-hand", "not", [arr(S8, [0, -1, 5, 127])], arr(S8, [-1, 0, -6, -128]))
    case("not-u8-by-hand", "not", [arr(U8, [0, 255, 5])], arr(U8, [255, 0, 250]))
    case("and-pred-table", "and", [arr(PRED, [False, False, True, True]),
                                   arr(PRED, [False, True, False, True])],
         arr(PRED, [False, False, False, True]))
    case("or-pred-table", "or", [arr(PRED, [False, False, True, True]),
                                 arr(PRED, [False, True, False, True])],
         arr(PRED, [False, True, True, True]))
    case("xor-pred-table", "xor", [arr(PRED, [False, False, True, True]),
                                   arr(PRED, [False, True, False, True])],
         arr(PRED, [False, True, True, False]))
    case("and-or-xor-s8", "xor", [arr(S8, [0b0101, -1, -128]), arr(S8, [0b0011, 0b1010, -1])],
         arr(S8, [0b0110, -11, 127]))
    case("power-s32-edges", "power",
         [arr(S32, [2, 2, 1, -1, -1, 0, 0, 3, 2, -2, 5]),
          arr(S32, [10, -1, -5, -3, -2, 0, -1, 0, 31, 3, 1])],
         arr(S32, [1024, 0, 1, 0, 0, 1, 0, 1, imin, -8, 5]))
    case("power-u8-wraps", "power", [arr(U8, [2, 3, 0]), arr(U8, [8, 5, 0])], arr(U8, [0, 243, 1]))
    case("power-f32-edges", "power",
         [arr(F32, [0.0, NAN, 2.0, -8.0, 0.0, -0.0, 1.0, -1.0, 4.0]),
          arr(F32, [0.0, 0.0, -1.0, 1 / 3, -1.0, -1.0, NAN, INF, 0.5])],
         arr(F32, [1.0, 1.0, 0.5, NAN, INF, -INF, 1.0, 1.0, 2.0]))
    case("floor-ceil-f32-zeros", "floor", [arr(F32, [-0.0, -0.5, 0.5, -1.5])],
         arr(F32, [-0.0, -1.0, 0.0, -2.0]))
    case("ceil-f32-zeros", "ceil", [arr(F32, [-0.0, -0.5, 0.5, -1.5])], arr(F32, [-0.0, -0.0, 1.0, -1.0]))
    halves = arr(F32, [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.4, -0.4, -0.0, 0.6, 8388609.0])
    case("round-nearest-even-f32-halves", "round-nearest-even", [halves],
         arr(F32, [0.0, 2.0, 2.0, -0.0, -2.0, -2.0, 0.0, -0.0, -0.0, 1.0, 8388609.0]))
    case("round-nearest-afz-f32-halves", "round-nearest-afz", [halves],
         arr(F32, [1.0, 2.0, 3.0, -1.0, -2.0, -3.0, 0.0, -0.0, -0.0, 1.0, 8388609.0]))
    case("round-nearest-afz-f16-halves", "round-nearest-afz", [arr(F16, [0.5, -2.5, -0.25, 1023.5])],
         arr(F16, [1.0, -3.0, -0.0, 1024.0]))
    case("logistic-f32-large", "logistic", [arr(F32, [-1000.0, -20.0, 0.0, 20.0, 1000.0, NAN, -88.0])],
         arr(F32, [0.0, 2.0611536e-09, 0.5, 1.0, 1.0, NAN, 6.0546014e-39]), rtol=1e-6)
    case("logistic-f64-large", "logistic", [arr(F64, [-1000.0, -100.0, -40.0, 40.0])],
         arr(F64, [0.0, 3.720075976020836e-44, 4.248354255291589e-18, 1.0]), rtol=1e-14)
    case("logistic-f16-large", "logistic", [arr(F16, [-20.0, -8.0, 8.0, 20.0])],
         arr(F16, [2.0611536e-09, 3.3535013e-04, 0.99966466, 1.0]), rtol=1e-3)
    case("is-finite-f32-by-hand", "is-finite", [arr(F32, [1.0, INF, -INF, NAN, -0.0, 3.4e38, 1e-45])],
         arr(PRED, [True, False, False, False, True, True, True]))
    case("exponential-f32-edges", "exponential", [arr(F32, [-INF, INF, 100.0, -200.0, 0.0])],
         arr(F32, [0.0, INF, INF, 0.0, 1.0]))
    case("log-f32-edges", "log", [arr(F32, [0.0, -0.0, -1.0, INF, 1.0, NAN])],
         arr(F32, [-INF, -INF, NAN, INF, 0.0, NAN]))
    case("sqrt-f32-edges", "sqrt", [arr(F32, [-0.0, -1.0, INF, 4.0, 2.0])],
         arr(F32, [-0.0, NAN, INF, 2.0, 1.4142135]))
    case("rsqrt-f32-edges", "rsqrt", [arr(F32, [0.0, -0.0, INF, 4.0, -4.0])],
         arr(F32, [INF, -INF, 0.0, 0.5, NAN]))
    case("cbrt-f32-negative", "cbrt", [arr(F32, [-27.0, 8.0, -0.0])], arr(F32, [-3.0, 2.0, -0.0]),
         rtol=1e-6)
    case("atan2-f32-quadrants", "atan2",
         [arr(F32, [1.0, 1.0, -1.0, -1.0, 0.0, -0.0, 0.0]),
          arr(F32, [1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 0.0])],
         arr(F32, [math.pi / 4, 3 * math.pi / 4, -3 * math.pi / 4, -math.pi / 4, math.pi, -math.pi, 0.0]),
         rtol=1e-6)
    case("add-f16-rounds", "add", [arr(F16, [2048.0, 65504.0, 1.0]), arr(F16, [1.0, 32.0, 2.0**-11])],
         arr(F16, [2048.0, INF, 1.0]))
    case("add-bf16-rounds", "add", [arr(BF16_, [256.0, 1.0, 3e38]), arr(BF16_, [1.0, 2.0**-8, 3e38])],
         arr(BF16_, [256.0, 1.0, INF]))
    case("multiply-bf16-by-hand", "multiply", [arr(BF16_, [1.5, -2.0, 0.0]), arr(BF16_, [1.5, 0.25, -3.0])],
         arr(BF16_, [2.25, -0.5, -0.0]))


# ---------------------------------------------------------------------------
# compare, select, clamp

def _compare_cases() -> None:
    def all_directions(x, y, comparison_type=None):
        def build():
            module, b = entry()
            px, py = param(b, x), param(b, y)
            b.set_root(b.tuple(*[compare(b, px, py, d, comparison_type) for d in COMPARISONS]))
            return module

        return build

    def expect(x, y, key=lambda v: v):
        return tuple(oracle(lambda a, b, fn=fn: fn(key(a), key(b)), PRED, x, y)
                     for fn in COMPARISONS.values())

    for dtype in ALL_DTYPES:
        values = ([False, True] if dtype is PRED else int_values(dtype) if dtype.is_integer
                  else [0.0, -0.0, 1.0, -1.0, 2.5, INF, -INF, NAN])
        x = arr(dtype, [[a] * len(values) for a in values])
        y = arr(dtype, [values] * len(values))
        add_case(f"compare-{dtype}", all_directions(x, y), [x, y], expect(x, y))
        if dtype.is_float:
            add_case(f"compare-{dtype}-totalorder", all_directions(x, y, "TOTALORDER"), [x, y],
                     expect(x, y, _total_order_key))
        elif dtype.is_signed_int:
            add_case(f"compare-{dtype}-signed", all_directions(x, y, "SIGNED"), [x, y], expect(x, y))
        else:
            add_case(f"compare-{dtype}-unsigned", all_directions(x, y, "UNSIGNED"), [x, y], expect(x, y))

    # hand-computed: directions on floats with NaN and zeros; total order by hand
    x, y = arr(F32, [1.0, 2.0, NAN, -0.0]), arr(F32, [2.0, 2.0, 1.0, 0.0])
    T, F_ = True, False
    add_case("compare-f32-by-hand", all_directions(x, y), [x, y],
             tuple(arr(PRED, v) for v in ([F_, T, F_, T], [T, F_, T, F_], [T, F_, F_, F_],
                                          [T, T, F_, T], [F_, F_, F_, F_], [F_, T, F_, T])))
    x = arr(F32, [-0.0, NAN, -NAN, 1.0, NAN, -INF, -NAN])
    y = arr(F32, [0.0, NAN, -INF, INF, INF, -NAN, -NAN])
    add_case("compare-f32-totalorder-by-hand", all_directions(x, y, "TOTALORDER"), [x, y],
             tuple(arr(PRED, v) for v in (
                 [F_, T, F_, F_, F_, F_, T], [T, F_, T, T, T, T, F_], [T, F_, T, T, F_, F_, F_],
                 [T, T, T, T, F_, F_, T], [F_, F_, F_, F_, T, T, F_], [F_, T, F_, F_, T, T, T])))
    x, y = arr(S8, [-1, 127, -128]), arr(S8, [1, -128, 127])
    add_case("compare-s8-by-hand", op_module("compare", x, y, direction="LT"), [x, y],
             arr(PRED, [True, False, True]))
    x, y = arr(U8, [255, 1, 128]), arr(U8, [1, 255, 127])
    add_case("compare-u8-by-hand", op_module("compare", x, y, direction="LT"), [x, y],
             arr(PRED, [False, True, False]))
    for label, shape, layout in [("0d", (), None), ("size0", (2, 0), None), ("colmajor", (2, 2), (0, 1))]:
        x, y = fill(F32, [1.0, NAN, -0.0], shape), fill(F32, [1.0, 2.0, 0.0, -1.0], shape)

        def build(shape=shape, layout=layout):
            module, b = entry()
            px, py = (param(b, TensorType(F32, shape, layout)) for _ in range(2))
            b.set_root(b.compare(px, py, direction="GE", type=TensorType(PRED, shape, layout)))
            return module

        add_case(f"compare-{label}", build, [x, y], oracle(lambda a, b: a >= b, PRED, x, y))


def _select_cases() -> None:
    for dtype in ALL_DTYPES:
        values = [False, True] if dtype is PRED else int_values(dtype)[:6] if dtype.is_integer \
            else [1.0, -0.0, NAN, INF, -2.5, 0.0]
        on_true = fill(dtype, values, (2, 3))
        on_false = fill(dtype, values[::-1], (2, 3))
        mask = arr(PRED, [[True, False, True], [False, False, True]])
        add_case(f"select-{dtype}", op_module("select", mask, on_true, on_false),
                 [mask, on_true, on_false],
                 from_py([t if m else f for m, t, f in zip(py_values(mask), py_values(on_true),
                                                           py_values(on_false))], dtype, (2, 3)))
    x, y = arr(F32, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), arr(F32, [[-1.0, -2.0, -3.0], [-4.0, -5.0, -6.0]])
    for flag in (True, False):
        p = np.array(flag)
        add_case(f"select-scalar-pred-{str(flag).lower()}", op_module("select", p, x, y), [p, x, y],
                 x if flag else y)
    p, a, c = np.array(False), arr(S32, 7), arr(S32, -7)
    add_case("select-0d", op_module("select", p, a, c), [p, a, c], arr(S32, -7))
    p, a, c = np.zeros((0, 3), bool), arr(S32, np.zeros((0, 3))), arr(S32, np.ones((0, 3)))
    add_case("select-size0", op_module("select", p, a, c), [p, a, c], arr(S32, np.zeros((0, 3))))
    p, a, c = np.array(True), arr(S32, np.zeros((0,))), arr(S32, np.ones((0,)))
    add_case("select-size0-scalar-pred", op_module("select", p, a, c), [p, a, c], arr(S32, []))


def _clamp_cases() -> None:
    def clamp_py(lo, x, hi):
        if any(isinstance(v, float) and math.isnan(v) for v in (lo, x, hi)):
            return NAN
        return min(max(x, lo), hi)

    for dtype in ALL_DTYPES:
        if dtype is PRED:
            x, lo, hi = arr(PRED, [False, True]), arr(PRED, False), arr(PRED, False)
            add_case("clamp-pred", op_module("clamp", lo, x, hi), [lo, x, hi], arr(PRED, [False, False]))
            continue
        if dtype.is_integer:
            values = int_values(dtype)
            lo, hi = arr(dtype, 1), arr(dtype, 7)
        else:
            values = [0.0, -0.0, 1.0, -1.0, 2.5, 7.5, INF, -INF, NAN]
            lo, hi = arr(dtype, -1.0), arr(dtype, 3.0)
        x = arr(dtype, values)
        add_case(f"clamp-{dtype}-scalar-bounds", op_module("clamp", lo, x, hi), [lo, x, hi],
                 from_py([clamp_py(py_values(lo)[0], v, py_values(hi)[0]) for v in py_values(x)],
                         dtype, x.shape))
        los, his = np.resize(lo, x.shape).copy(), np.resize(hi, x.shape).copy()
        los[:2], his[:2] = x[:2], x[:2]  # bounds equal to the value
        add_case(f"clamp-{dtype}-array-bounds", op_module("clamp", los, x, his), [los, x, his],
                 oracle(clamp_py, dtype, los, x, his))
    # hand-computed
    lo, x, hi = arr(S32, 0), arr(S32, [[-5, 0, 3], [10, 11, 9]]), arr(S32, 10)
    add_case("clamp-s32-by-hand", op_module("clamp", lo, x, hi), [lo, x, hi],
             arr(S32, [[0, 0, 3], [10, 10, 9]]))
    lo, x, hi = arr(F32, 5.0), arr(F32, [0.0, 7.0, NAN]), arr(F32, 1.0)  # min > max: result is max
    add_case("clamp-f32-inverted-bounds", op_module("clamp", lo, x, hi), [lo, x, hi],
             arr(F32, [1.0, 1.0, NAN]))
    lo, x, hi = arr(F32, 0.0), arr(F32, -3.0), arr(F32, 1.0)
    add_case("clamp-0d", op_module("clamp", lo, x, hi), [lo, x, hi], arr(F32, 0.0))
    lo, x, hi = arr(F32, 0.0), arr(F32, np.zeros((3, 0))), arr(F32, 1.0)
    add_case("clamp-size0", op_module("clamp", lo, x, hi), [lo, x, hi], arr(F32, np.zeros((3, 0))))


# ---------------------------------------------------------------------------
# convert and bitcast-convert

CONVERT_FLOATS = [0.0, -0.0, 1.5, -1.5, 2.5, -2.75, 100.0, -129.0, 255.5, 300.0, 65504.0, 7e4,
                  1e10, -1e10, 3e38, INF, -INF, NAN]


def _convert_py(value, src: DType, dst: DType):
    if dst is PRED:
        return value != 0
    if src is PRED:
        value = int(value)
    if dst.is_integer:
        if isinstance(value, float):
            info = np.iinfo(dst.numpy)
            if math.isnan(value):
                return 0
            if value >= info.max:
                return int(info.max)
            if value <= info.min:
                return int(info.min)
            return math.trunc(value)
        return wrap(value, dst)
    return float(value)


def _convert_cases() -> None:
    for src, dst in itertools.product(ALL_DTYPES, ALL_DTYPES):
        if src is PRED:
            values = [False, True]
        elif src.is_integer:
            values = int_values(src)
        else:
            values = CONVERT_FLOATS + ([1e300, 9.3e18, -9.3e18, 1.8e19, 4e9] if src is F64 else [])
        x = arr(src, values)
        add_case(f"convert-{src}-to-{dst}", op_module("convert", x, dtype=dst), [x],
                 oracle(lambda v: _convert_py(v, src, dst), dst, x))
    imin, imax = int(np.iinfo(np.int32).min), int(np.iinfo(np.int32).max)
    i64 = np.iinfo(np.int64)
    hand = [
        ("f32-to-s32-saturates", arr(F32, [NAN, INF, -INF, 3e9, -3e9, 2.9, -2.9, -0.0]), S32,
         arr(S32, [0, imax, imin, imax, imin, 2, -2, 0])),
        ("f32-to-u8-saturates", arr(F32, [-1.0, 255.9, 256.0, NAN, 1e10, 0.99]), U8,
         arr(U8, [0, 255, 255, 0, 255, 0])),
        ("f64-to-s64-saturates", arr(F64, [9.3e18, -9.3e18, 9.2e18, 2.0**63, -2.0**63]), S64,
         arr(S64, [int(i64.max), int(i64.min), 9200000000000000000, int(i64.max), int(i64.min)])),
        ("s32-to-s8-wraps", arr(S32, [300, -129, 128, 255, -1]), S8, arr(S8, [44, 127, -128, -1, -1])),
        ("s32-to-u8-wraps", arr(S32, [-1, 256, 257]), U8, arr(U8, [255, 0, 1])),
        ("u32-to-s32-wraps", arr(U32, [2**32 - 1, 2**31]), S32, arr(S32, [-1, imin])),
        ("f32-to-pred", arr(F32, [0.0, -0.0, NAN, 0.5, -INF]), PRED,
         arr(PRED, [False, False, True, True, True])),
        ("s32-to-pred", arr(S32, [0, 2, -1]), PRED, arr(PRED, [False, True, True])),
        ("pred-to-f32", arr(PRED, [True, False]), F32, arr(F32, [1.0, 0.0])),
        ("pred-to-s32", arr(PRED, [True, False]), S32, arr(S32, [1, 0])),
        ("f32-to-f16-overflow", arr(F32, [70000.0, 65504.0, 1e-8, -1e5]), F16,
         arr(F16, [INF, 65504.0, 0.0, -INF])),
        ("f32-to-bf16-ties-even", arr(F32, [1 + 2**-8, 1 + 3 * 2**-8, -(1 + 2**-8)]), BF16_,
         arr(BF16_, [1.0, 1.015625, -1.0])),
        ("s32-to-f32-rounds", arr(S32, [16777217, imax]), F32, arr(F32, [16777216.0, 2147483648.0])),
        ("u64-to-f32", arr(U64, [2**64 - 1]), F32, arr(F32, [2.0**64])),
        ("bf16-to-s8", arr(BF16_, [-200.0, 127.5, -0.5]), S8, arr(S8, [-128, 127, 0])),
    ]
    for label, x, dst, expected in hand:
        add_case(f"convert-{label}-by-hand", op_module("convert", x, dtype=dst), [x], expected)
    x = arr(F32, 2.7)
    add_case("convert-0d", op_module("convert", x, dtype=S32), [x], arr(S32, 2))
    x = arr(S32, np.zeros((0, 2)))
    add_case("convert-size0", op_module("convert", x, dtype=F64), [x], arr(F64, np.zeros((0, 2))))
    x = arr(F32, [[1.5, -2.5], [NAN, 7.9]])
    add_case("convert-layout", op_module("convert", x, result_type=TensorType(S16, (2, 2), (0, 1))),
             [x], arr(S16, [[1, -2], [0, 7]]))


_STRUCT = {F16: "e", F32: "f", F64: "d"}


def _to_bytes(value, dtype: DType) -> bytes:
    if dtype.is_integer:
        return int(value).to_bytes(dtype.bits // 8, "little", signed=dtype.is_signed_int)
    if dtype is BF16_:
        return struct.pack("<f", value)[2:]  # bf16 is the top half of an f32
    return struct.pack("<" + _STRUCT[dtype], value)


def _from_bytes(data: bytes, dtype: DType):
    if dtype.is_integer:
        return int.from_bytes(data, "little", signed=dtype.is_signed_int)
    if dtype is BF16_:
        return struct.unpack("<f", b"\0\0" + data)[0]
    return struct.unpack("<" + _STRUCT[dtype], data)[0]


def _bitcast_cases() -> None:
    widths = {8: (S8, U8), 16: (S16, U16, F16, BF16_), 32: (S32, U32, F32), 64: (S64, U64, F64)}
    for group in widths.values():
        for src, dst in itertools.product(group, group):
            values = int_values(src) if src.is_integer else [0.0, -0.0, 1.0, -2.5, 0.1, INF, -INF]
            x = arr(src, values)
            add_case(f"bitcast-convert-{src}-to-{dst}", op_module("bitcast-convert", x, dtype=dst),
                     [x], oracle(lambda v: _from_bytes(_to_bytes(v, src), dst), dst, x))
    # the bits of NaN by hand: quiet NaN, -inf, -0.0, 1.0
    x = arr(U32, [0x7FC00000, 0xFF800000, 0x80000000, 0x3F800000])
    add_case("bitcast-convert-u32-to-f32-by-hand", op_module("bitcast-convert", x, dtype=F32), [x],
             arr(F32, [NAN, -INF, -0.0, 1.0]))
    x = arr(F32, [1.0, -2.0])
    add_case("bitcast-convert-f32-to-u8-adds-minor-dim",
             op_module("bitcast-convert", x, shape=(2, 4), dtype=U8), [x],
             arr(U8, [[0, 0, 0x80, 0x3F], [0, 0, 0, 0xC0]]))
    x = arr(U8, [[0, 0, 0x80, 0x3F], [0, 0, 0, 0xC0]])
    add_case("bitcast-convert-u8-to-f32-removes-minor-dim",
             op_module("bitcast-convert", x, shape=(2,), dtype=F32), [x], arr(F32, [1.0, -2.0]))
    x = arr(F64, 1.0)
    add_case("bitcast-convert-f64-0d-to-s32", op_module("bitcast-convert", x, shape=(2,), dtype=S32),
             [x], arr(S32, [0, 0x3FF00000]))
    x = arr(S32, [[0, 0x3FF00000], [0, -0x40000000], [0, 0]])  # 0xC0000000 as s32
    add_case("bitcast-convert-s32-to-f64", op_module("bitcast-convert", x, shape=(3,), dtype=F64),
             [x], arr(F64, [1.0, -2.0, 0.0]))
    x = arr(F32, 1.0)
    add_case("bitcast-convert-f32-0d-to-u8", op_module("bitcast-convert", x, shape=(4,), dtype=U8),
             [x], arr(U8, [0, 0, 0x80, 0x3F]))
    x = arr(U8, [0, 0, 0xC0, 0x7F])
    add_case("bitcast-convert-u8-to-f32-0d", op_module("bitcast-convert", x, shape=(), dtype=F32),
             [x], arr(F32, NAN))
    x = arr(BF16_, [[1.0], [-0.0]])
    add_case("bitcast-convert-bf16-to-u8", op_module("bitcast-convert", x, shape=(2, 1, 2), dtype=U8),
             [x], arr(U8, [[[0x80, 0x3F]], [[0x00, 0x80]]]))
    x = arr(F32, np.zeros((0,)))
    add_case("bitcast-convert-size0", op_module("bitcast-convert", x, shape=(0, 4), dtype=U8), [x],
             arr(U8, np.zeros((0, 4))))
    x = arr(S32, -1)
    add_case("bitcast-convert-0d-same-width", op_module("bitcast-convert", x, dtype=U32), [x],
             arr(U32, 2**32 - 1))
    x = arr(F32, [[1.0, 2.0], [-0.0, 0.5]])
    add_case("bitcast-convert-layout",
             op_module("bitcast-convert", x, result_type=TensorType(U32, (2, 2), (0, 1))), [x],
             arr(U32, [[0x3F800000, 0x40000000], [0x80000000, 0x3F000000]]))


# ---------------------------------------------------------------------------
# parameter, constant, iota

def _sample(dtype: DType, shape: Sequence[int]) -> np.ndarray:
    """A deterministic array with edge values of the dtype."""
    if dtype is PRED:
        values = [True, False, False, True, True]
    elif dtype.is_integer:
        values = int_values(dtype)[1:] + [0]
    else:
        values = [1.5, -0.0, NAN, INF, -2.25, 0.0, 65504.0, -INF, 1e-3]
    return fill(dtype, values, shape)


def _parameter_constant_iota_cases() -> None:
    for dtype in ALL_DTYPES:
        x = _sample(dtype, (2, 3))
        add_case(f"parameter-{dtype}", op_module_identity(x), [x], x)
        add_case(f"constant-{dtype}", constant_module(x), [], x)
        add_case(f"constant-{dtype}-0d", constant_module(x[0, 0]), [], x[0, 0])
        add_case(f"constant-{dtype}-size0", constant_module(x[:0]), [], x[:0])
        if dtype is not PRED:
            expected = from_py([j for _ in range(2) for j in range(3)], dtype, (2, 3))
            add_case(f"iota-{dtype}", iota_module(TensorType(dtype, (2, 3)), 1), [], expected)
    for shape in [(), (0,), (2, 0, 3), (1,)]:
        x = _sample(F32, shape)
        add_case(f"parameter-{'x'.join(map(str, shape)) or '0d'}", op_module_identity(x), [x], x)
    x, y = arr(S32, [1, 2]), arr(F32, [[1.0, 2.0], [3.0, 4.0]])

    def second_of_two():
        module, b = entry()
        param(b, x, "first")
        b.set_root(param(b, y, "second"))
        return module

    add_case("parameter-second-of-two", second_of_two, [x, y], y)

    def laid_out_parameter():
        module, b = entry()
        b.set_root(b.parameter(TensorType(F32, (2, 3, 2), (1, 0, 2))))
        return module

    z = arr(F32, np.arange(12).reshape(2, 3, 2))
    add_case("parameter-layout", laid_out_parameter, [z], z)
    c = arr(F32, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    add_case("constant-layout", constant_module(c, TensorType(F32, (2, 3), (0, 1))), [], c)
    add_case("constant-u64-max", constant_module(arr(U64, [2**64 - 1, 0])), [], arr(U64, [2**64 - 1, 0]))
    add_case("constant-s64-min", constant_module(arr(S64, [-2**63, 2**63 - 1])), [],
             arr(S64, [-2**63, 2**63 - 1]))
    add_case("constant-f32-specials", constant_module(arr(F32, [NAN, -0.0, INF, 1e-45, 3.4028235e38])),
             [], arr(F32, [NAN, -0.0, INF, 1e-45, 3.4028235e38]))
    # iota along each dimension
    add_case("iota-s32-dim0", iota_module(TensorType(S32, (2, 3)), 0), [], arr(S32, [[0, 0, 0], [1, 1, 1]]))
    add_case("iota-s32-dim1", iota_module(TensorType(S32, (2, 3)), 1), [], arr(S32, [[0, 1, 2], [0, 1, 2]]))
    expected = np.zeros((2, 3, 4), np.int32)
    for i in range(2):
        for j in range(3):
            for k in range(4):
                expected[i, j, k] = j
    add_case("iota-s32-3d-dim1", iota_module(TensorType(S32, (2, 3, 4)), 1), [], expected)
    add_case("iota-f32-3d-dim2", iota_module(TensorType(F32, (2, 1, 3)), 2), [],
             arr(F32, [[[0.0, 1.0, 2.0]], [[0.0, 1.0, 2.0]]]))
    add_case("iota-size0", iota_module(TensorType(S32, (0, 3)), 1), [], arr(S32, np.zeros((0, 3))))
    add_case("iota-size0-dim", iota_module(TensorType(F32, (2, 0)), 1), [], arr(F32, np.zeros((2, 0))))
    add_case("iota-size1", iota_module(TensorType(S32, (1,)), 0), [], arr(S32, [0]))
    add_case("iota-u8-wraps", iota_module(TensorType(U8, (300,)), 0), [],
             arr(U8, [i % 256 for i in range(300)]))
    add_case("iota-bf16-rounds", iota_module(TensorType(BF16_, (260,)), 0), [],
             arr(BF16_, [float(i) for i in range(260)]))
    add_case("iota-layout", iota_module(TensorType(S32, (2, 3), (0, 1)), 0), [],
             arr(S32, [[0, 0, 0], [1, 1, 1]]))


def op_module_identity(x) -> Callable[[], Module]:
    def build():
        module, b = entry()
        b.set_root(param(b, x))
        return module

    return build


def constant_module(value, type: TensorType | None = None) -> Callable[[], Module]:
    value = np.asarray(value)

    def build():
        module, b = entry()
        if type is None:
            b.set_root(b.constant(value, DType.from_numpy(value.dtype)))
        else:
            b.set_root(b.emit("constant", type=type, literal=value))
        return module

    return build


def iota_module(t: TensorType, dimension: int) -> Callable[[], Module]:
    def build():
        module, b = entry()
        b.set_root(b.emit("iota", type=t, iota_dimension=dimension))
        return module

    return build


# ---------------------------------------------------------------------------
# data movement: broadcast, reshape, transpose, slice, dynamic-(update-)slice,
# concatenate, pad, reverse

def _data_movement_dtype_sweep() -> None:
    for dtype in ALL_DTYPES:
        x = _sample(dtype, (2, 3))
        v = py_values(x)  # v[i * 3 + j] is x[i, j]
        add_case(f"broadcast-{dtype}", op_module("broadcast", x, shape=(4, 2, 3), dimensions=(1, 2)),
                 [x], from_py([v[i * 3 + j] for _ in range(4) for i in range(2) for j in range(3)],
                              dtype, (4, 2, 3)))
        add_case(f"reshape-{dtype}", op_module("reshape", x, shape=(3, 2)), [x], from_py(v, dtype, (3, 2)))
        add_case(f"transpose-{dtype}", op_module("transpose", x, dimensions=(1, 0)), [x],
                 from_py([v[i * 3 + j] for j in range(3) for i in range(2)], dtype, (3, 2)))
        add_case(f"reverse-{dtype}", op_module("reverse", x, dimensions=(1,)), [x],
                 from_py([v[i * 3 + (2 - j)] for i in range(2) for j in range(3)], dtype, (2, 3)))
        add_case(f"slice-{dtype}", op_module("slice", x, slice=((1, 2, 1), (0, 3, 2))), [x],
                 from_py([v[3], v[5]], dtype, (1, 2)))
        start = arr(S32, 1)
        add_case(f"dynamic-slice-{dtype}",
                 op_module("dynamic-slice", x, start, start, dynamic_slice_sizes=(1, 2)),
                 [x, start, start], from_py([v[4], v[5]], dtype, (1, 2)))
        update = _sample(dtype, (1, 2))[:, ::-1].copy()
        u = py_values(update)
        add_case(f"dynamic-update-slice-{dtype}",
                 op_module("dynamic-update-slice", x, update, start, start), [x, update, start, start],
                 from_py(v[:4] + u, dtype, (2, 3)))
        add_case(f"concatenate-{dtype}", op_module("concatenate", x, x[:1].copy(), dimensions=(0,)),
                 [x, x[:1].copy()], from_py(v + v[:3], dtype, (3, 3)))
        pad_value = np.array(_sample(dtype, (4,))[3])
        p = py_values(pad_value)[0]
        # one interior element between columns and one in front of each row
        rows = [[p, v[i * 3], p, v[i * 3 + 1], p, v[i * 3 + 2]] for i in range(2)]
        add_case(f"pad-{dtype}", op_module("pad", x, pad_value, padding=((0, 0, 0), (1, 0, 1))),
                 [x, pad_value], from_py(rows[0] + rows[1], dtype, (2, 6)))


def _broadcast_reshape_transpose_cases() -> None:
    s = arr(F32, 2.5)
    add_case("broadcast-scalar", op_module("broadcast", s, shape=(2, 3), dimensions=()), [s],
             arr(F32, [[2.5] * 3] * 2))
    add_case("broadcast-0d-to-0d", op_module("broadcast", s, shape=(), dimensions=()), [s], s)
    v = arr(S32, [1, 2, 3])
    add_case("broadcast-vector-minor", op_module("broadcast", v, shape=(2, 3), dimensions=(1,)), [v],
             arr(S32, [[1, 2, 3], [1, 2, 3]]))
    v2 = arr(S32, [1, 2])
    add_case("broadcast-vector-major", op_module("broadcast", v2, shape=(2, 3), dimensions=(0,)), [v2],
             arr(S32, [[1, 1, 1], [2, 2, 2]]))
    m = arr(S32, [[7, 8, 9]])
    add_case("broadcast-size1-dim", op_module("broadcast", m, shape=(2, 3), dimensions=(0, 1)), [m],
             arr(S32, [[7, 8, 9], [7, 8, 9]]))
    m = arr(F32, [[1.0], [2.0]])
    add_case("broadcast-size1-into-3d", op_module("broadcast", m, shape=(2, 3, 2), dimensions=(0, 2)),
             [m], arr(F32, [[[1.0, 1.0]] * 3, [[2.0, 2.0]] * 3]))
    e = arr(F32, np.zeros((0,)))
    add_case("broadcast-size0-operand", op_module("broadcast", e, shape=(2, 0), dimensions=(1,)), [e],
             arr(F32, np.zeros((2, 0))))
    add_case("broadcast-to-size0", op_module("broadcast", v, shape=(0, 3), dimensions=(1,)), [v],
             arr(S32, np.zeros((0, 3))))
    m = arr(F32, [[1.0, 2.0], [3.0, 4.0]])
    add_case("broadcast-layout", op_module("broadcast", m, dimensions=(0, 2),
                                           result_type=TensorType(F32, (2, 2, 2), (0, 1, 2))), [m],
             arr(F32, [[[1.0, 2.0], [1.0, 2.0]], [[3.0, 4.0], [3.0, 4.0]]]))

    m = arr(S32, [[1, 2, 3], [4, 5, 6]])
    add_case("reshape-2x3-to-3x2", op_module("reshape", m, shape=(3, 2)), [m],
             arr(S32, [[1, 2], [3, 4], [5, 6]]))
    add_case("reshape-to-1d", op_module("reshape", m, shape=(6,)), [m], arr(S32, [1, 2, 3, 4, 5, 6]))
    x = arr(S32, np.arange(24).reshape(2, 3, 4))
    add_case("reshape-3d-to-4x6", op_module("reshape", x, shape=(4, 6)), [x],
             arr(S32, [list(range(i * 6, i * 6 + 6)) for i in range(4)]))
    one = arr(F32, [[7.5]])
    add_case("reshape-to-0d", op_module("reshape", one, shape=()), [one], arr(F32, 7.5))
    add_case("reshape-from-0d", op_module("reshape", s, shape=(1, 1, 1)), [s], arr(F32, [[[2.5]]]))
    z = arr(F32, np.zeros((2, 0)))
    add_case("reshape-size0", op_module("reshape", z, shape=(0, 5)), [z], arr(F32, np.zeros((0, 5))))
    add_case("reshape-layout", op_module("reshape", m, result_type=TensorType(S32, (3, 2), (0, 1))), [m],
             arr(S32, [[1, 2], [3, 4], [5, 6]]))

    add_case("transpose-2d", op_module("transpose", m, dimensions=(1, 0)), [m],
             arr(S32, [[1, 4], [2, 5], [3, 6]]))
    # result dimension i is operand dimension dimensions[i]: out[k, i, j] == x[i, j, k]
    expected = np.zeros((4, 2, 3), np.int32)
    for i, j, k in itertools.product(range(2), range(3), range(4)):
        expected[k, i, j] = i * 12 + j * 4 + k
    add_case("transpose-3d", op_module("transpose", x, dimensions=(2, 0, 1)), [x], expected)
    add_case("transpose-identity", op_module("transpose", m, dimensions=(0, 1)), [m], m)
    add_case("transpose-0d", op_module("transpose", s, dimensions=()), [s], s)
    z = arr(F32, np.zeros((0, 2)))
    add_case("transpose-size0", op_module("transpose", z, dimensions=(1, 0)), [z], arr(F32, np.zeros((2, 0))))
    add_case("transpose-layout", op_module("transpose", m, dimensions=(1, 0),
                                           result_type=TensorType(S32, (3, 2), (0, 1))), [m],
             arr(S32, [[1, 4], [2, 5], [3, 6]]))


def _slice_cases() -> None:
    v = arr(S32, list(range(10)))
    add_case("slice-strided", op_module("slice", v, slice=((1, 9, 3),)), [v], arr(S32, [1, 4, 7]))
    add_case("slice-stride-past-limit", op_module("slice", v, slice=((0, 10, 4),)), [v], arr(S32, [0, 4, 8]))
    add_case("slice-empty", op_module("slice", v, slice=((5, 5, 1),)), [v], arr(S32, []))
    m = arr(F32, np.arange(20).reshape(4, 5))
    add_case("slice-2d", op_module("slice", m, slice=((1, 4, 2), (0, 5, 2))), [m],
             arr(F32, [[5.0, 7.0, 9.0], [15.0, 17.0, 19.0]]))
    add_case("slice-size1", op_module("slice", m, slice=((3, 4, 1), (4, 5, 1))), [m], arr(F32, [[19.0]]))
    s = arr(F32, -1.0)
    add_case("slice-0d", op_module("slice", s, slice=()), [s], s)
    z = arr(F32, np.zeros((0, 3)))
    add_case("slice-size0-operand", op_module("slice", z, slice=((0, 0, 1), (1, 3, 1))), [z],
             arr(F32, np.zeros((0, 2))))
    add_case("slice-layout", op_module("slice", m, slice=((0, 2, 1), (1, 3, 1)),
                                       result_type=TensorType(F32, (2, 2), (0, 1))), [m],
             arr(F32, [[1.0, 2.0], [6.0, 7.0]]))

    # dynamic-slice: starts are clamped so the window stays inside
    m = arr(S32, np.arange(20).reshape(4, 5))
    for label, (i, j), expected in [
            ("in-range", (1, 2), [[7, 8], [12, 13]]),
            ("negative-start", (-3, -1), [[0, 1], [5, 6]]),
            ("start-too-large", (3, 9), [[13, 14], [18, 19]]),
            ("mixed", (100, 0), [[10, 11], [15, 16]])]:
        si, sj = arr(S32, i), arr(S32, j)
        add_case(f"dynamic-slice-{label}", op_module("dynamic-slice", m, si, sj, dynamic_slice_sizes=(2, 2)),
                 [m, si, sj], arr(S32, expected))
    for dtype in (U8, S64, S8, U64):
        si, sj = arr(dtype, 255 if dtype in (U8, U64) else 3), arr(dtype, 1)
        add_case(f"dynamic-slice-{dtype}-indices",
                 op_module("dynamic-slice", m, si, sj, dynamic_slice_sizes=(1, 3)), [m, si, sj],
                 arr(S32, [[16, 17, 18]]))
    v = arr(F32, [1.0, 2.0, 3.0])
    i = arr(S32, 2)
    add_case("dynamic-slice-size0-window", op_module("dynamic-slice", v, i, dynamic_slice_sizes=(0,)),
             [v, i], arr(F32, []))
    add_case("dynamic-slice-whole", op_module("dynamic-slice", v, i, dynamic_slice_sizes=(3,)), [v, i], v)
    z = arr(F32, np.zeros((0, 2)))
    add_case("dynamic-slice-size0-operand",
             op_module("dynamic-slice", z, i, i, dynamic_slice_sizes=(0, 1)), [z, i, i],
             arr(F32, np.zeros((0, 1))))
    add_case("dynamic-slice-layout", op_module("dynamic-slice", m, i, i, dynamic_slice_sizes=(2, 2),
                                               result_type=TensorType(S32, (2, 2), (0, 1))),
             [m, i, i], arr(S32, [[12, 13], [17, 18]]))

    base = arr(S32, np.zeros((3, 4)))
    upd = arr(S32, [[1, 2], [3, 4]])
    for label, (i, j), rows in [
            ("in-range", (1, 1), [[0, 0, 0, 0], [0, 1, 2, 0], [0, 3, 4, 0]]),
            ("negative-start", (-5, -1), [[1, 2, 0, 0], [3, 4, 0, 0], [0, 0, 0, 0]]),
            ("start-too-large", (2, 7), [[0, 0, 0, 0], [0, 0, 1, 2], [0, 0, 3, 4]])]:
        si, sj = arr(S32, i), arr(S32, j)
        add_case(f"dynamic-update-slice-{label}", op_module("dynamic-update-slice", base, upd, si, sj),
                 [base, upd, si, sj], arr(S32, rows))
    si, sj = arr(U32, 4000000000), arr(U32, 0)
    add_case("dynamic-update-slice-u32-indices", op_module("dynamic-update-slice", base, upd, si, sj),
             [base, upd, si, sj], arr(S32, [[0, 0, 0, 0], [1, 2, 0, 0], [3, 4, 0, 0]]))
    empty = arr(S32, np.zeros((0, 2)))
    add_case("dynamic-update-slice-size0-update",
             op_module("dynamic-update-slice", base, empty, arr(S32, 1), arr(S32, 1)),
             [base, empty, arr(S32, 1), arr(S32, 1)], base)
    full = arr(S32, np.arange(12).reshape(3, 4))
    add_case("dynamic-update-slice-whole",
             op_module("dynamic-update-slice", base, full, arr(S32, 2), arr(S32, 2)),
             [base, full, arr(S32, 2), arr(S32, 2)], full)
    z, zu = arr(F32, np.zeros((0, 3))), arr(F32, np.zeros((0, 1)))
    add_case("dynamic-update-slice-size0-operand",
             op_module("dynamic-update-slice", z, zu, arr(S32, 0), arr(S32, 5)),
             [z, zu, arr(S32, 0), arr(S32, 5)], z)
    add_case("dynamic-update-slice-layout",
             op_module("dynamic-update-slice", base, upd, arr(S32, 0), arr(S32, 0),
                       result_type=TensorType(S32, (3, 4), (0, 1))),
             [base, upd, arr(S32, 0), arr(S32, 0)], arr(S32, [[1, 2, 0, 0], [3, 4, 0, 0], [0, 0, 0, 0]]))


def _concatenate_pad_reverse_cases() -> None:
    a, b, c = arr(S32, [[1, 2], [3, 4]]), arr(S32, [[5, 6]]), arr(S32, np.zeros((0, 2)))
    add_case("concatenate-dim0", op_module("concatenate", a, b, dimensions=(0,)), [a, b],
             arr(S32, [[1, 2], [3, 4], [5, 6]]))
    d = arr(S32, [[7], [8]])
    add_case("concatenate-dim1", op_module("concatenate", a, d, a, dimensions=(1,)), [a, d, a],
             arr(S32, [[1, 2, 7, 1, 2], [3, 4, 8, 3, 4]]))
    add_case("concatenate-size0-pieces", op_module("concatenate", c, a, c, b, dimensions=(0,)), [c, a, c, b],
             arr(S32, [[1, 2], [3, 4], [5, 6]]))
    add_case("concatenate-all-size0", op_module("concatenate", c, c, dimensions=(0,)), [c, c],
             arr(S32, np.zeros((0, 2))))
    e = arr(S32, np.zeros((2, 0)))
    add_case("concatenate-size0-other-dim", op_module("concatenate", e, e, dimensions=(0,)), [e, e],
             arr(S32, np.zeros((4, 0))))
    one = arr(F32, [1.5])
    add_case("concatenate-single", op_module("concatenate", one, dimensions=(0,)), [one], one)
    add_case("concatenate-layout", op_module("concatenate", a, a, dimensions=(1,),
                                             result_type=TensorType(S32, (2, 4), (0, 1))), [a, a],
             arr(S32, [[1, 2, 1, 2], [3, 4, 3, 4]]))

    v, z = arr(F32, [1.0, 2.0, 3.0]), arr(F32, 0.0)

    def pad(id, x, value, padding, expected):
        add_case(f"pad-{id}", op_module("pad", x, value, padding=padding), [x, value], expected)

    pad("edges", v, z, ((2, 1, 0),), arr(F32, [0, 0, 1, 2, 3, 0]))
    pad("interior", v, z, ((0, 0, 2),), arr(F32, [1, 0, 0, 2, 0, 0, 3]))
    pad("negative-low", v, z, ((-1, 1, 0),), arr(F32, [2, 3, 0]))
    pad("negative-high", v, z, ((1, -2, 0),), arr(F32, [0, 1]))
    pad("negative-into-interior", v, z, ((-2, -1, 1),), arr(F32, [2, 0]))
    pad("negative-to-empty", v, z, ((-3, 0, 0),), arr(F32, []))
    pad("size0-operand", arr(F32, []), arr(F32, 9.0), ((2, 1, 5),), arr(F32, [9, 9, 9]))
    m = arr(S32, [[1, 2], [3, 4]])
    pad("2d", m, arr(S32, -1), ((1, 0, 1), (-1, 2, 0)),
        arr(S32, [[-1, -1, -1], [2, -1, -1], [-1, -1, -1], [4, -1, -1]]))
    pad("size0-result-dim", m, arr(S32, 7), ((0, 0, 0), (-2, 0, 0)), arr(S32, np.zeros((2, 0))))
    pad("size1", arr(F32, [5.0]), arr(F32, 1.0), ((0, 0, 3),), arr(F32, [5.0]))
    pad("0d", arr(F32, 3.0), z, (), arr(F32, 3.0))  # no dimensions: nothing to pad
    x = arr(F32, [[1.0, 2.0], [3.0, 4.0]])
    add_case("pad-layout", op_module("pad", x, z, padding=((0, 1, 0), (0, 0, 1)),
                                     result_type=TensorType(F32, (3, 3), (0, 1))), [x, z],
             arr(F32, [[1, 0, 2], [3, 0, 4], [0, 0, 0]]))

    m = arr(S32, [[1, 2, 3], [4, 5, 6]])
    add_case("reverse-dim0", op_module("reverse", m, dimensions=(0,)), [m], arr(S32, [[4, 5, 6], [1, 2, 3]]))
    add_case("reverse-both", op_module("reverse", m, dimensions=(0, 1)), [m],
             arr(S32, [[6, 5, 4], [3, 2, 1]]))
    add_case("reverse-none", op_module("reverse", m, dimensions=()), [m], m)
    s = arr(F32, 4.0)
    add_case("reverse-0d", op_module("reverse", s, dimensions=()), [s], s)
    e = arr(F32, np.zeros((0, 3)))
    add_case("reverse-size0", op_module("reverse", e, dimensions=(0, 1)), [e], e)
    add_case("reverse-layout", op_module("reverse", m, dimensions=(1,),
                                         result_type=TensorType(S32, (2, 3), (0, 1))), [m],
             arr(S32, [[3, 2, 1], [6, 5, 4]]))


# ---------------------------------------------------------------------------
# reduce

def reduce_module(x, init, dims: Sequence[int], opcode: str = "add",
                  result_type: TensorType | None = None) -> Callable[[], Module]:
    dtype = array_type(x).dtype

    def build():
        module, b = entry()
        px = param(b, x)
        reducer = build_scalar_computation(module, opcode, opcode, dtype)
        b.set_root(b.reduce(px, b.constant(init, dtype), dimensions=tuple(dims), called=[reducer],
                            type=result_type))
        return module

    return build


def _reduce_cases() -> None:
    # every dtype: add (or for pred) over the rows, and max over everything
    for dtype in ALL_DTYPES:
        x = _sample(dtype, (2, 3)) if dtype is PRED or dtype.is_integer else \
            arr(dtype, [[1.5, -2.0, 4.0], [0.25, 8.0, -0.5]])
        columns = list(zip(*[py_values(x)[i * 3:(i + 1) * 3] for i in range(2)]))
        if dtype is PRED:
            add_case("reduce-pred-or", reduce_module(x, False, (0,), "or"), [x],
                     arr(PRED, [a or b for a, b in columns]))
            add_case("reduce-pred-and", reduce_module(x, True, (0, 1), "and"), [x],
                     arr(PRED, all(py_values(x))))
            continue
        total = [a + b for a, b in columns]
        add_case(f"reduce-{dtype}-add", reduce_module(x, 0, (0,)), [x],
                 from_py([wrap(t, dtype) for t in total] if dtype.is_integer else total, dtype, (3,)))
        low = int(np.iinfo(dtype.numpy).min) if dtype.is_integer else -INF
        add_case(f"reduce-{dtype}-max", reduce_module(x, low, (0, 1), "maximum"), [x],
                 from_py([max(py_values(x))], dtype, ()))

    x = arr(F32, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    add_case("reduce-add-dim1", reduce_module(x, 0.0, (1,)), [x], arr(F32, [6.0, 15.0]))
    add_case("reduce-add-init-counts", reduce_module(x, 10.0, (1,)), [x], arr(F32, [16.0, 25.0]))
    add_case("reduce-add-all-to-0d", reduce_module(x, 0.0, (0, 1)), [x], arr(F32, 21.0))
    add_case("reduce-add-dims-unsorted", reduce_module(x, 0.0, (1, 0)), [x], arr(F32, 21.0))
    add_case("reduce-no-dims", reduce_module(x, 1.0, ()), [x], x + np.float32(1.0))
    add_case("reduce-max-neg-inf-init", reduce_module(x, -INF, (0,), "maximum"), [x],
             arr(F32, [4.0, 5.0, 6.0]))
    add_case("reduce-min", reduce_module(x, INF, (1,), "minimum"), [x], arr(F32, [1.0, 4.0]))
    add_case("reduce-multiply", reduce_module(x, 1.0, (0,), "multiply"), [x], arr(F32, [4.0, 10.0, 18.0]))
    xn = arr(F32, [[1.0, NAN], [2.0, 3.0]])
    add_case("reduce-max-nan", reduce_module(xn, -INF, (1,), "maximum"), [xn], arr(F32, [NAN, 3.0]))
    x3 = arr(S32, np.arange(24).reshape(2, 3, 4))
    add_case("reduce-non-adjacent-dims", reduce_module(x3, 0, (0, 2)), [x3],
             arr(S32, [sum(i * 12 + j * 4 + k for i in range(2) for k in range(4)) for j in range(3)]))
    add_case("reduce-s8-wraps", reduce_module(arr(S8, [100, 100, 100]), 0, (0,)), [arr(S8, [100, 100, 100])],
             arr(S8, 44))
    add_case("reduce-s32-multiply-wraps", reduce_module(arr(S32, [65536, 65536, 3]), 1, (0,), "multiply"),
             [arr(S32, [65536, 65536, 3])], arr(S32, 0))
    add_case("reduce-f16-sum", reduce_module(arr(F16, [1024.0, 0.5, 0.5]), 0.0, (0,)),
             [arr(F16, [1024.0, 0.5, 0.5])], arr(F16, 1025.0))
    z = arr(F32, np.zeros((2, 0)))
    add_case("reduce-size0-gives-init", reduce_module(z, 7.0, (1,)), [z], arr(F32, [7.0, 7.0]))
    add_case("reduce-size0-all", reduce_module(z, -INF, (0, 1), "maximum"), [z], arr(F32, -INF))
    add_case("reduce-size0-kept", reduce_module(z, 0.0, (0,)), [z], arr(F32, []))
    s = arr(F32, 3.0)
    add_case("reduce-0d-input", reduce_module(s, 4.0, ()), [s], arr(F32, 7.0))
    add_case("reduce-layout", reduce_module(x3, 0, (1,), result_type=TensorType(S32, (2, 4), (0, 1))), [x3],
             arr(S32, [[sum(i * 12 + j * 4 + k for j in range(3)) for k in range(4)] for i in range(2)]))

    # reducers that are not a single op
    def sub_neg(module):  # a + b written as a - (-b)
        rb = module.builder("sub_neg")
        p0, p1 = rb.parameter(scalar(F32)), rb.parameter(scalar(F32))
        rb.set_root(rb.subtract(p0, rb.negate(p1)))
        return rb.computation

    def select_max(module):  # max via compare + select
        rb = module.builder("select_max")
        p0, p1 = rb.parameter(scalar(S32)), rb.parameter(scalar(S32))
        rb.set_root(rb.select(rb.compare(p0, p1, direction="GT"), p0, p1))
        return rb.computation

    def add_swapped(module):  # add with its parameters the other way round
        rb = module.builder("add_swapped")
        p0, p1 = rb.parameter(scalar(F32)), rb.parameter(scalar(F32))
        rb.set_root(rb.add(p1, p0))
        return rb.computation

    def add_via_call(module):  # a reducer whose body is not elementwise: it calls another computation
        inner = build_scalar_computation(module, "inner_add", "add", F32)
        rb = module.builder("add_via_call")
        p0, p1 = rb.parameter(scalar(F32)), rb.parameter(scalar(F32))
        rb.set_root(rb.call(p0, p1, called=[inner]))
        return rb.computation

    def custom(reducer_fn, x, init, dims, dtype):
        def build():
            module, b = entry()
            px = param(b, x)
            b.set_root(b.reduce(px, b.constant(init, dtype), dimensions=dims, called=[reducer_fn(module)]))
            return module

        return build

    add_case("reduce-reducer-subtract-negate", custom(sub_neg, x, 0.5, (1,), F32), [x], arr(F32, [6.5, 15.5]))
    xi = arr(S32, [[3, -7, 9], [-1, -5, -2]])
    add_case("reduce-reducer-select-max", custom(select_max, xi, -100, (1,), S32), [xi], arr(S32, [9, -1]))
    add_case("reduce-reducer-swapped-params", custom(add_swapped, x, 0.0, (0,), F32), [x],
             arr(F32, [5.0, 7.0, 9.0]))
    add_case("reduce-reducer-with-call", custom(add_via_call, x, 1.0, (1,), F32), [x], arr(F32, [7.0, 16.0]))
    z = arr(F32, np.zeros((0, 3)))
    add_case("reduce-reducer-with-call-size0", custom(add_via_call, z, 1.0, (1,), F32), [z], arr(F32, []))

    # variadic reduce: argmax (first index among equal maxima)
    def argmax_body(rb, av, ai, bv, bi):
        greater = rb.compare(av, bv, direction="GT")
        tie_earlier = rb.emit("and", rb.compare(av, bv, direction="EQ"), rb.compare(ai, bi, direction="LT"))
        take_a = rb.emit("or", greater, tie_earlier)
        return rb.tuple(rb.select(take_a, av, bv), rb.select(take_a, ai, bi))

    def argmax_module(shape, dims, via_call=False):
        def build():
            module, b = entry()
            x = param(b, TensorType(F32, shape))
            index = b.emit("iota", shape=shape, dtype=S32, iota_dimension=dims[0])
            reducer = _variadic_reducer(module, "argmax", argmax_body, (F32, S32))
            if via_call:  # wrap it so that the reducer is not elementwise
                rb = module.builder("argmax_via_call")
                params = [rb.parameter(scalar(d)) for d in (F32, S32, F32, S32)]
                rb.set_root(rb.call(*params, called=[reducer]))
                reducer = rb.computation
            b.set_root(b.reduce(x, index, b.constant(-INF, F32), b.constant(-1, S32),
                                dimensions=dims, called=[reducer]))
            return module

        return build

    x = arr(F32, [[1.0, 5.0, 5.0, 2.0], [-3.0, -2.0, -7.0, -1.0]])
    add_case("reduce-variadic-argmax", argmax_module((2, 4), (1,)), [x],
             (arr(F32, [5.0, -1.0]), arr(S32, [1, 3])))
    add_case("reduce-variadic-argmax-dim0", argmax_module((2, 4), (0,)), [x],
             (arr(F32, [1.0, 5.0, 5.0, 2.0]), arr(S32, [0, 0, 0, 0])))
    add_case("reduce-variadic-argmax-via-call", argmax_module((2, 4), (1,), True), [x],
             (arr(F32, [5.0, -1.0]), arr(S32, [1, 3])))
    z = arr(F32, np.zeros((2, 0)))
    add_case("reduce-variadic-size0-gives-inits", argmax_module((2, 0), (1,)), [z],
             (arr(F32, [-INF, -INF]), arr(S32, [-1, -1])))
    z = arr(F32, np.zeros((0, 4)))
    add_case("reduce-variadic-via-call-size0-kept", argmax_module((0, 4), (1,), True), [z],
             (arr(F32, []), arr(S32, [])))
    v = arr(F32, [2.0, 9.0, -1.0, 9.0])
    add_case("reduce-variadic-to-0d", argmax_module((4,), (0,)), [v], (arr(F32, 9.0), arr(S32, 1)))


# ---------------------------------------------------------------------------
# dot

def dot_module(lhs, rhs, result_dtype: DType | None = None, result_type: TensorType | None = None,
               **dims) -> Callable[[], Module]:
    if result_dtype is not None:  # a wider accumulation type, e.g. s8 x s8 -> s32
        result_type = _dot_type(lhs, rhs, result_dtype, dims)

    def build():
        module, b = entry()
        pl, pr = param(b, lhs), param(b, rhs)
        b.set_root(b.dot(pl, pr, type=result_type, **dims))
        return module

    return build


def _dot_type(lhs, rhs, dtype: DType, dims: dict) -> TensorType:
    lb, rb = dims.get("lhs_batch_dims", ()), dims.get("rhs_batch_dims", ())
    lc, rc = dims.get("lhs_contracting_dims", ()), dims.get("rhs_contracting_dims", ())
    shape = ([np.shape(lhs)[d] for d in lb]
             + [s for d, s in enumerate(np.shape(lhs)) if d not in lb + lc]
             + [s for d, s in enumerate(np.shape(rhs)) if d not in rb + rc])
    return TensorType(dtype, tuple(shape))


def _matmul_py(a: list[list], b: list[list]) -> list[list]:
    return [[sum(a[i][k] * b[k][j] for k in range(len(b))) for j in range(len(b[0]))]
            for i in range(len(a))]


def _dot_cases() -> None:
    mm = {"lhs_contracting_dims": (1,), "rhs_contracting_dims": (0,)}
    vv = {"lhs_contracting_dims": (0,), "rhs_contracting_dims": (0,)}
    for dtype in NUMERIC:
        if dtype.is_integer:
            a_rows = [[1, 2, 3], [-1, 0, 2]] if dtype.is_signed_int else [[1, 2, 3], [4, 0, 2]]
            a_rows[0][0] = int(np.iinfo(dtype.numpy).max)  # the products wrap
        else:
            a_rows = [[1.5, 2.0, -3.0], [-1.0, 0.0, 2.5]]
        b_rows = [[2, 1], [1, 0], [3, 5]] if dtype.is_integer else [[2.0, 1.0], [1.0, 0.5], [3.0, 5.0]]
        a, b = arr(dtype, a_rows), arr(dtype, b_rows)
        a_py, b_py = py_values(a), py_values(b)
        product = _matmul_py([a_py[0:3], a_py[3:6]], [b_py[0:2], b_py[2:4], b_py[4:6]])
        flat = [wrap(v, dtype) if dtype.is_integer else v for row in product for v in row]
        add_case(f"dot-{dtype}-matmul", dot_module(a, b, **mm), [a, b], from_py(flat, dtype, (2, 2)))

    a = arr(F32, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    v = arr(F32, [1.0, 0.0, -1.0])
    add_case("dot-matrix-vector", dot_module(a, v, **mm), [a, v], arr(F32, [-2.0, -2.0]))
    add_case("dot-vector-matrix", dot_module(arr(F32, [1.0, -1.0]), a, lhs_contracting_dims=(0,),
                                             rhs_contracting_dims=(0,)), [arr(F32, [1.0, -1.0]), a],
             arr(F32, [-3.0, -3.0, -3.0]))
    add_case("dot-vector-vector-to-0d", dot_module(v, v, **vv), [v, v], arr(F32, 2.0))
    w = arr(F32, [1.0, 2.0])
    add_case("dot-outer-product", dot_module(w, v), [w, v], arr(F32, [[1.0, 0.0, -1.0], [2.0, 0.0, -2.0]]))
    # contracting over the first dimension of both: a^T a
    add_case("dot-contract-dim0", dot_module(a, a, lhs_contracting_dims=(0,), rhs_contracting_dims=(0,)),
             [a, a], arr(F32, [[17.0, 22.0, 27.0], [22.0, 29.0, 36.0], [27.0, 36.0, 45.0]]))
    # a a^T: contract both minor dimensions
    add_case("dot-contract-dim1-both", dot_module(a, a, lhs_contracting_dims=(1,), rhs_contracting_dims=(1,)),
             [a, a], arr(F32, [[14.0, 32.0], [32.0, 77.0]]))
    # batch matmul: [2,2,3] x [2,3,1]
    bl = arr(F32, [[[1, 2, 3], [4, 5, 6]], [[1, 0, 0], [0, 1, 0]]])
    br = arr(F32, [[[1], [1], [1]], [[7], [8], [9]]])
    batch = {"lhs_batch_dims": (0,), "rhs_batch_dims": (0,), "lhs_contracting_dims": (2,),
             "rhs_contracting_dims": (1,)}
    add_case("dot-batch-matmul", dot_module(bl, br, **batch), [bl, br],
             arr(F32, [[[6.0], [15.0]], [[7.0], [8.0]]]))
    # batch dimension that is not the leading one: lhs [3,2] batch dim 1, rhs [2,3] batch dim 0
    lhs, rhs = arr(S32, [[1, 2], [3, 4], [5, 6]]), arr(S32, [[1, 1, 1], [0, 1, 2]])
    add_case("dot-batch-not-leading",
             dot_module(lhs, rhs, lhs_batch_dims=(1,), rhs_batch_dims=(0,), lhs_contracting_dims=(0,),
                        rhs_contracting_dims=(1,)), [lhs, rhs], arr(S32, [9, 0 * 2 + 1 * 4 + 2 * 6]))
    # batch only, no contraction: elementwise product with an outer structure
    bv = arr(F32, [[1.0, 2.0], [3.0, 4.0]])
    add_case("dot-batch-no-contraction",
             dot_module(bv, bv, lhs_batch_dims=(0,), rhs_batch_dims=(0,)), [bv, bv],
             arr(F32, [[[1.0, 2.0], [2.0, 4.0]], [[9.0, 12.0], [12.0, 16.0]]]))
    i8a, i8b = arr(S8, [[100, 100], [-128, 1]]), arr(S8, [[2, 0], [1, 1]])
    add_case("dot-s8-to-s32", dot_module(i8a, i8b, result_dtype=S32, **mm), [i8a, i8b],
             arr(S32, [[300, 100], [-255, 1]]))
    add_case("dot-s8-wraps", dot_module(i8a, i8b, **mm), [i8a, i8b], arr(S8, [[44, 100], [1, 1]]))
    ua = arr(U8, [16, 16])
    add_case("dot-u8-wraps", dot_module(ua, ua, **vv), [ua, ua], arr(U8, 0))
    add_case("dot-u8-to-u32", dot_module(ua, ua, result_dtype=U32, **vv), [ua, ua], arr(U32, 512))
    ha = arr(F16, [[1.0, 2.0], [3.0, 4.0]])
    add_case("dot-f16-to-f32", dot_module(ha, ha, result_dtype=F32, **mm), [ha, ha],
             arr(F32, [[7.0, 10.0], [15.0, 22.0]]))
    big = arr(F16, [60000.0, 60000.0])
    add_case("dot-f16-overflows", dot_module(big, arr(F16, [1.0, 1.0]), **vv), [big, arr(F16, [1.0, 1.0])],
             arr(F16, INF))
    z1, z2 = arr(F32, np.zeros((2, 0))), arr(F32, np.zeros((0, 3)))
    add_case("dot-size0-contracting", dot_module(z1, z2, **mm), [z1, z2], arr(F32, np.zeros((2, 3))))
    z3 = arr(F32, np.zeros((0, 3)))
    add_case("dot-size0-free", dot_module(z3, arr(F32, [1.0, 2.0, 3.0]), **mm),
             [z3, arr(F32, [1.0, 2.0, 3.0])], arr(F32, []))
    nan_rows = arr(F32, [[NAN, 0.0], [1.0, 1.0]])
    add_case("dot-nan-propagates", dot_module(nan_rows, arr(F32, [0.0, 1.0]), **mm),
             [nan_rows, arr(F32, [0.0, 1.0])], arr(F32, [NAN, 1.0]))
    add_case("dot-layout", dot_module(a, arr(F32, [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]),
                                      result_type=TensorType(F32, (2, 2), (0, 1)), **mm),
             [a, arr(F32, [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])], arr(F32, [[4.0, 5.0], [10.0, 11.0]]))


# ---------------------------------------------------------------------------
# tuple, get-tuple-element, while, conditional, call, fusion, custom-call

def _tuple_cases() -> None:
    for dtype in ALL_DTYPES:
        x, s = _sample(dtype, (2, 3)), np.array(_sample(dtype, (3,))[2])

        def build(x=x, s=s):
            module, b = entry()
            px, ps = param(b, x), param(b, s)
            t = b.tuple(ps, px)
            b.set_root(b.tuple(b.get_tuple_element(t, index=1), b.get_tuple_element(t, index=0)))
            return module

        add_case(f"tuple-{dtype}", build, [x, s], (x, s))
    x, s, e = arr(F32, [[1.0, 2.0], [3.0, 4.0]]), arr(S32, 5), arr(U8, np.zeros((0, 2)))
    add_case("tuple-mixed-0d-size0", op_module("tuple", x, s, e), [x, s, e], (x, s, e))
    add_case("tuple-empty", op_module("tuple"), [], ())

    def nested():
        module, b = entry()
        px, ps = param(b, x), param(b, s)
        inner = b.tuple(px, ps)
        outer = b.tuple(inner, ps)
        b.set_root(b.get_tuple_element(b.get_tuple_element(outer, index=0), index=0))
        return module

    add_case("get-tuple-element-nested", nested, [x, s], x)

    def tuple_parameter():
        module, b = entry()
        t = param(b, TupleType((TensorType(F32, (2, 2)), TensorType(S32, ()), TensorType(U8, (0, 2)))))
        b.set_root(b.tuple(b.get_tuple_element(t, index=2), b.get_tuple_element(t, index=1)))
        return module

    add_case("get-tuple-element-of-parameter", tuple_parameter, [(x, s, e)], (e, s))

    def nested_result():
        module, b = entry()
        px, ps = param(b, x), param(b, s)
        b.set_root(b.tuple(b.tuple(ps), px, b.tuple()))
        return module

    add_case("tuple-nested-result", nested_result, [x, s], ((s,), x, ()))


def _counting_loop(module: Module):
    """cond: i < n;  body: (i + 1, acc + i, n) over the state (i, acc, n) of s32 scalars."""
    state = TupleType((scalar(S32),) * 3)
    cb = module.builder("cond")
    s = cb.parameter(state)
    cb.set_root(cb.compare(cb.get_tuple_element(s, index=0), cb.get_tuple_element(s, index=2),
                           direction="LT"))
    bb = module.builder("body")
    s = bb.parameter(state)
    i, acc, n = (bb.get_tuple_element(s, index=k) for k in range(3))
    bb.set_root(bb.tuple(bb.add(i, bb.constant(1, S32)), bb.add(acc, i), n))
    return cb.computation, bb.computation


def _control_flow_cases() -> None:
    def loop_sum():
        module, b = entry()
        n = param(b, scalar(S32), "n")
        cond, body = _counting_loop(module)
        zero = b.constant(0, S32)
        loop = b.emit("while", b.tuple(zero, zero, n), called=[cond, body])
        b.set_root(b.get_tuple_element(loop, index=1))
        return module

    for n, total in [(10, 45), (1, 0), (0, 0), (-5, 0)]:
        add_case(f"while-sum-n{n}", loop_sum, [arr(S32, n)], arr(S32, total))

    def loop_full_state():
        module, b = entry()
        n = param(b, scalar(S32), "n")
        cond, body = _counting_loop(module)
        b.set_root(b.emit("while", b.tuple(b.constant(2, S32), b.constant(100, S32), n), called=[cond, body]))
        return module

    add_case("while-tuple-state", loop_full_state, [arr(S32, 5)], (arr(S32, 5), arr(S32, 109), arr(S32, 5)))
    add_case("while-zero-trip-tuple-state", loop_full_state, [arr(S32, 2)],
             (arr(S32, 2), arr(S32, 100), arr(S32, 2)))

    def doubling():  # a 0-d state that is not a tuple
        module, b = entry()
        x = param(b, scalar(F32))
        cb = module.builder("cond")
        s = cb.parameter(scalar(F32))
        cb.set_root(cb.compare(s, cb.constant(100.0, F32), direction="LT"))
        bb = module.builder("body")
        s = bb.parameter(scalar(F32))
        bb.set_root(bb.multiply(s, bb.constant(2.0, F32)))
        b.set_root(b.emit("while", x, called=[cb.computation, bb.computation]))
        return module

    add_case("while-0d-state", doubling, [arr(F32, 3.0)], arr(F32, 192.0))
    add_case("while-0d-state-zero-trip", doubling, [arr(F32, 500.0)], arr(F32, 500.0))
    add_case("while-0d-state-nan-zero-trip", doubling, [arr(F32, NAN)], arr(F32, NAN))

    def array_state():  # (counter, f32[2,3], f32[2,0]): double the array 3 times
        module, b = entry()
        x = param(b, TensorType(F32, (2, 3)))
        e = param(b, TensorType(F32, (2, 0)))
        state = TupleType((scalar(S32), TensorType(F32, (2, 3)), TensorType(F32, (2, 0))))
        cb = module.builder("cond")
        s = cb.parameter(state)
        cb.set_root(cb.compare(cb.get_tuple_element(s, index=0), cb.constant(3, S32), direction="LT"))
        bb = module.builder("body")
        s = bb.parameter(state)
        k, a, z = (bb.get_tuple_element(s, index=i) for i in range(3))
        bb.set_root(bb.tuple(bb.add(k, bb.constant(1, S32)), bb.add(a, a), bb.negate(z)))
        b.set_root(b.emit("while", b.tuple(b.constant(0, S32), x, e),
                          called=[cb.computation, bb.computation]))
        return module

    x, e = arr(F32, [[1.0, -2.0, 0.5], [0.0, 3.0, -0.0]]), arr(F32, np.zeros((2, 0)))
    add_case("while-array-and-size0-state", array_state, [x, e],
             (arr(S32, 3), arr(F32, [[8.0, -16.0, 4.0], [0.0, 24.0, -0.0]]), e))

    # conditional, pred form: branch 0 runs when the predicate is true
    def pred_conditional():
        module, b = entry()
        p = param(b, scalar(PRED), "p")
        x = param(b, TensorType(F32, (2, 2)), "x")
        y = param(b, scalar(S32), "y")
        tb = module.builder("on_true")
        t = tb.parameter(TensorType(F32, (2, 2)))
        tb.set_root(tb.reduce(t, tb.constant(0.0, F32), dimensions=(0, 1),
                              called=[build_scalar_computation(module, "sum", "add", F32)]))
        fb = module.builder("on_false")
        f = fb.parameter(scalar(S32))
        fb.set_root(fb.convert(f, dtype=F32))
        b.set_root(b.conditional(p, x, y, called=[tb.computation, fb.computation]))
        return module

    x = arr(F32, [[1.0, 2.0], [3.0, 4.5]])
    add_case("conditional-pred-true", pred_conditional, [np.array(True), x, arr(S32, -7)], arr(F32, 10.5))
    add_case("conditional-pred-false", pred_conditional, [np.array(False), x, arr(S32, -7)], arr(F32, -7.0))

    def indexed_conditional():
        module, b = entry()
        i = param(b, scalar(S32), "index")
        x = param(b, TensorType(S32, (2, 2)), "x")
        branches = []
        ones = lambda bb: bb.broadcast(bb.constant(1, S32), shape=(2, 2), dimensions=())  # noqa: E731
        for name, make in [("plus_one", lambda bb, v: bb.add(v, ones(bb))),
                           ("twice", lambda bb, v: bb.multiply(v, v)),
                           ("negated", lambda bb, v: bb.negate(v))]:
            bb = module.builder(name)
            bb.set_root(make(bb, bb.parameter(TensorType(S32, (2, 2)))))
            branches.append(bb.computation)
        b.set_root(b.conditional(i, x, x, x, called=branches))
        return module

    x = arr(S32, [[1, -2], [3, 0]])
    for index, expected in [(0, [[2, -1], [4, 1]]), (1, [[1, 4], [9, 0]]), (2, [[-1, 2], [-3, 0]]),
                            (3, [[-1, 2], [-3, 0]]), (-1, [[-1, 2], [-3, 0]]), (1000, [[-1, 2], [-3, 0]])]:
        label = f"m{-index}" if index < 0 else str(index)
        add_case(f"conditional-index-{label}", indexed_conditional, [arr(S32, index), x], arr(S32, expected))

    def single_branch_and_size0():
        module, b = entry()
        i = param(b, scalar(S32))
        e = param(b, TensorType(F32, (0, 3)))
        bb = module.builder("only")
        bb.set_root(bb.negate(bb.parameter(TensorType(F32, (0, 3)))))
        b.set_root(b.conditional(i, e, called=[bb.computation]))
        return module

    e = arr(F32, np.zeros((0, 3)))
    add_case("conditional-single-branch-size0", single_branch_and_size0, [arr(S32, 4), e], e)

    # call
    def simple_call():
        module, b = entry()
        x, y = param(b, TensorType(F32, (2, 2))), param(b, TensorType(F32, (2, 2)))
        cb = module.builder("fma_like")
        p, q = cb.parameter(TensorType(F32, (2, 2))), cb.parameter(TensorType(F32, (2, 2)))
        cb.set_root(cb.add(cb.multiply(p, q), p))
        b.set_root(b.call(x, y, called=[cb.computation]))
        return module

    x, y = arr(F32, [[1.0, 2.0], [3.0, -4.0]]), arr(F32, [[2.0, 0.5], [-1.0, 0.25]])
    add_case("call-simple", simple_call, [x, y], arr(F32, [[3.0, 3.0], [0.0, -5.0]]))

    def nested_call_tuple():
        module, b = entry()
        x = param(b, scalar(S32))
        inner = module.builder("inner")
        p = inner.parameter(scalar(S32))
        inner.set_root(inner.tuple(inner.add(p, p), inner.negate(p)))
        outer = module.builder("outer")
        q = outer.parameter(scalar(S32))
        result = outer.call(q, called=[inner.computation])
        outer.set_root(outer.multiply(outer.get_tuple_element(result, index=0),
                                      outer.get_tuple_element(result, index=1)))
        b.set_root(b.tuple(b.call(x, called=[outer.computation]), b.call(x, called=[inner.computation])))
        return module

    add_case("call-nested-tuple", nested_call_tuple, [arr(S32, 3)],
             (arr(S32, -18), (arr(S32, 6), arr(S32, -3))))

    def call_no_args():
        module, b = entry()
        cb = module.builder("make")
        cb.set_root(cb.constant(arr(U8, np.zeros((0, 2)))))
        b.set_root(b.call(called=[cb.computation]))
        return module

    add_case("call-no-args-size0", call_no_args, [], arr(U8, np.zeros((0, 2))))

    # fusion
    def loop_fusion(shape):
        def build():
            module, b = entry()
            x, y = param(b, TensorType(F32, shape)), param(b, TensorType(F32, shape))
            fb = module.builder("fused_computation")
            p, q = fb.parameter(TensorType(F32, shape)), fb.parameter(TensorType(F32, shape))
            one = fb.broadcast(fb.constant(1.0, F32), shape=shape, dimensions=())
            fb.set_root(fb.add(fb.multiply(p, q), one))
            b.set_root(b.fusion(x, y, kind="kLoop", called=[fb.computation]))
            return module

        return build

    x, y = arr(F32, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), arr(F32, [[2.0, 2.0, 2.0], [-1.0, 0.0, 0.5]])
    add_case("fusion-kloop", loop_fusion((2, 3)), [x, y], arr(F32, [[3.0, 5.0, 7.0], [-3.0, 1.0, 4.0]]))
    add_case("fusion-kloop-0d", loop_fusion(()), [arr(F32, 3.0), arr(F32, -2.0)], arr(F32, -5.0))
    add_case("fusion-kloop-size0", loop_fusion((0, 4)), [arr(F32, np.zeros((0, 4)))] * 2,
             arr(F32, np.zeros((0, 4))))

    def input_fusion():
        module, b = entry()
        x = param(b, TensorType(F32, (2, 3)))
        fb = module.builder("fused_reduce")
        p = fb.parameter(TensorType(F32, (2, 3)))
        fb.set_root(fb.reduce(fb.multiply(p, p), fb.constant(0.0, F32), dimensions=(1,),
                              called=[build_scalar_computation(module, "sum", "add", F32)]))
        b.set_root(b.fusion(x, kind="kInput", called=[fb.computation]))
        return module

    add_case("fusion-kinput-reduce", input_fusion, [x], arr(F32, [14.0, 77.0]))

    # custom-call: a target registered by the test, and an unknown one
    def setup_axpy():
        def axpy(x, y, *, result_type, backend_config):
            return (np.float32(float(backend_config)) * x + y).astype(result_type.dtype.numpy)

        register_custom_call("jitflow_test.axpy", axpy)

    def custom_call_module(target, shape, config="2.5"):
        def build():
            module, b = entry()
            x, y = param(b, TensorType(F32, shape)), param(b, TensorType(F32, shape))
            b.set_root(b.custom_call(x, y, type=TensorType(F32, shape), custom_call_target=target,
                                     backend_config=config))
            return module

        return build

    x, y = arr(F32, [[1.0, 2.0], [3.0, 4.0]]), arr(F32, [[0.5, 0.5], [-1.0, 0.0]])
    add_case("custom-call-registered", custom_call_module("jitflow_test.axpy", (2, 2)), [x, y],
             arr(F32, [[3.0, 5.5], [6.5, 10.0]]), setup=setup_axpy)
    add_case("custom-call-0d", custom_call_module("jitflow_test.axpy", (), "-1"),
             [arr(F32, 2.0), arr(F32, 0.5)], arr(F32, -1.5), setup=setup_axpy)
    add_case("custom-call-size0", custom_call_module("jitflow_test.axpy", (0, 2)),
             [arr(F32, np.zeros((0, 2)))] * 2, arr(F32, np.zeros((0, 2))), setup=setup_axpy)
    add_case("custom-call-unknown-target", custom_call_module("jitflow_test.no_such_target", (2, 2)), [x, y],
             raises=r"%custom-call = f32\[2,2\] custom-call in computation 'main'.*"
                    r"no implementation of custom-call target 'jitflow_test\.no_such_target'")

    def setup_split():
        def split(x, *, result_type, backend_config):
            return (x.sum(dtype=np.int32), x[::-1].copy())

        register_custom_call("jitflow_test.split", split)

    def tuple_custom_call():
        module, b = entry()
        x = param(b, TensorType(S32, (3,)))
        b.set_root(b.custom_call(x, type=TupleType((scalar(S32), TensorType(S32, (3,)))),
                                 custom_call_target="jitflow_test.split", custom_call_has_side_effect=True))
        return module

    add_case("custom-call-tuple-result", tuple_custom_call, [arr(S32, [1, 2, 4])],
             (arr(S32, 7), arr(S32, [4, 2, 1])), setup=setup_split)


# ---------------------------------------------------------------------------
# assemble the corpus

def _column_major_variants() -> None:
    for case in list(CASES):
        _COLUMN_MAJOR.append(True)
        try:
            module = case.build()
        finally:
            _COLUMN_MAJOR.pop()
        if not any(_has_layout(p.type) for p in module.entry.parameters):
            continue
        CASES.append(replace(case, id=f"{case.id}@colmajor",
                             build=_named(_in_column_major(case.build), f"{case.id}@colmajor")))


def _in_column_major(build: Callable[[], Module]) -> Callable[[], Module]:
    def wrapped() -> Module:
        _COLUMN_MAJOR.append(True)
        try:
            return build()
        finally:
            _COLUMN_MAJOR.pop()

    return wrapped


def _has_layout(t) -> bool:
    if isinstance(t, TupleType):
        return any(_has_layout(e) for e in t.elements)
    return t.layout is not None and t.layout != TensorType.default_layout(t.rank)


_unary_cases()
_binary_cases()
_elementwise_edge_cases()
_compare_cases()
_select_cases()
_clamp_cases()
_convert_cases()
_bitcast_cases()
_parameter_constant_iota_cases()
_data_movement_dtype_sweep()
_broadcast_reshape_transpose_cases()
_slice_cases()
_concatenate_pad_reverse_cases()
_reduce_cases()
_dot_cases()
_tuple_cases()
_control_flow_cases()
_column_major_variants()


def all_case_modules() -> list[tuple[str, Module]]:
    """Every program of the corpus, freshly built, with its case id (for round-trip tests)."""
    return [(case.id, case.build()) for case in CASES]
