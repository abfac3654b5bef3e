"""One backend in one fresh process: `python bench/worker.py --backend B --workloads W1,W7 --out F`.

Appends one JSON line per measurement to F (stdout is left to the libraries, which
print).  The first thing it does is import the backend's package, timed (W7-import).
Then W3 and W5 run before anything else when they or W7 are selected: their first call,
trace + compile + one run of a fresh jitted function right after the import, is also
the W7-W3 / W7-W5 figure (with W7 alone, only that first call runs).  Then the other
workloads.  `--backend refs` measures the physical references.
"""

import sys
import time

_T0 = time.perf_counter()
import argparse  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import traceback  # noqa: E402
import types  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def log(msg):
    # Seconds since this process started: with run.py's own clock, the run's timeline.
    print(f"[bench] +{time.perf_counter() - _T0:.1f}s {msg}", file=sys.stderr, flush=True)


def emit(out, **record):
    with open(out, "a") as f:
        f.write(json.dumps(record) + "\n")


class Timing(types.SimpleNamespace):
    """first_s, first_result, median_s, times_s (per call, one per repeat), batch, warmup."""


def measure(call, min_batch_s, repeats, warmup, slow_call_s=1.0, slow_repeats=3):
    """Time the first call alone, then the median of `repeats` batches of calls lasting at
    least `min_batch_s` each, after `warmup` calls.  The batch size grows until one batch
    lasts that long; that last sizing batch counts as the first repeat.

    A call slower than `slow_call_s` is timed singly, without warm-up, `slow_repeats` times:
    the batching and the warm-up are there for short calls, and fifteen 4-second
    calls would say nothing more.  The first call usually includes a compile, so "slow" is
    decided by the second call, which is then the first repeat.  `repeats=0`: first call only.
    """
    t = time.perf_counter()
    first_result = call()
    first = time.perf_counter() - t
    if repeats == 0:
        return Timing(first_s=first, first_result=first_result, median_s=None, times_s=[], batch=0, warmup=0)
    warm_calls = 0
    if first > slow_call_s:
        t = time.perf_counter()
        call()
        second = time.perf_counter() - t
        warm_calls = 1
        if second > slow_call_s:
            times = [second]
            for _ in range(slow_repeats - 1):
                t = time.perf_counter()
                call()
                times.append(time.perf_counter() - t)
            return Timing(first_s=first, first_result=first_result, median_s=_median(times), times_s=times,
                          batch=1, warmup=0)
    for _ in range(warmup - warm_calls):
        call()
    warm_calls = max(warmup, warm_calls)
    n = 1
    while True:
        t = time.perf_counter()
        for _ in range(n):
            call()
        dt = time.perf_counter() - t
        if dt >= min_batch_s:
            break
        n = max(2 * n, int(n * min_batch_s * 1.2 / max(dt, 1e-9)))
    # The batch that settled n is a full batch after the warm-up, like the others: it is
    # the first repeat (for a 1-second call that is one call less to wait for).
    times = [dt / n]
    for _ in range(repeats - 1):
        t = time.perf_counter()
        for _ in range(n):
            call()
        times.append((time.perf_counter() - t) / n)
    return Timing(first_s=first, first_result=first_result, median_s=_median(times), times_s=times, batch=n,
                  warmup=warm_calls)


def _median(xs):
    s = sorted(xs)
    return s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2


def import_backend(args):
    """Import the backend's package before anything else does; its time is W7-import."""
    from peers import BACKENDS
    t = time.perf_counter()
    importlib.import_module(BACKENDS[args.backend][0])
    return time.perf_counter() - t


