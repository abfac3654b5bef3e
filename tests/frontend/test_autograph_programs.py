"""AutoGraph, differential: each program runs as plain Python/NumPy and jitted (interpreter and
CPU backends); the results must agree.  The programs branch and loop on traced values, so
their IR has ``while``/``conditional`` instructions (checked where it matters)."""

from __future__ import annotations

import numpy as np
import pytest

from jitflow import jit

i64 = np.int64
f64 = np.float64
RNG = np.random.default_rng(7)


def _opcodes(fn, *args) -> set[str]:
    module = jit(fn).trace(*args)
    return {i.opcode for c in module.computations.values() for i in c.instructions}


def check(fn, *args, control_flow: bool = True, rtol: float = 1e-6):
    expected = fn(*args)
    for backend in ("interpreter", "cpu"):
        got = jit(fn, backend=backend)(*args)
        if isinstance(expected, tuple):
            assert isinstance(got, tuple) and len(got) == len(expected), (backend, got)
            pairs = zip(got, expected)
        else:
            pairs = [(got, expected)]
        for g, e in pairs:
            np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=rtol, atol=1e-12,
                                       err_msg=f"{fn.__name__} on {backend}")
            assert np.asarray(g).dtype == np.asarray(e).dtype, (fn.__name__, backend, g, e)
    if control_flow:
        assert _opcodes(fn, *args) & {"while", "conditional"}, fn.__name__


# -- the programs --------------------------------------------------------------------------

def collatz_steps(n):
    steps = 0
    while n != 1:
        if n % 2 == 0:
            n = n // 2
        else:
            n = 3 * n + 1
        steps += 1
    return steps


def fizzbuzz_counts(n):
    fizz = 0
    buzz = 0
    both = 0
    plain = 0
    for i in range(1, n + 1):
        if i % 15 == 0:
            both += 1
        elif i % 3 == 0:
            fizz += 1
        elif i % 5 == 0:
            buzz += 1
        else:
            plain += 1
    return fizz, buzz, both, plain


def gcd(a, b):
    while b != 0:
        a, b = b, a % b
    return a


def newton_sqrt(a, tolerance):
    x = a
    iterations = 0
    while abs(x * x - a) > tolerance:
        x = 0.5 * (x + a / x)
        iterations += 1
    return x, iterations


def bisection_root(lo, hi):
    def f(x):
        return x * x * x - 2.0 * x - 5.0
    while hi - lo > 1e-10:
        mid = 0.5 * (lo + hi)
        if f(lo) * f(mid) <= 0:
            hi = mid
        else:
            lo = mid
    return 0.5 * (lo + hi)


def first_index_above(x, threshold):
    found = -1
    for i in range(x.shape[0] + 0 * threshold.astype(np.int64)):
        if x[i] > threshold:
            found = i
            break
    return found


def nested_continue(n, m):
    total = 0
    for i in range(n):
        for j in range(m):
            if (i + j) % 3 == 0:
                continue
            total += i * j
    return total


def rnn(xs, w, u, h0, steps):
    out = np.zeros((xs.shape[0], h0.shape[0]), dtype=xs.dtype)
    h = h0
    for t in range(steps):
        h = np.tanh(xs[t] @ w + h @ u)
        out[t] = h
    return out, h


def rows_loop(x):
    acc = np.zeros(x.shape[1], dtype=x.dtype)
    for row in x:
        if row.sum() > 0:
            acc = acc + row
        else:
            acc = acc - row * 0.5
    return acc


def classify(v):
    if v < 0:
        label = -1
    elif v == 0:
        label = 0
    elif v < 10:
        label = 1
    else:
        label = 2
    return label


def reduce_branches(x):
    if x.mean() > 1:
        y = x * 2
    elif x.max() < 0:
        y = -x
    else:
        y = x + 1
    return y


def early_return(x):
    if x.sum() > 0:
        return x * 2
    y = x - 1
    return y


def sum_below(n):
    total = 0
    for i in range(n):
        total += i * i
    k = n
    while k > 100:
        k -= 1
    return total, k


def index_of_negative(x, n):
    for i in range(n):
        if x[i] < 0:
            return i, x[i]
    return -1, x[0] * 0


def smallest_square_above(n):
    i = 0
    while True:
        i += 1
        if i * i > n:
            break
    return i


def all_positive_for_else(x, n):
    ok = 0
    for i in range(n):
        if x[i] <= 0:
            break
    else:
        ok = 1
    return ok


def closure_and_nested_function(x, n):
    w = np.array([1.0, -2.0, 0.5])

    def scale(v):
        if v.sum() > 0:
            return v * w
        return v - w
    acc = x
    for _ in range(n):
        acc = scale(acc)
    return acc


def clip_scalar(v, lo, hi):
    if v < lo:
        return lo
    if v > hi:
        return hi
    return v


def calls_user_function(x, n):
    total = 0.0
    for i in range(n):
        total += clip_scalar(x[i], -1.0, 1.0)
    return total


class Accumulator:
    def __init__(self, decay):
        self.decay = decay

    def step(self, state, value):
        if value > 0:
            return state * self.decay + value
        return state * self.decay


