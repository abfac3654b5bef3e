"""jit's contract: pytrees, static arguments, cache, retrace warning, introspection, backends."""

from __future__ import annotations

import importlib
import os
import pickle
import subprocess
import sys
import textwrap
import threading
import warnings
from collections import namedtuple

import numpy as np
import pytest

import jitflow
import jitflow.runtime
from jitflow import JitflowRetraceWarning, config, interpreter_mode, jit
from jitflow.ir import Module, print_module, verify

from frontend_util import assert_same, count_slow_path

X = np.arange(12, dtype=np.float32).reshape(3, 4)
Point = namedtuple("Point", ["x", "y"])


def test_decorator_forms():
    @jit(backend="interpreter")
    def f(x):
        return x * 2

    def g(x):
        return x + 1

    @jit
    def h(x):
        return x - 1

    assert_same(f(X), X * 2)
    assert_same(jit(g, backend="interpreter")(X), X + 1)
    with interpreter_mode():
        assert_same(h(X), X - 1)
    assert f.__name__ == "f" and h.__wrapped__.__name__ == "h"


def test_pytrees_in_and_out():
    @jit(backend="interpreter")
    def step(params, batch, scale=1.0):
        hidden = batch["x"] @ params["w"] + params["b"]
        return {"out": hidden * scale, "stats": (hidden.mean(), [hidden.max(), None])}

    params = {"w": np.ones((4, 2), np.float32), "b": np.arange(2, dtype=np.float32)}
    batch = {"x": X}
    result = step(params, batch, scale=0.5)
    hidden = X @ params["w"] + params["b"]
    assert_same(result, {"out": hidden * 0.5, "stats": (hidden.mean(), [hidden.max(), None])})
    module = step.lower(params, batch, scale=0.5)
    assert [p.name for p in module.entry.parameters] == ["params.w", "params.b", "batch.x", "scale"]


def test_namedtuples_lists_and_scalar_leaves():
    @jit(backend="interpreter")
    def f(p, xs):
        return Point(p.x + xs[0], p.y * xs[1]), [xs[0] + 1.5]

    result = f(Point(X, 2.0), [3, X])
    assert isinstance(result[0], Point)
    assert_same(result, (Point(X + 3, 2.0 * X), [np.asarray(3 + 1.5)]))


def test_outputs_that_are_inputs_or_constants():
    @jit(backend="interpreter")
    def f(x):
        return x, 3, np.ones(2), x.shape[0]

    result = f(X)
    assert_same(result, (X, np.asarray(3), np.ones(2), np.asarray(3)))


def test_trace_count_and_cache():
    calls = []

    @jit(backend="interpreter")
    def f(x, s):
        calls.append(1)
        return x * s

    f(X, 2.0)
    f(X + 1, 3.0)  # same shapes and dtypes, new Python scalar value: no retrace
    assert f.trace_count == 1 and len(calls) == 1
    assert_same(f(X + 1, 3.0), (X + 1) * 3.0)
    f(X[:2], 2.0)  # new shape
    assert f.trace_count == 2
    f(X.astype(np.float64), 2.0)  # new dtype
    assert f.trace_count == 3
    f(X, 2)  # a Python int instead of a float is a new (weak) dtype
    assert f.trace_count == 4
    f(X, 5)
    assert f.trace_count == 4


def test_static_arguments():
    @jit(static_argnames="axis", static_argnums=2, backend="interpreter")
    def f(x, axis, power):
        return (x ** power).sum(axis=axis)

    assert_same(f(X, 0, 2), (X ** 2).sum(axis=0))
    assert_same(f(X, axis=1, power=2), (X ** 2).sum(axis=1))
    assert f.trace_count == 2
    f(X + 1, 1, 2)
    assert f.trace_count == 2
    module = f.lower(X, 0, 3)
    assert [p.name for p in module.entry.parameters] == ["x"]


def test_static_values_of_different_types_trace_separately():
    @jit(static_argnames="n", backend="interpreter")
    def f(x, n):
        return x * n

    assert f(X, 1).dtype == np.float32
    assert f(X, 1.0).dtype == np.float32
    assert f(X, True).dtype == np.float32
    assert f.trace_count == 3


