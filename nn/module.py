"""``Module``: a container of variables and submodules in the ``tf.Module`` style.

Optimizers are modules, and so will be layers and models.  ``jit`` does not know this
class: it recognizes a module argument by its ``__jitflow_state_container__`` attribute.
"""

from __future__ import annotations

from typing import Any

from ..frontend import Variable


class Module:
    """A container of state in the ``tf.Module`` style.

    Attributes that are Variables, Modules, or (nested) lists, tuples and dicts of
    them are found by ``variables``, ``trainable_variables`` and ``submodules``,
    in attribute order, each once.  ``jit`` applied to a method works: the module
    instance is a static argument (by identity) and its variables are implicit
    inputs of the trace.
    """

    # jit's protocol (frontend/state.py): a module argument, such as a jitted method's
    # ``self``, is static by identity, and its variables are read inside the trace.
    __jitflow_state_container__ = True

    def __init__(self, name: str | None = None) -> None:
        self._module_name = name

    @property
    def name(self) -> str:
        return getattr(self, "_module_name", None) or _snake_case(type(self).__name__)

    @property
    def variables(self) -> list[Variable]:
        """Every variable of this module and its submodules."""
        return [v for v in self._walk() if isinstance(v, Variable)]

    @property
    def trainable_variables(self) -> list[Variable]:
        return [v for v in self.variables if v.trainable]

    @property
    def submodules(self) -> list[Module]:
        """Every module under this one (not itself), outer ones first."""
        return [m for m in self._walk() if isinstance(m, Module)]

    def _walk(self) -> list[Any]:
        found: list[Any] = []
        seen = {id(self)}

        def visit(value: Any) -> None:
            if isinstance(value, (Variable, Module)):
                if id(value) in seen:
                    return
                seen.add(id(value))
                found.append(value)
                if isinstance(value, Module):
                    for child in _attributes(value):
                        visit(child)
            elif isinstance(value, (list, tuple)):
                for child in value:
                    visit(child)
            elif isinstance(value, dict):
                for child in value.values():
                    visit(child)

        for child in _attributes(self):
            visit(child)
        return found

    def __repr__(self) -> str:
        return f"<{type(self).__name__} '{self.name}' ({len(self.variables)} variables)>"


def _attributes(module: Module) -> list[Any]:
    return [value for key, value in vars(module).items() if key != "_module_name"]


def _snake_case(name: str) -> str:
    out = ""
    for index, char in enumerate(name):
        if char.isupper() and index and not name[index - 1].isupper():
            out += "_"
        out += char.lower()
    return out
