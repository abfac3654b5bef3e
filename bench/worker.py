"""One backend in one fresh process, driven by run.py:
`python bench/worker.py --backend B --out F --reply-fd N [--import-record]`.

The first thing it does is import the backend's package, timed (W7-import).  Then it
takes run.py's commands on stdin (see `serve`): start a workload (build it, first call,
check against NumPy, warm up, first repeat), one more repeat, finish it.  run.py keeps
one worker per backend alive and asks each for a repeat in turn, so every backend's
repeats of a workload are spread over the same minutes.  Records are appended as JSON
lines to F.  `--backend refs` measures the physical references and exits.
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


class Measurement:
    """One workload's timing, a repeat at a time, so that run.py can interleave the repeats
    of every backend: a machine whose speed drifts over minutes then slows them all alike.

    `start()` times the first call alone, then makes `warmup` calls and grows the batch
    size until one batch of calls lasts at least `min_batch_s`; that last sizing batch is
    the first repeat.  Each `repeat()` times one more batch; `rewarm` makes one untimed
    call first (another process may have run in between, with other data in the caches).

    A call slower than `slow_call_s` is timed singly, without warm-up, `slow_repeats`
    times: the batching and the warm-up are there for short calls, and fifteen 4-second
    calls would say nothing more.  The first call usually includes a compile, so "slow"
    is decided by the second call, which is then the first repeat.  `repeats=0`: first
    call only.
    """

    def __init__(self, call, min_batch_s, repeats, warmup, slow_call_s=1.0, slow_repeats=3):
        self.call, self.min_batch_s, self.warmup = call, min_batch_s, warmup
        self.slow_call_s, self.slow_repeats, self.repeats = slow_call_s, slow_repeats, repeats
        self.times, self.batch, self.warm_calls, self.slow = [], 0, 0, False

    def _timed(self, n):
        t = time.perf_counter()
        for _ in range(n):
            self.call()
        return time.perf_counter() - t

    def start(self):
        t = time.perf_counter()
        self.first_result = self.call()
        self.first_s = time.perf_counter() - t
        if self.repeats == 0:
            return
        if self.first_s > self.slow_call_s:
            second = self._timed(1)
            self.warm_calls = 1
            if second > self.slow_call_s:
                self.slow, self.batch, self.warm_calls = True, 1, 0
                self.times.append(second)
                return
        for _ in range(self.warmup - self.warm_calls):
            self.call()
        self.warm_calls = max(self.warmup, self.warm_calls)
        n = 1
        while True:
            dt = self._timed(n)
            if dt >= self.min_batch_s:
                break
            n = max(2 * n, int(n * self.min_batch_s * 1.2 / max(dt, 1e-9)))
        # The batch that settled n is a full batch after the warm-up, like the others: it is
        # the first repeat (for a 1-second call that is one call less to wait for).
        self.batch = n
        self.times.append(dt / n)

    def wanted(self):
        """Repeats still to take."""
        return max(0, (self.slow_repeats if self.slow else self.repeats) - len(self.times))

    def repeat(self, rewarm=False):
        if rewarm and not self.slow:
            self.call()
        self.times.append(self._timed(self.batch) / self.batch)

    def timing(self):
        return Timing(first_s=self.first_s, first_result=self.first_result,
                      median_s=_median(self.times) if self.times else None, times_s=list(self.times),
                      batch=self.batch, warmup=0 if self.slow else self.warm_calls)


def measure(call, min_batch_s, repeats, warmup, slow_call_s=1.0, slow_repeats=3):
    """`Measurement` run to the end in one go: the first call, then every repeat."""
    m = Measurement(call, min_batch_s, repeats, warmup, slow_call_s, slow_repeats)
    m.start()
    while m.wanted():
        m.repeat()
    return m.timing()


def _median(xs):
    s = sorted(xs)
    return s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2


def import_backend(args):
    """Import the backend's package before anything else does; its time is W7-import."""
    from peers import BACKENDS
    t = time.perf_counter()
    importlib.import_module(BACKENDS[args.backend][0])
    return time.perf_counter() - t


class Running(types.SimpleNamespace):
    """A workload started in this worker: w, inputs, measurement, timed, status, max_abs_err, records."""


