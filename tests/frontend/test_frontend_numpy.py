"""Differential tests: jit(fn, backend="interpreter") agrees with NumPy 2 on values, dtypes, shapes.

When NumPy raises (bool - bool, int8 + 300, max of an empty axis) the traced
version must raise the jitflow error that is also the matching Python exception.
"""

from __future__ import annotations

import numpy as np
import pytest

import jitflow
from jitflow import jit

from frontend_util import assert_same, check, check_or_raise

RNG = np.random.default_rng(1234)


def _data(dtype: str, shape: tuple[int, ...] = (3, 4)) -> np.ndarray:
    if dtype == "bool":
        return RNG.integers(0, 2, shape).astype(bool)
    if dtype.startswith(("int", "uint")):
        info = np.iinfo(dtype)
        low, high = max(info.min, -20), min(info.max, 20)
        return RNG.integers(low, high + 1, shape).astype(dtype)
    values = RNG.standard_normal(shape) * 3
    return values.astype(dtype)


DTYPES = ["float32", "float64", "float16", "int8", "uint8", "int32", "int64", "uint32", "bool"]
ARRAYS = {dtype: _data(dtype) for dtype in DTYPES}


# -- elementwise -------------------------------------------------------------------

UNARY = {
    "exp": np.exp, "expm1": np.expm1, "log": lambda x: np.log(np.abs(x) + 1),
    "log1p": lambda x: np.log1p(np.abs(x)), "sqrt": lambda x: np.sqrt(np.abs(x)),
    "tanh": np.tanh, "sin": np.sin, "cos": np.cos, "abs": np.abs, "sign": np.sign,
    "floor": np.floor, "ceil": np.ceil, "trunc": np.trunc, "rint": np.rint,
    "negative": np.negative, "positive": np.positive, "square": np.square,
    "isnan": np.isnan, "isinf": np.isinf, "isfinite": np.isfinite,
    "logical_not": np.logical_not, "invert": np.invert, "neg_op": lambda x: -x,
    "abs_op": abs, "invert_op": lambda x: ~x, "arctan": np.arctan, "sinh": np.sinh,
    "cosh": np.cosh, "cbrt": np.cbrt, "exp2": np.exp2, "log2": lambda x: np.log2(np.abs(x) + 1),
    "log10": lambda x: np.log10(np.abs(x) + 1), "tan": np.tan, "reciprocal_float":
        lambda x: np.reciprocal(x.astype(np.float32) + 100),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name, dtype):
    check_or_raise(UNARY[name], ARRAYS[dtype], rtol=1e-5)


BINARY = {
    "add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.divide,
    "floor_divide": np.floor_divide, "remainder": np.remainder, "fmod": np.fmod,
    "maximum": np.maximum, "minimum": np.minimum, "fmax": np.fmax, "fmin": np.fmin,
    "equal": np.equal, "not_equal": np.not_equal, "less": np.less, "less_equal": np.less_equal,
    "greater": np.greater, "greater_equal": np.greater_equal, "logical_and": np.logical_and,
    "logical_or": np.logical_or, "logical_xor": np.logical_xor, "bitwise_and": np.bitwise_and,
    "bitwise_or": np.bitwise_or, "bitwise_xor": np.bitwise_xor, "arctan2": np.arctan2,
    "power": lambda x, y: np.power(x, np.abs(y) % 4 if y.dtype != bool else y),
    "add_op": lambda x, y: x + y, "sub_op": lambda x, y: x - y, "mul_op": lambda x, y: x * y,
    "truediv_op": lambda x, y: x / y, "floordiv_op": lambda x, y: x // y,
    "mod_op": lambda x, y: x % y, "and_op": lambda x, y: x & y, "or_op": lambda x, y: x | y,
    "xor_op": lambda x, y: x ^ y, "lt_op": lambda x, y: x < y, "eq_op": lambda x, y: x == y,
    "ne_op": lambda x, y: x != y, "ge_op": lambda x, y: x >= y, "divmod": divmod,
    "shifts": lambda x, y: (x << (np.abs(y) % 3), x >> (np.abs(y) % 3)),
}
PAIRS = [("float32", "float32"), ("int8", "uint8"), ("int8", "float16"), ("uint8", "int64"),
         ("bool", "int8"), ("float32", "float64"), ("int32", "float32"), ("bool", "bool"),
         ("int64", "int64"), ("uint32", "int32"), ("float16", "float16")]


