"""The verifier: each invariant, broken the way a buggy pass would, is reported with its place."""

from __future__ import annotations

import re
from types import MappingProxyType, SimpleNamespace

import numpy as np
import pytest

from jitflow.errors import JitflowError, SourceLocation, VerificationError
from jitflow.ir.limits import MAX_CALL_DEPTH
from jitflow.ir import (Builder, DType, Instruction, Module, TensorType, build_scalar_computation,
                        parse_module, print_module, scalar, verify)

F32, S32, PRED = DType.F32, DType.S32, DType.PRED
VEC = TensorType(F32, (2,))


def problems(module: Module) -> list[str]:
    """The problems ``verify`` lists, one per line."""
    with pytest.raises(VerificationError) as info:
        verify(module)
    header, *lines = str(info.value).split("\n")
    assert header == "IR verification failed:"
    assert lines and all(line.startswith("  ") for line in lines)
    return [line[2:] for line in lines]


def simple() -> SimpleNamespace:
    """main(x) = negate(x) + x, each instruction with its own source line in prog.py."""
    module = Module("m")
    b = Builder(module.add_computation("main", entry=True),
                source=SourceLocation("prog.py", 10, "f"))
    x = b.parameter(VEC, name="x")
    with b.at(SourceLocation("prog.py", 11, "f")):
        n = b.negate(x, name="n")
    with b.at(SourceLocation("prog.py", 12, "f")):
        a = b.add(n, x, name="a")
    b.set_root(a)
    verify(module)
    return SimpleNamespace(module=module, b=b, c=b.computation, x=x, n=n, a=a)


def control_flow() -> SimpleNamespace:
    """A module with a reduce, a while loop and a conditional, all valid."""
    module = Module("cf")
    reducer = build_scalar_computation(module, "sum", "add", F32)
    cond = module.builder("cond")
    i = cond.parameter(scalar(S32), name="i")
    cond.set_root(cond.compare(i, cond.constant(np.int32(5), name="limit"), direction="LT"))
    body = module.builder("body")
    j = body.parameter(scalar(S32), name="j")
    body.set_root(body.add(j, body.constant(np.int32(1), name="step"), name="next"))
    yes = module.builder("yes")
    yes.set_root(yes.negate(yes.parameter(VEC, name="yes_in"), name="yes_out"))
    no = module.builder("no")
    no.set_root(no.abs(no.parameter(VEC, name="no_in"), name="no_out"))

    b = module.builder("main", entry=True)
    x = b.parameter(VEC, name="x")
    start = b.parameter(scalar(S32), name="start")
    flag = b.parameter(scalar(PRED), name="flag")
    zero = b.constant(np.float32(0), name="zero")
    total = b.reduce(x, zero, dimensions=(0,), called=[reducer], name="total")
    loop = b.emit("while", start, called=[cond.computation, body.computation], name="loop")
    branch = b.conditional(flag, x, x, called=[yes.computation, no.computation], name="branch")
    b.set_root(b.tuple(total, loop, branch, name="out"))
    verify(module)
    return SimpleNamespace(module=module, c=b.computation, reducer=reducer, cond=cond.computation,
                           body=body.computation, yes=yes.computation, no=no.computation,
                           total=total, loop=loop, branch=branch, x=x)


# ---------------------------------------------------------------------------
# valid modules

def test_valid_modules_pass():
    assert verify(simple().module) is None
    assert verify(control_flow().module) is None


def test_parsed_and_printed_modules_pass():
    module = control_flow().module
    verify(parse_module(print_module(module)))


def test_verification_error_is_a_jitflow_error():
    assert issubclass(VerificationError, JitflowError)


# ---------------------------------------------------------------------------
# types against the op table

def test_type_mismatch_names_computation_instruction_and_source_line():
    p = simple()
    p.n.type = TensorType(F32, (3,))
    found = problems(p.module)
    assert found[0] == ("in computation 'main', %n (negate) from prog.py:11 (in f): type f32[3] "
                        "does not match f32[2] inferred from operands (f32[2])")
    # Its user now sees mismatched operands too.
    assert found[1].startswith("in computation 'main', %a (add) from prog.py:12 (in f): operands "
                               "must have the same shape and type")
    assert len(found) == 2


