"""``jit``: trace a Python function to IR once per signature, then run the compiled executable.

A call flattens the arguments (nested tuples, lists and dicts of arrays and
Python scalars), looks the *signature* up in the function's cache (tree
structure, shape and dtype of every array, weak dtype of every Python scalar,
value of every static argument) and traces on a miss.  The cache keeps the
``cache_size`` (``config.cache_size``, 64) most recently used signatures: one dropped
traces again when it comes back, and counts as a retrace.  The traced module's
ENTRY parameters are the array leaves, named after their argument paths
(``x``, ``params.w``); its ROOT is the output leaf, or a tuple of them.

Repeated calls skip the binding and flattening: when every argument is an array (or a
tuple/list of them), passed positionally, by keyword or through ``*args``, the last
executable's probe checks them natively and runs, or the fast-path cache finds the
executable by their types.  A jitted method bound to a module (static by identity) has
such caches per module instance, so ``model.predict(x)`` dispatches on ``x`` alone.

Before it runs, the traced module goes through a pass pipeline: by default
``passes.DEFAULT_PIPELINE``; ``jit(passes=...)`` gives a whole pipeline or edits
of the default one (``passes.insert_after("cse", "my-pass")``, ``passes.remove("dce")``).

``config.backend`` (or ``with interpreter_mode():``) overrides every jitted
function's backend, to debug with the reference interpreter; ``config.verify_passes``
verifies the IR after every pass of every jitted function (the test suite sets it).
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import functools
import inspect
import re
import sys
import threading
import types
import warnings
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Iterator, Sequence

import numpy as np

from ..errors import (ArgumentError, BackendError, DeviceError, JitflowRetraceWarning,
                      SourceLocation, TracingError)
from ..ir import DType, Interpreter, Module, TensorType, verify
from ..passes import PassManager, resolve_pipeline
from ..passes.pipeline import PipelineSpec
from .autograph import convert as autograph_convert
from .state import (IdentityKey, Scope, StatefulExecutable, Variable, close_scope,
                    is_implicitly_static, open_scope, scopes)
from .trace.emitters import lift
from .trace.promotion import is_python_scalar, weak_dtype
from .trace.pytree import (TreeDef, flatten, flatten_with_paths, path_name, path_text, unflatten,
                           unflatten_results)
from .trace.tracer import TraceContext, Tracer, tracing_error

BACKENDS = ("cpu", "interpreter")
DEVICES = (None, "cpu", "cuda")


def _fast_leaves(items: Sequence[Any], key: list, leaves: list) -> int | None:
    """Append the arrays of ``items`` (depth first, as ``flatten`` orders them) to ``leaves``
    and what identifies their signature to ``key``; the number of tuples/lists met, or None
    when something else than arrays and tuples/lists of them is there."""
    containers = 0
    for item in items:
        kind = type(item)
        if kind is tuple or kind is list:
            key.append(kind)
            key.append(len(item))
            inner = _fast_leaves(item, key, leaves)
            if inner is None:
                return None
            containers += 1 + inner
            continue
        if kind is not np.ndarray and not is_device_array(item):
            return None
        key.append(kind)  # NumPy and cupy arguments run different executables
        key.append(item.dtype)
        key.append(item.shape)
        leaves.append(item)
    return containers


def is_device_array(value: Any) -> bool:
    """A cupy array, recognised without importing cupy or the runtime (import cost)."""
    return type(value).__module__.startswith("cupy") and hasattr(value, "__cuda_array_interface__")


# Traces of one function beyond which it gets its (single) retrace warning.
RETRACE_WARNING_THRESHOLD = 5
# Signatures a jitted function keeps compiled by default (``config.cache_size``); past it
# the least recently used one is dropped, and traced again if it comes back.  A function
# that sees more shapes than this is retracing anyway (it got the warning at
# RETRACE_WARNING_THRESHOLD); each kept signature holds its IR and executable (~80 KB for
# a small CPU program).
DEFAULT_CACHE_SIZE = 64


# A backend chosen for the current thread (or task) only: ``interpreter_mode()`` sets it.
_BACKEND_OVERRIDE: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "jitflow_backend_override", default=None)
# How many interpreter_mode() blocks are open in any thread: while none is, the dispatch
# fast path reads the process-wide backend without asking the context variable.
_open_overrides = 0
_overrides_lock = threading.Lock()


class Config:
    """Process-wide switches.

    ``backend``: when set, every jitted function runs there (inside ``interpreter_mode()``
    the interpreter, for the current thread only).  ``verify_passes``: verify the IR after
    every pass of functions jitted without ``verify=``.  ``cache_size``: how many
    signatures a function jitted without ``cache_size=`` keeps compiled (least recently
    used dropped first).
    """

    def __init__(self) -> None:
        self._backend: str | None = None
        self.verify_passes = False
        self._cache_size = DEFAULT_CACHE_SIZE

    @property
    def cache_size(self) -> int:
        return self._cache_size

    @cache_size.setter
    def cache_size(self, value: int) -> None:
        self._cache_size = _check_cache_size(value, "jitflow.config.cache_size")

    @property
    def backend(self) -> str | None:
        return _BACKEND_OVERRIDE.get() or self._backend

    @backend.setter
    def backend(self, value: str | None) -> None:
        self._backend = value


config = Config()


@contextlib.contextmanager
def interpreter_mode() -> Iterator[None]:
    """Run every jitted function in the reference interpreter inside the block (for
    debugging).  The switch belongs to the thread (and asyncio task) that enters the block:
    other threads keep compiling, and blocks entered and left in any interleaving restore
    exactly what each thread had."""
    global _open_overrides
    with _overrides_lock:
        _open_overrides += 1
    token = _BACKEND_OVERRIDE.set("interpreter")
    try:
        yield
    finally:
        _BACKEND_OVERRIDE.reset(token)
        with _overrides_lock:
            _open_overrides -= 1


def jit(fn: Callable | None = None, *, static_argnames: str | tuple[str, ...] = (),
        static_argnums: int | tuple[int, ...] = (), backend: str = "cpu",
        passes: PipelineSpec = None, verify: bool | None = None, autograph: bool = True,
        device: str | None = None, cache_size: int | None = None) -> Any:
    """Compile ``fn`` on first call per signature; usable as ``@jit`` and ``@jit(...)``.

    ``passes``: the pipeline (text such as ``"simplify,cse"``, or a list of pass names
    and ``Pass`` objects), or edits of the default one; None runs the default.
    ``verify``: verify the IR after every pass (None: ``config.verify_passes``).
    ``autograph``: convert Python control flow on traced values to IR (``autograph/``).
    ``device``: ``"cpu"`` or ``"cuda"``; None infers it per call (cupy array arguments run
    on the GPU).  A CUDA function copies NumPy inputs to the device and returns cupy
    arrays (``.get()`` copies one back); mixing cupy and NumPy arrays is an error.
    ``cache_size``: how many signatures stay compiled, the least recently used dropped
    first (None: ``config.cache_size``, 64 unless changed).
    """
    if fn is None:
        return functools.partial(jit, static_argnames=static_argnames,
                                 static_argnums=static_argnums, backend=backend, passes=passes,
                                 verify=verify, autograph=autograph, device=device,
                                 cache_size=cache_size)
    return Jitted(fn, static_argnames=static_argnames, static_argnums=static_argnums,
                  backend=backend, passes=passes, verify=verify, autograph=autograph,
                  device=device, cache_size=cache_size)


class InterpreterExecutable:
    """The interpreter backend: runs the module's IR with the reference interpreter."""

    def __init__(self, module: Module) -> None:
        self.module = module
        self._interpreter = Interpreter(module)

    def __call__(self, *arrays: np.ndarray) -> Any:
        return self._interpreter.run(*arrays)


