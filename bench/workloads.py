"""The benchmark workloads, each written once as NumPy-style math.

A definition takes the array module as its first argument, `xp`: `numpy` itself for
NumPy eager and jitflow (jitflow traces plain NumPy code), `jax.numpy` for jax.jit,
and the small shims below for torch and tf, so that every backend runs the same
expression.  Numba compiles loops rather than whole-array NumPy calls with `axis=`,
so it gets thin loop adapters.  W9 (Collatz) is different: scalar int64 Python
control flow with no arrays, one plain function (`plain=True`, no `xp`) that every
backend that can compiles as is.  `BUILDERS[backend](workload, inputs)` returns a
zero-argument callable that runs the backend's compiled function once and returns
its result as something `np.asarray` accepts.
"""

from __future__ import annotations

import functools
import inspect
import math
import types

import numpy as np

F32 = np.float32

# ---------------------------------------------------------------------------
# The math, once.


def gelu(xp, x):
    return 0.5 * x * (1.0 + xp.tanh(0.7978845608028654 * (x + 0.044715 * (x * x * x))))


def softmax(xp, x):
    e = xp.exp(x - xp.max(x, axis=-1, keepdims=True))
    return e / xp.sum(e, axis=-1, keepdims=True)


def layernorm(xp, x, gamma, beta):
    mean = xp.mean(x, axis=-1, keepdims=True)
    d = x - mean
    var = xp.mean(d * d, axis=-1, keepdims=True)
    return d / xp.sqrt(var + 1e-5) * gamma + beta


def matmul(xp, a, b):
    return a @ b


def matmul_bias_relu(xp, a, b, bias):
    return xp.maximum(a @ b + bias, 0.0)


def mlp_loss(xp, params, x, y):
    """Mean softmax cross-entropy of an MLP; y is one-hot."""
    w1, b1, w2, b2, w3, b3 = params
    h = xp.maximum(x @ w1 + b1, 0.0)
    h = xp.maximum(h @ w2 + b2, 0.0)
    logits = h @ w3 + b3
    m = xp.max(logits, axis=-1, keepdims=True)
    lse = xp.log(xp.sum(xp.exp(logits - m), axis=-1, keepdims=True)) + m
    return xp.mean(xp.sum(y * (lse - logits), axis=-1))


def quad_model(xp, params, x):
    wq, wl, b = params
    return wq * (x * x) + wl * x + b


def quad_loss(xp, params, x, y):
    d = quad_model(xp, params, x) - y
    return xp.mean(d * d)


def add_one(xp, x):
    return x + 1.0


# W6's variants: the same x + 1 called as users call models (a keyword argument, a *args
# signature, a method of a module, one that reads the module's state), for the cost of
# dispatch beyond plain positional calls.  Each builder below makes the backend's own
# equivalent; `variant` says which.


def add_one_args(xp, *args):
    return args[0] + 1.0


def collatz_total(n_max):
    total = 0
    n = 1
    while n < n_max:
        x = n
        steps = 0
        while x != 1:
            if x % 2 == 0:
                x = x // 2
            else:
                x = 3 * x + 1
            steps += 1
        total += steps
        n += 1
    return total


# ---------------------------------------------------------------------------
# NumPy references for what needs a gradient (NumPy has no autodiff).

LR_MLP = 0.01
LR_QUAD = 0.01


def mlp_sgd_reference(params, x, y):
    w1, b1, w2, b2, w3, b3 = [p.astype(np.float64) for p in params]
    x, y = x.astype(np.float64), y.astype(np.float64)
    z1 = x @ w1 + b1; h1 = np.maximum(z1, 0)
    z2 = h1 @ w2 + b2; h2 = np.maximum(z2, 0)
    logits = h2 @ w3 + b3
    p = np.exp(logits - logits.max(-1, keepdims=True)); p /= p.sum(-1, keepdims=True)
    dl = (p - y) / x.shape[0]
    gw3, gb3 = h2.T @ dl, dl.sum(0)
    d2 = (dl @ w3.T) * (z2 > 0)
    gw2, gb2 = h1.T @ d2, d2.sum(0)
    d1 = (d2 @ w2.T) * (z1 > 0)
    gw1, gb1 = x.T @ d1, d1.sum(0)
    grads = (gw1, gb1, gw2, gb2, gw3, gb3)
    return tuple(q - LR_MLP * g for q, g in zip((w1, b1, w2, b2, w3, b3), grads))


