"""Pattern rewriting: match one instruction, build its replacement, replace it.

A pattern is a ``RewritePattern`` (or a function decorated with ``@pattern``)
that looks at one instruction and, when it applies, rewrites it through the
``PatternRewriter`` it is given and returns True::

    @pattern("multiply")
    def double_to_add(inst, rewriter):
        x, two = inst.operands
        if splat_value(two) != 2:
            return False
        return rewriter.replace(inst, rewriter.builder.add(x, x))

``apply_patterns_greedily(module, patterns)`` runs patterns over every
computation until none applies (a fixpoint), revisiting what each rewrite
touched and erasing instructions that become dead (as MLIR's greedy driver does).
"""

from __future__ import annotations

import abc
import collections
from typing import Callable, Iterable, Sequence

import numpy as np

from ..errors import IRError, JitflowError
from ..ir import Builder, Computation, Instruction, Module
from ..ir.types import same_ignoring_layout
from .effects import is_trivially_dead


class RewriteError(JitflowError):
    """Patterns that keep rewriting without reaching a fixpoint, or that misreport a rewrite."""


class RewritePattern(abc.ABC):
    """Subclass and implement ``match_and_rewrite``; ``opcodes`` limits what it is offered."""

    # The opcodes this pattern can match; empty means every opcode.
    opcodes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return type(self).__name__

    @abc.abstractmethod
    def match_and_rewrite(self, inst: Instruction, rewriter: PatternRewriter) -> bool:
        """Rewrite ``inst`` through ``rewriter`` and return True, or return False untouched."""


PatternFunction = Callable[[Instruction, "PatternRewriter"], bool]


class FunctionPattern(RewritePattern):
    """A pattern made from a function ``fn(inst, rewriter) -> bool``."""

    def __init__(self, function: PatternFunction, opcodes: tuple[str, ...]) -> None:
        self.function = function
        self.opcodes = opcodes

    @property
    def name(self) -> str:
        return self.function.__name__

    def match_and_rewrite(self, inst: Instruction, rewriter: PatternRewriter) -> bool:
        return self.function(inst, rewriter)


def pattern(*opcodes: str) -> Callable[[PatternFunction], FunctionPattern]:
    """Make a function ``fn(inst, rewriter) -> bool`` a pattern for instructions of ``opcodes``."""
    return lambda function: FunctionPattern(function, opcodes)


class _RecordingBuilder(Builder):
    """A Builder that remembers what it created, so that the driver visits it."""

    def __init__(self, computation: Computation, created: list[Instruction]) -> None:
        super().__init__(computation)
        self._created = created

    def emit(self, *args, **kwargs) -> Instruction:
        inst = super().emit(*args, **kwargs)
        self._created.append(inst)
        return inst


class PatternRewriter:
    """What a pattern changes the IR through; it keeps use-def links right and tells the driver."""

    def __init__(self, inst: Instruction) -> None:
        self.inst = inst
        self.created: list[Instruction] = []
        # Instructions whose operands changed or that may have lost their last user.
        self.touched: list[Instruction] = []
        self._builder: _RecordingBuilder | None = None

    @property
    def builder(self) -> Builder:
        """A builder inserting before the matched instruction, with its source location."""
        if self._builder is None:
            self._builder = _RecordingBuilder(self.inst.parent, self.created)
            self._builder.set_insertion_point(before=self.inst)
            self._builder.source = self.inst.source
        return self._builder

    @property
    def changed(self) -> bool:
        return bool(self.created or self.touched)

    def replace(self, old: Instruction, new: Instruction) -> bool:
        """Every use of ``old`` (the ROOT too) becomes ``new``; ``old`` is erased.  Returns True."""
        if not same_ignoring_layout(old.type, new.type):
            raise IRError(f"cannot replace %{old.name} ({old.type}) with %{new.name} ({new.type})")
        computation = old.parent
        users = old.users
        computation.replace_all_uses_with(old, new)
        self.touched.extend(users)
        self.touched.append(new)
        self.erase(old)
        return True

    def erase(self, inst: Instruction) -> bool:
        """Remove an instruction nothing uses (its operands may become dead).  Returns True."""
        operands = inst.operands
        inst.parent.erase(inst)
        self.touched.extend(operands)
        return True


