"""Analyses of IR that several stages share: passes, both backends and the runtime.

Each module answers one question about instructions or computations and changes
nothing.  Stages import the module they need by its path
(``from jitflow.ir.analysis.dots import DotDimensions``); codegen takes its
analyses from here, never from a pass.
"""
