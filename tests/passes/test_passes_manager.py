"""Pass objects, their options, pipeline text and edits, and the pass manager."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest

from jitflow.errors import VerificationError
from jitflow.ir import Module, parse_module
from jitflow.passes import (DEFAULT_PIPELINE, Pass, PassError, PassManager, PipelineError,
                            PluginError, build_pipeline, format_pipeline, insert_after,
                            insert_before, option, parse_pipeline, remove, resolve_pipeline)
from jitflow.passes.cse import CSE
from jitflow.passes.dce import DCE
from jitflow.passes.fuse import Fuse
from jitflow.passes.pipeline import PassSpec
from jitflow.passes.registry import add_pass
from jitflow.passes.simplify import Simplify

PROGRAM = """
HloModule m
ENTRY %main (x: f32[4]) -> f32[4] {
  %x = f32[4] parameter(0)
  %a = f32[4] exponential(%x)
  %b = f32[4] exponential(%x)
  ROOT %c = f32[4] add(%a, %b)
}"""


@dataclass(frozen=True)
class Options(Pass):
    """A pass with one option of each type."""

    name = "options"
    count: int = option(3, "how many")
    rate: float = 0.5
    strict: bool = False
    label: str = "x"

    def run(self, module: Module) -> bool:
        return False


# -- options ---------------------------------------------------------------------------------

def test_options_are_the_dataclass_fields_spelled_with_dashes():
    options = Options.options()
    assert [(o.name, o.type, o.default) for o in options] == [
        ("count", int, 3), ("rate", float, 0.5), ("strict", bool, False), ("label", str, "x")]
    assert options[0].help == "how many"
    assert options[0].describe() == "count: int = 3"
    assert Options.description == "A pass with one option of each type."


def test_options_parse_from_text_and_print_back(pass_registry):
    add_pass(Options)
    configured = Options.from_options({"count": "7", "rate": "2", "strict": "true", "label": "y"})
    assert configured == Options(count=7, rate=2.0, strict=True, label="y")
    assert str(configured) == "options{count=7,rate=2.0,strict=true,label=y}"
    assert str(Options()) == "options"
    assert build_pipeline(str(configured)) == [configured]


@pytest.mark.parametrize("values, message", [
    ({"count": "many"}, "option 'count' of pass 'options' expects an int, got 'many'"),
    ({"count": "1.5"}, "expects an int, got '1.5'"),
    ({"rate": "fast"}, "option 'rate' of pass 'options' expects a float, got 'fast'"),
    ({"strict": "yes"}, "option 'strict' of pass 'options' expects true or false, got 'yes'"),
    ({"colour": "red"}, "pass 'options' has no option 'colour' (its options: count, rate, strict, label)"),
])
def test_bad_option_text_is_a_pipeline_error(values, message):
    with pytest.raises(PipelineError) as error:
        Options.from_options(values)
    assert message in str(error.value)


def test_option_values_from_python_are_type_checked():
    with pytest.raises(PipelineError, match="option 'strict' of pass 'options' expects bool, got 1"):
        Options(strict=1)
    with pytest.raises(PipelineError, match="option 'count' of pass 'options' expects int, got True"):
        Options(count=True)
    assert Options(rate=1).rate == 1  # an int is a fine float


def test_required_options_must_be_given():
    @dataclass(frozen=True)
    class Required(Pass):
        name = "required"
        level: int

        def run(self, module: Module) -> bool:
            return False

    (level,) = Required.options()
    assert level.required and level.describe() == "level: int required"
    with pytest.raises(PipelineError,
                       match=r"pass 'required' needs option 'level' \(write required\{level=...\}\)"):
        Required.from_options({})
    assert Required.from_options({"level": "2"}).level == 2


def test_unsupported_option_types_are_rejected():
    @dataclass(frozen=True)
    class Listy(Pass):
        name = "listy"
        items: list = None

        def run(self, module: Module) -> bool:
            return False

    with pytest.raises(PluginError, match="option 'items' of pass 'listy' has type"):
        Listy.options()


# -- pipeline text -----------------------------------------------------------------------------

def test_pipeline_text_parses_names_and_options():
    assert parse_pipeline(" simplify , cse{a=1, b = x} ,dce{} ") == [
        PassSpec("simplify"), PassSpec("cse", (("a", "1"), ("b", "x"))), PassSpec("dce")]
    assert parse_pipeline("") == parse_pipeline("   ") == []


@pytest.mark.parametrize("text, column, expected", [
    (",cse", 1, "expected a pass name, found ','"),
    ("cse,", 5, "expected a pass name, found the end"),
    ("cse dce", 5, "expected ',' between passes, found 'd'"),
    ("cse{a}", 6, "expected '=' after option 'a', found '}'"),
    ("cse{a=}", 7, "expected a value for option 'a', found '}'"),
    ("cse{a=1 b=2}", 9, "expected ',' or '}' after an option, found 'b'"),
    ("cse{a=1", 8, "expected ',' or '}' after an option, found the end"),
    ("cse}", 4, "expected ',' between passes, found '}'"),
    ("9lives", 1, "expected a pass name, found '9'"),
])
def test_malformed_pipeline_text_points_at_the_column(text, column, expected):
    with pytest.raises(PipelineError) as error:
        parse_pipeline(text)
    first, source, caret = str(error.value).splitlines()
    assert first == f"malformed pipeline (column {column}): {expected}"
    assert source == f"  {text}"
    assert caret == " " * (column + 1) + "^"


def test_unknown_passes_suggest_a_close_name():
    with pytest.raises(PipelineError, match=r"unknown pass 'simplfy'; did you mean 'simplify'\?"):
        build_pipeline("simplfy")
    with pytest.raises(PipelineError, match=r"unknown pass 'zzz' \(available: (\S+, )*cse, dce, fuse, (\S+, )*simplify\)"):
        build_pipeline("zzz")


def test_options_may_not_repeat():
    with pytest.raises(PipelineError, match="option 'fold-limit' of pass 'simplify' is given twice"):
        build_pipeline("simplify{fold-limit=1,fold-limit=2}")


def test_pipelines_from_objects_names_classes_and_text():
    passes = build_pipeline(["simplify{fold-limit=4}", CSE(), DCE, "cse,dce"])
    assert passes == [Simplify(fold_limit=4), CSE(), DCE(), CSE(), DCE()]
    assert format_pipeline(passes) == "simplify{fold-limit=4},cse,dce,cse,dce"
    with pytest.raises(PipelineError,
                       match="a pipeline holds pass names, pipeline text or Pass objects, not 3"):
        build_pipeline(["cse", 3])


# -- edits of the default pipeline -------------------------------------------------------------

def test_default_pipeline():
    assert DEFAULT_PIPELINE.startswith("simplify,cse,dce,fuse")
    assert resolve_pipeline(None)[:4] == [Simplify(), CSE(), DCE(), Fuse()]


def test_edits_insert_and_remove_around_named_passes():
    assert resolve_pipeline(insert_before("cse", "dce"))[:5] == [Simplify(), DCE(), CSE(), DCE(), Fuse()]
    assert resolve_pipeline([insert_after("simplify", Options(count=1), "cse"), remove("dce")])[:5] == [
        Simplify(), Options(count=1), CSE(), CSE(), Fuse()]
    assert resolve_pipeline([remove("simplify"), remove("cse"), remove("dce"), remove("fuse"),
                             remove("layout"), remove("buffers")]) == []


def test_edits_name_passes_of_the_pipeline():
    with pytest.raises(PipelineError, match=r"cannot insert passes after 'absent': no pass 'absent' in "
                                            r"the pipeline \(simplify,cse,dce,fuse"):
        resolve_pipeline(insert_after("absent", "cse"))
    with pytest.raises(PipelineError, match="cannot remove 'dce': no pass 'dce' in the pipeline"):
        resolve_pipeline([remove("dce"), remove("dce")])


def test_whole_pipelines_and_edits_do_not_mix():
    assert resolve_pipeline("cse") == [CSE()]
    assert resolve_pipeline([]) == []
    assert resolve_pipeline(Simplify()) == [Simplify()]
    with pytest.raises(PipelineError, match="either a whole pipeline or a list of edits"):
        resolve_pipeline(["cse", remove("dce")])


# -- the pass manager --------------------------------------------------------------------------

class Breaks(Pass):
    name = "breaks"

    def run(self, module: Module) -> bool:
        module.entry.root = None
        return True


class Crashes(Pass):
    name = "crashes"

    def run(self, module: Module) -> bool:
        return {}["missing"]


class Unsure(Pass):
    name = "unsure"

    def run(self, module: Module):
        return 1


def test_manager_runs_passes_in_order_and_reports_change():
    module = parse_module(PROGRAM)
    manager = PassManager("simplify,cse,dce", verify=True)
    assert manager.pipeline == "simplify,cse,dce"
    assert manager.run(module) is True
    assert [(t.pass_text, t.changed) for t in manager.timings] == [
        ("simplify", False), ("cse", True), ("dce", False)]
    assert manager.run(module) is False


def test_manager_names_the_pass_that_breaks_the_ir():
    manager = PassManager(["cse", Breaks(), "dce"], verify=True)
    with pytest.raises(PassError) as error:
        manager.run(parse_module(PROGRAM))
    assert error.value.pass_name == "breaks"
    assert str(error.value).startswith("pass 'breaks' left invalid IR: IR verification failed:\n"
                                       "  computation 'main' has no ROOT")
    assert [t.pass_text for t in manager.timings] == ["cse", "breaks"]


def test_without_verify_the_manager_does_not_check():
    module = parse_module(PROGRAM)
    PassManager([Breaks()]).run(module)
    assert module.entry.root is None


def test_manager_names_a_pass_that_crashes_or_misreports():
    with pytest.raises(PassError, match=r"pass 'crashes' failed: KeyError: 'missing' "
                                        r"\(.*test_passes_manager.py:\d+\)"):
        PassManager([Crashes()]).run(parse_module(PROGRAM))
    with pytest.raises(PassError, match="pass 'unsure' returned 1; run"):
        PassManager([Unsure()]).run(parse_module(PROGRAM))


def test_invalid_input_is_not_blamed_on_the_first_pass():
    module = parse_module(PROGRAM)
    module.entry.root = None
    with pytest.raises(VerificationError, match="the IR is invalid before the first pass"):
        PassManager("cse", verify=True).run(module)


def test_callbacks_see_every_pass():
    events = []
    PassManager("simplify,cse", callbacks=[events.append]).run(parse_module(PROGRAM))
    assert [(e.index, e.pass_.name, e.changed) for e in events] == [(1, "simplify", False),
                                                                    (2, "cse", True)]
    assert all(e.seconds >= 0 for e in events)


def test_dumps_go_to_a_stream_or_a_directory(tmp_path):
    stream = io.StringIO()
    PassManager("simplify,cse,dce", dump_after="cse", dump_stream=stream).run(parse_module(PROGRAM))
    text = stream.getvalue()
    assert text.startswith("// IR after pass 2 'cse' (changed)\nHloModule m\n")
    assert text.count("HloModule") == 1
    parse_module(text)  # a dump is HLO text

    PassManager("simplify,cse,dce", dump_dir=tmp_path / "dumps").run(parse_module(PROGRAM))
    files = sorted(p.name for p in (tmp_path / "dumps").iterdir())
    assert files == ["01-simplify.hlo", "02-cse.hlo", "03-dce.hlo"]
    assert "add(%a, %a)" in (tmp_path / "dumps" / "02-cse.hlo").read_text()


def test_dump_after_must_name_a_pass_of_the_pipeline():
    with pytest.raises(PipelineError, match=r"cannot dump after 'absent': it is not in the pipeline \(cse\)"):
        PassManager("cse", dump_after="absent")


def test_timing_table():
    manager = PassManager("simplify{fold-limit=2},cse", verify=True)
    manager.run(parse_module(PROGRAM))
    header, simplify, cse, verifier, total = manager.timing_table().splitlines()
    assert header.split() == ["pass", "time", "(ms)", "%", "changed"]
    assert simplify.startswith("simplify{fold-limit=2}") and simplify.endswith("no")
    assert cse.startswith("cse ") and cse.endswith("yes")
    assert verifier.startswith("(verifier)")
    assert total.startswith("total") and total.endswith("100.0")
