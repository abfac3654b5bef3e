"""Parsing HLO text (the subset jitflow prints, plus what JAX and XLA dumps contain).

Accepted: an optional ``HloModule name, ...`` header; computations in any
order, ``ENTRY`` marking the entry (else the last one is, as in XLA);
``%``-prefixed or bare names; ``ROOT``; layouts or none; operands with or
without their types; ``metadata={...}``; ``//`` and ``/* */`` comments.
Attributes XLA uses for other backends (sharding, frontend_attributes, ...)
are skipped.  Everything else that is not understood is a ``ParseError`` with
line, column and what was expected.

Parsing happens in two steps: the text becomes raw computations, then the
raw computations are built, callees first, through ``Builder`` so that every
instruction is type-checked by the op table.
"""

from __future__ import annotations

import collections
import functools
import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterator, NoReturn

import numpy as np

from ..errors import IRError, ParseError, SourceLocation
from .builder import Builder, DeclaredTypeError
from .core import Computation, Instruction, Module
from .attributes import AttrKind
from .opdef import BRANCHES, OPS, OpDef
from .limits import MAX_CALL_DEPTH, MAX_NESTING_DEPTH, MAX_TEXT_CHARS, MAX_TOKEN_CHARS
from .types import DType, TensorType, TupleType, Type, same_ignoring_layout

# Attributes meaningful to XLA backends but not to jitflow: read and dropped.
IGNORED_ATTRIBUTES = frozenset({
    "sharding", "frontend_attributes", "operand_precision", "control-predecessors",
    "statistics_viz", "result_accuracy", "algorithm", "origin", "api_version",
    "output_to_operand_aliasing", "custom_call_schedule", "schedule",
})


# Every repeat is of a single character class: a repeat of an alternation makes
# Python's regex engine keep a backtracking record per character (~330 bytes each),
# so a 10 MB name once took more than 2 GB.  Strings are therefore scanned by
# ``_string_end`` (possessive repeats would do, but need Python 3.11).
_TOKEN = re.compile(r"""
    (?P<space>[ \t\r]+)
  | (?P<newline>\n)
  | (?P<line_comment>//[^\n]*)
  | (?P<block_comment>/\*.*?\*/)
  | (?P<string>")
  | (?P<arrow>->)
  | (?P<word>%?[A-Za-z0-9_.+\-]+)
  | (?P<punct>[{}()\[\],=:])
""", re.VERBOSE | re.DOTALL)
_STRING_CHARS = re.compile(r'[^"\\\n]*')
# Numbers as XLA's lexer reads them: no '+' sign, no '_' separators, no 'Infinity'.
_INTEGER = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_FLOAT_WORDS = {"inf": float("inf"), "-inf": float("-inf"), "nan": float("nan"),
                "-nan": float("nan")}
# Characters of a name or value that an error message quotes.
_QUOTED_CHARS = 60


@dataclass(slots=True)
class Token:
    kind: str  # word, string, arrow, punct, eof
    text: str
    line: int
    column: int
    offset: int = 0  # into the text, to find the line for error messages


def source_line_at(text: str, offset: int) -> str:
    """The line of ``text`` holding ``offset`` (found on demand: no copy of every line)."""
    start = text.rfind("\n", 0, offset) + 1
    end = text.find("\n", offset)
    return text[start:end if end >= 0 else len(text)]


def quoted(text: str) -> str:
    """``text`` as an error message quotes it: repr, cut to a few dozen characters."""
    if len(text) <= _QUOTED_CHARS:
        return repr(text)
    return repr(text[:_QUOTED_CHARS]) + f"... ({len(text)} characters)"


def _string_end(text: str, start: int) -> int:
    """The end of the string whose opening quote is at ``start``, or -1 if it has none."""
    position = start + 1
    while True:
        position = _STRING_CHARS.match(text, position).end()
        if position >= len(text) or text[position] == "\n":
            return -1
        if text[position] == '"':
            return position + 1
        position += 2  # a backslash and the character it escapes