@functools.lru_cache(maxsize=None)
def collatz_reference(n_max):
    """W9's answer by a different method: all trajectories at once as an int64 array,
    dropping the finished ones; every value still above 1 takes one more step."""
    x = np.arange(1, n_max, dtype=np.int64)
    total = 0
    while True:
        x = x[x != 1]
        if not x.size:
            return total
        total += x.size
        # 3x + 1 must stay exact: trajectories below 300000 peak near 2.5e10, far from 2^63.
        assert int(x.max()) < 2**61, "collatz reference would overflow int64"
        x = np.where(x & 1, 3 * x + 1, x >> 1)


def batches(n, size):
    return [(i, min(i + size, n)) for i in range(0, n, size)]


def quad_fit_reference(params, x, y, epochs, batch):
    wq, wl, b = (float(p) for p in params)
    x, y = x.astype(np.float64), y.astype(np.float64)
    for _ in range(epochs):
        for s, e in batches(len(x), batch):
            xb, yb = x[s:e], y[s:e]
            d = 2 * (wq * xb * xb + wl * xb + b - yb) / len(xb)
            wq, wl, b = wq - LR_QUAD * (d * xb * xb).sum(), wl - LR_QUAD * (d * xb).sum(), b - LR_QUAD * d.sum()
    return np.array([wq, wl, b])


# ---------------------------------------------------------------------------
# The workloads: inputs, reference, size for throughput, tolerance.


class Workload(types.SimpleNamespace):
    """name, title, make(rng) -> inputs tuple, ref(inputs), fn (the math), bytes, flops, atol, rtol."""


def _mlp_inputs(rng, batch=256, sizes=(784, 512, 512, 10)):
    params = []
    for i, o in zip(sizes[:-1], sizes[1:]):
        params += [(rng.standard_normal((i, o)) * np.sqrt(2 / i)).astype(F32), np.zeros(o, F32)]
    x = rng.standard_normal((batch, sizes[0])).astype(F32)
    y = np.eye(sizes[-1], dtype=F32)[rng.integers(0, sizes[-1], batch)]
    return (tuple(params), x, y)


def _quad_inputs(rng):
    # TensorFlow's "basics" guide: f(x) = x^2 + 2x - 5 on 201 points in [-2, 2], plus noise.
    x = np.linspace(-2, 2, 201).astype(F32)
    y = (x ** 2 + 2 * x - 5 + rng.standard_normal(201)).astype(F32)
    return (rng.random(3).astype(F32), x, y)


# Forward and two backward matmuls per layer, less the gradient of the input x, which no
# one computes: 8 matmuls, 0.82 GFLOP.
_MLP_FLOPS = 3 * 2 * 256 * (784 * 512 + 512 * 512 + 512 * 10) - 2 * 256 * 784 * 512

N_GELU = 8 * 1024 * 1024
ROWS, COLS = 4096, 1024
MM = 1024
QUAD_EPOCHS, QUAD_BATCH = 100, 32
N_COLLATZ = 300000