def apply_patterns_greedily(module: Module, patterns: Sequence[RewritePattern], *,
                            erase_dead: bool = True, max_sweeps: int = 10) -> bool:
    """Apply ``patterns`` everywhere until none applies; True if anything changed.

    Each sweep visits every instruction of every computation, then whatever a
    rewrite created or touched, until its worklist is empty; sweeps repeat until
    one changes nothing.  Patterns are tried in the order given.
    """
    driver = _GreedyDriver(patterns, erase_dead)
    changed = False
    for _ in range(max_sweeps):
        # A list, not a generator: every computation is swept even after one changed.
        if not any([driver.sweep(c) for c in list(module.computations.values())]):
            return changed
        changed = True
    raise RewriteError(f"rewrite patterns did not reach a fixpoint in {max_sweeps} sweeps "
                       f"(last applied: {driver.last_pattern})")


class _GreedyDriver:
    # A sweep of a computation of n instructions may rewrite at most this many times n (plus
    # a constant); more means patterns undo each other and would never stop.
    REWRITES_PER_INSTRUCTION = 16

    def __init__(self, patterns: Sequence[RewritePattern], erase_dead: bool) -> None:
        self.patterns = list(patterns)
        self.erase_dead = erase_dead
        self._by_opcode: dict[str, list[RewritePattern]] = {}
        self.last_pattern = "none"

    def patterns_for(self, opcode: str) -> list[RewritePattern]:
        found = self._by_opcode.get(opcode)
        if found is None:
            found = [p for p in self.patterns if not p.opcodes or opcode in p.opcodes]
            self._by_opcode[opcode] = found
        return found

    def sweep(self, computation: Computation) -> bool:
        worklist = collections.deque(computation.instructions)
        queued = set(worklist)
        budget = self.REWRITES_PER_INSTRUCTION * len(worklist) + 64
        changed = False

        def push(instructions: Iterable[Instruction]) -> None:
            for inst in instructions:
                if inst.parent is computation and inst not in queued:
                    queued.add(inst)
                    worklist.append(inst)

        while worklist:
            inst = worklist.popleft()
            queued.discard(inst)
            if inst.parent is not computation:
                continue  # erased since it was queued
            if self.erase_dead and is_trivially_dead(inst):
                operands = inst.operands
                computation.erase(inst)
                push(operands)
                changed = True
                continue
            rewriter = self._rewrite(inst)
            if rewriter is None:
                continue
            changed = True
            budget -= 1
            if budget < 0:
                raise RewriteError(f"rewrite patterns keep rewriting computation "
                                   f"'{computation.name}' (last applied: {self.last_pattern})")
            push(rewriter.created)
            push(rewriter.touched)
        return changed

    def _rewrite(self, inst: Instruction) -> PatternRewriter | None:
        """The rewriter of the first pattern that applies to ``inst``, or None."""
        for pattern_ in self.patterns_for(inst.opcode):
            rewriter = PatternRewriter(inst)
            applied = pattern_.match_and_rewrite(inst, rewriter)
            # NumPy booleans count: `splat_value(y) == 2 and rewriter.replace(...)` is fine.
            if not isinstance(applied, (bool, np.bool_)) or bool(applied) != rewriter.changed:
                what = "after changing the IR" if rewriter.changed else "without changing the IR"
                raise RewriteError(f"pattern {pattern_.name} returned {applied!r} for %{inst.name} "
                                   f"{what}; return True exactly when the rewriter changed the IR")
            if applied:
                self.last_pattern = pattern_.name
                return rewriter
        return None