def build_executable(module: Module, backend: str) -> Callable[..., Any]:
    if backend == "interpreter":
        return InterpreterExecutable(module)
    from .. import runtime  # imported on first use: it loads llvmlite

    return runtime.compile(module, backend)


@dataclass
class _Call:
    """One call's arguments: the cache key, the flat runtime inputs, and what a trace needs."""

    key: Hashable
    static: dict[str, Any]
    dynamic: dict[str, Any]  # the traced arguments as passed (their paths name parameters)
    treedef: TreeDef
    specs: tuple[tuple[tuple[int, ...], np.dtype, bool], ...]  # (shape, dtype, weak) per leaf
    arrays: list[np.ndarray]
    device: str = "cpu"  # where this call runs: "cpu" or "cuda"


@dataclass
class _Entry:
    """A traced signature: the module, how to rebuild outputs, executables per backend."""

    module: Module
    out_tree: TreeDef
    executables: dict[str, Callable[..., Any]] = field(default_factory=dict)
    # Variables the trace read (implicit inputs) and assigned (implicit outputs).
    state: Scope | None = None


class Jitted:
    """A jitted function: call it like the original; ``trace``/``lower``/``compile`` inspect it."""

    def __init__(self, fn: Callable, *, static_argnames: str | tuple[str, ...] = (),
                 static_argnums: int | tuple[int, ...] = (), backend: str = "cpu",
                 passes: PipelineSpec = None, verify: bool | None = None,
                 autograph: bool = True, device: str | None = None,
                 cache_size: int | None = None) -> None:
        if backend not in BACKENDS:
            raise BackendError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
        if device not in DEVICES:
            raise BackendError(f"unknown device {device!r} (choose from cpu, cuda or None)")
        self.device = device
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.backend = backend
        # Resolved now, so that a misspelled pass fails where jit is applied.
        self.passes = resolve_pipeline(passes)
        self.verify = verify
        self.autograph = autograph
        self._signature = inspect.signature(fn)
        self._static_names = _static_names(self._signature, fn, static_argnames, static_argnums)
        # Least recently used first: past the size the first ones are dropped (_remember).
        self._cache: collections.OrderedDict[Hashable, _Entry] = collections.OrderedDict()
        self._last_used: Hashable | None = None  # the signature last moved to the end
        self._crowded = False  # more than half the cache's size in use: see _touch
        self.cache_size = None if cache_size is None else _check_cache_size(cache_size, "cache_size")
        # Cache hits for the common call shapes (arrays, and tuples/lists of them, passed
        # positionally or by keyword) skip binding and flattening: dispatch is most of a
        # small call's cost.  Static arguments other than a module's ``self`` always bind.
        self._layouts: dict[tuple[int, int, tuple[str, ...]], _Layout | None] = {}
        self._positional_layouts: dict[int, _Layout] = {}  # the plain calls' ones, by count
        # fast key -> (executable, output tree, cache key: touched on a hit, see _remember)
        self._fast: dict[tuple, tuple[Callable[..., Any], TreeDef, Hashable]] = {}
        # The last fast-path executable's probe: it checks the arguments natively and runs,
        # so a repeated signature costs no key at all.  ``_kw_probe`` is the same for calls
        # with keyword arguments, tried when the keyword names come in the same order.
        self._probe: tuple[Callable[..., Any], TreeDef, str | None] | None = None
        self._kw_probe: tuple[tuple[str, ...], Callable[..., Any], Callable[..., Any],
                              str | None, TreeDef] | None = None
        # Jitted methods bound to modules: one dispatcher (with its own fast paths) per
        # instance, by id; a weak reference's callback removes it when the instance goes.
        self._methods: dict[int, Callable[..., Any]] = {}
        self._history: list[dict[str, str]] = []
        self._warned = False
        self.trace_count = 0
        self.evictions = 0  # signatures dropped from the cache (traced again if they come back)

    # -- calling ----------------------------------------------------------------

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if scopes.stack and scopes.stack[-1].eager:
            # Under an eager GradientTape the call is recorded op by op, so that the tape
            # can differentiate through it (as through a tf.function).
            return self.fn(*args, **kwargs)
        probe = self._probe
        if (probe is not None and not kwargs and not _open_overrides
                and probe[2] == config._backend):
            results = probe[0](*args)
            if results is not None:
                return results if probe[1].kind == "leaf" else unflatten_results(probe[1], results)
        if kwargs:
            probe = self._kw_probe
            if (probe is not None and probe[0] == tuple(kwargs) and not _open_overrides
                    and probe[3] == config._backend):
                results = probe[2](probe[1], args, kwargs)
                if results is not None:
                    return results if probe[4].kind == "leaf" else unflatten_results(probe[4], results)
        else:
            # Positional calls the probe did not take (containers of arrays, another
            # signature): the fast-path cache, without _dispatch's general steps.
            layout = self._positional_layouts.get(len(args))
            if layout is not None:
                fast = self._fast_key(args, layout)
                hit = None if fast is None else self._fast.get(fast[0])
                if hit is not None:
                    executable, out_tree, key = hit
                    if self._crowded and key is not self._last_used:
                        self._touch(key)
                    if not fast[2]:  # flat arrays: the probe takes the next such call
                        self._arm_probe(self, (), layout, executable, out_tree)
                    results = executable(*fast[1])
                    return results if out_tree.kind == "leaf" else unflatten_results(out_tree, results)
        return self._dispatch(self, (), args, kwargs)

    def _dispatch(self, target: Jitted | _FastPaths, bound_self: tuple, args: tuple,
                  kwargs: dict[str, Any]) -> Any:
        """A call that no probe took: the fast-path cache, then binding (and tracing on a
        miss).  ``target`` holds the fast-path caches: this function's, or those of the
        instance in ``bound_self`` (a jitted method's module)."""
        # Inline, not self._layout(): each step here is a few percent of a small call.
        names = tuple(kwargs) if kwargs else ()
        layout = self._layouts.get((len(bound_self), len(args), names), False)
        if layout is False:
            layout = self._layout(len(bound_self), len(args), names)
        fast = None
        if layout is not None:
            ordered = args if layout.arrange is None else layout.arrange(_values, args, kwargs)
            fast = self._fast_key(ordered, layout)
        if fast is not None:
            fast_key, leaves, nested = fast
            hit = target._fast.get(fast_key)
            if hit is not None:
                executable, out_tree, key = hit
                if self._crowded and key is not self._last_used:
                    self._touch(key)
                if not nested:  # the probe checks flat arrays only
                    self._arm_probe(target, names, layout, executable, out_tree)
                results = executable(*leaves)
                return results if out_tree.kind == "leaf" else unflatten_results(out_tree, results)
        call = self._bind(bound_self + args, kwargs)
        if call is None:
            return self.fn(*bound_self, *args, **kwargs)  # inside another trace: inline
        entry = self._entry(call)
        executable = self._executable(entry, call.device)
        if fast is not None:
            target._fast[fast_key] = (executable, entry.out_tree, call.key)
            if not nested:
                self._arm_probe(target, names, layout, executable, entry.out_tree)
        results = executable(*call.arrays)
        leaves = [results] if entry.out_tree.kind == "leaf" else list(results)
        return unflatten(entry.out_tree, leaves)

    @staticmethod
    def _arm_probe(target: Jitted | _FastPaths, names: tuple[str, ...], layout: _Layout,
                   executable: Callable[..., Any], out_tree: TreeDef) -> None:
        """Make ``executable`` the first one tried.  Only for fast-path signatures: every
        argument a plain array, so an exact input match (with the same keyword names in the
        same order) means the same cache key."""
        probe = getattr(executable, "probe", None)
        if not names:
            target._probe = None if probe is None else (probe, out_tree, config.backend)
        else:
            target._kw_probe = None if probe is None else (names, probe, layout.arrange,
                                                           config.backend, out_tree)

    @staticmethod
    def _fast_key(args: tuple, layout: _Layout) -> tuple[tuple, list, bool] | None:
        """The fast-path cache key, the array leaves and whether any argument is a container,
        when every argument is a plain NumPy or cupy array or a tuple/list of them (nested),
        else None.  ``args`` are in parameter order, as ``layout`` put them."""
        key: list = [config.backend, layout]
        leaves: list = []
        containers = _fast_leaves(args, key, leaves)
        return None if containers is None else (tuple(key), leaves, containers > 0)

    def _forget_fast_paths(self) -> None:
        """Drop every fast-path reference to executables (this function's, and those of its
        methods bound to each module), e.g. once an executable leaves the cache; calls
        find them again through the cache."""
        for paths in [self, *(dispatcher.paths for dispatcher in list(self._methods.values()))]:
            paths._fast = {}
            paths._probe = paths._kw_probe = None

    def _layout(self, bound: int, count: int, names: tuple[str, ...]) -> _Layout | None:
        """How a call with ``bound`` + ``count`` positional arguments and these keyword names
        (in this order) maps onto the parameters, or None when it cannot take the fast path;
        worked out once per such call shape."""
        shape = (bound, count, names)
        layout = self._layouts.get(shape, False)
        if layout is False:
            layout = self._layouts[shape] = _make_layout(self._signature, self._static_names,
                                                         bound, count, names)
            if not bound and not names and layout is not None:
                self._positional_layouts[count] = layout
        return layout

    def trace(self, *args: Any, **kwargs: Any) -> Module:
        """The IR as traced for these arguments, before any pass (not cached, not counted).

        Here and in ``lower`` and ``compile`` an argument may be a ``TensorType`` instead of
        an array: the program is traced for that type and no array is allocated."""
        return self._trace(self._concrete_call(args, kwargs)).module

    def lower(self, *args: Any, **kwargs: Any) -> Module:
        """The IR after the pass pipeline: what the backend compiles for these arguments."""
        return self._entry(self._concrete_call(args, kwargs)).module

    def compile(self, *args: Any, **kwargs: Any) -> Callable[..., Any]:
        """The executable these arguments run (flat array inputs, flat outputs)."""
        call = self._concrete_call(args, kwargs)
        return self._executable(self._entry(call), call.device)

    def __repr__(self) -> str:
        return f"<jitted {self.__name__} ({self.trace_count} trace(s))>"

    def __reduce__(self) -> str:
        # Pickled by reference, as functions are (so a jitted function can go to
        # ``Pool.map``): unpickling looks its name up in its module again, where the
        # decorated function is; compiled programs are not part of it.
        return self.__qualname__

    def __set_name__(self, owner: type, name: str) -> None:
        self._attribute = name  # a bound method pickles as getattr(instance, name)

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        # Jitted methods bind like functions do.  A module (static by identity) gets its own
        # dispatcher, kept while it lives, whose fast paths are keyed on the other arguments.
        if instance is None:
            return self
        dispatcher = self._methods.get(id(instance))
        if dispatcher is None:
            dispatcher = self._method_dispatcher(instance)
            if dispatcher is None:
                return functools.partial(self, instance)
        return types.MethodType(dispatcher, instance)

    def _method_dispatcher(self, instance: Any) -> Callable[..., Any] | None:
        """The function that calls this jitted method of ``instance`` (bound to it as a
        method), with fast paths of its own; None when ``instance`` is not static by
        identity (then its arrays are arguments) or cannot be referenced weakly."""
        if not is_implicitly_static(instance):
            return None
        key, methods = id(instance), self._methods
        try:
            # Forgets the dispatcher when the instance goes, before its id can be reused.
            reference = weakref.ref(instance, lambda _: methods.pop(key, None))
        except TypeError:
            return None
        paths = _FastPaths(reference)
        fn, dispatch, get = self.fn, self._dispatch, self.__get__

        # A plain function, not an object with __call__: bound as a method, it is called
        # directly (vectorcall).  The same steps as Jitted.__call__, on this instance's paths.
        def dispatcher(instance: Any, *args: Any, **kwargs: Any) -> Any:
            if reference() is not instance:  # bound again by hand or by copy.copy/deepcopy
                return get(instance)(*args, **kwargs)
            if scopes.stack and scopes.stack[-1].eager:
                return fn(instance, *args, **kwargs)
            probe = paths._probe
            if (probe is not None and not kwargs and not _open_overrides
                    and probe[2] == config._backend):
                results = probe[0](*args)
                if results is not None:
                    return results if probe[1].kind == "leaf" else unflatten_results(probe[1], results)
            probe = paths._kw_probe
            if (probe is not None and kwargs and probe[0] == tuple(kwargs) and not _open_overrides
                    and probe[3] == config._backend):
                results = probe[2](probe[1], args, kwargs)
                if results is not None:
                    return results if probe[4].kind == "leaf" else unflatten_results(probe[4], results)
            return dispatch(paths, (instance,), args, kwargs)

        # Pickled, as bound methods are, as the instance and the name to look up on it.
        dispatcher.__name__ = dispatcher.__qualname__ = getattr(self, "_attribute", self.__name__)
        dispatcher.__doc__, dispatcher.__module__ = self.__doc__, self.__module__
        dispatcher.__signature__ = self._signature  # help() and inspect show the method's own
        dispatcher.jitted = self  # what AutoGraph inlines when the method is called in a trace
        dispatcher.paths = paths
        methods[key] = dispatcher
        return dispatcher

    # -- signature and cache ------------------------------------------------------

    def _bind(self, args: tuple, kwargs: dict, types_stand_for_arrays: bool = False) -> _Call | None:
        """Split and check the arguments; None when they hold tracers (a call inside a trace).

        With ``types_stand_for_arrays`` (trace, lower, compile) a ``TensorType`` argument is an
        array of that type that is never allocated: a program can be traced for arrays larger
        than memory."""
        bound = self._signature.bind(*args, **kwargs)
        static = {n: v for n, v in bound.arguments.items()
                  if n in self._static_names or is_implicitly_static(v)}
        dynamic = {n: v for n, v in bound.arguments.items() if n not in static}
        leaves, treedef = flatten(dynamic)
        arrays, specs = [], []
        for index, value in enumerate(leaves):
            if isinstance(value, Tracer):
                return None
            if isinstance(value, TensorType):
                if not types_stand_for_arrays:
                    raise ArgumentError(f"argument {_leaf_path(dynamic, index)} is the type "
                                        f"{value}: a type stands for an array only in trace, "
                                        "lower and compile; call with an array")
                array, weak = _unallocated_array(value), False
            else:
                array, weak = _argument_array(value, dynamic, index)
            arrays.append(array)
            specs.append((array.shape, array.dtype, weak))
        specs = tuple(specs)
        static_key = tuple((name, _static_key(name, value)) for name, value in static.items())
        device = call_device(self.device, arrays, lambda i: _leaf_path(dynamic, i))
        return _Call((treedef, specs, static_key, device), static, dynamic, treedef, specs, arrays,
                     device)

    def _concrete_call(self, args: tuple, kwargs: dict) -> _Call:
        call = self._bind(args, kwargs, types_stand_for_arrays=True)
        if call is None:
            raise ArgumentError(f"{self.__name__}.trace/lower/compile need concrete arrays, "
                                "not values traced by another jit")
        return call

    def _entry(self, call: _Call) -> _Entry:
        entry = self._cache.get(call.key)
        if entry is None:
            entry = self._trace(call)
            verify(entry.module)
            verify_passes = config.verify_passes if self.verify is None else self.verify
            PassManager(self.passes, verify=verify_passes).run(entry.module)
            self._remember(call.key, entry)
            self.trace_count += 1
            if not self._warned:  # only the warning reads the history: it stops growing then
                self._history.append(_describe_arguments(call))
            self._maybe_warn_retrace()
        elif call.key is not self._last_used:
            self._touch(call.key)
        return entry

    def _touch(self, key: Hashable) -> None:
        """A use of signature ``key``: the least recently used goes first.  Repeated uses of
        one signature skip the move, and so do fast-path calls while the cache is at most
        half full (``_crowded``), when nothing is near eviction: hashing a signature key
        again per call made a training loop of small steps (W8) 20% slower."""
        try:
            self._cache.move_to_end(key)
        except KeyError:
            pass  # just dropped by another thread's compile; its executable still runs
        self._last_used = key

    def _remember(self, key: Hashable, entry: _Entry) -> None:
        """Cache ``entry``, dropping the least recently used signatures past the size, with
        the fast paths' keys that lead to them (each probe may keep the last executable it
        ran: one, and it still matches only its own signature).  Eviction scans the fast
        keys, a few per kept signature: it happens only beside a new trace."""
        cache = self._cache
        cache[key] = entry
        self._last_used = key
        limit = config.cache_size if self.cache_size is None else self.cache_size
        self._crowded = len(cache) > limit // 2
        if len(cache) <= limit:
            return
        while len(cache) > limit:
            try:
                cache.popitem(last=False)
            except KeyError:  # emptied by other threads meanwhile
                break
            self.evictions += 1
        # Fast keys of every signature no longer cached go, from this function's fast path
        # and from each bound method's; also any that a thread added for a signature another
        # thread had just dropped.  list(...) copies at once: threads may add keys meanwhile.
        for paths in [self, *(dispatcher.paths for dispatcher in list(self._methods.values()))]:
            fast = paths._fast
            for fast_key, (_, _, cache_key) in list(fast.items()):
                if cache_key not in cache:
                    fast.pop(fast_key, None)

    def _executable(self, entry: _Entry, device: str = "cpu") -> Callable[..., Any]:
        backend = config.backend or self.backend
        if backend not in BACKENDS:
            raise BackendError(f"jitflow.config.backend is {backend!r}; choose from "
                               f"{', '.join(BACKENDS)} or None")
        if device == "cuda" and backend != "interpreter":
            backend = "cuda"
        if backend not in entry.executables:
            executable = build_executable(entry.module, backend)
            state = entry.state
            if state is not None and (state.inputs or state.assigned):
                executable = StatefulExecutable(executable, state.inputs,
                                                list(state.assigned.values()),
                                                entry.out_tree.num_leaves,
                                                entry.out_tree.kind == "leaf")
            entry.executables[backend] = executable
        return entry.executables[backend]

    def _maybe_warn_retrace(self) -> None:
        if self._warned or self.trace_count <= RETRACE_WARNING_THRESHOLD:
            return
        self._warned = True
        names = {name for signature in self._history for name in signature}
        changing = max(sorted(names), key=lambda n: len({s.get(n) for s in self._history}))
        seen = [s.get(changing, "absent") for s in self._history[-3:]]
        warnings.warn(JitflowRetraceWarning(
            f"jitted function '{self.__name__}' has been traced {self.trace_count} times"
            f"{self._eviction_note()}; "
            f"argument '{changing}' keeps changing (recently: {'; '.join(seen)}). Every new "
            "shape, dtype or static value traces and compiles again: give it a fixed shape, or "
            "do not mark it static"), stacklevel=_outside_this_file())

    def _eviction_note(self) -> str:
        if not self.evictions:
            return ""
        limit = config.cache_size if self.cache_size is None else self.cache_size
        return (f" (it keeps the {limit} most recently used signatures compiled: "
                f"{self.evictions} were dropped, and one that comes back is traced again)")

    # -- tracing ----------------------------------------------------------------

    def _trace(self, call: _Call) -> _Entry:
        name = _ir_name(self.__name__)
        module = Module(f"jit_{name}")
        builder = module.builder(name, entry=True)
        ctx = TraceContext(module, builder)
        code = getattr(self.fn, "__code__", None)
        defined_at = SourceLocation(code.co_filename, code.co_firstlineno, code.co_name) \
            if code is not None else None
        paths = [path for path, _ in flatten_with_paths(call.dynamic)[0]]
        with builder.at(defined_at):
            parameters = [Tracer(ctx, builder.parameter(_tensor_type(spec), name=path_name(path)),
                                 spec[2]) for path, spec in zip(paths, call.specs)]
        arguments = {**unflatten(call.treedef, parameters), **call.static}
        bound = inspect.BoundArguments(self._signature, {
            name: arguments[name] for name in self._signature.parameters if name in arguments})
        state = open_scope(ctx)  # Variables read become inputs, assigned ones outputs
        try:
            traced_fn = autograph_convert(self.fn) if self.autograph else self.fn
            out = traced_fn(*bound.args, **bound.kwargs)
            out_leaves, out_tree = flatten(out)
            results = [_output(ctx, i, leaf) for i, leaf in enumerate(out_leaves)]
            results += state.output_instructions()
            single = out_tree.kind == "leaf" and not state.assigned
            with builder.at(defined_at):
                root = results[0] if single else builder.tuple(*results)
            builder.set_root(root)
        finally:
            ctx.active = False
            close_scope(state)
        return _Entry(module, out_tree, state=state)


