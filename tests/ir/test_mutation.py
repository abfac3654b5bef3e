"""Mutators keep use-def links, the root and module names right; the IR stays valid and correct."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from jitflow.errors import IRError
from jitflow.ir import (DType, Instruction, Module, TensorType, build_scalar_computation, evaluate,
                        verify)

F32 = DType.F32
VEC = TensorType(F32, (3,))
X = np.array([1.0, 2.0, 3.0], np.float32)


def program() -> SimpleNamespace:
    """main(x) = negate((x + 1) * (x + 1)), with the product using one value twice."""
    module = Module("m")
    b = module.builder("main", entry=True)
    x = b.parameter(VEC, name="x")
    one = b.constant(np.ones(3, np.float32), name="one")
    a = b.add(x, one, name="add")
    m = b.multiply(a, a, name="mul")
    n = b.negate(m, name="neg")
    b.set_root(n)
    verify(module)
    return SimpleNamespace(module=module, b=b, c=b.computation, x=x, one=one, a=a, m=m, n=n)


def check(module: Module, expected) -> None:
    """The module verifies and computes ``expected`` from ``X``."""
    verify(module)
    np.testing.assert_array_equal(evaluate(module, X), np.asarray(expected, np.float32))


def names(computation) -> list[str]:
    return [inst.name for inst in computation.instructions]


def test_program_as_built():
    p = program()
    assert p.a.users == (p.m,)  # listed once though used twice
    assert p.m.operands == (p.a, p.a)
    assert p.x.users == (p.a,)
    assert p.one.users == (p.a,)
    assert p.n.users == ()
    check(p.module, -(X + 1) ** 2)


def test_replace_all_uses_with_updates_users_operands_and_links():
    p = program()
    p.c.replace_all_uses_with(p.a, p.x)
    assert p.m.operands == (p.x, p.x)
    assert p.a.users == ()
    assert set(p.x.users) == {p.a, p.m}
    assert p.a.operands == (p.x, p.one)  # the replaced value itself is untouched
    assert p.c.root is p.n
    check(p.module, -X * X)


def test_replace_all_uses_with_moves_the_root():
    p = program()
    p.c.replace_all_uses_with(p.n, p.m)
    assert p.c.root is p.m
    assert p.n.users == ()
    check(p.module, (X + 1) ** 2)
    # The old root is now dead and can be erased.
    p.c.erase(p.n)
    assert names(p.c) == ["x", "one", "add", "mul"]
    check(p.module, (X + 1) ** 2)


def test_replace_all_uses_with_a_value_defined_later_is_caught_by_the_verifier():
    p = program()
    p.b.set_insertion_point()
    late = p.b.abs(p.x, name="late")
    p.c.replace_all_uses_with(p.a, late)
    assert p.m.operands == (late, late)
    with pytest.raises(Exception, match="operand %late is not defined before its use"):
        verify(p.module)


def test_replace_all_uses_with_a_user_of_the_old_value_keeps_that_use():
    # Wrapping a value: new = abs(old); every other use of old now uses new.
    p = program()
    p.b.set_insertion_point(after=p.a)
    wrapped = p.b.subtract(p.a, p.one, name="wrapped")
    p.c.replace_all_uses_with(p.a, wrapped)
    assert wrapped.operands == (p.a, p.one)  # not its own operand
    assert p.a.users == (wrapped,)
    assert p.m.operands == (wrapped, wrapped)
    assert set(wrapped.users) == {p.m}
    check(p.module, -X * X)


def test_replace_all_uses_with_itself_or_outside_the_computation():
    p = program()
    p.c.replace_all_uses_with(p.a, p.a)
    assert p.m.operands == (p.a, p.a) and p.a.users == (p.m,)
    other = p.module.builder("other")
    y = other.set_root(other.parameter(VEC, name="y"))
    with pytest.raises(IRError, match="replacement %y is not in computation 'main'"):
        p.c.replace_all_uses_with(p.a, y)
    assert p.m.operands == (p.a, p.a)
    check(p.module, -(X + 1) ** 2)


def test_replace_operand_keeps_users_right():
    p = program()
    p.m.replace_operand(0, p.x)
    assert p.m.operands == (p.x, p.a)
    assert p.a.users == (p.m,)  # still used through operand 1
    assert set(p.x.users) == {p.a, p.m}
    check(p.module, -X * (X + 1))
    p.m.replace_operand(1, p.x)
    assert p.m.operands == (p.x, p.x)
    assert p.a.users == ()
    assert set(p.x.users) == {p.a, p.m}
    check(p.module, -X * X)
    p.m.replace_operand(1, p.one)
    assert p.m.operands == (p.x, p.one)
    assert set(p.x.users) == {p.a, p.m} and set(p.one.users) == {p.a, p.m}
    check(p.module, -X)


def test_erase_refuses_while_used_and_names_the_users():
    p = program()
    with pytest.raises(IRError) as info:
        p.c.erase(p.a)
    assert str(info.value) == "cannot erase %add: still used by %mul"
    extra = p.b.sqrt(p.x, name="root2")  # appended; x now has two users
    with pytest.raises(IRError) as info:
        p.c.erase(p.x)
    assert str(info.value) == "cannot erase %x: still used by %add, %root2"
    p.c.erase(extra)
    assert names(p.c) == ["x", "one", "add", "mul", "neg"]
    check(p.module, -(X + 1) ** 2)


def test_erase_refuses_the_root():
    p = program()
    with pytest.raises(IRError) as info:
        p.c.erase(p.n)
    assert str(info.value) == "cannot erase %neg: it is the ROOT of 'main'"
    assert p.n in p.c.instructions and p.n.parent is p.c
    check(p.module, -(X + 1) ** 2)


def test_erase_after_replace_all_uses_with_releases_the_name():
    p = program()
    p.c.replace_all_uses_with(p.a, p.x)
    p.c.erase(p.a)
    assert names(p.c) == ["x", "one", "mul", "neg"]
    assert p.a.parent is None
    assert p.x.users == (p.m,) and p.one.users == ()
    check(p.module, -X * X)
    p.c.erase(p.one)
    assert names(p.c) == ["x", "mul", "neg"]
    check(p.module, -X * X)
    # The names are free again: new instructions get them without a suffix.
    p.b.set_insertion_point(before=p.n)
    again = p.b.add(p.x, p.x)
    assert again.name == "add"
    assert p.b.constant(np.float32(1), name="one").name == "one"
    # ...while a name still in use gets a suffix.
    assert p.b.multiply(p.x, p.x, name="mul").name == "mul.1"
    check(p.module, -X * X)


def test_insert_before_and_after_with_instructions_made_by_hand():
    p = program()
    before = Instruction("sq", "multiply", [p.x, p.x], VEC)
    after = Instruction("plus", "add", [p.m, p.x], VEC)
    assert p.c.insert_before(p.a, before) is before
    assert p.c.insert_after(p.m, after) is after
    assert names(p.c) == ["x", "one", "sq", "add", "mul", "plus", "neg"]
    assert before.parent is p.c and after.parent is p.c
    assert set(p.x.users) == {p.a, before, after}
    assert set(p.m.users) == {p.n, after}
    # The names are now taken in the module.
    assert p.module.unique_name("sq") == "sq.1"
    check(p.module, -(X + 1) ** 2)
    p.c.replace_all_uses_with(p.m, after)  # neg(mul) -> neg(mul + x); plus keeps using mul
    assert after.operands == (p.m, p.x)
    assert p.n.operands == (after,)
    check(p.module, -((X + 1) ** 2 + X))
    p.c.replace_all_uses_with(p.a, before)
    p.c.erase(p.a)
    p.c.erase(p.one)
    assert names(p.c) == ["x", "sq", "mul", "plus", "neg"]
    check(p.module, -(X ** 4 + X))


def test_insert_refusals():
    p = program()
    with pytest.raises(IRError, match="%add is already in computation 'main'"):
        p.c.append(p.a)
    other = p.module.builder("other")
    y = other.set_root(other.parameter(VEC, name="y"))
    stray = Instruction("stray", "negate", [y], VEC)
    with pytest.raises(IRError, match="%stray uses %y, which is not in computation 'main'"):
        p.c.insert_before(p.n, stray)
    assert stray.parent is None and y.users == ()
    with pytest.raises(IRError, match="%y does not belong to computation 'main'"):
        p.c.insert_after(y, Instruction("z", "negate", [p.x], VEC))
    assert names(p.c) == ["x", "one", "add", "mul", "neg"]
    check(p.module, -(X + 1) ** 2)


def test_set_root():
    p = program()
    p.c.set_root(p.a)
    assert p.c.root is p.a and p.c.result_type == VEC
    check(p.module, X + 1)
    other = p.module.builder("other")
    y = other.parameter(VEC, name="y")
    with pytest.raises(IRError, match="ROOT %y is not in computation 'main'"):
        p.c.set_root(y)
    assert p.c.root is p.a


def test_get_and_index():
    p = program()
    assert p.c.get("mul") is p.m
    assert p.c.index(p.m) == 3
    with pytest.raises(IRError, match="computation 'main' has no instruction %nope"):
        p.c.get("nope")
    assert len(p.c) == 5 and list(p.c) == [p.x, p.one, p.a, p.m, p.n]


# ---------------------------------------------------------------------------
# computations

def summing_program() -> SimpleNamespace:
    """main(x) = sum(x), through a reducer computation."""
    module = Module("m")
    reducer = build_scalar_computation(module, "sum", "add", F32)
    b = module.builder("main", entry=True)
    x = b.parameter(VEC, name="x")
    zero = b.constant(np.float32(0), name="zero")
    total = b.reduce(x, zero, dimensions=(0,), called=[reducer], name="total")
    b.set_root(total)
    verify(module)
    return SimpleNamespace(module=module, b=b, c=b.computation, reducer=reducer, x=x, zero=zero,
                           total=total)


def test_remove_computation_refuses_a_called_one():
    p = summing_program()
    with pytest.raises(IRError) as info:
        p.module.remove_computation(p.reducer)
    assert str(info.value) == "cannot remove computation 'sum': called by %total"
    assert p.module.computations["sum"] is p.reducer
    check(p.module, X.sum())


def test_remove_computation_refuses_the_entry():
    p = summing_program()
    with pytest.raises(IRError, match="cannot remove the ENTRY computation 'main'"):
        p.module.remove_computation(p.c)
    assert list(p.module.computations) == ["sum", "main"]


def test_remove_computation_once_unused_releases_its_names():
    p = summing_program()
    # Replace the reduce by an unrolled sum, then drop the reducer.
    p.b.set_insertion_point(before=p.total)
    parts = [p.b.slice(p.x, slice=((i, i + 1),)) for i in range(3)]
    partial = p.b.add(p.b.add(parts[0], parts[1]), parts[2])
    summed = p.b.reshape(partial, shape=())
    assert partial.name == "add.2"  # "add" and "add.1": one is the reducer's root
    p.c.replace_all_uses_with(p.total, summed)
    p.c.erase(p.total)
    p.c.erase(p.zero)
    p.module.remove_computation(p.reducer)
    assert list(p.module.computations) == ["main"]
    check(p.module, X.sum())
    # The reducer's instruction names (p0, p1, add) are free again.
    assert p.module.unique_name("p0") == "p0"
    assert p.module.unique_name("total") == "total"
    assert p.module.unique_name("x") == "x.1"
    p.b.set_insertion_point()  # the old anchor, %total, is gone
    assert p.b.negate(summed).name == "negate"
    assert str(p.module).count("%sum") == 0
