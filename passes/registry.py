"""The pass registry: names to pass classes, and the three ways passes get in.

* ``@register_pass("name")`` on a ``Pass`` subclass or on a function
  ``def f(module) -> bool``;
* the ``jitflow.passes`` entry-point group of installed packages (each entry
  point's name is a pass name; its value a pass class, a function, or a module
  that registers passes when imported), loaded lazily: only when a name is not
  registered yet, or when every pass is listed;
* ``load_pass_plugin(MODULE_OR_FILE)``, which the CLI's ``--load-pass-plugin`` calls.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import importlib
import importlib.util
import inspect
import re
import sys
import types
from pathlib import Path
from typing import Callable, TypeVar

from .base import NAME, Pass, PipelineError, PluginError, describe_exception

ENTRY_POINT_GROUP = "jitflow.passes"

_PASSES: dict[str, type[Pass]] = {}
# Entry points already imported (or that failed): never imported twice.
_LOADED_ENTRY_POINTS: set[str] = set()

PassLike = TypeVar("PassLike", bound=Callable)


def register_pass(target: str | PassLike | None = None, *,
                  description: str | None = None) -> PassLike | Callable[[PassLike], PassLike]:
    """Register a ``Pass`` subclass or a function ``f(module) -> bool`` under a pipeline name.

    ``@register_pass("name")``, ``@register_pass()`` and ``@register_pass`` all work;
    without a name a class uses its ``name`` attribute and a function its own name
    with ``_`` spelled ``-``.  A class that is not a dataclass becomes a frozen one,
    so that its annotated fields are its options.  Returns what it decorates.
    """
    if target is None or isinstance(target, str):
        return lambda obj: _register(obj, target, description)
    return _register(target, None, description)


def _register(obj: PassLike, name: str | None, description: str | None) -> PassLike:
    pass_class = _as_pass_class(obj, name, description)
    add_pass(pass_class)
    return pass_class if isinstance(obj, type) else obj


def _as_pass_class(obj: object, name: str | None, description: str | None) -> type[Pass]:
    if isinstance(obj, type):
        if not issubclass(obj, Pass):
            raise PluginError(f"register_pass expects a subclass of jitflow.passes.Pass or a "
                              f"function f(module) -> bool, got the class {obj.__qualname__}")
        if name is not None:
            obj.name = name
        if description is not None:
            obj.description = description
        if "__dataclass_fields__" not in obj.__dict__:
            obj = dataclasses.dataclass(frozen=True)(obj)
        return obj
    if inspect.isfunction(obj):
        return _function_pass(obj, name or obj.__name__.replace("_", "-"), description)
    raise PluginError(f"register_pass expects a Pass subclass or a function f(module) -> bool, "
                      f"got {obj!r}")


def _function_pass(function: Callable, name: str, description: str | None) -> type[Pass]:
    parameters = list(inspect.signature(function).parameters.values())
    required = [p for p in parameters if p.default is p.empty
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(required) != 1:
        raise PluginError(f"pass function {function.__qualname__} must take exactly one argument "
                          f"(the module), not {len(required)}")
    doc = inspect.getdoc(function) or ""

    def run(self: Pass, module) -> bool:
        return function(module)

    # The class stands for the function: same module and name, so that loading the
    # plugin again is recognized as the same pass.
    namespace = {"name": name, "description": description or (doc.splitlines() or [""])[0],
                 "run": run, "function": staticmethod(function),
                 "__module__": function.__module__, "__qualname__": function.__qualname__,
                 "__doc__": doc}
    return dataclasses.dataclass(frozen=True)(type(function.__name__, (Pass,), namespace))


def add_pass(pass_class: type[Pass]) -> None:
    """Make a pass class available by its ``name``; a different pass of that name is an error."""
    name = pass_class.name
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise PluginError(f"pass class {pass_class.__qualname__} has no valid name ({name!r}); "
                          "give register_pass a name of letters, digits, '_', '-' and '.'")
    pass_class.options()  # checks the option types now rather than in the first pipeline
    existing = _PASSES.get(name)
    if existing is not None and _identity(existing) != _identity(pass_class):
        raise PluginError(f"pass '{name}' is already registered by {origin(existing)}; "
                          f"{origin(pass_class)} cannot register it again")
    _PASSES[name] = pass_class


def _identity(pass_class: type[Pass]) -> tuple[str, str]:
    return pass_class.__module__, pass_class.__qualname__


def origin(pass_class: type[Pass]) -> str:
    """Where a pass is defined, as ``module.QualName``."""
    return f"{pass_class.__module__}.{pass_class.__qualname__}"


def get_pass(name: str) -> type[Pass]:
    """The pass class registered as ``name``; ``PipelineError`` naming close matches if none is."""
    if name not in _PASSES:
        _load_entry_points(name)
    try:
        return _PASSES[name]
    except KeyError:
        pass
    known = sorted(set(_PASSES) | {e.name for e in _entry_points()})
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    available = ", ".join(known) or "none"
    raise PipelineError(f"unknown pass '{name}'{hint} (available: {available})")


def registered_passes() -> dict[str, type[Pass]]:
    """Every pass that can be named in a pipeline, entry-point plugins included, by name."""
    _load_entry_points(None)
    return dict(sorted(_PASSES.items()))


def _entry_points() -> list:
    import importlib.metadata  # only here: importing it costs ~25 ms of every `import jitflow`

    return list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


def _load_entry_points(name: str | None) -> None:
    """Import the entry points called ``name`` (all when None) that are not imported yet."""
    for entry_point in _entry_points():
        if name is not None and entry_point.name != name:
            continue
        key = f"{entry_point.name}={entry_point.value}"
        if key in _LOADED_ENTRY_POINTS:
            continue
        _LOADED_ENTRY_POINTS.add(key)
        where = (f"entry point '{entry_point.name} = {entry_point.value}' "
                 f"of group '{ENTRY_POINT_GROUP}'")
        try:
            loaded = entry_point.load()
        except Exception as error:  # the plugin's own import failed: report it, not our frames
            raise PluginError(f"cannot load the {where}: {describe_exception(error)}") from error
        if isinstance(loaded, types.ModuleType):
            if entry_point.name not in _PASSES:
                raise PluginError(f"the {where} imports a module that registers no pass "
                                  f"'{entry_point.name}'")
            continue
        if isinstance(loaded, type) and issubclass(loaded, Pass) and loaded.name \
                and loaded.name != entry_point.name:
            raise PluginError(f"the {where} names pass class {loaded.__qualname__}, whose name is "
                              f"'{loaded.name}'; the entry point must be called '{loaded.name}'")
        _register(loaded, entry_point.name, None)


def load_pass_plugin(spec: str) -> types.ModuleType:
    """Import a plugin, given as a module name or a ``.py`` file, so that its passes register."""
    if spec.endswith(".py") or "/" in spec or "\\" in spec:
        return _load_file(Path(spec))
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as error:
        if error.name is not None and (spec == error.name or spec.startswith(error.name + ".")):
            raise PluginError(f"cannot load pass plugin '{spec}': no module named '{error.name}' "
                              "(give an importable module or a .py file)") from None
        raise _load_failed(spec, error) from error
    except Exception as error:
        raise _load_failed(spec, error) from error


def _load_file(path: Path) -> types.ModuleType:
    if not path.is_file():
        raise PluginError(f"cannot load pass plugin '{path}': no such file")
    resolved = path.resolve()
    # One module per file, named after its path, so that loading it twice imports it once.
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:10]
    module_name = f"jitflow_plugin_{re.sub(r'[^A-Za-z0-9_]', '_', path.stem)}_{digest}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, resolved)
    module = importlib.util.module_from_spec(spec)
    # Registered before running it: dataclasses and type hints look the module up by name.
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[module_name]
        raise _load_failed(str(path), error) from error
    return module


def _load_failed(spec: str, error: Exception) -> PluginError:
    return PluginError(f"loading pass plugin '{spec}' failed: {describe_exception(error)}")