class _FastPaths:
    """The fast-path caches of a jitted method for one instance that is static by identity
    (a module), as a jitted function has its own (``Jitted.__init__``): keyed on the other
    arguments only.  The executables read the module's variables as they are at each call
    (``StatefulExecutable``)."""

    __slots__ = ("instance", "_fast", "_probe", "_kw_probe")

    def __init__(self, instance: weakref.ref) -> None:
        # Weak, so that the caches do not keep the module alive; kept, so that its callback
        # forgets the dispatcher when the module goes (before its id can be reused).
        self.instance = instance
        self._fast: dict[tuple, tuple[Callable[..., Any], TreeDef, Hashable]] = {}
        self._probe: tuple[Callable[..., Any], TreeDef, str | None] | None = None
        self._kw_probe: tuple | None = None


@dataclass(frozen=True, eq=False)
class _Layout:
    """One shape of call (how many positional arguments, which keywords in which order),
    for the fast path: compared by identity in its cache keys, since each is made once."""

    # ``arrange(run, args, kwargs)`` calls ``run`` with the arguments in parameter order
    # (the executable's inputs; code generated per layout, as the probes are), or returns
    # None when ``args`` has another length.  None for positional calls: ``args`` is in order.
    arrange: Callable[[Callable[..., Any], tuple, dict[str, Any]], Any] | None


