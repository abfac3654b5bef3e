"""``GradientTape``: TensorFlow's tape API on jitflow's reverse-mode autodiff (``ir.autodiff``).

A tape records which values gradients may be taken with respect to: the
variables read while it records (trainable ones, unless
``watch_accessed_variables=False``) and the values given to ``watch``.  The
operations themselves are recorded by tracing, as everything in jitflow is:

* **Inside ``jit``** the function is being traced already: the tape attaches to
  that trace, and ``gradient`` emits the backward pass (``emit_vjp``) into it,
  so the gradients are traced values like any other.
* **Eagerly** the tape opens its own trace, an ``EagerContext`` whose
  instructions are evaluated by the reference interpreter as they are recorded:
  the values computed under the tape are ``EagerTracer``s that also hold their
  NumPy value (``loss.numpy()``, ``float(loss)``, printing work), and
  ``gradient`` evaluates the emitted backward pass, returning NumPy arrays.

Both paths run the same VJP rules, so they give the numbers ``jit(grad(f))`` gives.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Sequence

import numpy as np

from ...errors import GradientTapeError
from ...ir import Instruction, Interpreter, TensorType
from ...ir import Module as IRModule
from ...ir.autodiff import emit_vjp
from ..state import Scope, Variable, close_scope, current_scope, open_scope
from ..trace.emitters import ir_dtype, lift
from ..trace.pytree import flatten, unflatten
from ..trace.tracer import TraceContext, Tracer, user_location

# -- eager recording ---------------------------------------------------------------


class EagerTracer(Tracer):
    """A traced value of an eager tape: it also has a concrete NumPy value."""

    __slots__ = ()

    def numpy(self) -> np.ndarray:
        return self.ctx.value_of(self.inst).copy()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        value = self.ctx.value_of(self.inst)
        return value.astype(dtype) if dtype is not None else (value.copy() if copy else value)

    def __bool__(self) -> bool:
        return bool(self.ctx.value_of(self.inst))

    def __float__(self) -> float:
        return float(self.ctx.value_of(self.inst))

    def __int__(self) -> int:
        return int(self.ctx.value_of(self.inst))

    def __index__(self) -> int:
        return self.ctx.value_of(self.inst).__index__()

    def __complex__(self) -> complex:
        return complex(self.ctx.value_of(self.inst))

    def item(self, *args: Any) -> Any:
        return self.ctx.value_of(self.inst).item(*args)

    def tolist(self) -> Any:
        return self.ctx.value_of(self.inst).tolist()

    def __repr__(self) -> str:
        return f"EagerTracer({self.ctx.value_of(self.inst)!r})"

    def __format__(self, spec: str) -> str:
        return format(self.ctx.value_of(self.inst), spec)


class EagerContext(TraceContext):
    """A trace that evaluates each instruction (with the op table's NumPy reference
    implementation) as soon as it is recorded."""

    tracer_class = EagerTracer

    def __init__(self) -> None:
        module = IRModule("gradient_tape")
        super().__init__(module, module.builder("tape", entry=True))
        self._values: dict[Instruction, Any] = {}
        self._call = Interpreter(module).call  # for ops with called computations

    def emit(self, opcode: str, *operands: Instruction, **kwargs: Any) -> Instruction:
        inst = super().emit(opcode, *operands, **kwargs)
        self.value_of(inst)  # evaluated now, so that errors point at the user's line
        return inst

    def set_value(self, inst: Instruction, value: np.ndarray) -> None:
        self._values[inst] = value

    def value_of(self, inst: Instruction) -> Any:
        value = self._values.get(inst)
        if value is None:
            # Instructions the builder made directly (the backward pass) are evaluated
            # in program order, which defines each operand before its uses.
            for pending in self.builder.computation.instructions:
                if pending not in self._values:
                    args = [self._values[operand] for operand in pending.operands]
                    self._values[pending] = pending.opdef.evaluate(pending, args, self._call)
            value = self._values[inst]
        return value


# -- the tape ----------------------------------------------------------------------

_UNCONNECTED = ("none", "zero")


class GradientTape:
    """``with GradientTape() as tape: loss = ...`` then ``tape.gradient(loss, sources)``.

    ``persistent``: allow several ``gradient`` calls (otherwise one).
    ``watch_accessed_variables``: record every trainable variable read under the
    tape; with False only what ``watch`` names is recorded.
    """

    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True) -> None:
        self.persistent = persistent
        self.watch_accessed_variables = watch_accessed_variables
        self._scope: Scope | None = None
        self._owned_scope: Scope | None = None
        self._recording = False
        self._used = False
        self._reads: dict[int, tuple[Variable, list[Tracer]]] = {}
        self._watched_ids: set[int] = set()
        self._watched_arrays: dict[int, Tracer] = {}

    def __enter__(self) -> GradientTape:
        if self._scope is not None:
            raise GradientTapeError("this GradientTape is already recording (or has recorded): "
                                    "use a new tape for each `with` block")
        scope = current_scope()
        if scope is None:  # eager: this tape's own evaluating trace
            scope = self._owned_scope = open_scope(EagerContext(), eager=True)
        self._scope = scope
        self._start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stop()
        if self._owned_scope is not None:
            close_scope(self._owned_scope)

    def _start(self) -> None:
        self._scope.tapes.append(self)
        self._recording = True

    def _stop(self) -> None:
        if self._recording:
            self._scope.tapes.remove(self)
            self._recording = False

    @contextlib.contextmanager
    def stop_recording(self) -> Iterator[None]:
        """Variables read inside the block are not recorded by this tape."""
        if not self._recording:
            raise GradientTapeError("GradientTape.stop_recording() outside the tape's block")
        self._stop()
        try:
            yield
        finally:
            self._start()

    def watch(self, values: Any) -> Any:
        """Record ``values`` (variables, traced values, or NumPy arrays; nested lists,
        tuples and dicts of them).  Returns them; a NumPy array comes back as the traced
        value to compute with (only that value's uses are differentiated)."""
        if not self._recording:
            raise GradientTapeError("GradientTape.watch() outside the tape's `with` block")
        leaves, tree = flatten(values)
        watched = []
        for leaf in leaves:
            if isinstance(leaf, Variable):
                self._watched_ids.add(id(leaf))
                self._scope.read(leaf)  # records it, now that it is watched
            elif isinstance(leaf, Tracer):
                self._watched_ids.add(id(leaf))
            else:
                leaf = self._watch_array(leaf)
            watched.append(leaf)
        return unflatten(tree, watched)

    def _watch_array(self, value: Any) -> Tracer:
        if not isinstance(self._scope.ctx, EagerContext):
            raise GradientTapeError(
                f"GradientTape.watch() of a {type(value).__name__} inside jit: it is a constant "
                "there; pass it to the jitted function as an argument, or use a Variable")
        array = np.asarray(value)
        builder = self._scope.ctx.builder
        with builder.at(user_location()):
            inst = builder.parameter(TensorType(ir_dtype(array.dtype), array.shape),
                                     name="watched")
        self._scope.ctx.set_value(inst, array.copy())
        tracer = Tracer(self._scope.ctx, inst)
        self._watched_arrays[id(value)] = tracer
        self._watched_ids.add(id(tracer))
        return tracer

    def record_read(self, variable: Variable, value: Tracer) -> None:
        """Called by the scope for every variable read while this tape records."""
        if not (self.watch_accessed_variables and variable.trainable) \
                and id(variable) not in self._watched_ids:
            return
        entry = self._reads.setdefault(id(variable), (variable, []))
        if not any(seen is value for seen in entry[1]):
            entry[1].append(value)

    def watched_variables(self) -> list[Variable]:
        return [variable for variable, _ in self._reads.values()]

    # -- gradients ------------------------------------------------------------------

    def gradient(self, target: Any, sources: Any, output_gradients: Any = None,
                 unconnected_gradients: str = "none") -> Any:
        """d(target)/d(sources), shaped like ``sources``.

        ``target``: a traced value (or nested structure of them, whose sum is
        differentiated).  ``output_gradients``: the cotangents of the targets (default
        ones).  Sources the target does not depend on give None, or zeros with
        ``unconnected_gradients="zero"``.
        """
        if self._scope is None:
            raise GradientTapeError("GradientTape.gradient() before the tape recorded anything: "
                                    "compute the target inside `with GradientTape() as tape:`")
        if self._used and not self.persistent:
            raise GradientTapeError(
                "GradientTape.gradient() can only be called once on a non-persistent tape: "
                "create it with GradientTape(persistent=True) to ask for several gradients")
        if unconnected_gradients not in _UNCONNECTED:
            raise GradientTapeError(f"unconnected_gradients={unconnected_gradients!r}: choose "
                                    f"{' or '.join(map(repr, _UNCONNECTED))}")
        self._used = True
        ctx = self._scope.ctx
        outputs, cotangents = self._targets(ctx, target, output_gradients)
        source_leaves, source_tree = flatten(sources)
        wrt_lists = [self._source_values(ctx, source, index)
                     for index, source in enumerate(source_leaves)]
        wrt = list({id(t.inst): t.inst for ts in wrt_lists for t in ts}.values())
        with ctx.builder.at(user_location()):
            grads = emit_vjp(ctx.builder, outputs, cotangents, wrt) if outputs and wrt else \
                [None] * len(wrt)
        by_inst = dict(zip((id(inst) for inst in wrt), grads))
        results = [self._result(ctx, source, [by_inst[id(t.inst)] for t in ts],
                                unconnected_gradients == "zero")
                   for source, ts in zip(source_leaves, wrt_lists)]
        return unflatten(source_tree, results)

    def _targets(self, ctx: TraceContext, target: Any,
                 output_gradients: Any) -> tuple[list[Instruction], list[Instruction]]:
        targets = flatten(target)[0]
        given = [None] * len(targets) if output_gradients is None else \
            flatten(output_gradients)[0]
        if len(given) != len(targets):
            raise GradientTapeError(f"output_gradients has {len(given)} values for "
                                    f"{len(targets)} targets")
        outputs, cotangents = [], []
        for value, cotangent in zip(targets, given):
            if isinstance(value, Variable):
                value = self._scope.read(value)
            if not isinstance(value, Tracer):
                continue  # a constant target: no source influences it
            if value.ctx is not ctx:
                raise GradientTapeError("GradientTape.gradient() target was computed in another "
                                        "trace than the tape recorded")
            if cotangent is None:
                ct = ctx.constant(np.ones(value.shape, value.dtype))
            else:
                ct = lift(ctx, cotangent, value.dtype)
                if ct.shape != value.shape:
                    raise GradientTapeError(f"output_gradients entry of shape {ct.shape} for a "
                                            f"target of shape {value.shape}")
            outputs.append(value.inst)
            cotangents.append(ct.inst)
        return outputs, cotangents

    def _source_values(self, ctx: TraceContext, source: Any, index: int) -> list[Tracer]:
        if isinstance(source, Variable):
            if not np.issubdtype(source.dtype, np.floating):
                return []  # no gradients for integer state
            entry = self._reads.get(id(source))
            return [] if entry is None else entry[1]
        if isinstance(source, Tracer):
            if source.ctx is not ctx:
                raise GradientTapeError(f"gradient source {index} is a value of another trace "
                                        "than the one this tape recorded")
            return [source] if np.issubdtype(source.dtype, np.floating) else []
        watched = self._watched_arrays.get(id(source))
        if watched is not None:
            raise GradientTapeError(
                f"gradient source {index} is the NumPy array given to tape.watch(): compute "
                "with the value watch() returns and ask for the gradient with respect to it")
        raise GradientTapeError(
            f"gradient source {index} is a {type(source).__name__}: sources are "
            "jitflow.Variables or values computed under the tape (a NumPy array cannot be "
            "differentiated; wrap it in a Variable, or use x = tape.watch(x))")

    @staticmethod
    def _result(ctx: TraceContext, source: Any, grads: Sequence[Instruction | None],
                zeros: bool) -> Any:
        present = [Tracer(ctx, g) for g in grads if g is not None]
        if present:
            total = present[0]
            for more in present[1:]:
                total = total + more
            if isinstance(ctx, EagerContext):
                return np.asarray(total).copy()
            return total
        if not zeros:
            return None
        dtype = source.dtype if hasattr(source, "dtype") else np.float64
        if isinstance(ctx, EagerContext):
            return np.zeros(source.shape, dtype)
        return ctx.constant(np.zeros(source.shape, dtype))
