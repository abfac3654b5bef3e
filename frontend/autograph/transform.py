"""The AutoGraph source transformation: Python control flow to calls of ``ag__`` helpers.

Two phases per function:

1. **Jumps become flags.**  ``return`` inside a branch or loop sets
   ``ag__do_return`` and ``ag__retval``; ``break``/``continue`` set a flag of
   their loop; the statements after one that may jump are guarded by
   ``if not flag:``, and loop conditions test the flags first.  Afterwards no
   jump is left inside control flow, so every branch and loop body is a
   straight-line function of its variables.
2. **Statements become functions.**  ``if``/``while``/``for`` become nested
   functions (branches, condition, body) that take the statement's variables
   as parameters and return them, plus one call of ``ag__.if_stmt``,
   ``ag__.while_stmt`` or ``ag__.for_stmt``, which decide at trace time
   whether Python runs the statement (Python condition) or it becomes
   ``conditional``/``while`` IR (traced condition).  The variables are found
   by liveness (``analysis``): a branch returns what it writes and
   is read afterwards; a loop carries what its body writes and is live at the
   loop head.  Expressions are rewritten too: ``and``/``or``/``not``/``x if c
   else y`` call helpers, ``x[i] = v`` rebinds ``x = ag__.set_item(x, i, v)``
   when ``x`` is a local of the function (a store into a global or enclosing
   container stays as written, its value checked by ``ag__.outer_store``),
   ``lst.append(v)`` is checked, and calls of user functions convert them.

Every generated node carries the line of the statement it came from, so
errors and IR metadata name the user's source lines.
"""

from __future__ import annotations

import ast
import builtins
import copy
import types
from dataclasses import dataclass
from typing import Any

from .analysis import (NEEDS_LIVE_OUT, OUTER_STORE, contains, live_in, mark_outer_stores, reads,
                       step_back, subscript_root, writes, writes_all)

AG = "ag__"
RETURN_FLAG = f"{AG}do_return"
RETURN_VALUE = f"{AG}retval"


def _load(name: str) -> ast.Name:
    return ast.Name(id=name, ctx=ast.Load())


def _store(name: str) -> ast.Name:
    return ast.Name(id=name, ctx=ast.Store())


def _ag(attribute: str) -> ast.Attribute:
    return ast.Attribute(value=_load(AG), attr=attribute, ctx=ast.Load())


def _call(func: ast.expr, *args: ast.expr) -> ast.Call:
    return ast.Call(func=func, args=list(args), keywords=[])


def _assign(name: str, value: ast.expr) -> ast.Assign:
    return ast.Assign(targets=[_store(name)], value=value)


def _strings(names: list[str]) -> ast.Tuple:
    return ast.Tuple(elts=[ast.Constant(n) for n in names], ctx=ast.Load())


def _none_of(flags: list[str]) -> ast.expr:
    """``not (f1 or f2 ...)``: what guards the code after a possible jump."""
    inner = _load(flags[0]) if len(flags) == 1 else ast.BoolOp(
        op=ast.Or(), values=[_load(f) for f in flags])
    return ast.UnaryOp(op=ast.Not(), operand=inner)


def _located(nodes: list[ast.stmt], origin: ast.AST) -> list[ast.stmt]:
    """Generated nodes take ``origin``'s first line (only that line: Python places a method
    call at the end line of its attribute, which would be the last line of a loop)."""
    todo = list(nodes)
    while todo:
        child = todo.pop()
        if "lineno" in child._attributes:
            if hasattr(child, "lineno"):
                continue  # user code, or located when it was generated: so is all below it
            child.lineno = child.end_lineno = origin.lineno
            child.col_offset = child.end_col_offset = origin.col_offset
        todo.extend(ast.iter_child_nodes(child))
    return nodes


def _fill(node: ast.expr, origin: ast.AST) -> ast.expr:
    """A generated expression located at ``origin``'s line (its parts included)."""
    return _located([node], origin)[0]