def _values(*values: Any) -> tuple:
    return values


def _make_layout(signature: inspect.Signature, static_names: frozenset[str], bound: int,
                 count: int, names: tuple[str, ...]) -> _Layout | None:
    """The layout of a call with ``bound`` leading arguments bound already (a module's
    ``self``, static), then ``count`` positional ones and keywords ``names``; None when
    it cannot take the fast path (static arguments, **kwargs, or arguments that do not
    bind: the slow path says what is wrong)."""
    if static_names:
        return None
    try:
        arguments = signature.bind(*range(bound + count), **{n: n for n in names}).arguments
    except TypeError:
        return None
    sources: list[int | str] = []  # per input, in parameter order: a position or a name
    for name, value in arguments.items():
        kind = signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            return None  # its dict flattens in call order: every order its own signature
        sources.extend(value if kind is inspect.Parameter.VAR_POSITIONAL else (value,))
    if not names:
        return _Layout(None)  # positional arguments bind in order, *args last
    # Bound arguments are positional, so they come first; they are not inputs.
    values = ", ".join(f"args[{s - bound}]" if isinstance(s, int) else f"kwargs[{s!r}]"
                       for s in sources[bound:])
    namespace: dict[str, Any] = {}
    exec(f"def arrange(run, args, kwargs):\n    if len(args) == {count}:\n"
         f"        return run({values})\n", namespace)
    return _Layout(namespace["arrange"])


