"""Variables and Modules: eager behaviour, NumPy interop, functionalization under jit."""

from __future__ import annotations

import copy
import gc
import warnings

import numpy as np
import pytest

import jitflow
import jitflow.runtime
from jitflow import ConcretizationError, Module, Variable, VariableError, jit

from frontend_util import count_slow_path

BACKENDS = ("interpreter", "cpu")


# -- eager ---------------------------------------------------------------------------

def test_variable_holds_its_own_copy_with_fixed_shape_and_dtype():
    source = np.arange(3, dtype=np.float32)
    v = Variable(source, name="v")
    source[0] = 100
    assert v.name == "v" and v.trainable and v.shape == (3,) and v.dtype == np.float32
    np.testing.assert_array_equal(v.numpy(), [0, 1, 2])
    assert Variable(1.5, dtype=np.float32).dtype == np.float32
    assert not Variable(0, trainable=False).trainable


def test_assign_family_updates_in_place_and_returns_the_variable():
    v = Variable(np.ones(2))
    assert v.assign([3.0, 4.0]) is v
    v.assign_add(np.array([1.0, 1.0]))
    v.assign_sub(0.5)
    np.testing.assert_array_equal(v.numpy(), [3.5, 4.5])


def test_big_endian_values_are_stored_in_native_byte_order():
    big = np.arange(6, dtype=">f4").reshape(2, 3)
    v = Variable(big)
    assert v.dtype == np.float32 and v.dtype.isnative
    np.testing.assert_array_equal(v.numpy(), big)
    assert Variable([1, 2], dtype=">i8").dtype == np.int64
    np.testing.assert_array_equal(jit(lambda x: x + v)(np.ones((2, 3), np.float32)), big + 1)
    v.assign(np.full((2, 3), 2.0, ">f4"))
    np.testing.assert_array_equal(v.numpy(), np.full((2, 3), 2.0))
    with pytest.raises(VariableError, match="complex64"):  # what is still refused says why
        Variable(np.ones(2, ">c8"))


def test_numpy_returns_a_copy():
    v = Variable(np.zeros(2))
    v.numpy()[0] = 7
    assert v.numpy()[0] == 0


def test_assign_of_another_shape_or_kind_is_an_error():
    v = Variable(np.zeros((2, 2), np.float32), name="weights")
    with pytest.raises(VariableError,
                       match=r"shape \(3,\) to Variable 'weights' of shape \(2, 2\)"):
        v.assign(np.zeros(3))
    counter = Variable(np.int32(0), name="count")
    with pytest.raises(VariableError, match="float64 values to Variable 'count' of dtype int32"):
        counter.assign(np.float64(1.5))


