"""A persistent pool of native threads that every executable's parallel kernels share.

Creating a thread per parallel kernel costs ~30 us, and on a busy virtual machine a
new thread may wait a scheduler tick (4 ms) before it first runs: an MLP training
step, seven parallel kernels, took 8 or 12 or 16 ms from one call to the next.  The
pool's threads are created once, spin briefly after each task (the next parallel
kernel usually follows within microseconds) and then sleep on a condition variable.

The pool is one small LLVM module compiled once per process; generated code calls

    void jf_pool_run(void (*dispatch)(i32, i8**, i64, i64), i32 number, i8** buffers,
                     i64 size, i32 chunks)

which runs ``dispatch(number, buffers, begin, end)`` over ``chunks`` equal pieces of
[0, size).  Chunks are claimed, not assigned: the caller runs the first and then claims
whatever no worker has taken yet, so a worker that wakes late delays nothing.

The claim word packs (generation: 32 bits, chunk count: 16, next chunk: 16); a claim is a
compare-and-swap on it, so a worker holding a stale word from an earlier task can never
take a chunk of the current one.  Task fields are written before the word is published
and read only after a successful claim; the caller waits for every claimed chunk to finish
before it returns (and before any other task can be published).  One caller at a time
owns the pool; a concurrent caller (another Python thread: the native call releases the
GIL) or a nested one runs its chunks itself.  A forked child starts with no workers.
"""

from __future__ import annotations

import platform
from typing import Callable

from llvmlite import ir

from .scalars import I32, I64, PTR

RUN = "jf_pool_run"
AFTER_FORK = "jf_pool_after_fork"
# pthread functions the pool calls (resolved from the C library, see ``jit._LIBC``).
PTHREAD = ("pthread_create", "pthread_detach", "pthread_mutex_init", "pthread_mutex_lock",
           "pthread_mutex_unlock", "pthread_cond_init", "pthread_cond_wait", "pthread_cond_broadcast",
           "pthread_cond_signal")
# Bytes reserved for a pthread_mutex_t / pthread_cond_t (glibc: 40 / 48, macOS: 64 / 48).
SYNC_BYTES = 128
# Spin-wait rounds (one pause instruction each, ~10-50 ns) before a worker sleeps: about
# 100 us, longer than the gaps between the parallel kernels of one call.
WORKER_SPIN = 4000
# Rounds the caller spins for the last chunks before it sleeps.
CALLER_SPIN = 40000
MAX_WORKERS = 255
_GENERATION = (1 << 32) - 1
_COUNT_SHIFT, _NEXT_SHIFT = 32, 48


