"""Programs that ``jitflow demo`` compiles from Python: plain NumPy code under ``jit``.

Each program is traced, optimized and compiled for the CPU; the demo prints its
source and optimized IR, checks the result against NumPy and times both.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .frontend import GradientTape, Variable, jit, random
from .ir import print_module
from .nn import Module, losses, optimizers

# float32 compiled results against NumPy's float32 results.
RTOL = 1e-4
ATOL = 1e-5


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def layernorm(x, gamma, beta):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-5) * gamma + beta


def mlp(x, w1, b1, w2, b2, w3, b3):
    h = np.maximum(x @ w1 + b1, 0.0)
    h = np.maximum(h @ w2 + b2, 0.0)
    logits = h @ w3 + b3
    return logits.argmax(axis=-1), softmax(logits)


def gelu(x):
    return 0.5 * x * (1.0 + np.tanh(0.7978845608 * (x + 0.044715 * x * x * x)))


@dataclass(frozen=True)
class Program:
    function: Callable[..., Any]
    inputs: Callable[[np.random.Generator], tuple[np.ndarray, ...]]
    show_ir: bool = True


def _normal(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> np.ndarray:
    return (scale * rng.standard_normal(shape)).astype(np.float32)


PROGRAMS = (
    Program(softmax, lambda rng: (_normal(rng, 512, 1024),)),
    Program(layernorm, lambda rng: (_normal(rng, 512, 1024), _normal(rng, 1024),
                                    _normal(rng, 1024))),
    Program(mlp, lambda rng: (_normal(rng, 256, 784), _normal(rng, 784, 512, scale=0.05),
                              _normal(rng, 512), _normal(rng, 512, 512, scale=0.05),
                              _normal(rng, 512), _normal(rng, 512, 10, scale=0.05),
                              _normal(rng, 10)),
            show_ir=False),
    Program(gelu, lambda rng: (_normal(rng, 1 << 20),)),
)


def median_seconds(call: Callable[[], Any], budget: float = 0.2) -> float:
    """Median time of one call, over repeats batched to a few milliseconds each."""
    call()
    start = time.perf_counter()
    call()
    once = max(time.perf_counter() - start, 1e-7)
    batch = max(1, int(0.005 / once))
    samples = []
    deadline = time.perf_counter() + budget
    while len(samples) < 5 or (time.perf_counter() < deadline and len(samples) < 50):
        start = time.perf_counter()
        for _ in range(batch):
            call()
        samples.append((time.perf_counter() - start) / batch)
    return sorted(samples)[len(samples) // 2]


def _agree(actual: Any, expected: Any) -> tuple[bool, float]:
    if isinstance(expected, tuple):
        results = [_agree(a, e) for a, e in zip(actual, expected)]
        return all(ok for ok, _ in results), max(err for _, err in results)
    actual, expected = np.asarray(actual), np.asarray(expected)
    if actual.shape != expected.shape or actual.dtype != expected.dtype:
        return False, float("inf")
    if expected.dtype.kind != "f":
        return bool(np.array_equal(actual, expected)), 0.0
    error = float(np.max(np.abs(actual.astype(np.float64) - expected), initial=0.0))
    return bool(np.allclose(actual, expected, rtol=RTOL, atol=ATOL)), error


def run_program(program: Program, rng: np.random.Generator) -> bool:
    """Compile, show, check and time one program; True when it matches NumPy."""
    function = program.function
    inputs = program.inputs(rng)
    jitted = jit(function)
    print(f"=== {function.__name__} (compiled from Python) ===")
    print(inspect.getsource(function).rstrip())
    start = time.perf_counter()
    result = jitted(*inputs)
    compile_ms = (time.perf_counter() - start) * 1e3
    if program.show_ir:
        print("\noptimized IR:")
        print(print_module(jitted.lower(*inputs)).rstrip())
    stats = jitted.compile(*inputs).stats
    matches, error = _agree(result, function(*inputs))
    verdict = "matches NumPy" if matches else "DOES NOT MATCH NumPy"
    print(f"\n{verdict}: max abs error {error:.1e}")
    ours = median_seconds(lambda: jitted(*inputs))
    numpy_time = median_seconds(lambda: function(*inputs))
    kernels = stats.get("kernel_count", "?")
    print(f"first call (trace + compile + run): {compile_ms:.0f} ms; {kernels} kernel(s)")
    print(f"time per call: jitflow {ours * 1e3:.3f} ms, NumPy {numpy_time * 1e3:.3f} ms "
          f"({numpy_time / ours:.1f}x)\n")
    return matches


# -- training: Variable + Module + GradientTape + SGD under jit ---------------------------


class Quadratic(Module):
    """y = w_q x² + w_l x + b with normally drawn initial weights."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        w_q, w_l, b = random.normal(random.key(seed), (3,), np.float32)
        self.w_q, self.w_l, self.b = Variable(w_q), Variable(w_l), Variable(b)

    def __call__(self, x):
        return self.w_q * x ** 2 + self.w_l * x + self.b


def train_quadratic(epochs: int = 100, batch_size: int = 32, seed: int = 0) -> bool:
    """The TensorFlow basics guide's fit of y = w_q x² + w_l x + b to noisy x² + 2x − 5
    (examples/quadratic_fit.py in short); True when the fit finds the coefficients."""
    x = np.linspace(-2, 2, 201, dtype=np.float32)
    y = x ** 2 + 2 * x - 5 + random.normal(random.key(seed), x.shape, np.float32)
    model = Quadratic(seed + 1)
    optimizer = optimizers.SGD(0.01)

    @jit
    def train_step(x, y):
        with GradientTape() as tape:
            loss = losses.mean_squared_error(y, model(x))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    print("=== training: y = w_q x² + w_l x + b fitted to noisy x² + 2x − 5 (jitted step) ===")
    print(inspect.getsource(train_step).rstrip())
    shuffle = np.random.default_rng(seed)
    start = time.perf_counter()
    for epoch in range(epochs):
        order = shuffle.permutation(len(x))
        batch_losses = [train_step(x[order[i:i + batch_size]], y[order[i:i + batch_size]])
                        for i in range(0, len(x), batch_size)]
        if epoch % 10 == 0 or epoch == epochs - 1:
            print(f"epoch {epoch:3d}: mean squared error {np.mean(batch_losses):.4f}")
    seconds = time.perf_counter() - start
    found = np.array([float(model.w_q), float(model.w_l), float(model.b)])
    fits = bool(np.allclose(found, [1.0, 2.0, -5.0], atol=0.35))
    print(f"{epochs} epochs in {seconds * 1e3:.0f} ms (trace and compile included): "
          f"w_q={found[0]:.3f} w_l={found[1]:.3f} b={found[2]:.3f} "
          f"({'close to' if fits else 'FAR FROM'} the truth 1, 2, -5)\n")
    return fits


# Training sections of the demo, run after the programs: each returns whether it succeeded.
TRAINING = (train_quadratic,)
