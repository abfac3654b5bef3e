"""AutoGraph: Python ``if``/``while``/``for``/``break``/``continue``/``return`` on traced values.

``jit`` converts the function before tracing it (``jit(fn, autograph=False)``
turns this off): its source is parsed, rewritten by ``transform`` so
that control flow calls the helpers of ``ops`` (imported here, so
converted code refers to this module as ``ag__``), and compiled again with the
user's file name and line numbers.  On Python conditions the converted code
behaves as the original (loops unroll while tracing, as in TensorFlow 2); on
traced ones it builds ``while``/``conditional`` IR.  Functions the converted
code calls are converted too, lazily, when they are user code: not NumPy,
the standard library, installed packages or jitflow itself.

    >>> print(jitflow.autograph.to_code(fn))   # the converted source

Known differences from Python, all deliberate:

* ``a or b`` / ``a and b`` on a traced scalar give a boolean, not ``a`` or ``b``.
* ``x[i] = v`` on a traced array rebinds the name ``x`` to the updated array;
  other names bound to the same array do not see the update.
* After a traced loop, the loop target (``i`` in ``for i in ...``) keeps the
  value it had before the loop.
* A store into a global or enclosing container (``stats["n"] += 1``,
  ``obj.attr = v``) mutates it in place as Python does, but inside a traced
  ``if``/``while``/``for`` it runs when the body is traced (both branches of an
  ``if``; a loop body once, or a few times while its types settle), not per
  iteration or per branch taken, as in TensorFlow.  Storing a traced value
  there, or into a global NumPy array, is an ``AutoGraphError``.
"""

from __future__ import annotations

import ast
import functools
import inspect
import os
import sysconfig
import textwrap
import types
import weakref
from typing import Any, Callable

from ...errors import AutoGraphError
from ..trace.tracer import is_internal
# Converted code calls these as ``ag__.<name>``: this module is its ``ag__``.
from .ops import (ReturnValue, Undefined, and_, for_range, for_stmt, if_exp,  # noqa: F401
                  if_stmt, list_append, not_, or_, outer_store, return_value, set_item,
                  while_stmt)
from .transform import AG, call_skipper, convert_function, local_names

__all__ = ["convert", "converted", "to_code"]

_UNCONVERTIBLE_FLAGS = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR
_LIBRARY_PREFIXES = tuple(sorted({os.path.abspath(p) + os.sep for key in ("stdlib", "platstdlib",
                                                                           "purelib", "platlib")
                                  if (p := sysconfig.get_paths().get(key))}))


class _Converted:
    """One function's converted code (shared by all closures over the same code object)."""

    __slots__ = ("code", "source")

    def __init__(self, code: types.CodeType, source: str) -> None:
        self.code = code
        self.source = source


class _NotConvertible(Exception):
    """The function has no source to convert, or uses what conversion cannot keep
    (``global``/``nonlocal``, ``yield``): it runs as written."""


_code_cache: dict[types.CodeType, _Converted | _NotConvertible] = {}
_function_cache: "weakref.WeakKeyDictionary[Callable, Callable]" = weakref.WeakKeyDictionary()


def convert(fn: Callable) -> Callable:
    """``fn`` converted; functions that cannot be converted are returned as they are."""
    if not isinstance(fn, types.FunctionType) or AG in fn.__code__.co_freevars:
        return fn  # not a Python function, or made by converted code (so converted already)
    cached = _function_cache.get(fn)
    if cached is not None:
        return cached
    entry = _converted_code(fn)
    if isinstance(entry, _NotConvertible):
        # Not cached here: a value that is its own weak key would never be freed (with
        # whatever its closure holds, such as the tracers of the trace that made it).
        return fn
    result = _instantiate(fn, entry)
    _function_cache[fn] = result
    return result


def _converted_code(fn: types.FunctionType):
    """The conversion of ``fn``'s code (cached per code object), or why it has none."""
    entry = _code_cache.get(fn.__code__)
    if entry is None:
        try:
            entry = _convert_code(fn)
        except _NotConvertible as reason:
            # Cached without its traceback, whose frames would keep alive whatever the
            # call stack held then: the jitted function being traced, its IR, its tracers.
            entry = reason.with_traceback(None)
        _code_cache[fn.__code__] = entry
    return entry


def to_code(fn: Callable) -> str:
    """The source AutoGraph makes of ``fn`` (a function or a ``jit``-ted one)."""
    target = getattr(fn, "fn", fn) if not isinstance(fn, types.FunctionType) else fn
    target = getattr(target, "__func__", target)
    if not isinstance(target, types.FunctionType):
        raise AutoGraphError(f"to_code needs a Python function, got {type(fn).__name__}")
    entry = _converted_code(target)
    if isinstance(entry, _NotConvertible):
        raise AutoGraphError(f"{target.__qualname__} cannot be converted: {entry}")
    return entry.source


