"""One backend in one fresh process: `python bench/worker.py --backend B --workloads W1,W2 --out F`.

Appends one JSON line per measurement to F (stdout is left to the libraries, which
print).  `--compile` measures W7 instead: the import time of the backend's package
(timed first thing, before anything else is imported) and the first call of a fresh
jitted W3 and W5.  `--backend refs` measures the physical references.
"""

import sys
import time

_T0 = time.perf_counter()
import argparse  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import traceback  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def emit(out, **record):
    with open(out, "a") as f:
        f.write(json.dumps(record) + "\n")


def measure(call, min_batch_s, repeats, warmup):
    """(first-call seconds, first result, median seconds per call, all per-call seconds, batch size)."""
    t = time.perf_counter()
    first_result = call()
    first = time.perf_counter() - t
    for _ in range(warmup):
        call()
    n = 1
    while True:
        t = time.perf_counter()
        for _ in range(n):
            call()
        dt = time.perf_counter() - t
        if dt >= min_batch_s:
            break
        n = max(2 * n, int(n * min_batch_s * 1.2 / max(dt, 1e-9)))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(n):
            call()
        times.append((time.perf_counter() - t) / n)
    s = sorted(times)
    return first, first_result, s[len(s) // 2], times, n


def run_workloads(args):
    import numpy as np
    import workloads as W
    for name in args.workloads.split(","):
        w = W.WORKLOADS[name]
        log(f"{args.backend}: {name} {w.title}")
        rng = np.random.default_rng(0)
        inputs = w.make(rng)
        try:
            call = W.BUILDERS[args.backend](w, inputs)
            first, result, med, times, n = measure(call, args.min_batch, args.repeats, args.warmup)
            ok, err = W.check(w, result, w.ref(inputs))
            emit(args.out, backend=args.backend, workload=name, status="ok" if ok else "mismatch",
                 median_s=med, times_s=times, batch=n, first_call_s=first, max_abs_err=err,
                 bytes=getattr(w, "bytes", None), flops=getattr(w, "flops", None))
            if not ok:
                log(f"{args.backend}: {name} MISMATCH against NumPy (max abs err {err:.3g})")
        except W.Skip as e:
            emit(args.out, backend=args.backend, workload=name, status="skip", note=str(e))
        except Exception as e:  # noqa: BLE001 - one broken workload must not end the run
            traceback.print_exc()
            emit(args.out, backend=args.backend, workload=name, status="error",
                 note=f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}")


def run_compile(args):
    from peers import BACKENDS
    t = time.perf_counter()
    importlib.import_module(BACKENDS[args.backend][0])
    emit(args.out, backend=args.backend, workload="W7-import", status="ok",
         median_s=time.perf_counter() - t, note="import time in a fresh process (includes NumPy's where it imports it)")
    import numpy as np
    import workloads as W
    for name in W.COMPILE_WORKLOADS:
        w = W.WORKLOADS[name]
        log(f"{args.backend}: W7 first call of {name}")
        inputs = w.make(np.random.default_rng(0))
        try:
            t = time.perf_counter()
            result = W.to_numpy(W.BUILDERS[args.backend](w, inputs)())
            dt = time.perf_counter() - t
            ok, err = W.check(w, result, w.ref(inputs))
            emit(args.out, backend=args.backend, workload=f"W7-{name}", status="ok" if ok else "mismatch",
                 median_s=dt, max_abs_err=err)
        except W.Skip as e:
            emit(args.out, backend=args.backend, workload=f"W7-{name}", status="skip", note=str(e))
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            emit(args.out, backend=args.backend, workload=f"W7-{name}", status="error", note=f"{type(e).__name__}: {e}"[:200])


def run_refs(args):
    import numpy as np
    from peers import cpuinfo, fp32_flops_per_cycle
    log("refs: memory copy (256 MiB), NumPy sgemm, FP32 FMA peak estimate")
    a = np.ones(64 * 2**20, np.float32)
    b = np.empty_like(a)
    _, _, t, _, _ = measure(lambda: np.copyto(b, a), 0.05, args.repeats, 2)
    emit(args.out, backend="refs", workload="memcopy", status="ok", median_s=t, value=2 * a.nbytes / t / 1e9,
         unit="GB/s", note="np.copyto of 256 MiB, read + write bytes")
    n = 2048
    x, y = np.random.default_rng(0).standard_normal((2, n, n)).astype(np.float32)
    z = np.empty_like(x)
    _, _, t, _, _ = measure(lambda: np.matmul(x, y, out=z), 0.05, args.repeats, 2)
    emit(args.out, backend="refs", workload="sgemm", status="ok", median_s=t, value=2 * n**3 / t / 1e9,
         unit="GFLOP/s", note=f"NumPy float32 matmul {n}^3 into a preallocated output")
    info = cpuinfo()
    fpc = fp32_flops_per_cycle(info)
    paper = (f"; on paper {os.cpu_count()} cores x {info['mhz']:.0f} MHz (as /proc/cpuinfo reads now) x {fpc} "
             f"FP32 FLOP/cycle = {os.cpu_count() * info['mhz'] * 1e-3 * fpc:.0f}") if info["mhz"] else ""
    try:
        from fma_peak import fma_peak_gflops
        gflops, width, _ = fma_peak_gflops()
        emit(args.out, backend="refs", workload="fma-peak", status="ok", value=gflops, unit="GFLOP/s",
             note=f"measured: 12 independent <{width} x float> FMA chains per core, all cores{paper}")
    except Exception as e:  # noqa: BLE001 - the estimate on paper still stands
        emit(args.out, backend="refs", workload="fma-peak", status="ok",
             value=os.cpu_count() * (info["mhz"] or 0) * 1e-3 * fpc, unit="GFLOP/s",
             note=f"estimate only (measuring failed: {type(e).__name__}){paper}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--backend", required=True)
    p.add_argument("--workloads", default="")
    p.add_argument("--out", required=True)
    p.add_argument("--compile", action="store_true")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--min-batch", type=float, default=0.05)
    args = p.parse_args()
    if args.backend == "refs":
        run_refs(args)
    elif args.compile:
        run_compile(args)
    else:
        run_workloads(args)


if __name__ == "__main__":
    main()
