"""The Builder: type inference, errors naming op and operand types, names, metadata, insertion."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from jitflow.errors import IRError, SourceLocation
from jitflow.ir import (OPS, Builder, Computation, DType, Module, TensorType, TupleType,
                        build_scalar_computation, evaluate, print_instruction, print_module, scalar,
                        verify)
from jitflow.ir.builder import DeclaredTypeError

F32, S32, PRED = DType.F32, DType.S32, DType.PRED


def f32(*shape: int) -> TensorType:
    return TensorType(F32, shape)


def new_builder(name: str = "main") -> tuple[Module, Builder]:
    module = Module("test")
    return module, module.builder(name, entry=True)


def names(computation: Computation) -> list[str]:
    return [inst.name for inst in computation.instructions]


# ---------------------------------------------------------------------------
# building each kind of thing

def test_parameters_are_numbered_and_named_in_order():
    module, b = new_builder()
    p0 = b.parameter(f32(2))
    p1 = b.parameter(scalar(S32))
    named = b.parameter(f32(3), name="x")
    assert (p0.name, p1.name, named.name) == ("p0", "p1", "x")
    assert [p.attrs["parameter_number"] for p in (p0, p1, named)] == [0, 1, 2]
    assert p0.opcode == "parameter" and p0.operands == () and p0.type == f32(2)
    assert b.computation.parameters == [p0, p1, named]
    assert b.computation.parameter_types == [f32(2), scalar(S32), f32(3)]
    assert all(p.parent is b.computation for p in (p0, p1, named))


def test_parameters_are_sorted_by_number_not_position():
    module, b = new_builder()
    second = b.parameter(f32(2), number=1)
    first = b.parameter(scalar(S32), number=0)
    assert second.name == "p1" and first.name == "p0"
    assert b.computation.parameters == [first, second]
    b.set_root(b.tuple(first, second))
    verify(module)
    result = evaluate(module, np.int32(7), np.array([1, 2], np.float32))
    assert result[0] == 7 and result[1].tolist() == [1.0, 2.0]


def test_constant_dtype_comes_from_the_value_or_the_argument():
    module, b = new_builder()
    c64 = b.constant(1.5)
    c32 = b.constant([1, 2, 3], DType.F32)
    ci = b.constant(np.arange(6, dtype=np.int32).reshape(2, 3))
    cb = b.constant(True)
    assert c64.type == TensorType(DType.F64, ())
    assert c32.type == f32(3) and c32.attrs["literal"].dtype == np.float32
    assert ci.type == TensorType(S32, (2, 3))
    assert cb.type == TensorType(PRED, ())
    assert print_instruction(c32) == "%constant.1 = f32[3] constant({1.0, 2.0, 3.0})"


def test_constant_literal_is_a_read_only_copy():
    module, b = new_builder()
    source = np.array([1.0, 2.0], np.float32)
    c = b.constant(source)
    source[0] = 99.0
    literal = c.attrs["literal"]
    assert literal.tolist() == [1.0, 2.0]
    assert not literal.flags.writeable
    with pytest.raises(ValueError):
        literal[0] = 5.0
    with pytest.raises(TypeError):
        c.attrs["literal"] = np.zeros(2)  # attrs is a read-only mapping


def _reducer(module: Module, dtype: DType = F32):
    return build_scalar_computation(module, "sum", "add", dtype)


# (id, build(module, builder) -> instruction, expected result type)
INFERENCE = [
    ("add", lambda m, b: b.add(b.parameter(f32(2, 3)), b.parameter(f32(2, 3))), "f32[2,3]"),
    ("negate s32", lambda m, b: b.negate(b.parameter(TensorType(S32, (4,)))), "s32[4]"),
    ("compare", lambda m, b: b.compare(b.parameter(f32(2)), b.parameter(f32(2)), direction="LT"),
     "pred[2]"),
    ("is-finite", lambda m, b: b.is_finite(b.parameter(f32(5))), "pred[5]"),
    ("select", lambda m, b: b.select(b.parameter(TensorType(PRED, ())), b.parameter(f32(3)),
                                      b.parameter(f32(3))), "f32[3]"),
    ("clamp", lambda m, b: b.clamp(b.parameter(f32()), b.parameter(f32(3)), b.parameter(f32())),
     "f32[3]"),
    ("convert", lambda m, b: b.convert(b.parameter(f32(2, 3)), dtype=S32), "s32[2,3]"),
    ("broadcast", lambda m, b: b.broadcast(b.parameter(f32(3)), shape=(2, 3), dimensions=(1,)),
     "f32[2,3]"),
    ("reshape", lambda m, b: b.reshape(b.parameter(f32(2, 3)), shape=(3, 2)), "f32[3,2]"),
    ("transpose", lambda m, b: b.transpose(b.parameter(f32(2, 3, 4)), dimensions=(2, 0, 1)),
     "f32[4,2,3]"),
    ("slice", lambda m, b: b.slice(b.parameter(f32(4, 6)), slice=((1, 3), (0, 6, 2))), "f32[2,3]"),
    ("dynamic-slice", lambda m, b: b.dynamic_slice(
        b.parameter(f32(4, 6)), b.parameter(scalar(S32)), b.parameter(scalar(S32)),
        dynamic_slice_sizes=(2, 2)), "f32[2,2]"),
    ("concatenate", lambda m, b: b.concatenate(b.parameter(f32(2, 3)), b.parameter(f32(5, 3)),
                                               dimensions=(0,)), "f32[7,3]"),
    ("pad", lambda m, b: b.pad(b.parameter(f32(2, 3)), b.constant(np.float32(0)),
                               padding=((1, 2, 0), (0, 0, 1))), "f32[5,5]"),
    ("reverse", lambda m, b: b.reverse(b.parameter(f32(2, 3)), dimensions=(0,)), "f32[2,3]"),
    ("iota", lambda m, b: b.iota(shape=(2, 4), dtype=S32, iota_dimension=1), "s32[2,4]"),
    ("dot", lambda m, b: b.dot(b.parameter(f32(2, 3)), b.parameter(f32(3, 4)),
                               lhs_contracting_dims=(1,), rhs_contracting_dims=(0,)), "f32[2,4]"),
    ("batched dot", lambda m, b: b.dot(b.parameter(f32(5, 2, 3)), b.parameter(f32(5, 4, 3)),
                                       lhs_batch_dims=(0,), rhs_batch_dims=(0,),
                                       lhs_contracting_dims=(2,), rhs_contracting_dims=(2,)),
     "f32[5,2,4]"),
    ("tuple", lambda m, b: b.tuple(b.parameter(f32(2, 3)), b.parameter(scalar(S32))),
     "(f32[2,3], s32[])"),
    ("get-tuple-element", lambda m, b: b.get_tuple_element(
        b.parameter(TupleType((f32(2), scalar(S32)))), index=1), "s32[]"),
    ("reduce", lambda m, b: b.reduce(b.parameter(f32(2, 3)), b.constant(np.float32(0)),
                                     dimensions=(1,), called=[_reducer(m)]), "f32[2]"),
    ("reduce all", lambda m, b: b.reduce(b.parameter(f32(2, 3)), b.constant(np.float32(0)),
                                         dimensions=(0, 1), called=[_reducer(m)]), "f32[]"),
    ("custom-call", lambda m, b: b.custom_call(b.parameter(f32(2)), type=TensorType(S32, (7,)),
                                               custom_call_target="my_target"), "s32[7]"),
]


@pytest.mark.parametrize("build, expected", [case[1:] for case in INFERENCE],
                         ids=[case[0] for case in INFERENCE])
def test_type_inference(build, expected):
    module, b = new_builder()
    inst = build(module, b)
    assert str(inst.type) == expected
    b.set_root(inst)
    verify(module)


def test_inferred_types_have_no_layout_but_a_declared_layout_is_kept():
    module, b = new_builder()
    x = b.parameter(TensorType(F32, (3,), (0,)))
    assert b.negate(x).type.layout is None
    declared = TensorType(F32, (2, 3), (0, 1))
    wide = b.broadcast(x, type=declared, dimensions=(1,))
    assert wide.type == declared and str(wide.type) == "f32[2,3]{0,1}"
    same = b.negate(wide, type=TensorType(F32, (2, 3), (1, 0)))
    assert str(same.type) == "f32[2,3]{1,0}"


def test_built_program_evaluates():
    module, b = new_builder()
    x = b.parameter(f32(2, 3), name="x")
    w = b.parameter(f32(3), name="w")
    y = b.dot(x, w, lhs_contracting_dims=(1,), rhs_contracting_dims=(0,))
    bias = b.broadcast(b.constant(np.float32(0.5)), shape=(2,), dimensions=())
    b.set_root(b.maximum(b.add(y, bias), b.broadcast(b.constant(np.float32(0)), shape=(2,),
                                                      dimensions=())))
    verify(module)
    x_value = np.array([[1, 2, 3], [-4, -5, -6]], np.float32)
    w_value = np.array([1, 1, 1], np.float32)
    assert evaluate(module, x_value, w_value).tolist() == [6.5, 0.0]


def test_while_and_conditional_infer_their_state_and_branch_types():
    module = Module("control")
    cond = module.builder("cond")
    i = cond.parameter(scalar(S32))
    cond.set_root(cond.compare(i, cond.constant(np.int32(10)), direction="LT"))
    body = module.builder("body")
    j = body.parameter(scalar(S32))
    body.set_root(body.multiply(j, body.constant(np.int32(2))))
    on_true = module.builder("on_true")
    on_true.set_root(on_true.negate(on_true.parameter(f32(2))))
    on_false = module.builder("on_false")
    on_false.set_root(on_false.abs(on_false.parameter(f32(2))))

    b = module.builder("main", entry=True)
    start = b.parameter(scalar(S32), name="start")
    flag = b.parameter(scalar(PRED), name="flag")
    v = b.parameter(f32(2), name="v")
    loop = b.emit("while", start, called=[cond.computation, body.computation])
    branch = b.conditional(flag, v, v, called=[on_true.computation, on_false.computation])
    assert loop.type == scalar(S32) and loop.name == "while"
    assert branch.type == f32(2)
    assert loop.called == (cond.computation, body.computation)
    b.set_root(b.tuple(loop, branch))
    verify(module)
    count, value = evaluate(module, np.int32(3), np.bool_(False), np.array([-1, 2], np.float32))
    assert count == 12
    assert value.tolist() == [1.0, 2.0]


def test_every_opcode_is_a_builder_method_with_underscores():
    module, b = new_builder()
    method = b.get_tuple_element
    assert method.__name__ == "get_tuple_element"
    assert method.__doc__ == OPS["get-tuple-element"].doc
    with pytest.raises(AttributeError, match="no opcode 'frobnicate'"):
        b.frobnicate  # noqa: B018
    with pytest.raises(AttributeError):
        b._private  # noqa: B018


def test_build_scalar_computation():
    module = Module("m")
    reducer = build_scalar_computation(module, "max", "maximum", S32)
    assert reducer.name == "max" and module.computations["max"] is reducer
    assert reducer.parameter_types == [scalar(S32), scalar(S32)]
    assert reducer.root.opcode == "maximum"
    assert reducer.root.operands == tuple(reducer.parameters)
    negate = build_scalar_computation(module, "neg", "negate", F32, arity=1)
    assert negate.parameter_types == [scalar(F32)] and negate.result_type == scalar(F32)


# ---------------------------------------------------------------------------
# errors name the op and the operand types

def build_error(build) -> str:
    """The message of the IRError ``build(builder, values)`` raises; ``values`` has
    x: f32[2], y: f32[3], i: s32[2] and t: (f32[2])."""
    module, b = new_builder()
    x = b.parameter(f32(2), name="x")
    y = b.parameter(f32(3), name="y")
    i = b.parameter(TensorType(S32, (2,)), name="i")
    t = b.parameter(TupleType((f32(2),)), name="t")
    values = SimpleNamespace(x=x, y=y, i=i, t=t)
    before = names(b.computation)
    with pytest.raises(IRError) as info:
        build(b, values)
    # A failed build leaves nothing behind.
    assert names(b.computation) == before
    return str(info.value)


def test_shape_mismatch_names_op_and_both_types():
    message = build_error(lambda b, v: b.add(v.x, v.y))
    assert message.startswith("cannot build add(%x: f32[2], %y: f32[3]): ")
    assert "operand 0 is f32[2], operand 1 is f32[3]" in message


def test_dtype_mismatch_names_both_types():
    message = build_error(lambda b, v: b.multiply(v.x, v.i))
    assert "cannot build multiply(%x: f32[2], %i: s32[2])" in message
    assert "operand 0 is f32[2], operand 1 is s32[2]" in message


def test_op_that_needs_a_result_type():
    message = build_error(lambda b, v: b.broadcast(v.x, dimensions=(0,)))
    assert message == ("cannot build broadcast(%x: f32[2]): its result type cannot be inferred: "
                       "pass type= or shape=/dtype=")


def test_unknown_attribute_names_the_allowed_ones():
    message = build_error(lambda b, v: b.transpose(v.x, dims=(0,)))
    assert message == ("cannot build transpose(%x: f32[2]): transpose has no attribute 'dims' "
                       "(its attributes: dimensions)")
    message = build_error(lambda b, v: b.compare(v.x, v.x, direction="LT", kind="x"))
    assert "compare has no attribute 'kind' (its attributes: direction, comparison_type)" in message
    message = build_error(lambda b, v: b.add(v.x, v.x, dimensions=(0,)))
    assert "add has no attribute 'dimensions' (its attributes: none)" in message


def test_missing_and_malformed_attributes():
    message = build_error(lambda b, v: b.compare(v.x, v.x))
    assert message == ("cannot build compare(%x: f32[2], %x: f32[2]): "
                       "compare needs attribute 'direction'")
    message = build_error(lambda b, v: b.compare(v.x, v.x, direction="LESS"))
    assert "attribute 'direction' must be one of EQ, NE, LT, LE, GT, GE, got 'LESS'" in message
    message = build_error(lambda b, v: b.transpose(v.x, dimensions=("a",)))
    assert "attribute 'dimensions' expects a ints value, got ('a',)" in message
    message = build_error(lambda b, v: b.get_tuple_element(v.t, index=True))
    assert "attribute 'index' expects a int value, got True" in message


@pytest.mark.parametrize("build, fragment", [
    (lambda b, v: b.negate(v.x, v.x),
     "negate(%x: f32[2], %x: f32[2]): negate takes 1 operand(s), got 2"),
    (lambda b, v: b.add(v.x), "add(%x: f32[2]): add takes 2 operand(s), got 1"),
    (lambda b, v: b.select(v.x, v.y), "select takes 3 operand(s), got 2"),
    (lambda b, v: b.concatenate(dimensions=(0,)),
     "concatenate(): concatenate takes at least 1 operand(s), got 0"),
    (lambda b, v: b.emit("constant", v.x, literal=1.0),
     "constant takes 0 operand(s), got 1"),
], ids=["too many", "too few", "select", "at least", "none"])
def test_wrong_arity(build, fragment):
    message = build_error(build)
    assert fragment in message
    assert message.startswith("cannot build ")


def test_operands_must_be_instructions():
    message = build_error(lambda b, v: b.add(v.x, 1.0))
    assert message == "cannot build add(%x: f32[2]): operands must be instructions, got 1.0"


def test_unknown_opcode():
    message = build_error(lambda b, v: b.emit("frobnicate", v.x))
    assert message == "unknown opcode 'frobnicate'"


def test_declared_type_that_contradicts_inference_is_an_error():
    message = build_error(lambda b, v: b.add(v.x, v.x, type=TensorType(S32, (2,))))
    assert message == ("cannot build add(%x: f32[2], %x: f32[2]): declared type s32[2] does not "
                       "match f32[2] inferred from the operands")
    message = build_error(lambda b, v: b.negate(v.y, shape=(4,)))
    assert "declared type f32[4] does not match f32[3] inferred" in message
    message = build_error(lambda b, v: b.add(v.x, v.x, type=f32(2), shape=(2,)))
    assert "give either type= or shape=/dtype=, not both" in message
    # The parser reports this case in its own words; the error carries both types.
    module, b = new_builder()
    x = b.parameter(f32(2), name="x")
    with pytest.raises(DeclaredTypeError) as info:
        b.negate(x, type=TensorType(F32, (2, 1), (0, 1)))
    assert info.value.declared == TensorType(F32, (2, 1), (0, 1))
    assert info.value.inferred == f32(2)


def test_semantic_errors_from_the_op_table():
    message = build_error(lambda b, v: b.dot(v.x, v.y, lhs_contracting_dims=(0,),
                                            rhs_contracting_dims=(0,)))
    assert message.startswith("cannot build dot(%x: f32[2], %y: f32[3]): ")
    assert "contracting dimension mismatch" in message
    message = build_error(lambda b, v: b.reshape(v.x, shape=(3,)))
    assert "reshape cannot turn f32[2] into f32[3]" in message
    message = build_error(lambda b, v: b.sqrt(v.i))
    assert "sqrt's operand must be floating-point, got s32" in message


def test_reducer_with_wrong_signature():
    module, b = new_builder()
    reducer = build_scalar_computation(module, "sum", "add", S32)
    x = b.parameter(f32(2, 3), name="x")
    zero = b.constant(np.float32(0), name="zero")
    with pytest.raises(IRError) as info:
        b.reduce(x, zero, dimensions=(1,), called=[reducer])
    assert str(info.value) == (
        "cannot build reduce(%x: f32[2,3], %zero: f32[]): reducer computation 'sum' takes "
        "(s32[], s32[]) but is given (f32[], f32[])")


def test_error_names_the_source_location():
    module = Module("m")
    b = Builder(module.add_computation("main", entry=True),
                source=SourceLocation("model.py", 3, "loss"))
    x = b.parameter(f32(2), name="x")
    pattern = r"^cannot build add\(%x: f32\[2\]\) at model.py:3 \(in loss\): add takes 2"
    with pytest.raises(IRError, match=pattern):
        b.add(x)


def test_builder_needs_a_module():
    with pytest.raises(IRError, match="computation 'loose' must belong to a Module to be built"):
        Builder(Computation("loose"))


# ---------------------------------------------------------------------------
# naming

def test_names_are_unique_in_the_module():
    module, b = new_builder()
    x = b.parameter(f32(2), name="x")
    adds = [b.add(x, x) for _ in range(3)]
    assert [a.name for a in adds] == ["add", "add.1", "add.2"]
    other = module.builder("other")
    y = other.parameter(f32(2), name="x")
    assert y.name == "x.1"
    assert other.add(y, y).name == "add.3"
    assert b.negate(x, name="add").name == "add.4"
    assert b.negate(x, name="fresh").name == "fresh"
    # Another module has its own names.
    _, b2 = new_builder()
    assert b2.add(b2.parameter(f32(2)), b2.parameter(f32(2))).name == "add"


def test_a_failed_build_claims_no_name():
    module, b = new_builder()
    x = b.parameter(f32(2), name="x")
    with pytest.raises(IRError):
        b.add(x)
    assert b.add(x, x).name == "add"


def test_computation_names_are_unique():
    module = Module("m")
    first = module.add_computation("sum")
    second = module.add_computation("sum")
    assert (first.name, second.name) == ("sum", "sum.1")
    assert list(module.computations) == ["sum", "sum.1"]


# ---------------------------------------------------------------------------
# source metadata

def test_source_location_lands_on_instructions_and_in_the_text():
    module = Module("m")
    loc = SourceLocation("model.py", 12, "loss")
    inner = SourceLocation("layers.py", 7)
    b = Builder(module.add_computation("main", entry=True), source=loc)
    x = b.parameter(f32(2), name="x")
    with b.at(inner) as same:
        assert same is b
        y = b.multiply(x, x)
        with b.at(None):
            z = b.negate(y)
    w = b.add(y, z)
    b.set_root(w)
    assert (x.source, y.source, z.source, w.source) == (loc, inner, None, loc)
    assert print_instruction(w) == (
        '%add = f32[2] add(%multiply, %negate), '
        'metadata={op_name="loss" source_file="model.py" source_line=12}')
    assert print_instruction(y).endswith(
        ', metadata={source_file="layers.py" source_line=7}')
    assert "metadata" not in print_instruction(z)
    assert print_module(module).count("metadata=") == 3
    assert w.describe() == "%add = f32[2] add (from model.py:12 (in loss))"
    assert z.describe() == "%negate = f32[2] negate"


def test_at_restores_the_source_after_an_error():
    module = Module("m")
    loc = SourceLocation("a.py", 1)
    b = Builder(module.add_computation("main", entry=True), source=loc)
    x = b.parameter(f32(2), name="x")
    with pytest.raises(IRError, match=r"at b.py:2: add takes 2"):
        with b.at(SourceLocation("b.py", 2)):
            b.add(x)
    assert b.source == loc
    assert b.negate(x).source == loc


# ---------------------------------------------------------------------------
# insertion point

def test_insertion_point_before_and_after():
    module, b = new_builder()
    x = b.parameter(f32(2), name="x")
    n = b.negate(x, name="n")
    r = b.add(n, n, name="r")
    b.set_root(r)

    b.set_insertion_point(before=n)
    a1 = b.abs(x, name="a1")
    a2 = b.abs(a1, name="a2")
    assert names(b.computation) == ["x", "a1", "a2", "n", "r"]

    b.set_insertion_point(after=x)
    s1 = b.sine(x, name="s1")
    s2 = b.cosine(s1, name="s2")
    assert names(b.computation) == ["x", "s1", "s2", "a1", "a2", "n", "r"]

    b.set_insertion_point(after=r)  # after the last: appends
    t1 = b.tanh(r, name="t1")
    t2 = b.tanh(t1, name="t2")
    assert names(b.computation) == ["x", "s1", "s2", "a1", "a2", "n", "r", "t1", "t2"]

    b.set_insertion_point(before=r)
    b.exponential(x, name="e")
    b.set_insertion_point()  # back to the end
    b.log(x, name="l")
    assert names(b.computation) == ["x", "s1", "s2", "a1", "a2", "n", "e", "r", "t1", "t2", "l"]

    assert set(x.users) == {a1, s1, n, b.computation.get("e"), b.computation.get("l")}
    assert a2.operands == (a1,) and s2.operands == (s1,) and t2.operands == (t1,)
    verify(module)
    assert evaluate(module, np.array([1.0, -2.0], np.float32)).tolist() == [-2.0, 4.0]


def test_insertion_point_errors():
    module, b = new_builder()
    x = b.parameter(f32(2), name="x")
    other = module.builder("other")
    y = other.parameter(f32(2), name="y")
    with pytest.raises(IRError, match="before= or after=, not both"):
        b.set_insertion_point(before=x, after=x)
    with pytest.raises(IRError, match="%y does not belong to computation 'main'"):
        b.set_insertion_point(before=y)
    with pytest.raises(IRError, match="%y does not belong to computation 'main'"):
        b.set_insertion_point(after=y)
    with pytest.raises(IRError, match="%add uses %x, which is not in computation 'other'"):
        other.add(x, x)