WORKLOADS = {
    "W1": Workload(name="W1", title="gelu 8M", fn=gelu,
                   make=lambda r: (r.standard_normal(N_GELU).astype(F32),),
                   ref=lambda i: gelu(np, *i), bytes=2 * 4 * N_GELU, atol=2e-5, rtol=1e-4),
    "W2": Workload(name="W2", title="softmax 4096x1024", fn=softmax,
                   make=lambda r: (r.standard_normal((ROWS, COLS)).astype(F32),),
                   ref=lambda i: softmax(np, *i), bytes=2 * 4 * ROWS * COLS, atol=1e-6, rtol=1e-4),
    "W3": Workload(name="W3", title="layernorm 4096x1024", fn=layernorm,
                   make=lambda r: (r.standard_normal((ROWS, COLS)).astype(F32),
                                   r.standard_normal(COLS).astype(F32), r.standard_normal(COLS).astype(F32)),
                   ref=lambda i: layernorm(np, *i), bytes=2 * 4 * ROWS * COLS, atol=1e-4, rtol=1e-4),
    "W4": Workload(name="W4", title="matmul 1024^3", fn=matmul,
                   make=lambda r: (r.standard_normal((MM, MM)).astype(F32), r.standard_normal((MM, MM)).astype(F32)),
                   ref=lambda i: matmul(np, *i), flops=2 * MM ** 3, atol=1e-2, rtol=1e-3),
    "W4b": Workload(name="W4b", title="matmul+bias+relu 1024^3", fn=matmul_bias_relu,
                    make=lambda r: (r.standard_normal((MM, MM)).astype(F32), r.standard_normal((MM, MM)).astype(F32),
                                    r.standard_normal(MM).astype(F32)),
                    ref=lambda i: matmul_bias_relu(np, *i), flops=2 * MM ** 3, atol=1e-2, rtol=1e-3),
    "W5": Workload(name="W5", title="MLP SGD step (b=256)", fn=mlp_loss, make=_mlp_inputs,
                   ref=lambda i: mlp_sgd_reference(*i), flops=_MLP_FLOPS, atol=1e-4, rtol=1e-3, grad=True),
    "W6": Workload(name="W6", title="dispatch x+1 (4 elems)", fn=add_one,
                   make=lambda r: (np.arange(4, dtype=F32),), ref=lambda i: add_one(np, *i),
                   atol=0, rtol=0, per_call_us=True),
    **{name: Workload(name=name, title=f"dispatch x+1 (4 elems), {what}", fn=add_one,
                      make=lambda r: (np.arange(4, dtype=F32),), ref=lambda i: add_one(np, *i),
                      atol=0, rtol=0, per_call_us=True, variant=variant, notes=notes)
       for name, (what, variant, notes) in {
           "W6kw": ("keyword argument f(x=x)", "kw", {}),
           "W6args": ("*args signature", "args", {}),
           "W6mod": ("method of a module m.predict(x)", "method",
                     {"jax": "jax.jit(static_argnums=0) on the method: self static, hashed by identity",
                      "torch": "torch.compile(nn.Module), called as m(x)"}),
           "W6var": ("module method reading a variable", "variable",
                     {"jax": "jax has no mutable variables: the offset is passed as an argument, "
                             "as flax's apply(params, x) does",
                      "torch": "torch.compile(nn.Module) with the offset a registered buffer",
                      "numpy": "the offset an attribute of a plain Python object"}),
       }.items()},
    "W8": Workload(name="W8", title="quadratic fit (TF guide, 100 epochs)", fn=quad_loss, make=_quad_inputs,
                   ref=lambda i: quad_fit_reference(*i, QUAD_EPOCHS, QUAD_BATCH), atol=2e-3, rtol=1e-3, grad=True),
    # Scalar int64 control flow, no arrays: `fn` is plain Python (no `xp`), the result an
    # exact integer.  The NumPy column runs it in CPython, which is what "no compiler" means here.
    "W9": Workload(name="W9", title=f"collatz total, N={N_COLLATZ} (int64)", fn=collatz_total,
                   make=lambda r: (np.int64(N_COLLATZ),), ref=lambda i: collatz_reference(int(i[0])),
                   exact=True, plain=True,
                   notes={"numpy": "plain Python: CPython runs the same source, NumPy is not involved"}),
}
# W7 (compile latency and import time) reuses W3 and W5: see worker.py.
COMPILE_WORKLOADS = ("W3", "W5")


# ---------------------------------------------------------------------------
# Array-module shims so the definitions above run unchanged on torch and tf.


def torch_xp():
    import torch
    return types.SimpleNamespace(
        exp=torch.exp, tanh=torch.tanh, sqrt=torch.sqrt, log=torch.log,
        max=lambda x, axis=None, keepdims=False: torch.amax(x, dim=axis, keepdim=keepdims),
        sum=lambda x, axis=None, keepdims=False: torch.sum(x, dim=axis, keepdim=keepdims),
        mean=lambda x, axis=None, keepdims=False: (torch.mean(x) if axis is None
                                                   else torch.mean(x, dim=axis, keepdim=keepdims)),
        maximum=lambda a, b: torch.clamp_min(a, b))


