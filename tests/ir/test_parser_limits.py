"""Hostile HLO text (issue 16, defect 7): every case is a clean ParseError at a line and
column, in memory proportional to the input, with no RecursionError and no NumPy warning."""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest

from jitflow.errors import ParseError
from jitflow.ir import limits, parse_module, print_module, verify
from jitflow.ir import parser as parser_module
from jitflow.ir.interpreter import evaluate
from jitflow.passes import DEFAULT_PIPELINE, PassManager

from hostile_input import call_chain

HEADER = "HloModule m\n\n"


def entry(body: str, signature: str = "()", result: str = "f32[]") -> str:
    return HEADER + f"ENTRY %main {signature} -> {result} {{\n  {body}\n}}\n"


def nested_tuple_type(depth: int) -> str:
    return "(" * depth + "f32[]" + ")" * depth


def peak_memory(fn):
    """``fn()`` and the peak of the memory Python allocated while it ran, in bytes."""
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def parse_error(text: str) -> ParseError:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # out-of-range constants once warned on stderr
        with pytest.raises(ParseError) as raised:
            parse_module(text, "bad.hlo")
    error = raised.value
    assert error.line >= 1 and error.column >= 1
    return error


def test_a_huge_token_is_refused_in_memory_proportional_to_it():
    name = "a" * (limits.MAX_TOKEN_CHARS + 1)
    text = HEADER + f"ENTRY %{name} () -> f32[] {{\n  ROOT %c = f32[] constant(1)\n}}\n"
    error, peak = peak_memory(lambda: parse_error(text))
    assert "more than the limit" in error.message and (error.line, error.column) == (3, 7)
    # The tokenizer once took ~330 bytes per character of one token (330 MB here).
    assert peak < 20 * len(text), f"{peak / len(text):.0f} bytes per character"


def test_error_excerpt_is_cut_around_the_column():
    text = entry("ROOT %c = f32[] constant(1) " + "x " * 2_000_000)
    error = parse_error(text)
    assert len(str(error)) < 400
    assert "constant(1) x x" in str(error) and "..." in str(error)


@pytest.mark.parametrize("depth", [limits.MAX_NESTING_DEPTH + 1, 600, 5000])
def test_deeply_nested_tuple_types_are_refused(depth):
    type_ = nested_tuple_type(depth)
    error = parse_error(entry(f"ROOT %p = {type_} parameter(0)", f"(p: {type_})", type_))
    assert f"nested more than {limits.MAX_NESTING_DEPTH} levels deep" in error.message


@pytest.mark.parametrize("depth", [limits.MAX_NESTING_DEPTH + 1, 1200])
def test_deeply_nested_literals_are_refused(depth):
    type_ = f"f32[{','.join(['1'] * depth)}]"
    literal = "{" * depth + "1" + "}" * depth
    error = parse_error(entry(f"ROOT %c = {type_} constant({literal})", result=type_))
    assert "nested more than" in error.message


@pytest.mark.parametrize("depth", [limits.MAX_CALL_DEPTH + 1, 1100])
def test_long_call_chains_are_refused(depth):
    error = parse_error(call_chain(depth))
    assert f"more than {limits.MAX_CALL_DEPTH} computations deep" in error.message


def test_nesting_up_to_the_limits_parses_optimizes_and_runs():
    """The limits leave room: the deepest accepted program goes through every stage."""
    depth = limits.MAX_CALL_DEPTH - 1
    module = parse_module(call_chain(depth))
    verify(module)
    assert evaluate(module, np.float32(3)) == np.float32(-3)
    PassManager(DEFAULT_PIPELINE, verify=True).run(module)
    assert evaluate(module, np.float32(3)) == np.float32(-3)
    type_ = nested_tuple_type(limits.MAX_NESTING_DEPTH - 1)
    text = entry(f"ROOT %p = {type_} parameter(0)", f"(p: {type_})", type_)
    assert print_module(parse_module(text)) == print_module(parse_module(print_module(parse_module(text))))


@pytest.mark.parametrize("shape", ["s32[4294967296,4294967296]", "f32[9223372036854775807,2]",
                                   "pred[99999999999999999999999]"])
def test_shapes_no_int64_offset_can_address_are_refused(shape):
    error = parse_error(entry(f"ROOT %i = {shape} iota(), iota_dimension=0", result=shape))
    assert "more than an int64 byte offset can address" in error.message


@pytest.mark.parametrize("body, result, fragment", [
    ("ROOT %c = f32[+4] iota(), iota_dimension=0", "f32[4]", "expected a dimension size"),
    ("ROOT %c = f32[1_0] iota(), iota_dimension=0", "f32[10]", "expected a dimension size"),
    ("ROOT %c = f32[] constant(1_000)", "f32[]", "expected a number for f32"),
    ("ROOT %c = f32[] constant(Infinity)", "f32[]", "expected a number for f32"),
    ("ROOT %c = f32[] constant(0x10)", "f32[]", "expected a number for f32"),
    ("ROOT %c = s32[] constant(1_000)", "s32[]", "s32"),
    ("ROOT %c = f32[] constant(1e39)", "f32[]", "'1e39' is out of range for f32"),
    ("ROOT %c = f16[] constant(70000)", "f16[]", "'70000' is out of range for f16"),
    ("ROOT %c = f32[2] constant({1, -1e39})", "f32[2]", "out of range for f32"),
])
def test_number_syntax_is_xlas_not_pythons(body, result, fragment):
    assert fragment in parse_error(entry(body, result=result)).message


def test_xla_spellings_of_special_values_still_parse():
    module = parse_module(entry("ROOT %c = f32[4] constant({inf, -inf, nan, 3.4028234e38})",
                                result="f32[4]"))
    value = evaluate(module)
    np.testing.assert_array_equal(value[:2], [np.inf, -np.inf])
    assert np.isnan(value[2]) and value[3] == np.float32(3.4028234e38)


def test_parameter_number_must_be_a_plain_integer():
    assert "expected the parameter number" in parse_error(
        entry("ROOT %x = f32[] parameter(+0)", "(x: f32[])")).message


def test_signature_names_must_match_the_parameters():
    error = parse_error(entry("ROOT %x = f32[] parameter(0)", "(y: f32[])"))
    assert "signature names parameter 0 'y', but that parameter is %x" in error.message


def test_oversized_text_is_refused_before_tokenizing(monkeypatch):
    monkeypatch.setattr(parser_module, "MAX_TEXT_CHARS", 1000)
    error = parse_error(entry("ROOT %c = f32[] constant(1)") + "// " + "x" * 2000 + "\n")
    assert "1000" in error.message or "limit" in error.message


def test_a_large_module_parses_in_memory_proportional_to_its_text():
    """Tokens are read as the parser goes: with a list of them all, the peak was 79 bytes
    per character of text; the module alone takes ~55."""
    lines = ["HloModule m", "", "ENTRY %main (x: f32[4]) -> f32[4] {", "  %x = f32[4] parameter(0)"]
    previous = "x"
    for i in range(15_000):
        lines.append(f"  %n{i} = f32[4] negate(%{previous})")
        previous = f"n{i}"
    lines += [f"  ROOT %r = f32[4] add(%{previous}, %x)", "}"]
    text = "\n".join(lines) + "\n"
    module, peak = peak_memory(lambda: parse_module(text))
    assert len(module.entry.instructions) == 15_002
    assert peak < 75 * len(text), f"{peak / len(text):.0f} bytes per character"
