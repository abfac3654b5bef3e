"""Dataflow graphs as networkx MultiDiGraphs: nodes, one edge per use, call edges, orders."""

from __future__ import annotations

from types import SimpleNamespace

import networkx as nx
import numpy as np

from jitflow.ir import DType, Module, TensorType, build_scalar_computation, scalar, verify

F32, S32, PRED = DType.F32, DType.S32, DType.PRED
VEC = TensorType(F32, (3,))


def program() -> SimpleNamespace:
    """main(x, start, flag): a reduce, a while loop, a conditional and a value used twice."""
    module = Module("g")
    reducer = build_scalar_computation(module, "sum", "add", F32)         # 3 instructions
    cond = module.builder("cond")                                         # 3 instructions
    i = cond.parameter(scalar(S32), name="i")
    cond.set_root(cond.compare(i, cond.constant(np.int32(5), name="limit"), direction="LT",
                               name="less"))
    body = module.builder("body")                                         # 3 instructions
    j = body.parameter(scalar(S32), name="j")
    body.set_root(body.add(j, body.constant(np.int32(1), name="step"), name="next"))
    yes = module.builder("yes")                                           # 2 instructions
    yes.set_root(yes.negate(yes.parameter(VEC, name="yes_in"), name="yes_out"))
    no = module.builder("no")                                             # 2 instructions
    no.set_root(no.abs(no.parameter(VEC, name="no_in"), name="no_out"))

    b = module.builder("main", entry=True)                                # 9 instructions
    x = b.parameter(VEC, name="x")
    start = b.parameter(scalar(S32), name="start")
    flag = b.parameter(scalar(PRED), name="flag")
    sq = b.multiply(x, x, name="sq")
    zero = b.constant(np.float32(0), name="zero")
    total = b.reduce(sq, zero, dimensions=(0,), called=[reducer], name="total")
    loop = b.emit("while", start, called=[cond.computation, body.computation], name="loop")
    branch = b.conditional(flag, sq, x, called=[yes.computation, no.computation], name="branch")
    out = b.tuple(total, loop, branch, name="out")
    b.set_root(out)
    verify(module)
    return SimpleNamespace(module=module, main=b.computation, b=b, x=x, sq=sq, total=total,
                           loop=loop, branch=branch, out=out)


def data_edges(graph: nx.MultiDiGraph) -> nx.MultiDiGraph:
    return graph.edge_subgraph([(u, v, k) for u, v, k, kind in graph.edges(keys=True, data="kind")
                                if kind == "data"])


def test_computation_graph_nodes_and_edges():
    p = program()
    graph = p.main.to_networkx()
    assert isinstance(graph, nx.MultiDiGraph)
    assert graph.graph["name"] == "main"
    assert list(graph.nodes) == ["x", "start", "flag", "sq", "zero", "total", "loop", "branch",
                                 "out"]
    # One edge per use: sq 2, total 2, loop 1, branch 3, out 3.
    assert graph.number_of_edges() == 11 == sum(len(i.operands) for i in p.main)
    assert graph.nodes["sq"] == {"opcode": "multiply", "type": "f32[3]", "called": [],
                                 "root": False}
    assert graph.nodes["loop"]["called"] == ["cond", "body"]
    assert graph.nodes["out"]["root"] is True
    assert graph.nodes["out"]["type"] == "(f32[], s32[], f32[3])"


def test_a_value_used_twice_gives_two_edges():
    p = program()
    graph = p.main.to_networkx()
    assert graph.number_of_edges("x", "sq") == 2
    assert sorted(d["operand_index"] for d in graph.get_edge_data("x", "sq").values()) == [0, 1]
    # x feeds the conditional as its false-branch operand (index 2).
    assert [d["operand_index"] for d in graph.get_edge_data("x", "branch").values()] == [2]
    assert [d["operand_index"] for d in graph.get_edge_data("sq", "branch").values()] == [1]
    assert graph.in_degree("branch") == 3
    assert graph.out_degree("x") == 3  # sq twice, branch once
    assert list(graph.successors("x")) == ["sq", "branch"]