class _Pool:
    """Emits the pool module: its globals and three functions."""

    def __init__(self) -> None:
        self.module = ir.Module(name="jitflow_pool")
        m = self.module
        self.word = self._global("jf_pool_word", I64)
        self.dispatch = self._global("jf_pool_dispatch", PTR)
        self.number = self._global("jf_pool_number", I32)
        self.buffers = self._global("jf_pool_buffers", PTR)
        self.size = self._global("jf_pool_size", I64)
        self.chunk = self._global("jf_pool_chunk", I64)
        self.done = self._global("jf_pool_done", I32)
        self.busy = self._global("jf_pool_busy", I32)
        self.workers = self._global("jf_pool_workers", I32)
        self.sleepers = self._global("jf_pool_sleepers", I32)
        self.caller_waiting = self._global("jf_pool_caller_waiting", I32)
        self.ready = self._global("jf_pool_ready", I32)  # mutex and conditions initialized
        sync = ir.ArrayType(ir.IntType(8), SYNC_BYTES)
        self.mutex, self.work_posted, self.all_done = (
            self._global(name, sync, align=16)
            for name in ("jf_pool_mutex", "jf_pool_work", "jf_pool_done_cond"))
        declare = lambda name, result, args: ir.Function(m, ir.FunctionType(result, args), name)  # noqa: E731
        self.pthread_create = declare("pthread_create", I32, [PTR, PTR, PTR, PTR])
        self.pthread_detach = declare("pthread_detach", I32, [I64])
        self.mutex_init = declare("pthread_mutex_init", I32, [PTR, PTR])
        self.lock = declare("pthread_mutex_lock", I32, [PTR])
        self.unlock = declare("pthread_mutex_unlock", I32, [PTR])
        self.cond_init = declare("pthread_cond_init", I32, [PTR, PTR])
        self.cond_wait = declare("pthread_cond_wait", I32, [PTR, PTR])
        self.broadcast = declare("pthread_cond_broadcast", I32, [PTR])
        self.signal = declare("pthread_cond_signal", I32, [PTR])
        self.dispatch_type = ir.FunctionType(ir.VoidType(), [I32, PTR, I64, I64])
        self.run_chunk = self._run_chunk()
        self.worker = self._worker()
        self._run()
        self._after_fork()

    def _global(self, name: str, t: ir.Type, align: int = 8) -> ir.GlobalVariable:
        g = ir.GlobalVariable(self.module, t, name)
        g.linkage = "internal"
        g.initializer = ir.Constant(t, None)
        g.align = align
        return g

    # -- small pieces ---------------------------------------------------------------------

    @staticmethod
    def _load(b: ir.IRBuilder, g: ir.GlobalVariable, ordering: str = "seq_cst") -> ir.Value:
        t = g.value_type
        return b.load_atomic(g, ordering, t.width // 8, typ=t)

    @staticmethod
    def _store(b: ir.IRBuilder, value: ir.Value, g: ir.GlobalVariable, ordering: str = "seq_cst") -> None:
        b.store_atomic(value, g, ordering, value.type.width // 8)

    @staticmethod
    def _pause(b: ir.IRBuilder) -> None:
        machine = platform.machine().lower()
        instruction = "pause" if machine in ("x86_64", "amd64", "i686") else (
            "yield" if machine in ("aarch64", "arm64") else "")
        if instruction:
            b.call(ir.InlineAsm(ir.FunctionType(ir.VoidType(), []), instruction, "~{memory}", True), [])

    @staticmethod
    def _field(b: ir.IRBuilder, word: ir.Value, shift: int) -> ir.Value:
        return b.and_(b.lshr(word, ir.Constant(I64, shift)), ir.Constant(I64, 0xFFFF))

    def _claimable(self, b: ir.IRBuilder, word: ir.Value) -> ir.Value:
        return b.icmp_unsigned("<", self._field(b, word, _NEXT_SHIFT), self._field(b, word, _COUNT_SHIFT))

    def _claim_all(self, b: ir.IRBuilder, fn: ir.Function) -> None:
        """Claim and run chunks of the published task until none is left unclaimed."""
        loop = fn.append_basic_block("claim")
        take = fn.append_basic_block("claim.take")
        done = fn.append_basic_block("claim.done")
        b.branch(loop)
        b.position_at_end(loop)
        word = self._load(b, self.word, "acquire")
        b.cbranch(self._claimable(b, word), take, done)
        b.position_at_end(take)
        claimed = b.cmpxchg(self.word, word, b.add(word, ir.Constant(I64, 1 << _NEXT_SHIFT)),
                            "acq_rel", "acquire")
        with b.if_then(b.extract_value(claimed, 1)):
            b.call(self.run_chunk, [b.trunc(self._field(b, word, _NEXT_SHIFT), I32),
                                    b.trunc(self._field(b, word, _COUNT_SHIFT), I32)])
        b.branch(loop)
        b.position_at_end(done)

    def _wait(self, b: ir.IRBuilder, fn: ir.Function, ready: Callable[[ir.IRBuilder], ir.Value], spins: int,
              before_sleep: Callable[[ir.IRBuilder], object], condition: ir.GlobalVariable,
              after_sleep: Callable[[ir.IRBuilder], object]) -> None:
        """Spin up to ``spins`` rounds until ``ready(b)``; then sleep on ``condition`` until it is,
        announcing the sleep with ``before_sleep`` (under the mutex, before the last check)."""
        entry = b.block
        spin = fn.append_basic_block("spin")
        spin_more = fn.append_basic_block("spin.more")
        sleep = fn.append_basic_block("sleep")
        sleep_check = fn.append_basic_block("sleep.check")
        sleep_wait = fn.append_basic_block("sleep.wait")
        woke = fn.append_basic_block("sleep.done")
        done = fn.append_basic_block("waited")
        b.branch(spin)
        b.position_at_end(spin)
        rounds = b.phi(I32)
        rounds.add_incoming(ir.Constant(I32, 0), entry)
        b.cbranch(ready(b), done, spin_more)
        b.position_at_end(spin_more)
        self._pause(b)
        more = b.add(rounds, ir.Constant(I32, 1))
        rounds.add_incoming(more, spin_more)
        b.cbranch(b.icmp_unsigned("<", more, ir.Constant(I32, spins)), spin, sleep)
        b.position_at_end(sleep)
        b.call(self.lock, [self.mutex])
        before_sleep(b)
        b.branch(sleep_check)
        b.position_at_end(sleep_check)
        b.cbranch(ready(b), woke, sleep_wait)
        b.position_at_end(sleep_wait)
        b.call(self.cond_wait, [condition, self.mutex])
        b.branch(sleep_check)
        b.position_at_end(woke)
        after_sleep(b)
        b.call(self.unlock, [self.mutex])
        b.branch(done)
        b.position_at_end(done)

    # -- the functions --------------------------------------------------------------------

    def _run_chunk(self) -> ir.Function:
        """Run chunk ``c`` of ``count`` of the published task, then count it done (and wake
        the caller if it sleeps and this was the last)."""
        fn = ir.Function(self.module, ir.FunctionType(ir.VoidType(), [I32, I32]), "jf_pool_chunk_run")
        fn.linkage = "internal"
        c, count = fn.args
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        size = b.load(self.size, typ=I64)
        chunk = b.load(self.chunk, typ=I64)
        begin = b.mul(b.zext(c, I64), chunk)
        end = b.add(begin, chunk)
        end = b.select(b.icmp_signed(">", end, size), size, end)
        with b.if_then(b.icmp_signed("<", begin, end)):
            # A typed pointer is how llvmlite calls through a pointer (LLVM reads it as ptr).
            dispatch = b.load(self.dispatch, typ=self.dispatch_type.as_pointer())
            b.call(dispatch, [b.load(self.number, typ=I32), b.load(self.buffers, typ=PTR), begin, end])
        finished = b.add(b.atomic_rmw("add", self.done, ir.Constant(I32, 1), "seq_cst"), ir.Constant(I32, 1))
        last = b.icmp_unsigned("==", finished, count)
        caller_sleeps = b.icmp_unsigned("!=", self._load(b, self.caller_waiting), ir.Constant(I32, 0))
        with b.if_then(b.and_(last, caller_sleeps)):
            b.call(self.lock, [self.mutex])
            b.call(self.signal, [self.all_done])
            b.call(self.unlock, [self.mutex])
        b.ret_void()
        return fn

    def _worker(self) -> ir.Function:
        fn = ir.Function(self.module, ir.FunctionType(PTR, [PTR]), "jf_pool_worker")
        fn.linkage = "internal"
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        loop = fn.append_basic_block("serve")
        b.branch(loop)
        b.position_at_end(loop)
        one = ir.Constant(I32, 1)
        self._wait(b, fn, lambda b: self._claimable(b, self._load(b, self.word, "acquire")), WORKER_SPIN,
                   lambda b: b.atomic_rmw("add", self.sleepers, one, "seq_cst"), self.work_posted,
                   lambda b: b.atomic_rmw("sub", self.sleepers, one, "seq_cst"))
        self._claim_all(b, fn)
        b.branch(loop)
        return fn

    def _run(self) -> None:
        signature = [self.dispatch_type.as_pointer(), I32, PTR, I64, I32]
        fn = ir.Function(self.module, ir.FunctionType(ir.VoidType(), signature), RUN)
        dispatch, number, buffers, size, chunks = fn.args
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        zero, one = ir.Constant(I32, 0), ir.Constant(I32, 1)
        most = ir.Constant(I32, 0xFFFF)  # the claim word's 16-bit fields
        chunks = b.select(b.icmp_unsigned(">", chunks, most), most, chunks)
        owned = b.extract_value(b.cmpxchg(self.busy, zero, one, "acquire", "monotonic"), 1)
        alone = b.or_(b.not_(owned), b.icmp_unsigned("<=", chunks, one))
        with b.if_else(alone) as (inline, pooled):
            with inline:
                with b.if_then(owned):
                    self._store(b, zero, self.busy, "release")
                b.call(dispatch, [number, buffers, ir.Constant(I64, 0), size])
            with pooled:
                self._start_workers(b, fn, b.sub(chunks, one))
                b.store(dispatch, self.dispatch)
                b.store(number, self.number)
                b.store(buffers, self.buffers)
                b.store(size, self.size)
                wide = b.zext(chunks, I64)
                b.store(b.udiv(b.add(size, b.sub(wide, ir.Constant(I64, 1))), wide), self.chunk)
                self._store(b, zero, self.done, "monotonic")
                generation = b.add(b.and_(self._load(b, self.word, "monotonic"), ir.Constant(I64, _GENERATION)),
                                   ir.Constant(I64, 1))
                generation = b.and_(generation, ir.Constant(I64, _GENERATION))
                # Chunk 0 is the caller's: published with "next" at 1.
                word = b.or_(b.or_(generation, b.shl(wide, ir.Constant(I64, _COUNT_SHIFT))),
                             ir.Constant(I64, 1 << _NEXT_SHIFT))
                self._store(b, word, self.word)
                with b.if_then(b.icmp_unsigned("!=", self._load(b, self.sleepers), zero)):
                    b.call(self.lock, [self.mutex])
                    b.call(self.broadcast, [self.work_posted])
                    b.call(self.unlock, [self.mutex])
                b.call(self.run_chunk, [zero, chunks])
                self._claim_all(b, fn)
                self._wait(b, fn, lambda b: b.icmp_unsigned("==", self._load(b, self.done, "acquire"), chunks),
                           CALLER_SPIN, lambda b: self._store(b, one, self.caller_waiting), self.all_done,
                           lambda b: self._store(b, zero, self.caller_waiting))
                self._store(b, zero, self.busy, "release")
        b.ret_void()

    def _start_workers(self, b: ir.IRBuilder, fn: ir.Function, wanted: ir.Value) -> None:
        """Create workers until there are ``wanted`` (at most MAX_WORKERS); a failed create
        just leaves fewer (the caller claims what nobody else does)."""
        null = ir.Constant(PTR, None)
        wanted = b.select(b.icmp_unsigned(">", wanted, ir.Constant(I32, MAX_WORKERS)),
                          ir.Constant(I32, MAX_WORKERS), wanted)
        with b.if_then(b.icmp_unsigned("<", b.load(self.workers, typ=I32), wanted)):
            with b.if_then(b.icmp_unsigned("==", b.load(self.ready, typ=I32), ir.Constant(I32, 0))):
                b.call(self.mutex_init, [self.mutex, null])
                b.call(self.cond_init, [self.work_posted, null])
                b.call(self.cond_init, [self.all_done, null])
                b.store(ir.Constant(I32, 1), self.ready)
            handle = b.alloca(I64)
            check = fn.append_basic_block("spawn.check")
            spawn = fn.append_basic_block("spawn")
            spawned = fn.append_basic_block("spawned")
            done = fn.append_basic_block("spawn.done")
            b.branch(check)
            b.position_at_end(check)
            b.cbranch(b.icmp_unsigned("<", b.load(self.workers, typ=I32), wanted), spawn, done)
            b.position_at_end(spawn)
            failed = b.call(self.pthread_create, [handle, null, self.worker, null])
            b.cbranch(b.icmp_signed("==", failed, ir.Constant(I32, 0)), spawned, done)
            b.position_at_end(spawned)
            b.call(self.pthread_detach, [b.load(handle, typ=I64)])
            b.store(b.add(b.load(self.workers, typ=I32), ir.Constant(I32, 1)), self.workers)
            b.branch(check)
            b.position_at_end(done)

    def _after_fork(self) -> None:
        """In a forked child only the forking thread exists: forget the workers, and any task
        or sleep that was under way (the mutex and conditions are made anew)."""
        fn = ir.Function(self.module, ir.FunctionType(ir.VoidType(), []), AFTER_FORK)
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        zero = ir.Constant(I32, 0)
        for g in (self.workers, self.sleepers, self.caller_waiting, self.busy, self.ready, self.done):
            b.store(zero, g)
        b.store(b.and_(b.load(self.word, typ=I64), ir.Constant(I64, _GENERATION)), self.word)
        b.ret_void()


def pool_module() -> ir.Module:
    """The pool's LLVM module (compiled once per process by ``jit.install_thread_pool``)."""
    return _Pool().module
