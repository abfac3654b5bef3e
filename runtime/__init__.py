"""Runtime: compile IR modules to executables, with an in-process cache by module text."""

from __future__ import annotations

import collections
import hashlib
import os
import re
import threading
import time

from ..errors import BackendError
from ..ir import Module, leaf_types, print_module
from .executable import ARRAY_LAYOUT, Executable, InputError

TARGETS = ("cpu", "cuda")
_CACHE_SIZE = 256
# ctypes calls a C function with at most 1024 arguments: a program with more arrays in and
# out than this takes them as one table of data pointers (checked in Python) instead.
MAX_NATIVE_ARGUMENTS = 1000
_cache: "collections.OrderedDict[tuple[str, str], Executable]" = collections.OrderedDict()
_lock = threading.Lock()


def _hold_cache_across_fork() -> None:
    """The child of a fork gets the cache in a consistent state and a free lock (the
    parent's could be held by a thread that does not exist in the child)."""
    def fresh_lock_in_child() -> None:
        global _lock
        _lock = threading.Lock()

    os.register_at_fork(before=lambda: _lock.acquire(), after_in_parent=lambda: _lock.release(),
                        after_in_child=fresh_lock_in_child)


if hasattr(os, "register_at_fork"):
    _hold_cache_across_fork()


def cache_text(module: Module) -> str:
    """The module's text without what cannot change its executable: its name.  Layouts
    stay, and so does a current buffer plan: codegen honors both."""
    text = re.sub(r"\AHloModule \S+", "HloModule m", print_module(module))
    plan = getattr(module, "buffer_plan", None)
    if plan is not None and plan.is_current(module):
        text += "\n" + plan.report()
    return text


def compile(module: Module, target: str = "cpu") -> Executable:
    """Compile ``module`` for ``target``; the same module text compiles once per process.

    The executable takes the entry parameters as arrays (tuple parameters flattened)
    and returns the root value: an array, or a tuple of arrays for a tuple root.
    """
    if target not in TARGETS:
        raise BackendError(f"unknown compilation target {target!r} (available: {', '.join(TARGETS)})")
    start = time.perf_counter()
    key = (target, hashlib.sha256(cache_text(module).encode()).hexdigest())
    with _lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached
    if target == "cuda":  # cupy arrays in and out; see runtime/cuda.py
        from .cuda import compile_cuda

        executable = compile_cuda(module)
    else:
        from ..codegen.cpu import compile_module

        arrays = sum(len(leaf_types(p.type)) for p in module.entry.parameters) + len(
            leaf_types(module.entry.result_type)) + 1  # + 1: a workspace, if it needs one
        compiled, plan, stats = compile_module(module, ARRAY_LAYOUT if arrays <= MAX_NATIVE_ARGUMENTS else None)
        stats["compile_total_s"] = time.perf_counter() - start
        executable = Executable(compiled, plan, stats)
    with _lock:  # bounded for both targets
        _cache[key] = executable
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return executable


__all__ = ["Executable", "InputError", "TARGETS", "compile"]
