"""lit configuration of the FileCheck tests: ``lit tests/filecheck`` runs them all.

A test is a file with ``RUN:`` lines: ``.hlo`` files run ``jitflow opt`` (or
``jitflow passes``) on themselves, ``.py`` files ``jitflow dump`` on a function they
define.  ``jitflow`` and ``filecheck`` run under the Python that runs lit, so the
package that Python imports is the one tested; ``not CMD`` expects CMD to fail and
``2>&1`` sends its errors down the pipe (lit's internal shell).
"""

# lit executes this file with ``config`` and ``lit_config`` defined.
# ruff: noqa: F821

import os
import shlex
import sys
import tempfile

import lit.formats

config.name = "jitflow"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".hlo", ".py"]
# Passes that the negative tests load with --load-pass-plugin: inputs, not tests.
config.excludes = ["plugins", "lit.cfg.py"]
config.test_source_root = os.path.dirname(__file__)
# lit writes its Output/ folders and timings here, never into the source tree
# (``--param exec_root=DIR`` gives each run its own: tests/test_filecheck.py does).
config.test_exec_root = lit_config.params.get(
    "exec_root", os.path.join(tempfile.gettempdir(), f"jitflow-lit-{os.getuid()}"))

python = shlex.quote(sys.executable)
# Whole words at a command's position only: never part of a path or a longer name.
for tool in ("filecheck", "jitflow"):
    config.substitutions.append((rf"(?<![\w./%-]){tool}(?![\w./-])", f"{python} -m {tool}"))

# lit runs commands in a clean environment: keep what decides which jitflow is imported
# and where it caches.
for name, value in os.environ.items():
    if name in ("PYTHONPATH", "HOME", "XDG_CACHE_HOME") or name.startswith("JITFLOW_"):
        config.environment[name] = value
# Unbuffered, ``2>&1`` interleaves standard output and errors in the order the program
# wrote them (buffered, all of standard output would come last).
config.environment["PYTHONUNBUFFERED"] = "1"