def tf_xp():
    import tensorflow as tf
    return types.SimpleNamespace(
        exp=tf.exp, tanh=tf.tanh, sqrt=tf.sqrt, log=tf.math.log, maximum=tf.maximum,
        max=lambda x, axis=None, keepdims=False: tf.reduce_max(x, axis=axis, keepdims=keepdims),
        sum=lambda x, axis=None, keepdims=False: tf.reduce_sum(x, axis=axis, keepdims=keepdims),
        mean=lambda x, axis=None, keepdims=False: tf.reduce_mean(x, axis=axis, keepdims=keepdims))


# ---------------------------------------------------------------------------
# Backends.  Each builder returns a zero-argument callable, or raises Skip.


def bind(fn, xp):
    """fn with xp bound, as a plain function of fn's other parameters (no *args: jitflow's
    and others' fast dispatch paths want named positional parameters)."""
    names = ", ".join(list(inspect.signature(fn).parameters)[1:])
    ns = {"fn": fn, "xp": xp}
    exec(f"def {fn.__name__}({names}):\n    return fn(xp, {names})\n", ns)
    return ns[fn.__name__]


class Skip(Exception):
    """This backend cannot run this workload; the message says why."""


def _quad_loop(step, params, data):
    """The guide's training loop, batches in order (no shuffle, so results are checkable)."""
    x, y = data
    bs = batches(len(x), QUAD_BATCH)
    for _ in range(QUAD_EPOCHS):
        for s, e in bs:
            params = step(params, x[s:e], y[s:e])
    return params


def build_numpy(w, inputs):
    if getattr(w, "variant", None):
        return _numpy_dispatch(w.variant, *inputs)
    if getattr(w, "grad", False):
        raise Skip("NumPy has no autodiff")
    if getattr(w, "plain", False):
        return lambda: w.fn(*inputs)
    f = bind(w.fn, np)
    return lambda: f(*inputs)


def build_jitflow(w, inputs):
    if getattr(w, "variant", None):
        return _jitflow_dispatch(w.variant, *inputs)
    import jitflow
    if w.name == "W5":
        @jitflow.jit
        def step(params, x, y):
            g = jitflow.grad(lambda p: mlp_loss(np, p, x, y))(params)
            return tuple(p - LR_MLP * gi for p, gi in zip(params, g))
        return lambda: step(*inputs)
    if w.name == "W8":
        @jitflow.jit
        def qstep(params, x, y):
            g = jitflow.grad(lambda p: quad_loss(np, p, x, y))(params)
            return tuple(p - LR_QUAD * gi for p, gi in zip(params, g))
        p0 = tuple(inputs[0])
        return lambda: np.stack(_quad_loop(qstep, p0, inputs[1:]))
    f = jitflow.jit(w.fn if getattr(w, "plain", False) else bind(w.fn, np))
    return lambda: f(*inputs)


def build_jax(w, inputs):
    if getattr(w, "variant", None):
        return _jax_dispatch(w.variant, *inputs)
    if w.name == "W9":
        raise Skip("jax.jit cannot trace Python while/if on traced values (ConcretizationTypeError); "
                   "it needs a rewrite with lax.while_loop/lax.cond, not the same source")
    import jax
    import jax.numpy as jnp
    args = jax.tree_util.tree_map(jnp.asarray, inputs)
    if w.name == "W5":
        @jax.jit
        def step(params, x, y):
            g = jax.grad(lambda p: mlp_loss(jnp, p, x, y))(params)
            return tuple(p - LR_MLP * gi for p, gi in zip(params, g))
        return lambda: jax.block_until_ready(step(*args))
    if w.name == "W8":
        @jax.jit
        def qstep(params, x, y):
            g = jax.grad(lambda p: quad_loss(jnp, p, x, y))(params)
            return tuple(p - LR_QUAD * gi for p, gi in zip(params, g))
        p0 = tuple(args[0])
        return lambda: jnp.stack(jax.block_until_ready(_quad_loop(qstep, p0, args[1:])))
    f = jax.jit(bind(w.fn, jnp))
    return lambda: jax.block_until_ready(f(*args))


