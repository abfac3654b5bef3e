"""Instructions, computations and modules: the IR's data structures.

Values are instructions (HLO style).  Use-def information is kept by the
mutators here (``replace_operand``, ``replace_all_uses_with``, ``erase``);
nothing else edits operand lists.  New instructions come from ``Builder``.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Iterator, Mapping, Sequence

from ..errors import IRError, SourceLocation
from .opdef import OPS, OpDef
from .types import Type

if TYPE_CHECKING:
    import networkx

    from .builder import Builder


class Instruction:
    """One SSA value: opcode, operands, attributes, result type, called computations."""

    __slots__ = ("name", "opcode", "_operands", "type", "attrs", "called", "source",
                 "parent", "_users")

    def __init__(self, name: str, opcode: str, operands: Sequence[Instruction], type: Type,
                 attrs: Mapping | None = None, called: Sequence[Computation] = (),
                 source: SourceLocation | None = None) -> None:
        self.name = name
        self.opcode = opcode
        self._operands: list[Instruction] = list(operands)
        self.type = type
        self.attrs: Mapping = MappingProxyType(dict(attrs or {}))
        self.called: tuple[Computation, ...] = tuple(called)
        self.source = source
        self.parent: Computation | None = None
        # Ordered set of users; an instruction using a value twice is listed once.
        self._users: dict[Instruction, None] = {}

    @property
    def operands(self) -> tuple[Instruction, ...]:
        return tuple(self._operands)

    @property
    def users(self) -> tuple[Instruction, ...]:
        return tuple(self._users)

    @property
    def opdef(self) -> OpDef:
        return OPS[self.opcode]

    def operand(self, index: int) -> Instruction:
        return self._operands[index]

    def replace_operand(self, index: int, new: Instruction) -> None:
        old = self._operands[index]
        self._operands[index] = new
        new._users[self] = None
        if old not in self._operands:
            old._users.pop(self, None)

    def describe(self) -> str:
        """``%name = type opcode`` plus the user's source line when known: for error messages."""
        text = f"%{self.name} = {self.type} {self.opcode}"
        if self.source is not None:
            text += f" (from {self.source})"
        return text

    def __repr__(self) -> str:
        return f"<Instruction %{self.name} = {self.type} {self.opcode}>"