def tokenize(text: str, filename: str) -> Iterator[Token]:
    """The tokens of ``text`` one by one (the parser looks a few ahead: a list of them all
    would take ~130 bytes per character of a large file), then one eof token."""
    if len(text) > MAX_TEXT_CHARS:
        raise ParseError(f"the text has {len(text)} characters, more than the limit of "
                         f"{MAX_TEXT_CHARS}", 1, 1, "", filename)
    line, line_start, position = 1, 0, 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        column = position - line_start + 1
        if match is None:
            raise ParseError(f"unexpected character {text[position]!r}", line, column,
                             source_line_at(text, position), filename)
        kind = match.lastgroup
        end = match.end()
        if kind == "string":
            end = _string_end(text, position)
            if end < 0:
                raise ParseError("unterminated string", line, column,
                                 source_line_at(text, position), filename)
        elif kind == "word":
            # A word stops before '->' (as in 'a->b'), which is cheaper to cut here than
            # to exclude inside the pattern.
            arrow = text.find("->", position, end + 1)
            if arrow >= 0:
                end = arrow
            if end - position <= (text[position] == "%"):
                raise ParseError(f"unexpected character {text[position]!r}", line, column,
                                 source_line_at(text, position), filename)
        if kind in ("word", "string") and end - position > MAX_TOKEN_CHARS:
            raise ParseError(f"a {'name or number' if kind == 'word' else 'string'} of "
                             f"{end - position} characters, more than the limit of "
                             f"{MAX_TOKEN_CHARS}", line, column,
                             source_line_at(text, position), filename)
        if kind in ("word", "string", "arrow", "punct"):
            yield Token(kind, text[position:end], line, column, position)
        if kind == "newline":
            line, line_start = line + 1, end
        elif kind in ("block_comment", "string"):
            newlines = text.count("\n", position, end)
            if newlines:
                line += newlines
                line_start = text.rfind("\n", position, end) + 1
        position = end
    yield Token("eof", "", line, position - line_start + 1, position)


@dataclass
class RawOperand:
    name: str
    type: Type | None
    token: Token


@dataclass
class RawInstruction:
    name: str
    name_token: Token
    type: Type
    opcode: str
    opcode_token: Token
    operands: list[RawOperand]
    attrs: dict[str, Any]
    callees: list[tuple[str, Token]]
    source: SourceLocation | None
    is_root: bool


@dataclass
class RawComputation:
    name: str
    token: Token
    is_entry: bool
    signature: list[tuple[str, Type, Token]] | None
    result_type: tuple[Type, Token] | None
    instructions: list[RawInstruction] = field(default_factory=list)
    close_token: Token | None = None