def user_method(x, n):
    acc = Accumulator(0.5)
    state = 0.0
    for i in range(n):
        state = acc.step(state, x[i])
    return state


def lambda_and_conditional_expression(x, n):
    bump = lambda v: v * 2.0 if v > 0 else -v  # noqa: E731
    total = 0.0
    for i in range(n):
        total = total + bump(x[i])
    return total


def boolean_operators(x, n):
    i = 0
    while i < n and x[i] > 0:
        i += 1
    flag = not (i > 2) or x[0] > 100
    return i, flag


def prefix_sums(x, n):
    out = np.zeros_like(x)
    out[0] = x[0]
    for i in range(1, n):
        out[i] = out[i - 1] + x[i]
    return out


def nested_while_break(n):
    pairs = 0
    a = 1
    while a < n:
        b = 1
        while b < n:
            if a * b > n:
                break
            pairs += 1
            b += 1
        a += 1
    return pairs


def while_continue(n):
    i = 0
    odd = 0
    while i < n:
        i += 1
        if i % 2 == 0:
            continue
        odd += i
    return odd


def python_loop_traced_break(x):
    total = 0.0
    for i in range(4):  # Python range: unrolled, but its break is traced
        if x[i] < 0:
            break
        total += x[i]
    return total


def deep_nesting(n):
    count = 0
    for a in range(n):
        for b in range(n):
            if a < b:
                for c in range(n):
                    if c == a:
                        continue
                    if c > b:
                        break
                    if (a + b + c) % 2 == 0:
                        count += 1
                    else:
                        count += 2
    return count


def mixed_static_and_traced(x, n):
    y = x
    for k in range(3):  # Python: unrolled
        if k == 1:  # Python condition: chosen while tracing
            y = y * 2.0
        else:
            y = y + 1.0
    i = 0
    while i < n:
        y = y * 0.5
        i += 1
    return y


def row_search_with_break(x, target):
    hits = 0
    for row in x:
        if row.max() > target:
            break
        hits += 1
    return hits


# -- the tests ------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 6, 27, 97])
def test_collatz(n):
    check(collatz_steps, i64(n))


def test_collatz_python_int_argument():
    assert int(jit(collatz_steps)(27)) == collatz_steps(27) == 111


def test_fizzbuzz():
    check(fizzbuzz_counts, i64(100))


def test_gcd():
    check(gcd, i64(1071), i64(462))
    check(gcd, i64(17), i64(0))


def test_newton_sqrt():
    check(newton_sqrt, f64(2.0), f64(1e-12))


def test_bisection():
    check(bisection_root, f64(2.0), f64(3.0), rtol=1e-9)


def test_early_exit_search_with_break():
    x = np.array([0.5, 0.1, 3.0, 0.2, 9.0])
    check(first_index_above, x, f64(1.0))
    check(first_index_above, x, f64(100.0))


def test_nested_loops_with_continue():
    check(nested_continue, i64(7), i64(5))


def test_rnn_writes_rows_into_preallocated_output():
    xs = RNG.standard_normal((6, 3)).astype(np.float32)
    w = RNG.standard_normal((3, 4)).astype(np.float32) * 0.5
    u = RNG.standard_normal((4, 4)).astype(np.float32) * 0.5
    h0 = np.zeros(4, np.float32)
    check(rnn, xs, w, u, h0, i64(4), rtol=1e-5)
    assert "dynamic-update-slice" in _opcodes(rnn, xs, w, u, h0, i64(4))


def test_loop_over_rows():
    check(rows_loop, RNG.standard_normal((5, 3)))


@pytest.mark.parametrize("v", [-3, 0, 4, 12])
def test_if_elif_chain_on_traced_scalar(v):
    check(classify, i64(v))


@pytest.mark.parametrize("scale", [2.0, -1.0, 0.1])
def test_if_elif_chain_on_reductions(scale):
    check(reduce_branches, np.linspace(0.0, 1.0, 5) * scale)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_early_return_in_branch(sign):
    check(early_return, np.arange(4.0) * sign + 0.5 * sign)


@pytest.mark.parametrize("n", [0, 5, 150])
def test_zero_trip_loops(n):
    check(sum_below, i64(n))


def test_loops_over_empty_arrays():
    # x[t] and out[t] = ... on a zero-length axis are traced but never run: no error, and
    # the loops run zero times as in Python.
    empty = np.zeros((0, 4), np.float32)
    check(rnn, np.zeros((0, 3), np.float32), np.ones((3, 4), np.float32), np.ones((4, 4), np.float32),
          np.zeros(4, np.float32), i64(0))
    check(rows_loop, empty, control_flow=False)
    check(sum_rows_below, empty, i64(0))


def sum_rows_below(x, n):
    acc = np.zeros(x.shape[1:], x.dtype)
    t = 0
    while t < n:
        acc = acc + x[t]
        t += 1
    return acc


def test_return_inside_loop():
    check(index_of_negative, np.array([1.0, 2.0, -3.0, 4.0]), i64(4))
    check(index_of_negative, np.array([1.0, 2.0, 3.0, 4.0]), i64(4))


def test_while_true_with_break():
    check(smallest_square_above, i64(50))


