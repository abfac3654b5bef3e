"""Name analyses on Python ASTs for AutoGraph: reads, writes and liveness.

They work on one function body at a time and stop at nested function, lambda,
class and comprehension scopes for writes (those bind their own names), while
reads inside them count as reads of the enclosing scope (a nested function may
read any variable it closes over).  Results are conservative where Python's
dynamic features leave doubt: a variable is live rather than dead, and
``try``/``with`` blocks kill nothing.
"""

from __future__ import annotations

import ast
from typing import Iterable

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.ListComp,
           ast.SetComp, ast.DictComp, ast.GeneratorExp)


def reads(node: ast.AST | None) -> frozenset[str]:
    """Every name loaded anywhere under ``node`` (nested scopes included)."""
    if node is None:
        return frozenset()
    # Memoized on the node: liveness asks again for every enclosing loop's fixpoint.
    cached = getattr(node, "_ag_reads", None)
    if cached is None:
        cached = frozenset(n.id for n in ast.walk(node) if isinstance(n, ast.Name) and
                           isinstance(n.ctx, (ast.Load, ast.Del)))
        node._ag_reads = cached
    return cached


def _walk_scope(node: ast.AST):
    """``ast.walk`` that does not enter nested scopes (it yields their nodes themselves)."""
    todo = [node]
    while todo:
        current = todo.pop()
        yield current
        if current is not node and isinstance(current, _SCOPES):
            continue
        todo.extend(ast.iter_child_nodes(current))


def subscript_root(target: ast.AST) -> str | None:
    """``x`` for ``x[i]`` (AutoGraph rebinds ``x``: ``x = set_item(x, i, v)``), unless
    ``mark_outer_stores`` found that ``x`` is not a local of the function: a store into a
    global or enclosing container neither binds nor rebinds its name."""
    if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name) and \
            not hasattr(target, OUTER_STORE):
        return target.value.id
    return None


