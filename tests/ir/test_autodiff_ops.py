"""Finite-difference checks (float64) of every VJP rule, at the IR level.

Each case builds a small program ``out = op(params)``; the checked scalar is
``sum(out * weights)`` with fixed random weights, so every output element's
cotangent differs.  ``emit_vjp`` appends the backward pass; the interpreter
runs both, and central differences of the forward program are the reference.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

from jitflow.errors import AutodiffError
from jitflow.ir import DType, Module, OPS, TensorType, TupleType, evaluate, verify
from jitflow.ir.autodiff import emit_vjp, zeros_like
from jitflow.ir.vjp import VJP_RULES, ZERO_GRADIENT, reduce_sum, scalar_reducer
from jitflow.passes import PassManager, resolve_pipeline

F64 = DType.F64
RNG = np.random.default_rng(7)


def t(*shape: int, dtype: DType = F64) -> TensorType:
    return TensorType(dtype, tuple(shape))


def _loss(b, out):
    weights = RNG.uniform(0.5, 1.5, out.type.shape)
    scaled = b.multiply(out, b.constant(weights))
    return reduce_sum(b, scaled, range(out.type.rank))


def build(program: Callable, types: list[TensorType], with_grad: bool) -> Module:
    module = Module("case")
    b = module.builder("main", entry=True)
    params = [b.parameter(ty) for ty in types]
    state = RNG.bit_generator.state
    loss = _loss(b, program(b, *params))
    RNG.bit_generator.state = state  # both builds use the same weights
    if not with_grad:
        b.set_root(loss)
        return module
    seed = b.constant(np.float64(1.0))
    grads = emit_vjp(b, [loss], [seed], params)
    b.set_root(b.tuple(loss, *[g if g is not None else zeros_like(b, p)
                               for g, p in zip(grads, params)]))
    verify(module)
    return module


def numeric_gradient(module: Module, inputs: list[np.ndarray], eps: float) -> list[np.ndarray]:
    grads = []
    for k, x in enumerate(inputs):
        g = np.zeros_like(x)
        for index in np.ndindex(x.shape):
            shifted = [a.copy() for a in inputs]
            shifted[k][index] = x[index] + eps
            up = float(evaluate(module, *shifted))
            shifted[k][index] = x[index] - eps
            down = float(evaluate(module, *shifted))
            g[index] = (up - down) / (2 * eps)
        grads.append(g)
    return grads


def check(program: Callable, inputs: list[np.ndarray], *, eps: float = 1e-6,
          rtol: float = 1e-6, atol: float = 1e-7) -> None:
    types = [t(*x.shape) for x in inputs]
    state = RNG.bit_generator.state
    forward = build(program, types, with_grad=False)
    RNG.bit_generator.state = state
    backward = build(program, types, with_grad=True)
    result = evaluate(backward, *inputs)
    np.testing.assert_allclose(result[0], evaluate(forward, *inputs), rtol=1e-12)
    expected = numeric_gradient(forward, inputs, eps)
    for got, want in zip(result[1:], expected):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    # The produced IR survives the default pipeline with verification after every pass.
    PassManager(resolve_pipeline(None), verify=True).run(backward)
    after = evaluate(backward, *inputs)
    for got, want in zip(after[1:], result[1:]):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def u(low: float, high: float, *shape: int) -> np.ndarray:
    return RNG.uniform(low, high, shape)


def away_from_zero(*shape: int) -> np.ndarray:
    return RNG.uniform(0.3, 1.5, shape) * RNG.choice([-1.0, 1.0], shape)


UNARY = {
    "negate": u(-2, 2, 2, 3), "abs": away_from_zero(2, 3), "exponential": u(-1, 1, 2, 3),
    "exponential-minus-one": u(-1, 1, 2, 3), "log": u(0.5, 2, 2, 3),
    "log-plus-one": u(-0.5, 2, 2, 3), "sqrt": u(0.5, 2, 2, 3), "rsqrt": u(0.5, 2, 2, 3),
    "cbrt": away_from_zero(2, 3), "tanh": u(-2, 2, 2, 3), "logistic": u(-3, 3, 2, 3),
    "sine": u(-3, 3, 2, 3), "cosine": u(-3, 3, 2, 3), "tan": u(-1, 1, 2, 3),
}

BINARY = {
    "add": (u(-2, 2, 4), u(-2, 2, 4)), "subtract": (u(-2, 2, 4), u(-2, 2, 4)),
    "multiply": (u(-2, 2, 4), u(-2, 2, 4)), "divide": (u(-2, 2, 4), away_from_zero(4)),
    # quotients well inside (k + 0.2, k + 0.8), away from remainder's jumps
    "remainder": (np.array([2.5, -3.7, 5.3, 0.45]), np.array([1.0, 1.5, -2.0, 0.7])),
    "power": (u(0.5, 2, 4), u(-1.5, 1.5, 4)),
    "maximum": (np.array([1.0, -2.0, 3.0, 0.5]), np.array([0.5, -1.0, 4.0, -0.5])),
    "minimum": (np.array([1.0, -2.0, 3.0, 0.5]), np.array([0.5, -1.0, 4.0, -0.5])),
    "atan2": (away_from_zero(4), away_from_zero(4)),
}


@pytest.mark.parametrize("opcode", sorted(UNARY))
def test_unary(opcode):
    check(lambda b, x: b.emit(opcode, x), [UNARY[opcode]])


@pytest.mark.parametrize("opcode", sorted(BINARY))
def test_binary(opcode):
    check(lambda b, x, y: b.emit(opcode, x, y), list(BINARY[opcode]))


def test_select():
    mask = np.array([[True, False, True], [False, False, True]])
    check(lambda b, x, y: b.select(b.constant(mask), x, y), [u(-1, 1, 2, 3), u(-1, 1, 2, 3)])


def test_select_with_scalar_predicate():
    check(lambda b, x, y: b.select(b.constant(np.bool_(False)), x, y), [u(-1, 1, 3), u(-1, 1, 3)])


def test_clamp_with_array_bounds():
    check(lambda b, lo, x, hi: b.clamp(lo, x, hi),
          [np.array([0.0, 0.0, 0.0, -1.0]), np.array([-0.5, 0.5, 1.5, 0.2]),
           np.array([1.0, 1.0, 1.0, 0.0])])


def test_clamp_with_scalar_bounds():
    check(lambda b, lo, x, hi: b.clamp(lo, x, hi),
          [np.array(0.0), np.array([-0.5, 0.5, 1.5, 0.2, 2.0]), np.array(1.0)])


def test_convert_between_floats():
    check(lambda b, x: b.convert(b.multiply(b.convert(x, dtype=DType.F32),
                                            b.constant(np.full(5, 3, np.float32))), dtype=F64),
          [u(-1, 1, 5)], eps=1e-3, rtol=1e-5)


def test_broadcast_new_and_stretched_dimensions():
    check(lambda b, x: b.broadcast(x, shape=(2, 3, 4), dimensions=(1, 2)), [u(-1, 1, 1, 4)])


def test_broadcast_scalar():
    check(lambda b, x: b.broadcast(x, shape=(3, 2), dimensions=()), [np.array(0.7)])


def test_reshape():
    check(lambda b, x: b.sine(b.reshape(x, shape=(3, 4))), [u(-1, 1, 2, 6)])


def test_transpose():
    check(lambda b, x: b.transpose(b.sine(x), dimensions=(2, 0, 1)), [u(-1, 1, 2, 3, 4)])


def test_reverse():
    check(lambda b, x: b.multiply(b.reverse(x, dimensions=(1,)), x), [u(-1, 1, 2, 3)])


def test_slice_with_strides():
    check(lambda b, x: b.slice(x, slice=((1, 5, 2), (0, 3, 1))), [u(-1, 1, 6, 3)])


def test_pad_with_interior_and_cropping():
    check(lambda b, x, v: b.pad(b.sine(x), v, padding=((1, -1, 1), (-1, 2, 0))),
          [u(-1, 1, 3, 4), np.array(0.3)])


def test_concatenate():
    check(lambda b, x, y: b.concatenate(x, y, b.sine(x), dimensions=(1,)),
          [u(-1, 1, 2, 2), u(-1, 1, 2, 3)])


def _index(b, value):
    return b.constant(np.int32(value))


def test_dynamic_slice():
    check(lambda b, x: b.dynamic_slice(x, _index(b, 1), _index(b, 5),
                                       dynamic_slice_sizes=(2, 2)),
          [u(-1, 1, 4, 3)])  # the second start is clamped to 1


def test_dynamic_update_slice():
    check(lambda b, x, y: b.dynamic_update_slice(b.sine(x), y, _index(b, 2), _index(b, 1)),
          [u(-1, 1, 4, 3), u(-1, 1, 2, 2)])


def _reduce(opcode, dims, init=None):
    def program(b, x):
        start = b.constant(np.float64({"add": 0.0, "multiply": 1.0, "maximum": -np.inf,
                                       "minimum": np.inf}[opcode] if init is None else init))
        return b.reduce(x, start, dimensions=dims, called=[scalar_reducer(b.module, opcode, F64)])
    return program


@pytest.mark.parametrize("opcode", ["add", "multiply", "maximum", "minimum"])
def test_reduce(opcode):
    check(_reduce(opcode, (0, 2)), [RNG.permutation(24).reshape(2, 3, 4) / 10 + 0.1])


def test_reduce_multiply_with_zeros():
    x = np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 2.0], [1.5, 2.0, 0.5]])
    check(_reduce("multiply", (1,)), [x])


def test_reduce_with_traced_init():
    check(lambda b, x, v: b.reduce(x, v, dimensions=(1,),
                                   called=[scalar_reducer(b.module, "multiply", F64)]),
          [u(0.5, 1.5, 2, 3), np.array(1.3)])
    check(lambda b, x, v: b.reduce(x, v, dimensions=(0,),
                                   called=[scalar_reducer(b.module, "maximum", F64)]),
          [np.array([[0.1, 0.9], [0.3, 0.2]]), np.array(0.5)])


def test_reduce_max_splits_ties():
    module = Module("ties")
    b = module.builder("main", entry=True)
    x = b.parameter(t(4))
    peak = _reduce("maximum", (0,))(b, x)
    (grad,) = emit_vjp(b, [peak], [b.constant(np.float64(1.0))], [x])
    b.set_root(grad)
    np.testing.assert_allclose(evaluate(module, np.array([1.0, 3.0, 3.0, 2.0])),
                               [0.0, 0.5, 0.5, 0.0])


@pytest.mark.parametrize("dims", [
    dict(lhs_contracting_dims=(1,), rhs_contracting_dims=(0,)),
    dict(lhs_contracting_dims=(0,), rhs_contracting_dims=(1,)),
    dict(lhs_batch_dims=(0,), rhs_batch_dims=(2,), lhs_contracting_dims=(2, 1),
         rhs_contracting_dims=(0, 1)),
])
def test_dot(dims):
    lhs = u(-1, 1, 3, 4) if "lhs_batch_dims" not in dims else u(-1, 1, 2, 3, 4)
    rhs = u(-1, 1, 4, 3) if "lhs_batch_dims" not in dims else u(-1, 1, 4, 3, 2)
    check(lambda b, x, y: b.dot(x, y, **dims), [lhs, rhs])


def test_tuple_and_get_tuple_element():
    def program(b, x, y):
        pair = b.tuple(b.sine(x), y)
        return b.multiply(b.get_tuple_element(pair, index=0), b.get_tuple_element(pair, index=1))
    check(program, [u(-1, 1, 3), u(-1, 1, 3)])


def _scalar_computation(module, name, build):
    b = module.builder(name)
    param = b.parameter(t(3))
    b.set_root(build(b, param))
    return b.computation


def test_call():
    def program(b, x):
        callee = _scalar_computation(b.module, "callee", lambda c, p: c.multiply(c.sine(p), p))
        return b.call(x, called=[callee])
    check(program, [u(-1, 1, 3)])


def _branches(b):
    first = b.module.builder("first")
    p = first.parameter(TupleType((t(3), t(3))))
    first.set_root(first.multiply(first.get_tuple_element(p, index=0),
                                  first.get_tuple_element(p, index=1)))
    second = _scalar_computation(b.module, "second", lambda c, q: c.exponential(q))
    return first.computation, second


@pytest.mark.parametrize("taken", [True, False])
def test_conditional_pred(taken):
    def program(b, x, y):
        first, second = _branches(b)
        return b.conditional(b.constant(np.bool_(taken)), b.tuple(x, y), b.sine(y),
                             called=[first, second])
    check(program, [u(-1, 1, 3), u(-1, 1, 3)])


def test_conditional_indexed_out_of_range_selects_last():
    def program(b, x, y):
        first, second = _branches(b)
        return b.conditional(b.constant(np.int32(7)), b.tuple(x, y), b.sine(y),
                             called=[first, second])
    check(program, [u(-1, 1, 3), u(-1, 1, 3)])


def _counted_loop(b, x, w, trips):
    """state (i, x, w): x = sin(x * w) + x, trips times."""
    state_type = TupleType((t(dtype=DType.S32), t(3), t(3)))
    cond = b.module.builder("loop_cond")
    s = cond.parameter(state_type)
    cond.set_root(cond.compare(cond.get_tuple_element(s, index=0),
                               cond.constant(np.int32(trips)), direction="LT"))
    body = b.module.builder("loop_body")
    s = body.parameter(state_type)
    i, xs, ws = (body.get_tuple_element(s, index=k) for k in range(3))
    body.set_root(body.tuple(body.add(i, body.constant(np.int32(1))),
                             body.add(body.sine(body.multiply(xs, ws)), xs), ws))
    loop = b.emit("while", b.tuple(b.constant(np.int32(0)), x, w),
                  called=[cond.computation, body.computation])
    return b.get_tuple_element(loop, index=1)


@pytest.mark.parametrize("trips", [0, 1, 4])
def test_while_with_static_trip_count(trips):
    check(lambda b, x, w: _counted_loop(b, x, w, trips), [u(-1, 1, 3), u(-1, 1, 3)])


def test_while_with_runtime_trip_count_is_an_error():
    module = Module("dynamic")
    b = module.builder("main", entry=True)
    x = b.parameter(t(3))
    n = b.parameter(t(dtype=DType.S32))
    state_type = TupleType((t(dtype=DType.S32), t(3), t(dtype=DType.S32)))
    cond = module.builder("cond")
    s = cond.parameter(state_type)
    cond.set_root(cond.compare(cond.get_tuple_element(s, index=0),
                               cond.get_tuple_element(s, index=2), direction="LT"))
    body = module.builder("body")
    s = body.parameter(state_type)
    body.set_root(body.tuple(body.add(body.get_tuple_element(s, index=0),
                                      body.constant(np.int32(1))),
                             body.sine(body.get_tuple_element(s, index=1)),
                             body.get_tuple_element(s, index=2)))
    loop = b.emit("while", b.tuple(b.constant(np.int32(0)), x, n),
                  called=[cond.computation, body.computation])
    out = reduce_sum(b, b.get_tuple_element(loop, index=1), (0,))
    with pytest.raises(AutodiffError, match="trip count must be known at trace time"):
        emit_vjp(b, [out], [b.constant(np.float64(1))], [x])


def test_integer_wrt_is_an_error():
    module = Module("ints")
    b = module.builder("main", entry=True)
    x = b.parameter(t(3, dtype=DType.S32))
    out = b.convert(x, dtype=F64)
    with pytest.raises(AutodiffError, match="s32.*float inputs only"):
        emit_vjp(b, [out], [zeros_like(b, out)], [x])


def test_non_differentiable_paths_give_none():
    module = Module("zero")
    b = module.builder("main", entry=True)
    x = b.parameter(t(3))
    rounded = b.floor(x)
    big = b.convert(b.compare(x, b.constant(np.zeros(3)), direction="GT"), dtype=F64)
    out = reduce_sum(b, b.add(rounded, big), (0,))
    assert emit_vjp(b, [out], [b.constant(np.float64(1))], [x]) == [None]


def test_cotangent_type_is_checked():
    module = Module("types")
    b = module.builder("main", entry=True)
    x = b.parameter(t(3))
    with pytest.raises(AutodiffError, match="cotangent"):
        emit_vjp(b, [b.sine(x)], [b.constant(np.float64(1))], [x])


def test_every_opcode_is_classified():
    """Each opcode has a VJP rule, passes no gradient, or is deliberately unsupported."""
    unsupported = {"custom-call"}
    unclassified = set(OPS) - set(VJP_RULES) - ZERO_GRADIENT - unsupported
    assert not unclassified


def test_grad_module_on_parsed_hlo_text():
    from jitflow.ir import parse_module
    from jitflow.ir.autodiff import grad_module

    text = """
