"""Nested tuples, lists, dicts (and namedtuples, and None) of leaves: flatten and rebuild.

A ``TreeDef`` is hashable, so it can be part of a cache key.  Paths name where
a leaf sits, for parameter names (``params.w``) and error messages
(``params['w']``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Hashable

Path = tuple[Hashable, ...]


@dataclass(frozen=True)
class TreeDef:
    """The structure of a pytree: a node kind, its keys (dicts, namedtuples) and children."""

    kind: str                      # "leaf", "none", "tuple", "list", "dict", "namedtuple"
    node_type: type | None = None  # the namedtuple class
    keys: tuple = ()
    children: tuple[TreeDef, ...] = ()

    def __post_init__(self) -> None:
        # A tuple of leaves (a training step's new parameters): the executables' own result
        # for a tuple root already is the tree (see ``unflatten_results``).
        object.__setattr__(self, "flat_tuple", self.kind == "tuple" and all(
            child.kind == "leaf" for child in self.children))

    def __hash__(self) -> int:
        # Computed once: a jitted function's signature keys hold a tree, hashed at every
        # cache look-up and use (a generated dataclass hash walks the whole tree each time).
        try:
            return self._hash
        except AttributeError:
            value = hash((self.kind, self.node_type, self.keys, self.children))
            object.__setattr__(self, "_hash", value)
            return value

    @property
    def num_leaves(self) -> int:
        if self.kind == "leaf":
            return 1
        return sum(child.num_leaves for child in self.children)


_LEAF = TreeDef("leaf")
_NONE = TreeDef("none")


def _node(tree: Any) -> tuple[str, type | None, list[tuple[Hashable, Any]]] | None:
    """(kind, namedtuple class, (key, child) pairs) of a container; None for a leaf."""
    if isinstance(tree, tuple):
        if hasattr(type(tree), "_fields"):
            return "namedtuple", type(tree), list(zip(type(tree)._fields, tree))
        return "tuple", None, list(enumerate(tree))
    if isinstance(tree, list):
        return "list", None, list(enumerate(tree))
    if isinstance(tree, dict):
        return "dict", None, list(tree.items())
    return None


def _treedef(kind: str, node_type: type | None, items: list, children: list[TreeDef]) -> TreeDef:
    keys = tuple(key for key, _ in items) if kind in ("dict", "namedtuple") else ()
    return TreeDef(kind, node_type, keys, tuple(children))


def flatten(tree: Any) -> tuple[list[Any], TreeDef]:
    """Leaves in depth-first order (dicts in insertion order) and the structure."""
    leaves: list[Any] = []
    return leaves, _flatten_into(tree, leaves)


def _flatten_into(tree: Any, leaves: list[Any]) -> TreeDef:
    if tree is None:
        return _NONE
    node = _node(tree)
    if node is None:
        leaves.append(tree)
        return _LEAF
    kind, node_type, items = node
    return _treedef(kind, node_type, items, [_flatten_into(child, leaves) for _, child in items])


def flatten_with_paths(tree: Any, prefix: Path = ()) -> tuple[list[tuple[Path, Any]], TreeDef]:
    """Like ``flatten``, with each leaf's path of keys and indices from the root."""
    if tree is None:
        return [], _NONE
    node = _node(tree)
    if node is None:
        return [(prefix, tree)], _LEAF
    kind, node_type, items = node
    leaves: list[tuple[Path, Any]] = []
    children = []
    for key, child in items:
        child_leaves, child_def = flatten_with_paths(child, prefix + (key,))
        leaves.extend(child_leaves)
        children.append(child_def)
    return leaves, _treedef(kind, node_type, items, children)


def unflatten(treedef: TreeDef, leaves: list[Any]) -> Any:
    """Rebuild a tree of ``treedef``'s structure from leaves in flatten's order."""
    iterator = iter(leaves)
    tree = _build(treedef, iterator)
    if next(iterator, _END) is not _END:
        raise ValueError(f"too many leaves for a tree of {treedef.num_leaves}")
    return tree


def unflatten_results(treedef: TreeDef, results: Any) -> Any:
    """``unflatten`` of what an executable returned for a tree other than a leaf: its flat
    results (a tuple or list), which for a tuple of leaves are the tree as they are (no
    rebuilding on every call of a small step)."""
    if treedef.flat_tuple and type(results) is tuple:
        return results
    return unflatten(treedef, list(results))


_END = object()


def _build(treedef: TreeDef, leaves: Any) -> Any:
    if treedef.kind == "leaf":
        return next(leaves)
    if treedef.kind == "none":
        return None
    children = [_build(child, leaves) for child in treedef.children]
    if treedef.kind == "tuple":
        return tuple(children)
    if treedef.kind == "list":
        return children
    if treedef.kind == "namedtuple":
        return treedef.node_type(*children)
    return dict(zip(treedef.keys, children))


def path_text(path: Path) -> str:
    """A path as Python would write it: ``params['w']``, ``xs[0]``."""
    if not path:
        return "<argument>"
    text = str(path[0])
    for key in path[1:]:
        text += f"[{key!r}]"
    return text


def path_name(path: Path) -> str:
    """A path as an IR parameter name: ``params.w``, ``xs.0`` (characters HLO names allow)."""
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", ".".join(str(key) for key in path)) or "arg"
