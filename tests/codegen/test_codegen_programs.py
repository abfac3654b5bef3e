"""Differential tests of the CPU backend: programs built with the Builder, run compiled and
interpreted, on odd shapes (0-d, size 0, size 1, 17, 1023), every dtype an op allows, and
non-contiguous inputs."""

from __future__ import annotations

import numpy as np
import pytest

from codegen_util import check_against_interpreter
from filecheck_util import filecheck
from jitflow import runtime
from jitflow.codegen.cpu import host_threads
from jitflow.ir import DType, Module, TensorType, TupleType, build_scalar_computation

FLOATS = (DType.F16, DType.BF16, DType.F32, DType.F64)
INTS = (DType.S8, DType.S16, DType.S32, DType.S64, DType.U8, DType.U16, DType.U32, DType.U64)
SHAPES = [(), (0,), (1,), (17,), (1023,), (3, 0), (4, 17)]


def sample(dtype: DType, shape, seed: int = 0, low: float = -4.0, high: float = 4.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype is DType.PRED:
        return rng.integers(0, 2, shape).astype(bool)
    if dtype.is_integer:
        info = np.iinfo(dtype.numpy)
        return rng.integers(info.min, info.max, shape, dtype=dtype.numpy, endpoint=True)
    return rng.uniform(low, high, shape).astype(dtype.numpy)


def entry(name: str = "program"):
    module = Module(name)
    return module, module.builder("main", entry=True)


def scalar_broadcast(b, value, dtype: DType, shape):
    return b.broadcast(b.constant(np.asarray(value, dtype=dtype.numpy)), shape=shape, dimensions=())


# -- elementwise programs ---------------------------------------------------------------

def gelu_tanh(dtype: DType, shape) -> Module:
    module, b = entry("gelu")
    x = b.parameter(TensorType(dtype, shape))
    c = lambda v: scalar_broadcast(b, v, dtype, shape)  # noqa: E731
    inner = b.multiply(c(0.7978845608), b.add(x, b.multiply(c(0.044715), b.multiply(x, b.multiply(x, x)))))
    b.set_root(b.multiply(b.multiply(c(0.5), x), b.add(c(1.0), b.tanh(inner))))
    return module


def exp_log_chain(dtype: DType, shape) -> Module:
    module, b = entry("explog")
    x = b.parameter(TensorType(dtype, shape))
    y = b.parameter(TensorType(dtype, shape))
    soft = b.log_plus_one(b.exponential(b.negate(b.abs(x))))
    mixed = b.add(b.logistic(y), b.exponential_minus_one(b.divide(x, b.add(b.abs(y), scalar_broadcast(b, 1, dtype, shape)))))
    b.set_root(b.tuple(b.maximum(soft, mixed), b.log(b.add(b.abs(x), scalar_broadcast(b, 0.5, dtype, shape)))))
    return module


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_gelu(dtype, shape):
    check_against_interpreter(gelu_tanh(dtype, shape), sample(dtype, shape))


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("shape", [(), (17,), (1023,)], ids=str)
def test_exp_log_chain(dtype, shape):
    check_against_interpreter(exp_log_chain(dtype, shape), sample(dtype, shape, 1), sample(dtype, shape, 2))


@pytest.mark.parametrize("dtype", INTS, ids=str)
@pytest.mark.parametrize("shape", [(), (17,), (1023,)], ids=str)
def test_integer_chain(dtype, shape):
    module, b = entry("ints")
    x = b.parameter(TensorType(dtype, shape))
    y = b.parameter(TensorType(dtype, shape))
    mixed = b.xor(b.multiply(x, y), b.shift_right_logical(x, y))
    quotient = b.divide(mixed, y)  # includes division by zero (-1) and INT_MIN / -1
    b.set_root(b.tuple(b.remainder(quotient, x), b.compare(x, y, direction="LT"), b.popcnt(mixed)))
    y_values = sample(dtype, shape, 4)
    if shape:
        y_values.flat[0] = 0
    check_against_interpreter(module, sample(dtype, shape, 3), y_values)


@pytest.mark.parametrize("shape", [(), (17,), (1023,)], ids=str)
def test_pred_select_chain(shape):
    module, b = entry("pred")
    p = b.parameter(TensorType(DType.PRED, shape))
    q = b.parameter(TensorType(DType.PRED, shape))
    x = b.parameter(TensorType(DType.F32, shape))
    choose = b.emit("and", b.emit("or", p, q), b.emit("not", b.xor(p, q)))
    b.set_root(b.select(choose, x, b.negate(x)))
    check_against_interpreter(module, sample(DType.PRED, shape, 1), sample(DType.PRED, shape, 2),
                              sample(DType.F32, shape))


@pytest.mark.parametrize("source", FLOATS + INTS + (DType.PRED,), ids=str)
def test_convert_chain(source):
    module, b = entry("convert")
    x = b.parameter(TensorType(source, (1023,)))
    outs = [b.convert(x, dtype=target) for target in FLOATS + INTS + (DType.PRED,) if target is not source]
    b.set_root(b.tuple(*outs))
    values = sample(source, (1023,), low=-300.0, high=300.0)
    check_against_interpreter(module, values)


def test_special_values_keep_their_sign_and_nan():
    module, b = entry("specials")
    x = b.parameter(TensorType(DType.F32, (8,)))
    b.set_root(b.tuple(b.exponential_minus_one(x), b.log_plus_one(x), b.tanh(x), b.maximum(x, x), b.sign(x)))
    values = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 3.0], np.float32)
    results = runtime.compile(module)(values)
    for got in results[:3]:
        assert np.signbit(got[1]) and not np.signbit(got[0])
        assert np.isnan(got[4])
    check_against_interpreter(module, values)


