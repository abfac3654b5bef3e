"""A measured FP32 FMA peak: independent vector FMA chains (llvmlite, a jitflow dependency), one thread per core."""

import ctypes
import os
import threading
import time

import llvmlite.binding as llvm


def fma_peak_gflops(seconds=0.2):
    """(GFLOP/s, vector width, engine): FMA chains long enough to hide latency, one thread per core
    (ctypes calls release the GIL).  Keep the engine alive while its code may run."""
    llvm.initialize_native_target(); llvm.initialize_native_asmprinter()
    feats = llvm.get_host_cpu_features().flatten()
    w = 16 if "+avx512f" in feats else 8
    chains = 12
    vt = f"<{w} x float>"
    body = "\n".join(f"  %a{i} = phi {vt} [ zeroinitializer, %entry ], [ %n{i}, %loop ]" for i in range(chains))
    upd = "\n".join(f"  %n{i} = call {vt} @llvm.fma.v{w}f32({vt} %a{i}, {vt} %m, {vt} %c)" for i in range(chains))
    red = ["  %s0 = fadd " + vt + " %n0, %n1"] + [f"  %s{i-1} = fadd {vt} %s{i-2}, %n{i}" for i in range(2, chains)]
    ir = f"""
declare {vt} @llvm.fma.v{w}f32({vt}, {vt}, {vt})
define void @k(i64 %count, ptr %out) {{
entry:
  %m = insertelement {vt} poison, float 0x3FEFFFFFE0000000, i32 0
  %c = insertelement {vt} poison, float 0x3E80000000000000, i32 0
  br label %loop
loop:
  %i = phi i64 [ 0, %entry ], [ %i1, %loop ]
{body}
{upd}
  %i1 = add i64 %i, 1
  %done = icmp eq i64 %i1, %count
  br i1 %done, label %exit, label %loop
exit:
{chr(10).join(red)}
  store {vt} %s{chains-2}, ptr %out, align 4
  ret void
}}
"""
    mod = llvm.parse_assembly(ir); mod.verify()
    tm = llvm.Target.from_default_triple().create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=feats, opt=2)
    engine = llvm.create_mcjit_compiler(mod, tm); engine.finalize_object()
    fn = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_void_p)(engine.get_function_address("k"))
    outs = [(ctypes.c_float * w)() for _ in range(os.cpu_count())]
    n = 1 << 16
    while True:
        t = time.perf_counter(); fn(n, ctypes.addressof(outs[0])); dt = time.perf_counter() - t
        if dt > seconds / 4: break
        n *= 2
    best = 0.0
    for _ in range(3):
        ts = [threading.Thread(target=fn, args=(n, ctypes.addressof(o))) for o in outs]
        t = time.perf_counter()
        for th in ts: th.start()
        for th in ts: th.join()
        best = max(best, len(outs) * n * chains * w * 2 / (time.perf_counter() - t) / 1e9)
    return best, w, engine
