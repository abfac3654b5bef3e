"""GPU benchmark: jitflow's CUDA backend beside jax.jit and torch.compile on one GPU.

Workloads (float32): gelu (tanh form) on 64M elements, row softmax and layernorm on
(16384, 4096); and the device-to-device copy bandwidth they are measured against
(``cupy`` copy of the same 64M elements, bytes read plus written).

Every backend is timed the same way: warm-up calls (compilation included), then
``--repeats`` back-to-back calls on device-resident inputs between two device
synchronizations; the figure is the mean per call, results allocated per call
(each framework's own caching allocator).  Results are checked against float64
NumPy before timing.  Writes a JSON file and prints a Markdown table.

    python bench/gpu.py --out results.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Callable

import numpy as np

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # share the GPU with cupy/torch

GELU_C = 0.7978845608028654


def gelu(x):
    return 0.5 * x * (1.0 + np.tanh(GELU_C * (x + 0.044715 * x * x * x)))


def softmax(x):
    e = np.exp(x - np.max(x, axis=1, keepdims=True))
    return e / np.sum(e, axis=1, keepdims=True)


def layernorm(x):
    d = x - np.mean(x, axis=-1, keepdims=True)
    return d / np.sqrt(np.mean(d * d, axis=-1, keepdims=True) + 1e-5)


WORKLOADS = {"gelu": (gelu, (64 * 1024 * 1024,)), "softmax": (softmax, (16384, 4096)),
             "layernorm": (layernorm, (16384, 4096))}


def timed(call: Callable[[], Any], sync: Callable[[], None], repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        call()
    sync()
    start = time.perf_counter()
    for _ in range(repeats):
        call()
    sync()
    return (time.perf_counter() - start) / repeats


def copy_bandwidth(cupy, elements: int, repeats: int) -> float:
    src = cupy.ones(elements, cupy.float32)
    dst = cupy.empty_like(src)
    seconds = timed(lambda: cupy.copyto(dst, src), cupy.cuda.Device().synchronize, repeats)
    return 2 * src.nbytes / seconds


def jitflow_runner(name: str, x_host: np.ndarray):
    import cupy

    import jitflow

    fn = jitflow.jit(WORKLOADS[name][0], device="cuda")
    x = cupy.asarray(x_host)
    return (lambda: fn(x)), (lambda out: out.get()), cupy.cuda.Device().synchronize


def jitflow_kernel_runner(name: str, x_host: np.ndarray):
    """jitflow's kernel alone, launched straight from its executable with a preallocated
    output: how much of jitflow's per-call time is the Python call path."""
    import cupy

    import jitflow
    from jitflow.codegen.cuda.module import Launch

    fn = jitflow.jit(WORKLOADS[name][0], device="cuda")
    x = cupy.asarray(x_host)
    executable = fn.compile(x)
    launches = [s for s in executable.program.entry.steps if isinstance(s, Launch)]
    if len(launches) != 1:
        raise RuntimeError(f"{name} compiled to {len(launches)} kernels, not one")
    function, grid, block, _ = executable._launches[launches[0].kernel.name]
    out = cupy.empty(x.shape, x.dtype)
    return (lambda: function(grid, block, (x, out)) or out), (lambda o: o.get()), \
        cupy.cuda.Device().synchronize


def jax_runner(name: str, x_host: np.ndarray):
    import jax
    import jax.numpy as jnp

    fns = {
        "gelu": lambda x: 0.5 * x * (1.0 + jnp.tanh(GELU_C * (x + 0.044715 * x * x * x))),
        "softmax": lambda x: jax.nn.softmax(x, axis=1),
        "layernorm": lambda x: (x - x.mean(-1, keepdims=True)) / jnp.sqrt(
            x.var(-1, keepdims=True) + 1e-5),
    }
    fn = jax.jit(fns[name])
    x = jax.device_put(x_host)
    holder = {}

    def call():
        holder["out"] = fn(x)
        return holder["out"]

    return call, (lambda out: np.asarray(out)), (lambda: holder["out"].block_until_ready())


