"""Passes under jit: the default pipeline, whole pipelines and edits, verification."""

from __future__ import annotations

import numpy as np
import pytest

import jitflow
from jitflow import config, jit
from jitflow.ir import Module
from jitflow.passes import (Pass, PassError, PipelineError, format_pipeline, insert_after,
                            insert_before, remove)

from passes_util import assert_same, opcodes

X = np.array([[1.5, -0.0, np.nan], [np.inf, -2.0, 0.25]], dtype=np.float32)


def messy(x):
    y = (x * 1.0).T.T
    return np.sum(y - 0.0, axis=1) + np.sum(x, axis=1)


def test_lower_runs_the_default_pipeline_and_trace_does_not():
    f = jit(messy, backend="interpreter")
    assert format_pipeline(f.passes).startswith("simplify,cse,dce,fuse")
    lowered = f.lower(X)
    assert "transpose" not in opcodes(lowered) and "multiply" not in opcodes(lowered)
    assert opcodes(lowered).count("reduce") == 1  # the two sums of x merged
    traced = f.trace(X)
    assert "transpose" in opcodes(traced) and opcodes(traced).count("reduce") == 2


def test_the_pipeline_keeps_results_bit_for_bit():
    optimized = jit(messy, backend="interpreter")(X)
    unoptimized = jit(messy, backend="interpreter", passes="")(X)
    assert_same(optimized, unoptimized)


def test_a_whole_pipeline():
    f = jit(messy, backend="interpreter", passes="cse")
    assert [p.name for p in f.passes] == ["cse"]
    assert "transpose" in opcodes(f.lower(X))


def test_edits_of_the_default_pipeline(pass_registry):
    runs: list[str] = []

    @jitflow.register_pass("record")
    def record(module: Module) -> bool:
        runs.append(module.name)
        return False

    @jit(backend="interpreter", passes=[insert_after("simplify", "record"), remove("dce")])
    def f(x):
        return x + 1

    assert format_pipeline(f.passes).startswith("simplify,record,cse,fuse")
    f(X)
    f(X)  # cached: the pipeline ran once
    assert runs == ["jit_f"]
    g = jit(messy, passes=insert_before("cse", Recording()), backend="interpreter")
    assert [p.name for p in g.passes][:5] == ["simplify", "recording", "cse", "dce", "fuse"]


class Recording(Pass):
    name = "recording"

    def run(self, module: Module) -> bool:
        return False


class Breaks(Pass):
    name = "breaks"

    def run(self, module: Module) -> bool:
        module.entry.root.type = module.entry.parameters[0].type.with_shape((7,))
        return True


def test_a_bad_pipeline_fails_where_jit_is_applied():
    with pytest.raises(PipelineError, match="unknown pass 'smplify'"):
        jit(messy, passes="smplify")
    with pytest.raises(PipelineError, match="no pass 'absent' in the pipeline"):
        jit(messy, passes=insert_after("absent", "cse"))


def test_verify_names_the_pass_that_breaks_the_ir(monkeypatch):
    f = jit(messy, backend="interpreter", passes=[Breaks()], verify=True)
    with pytest.raises(PassError, match="pass 'breaks' left invalid IR"):
        f(X)
    # verify=None follows config.verify_passes (the test suite turns it on).
    g = jit(messy, backend="interpreter", passes=[Breaks()])
    with pytest.raises(PassError, match="pass 'breaks' left invalid IR"):
        g.lower(X)
    monkeypatch.setattr(config, "verify_passes", False)
    assert jit(messy, backend="interpreter", passes=[Breaks()]).lower(X).entry.root.type.shape == (7,)
