"""``fuse``: producer-consumer and sibling fusion into ``fusion`` instructions, as XLA does.

Each computation that runs sequentially (the entry, ``while`` bodies and
conditions, ``conditional`` branches, ``call`` targets) is grouped, then each
group worth it (``min-ops`` real ops, or several outputs) is outlined into a
fused computation (``fused_computation.N``) called by one ``fusion``
instruction, which a backend emits as one loop nest over the group's loop shape.

Grouping walks the instructions from the last to the first.  An instruction not
yet in a group starts one (its shape is the loop shape); the group then takes in
its producers until none fits:

* a producer whose users are all in the group is moved in (it is computed only
  there);
* a producer that is cheap to recompute (broadcast, iota, scalar constant, and
  cheap elementwise or indexing ops with few users) is copied in, the original
  staying for its other users;
* an expensive producer (transcendental, divide, reduce, ...) is never copied,
  and is moved in only if the group evaluates each of its elements once, or reads
  it through a *row broadcast* (``row_broadcasts``): a broadcast to the loop
  shape, constant along its minor dimension, read only at the loop's current
  row.  A backend computes those once per row before the row's column loop, so a
  reduction of the minor dimension behind one is one pass over the row, not one
  per element: a row softmax or a layernorm is one kernel.

``dot``, control flow, calls, custom-calls, tuples, parameters and array
constants stay outside (a dot's bias and activation become the fusion right
after it).  Then groups of one loop shape that read a common array, one of them
reducing, merge into one multi-output fusion with a tuple root (sibling fusion:
the input is read once), unless a path between them outside both would make the
merged fusion its own producer: reachability on the dataflow graph between
groups, kept in topological order as merges go.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

from ..ir import Builder, Computation, Cost, Instruction, Module, TensorType, Trait
from ..ir.analysis.index_maps import OperandReads
from ..ir.analysis.rows import row_broadcasts
from .base import Pass, option
from .effects import has_side_effects
from .registry import register_pass

# Cheap producers are copied into a consumer when they have at most this many users.
MAX_DUPLICATED_USERS = 4
# Loops of at most this many elements are small: each kernel of one is mostly fixed cost
# (its own compiled loop, a call, no threads), so a small result of an indexing op (a row
# slice read by many) is copied into every consumer, and small elementwise siblings merge
# into one multi-output kernel.  A wide tree of row slices (1,000 ops, 64-element rows)
# went from 193 kernels to 7, its first call from 1.9 to 0.73 s.
SMALL_LOOP = 1 << 14
# Sibling candidates one elementwise group tries before giving up: a group that reads an
# input many others read (a weight) but depends on most of them would otherwise check a
# path to each, quadratic in the readers.
MAX_ELEMENTWISE_SIBLING_TRIES = 64
# Longest chain of members one fusion may hold, whatever max-ops allows: the elemental
# emitters generate a value by recursing through its operands, and an elementwise chain
# 250 deep in one fusion exceeded Python's recursion limit (RecursionError).
MAX_FUSION_DEPTH = 160

@register_pass("fuse")
@dataclass(frozen=True)
class Fuse(Pass):
    """Fuse producers into consumers and siblings into fusion instructions (one loop nest each)."""

    max_ops: int = option(128, "most instructions one fusion may hold (copied constants, "
                                "broadcasts and iotas not counted)")
    multi_output: bool = option(True, "merge sibling fusions that read a common input")
    min_ops: int = option(2, "fewest instructions worth a fusion (1: every fusible op, "
                             "for testing fused code generation)")

    def check_options(self) -> None:
        if self.max_ops < 2:
            raise self.option_error("max_ops", "must be at least 2")
        if not 1 <= self.min_ops <= self.max_ops:
            raise self.option_error("min_ops", "must be between 1 and max-ops")

    def run(self, module: Module) -> bool:
        changed = False
        for computation in sequential_computations(module):
            planner = _Planner(computation, self.max_ops, self.min_ops)
            planner.group_producers()
            if self.multi_output:
                planner.merge_siblings()
            changed = planner.outline() or changed
        return changed


def sequential_computations(module: Module) -> list[Computation]:
    """The entry and what it runs as code (loop bodies, branches, calls), not reducers or fusions."""
    found = [module.entry]
    seen = {module.entry.name}
    for computation in found:
        for inst in computation.instructions:
            if inst.opdef.has(Trait.CALLS_PROGRAMS):
                for callee in inst.called:
                    if callee.name not in seen:
                        seen.add(callee.name)
                        found.append(callee)
    return found


def _fusible(inst: Instruction) -> bool:
    """Whether ``inst`` may be computed inside a fused loop body at all."""
    if not isinstance(inst.type, TensorType) or has_side_effects(inst):
        return False
    if inst.opcode == "constant":
        return inst.type.size <= 1
    if inst.opcode == "reduce":
        return len(inst.operands) == 2  # variadic reductions produce tuples
    return inst.opdef.has(Trait.ELEMENTWISE) or inst.opdef.has(Trait.INDEXING)


def _rereads(user: Instruction, operand: Instruction) -> bool:
    """``user`` evaluates some element of ``operand`` more than once (as its index map says):
    a broadcast, the clamped reads of concatenate and pad, a scalar read at every position."""
    return OperandReads(user).rereads(operand)


def _small_move(inst: Instruction) -> bool:
    """A small result of an indexing op that reads each operand element at most once (a
    slice, a reshape): a consumer reading through it reads what it would read from its
    buffer, with no arithmetic repeated, and in cache whichever order it reads in."""
    return (inst.opdef.has(Trait.INDEXING) and _small_loop(inst.type.shape)
            and not any(_rereads(inst, operand) for operand in inst.operands))


def _small_loop(shape: tuple) -> bool:
    return math.prod(shape) <= SMALL_LOOP


def _reduces(node: object) -> bool:
    members = node.members if isinstance(node, _Group) else {node}
    return any(m.opcode == "reduce" for m in members)


def _loop_shape(node: object) -> tuple:
    return node.type.shape if isinstance(node, Instruction) else node.loop_shape


def _size(node: object) -> int:
    """Instructions that count against ``max-ops``: not the freely copied ones."""
    if isinstance(node, Instruction):
        return 1
    return node.real_ops()


@dataclass(eq=False)
class _Group:
    """Instructions to be fused together: owned ones move in, copies are recomputed inside."""

    loop_shape: tuple
    roots: list[Instruction]
    members: set[Instruction] = field(default_factory=set)
    owned: set[Instruction] = field(default_factory=set)
    absorbed: bool = False  # merged into another group, or dissolved into one
    # Kept up to date as members join (None: recount), so that growing a group by one
    # producer costs what that producer touches, not a walk over every member.
    _real_ops: int | None = None
    _frontier: set[Instruction] | None = None
    # Members' distance from the group's outputs along their users (roots: 0).
    depth: dict[Instruction, int] = field(default_factory=dict)

    def depth_of(self, inst: Instruction) -> int:
        """How far below the outputs ``inst`` is or would be: one more than its deepest user
        among the members (0 for a root)."""
        return 1 + max((self.depth.get(u, 0) for u in inst.users if u in self.members), default=-1)

    def take(self, inst: Instruction) -> None:
        """``inst`` joins the members (moved in or copied)."""
        self.depth[inst] = self.depth_of(inst)
        self.members.add(inst)
        if self._real_ops is not None:
            self._real_ops += inst.opdef.cost is not Cost.FREE
        if self._frontier is not None:
            self._frontier.discard(inst)
            self._frontier.update(o for o in inst.operands if o not in self.members)

    def take_all(self, other: _Group) -> None:
        self.members |= other.members
        for inst, depth in other.depth.items():
            self.depth[inst] = max(self.depth.get(inst, 0), depth)
        self._real_ops = self._frontier = None

    def real_ops(self) -> int:
        """Members that count against ``max-ops``."""
        if self._real_ops is None:
            self._real_ops = sum(1 for m in self.members if m.opdef.cost is not Cost.FREE)
        return self._real_ops

    def frontier(self) -> set[Instruction]:
        """Operands of members that are not members."""
        if self._frontier is None:
            self._frontier = {o for m in self.members for o in m.operands if o not in self.members}
        return self._frontier


class _Planner:
    """Groups one computation's instructions, then outlines each group as a fusion."""

    def __init__(self, computation: Computation, max_ops: int, min_ops: int) -> None:
        self.computation = computation
        self.max_ops = max_ops
        # One op with its copied constants and broadcasts is one kernel as it is: by default
        # a fusion needs two real ops (or two outputs).
        self.min_ops = min_ops
        self.position = {inst: k for k, inst in enumerate(computation.instructions)}
        # A fusion and its get-tuple-elements take their group's last position, in this order.
        self.tie: dict[Instruction, int] = {}
        self.home: dict[Instruction, _Group] = {}          # owning group
        self.copies: dict[Instruction, list[_Group]] = {}  # groups holding a copy
        self.groups: list[_Group] = []
        self._per_row: dict[_Group, tuple[int, set[Instruction]]] = {}
        self._row_reads: dict = {}  # row_broadcasts' memo: nothing changes while grouping
        # The dataflow graph between nodes, for sibling merges (see _dataflow).
        self._order: list | None = None
        self._rank: dict = {}
        self._succ: dict = {}
        self._pred: dict = {}
        self._dissolved: list[_Group] = []

    # -- producer-consumer grouping -------------------------------------------------------

    def group_producers(self) -> None:
        for inst in reversed(self.computation.instructions):
            if inst in self.home or inst in self.copies or not _fusible(inst):
                continue
            if inst.opdef.cost is Cost.FREE:
                continue  # alone they are nothing to fuse; consumers copy them
            group = _Group(inst.type.shape, [inst], {inst}, {inst})
            self.home[inst] = group
            self._grow(group)
            self.groups.append(group)

    def _candidates(self, group: _Group) -> list[Instruction]:
        return sorted(group.frontier(), key=self.position.__getitem__, reverse=True)

    def _grow(self, group: _Group) -> None:
        while True:
            if self._promote_copies(group):
                continue
            if any(self._try_move(group, p) for p in self._candidates(group)):
                continue
            if any(self._try_copy(group, p) for p in self._candidates(group)):
                continue
            return

    def _room(self, group: _Group, producer: Instruction) -> bool:
        if group.depth_of(producer) > MAX_FUSION_DEPTH:
            return False
        return producer.opdef.cost is Cost.FREE or _size(group) < self.max_ops

    def _try_move(self, group: _Group, producer: Instruction) -> bool:
        alone = self.home.get(producer)
        if alone is not None and alone.members != {producer}:
            return False  # already fused with others
        if (producer in self.copies or not _fusible(producer)
                or producer is self.computation.root or not self._room(group, producer)):
            return False
        if not producer.users or any(self.home.get(u) is not group for u in producer.users):
            return False
        if producer.opdef.cost is Cost.EXPENSIVE and not self._read_once_per_element(group, producer):
            return False
        if alone is not None:  # its own group had nothing else: it joins this one instead
            alone.absorbed = True
            self.groups.remove(alone)
            self._dissolved.append(alone)
        group.take(producer)
        group.owned.add(producer)
        self.home[producer] = group
        return True

    def _try_copy(self, group: _Group, producer: Instruction) -> bool:
        if producer in self.home or not _fusible(producer) or not self._room(group, producer):
            return False
        if producer.opdef.cost is not Cost.FREE:
            if producer.opdef.cost is not Cost.CHEAP:
                return False
            if len(producer.users) > MAX_DUPLICATED_USERS and not _small_move(producer):
                return False
            # Recomputing from more than one array reads more memory than reading the result.
            if sum(1 for o in producer.operands if o.type.size > 1) > 1:
                return False
        group.take(producer)
        self.copies.setdefault(producer, []).append(group)
        return True

    def _promote_copies(self, group: _Group) -> bool:
        """A copy whose every user turned out to be in the group moves in instead."""
        for inst in sorted(group.members - group.owned, key=self.position.__getitem__, reverse=True):
            if (self.copies.get(inst) == [group] and inst is not self.computation.root
                    and all(self.home.get(u) is group for u in inst.users)):
                del self.copies[inst]
                group.owned.add(inst)
                self.home[inst] = group
                return True
        return False

    def _read_once_per_element(self, group: _Group, producer: Instruction) -> bool:
        """Whether every path from ``producer`` to the group's roots evaluates it once per
        element: no re-reading op on the way, unless a row broadcast (hoisted per row) first."""
        verdicts: dict[Instruction, bool] = {}
        per_row = self._row_broadcasts(group)

        def ok(inst: Instruction) -> bool:
            if inst in verdicts:
                return verdicts[inst]
            verdicts[inst] = True  # a DAG: only reached again through another path
            result = True
            for user in inst.users:
                if user not in group.members:
                    continue  # a copy's original outside: not this group's evaluation
                if user in per_row:
                    continue
                if _rereads(user, inst) or not ok(user):
                    result = False
                    break
            verdicts[inst] = result
            return result

        return ok(producer)

    def _row_broadcasts(self, group: _Group) -> set[Instruction]:
        """``row_broadcasts`` of the group's members, kept until a member joins: every
        expensive producer tried asks, and each answer walks the whole group."""
        cached = self._per_row.get(group)
        if cached is None or cached[0] != len(group.members):
            cached = self._per_row[group] = (len(group.members),
                                             set(row_broadcasts(group.members, group.loop_shape,
                                                                self._row_reads)))
        return cached[1]

    # -- sibling (multi-output) fusion ----------------------------------------------------

    def merge_siblings(self) -> None:
        """Merge groups of one loop shape that read a common array input, cycle-free, until
        no more merge: a merged group may take in a shared producer and then share its input."""
        merged = True
        while merged:
            merged = False
            for shared in list(self.computation.instructions):
                if (shared.parent is None or not isinstance(shared.type, TensorType)
                        or not shared.type.shape):
                    continue  # a scalar shared is no traffic worth saving
                readers: dict = {}  # an ordered set: a list's `in` made wide fan-outs quadratic
                for user in shared.users:
                    for node in self._sibling_nodes(user, shared):
                        readers[node] = None
                merged = self._merge_readers(list(readers)) or merged

    def _merge_readers(self, readers: list) -> bool:
        """Merge each reader, in order, with the later ones it may merge with (one loop shape,
        one of them reducing or the loop small, within ``max-ops``, no path between them)."""
        done: set = set()  # taken as ``first`` already, merged into it, or absorbed
        # Readers that reduce, per loop shape, not yet done: a reader that does not reduce can
        # only merge with one that does, and with none left it is skipped without a look at
        # every other reader (elementwise readers of one input made this quadratic).
        reducing: dict = {}
        reduces = {node: _reduces(node) for node in readers}  # asked again for every pair
        for node in readers:
            if reduces[node]:
                reducing[_loop_shape(node)] = reducing.get(_loop_shape(node), 0) + 1
        merged = False
        for start, first in enumerate(readers):
            if first in done:
                continue
            done.add(first)
            shape = _loop_shape(first)
            first_reduces = reduces[first]
            small = _small_loop(shape)
            if first_reduces:
                reducing[shape] -= 1
            elif not reducing.get(shape) and not small:
                continue
            tries = 0
            for other in readers[start + 1:]:
                if other in done:
                    continue
                if _size(first) >= self.max_ops:
                    break
                if self._absorbed(other):
                    done.add(other)  # an earlier merge took it in already
                    continue
                if _loop_shape(other) != shape:
                    continue
                other_reduces = reduces[other]
                elementwise = not (first_reduces or other_reduces)
                if elementwise and not small:
                    continue  # elementwise siblings: each is one pass over the input anyway
                if _size(first) + _size(other) > self.max_ops:
                    continue
                if elementwise:
                    tries += 1
                    if tries > MAX_ELEMENTWISE_SIBLING_TRIES:
                        break
                if self._connected(first, other):
                    continue
                first = self._merge_pair(first, other)
                first_reduces = _reduces(first)
                done.add(other)
                if other_reduces:
                    reducing[shape] -= 1
                merged = True
        return merged

    def _sibling_nodes(self, user: Instruction, shared: Instruction) -> list:
        """The groups that read ``shared`` through ``user`` (its owner, or the groups holding
        copies of it), or ``user`` itself where it is a lone fusible instruction."""
        if user in self.copies:
            return [g for g in self.copies[user] if shared not in g.members]
        if user in self.home:
            group = self.home[user]
            return [group] if shared not in group.members else []
        if _fusible(user) and user.opdef.cost is not Cost.FREE:
            return [user]
        return []


    def _absorbed(self, node: object) -> bool:
        """Whether ``node`` stopped being a node of its own since it was listed (a merged
        group that grew took it in)."""
        if isinstance(node, _Group):
            return node.absorbed
        return self.home.get(node, node) is not node

    def _as_group(self, node: object) -> _Group:
        if isinstance(node, _Group):
            return node
        group = _Group(node.type.shape, [node], {node}, {node})
        self.home[node] = group
        self.groups.append(group)
        return group

    def _merge(self, into: _Group, other: _Group) -> _Group:
        into.roots.extend(other.roots)
        into.take_all(other)
        into.owned |= other.owned
        for inst in other.owned:
            self.home[inst] = into
        for inst in other.members - other.owned:
            holders = self.copies[inst]
            holders.remove(other)
            if into not in holders:
                holders.append(into)
        other.absorbed = True
        self.groups.remove(other)
        return into

    def _node(self, inst: Instruction) -> object:
        return self.home.get(inst, inst)

    def _successors(self, node: object) -> set:
        sources = node.owned if isinstance(node, _Group) else {node}
        found = set()
        for inst in sources:
            for user in inst.users:
                found.add(self._node(user))
                for holder in self.copies.get(user, ()):
                    if inst not in holder.members:
                        found.add(holder)
        found.discard(node)
        return found

    def _connected(self, a: object, b: object) -> bool:
        """Whether a path leads from one node (group or lone instruction) to the other:
        merging them would make a cycle, or is producer-consumer fusion that grouping
        declined.  Only the node earlier in the topological order can reach the later one,
        and only through nodes in between, which keeps the search short."""
        self._dataflow()
        rank = self._rank
        if rank[a] > rank[b]:
            a, b = b, a
        limit = rank[b]
        seen = {a}
        pending = [a]
        while pending:
            for successor in self._succ[pending.pop()]:
                if successor is b:
                    return True
                if successor not in seen and rank[successor] < limit:
                    seen.add(successor)
                    pending.append(successor)
        return False

    def _dataflow(self) -> None:
        """Build, once, the dataflow graph between nodes (successors and predecessors) and a
        topological order of it; merges then update both locally."""
        if self._order is not None:
            return
        nodes = list(self.groups) + [i for i in self.computation.instructions if i not in self.home]
        self._succ = {node: self._successors(node) for node in nodes}
        self._pred = {node: set() for node in nodes}
        for node, targets in self._succ.items():
            for target in targets:
                self._pred[target].add(node)
        waiting = {node: len(self._pred[node]) for node in nodes}
        ready = [node for node in nodes if not waiting[node]]
        order: list = []
        while ready:
            node = ready.pop()
            order.append(node)
            for target in self._succ[node]:
                waiting[target] -= 1
                if not waiting[target]:
                    ready.append(target)
        if len(order) != len(nodes):
            raise AssertionError("fusion grouping made a cycle")
        self._order = order
        self._rank = {node: k for k, node in enumerate(order)}

    def _merge_pair(self, a: object, b: object) -> _Group:
        """Merge two unconnected siblings, let the result take in producers, and keep the
        graph and its order valid: the merged node goes after everything between the two
        that does not descend from the earlier one (which cannot lead to the later one)."""
        self._dataflow()
        low, high = sorted((a, b), key=self._rank.__getitem__)
        start, stop = self._rank[low], self._rank[high]
        window = self._order[start:stop + 1]
        below = self._descendants(low, stop)
        self._dissolved = []
        group = self._merge(self._as_group(a), self._as_group(b))
        self._grow(group)  # producers the siblings shared may have all their users inside now
        removed = ({node for node in (a, b) if node is not group} | set(self._dissolved)
                   | {m for m in group.members if m in self._succ and m in self.home})
        touched = {self._node(o) for m in group.members for o in m.operands}
        for node in removed | {group}:
            touched |= self._pred.get(node, set())
        touched -= removed
        for node in removed:
            for target in self._succ.pop(node, ()):
                if target in self._pred:
                    self._pred[target].discard(node)
            self._pred.pop(node, None)
            self._rank.pop(node, None)
        self._pred.setdefault(group, set()).difference_update(removed)
        for node in touched | {group}:
            old, new = self._succ.get(node, set()), self._successors(node)
            for target in old - new:
                if target in self._pred:  # else removed above
                    self._pred[target].discard(node)
            for target in new - old:
                self._pred.setdefault(target, set()).add(node)
            self._succ[node] = new
        kept = [n for n in window if n in self._succ and n is not group]
        arranged = [n for n in kept if n not in below] + [group] + [n for n in kept if n in below]
        arranged += [None] * (len(window) - len(arranged))  # removed nodes leave gaps
        self._order[start:stop + 1] = arranged
        for k, node in enumerate(arranged, start):
            if node is not None:
                self._rank[node] = k
        return group

    def _descendants(self, node: object, last_rank: int) -> set:
        found: set = set()
        pending = [node]
        while pending:
            for successor in self._succ[pending.pop()]:
                if successor not in found and self._rank[successor] <= last_rank:
                    found.add(successor)
                    pending.append(successor)
        return found

    # -- outlining ------------------------------------------------------------------------

    def outline(self) -> bool:
        outlined = [g for g in self.groups if len(g.roots) > 1 or _size(g) >= self.min_ops]
        for group in outlined:
            self._outline(group)
        if not outlined:
            return False
        self._erase_dead_copies()
        self._sort_topologically()
        return True

    def _outline(self, group: _Group) -> None:
        computation = self.computation
        module = computation.module
        members = sorted(group.members, key=self.position.__getitem__)
        inputs: list[Instruction] = []
        for inst in members:
            for operand in inst.operands:
                if operand not in group.members and operand not in inputs:
                    inputs.append(operand)
        outputs = [inst for inst in members if inst in group.owned and (
            inst is computation.root or any(self.home.get(u) is not group for u in inst.users))]
        # The group's own roots first, in the order they joined, then anything else read outside.
        outputs.sort(key=lambda inst: (group.roots.index(inst) if inst in group.roots
                                       else len(group.roots), self.position[inst]))

        fused = module.builder("fused_computation")
        clones: dict[Instruction, Instruction] = {}
        for number, inst in enumerate(inputs):
            clones[inst] = fused.parameter(inst.type, name=f"param_{number}")
        for inst in members:
            with fused.at(inst.source):
                clones[inst] = fused.emit(inst.opcode, *(clones[o] for o in inst.operands),
                                          type=inst.type, called=inst.called, name=inst.name,
                                          **dict(inst.attrs))
        if len(outputs) == 1:
            fused.set_root(clones[outputs[0]])
        else:
            fused.set_root(fused.tuple(*(clones[o] for o in outputs), name="tuple"))

        kind = "kInput" if any(m.opcode == "reduce" for m in members) else "kLoop"
        # Appended at the end, and placed where the group's last member was by the final
        # sort (``_sort_topologically``): looking up that place in the list for every group
        # would cost a walk over the computation each.
        builder = Builder(computation, source=group.roots[0].source)
        last = max(members, key=self.position.__getitem__)
        fusion = builder.emit("fusion", *inputs, type=fused.computation.result_type,
                              called=[fused.computation], name="fusion", kind=kind)
        self.position[fusion] = self.position[last]
        self.tie[fusion] = 1
        if len(outputs) == 1:
            computation.replace_all_uses_with(outputs[0], fusion)
        else:
            for number, inst in enumerate(outputs):
                element = builder.emit("get-tuple-element", fusion, index=number,
                                       name=f"{inst.name}.out")
                self.position[element] = self.position[last]
                self.tie[element] = 2 + number
                computation.replace_all_uses_with(inst, element)
        for inst in reversed(members):
            if inst in group.owned:
                computation.erase(inst)

    def _erase_dead_copies(self) -> None:
        for inst in sorted(self.copies, key=self.position.__getitem__, reverse=True):
            if not inst.users and inst is not self.computation.root and inst.parent is not None:
                self.computation.erase(inst)

    def _sort_topologically(self) -> None:
        """Restore define-before-use (a fusion sits where its last member was; an outside
        user of an earlier member may have come before it), keeping the order otherwise,
        except that a dot's elementwise epilogue comes right after the dot as soon as its
        other operands are there: a backend can then run it on each block of the dot's
        result as the block is computed (the CPU backend does)."""
        instructions = self.computation.instructions
        order = {inst: (self.position[inst], self.tie.get(inst, 0)) for inst in instructions}
        waiting = {inst: len(set(inst.operands)) for inst in instructions}
        ready = [(order[i], i.name, i) for i in instructions if waiting[i] == 0]
        heapq.heapify(ready)
        result = []
        placed: set[Instruction] = set()

        def place(inst: Instruction) -> list[Instruction]:
            result.append(inst)
            placed.add(inst)
            now_ready = []
            for user in inst.users:
                waiting[user] -= 1
                if waiting[user] == 0:
                    heapq.heappush(ready, (order[user], user.name, user))
                    now_ready.append(user)
            return now_ready

        while ready:
            _, _, inst = heapq.heappop(ready)
            if inst in placed:
                continue
            now_ready = place(inst)
            if inst.opcode == "dot":
                epilogues = sorted((u for u in now_ready if _is_epilogue_of(u, inst)), key=order.__getitem__)
                if epilogues:
                    place(epilogues[0])
        assert len(result) == len(instructions), "fusion left a cycle"
        instructions[:] = result


def _is_epilogue_of(inst: Instruction, dot: Instruction) -> bool:
    """An elementwise op or a fusion computing arrays of the dot's shape from it."""
    if inst.opcode != "fusion" and not inst.opdef.has(Trait.ELEMENTWISE):
        return False
    results = inst.type.elements if not isinstance(inst.type, TensorType) else (inst.type,)
    return all(isinstance(t, TensorType) and t.shape == dot.type.shape for t in results)


def fusion_count(module: Module) -> int:
    """How many fusion instructions ``module`` holds (for statistics and tests)."""
    return sum(1 for inst in module.instructions() if inst.opcode == "fusion")
