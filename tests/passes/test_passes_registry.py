"""Registering passes: the decorator, entry points of installed packages, plugin files."""

from __future__ import annotations

import dataclasses
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

import jitflow
from jitflow.ir import Module, parse_module
from jitflow.passes import (ENTRY_POINT_GROUP, Pass, PassManager, PipelineError, PluginError,
                            get_pass, load_pass_plugin, option, register_pass, registered_passes)
from jitflow.passes import registry

pytestmark = pytest.mark.usefixtures("pass_registry")

PROGRAM = """
HloModule m
ENTRY %main (x: f32[4]) -> f32[4] {
  ROOT %x = f32[4] parameter(0)
}"""


# -- the decorator ---------------------------------------------------------------------------

def test_register_a_class_by_name():
    @jitflow.register_pass("tag-module")
    class TagModule(Pass):
        """Rename the module.

        More text that is not part of the description."""

        suffix: str = option("_tagged", "what to append")

        def run(self, module: Module) -> bool:
            module.name += self.suffix
            return True

    assert get_pass("tag-module") is TagModule
    assert TagModule.name == "tag-module"
    assert TagModule.description == "Rename the module."
    # Not decorated with @dataclass: registration made it a frozen one.
    assert dataclasses.is_dataclass(TagModule)
    with pytest.raises(dataclasses.FrozenInstanceError):
        TagModule().suffix = "x"
    module = parse_module(PROGRAM)
    PassManager("tag-module{suffix=_v2}", verify=True).run(module)
    assert module.name == "m_v2"


def test_register_a_class_by_its_own_name():
    @register_pass
    class Noop(Pass):
        name = "noop"
        description = "Does nothing."

        def run(self, module: Module) -> bool:
            return False

    @register_pass()
    class Noop2(Noop):
        name = "noop2"

    assert registered_passes()["noop"] is Noop and get_pass("noop2") is Noop2
    assert Noop2.description == "Does nothing."


def test_register_a_function():
    @register_pass("rename")
    def rename(module: Module) -> bool:
        """Call the module 'renamed'."""
        module.name = "renamed"
        return True

    @register_pass(description="Count nothing.")
    def count_nothing(module):
        return False

    assert callable(rename) and rename.__name__ == "rename"  # the function itself comes back
    pass_class = get_pass("rename")
    assert pass_class.description == "Call the module 'renamed'." and pass_class.options() == ()
    assert get_pass("count-nothing").description == "Count nothing."
    module = parse_module(PROGRAM)
    assert PassManager("rename,count-nothing").run(module) is True
    assert module.name == "renamed"


@pytest.mark.parametrize("target, message", [
    (lambda: None, "must take exactly one argument (the module), not 0"),
    (lambda module, extra: None, "must take exactly one argument (the module), not 2"),
    (int, "expects a subclass of jitflow.passes.Pass or a function f(module) -> bool, got the class int"),
    ("not a pass", None),
])
def test_what_cannot_be_registered(target, message):
    if message is None:
        with pytest.raises(PluginError, match="expects a Pass subclass or a function"):
            register_pass("x")(target)
        return
    with pytest.raises(PluginError) as error:
        register_pass("x")(target)
    assert message in str(error.value)


@pytest.mark.parametrize("name", ["", "a,b", "has space", "x{y}", "1st"])
def test_names_must_be_writable_in_pipeline_text(name):
    with pytest.raises(PluginError, match="has no valid name"):
        register_pass(name)(lambda module: False)


def test_a_name_belongs_to_one_pass():
    with pytest.raises(PluginError, match=r"pass 'cse' is already registered by "
                                          r"jitflow\.passes\.cse\.CSE"):
        register_pass("cse")(lambda module: False)


def test_registering_the_same_pass_again_is_harmless(tmp_path):
    plugin = tmp_path / "again.py"
    plugin.write_text("import jitflow\n\n@jitflow.register_pass('again')\n"
                      "def again(module):\n    return False\n")
    load_pass_plugin(str(plugin))
    first = get_pass("again")
    # The same code imported again (a copy of the module) registers the same pass.
    register_pass("again")(first.function)
    assert get_pass("again").function is first.function


# -- entry points ------------------------------------------------------------------------------

PLUGIN_MODULE = '''
import jitflow
from jitflow.passes import Pass

IMPORTS = []
IMPORTS.append(1)


@jitflow.register_pass("from-plugin")
def from_plugin(module):
    """Registered on import."""
    return False


class Listed(Pass):
    """Registered by its entry point."""
    name = "listed"

    def run(self, module):
        return False


def by_entry_point(module):
    """A function registered under its entry point's name."""
    return False


class Misnamed(Pass):
    name = "other-name"

    def run(self, module):
        return False
'''