class Parser:
    def __init__(self, text: str, filename: str = "<text>") -> None:
        self.filename = filename
        self.text = text
        self._tokens = tokenize(text, filename)
        self._ahead: collections.deque[Token] = collections.deque([next(self._tokens)])  # [0]: current
        self.depth = 0  # of the tuple types or literal braces being parsed

    # -- token helpers --------------------------------------------------------

    @property
    def token(self) -> Token:
        return self._ahead[0]

    def peek(self, offset: int = 1) -> Token:
        while len(self._ahead) <= offset and self._ahead[-1].kind != "eof":
            self._ahead.append(next(self._tokens))
        return self._ahead[min(offset, len(self._ahead) - 1)]

    def advance(self) -> Token:
        token = self._ahead[0]
        if token.kind != "eof":
            self._ahead.popleft()
            if not self._ahead:
                self._ahead.append(next(self._tokens))
        return token

    def error(self, message: str, token: Token | None = None) -> NoReturn:
        token = token or self.token
        source_line = source_line_at(self.text, token.offset)
        if token.kind == "eof":
            message += " (the text ends here)"
        raise ParseError(message, token.line, token.column, source_line, self.filename)

    def describe(self, token: Token) -> str:
        return "end of input" if token.kind == "eof" else quoted(token.text)

    def parse_optional_punct(self, text: str) -> bool:
        if self.token.kind in ("punct", "arrow") and self.token.text == text:
            self.advance()
            return True
        return False

    def expect_punct(self, text: str, context: str) -> Token:
        if not (self.token.kind in ("punct", "arrow") and self.token.text == text):
            self.error(f"expected '{text}' {context}, found {self.describe(self.token)}")
        return self.advance()

    def expect_word(self, context: str) -> Token:
        if self.token.kind != "word":
            self.error(f"expected {context}, found {self.describe(self.token)}")
        return self.advance()

    def parse_name(self, context: str) -> tuple[str, Token]:
        token = self.expect_word(context)
        name = token.text[1:] if token.text.startswith("%") else token.text
        if not name or not (name[0].isalpha() or name[0] == "_"):
            self.error(f"expected {context}, found {quoted(token.text)}", token)
        return name, token

    def parse_int(self, context: str) -> int:
        token = self.expect_word(context)
        if not _INTEGER.fullmatch(token.text):  # int() would also take '+4', '1_0', ' 4'
            self.error(f"expected {context} (an integer), found {quoted(token.text)}", token)
        return int(token.text)

    def enter_nesting(self, what: str) -> None:
        """Count one level of a recursive construct; refuse more than ``MAX_NESTING_DEPTH``."""
        self.depth += 1
        if self.depth > MAX_NESTING_DEPTH:
            self.error(f"{what} nested more than {MAX_NESTING_DEPTH} levels deep")

    def parse_int_list(self, open_: str, close: str, context: str) -> list[int]:
        self.expect_punct(open_, f"to start {context}")
        values = []
        if not self.parse_optional_punct(close):
            while True:
                values.append(self.parse_int(f"an integer in {context}"))
                if self.parse_optional_punct(close):
                    break
                self.expect_punct(",", f"or '{close}' in {context}")
        return values

    # -- types ----------------------------------------------------------------

    def parse_type(self) -> Type:
        if self.token.kind == "punct" and self.token.text == "(":
            self.enter_nesting("tuple types")
            self.advance()
            elements = []
            if not self.parse_optional_punct(")"):
                while True:
                    elements.append(self.parse_type())
                    if self.parse_optional_punct(")"):
                        break
                    self.expect_punct(",", "or ')' in a tuple type")
            self.depth -= 1
            return TupleType(tuple(elements))
        token = self.expect_word("a type such as f32[2,3]")
        try:
            dtype = DType.parse(token.text)
        except IRError as error:
            self.error(str(error), token)
        if not (self.token.kind == "punct" and self.token.text == "["):
            self.error(f"expected '[' after element type {token.text}, found "
                       f"{self.describe(self.token)}")
        dims = []
        self.advance()
        if not self.parse_optional_punct("]"):
            while True:
                dim_token = self.token
                if dim_token.kind == "word" and (dim_token.text.startswith("<=")
                                                 or dim_token.text == "?"):
                    self.error("dynamic dimensions are not supported", dim_token)
                dim = self.parse_int("a dimension size")
                if dim < 0:
                    self.error(f"dimension size {dim} is negative", dim_token)
                dims.append(dim)
                if self.parse_optional_punct("]"):
                    break
                self.expect_punct(",", "or ']' in a shape")
        layout = None
        following = self.peek()
        # '{' opens a layout only if a dimension number or '}' follows; otherwise it is
        # the body of a computation whose result type this was.
        if self.token.kind == "punct" and self.token.text == "{" and (
                following.text == "}" or following.text.lstrip("-").isdigit()):
            layout_token = self.token
            layout = self.parse_layout()
            if sorted(layout) != list(range(len(dims))):
                self.error(f"layout {{{','.join(map(str, layout))}}} is not a permutation of the "
                           f"{len(dims)} dimension(s) of {dtype}[{','.join(map(str, dims))}]",
                           layout_token)
        try:
            return TensorType(dtype, tuple(dims), None if layout is None else tuple(layout))
        except IRError as error:
            self.error(str(error), token)

    def parse_layout(self) -> list[int]:
        self.expect_punct("{", "to start a layout")
        values = []
        if not self.parse_optional_punct("}"):
            while True:
                values.append(self.parse_int("a dimension number in the layout"))
                if self.parse_optional_punct("}"):
                    break
                if self.token.kind == "punct" and self.token.text == ":":
                    self.error("layout tiling and memory spaces are not supported")
                self.expect_punct(",", "or '}' in a layout")
        return values

    # -- module structure -----------------------------------------------------

    def parse_raw_module(self) -> tuple[str, list[RawComputation]]:
        name = "module"
        if self.token.kind == "word" and self.token.text == "HloModule":
            self.advance()
            name, _ = self.parse_name("the module name")
            while self.parse_optional_punct(","):
                self.parse_name("a module attribute")
                self.expect_punct("=", "after the module attribute name")
                self.skip_value()
        computations = []
        while self.token.kind != "eof":
            computations.append(self.parse_raw_computation())
        if not computations:
            self.error("expected a computation")
        return name, computations

    def parse_raw_computation(self) -> RawComputation:
        is_entry = False
        if self.token.kind == "word" and self.token.text == "ENTRY":
            self.advance()
            is_entry = True
        name, token = self.parse_name("a computation name (or ENTRY)")
        signature = None
        result_type = None
        if self.parse_optional_punct("("):
            signature = []
            if not self.parse_optional_punct(")"):
                while True:
                    param_name, param_token = self.parse_name("a parameter name")
                    self.expect_punct(":", "after the parameter name")
                    signature.append((param_name, self.parse_type(), param_token))
                    if self.parse_optional_punct(")"):
                        break
                    self.expect_punct(",", "or ')' in the computation's parameter list")
            self.expect_punct("->", "and the result type after the parameter list")
            result_token = self.token
            result_type = (self.parse_type(), result_token)
        self.expect_punct("{", f"to open computation '{name}'")
        computation = RawComputation(name, token, is_entry, signature, result_type)
        while not (self.token.kind == "punct" and self.token.text == "}"):
            if self.token.kind == "eof":
                self.error(f"expected '}}' to close computation '{name}'")
            computation.instructions.append(self.parse_raw_instruction())
        computation.close_token = self.advance()
        return computation

    def parse_raw_instruction(self) -> RawInstruction:
        is_root = False
        if self.token.kind == "word" and self.token.text == "ROOT":
            self.advance()
            is_root = True
        name, name_token = self.parse_name("an instruction name (or '}')")
        self.expect_punct("=", f"after %{name}")
        declared = self.parse_type()
        opcode_token = self.expect_word("an opcode")
        opcode = opcode_token.text
        opdef = OPS.get(opcode)
        if opdef is None:
            self.error(f"unknown opcode '{opcode}'", opcode_token)
        self.expect_punct("(", f"after opcode {opcode}")
        attrs: dict[str, Any] = {}
        operands: list[RawOperand] = []
        if opcode == "parameter":
            attrs["parameter_number"] = self.parse_int("the parameter number")
            self.expect_punct(")", "after the parameter number")
        elif opcode == "constant":
            literal_token = self.token
            attrs["literal"] = self.parse_literal(declared, literal_token)
            self.expect_punct(")", "after the literal")
        else:
            operands = self.parse_operands()
        callees: list[tuple[str, Token]] = []
        source = None
        while self.parse_optional_punct(","):
            attr_name, attr_token = self.parse_name("an attribute name")
            self.expect_punct("=", f"after attribute '{attr_name}'")
            if attr_name == "metadata":
                source = self.parse_metadata()
            elif self.is_callee_attribute(opdef, attr_name):
                callees.extend(self.parse_callees(opdef, attr_name, attr_token, callees))
            elif opdef.attr_spec_spelled(attr_name) is not None:
                spec = opdef.attr_spec_spelled(attr_name)
                if spec.name in attrs:
                    self.error(f"attribute '{attr_name}' is given twice", attr_token)
                attrs[spec.name] = spec.parse(self)
            elif attr_name in IGNORED_ATTRIBUTES or attr_name == "backend_config":
                self.skip_value()
            else:
                allowed = [s.spelling for s in opdef.attrs if s.kind is not AttrKind.LITERAL
                           and s.name != "parameter_number"] + list(self.callee_names(opdef))
                expected = ", ".join(allowed) if allowed else "none"
                self.error(f"{opcode} has no attribute '{attr_name}' (expected: {expected})",
                           attr_token)
        return RawInstruction(name, name_token, declared, opcode, opcode_token, operands, attrs,
                              callees, source, is_root)

    def parse_operands(self) -> list[RawOperand]:
        operands = []
        if self.parse_optional_punct(")"):
            return operands
        while True:
            operand_type = None
            token = self.token
            if token.kind == "punct" and token.text == "(" or (
                    token.kind == "word" and not token.text.startswith("%")
                    and self.peek().text == "["):
                operand_type = self.parse_type()
            name, token = self.parse_name("an operand name")
            operands.append(RawOperand(name, operand_type, token))
            if self.parse_optional_punct(")"):
                return operands
            self.expect_punct(",", "or ')' after an operand")

    @staticmethod
    def callee_names(opdef: OpDef) -> tuple[str, ...]:
        if opdef.callees == (BRANCHES,):
            return (BRANCHES, "true_computation", "false_computation")
        return opdef.callees

    def is_callee_attribute(self, opdef: OpDef, name: str) -> bool:
        return name in self.callee_names(opdef)

    def parse_callees(self, opdef: OpDef, attr_name: str, attr_token: Token,
                      sofar: list[tuple[str, Token]]) -> list[tuple[str, Token]]:
        if attr_name == BRANCHES:
            if sofar:
                self.error("branch_computations cannot be combined with other branches", attr_token)
            self.expect_punct("{", "to start the list of branch computations")
            names = []
            while True:
                names.append(self.parse_name("a computation name"))
                if self.parse_optional_punct("}"):
                    return names
                self.expect_punct(",", "or '}' in branch_computations")
        roles = self.callee_names(opdef)
        if opdef.callees == (BRANCHES,):
            # true_computation must precede false_computation so the pair is in order.
            expected = ["true_computation", "false_computation"][len(sofar)] if len(sofar) < 2 else None
            if attr_name != expected:
                self.error(f"expected {expected or 'no more branches'}, found {attr_name}", attr_token)
        elif roles.index(attr_name) != len(sofar):
            self.error(f"expected {roles[len(sofar)] if len(sofar) < len(roles) else 'no more computations'}"
                       f" here, found {attr_name}", attr_token)
        return [self.parse_name(f"the {attr_name} computation")]

    def parse_string(self, context: str) -> str:
        if self.token.kind != "string":
            self.error(f"expected {context}, found {self.describe(self.token)}")
        return unquote(self.advance().text)

    def parse_metadata(self) -> SourceLocation:
        self.expect_punct("{", "to start metadata")
        fields: dict[str, str] = {}
        while not self.parse_optional_punct("}"):
            key = self.expect_word("a metadata field such as source_line").text
            self.expect_punct("=", f"after metadata field {key}")
            if self.token.kind == "string":
                fields[key] = unquote(self.advance().text)
            else:
                fields[key] = self.expect_word(f"the value of metadata field {key}").text
            self.parse_optional_punct(",")
        line = fields.get("source_line")
        try:
            line_number = int(line) if line is not None else None
        except ValueError:
            self.error(f"source_line must be an integer, found {line!r}")
        return SourceLocation(fields.get("source_file"), line_number, fields.get("op_name"))

    def skip_value(self) -> None:
        """Skip one attribute value: a word, a string, or a balanced {...} group."""
        token = self.token
        if token.kind == "punct" and token.text == "{":
            depth = 0
            while True:
                current = self.advance()
                if current.kind == "eof":
                    self.error("unbalanced '{' in attribute value", token)
                if current.kind == "punct" and current.text == "{":
                    depth += 1
                elif current.kind == "punct" and current.text == "}":
                    depth -= 1
                    if depth == 0:
                        return
        elif token.kind in ("word", "string"):
            self.advance()
        else:
            self.error(f"expected an attribute value, found {self.describe(token)}")

    # -- literals -------------------------------------------------------------

    def parse_literal(self, declared: Type, token: Token) -> np.ndarray:
        if not isinstance(declared, TensorType):
            self.error(f"a constant must have an array type, not {declared}", token)
        values = self.parse_literal_value(declared.dtype)
        try:
            array = np.array(values, dtype=object)
            if array.shape != declared.shape:
                # Nested lists of empty rows collapse oddly; rebuild from the declared shape.
                if array.size == 0 and declared.size == 0 and _nesting_shape(values) == declared.shape[
                        :len(_nesting_shape(values))]:
                    return np.zeros(declared.shape, dtype=declared.dtype.numpy)
                self.error(f"literal has shape {list(array.shape)} but its type is "
                           f"{declared.without_layout()}", token)
            return array.astype(declared.dtype.numpy)
        except (ValueError, OverflowError, TypeError) as error:
            self.error(f"literal does not fit {declared.dtype}: {error}", token)

    def parse_literal_value(self, dtype: DType) -> Any:
        if self.token.kind == "punct" and self.token.text == "{":
            self.enter_nesting("literal braces")
            self.advance()
            items = []
            if not self.parse_optional_punct("}"):
                while True:
                    items.append(self.parse_literal_value(dtype))
                    if self.parse_optional_punct("}"):
                        break
                    self.expect_punct(",", "or '}' in the literal")
            self.depth -= 1
            return items
        token = self.expect_word(f"a {dtype} value")
        return self.scalar_value(token, dtype)

    def scalar_value(self, token: Token, dtype: DType) -> Any:
        text = token.text
        if text == "...":
            self.error("elided constant: the literal's values are missing from the text", token)
        if dtype is DType.PRED:
            if text in ("true", "false"):
                return text == "true"
            if text in ("0", "1"):
                return text == "1"
            self.error(f"expected true or false, found {quoted(text)}", token)
        if dtype.is_integer:
            if not _INTEGER.fullmatch(text):
                self.error(f"expected an integer for {dtype}, found {quoted(text)}", token)
            value = int(text)
            info = np.iinfo(dtype.numpy)
            if not info.min <= value <= info.max:
                self.error(f"{value} is out of range for {dtype}", token)
            return value
        if text in _FLOAT_WORDS:
            return _FLOAT_WORDS[text]
        if not _DECIMAL.fullmatch(text):  # float() would also take 'Infinity', '1_0', '+1'
            self.error(f"expected a number for {dtype} (such as 1.5, -2e-3, inf, -inf or nan), "
                       f"found {quoted(text)}", token)
        value = float(text)
        if abs(value) >= _overflow_threshold(dtype):  # would round to inf in the dtype
            self.error(f"{quoted(text)} is out of range for {dtype} (its largest finite "
                       f"value is {np.finfo(dtype.numpy).max})", token)
        return value

    # -- building -------------------------------------------------------------

    def parse_module(self) -> Module:
        name, raw_computations = self.parse_raw_module()
        module = Module(name)
        by_name: dict[str, RawComputation] = {}
        entries = [c for c in raw_computations if c.is_entry]
        if len(entries) > 1:
            self.error("more than one ENTRY computation", entries[1].token)
        for raw in raw_computations:
            if raw.name in by_name:
                self.error(f"computation '{raw.name}' is defined twice (first at line "
                           f"{by_name[raw.name].token.line})", raw.token)
            by_name[raw.name] = raw
        entry = entries[0] if entries else raw_computations[-1]
        built: dict[str, Computation] = {}
        in_progress: list[str] = []
        call_depth: dict[str, int] = {}  # the longest chain of calls starting at a computation
        defined_at: dict[str, Token] = {}

        def build(raw: RawComputation) -> Computation:
            if raw.name in built:
                return built[raw.name]
            if raw.name in in_progress:
                self.error(f"computation '{raw.name}' calls itself (through "
                           f"{' -> '.join(in_progress + [raw.name])})", raw.token)
            in_progress.append(raw.name)
            depth = 1
            for inst in raw.instructions:
                for callee, token in inst.callees:
                    if callee not in by_name:
                        self.error(f"use of undefined computation '{callee}'", token)
                    if len(in_progress) >= MAX_CALL_DEPTH:  # before recursing any deeper
                        self.call_depth_error(raw.name, callee, token)
                    build(by_name[callee])
                    depth = max(depth, 1 + call_depth[callee])
                    if depth > MAX_CALL_DEPTH:
                        self.call_depth_error(raw.name, callee, token)
            call_depth[raw.name] = depth
            in_progress.pop()
            built[raw.name] = self.build_computation(module, raw, built, defined_at, raw is entry)
            return built[raw.name]

        for raw in raw_computations:
            build(raw)
        # Keep the text's order, which the printer normalizes (callees first).
        module.computations = {raw.name: built[raw.name] for raw in raw_computations}
        return module

    def call_depth_error(self, caller: str, callee: str, token: Token) -> NoReturn:
        self.error(f"'{caller}' calling '{callee}' makes a chain of calls more than "
                   f"{MAX_CALL_DEPTH} computations deep, the limit", token)

    def build_computation(self, module: Module, raw: RawComputation,
                          built: dict[str, Computation], defined_at: dict[str, Token],
                          is_entry: bool) -> Computation:
        computation = Computation(raw.name, module)
        module.computations[raw.name] = computation
        if is_entry:
            module.entry_name = raw.name
        builder = Builder(computation)
        values: dict[str, Instruction] = {}
        root = None
        pending_names = {inst.name: inst.name_token for inst in raw.instructions}
        for inst in raw.instructions:
            if inst.name in defined_at:
                first = defined_at[inst.name]
                self.error(f"duplicate name %{inst.name} (first defined at line {first.line}:"
                           f"{first.column})", inst.name_token)
            defined_at[inst.name] = inst.name_token
            operands = []
            for operand in inst.operands:
                if operand.name not in values:
                    if operand.name in pending_names:
                        later = pending_names[operand.name]
                        self.error(f"%{operand.name} is used before its definition at line "
                                   f"{later.line}", operand.token)
                    self.error(f"use of undefined value %{operand.name}", operand.token)
                value = values[operand.name]
                if operand.type is not None and not same_ignoring_layout(operand.type, value.type):
                    self.error(f"%{operand.name} has type {value.type}, not {operand.type}",
                               operand.token)
                operands.append(value)
            called = [built[name] for name, _ in inst.callees]
            builder.source = inst.source
            try:
                created = builder.emit(inst.opcode, *operands, type=inst.type, called=called,
                                       name=inst.name, **inst.attrs)
            except DeclaredTypeError as error:
                self.error(f"type {inst.type} does not match {error.inferred} inferred for "
                           f"{inst.opcode}", inst.opcode_token)
            except IRError as error:
                self.error(str(error).replace("cannot build ", "invalid ", 1), inst.opcode_token)
            values[inst.name] = created
            if inst.is_root:
                if root is not None:
                    self.error(f"computation '{raw.name}' has a second ROOT", inst.name_token)
                root = created
        if root is None:
            self.error(f"computation '{raw.name}' has no ROOT instruction", raw.close_token)
        computation.set_root(root)
        self.check_signature(raw, computation)
        return computation

    def check_signature(self, raw: RawComputation, computation: Computation) -> None:
        params = computation.parameters
        numbers = [p.attrs["parameter_number"] for p in params]
        if numbers != list(range(len(params))):
            self.error(f"computation '{raw.name}' has parameter numbers {numbers}; expected "
                       f"0..{len(params) - 1} with none repeated", raw.token)
        if raw.signature is not None:
            if len(raw.signature) != len(params):
                self.error(f"the signature of '{raw.name}' lists {len(raw.signature)} parameter(s) "
                           f"but the body has {len(params)}", raw.token)
            for (name, declared, token), param in zip(raw.signature, params):
                # XLA reads these names and drops them; its printer takes them from the
                # parameter instructions, so text that disagrees was edited by hand.
                if name != param.name:
                    self.error(f"signature names parameter {param.attrs['parameter_number']} "
                               f"'{name}', but that parameter is %{param.name}", token)
                if not same_ignoring_layout(declared, param.type):
                    self.error(f"signature says parameter {name} is {declared}, but parameter "
                               f"{param.attrs['parameter_number']} is {param.type}", token)
        if raw.result_type is not None:
            declared, token = raw.result_type
            if not same_ignoring_layout(declared, computation.root.type):
                self.error(f"signature says '{raw.name}' returns {declared}, but its ROOT is "
                           f"{computation.root.type}", token)


@functools.cache
def _overflow_threshold(dtype: DType) -> float:
    """The smallest magnitude that rounds to infinity in ``dtype`` (halfway past its maximum)."""
    largest = float(np.finfo(dtype.numpy).max)
    if dtype is DType.F64:
        return math.inf
    below = float(np.nextafter(np.finfo(dtype.numpy).max, dtype.numpy.type(0)))
    return largest + (largest - below) / 2


def _nesting_shape(values: Any) -> tuple[int, ...]:
    shape = []
    while isinstance(values, list):
        shape.append(len(values))
        if not values:
            break
        values = values[0]
    return tuple(shape)


def unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def parse_module(text: str, filename: str = "<text>") -> Module:
    """Parse HLO text into a Module; malformed text raises ``ParseError`` (line:column)."""
    return Parser(text, filename).parse_module()
