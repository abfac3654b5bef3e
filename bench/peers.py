"""Which backends are installed, their versions, and what machine this is."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform

# backend name -> (module to import, distributions whose version we report)
BACKENDS = {
    "jitflow": ("jitflow", ["jitflow", "llvmlite"]),
    "numpy": ("numpy", ["numpy"]),
    "jax": ("jax", ["jax", "jaxlib"]),
    "torch": ("torch", ["torch"]),
    "numba": ("numba", ["numba"]),
    "tf": ("tensorflow", ["tensorflow", "tensorflow-cpu"]),
}
LABELS = {"jitflow": "jitflow", "numpy": "NumPy", "jax": "jax.jit", "torch": "torch.compile",
          "numba": "Numba @njit", "tf": "tf.function(XLA)"}


def available(backend: str) -> bool:
    return importlib.util.find_spec(BACKENDS[backend][0]) is not None


def versions(backend: str) -> dict:
    out = {}
    for dist in BACKENDS[backend][1]:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def cpuinfo() -> dict:
    info = {"model": platform.processor() or platform.machine(), "mhz": None, "flags": set(), "vendor": ""}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if key == "model name":
                    info["model"] = value
                elif key == "cpu MHz" and info["mhz"] is None:
                    info["mhz"] = float(value)
                elif key == "flags" and not info["flags"]:
                    info["flags"] = set(value.split())
                elif key == "vendor_id":
                    info["vendor"] = value
    except OSError:
        pass
    return info


def fp32_flops_per_cycle(info: dict) -> int:
    """FP32 FLOP per cycle per core: SIMD lanes x 2 (FMA) x FMA pipes, from the ISA flags.

    AVX-512 on AMD Zen 4 runs on two 256-bit pipes (32); on Intel server parts two 512-bit
    pipes (64).  AVX2+FMA: two 256-bit pipes (32).  Otherwise SSE: 2 x 4 lanes x 2 (16).
    """
    flags = info["flags"]
    if "avx512f" in flags:
        return 32 if "AMD" in info["vendor"] else 64
    if "avx2" in flags and "fma" in flags:
        return 32
    return 16


def machine() -> dict:
    info = cpuinfo()
    mem = None
    try:
        with open("/proc/meminfo") as f:
            mem = round(int(f.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    isa = [f for f in ("avx512f", "avx2", "fma") if f in info["flags"]]
    return {"cpu": info["model"], "vendor": info["vendor"], "cores": os.cpu_count(), "mhz": info["mhz"],
            "isa": isa, "mem_gib": mem, "os": platform.platform(), "python": platform.python_version(),
            "loadavg_at_end": [round(x, 2) for x in os.getloadavg()]}
