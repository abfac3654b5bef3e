"""Settings for the whole test suite."""

from __future__ import annotations

import pytest

import jitflow
from jitflow.ir import op_table
from jitflow.passes import registry


@pytest.fixture(autouse=True, scope="session")
def verify_after_every_pass():
    """Every jitted function verifies the IR after each pass of its pipeline."""
    saved = jitflow.config.verify_passes
    jitflow.config.verify_passes = True
    yield
    jitflow.config.verify_passes = saved


@pytest.fixture
def pass_registry(monkeypatch):
    """Passes registered (and entry points loaded) during the test are forgotten afterwards."""
    monkeypatch.setattr(registry, "_PASSES", dict(registry._PASSES))
    monkeypatch.setattr(registry, "_LOADED_ENTRY_POINTS", set(registry._LOADED_ENTRY_POINTS))


@pytest.fixture
def custom_call_registry():
    """Custom-call targets registered during the test are removed afterwards."""
    saved = dict(op_table.CUSTOM_CALL_TARGETS)
    yield
    op_table.CUSTOM_CALL_TARGETS.clear()
    op_table.CUSTOM_CALL_TARGETS.update(saved)