# -- helpers ------------------------------------------------------------------------

def _check_cache_size(value: Any, what: str) -> int:
    if type(value) is not int or value < 1:
        raise ArgumentError(f"{what} must be a positive int (signatures kept compiled), got {value!r}")
    return value


def _static_names(signature: inspect.Signature, fn: Callable, names: str | tuple[str, ...],
                  numbers: int | tuple[int, ...]) -> frozenset[str]:
    names = (names,) if isinstance(names, str) else tuple(names)
    numbers = (numbers,) if isinstance(numbers, int) else tuple(numbers)
    parameters = signature.parameters
    for name in names:
        if name not in parameters:
            raise ArgumentError(f"static_argnames names {name!r}, which is not a parameter of "
                                f"{fn.__name__}{signature}")
    positional = [p.name for p in parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    for number in numbers:
        if not -len(positional) <= number < len(positional):
            raise ArgumentError(f"static_argnums {number} is out of range for the named positional "
                                f"parameters of {fn.__name__}{signature}")
    return frozenset(names) | {positional[n] for n in numbers}


def _static_key(name: str, value: Any) -> Hashable:
    if is_implicitly_static(value):
        return IdentityKey(value)  # Variables and modules: this very object
    try:
        hash(value)
    except TypeError:
        raise ArgumentError(f"static argument '{name}' must be hashable, got "
                            f"{type(value).__name__} {value!r}; pass a tuple instead of a list, "
                            "or make it a regular (traced) argument") from None
    return (type(value), value)  # 1, 1.0 and True hash alike but trace differently


_SUPPORTED_DTYPES = frozenset(d.numpy for d in DType)


def _argument_array(value: Any, dynamic: dict[str, Any], index: int) -> tuple[np.ndarray, bool]:
    """The runtime array of argument leaf ``index``, and whether it is a weak Python scalar."""
    if is_python_scalar(value):
        try:
            return np.asarray(value, dtype=weak_dtype(value)), True
        except OverflowError:
            raise ArgumentError(f"argument {_leaf_path(dynamic, index)} = {value} does not fit "
                                "in int64") from None
    if is_device_array(value):  # a cupy array stays on its GPU
        if np.dtype(value.dtype) not in _SUPPORTED_DTYPES:
            raise ArgumentError(f"argument {_leaf_path(dynamic, index)} is a cupy array of "
                                f"{value.dtype}, which jitflow cannot trace")
        return value, False
    array = np.asarray(value, order="C")  # compiled code reads row-major buffers
    if not array.dtype.isnative and array.dtype.newbyteorder("=") in _SUPPORTED_DTYPES:
        # Data in the other byte order (a big-endian file, another machine): the same
        # numbers in this machine's order, as NumPy's own functions take them.  The
        # executable converts such arguments again on later calls (its slow path).
        array = array.astype(array.dtype.newbyteorder("="))
    if array.dtype not in _SUPPORTED_DTYPES:
        raise ArgumentError(
            f"argument {_leaf_path(dynamic, index)} is a {type(value).__name__} ({array.dtype}), "
            "not an array jitflow can trace: pass NumPy arrays of bool, int, uint or float, "
            "Python scalars, or nested tuples/lists/dicts of them; mark other values static "
            "with jit(static_argnames=...)")
    return array, False


def _unallocated_array(type_: TensorType) -> np.ndarray:
    """An array of ``type_`` whose elements all share one zero: its shape and dtype, for
    tracing, without the memory (never run code on it)."""
    return np.lib.stride_tricks.as_strided(np.zeros((), type_.dtype.numpy), type_.shape,
                                           (0,) * type_.rank, writeable=False)


def call_device(requested: str | None, arrays: list, describe: Callable[[int], str]) -> str:
    """Where a call runs: the jitted function's device, or the one its cupy arguments are on."""
    on_gpu = [i for i, a in enumerate(arrays) if is_device_array(a)]
    if requested == "cuda" or (requested is None and on_gpu):
        from ..runtime.cuda import require_cupy

        require_cupy()  # DeviceError without cupy or a GPU
        if requested is None:  # inferred: NumPy arrays (not scalars) beside cupy ones are a mistake
            host = [i for i, a in enumerate(arrays) if not is_device_array(a) and np.ndim(a) > 0]
            if host:
                raise DeviceError(
                    f"arguments on different devices: {describe(on_gpu[0])} is a cupy array, "
                    f"{describe(host[0])} a NumPy array; move both to one device, or pass "
                    "jit(device='cuda') to copy NumPy inputs to the GPU")
        devices = {arrays[i].device.id for i in on_gpu}
        if len(devices) > 1:
            raise DeviceError(f"cupy arguments on different GPUs ({sorted(devices)}) in one call")
        return "cuda"
    if on_gpu:
        raise DeviceError(f"argument {describe(on_gpu[0])} is a cupy array but the function is "
                          "jitted with device='cpu': copy it with .get(), or use device='cuda'")
    return "cpu"


def _leaf_path(dynamic: dict[str, Any], index: int) -> str:
    return path_text(flatten_with_paths(dynamic)[0][index][0])


def _tensor_type(spec: tuple[tuple[int, ...], np.dtype, bool]) -> TensorType:
    return TensorType(DType.from_numpy(spec[1]), spec[0])


def _describe_arguments(call: _Call) -> dict[str, str]:
    """What each top-level argument contributed to the cache key, for the retrace warning."""
    described = {name: f"static {value!r}" for name, value in call.static.items()}
    for (path, _), spec in zip(flatten_with_paths(call.dynamic)[0], call.specs):
        text = f"{_tensor_type(spec)}{' (Python scalar)' if spec[2] else ''}"
        previous = described.get(path[0])
        described[path[0]] = text if previous is None else f"{previous}, {text}"
    return described


def _output(ctx: TraceContext, index: int, leaf: Any):
    if isinstance(leaf, Variable):
        leaf = leaf.value  # its value at the return, as tf.function returns a tensor
    if not isinstance(leaf, (Tracer, np.ndarray, np.generic)) and not is_python_scalar(leaf):
        raise tracing_error(TracingError, f"output {index} of the jitted function is a "
                                          f"{type(leaf).__name__}",
                            "return arrays, Python scalars, and tuples/lists/dicts of them")
    return lift(ctx, leaf).inst


def _outside_this_file() -> int:
    """The ``stacklevel`` that points a warning issued by this function's caller at the
    user's call: the first frame in another file."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename == __file__:
        frame, level = frame.f_back, level + 1
    return level


def _ir_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", name) or "fn"
