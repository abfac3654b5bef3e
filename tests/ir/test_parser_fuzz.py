"""Whatever the text, the parser answers with a module or a ParseError, never a crash."""

from __future__ import annotations

import importlib.resources

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jitflow.errors import JitflowError, ParseError
from jitflow.ir import parse_module, print_module, verify

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