# -- shapes and data movement -----------------------------------------------------------

@pytest.mark.parametrize("dtype", (DType.PRED, DType.S8, DType.BF16, DType.F32, DType.U64), ids=str)
def test_data_movement_chain(dtype):
    module, b = entry("movement")
    x = b.parameter(TensorType(dtype, (4, 17)))
    t = b.transpose(x, dimensions=(1, 0))
    s = b.slice(t, slice=((1, 17, 3), (0, 4, 1)))
    r = b.reverse(s, dimensions=(0,))
    pad_value = b.constant(np.zeros((), dtype.numpy))
    p = b.pad(r, pad_value, padding=((1, -1, 1), (2, 0, 0)))
    reshaped = b.reshape(p, shape=(p.type.size,))
    row = b.broadcast(b.slice(x, slice=((0, 1, 1), (0, 17, 1))), shape=(3, 17), dimensions=(0, 1))
    flat_row = b.reshape(row, shape=(51,))
    b.set_root(b.concatenate(reshaped, flat_row, b.reshape(x, shape=(68,)), dimensions=(0,)))
    check_against_interpreter(module, sample(dtype, (4, 17)))


@pytest.mark.parametrize("start", [-5, 0, 3, 100], ids=str)
def test_dynamic_slices(start):
    module, b = entry("dynamic")
    x = b.parameter(TensorType(DType.F64, (9, 17)))
    update = b.parameter(TensorType(DType.F64, (2, 5)))
    i = b.parameter(TensorType(DType.S32, ()))
    window = b.dynamic_slice(x, i, i, dynamic_slice_sizes=(3, 4))
    b.set_root(b.tuple(window, b.dynamic_update_slice(x, update, i, b.negate(i))))
    check_against_interpreter(module, sample(DType.F64, (9, 17)), sample(DType.F64, (2, 5), 1),
                              np.int32(start))


