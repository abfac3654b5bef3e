"""GradientTape eagerly and under jit, against jitflow.grad and hand-derived gradients."""

from __future__ import annotations

import numpy as np
import pytest

import jitflow
from jitflow import GradientTape, GradientTapeError, Variable, jit

X = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]], np.float32)
W0 = np.array([[0.1, -0.2], [0.3, 0.4], [-0.5, 0.6]], np.float32)
B0 = np.array([0.05, -0.05], np.float32)


def loss_of(x, w, b):
    return np.mean(np.tanh(x @ w + b) ** 2) + 0.1 * np.sum(w * w)


def reference_gradients():
    """d loss / d (w, b) by jitflow.grad on the pure function."""
    return jitflow.grad(loss_of, argnums=(1, 2))(X, W0, B0)


def tape_gradients(x, w, b):
    with GradientTape() as tape:
        loss = loss_of(x, w, b)
    return loss, tape.gradient(loss, [w, b])


def test_eager_tape_matches_grad_and_keeps_concrete_values():
    w, b = Variable(W0), Variable(B0)
    loss, (gw, gb) = tape_gradients(X, w, b)
    expected_w, expected_b = reference_gradients()
    assert isinstance(gw, np.ndarray) and gw.dtype == np.float32 and gw.shape == (3, 2)
    np.testing.assert_allclose(gw, expected_w, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(gb, expected_b, rtol=1e-5, atol=1e-7)
    value = float(loss_of(X, W0, B0))
    assert float(loss) == pytest.approx(value, rel=1e-6)
    assert loss.numpy() == pytest.approx(value, rel=1e-6)
    assert f"{loss:.4f}" == f"{value:.4f}" and "EagerTracer" in repr(loss)
    # The values under the tape are usable as NumPy arrays (the loss is not traced by jit).
    assert np.asarray(loss).shape == () and loss > 0


@pytest.mark.parametrize("backend", ("interpreter", "cpu"))
def test_tape_inside_jit_matches_eager_tape_and_grad(backend):
    w, b = Variable(W0), Variable(B0)
    loss, (gw, gb) = jit(lambda x: tape_gradients(x, w, b), backend=backend)(X)
    expected_w, expected_b = reference_gradients()
    np.testing.assert_allclose(gw, expected_w, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(gb, expected_b, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(loss, loss_of(X, W0, B0), rtol=1e-6)


def test_gradient_with_respect_to_traced_arguments_inside_jit():
    @jit
    def f(x, w):
        with GradientTape() as tape:
            tape.watch(x)
            loss = loss_of(x, w, B0)
        return tape.gradient(loss, [x, w])

    got_x, got_w = f(X, W0)
    want_x, want_w = jitflow.grad(loss_of, argnums=(0, 1))(X, W0, B0)
    np.testing.assert_allclose(got_x, want_x, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got_w, want_w, rtol=1e-5, atol=1e-7)


def test_eager_watch_of_an_array_returns_the_value_to_differentiate():
    x = np.array([1.0, 2.0, 3.0])
    with GradientTape() as tape:
        xw = tape.watch(x)
        y = np.sum(xw ** 3)
    np.testing.assert_allclose(tape.gradient(y, xw), 3 * x ** 2)
    with GradientTape() as tape:
        tape.watch(x)
        y = np.sum(x ** 3)
    with pytest.raises(GradientTapeError, match="the NumPy array given to tape.watch"):
        tape.gradient(y, x)


def test_persistent_tape_and_second_gradient_of_a_non_persistent_one():
    w = Variable(np.array([2.0, -1.0]))
    with GradientTape(persistent=True) as tape:
        y = np.sum(w ** 2)
        z = np.sum(w ** 3)
    np.testing.assert_allclose(tape.gradient(y, w), [4.0, -2.0])
    np.testing.assert_allclose(tape.gradient(z, w), [12.0, 3.0])
    with GradientTape() as tape:
        y = np.sum(w ** 2)
    tape.gradient(y, w)
    with pytest.raises(GradientTapeError, match="persistent=True"):
        tape.gradient(y, w)


def test_unconnected_sources_give_none_or_zeros():
    used, unused = Variable(np.ones(2)), Variable(np.ones(3))
    with GradientTape(persistent=True) as tape:
        y = np.sum(used * 3)
    assert tape.gradient(y, [used, unused])[1] is None
    np.testing.assert_array_equal(tape.gradient(y, unused, unconnected_gradients="zero"),
                                  np.zeros(3))

    @jit
    def f(x):
        with GradientTape() as tape:
            y = np.sum(used * x)
        g_used, g_unused = tape.gradient(y, [used, unused], unconnected_gradients="zero")
        return g_used, g_unused

    g_used, g_unused = f(np.array([2.0, 5.0]))
    np.testing.assert_array_equal(g_used, [2.0, 5.0])
    np.testing.assert_array_equal(g_unused, np.zeros(3))


def test_what_the_tape_watches():
    trainable, frozen = Variable(np.ones(2)), Variable(np.ones(2), trainable=False)
    with GradientTape() as tape:
        y = np.sum(trainable * frozen)
    assert tape.gradient(y, [trainable, frozen])[1] is None
    with GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(frozen)
        y = np.sum(trainable * frozen * 2)
    assert tape.watched_variables() == [frozen]
    g_trainable, g_frozen = tape.gradient(y, [trainable, frozen])
    assert g_trainable is None
    np.testing.assert_array_equal(g_frozen, [2.0, 2.0])


def test_stop_recording_hides_reads():
    w = Variable(np.array(3.0))
    with GradientTape() as tape:
        with tape.stop_recording():
            y = w * w
    assert tape.gradient(y, w) is None


def test_several_targets_and_output_gradients():
    w = Variable(np.array([1.0, 2.0]))
    with GradientTape(persistent=True) as tape:
        a = w * 3.0
        b = np.sum(w ** 2)
    np.testing.assert_allclose(tape.gradient([a, b], w), [3.0 + 2.0, 3.0 + 4.0])
    np.testing.assert_allclose(tape.gradient(a, w, output_gradients=np.array([1.0, -1.0])),
                               [3.0, -3.0])
    with pytest.raises(GradientTapeError, match="output_gradients entry of shape"):
        tape.gradient(a, w, output_gradients=np.ones(3))


def test_gradient_structure_follows_sources():
    w, b = Variable(W0), Variable(B0)
    with GradientTape() as tape:
        loss = loss_of(X, w, b)
    grads = tape.gradient(loss, {"w": w, "rest": (b,)})
    assert set(grads) == {"w", "rest"} and grads["w"].shape == (3, 2)
    assert isinstance(grads["rest"], tuple) and grads["rest"][0].shape == (2,)


def test_sources_that_cannot_be_differentiated():
    w = Variable(np.ones(2))
    counter = Variable(np.int64(1))
    with GradientTape(persistent=True) as tape:
        y = np.sum(w) * counter
    assert tape.gradient(y, counter) is None  # integer state has no gradient
    with pytest.raises(GradientTapeError, match="source 0 is a str: sources are jitflow"):
        tape.gradient(y, "w")
    fresh = GradientTape()
    with pytest.raises(GradientTapeError, match="before the tape recorded"):
        fresh.gradient(y, w)


def test_training_loop_eager_and_jitted_agree():
    def run(step_fn):
        w = Variable(np.zeros(3))
        for _ in range(20):
            step_fn(w)
        return w.numpy()

    target = np.array([1.0, -2.0, 0.5])

    def step(w):
        with GradientTape() as tape:
            loss = np.sum((w - target) ** 2)
        w.assign_sub(0.1 * tape.gradient(loss, w))

    eager = run(step)
    jitted_w = Variable(np.zeros(3))
    jitted = jit(lambda: step(jitted_w))
    for _ in range(20):
        jitted()
    np.testing.assert_allclose(jitted_w.numpy(), eager, rtol=1e-12)
    np.testing.assert_allclose(eager, target * (1 - 0.8 ** 20), rtol=1e-12)


def test_eager_tape_differentiates_through_jitted_calls():
    w = Variable(W0)

    @jit
    def predict(x):
        return np.tanh(x @ w)

    predict(X)  # compiled once outside the tape: not recorded there
    with GradientTape() as tape:
        loss = np.sum(predict(X) ** 2)
    got = tape.gradient(loss, w)
    expected = jitflow.grad(lambda w: np.sum(np.tanh(X @ w) ** 2))(W0)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    assert predict.trace_count == 1
