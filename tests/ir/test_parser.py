"""The text format: print -> parse -> print is the identity; bad text fails at line:column."""

from __future__ import annotations

import importlib.resources

import numpy as np
import pytest

from jitflow.errors import ParseError
from jitflow.ir import evaluate, parse_module, print_module, verify
from jitflow.ir.parser import tokenize

from op_cases import all_case_modules

EXAMPLES = sorted((importlib.resources.files("jitflow") / "examples").glob("*.hlo"),
                  key=lambda p: p.name)

# HLO as JAX/XLA dump it: typed operands, layouts, metadata, sharding, header attributes.
XLA_DUMP = """\
HloModule jit_loss, entry_computation_layout={(f32[4,3]{1,0}, f32[3]{0})->f32[]}, allow_spmd_sharding_propagation_to_output={true}

%region_0.9 (Arg_0.10: f32[], Arg_1.11: f32[]) -> f32[] {
  %Arg_0.10 = f32[] parameter(0), metadata={op_name="jit(loss)/reduce_sum"}
  %Arg_1.11 = f32[] parameter(1), metadata={op_name="jit(loss)/reduce_sum"}
  ROOT %add.12 = f32[] add(f32[] %Arg_0.10, f32[] %Arg_1.11), metadata={op_name="jit(loss)/reduce_sum" source_file="/tmp/loss.py" source_line=7}
}

ENTRY %main.15 (Arg_0.1: f32[4,3], Arg_1.2: f32[3]) -> f32[] {
  %Arg_0.1 = f32[4,3]{1,0} parameter(0), sharding={replicated}
  %Arg_1.2 = f32[3]{0} parameter(1), sharding={replicated}
  %dot.3 = f32[4]{0} dot(f32[4,3]{1,0} %Arg_0.1, f32[3]{0} %Arg_1.2), lhs_contracting_dims={1}, rhs_contracting_dims={0}, operand_precision={highest,highest}
  %multiply.4 = f32[4]{0} multiply(f32[4]{0} %dot.3, f32[4]{0} %dot.3)
  %constant.5 = f32[] constant(0)
  ROOT %reduce.13 = f32[] reduce(f32[4]{0} %multiply.4, f32[] %constant.5), dimensions={0}, to_apply=%region_0.9, frontend_attributes={_xla_compute_type="host"}
}
"""

# Bare names, no header, no layouts, comments, callees after their callers, while + tuples.
HAND_WRITTEN = """\
// Sum of 0..n-1 with a while loop; computations may come in any order.
ENTRY main (n: s32[]) -> s32[] {
  n = s32[] parameter(0)
  zero = s32[] constant(0)
  init = (s32[], s32[], s32[]) tuple(zero, zero, n)
  loop = (s32[], s32[], s32[]) while(init), condition=cond, body=body
  ROOT total = s32[] get-tuple-element(loop), index=1
}

/* loop condition: i < n */
cond (state: (s32[], s32[], s32[])) -> pred[] {
  state = (s32[], s32[], s32[]) parameter(0)
  i = s32[] get-tuple-element(state), index=0
  limit = s32[] get-tuple-element(state), index=2
  ROOT less = pred[] compare(i, limit), direction=LT
}

body (state.1: (s32[], s32[], s32[])) -> (s32[], s32[], s32[]) {
  state.1 = (s32[], s32[], s32[]) parameter(0)
  i.1 = s32[] get-tuple-element(state.1), index=0
  acc = s32[] get-tuple-element(state.1), index=1
  limit.1 = s32[] get-tuple-element(state.1), index=2
  one = s32[] constant(1)
  next = s32[] add(i.1, one)
  sum = s32[] add(acc, i.1)
  ROOT new_state = (s32[], s32[], s32[]) tuple(next, sum, limit.1)
}
"""

TEXT_PROGRAMS = {"xla_dump": XLA_DUMP, "hand_written": HAND_WRITTEN}


def _round_trip(text: str) -> None:
    module = parse_module(text)
    verify(module)
    printed = print_module(module)
    again = parse_module(printed)
    verify(again)
    assert print_module(again) == printed


@pytest.mark.parametrize("name,module", all_case_modules(), ids=lambda v: v if isinstance(v, str) else "")
def test_round_trip_of_every_test_program(name, module):
    printed = print_module(module)
    reparsed = parse_module(printed)
    verify(reparsed)
    assert print_module(reparsed) == printed


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_round_trip_of_examples(path):
    _round_trip(path.read_text())


@pytest.mark.parametrize("name", sorted(TEXT_PROGRAMS))
def test_round_trip_of_text_programs(name):
    _round_trip(TEXT_PROGRAMS[name])


def test_examples_are_shipped():
    assert {p.name for p in EXAMPLES} >= {"softmax.hlo", "layernorm.hlo", "while_sum.hlo",
                                          "conditional.hlo"}