HloModule loss

add {
  a = f64[] parameter(0)
  b = f64[] parameter(1)
  ROOT s = f64[] add(a, b)
}

ENTRY main {
  x = f64[3] parameter(0)
  n = s32[] parameter(1)
  w = f64[3] parameter(2)
  p = f64[3] multiply(x, w)
  e = f64[3] exponential(p)
  zero = f64[] constant(0)
  ROOT r = f64[] reduce(e, zero), dimensions={0}, to_apply=add
}
"""
    module = parse_module(text)
    gradient = grad_module(module)
    verify(gradient)
    x, w = u(-1, 1, 3), u(-1, 1, 3)
    value, gx, gw = evaluate(gradient, x, np.int32(4), w)
    np.testing.assert_allclose(value, np.sum(np.exp(x * w)))
    np.testing.assert_allclose(gx, w * np.exp(x * w))
    np.testing.assert_allclose(gw, x * np.exp(x * w))
    assert evaluate(module, x, np.int32(4), w).shape == ()  # the input module is unchanged
    with pytest.raises(AutodiffError, match="float inputs only"):
        grad_module(module, wrt_params=[1])


def test_output_that_is_the_input_and_repeated_outputs():
    module = Module("identity")
    b = module.builder("main", entry=True)
    x = b.parameter(t(2))
    y = b.sine(x)
    ct1, ct2, ct3 = (b.constant(np.array(v)) for v in ([1.0, 2.0], [3.0, 4.0], [5.0, 6.0]))
    (grad,) = emit_vjp(b, [x, y, y], [ct1, ct2, ct3], [x])
    b.set_root(grad)
    x0 = np.array([0.3, -0.7])
    np.testing.assert_allclose(evaluate(module, x0), [1.0, 2.0] + np.cos(x0) * [8.0, 10.0])


def test_wrt_of_a_tuple_value():
    module = Module("tuple_wrt")
    b = module.builder("main", entry=True)
    pair = b.parameter(TupleType((t(2), t(dtype=DType.S32))))
    out = b.exponential(b.get_tuple_element(pair, index=0))
    (grad,) = emit_vjp(b, [out], [b.constant(np.ones(2))], [pair])
    b.set_root(grad)
    x0 = np.array([0.1, 0.2])
    got = evaluate(module, (x0, np.int32(3)))
    np.testing.assert_allclose(got[0], np.exp(x0))
    assert got[1] == 0


# Rules checked by a dedicated test above (beyond the UNARY and BINARY tables).
CHECKED_SEPARATELY = {
    "select", "clamp", "convert", "broadcast", "reshape", "transpose", "reverse", "slice",
    "pad", "concatenate", "dynamic-slice", "dynamic-update-slice", "reduce", "dot", "tuple",
    "get-tuple-element", "call", "conditional", "while",
}


def test_every_rule_has_a_finite_difference_check():
    # fusion shares call's rule: it is exercised through test_call's callee.
    assert set(VJP_RULES) - {"fusion"} <= set(UNARY) | set(BINARY) | CHECKED_SEPARATELY
    assert VJP_RULES["fusion"] is VJP_RULES["call"]
