"""The layering of DESIGN.md, read from the sources: which folder of jitflow may import which.

``ir/`` imports nothing else of jitflow; ``passes/`` and ``codegen/`` only ``ir/``;
``runtime/`` only ``codegen/`` and ``ir/``; ``frontend/`` the compiler's stages but
nothing of the library above it (``nn/``, ``data/``, ``export/``); the library only the
public API (what the package root and ``frontend/__init__`` export), and ``export/``
also the IR (its text format) and the runtime.  The root modules ``errors`` and
``_version`` are open to all.  Every ``import`` and ``from ... import`` counts, relative
or absolute, at module level or inside a function.
"""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass
from pathlib import Path

import jitflow

PACKAGE = "jitflow"
ROOT = Path(jitflow.__file__).resolve().parent

# Root modules every folder may import.
BASE_MODULES = frozenset({"errors", "_version"})
# What the package ships as user code: not part of the layering.
USER_CODE = frozenset({"tests", "examples", "bench"})
# Folders that may import only the public API, plus the folders named here.
PUBLIC_API_USERS = {"nn": frozenset(), "data": frozenset(), "export": frozenset({"ir", "runtime"})}
# The other folders, and the folders each may import.
STAGE_IMPORTS = {
    "ir": frozenset(),
    "passes": frozenset({"ir"}),
    "codegen": frozenset({"ir"}),
    "runtime": frozenset({"codegen", "ir"}),
    "frontend": frozenset({"ir", "passes", "codegen", "runtime"}),
}
# The packages whose exports are the public API.
PUBLIC_PACKAGES = ("", "frontend")


@dataclass(frozen=True)
class Violation:
    file: str  # relative to the source root
    line: int
    statement: str
    rule: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: `{self.statement}`: {self.rule}"


def check_imports(root: Path) -> list[Violation]:
    """Every import in the package at ``root`` that breaks the layering, in file order."""
    exports = {package: _exported_names(root, package) for package in PUBLIC_PACKAGES}
    # The subpackages; root modules (cli, demo, the package itself) may import anything.
    folders = [d for d in sorted(root.iterdir())
               if (d / "__init__.py").is_file() and d.name not in USER_CODE]
    violations = []
    for path in (path for folder in folders for path in sorted(folder.rglob("*.py"))):
        relative = path.relative_to(root)
        tree = ast.parse(path.read_text(), str(path))
        importer = _module_parts(relative)
        is_package = relative.name == "__init__.py"
        for node in ast.walk(tree):
            rules = {_broken_rule(importer[0], target, public)
                     for target, public in _imports(node, importer, is_package, root, exports)}
            for rule in sorted(rules - {None}):
                violations.append(Violation(relative.as_posix(), node.lineno,
                                            " ".join(ast.unparse(node).split()), rule))
    return violations


def _module_parts(relative: Path) -> tuple[str, ...]:
    parts = relative.with_suffix("").parts
    return parts[:-1] if parts[-1] == "__init__" else parts


def _exported_names(root: Path, package: str) -> frozenset[str]:
    """The names in ``__all__`` of ``package``'s ``__init__.py`` (assigned or extended)."""
    init = root / package / "__init__.py"
    if not init.exists():
        return frozenset()
    names = set()
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                names.update(ast.literal_eval(node.value))
    return frozenset(names)


def _imports(node: ast.AST, importer: tuple[str, ...], is_package: bool, root: Path,
             exports: dict[str, frozenset[str]]) -> list[tuple[tuple[str, ...], bool]]:
    """What ``node`` imports of jitflow: each module as parts under the root (``()`` is the
    root package), and whether it is the public API (a public package, or a name it exports)."""
    if isinstance(node, ast.Import):
        modules = [tuple(alias.name.split("."))[1:] for alias in node.names
                   if alias.name.split(".")[0] == PACKAGE]
        return [(module, "/".join(module) in exports) for module in modules]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level == 0:
        parts = tuple((node.module or "").split("."))
        if parts[0] != PACKAGE:
            return []
        base = parts[1:]
    else:
        package = importer if is_package else importer[:-1]
        up = node.level - 1
        if up > len(package):
            raise ValueError(f"relative import beyond the package: {ast.unparse(node)}")
        base = package[:len(package) - up] + (tuple(node.module.split(".")) if node.module else ())
    public_names = exports.get("/".join(base), frozenset())
    imported = []
    for alias in node.names:
        if alias.name in public_names:
            imported.append((base, True))
        elif _is_module(root, base + (alias.name,)):
            imported.append((base + (alias.name,), False))
        else:
            imported.append((base, "/".join(base) in exports))
    return imported


def _is_module(root: Path, parts: tuple[str, ...]) -> bool:
    path = root.joinpath(*parts)
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _broken_rule(folder: str, target: tuple[str, ...], public: bool) -> str | None:
    """Why ``folder`` may not import ``target``, or None when it may."""
    top = target[0] if target else ""
    if top == folder or top in BASE_MODULES:
        return None
    name = ".".join((PACKAGE, *target))
    if folder in PUBLIC_API_USERS:
        allowed = PUBLIC_API_USERS[folder]
        if public or top in allowed:
            return None
        also = "".join(f", {other}/" for other in sorted(allowed))
        return (f"{folder}/ may import only the public API (the package root's and "
                f"frontend's exports, errors){also}, not {name}")
    if folder not in STAGE_IMPORTS:
        return f"{folder}/ has no import rule: add it to this test's table"
    allowed = STAGE_IMPORTS[folder]
    if top in allowed:
        return None
    what = ", ".join(f"{other}/" for other in sorted(allowed)) or "nothing else of jitflow"
    return f"{folder}/ may import only {what}, not {name}"


