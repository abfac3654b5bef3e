"""``grad``, ``value_and_grad`` and ``vjp``: reverse-mode autodiff for traced NumPy code.

All three trace the user's function into IR and append its backward pass with
``ir.autodiff.emit_vjp``, so they compose with ``jit`` and with each other:

* Called with concrete arrays, a ``grad``-transformed function is itself a
  jitted function (one trace and compile per argument signature, then cached),
  so repeated calls run compiled code.
* Called with tracers (inside ``jit``, or inside another ``grad`` for higher
  derivatives), it traces ``fn`` inline into the current trace and emits the
  backward pass there; ``grad(jit(f))`` works because a jitted function called
  with tracers inlines its body.

Each differentiated argument enters ``fn`` through a fresh identity
instruction, so that a value that also reaches ``fn`` by another route (a
closure over an outer tracer, the same tracer passed twice) is not mistaken
for the argument being differentiated (JAX's "perturbation confusion").

``vjp(fn, *primals)`` with concrete primals returns the output and a
``vjp_fn`` that is jitted too; that ``vjp_fn`` recomputes the forward pass on
each call (it is one compiled program from primals and cotangents to
gradients).  Inside a trace, ``vjp_fn`` reuses the traced forward values.

Limitations: a function called with concrete arrays must not close over
tracers of an enclosing trace (pass them as arguments instead).
"""

from __future__ import annotations

import functools
import inspect
import weakref
from typing import Any, Callable, Sequence

import numpy as np

from ...errors import ArgumentError, AutodiffError
from ...ir.autodiff import emit_vjp, zeros_like
from ..autograph import converted
from ..jit import Jitted
from ..trace.emitters import lift
from ..trace.promotion import is_python_scalar
from ..trace.pytree import TreeDef, flatten, flatten_with_paths, path_text, unflatten
from ..trace.tracer import TraceContext, Tracer, user_location

__all__ = ["grad", "value_and_grad", "vjp"]


