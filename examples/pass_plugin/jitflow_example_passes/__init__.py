"""Example jitflow passes, one of each kind.

* ``double-to-add``: a function pass built from a rewrite pattern, turning
  ``x * 2`` into ``x + x`` (exact for every element type: doubling rounds the
  same way either way, and integers wrap alike).
* ``count-ops{top=N}``: a class pass with an option; it prints how many
  instructions of each opcode the module holds and changes nothing.
"""

from __future__ import annotations

import sys
from collections import Counter

import jitflow
from jitflow.ir import Instruction, Module
from jitflow.passes import (Pass, PatternRewriter, apply_patterns_greedily, option, pattern,
                            splat_value)


@pattern("multiply")
def double(inst: Instruction, rewriter: PatternRewriter) -> bool:
    for x, factor in (inst.operands, inst.operands[::-1]):
        if splat_value(factor) == 2:
            return rewriter.replace(inst, rewriter.builder.add(x, x))
    return False


@jitflow.register_pass("double-to-add")
def double_to_add(module: Module) -> bool:
    """Rewrite x * 2 into x + x."""
    return apply_patterns_greedily(module, [double])


@jitflow.register_pass("count-ops")
class CountOps(Pass):
    """Print how many instructions of each opcode the module holds (to standard error)."""

    top: int = option(0, "print only the N most frequent opcodes (0: all)")

    def check_options(self) -> None:
        if self.top < 0:
            raise self.option_error("top", "must be at least 0")

    def run(self, module: Module) -> bool:
        counts = Counter(inst.opcode for inst in module.instructions())
        for opcode, count in counts.most_common(self.top or None):
            print(f"{count:6d}  {opcode}", file=sys.stderr)
        return False
