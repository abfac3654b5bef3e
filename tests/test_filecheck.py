"""FileCheck tests: IR text in, a `jitflow` command, CHECK lines over its output.

Each ``.hlo`` file under ``filecheck/`` (subfolders included) holds ``// RUN:``
lines in lit's style, e.g. ``// RUN: jitflow opt %s | filecheck %s``; ``%S`` is
the file's folder; ``not CMD`` expects CMD to fail and ``2>&1`` sends its errors
down the pipe.  ``jitflow`` and ``filecheck`` run under this test's Python so
the installed package is what gets tested.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

FILECHECK_DIR = Path(__file__).parent / "filecheck"
TOOLS = {"jitflow": [sys.executable, "-m", "jitflow"],
         "filecheck": [sys.executable, "-m", "filecheck"]}


def run_lines(path: Path) -> list[str]:
    return [line.split("RUN:", 1)[1].strip() for line in path.read_text().splitlines()
            if line.lstrip().startswith("// RUN:")]


def run_pipeline(command: str, path: Path) -> None:
    data = b""
    command = command.replace("%s", shlex.quote(str(path)))
    command = command.replace("%S", shlex.quote(str(path.parent)))
    for stage in command.split("|"):
        words = shlex.split(stage)
        expect_failure = words[0] == "not"
        if expect_failure:
            words = words[1:]
        merge_stderr = "2>&1" in words
        words = [w for w in words if w != "2>&1"]
        if words[0] not in TOOLS:
            raise ValueError(f"{path.name}: unknown tool {words[0]!r} in RUN line")
        result = subprocess.run(TOOLS[words[0]] + words[1:], input=data, capture_output=True,
                                timeout=120)
        failed = result.returncode != 0
        if failed != expect_failure:
            pytest.fail(f"{path.name}: `{stage.strip()}` exited {result.returncode}\n"
                        f"{result.stdout.decode()}\n{result.stderr.decode()}")
        data = result.stdout + (result.stderr if merge_stderr else b"")


@pytest.mark.parametrize("path", sorted(FILECHECK_DIR.rglob("*.hlo")),
                         ids=lambda p: p.relative_to(FILECHECK_DIR).as_posix())
def test_filecheck(path: Path) -> None:
    commands = run_lines(path)
    assert commands, f"{path.name} has no RUN line"
    for command in commands:
        run_pipeline(command, path)
