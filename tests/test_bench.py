"""bench/: the timing method, W9's reference and exact check, and one small end-to-end run."""

import importlib.util
import json
import os
import sys
import time

import numpy as np
import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")


def _load(name):
    # bench/ is not part of the package: load its modules by path, as run.py does.
    if BENCH not in sys.path:
        sys.path.insert(0, BENCH)
    spec = importlib.util.spec_from_file_location(f"bench_{name}", os.path.join(BENCH, f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


worker = _load("worker")
workloads = _load("workloads")


class CountingCall:
    """A call that sleeps `durations[i]` on its i-th invocation (the last one repeats)."""

    def __init__(self, *durations):
        self.durations, self.count = durations, 0

    def __call__(self):
        time.sleep(self.durations[min(self.count, len(self.durations) - 1)])
        self.count += 1
        return self.count


def test_measure_batches_fast_calls_after_warmup():
    call = CountingCall(0.0)
    m = worker.measure(call, min_batch_s=0.002, repeats=5, warmup=2, slow_call_s=1.0, slow_repeats=3)
    assert m.first_result == 1 and m.warmup == 2
    assert len(m.times_s) == 5 and m.batch >= 1
    assert m.median_s == sorted(m.times_s)[2]
    assert call.count >= 1 + 2 + 5 * m.batch


def test_measure_slow_first_call_that_was_only_a_compile_stays_batched():
    # A 30 ms "compile" on the first call, then fast calls: the second call decides.
    call = CountingCall(0.03, 0.0)
    m = worker.measure(call, min_batch_s=0.002, repeats=3, warmup=2, slow_call_s=0.02, slow_repeats=1)
    assert len(m.times_s) == 3 and m.warmup == 2
    assert m.median_s < 0.02


def test_measure_slow_calls_are_timed_singly_without_warmup():
    call = CountingCall(0.03)
    m = worker.measure(call, min_batch_s=0.5, repeats=15, warmup=3, slow_call_s=0.02, slow_repeats=2)
    assert (m.batch, m.warmup, len(m.times_s)) == (1, 0, 2)
    assert call.count == 3  # the first call and two repeats: nothing else
    assert all(t >= 0.03 for t in m.times_s) and m.first_s >= 0.03


def test_measure_first_call_only():
    call = CountingCall(0.0)
    m = worker.measure(call, 0.05, repeats=0, warmup=3)
    assert call.count == 1 and m.times_s == [] and m.median_s is None


@pytest.mark.parametrize("n_max", [2, 3, 1000, 5000])
def test_collatz_reference_agrees_with_the_python_source(n_max):
    assert workloads.collatz_reference(n_max) == workloads.collatz_total(n_max)


def test_collatz_check_is_exact_and_int64():
    w = workloads.WORKLOADS["W9"]
    want = workloads.collatz_reference(1000)
    assert workloads.check(w, np.int64(want), want) == (True, 0.0)
    assert workloads.check(w, want, want)[0]  # plain Python's int
    assert workloads.check(w, np.asarray(want + 1), want) == (False, 1.0)
    assert not workloads.check(w, np.float64(want), want)[0]
    assert not workloads.check(w, np.int32(want), want)[0]
    assert not workloads.check(w, np.array([want]), want)[0]


class FakeWorker:
    """Answers like bench/worker.py: `repeats` per workload (0: skipped), or dies after `dies_after` asks."""

    def __init__(self, backend, log, repeats, dies_after=None):
        self.backend, self.log, self.repeats, self.dies_after = backend, log, repeats, dies_after
        self.left, self.asked = {}, 0

    def ask(self, **cmd):
        self.asked += 1
        if self.dies_after is not None and self.asked > self.dies_after:
            return None
        self.log.append((self.backend, cmd["do"], cmd["workload"]))
        if cmd["do"] == "start":
            self.left[cmd["workload"]] = self.repeats - 1 if cmd["timed"] and self.repeats else 0
        elif cmd["do"] == "repeat":
            self.left[cmd["workload"]] -= 1
        return {"wanted": self.left.get(cmd["workload"], 0), "finished": True}


def test_repeats_are_interleaved_across_backends_in_alternating_order():
    run = _load("run")
    log = []
    a, b, c = FakeWorker("a", log, 4), FakeWorker("b", log, 4), FakeWorker("c", log, 0)
    run.measure_interleaved([a, b, c], ["W1"], ("W3", "W5"), w7=False)
    assert [e[:2] for e in log] == [("a", "start"), ("b", "start"), ("c", "start"),
                                    ("b", "repeat"), ("a", "repeat"),  # c skipped W1: no repeats
                                    ("a", "repeat"), ("b", "repeat"),
                                    ("b", "repeat"), ("a", "repeat"),
                                    ("a", "finish"), ("b", "finish"), ("c", "finish")]


def test_w7_puts_the_compile_workloads_first_and_a_dead_worker_is_left_out():
    run = _load("run")
    log = []
    a, dead = FakeWorker("a", log, 2), FakeWorker("dead", log, 2, dies_after=1)
    run.measure_interleaved([a, dead], ["W1", "W5"], ("W3", "W5"), w7=True)
    assert [e[2] for e in log if e[:2] == ("a", "start")] == ["W3", "W5", "W1"]
    assert ("dead", "start", "W3") in log and not any(e[0] == "dead" and e[1] != "start" for e in log)
    # W3 only for its first call (W7): never repeated.
    assert not any(e[1] == "repeat" and e[2] == "W3" for e in log)
    assert sum(e[1] == "repeat" for e in log) == 2  # a: one more repeat of W5 and of W1


def test_quick_run_one_worker_per_backend_with_w7_and_w9(tmp_path, monkeypatch, capsys):
    """jitflow and NumPy for real; jax made to look uninstalled, which must be a note, not an error."""
    run = _load("run")
    monkeypatch.setitem(run.peers.BACKENDS, "jax", ("jitflow_bench_no_such_module", ["jax"]))
    started = []

    class Worker(run.Worker):
        def __init__(self, backend, *args, **kwargs):
            started.append(backend)
            super().__init__(backend, *args, **kwargs)
    monkeypatch.setattr(run, "Worker", Worker)
    assert run.main(["--quick", "--only", "W3,W6,W7,W9", "--backends", "jitflow,numpy,jax",
                     "--out-dir", str(tmp_path)]) == 0
    assert started == ["jitflow", "numpy"]  # one process each, W7 in the same process as the rest

    data = json.loads((tmp_path / "latest.json").read_text())
    got = {(r["backend"], r["workload"]): r for r in data["results"]}
    for b in ("jitflow", "numpy"):
        for w in ("W3", "W6", "W9", "W7-import", "W7-W3", "W7-W5"):
            assert (b, w) in got, (b, w)
        assert got[(b, "W9")]["status"] == "ok" and got[(b, "W9")]["max_abs_err"] == 0.0
        assert got[(b, "W7-W3")]["status"] == "ok"
        # W7-W3 is W3's own first call, measured right after the import.
        assert got[(b, "W7-W3")]["median_s"] == got[(b, "W3")]["first_call_s"]
        assert got[(b, "W6")]["repeats"] == 7
        for variant in ("W6kw", "W6args", "W6mod", "W6var"):  # --only W6 brings its variants
            assert got[(b, variant)]["status"] == "ok", (b, variant)
    assert got[("jitflow", "W7-W5")]["status"] == "ok"
    assert got[("numpy", "W7-W5")]["status"] == "skip"
    # Plain Python takes seconds per call: one single call in --quick, recorded as such.
    assert (got[("numpy", "W9")]["repeats"], got[("numpy", "W9")]["batch"]) == (1, 1)
    assert "plain Python" in got[("numpy", "W9")]["note"]
    assert not any(r["backend"] == "jax" for r in data["results"])
    assert any("jax.jit: not installed" in s for s in data["skipped"])
    assert data["settings"]["min_batch_s"] == 0.02 and data["settings"]["slow_repeats"] == 1

    table = capsys.readouterr().out
    assert "| W9 collatz N=300000 (NumPy column: plain Python) |" in table
    assert "| W7 first call W3 |" in table
    assert "| W6 dispatch, method reading a variable |" in table


def test_a_worker_that_dies_or_hangs_is_reported_not_waited_for(tmp_path):
    run = _load("run")
    dead = run.Worker("no-such-backend", str(tmp_path / "out.jsonl"), [], 60, import_record=False)
    assert dead.answer() is None and dead.ask(do="exit") is None
    assert dead.error.startswith("worker exited with 1") and "KeyError" in dead.error
    dead.close()
    slow = run.Worker("numpy", str(tmp_path / "out.jsonl"), [], 0.001, import_record=False)
    assert slow.answer() is None and slow.error == "worker timed out after 0.001 s"
    slow.close()


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")
def test_the_next_backend_waits_for_the_last_ones_spinning_threads():
    import subprocess

    run = _load("run")
    spinner = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time()\n"
                                "while time.time() - t < 0.3: pass\ntime.sleep(30)"])
    try:
        worker = run.Worker.__new__(run.Worker)  # only its process matters here
        worker.proc = spinner
        time.sleep(0.05)
        start = time.monotonic()
        worker.settle()
        assert 0.1 < time.monotonic() - start < 2.0
        start = time.monotonic()
        worker.settle()  # asleep now: no wait
        assert time.monotonic() - start < 0.1
    finally:
        spinner.kill()
        spinner.wait()


def test_compile_scaling_shapes_compute_what_numpy_does_and_the_table_lists_every_cell(capsys):
    import jitflow

    scaling = _load("compile_scaling")
    x = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)
    for shape in scaling.SHAPES:
        body = getattr(scaling, shape)
        np.testing.assert_allclose(jitflow.jit(lambda x: body(np, x, 30))(x), body(np, x, 30),
                                   rtol=1e-5, atol=1e-4)
    run_py = _load("run")
    run_py.main(["--compile-scaling", "--sizes", "6", "--shapes", "chain,tree", "--backends", "jitflow"])
    out = capsys.readouterr().out
    assert "| program size | chain jitflow | wide tree jitflow |" in out
    row = next(line for line in out.splitlines() if line.startswith("| 6 ops"))
    assert row.count(" s |") == 2 and "error" not in row and "timeout" not in row, row