def test_module_graph_nodes_and_edges():
    p = program()
    graph = p.module.to_networkx()
    assert isinstance(graph, nx.MultiDiGraph)
    assert graph.graph["name"] == "g"
    assert graph.number_of_nodes() == 3 + 3 + 3 + 2 + 2 + 9
    assert set(graph.nodes) == {(c.name, i.name) for c in p.module.computations.values() for i in c}
    node = graph.nodes[("sum", "add")]
    assert node == {"opcode": "add", "type": "f32[]", "computation": "sum", "root": True}
    kinds = [kind for _, _, kind in graph.edges(data="kind")]
    data_count = sum(len(i.operands) for i in p.module.instructions())
    assert data_count == 2 + 2 + 2 + 1 + 1 + 11
    assert kinds.count("data") == data_count
    assert kinds.count("call") == 5  # reduce 1, while 2, conditional 2
    assert graph.number_of_edges() == data_count + 5


def test_call_edges_go_to_callee_roots():
    p = program()
    graph = p.module.to_networkx()
    calls = sorted((u[1], v) for u, v, kind in graph.edges(data="kind") if kind == "call")
    assert calls == [("branch", ("no", "no_out")), ("branch", ("yes", "yes_out")),
                     ("loop", ("body", "next")), ("loop", ("cond", "less")),
                     ("total", ("sum", "add"))]
    # Data edges stay inside a computation.
    for u, v, kind in graph.edges(data="kind"):
        if kind == "data":
            assert u[0] == v[0]
    # Everything in the reducer is upstream of the caller only through the call edge.
    assert nx.has_path(graph, ("main", "total"), ("sum", "add"))
    assert not nx.has_path(data_edges(graph), ("main", "total"), ("sum", "add"))


def test_data_edges_are_acyclic_and_topological_orders_respect_operands():
    p = program()
    graph = p.module.to_networkx()
    data = data_edges(graph)
    assert nx.is_directed_acyclic_graph(data)
    assert nx.is_directed_acyclic_graph(graph)  # no recursion: call edges add no cycle
    order = {node: position for position, node in enumerate(nx.topological_sort(graph))}
    for computation in p.module.computations.values():
        name = computation.name
        for inst in computation:
            for operand in inst.operands:
                assert order[(name, operand.name)] < order[(name, inst.name)]
    # The instruction list itself is a topological order of the computation graph.
    local = p.main.to_networkx()
    position = {name: i for i, name in enumerate(local.nodes)}
    assert all(position[u] < position[v] for u, v in local.edges())
    assert list(nx.lexicographical_topological_sort(local, key=position.get)) == list(local.nodes)


def test_ancestors_and_descendants():
    p = program()
    graph = p.main.to_networkx()
    assert nx.ancestors(graph, "total") == {"x", "sq", "zero"}
    assert nx.descendants(graph, "start") == {"loop", "out"}
    assert nx.descendants(graph, "out") == set()


def test_recursion_shows_as_a_cycle_through_call_edges():
    module = Module("rec")
    a = module.builder("a", entry=True)
    b = module.builder("b")
    pa = a.parameter(scalar(S32), name="pa")
    pb = b.parameter(scalar(S32), name="pb")
    a.set_root(pa)
    b.set_root(b.call(pb, called=[a.computation], name="b_calls_a"))
    a.set_root(a.call(pa, called=[b.computation], name="a_calls_b"))
    graph = module.to_networkx()
    assert nx.is_directed_acyclic_graph(data_edges(graph))
    assert not nx.is_directed_acyclic_graph(graph)
    cycle = nx.find_cycle(graph)
    assert {u for u, _, _ in cycle} == {("a", "a_calls_b"), ("b", "b_calls_a")}


def test_graph_follows_mutations():
    p = program()
    p.main.replace_all_uses_with(p.sq, p.x)
    p.main.erase(p.sq)
    verify(p.module)
    graph = p.main.to_networkx()
    assert "sq" not in graph
    assert graph.number_of_edges("x", "total") == 1
    assert graph.number_of_edges("x", "branch") == 2
    assert graph.number_of_edges() == 11 - 2
    module_graph = p.module.to_networkx()
    assert ("main", "sq") not in module_graph
    assert module_graph.number_of_nodes() == 22 - 1


def test_computation_without_root_has_no_call_edge_into_it():
    module = Module("m")
    reducer = build_scalar_computation(module, "sum", "add", F32)
    b = module.builder("main", entry=True)
    x = b.parameter(VEC, name="x")
    b.set_root(b.reduce(x, b.constant(np.float32(0), name="zero"), dimensions=(0,),
                        called=[reducer], name="total"))
    reducer.root = None  # a half-built callee must not break the export
    graph = module.to_networkx()
    assert [kind for _, _, kind in graph.edges(data="kind")].count("call") == 0
    assert graph.number_of_nodes() == 3 + 3