def converted(f: Any) -> Any:
    """What converted code calls in place of ``f``: its conversion when it is user code."""
    if isinstance(f, types.FunctionType):
        return convert(f) if _is_user_code(f) else f
    if isinstance(f, types.MethodType):
        func = f.__func__
        from ..jit import Jitted

        jitted = getattr(func, "jitted", None)
        if isinstance(jitted, Jitted):
            # A jitted method bound to a module (Jitted.__get__): inlined as a Jitted is.
            return types.MethodType(converted(jitted), f.__self__)
        if isinstance(func, types.FunctionType) and _is_user_code(func):
            new = convert(func)
            return f if new is func else types.MethodType(new, f.__self__)
        return f
    if isinstance(f, functools.partial):
        inner = converted(f.func)
        return f if inner is f.func else functools.partial(inner, *f.args, **f.keywords)
    from ..jit import Jitted  # jitted functions called inside a trace are inlined

    if isinstance(f, Jitted):
        return converted(f.fn) if f.autograph else f.fn
    if isinstance(f, type) or isinstance(f, (types.BuiltinFunctionType, types.BuiltinMethodType)):
        return f
    call = getattr(type(f), "__call__", None)
    if isinstance(call, types.FunctionType) and _is_user_code(call):
        return types.MethodType(convert(call), f)
    return f


def _is_user_code(fn: types.FunctionType) -> bool:
    filename = fn.__code__.co_filename
    if filename.startswith("<") or is_internal(filename):
        return False
    return not os.path.abspath(filename).startswith(_LIBRARY_PREFIXES)


def _convert_code(fn: types.FunctionType) -> _Converted:
    code = fn.__code__
    if code.co_flags & _UNCONVERTIBLE_FLAGS:
        raise _NotConvertible("generators and coroutines run as written")
    if fn.__name__ == "<lambda>":
        raise _NotConvertible("lambdas run as written (their source is an expression)")
    try:
        lines, first_line = inspect.getsourcelines(fn)
    except (OSError, TypeError) as error:
        raise _NotConvertible(f"its source is not available ({error})") from None
    tree = ast.parse(textwrap.dedent("".join(lines)))
    node = tree.body[0] if tree.body else None
    if not isinstance(node, ast.FunctionDef) or node.name != fn.__name__:
        raise _NotConvertible("its source does not start with its def")
    if any(isinstance(n, (ast.Global, ast.Nonlocal)) for n in ast.walk(node)):
        raise _NotConvertible("global and nonlocal statements run as written")
    ast.increment_lineno(tree, first_line - 1)
    node.decorator_list = []
    arguments = node.args.posonlyargs + node.args.args
    super_args = ("__class__", arguments[0].arg) if "__class__" in code.co_freevars and \
        arguments else None
    convert_function(node, call_skipper(fn.__globals__, local_names(node)), super_args)
    source = ast.unparse(node)
    # Inside the factory the function has a name of its own: under its real name, a
    # recursive call would find the factory's local instead of the module's global.
    node.name = f"{AG}function"
    factory = ast.FunctionDef(
        name=f"{AG}factory", args=ast.arguments(
            posonlyargs=[], args=[ast.arg(arg=name) for name in (AG, *code.co_freevars)],
            vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[]),
        body=[node, ast.Return(value=ast.Name(id=node.name, ctx=ast.Load()))],
        decorator_list=[], returns=None, type_comment=None)
    ast.copy_location(factory, node)
    module = ast.Module(body=[factory], type_ignores=[])
    ast.fix_missing_locations(module)
    compiled = compile(module, code.co_filename, "exec", dont_inherit=True)
    factory_code = next(c for c in compiled.co_consts if isinstance(c, types.CodeType))
    inner = next(c for c in factory_code.co_consts
                 if isinstance(c, types.CodeType) and c.co_name == node.name)
    inner = _owned_by(inner, fn.__name__).replace(co_qualname=code.co_qualname)
    return _Converted(inner, source)


def _owned_by(code: types.CodeType, owner: str) -> types.CodeType:
    """Generated functions (branches, loop bodies) take the name of the user function they
    came from, so that errors and IR metadata say ``(in collatz)``, not ``ag__loop_body_3``."""
    consts = tuple(_owned_by(c, owner if c.co_name.startswith(AG) else c.co_name)
                   if isinstance(c, types.CodeType) else c for c in code.co_consts)
    name = owner if code.co_name.startswith(AG) else code.co_name
    return code.replace(co_consts=consts, co_name=name)


def _instantiate(fn: types.FunctionType, entry: _Converted) -> types.FunctionType:
    """The converted code with ``fn``'s globals, defaults and closure cells (shared, not
    copied: later changes to closed-over variables are seen)."""
    import sys

    cells = dict(zip(fn.__code__.co_freevars, fn.__closure__ or ()))
    own = sys.modules[__name__]
    closure = tuple(types.CellType(own) if name == AG else cells.get(name, types.CellType())
                    for name in entry.code.co_freevars)
    new = types.FunctionType(entry.code, fn.__globals__, fn.__name__, fn.__defaults__,
                             closure or None)
    new.__kwdefaults__ = fn.__kwdefaults__
    new.__qualname__ = fn.__qualname__
    new.__doc__ = fn.__doc__
    new.__module__ = fn.__module__
    new.__dict__.update(fn.__dict__)
    return new