def test_numpy_interop():
    w = Variable(np.array([1.0, 2.0, 3.0]))
    a = np.array([0.5, 0.25, 2.0])
    np.testing.assert_array_equal(w + a, np.array([1.5, 2.25, 5.0]))
    np.testing.assert_array_equal(a + w, np.array([1.5, 2.25, 5.0]))
    np.testing.assert_array_equal(-w, [-1, -2, -3])
    np.testing.assert_array_equal(w > 1.5, [False, True, True])
    np.testing.assert_allclose(np.exp(w), np.exp([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(np.stack([w, a]), np.stack([[1.0, 2.0, 3.0], a]))
    assert w @ a == pytest.approx(7.0)
    assert w.sum() == 6.0 and w[1] == 2.0 and w.reshape(3, 1).shape == (3, 1)
    assert np.asarray(w).dtype == np.float64 and float(Variable(2.5)) == 2.5
    with pytest.raises(VariableError, match="out="):
        np.add(w, a, out=w)


# -- under jit -------------------------------------------------------------------------

def _counter_step():
    w = Variable(np.array([1.0, 2.0, 3.0], np.float32), name="w")
    b = Variable(np.float32(0.5), name="b")

    def step(x):
        y = np.sum(x * w + b)
        w.assign(w * 2)
        b.assign_add(1.0)
        return y

    return w, b, step


@pytest.mark.parametrize("backend", BACKENDS)
def test_reads_are_inputs_and_assignments_are_written_back(backend):
    x = np.arange(3, dtype=np.float32)
    w_eager, b_eager, eager_step = _counter_step()
    w, b, step = _counter_step()
    jitted = jit(step, backend=backend)
    for _ in range(4):
        got, want = jitted(x), eager_step(x)
        np.testing.assert_allclose(got, want, rtol=1e-6)
        np.testing.assert_array_equal(w.numpy(), w_eager.numpy())
        np.testing.assert_array_equal(b.numpy(), b_eager.numpy())
    assert jitted.trace_count == 1
    assert w.dtype == np.float32 and b.shape == ()


def test_trace_has_one_parameter_per_variable_and_one_output_per_assignment():
    w, b, step = _counter_step()
    module = jit(step).trace(np.zeros(3, np.float32))
    parameters = [p.name for p in module.entry.parameters]
    assert parameters == ["x", "var.w", "var.b"]
    assert len(module.entry.root.operands) == 3  # the loss, then w and b


def test_read_only_variables_keep_the_functions_own_output_structure():
    w = Variable(np.array([1.0, -1.0]))
    single = jit(lambda x: x * w)
    np.testing.assert_array_equal(single(np.array([2.0, 3.0])), [2.0, -3.0])
    pair = jit(lambda x: (x + w, {"d": x - w}))
    first, rest = pair(np.array([2.0, 3.0]))
    np.testing.assert_array_equal(first, [3.0, 2.0])
    np.testing.assert_array_equal(rest["d"], [1.0, 4.0])


def test_function_returning_nothing_still_writes_back():
    v = Variable(np.zeros(2, np.float32))

    @jit
    def accumulate(x):
        v.assign_add(x)

    for _ in range(3):
        assert accumulate(np.ones(2, np.float32)) is None
    np.testing.assert_array_equal(v.numpy(), [3.0, 3.0])


def test_assigned_but_not_read_variable_is_an_output_only():
    v = Variable(np.zeros(2))

    @jit
    def f(x):
        v.assign(x * 2)
    f(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(v.numpy(), [2.0, 4.0])
    assert [p.name for p in f.trace(np.ones(2)).entry.parameters] == ["x"]


def test_tracers_and_variables_mix_in_every_position():
    w = Variable(np.array([1.0, 2.0, 3.0], np.float32))

    def f(x):
        return (x + w, w + x, x @ w, np.where(x > 1, w, 0.0), np.stack([x, w]),
                np.concatenate([w, x]), np.maximum(x, w), w.T, w[1:])

    x = np.array([0.5, 1.5, 4.0], np.float32)
    expected = f(x)
    for got, want in zip(jit(f)(x), expected):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_variable_created_inside_jit_is_an_error_with_advice():
    def make(x):
        return Variable(x) * 2  # this line is the one reported

    with pytest.raises(VariableError, match=r"created inside a jitted function at .*"
                       r"test_state.py:\d+ \(in make\): create variables once, outside"):
        jit(make)(np.ones(2))


def test_concrete_uses_of_a_variable_inside_jit_are_errors():
    v = Variable(np.ones(2), name="v")
    with pytest.raises(ConcretizationError, match=r"Variable 'v'.numpy\(\) inside a jitted"):
        jit(lambda x: x + v.numpy())(np.ones(2))
    with pytest.raises(ConcretizationError, match="cannot use Variable 'v' as a NumPy array"):
        jit(lambda x: x + np.asarray(v))(np.ones(2))


def test_traced_assignment_of_another_shape_or_kind_is_an_error():
    v = Variable(np.zeros(3, np.float32), name="v")
    with pytest.raises(VariableError, match="shape"):
        jit(lambda x: v.assign(x))(np.zeros(2, np.float32))
    n = Variable(np.int64(0), name="n")
    with pytest.raises(VariableError, match="float32 values to Variable 'n'"):
        jit(lambda x: n.assign(x))(np.float32(1))


def test_changing_a_variable_eagerly_is_seen_by_the_next_call_without_retracing():
    scale = Variable(np.float32(2.0), trainable=False)
    f = jit(lambda x: x * scale)
    x = np.ones(2, np.float32)
    np.testing.assert_array_equal(f(x), [2.0, 2.0])
    scale.assign(5.0)
    np.testing.assert_array_equal(f(x), [5.0, 5.0])
    assert f.trace_count == 1


def test_compiled_stateful_executable_keeps_its_introspection():
    w, b, step = _counter_step()
    executable = jit(step).compile(np.zeros(3, np.float32))
    assert "define" in executable.llvm_ir


# -- Module ------------------------------------------------------------------------------

class Dense(Module):
    def __init__(self, n_in, n_out, name=None):
        super().__init__(name)
        self.w = Variable(np.full((n_in, n_out), 0.1, np.float32), name="w")
        self.b = Variable(np.zeros(n_out, np.float32), name="b")

    def __call__(self, x):
        return x @ self.w + self.b


class Net(Module):
    def __init__(self):
        super().__init__()
        self.layers = [Dense(2, 3), Dense(3, 1)]
        self.extra = {"scale": Variable(np.float32(2.0), trainable=False, name="scale")}
        self.alias = self.layers[0].w  # the same variable again: listed once
        self.steps = 0  # not state

    @jit
    def __call__(self, x):
        for layer in self.layers:
            x = np.maximum(layer(x), 0)
        return x * self.extra["scale"]


def test_module_tracks_variables_and_submodules_recursively():
    net = Net()
    assert [v.name for v in net.variables] == ["w", "b", "w", "b", "scale"]
    assert [v.name for v in net.trainable_variables] == ["w", "b", "w", "b"]
    assert net.submodules == net.layers
    assert net.name == "net" and Dense(1, 1, name="first").name == "first"
    assert len(net.layers[0].variables) == 2


def test_jit_on_a_module_method():
    first, second = Net(), Net()
    second.extra["scale"].assign(3.0)
    x = np.array([[1.0, 2.0], [3.0, -4.0]], np.float32)
    for _ in range(2):
        np.testing.assert_allclose(first(x), np.maximum(np.maximum(x @ np.full((2, 3), 0.1), 0)
                                                        @ np.full((3, 1), 0.1), 0) * 2, rtol=1e-6)
        np.testing.assert_allclose(second(x), first(x) * 1.5, rtol=1e-6)
    assert Net.__call__.trace_count == 2  # one trace per instance, reused across calls


def counter_class() -> type:
    """A fresh Module class per test: jitted methods (and their caches) belong to the class."""
    class Counter(Module):
        def __init__(self, offset):
            super().__init__()
            self.offset = Variable(np.full(4, offset, np.float32), name="offset")
            self.calls = Variable(np.float32(0), trainable=False, name="calls")

        @jit
        def plus_one(self, x):
            return x + 1.0

        @jit
        def plus_offset(self, x, scale=None):
            return x + self.offset if scale is None else x + self.offset * scale

        @jit
        def count(self, x):
            self.calls.assign_add(1.0)
            return x * self.offset
    return Counter


def test_jitted_methods_of_modules_take_the_fast_path(monkeypatch):
    model = counter_class()(2.0)
    x = np.arange(4, dtype=np.float32)
    bound = count_slow_path(monkeypatch)
    calls = [lambda: model.plus_one(x), lambda: model.plus_offset(x),
             lambda: model.plus_offset(x, scale=x), lambda: model.count(x)]
    for call in calls:
        call()
        bound.clear()
        call()  # the same call again: no binding
        assert not bound, bound
    for _ in range(2):  # alternating call shapes: the fast-path cache, still no binding
        for call in calls:
            call()
    assert not bound, bound
    type(model).plus_offset._forget_fast_paths()  # (what evicting executables from the cache does)
    np.testing.assert_array_equal(model.plus_offset(x), x + 2)
    assert bound == [("plus_offset", 2, ())]  # found again through the cache, by binding


def test_a_jitted_methods_fast_paths_forget_dropped_signatures(monkeypatch):
    import collections
    import weakref

    # The process-wide cache of executables by module text keeps only the last one here.
    monkeypatch.setattr(jitflow.runtime, "_cache", collections.OrderedDict())
    monkeypatch.setattr(jitflow.runtime, "_CACHE_SIZE", 1)

    class Scaler(Module):
        @jit(cache_size=2)
        def scale(self, x):
            return x * 2.0

    model = Scaler()
    model.scale(np.ones(1, np.float32))
    first = weakref.ref(Scaler.scale._cache[next(iter(Scaler.scale._cache))].executables["cpu"])
    paths = model.scale.paths  # the fast paths of this module's bound method
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jitflow.JitflowRetraceWarning)
        for n in range(2, 6):
            model.scale(np.ones(n, np.float32))
            model.scale(x=np.ones(n, np.float32))
        cache = Scaler.scale._cache
        assert len(cache) == 2 and Scaler.scale.trace_count == 5
        # Two fast keys per kept signature (called positionally and by keyword), none for others.
        assert len(paths._fast) == 4 and all(key in cache for _, _, key in paths._fast.values())
        gc.collect()
        assert first() is None  # shape 1's executable: dropped, and no fast path keeps it
        np.testing.assert_array_equal(model.scale(np.ones(1, np.float32)), [2.0])  # traced again
    assert Scaler.scale.trace_count == 6


def test_jitted_methods_see_their_modules_state_at_every_call():
    Counter = counter_class()
    first, second = Counter(2.0), Counter(5.0)
    x = np.arange(4, dtype=np.float32)
    for _ in range(2):  # each instance has its own trace and its own fast path
        np.testing.assert_array_equal(first.plus_offset(x), x + 2)
        np.testing.assert_array_equal(second.plus_offset(x), x + 5)
    first.offset.assign(np.full(4, 7.0, np.float32))  # eagerly, between calls
    np.testing.assert_array_equal(first.plus_offset(x), x + 7)
    np.testing.assert_array_equal(first.plus_offset(scale=x, x=x), x + 7 * x)
    for n in range(1, 4):  # assigned by one jitted method, read by another
        np.testing.assert_array_equal(first.count(x), x * 7)
        assert first.calls.numpy() == n
    assert Counter.plus_offset.trace_count == 3
    wide = np.ones((2, 4), np.float32)  # a new argument shape traces again
    np.testing.assert_array_equal(first.plus_offset(wide), wide + 7)
    assert Counter.plus_offset.trace_count == 4
    with jitflow.interpreter_mode():  # the backend switch applies to methods too
        np.testing.assert_array_equal(first.plus_offset(x), x + 7)
    # A bound method copied with its module runs on the copy, whose state is its own.
    twin = copy.deepcopy(first.plus_offset)
    twin.__self__.offset.assign(np.full(4, 9.0, np.float32))
    np.testing.assert_array_equal(twin(x), x + 9)
    np.testing.assert_array_equal(first.plus_offset(x), x + 7)


def test_jitted_methods_inline_into_traces_and_tapes():
    model = counter_class()(3.0)
    x = np.arange(4, dtype=np.float32)
    model.plus_offset(x)  # arms the method's fast path first

    @jit
    def outer(x):
        return model.plus_offset(x) * 2

    @jit(autograph=False)
    def outer_plain(x):
        return model.plus_offset(x) * 2

    for f in (outer, outer_plain):
        np.testing.assert_array_equal(f(x), (x + 3) * 2)
        assert len(f.trace(x).entry.parameters) == 2  # x, and the variable read inside
    model.offset.assign(np.full(4, 4.0, np.float32))
    np.testing.assert_array_equal(outer(x), (x + 4) * 2)  # a variable, not a constant
    with jitflow.GradientTape() as tape:
        total = model.plus_offset(x).sum()
    np.testing.assert_array_equal(tape.gradient(total, model.offset), np.ones(4))


def test_a_bound_jitted_method_does_not_keep_its_module_alive():
    import gc
    import inspect
    import weakref

    Counter = counter_class()
    model = Counter(1.0)
    method = model.plus_one  # bound, never called: nothing refers to the module
    assert method.__self__ is model
    assert str(inspect.signature(method)) == "(x)"  # as the plain method's
    reference = weakref.ref(model)
    del model, method
    gc.collect()
    assert reference() is None
    assert not Counter.plus_one._methods


def test_bound_jitted_methods_pickle_with_their_module(tmp_path, monkeypatch):
    import pickle
    import textwrap

    (tmp_path / "jitted_model.py").write_text(textwrap.dedent("""
        import numpy as np
        import jitflow

        class Model(jitflow.Module):
            def __init__(self):
                super().__init__()
                self.offset = jitflow.Variable(np.ones(3, np.float32))

            @jitflow.jit
            def predict(self, x):
                return x + self.offset

            scaled = jitflow.jit(lambda self, x: x * self.offset)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    import jitted_model

    model = jitted_model.Model()
    model.offset.assign(np.full(3, 2.0, np.float32))
    x = np.arange(3, dtype=np.float32)
    model.predict(x)  # bound and called before pickling, as a Pool.map argument would be
    for name, expected in (("predict", x + 2), ("scaled", x * 2)):
        copy = pickle.loads(pickle.dumps(getattr(model, name)))
        assert copy.__self__ is not model and type(copy.__self__) is jitted_model.Model
        np.testing.assert_array_equal(copy(x), expected)


def test_jit_knows_containers_of_state_by_their_protocol_attribute_not_by_module():
    class Holder:  # not a Module: only the attribute jit looks for
        __jitflow_state_container__ = True

        def __init__(self, value):
            self.scale = Variable(np.float32(value))

    @jit
    def scaled(holder, x):
        return x * holder.scale

    x = np.ones(3, np.float32)
    np.testing.assert_array_equal(scaled(Holder(2.0), x), x * 2)
    np.testing.assert_array_equal(scaled(Holder(5.0), x), x * 5)
    assert scaled.trace_count == 2  # static by identity: one trace per holder
    with pytest.raises(jitflow.ArgumentError, match="not an array"):
        jit(lambda holder, x: x)(object(), x)


def test_jitflow_exports():
    for name in ("Variable", "Module", "GradientTape", "optimizers", "losses", "random"):
        assert name in jitflow.__all__ and hasattr(jitflow, name)


# -- with AutoGraph control flow -----------------------------------------------------------

def test_variables_read_inside_traced_branches_are_captured_entry_parameters():
    w = Variable(np.float32(2.0), name="w")

    @jit
    def f(x):
        if np.sum(x) > 0:
            y = x * w
        else:
            y = x - w
        return y

    np.testing.assert_array_equal(f(np.ones(2, np.float32)), [2.0, 2.0])
    np.testing.assert_array_equal(f(-np.ones(2, np.float32)), [-3.0, -3.0])
    assert [p.name for p in f.trace(np.ones(2, np.float32)).entry.parameters] == ["x", "var.w"]


def test_assignment_inside_a_traced_branch_is_an_error_with_advice():
    v = Variable(np.float32(0.0), name="count")

    def g(x):
        if np.sum(x) > 0:
            v.assign_add(1.0)
        return x

    with pytest.raises(VariableError, match=r"Variable 'count' assigned inside a traced `if` or "
                       r"loop .* at .*test_state.py:\d+ \(in g\): .*np.where"):
        jit(g)(np.ones(2, np.float32))


def test_variables_passed_as_arguments_are_state_not_snapshots():
    @jit
    def step(w, x):
        w.assign_sub(0.5 * (w - x))
        return np.sum(w)

    a, b = Variable(np.zeros(2)), Variable(np.ones(2))
    x = np.array([2.0, 4.0])
    for _ in range(2):
        step(a, x)
        step(b, x)
    np.testing.assert_allclose(a.numpy(), [1.5, 3.0])
    np.testing.assert_allclose(b.numpy(), [1.75, 3.25])
    assert step.trace_count == 2  # one trace per variable (static by identity)


def test_returning_a_variable_returns_its_current_value():
    w = Variable(np.ones(2))

    @jit
    def bump(x):
        w.assign(w + x)
        return w, x

    new, _ = bump(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(new, [2.0, 3.0])
    new[0] = 100.0  # the result is the caller's own array, not the variable's storage
    np.testing.assert_array_equal(w.numpy(), [2.0, 3.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_variables_never_share_storage_with_inputs_outputs_or_each_other(backend):
    a, b, c = Variable(np.zeros(2)), Variable(np.zeros(2)), Variable(np.ones(2))

    @jit
    def alias(x):
        a.assign(x)  # the interpreter would hand back x itself
        b.assign(c)  # ... and c's own storage
        return a

    x = np.array([1.0, 2.0])
    out = jit(alias.fn, backend=backend)(x)
    storages = {id(np.asarray(v)) for v in (a, b, c)}
    assert len(storages) == 3 and id(x) not in storages and id(out) not in storages
    a.assign([7.0, 7.0])
    np.testing.assert_array_equal(x, [1.0, 2.0])
    np.testing.assert_array_equal(out, [1.0, 2.0])
    np.testing.assert_array_equal(b.numpy(), [1.0, 1.0])
