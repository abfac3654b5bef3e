"""jitflow.random: Threefry-2x32 against known answers and JAX, the same bits eagerly and
under jit, sound distributions, keys as ordinary inputs."""

from __future__ import annotations

import numpy as np
import pytest

import jitflow
from jitflow import ArgumentError, Variable, jit
from jitflow import random as jr
from jitflow.frontend.random import _threefry

# Known-answer vectors of Threefry-2x32-20 (Random123's kat_vectors).
KNOWN_ANSWERS = [
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
]


@pytest.mark.parametrize("key, counter, expected", KNOWN_ANSWERS)
def test_threefry_known_answers(key, counter, expected):
    y0, y1 = _threefry(np.array(key, np.uint32), np.array([counter[0]], np.uint32),
                       np.array([counter[1]], np.uint32))
    assert (int(y0[0]), int(y1[0])) == expected


def test_threefry_matches_jax_on_random_counters():
    random = pytest.importorskip("jax.extend.random")
    rng = np.random.default_rng(0)
    key = rng.integers(0, 2 ** 32, 2, dtype=np.uint32)
    x0, x1 = rng.integers(0, 2 ** 32, (2, 64), dtype=np.uint32)
    y0, y1 = _threefry(key, x0, x1)
    expected = np.asarray(random.threefry_2x32(key, np.concatenate([x0, x1])))
    np.testing.assert_array_equal(np.concatenate([y0, y1]), expected)


def _draws(k):
    first, second = jr.split(k)
    return (jr.split(k, 3), jr.fold_in(k, 7), jr.bits(first, (4, 5)),
            jr.uniform(second, (3, 7)), jr.uniform(k, 9, np.float64, -2.0, 3.0),
            jr.normal(first, (2, 50)), jr.normal(second, 11, np.float64))


def _assert_same_draws(got, want, transcendental):
    assert got.dtype == want.dtype and got.shape == want.shape
    if transcendental:  # Box-Muller's log and cos may differ in the last ulp
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    else:  # integer bits and exactly scaled uniforms are identical
        np.testing.assert_array_equal(got, want)


def test_same_numbers_eagerly_and_in_the_interpreter():
    key = jr.key(2024)
    with jitflow.interpreter_mode():
        traced = jit(_draws)(key)
    for index, (got, want) in enumerate(zip(traced, _draws(key))):
        _assert_same_draws(got, want, transcendental=index >= 5)


# Compiling a generator is ~1 s on the test machine (20 Threefry rounds of integer ops):
# the compiled backend is checked on one function per kind of output.
@pytest.mark.parametrize("draw, transcendental", [
    (lambda k: jr.split(k, 3), False),
    (lambda k: jr.uniform(k, (3, 7)), False),
    (lambda k: jr.normal(k, (2, 5), np.float64), True),
])
def test_same_numbers_eagerly_and_compiled(draw, transcendental):
    key = jr.key(7)
    _assert_same_draws(jit(draw, backend="cpu")(key), draw(key), transcendental)


def test_keys_are_inputs_not_frozen_constants():
    sample = jit(lambda k: jr.normal(k, (4,)))
    a, b = jr.split(jr.key(0))
    assert not np.array_equal(sample(a), sample(b))
    np.testing.assert_array_equal(sample(a), sample(a))
    assert sample.trace_count == 1
    from_seed = jit(lambda seed: jr.uniform(jr.key(seed), (3,)))
    assert not np.array_equal(from_seed(1), from_seed(2))
    np.testing.assert_array_equal(from_seed(5), jr.uniform(jr.key(5), (3,)))
    assert from_seed.trace_count == 1


def test_key_in_a_variable_advances_under_jit():
    state = Variable(jr.key(3), trainable=False)

    @jit
    def noise():
        key, subkey = jr.split(state)
        state.assign(key)
        return jr.uniform(subkey, (2,))

    draws = [noise() for _ in range(3)]
    assert not np.array_equal(draws[0], draws[1]) and not np.array_equal(draws[1], draws[2])
    expected_key = jr.key(3)
    for draw in draws:
        expected_key, subkey = jr.split(expected_key)
        np.testing.assert_array_equal(draw, jr.uniform(subkey, (2,)))


def test_distributions():
    key = jr.key(11)
    u = jr.uniform(key, 200_000)
    assert u.dtype == np.float32 and u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.005 and abs(u.var() - 1 / 12) < 0.002
    z = jr.normal(key, (400, 500), np.float64)
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1.0) < 0.01
    assert abs(np.mean(np.abs(z) < 1.0) - 0.6827) < 0.005  # the 68% rule
    wide = jr.uniform(key, 1000, minval=-3.0, maxval=5.0)
    assert wide.min() >= -3.0 and wide.max() < 5.0
    children = jr.split(key, 1000)
    assert len({tuple(k) for k in children.tolist()}) == 1000


def test_errors():
    with pytest.raises(ArgumentError, match=r"key must be a uint32\[2\] array"):
        jr.normal(np.zeros(2, np.int64), (3,))
    with pytest.raises(ArgumentError, match="dtype must be a float type"):
        jr.uniform(jr.key(0), (3,), np.int32)
    with pytest.raises(ArgumentError, match="seed must be one integer"):
        jr.key(1.5)
    with pytest.raises(ArgumentError, match="shape must be non-negative"):
        jr.normal(jr.key(0), (-1,))