def torch_runner(name: str, x_host: np.ndarray):
    import torch

    fns = {
        "gelu": lambda x: 0.5 * x * (1.0 + torch.tanh(GELU_C * (x + 0.044715 * x * x * x))),
        "softmax": lambda x: torch.softmax(x, dim=1),
        "layernorm": lambda x: torch.nn.functional.layer_norm(x, x.shape[-1:], eps=1e-5),
    }
    fn = torch.compile(fns[name])
    x = torch.from_numpy(x_host).cuda()
    return (lambda: fn(x)), (lambda out: out.cpu().numpy()), torch.cuda.synchronize


def _row_variant(items: int):
    def runner(name: str, x_host: np.ndarray):
        import jitflow
        from jitflow.codegen.cuda import kernels

        saved = kernels.ROW_ITEMS_PER_THREAD
        kernels.ROW_ITEMS_PER_THREAD = items
        jitflow.runtime._cache.clear()  # same module text, other kernels: compile again
        try:
            call, to_host, sync = jitflow_runner(name, x_host)
            call()
        finally:
            kernels.ROW_ITEMS_PER_THREAD = saved
            jitflow.runtime._cache.clear()
        return call, to_host, sync
    return runner


RUNNERS = {"jitflow": jitflow_runner, "jitflow (kernel only)": jitflow_kernel_runner,
           "jax.jit": jax_runner, "torch.compile": torch_runner}


def check(name: str, result: np.ndarray, x: np.ndarray) -> float:
    """Max abs error against float64 NumPy on the first rows/elements (cheap to compute)."""
    head = x[:64] if x.ndim == 2 else x[: 1 << 20]
    reference = WORKLOADS[name][0](head.astype(np.float64))
    got = result[:64] if x.ndim == 2 else result[: 1 << 20]
    return float(np.max(np.abs(got.astype(np.float64) - reference)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--backends", help=f"comma-separated subset of {', '.join(RUNNERS)} "
                                           "(default: all, row variants included)")
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument("--row-items", default="",
                        help="also time jitflow with row kernels of these elements per thread "
                             "(comma-separated; tuning the block size of row kernels)")
    args = parser.parse_args(argv)
    for items in filter(None, args.row_items.split(",")):
        RUNNERS[f"jitflow rows@{items}"] = _row_variant(int(items))
    backends = args.backends.split(",") if args.backends else list(RUNNERS)

    import cupy

    properties = cupy.cuda.runtime.getDeviceProperties(0)
    device = properties["name"].decode() if isinstance(properties["name"], bytes) else properties["name"]
    rng = np.random.default_rng(0)
    copy = copy_bandwidth(cupy, WORKLOADS["gelu"][1][0], args.repeats)
    results: dict[str, Any] = {"device": device, "copy_bandwidth_GBps": copy / 1e9, "repeats": args.repeats,
                               "workloads": {}}
    print(f"device: {device}; device-to-device copy: {copy / 1e9:.0f} GB/s (read + write)")
    for name, (_, shape) in WORKLOADS.items():
        x = rng.standard_normal(shape).astype(np.float32)
        moved = 2 * x.nbytes
        rows = {}
        for backend in backends:
            try:
                call, to_host, sync = RUNNERS[backend](name, x)
                start = time.perf_counter()
                error = check(name, to_host(call()), x)
                first_call = time.perf_counter() - start
                seconds = timed(call, sync, args.repeats)
            except Exception as failure:  # a peer missing on this machine: reported, not fatal
                rows[backend] = {"error": f"{type(failure).__name__}: {failure}"[:300]}
                print(f"{name:10s} {backend:14s} failed: {rows[backend]['error']}", file=sys.stderr)
                continue
            rows[backend] = {"ms": seconds * 1e3, "GBps": moved / seconds / 1e9,
                             "fraction_of_copy": moved / seconds / copy, "max_abs_error": error,
                             "first_call_s": first_call}
        results["workloads"][name] = rows
    print("\n| workload | backend | ms | GB/s | of copy bandwidth | max abs error |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for name, rows in results["workloads"].items():
        for backend, row in rows.items():
            if "error" in row:
                print(f"| {name} | {backend} | failed | | | {row['error'][:60]} |")
            else:
                print(f"| {name} | {backend} | {row['ms']:.3f} | {row['GBps']:.0f} | "
                      f"{row['fraction_of_copy']:.0%} | {row['max_abs_error']:.1e} |")
    if args.out:
        with open(args.out, "w") as stream:
            json.dump(results, stream, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
