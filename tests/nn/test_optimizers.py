"""Optimizers (eagerly and under jit, against NumPy transcriptions of Keras's update rules)
and losses (against direct NumPy formulas, stable at extreme logits, correct gradients)."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from jitflow import ArgumentError, GradientTape, Variable, jit, losses, optimizers

GRADIENTS = [np.array([0.5, -1.0, 2.0]), np.array([0.1, 0.3, -0.7]), np.array([-1.5, 0.2, 0.0]),
             np.array([0.4, 0.4, 0.4])]
START = np.array([1.0, -2.0, 0.5])


def sgd_reference(lr, momentum=0.0, nesterov=False):
    w, velocity = START.copy(), np.zeros(3)
    for g in GRADIENTS:
        if momentum == 0.0:
            w = w - lr * g
            continue
        velocity = momentum * velocity - lr * g
        w = w + (momentum * velocity - lr * g if nesterov else velocity)
    return w


def adam_reference(lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=0.0):
    w, m, v = START.copy(), np.zeros(3), np.zeros(3)
    for t, g in enumerate(GRADIENTS, start=1):
        w = w - lr * weight_decay * w
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g * g
        step = lr * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
        w = w - step * m / (np.sqrt(v) + epsilon)
    return w


CASES = {
    "sgd": (lambda: optimizers.SGD(0.1), sgd_reference(0.1)),
    "momentum": (lambda: optimizers.SGD(0.1, momentum=0.9), sgd_reference(0.1, 0.9)),
    "nesterov": (lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True),
                 sgd_reference(0.1, 0.9, True)),
    "adam": (lambda: optimizers.Adam(0.05), adam_reference(0.05)),
    "adamw": (lambda: optimizers.AdamW(0.05, weight_decay=0.1),
              adam_reference(0.05, weight_decay=0.1)),
}


@pytest.mark.parametrize("mode", ("eager", "jit"))
@pytest.mark.parametrize("case", sorted(CASES))
def test_update_rules(case, mode):
    make, expected = CASES[case]
    optimizer = make()
    w = Variable(START)

    def step(g):
        optimizer.apply_gradients([(g, w)])

    run = jit(step, backend="interpreter") if mode == "jit" else step
    for g in GRADIENTS:
        run(g)
    # The learning rate is a float32 variable, so updates carry float32 rounding.
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-6, atol=1e-7)
    assert int(optimizer.iterations.numpy()) == len(GRADIENTS)
    if mode == "jit":
        assert run.trace_count == 1


def test_compiled_train_step_matches_eager_and_learning_rate_changes_without_retrace():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [3.0], [0.5]], np.float32) + 1.0

    def make():
        w, b = Variable(np.zeros((4, 1), np.float32)), Variable(np.zeros(1, np.float32))
        optimizer = optimizers.Adam(0.05)

        def step(x, y):
            with GradientTape() as tape:
                loss = losses.mean_squared_error(y, x @ w + b)
            optimizer.apply_gradients(zip(tape.gradient(loss, [w, b]), [w, b]))
            return loss

        return w, optimizer, step

    w_eager, opt_eager, eager = make()
    w_jit, opt_jit, step = make()
    compiled = jit(step)
    for i in range(30):
        if i == 15:
            opt_eager.learning_rate = 0.01
            opt_jit.learning_rate = 0.01
        np.testing.assert_allclose(compiled(x, y), eager(x, y), rtol=2e-5)
    np.testing.assert_allclose(w_jit.numpy(), w_eager.numpy(), rtol=2e-5, atol=1e-6)
    assert compiled.trace_count == 1
    assert len(opt_jit.variables) == 2 + 2 * 2  # learning rate, iterations, m and v per variable


def test_apply_gradients_skips_none_and_checks_pairs():
    w, frozen = Variable(np.ones(2)), Variable(np.ones(2))
    optimizer = optimizers.SGD(0.5)
    optimizer.apply_gradients([(np.ones(2), w), (None, frozen)])
    np.testing.assert_array_equal(w.numpy(), [0.5, 0.5])
    np.testing.assert_array_equal(frozen.numpy(), [1.0, 1.0])
    with pytest.raises(ArgumentError, match="gradient of Variable 'v' has shape \\(3,\\)"):
        optimizer.apply_gradients([(np.ones(3), Variable(np.ones(2), name="v"))])
    with pytest.raises(ArgumentError, match="not a jitflow.Variable"):
        optimizer.apply_gradients([(np.ones(2), np.ones(2))])
    with pytest.raises(ArgumentError, match="momentum must be in"):
        optimizers.SGD(momentum=1.5)


# -- losses ------------------------------------------------------------------------------

LOGITS = np.array([[2.0, -1.0, 0.5], [0.0, 0.0, 0.0], [1000.0, -1000.0, 3.0]])
LABELS = np.array([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5], [0.0, 1.0, 0.0]])


def _log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


@pytest.mark.parametrize("run", ("eager", "jit"))
def test_losses_against_direct_formulas(run):
    call = (lambda f, *a: jit(f, backend="interpreter")(*a)) if run == "jit" else \
        (lambda f, *a: f(*a))
    y_true, y_pred = np.array([1.0, 2.0, 3.0]), np.array([1.5, 1.0, 3.0])
    assert call(losses.mean_squared_error, y_true, y_pred) == pytest.approx(1.25 / 3)
    expected = np.mean(-np.sum(LABELS * _log_softmax(LOGITS), axis=-1))
    got = call(losses.softmax_cross_entropy, LABELS, LOGITS)
    assert np.isfinite(got) and got == pytest.approx(expected)
    sparse = call(losses.sparse_softmax_cross_entropy, np.array([0, 2, 1]), LOGITS)
    assert sparse == pytest.approx(np.mean(-_log_softmax(LOGITS)[[0, 1, 2], [0, 2, 1]]))
    z = np.array([-800.0, -2.0, 0.0, 3.0, 800.0])
    p = np.array([0.0, 1.0, 0.5, 0.25, 1.0])
    # The naive form -p*log(s) - (1-p)*log(1-s) is inf at +-800; the stable one is exact.
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        s = 1 / (1 + np.exp(-z))
        naive = -(p * np.log(s) + (1 - p) * np.log(1 - s))
    assert not np.isfinite(naive[0]) or not np.isfinite(naive[-1])
    expected_sigmoid = (0.0 + naive[1:4].sum() + 0.0) / 5  # the extremes are exactly 0
    assert call(losses.sigmoid_cross_entropy, p, z) == pytest.approx(expected_sigmoid)
    weights = [np.array([1.0, 2.0]), np.array([[3.0]])]
    assert call(lambda a, b: losses.l2_regularization([a, b], 0.1), *weights) == \
        pytest.approx(0.1 * (1 + 4 + 9) / 2)


def test_softmax_cross_entropy_gradient_is_softmax_minus_labels():
    logits = Variable(LOGITS[:2])
    with GradientTape() as tape:
        loss = losses.softmax_cross_entropy(LABELS[:2], logits)
    expected = (np.exp(_log_softmax(LOGITS[:2])) - LABELS[:2]) / 2
    np.testing.assert_allclose(tape.gradient(loss, logits), expected, rtol=1e-10, atol=1e-12)


def test_loss_shape_errors():
    with pytest.raises(ArgumentError, match="must have the same shape"):
        losses.softmax_cross_entropy(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ArgumentError, match="labels need the logits' shape without the last"):
        losses.sparse_softmax_cross_entropy(np.ones((2, 3), np.int64), np.ones((2, 3)))


def test_minimize_and_slots_follow_variable_identity():
    optimizer = optimizers.SGD(0.1, momentum=0.5)
    w = Variable(np.array([1.0, 2.0]))
    with GradientTape() as tape:
        loss = np.sum(w * w)
    optimizer.minimize(loss, [w], tape)
    np.testing.assert_allclose(w.numpy(), [0.8, 1.6])
    velocity = optimizer.variables[-1]
    np.testing.assert_allclose(velocity.numpy(), [-0.2, -0.4])
    # A new variable (even one that reuses a dead variable's id) gets fresh slots.
    del w, tape, loss
    gc.collect()
    assert len(optimizer.variables) == 2  # its slot went with it
    fresh = Variable(np.array([1.0, 2.0, 3.0]))
    optimizer.apply_gradients([(np.ones(3), fresh)])
    np.testing.assert_allclose(fresh.numpy(), [0.9, 1.9, 2.9])