class Computation:
    """An ordered list of instructions with parameters and a root."""

    def __init__(self, name: str, module: Module | None = None) -> None:
        self.name = name
        self.module = module
        self._instructions: list[Instruction] = []
        # Erased instructions still in ``_instructions``: ``erase`` only marks them, and
        # they leave the list in one sweep when it is next read.  Removing each from the
        # list at once (``list.remove``) made passes that erase much quadratic.
        self._erased: set[Instruction] = set()
        self._parameter_count = 0  # kept by the mutators: the next free parameter number
        self.root: Instruction | None = None

    @property
    def instructions(self) -> list[Instruction]:
        """The instructions in order (a list that passes may reorder in place)."""
        if self._erased:
            self._compact()
        return self._instructions

    @instructions.setter
    def instructions(self, instructions: list[Instruction]) -> None:
        self._erased.clear()
        self._instructions = instructions
        self._parameter_count = sum(1 for inst in instructions if inst.opcode == "parameter")

    def _compact(self) -> None:
        erased = self._erased
        # In place: a caller holding the list sees it change, as with list.remove.
        self._instructions[:] = [inst for inst in self._instructions if inst not in erased]
        erased.clear()

    @property
    def parameters(self) -> list[Instruction]:
        params = [i for i in self.instructions if i.opcode == "parameter"]
        return sorted(params, key=lambda p: p.attrs["parameter_number"])

    @property
    def parameter_count(self) -> int:
        """How many parameters the computation has (without a scan: builders number each
        new parameter with it)."""
        return self._parameter_count

    @property
    def parameter_types(self) -> list[Type]:
        return [p.type for p in self.parameters]

    @property
    def result_type(self) -> Type:
        if self.root is None:
            raise IRError(f"computation '{self.name}' has no ROOT")
        return self.root.type

    def __iter__(self) -> Iterator[Instruction]:
        return iter(self.instructions)

    def __len__(self) -> int:
        return len(self.instructions)

    def get(self, name: str) -> Instruction:
        for inst in self.instructions:
            if inst.name == name:
                return inst
        raise IRError(f"computation '{self.name}' has no instruction %{name}")

    def index(self, inst: Instruction) -> int:
        return self.instructions.index(self._member(inst))

    def _member(self, inst: Instruction) -> Instruction:
        if inst.parent is not self:
            raise IRError(f"%{inst.name} does not belong to computation '{self.name}'")
        return inst

    def following(self, inst: Instruction) -> Instruction | None:
        """The instruction right after ``inst``, or None if it is the last one."""
        instructions = self._instructions  # erased ones included: no sweep for one look-up
        for position in range(instructions.index(self._member(inst)) + 1, len(instructions)):
            if instructions[position] not in self._erased:
                return instructions[position]
        return None

    # -- mutators: the only code that changes operand/user links ------------

    def insert(self, position: int, inst: Instruction) -> Instruction:
        """Place a new instruction at ``position`` (of ``instructions``) and register it with
        its operands."""
        self._check_insertable(inst)
        if self._erased:
            self._compact()  # ``position`` counts the instructions as they are listed
        return self._place(position, inst)

    def insert_before(self, anchor: Instruction, inst: Instruction) -> Instruction:
        # Positions in the list as it is, erased instructions included (no sweep): inserting
        # next to an anchor is what rewrites do once per rewrite.
        self._check_insertable(inst)
        return self._place(self._instructions.index(self._member(anchor)), inst)

    def insert_after(self, anchor: Instruction, inst: Instruction) -> Instruction:
        self._check_insertable(inst)
        return self._place(self._instructions.index(self._member(anchor)) + 1, inst)

    def append(self, inst: Instruction) -> Instruction:
        self._check_insertable(inst)
        return self._place(len(self._instructions), inst)

    def _check_insertable(self, inst: Instruction) -> None:
        if inst.parent is not None:
            raise IRError(f"%{inst.name} is already in computation '{inst.parent.name}'")
        for operand in inst._operands:
            if operand.parent is not self:
                raise IRError(
                    f"%{inst.name} uses %{operand.name}, which is not in computation '{self.name}'"
                )
        if inst in self._erased:
            self._compact()  # erased here and put back: its old place must go first

    def _place(self, position: int, inst: Instruction) -> Instruction:
        for operand in inst._operands:
            operand._users[inst] = None
        inst.parent = self
        self._instructions.insert(position, inst)
        self._parameter_count += inst.opcode == "parameter"
        if self.module is not None:
            self.module._claim_name(inst.name)
        return inst

    def set_root(self, inst: Instruction) -> None:
        if inst.parent is not self:
            raise IRError(f"ROOT %{inst.name} is not in computation '{self.name}'")
        self.root = inst

    def replace_all_uses_with(self, old: Instruction, new: Instruction) -> None:
        """Every use of ``old`` (and the root, if it is ``old``) now uses ``new``.

        If ``new`` itself uses ``old`` (``new = negate(old)``), that use stays, as
        in XLA: replacing it would make ``new`` its own operand.
        """
        if old is new:
            return
        if new.parent is not self:
            raise IRError(f"replacement %{new.name} is not in computation '{self.name}'")
        for user in list(old._users):
            if user is new:
                continue
            for i, operand in enumerate(user._operands):
                if operand is old:
                    user.replace_operand(i, new)
        if self.root is old:
            self.root = new

    def erase(self, inst: Instruction) -> None:
        """Remove an instruction that nothing uses any more."""
        if inst._users:
            users = ", ".join(f"%{u.name}" for u in inst._users)
            raise IRError(f"cannot erase %{inst.name}: still used by {users}")
        if self.root is inst:
            raise IRError(f"cannot erase %{inst.name}: it is the ROOT of '{self.name}'")
        if inst.parent is not self:
            raise IRError(f"cannot erase %{inst.name}: it is not in computation '{self.name}'")
        self._erased.add(inst)
        self._parameter_count -= inst.opcode == "parameter"
        for operand in set(inst._operands):
            operand._users.pop(inst, None)
        inst.parent = None
        if self.module is not None:
            self.module._release_name(inst.name)

    def to_networkx(self) -> networkx.MultiDiGraph:
        """Dataflow graph: nodes are instruction names, edges operand -> user (one per use)."""
        import networkx

        graph = networkx.MultiDiGraph(name=self.name)
        for inst in self.instructions:
            graph.add_node(inst.name, opcode=inst.opcode, type=str(inst.type),
                           called=[c.name for c in inst.called], root=inst is self.root)
        for inst in self.instructions:
            for position, operand in enumerate(inst._operands):
                graph.add_edge(operand.name, inst.name, operand_index=position)
        return graph

    def __str__(self) -> str:
        from .printer import print_computation

        return print_computation(self)

    def __repr__(self) -> str:
        return f"<Computation {self.name}: {len(self.instructions)} instructions>"


