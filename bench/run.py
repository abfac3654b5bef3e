"""jitflow side by side with NumPy, jax.jit, torch.compile, Numba and tf.function(jit_compile=True).

    python bench/run.py [--quick] [--only W2,W3] [--backends jitflow,jax] [--update-results]

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
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import peers  # noqa: E402

ORDER = ["W1", "W2", "W3", "W4", "W4b", "W5", "W6", "W7", "W8", "W9"]
TITLES = {"W1": "W1 gelu 8M (f32)", "W2": "W2 softmax 4096x1024", "W3": "W3 layernorm 4096x1024",
          "W4": "W4 matmul 1024^3", "W4b": "W4b matmul+bias+relu", "W5": "W5 MLP SGD step",
          "W6": "W6 dispatch x+1 (4)", "W7-W3": "W7 first call W3", "W7-W5": "W7 first call W5",
          "W7-import": "W7 import", "W8": "W8 quadratic fit loop",
          "W9": "W9 collatz N=300000 (NumPy column: plain Python)"}
# Same allocator setting for every backend: large buffers stay in the heap instead of
# fresh mmaps whose pages fault in on every call (see /work/shared/TOOLCHAIN.md).
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(2**30), "MALLOC_TRIM_THRESHOLD_": str(2**32)}


_T0 = time.perf_counter()


def log(msg):
    print(f"[bench] {time.perf_counter() - _T0:.1f}s {msg}", file=sys.stderr, flush=True)


def run_worker(backend, out, extra, timeout):
    """Run one worker process; None, or why it failed.  Its progress lines pass through
    as they come, prefixed with this run's clock; library chatter stays out of the way."""
    cmd = [sys.executable, os.path.join(HERE, "worker.py"), "--backend", backend, "--out", out] + extra
    env = dict(os.environ, **MALLOC_ENV, TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore",
               # A cold compile cache for torch.compile in every process, as jax, tf and Numba
               # (cache=False) have: otherwise W7 times inductor's on-disk cache, not a compile.
               TORCHINDUCTOR_CACHE_DIR=tempfile.mkdtemp(prefix="inductor-", dir=os.path.dirname(out)))
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    timed_out = threading.Event()

    def kill():
        timed_out.set()
        proc.kill()
    timer = threading.Timer(timeout, kill)
    timer.start()
    last = "?"
    try:
        for line in proc.stderr:
            if line.startswith("[bench] "):
                log(line[len("[bench] "):].rstrip())  # the worker's own clock follows: "+12.3s"
            elif line.strip():
                last = line.strip()
        proc.wait()
    finally:
        timer.cancel()
    log(f"{backend}: worker done in {time.perf_counter() - t:.1f} s")
    if timed_out.is_set():
        return f"worker timed out after {timeout} s"
    if proc.returncode != 0:
        return f"worker exited with {proc.returncode}: {last[:200]}"
    return None


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
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="7 repeats of >= 20 ms batches after 1 warm-up call (full: 15 of >= 50 ms after 3)")
    p.add_argument("--only", default=",".join(ORDER), help="workloads, e.g. W2,W3 (W4 includes W4b)")
    p.add_argument("--backends", default=",".join(peers.BACKENDS), help="e.g. jitflow,numpy,jax")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--out-dir", default=os.path.join(HERE, "results"))
    p.add_argument("--update-results", action="store_true", help="rewrite bench/RESULTS.md with this run")
    p.add_argument("--timeout", type=int, default=600, help="seconds per worker process")
    p.add_argument("--rounds", type=int, default=None,
                   help="sweeps over the backends, in alternating order; each figure is the best "
                        "round's (default: 2, 1 with --quick)")
    args = p.parse_args(argv)
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 2)

    if args.device == "cuda":
        try:
            import cupy
            n = cupy.cuda.runtime.getDeviceCount()
        except Exception as e:  # noqa: BLE001 - ImportError, or no driver / no device
            sys.exit(f"--device cuda needs cupy and a CUDA GPU: {type(e).__name__}: {e}")
        sys.exit(f"--device cuda: found {n} GPU(s), but the GPU workloads are not written yet (the GPU issue adds them).")

    only = [w.strip() for w in args.only.split(",") if w.strip()]
    if "W4" in only and "W4b" not in only:
        only.insert(only.index("W4") + 1, "W4b")
    bad = [w for w in only if w not in ORDER]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    bad += [b for b in backends if b not in peers.BACKENDS]
    if bad:
        sys.exit(f"unknown workload or backend: {', '.join(bad)} (workloads {ORDER}, backends {list(peers.BACKENDS)})")
    timed = [w for w in only if w != "W7"]
    # Calls slower than SLOW_CALL_S (plain Python on W9, tf on W8) are timed singly, with no
    # warm-up, SLOW_REPEATS times: batching and warm-up exist for short calls.
    settings = {"quick": args.quick, "rounds": rounds, "torch_inductor_cache": "fresh per process",
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
    with tempfile.TemporaryDirectory() as tmp:
        sweeps = []
        for number in range(rounds):
            # Alternate the order: on a shared machine whose speed drifts over minutes, a
            # backend that always ran in the same slot would always get that slot's speed.
            order = backends if number % 2 == 0 else backends[::-1]
            out = os.path.join(tmp, f"round{number}.jsonl")
            for b in order:
                if not peers.available(b):
                    if number == 0:
                        skipped.append(f"{peers.LABELS[b]}: not installed (pip install -e \".[bench]\")")
                        log(f"{b}: not installed, skipped")
                    continue
                versions.update(peers.versions(b))
                if rounds > 1:
                    log(f"round {number + 1} of {rounds}")
                # One process per backend: its import time and the first calls of W3/W5 (W7) come first.
                err = run_worker(b, out, extra + ["--workloads", ",".join(only)], args.timeout)
                if err:
                    log(f"{b}: {err}")
                    done = {r["workload"] for r in _read(out) if r["backend"] == b}
                    want = timed + (["W7-import", "W7-W3", "W7-W5"] if "W7" in only else [])
                    for w in want:
                        if w not in done:
                            _append(out, backend=b, workload=w, status="error", note=f"{peers.LABELS[b]}: {err}")
            sweeps.append(_read(out))
        # The references load every core flat out: measured after the backends, they come
        # right before none of them.
        log("refs: physical references")
        refs_out = os.path.join(tmp, "refs.jsonl")
        run_worker("refs", refs_out, extra, args.timeout)
        raw = best_of_rounds(sweeps) + _read(refs_out)
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
        f"{settings['slow_repeats']} single call(s), no warm-up."
        + (f"  {rounds} sweeps over the backends in alternating order; each cell is its best "
           "sweep's (every sweep's median is in the JSON)." if rounds > 1 else ""),
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


def best_of_rounds(sweeps):
    """One record per (backend, workload): the fastest round's where any round ran it (a
    mismatch in any round is kept: it must show), with every round's median beside it."""
    by_key = {}
    for records in sweeps:
        for r in records:
            by_key.setdefault((r["backend"], r["workload"]), []).append(r)
    chosen = []
    for rounds in by_key.values():
        mismatched = [r for r in rounds if r["status"] == "mismatch"]
        timed = [r for r in rounds if r["status"] == "ok" and r.get("median_s") is not None]
        pick = mismatched[0] if mismatched else (min(timed, key=lambda r: r["median_s"]) if timed else rounds[0])
        pick = dict(pick)
        if len(rounds) > 1:
            pick["rounds_median_s"] = [r.get("median_s") for r in rounds]
        chosen.append(pick)
    return chosen


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