def grad(fn: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """The gradient of scalar-valued ``fn`` with respect to the arguments ``argnums``.

    The result has the structure of the argument (a pytree of arrays), or a tuple of those
    when ``argnums`` is a tuple.  With ``has_aux``, ``fn`` returns ``(value, aux)`` and the
    gradient function returns ``(gradient, aux)``.
    """
    transform = _Gradient(fn, argnums, has_aux, with_value=False)
    return transform.function


def value_and_grad(fn: Callable, argnums: int | Sequence[int] = 0,
                   has_aux: bool = False) -> Callable:
    """Like ``grad``, returning ``(value, gradient)`` (``((value, aux), gradient)`` with
    ``has_aux``)."""
    transform = _Gradient(fn, argnums, has_aux, with_value=True)
    return transform.function


def vjp(fn: Callable, *primals: Any, has_aux: bool = False) -> tuple[Any, ...]:
    """``(fn(*primals), vjp_fn)``; ``vjp_fn(cotangent)`` returns one cotangent per primal.

    ``cotangent`` has the structure, shapes and dtypes of ``fn``'s output.  With ``has_aux``,
    ``fn`` returns ``(out, aux)`` and ``vjp`` returns ``(out, vjp_fn, aux)``.
    """
    if any(isinstance(leaf, Tracer) for leaf in flatten(primals)[0]):
        return _inline_vjp(fn, primals, has_aux)
    forward, pullback = _vjp_programs(fn, has_aux)
    result = forward(*primals)
    out, aux = result if has_aux else (result, None)
    out_leaves, out_tree = flatten(out)
    out_specs = [(np.shape(leaf), np.asarray(leaf).dtype) for leaf in out_leaves]

    def vjp_fn(cotangent: Any) -> tuple[Any, ...]:
        _check_cotangent(cotangent, out_tree, out_specs)
        return pullback(primals, cotangent)

    return (out, vjp_fn, aux) if has_aux else (out, vjp_fn)


# ---------------------------------------------------------------------------
# grad and value_and_grad


class _Gradient:
    """One ``grad``/``value_and_grad`` transform of ``fn``.

    Called with tracers it differentiates inline (``trace``).  Called with concrete values it
    runs a jitted program of ``trace``, one per pattern of Python int/bool arguments outside
    ``argnums``: those are static, as they are concrete under JAX's ``grad``, so that a loop
    ``for i in range(n)`` with such an ``n`` unrolls (and differentiates) instead of becoming
    a loop whose trip count is only known at run time.
    """

    def __init__(self, fn: Callable, argnums: int | Sequence[int], has_aux: bool,
                 with_value: bool) -> None:
        self.fn = fn
        self.argnums = _check_argnums(argnums)
        self.single = isinstance(argnums, int)
        self.has_aux = has_aux
        self.with_value = with_value
        self.kind = "value_and_grad" if with_value else "grad"
        self._programs: dict[tuple[int, ...], Jitted] = {}
        self._positional = _positional_count(fn)

        @functools.wraps(fn)
        def function(*args: Any, **kwargs: Any) -> Any:
            return self._call(args, kwargs)

        self.function = function
        self.function.__name__ = f"{self.kind}_{_name(fn)}"
        self.function.__qualname__ = self.function.__name__
        # Introspection like a jitted function's: how many signatures were compiled.
        self.function.trace_count = 0

    def _call(self, args: tuple, kwargs: dict) -> Any:
        if any(isinstance(leaf, Tracer) for leaf in flatten((args, kwargs))[0]):
            return self.trace(args, kwargs)
        static = tuple(i for i, a in enumerate(args[:self._positional])
                       if i not in self.argnums and type(a) in (int, bool))
        program = self._programs.get(static)
        if program is None:
            @functools.wraps(self.fn)
            def traced(*inner_args: Any, **inner_kwargs: Any) -> Any:
                return self.trace(inner_args, inner_kwargs)

            traced.__name__ = self.function.__name__
            # ``trace`` converts ``fn`` with AutoGraph itself; the wrapper needs no conversion.
            program = self._programs[static] = Jitted(traced, static_argnums=static,
                                                      autograph=False)
        before = program.trace_count
        result = program(*args, **kwargs)
        self.function.trace_count += program.trace_count - before
        return result

    def trace(self, args: tuple, kwargs: dict) -> Any:
        ctx = _context(args, kwargs, self.fn)
        args = list(args)
        wrt_trees: list[tuple[TreeDef, list[Tracer]]] = []
        for number in self.argnums:
            if number >= len(args):
                raise ArgumentError(f"argnums names argument {number}, but "
                                    f"{_name(self.fn)} was called with {len(args)} positional "
                                    "argument(s)")
            tree, leaves = _fresh_inputs(ctx, args[number], f"argument {number}", self.fn)
            wrt_trees.append((tree, leaves))
            args[number] = unflatten(tree, leaves)
        result = converted(self.fn)(*args, **kwargs)
        value, aux = _split_aux(result, self.has_aux, self.fn)
        value = _scalar_output(ctx, value, self.fn)
        wrt = [leaf for _, leaves in wrt_trees for leaf in leaves]
        seed = ctx.constant(np.ones((), dtype=value.dtype))
        grads = _emit_gradients(ctx, [value], [seed], wrt)
        grad_trees, position = [], 0
        for tree, leaves in wrt_trees:
            grad_trees.append(unflatten(tree, grads[position:position + len(leaves)]))
            position += len(leaves)
        gradient = grad_trees[0] if self.single else tuple(grad_trees)
        primary = (value, aux) if self.has_aux else value
        if self.with_value:
            return primary, gradient
        return (gradient, aux) if self.has_aux else gradient


def _positional_count(fn: Callable) -> int:
    """How many parameters of ``fn`` can be passed by position (static_argnums must name one)."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 0
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)


def _check_argnums(argnums: int | Sequence[int]) -> tuple[int, ...]:
    numbers = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if not numbers or any(not isinstance(n, int) or isinstance(n, bool) or n < 0
                          for n in numbers):
        raise ArgumentError(f"argnums must be a non-negative int or a non-empty tuple of them, "
                            f"got {argnums!r}")
    return numbers


def _context(args: tuple, kwargs: dict, fn: Callable) -> TraceContext:
    tracers = [leaf for leaf in flatten((args, kwargs))[0] if isinstance(leaf, Tracer)]
    if not tracers:  # pragma: no cover - Jitted only calls the wrapper with tracers
        raise AutodiffError(f"differentiating {_name(fn)} needs traced arguments")
    return tracers[0].ctx


def _fresh_inputs(ctx: TraceContext, argument: Any, what: str,
                  fn: Callable) -> tuple[TreeDef, list[Tracer]]:
    """The argument's leaves as new identity instructions (see the module docstring)."""
    pairs, tree = flatten_with_paths(argument)
    leaves = []
    for path, leaf in pairs:
        tracer = lift(ctx, leaf)
        where = what + (path_text(path) if path else "")
        if not tracer.type.dtype.is_float:
            raise AutodiffError(
                f"cannot differentiate {_name(fn)} with respect to {where}: it is "
                f"{tracer.type} ({tracer.dtype}), and gradients are defined for float inputs "
                f"only (at {user_location()}); pass it as a float array, or leave it out of "
                "argnums")
        identity = ctx.emit("reshape", tracer.inst, shape=tracer.shape)
        weak = tracer.weak or is_python_scalar(leaf)
        leaves.append(Tracer(ctx, identity, weak))
    return tree, leaves


def _split_aux(result: Any, has_aux: bool, fn: Callable) -> tuple[Any, Any]:
    if not has_aux:
        return result, None
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise AutodiffError(f"{_name(fn)} was differentiated with has_aux=True, so it must "
                            f"return a pair (value, aux), got {type(result).__name__} "
                            f"(at {user_location()})")
    return result[0], result[1]


def _scalar_output(ctx: TraceContext, value: Any, fn: Callable) -> Tracer:
    leaves, _ = flatten(value)
    if len(leaves) != 1 or not isinstance(leaves[0], (Tracer, np.ndarray, np.generic, float,
                                                      int)):
        raise AutodiffError(f"grad of {_name(fn)} needs a scalar float output, got "
                            f"{_describe(value)} (at {user_location()}); use vjp for "
                            "non-scalar outputs")
    tracer = lift(ctx, leaves[0])
    if tracer.shape != () or not tracer.type.dtype.is_float:
        raise AutodiffError(f"grad of {_name(fn)} needs a scalar float output, got "
                            f"{tracer.type} (at {user_location()}); reduce it to a scalar "
                            "(np.sum, np.mean) or use vjp")
    return tracer


def _emit_gradients(ctx: TraceContext, outputs: list[Tracer], cotangents: list[Tracer],
                    wrt: list[Tracer]) -> list[Tracer]:
    builder = ctx.builder
    with builder.at(user_location()):
        grads = emit_vjp(builder, [o.inst for o in outputs], [c.inst for c in cotangents],
                         [w.inst for w in wrt])
        return [Tracer(ctx, g if g is not None else zeros_like(builder, w.inst))
                for g, w in zip(grads, wrt)]


# ---------------------------------------------------------------------------
# vjp


def _inline_vjp(fn: Callable, primals: tuple, has_aux: bool) -> tuple[Any, ...]:
    ctx = _context(primals, {}, fn)
    trees, wrt = [], []
    fresh_primals = []
    for number, primal in enumerate(primals):
        tree, leaves = _fresh_inputs(ctx, primal, f"primal {number}", fn)
        trees.append((tree, len(leaves)))
        wrt.extend(leaves)
        fresh_primals.append(unflatten(tree, leaves))
    out, aux = _split_aux(converted(fn)(*fresh_primals), has_aux, fn)
    out_leaves, out_tree = flatten(out)
    outputs = [lift(ctx, leaf) for leaf in out_leaves]
    for leaf in outputs:
        if not leaf.type.dtype.is_float:
            raise AutodiffError(f"vjp of {_name(fn)}: output {leaf.type} is not a float array "
                                f"(at {user_location()})")
    specs = [(o.shape, o.dtype) for o in outputs]

    def vjp_fn(cotangent: Any) -> tuple[Any, ...]:
        leaves = _check_cotangent(cotangent, out_tree, specs)
        cts = [lift(ctx, leaf, spec[1]) for leaf, spec in zip(leaves, specs)]
        grads = _emit_gradients(ctx, outputs, cts, wrt)
        results, position = [], 0
        for tree, count in trees:
            results.append(unflatten(tree, grads[position:position + count]))
            position += count
        return tuple(results)

    out_value = unflatten(out_tree, outputs)
    return (out_value, vjp_fn, aux) if has_aux else (out_value, vjp_fn)


_VJP_PROGRAMS: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()


def _vjp_programs(fn: Callable, has_aux: bool) -> tuple[Jitted, Jitted]:
    """The jitted forward and pullback programs of ``fn``, made once per function."""
    try:
        programs = _VJP_PROGRAMS.setdefault(fn, {})
    except TypeError:  # not weak-referenceable: no caching
        programs = {}
    pair = programs.get(has_aux)
    if pair is None:
        def pullback(primals: tuple, cotangent: Any) -> tuple[Any, ...]:
            _, vjp_fn, *_ = _inline_vjp(fn, primals, has_aux)
            return vjp_fn(cotangent)

        pullback.__name__ = f"vjp_{_name(fn)}"
        # ``_inline_vjp`` converts ``fn`` with AutoGraph itself; the wrapper needs no conversion.
        pair = programs[has_aux] = (Jitted(fn), Jitted(pullback, autograph=False))
    return pair


def _check_cotangent(cotangent: Any, out_tree: TreeDef,
                     specs: Sequence[tuple[tuple[int, ...], np.dtype]]) -> list[Any]:
    leaves, tree = flatten(cotangent)
    if tree != out_tree:
        raise AutodiffError(f"the cotangent must have the structure of the output ({out_tree}), "
                            f"got {tree} (at {user_location()})")
    for index, (leaf, (shape, dtype)) in enumerate(zip(leaves, specs)):
        leaf_shape = tuple(leaf.shape) if isinstance(leaf, Tracer) else np.shape(leaf)
        leaf_dtype = leaf.dtype if isinstance(leaf, (Tracer, np.ndarray, np.generic)) else None
        if tuple(leaf_shape) != tuple(shape) or (leaf_dtype is not None and leaf_dtype != dtype):
            raise AutodiffError(f"cotangent leaf {index} must be {np.dtype(dtype)}{list(shape)} "
                                f"like the output, got {leaf_dtype}{list(leaf_shape)} "
                                f"(at {user_location()})")
    return leaves


def _name(fn: Callable) -> str:
    return getattr(fn, "__name__", None) or type(fn).__name__


def _describe(value: Any) -> str:
    leaves, tree = flatten(value)
    if tree.kind == "leaf":
        return type(value).__name__
    return f"a {tree.kind} of {len(leaves)} values"