def test_hand_made_instruction_with_a_wrong_type():
    p = simple()
    bad = Instruction("bad", "add", [p.x, p.x], TensorType(S32, (2,)))
    p.c.append(bad)
    assert problems(p.module) == [
        "in computation 'main', %bad (add): type s32[2] does not match f32[2] inferred from "
        "operands (f32[2], f32[2])"]


def test_dtype_is_checked_but_layout_is_not():
    p = simple()
    p.n.type = TensorType(F32, (2,), (0,))
    verify(p.module)
    p.n.type = TensorType(DType.F64, (2,))
    assert "type f64[2] does not match f32[2] inferred" in problems(p.module)[0]


def test_bad_attributes_and_arity_and_opcode():
    p = simple()
    p.n.attrs = MappingProxyType({"dimensions": (0,)})
    p.c.append(Instruction("w", "frobnicate", [p.x], VEC))
    p.c.append(Instruction("two", "negate", [p.x, p.x], VEC))
    assert problems(p.module) == [
        "in computation 'main', %n (negate) from prog.py:11 (in f): negate has no attribute "
        "'dimensions' (its attributes: none)",
        "in computation 'main', %w (frobnicate): unknown opcode 'frobnicate'",
        "in computation 'main', %two (negate): negate takes 1 operand(s), got 2",
    ]


# ---------------------------------------------------------------------------
# SSA

def test_use_before_definition():
    p = simple()
    instructions = p.c.instructions
    instructions[1], instructions[2] = instructions[2], instructions[1]  # a before n
    assert problems(p.module) == [
        "in computation 'main', %a (add) from prog.py:12 (in f): operand %n is not defined before "
        "its use in this computation"]


def test_operand_from_another_computation():
    p = simple()
    other = p.module.builder("other")
    y = other.set_root(other.parameter(VEC, name="y"))
    p.a._operands[1] = y
    y._users[p.a] = None
    found = problems(p.module)
    assert found == ["in computation 'main', %x (parameter) from prog.py:10 (in f): lists %a as a "
                     "user, which does not use it",
                     "in computation 'main', %a (add) from prog.py:12 (in f): operand %y is not "
                     "defined before its use in this computation"]


def test_duplicate_names_across_computations():
    p = simple()
    other = p.module.builder("other")
    y = other.parameter(VEC, name="y")
    clash = Instruction("n", "negate", [y], VEC)
    other.computation.append(clash)
    other.set_root(clash)
    assert problems(p.module) == [
        "in computation 'other', %n (negate): name %n is already used in computation 'main'"]


def test_duplicate_names_in_one_computation():
    p = simple()
    p.c.insert_after(p.a, Instruction("x", "abs", [p.a], VEC))
    assert problems(p.module) == [
        "in computation 'main', %x (abs): name %x is already used in computation 'main'"]


def test_broken_use_def_links():
    p = simple()
    # %a's first operand becomes %x behind the mutators' back: %x lists %a (it did
    # already), but %n still lists %a though %a no longer uses it.
    p.a._operands[0] = p.x
    assert problems(p.module) == [
        "in computation 'main', %n (negate) from prog.py:11 (in f): lists %a as a user, which "
        "does not use it"]


def test_operand_not_listing_its_user():
    p = simple()
    b = Builder(p.c)
    c = b.constant(np.zeros(2, np.float32), name="c")
    p.c.instructions.remove(c)
    p.c.instructions.insert(0, c)
    p.a._operands[1] = c  # %a uses %c, which does not know; %x still thinks %a uses it
    assert problems(p.module) == [
        "in computation 'main', %x (parameter) from prog.py:10 (in f): lists %a as a user, which "
        "does not use it",
        "in computation 'main', %a (add) from prog.py:12 (in f): operand %c does not list it as a "
        "user"]