def test_xla_dump_parses_and_runs():
    module = parse_module(XLA_DUMP)
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    w = np.array([1.0, -1.0, 0.5], dtype=np.float32)
    assert evaluate(module, x, w) == pytest.approx(float(np.sum((x @ w) ** 2)))
    add = module.computations["region_0.9"].root
    assert add.source.file == "/tmp/loss.py" and add.source.line == 7
    assert add.source.function == "jit(loss)/reduce_sum"
    assert module.entry.get("Arg_0.1").type.layout == (1, 0)


def test_bare_names_comments_and_forward_references():
    module = parse_module(HAND_WRITTEN)
    assert module.entry_name == "main"
    assert evaluate(module, np.int32(10)) == 45
    assert evaluate(module, np.int32(0)) == 0


def test_entry_defaults_to_last_computation():
    module = parse_module("a { x = f32[] parameter(0)\n ROOT y = f32[] negate(x) }\n"
                          "b { x.1 = f32[] parameter(0)\n ROOT y.1 = f32[] abs(x.1) }")
    assert module.entry_name == "b"


def test_literals_round_trip_exactly():
    values = np.array([0.1, -0.0, 1e-30, 3.4e38, np.inf, -np.inf, np.nan], dtype=np.float32)
    text = ("ENTRY e { ROOT c = f32[7] constant({"
            + ", ".join(str(v) for v in values) + "}) }")
    module = parse_module(text)
    literal = module.entry.root.attrs["literal"]
    np.testing.assert_array_equal(literal.view(np.uint32)[:6], values.view(np.uint32)[:6])
    assert np.isnan(literal[6])
    _round_trip(text)


@pytest.mark.parametrize("dtype,text,expected", [
    ("pred[2]", "{true, false}", [True, False]),
    ("s8[3]", "{-128, 0, 127}", [-128, 0, 127]),
    ("u64[1]", "{18446744073709551615}", [2**64 - 1]),
    ("f16[2]", "{0.1, 65504}", [np.float16(0.1), 65504]),
    ("bf16[2]", "{1.5, -3}", [1.5, -3]),
    ("f64[2,0]", "{{}, {}}", np.zeros((2, 0))),
    ("f32[0,3]", "{}", np.zeros((0, 3))),
    ("s32[]", "7", 7),
])
def test_literal_dtypes_and_shapes(dtype, text, expected):
    module = parse_module(f"ENTRY e {{ ROOT c = {dtype} constant({text}) }}")
    literal = evaluate(module)
    np.testing.assert_array_equal(literal.astype(np.float64) if literal.dtype.name == "bfloat16"
                                  else literal, np.asarray(expected, dtype=literal.dtype
                                                           if literal.dtype.name != "bfloat16"
                                                           else np.float64))
    _round_trip(f"ENTRY e {{ ROOT c = {dtype} constant({text}) }}")


def test_tokenizer_positions():
    tokens = list(tokenize("a = f32[2]\n  b->c", "<t>"))
    assert [(t.text, t.line, t.column) for t in tokens[:6]] == [
        ("a", 1, 1), ("=", 1, 3), ("f32", 1, 5), ("[", 1, 8), ("2", 1, 9), ("]", 1, 10)]
    assert [(t.kind, t.text, t.line, t.column) for t in tokens[6:9]] == [
        ("word", "b", 2, 3), ("arrow", "->", 2, 4), ("word", "c", 2, 6)]


def _program(*lines: str) -> str:
    return "HloModule bad\n\nENTRY %main {\n" + "\n".join("  " + line for line in lines) + "\n}\n"


P = "%x = f32[2,3] parameter(0)"

