"""Compile time against program size: first call of jitflow.jit and jax.jit, side by side.

    python bench/compile_scaling.py [--sizes 100,1000,5000] [--shapes chain,reduction,tree]
                                    [--backends jitflow,jax] [--timeout 600] [--json F]

(also `python bench/run.py --compile-scaling [same options]`).

Each cell is one fresh process: import the backend (not timed), build the jitted function,
then time its first call on 64x64 float32 inputs (trace + compile + one run).  A program of
size n has about n array operations, written once with `xp` standing for NumPy (jitflow
traces NumPy calls) or jax.numpy:

- chain: n elementwise operations in a row (alternately a multiply and an add);
- reduction: n/2 steps of `x = x - max(x, axis=1, keepdims=True)`, a reduction and an
  elementwise op each;
- tree: n/3 leaves `x[i % 64] * c_i` (a slice and a multiply) summed as a balanced binary tree.

Prints a markdown table, one row per size: jitflow / jax seconds per shape.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

SHAPES = ("chain", "reduction", "tree")
TITLES = {"chain": "chain", "reduction": "reduction chain", "tree": "wide tree"}


def chain(xp, x, n):
    for i in range(n):
        x = x + 0.001 if i % 2 else x * 1.0001
    return x


def reduction(xp, x, n):
    for _ in range(max(1, n // 2)):
        x = x - xp.max(x, axis=1, keepdims=True)
    return x


def tree(xp, x, n):
    level = [x[i % 64] * float(i + 1) for i in range(max(2, n // 3))]
    while len(level) > 1:
        pairs = [level[i] + level[i + 1] for i in range(0, len(level) - 1, 2)]
        level = pairs + ([level[-1]] if len(level) % 2 else [])
    return level[0]


def first_call(backend: str, shape: str, n: int) -> float:
    """Seconds of the first call of a fresh jitted program (this process must be fresh)."""
    import numpy as np
    body = globals()[shape]
    x = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)
    if backend == "jitflow":
        import jitflow
        f = jitflow.jit(lambda x: body(np, x, n))
        t0 = time.perf_counter()
        np.asarray(f(x))
    else:
        import jax
        import jax.numpy as jnp
        f = jax.jit(lambda x: body(jnp, x, n))
        xj = jnp.asarray(x)
        jax.block_until_ready(xj)
        t0 = time.perf_counter()
        jax.block_until_ready(f(xj))
    return time.perf_counter() - t0


def cell(backend: str, shape: str, n: int, timeout: float) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--cell", backend, shape, str(n)]
    env = dict(os.environ, PYTHONWARNINGS="ignore", TF_CPP_MIN_LOG_LEVEL="2", JAX_PLATFORMS="cpu")
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "note": f"over {timeout:.0f} s"}
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["?"])[-1]
        return {"status": "error", "note": last[:200]}
    return {"status": "ok", "first_s": float(out.stdout.strip().splitlines()[-1])}


def fmt(r: dict) -> str:
    if r is None:
        return "-"
    if r["status"] != "ok":
        return r["status"]
    s = r["first_s"]
    return f"{s:.2f}" if s < 10 else f"{s:.1f}"


def table(results: dict, sizes, shapes, backends) -> str:
    lines = ["| program size | " + " | ".join(f"{TITLES[s]} {' / '.join(backends)}" for s in shapes) + " |",
             "|---|" + "---|" * len(shapes)]
    for n in sizes:
        row = [" / ".join(fmt(results.get((b, s, n))) for b in backends) + " s" for s in shapes]
        lines.append(f"| {n:,} ops | " + " | ".join(row) + " |")
    lines.append("")
    lines.append("Cells: seconds of the first call (trace + compile + one run), 64x64 float32, fresh process each.")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="100,1000,5000")
    p.add_argument("--shapes", default=",".join(SHAPES))
    p.add_argument("--backends", default="jitflow,jax")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds one cell may take")
    p.add_argument("--json", help="also write the raw figures here")
    p.add_argument("--cell", nargs=3, metavar=("BACKEND", "SHAPE", "N"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.cell:
        backend, shape, n = args.cell
        print(first_call(backend, shape, int(n)))
        return
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    bad = [s for s in shapes if s not in SHAPES] + [b for b in backends if b not in ("jitflow", "jax")]
    if bad:
        sys.exit(f"unknown shape or backend: {', '.join(bad)} (shapes {list(SHAPES)}, backends jitflow, jax)")
    results = {}
    for n in sizes:
        for s in shapes:
            for b in backends:
                r = results[(b, s, n)] = cell(b, s, n, args.timeout)
                print(f"[compile-scaling] {b} {s} {n}: {fmt(r)} {r.get('note', '')}", file=sys.stderr, flush=True)
    print(table(results, sizes, shapes, backends))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{"backend": b, "shape": s, "size": n, **r} for (b, s, n), r in results.items()], f, indent=1)


if __name__ == "__main__":
    main()
