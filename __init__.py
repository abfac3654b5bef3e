"""jitflow: a small graph compiler for NumPy-style array programs."""

__version__ = "0.1.0"

from .errors import (ArgumentError, BackendError, ConcretizationError, InterpreterError, IRError,
                     JitflowError, JitflowRetraceWarning, ParseError, ScalarOverflowError,
                     ShapeError, SourceLocation, TracingError, TracingIndexError, TracingTypeError,
                     UnsupportedError, VerificationError)
from .frontend import config, interpreter_mode, jit
from .passes import register_pass

__all__ = ["ArgumentError", "BackendError", "ConcretizationError", "IRError", "InterpreterError",
           "JitflowError", "JitflowRetraceWarning", "ParseError", "ScalarOverflowError",
           "ShapeError", "SourceLocation", "TracingError", "TracingIndexError", "TracingTypeError",
           "UnsupportedError", "VerificationError", "__version__", "config", "interpreter_mode",
           "jit", "register_pass"]