@pytest.mark.parametrize("pair", PAIRS, ids="-".join)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary(name, pair):
    x = ARRAYS[pair[0]]
    y = ARRAYS[pair[1]][::-1]  # a different array, so that x op x shortcuts are not tested
    check_or_raise(BINARY[name], x, y, rtol=1e-5)


def test_integer_division_by_zero_and_negative_operands():
    x = np.array([7, -7, 7, -7, 0, 5, -128], dtype=np.int8)
    y = np.array([2, 2, -2, -2, 0, 0, -1], dtype=np.int8)
    check(lambda a, b: (a // b, a % b, np.fmod(a, b)), x, y)


def test_float_floor_divide_and_remainder_follow_numpy_divmod():
    x = np.array([1.0, -1.0, 1.0, -1.0, 0.0, -0.0, 5.5, np.inf, np.nan, 1.0, 3.0])
    y = np.array([0.1, 0.1, -0.1, -0.1, 3.0, 3.0, 0.0, 2.0, 1.0, np.inf, -np.inf])
    result = check(lambda a, b: (a // b, a % b), x, y)
    with np.errstate(all="ignore"):
        expected = (x // y, x % y)
        for got, want in zip(result, expected):
            np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


def test_sign_of_negative_zero_and_nan():
    x = np.array([-0.0, 0.0, -2.0, 3.0, np.nan], dtype=np.float32)
    result = check(np.sign, x)
    np.testing.assert_array_equal(np.signbit(result), np.signbit(np.sign(x)))


def test_uint64_compares_exactly_with_int64():
    x = np.array([0, 1, 2**63, 2**64 - 1], dtype=np.uint64)
    y = np.array([-1, 1, -(2**63), 5], dtype=np.int64)
    check(lambda a, b: (a < b, a == b, a >= b, b > a), x, y)


# -- NEP 50 promotion with Python scalars ------------------------------------------------

SCALARS = [1, -3, 300, 2.5, True, -1, 1e10]
SCALAR_DTYPES = ["int8", "uint8", "float16", "float32", "bool", "int64"]


@pytest.mark.parametrize("scalar", SCALARS, ids=repr)
@pytest.mark.parametrize("dtype", SCALAR_DTYPES)
def test_python_scalar_literals_are_weak(dtype, scalar):
    x = ARRAYS[dtype]
    check_or_raise(lambda a: a + scalar, x)
    check_or_raise(lambda a: scalar * a, x)
    check_or_raise(lambda a: a < scalar, x)
    check_or_raise(lambda a: np.maximum(a, scalar), x)


@pytest.mark.parametrize("scalar", [3, 2.5, True], ids=repr)
@pytest.mark.parametrize("dtype", SCALAR_DTYPES)
def test_python_scalar_arguments_are_weak(dtype, scalar):
    check_or_raise(lambda a, s: a * s + s, ARRAYS[dtype], scalar)


def test_operators_on_scalar_arguments_stay_weak():
    # n + 1 is a Python int in NumPy, so x_f16 * (n + 1) stays float16.
    check(lambda x, n: x * (n + 1) - n / 2, ARRAYS["float16"], 3)
    # np.exp of a Python float is a (strong) np.float64, so the product is float64.
    check(lambda x, s: x * np.exp(s), ARRAYS["float32"], 0.5)


def test_python_int_exponents():
    check(lambda x: (x ** 2, x ** 0, 2 ** x), ARRAYS["float32"])
    check(lambda x: (x ** 3, x ** 2), ARRAYS["int8"])


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int32", "uint8"])
def test_literal_powers_match_numpy_and_avoid_the_power_op(dtype):
    rng = np.random.default_rng(64)  # not the shared RNG: later tests' data stay as they were
    if dtype.startswith("float"):
        x = (rng.standard_normal(64) * 3).astype(dtype)
        x[:6] = [0.0, -0.0, np.inf, -np.inf, np.nan, -1.5]
        exponents = [0, 1, 2, 3, 4, 5, 7, 8, -1, -2, -3, -8, 0.5, 3.0, -4.0]
    else:
        x = rng.integers(0, 21, 64).astype(dtype)
        exponents = [0, 1, 2, 3, 5, 8]
    for n in exponents:
        fn = lambda x, n=n: x ** n
        check(lambda x, n=n: np.power(x, n), x)
        if n == 0.5 and dtype == "float16":
            # NumPy's float16 ``**`` takes sqrt but np.power calls pow (-inf ** 0.5 = inf): we
            # follow np.power, so only finite non-negative x agree for the operator.
            check(fn, np.abs(np.nan_to_num(x, posinf=1, neginf=1)))
            continue
        check(fn, x)
        assert " power(" not in str(jit(fn).trace(x)), n
    y = np.abs(x) + 1
    check(lambda x: (x ** 9, x ** 2.5, x ** -0.5), y)  # these keep ``power``
    assert " power(" in str(jit(lambda x: x ** 9).trace(y))


def test_numpy_scalars_are_strong():
    check(lambda x: x + np.float64(1.5), ARRAYS["float32"])
    check(lambda x: x + np.int16(3), ARRAYS["int8"])


def test_int_true_division_and_exp_of_ints():
    check(lambda x, y: x / y, ARRAYS["int32"], ARRAYS["int32"] + 100)
    check(lambda x: (np.exp(x), np.sqrt(np.abs(x))), ARRAYS["int64"])
    check(lambda x: np.exp(x), ARRAYS["int8"])  # float16, as NumPy picks the smallest safe loop


def test_bool_arithmetic():
    a, b = ARRAYS["bool"], ARRAYS["bool"][::-1]
    check(lambda x, y: (x + y, x * y, x & y, x | y, x ^ y, ~x, x + 1, x * 2.5), a, b)
    check(lambda x: (x.sum(), x.sum(axis=0), x.mean(), np.maximum(x, x[::-1])), a)


# -- where, clip, round, isclose ----------------------------------------------------

def test_where_promotes_like_numpy():
    x32, i8 = ARRAYS["float32"], ARRAYS["int8"]
    check(lambda x: np.where(x > 0, x, 0.0), x32)
    check(lambda x, y: np.where(y > 0, x, y), x32, i8)
    check(lambda x: np.where(x, 1, 2), ARRAYS["bool"])
    check(lambda x: np.where(x[:1] > 0, x, np.float64(2)), x32)


def test_clip_and_round():
    x = ARRAYS["float32"]
    check(lambda a: (np.clip(a, -1, 1), a.clip(0), a.clip(max=0.5), np.clip(a, -1.5, None)), x)
    check(lambda a: (np.clip(a, 0, 300), np.clip(a, -5, 5)), ARRAYS["int8"])
    check(lambda a: (np.round(a), np.round(a, 1), np.round(a * 100, -1), a.round(2)), x)
    check(lambda a: (np.round(a), np.round(a * 7, -1)), ARRAYS["int32"])


def test_isclose():
    x = np.array([1.0, np.nan, np.inf, -np.inf, 1e-9, 2.0])
    y = np.array([1.0 + 1e-7, np.nan, np.inf, np.inf, 0.0, 2.1])
    check(lambda a, b: (np.isclose(a, b), np.isclose(a, b, equal_nan=True),
                        np.isclose(a, b, rtol=0.1)), x, y)


# -- reductions --------------------------------------------------------------------

REDUCTIONS = {
    "sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "prod": np.prod,
    "var": np.var, "std": np.std, "any": np.any, "all": np.all,
    "var_ddof": lambda x, **kw: np.var(x, ddof=1, **kw),
    "std_ddof": lambda x, **kw: x.std(ddof=1, **kw),
    "sum_method": lambda x, **kw: x.sum(**kw), "max_method": lambda x, **kw: x.max(**kw),
    "amin": np.amin, "mean_method": lambda x, **kw: x.mean(**kw),
}
AXES = [None, 0, -1, (0, 1), (-1, 0), (), 1]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=repr)
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reductions_axis_keepdims(name, axis, keepdims):
    for dtype in ("float32", "int8", "uint8"):
        check_or_raise(lambda x: REDUCTIONS[name](x, axis=axis, keepdims=keepdims),
                       ARRAYS[dtype][:, :3], rtol=1e-5)


@pytest.mark.parametrize("dtype", ["float16", "bool", "int64", "float64", "uint32"])
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_dtypes(name, dtype):
    check_or_raise(lambda x: (REDUCTIONS[name](x), REDUCTIONS[name](x, axis=1)), ARRAYS[dtype],
                   rtol=2e-3)


@pytest.mark.parametrize("shape", [(), (0,), (0, 3), (3, 0), (1,), (1, 1)], ids=str)
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reductions_on_degenerate_shapes(name, shape):
    x = _data("float32", shape)
    check_or_raise(lambda a: REDUCTIONS[name](a), x)
    if len(shape) == 2:
        check_or_raise(lambda a: REDUCTIONS[name](a, axis=0), x)


def test_reduction_dtype_and_initial_arguments():
    x = ARRAYS["int8"]
    check(lambda a: (a.sum(dtype=np.int8), np.sum(a, dtype=np.float32), a.prod(dtype=np.int16),
                     np.mean(a, dtype=np.float32), np.sum(a, initial=10),
                     np.max(a, axis=0, initial=15), np.min(a[:0], initial=3)), x)


def test_ufunc_reduce_and_outer():
    x = ARRAYS["float32"]
    check(lambda a: (np.add.reduce(a), np.maximum.reduce(a, axis=1), np.multiply.reduce(a, None),
                     np.logical_or.reduce(a > 1), np.multiply.outer(a[0], a[1]),
                     np.subtract.outer(a[:, 0], a[0])), x)


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_argmax_argmin(axis):
    x = np.array([[1.0, 3.0, 3.0, -1.0], [np.nan, 2.0, np.nan, 0.0], [5.0, 5.0, 5.0, 5.0]])
    fns = lambda a: (np.argmax(a, axis=axis), np.argmin(a, axis=axis),
                     a.argmax(axis=axis, keepdims=True), a.argmin(axis=axis, keepdims=True))
    check(fns, x)
    check(fns, x.astype(np.float32)[[0, 2]])
    check(fns, ARRAYS["int8"])
    check(fns, ARRAYS["bool"])
    check(fns, np.array([[-np.inf, -np.inf], [np.inf, np.inf]]))


# -- linear algebra -------------------------------------------------------------------

MATMUL_SHAPES = [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)),
                 ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((4,), (2, 4, 3)),
                 ((2, 3, 4), (4,)), ((0, 4), (4, 2)), ((3, 0), (0, 2))]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul_and_dot(shapes):
    a, b = (RNG.standard_normal(s).astype(np.float32) for s in shapes)
    check(lambda x, y: (x @ y, np.matmul(x, y)), a, b, rtol=1e-5)
    if len(shapes[1]) <= 2:
        check(lambda x, y: np.dot(x, y), a, b, rtol=1e-5)


def test_products_with_other_dtypes():
    i8 = RNG.integers(-5, 5, (3, 4)).astype(np.int8)
    f32 = RNG.standard_normal((4, 2)).astype(np.float32)
    check(lambda x, y: (x @ y, x @ x.T, np.dot(x, x.T), x.T.astype(bool) @ x.astype(bool)), i8, f32)
    check(lambda x: (np.dot(x, 2), np.dot(2.0, x), np.inner(x, x), np.outer(x, x[:2]),
                     np.vdot(x, x), np.tensordot(x, x, axes=([1], [1])),
                     np.tensordot(x, x.T, axes=1)), f32, rtol=1e-5)
    check(lambda x: np.dot(x, np.ones((3, 4, 2))), RNG.standard_normal((2, 4)), rtol=1e-6)


EINSUMS = [("ij,jk->ik", (3, 4), (4, 5)), ("ij,kj->ik", (3, 4), (5, 4)),
           ("bij,bjk->bik", (2, 3, 4), (2, 4, 5)), ("ij,ij->i", (3, 4), (3, 4)),
           ("i,j->ij", (3,), (4,)), ("ij,jk", (3, 4), (4, 5)), ("bhqd,bhkd->bhqk", (2, 2, 3, 4),
                                                              (2, 2, 5, 4)),
           ("ij->ji", (3, 4)), ("ij->", (3, 4)), ("ijk->kj", (2, 3, 4)), ("ij,jk,kl->il", (2, 3),
                                                                         (3, 4), (4, 5)),
           ("ij,k->i", (3, 4), (5,))]


@pytest.mark.parametrize("case", EINSUMS, ids=lambda c: c[0])
def test_einsum(case):
    subscripts, *shapes = case
    operands = [RNG.standard_normal(s) for s in shapes]
    check(lambda *xs: np.einsum(subscripts, *xs), *operands, rtol=1e-6)


# -- shapes ---------------------------------------------------------------------------

SHAPE_PROGRAMS = {
    "reshape": lambda x: (x.reshape(4, 3), x.reshape((2, -1)), np.reshape(x, (12,)),
                          x.reshape(-1), x.reshape(1, 3, 1, 4)),
    "transpose": lambda x: (x.T, x.transpose(), x.transpose(1, 0), np.transpose(x, (1, 0)),
                            x[None].transpose((2, 0, 1)), x.mT),
    "swapaxes_moveaxis": lambda x: (np.swapaxes(x[None], 0, 2), x.swapaxes(-1, 0),
                                    np.moveaxis(x[None], 0, -1),
                                    np.moveaxis(x[None], [0, 1], [2, 0])),
    "expand_squeeze": lambda x: (np.expand_dims(x, 0), np.expand_dims(x, (0, -1)),
                                 np.squeeze(x[None, :, None]), x[:1].squeeze(0),
                                 np.squeeze(x[None], axis=0)),
    "broadcast": lambda x: (np.broadcast_to(x[:1], (5, 4)), np.broadcast_to(x, (2, 3, 4)),
                            np.broadcast_arrays(x, x[:1, :1])[1]),
    "concatenate": lambda x: (np.concatenate([x, x[:1]]), np.concatenate((x, x), axis=-1),
                              np.concatenate([x, x], axis=None),
                              np.concatenate([x, np.ones((1, 4))])),
    "stack": lambda x: (np.stack([x, x]), np.stack((x, x + 1), axis=1), np.stack([x, x], -1),
                        np.hstack([x, x]), np.hstack((x[0], x[1], np.ones(2))), np.vstack([x, x[0]]),
                        np.atleast_1d(x[0, 0]), np.atleast_2d(x[0]), np.atleast_2d(x, x[0])),
    "triangles": lambda x: (np.tril(x), np.triu(x), np.tril(x, -1), np.triu(x, 2),
                            np.tril(np.stack([x, x]), 1)),
    "split": lambda x: (np.split(x, 2, axis=1), np.split(x, [1, 2]), np.split(x, [1, -1], axis=1),
                        np.split(x, 3)),
    "ravel_flip": lambda x: (x.ravel(), x.flatten(), np.ravel(x), np.flip(x), np.flip(x, 1)),
    "like": lambda x: (np.zeros_like(x), np.ones_like(x, dtype=np.int8), np.full_like(x, 7),
                       np.empty_like(x).shape, np.full_like(x, 2.5, dtype=np.float16),
                       np.zeros_like(x, shape=(2,)), np.full_like(x, x[0, 0])),
    "static_facts": lambda x: (x * x.shape[0] + x.ndim + x.size, np.shape(x), np.ndim(x), len(x)),
    "creation_constants": lambda x: (x + np.arange(4), x * np.linspace(0, 1, 4), np.eye(3, 4) * x,
                                     np.zeros((3, 4)) + x, np.ones(4) - x, np.full((3, 1), 2) * x,
                                     np.arange(12).reshape(3, 4) + x),
    "astype": lambda x: (x.astype(np.int32), x.astype(bool), x.astype(np.float16),
                         (x * 10).astype(np.int8), x.astype(float), np.astype(np.abs(x), np.uint8)),
    "iterate": lambda x: [row.sum() for row in x],
    "copy": lambda x: (np.copy(x), x.copy()),
}


@pytest.mark.parametrize("name", sorted(SHAPE_PROGRAMS))
def test_shape_programs(name):
    check(SHAPE_PROGRAMS[name], ARRAYS["float32"])


def test_astype_of_integers_and_bools():
    check(lambda x: (x.astype(np.int8), x.astype(np.uint8), x.astype(np.float16),
                     x.astype(bool), x.astype(np.float32)), ARRAYS["int64"] * 37)
    check(lambda x: (x.astype(np.float32), x.astype(np.int8), x.astype(np.uint32)), ARRAYS["bool"])


# -- indexing --------------------------------------------------------------------------

INDEXES = {
    "int": 1, "negative_int": -1, "pair": (2, -3), "slice": slice(1, 3),
    "slice_step": (Ellipsis, slice(1, 5, 2)), "negative_step": slice(None, None, -2),
    "reverse_cols": (slice(None), slice(None, None, -1)), "none": None,
    "none_middle": (slice(None), None, 0), "ellipsis": Ellipsis, "ellipsis_int": (Ellipsis, 0),
    "empty_slice": slice(3, 1), "clamped_slice": slice(-100, 100), "negative_bounds":
        (slice(-2, None), slice(-3, -1)),
    "step_backwards_partial": (slice(2, 0, -1), slice(3, None, -2)),
    "int_array": (slice(None), [2, 0, 1, 2]), "int_array_first": [1, 0], "neg_int_array": [-1, 0],
    "int_array_2d": np.array([[0, 1], [2, 2]]), "mask": np.array([True, False, True]),
    "int_and_array": (0, [1, 3]), "array_then_int": ([1, 2], 0),
    "separated_advanced": (0, slice(None), [1, 0]), "progression": (slice(None), [0, 2]),
    "empty_array": [],
}


@pytest.mark.parametrize("name", sorted(INDEXES))
def test_indexing(name):
    key = INDEXES[name]
    check_or_raise(lambda x: x[key], ARRAYS["float32"])
    check_or_raise(lambda x: x[key], _data("int8", (3, 4, 2)))


def test_indexing_with_traced_indices():
    x = ARRAYS["float32"]
    check(lambda a, i: (a[i], a[:, i], a[i, -1]), x, np.int32(2))
    check(lambda a, i: (a[i], a[-i]), x, 1)  # a Python int argument is traced (weakly)
    check(lambda a, idx: (a[idx], a[:, idx], np.take(a, idx, axis=1)), x,
          np.array([2, 0, -1], dtype=np.int64))
    check(lambda a, idx: a[idx], x, np.array([[0, 1], [2, -3]]))


def test_take():
    x = ARRAYS["float32"]
    check(lambda a: (np.take(a, [0, 5, -1]), np.take(a, [1, 1], axis=0), a.take([3], axis=-1)), x)


def test_constants_captured_by_closure():
    table = RNG.standard_normal((4, 2)).astype(np.float32)
    check(lambda x: x @ table + table.sum(), ARRAYS["float32"], rtol=1e-5)


def test_zero_dimensional_and_size_zero_inputs():
    check(lambda x: (x + 1, np.exp(x), x * x, -x, x.reshape(1), x[None], x[...]),
          np.array(2.5, dtype=np.float32))
    empty = np.zeros((0, 3), dtype=np.float32)
    check(lambda x: (x + 1, x.sum(axis=0), x.T, x @ np.ones((3, 2), np.float32), x[:, 1:]), empty)


def test_broadcasting_of_many_shapes():
    a = _data("float32", (2, 1, 4))
    b = _data("float32", (3, 1))
    c = _data("float32", (4,))
    check(lambda x, y, z: (x + y, x * y + z, np.where(z > 0, x, y), np.maximum(y, c)), a, b, c)


def test_full_results_match_via_assert_same():
    actual = jit(lambda x: {"a": x + 1, "b": [x.sum(), (x,)]}, backend="interpreter")(
        ARRAYS["float32"])
    x = ARRAYS["float32"]
    assert_same(actual, {"a": x + 1, "b": [x.sum(), (x,)]})


@pytest.mark.parametrize("dtype, largest, rtol", [(np.float32, 89.41, 5e-7), (np.float64, 710.47, 1e-15)])
@pytest.mark.parametrize("ufunc", [np.sinh, np.cosh])
def test_sinh_and_cosh_stay_finite_where_numpy_does(ufunc, dtype, largest, rtol):
    # Past where e^|x| overflows (88.72 in float32, 709.78 in float64) sinh and cosh are
    # still finite up to `largest`; compiled code and the interpreter both agree with NumPy.
    x = np.linspace(-largest, largest, 4001, dtype=dtype)
    want = ufunc(x)
    assert np.isfinite(want).all()
    compiled = jitflow.jit(ufunc)(x)
    with jitflow.interpreter_mode():
        interpreted = jitflow.jit(lambda v: ufunc(v))(x)
    for got in (compiled, interpreted):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=0)
