"""jitflow: a small graph compiler for NumPy-style array programs."""

__version__ = "0.1.0"

from .errors import (InterpreterError, IRError, JitflowError, ParseError, SourceLocation,
                     VerificationError)

__all__ = ["IRError", "InterpreterError", "JitflowError", "ParseError", "SourceLocation",
           "VerificationError", "__version__"]
