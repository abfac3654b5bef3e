"""``jitflow.random``: counter-based random numbers with explicit keys (Threefry-2x32).

A key is a ``uint32[2]`` array.  Every function is a pure function of its key:
``normal(key, shape)`` twice gives the same numbers, and fresh numbers come from
fresh keys (``split``, ``fold_in``).  Nothing is hidden global state, so a key
passed to a jitted function is an ordinary input, and the trace cannot freeze
a random draw into a constant (a key *made* inside the traced function from a
Python int does give the same numbers on every call, as it says).

The generator is Threefry-2x32 with 20 rounds (Salmon et al., "Parallel random
numbers: as easy as 1, 2, 3", SC'11), the one JAX uses, written with NumPy's
uint32 operators.  The same code therefore runs eagerly on NumPy arrays and
under ``jit`` on traced values (``shift``/``xor``/``add`` IR), producing the
same bits both ways; floats are made from bits by exact scaling, and normals by
Box-Muller (eager and compiled ``log``/``cos`` may differ in the last ulp).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from ..errors import ArgumentError
from .state import Variable
from .trace.tracer import Tracer

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_KEY_PARITY = 0x1BD11BDA
_MASK32 = 0xFFFFFFFF
# The high counter word separates the streams drawn from one key: numbers and new keys.
_BITS_STREAM = 0
_SPLIT_STREAM = 1
_FOLD_STREAM = 2


def key(seed: Any) -> Any:
    """A key from an integer seed (a Python int, or an int array or traced value)."""
    if not isinstance(seed, Tracer):
        seed = np.asarray(seed)
        if seed.dtype.kind not in "iub" or seed.shape != ():
            raise ArgumentError(f"jitflow.random.key(seed): seed must be one integer, got "
                                f"{seed.dtype}{list(seed.shape)}")
        value = int(seed)
        return np.array([(value >> 32) & _MASK32, value & _MASK32], np.uint32)
    if seed.dtype.kind not in "iu" or seed.shape != ():
        raise ArgumentError(f"jitflow.random.key(seed): seed must be one integer, got "
                            f"{seed.dtype}{list(seed.shape)}")
    seed = seed.astype(np.int64)
    return np.stack([(seed >> 32) & _MASK32, seed & _MASK32]).astype(np.uint32)


def split(key: Any, num: int = 2) -> Any:
    """``num`` new independent keys from ``key``: a ``uint32[num, 2]`` array."""
    key = _check_key(key, "split")
    y0, y1 = _threefry(key, _counters(num, _SPLIT_STREAM), _arange(num))
    return np.stack([y0, y1], axis=1)


def fold_in(key: Any, data: Any) -> Any:
    """A new key from ``key`` and an integer (a step number, a device index)."""
    key = _check_key(key, "fold_in")
    data = data if isinstance(data, Tracer) else np.asarray(data)
    word = (data.astype(np.int64) & _MASK32).astype(np.uint32).reshape((1,))
    y0, y1 = _threefry(key, _counters(1, _FOLD_STREAM), word)
    return np.concatenate([y0, y1])


def bits(key: Any, shape: int | Sequence[int] = ()) -> Any:
    """Random ``uint32`` values of ``shape``."""
    key = _check_key(key, "bits")
    shape, size = _shape(shape)
    y0, _ = _threefry(key, _counters(size, _BITS_STREAM), _arange(size))
    return y0.reshape(shape)


def uniform(key: Any, shape: int | Sequence[int] = (), dtype: Any = np.float32,
            minval: float = 0.0, maxval: float = 1.0) -> Any:
    """Uniform floats in ``[minval, maxval)``."""
    key = _check_key(key, "uniform")
    dtype = _float_dtype(dtype, "uniform")
    shape, size = _shape(shape)
    y0, y1 = _threefry(key, _counters(size, _BITS_STREAM), _arange(size))
    if dtype.itemsize <= 4:
        unit = (y0 >> 8).astype(np.float32) * np.float32(2.0 ** -24)  # 24 exact bits
    else:
        high = (y0 >> 5).astype(np.float64) * 2.0 ** 26
        unit = (high + (y1 >> 6).astype(np.float64)) * 2.0 ** -53  # 53 exact bits
    values = unit * (maxval - minval) + minval
    return values.astype(dtype).reshape(shape)


def normal(key: Any, shape: int | Sequence[int] = (), dtype: Any = np.float32) -> Any:
    """Standard normal floats (Box-Muller on two uniforms per value)."""
    key = _check_key(key, "normal")
    dtype = _float_dtype(dtype, "normal")
    shape, size = _shape(shape)
    y0, y1 = _threefry(key, _counters(size, _BITS_STREAM), _arange(size))
    compute = np.float32 if dtype.itemsize <= 4 else np.float64
    bits_kept = 24 if compute is np.float32 else 32
    scale = compute(2.0 ** -bits_kept)
    # u1 in (0, 1] keeps the logarithm finite; u2 in [0, 1).
    u1 = ((y0 >> (32 - bits_kept)).astype(compute) + compute(1)) * scale
    u2 = (y1 >> (32 - bits_kept)).astype(compute) * scale
    radius = np.sqrt(compute(-2) * np.log(u1))
    values = radius * np.cos(compute(2 * math.pi) * u2)
    return values.astype(dtype).reshape(shape)


# -- Threefry-2x32 ---------------------------------------------------------------------


def _threefry(key: Any, x0: Any, x1: Any) -> tuple[Any, Any]:
    """Threefry-2x32 (20 rounds) of counter words ``x0, x1`` under ``key``."""
    with np.errstate(over="ignore"):  # uint32 arithmetic wraps, as the cipher intends
        k0, k1 = key[0], key[1]
        schedule = (k0, k1, k0 ^ k1 ^ np.uint32(_KEY_PARITY))
        x0 = x0 + schedule[0]
        x1 = x1 + schedule[1]
        for group in range(5):
            for rotation in _ROTATIONS[group % 2]:
                x0 = x0 + x1
                x1 = (x1 << np.uint32(rotation)) | (x1 >> np.uint32(32 - rotation))
                x1 = x1 ^ x0
            x0 = x0 + schedule[(group + 1) % 3]
            x1 = x1 + schedule[(group + 2) % 3]
            x1 = x1 + np.uint32(group + 1)
        return x0, x1


def _counters(size: int, stream: int) -> np.ndarray:
    return np.full(size, stream, np.uint32)


def _arange(size: int) -> np.ndarray:
    return np.arange(size, dtype=np.uint32)


def _check_key(key: Any, function: str) -> Any:
    if isinstance(key, Variable):
        key = key.value
    if not isinstance(key, Tracer):
        key = np.asarray(key)
    if key.dtype != np.uint32 or key.shape != (2,):
        raise ArgumentError(f"jitflow.random.{function}: the key must be a uint32[2] array "
                            f"from jitflow.random.key(seed) or split(), got "
                            f"{key.dtype}{list(key.shape)}")
    return key


def _shape(shape: int | Sequence[int]) -> tuple[tuple[int, ...], int]:
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if any(not isinstance(d, (int, np.integer)) or d < 0 for d in shape):
        raise ArgumentError(f"jitflow.random: shape must be non-negative Python ints, got {shape}")
    return tuple(int(d) for d in shape), math.prod(shape)


def _float_dtype(dtype: Any, function: str) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ArgumentError(f"jitflow.random.{function}: dtype must be a float type, got {dtype}")
    return dtype
