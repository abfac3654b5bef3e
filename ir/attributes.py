"""Attribute kinds: how an op's attribute values are checked, printed and parsed.

Each kind is one object that owns the three: ``normalize`` turns what a builder or
a pass passes into the canonical, hashable value kept on the instruction;
``format`` writes it as HLO text; ``parse`` reads that text back (print -> parse ->
print is the identity).  An op's ``AttrSpec`` names the attribute and its kind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..errors import IRError



class AttrParser(Protocol):
    """What a kind needs from the HLO text parser (``ir.parser``)."""

    @property
    def token(self) -> Any: ...
    def advance(self) -> Any: ...
    def error(self, message: str, token: Any = None) -> Any: ...
    def describe(self, token: Any) -> str: ...
    def parse_optional_punct(self, text: str) -> bool: ...
    def expect_punct(self, text: str, context: str) -> Any: ...
    def expect_word(self, context: str) -> Any: ...
    def parse_int(self, context: str) -> int: ...
    def parse_int_list(self, open_: str, close: str, context: str) -> list[int]: ...
    def parse_string(self, context: str) -> str: ...


class AttrKind:
    """One kind of attribute value.  The kinds are the instances named on this class
    (``AttrKind.INT``, ``AttrKind.SLICE``, ...)."""

    name = ""

    def normalize(self, spec: AttrSpec, value: Any) -> Any:
        raise NotImplementedError

    def format(self, spec: AttrSpec, value: Any) -> str:
        raise NotImplementedError

    def parse(self, spec: AttrSpec, parser: AttrParser) -> Any:
        return parser.error(f"attribute {spec.name} cannot be written here", parser.token)

    def __repr__(self) -> str:
        return f"AttrKind.{self.name.upper()}"

    INT: AttrKind
    INTS: AttrKind
    BOOL: AttrKind
    ENUM: AttrKind
    STRING: AttrKind
    SLICE: AttrKind
    PADDING: AttrKind
    LITERAL: AttrKind


class _Int(AttrKind):
    """``index=0``"""

    name = "int"

    def normalize(self, spec, value):
        if isinstance(value, bool):
            raise TypeError
        return int(value)

    def format(self, spec, value):
        return str(value)

    def parse(self, spec, parser):
        return parser.parse_int(f"the value of {spec.name}")


class _Ints(AttrKind):
    """``dimensions={1,0}``"""

    name = "ints"

    def normalize(self, spec, value):
        return tuple(int(v) for v in value)

    def format(self, spec, value):
        return "{" + ",".join(map(str, value)) + "}"

    def parse(self, spec, parser):
        return tuple(parser.parse_int_list("{", "}", spec.name))


class _Bool(AttrKind):
    """``custom_call_has_side_effect=true``"""

    name = "bool"

    def normalize(self, spec, value):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError
        return bool(value)

    def format(self, spec, value):
        return "true" if value else "false"

    def parse(self, spec, parser):
        word = parser.expect_word(f"true or false for {spec.name}")
        if word.text not in ("true", "false"):
            parser.error(f"expected true or false for {spec.name}, found {word.text!r}", word)
        return word.text == "true"


class _Enum(AttrKind):
    """``direction=LT``: one of the spec's ``choices``."""

    name = "enum"

    def normalize(self, spec, value):
        if value not in spec.choices:
            raise IRError(f"attribute '{spec.name}' must be one of {', '.join(spec.choices)}, "
                          f"got {value!r}")
        return value

    def format(self, spec, value):
        return value

    def parse(self, spec, parser):
        word = parser.expect_word(f"a value for {spec.name}")
        if word.text not in spec.choices:
            parser.error(f"{spec.name} must be one of {', '.join(spec.choices)}, found {word.text!r}",
                         word)
        return word.text


class _String(AttrKind):
    """``custom_call_target="foo"``"""

    name = "string"

    def normalize(self, spec, value):
        if not isinstance(value, str):
            raise TypeError
        return value

    def format(self, spec, value):
        return quote(value)

    def parse(self, spec, parser):
        return parser.parse_string(f"a quoted string for {spec.name}")


