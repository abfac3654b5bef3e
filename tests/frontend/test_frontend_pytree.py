"""Pytrees: flatten/unflatten round trips, hashable structure, paths."""

from __future__ import annotations

from collections import namedtuple

import pytest

from jitflow.frontend.trace.pytree import (flatten, flatten_with_paths, path_name, path_text,
                                           unflatten)

Pair = namedtuple("Pair", ["first", "second"])
TREES = [1, (), [], {}, None, (1, [2, 3], {"a": 4, "b": (5, None)}), Pair(1, [2]),
         {"w": {"kernel": 1, "bias": 2}, "steps": [3]}]


@pytest.mark.parametrize("tree", TREES, ids=repr)
def test_round_trip(tree):
    leaves, treedef = flatten(tree)
    rebuilt = unflatten(treedef, leaves)
    assert rebuilt == tree and type(rebuilt) is type(tree)
    assert treedef.num_leaves == len(leaves)
    assert hash(treedef) == hash(flatten(tree)[1])


def test_structure_distinguishes_containers():
    assert flatten((1, 2))[1] != flatten([1, 2])[1]
    assert flatten({"a": 1})[1] != flatten({"b": 1})[1]
    assert flatten((1, (2,)))[1] != flatten(((1,), 2))[1]


def test_paths_and_names():
    leaves, _ = flatten_with_paths({"params": {"w": 1, "layer 1": [2]}})
    paths = [path for path, _ in leaves]
    assert [path_text(p) for p in paths] == ["params['w']", "params['layer 1'][0]"]
    assert [path_name(p) for p in paths] == ["params.w", "params.layer_1.0"]


def test_unflatten_checks_the_leaf_count():
    _, treedef = flatten((1, 2))
    with pytest.raises(ValueError):
        unflatten(treedef, [1, 2, 3])