@pytest.mark.parametrize("dtype", (DType.S16, DType.U32, DType.F16, DType.F64), ids=str)
def test_iota_and_bitcasts(dtype):
    module, b = entry("iota")
    iota = b.iota(shape=(5, 8), dtype=dtype, iota_dimension=1)
    narrow = DType.U8
    parts = b.bitcast_convert(iota, type=TensorType(narrow, (5, 8, dtype.bits // 8)))
    back = b.bitcast_convert(parts, type=TensorType(dtype, (5, 8)))
    b.set_root(b.tuple(parts, back))
    check_against_interpreter(module)


# -- reductions -----------------------------------------------------------------------------

def reduce_module(dtype: DType, shape, dims, opcode: str = "add") -> Module:
    module, b = entry("reduce")
    reducer = build_scalar_computation(module, "reducer", opcode, dtype)
    x = b.parameter(TensorType(dtype, shape))
    init = b.constant(np.asarray(0, dtype.numpy))
    b.set_root(b.reduce(x, init, dimensions=dims, called=[reducer]))
    return module


@pytest.mark.parametrize("dims", [(0,), (1,), (0, 1), (1, 2), (0, 2)], ids=str)
@pytest.mark.parametrize("dtype", (DType.F32, DType.F64, DType.F16, DType.S32, DType.U8), ids=str)
def test_sum(dtype, dims):
    shape = (5, 17, 33)
    values = sample(dtype, shape, low=-1.0, high=1.0)
    check_against_interpreter(reduce_module(dtype, shape, dims), values,
                              rtol=1e-2 if dtype is DType.F16 else 1e-5)


@pytest.mark.parametrize("opcode", ["maximum", "minimum", "multiply"])
def test_other_ufunc_reductions(opcode):
    values = sample(DType.F32, (7, 1023), low=0.5, high=1.5)
    values[3, 100] = np.nan
    check_against_interpreter(reduce_module(DType.F32, (7, 1023), (1,), opcode), values, rtol=1e-4)


def argmax_reduce(module: Module, b, shape, dim: int):
    """(max, its index) along ``dim``: a variadic reduce with a two-output reducer."""
    rb = module.builder("argmax_reducer")
    av, ai, bv, bi = (rb.parameter(TensorType(d, ())) for d in (DType.F32, DType.S32, DType.F32, DType.S32))
    take_b = rb.compare(bv, av, direction="GT")
    rb.set_root(rb.tuple(rb.select(take_b, bv, av), rb.select(take_b, bi, ai)))
    x = b.parameter(TensorType(DType.F32, shape))
    index = b.iota(shape=shape, dtype=DType.S32, iota_dimension=dim)
    inits = b.constant(np.float32(-np.inf)), b.constant(np.int32(-1))
    return b.reduce(x, index, *inits, dimensions=(dim,), called=[rb.computation])


def test_variadic_argmax_reduce():
    module, b = entry("argmax")
    b.set_root(argmax_reduce(module, b, (6, 17), 1))
    check_against_interpreter(module, sample(DType.F32, (6, 17)))


def test_general_reducer_is_folded_in_order():
    module, b = entry("sum_of_squares")
    rb = module.builder("square_add")
    acc, x = rb.parameter(TensorType(DType.F64, ())), rb.parameter(TensorType(DType.F64, ()))
    rb.set_root(rb.add(acc, rb.multiply(x, x)))
    p = b.parameter(TensorType(DType.F64, (3, 1023)))
    b.set_root(b.reduce(p, b.constant(np.float64(1.0)), dimensions=(1,), called=[rb.computation]))
    check_against_interpreter(module, sample(DType.F64, (3, 1023)))


COLUMN_CASES = [
    (DType.F32, (5, 4097), (0,)),      # two column tiles and a partial one
    (DType.F64, (3, 2049), (0,)),
    (DType.F32, (0, 7), (0,)),         # nothing to reduce: the init everywhere
    (DType.F32, (7, 0), (0,)),         # nothing to compute
    (DType.F32, (4, 1), (0,)),
    (DType.F32, (2, 3, 1025), (0, 1)),
    (DType.F32, (2, 3, 1025), (1,)),   # a row of outputs per leading index
    (DType.F16, (513, 40), (0,)),      # accumulates in f32
    (DType.S32, (9, 33), (0,)),
    (DType.U8, (9, 4, 33), (0, 1)),
]


# A reduction that keeps the minor dimension accumulates a tile of adjacent outputs at a
# time, not one strided walk per output: a stack array of accumulators (f32 for halves) is
# set to the init; for each reduced row the innermost loop walks the tile's columns
# (consecutive addresses: the column index is the last term of the address) adding into
# them; then the tile is written out and the next tile starts.
COLUMN_TILE = r"""
CHECK-LABEL: define internal void @"jf_kernel0"
CHECK:         %[[TILE:.+]] = alloca {{\[}}[[WIDTH:[0-9]+]] x [[ACC:float|double|i32|i8]]{{\]}}
CHECK:       tile.header:
CHECK:       acc.init.body:
CHECK:         store [[ACC]] %{{.+}}, {{.+}}
CHECK:       acc.body:
CHECK:         %[[AT:.+]] = add nsw i64 %{{.+}}, %"acc"
CHECK-NEXT:    getelementptr inbounds {{half|float|double|i32|i8}}, ptr %{{.+}}, i64 %[[AT]]
CHECK:         %[[SLOT:.+]] = getelementptr inbounds {{.+}} %[[TILE]], i64 0, i64 %{{.+}}
CHECK-NEXT:    %[[OLD:.+]] = load [[ACC]], {{.+}} %[[SLOT]]
CHECK-NEXT:    %[[NEW:.+]] = {{f?add.*}} [[ACC]] %[[OLD]], %{{.+}}
CHECK-NEXT:    store [[ACC]] %[[NEW]], {{.+}} %[[SLOT]]
CHECK:       acc.done:
CHECK:       col.body:
CHECK:         load [[ACC]], {{.+}}
CHECK:       col.done:
CHECK-NEXT:    %"tile.next" = add nsw i64 %"tile", 1
CHECK-NEXT:    br label %"tile.header"
"""


@pytest.mark.parametrize("dtype,shape,dims", COLUMN_CASES, ids=str)
def test_reductions_keeping_the_minor_dimension(dtype, shape, dims):
    module = reduce_module(dtype, shape, dims)
    values = sample(dtype, shape, low=-1.0, high=1.0)
    check_against_interpreter(module, values, rtol=1e-2 if dtype is DType.F16 else 1e-5)
    if 0 not in shape:
        filecheck(runtime.compile(module).llvm_ir, COLUMN_TILE)


@pytest.mark.parametrize("opcode", ["maximum", "minimum", "multiply", "or"])
def test_other_column_reductions(opcode):
    dtype = DType.PRED if opcode == "or" else DType.F32
    module, b = entry("column")
    reducer = build_scalar_computation(module, "reducer", opcode, dtype)
    x = b.parameter(TensorType(dtype, (37, 300)))
    init = b.constant(np.asarray(opcode == "multiply", dtype.numpy))
    b.set_root(b.reduce(x, init, dimensions=(0,), called=[reducer]))
    values = sample(dtype, (37, 300), low=0.5, high=1.5)
    if dtype is DType.F32:
        values[3, 100] = np.nan
    check_against_interpreter(module, values, rtol=1e-4)


def test_variadic_column_argmax_and_epilogue():
    module, b = entry("argmax")
    best = argmax_reduce(module, b, (61, 19), 0)
    value = b.get_tuple_element(best, index=0)
    b.set_root(b.tuple(b.get_tuple_element(best, index=1), b.subtract(value, b.exponential(value))))
    check_against_interpreter(module, sample(DType.F32, (61, 19)))


def test_column_reduction_of_a_transposed_strided_input_with_an_epilogue():
    import jitflow
    f = jitflow.jit(lambda x, bias: bias - 0.5 * np.sum(x.T * x.T, axis=0))
    x = sample(DType.F32, (40, 70))[:, ::2]
    bias = sample(DType.F32, (40,), seed=1)
    np.testing.assert_allclose(f(x, bias), bias - 0.5 * np.sum(x.T * x.T, axis=0), rtol=1e-5)


def test_big_column_reduction_splits_columns_across_threads():
    shape = (64, 1 << 14)
    module = reduce_module(DType.F32, shape, (0,))
    assert runtime.compile(module).stats["threads"] == (host_threads() if host_threads() > 1 else 1)
    check_against_interpreter(module, sample(DType.F32, shape, low=0.0, high=1.0), rtol=1e-4)


# -- dot ------------------------------------------------------------------------------------

def dot_module(dtype: DType, lhs_shape, rhs_shape, **dims) -> Module:
    module, b = entry("dot")
    x = b.parameter(TensorType(dtype, lhs_shape))
    y = b.parameter(TensorType(dtype, rhs_shape))
    b.set_root(b.dot(x, y, **dims))
    return module


DOTS = [
    ((64, 48), (48, 40), dict(lhs_contracting_dims=(1,), rhs_contracting_dims=(0,))),
    ((48, 64), (48, 40), dict(lhs_contracting_dims=(0,), rhs_contracting_dims=(0,))),
    ((64, 48), (40, 48), dict(lhs_contracting_dims=(1,), rhs_contracting_dims=(1,))),
    ((3, 33, 20), (3, 20, 17), dict(lhs_batch_dims=(0,), rhs_batch_dims=(0,),
                                    lhs_contracting_dims=(2,), rhs_contracting_dims=(1,))),
    ((20, 3, 33), (17, 3, 20), dict(lhs_batch_dims=(1,), rhs_batch_dims=(1,),
                                    lhs_contracting_dims=(0,), rhs_contracting_dims=(2,))),
    ((5, 7), (7,), dict(lhs_contracting_dims=(1,), rhs_contracting_dims=(0,))),
    ((17,), (17,), dict(lhs_contracting_dims=(0,), rhs_contracting_dims=(0,))),
    ((4, 0), (0, 3), dict(lhs_contracting_dims=(1,), rhs_contracting_dims=(0,))),
]


@pytest.mark.parametrize("dtype", (DType.F32, DType.F64, DType.F16, DType.S32, DType.S8), ids=str)
@pytest.mark.parametrize("case", range(len(DOTS)), ids=str)
def test_dot(dtype, case):
    lhs, rhs, dims = DOTS[case]
    low, high = (-3, 3) if dtype.is_integer else (-1, 1)
    x = sample(dtype, lhs, 1, low, high) if dtype.is_float else np.random.default_rng(1).integers(
        low, high, lhs).astype(dtype.numpy)
    y = sample(dtype, rhs, 2, low, high) if dtype.is_float else np.random.default_rng(2).integers(
        low, high, rhs).astype(dtype.numpy)
    check_against_interpreter(dot_module(dtype, lhs, rhs, **dims), x, y,
                              rtol={DType.F16: 1e-2, DType.F32: 1e-5, DType.F64: 1e-12}.get(dtype, 0.0))


def test_big_f32_dot_uses_blas():
    module = dot_module(DType.F32, (64, 48), (48, 40), lhs_contracting_dims=(1,), rhs_contracting_dims=(0,))
    assert runtime.compile(module).stats["uses_blas"]


BIG_DOTS = [  # big enough that threads split the rows; every transpose flag and a batch
    ((700, 600), (600, 700), dict(lhs_contracting_dims=(1,), rhs_contracting_dims=(0,))),
    ((5, 300), (300, 3001), dict(lhs_contracting_dims=(1,), rhs_contracting_dims=(0,))),  # by columns
    ((300, 5), (3001, 300), dict(lhs_contracting_dims=(0,), rhs_contracting_dims=(1,))),  # by columns
    ((2, 5, 300), (2, 300, 2001), dict(lhs_batch_dims=(0,), rhs_batch_dims=(0,),
                                       lhs_contracting_dims=(2,), rhs_contracting_dims=(1,))),
    ((300, 257), (257, 129), dict(lhs_contracting_dims=(1,), rhs_contracting_dims=(0,))),
    ((257, 300), (257, 129), dict(lhs_contracting_dims=(0,), rhs_contracting_dims=(0,))),
    ((300, 257), (129, 257), dict(lhs_contracting_dims=(1,), rhs_contracting_dims=(1,))),
    ((3, 101, 130), (3, 129, 130), dict(lhs_batch_dims=(0,), rhs_batch_dims=(0,),
                                        lhs_contracting_dims=(2,), rhs_contracting_dims=(2,))),
]


@pytest.mark.parametrize("dtype", (DType.F32, DType.F64), ids=str)
@pytest.mark.parametrize("case", range(len(BIG_DOTS)), ids=str)
def test_big_dots_split_across_threads(dtype, case):
    lhs, rhs, dims = BIG_DOTS[case]
    module = dot_module(dtype, lhs, rhs, **dims)
    stats = runtime.compile(module).stats
    assert stats["uses_blas"] and stats["threads"] == host_threads()
    check_against_interpreter(module, sample(dtype, lhs, 1, -1, 1), sample(dtype, rhs, 2, -1, 1),
                              rtol=1e-4 if dtype is DType.F32 else 1e-12)


def _jit_stats(fn, *args):
    import jitflow

    compiled = jitflow.jit(fn)
    return compiled(*args), compiled.compile(*args).stats


@pytest.mark.parametrize("dtype", (np.float32, np.float64), ids=str)
@pytest.mark.parametrize("shape", [(300, 257, 129), (513, 64, 700), (64, 300, 5000)], ids=str)
def test_dot_epilogue_runs_on_each_block_of_rows(dtype, shape):
    """matmul + bias + relu: the epilogue runs inside the dot's row-split kernel, straight
    into the output (split by columns, the last shape keeps it as a kernel of its own)."""
    m, k, n = shape
    rng = np.random.default_rng(0)
    a, w, bias = (rng.standard_normal(s).astype(dtype) for s in ((m, k), (k, n), (n,)))
    got, stats = _jit_stats(lambda a, w, bias: np.maximum(a @ w + bias, 0.0), a, w, bias)
    np.testing.assert_allclose(got, np.maximum(a @ w + bias, 0.0), rtol=1e-4, atol=1e-4)
    by_rows = m >= n or m >= 64 * host_threads()
    assert stats["dot_epilogues"] == (1 if by_rows else 0)


def test_dot_epilogue_keeps_the_pre_activation_for_other_users():
    """An MLP layer whose pre-activation the backward pass reads again: the bias add (a lone
    elementwise op) runs per block of rows; the dot's result stays readable afterwards."""
    rng = np.random.default_rng(1)
    a, w, bias = (rng.standard_normal(s).astype(np.float32) for s in ((512, 300), (300, 256), (256,)))

    def layer(a, w, bias):
        z = a @ w
        h = z + bias
        return h, np.maximum(h, 0.0), z.sum(axis=0), (z * 2).T

    got, stats = _jit_stats(layer, a, w, bias)
    for g, want in zip(got, layer(a, w, bias)):
        np.testing.assert_allclose(g, want, rtol=1e-4, atol=1e-3)
    assert stats["dot_epilogues"] >= 1


@pytest.mark.parametrize("fn", [lambda a, w: (a @ w).T + 1.0, lambda a, w: (a @ w) - (a @ w).sum(axis=0),
                                lambda a, w: (a @ w) * (a @ w)[::-1]], ids=["transpose", "column-sum", "reverse"])
def test_dot_epilogue_reading_other_rows_is_not_moved_into_the_dot(fn):
    """A transpose, a column sum or a reversal of the dot reads rows another thread computes:
    it runs after the whole dot.  (Several inputs: a stale buffer must not pass for a result.)"""
    import jitflow

    compiled = jitflow.jit(fn)
    for seed in range(4):
        rng = np.random.default_rng(seed)
        a, w = (rng.standard_normal(s).astype(np.float32) for s in ((400, 200), (200, 400)))
        np.testing.assert_allclose(compiled(a, w), fn(a, w), rtol=1e-4, atol=1e-3)
    assert compiled.compile(a, w).stats["dot_epilogues"] == 0


def test_dot_epilogue_never_writes_what_the_dot_still_reads():
    """The dot's right operand (read by every thread) dies at the dot while its result lives
    on, so the planner gives the epilogue's result that operand's buffer: such an epilogue
    must run after the whole dot."""
    import jitflow

    rng = np.random.default_rng(3)
    w0, w1 = (rng.standard_normal(s).astype(np.float32) * 0.1 for s in ((400, 300), (300, 300)))

    def chain(x, w0, w1):
        z = x @ np.exp(w0)
        a = np.tanh(z) * 2.0
        return (a @ w1).sum(axis=1) + z.sum(axis=1)

    compiled = jitflow.jit(chain)
    for seed in range(4):
        x = np.random.default_rng(seed).standard_normal((300, 400)).astype(np.float32)
        np.testing.assert_allclose(compiled(x, w0, w1), chain(x, w0, w1), rtol=1e-4, atol=1e-3)


def test_dot_into_wider_type_uses_loops():
    module, b = entry("widen")
    x = b.parameter(TensorType(DType.F32, (20, 30)))
    b.set_root(b.dot(x, x, lhs_contracting_dims=(0,), rhs_contracting_dims=(0,),
                     type=TensorType(DType.F64, (30, 30))))
    result = check_against_interpreter(module, sample(DType.F32, (20, 30)))
    assert result.dtype == np.float64 and not runtime.compile(module).stats["uses_blas"]


# -- control flow, calls, fusion ---------------------------------------------------------------

def counting_while(limit: int) -> Module:
    module, b = entry("while")
    state_type = TupleType((TensorType(DType.S32, ()), TensorType(DType.F32, (17,))))
    cond = module.builder("condition")
    s = cond.parameter(state_type)
    cond.set_root(cond.compare(cond.get_tuple_element(s, index=0), cond.constant(np.int32(limit)), direction="LT"))
    body = module.builder("body")
    s = body.parameter(state_type)
    i, v = body.get_tuple_element(s, index=0), body.get_tuple_element(s, index=1)
    step = body.broadcast(body.convert(i, dtype=DType.F32), shape=(17,), dimensions=())
    body.set_root(body.tuple(body.add(i, body.constant(np.int32(1))), body.add(body.multiply(v, v), step)))
    x = b.parameter(TensorType(DType.F32, (17,)))
    loop = b.emit("while", b.tuple(b.constant(np.int32(0)), x), called=[cond.computation, body.computation])
    b.set_root(b.get_tuple_element(loop, index=1))
    return module


@pytest.mark.parametrize("limit", [0, 1, 3])
def test_while(limit):
    check_against_interpreter(counting_while(limit), sample(DType.F32, (17,), low=-0.9, high=0.9))


def test_while_swapping_state():
    module, b = entry("swap")
    t = TensorType(DType.S64, (5,))
    state_type = TupleType((TensorType(DType.S32, ()), t, t))
    cond = module.builder("condition")
    s = cond.parameter(state_type)
    cond.set_root(cond.compare(cond.get_tuple_element(s, index=0), cond.constant(np.int32(3)), direction="LT"))
    body = module.builder("body")
    s = body.parameter(state_type)
    i, x, y = (body.get_tuple_element(s, index=k) for k in range(3))
    body.set_root(body.tuple(body.add(i, body.constant(np.int32(1))), y, x))
    px, py = b.parameter(t), b.parameter(t)
    b.set_root(b.emit("while", b.tuple(b.constant(np.int32(0)), px, py), called=[cond.computation, body.computation]))
    check_against_interpreter(module, np.arange(5), np.arange(5) * 10)


@pytest.mark.parametrize("selector", [True, False])
def test_branch_reading_a_broadcast_passed_in_a_tuple(selector):
    # The broadcast is never stored in the entry; the branch reads it through its parameter.
    module, b = entry("tuple_operand")
    t = TensorType(DType.F32, (17,))
    pair = TupleType((t, t))
    branches = []
    for name, opcode in (("on_true", "add"), ("on_false", "subtract")):
        branch = module.builder(name)
        p = branch.parameter(pair)
        branch.set_root(branch.emit(opcode, branch.get_tuple_element(p, index=0),
                                    branch.get_tuple_element(p, index=1)))
        branches.append(branch.computation)
    x = b.parameter(t)
    filled = b.broadcast(b.constant(np.float32(1.5)), shape=(17,), dimensions=())
    b.set_root(b.emit("conditional", b.constant(np.bool_(selector)), b.tuple(x, filled), b.tuple(filled, x),
                      called=branches))
    check_against_interpreter(module, sample(DType.F32, (17,)))


@pytest.mark.parametrize("selector", [np.bool_(True), np.bool_(False), np.int32(0), np.int32(1), np.int32(7),
                                      np.int32(-1)], ids=repr)
def test_conditional(selector):
    module, b = entry("conditional")
    t = TensorType(DType.F32, (17,))
    branches = []
    count = 2 if selector.dtype == np.bool_ else 3
    for k in range(count):
        branch = module.builder(f"branch{k}")
        p = branch.parameter(t)
        branch.set_root(branch.add(p, branch.broadcast(branch.constant(np.float32(k)), shape=(17,), dimensions=())))
        branches.append(branch.computation)
    s = b.parameter(TensorType(DType.PRED if selector.dtype == np.bool_ else DType.S32, ()))
    x = b.parameter(t)
    b.set_root(b.conditional(s, *([b.exponential(x)] * count), called=branches))
    check_against_interpreter(module, selector, sample(DType.F32, (17,)))


def test_call_and_fusions():
    module, b = entry("fusions")
    t = TensorType(DType.F32, (4, 17))
    fused = module.builder("fused")
    p0, p1 = fused.parameter(t), fused.parameter(TensorType(DType.F32, (17,)))
    row = fused.broadcast(p1, shape=(4, 17), dimensions=(1,))
    fused.set_root(fused.tuple(fused.tanh(fused.add(p0, row)), fused.reduce(
        p0, fused.constant(np.float32(0)), dimensions=(0,),
        called=[build_scalar_computation(module, "add", "add", DType.F32)])))
    callee = module.builder("callee")
    q = callee.parameter(t)
    callee.set_root(callee.multiply(q, q))
    x, y = b.parameter(t), b.parameter(TensorType(DType.F32, (17,)))
    squared = b.call(x, called=[callee.computation])
    f = b.fusion(squared, y, kind="kLoop", called=[fused.computation])
    b.set_root(b.tuple(b.get_tuple_element(f, index=0), b.get_tuple_element(f, index=1), x))
    results = check_against_interpreter(module, sample(DType.F32, (4, 17)), sample(DType.F32, (17,), 1))
    assert len(results) == 3


# -- inputs and the thread pool ----------------------------------------------------------------

def test_non_contiguous_inputs_are_copied():
    module, b = entry("views")
    x = b.parameter(TensorType(DType.F32, (17, 5)))
    y = b.parameter(TensorType(DType.F64, (9,)))
    b.set_root(b.tuple(b.exponential(x), b.negate(y)))
    base = sample(DType.F32, (5, 17))
    strided = sample(DType.F64, (18,))[::2]
    check_against_interpreter(module, base.T, strided)
    check_against_interpreter(module, np.asfortranarray(base.T), strided)


@pytest.mark.parametrize("program", ["elementwise", "reduce"])
def test_big_kernels_run_on_all_cores(program):
    n = 1 << 20
    if program == "elementwise":
        module = gelu_tanh(DType.F32, (n,))
        values = sample(DType.F32, (n,))
    else:
        module = reduce_module(DType.F32, (64, n // 64), (1,))
        values = sample(DType.F32, (64, n // 64), low=0.0, high=1.0)
    executable = runtime.compile(module)
    assert executable.stats["threads"] == (host_threads() if host_threads() > 1 else 1)
    check_against_interpreter(module, values, rtol=1e-4)


def test_a_chain_of_row_reductions_compiles_to_code_linear_in_its_length():
    """x = x - x.sum(-1) * c, n times, in one kernel: each reduction's row pass once
    recomputed the whole chain from the input (n**2 / 2 subtractions); values deep enough
    are now kept for the row (ir.analysis.rows.DEEP_RECOMPUTE)."""
    import jitflow  # noqa: PLC0415

    def chain(n):
        def f(x):
            for _ in range(n):
                x = x - x.sum(axis=-1, keepdims=True) * np.float32(0.01)
            return x
        return f

    x = np.random.default_rng(0).standard_normal((16, 64)).astype(np.float32)
    counts = {}
    for n in (8, 32):
        fn = chain(n)
        jitted = jitflow.jit(fn)
        np.testing.assert_allclose(jitted(x), fn(x), rtol=1e-5, atol=1e-5)
        counts[n] = jitted.compile(x).llvm_ir.count(" fsub ")
    assert counts[32] <= 5 * counts[8], counts  # linear: 4x; recomputing the chain: 16x
