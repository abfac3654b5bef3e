"""jitflow: a small graph compiler for NumPy-style array programs.

The compiler's public API (``jit``, ``grad``, ``Variable``, ``GradientTape``,
``jitflow.random``) comes from ``frontend``; the model library (``Module``,
``optimizers``, ``losses``) from ``nn``, which is built on that API.
"""

from ._version import __version__
from .errors import (ArgumentError, AutodiffError, AutoGraphError, BackendError,
                     BranchVariableError, ConcretizationError, GradientTapeError, InterpreterError,
                     IRError, JitflowError, JitflowRetraceWarning, LoopVariableError, ParseError,
                     ScalarOverflowError, ShapeError, SourceLocation, TracedListAppendError,
                     TracingError, TracingIndexError, TracingTypeError, UnsupportedError,
                     VariableError, VerificationError)
from .frontend import (GradientTape, Variable, autograph, config, grad, interpreter_mode, jit,
                       random, value_and_grad, vjp)
from .nn import Module, losses, optimizers
from .passes import register_pass

__all__ = ["ArgumentError", "AutoGraphError", "AutodiffError", "BackendError",
           "BranchVariableError", "ConcretizationError", "GradientTape", "GradientTapeError",
           "IRError", "InterpreterError", "JitflowError", "JitflowRetraceWarning",
           "LoopVariableError", "Module", "ParseError", "ScalarOverflowError", "ShapeError",
           "SourceLocation", "TracedListAppendError", "TracingError", "TracingIndexError",
           "TracingTypeError", "UnsupportedError", "Variable", "VariableError",
           "VerificationError", "__version__", "autograph", "config", "grad", "interpreter_mode",
           "jit", "losses", "optimizers", "random", "register_pass", "value_and_grad", "vjp"]