def run_workloads(args, import_s):
    import numpy as np
    import workloads as W
    selected = [w for w in args.workloads.split(",") if w]
    compile_latency = "W7" in selected
    if compile_latency:
        emit(args.out, backend=args.backend, workload="W7-import", status="ok", median_s=import_s,
             note="import time in a fresh process (includes NumPy's where it imports it)")
    # W3 and W5 first: their first call, right after the import, is W7's compile latency.
    first = [w for w in W.COMPILE_WORKLOADS if w in selected or compile_latency]
    for name in first + [w for w in selected if w not in first and w != "W7"]:
        run_one(args, W, np, name, timed=name in selected,
                compile_record=compile_latency and name in W.COMPILE_WORKLOADS)


def run_one(args, W, np, name, timed, compile_record):
    """Measure one workload (`timed`) and/or emit its W7 first-call record (`compile_record`)."""
    w = W.WORKLOADS[name]
    log(f"{args.backend}: {name} {w.title}" + ("" if timed else " (W7: first call only)"))
    records = ([name] if timed else []) + ([f"W7-{name}"] if compile_record else [])
    try:
        inputs = w.make(np.random.default_rng(0))
        call = W.BUILDERS[args.backend](w, inputs)
        m = measure(call, args.min_batch, args.repeats if timed else 0, args.warmup,
                    args.slow_call, args.slow_repeats)
        ok, err = W.check(w, m.first_result, w.ref(inputs))
        status = "ok" if ok else "mismatch"
        if not ok:
            log(f"{args.backend}: {name} MISMATCH against NumPy (max abs err {err:.3g})")
        note = getattr(w, "notes", {}).get(args.backend)
        if timed:
            emit(args.out, backend=args.backend, workload=name, status=status, median_s=m.median_s,
                 times_s=m.times_s, batch=m.batch, repeats=len(m.times_s), warmup=m.warmup,
                 first_call_s=m.first_s, max_abs_err=err, bytes=getattr(w, "bytes", None),
                 flops=getattr(w, "flops", None), **({"note": note} if note else {}))
        if compile_record:
            emit(args.out, backend=args.backend, workload=f"W7-{name}", status=status, median_s=m.first_s,
                 max_abs_err=err)
    except W.Skip as e:
        for r in records:
            emit(args.out, backend=args.backend, workload=r, status="skip", note=str(e))
    except Exception as e:  # noqa: BLE001 - one broken workload must not end the run
        traceback.print_exc()
        for r in records:
            emit(args.out, backend=args.backend, workload=r, status="error",
                 note=f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}")


def run_refs(args):
    import numpy as np
    from peers import cpuinfo, fp32_flops_per_cycle
    log("refs: memory copy (256 MiB), NumPy sgemm, FP32 FMA peak estimate")
    a = np.ones(64 * 2**20, np.float32)
    b = np.empty_like(a)
    t = measure(lambda: np.copyto(b, a), 0.05, args.repeats, args.warmup).median_s
    emit(args.out, backend="refs", workload="memcopy", status="ok", median_s=t, value=2 * a.nbytes / t / 1e9,
         unit="GB/s", note="np.copyto of 256 MiB, read + write bytes")
    n = 2048
    x, y = np.random.default_rng(0).standard_normal((2, n, n)).astype(np.float32)
    z = np.empty_like(x)
    t = measure(lambda: np.matmul(x, y, out=z), 0.05, args.repeats, args.warmup).median_s
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
    p.add_argument("--workloads", default="", help="e.g. W1,W7: W7 adds the import time and W3/W5 first calls")
    p.add_argument("--out", required=True)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--min-batch", type=float, default=0.05, help="seconds per timed batch of calls, at least")
    p.add_argument("--slow-call", type=float, default=1.0, help="seconds: slower calls are timed singly")
    p.add_argument("--slow-repeats", type=int, default=3, help="repeats of a slow call")
    args = p.parse_args()
    if args.backend == "refs":
        run_refs(args)
    else:
        run_workloads(args, import_backend(args))
    log(f"{args.backend}: all measured")


if __name__ == "__main__":
    main()
    # Every record is written and closed: skip the interpreter's teardown, which takes
    # torch and tf about 2 s each (compile-worker pools, thread pools) and measures nothing.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
