"""The pass manager: runs a pipeline, verifying, dumping and timing between passes.

    manager = PassManager("simplify,cse,dce", verify=True, dump_after="cse")
    changed = manager.run(module)
    print(manager.timing_table())

A pass that raises is reported as a ``PassError`` naming it; with ``verify=True``
so is a pass that leaves IR the verifier rejects, with the verifier's message.
Callbacks (``callback(event)``) run after every pass with a ``PassEvent``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence, TextIO

import numpy as np

from ..errors import JitflowError, VerificationError
from ..ir import Module, print_module, verify
from .base import Pass, PassError, PipelineError, describe_exception
from .pipeline import Pipeline, build_pipeline, format_pipeline


@dataclass(frozen=True)
class PassEvent:
    """What a callback learns after each pass (``index`` counts from 1)."""

    index: int
    pass_: Pass
    module: Module
    changed: bool
    seconds: float


@dataclass(frozen=True)
class PassTiming:
    pass_text: str
    seconds: float
    changed: bool


Callback = Callable[[PassEvent], None]


class PassManager:
    """Runs a pipeline's passes in order on a module.

    ``verify`` checks the IR after each pass; ``dump_after`` ("all" or a pass name) and
    ``dump_dir`` dump it; ``callbacks`` are called after every pass.
    """

    def __init__(self, pipeline: Pipeline = (), *, verify: bool = False,
                 dump_after: str | None = None, dump_dir: str | Path | None = None,
                 dump_stream: TextIO | None = None, callbacks: Sequence[Callback] = ()) -> None:
        self.passes: list[Pass] = build_pipeline(pipeline)
        self.verify = verify
        self.callbacks: list[Callback] = list(callbacks)
        if dump_after is not None or dump_dir is not None:
            self.callbacks.append(DumpIR(self.passes, dump_after or "all", directory=dump_dir,
                                         stream=dump_stream))
        self.timings: list[PassTiming] = []
        self.verify_seconds = 0.0

    @property
    def pipeline(self) -> str:
        """The pipeline as text."""
        return format_pipeline(self.passes)

    def run(self, module: Module) -> bool:
        """Run every pass on ``module`` in place; True if any changed it."""
        self.timings = []
        self.verify_seconds = 0.0
        if self.verify and self.passes:
            self._verify(module, None)
        changed_any = False
        for index, pass_ in enumerate(self.passes, 1):
            start = time.perf_counter()
            changed = self._run_pass(pass_, module)
            seconds = time.perf_counter() - start
            self.timings.append(PassTiming(str(pass_), seconds, changed))
            if self.verify:
                self._verify(module, pass_)
            for callback in self.callbacks:
                callback(PassEvent(index, pass_, module, changed, seconds))
            changed_any = changed_any or changed
        return changed_any

    @staticmethod
    def _run_pass(pass_: Pass, module: Module) -> bool:
        try:
            changed = pass_.run(module)
        except Exception as error:  # a bug in a pass (maybe a plugin's): name the pass
            detail = str(error) if isinstance(error, JitflowError) else describe_exception(error)
            raise PassError(pass_.name, f"failed: {detail}") from error
        if not isinstance(changed, (bool, np.bool_)):
            raise PassError(pass_.name, f"returned {changed!r}; run() must return True when it "
                                       "changed the module and False otherwise")
        return bool(changed)

    def _verify(self, module: Module, after: Pass | None) -> None:
        start = time.perf_counter()
        try:
            verify(module)
        except VerificationError as error:
            if after is None:
                raise VerificationError(f"the IR is invalid before the first pass: "
                                        f"{error}") from None
            raise PassError(after.name, f"left invalid IR: {error}") from None
        finally:
            self.verify_seconds += time.perf_counter() - start

    def timing_table(self) -> str:
        """Time per pass of the last run, and the verifier's, as a table."""
        total = sum(t.seconds for t in self.timings) + self.verify_seconds
        rows = [(t.pass_text, t.seconds, "yes" if t.changed else "no") for t in self.timings]
        if self.verify:
            rows.append(("(verifier)", self.verify_seconds, ""))
        rows.append(("total", total, ""))
        width = max(len("pass"), *(len(row[0]) for row in rows))
        lines = [f"{'pass':<{width}}  {'time (ms)':>10}  {'%':>6}  changed"]
        for label, seconds, changed in rows:
            share = 100.0 * seconds / total if total else 0.0
            row = f"{label:<{width}}  {seconds * 1e3:>10.3f}  {share:>6.1f}  {changed}"
            lines.append(row.rstrip())
        return "\n".join(lines)


class DumpIR:
    """A callback printing the IR after the passes named by ``after`` ("all" or one pass name).

    With a ``directory`` each dump is a file ``NN-name.hlo`` (``NN`` the pass's position);
    otherwise it goes to ``stream`` (standard error by default) under a ``//`` header, so
    that a dump is still HLO text.
    """

    def __init__(self, passes: Sequence[Pass], after: str = "all", *,
                 directory: str | Path | None = None, stream: TextIO | None = None) -> None:
        names = [p.name for p in passes]
        if after != "all" and after not in names:
            raise PipelineError(f"cannot dump after '{after}': it is not in the pipeline "
                                f"({format_pipeline(passes) or 'empty'}); "
                                "give a pass name or 'all'")
        self.after = after
        self.directory = Path(directory) if directory is not None else None
        self.stream = stream

    def __call__(self, event: PassEvent) -> None:
        if self.after not in ("all", event.pass_.name):
            return
        status = "changed" if event.changed else "unchanged"
        header = f"// IR after pass {event.index} '{event.pass_}' ({status})\n"
        text = header + print_module(event.module)
        if self.directory is None:
            (self.stream or sys.stderr).write(text)
            return
        path = self.directory / f"{event.index:02d}-{event.pass_.name}.hlo"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as error:
            raise JitflowError(f"cannot write the IR dump '{path}': "
                               f"{error.strerror or error}") from None