class Module:
    """Computations, one of which is the entry.  Instruction names are unique module-wide."""

    def __init__(self, name: str = "module") -> None:
        self.name = name
        self.computations: dict[str, Computation] = {}
        self.entry_name: str | None = None
        self._names: dict[str, int] = {}
        self._counters: dict[str, int] = {}

    @property
    def entry(self) -> Computation:
        if self.entry_name is None:
            raise IRError(f"module '{self.name}' has no ENTRY computation")
        return self.computations[self.entry_name]

    def add_computation(self, name: str, *, entry: bool = False) -> Computation:
        name = self._fresh(name, self.computations)
        computation = Computation(name, self)
        self.computations[name] = computation
        if entry:
            self.entry_name = name
        return computation

    def remove_computation(self, computation: Computation) -> None:
        callers = [i for c in self.computations.values() for i in c.instructions
                   if computation in i.called]
        if callers:
            raise IRError(f"cannot remove computation '{computation.name}': called by %{callers[0].name}")
        if computation.name == self.entry_name:
            raise IRError(f"cannot remove the ENTRY computation '{computation.name}'")
        del self.computations[computation.name]
        for inst in computation.instructions:
            self._release_name(inst.name)

    def builder(self, name: str, *, entry: bool = False) -> "Builder":
        """A builder appending to a new computation of this module."""
        from .builder import Builder

        return Builder(self.add_computation(name, entry=entry))

    def unique_name(self, base: str) -> str:
        """A fresh instruction name: ``base`` if free, else ``base.N`` as XLA does."""
        return self._fresh(base, self._names)

    def _fresh(self, base: str, taken: Mapping[str, object]) -> str:
        if base not in taken:
            return base
        counter = self._counters.get(base, 0)
        while True:
            counter += 1
            candidate = f"{base}.{counter}"
            if candidate not in taken:
                self._counters[base] = counter
                return candidate

    def _claim_name(self, name: str) -> None:
        self._names[name] = self._names.get(name, 0) + 1

    def _release_name(self, name: str) -> None:
        count = self._names.get(name, 0) - 1
        if count <= 0:
            self._names.pop(name, None)
        else:
            self._names[name] = count

    def instructions(self) -> Iterator[Instruction]:
        for computation in self.computations.values():
            yield from computation.instructions

    def to_networkx(self) -> networkx.MultiDiGraph:
        """Dataflow graph of the whole module.

        Nodes are ``(computation, instruction)`` name pairs with ``opcode`` and
        ``type`` attributes; ``kind="data"`` edges go operand -> user, and
        ``kind="call"`` edges go from a calling instruction to the root of each
        computation it calls.
        """
        import networkx

        graph = networkx.MultiDiGraph(name=self.name)
        for computation in self.computations.values():
            for inst in computation.instructions:
                graph.add_node((computation.name, inst.name), opcode=inst.opcode,
                               type=str(inst.type), computation=computation.name,
                               root=inst is computation.root)
        for computation in self.computations.values():
            for inst in computation.instructions:
                for position, operand in enumerate(inst._operands):
                    graph.add_edge((computation.name, operand.name), (computation.name, inst.name),
                                   kind="data", operand_index=position)
                for callee in inst.called:
                    if callee.root is not None:
                        graph.add_edge((computation.name, inst.name), (callee.name, callee.root.name),
                                       kind="call")
        return graph

    def __str__(self) -> str:
        from .printer import print_module

        return print_module(self)

    def __repr__(self) -> str:
        return f"<Module {self.name}: {len(self.computations)} computations>"
