"""jitflow side by side with NumPy, jax.jit, torch.compile, Numba and tf.function(jit_compile=True).

    python bench/run.py [--quick] [--only W2,W3] [--backends jitflow,jax] [--update-results]
    python bench/run.py --compile-scaling [--sizes 100,1000,5000] [--shapes chain,reduction,tree]

Each backend runs in its own fresh process (bench/worker.py); a backend that is not
installed is skipped with a note.  Prints a markdown table, writes every raw figure to
bench/results/latest.json and a bar chart of ratios to bench/results/latest.png
(if matplotlib is installed).  `--update-results` also rewrites bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import peers  # noqa: E402
import workloads  # noqa: E402

ORDER = ["W1", "W2", "W3", "W4", "W4b", "W5", "W6", "W6kw", "W6args", "W6mod", "W6var", "W7", "W8",
         "W9"]
# Workloads that come with another: its variants (--only W6 runs them too).
VARIANTS = {"W4": ["W4b"], "W6": ["W6kw", "W6args", "W6mod", "W6var"]}
TITLES = {"W1": "W1 gelu 8M (f32)", "W2": "W2 softmax 4096x1024", "W3": "W3 layernorm 4096x1024",
          "W4": "W4 matmul 1024^3", "W4b": "W4b matmul+bias+relu", "W5": "W5 MLP SGD step",
          "W6": "W6 dispatch x+1 (4)", "W6kw": "W6 dispatch, keyword f(x=x)",
          "W6args": "W6 dispatch, *args signature", "W6mod": "W6 dispatch, module method",
          "W6var": "W6 dispatch, method reading a variable", "W7-W3": "W7 first call W3", "W7-W5": "W7 first call W5",
          "W7-import": "W7 import", "W8": "W8 quadratic fit loop",
          "W9": "W9 collatz N=300000 (NumPy column: plain Python)"}
# Same allocator setting for every backend: large buffers stay in the heap instead of
# fresh mmaps whose pages fault in on every call (see /work/shared/TOOLCHAIN.md).
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(2**30), "MALLOC_TRIM_THRESHOLD_": str(2**32)}


_T0 = time.perf_counter()


def log(msg):
    print(f"[bench] {time.perf_counter() - _T0:.1f}s {msg}", file=sys.stderr, flush=True)


def _worker_env(out):
    return dict(os.environ, **MALLOC_ENV, TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore",
                # A cold compile cache for torch.compile in every process, as jax, tf and Numba
                # (cache=False) have: otherwise W7 times inductor's on-disk cache, not a compile.
                TORCHINDUCTOR_CACHE_DIR=tempfile.mkdtemp(prefix="inductor-", dir=os.path.dirname(out)))


class Worker:
    """One backend's worker process (bench/worker.py), kept alive for the whole run and
    asked one command at a time.  Its progress lines pass through as they come, prefixed
    with this run's clock; library chatter stays out of the way.  A worker that crashes or
    takes longer than `timeout` seconds over one command is killed; `error` says why."""

    def __init__(self, backend, out, extra, timeout, import_record):
        self.backend, self.timeout, self.error, self.last_line = backend, timeout, None, "?"
        self.started = time.perf_counter()
        read_end, write_end = os.pipe()
        cmd = [sys.executable, os.path.join(HERE, "worker.py"), "--backend", backend, "--out", out,
               "--reply-fd", str(write_end)] + (["--import-record"] if import_record else []) + extra
        self.proc = subprocess.Popen(cmd, env=_worker_env(out), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, pass_fds=(write_end,))
        os.close(write_end)
        self.replies, self.pending = read_end, b""
        self.drain = threading.Thread(target=self._forward_stderr, daemon=True)
        self.drain.start()

    def _forward_stderr(self):
        for line in self.proc.stderr:
            if line.startswith("[bench] "):
                log(line[len("[bench] "):].rstrip())  # the worker's own clock follows: "+12.3s"
            elif line.strip():
                self.last_line = line.strip()

    def answer(self):
        """The worker's next answer (a dict), or None once it has failed."""
        deadline = time.monotonic() + self.timeout
        while self.error is None and b"\n" not in self.pending:
            ready, _, _ = select.select([self.replies], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(self.replies, 65536) if ready else None
            if chunk:
                self.pending += chunk
            else:
                self.proc.kill()
                self.proc.wait()
                self.drain.join(5)
                self.error = (f"worker timed out after {self.timeout} s" if chunk is None else
                              f"worker exited with {self.proc.returncode}: {self.last_line[:200]}")
                log(f"{self.backend}: {self.error}")
        if self.error is not None:
            return None
        line, self.pending = self.pending.split(b"\n", 1)
        return json.loads(line)

    def ask(self, **command):
        if self.error is not None:
            return None
        try:
            self.proc.stdin.write(json.dumps(command) + "\n")
            self.proc.stdin.flush()
        except OSError:
            pass  # it has died: answer() reports how
        got = self.answer()
        self.settle()
        return got

    def settle(self, limit_s=2.0):
        """Wait until every thread of the worker sleeps, so that the next backend starts on
        an idle machine: after a matmul, NumPy's OpenBLAS threads spin for ~0.1 s, and the
        backend timed next ran 1024^3 in 25 ms instead of 16."""
        tasks = f"/proc/{self.proc.pid}/task"
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            try:
                states = [_thread_state(os.path.join(tasks, tid)) for tid in os.listdir(tasks)]
            except OSError:
                return  # not Linux, or the process is gone
            if all(state != "R" for state in states):
                return
            time.sleep(0.001)

    def close(self):
        if self.error is None:
            try:
                self.proc.stdin.write(json.dumps({"do": "exit"}) + "\n")
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(self.timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        os.close(self.replies)
        log(f"{self.backend}: worker done after {time.perf_counter() - self.started:.1f} s")


def _thread_state(task_dir):
    """One thread's scheduler state letter (R running, S sleeping, ...) from /proc."""
    with open(os.path.join(task_dir, "stat")) as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def run_refs(out, extra, timeout):
    """The physical references, in a worker of their own that exits when it is done."""
    cmd = [sys.executable, os.path.join(HERE, "worker.py"), "--backend", "refs", "--out", out] + extra
    try:
        proc = subprocess.run(cmd, env=_worker_env(out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True, timeout=timeout)
        for line in proc.stderr.splitlines():
            if line.startswith("[bench] "):
                log(line[len("[bench] "):])
    except subprocess.TimeoutExpired:
        log(f"refs: timed out after {timeout} s")


def measure_interleaved(workers, names, compile_first, w7):
    """Every workload in turn on every worker.  Each worker starts the workload (first call,
    warm-up, first repeat); then the backends take their remaining repeats in turn, one
    each per round, in alternating order, so that none of them always runs in the same
    slot.  W3 and W5 come first when W7 is selected: their first call, right after the
    import, is the compile-latency figure."""
    order = [w for w in compile_first if w in names or w7] + [w for w in names if w not in compile_first]
    for name in order:
        timed = name in names
        wanted = {}
        for wk in workers:
            got = wk.ask(do="start", workload=name, timed=timed, first_call_record=w7 and name in compile_first)
            if got is not None:
                wanted[wk] = got["wanted"]
        turn = 0
        while any(wanted.values()):
            for wk in (workers if turn % 2 else workers[::-1]):
                if wanted.get(wk):
                    got = wk.ask(do="repeat", workload=name)
                    wanted[wk] = got["wanted"] if got is not None else 0
            turn += 1
        for wk in workers:
            wk.ask(do="finish", workload=name)


def byte_compile_jitflow():
    """Write jitflow's bytecode, as `pip install` does for every installed package (the
    peers included).  An editable install run with PYTHONDONTWRITEBYTECODE=1 would
    otherwise compile its sources again in every fresh process: ~0.2 s more import time
    and first-call time, which W7 would count."""
    import compileall
    import importlib.util
    import re
    spec = importlib.util.find_spec("jitflow")
    if spec is None or not spec.submodule_search_locations:
        return
    for root in spec.submodule_search_locations:
        compileall.compile_dir(root, quiet=1, rx=re.compile(r"[/\\](tests|bench|examples|build)[/\\]"))


def fmt_time(s):
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.1f} µs"


def throughput(r):
    if r.get("bytes"):
        return f"{r['bytes'] / r['median_s'] / 1e9:.1f} GB/s"
    if r.get("flops"):
        return f"{r['flops'] / r['median_s'] / 1e9:.0f} GFLOP/s"
    return ""


def add_ratios(results):
    """ratio = time / best time of the backends whose result matched NumPy, per workload."""
    best = {}
    for r in results:
        if r["status"] == "ok" and r.get("median_s"):
            best[r["workload"]] = min(best.get(r["workload"], math.inf), r["median_s"])
    for r in results:
        if r["status"] in ("ok", "mismatch") and r["workload"] in best:
            r["ratio_to_best"] = r["median_s"] / best[r["workload"]]


def table(results, backends):
    cells = {(r["workload"], r["backend"]): r for r in results}
    rows = [w for w in TITLES if any(k[0] == w for k in cells)]
    lines = ["| workload | " + " | ".join(peers.LABELS[b] for b in backends) + " |",
             "|---|" + "---|" * len(backends)]
    notes = {}
    for w in rows:
        out = []
        for b in backends:
            r = cells.get((w, b))
            if r is None:
                out.append("")
            elif r["status"] == "ok":
                text = f"{fmt_time(r['median_s'])} ×{r['ratio_to_best']:.2f}"
                tp = throughput(r)
                text += f" ({tp})" if tp else ""
                out.append(f"**{text}**" if r["ratio_to_best"] == 1.0 else text)
            elif r["status"] == "mismatch":
                out.append(f"❌ **MISMATCH** (err {r['max_abs_err']:.2g}) {fmt_time(r['median_s'])}")
            else:
                key = r.get("note", r["status"])
                num = notes.setdefault(key, len(notes) + 1)
                out.append(f"{r['status']} [{num}]")
        lines.append(f"| {TITLES[w]} | " + " | ".join(out) + " |")
    lines.append("")
    lines.append("Cells: median time per call ×ratio to the best backend on that row (bold: the best; "
                 "a mismatch against NumPy never counts as best), throughput in parentheses.")
    for text, num in notes.items():
        lines.append(f"[{num}] {text}")
    return "\n".join(lines)


def refs_lines(refs):
    return [f"- {r['workload']}: {r['value']:.1f} {r['unit']} ({r['note']})" for r in refs]


def plot(results, backends, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib not installed: no plot")
        return None
    rows = [w for w in TITLES if any(r["workload"] == w and "ratio_to_best" in r for r in results)]
    cells = {(r["workload"], r["backend"]): r for r in results}
    fig, ax = plt.subplots(figsize=(max(8, 1.2 * len(rows)), 4.5))
    width = 0.8 / len(backends)
    for i, b in enumerate(backends):
        ys = [cells.get((w, b), {}).get("ratio_to_best", 0) if cells.get((w, b), {}).get("status") == "ok" else 0
              for w in rows]
        ax.bar([j + i * width for j in range(len(rows))], ys, width, label=peers.LABELS[b])
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(rows))])
    ax.set_xticklabels([TITLES[w] for w in rows], rotation=30, ha="right", fontsize=8)
    ax.set_yscale("log")
    ax.axhline(1, color="k", lw=0.5)
    ax.set_ylim(bottom=0.5)
    ax.set_ylabel("time / best (lower is better)")
    ax.set_title("jitflow and peers, float32 (W9 int64); no bar: skipped, failed or mismatched", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--compile-scaling" in argv:  # first-call time against program size: its own table (compile_scaling.py)
        import compile_scaling
        return compile_scaling.main([a for a in argv if a != "--compile-scaling"])
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="--compile-scaling [options]: compile time against program size, "
                                       "see bench/compile_scaling.py")
    p.add_argument("--quick", action="store_true",
                   help="7 repeats of >= 20 ms batches after 1 warm-up call (full: 15 of >= 50 ms after 3)")
    p.add_argument("--only", default=",".join(ORDER),
                   help="workloads, e.g. W2,W3 (W4 includes W4b, W6 its variants W6kw, W6args, W6mod, W6var)")
    p.add_argument("--backends", default=",".join(peers.BACKENDS), help="e.g. jitflow,numpy,jax")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--out-dir", default=os.path.join(HERE, "results"))
    p.add_argument("--update-results", action="store_true", help="rewrite bench/RESULTS.md with this run")
    p.add_argument("--timeout", type=int, default=600, help="seconds a worker may take over one step")
    args = p.parse_args(argv)

    if args.device == "cuda":
        try:
            import cupy
            n = cupy.cuda.runtime.getDeviceCount()
        except Exception as e:  # noqa: BLE001 - ImportError, or no driver / no device
            sys.exit(f"--device cuda needs cupy and a CUDA GPU: {type(e).__name__}: {e}")
        sys.exit(f"--device cuda: found {n} GPU(s), but the GPU workloads are not written yet (the GPU issue adds them).")

    only = [w.strip() for w in args.only.split(",") if w.strip()]
    for main_workload, variants in VARIANTS.items():
        if main_workload in only:
            at = only.index(main_workload) + 1
            only[at:at] = [v for v in variants if v not in only]
    bad = [w for w in only if w not in ORDER]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    bad += [b for b in backends if b not in peers.BACKENDS]
    if bad:
        sys.exit(f"unknown workload or backend: {', '.join(bad)} (workloads {ORDER}, backends {list(peers.BACKENDS)})")
    timed = [w for w in only if w != "W7"]
    # Calls slower than SLOW_CALL_S (plain Python on W9, tf on W8) are timed singly, with no
    # warm-up, SLOW_REPEATS times: batching and warm-up exist for short calls.
    settings = {"quick": args.quick, "repeats_interleaved": True, "torch_inductor_cache": "fresh per process",
                "repeats": 7 if args.quick else 15, "warmup": 1 if args.quick else 3,
                "min_batch_s": 0.02 if args.quick else 0.05, "slow_call_s": 1.0,
                "slow_repeats": 1 if args.quick else 3, "malloc_env": MALLOC_ENV, "dtype": "float32 (W9: int64)",
                "device": args.device}
    extra = ["--repeats", str(settings["repeats"]), "--warmup", str(settings["warmup"]),
             "--min-batch", str(settings["min_batch_s"]), "--slow-call", str(settings["slow_call_s"]),
             "--slow-repeats", str(settings["slow_repeats"])]

    skipped, versions = [], {}
    if "jitflow" in backends:
        byte_compile_jitflow()
    w7 = "W7" in only
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "results.jsonl")
        workers = []
        try:
            for b in backends:
                if not peers.available(b):
                    skipped.append(f"{peers.LABELS[b]}: not installed (pip install -e \".[bench]\")")
                    log(f"{b}: not installed, skipped")
                    continue
                versions.update(peers.versions(b))
                # One process per backend, started one at a time: each import (W7-import) runs
                # on an otherwise idle machine, before any workload.
                worker = Worker(b, out, extra, args.timeout, import_record=w7)
                worker.answer()  # {"ready": true} once the import is done
                workers.append(worker)
            measure_interleaved(workers, timed, workloads.COMPILE_WORKLOADS, w7)
        finally:
            for worker in workers:
                worker.close()
        done = {(r["backend"], r["workload"]) for r in _read(out)}
        for worker in workers:
            for w in timed + (["W7-import", "W7-W3", "W7-W5"] if w7 else []):
                if worker.error and (worker.backend, w) not in done:
                    _append(out, backend=worker.backend, workload=w, status="error",
                            note=f"{peers.LABELS[worker.backend]}: {worker.error}")
        # The references load every core flat out: measured after the backends, they come
        # right before none of them.
        log("refs: physical references")
        refs_out = os.path.join(tmp, "refs.jsonl")
        run_refs(refs_out, extra, args.timeout)
        raw = _read(out) + _read(refs_out)
    refs = [r for r in raw if r["backend"] == "refs"]
    results = [r for r in raw if r["backend"] != "refs"]
    add_ratios(results)
    present = [b for b in backends if any(r["backend"] == b for r in results)]

    machine = peers.machine()
    versions.update(peers.versions("numpy"))
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    mline = (f"{machine['cpu']} ({machine['vendor']}), {machine['cores']} cores, {', '.join(machine['isa'])}, "
             f"{machine['mem_gib']} GiB, {machine['os']}, Python {machine['python']}, "
             f"load average {machine['loadavg_at_end'][1]} (5 min) at the end; "
             + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())))
    md = "\n".join([
        f"Run {now}{' (--quick)' if args.quick else ''}. Machine: {mline}.",
        f"Every backend in its own process, with {' '.join(f'{k}={v}' for k, v in MALLOC_ENV.items())}; "
        f"median of {settings['repeats']} repeats of calls batched to >= {settings['min_batch_s'] * 1e3:.0f} ms "
        f"after {settings['warmup']} warm-up call(s); calls slower than {settings['slow_call_s']:g} s: "
        f"{settings['slow_repeats']} single call(s), no warm-up.  The backends take their repeats in turn "
        "(one each per round, in alternating order, one untimed call before each), so a drift in the "
        "machine's speed hits them alike; every repeat is in the JSON.",
        "", table(results, present), "",
        "Physical references (same run):", *refs_lines(refs),
        *(["", "Skipped backends:", *[f"- {s}" for s in skipped]] if skipped else []),
    ])
    print(md)

    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "latest.json"), "w") as f:
        json.dump({"date": now, "machine": machine, "versions": versions, "settings": settings,
                   "argv": sys.argv[1:], "refs": refs, "results": results, "skipped": skipped}, f, indent=1)
    png = plot(results, present, os.path.join(args.out_dir, "latest.png"))
    log(f"wrote {os.path.join(args.out_dir, 'latest.json')}" + (f" and {png}" if png else ""))
    if args.update_results:
        shutil.copyfile(os.path.join(args.out_dir, "latest.json"), os.path.join(HERE, "RESULTS.json"))
        if png:
            shutil.copyfile(png, os.path.join(HERE, "RESULTS.png"))
        with open(os.path.join(HERE, "RESULTS.md"), "w") as f:
            f.write("# Latest full benchmark run\n\nWritten by `python bench/run.py --update-results`; "
                    "every raw figure in [RESULTS.json](RESULTS.json)"
                    + (", ratios charted in [RESULTS.png](RESULTS.png)" if png else "") + ".\n\n" + md + "\n"
                    + ("\n![time / best backend, per workload](RESULTS.png)\n" if png else ""))
    return 0


def _read(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _append(path, **record):
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    sys.exit(main())
