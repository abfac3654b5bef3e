"""An op's properties live in its declaration: no stage keeps its own list of opcodes.

Passes and backends ask ``inst.opdef.has(Trait.X)`` or ``inst.opdef.cost``.  A set,
list or tuple of opcode strings kept outside ``ir/`` is a second, silent copy of the
op table: a new op missing from it is treated wrongly and no test notices.  Tables
*keyed* by opcode (lowering handlers, C operator spellings) are how stages attach
their own rules to ops, and stay allowed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import jitflow
from jitflow.ir import OPS, Cost, Trait

PACKAGE = Path(jitflow.__file__).parent
# Only ir/ declares ops; tests, benchmarks and examples are not stages.
NOT_SCANNED = {"ir", "tests", "bench", "examples", "build"}


def _strings(node: ast.AST) -> list[str] | None:
    """The elements of a set/list/tuple literal (or frozenset/set/tuple of one) if all are strings."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in (
            "frozenset", "set", "tuple", "list") and len(node.args) == 1:
        node = node.args[0]
    if not isinstance(node, (ast.Set, ast.List, ast.Tuple)):
        return None
    values = [e.value for e in node.elts if isinstance(e, ast.Constant)]
    if len(values) != len(node.elts) or not all(isinstance(v, str) for v in values):
        return None
    return values


def _mentions_opcode(node: ast.AST) -> bool:
    """``x.opcode``, ``opcode``, ``op``: an expression that names an op."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and sub.attr == "opcode":
            return True
        if isinstance(sub, ast.Name) and (sub.id == "op" or "opcode" in sub.id):
            return True
    return False


def opcode_collections(source: str, filename: str = "<source>") -> list[str]:
    """Places in ``source`` that keep a collection of two or more opcodes: assigned to a
    name, or tested with ``in`` against an expression naming an op."""
    found = []
    tree = ast.parse(source, filename)
    for node in ast.walk(tree):
        candidates = []
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            candidates.append(node.value)
        elif isinstance(node, ast.Compare) and any(isinstance(o, (ast.In, ast.NotIn)) for o in node.ops):
            if _mentions_opcode(node.left):
                candidates.extend(node.comparators)
        for candidate in candidates:
            values = _strings(candidate)
            if values and len(values) >= 2 and all(v in OPS for v in values):
                found.append(f"{filename}:{candidate.lineno}: {sorted(values)}")
    return found


def _stage_sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py")
                  if p.relative_to(PACKAGE).parts[0] not in NOT_SCANNED)


def test_no_stage_keeps_a_list_of_opcodes():
    found = []
    for path in _stage_sources():
        found += opcode_collections(path.read_text(), str(path.relative_to(PACKAGE)))
    assert not found, ("opcode collections outside ir/ (declare the property as a Trait or "
                       "the op's Cost in the op table instead):\n" + "\n".join(found))


def test_the_scan_covers_the_stages():
    folders = {p.relative_to(PACKAGE).parts[0] for p in _stage_sources()}
    assert {"passes", "codegen", "runtime", "frontend"} <= folders


@pytest.mark.parametrize("source", [
    'EXPENSIVE = frozenset({"exponential", "log", "tanh"})',
    'INDEXING = ("slice", "reshape")',
    'def f(inst):\n    return inst.opcode in ("while", "conditional")',
    'def f(inst):\n    return inst.opcode not in {"broadcast", "iota"}',
    'def f(op):\n    return op in ["maximum", "minimum"]',
])
def test_the_scan_finds_opcode_collections(source):
    assert opcode_collections(source)


@pytest.mark.parametrize("source", [
    'HANDLERS = {"add": 1, "multiply": 2}',                      # a table keyed by opcode
    'def f(name):\n    return name in ("and", "or")',            # Python operator names
    'def f(inst):\n    return inst.opcode == "dot"',
    'DIRECTIONS = ("EQ", "NE")',
])
def test_the_scan_leaves_tables_and_other_strings(source):
    assert not opcode_collections(source)


def test_every_op_declares_a_cost_and_consistent_traits():
    for opcode, opdef in OPS.items():
        assert isinstance(opdef.cost, Cost), opcode
        if opdef.has(Trait.ASSOCIATIVE):
            assert opdef.has(Trait.COMMUTATIVE) and opdef.arity == (2, 2), opcode
        if opdef.has(Trait.CONTROL_FLOW):
            assert opdef.has(Trait.CALLS_PROGRAMS) and opdef.has(Trait.HOST_STEP), opcode
        if opdef.has(Trait.GENERATED):
            assert opdef.cost is Cost.FREE and opdef.has(Trait.INDEXING), opcode
        if opdef.has(Trait.CALLS_PROGRAMS):
            assert opdef.callees, opcode
        assert not (opdef.has(Trait.ELEMENTWISE) and opdef.has(Trait.INDEXING)), opcode
