"""Whatever the text, the parser answers with a module or a ParseError, never a crash."""

from __future__ import annotations

import importlib.resources

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jitflow.errors import JitflowError, ParseError
from jitflow.ir import parse_module, print_module, verify

from hostile_input import call_chain, write_npy_header

SEEDS = [p.read_text() for p in (importlib.resources.files("jitflow") / "examples").glob("*.hlo")]
ALPHABET = "%{}()[],=:-_.x0123456789 \nabcdefpsu ROOTENTRY\"/*"


@st.composite
def mutated_texts(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["delete", "insert", "truncate", "duplicate"]))
        if action == "delete":
            text = text[:position] + text[position + draw(st.integers(1, 8)):]
        elif action == "insert":
            text = text[:position] + draw(st.text(ALPHABET, min_size=1, max_size=6)) + text[position:]
        elif action == "truncate":
            text = text[:position]
        else:
            end = min(len(text), position + draw(st.integers(1, 40)))
            text = text[:end] + text[position:end] + text[end:]
    return text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_texts())
def test_mutated_text_parses_or_reports_a_position(text):
    try:
        module = parse_module(text, "fuzz.hlo")
    except ParseError as error:
        assert error.line >= 1 and error.column >= 1
        assert str(error).startswith(f"fuzz.hlo:{error.line}:{error.column}: error: ")
        return
    # Whatever parses is well-formed IR and prints back to the same text.
    try:
        verify(module)
    except JitflowError:
        raise AssertionError("the parser accepted IR that does not verify")
    printed = print_module(module)
    assert print_module(parse_module(printed)) == printed


# -- hostile classes (issue 16, defect 7): deep nesting, huge tokens, huge shapes, numbers --

def _entry(body: str, signature: str = "()", result: str = "f32[]") -> str:
    return f"HloModule h\n\nENTRY %main {signature} -> {result} {{\n  {body}\n}}\n"


@st.composite
def hostile_texts(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["tuple", "literal", "calls", "token", "shape", "number"]))
    depth = draw(st.one_of(st.integers(1, 80), st.integers(80, 3000)))
    if kind == "tuple":
        type_ = "(" * depth + "f32[]" + ")" * depth
        return _entry(f"ROOT %p = {type_} parameter(0)", f"(p: {type_})", type_)
    if kind == "literal":
        opened = draw(st.integers(max(0, depth - 2), depth + 2))  # sometimes unbalanced
        type_ = f"f32[{','.join(['1'] * depth)}]"
        return _entry(f"ROOT %c = {type_} constant({'{' * opened}1{'}' * depth})", result=type_)
    if kind == "calls":
        return call_chain(min(depth, 300))
    if kind == "token":
        size = draw(st.sampled_from([2**16, 2**20 - 64, 2**20 + 1, 3 * 2**20]))
        where = draw(st.sampled_from(["name", "number", "string"]))
        token = {"name": "%" + "n" * size, "number": "1" * size, "string": '"' + "s" * size + '"'}[where]
        return _entry(f"ROOT {token} = f32[] constant(1)" if where == "name"
                      else f"ROOT %c = f32[] constant({token})" if where == "number"
                      else f"ROOT %c = f32[] constant(1), metadata={{op_name={token}}}")
    if kind == "shape":
        dims = draw(st.lists(st.one_of(st.integers(0, 8), st.integers(2**31, 2**70)), min_size=1, max_size=5))
        type_ = f"s32[{','.join(map(str, dims))}]"
        return _entry(f"ROOT %i = {type_} iota(), iota_dimension=0", result=type_)
    number = draw(st.sampled_from(["+4", "1_0", "0x10", "1e39", "-1e400", "70000", "Infinity", "NaN",
                                   "1e-50", "00", "-0", "9" * 40, "1.", ".5", "inf", "-nan"]))
    dtype = draw(st.sampled_from(["f16", "f32", "f64", "s8", "s32", "u8", "pred", "bf16"]))
    return _entry(f"ROOT %c = {dtype}[] constant({number})", result=f"{dtype}[]")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(hostile_texts())
def test_hostile_text_parses_or_reports_a_position(text):
    import warnings  # noqa: PLC0415

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy overflow warnings on stderr either
        try:
            module = parse_module(text, "fuzz.hlo")
        except ParseError as error:
            assert error.line >= 1 and error.column >= 1
            assert len(str(error)) < 1000  # the excerpt is cut around the column
            return
    verify(module)
    printed = print_module(module)
    assert print_module(parse_module(printed)) == printed


NPY_HEADER = "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 8), }"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.data())
def test_hostile_npy_headers_get_one_clean_line(tmp_path, capsys, data):
    from jitflow import cli  # noqa: PLC0415

    header = NPY_HEADER
    for _ in range(data.draw(st.integers(1, 3))):
        position = data.draw(st.integers(0, len(header)))
        insert = data.draw(st.one_of(st.text("(){}[]',:0123456789 -eE.<>|fiOUbS_", max_size=8),
                                     st.sampled_from(["9999999999, 99999", "(" * 300, "-1",
                                                      "'|O'", "__import__('os')"])))
        cut = data.draw(st.integers(0, 4))
        header = header[:position] + insert + header[position + cut:]
    path = write_npy_header(tmp_path / "h.npy", header)
    code = cli.main(["run", str(importlib.resources.files("jitflow") / "examples" / "softmax.hlo"), "--input", f"x={path}"])
    err = capsys.readouterr().err
    assert code in (0, 2), err
    if code == 2:
        assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
