"""The pattern-rewrite API and its greedy driver."""

from __future__ import annotations

import numpy as np
import pytest

from jitflow.errors import IRError
from jitflow.ir import DType, Instruction, parse_module, verify
from jitflow.passes import (PatternRewriter, RewriteError, RewritePattern,
                            apply_patterns_greedily, pattern, splat_value)

from passes_util import opcodes

CHAIN = """
HloModule m
ENTRY %main (x: s32[4]) -> s32[4] {
  %x = s32[4] parameter(0)
  %two = s32[] constant(2)
  %twos = s32[4] broadcast(%two), dimensions={}
  %a = s32[4] multiply(%x, %twos)
  %b = s32[4] multiply(%a, %twos)
  ROOT %c = s32[4] multiply(%b, %twos), metadata={source_file="m.py" source_line=3}
}"""


@pattern("multiply")
def double_to_add(inst: Instruction, rewriter: PatternRewriter) -> bool:
    x, factor = inst.operands
    if splat_value(factor) != 2:
        return False
    return rewriter.replace(inst, rewriter.builder.add(x, x))


def test_a_pattern_rewrites_every_match_to_a_fixpoint():
    module = parse_module(CHAIN)
    assert apply_patterns_greedily(module, [double_to_add]) is True
    verify(module)
    # The broadcast lost its last user and went with its constant.
    assert opcodes(module) == ["parameter", "add", "add", "add"]
    root = module.entry.root
    assert root.opcode == "add" and root.operand(0).opcode == "add"
    assert root.source.line == 3  # new instructions carry the matched one's source
    assert apply_patterns_greedily(module, [double_to_add]) is False


def test_patterns_are_offered_only_their_opcodes():
    seen: list[str] = []

    @pattern("broadcast", "constant")
    def record(inst, rewriter):
        seen.append(inst.opcode)
        return False

    apply_patterns_greedily(parse_module(CHAIN), [record])
    assert sorted(seen) == ["broadcast", "constant"]


def test_a_class_pattern_without_opcodes_sees_everything():
    class Count(RewritePattern):
        def __init__(self):
            self.count = 0

        def match_and_rewrite(self, inst, rewriter):
            self.count += 1
            return False

    counter = Count()
    assert apply_patterns_greedily(parse_module(CHAIN), [counter]) is False
    assert counter.count == 6


def test_dead_instructions_go_unless_asked_to_stay():
    root = "ROOT %c = s32[4] multiply(%b, %twos)"
    module = parse_module(CHAIN.replace(root, "%unused = s32[4] negate(%x)\n  " + root))
    assert apply_patterns_greedily(module, [], erase_dead=False) is False
    assert apply_patterns_greedily(module, []) is True
    assert "negate" not in opcodes(module)


def test_rewrites_of_new_instructions_are_visited():
    @pattern("add")
    def add_to_subtract(inst, rewriter):
        x, y = inst.operands
        return rewriter.replace(inst, rewriter.builder.subtract(x, y))

    module = parse_module(CHAIN)
    apply_patterns_greedily(module, [double_to_add, add_to_subtract])
    assert opcodes(module) == ["parameter", "subtract", "subtract", "subtract"]


def test_patterns_that_undo_each_other_are_reported():
    @pattern("add")
    def add_to_multiply(inst, rewriter):
        x, _ = inst.operands
        two = rewriter.builder.broadcast(rewriter.builder.constant(np.int32(2)), shape=(4,),
                                         dimensions=())
        return rewriter.replace(inst, rewriter.builder.multiply(x, two))

    with pytest.raises(RewriteError, match="keep rewriting computation 'main'"):
        apply_patterns_greedily(parse_module(CHAIN), [double_to_add, add_to_multiply])


def test_a_pattern_must_report_what_it_did():
    @pattern("multiply")
    def claims(inst, rewriter):
        return True

    @pattern("multiply")
    def hides(inst, rewriter):
        rewriter.builder.negate(inst.operand(0))
        return False

    @pattern("multiply")
    def returns_none(inst, rewriter):
        return None

    with pytest.raises(RewriteError, match="returned True for %a without changing the IR"):
        apply_patterns_greedily(parse_module(CHAIN), [claims])
    with pytest.raises(RewriteError, match="returned False for %a after changing the IR"):
        apply_patterns_greedily(parse_module(CHAIN), [hides])
    with pytest.raises(RewriteError, match="returned None"):
        apply_patterns_greedily(parse_module(CHAIN), [returns_none])


def test_replace_checks_types():
    @pattern("multiply")
    def wrong(inst, rewriter):
        return rewriter.replace(inst, rewriter.builder.convert(inst.operand(0), dtype=DType.F32))

    module = parse_module(CHAIN)
    with pytest.raises(IRError, match=r"cannot replace %a \(s32\[4\]\) with %convert \(f32\[4\]\)"):
        apply_patterns_greedily(module, [wrong])


def test_the_driver_stops_after_max_sweeps():
    elsewhere = parse_module(CHAIN).entry.root
    sweeps = []

    @pattern("parameter")
    def non_local(inst, rewriter):
        # Claims a change the worklist cannot follow (outside this computation), as a
        # pattern depending on far-away IR would: it fires again on every sweep.
        sweeps.append(inst.name)
        rewriter.touched.append(elsewhere)
        return True

    with pytest.raises(RewriteError,
                       match=r"did not reach a fixpoint in 3 sweeps \(last applied: non_local\)"):
        apply_patterns_greedily(parse_module(CHAIN), [non_local], max_sweeps=3)
    assert sweeps == ["x"] * 3


def test_numpy_booleans_are_fine_answers():
    @pattern("multiply")
    def terse(inst, rewriter):
        x, factor = inst.operands
        return splat_value(factor) == 3 and rewriter.replace(inst, x)  # np.False_ when no match

    assert apply_patterns_greedily(parse_module(CHAIN), [terse]) is False
