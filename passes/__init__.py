"""Passes: IR to better IR (pass manager, custom passes, the optimization pipeline)."""

from __future__ import annotations

from ..errors import JitflowError

# Name -> pass.  Empty until the pass manager and the built-in passes land; the CLI and
# pipelines already resolve names through get_pass so that they need no change then.
_PASSES: dict[str, object] = {}


def registered_passes() -> dict[str, object]:
    """Every pass that can be named in a pipeline, by name (a copy: editing it changes nothing)."""
    return dict(_PASSES)


def get_pass(name: str) -> object:
    """The pass registered as ``name``; ``JitflowError`` listing the available names if none is."""
    try:
        return _PASSES[name]
    except KeyError:
        if _PASSES:
            hint = "available: " + ", ".join(sorted(_PASSES))
        else:
            hint = "no passes are registered yet"
        raise JitflowError(f"unknown pass '{name}' ({hint})") from None


__all__ = ["get_pass", "registered_passes"]