def test_retrace_warning_names_the_changing_argument():
    @jit(backend="interpreter")
    def f(x, y):
        return x.sum() + y

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for n in range(1, 10):
            f(np.ones(n), 1.0)
    retraces = [w for w in caught if issubclass(w.category, JitflowRetraceWarning)]
    assert len(retraces) == 1
    message = str(retraces[0].message)
    assert "argument 'x'" in message and "traced 6 times" in message
    assert retraces[0].filename == __file__


def test_retrace_warning_for_a_static_argument():
    @jit(static_argnames="k", backend="interpreter")
    def f(x, k):
        return x * k

    with pytest.warns(JitflowRetraceWarning, match="argument 'k'"):
        for k in range(8):
            f(X, k)


def test_no_warning_below_the_threshold():
    @jit(backend="interpreter")
    def f(x):
        return x + 1

    with warnings.catch_warnings():
        warnings.simplefilter("error", JitflowRetraceWarning)
        for n in range(1, 6):
            f(np.ones(n))


def test_cache_keeps_the_most_recently_used_signatures():
    """A function that meets ever new shapes keeps ``cache_size`` of them compiled, drops
    the least recently used, warns about retracing once, and compiles a dropped signature
    again (correctly) when it comes back."""
    @jit(cache_size=4)
    def f(x):
        return x * 2 + 1

    def ones(n):
        return np.ones(n, np.float32)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for n in range(1, 9):  # 4 more signatures than the cache keeps
            f(ones(n))
        assert len(f._cache) == 4 and f.evictions == 4 and f.trace_count == 8
        assert len(f._fast) == 4  # the fast path forgets the dropped ones too
        f(ones(5))  # a hit (fast path): 5 is now the most recently used, 6 the least
        f(ones(9))
        assert f.trace_count == 9
        f(ones(5))
        assert f.trace_count == 9  # still compiled
        assert_same(f(ones(6)), ones(6) * 3)  # dropped by 9, traced and compiled again
        assert_same(f(ones(1)), ones(1) * 3)
        assert f.trace_count == 11 and len(f._cache) == 4
    retraces = [w for w in caught if issubclass(w.category, JitflowRetraceWarning)]
    assert len(retraces) == 1