def _lambda(body: ast.expr) -> ast.Lambda:
    return ast.Lambda(args=ast.arguments(posonlyargs=[], args=[], vararg=None, kwonlyargs=[],
                                         kw_defaults=[], kwarg=None, defaults=[]), body=body)


def _function(name: str, params: list[str], body: list[ast.stmt]) -> ast.FunctionDef:
    arguments = ast.arguments(posonlyargs=[], args=[ast.arg(arg=p) for p in params], vararg=None,
                              kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[])
    return ast.FunctionDef(name=name, args=arguments, body=body or [ast.Pass()],
                           decorator_list=[], returns=None, type_comment=None)


def _tuple(names: list[str], store: bool = False) -> ast.Tuple:
    return ast.Tuple(elts=[_store(n) if store else _load(n) for n in names],
                     ctx=ast.Store() if store else ast.Load())


class _Fresh:
    """Generated names: ``ag__<base>_<n>``, numbered per converted function."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, base: str) -> str:
        self.count += 1
        return f"{AG}{base}_{self.count}"


# -- phase 1: jumps to flags ---------------------------------------------------------------

@dataclass(frozen=True)
class _JumpScope:
    returns: bool          # return is lowered to flags in this function
    break_flag: str | None
    continue_flag: str | None


_COMPOUND = (ast.If, ast.While, ast.For, ast.With, ast.Try)


class _JumpLowering:
    def __init__(self, fresh: _Fresh) -> None:
        self.fresh = fresh

    def function(self, fn: ast.FunctionDef) -> None:
        nested_return = any(isinstance(s, _COMPOUND) and contains([s], (ast.Return,), True)
                            for s in fn.body)
        scope = _JumpScope(nested_return, None, None)
        if nested_return and not isinstance(fn.body[-1], ast.Return):
            # Falling off the end returns None: explicit, so that a traced branch that
            # returns an array while the other path returns None is an error, not zeros.
            fn.body.append(_located([ast.Return(value=ast.Constant(None))], fn.body[-1])[0])
        body = self.block(fn.body, scope)
        if nested_return:
            start = [_assign(RETURN_FLAG, ast.Constant(False)),
                     _assign(RETURN_VALUE, _call(_ag("ReturnValue")))]
            end = [ast.Return(value=_call(_ag("return_value"), _load(RETURN_VALUE)))]
            body = _located(start, fn.body[0]) + body + _located(end, fn.body[-1])
        fn.body = body

    def _flags(self, stmt: ast.stmt, scope: _JumpScope) -> list[str]:
        flags = []
        if scope.returns and contains([stmt], (ast.Return,), True):
            flags.append(RETURN_FLAG)
        if scope.break_flag and contains([stmt], (ast.Break,), False):
            flags.append(scope.break_flag)
        if scope.continue_flag and contains([stmt], (ast.Continue,), False):
            flags.append(scope.continue_flag)
        return flags

    def block(self, stmts: list[ast.stmt], scope: _JumpScope) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for index, stmt in enumerate(stmts):
            flags = self._flags(stmt, scope)  # before lowering removes the jumps
            out.extend(self.statement(stmt, scope))
            if isinstance(stmt, (ast.Return, ast.Break, ast.Continue)):
                return out  # the rest is unreachable
            rest = stmts[index + 1:]
            if flags and rest:
                guarded = self.block(rest, scope)
                if guarded:
                    out.extend(_located([ast.If(test=_none_of(flags), body=guarded, orelse=[])],
                                        rest[0]))
                return _located(out, stmt)
        return out

    def statement(self, stmt: ast.stmt, scope: _JumpScope) -> list[ast.stmt]:
        if isinstance(stmt, ast.Return) and scope.returns:
            value = stmt.value if stmt.value is not None else ast.Constant(None)
            return _located([_assign(RETURN_VALUE, value), _assign(RETURN_FLAG, ast.Constant(True))],
                            stmt)
        if isinstance(stmt, ast.Break) and scope.break_flag:
            return _located([_assign(scope.break_flag, ast.Constant(True))], stmt)
        if isinstance(stmt, ast.Continue) and scope.continue_flag:
            return _located([_assign(scope.continue_flag, ast.Constant(True))], stmt)
        if isinstance(stmt, ast.If):
            stmt.body = self.block(stmt.body, scope) or [ast.copy_location(ast.Pass(), stmt)]
            stmt.orelse = self.block(stmt.orelse, scope)
            return [stmt]
        if isinstance(stmt, (ast.While, ast.For)):
            return self.loop(stmt, scope)
        if isinstance(stmt, ast.With):
            stmt.body = self.block(stmt.body, scope)
            return [stmt]
        if isinstance(stmt, ast.Try):
            stmt.body = self.block(stmt.body, scope)
            for handler in stmt.handlers:
                handler.body = self.block(handler.body, scope) or [ast.Pass()]
            stmt.orelse = self.block(stmt.orelse, scope)
            stmt.finalbody = self.block(stmt.finalbody, scope)
            return [stmt]
        return [stmt]

    def loop(self, loop: ast.While | ast.For, scope: _JumpScope) -> list[ast.stmt]:
        break_flag = self.fresh("break") if contains(loop.body, (ast.Break,), False) else None
        continue_flag = self.fresh("continue") if contains(loop.body, (ast.Continue,), False) \
            else None
        returns = scope.returns and contains(loop.body, (ast.Return,), True)
        inner = _JumpScope(scope.returns, break_flag, continue_flag)
        body = self.block(loop.body, inner)
        if continue_flag:
            body = _located([_assign(continue_flag, ast.Constant(False))], loop) + body
        loop.body = body or [ast.copy_location(ast.Pass(), loop)]
        stops = ([break_flag] if break_flag else []) + ([RETURN_FLAG] if returns else [])
        if stops:
            if isinstance(loop, ast.While):
                loop.test = _fill(ast.BoolOp(op=ast.And(), values=[_none_of(stops), loop.test]),
                                  loop)
            else:
                loop.ag_extra_test = _fill(_none_of(stops), loop)
        before = [_assign(break_flag, ast.Constant(False))] if break_flag else []
        after: list[ast.stmt] = []
        if loop.orelse:
            orelse = self.block(loop.orelse, scope)
            after = _located([ast.If(test=_none_of(stops), body=orelse, orelse=[])],
                             loop.orelse[0]) if stops and orelse else orelse
            loop.orelse = []
        return _located(before, loop) + [loop] + _located(after, loop)


# -- phase 2: statements to functions -------------------------------------------------------

_NOT_CONVERTED_MODULES = ("numpy", "math", "builtins", "jitflow", "functools", "itertools",
                          "operator", "cmath", "random")


class _Expressions(ast.NodeTransformer):
    """``and``/``or``/``not``/conditional expressions and calls, anywhere in an expression."""

    def __init__(self, skip_call: Any, super_args: tuple[str, str] | None) -> None:
        self.skip_call = skip_call
        self.super_args = super_args

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.expr:
        self.generic_visit(node)
        helper = "and_" if isinstance(node.op, ast.And) else "or_"
        first, *rest = node.values
        return _fill(ast.Call(func=_ag(helper), args=[first] + [_lambda(v) for v in rest],
                              keywords=[]), node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.expr:
        self.generic_visit(node)
        if isinstance(node.op, ast.Not):
            return _fill(_call(_ag("not_"), node.operand), node)
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.expr:
        self.generic_visit(node)
        middle = node.comparators[:-1]
        if len(node.ops) < 2 or not all(isinstance(m, (ast.Name, ast.Constant)) for m in middle):
            return node  # one comparison, or operands that must not be evaluated twice
        lefts = [node.left] + middle
        parts = [ast.Compare(left=left, ops=[op], comparators=[right])
                 for left, op, right in zip(lefts, node.ops, node.comparators)]
        return _fill(ast.Call(func=_ag("and_"), args=[parts[0]] + [_lambda(p) for p in parts[1:]],
                              keywords=[]), node)

    def visit_IfExp(self, node: ast.IfExp) -> ast.expr:
        self.generic_visit(node)
        return _fill(_call(_ag("if_exp"), node.test, _lambda(node.body), _lambda(node.orelse)),
                     node)

    def visit_Call(self, node: ast.Call) -> ast.expr:
        self.generic_visit(node)
        func = node.func
        if isinstance(func, ast.Name) and func.id == "super" and not node.args and \
                self.super_args is not None:
            node.args = [_load(self.super_args[0]), _load(self.super_args[1])]
            return node
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and \
                func.value.id == AG:
            return node
        if self.skip_call(func):
            return node
        node.func = _fill(_call(_ag("converted"), func), func)
        return node


class _Functionalize:
    def __init__(self, fresh: _Fresh, expressions: _Expressions) -> None:
        self.fresh = fresh
        self.expressions = expressions

    def expr(self, node: ast.expr) -> ast.expr:
        return self.expressions.visit(node)

    def block(self, stmts: list[ast.stmt], live_out: set[str], defined: set[str]) -> list[ast.stmt]:
        # The live set after each statement, kept only where the statement needs it:
        # copying it at every statement made long bodies quadratic.
        lives: list[set[str]] = []
        live = set(live_out)
        for stmt in reversed(stmts):
            lives.append(set(live) if isinstance(stmt, NEEDS_LIVE_OUT) else set())
            live = step_back(stmt, live)
        out: list[ast.stmt] = []
        for stmt, after in zip(stmts, reversed(lives)):
            out.extend(self.statement(stmt, after, defined))
        return out

    def statement(self, stmt: ast.stmt, live_out: set[str], defined: set[str]) -> list[ast.stmt]:
        if isinstance(stmt, ast.If):
            return self.if_stmt(stmt, live_out, defined)
        if isinstance(stmt, ast.While):
            return self.while_stmt(stmt, live_out, defined)
        if isinstance(stmt, ast.For):
            return self.for_stmt(stmt, live_out, defined)
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            convert_function(stmt, self.expressions.skip_call, None, self.fresh)
            defined.add(stmt.name)
            return [stmt]
        if isinstance(stmt, ast.ClassDef):
            defined.add(stmt.name)
            return [stmt]
        if isinstance(stmt, ast.With):
            stmt.items = [self.expressions.visit(item) for item in stmt.items]
            stmt.body = self.block(stmt.body, live_out | reads(stmt), defined)
            return [stmt]
        if isinstance(stmt, ast.Try):
            keep = live_out | reads(stmt)
            stmt.body = self.block(stmt.body, keep, set(defined))
            for handler in stmt.handlers:
                handler.body = self.block(handler.body, keep, set(defined))
            stmt.orelse = self.block(stmt.orelse, keep, set(defined))
            stmt.finalbody = self.block(stmt.finalbody, keep, set(defined))
            return [stmt]
        defined |= writes(stmt)
        return [self.simple(stmt)]

    def simple(self, stmt: ast.stmt) -> ast.stmt:
        if isinstance(stmt, (ast.Assign, ast.AugAssign)):
            target = stmt.targets[0] if isinstance(stmt, ast.Assign) else stmt.target
            outer = getattr(target, OUTER_STORE, None)
            if outer is not None and (isinstance(stmt, ast.AugAssign) or len(stmt.targets) == 1):
                # A store into a global or enclosing container stays the Python statement
                # (the container is mutated in place, its name is not rebound); its value
                # is checked first, so that a traced value cannot escape into it unnoticed.
                if not isinstance(stmt.value, ast.Constant):
                    stmt.value = _fill(_call(_ag("outer_store"), _load(outer), stmt.value,
                                             ast.Constant(outer)), stmt.value)
                return self.expressions.visit(stmt)
            root = subscript_root(target)
            if root is not None and (isinstance(stmt, ast.AugAssign) or len(stmt.targets) == 1):
                value = stmt.value
                if isinstance(stmt, ast.AugAssign):
                    read = ast.Subscript(value=_load(root), slice=copy.deepcopy(target.slice),
                                         ctx=ast.Load())
                    value = ast.BinOp(left=read, op=stmt.op, right=value)
                call = _call(_ag("set_item"), _load(root), target.slice, value)
                return _located([self.expressions.visit(_assign(root, call))], stmt)[0]
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            call = stmt.value
            if isinstance(call.func, ast.Attribute) and call.func.attr == "append" and \
                    len(call.args) == 1 and not call.keywords:
                stmt.value = _fill(_call(
                    _ag("list_append"), call.func.value, call.args[0],
                    ast.Constant(ast.unparse(call.func.value))), call)
        return self.expressions.visit(stmt)

    def _inputs(self, names: list[str], stmt: ast.stmt, live_out: set[str],
                defined: set[str]) -> tuple[list[ast.stmt], ast.Tuple]:
        """The statement's variables as they are before it: undefined ones as markers."""
        needed = live_in(stmt, live_out)
        prelude: list[ast.stmt] = []
        values: list[ast.expr] = []
        for name in names:
            if name in defined:
                values.append(_load(name))
            elif name in needed:
                # Maybe assigned: read it if it is, else mark it undefined.
                prelude.append(ast.Try(body=[ast.Expr(_load(name))], handlers=[ast.ExceptHandler(
                    type=_load("NameError"), name=None,
                    body=[_assign(name, _call(_ag("Undefined"), ast.Constant(name)))])],
                    orelse=[], finalbody=[]))
                values.append(_load(name))
            else:
                values.append(_call(_ag("Undefined"), ast.Constant(name)))
        return prelude, ast.Tuple(elts=values, ctx=ast.Load())

    def _bind(self, names: list[str], call: ast.Call) -> ast.stmt:
        if not names:
            return ast.Expr(value=call)
        return ast.Assign(targets=[_tuple(names, store=True)], value=call)

    def if_stmt(self, stmt: ast.If, live_out: set[str], defined: set[str]) -> list[ast.stmt]:
        written = writes_all(stmt.body + stmt.orelse)
        outputs = sorted(written & live_out)
        # A branch function also takes what it writes after reading (a flag it may keep).
        params = sorted(set(outputs) | (written & live_in(stmt, live_out)))
        prelude, inputs = self._inputs(params, stmt, live_out, defined)
        inner = (defined - written) | set(params)
        true_name, false_name = self.fresh("if_true"), self.fresh("if_false")
        ret = ast.Return(value=_tuple(outputs))
        true_fn = _function(true_name, params, self.block(stmt.body, live_out, set(inner)) +
                            [ret])
        false_fn = _function(false_name, params, self.block(stmt.orelse, live_out, set(inner)) +
                             [copy.deepcopy(ret)])
        call = _call(_ag("if_stmt"), self.expr(stmt.test), _load(true_name), _load(false_name),
                     _strings(outputs), inputs)
        defined |= set(outputs)
        return _located(prelude + [true_fn, false_fn, self._bind(outputs, call)], stmt)

    def _loop_functions(self, loop: ast.While | ast.For, live_out: set[str], defined: set[str],
                        leading: list[ast.stmt], params: list[str]
                        ) -> tuple[list[str], list[ast.stmt], ast.Tuple, str]:
        head = live_in(loop, live_out)
        targets = writes(ast.Assign(targets=[loop.target], value=ast.Constant(0))) \
            if isinstance(loop, ast.For) else set()
        carried = sorted((writes_all(loop.body) - targets) & head)
        prelude, inputs = self._inputs(carried, loop, live_out, defined)
        body_name = self.fresh("loop_body")
        inner = (defined - writes_all(loop.body)) | set(carried) | targets
        body = self.block(loop.body, block_live_head(loop, live_out), inner)
        body_fn = _function(body_name, params + carried,
                            leading + body + [ast.Return(value=_tuple(carried))])
        defined |= set(carried)
        return carried, prelude + [body_fn], inputs, body_name

    def while_stmt(self, loop: ast.While, live_out: set[str], defined: set[str]) -> list[ast.stmt]:
        carried, functions, inputs, body_name = self._loop_functions(loop, live_out, defined, [], [])
        test_name = self.fresh("loop_test")
        test_fn = _function(test_name, carried, [ast.Return(value=self.expr(loop.test))])
        call = _call(_ag("while_stmt"), _load(test_name), _load(body_name), _strings(carried),
                     inputs)
        return _located(functions[:-1] + [test_fn, functions[-1], self._bind(carried, call)], loop)

    def for_stmt(self, loop: ast.For, live_out: set[str], defined: set[str]) -> list[ast.stmt]:
        item = self.fresh("item")
        leading = _located([self.simple(ast.Assign(targets=[loop.target], value=_load(item)))],
                           loop)
        carried, functions, inputs, body_name = self._loop_functions(
            loop, live_out, defined, leading, [item])
        extra = getattr(loop, "ag_extra_test", None)
        if extra is not None:
            test_name = self.fresh("extra_test")
            functions.insert(-1, _function(test_name, carried,
                                           [ast.Return(value=self.expr(extra))]))
            extra_test: ast.expr = _load(test_name)
        else:
            extra_test = ast.Constant(None)
        iterable = loop.iter
        if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name) and \
                iterable.func.id == "range" and not iterable.keywords and \
                not any(isinstance(a, ast.Starred) for a in iterable.args):
            iterable = _fill(
                _call(_ag("for_range"), _load("range"), *[self.expr(a) for a in iterable.args]),
                iterable)
        else:
            iterable = self.expr(iterable)
        call = _call(_ag("for_stmt"), iterable, extra_test, _load(body_name), _strings(carried),
                     inputs)
        return _located(functions + [self._bind(carried, call)], loop)