# (kind, text, line, column, message fragment)
MALFORMED = [
    ("unknown opcode", _program(P, "ROOT %y = f32[2,3] frobnicate(%x)"), 5, 22,
     "unknown opcode 'frobnicate'"),
    ("type mismatch", _program(P, "ROOT %y = f32[3,2] negate(%x)"), 5, 22,
     "does not match f32[2,3] inferred"),
    ("operand type mismatch", _program(P, "%z = f32[2,3] negate(%x)",
                                       "ROOT %y = f32[2,3] add(%x, f32[3] %z)"), 6, 37,
     "%z has type f32[2,3], not f32[3]"),
    ("undefined name", _program(P, "ROOT %y = f32[2,3] add(%x, %nope)"), 5, 30,
     "use of undefined value %nope"),
    ("use before definition", _program(P, "%y = f32[2,3] add(%x, %z)", "ROOT %z = f32[2,3] abs(%x)"),
     5, 25, "%z is used before its definition at line 6"),
    ("bad layout", _program("%x = f32[2,3]{0,0} parameter(0)", "ROOT %y = f32[2,3] abs(%x)"), 4, 16,
     "is not a permutation"),
    ("bad element type", _program("%x = f33[2] parameter(0)", "ROOT %y = f33[2] abs(%x)"), 4, 8,
     "unknown element type 'f33'"),
    ("missing ROOT", _program(P, "%y = f32[2,3] abs(%x)"), 6, 1, "has no ROOT instruction"),
    ("two ROOTs", _program("ROOT %x = f32[2,3] parameter(0)", "ROOT %y = f32[2,3] abs(%x)"), 5, 8,
     "has a second ROOT"),
    ("duplicate names", _program(P, "ROOT %x = f32[2,3] abs(%x)"), 5, 8,
     "duplicate name %x (first defined at line 4:3)"),
    ("unknown attribute", _program(P, "ROOT %y = f32[3,2] transpose(%x), dims={1,0}"), 5, 37,
     "transpose has no attribute 'dims' (expected: dimensions)"),
    ("bad attribute value", _program(P, "%y = f32[2,3] abs(%x)",
                                     "ROOT %c = pred[2,3] compare(%x, %y), direction=LESS"), 6, 50,
     "direction must be one of EQ, NE, LT, LE, GT, GE"),
    ("missing attribute", _program(P, "ROOT %y = f32[3,2] transpose(%x)"), 5, 22,
     "needs attribute 'dimensions'"),
    ("invalid attribute for the shapes", _program(P, "ROOT %y = f32[3,2] transpose(%x), dimensions={0,0}"),
     5, 22, "is not a permutation"),
    ("wrong operand count", _program(P, "ROOT %y = f32[2,3] add(%x)"), 5, 22,
     "add takes 2 operand(s), got 1"),
    ("truncated file", "HloModule t\nENTRY %main {\n  %x = f32[2] parameter(0)\n  ROOT %y = f32[2] add(%x,",
     4, 27, "expected an operand name, found end of input"),
    ("truncated type", "ENTRY %main {\n  %x = f32[2", 2, 13, "expected ',' or ']' in a shape"),
    ("undefined computation", _program(P, "%z = f32[] constant(0)",
                                       "ROOT %y = f32[2] reduce(%x, %z), dimensions={1}, to_apply=%add"),
     6, 61, "use of undefined computation 'add'"),
    ("bad literal", _program("ROOT %c = f32[3] constant({1, 2})"), 4, 29,
     "literal has shape [2] but its type is f32[3]"),
    ("integer literal out of range", _program("ROOT %c = s8[1] constant({300})"), 4, 29,
     "300 is out of range for s8"),
    ("bad character", _program(P, "ROOT %y = f32[2,3] abs(%x) $"), 5, 30, "unexpected character '$'"),
    ("signature mismatch", "ENTRY %main (x: f32[3]) -> f32[2,3] {\n  %x = f32[2,3] parameter(0)\n"
     "  ROOT %y = f32[2,3] abs(%x)\n}\n", 1, 14, "signature says parameter x is f32[3]"),
    ("parameter numbering", _program("%x = f32[2] parameter(0)", "%w = f32[2] parameter(2)",
                                     "ROOT %y = f32[2] add(%x, %w)"), 3, 7, "parameter numbers [0, 2]"),
    ("two entries", "ENTRY a { ROOT x = f32[] parameter(0) }\nENTRY b { ROOT y = f32[] parameter(0) }",
     2, 7, "more than one ENTRY computation"),
    ("recursive computations", "a { p = f32[] parameter(0)\n ROOT c = f32[] call(p), to_apply=a }\n"
     "ENTRY e { q = f32[] parameter(0)\n ROOT d = f32[] call(q), to_apply=a }", 1, 1, "calls itself"),
    ("wrong reducer", "%neg (a: f32[]) -> f32[] {\n  %a = f32[] parameter(0)\n  ROOT %n = f32[] negate(%a)\n}\n"
     + _program(P, "%z = f32[] constant(0)",
                "ROOT %y = f32[2] reduce(%x, %z), dimensions={1}, to_apply=%neg").split("\n", 2)[2],
     8, 20, "reducer computation 'neg' takes (f32[]) but is given (f32[], f32[])"),
    ("dynamic shape", _program("%x = f32[<=4] parameter(0)"), 4, 12, "unexpected character '<'"),
    ("elided constant", _program("ROOT %c = f32[4] constant({...})"), 4, 30, "elided constant"),
]


@pytest.mark.parametrize("kind,text,line,column,fragment", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_text_reports_line_and_column(kind, text, line, column, fragment):
    with pytest.raises(ParseError) as raised:
        parse_module(text, "bad.hlo")
    error = raised.value
    assert fragment in error.message
    assert (error.line, error.column) == (line, column), str(error)
    assert str(error).startswith(f"bad.hlo:{line}:{column}: error: ")
    # The message shows the offending line with a caret under the column.
    lines = str(error).splitlines()
    if len(lines) == 3:
        assert lines[2].index("^") - 2 == column - 1


def test_malformed_kinds_cover_the_required_ones():
    kinds = {m[0] for m in MALFORMED}
    required = {"unknown opcode", "type mismatch", "undefined name", "bad layout", "missing ROOT",
                "duplicate names", "unknown attribute", "truncated file"}
    assert required <= kinds and len(kinds) >= 10