# Set by ``mark_outer_stores`` on an item or attribute target whose root name is not local
# to the function; its value is that name.
OUTER_STORE = "ag_outer_store"
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def bound_names(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """The names Python makes local to ``fn``: its parameters and every name its body binds
    outside nested scopes (assignments, loop and ``with`` targets, ``del``, imports, nested
    ``def``/``class``, ``except ... as``, match captures, ``:=`` in comprehensions).  An item
    or attribute store (``x[i] = v``, ``x.a = v``) does not bind ``x``."""
    arguments = fn.args
    names = {a.arg for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs}
    names |= {a.arg for a in (arguments.vararg, arguments.kwarg) if a is not None}
    for n in _walk_scope(fn):
        if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            names.add(n.id)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n is not fn:
            names.add(n.name)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in n.names)
        elif isinstance(n, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and n.name:
            names.add(n.name)
        elif isinstance(n, ast.MatchMapping) and n.rest:
            names.add(n.rest)
        elif isinstance(n, _COMPREHENSIONS):
            # ``:=`` inside a comprehension binds in the enclosing function.
            names.update(m.target.id for m in ast.walk(n) if isinstance(m, ast.NamedExpr))
    return names


def mark_outer_stores(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
    """Mark ``x[i] = v``, ``x[i] += v``, ``x.a = v`` and ``x.a += v`` whose ``x`` is a global or
    a variable of an enclosing function (not bound in ``fn``).  Python mutates that container
    in place and ``x`` stays non-local; rebinding ``x`` as for a local traced array would make
    it a local of the converted function (an ``UnboundLocalError`` at its first read).  Must
    run before the analyses above see ``fn``'s statements (they cache per node)."""
    bound = bound_names(fn)
    for n in _walk_scope(fn):
        if isinstance(n, ast.Assign):
            targets = n.targets
        elif isinstance(n, (ast.AugAssign, ast.AnnAssign)):
            targets = [n.target]
        else:
            continue
        for target in targets:
            if isinstance(target, (ast.Subscript, ast.Attribute)) and \
                    isinstance(target.value, ast.Name) and target.value.id not in bound:
                setattr(target, OUTER_STORE, target.value.id)


def writes(node: ast.AST) -> set[str]:
    """Names a statement (or block member) binds in the current scope, at any nesting."""
    cached = getattr(node, "_ag_writes", None)
    if cached is not None:
        return set(cached)
    names: set[str] = set()
    for n in _walk_scope(node):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            names.add(n.id)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(n.name)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in n.names)
        elif isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = n.targets if isinstance(n, ast.Assign) else [n.target]
            for target in targets:
                root = subscript_root(target)
                if root is not None:
                    names.add(root)
        if isinstance(n, ast.NamedExpr):
            names.add(n.target.id)
    node._ag_writes = frozenset(names)
    return names


def writes_all(nodes: Iterable[ast.AST]) -> set[str]:
    return set().union(*(writes(node) for node in nodes))


# Statements whose liveness depends on the whole set live after them (branches and loops:
# a fixpoint over their bodies), memoized per statement and live-out set.  Every other
# statement moves the live set by what it reads and writes alone, which costs nothing
# proportional to the set: a straight-line body of n statements is analysed in O(n), not
# O(n * live variables) as with a copy of the set per statement.
_BRANCHING = (ast.If, ast.While, ast.For)
# Statements that hand their live-out set to the blocks they contain (see transform.py).
NEEDS_LIVE_OUT = _BRANCHING + (ast.With, ast.Try)


def block_live_in(stmts: list[ast.stmt], live_out: set[str]) -> set[str]:
    live = set(live_out)
    for stmt in reversed(stmts):
        live = step_back(stmt, live)
    return live


def step_back(stmt: ast.stmt, live: set[str]) -> set[str]:
    """``live_in(stmt, live)``, updating ``live`` in place where that is cheap (the caller's
    set is consumed: use the result)."""
    if isinstance(stmt, _BRANCHING):
        return live_in(stmt, live)
    killed, read = _effect(stmt)
    live.difference_update(killed)
    live.update(read)
    return live


def live_in(stmt: ast.stmt, live_out: set[str]) -> set[str]:
    """Variables whose value before ``stmt`` may be read (by it or after it)."""
    if not isinstance(stmt, _BRANCHING):
        return step_back(stmt, set(live_out))
    key = frozenset(live_out)
    memo = stmt.__dict__.setdefault("_ag_live", {})
    if key not in memo:
        memo[key] = frozenset(_live_in(stmt, live_out))
    return set(memo[key])


def _effect(stmt: ast.stmt) -> tuple[Iterable[str], frozenset[str]]:
    """(names killed, names read) of a statement that is not a branch or a loop:
    live before it = (live after it - killed) | read."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return (stmt.name,), reads(stmt)
    if isinstance(stmt, (ast.Try, ast.With, ast.AsyncWith, ast.AsyncFor, ast.Match)):
        return (), reads(stmt)
    if isinstance(stmt, ast.AugAssign) or any(
            subscript_root(t) for t in getattr(stmt, "targets", [getattr(stmt, "target", None)])):
        return (), reads(stmt)  # x += 1 and x[i] = v read x as well
    return writes(stmt), reads(stmt)


def _live_in(stmt: ast.stmt, live_out: set[str]) -> set[str]:
    if isinstance(stmt, ast.If):
        return (reads(stmt.test) | block_live_in(stmt.body, live_out)
                | block_live_in(stmt.orelse, live_out))
    if isinstance(stmt, ast.While):
        after = live_out | block_live_in(stmt.orelse, live_out)
        head = after | reads(stmt.test)
        while True:
            new = after | reads(stmt.test) | block_live_in(stmt.body, head)
            if new == head:
                return head
            head = new
    assert isinstance(stmt, ast.For)
    after = live_out | block_live_in(stmt.orelse, live_out)
    extra = reads(getattr(stmt, "ag_extra_test", None))
    targets = writes(ast.Assign(targets=[stmt.target], value=ast.Constant(0)))
    head = after | extra
    while True:
        new = after | extra | (block_live_in(stmt.body, head) - targets)
        if new == head:
            return reads(stmt.iter) | head
        head = new


def contains(nodes: Iterable[ast.AST], kinds: tuple[type, ...], through_loops: bool) -> bool:
    """Whether any of ``kinds`` occurs in ``nodes`` outside nested scopes (and, unless
    ``through_loops``, outside nested loops: ``break`` belongs to its innermost loop)."""
    todo = list(nodes)
    while todo:
        node = todo.pop()
        if isinstance(node, kinds):
            return True
        if isinstance(node, _SCOPES):
            continue
        if not through_loops and isinstance(node, (ast.While, ast.For)):
            todo.extend(node.orelse)  # a loop's else belongs to the enclosing loop
            continue
        todo.extend(ast.iter_child_nodes(node))
    return False
