"""Passes: IR to better IR (pass manager, custom passes, the optimization pipeline).

Built in: ``simplify`` (constant folding, algebraic identities), ``cse``,
``dce``, ``fuse`` (producer-consumer and sibling fusion into ``fusion``
instructions, one loop nest each), then layout and buffer assignment;
``DEFAULT_PIPELINE`` runs them in that order.
"""

from __future__ import annotations

from . import buffers as _buffers  # noqa: F401  (the built-in passes register themselves on import)
from . import cse as _cse  # noqa: F401
from . import dce as _dce  # noqa: F401
from . import fuse as _fuse  # noqa: F401
from . import layout as _layout  # noqa: F401
from . import simplify as _simplify  # noqa: F401
from .base import Pass, PassError, PassOption, PipelineError, PluginError, option
from .manager import DumpIR, PassEvent, PassManager, PassTiming
from .match import constant_value, splat_value
from .pipeline import (DEFAULT_PIPELINE, PipelineEdit, build_pipeline, format_pipeline,
                       insert_after, insert_before, parse_pipeline, remove, resolve_pipeline)
from .registry import (ENTRY_POINT_GROUP, get_pass, load_pass_plugin, register_pass,
                       registered_passes)
from .rewrite import (PatternRewriter, RewriteError, RewritePattern, apply_patterns_greedily,
                      pattern)

__all__ = [
    "DEFAULT_PIPELINE", "DumpIR", "ENTRY_POINT_GROUP", "Pass", "PassError", "PassEvent",
    "PassManager", "PassOption", "PassTiming", "PatternRewriter", "PipelineEdit", "PipelineError",
    "PluginError", "RewriteError", "RewritePattern", "apply_patterns_greedily", "build_pipeline",
    "constant_value", "format_pipeline", "get_pass", "insert_after", "insert_before",
    "load_pass_plugin", "option", "parse_pipeline", "pattern", "register_pass",
    "registered_passes", "remove", "resolve_pipeline", "splat_value",
]