def test_instruction_not_pointing_back():
    p = simple()
    p.n.parent = None
    assert problems(p.module) == [
        "in computation 'main', %n (negate) from prog.py:11 (in f): instruction does not point "
        "back to its computation"]


# ---------------------------------------------------------------------------
# ROOT and parameters

def test_missing_root():
    p = simple()
    p.c.root = None
    assert problems(p.module) == ["computation 'main' has no ROOT"]


def test_root_in_another_computation():
    p = simple()
    other = p.module.builder("other")
    y = other.set_root(other.parameter(VEC, name="y"))
    p.c.root = y
    assert problems(p.module) == ["ROOT %y of 'main' is not in it"]


def test_root_removed_from_the_instruction_list():
    p = simple()
    p.c.instructions.remove(p.a)  # the ROOT, removed without erase()
    assert problems(p.module) == ["ROOT %a of 'main' is not in it"]


def test_parameter_numbering_gap():
    p = simple()
    p.c.insert(1, Instruction("z", "parameter", [], VEC, {"parameter_number": 2}))
    assert problems(p.module) == ["computation 'main' has parameter numbers [0, 2]; expected 0..1"]


def test_parameter_numbered_twice():
    p = simple()
    p.c.insert(1, Instruction("z", "parameter", [], VEC, {"parameter_number": 0}))
    assert problems(p.module) == ["computation 'main' has parameter numbers [0, 0]; expected 0..1"]


def test_parameter_without_a_number():
    p = simple()
    p.c.insert(1, Instruction("z", "parameter", [], VEC))
    assert problems(p.module) == [
        "in computation 'main', %z (parameter): parameter needs attribute 'parameter_number'"]


def test_missing_entry():
    p = simple()
    p.module.entry_name = None
    assert problems(p.module) == ["module 'm' has no ENTRY computation"]
    p.module.entry_name = "gone"
    assert problems(p.module) == ["module 'm' has no ENTRY computation"]


# ---------------------------------------------------------------------------
# called computations

def test_reducer_with_the_wrong_signature():
    p = control_flow()
    wrong = build_scalar_computation(p.module, "isum", "add", S32)
    p.total.called = (wrong,)
    assert problems(p.module) == [
        "in computation 'main', %total (reduce): reducer computation 'isum' takes (s32[], s32[]) "
        "but is given (f32[], f32[])"]


def test_reducer_changed_in_place():
    p = control_flow()
    p.reducer.parameters[1].type = scalar(S32)
    found = problems(p.module)
    assert found[0].startswith("in computation 'sum', %add (add): operands must have the same "
                               "shape and type: operand 0 is f32[], operand 1 is s32[]")
    assert found[1] == ("in computation 'main', %total (reduce): reducer computation 'sum' takes "
                        "(f32[], s32[]) but is given (f32[], f32[])")


def test_while_body_returning_the_wrong_type():
    p = control_flow()
    b = p.module.builder("body2")
    b.set_root(b.convert(b.parameter(scalar(S32), name="k"), dtype=F32, name="k_f32"))
    p.loop.called = (p.cond, b.computation)
    assert problems(p.module) == [
        "in computation 'main', %loop (while): while body computation 'body2' returns f32[], "
        "expected s32[]"]


def test_while_condition_not_returning_pred():
    p = control_flow()
    p.loop.called = (p.body, p.body)
    assert problems(p.module) == [
        "in computation 'main', %loop (while): while condition computation 'body' returns s32[], "
        "expected pred[]"]


def test_while_with_one_called_computation():
    p = control_flow()
    p.loop.called = (p.cond,)
    assert problems(p.module) == [
        "in computation 'main', %loop (while): while calls 2 computation(s) (condition, body), "
        "got 1"]


def test_conditional_branch_result_mismatch():
    p = control_flow()
    b = p.module.builder("no2")
    b.set_root(b.convert(b.parameter(VEC, name="no2_in"), dtype=S32, name="no2_out"))
    p.branch.called = (p.yes, b.computation)
    assert problems(p.module) == [
        "in computation 'main', %branch (conditional): branch computation 'no2' returns s32[2], "
        "expected f32[2]"]


