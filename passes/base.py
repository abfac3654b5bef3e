"""What a pass is: a named object with typed options and ``run(module) -> changed``.

A pass is a subclass of ``Pass`` with a ``name``, a one-line ``description``
(by default the first line of its docstring) and options declared as dataclass
fields with a type and a default::

    @register_pass("unroll")
    class Unroll(Pass):
        '''Unroll small while loops.'''
        max_trips: int = option(8, "loops with more trips stay loops")

        def run(self, module: Module) -> bool: ...

In pipeline text the option is spelled ``unroll{max-trips=4}``.  Options may be
``int``, ``float``, ``bool`` or ``str``; values set from Python are checked
against the same types as values parsed from text.
"""

from __future__ import annotations

import abc
import dataclasses
import os
import re
import sysconfig
import traceback
import typing
import weakref
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

from ..errors import JitflowError, is_jitflow_code
from ..ir import Module


class PipelineError(JitflowError):
    """A pipeline that cannot be built: malformed text, unknown pass, bad option name or value."""


class PluginError(JitflowError):
    """A pass plugin that cannot be loaded, or a pass that cannot be registered."""


class PassError(JitflowError):
    """A pass that failed or left invalid IR; ``pass_name`` says which one."""

    def __init__(self, pass_name: str, message: str) -> None:
        super().__init__(f"pass '{pass_name}' {message}")
        self.pass_name = pass_name


# Code that is not the plugin's own: jitflow's (errors.is_jitflow_code) and installed
# libraries.  An error's location is the innermost frame outside them (a NumPy error is
# reported at the plugin line that called NumPy).
_LIBRARY_CODE = tuple(path + os.sep for path in {sysconfig.get_paths()[key]
                                                 for key in ("stdlib", "platstdlib", "purelib",
                                                             "platlib")})


def describe_exception(error: BaseException) -> str:
    """``Type: message (file:line)``, at the plugin's line that raised or called what raised."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return f"{type(error).__name__}: {error}"
    own = [f for f in frames if not is_jitflow_code(f.filename)
           and not os.path.abspath(f.filename).startswith(_LIBRARY_CODE)]
    frame = (own or frames)[-1]
    return f"{type(error).__name__}: {error} ({frame.filename}:{frame.lineno})"


# Pass and option names: what pipeline text can spell (no commas, braces, spaces or '=').
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")

OPTION_TYPES: tuple[type, ...] = (int, float, bool, str)
_BOOLEANS = {"true": True, "false": False}


def option(default: Any, help: str = "") -> Any:
    """Declare a pass option: its default, and one line of help that ``jitflow passes`` shows."""
    return dataclasses.field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class PassOption:
    """One option of a pass: spelled ``max-ops`` in pipeline text, the field ``max_ops``."""

    name: str
    field: str
    type: type
    default: Any  # dataclasses.MISSING when the option must be given
    help: str = ""

    @property
    def required(self) -> bool:
        return self.default is dataclasses.MISSING

    def accepts(self, value: Any) -> bool:
        if self.type is bool:
            return isinstance(value, bool)
        if self.type is int:
            return isinstance(value, int) and not isinstance(value, bool)
        if self.type is float:
            return isinstance(value, (int, float)) and not isinstance(value, bool)
        return isinstance(value, self.type)

    def parse(self, text: str, pass_name: str) -> Any:
        """The typed value of ``text``; a ``PipelineError`` naming pass and option if none."""
        try:
            if self.type is bool:
                return _BOOLEANS[text.lower()]
            return self.type(text)
        except (KeyError, ValueError):
            expected = {bool: "true or false", int: "an int", float: "a float"}[self.type]
            raise PipelineError(f"option '{self.name}' of pass '{pass_name}' expects {expected}, "
                                f"got '{text}'") from None

    def format(self, value: Any) -> str:
        """``value`` as pipeline text writes it."""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def describe(self) -> str:
        """``max-ops: int = 64`` (or ``required``), for listings."""
        default = "required" if self.required else f"= {self.format(self.default)}"
        return f"{self.name}: {self.type.__name__} {default}"


_OPTIONS: weakref.WeakKeyDictionary[type, tuple[PassOption, ...]] = weakref.WeakKeyDictionary()


class Pass(abc.ABC):
    """Base class of passes.  Subclasses set ``name`` and implement ``run``."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Read the docstring now: @dataclass later replaces a missing one with the signature.
        doc = cls.__dict__.get("__doc__")
        if "description" not in cls.__dict__ and doc:
            cls.description = doc.strip().splitlines()[0].strip()

    @abc.abstractmethod
    def run(self, module: Module) -> bool:
        """Transform ``module`` in place; return whether anything changed."""

    @classmethod
    def options(cls) -> tuple[PassOption, ...]:
        """The options this pass takes, in declaration order."""
        if not dataclasses.is_dataclass(cls):
            return ()
        # Resolving type hints is slow, and every pass construction checks its options.
        cached = _OPTIONS.get(cls)
        if cached is None:
            cached = _OPTIONS[cls] = cls._declared_options()
        return cached

    @classmethod
    def _declared_options(cls) -> tuple[PassOption, ...]:
        try:
            hints = typing.get_type_hints(cls)
        except NameError as error:
            raise PluginError(f"pass '{cls.name}': cannot resolve an option's type "
                              f"({error})") from None
        options = []
        for field in dataclasses.fields(cls):
            kind = hints.get(field.name)
            if kind not in OPTION_TYPES:
                raise PluginError(f"option '{field.name}' of pass '{cls.name}' has type {kind!r}; "
                                  f"options are int, float, bool or str")
            options.append(PassOption(field.name.replace("_", "-"), field.name, kind,
                                      field.default, field.metadata.get("help", "")))
        return tuple(options)

    @classmethod
    def from_options(cls, values: Mapping[str, str]) -> Pass:
        """An instance configured from option text, as in ``name{key=value,...}``."""
        by_name = {option.name: option for option in cls.options()}
        kwargs = {}
        for key, text in values.items():
            option_ = by_name.get(key.replace("_", "-"))
            if option_ is None:
                known = ", ".join(by_name) or "none"
                raise PipelineError(f"pass '{cls.name}' has no option '{key}' "
                                    f"(its options: {known})")
            kwargs[option_.field] = option_.parse(text, cls.name)
        missing = [o.name for o in by_name.values() if o.required and o.field not in kwargs]
        if missing:
            raise PipelineError(f"pass '{cls.name}' needs option '{missing[0]}' "
                                f"(write {cls.name}{{{missing[0]}=...}})")
        return cls(**kwargs)

    def __post_init__(self) -> None:
        # Runs for dataclass passes: options given from Python get the checks text gets.
        for option_ in self.options():
            value = getattr(self, option_.field)
            if not option_.accepts(value):
                raise PipelineError(f"option '{option_.name}' of pass '{self.name}' expects "
                                    f"{option_.type.__name__}, got {value!r}")
        self.check_options()

    def check_options(self) -> None:
        """Reject option values out of range by raising ``self.option_error(...)``."""

    def option_error(self, field: str, message: str) -> PipelineError:
        value = getattr(self, field)
        return PipelineError(f"option '{field.replace('_', '-')}' of pass '{self.name}' "
                             f"{message}, got {value!r}")

    def __str__(self) -> str:
        """The pass as pipeline text: its name and the options that differ from their defaults."""
        changed = [f"{o.name}={o.format(getattr(self, o.field))}" for o in self.options()
                   if o.required or getattr(self, o.field) != o.default]
        return f"{self.name}{{{','.join(changed)}}}" if changed else self.name
