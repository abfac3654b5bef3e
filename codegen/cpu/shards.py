"""Splitting an executable's LLVM module in two, so that both halves compile at once.

LLVM's O3 pipeline and code generation take most of a first call (an MLP training
step: ~0.5 s of ~0.7 s) and use one core.  Like XLA's CPU backend, which splits its
module for parallel code generation, jitflow moves about half of the kernels (by
estimated compile cost) into a second module.  The two are optimized and
code-generated on two threads (``jit.compile_ir``), each in its own LLVM context, as
LLVM permits.

The main part keeps the entry, the thread dispatch and the remaining kernels.  Each
kernel that moved is replaced there by a three-instruction trampoline that calls through
``FAR_TABLE``, an array of pointers filled in once both halves are finalized; so neither
half needs the other's symbols when it is finalized, and the two finish independently.
A moved kernel takes the kernels it calls with it.  Globals (constants) and
declarations are copied into both halves; the unused copies are dropped by O3.
"""

from __future__ import annotations

from dataclasses import dataclass

from llvmlite import ir

FAR_TABLE = "jf_far_kernels"
# What a loop costs to compile, in instructions: the vectorizer turns a loop into a
# vector body, a remainder and their checks (an elementwise kernel of 40 instructions and
# two loops took ~45 ms, one of 30 instructions around a BLAS call ~10 ms).
LOOP_COST = 100
# Below this many instructions (before optimization) a module compiles in tens of
# milliseconds: a second thread and a second module would cost more than they save.
MIN_SPLIT_INSTRUCTIONS = 600


@dataclass
class Split:
    main: str                # LLVM IR text: the entry and the kernels that stayed
    far: str                 # LLVM IR text: the kernels that moved, external
    far_kernels: list[str]   # the moved kernels, in FAR_TABLE's order

    @property
    def text(self) -> str:
        """Both halves, for reading (``jitflow dump --stage llvm``)."""
        return both_halves(self.main, self.far)


def both_halves(main: str, far: str) -> str:
    """The two halves of a split program as one listing, each under its heading."""
    return f"; main part\n{main}\n; far part (kernels compiled on another thread)\n{far}"


def split_module(module: ir.Module, kernels: list[ir.Function]) -> Split | None:
    """Move kernels from ``module`` until the far half holds about half of the compile
    cost; None when the module is too small, or no kernel can move."""
    defined = [g for g in module.globals.values() if isinstance(g, ir.Function) and not g.is_declaration]
    if sum(_size(fn) for fn in defined) < MIN_SPLIT_INSTRUCTIONS:
        return None
    total = sum(_cost(fn) for fn in defined)
    known = set(defined)
    far: list[ir.Function] = []
    far_cost = 0
    for kernel in sorted(kernels, key=_cost, reverse=True):
        if kernel in far:
            continue
        closure = [fn for fn in _callees(kernel, known) if fn not in far]
        cost = sum(_cost(fn) for fn in closure)
        if far_cost + cost <= total // 2:
            far += closure
            far_cost += cost
    if not far:
        return None
    # Metadata (none today) goes to both halves; the module's text is made only if there is any.
    metadata = ([line for line in str(module).splitlines() if line.startswith("!")]
                if module.metadata or module.namedmetadata else [])
    return Split(main=_main_text(module, far, metadata), far=_far_text(module, far, metadata),
                 far_kernels=[fn.name for fn in far])


def _size(fn: ir.Function) -> int:
    return sum(len(block.instructions) for block in fn.blocks)


def _cost(fn: ir.Function) -> int:
    """Compile cost, roughly: instructions, and ``LOOP_COST`` per loop of a kernel that can
    be vectorized (one that calls out, to BLAS, cannot)."""
    calls_out = any(isinstance(inst, ir.CallInstr) and isinstance(inst.callee, ir.Function)
                    and inst.callee.is_declaration and not inst.callee.name.startswith("llvm.")
                    for block in fn.blocks for inst in block.instructions)
    loops = 0 if calls_out else sum(block.name.endswith(".header") for block in fn.blocks)
    return _size(fn) + LOOP_COST * loops


def _callees(fn: ir.Function, defined: set) -> list[ir.Function]:
    """``fn`` and every defined function it calls, directly or not."""
    found, pending = [fn], [fn]
    while pending:
        for block in pending.pop().blocks:
            for inst in block.instructions:
                callee = getattr(inst, "callee", None)
                if isinstance(inst, ir.CallInstr) and callee in defined and callee not in found:
                    found.append(callee)
                    pending.append(callee)
    return found


def _header(module: ir.Module) -> list[str]:
    types = module.get_identified_types().values()
    return [f'; ModuleID = "{module.name}"'] + [t.get_declaration() for t in types]


def _main_text(module: ir.Module, far: list[ir.Function], metadata: list[str]) -> str:
    slots = {fn: i for i, fn in enumerate(far)}
    lines = _header(module) + [f'@"{FAR_TABLE}" = global [{len(far)} x ptr] zeroinitializer']
    for value in module.globals.values():
        lines.append(_trampoline(value, slots[value], len(far)) if value in slots else str(value))
    return "\n".join(lines + metadata) + "\n"


def _trampoline(fn: ir.Function, slot: int, count: int) -> str:
    """``fn`` as a call through its slot of the far table, with the same signature."""
    params = ", ".join(f"{arg.type} %a{i}" for i, arg in enumerate(fn.args))
    result = fn.function_type.return_type
    call = f"call {result} %target({params})"
    return "\n".join([
        f'define internal {result} @"{fn.name}"({params})',
        "{",
        "entry:",
        f'  %slot = getelementptr inbounds [{count} x ptr], ptr @"{FAR_TABLE}", i64 0, i64 {slot}',
        "  %target = load ptr, ptr %slot",
        f"  {call}" if str(result) == "void" else f"  %result = {call}",
        "  ret void" if str(result) == "void" else f"  ret {result} %result",
        "}"])


def _far_text(module: ir.Module, far: list[ir.Function], metadata: list[str]) -> str:
    lines = _header(module)
    for value in module.globals.values():
        if not isinstance(value, ir.Function) or value.is_declaration:
            lines.append(str(value))
        elif value in far:
            # External, so that its address can be looked up once it is compiled.
            lines.append(str(value).replace("define internal ", "define ", 1))
    return "\n".join(lines + metadata) + "\n"