def build_torch(w, inputs):
    if getattr(w, "variant", None):
        return _torch_dispatch(w.variant, *inputs)
    if w.name == "W9":
        raise Skip("torch.compile graph-breaks on data-dependent Python control flow "
                   "and would just run the loops as plain Python")
    import torch
    tx = torch_xp()
    conv = lambda a: tuple(conv(b) for b in a) if isinstance(a, tuple) else torch.from_numpy(np.array(a))
    args = conv(inputs)
    if w.name == "W5":
        loss = torch.compile(lambda p, x, y: mlp_loss(tx, p, x, y))
        params = tuple(p.requires_grad_() for p in args[0])

        def step():
            g = torch.autograd.grad(loss(params, args[1], args[2]), params)
            with torch.no_grad():
                return tuple(p - LR_MLP * gi for p, gi in zip(params, g))
        return step
    if w.name == "W8":
        loss = torch.compile(lambda p, x, y: quad_loss(tx, p, x, y))

        def qstep(params, x, y):
            params = tuple(p.detach().requires_grad_() for p in params)
            g = torch.autograd.grad(loss(params, x, y), params)
            with torch.no_grad():
                return tuple(p - LR_QUAD * gi for p, gi in zip(params, g))
        p0 = tuple(args[0][i].clone() for i in range(3))
        return lambda: torch.stack(_quad_loop(qstep, p0, args[1:])).detach()
    f = torch.compile(bind(w.fn, tx))
    return lambda: f(*args)


def build_tf(w, inputs):
    if getattr(w, "variant", None):
        return _tf_dispatch(w.variant, *inputs)
    import tensorflow as tf
    if w.name == "W9":
        return _tf_collatz(tf, w, inputs)
    tx = tf_xp()
    conv = lambda a: tuple(conv(b) for b in a) if isinstance(a, tuple) else tf.constant(a)
    args = conv(inputs)
    if w.name in ("W5", "W8"):
        loss_fn, lr = (mlp_loss, LR_MLP) if w.name == "W5" else (quad_loss, LR_QUAD)

        @tf.function(jit_compile=True)
        def step(params, x, y):
            with tf.GradientTape() as tape:
                tape.watch(params)
                loss = loss_fn(tx, params, x, y)
            g = tape.gradient(loss, params)
            return tuple(p - lr * gi for p, gi in zip(params, g))
        if w.name == "W5":
            return lambda: step(*args)
        p0 = tuple(args[0][i] for i in range(3))
        return lambda: tf.stack(_quad_loop(step, p0, args[1:]))
    f = tf.function(bind(w.fn, tx), jit_compile=True)
    return lambda: f(*args)


def _tf_collatz(tf, w, inputs):
    """AutoGraph on the same source with an int64 n_max; tracing is tried here so that a
    TensorFlow that can convert it gets measured, and one that cannot gets its own error."""
    f = tf.function(w.fn, jit_compile=True)
    n_max = tf.constant(inputs[0], tf.int64)
    try:
        f.get_concrete_function(n_max)
    except Exception as e:  # noqa: BLE001 - any tracing failure means: cannot run this source
        lines = [l.strip() for l in str(e).splitlines() if l.strip()] or [""]
        # AutoGraph's message ends with the original error, already named: "TypeError: ...".
        why = lines[-1] if lines[-1].startswith(type(e).__name__) else f"{type(e).__name__}: {lines[-1]}"
        raise Skip(f"tf.function(jit_compile=True) fails to convert the same source with an int64 n_max: "
                   f"{why} (AutoGraph makes the literals int32 "
                   f"tensors; an int32 n_max would overflow, trajectories below N pass 2^31)") from None
    return lambda: f(n_max)


