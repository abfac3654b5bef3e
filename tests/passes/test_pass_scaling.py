"""Every pass, the verifier and the printer take time linear (or n log n) in the program:
a 10x larger module costs about 10x, not 100x (issue 16: CSE and fuse erased with
``list.remove``, tracing listed every parameter per new parameter, sibling fusion looked
at every pair of readers of an input)."""

from __future__ import annotations

import gc
import time

import pytest

from jitflow.ir import parse_module, print_module, verify
from jitflow.passes import DEFAULT_PIPELINE, PassManager

ROW = "f32[64,64]"
MAX = "%max (a: f32[], b: f32[]) -> f32[] {\n  %a = f32[] parameter(0)\n  %b = f32[] parameter(1)\n" \
      "  ROOT %m = f32[] maximum(%a, %b)\n}\n\n"


def chain(n: int) -> str:
    """Elementwise ops in a row, each with a broadcast constant (3 instructions per op)."""
    lines = [f"  %x0 = {ROW} parameter(0)"]
    for i in range(1, n // 3):
        op = "multiply" if i % 2 else "add"
        lines += [f"  %c{i} = f32[] constant({1 + i % 7}.5)",
                  f"  %b{i} = {ROW} broadcast(%c{i}), dimensions={{}}",
                  f"  %v{i} = {ROW} {op}({_previous(i)}, %b{i})"]
    return _module("", lines, f"%v{n // 3 - 1}", ROW, [ROW])


def _previous(i: int) -> str:
    return "%x0" if i == 1 else f"%v{i - 1}"


def reductions(n: int) -> str:
    """``x = x - max(x, axis=1, keepdims=True)`` repeated (5 instructions per step)."""
    lines = [f"  %x0 = {ROW} parameter(0)"]
    for i in range(1, n // 5):
        lines += [f"  %c{i} = f32[] constant(-inf)",
                  f"  %r{i} = f32[64] reduce({_previous(i)}, %c{i}), dimensions={{1}}, to_apply=%max",
                  f"  %s{i} = f32[64,1] reshape(%r{i})",
                  f"  %b{i} = {ROW} broadcast(%s{i}), dimensions={{0,1}}",
                  f"  %v{i} = {ROW} subtract({_previous(i)}, %b{i})"]
    return _module(MAX, lines, f"%v{n // 5 - 1}", ROW, [ROW])


def wide_tree(n: int) -> str:
    """A balanced binary tree of adds over scaled row slices of two parameters, 6
    instructions per leaf.  After CSE each of the 4 distinct slices feeds n/24 leaves: a
    wide fan-out, where sibling fusion looked at every pair of readers."""
    leaves = max(2, n // 6)
    lines = [f"  %x{k} = {ROW} parameter({k})" for k in range(2)]
    level = []
    for i in range(leaves):
        row = i % 4
        lines += [f"  %s{i} = f32[1,64] slice(%x{i % 2}), slice={{[{row}:{row + 1}], [0:64]}}",
                  f"  %r{i} = f32[64] reshape(%s{i})",
                  f"  %c{i} = f32[] constant({i}.5)",
                  f"  %b{i} = f32[64] broadcast(%c{i}), dimensions={{}}",
                  f"  %l{i} = f32[64] multiply(%r{i}, %b{i})"]
        level.append(f"%l{i}")
    count = 0
    while len(level) > 1:
        paired = []
        for a, b in zip(level[0::2], level[1::2]):
            lines.append(f"  %t{count} = f32[64] add({a}, {b})")
            paired.append(f"%t{count}")
            count += 1
        level = paired + level[len(level) - len(level) % 2:]
    return _module("", lines, level[0], "f32[64]", [ROW] * 2)


def _module(head: str, lines: list[str], root: str, result: str, params: list[str]) -> str:
    signature = ", ".join(f"x{k}: {t}" for k, t in enumerate(params))
    lines[-1] = lines[-1].replace(f"  {root} =", f"  ROOT {root} =")
    return (f"HloModule scaling\n\n{head}ENTRY %main ({signature}) -> {result} {{\n"
            + "\n".join(lines) + "\n}\n")


def _phase_s(generate, n: int) -> dict[str, float]:
    """Seconds per phase: verify, each pass of the default pipeline, the verifier after
    each pass (together), printing."""
    module = parse_module(generate(n))
    # Without the cycle collector: one of its full collections (0.1-0.2 s on a module this
    # size) lands in whichever phase runs then, which says nothing about that phase.
    gc.collect()
    gc.disable()
    try:
        return _phases(module)
    finally:
        gc.enable()


def _phases(module) -> dict[str, float]:
    start = time.perf_counter()
    verify(module)
    times = {"verify": time.perf_counter() - start}
    manager = PassManager(DEFAULT_PIPELINE, verify=True)
    manager.run(module)
    times.update((t.pass_text, t.seconds) for t in manager.timings)
    times["verify after each pass"] = manager.verify_seconds
    start = time.perf_counter()
    print_module(module)
    times["print"] = time.perf_counter() - start
    times["all"] = sum(times.values())
    return times


# A phase this fast on the large module is fast enough whatever its ratio (a ratio of
# milliseconds is noise on a loaded machine).
FAST_ENOUGH_S = 0.25


@pytest.mark.parametrize("generate", [chain, reductions, wide_tree])
def test_pipeline_time_is_linear_in_the_module(generate):
    runs = [_phase_s(generate, 2_000) for _ in range(3)]
    small = {phase: min(run[phase] for run in runs) for phase in runs[0]}
    large = _phase_s(generate, 20_000)
    # 10x the instructions: ~10x when linear, ~100x when quadratic.  The bound leaves room
    # for a loaded machine and for n log n.
    slow = {phase: f"{small[phase]:.3f} s -> {seconds:.3f} s" for phase, seconds in large.items()
            if seconds > max(25 * small[phase], FAST_ENOUGH_S)}
    assert not slow, f"{generate.__name__}, 2k -> 20k instructions: {slow}"
