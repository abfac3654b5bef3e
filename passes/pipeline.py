"""Pipelines: pass lists from text (``"simplify,cse,fuse{max-ops=64}"``), edits of the default.

Grammar (spaces allowed between tokens)::

    pipeline := [ pass ("," pass)* ]
    pass     := NAME [ "{" [ option ("," option)* ] "}" ]
    option   := NAME "=" VALUE          VALUE: any characters but , { } = and spaces

Option names are the pass's field names with ``-`` for ``_`` (``fold-limit``);
``fold_limit`` is accepted too.

``jit(fn, passes=...)`` takes a whole pipeline (text, pass names, ``Pass``
objects) or edits of ``DEFAULT_PIPELINE``: ``insert_before("cse", "my-pass")``,
``insert_after(...)``, ``remove("dce")``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NoReturn, Sequence, Union

from .base import NAME, Pass, PipelineError
from .registry import get_pass

# Layout and buffer assignment come last: they describe memory, which later rewrites would
# invalidate (a stale buffer plan is ignored by codegen).
DEFAULT_PIPELINE = "simplify,cse,dce,fuse,layout,buffers"

_VALUE = re.compile(r"[^,{}=\s]+")
_SPACE = re.compile(r"\s*")


@dataclass(frozen=True)
class PassSpec:
    """One pass as written in pipeline text: its name and its options' raw text values."""

    name: str
    options: tuple[tuple[str, str], ...] = ()

    def build(self) -> Pass:
        pass_class = get_pass(self.name)
        values: dict[str, str] = {}
        for key, value in self.options:
            key = key.replace("_", "-")
            if key in values:
                raise PipelineError(f"option '{key}' of pass '{self.name}' is given twice")
            values[key] = value
        return pass_class.from_options(values)


class _Scanner:
    """Reads pipeline text left to right; errors point at the column."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0

    def skip_space(self) -> None:
        self.position = _SPACE.match(self.text, self.position).end()

    def at_end(self) -> bool:
        self.skip_space()
        return self.position == len(self.text)

    def accept(self, char: str) -> bool:
        self.skip_space()
        if self.text.startswith(char, self.position):
            self.position += 1
            return True
        return False

    def expect(self, char: str, what: str) -> None:
        if not self.accept(char):
            self.fail(f"expected {what}")

    def token(self, pattern: re.Pattern, what: str) -> str:
        self.skip_space()
        match = pattern.match(self.text, self.position)
        if match is None:
            self.fail(f"expected {what}")
        self.position = match.end()
        return match.group()

    def fail(self, message: str) -> NoReturn:
        found = repr(self.text[self.position]) if self.position < len(self.text) else "the end"
        column = self.position + 1
        raise PipelineError(f"malformed pipeline (column {column}): {message}, found {found}\n"
                            f"  {self.text}\n  {' ' * self.position}^")


def parse_pipeline(text: str) -> list[PassSpec]:
    """The passes written in ``text``, not yet looked up."""
    scanner = _Scanner(text)
    specs: list[PassSpec] = []
    if scanner.at_end():
        return specs
    while True:
        name = scanner.token(NAME, "a pass name")
        options: list[tuple[str, str]] = []
        if scanner.accept("{"):
            if not scanner.accept("}"):
                while True:
                    key = scanner.token(NAME, "an option name")
                    scanner.expect("=", f"'=' after option '{key}'")
                    options.append((key, scanner.token(_VALUE, f"a value for option '{key}'")))
                    if scanner.accept("}"):
                        break
                    scanner.expect(",", "',' or '}' after an option")
        specs.append(PassSpec(name, tuple(options)))
        if scanner.at_end():
            return specs
        scanner.expect(",", "',' between passes")


PipelineItem = Union[str, Pass, type]
Pipeline = Union[str, Pass, Sequence[PipelineItem]]


def build_pipeline(pipeline: Pipeline) -> list[Pass]:
    """The passes of a whole pipeline: text, a ``Pass``, or a list of text, classes and passes."""
    items = [pipeline] if isinstance(pipeline, (str, Pass)) else list(pipeline)
    passes: list[Pass] = []
    for item in items:
        if isinstance(item, Pass):
            passes.append(item)
        elif isinstance(item, str):
            passes.extend(spec.build() for spec in parse_pipeline(item))
        elif isinstance(item, type) and issubclass(item, Pass):
            passes.append(item())
        else:
            raise PipelineError(f"a pipeline holds pass names, pipeline text or Pass objects, "
                                f"not {item!r}")
    return passes


def format_pipeline(passes: Sequence[Pass]) -> str:
    """Pipeline text that builds ``passes`` again."""
    return ",".join(str(p) for p in passes)


@dataclass(frozen=True)
class PipelineEdit:
    """A change to a pipeline: insert passes before or after the first ``anchor``, or remove it."""

    action: str  # "before", "after" or "remove"
    anchor: str
    passes: tuple[PipelineItem, ...] = ()

    def apply(self, pipeline: list[Pass]) -> list[Pass]:
        names = [p.name for p in pipeline]
        if self.anchor not in names:
            listing = format_pipeline(pipeline) or "empty"
            raise PipelineError(f"cannot {self.describe()}: no pass '{self.anchor}' in the "
                                f"pipeline ({listing})")
        if self.action == "remove":
            return [p for p in pipeline if p.name != self.anchor]
        index = names.index(self.anchor) + (self.action == "after")
        return pipeline[:index] + build_pipeline(self.passes) + pipeline[index:]

    def describe(self) -> str:
        if self.action == "remove":
            return f"remove '{self.anchor}'"
        return f"insert passes {self.action} '{self.anchor}'"


def insert_before(anchor: str, *passes: PipelineItem) -> PipelineEdit:
    """Run ``passes`` just before the pass named ``anchor``."""
    return PipelineEdit("before", anchor, passes)


def insert_after(anchor: str, *passes: PipelineItem) -> PipelineEdit:
    """Run ``passes`` just after the pass named ``anchor``."""
    return PipelineEdit("after", anchor, passes)


def remove(name: str) -> PipelineEdit:
    """Leave the pass named ``name`` out."""
    return PipelineEdit("remove", name)


# What jit(passes=...) accepts.
PipelineSpec = Union[Pipeline, PipelineEdit, Sequence[PipelineEdit], None]


def resolve_pipeline(spec: PipelineSpec) -> list[Pass]:
    """What ``jit(passes=spec)`` runs: the default pipeline, a whole one, or default edits."""
    if spec is None:
        return build_pipeline(DEFAULT_PIPELINE)
    if isinstance(spec, PipelineEdit):
        spec = [spec]
    if isinstance(spec, (str, Pass)):
        return build_pipeline(spec)
    items = list(spec)
    edits = [item for item in items if isinstance(item, PipelineEdit)]
    if not edits:
        return build_pipeline(items)
    if len(edits) != len(items):
        raise PipelineError("passes= is either a whole pipeline or a list of edits "
                            "(insert_before, insert_after, remove) of the default one, not a mix")
    pipeline = build_pipeline(DEFAULT_PIPELINE)
    for edit in edits:
        pipeline = edit.apply(pipeline)
    return pipeline