def build_numba(w, inputs):
    if getattr(w, "variant", None):
        return _numba_dispatch(w.variant, *inputs)
    if getattr(w, "grad", False):
        raise Skip("Numba has no autodiff")
    if getattr(w, "plain", False):
        # The same source, serial, as for every other backend: no prange, no fastmath needed.
        from numba import njit
        kern = njit(cache=False)(w.fn)
        return lambda: kern(*inputs)
    kern = _numba_kernels()[w.name]
    return lambda: kern(*inputs)


_NUMBA = None


def _numba_kernels():
    """Thin loop adapters of the definitions above (fastmath, parallel over rows/chunks)."""
    global _NUMBA
    if _NUMBA is not None:
        return _NUMBA
    from numba import njit, prange
    jit = njit(fastmath=True, parallel=True, cache=False)

    @jit
    def nb_gelu(x):
        out = np.empty_like(x)
        for i in prange(x.size):
            v = x[i]
            out[i] = np.float32(0.5) * v * (np.float32(1.0) + np.tanh(
                np.float32(0.7978845608028654) * (v + np.float32(0.044715) * (v * v * v))))
        return out

    @jit
    def nb_softmax(x):
        out = np.empty_like(x)
        for r in prange(x.shape[0]):
            m = x[r, 0]
            for j in range(x.shape[1]):
                m = max(m, x[r, j])
            s = np.float32(0.0)
            for j in range(x.shape[1]):
                e = np.exp(x[r, j] - m)
                out[r, j] = e
                s += e
            for j in range(x.shape[1]):
                out[r, j] /= s
        return out

    @jit
    def nb_layernorm(x, gamma, beta):
        out = np.empty_like(x)
        n = x.shape[1]
        for r in prange(x.shape[0]):
            s = np.float32(0.0)
            for j in range(n):
                s += x[r, j]
            mean = s / n
            v = np.float32(0.0)
            for j in range(n):
                d = x[r, j] - mean
                v += d * d
            inv = np.float32(1.0) / np.sqrt(v / n + np.float32(1e-5))
            for j in range(n):
                out[r, j] = (x[r, j] - mean) * inv * gamma[j] + beta[j]
        return out

    @njit
    def nb_matmul(a, b):
        return a @ b

    @njit
    def nb_matmul_bias_relu(a, b, bias):
        return np.maximum(a @ b + bias, np.float32(0.0))

    @njit
    def nb_add_one(x):
        return x + np.float32(1.0)

    _NUMBA = {"W1": nb_gelu, "W2": nb_softmax, "W3": nb_layernorm, "W4": nb_matmul,
              "W4b": nb_matmul_bias_relu, "W6": nb_add_one}
    return _NUMBA


# ---------------------------------------------------------------------------
# W6's variants, per backend: a zero-argument callable, or Skip.


def _numpy_dispatch(variant, x):
    class Model:
        offset = F32(1.0)

        def predict(self, x):
            return add_one(np, x)

        def predict_offset(self, x):
            return x + self.offset
    def star(*args):
        return add_one_args(np, *args)
    return _dispatch_calls(variant, x, bind(add_one, np), star, Model())


def _jitflow_dispatch(variant, x):
    import jitflow

    class Model(jitflow.Module):
        def __init__(self):
            super().__init__()
            self.offset = jitflow.Variable(F32(1.0), trainable=False)

        @jitflow.jit
        def predict(self, x):
            return add_one(np, x)

        @jitflow.jit
        def predict_offset(self, x):
            return x + self.offset

    def star(*args):
        return add_one_args(np, *args)
    return _dispatch_calls(variant, x, jitflow.jit(bind(add_one, np)), jitflow.jit(star), Model())


def _jax_dispatch(variant, x):
    import jax
    import jax.numpy as jnp
    x = jnp.asarray(x)

    class Model:
        # jax.jit on a method: self is a static argument (hashed by identity).
        predict = jax.jit(lambda self, x: add_one(jnp, x), static_argnums=0)

        def __init__(self):
            self.params = {"offset": jnp.asarray(F32(1.0))}
            self._apply = jax.jit(lambda params, x: x + params["offset"])

        def predict_offset(self, x):  # no variables in jax: the state goes in as an argument
            return self._apply(self.params, x)

    def star(*args):
        return add_one_args(jnp, *args)
    call = _dispatch_calls(variant, x, jax.jit(bind(add_one, jnp)), jax.jit(star), Model())
    return lambda: jax.block_until_ready(call())