def test_conditional_branch_parameter_mismatch():
    p = control_flow()
    p.branch.called = (p.yes, p.body)
    assert problems(p.module) == [
        "in computation 'main', %branch (conditional): branch computation 'body' takes (s32[]) but "
        "is given (f32[2])"]


def test_calling_a_computation_not_in_the_module():
    p = control_flow()
    elsewhere = Module("elsewhere")
    foreign = build_scalar_computation(elsewhere, "sum", "add", F32)
    p.total.called = (foreign,)
    assert problems(p.module) == [
        "in computation 'main', %total (reduce): calls computation 'sum', which is not in the "
        "module"]


def test_recursive_computations():
    module = Module("rec")
    a = module.builder("a")
    b = module.builder("b")
    pa = a.parameter(scalar(S32), name="pa")
    pb = b.parameter(scalar(S32), name="pb")
    a.set_root(pa)
    b.set_root(b.call(pb, called=[a.computation], name="b_calls_a"))
    a.set_root(a.call(pa, called=[b.computation], name="a_calls_b"))
    main = module.builder("main", entry=True)
    main.set_root(main.call(main.parameter(scalar(S32), name="n"), called=[a.computation]))
    found = problems(module)
    assert len(found) == 1
    assert re.fullmatch(r"computations call each other recursively: (a -> b -> a|b -> a -> b)",
                        found[0])


def test_computation_calling_itself():
    module = Module("self")
    a = module.builder("loop_forever", entry=True)
    p = a.parameter(scalar(S32), name="p")
    a.set_root(p)
    a.set_root(a.call(p, called=[a.computation], name="again"))
    assert problems(module) == [
        "computations call each other recursively: loop_forever -> loop_forever"]


def test_callee_without_root_is_reported_once():
    p = control_flow()
    p.reducer.root = None
    assert problems(p.module) == ["computation 'sum' has no ROOT"]


# ---------------------------------------------------------------------------
# several problems at once

def test_all_problems_are_listed():
    p = simple()
    p.n.type = TensorType(F32, (3,))  # type mismatch (and its user's)
    other = p.module.builder("other")
    y = other.parameter(VEC, name="y")
    other.computation.append(Instruction("a", "negate", [y], VEC))  # duplicate name; no ROOT
    p.c.insert(1, Instruction("z", "parameter", [], VEC, {"parameter_number": 3}))
    found = problems(p.module)
    assert found == [
        "computation 'main' has parameter numbers [0, 3]; expected 0..1",
        "in computation 'main', %n (negate) from prog.py:11 (in f): type f32[3] does not match "
        "f32[2] inferred from operands (f32[2])",
        "in computation 'main', %a (add) from prog.py:12 (in f): operands must have the same shape "
        "and type: operand 0 is f32[3], operand 1 is f32[2]",
        "computation 'other' has no ROOT",
        "in computation 'other', %a (negate): name %a is already used in computation 'main'",
    ]


def chain_of_calls(length: int) -> Module:
    """A module whose entry calls c{length-1}, which calls c{length-2}, ... down to c0."""
    module = Module("chain")
    callee = None
    for level in range(length):
        b = module.builder(f"c{level}", entry=level == length - 1)
        p = b.parameter(scalar(S32), name=f"p{level}")
        b.set_root(b.negate(p, name=f"r{level}") if callee is None
                   else b.call(p, called=[callee], name=f"r{level}"))
        callee = b.computation
    return module


def test_call_chain_at_the_limit_verifies():
    verify(chain_of_calls(MAX_CALL_DEPTH))


def test_deep_call_chain_is_a_problem_not_a_recursion_error():
    # 2,000 levels used to raise RecursionError from the cycle search itself.
    found = problems(chain_of_calls(2000))
    assert found == [f"computation 'c{MAX_CALL_DEPTH}' starts a chain of calls "
                     f"{MAX_CALL_DEPTH + 1} computations deep, more than the limit of "
                     f"{MAX_CALL_DEPTH}"]