def test_a_dropped_signature_frees_its_executable():
    import weakref

    @jit(backend="interpreter", cache_size=2)
    def f(x):
        return x + 1

    f(np.ones(1))
    first = weakref.ref(f._cache[next(iter(f._cache))].executables["interpreter"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", JitflowRetraceWarning)
        for n in range(2, 5):
            f(np.ones(n))
    assert first() is None  # no fast-path key or history keeps it alive


def test_cache_size_from_config_and_checked(monkeypatch):
    monkeypatch.setattr(config, "_cache_size", 3)

    @jit(backend="interpreter")
    def f(x):
        return x - 1

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", JitflowRetraceWarning)
        for n in range(1, 7):
            f(np.ones(n))
    assert len(f._cache) == 3 and f.evictions == 3
    with pytest.raises(jitflow.ArgumentError, match="cache_size must be a positive int"):
        jit(lambda x: x, cache_size=0)
    with pytest.raises(jitflow.ArgumentError, match="config.cache_size must be a positive int"):
        config.cache_size = "64"


def test_retrace_warning_says_signatures_were_dropped():
    @jit(backend="interpreter", cache_size=2)
    def f(x):
        return x * 3

    with pytest.warns(JitflowRetraceWarning, match="2 most recently used"):
        for n in [1, 2, 3, 1, 2, 3]:  # three shapes, two kept: every call traces
            f(np.ones(n))
    assert f.trace_count == 6


def test_trace_lower_compile():
    @jit(backend="interpreter")
    def f(x, y):
        return np.tanh(x @ y).sum(axis=1), x

    y = np.ones((4, 2), np.float32)
    traced = f.trace(X, y)
    assert isinstance(traced, Module) and f.trace_count == 0
    verify(traced)
    assert "tanh" in print_module(traced) and "ROOT" in print_module(traced)
    lowered = f.lower(X, y)
    jitflow.passes.PassManager(f.passes).run(traced)  # lowering is the trace through the pipeline
    assert f.trace_count == 1 and print_module(lowered) == print_module(traced)
    executable = f.compile(X, y)
    out = executable(X, y)
    assert isinstance(out, tuple) and len(out) == 2
    np.testing.assert_allclose(out[0], np.tanh(X @ y).sum(axis=1), rtol=1e-6)
    assert f.trace_count == 1


def test_cpu_backend_uses_runtime_compile(monkeypatch):
    compiled = []

    def fake_compile(module, target="cpu"):
        compiled.append((module, target))
        return jitflow.ir.Interpreter(module).run

    monkeypatch.setattr(jitflow.runtime, "compile", fake_compile, raising=False)

    @jit
    def f(x):
        return x * 3, x.sum()

    assert_same(f(X), (X * 3, X.sum()))
    f(X + 1)
    assert len(compiled) == 1 and compiled[0][1] == "cpu"
    verify(compiled[0][0])


def test_interpreter_mode_and_config_override_the_backend(monkeypatch):
    def broken_compile(module, target="cpu"):
        raise AssertionError("the interpreter should have been used")

    monkeypatch.setattr(jitflow.runtime, "compile", broken_compile, raising=False)
    f = jit(lambda x: x + 1)
    with interpreter_mode():
        assert_same(f(X), X + 1)
    assert config.backend is None
    monkeypatch.setattr(config, "backend", "interpreter")
    assert_same(f(X), X + 1)


def test_interpreter_mode_belongs_to_the_thread_that_enters_it(monkeypatch):
    # Threads A and B enter and leave in the order A, B, A, B: afterwards nobody is left in
    # the interpreter, and while A is inside, the main thread still compiles.
    a_inside, main_checked, b_inside, a_left = (threading.Event() for _ in range(4))
    seen = {}

    def thread(name, enter_after, entered, leave_after):
        if enter_after is not None:
            enter_after.wait(10)
        with interpreter_mode():
            seen[name + " inside"] = config.backend
            entered.set()
            if leave_after is not None:
                leave_after.wait(10)
        seen[name + " after"] = config.backend
        if name == "A":
            a_left.set()

    compiled = []
    real_compile = jitflow.runtime.compile
    monkeypatch.setattr(jitflow.runtime, "compile",
                        lambda module, target="cpu": compiled.append(target) or real_compile(module, target))
    a = threading.Thread(target=thread, args=("A", None, a_inside, b_inside))
    b = threading.Thread(target=thread, args=("B", main_checked, b_inside, a_left))
    a.start(), b.start()
    a_inside.wait(10)
    assert config.backend is None  # A's block does not reach this thread
    assert_same(jit(lambda x: x * 3)(X), X * 3)
    assert compiled == ["cpu"]
    main_checked.set()
    a.join(10), b.join(10)
    assert seen == {"A inside": "interpreter", "B inside": "interpreter",
                    "A after": None, "B after": None}
    assert config.backend is None
    assert_same(jit(lambda x: x * 5)(X), X * 5)
    assert compiled == ["cpu", "cpu"]


def test_nested_jit_inlines():
    inner = jit(lambda x: x * 2, backend="interpreter")

    @jit(backend="interpreter")
    def outer(x):
        return inner(x) + 1

    assert_same(outer(X), X * 2 + 1)
    assert inner.trace_count == 0
    assert "multiply" in print_module(outer.lower(X))


def test_jitted_method():
    class Model:
        scale = 3.0

        @jit(static_argnums=0, backend="interpreter")
        def apply(self, x):
            return x * self.scale

    assert_same(Model().apply(X), X * 3.0)


def test_keyword_and_default_arguments():
    @jit(backend="interpreter")
    def f(x, *, bias=np.float32(1.0), power=2):
        return x ** power + bias

    assert_same(f(X), X ** 2 + np.float32(1.0))
    assert_same(f(X, power=3, bias=np.float32(0.5)), X ** 3 + np.float32(0.5))


def test_python_scalar_arguments_of_every_kind():
    @jit(backend="interpreter")
    def f(x, i, r, b):
        return x * i + r, x > r, np.where(b, x, -x)

    x8 = np.arange(4, dtype=np.int8)
    assert_same(f(x8, 3, 0.5, True), (x8 * 3 + 0.5, x8 > 0.5, np.where(True, x8, -x8)))
    assert_same(f(x8, 3, 0.5, True)[0], x8 * 3 + 0.5)


def test_traced_modules_round_trip_through_the_text_format():
    def f(x, i, idx):
        a = np.exp(x) * 2.0 + x[::-1, None].sum()
        return (a.argmax(axis=1), np.einsum("ij,kj->ik", a, x), x[i], x[:, idx], a.var(axis=0),
                x.astype(np.int8) // 3)

    module = jit(f, backend="interpreter").lower(X, 1, np.array([0, 2]))
    text = print_module(module)
    reparsed = jitflow.ir.parse_module(text)
    verify(reparsed)
    assert print_module(reparsed) == text


def test_supported_functions_lists_the_numpy_surface():
    names = jitflow.frontend.supported_functions()
    for name in ("np.sum", "np.add", "np.einsum", "np.where", "np.matmul", "np.concatenate"):
        assert name in names
    assert "np.fft.fft" not in names


def test_fast_path_cache_hits_keep_every_behaviour():
    calls = []

    @jit
    def f(x, y):
        calls.append(1)
        return {"sum": x + y, "pair": (x * 2, y)}

    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    y = np.ones((2, 3), np.float32)
    for _ in range(3):  # the first call traces; the others take the fast path
        assert_same(f(x, y), {"sum": x + y, "pair": (x * 2, y)})
    assert f.trace_count == 1 and len(calls) == 1
    # A transposed (non-contiguous) view of the same shape hits the fast path and is copied.
    xt = np.arange(6, dtype=np.float32).reshape(3, 2).T
    assert_same(f(xt, y), {"sum": xt + y, "pair": (xt * 2, y)})
    # A new dtype, a Python scalar or a keyword argument misses it and traces or binds as usual.
    assert_same(f(x.astype(np.float64), y), {"sum": x + y.astype(np.float64),
                                             "pair": (x.astype(np.float64) * 2, y)})
    assert f.trace_count == 2
    assert_same(f(x, y=y), {"sum": x + y, "pair": (x * 2, y)})
    assert f.trace_count == 2


def test_fast_path_takes_tuples_and_lists_of_arrays():
    @jit
    def step(params, x):
        w, (b, scale) = params
        return tuple(p - 0.5 for p in (w, b)), x @ w + b * scale

    w, b, scale = np.ones((3, 2), np.float32), np.arange(2, dtype=np.float32), np.full(2, 2.0, np.float32)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)

    def expected(w, b, scale, x):
        return (w - 0.5, b - 0.5), x @ w + b * scale

    for _ in range(3):
        assert_same(step((w, (b, scale)), x), expected(w, b, scale, x))
    assert step.trace_count == 1
    # The same leaves in a list, or nested otherwise, are another signature.
    assert_same(step([w, [b, scale]], x), expected(w, b, scale, x))
    assert step.trace_count == 2
    # A transposed leaf is copied; a new shape inside the tuple traces again.
    wt = np.ones((2, 3), np.float32).T
    assert_same(step((wt, (b, scale)), x), expected(wt, b, scale, x))
    w4 = np.ones((3, 4), np.float32)
    b4, s4 = np.ones(4, np.float32), np.ones(4, np.float32)
    assert_same(step((w4, (b4, s4)), x), expected(w4, b4, s4, x))
    assert step.trace_count == 3
    # A Python scalar leaf leaves the fast path and binds as usual (weakly typed).
    assert_same(step((w, (b, 2.0)), x), expected(w, b, np.float32(2.0), x))
    assert step.trace_count == 4


def test_a_tuple_of_arrays_comes_back_without_rebuilding_its_tree(monkeypatch):
    """A training step returning its new parameters (a tuple of arrays): repeated calls hand
    the executable's own result tuple back, with no tree rebuilt per call (W8: 4.2 -> 3.65
    ms).  Nested outputs, and one array, are rebuilt as before."""
    @jit
    def step(params, x):
        return tuple(p - x.sum() for p in params)

    @jit
    def nested(params, x):
        return (params[0] + x.sum(), (params[1] * 2,))

    params = (np.ones(3, np.float32), np.arange(2, dtype=np.float32))
    x = np.arange(4, dtype=np.float32)
    for f, expected in ((step, (params[0] - 6, params[1] - 6)),
                        (nested, (params[0] + 6, (params[1] * 2,)))):
        assert_same(f(params, x), expected)  # traces and arms the fast path
    jit_module = importlib.import_module("jitflow.frontend.jit")  # the name is the function
    rebuilt = []
    real = jit_module.unflatten_results

    def counting(tree, results):
        rebuilt.append(tree.flat_tuple)
        return real(tree, results)

    monkeypatch.setattr(jit_module, "unflatten_results", counting)
    monkeypatch.setattr(importlib.import_module("jitflow.frontend.trace.pytree"), "_build",
                        None)  # calling it would raise
    for _ in range(2):
        out = step(params, x)
        assert type(out) is tuple and len(out) == 2
        assert_same(out, (params[0] - 6, params[1] - 6))
    assert rebuilt == [True, True]
    monkeypatch.undo()
    assert_same(nested(params, x), (params[0] + 6, (params[1] * 2,)))


def test_fast_path_respects_the_backend_switch(monkeypatch):
    @jit
    def f(x):
        return x - 1

    x = np.arange(4, dtype=np.int32)
    f(x)
    used = []
    original = jitflow.ir.Interpreter.run
    monkeypatch.setattr(jitflow.ir.Interpreter, "run",
                        lambda self, *a: used.append(1) or original(self, *a))
    with interpreter_mode():
        np.testing.assert_array_equal(f(x), x - 1)
    assert used  # the interpreter ran although the cpu executable was cached
    used.clear()
    np.testing.assert_array_equal(f(x), x - 1)
    assert not used


def test_keyword_and_star_args_calls_take_the_fast_path(monkeypatch):
    @jit
    def scaled(x, y, scale=None):
        return x * 2 + y if scale is None else (x * 2 + y) * scale

    @jit
    def first_plus_one(*args):
        return args[0] + 1.0

    a, b = np.arange(4, dtype=np.float32), np.full(4, 3.0, np.float32)
    bound = count_slow_path(monkeypatch)
    calls = [lambda: scaled(x=a, y=b), lambda: scaled(a, y=b), lambda: first_plus_one(a),
             lambda: first_plus_one(a, b), lambda: scaled(a, b, scale=b)]
    for call in calls:
        first = call()
        bound.clear()
        assert_same(call(), first)  # the same call again: no binding
        assert not bound, bound
    # Alternating call shapes miss the last executable's probe but hit the fast-path
    # cache: still no binding.
    for _ in range(2):
        for call in calls:
            call()
    assert not bound, bound


def test_keyword_orders_and_defaults_give_one_trace_and_the_same_results():
    @jit
    def f(x, y, z=None):
        return x * 2 + y if z is None else x * 2 + y - z

    a, b, c = (np.arange(4, dtype=np.float32) * k for k in (1, 3, 5))
    for _ in range(2):  # the first round traces and arms the fast paths, the second uses them
        for got in (f(a, b), f(x=a, y=b), f(y=b, x=a), f(a, y=b)):
            assert_same(got, a * 2 + b)
        for got in (f(a, b, c), f(a, b, z=c), f(z=c, y=b, x=a), f(a, z=c, y=b)):
            assert_same(got, a * 2 + b - c)
    assert f.trace_count == 2  # with and without z, whatever the order of the keywords
    assert_same(f(y=b[:2], x=a[:2]), a[:2] * 2 + b[:2])  # a new shape by keyword traces again
    assert f.trace_count == 3

    @jit
    def g(x, *rest, y=None):
        total = x + sum(rest) if rest else x
        return total if y is None else total - y

    for _ in range(2):  # a probe armed for one call shape never runs another
        assert_same(g(a, y=b), a - b)
        assert_same(g(a, c, y=b), a + c - b)
        assert_same(g(a, c, c), a + 2 * c)
        assert_same(g(a), a)
    assert g.trace_count == 4
    with pytest.raises(TypeError, match="multiple values"):
        f(a, x=b)


def test_alternating_signatures_each_run_their_own_executable():
    """The probe of the last executable rejects another signature natively; the call then
    finds its own cache entry, and nothing ever runs with the wrong executable."""
    @jit
    def f(x):
        return x * 2

    a, b = np.arange(4, dtype=np.float32), np.arange(6, dtype=np.int64).reshape(2, 3)
    c = np.arange(4, dtype=np.float64)
    for _ in range(3):
        for value in (a, b, c, a[::2], 3):
            result = f(value)
            expected = np.asarray(value) * 2
            assert result.dtype == expected.dtype and result.shape == expected.shape
            np.testing.assert_array_equal(result, expected)
    assert f.trace_count == 5  # a[::2] has its own shape; the Python int is weakly typed


def test_captured_uniform_arrays_trace_as_a_broadcast_scalar():
    zeros = np.zeros((300, 200), np.float32)

    def f(x):
        return x + zeros + np.full((300, 200), 2.0, np.float32)

    module = jit(f).trace(np.ones((300, 200), np.float32))
    assert not any(i.opcode == "constant" and i.type.shape for i in module.entry.instructions)
    np.testing.assert_array_equal(jit(f)(np.ones((300, 200), np.float32)), np.full((300, 200), 3.0))


def test_jitted_functions_pickle_by_reference(tmp_path, monkeypatch):
    (tmp_path / "jitted_module.py").write_text(textwrap.dedent("""
        import jitflow

        @jitflow.jit
        def double(x):
            return x * 2
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    import jitted_module

    data = pickle.dumps(jitted_module.double)
    assert pickle.loads(data) is jitted_module.double
    # Another process (as a Pool worker is) finds the function by its module and name.
    script = ("import pickle, sys, numpy as np; f = pickle.loads(sys.stdin.buffer.read()); "
              "print(f(np.arange(3, dtype=np.float32)).tolist())")
    result = subprocess.run([sys.executable, "-c", script], input=data, capture_output=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(
                                [str(tmp_path), os.environ.get("PYTHONPATH", "")])})
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().strip() == "[0.0, 2.0, 4.0]"


def test_a_jitted_lambda_does_not_pickle_as_a_lambda_does_not():
    errors = (pickle.PicklingError, AttributeError)  # which one depends on the Python version
    with pytest.raises(errors, match="lambda"):
        pickle.dumps(lambda x: x)
    with pytest.raises(errors, match="lambda"):
        pickle.dumps(jit(lambda x: x))


def _through_pickle(value):
    import pickle

    return pickle.loads(pickle.dumps(value))


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_])
def test_arrays_that_went_through_pickle_run_on_every_call(dtype):
    """Unpickled arrays (multiprocessing, data loader workers) and rebuilt dtypes carry a
    dtype object of their own, equal to NumPy's canonical one: the compiled code compares
    dtypes by value, on the first call and on the fast path's later ones."""
    f = jit(lambda x: x | x if dtype is np.bool_ else x * 2)
    x = (np.arange(6) % 3 == 1).astype(dtype).reshape(2, 3)
    expected = x | x if dtype is np.bool_ else x * 2
    pickled, rebuilt = _through_pickle(x), x.astype(np.dtype(dtype).newbyteorder("="))
    assert pickled.dtype is not x.dtype and rebuilt.dtype is not x.dtype
    for _ in range(3):
        for argument in (pickled, rebuilt, x):
            assert_same(f(argument), expected)
    assert f.trace_count == 1
    # The native check itself takes them: no conversion on the way.
    probe = f.compile(x).probe
    assert_same(probe(pickled), expected)
    assert_same(probe(rebuilt), expected)


def test_pickled_arrays_as_several_arguments():
    @jit
    def f(w, x, b):
        return x @ w + b, b.sum()

    w, x = np.ones((3, 2), np.float32), np.arange(6, dtype=np.float32).reshape(2, 3)
    b, steps = np.arange(2, dtype=np.float32), np.arange(2, dtype=np.int64)
    expected = (x @ w + b, b.sum())
    loaded = _through_pickle((w, x, b, steps))
    for _ in range(3):
        assert_same(f(*loaded[:3]), expected)
        assert_same(f(w, loaded[1], b), expected)  # mixed with arrays made here
        assert_same(jit(lambda s, t: s + t)(steps, loaded[3]), steps * 2)
    assert f.trace_count == 1
    assert_same(f.compile(w, x, b).probe(*loaded[:3]), expected)


@pytest.mark.parametrize("order", [">", "<"])
def test_arrays_in_either_byte_order_run_as_numpy_runs_them(order):
    """Big-endian data (files, other machines) is converted to this machine's order, as
    NumPy's ufuncs take it: the same numbers, the same result, on every call."""
    f = jit(lambda x, y: x * 2 + y)
    x = np.arange(6, dtype=np.dtype("f4").newbyteorder(order)).reshape(2, 3)
    y = np.arange(6, dtype=np.dtype("i8").newbyteorder(order)).reshape(2, 3) * 1000
    expected = np.asarray(x, np.float32) * 2 + np.asarray(y, np.int64)
    for _ in range(3):
        result = f(x, y)
        assert result.dtype.isnative
        assert_same(result, (x * 2 + y).astype(expected.dtype))
        np.testing.assert_array_equal(result, expected)
    assert f.trace_count == 1