def _torch_dispatch(variant, x):
    import torch
    tx = torch_xp()
    x = torch.from_numpy(np.array(x))

    class AddOne(torch.nn.Module):
        def forward(self, x):
            return add_one(tx, x)

    class AddOffset(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("offset", torch.tensor(F32(1.0)))

        def forward(self, x):
            return x + self.offset

    def star(*args):
        return add_one_args(tx, *args)
    if variant in ("method", "variable"):  # torch.compile compiles a module's forward: m(x)
        model = torch.compile(AddOne() if variant == "method" else AddOffset())
        return lambda: model(x)
    return _dispatch_calls(variant, x, torch.compile(bind(add_one, tx)), torch.compile(star), None)


def _tf_dispatch(variant, x):
    import tensorflow as tf
    tx = tf_xp()
    x = tf.constant(x)

    class Model(tf.Module):
        def __init__(self):
            super().__init__()
            self.offset = tf.Variable(F32(1.0), trainable=False)

        @tf.function(jit_compile=True)
        def predict(self, x):
            return add_one(tx, x)

        @tf.function(jit_compile=True)
        def predict_offset(self, x):
            return x + self.offset

    def star(*args):
        return add_one_args(tx, *args)
    return _dispatch_calls(variant, x, tf.function(bind(add_one, tx), jit_compile=True),
                           tf.function(star, jit_compile=True), Model())


def _numba_dispatch(variant, x):
    if variant in ("method", "variable"):
        raise Skip("Numba compiles functions, not methods of objects with state (jitclass "
                   "is a class model of its own)")
    from numba import njit

    @njit
    def nb_add_one(x):
        return x + np.float32(1.0)

    @njit
    def nb_add_one_args(*args):
        return args[0] + np.float32(1.0)
    return _dispatch_calls(variant, x, nb_add_one, nb_add_one_args, None)


def _dispatch_calls(variant, x, plain, star, model):
    """The call of W6's `variant`: `plain` by keyword, `star` (a *args function), or a
    method of `model` (one that reads its state for "variable")."""
    if variant == "kw":
        return lambda: plain(x=x)
    if variant == "args":
        return lambda: star(x)
    if variant == "method":
        return lambda: model.predict(x)
    return lambda: model.predict_offset(x)


BUILDERS = {"jitflow": build_jitflow, "numpy": build_numpy, "jax": build_jax,
            "torch": build_torch, "numba": build_numba, "tf": build_tf}


def to_numpy(result):
    """A backend's result as NumPy arrays (tuples stay tuples)."""
    if isinstance(result, (tuple, list)):
        return tuple(to_numpy(r) for r in result)
    if hasattr(result, "detach"):
        result = result.detach()
    if hasattr(result, "numpy") and not isinstance(result, np.ndarray):
        result = result.numpy()
    return np.asarray(result)


def check(w, got, want):
    """(ok, max abs error) of a result against the NumPy reference."""
    got, want = to_numpy(got), want
    if getattr(w, "exact", False):
        # An int64 count: equal exactly, as an int64 scalar (a float or a wider type is wrong too).
        if got.shape != () or got.dtype != np.int64:
            return False, math.inf
        return int(got) == int(want), float(abs(int(got) - int(want)))
    if isinstance(want, tuple):
        pairs = list(zip(got, want)) if isinstance(got, tuple) and len(got) == len(want) else None
        if pairs is None:
            return False, math.inf
    else:
        pairs = [(got, want)]
    ok, err = True, 0.0
    for g, r in pairs:
        g, r = np.asarray(g, np.float64), np.asarray(r, np.float64)
        if g.shape != r.shape or not np.all(np.isfinite(g)):
            return False, math.inf
        err = max(err, float(np.max(np.abs(g - r))) if g.size else 0.0)
        ok = ok and bool(np.allclose(g, r, atol=w.atol, rtol=w.rtol))
    return ok, err