def test_the_sources_keep_the_layering():
    violations = check_imports(ROOT)
    assert not violations, "\n".join(map(str, violations))


# -- the checker itself, on small trees ----------------------------------------------

def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


LAYERED_TREE = {
    "__init__.py": """
        from .frontend import Variable, jit
        __all__ = ["Variable", "jit"]
        __all__ += ["losses"]
        from .nn import losses
        """,
    "errors.py": "",
    "_version.py": "",
    "cli.py": "from .nn import losses\nfrom .frontend.state import Variable\n",
    "ir/__init__.py": "from ..errors import IRError\nfrom .._version import __version__\n",
    "ir/ops.py": "from . import types\nfrom .types import DType\n",
    "ir/types.py": "",
    "passes/__init__.py": "from ..ir import ops\n",
    "codegen/__init__.py": "",
    "codegen/cpu/__init__.py": "from ...ir.types import DType\nfrom . import module\n",
    "codegen/cpu/module.py": "from ..cpu import module\n",
    "runtime/__init__.py": "from ..codegen.cpu import module\nfrom ..ir import ops\n",
    "frontend/__init__.py": """
        from .state import Variable
        from .jit import jit
        __all__ = ["Variable", "jit"]
        """,
    "frontend/state.py": "",
    "frontend/jit.py": """
        from ..passes import ops
        def build():
            from .. import runtime
            from jitflow.codegen import cpu
        """,
    "nn/__init__.py": "from . import losses\n",
    "nn/losses.py": """
        import jitflow
        from .. import Variable, errors
        from ..frontend import jit
        from jitflow.frontend import Variable as V
        """,
    "export/__init__.py": "from ..ir import parse_module\nfrom ..runtime import compile\n",
    "tests/test_x.py": "from jitflow.frontend.state import Variable\n",
    "examples/x.py": "from jitflow.passes import ops\n",
}


def test_checker_accepts_a_tree_that_keeps_the_rules(tmp_path):
    assert check_imports(_tree(tmp_path, LAYERED_TREE)) == []


def _violations(tmp_path: Path, name: str, text: str) -> list[Violation]:
    return check_imports(_tree(tmp_path, {**LAYERED_TREE, name: text}))


def test_checker_reports_file_line_import_and_rule(tmp_path):
    (violation,) = _violations(tmp_path, "codegen/cpu/module.py", """
        import math

        def plan():
            from ...passes.fuse import row_broadcasts, row_reused_values
        """)
    assert violation.file == "codegen/cpu/module.py"
    assert violation.line == 5
    assert violation.statement == "from ...passes.fuse import row_broadcasts, row_reused_values"
    assert violation.rule == "codegen/ may import only ir/, not jitflow.passes.fuse"
    assert str(violation) == ("codegen/cpu/module.py:5: `from ...passes.fuse import "
                              "row_broadcasts, row_reused_values`: codegen/ may import only ir/, "
                              "not jitflow.passes.fuse")


def test_checker_reports_each_rule(tmp_path):
    cases = {
        ("ir/ops.py", "from ..passes import ops\n"):
            "ir/ may import only nothing else of jitflow, not jitflow.passes",
        ("ir/types.py", "import jitflow.frontend\n"):
            "ir/ may import only nothing else of jitflow, not jitflow.frontend",
        ("passes/__init__.py", "from ..codegen import cpu\n"):
            "passes/ may import only ir/, not jitflow.codegen.cpu",
        ("runtime/__init__.py", "from .. import frontend\n"):
            "runtime/ may import only codegen/, ir/, not jitflow.frontend",
        ("frontend/jit.py", "def f():\n    from ..nn import losses\n"):
            "frontend/ may import only codegen/, ir/, passes/, runtime/, not jitflow.nn.losses",
        ("frontend/state.py", "from jitflow import export\n"):
            "frontend/ may import only codegen/, ir/, passes/, runtime/, not jitflow.export",
    }
    for (name, text), rule in cases.items():
        violations = _violations(tmp_path / name.replace("/", "_"), name, text)
        assert [v.rule for v in violations] == [rule], (name, text)


def test_checker_holds_the_library_to_the_public_api(tmp_path):
    cases = {
        ("nn/losses.py", "from ..frontend.state import Variable\n"): "jitflow.frontend.state",
        ("nn/losses.py", "from ..frontend import state\n"): "jitflow.frontend.state",
        ("nn/losses.py", "import jitflow.frontend.jit\n"): "jitflow.frontend.jit",
        ("nn/losses.py", "from ..ir import DType\n"): "jitflow.ir",
        ("nn/losses.py", "from .. import cli\n"): "jitflow.cli",
        ("export/__init__.py", "from ..passes import ops\n"): "jitflow.passes",
    }
    for (name, text), target in cases.items():
        violations = _violations(tmp_path / name.replace("/", "_") / str(len(text)), name, text)
        assert len(violations) == 1, (name, text, violations)
        assert violations[0].rule.startswith(f"{name.split('/')[0]}/ may import only the public "
                                             "API"), violations[0]
        assert violations[0].rule.endswith(f"not {target}"), violations[0]


def test_checker_asks_for_a_rule_for_a_new_folder(tmp_path):
    (violation,) = _violations(tmp_path, "distribute/__init__.py", "from ..ir import ops\n")
    assert violation.rule == "distribute/ has no import rule: add it to this test's table"