def serve(args, import_s):
    """Take run.py's commands, one JSON line each on stdin, and answer each with one JSON
    line on the reply pipe (stdout is left to the libraries, which print):

        {"do": "start", "workload": "W5", "timed": true, "first_call_record": true}
        {"do": "repeat", "workload": "W5"}       -> {"wanted": repeats still to take}
        {"do": "finish", "workload": "W5"}       -> {"finished": true}  (the records are written)
        {"do": "exit"}

    The first answer, {"ready": true}, comes once the backend's package is imported."""
    import numpy as np
    import workloads as W
    reply = os.fdopen(args.reply_fd, "w", buffering=1)

    def answer(**fields):
        reply.write(json.dumps(fields) + "\n")
        reply.flush()

    if args.import_record:
        emit(args.out, backend=args.backend, workload="W7-import", status="ok", median_s=import_s,
             note="import time in a fresh process (includes NumPy's where it imports it)")
    answer(ready=True)
    running = {}
    for line in sys.stdin:
        cmd = json.loads(line)
        name = cmd.get("workload")
        if cmd["do"] == "start":
            running[name] = start_one(args, W, np, name, cmd["timed"], cmd["first_call_record"])
            answer(wanted=_wanted(running[name]))
        elif cmd["do"] == "repeat":
            r = running[name]
            try:
                r.measurement.repeat(rewarm=True)
            except Exception as e:  # noqa: BLE001 - one broken workload must not end the run
                _failed(args, r.records, e)
                running[name] = None
            answer(wanted=_wanted(running[name]))
        elif cmd["do"] == "finish":
            r = running.pop(name)
            if r is not None and r.timed:
                finish_one(args, r)
            answer(finished=True)
        elif cmd["do"] == "exit":
            break


def _wanted(r):
    return r.measurement.wanted() if r is not None and r.timed else 0


def _failed(args, records, e):
    traceback.print_exc()
    for name in records:
        emit(args.out, backend=args.backend, workload=name, status="error",
             note=f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}")


def start_one(args, W, np, name, timed, first_call_record):
    """Build workload `name`, make its first call (the W7 figure with `first_call_record`),
    check it against NumPy and, if `timed`, warm it up and take its first repeat.  None if
    it was skipped or failed (the records say so)."""
    w = W.WORKLOADS[name]
    log(f"{args.backend}: {name} {w.title}" + ("" if timed else " (W7: first call only)"))
    records = ([name] if timed else []) + ([f"W7-{name}"] if first_call_record else [])
    try:
        inputs = w.make(np.random.default_rng(0))
        call = W.BUILDERS[args.backend](w, inputs)
        m = Measurement(call, args.min_batch, args.repeats if timed else 0, args.warmup,
                        args.slow_call, args.slow_repeats)
        m.start()
        ok, err = W.check(w, m.first_result, w.ref(inputs))
        status = "ok" if ok else "mismatch"
        if not ok:
            log(f"{args.backend}: {name} MISMATCH against NumPy (max abs err {err:.3g})")
        if first_call_record:
            emit(args.out, backend=args.backend, workload=f"W7-{name}", status=status, median_s=m.first_s,
                 max_abs_err=err)
        return Running(w=w, inputs=inputs, measurement=m, timed=timed, status=status, max_abs_err=err,
                       records=[name] if timed else [])
    except W.Skip as e:
        for r in records:
            emit(args.out, backend=args.backend, workload=r, status="skip", note=str(e))
    except Exception as e:  # noqa: BLE001 - one broken workload must not end the run
        _failed(args, records, e)
    return None


def finish_one(args, r):
    m, w = r.measurement.timing(), r.w
    note = getattr(w, "notes", {}).get(args.backend)
    emit(args.out, backend=args.backend, workload=w.name, status=r.status, median_s=m.median_s,
         times_s=m.times_s, batch=m.batch, repeats=len(m.times_s), warmup=m.warmup,
         first_call_s=m.first_s, max_abs_err=r.max_abs_err, bytes=getattr(w, "bytes", None),
         flops=getattr(w, "flops", None), **({"note": note} if note else {}))


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
    p.add_argument("--reply-fd", type=int, help="pipe for the answers to run.py's commands (see serve)")
    p.add_argument("--import-record", action="store_true", help="write the import time as W7-import")
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
        serve(args, import_backend(args))
    log(f"{args.backend}: done")


if __name__ == "__main__":
    main()
    # Every record is written and closed: skip the interpreter's teardown, which takes
    # torch and tf about 2 s each (compile-worker pools, thread pools) and measures nothing.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