def test_for_else():
    check(all_positive_for_else, np.array([1.0, 2.0, 3.0]), i64(3))
    check(all_positive_for_else, np.array([1.0, -2.0, 3.0]), i64(3))


def test_nested_function_with_closure_over_array():
    check(closure_and_nested_function, np.array([1.0, 2.0, 3.0]), i64(3))


def test_called_user_function_is_converted():
    check(calls_user_function, np.array([0.5, -3.0, 2.0, 0.25]), i64(4))


def test_method_of_user_class():
    check(user_method, np.array([1.0, -2.0, 3.0]), i64(3))


def test_lambda_with_conditional_expression():
    check(lambda_and_conditional_expression, np.array([1.0, -2.0, 3.0]), i64(3))


def test_and_or_not_on_traced_scalars():
    check(boolean_operators, np.array([1.0, 2.0, 3.0, -1.0, 5.0]), i64(5))
    check(boolean_operators, np.array([1.0, -2.0, 3.0]), i64(3))


def test_index_assignment_reads_previous_writes():
    check(prefix_sums, np.arange(1.0, 7.0), i64(6))


def test_nested_while_with_inner_break():
    check(nested_while_break, i64(12))


def test_while_with_continue():
    check(while_continue, i64(11))


def test_unrolled_loop_with_traced_break():
    check(python_loop_traced_break, np.array([1.0, 2.0, -1.0, 4.0]))
    check(python_loop_traced_break, np.array([1.0, 2.0, 1.0, 4.0]))


def test_deeply_nested_control_flow():
    check(deep_nesting, i64(6))


def test_python_conditions_stay_python():
    x = np.array([1.0, 2.0, 4.0])
    check(mixed_static_and_traced, x, i64(2))
    module = jit(mixed_static_and_traced).trace(x, i64(2))
    opcodes = [i.opcode for c in module.computations.values() for i in c.instructions]
    assert opcodes.count("while") == 1 and "conditional" not in opcodes


def test_static_argument_branch_is_chosen_while_tracing():
    def power(x, k):
        y = x
        while k > 1:
            y = y * x
            k -= 1
        return y
    x = np.array([1.5, 2.0])
    f = jit(power, static_argnames="k")
    np.testing.assert_allclose(f(x, k=3), x ** 3)
    opcodes = {i.opcode for c in f.trace(x, k=3).computations.values() for i in c.instructions}
    assert "while" not in opcodes


def test_loop_over_rows_with_break():
    x = np.array([[0.0, 1.0], [2.0, 0.5], [9.0, 1.0], [0.0, 0.0]])
    check(row_search_with_break, x, f64(3.0))
    check(row_search_with_break, x, f64(-1.0))


def test_weak_python_scalar_state_takes_the_array_dtype():
    def total(x, n):
        s = 0
        for i in range(n):
            s += x[i]
        return s
    check(total, np.arange(5, dtype=np.float32), i64(5))


def python_while_becomes_traced(x):
    done = False
    rounds = 0
    while not done:
        x = x * 2.0
        rounds += 1
        if x.sum() > 100.0:
            done = True
    return x, rounds


def test_python_while_whose_condition_becomes_traced():
    check(python_while_becomes_traced, np.array([1.0, 2.0]))


class Base:
    def scale(self, v):
        return v * 2.0


class Derived(Base):
    def scale(self, v):
        if v.sum() > 0:
            return super().scale(v)
        return v


def super_call(x):
    return Derived().scale(x)


def test_method_using_zero_argument_super():
    check(super_call, np.array([1.0, 2.0]))
    check(super_call, np.array([-1.0, -2.0]))


def countdown(v, depth):
    if depth == 0:  # Python: the recursion unrolls while tracing
        return v
    if v.sum() > 0:
        v = v - 1.0
    return countdown(v, depth - 1)


def recursion_with_static_depth(x):
    return countdown(x, 3)


def test_recursive_user_function_with_python_depth():
    check(recursion_with_static_depth, np.array([2.0, 0.5]))


def range_variants(n, step):
    down = 0
    for i in range(n, 0, -2):
        down += i
    traced_step = 0
    for i in range(1, 20, step):
        traced_step += i
    backwards = 0
    for i in range(n, -n, -step):
        backwards = backwards * 2 + i
    return down, traced_step, backwards


def test_range_with_traced_start_stop_and_step():
    check(range_variants, i64(9), i64(3))
    check(range_variants, i64(0), i64(4))


def chained_comparison(x, lo, hi):
    inside = 0
    for i in range(x.shape[0] + 0 * lo):
        v = x[i]
        if lo < v <= hi:
            inside += 1
    return inside


def test_chained_comparison_on_traced_scalars():
    check(chained_comparison, np.array([0.5, 1.5, 2.5, 3.5]), i64(1), i64(3))


def reduction_in_adapted_loop(x, n):
    s = 0  # a weak Python int that the body turns into float32: the loop is traced again
    for i in range(n):
        s = s + np.sum(x * i)
    return s


def test_loop_traced_again_rebuilds_its_reducers():
    check(reduction_in_adapted_loop, np.ones(3, np.float32), i64(4))