def block_live_head(loop: ast.While | ast.For, live_out: set[str]) -> set[str]:
    """What is live at the end of a loop body: the loop head (next test, or after the loop)."""
    head = live_in(loop, live_out)
    if isinstance(loop, ast.While):
        return head | reads(loop.test)
    return head | reads(getattr(loop, "ag_extra_test", None))


def convert_function(fn: ast.FunctionDef, skip_call: Any, super_args: tuple[str, str] | None,
                     fresh: _Fresh | None = None) -> ast.FunctionDef:
    """Rewrite ``fn`` (in place) into its converted form; nested functions are converted too."""
    fresh = fresh or _Fresh()
    mark_outer_stores(fn)  # before any analysis caches what a statement writes
    _JumpLowering(fresh).function(fn)
    expressions = _Expressions(skip_call, super_args)
    arguments = fn.args
    params = {a.arg for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs}
    params |= {a.arg for a in (arguments.vararg, arguments.kwarg) if a is not None}
    fn.body = _Functionalize(fresh, expressions).block(fn.body, set(), set(params))
    fn.args.defaults = [expressions.visit(d) for d in fn.args.defaults]
    return fn


def call_skipper(globals_: dict[str, Any], local_names: set[str]):
    """A predicate: calls that certainly reach NumPy, builtins or other library code (resolved
    in the function's globals now) are left as they are, which keeps converted code readable."""

    def resolves_to_library(func: ast.expr) -> bool:
        if isinstance(func, ast.Name):
            if func.id in local_names:
                return False
            if func.id in globals_:
                return _is_library(globals_[func.id])
            return hasattr(builtins, func.id)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and \
                func.value.id not in local_names:
            base = globals_.get(func.value.id)
            return isinstance(base, types.ModuleType) and _is_library(base)
        return False

    return resolves_to_library


def _is_library(value: Any) -> bool:
    if isinstance(value, types.ModuleType):
        name = value.__name__
    elif isinstance(value, (types.BuiltinFunctionType, type)) and \
            getattr(value, "__module__", None) == "builtins":
        return True
    else:
        name = getattr(value, "__module__", None) or ""
    return name.split(".")[0] in _NOT_CONVERTED_MODULES


def local_names(fn: ast.FunctionDef) -> set[str]:
    """Every name the function binds (parameters included): its calls may not be library."""
    arguments = fn.args
    names = {a.arg for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs}
    names |= {a.arg for a in (arguments.vararg, arguments.kwarg) if a is not None}
    for node in ast.walk(fn):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node is not fn:
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names