def _triples(value: Any, fill: int) -> tuple[tuple[int, int, int], ...]:
    triples = []
    for entry in value:
        entry = tuple(int(v) for v in entry)
        if len(entry) == 2:
            entry = entry + (fill,)
        if len(entry) != 3:
            raise TypeError
        triples.append(entry)
    return tuple(triples)


class _Slice(AttrKind):
    """``slice={[0:2], [1:5:2]}`` -> ((start, limit, stride), ...)"""

    name = "slice"

    def normalize(self, spec, value):
        return _triples(value, 1)

    def format(self, spec, value):
        return "{" + ", ".join(f"[{a}:{b}]" if c == 1 else f"[{a}:{b}:{c}]" for a, b, c in value) + "}"

    def parse(self, spec, parser):
        parser.expect_punct("{", "to start the slice ranges")
        ranges = []
        if not parser.parse_optional_punct("}"):
            while True:
                ranges.append(self._range(parser))
                if parser.parse_optional_punct("}"):
                    break
                parser.expect_punct(",", "or '}' between slice ranges")
        return tuple(ranges)

    @staticmethod
    def _range(parser: AttrParser) -> tuple[int, int, int]:
        parser.expect_punct("[", "to start a slice range [start:limit:stride]")
        start = parser.parse_int("the slice start")
        parser.expect_punct(":", "after the slice start")
        limit = parser.parse_int("the slice limit")
        stride = 1
        if parser.parse_optional_punct(":"):
            stride = parser.parse_int("the slice stride")
        parser.expect_punct("]", "to close the slice range")
        return (start, limit, stride)


_PADDING_WORD = re.compile(r"-?\d")


class _Padding(AttrKind):
    """``padding=0_0x1_2_1`` -> ((low, high, interior), ...)"""

    name = "padding"

    def normalize(self, spec, value):
        return _triples(value, 0)

    def format(self, spec, value):
        return "x".join(f"{lo}_{hi}" if it == 0 else f"{lo}_{hi}_{it}" for lo, hi, it in value)

    def parse(self, spec, parser):
        token = parser.token
        if not (token.kind == "word" and _PADDING_WORD.match(token.text)):
            return ()  # `padding=` with nothing after it: a rank-0 operand
        parser.advance()
        config = []
        for entry in token.text.split("x"):
            try:
                numbers = [int(p) for p in entry.split("_")]
            except ValueError:
                numbers = []
            if len(numbers) not in (2, 3):
                parser.error(f"padding entry {entry!r} must be low_high or low_high_interior", token)
            config.append(tuple(numbers) + ((0,) if len(numbers) == 2 else ()))
        return tuple(config)


class _Literal(AttrKind):
    """``constant({1, 2})``: a read-only array, written in the operand position (the
    printer and parser of constants handle it)."""

    name = "literal"

    def normalize(self, spec, value):
        array = np.array(value, copy=True)
        array.flags.writeable = False
        return array


AttrKind.INT = _Int()
AttrKind.INTS = _Ints()
AttrKind.BOOL = _Bool()
AttrKind.ENUM = _Enum()
AttrKind.STRING = _String()
AttrKind.SLICE = _Slice()
AttrKind.PADDING = _Padding()
AttrKind.LITERAL = _Literal()


@dataclass(frozen=True)
class AttrSpec:
    name: str
    kind: AttrKind
    required: bool = True
    default: Any = None
    choices: tuple[str, ...] = ()
    # The name in HLO text when it differs: compare's `type=` would collide with the
    # builder's `type=` (the declared result type).
    text_name: str | None = None

    @property
    def spelling(self) -> str:
        return self.text_name or self.name

    def normalize(self, value: Any) -> Any:
        """Canonical, hashable form of a user-supplied attribute value."""
        try:
            return self.kind.normalize(self, value)
        except (TypeError, ValueError):
            raise IRError(f"attribute '{self.name}' expects a {self.kind.name} value, "
                          f"got {value!r}") from None

    def format(self, value: Any) -> str:
        return self.kind.format(self, value)

    def parse(self, parser: AttrParser) -> Any:
        return self.kind.parse(self, parser)


def quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