@pytest.fixture
def entry_points(tmp_path, monkeypatch):
    """Installs fake distributions' entry points; returns a function setting them."""
    (tmp_path / "fake_plugin.py").write_text(textwrap.dedent(PLUGIN_MODULE))
    (tmp_path / "broken_plugin.py").write_text("raise ImportError('needs a GPU')\n")
    (tmp_path / "empty_plugin.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(__import__("sys").modules, "fake_plugin", raising=False)
    points: list[EntryPoint] = []
    monkeypatch.setattr(registry, "_entry_points", lambda: list(points))

    def install(**specs: str) -> None:
        points.extend(EntryPoint(name, value, ENTRY_POINT_GROUP) for name, value in specs.items())

    return install


def test_entry_points_load_lazily(entry_points):
    import sys

    entry_points(**{"from-plugin": "fake_plugin", "listed": "fake_plugin:Listed",
                    "by-entry-point": "fake_plugin:by_entry_point"})
    assert get_pass("cse") and "fake_plugin" not in sys.modules  # known names load nothing
    assert get_pass("listed").description == "Registered by its entry point."
    assert sys.modules["fake_plugin"].IMPORTS == [1]
    assert get_pass("from-plugin").description == "Registered on import."
    names = set(registered_passes())
    assert {"from-plugin", "listed", "by-entry-point", "cse", "dce", "simplify"} <= names
    assert get_pass("by-entry-point").description == "A function registered under its entry point's name."
    assert sys.modules["fake_plugin"].IMPORTS == [1]  # imported once


def test_unknown_names_list_entry_points_too(entry_points):
    entry_points(**{"listed": "fake_plugin:Listed"})
    with pytest.raises(PipelineError, match=r"\(available: (\S+, )*cse, dce, fuse, (\S+, )*listed, (\S+, )*simplify\)"):
        get_pass("nope")


@pytest.mark.parametrize("specs, message", [
    ({"broken": "broken_plugin:Pass"},
     "cannot load the entry point 'broken = broken_plugin:Pass' of group 'jitflow.passes': "
     "ImportError: needs a GPU"),
    ({"ghost": "empty_plugin"},
     "imports a module that registers no pass 'ghost'"),
    ({"misnamed": "fake_plugin:Misnamed"},
     "names pass class Misnamed, whose name is 'other-name'; the entry point must be called 'other-name'"),
])
def test_broken_entry_points_are_reported(entry_points, specs, message):
    entry_points(**specs)
    (name,) = specs
    with pytest.raises(PluginError) as error:
        get_pass(name)
    assert message in str(error.value)


# -- plugin files and modules --------------------------------------------------------------------

def test_load_a_plugin_file_once(tmp_path):
    plugin = tmp_path / "my_passes.py"
    plugin.write_text("import jitflow\nLOADS = []\nLOADS.append(1)\n\n"
                      "@jitflow.register_pass('mine')\ndef mine(module):\n    return False\n")
    first = load_pass_plugin(str(plugin))
    assert load_pass_plugin(str(plugin)) is first and first.LOADS == [1]
    assert get_pass("mine").__module__ == first.__name__


def test_load_a_plugin_module(tmp_path, monkeypatch):
    (tmp_path / "module_plugin.py").write_text(
        "import jitflow\n\n@jitflow.register_pass('from-module')\ndef f(module):\n    return False\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    load_pass_plugin("module_plugin")
    assert get_pass("from-module")


@pytest.mark.parametrize("source, message", [
    ("import no_such_dependency_xyz\n",
     "failed: ModuleNotFoundError: No module named 'no_such_dependency_xyz'"),
    ("x = 1 / 0\n", "failed: ZeroDivisionError: division by zero"),
    ("import jitflow\njitflow.register_pass('cse')(lambda module: False)\n",
     "failed: PluginError: pass 'cse' is already registered"),
])
def test_plugins_that_fail_to_load(tmp_path, monkeypatch, source, message):
    (tmp_path / "failing_plugin.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    for spec in (str(tmp_path / "failing_plugin.py"), "failing_plugin"):
        with pytest.raises(PluginError) as error:
            load_pass_plugin(spec)
        assert message in str(error.value) and "failing_plugin.py:" in str(error.value)


def test_missing_plugins():
    with pytest.raises(PluginError, match="cannot load pass plugin 'nowhere/p.py': no such file"):
        load_pass_plugin("nowhere/p.py")
    with pytest.raises(PluginError, match="no module named 'no_such_plugin_xyz'"):
        load_pass_plugin("no_such_plugin_xyz.sub")


def test_the_readme_example_works(tmp_path):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Writing a pass", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    plugin = tmp_path / "readme_pass.py"
    plugin.write_text(code)
    load_pass_plugin(str(plugin))
    module = parse_module("""
HloModule m
ENTRY %main (x: s32[3]) -> s32[3] {
  %x = s32[3] parameter(0)
  %two = s32[] constant(2)
  %twos = s32[3] broadcast(%two), dimensions={}
  %three = s32[] constant(3)
  %threes = s32[3] broadcast(%three), dimensions={}
  %y = s32[3] multiply(%x, %twos)
  ROOT %z = s32[3] multiply(%y, %threes)
}""")
    manager = PassManager("strength-reduce{max-sweeps=3}", verify=True)
    assert manager.run(module) is True
    assert [i.opcode for i in module.entry.instructions] == [
        "parameter", "constant", "broadcast", "add", "multiply"]
