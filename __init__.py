"""jitflow: a small graph compiler for NumPy-style array programs."""

from ._version import __version__
from .errors import (ArgumentError, BackendError, ConcretizationError, InterpreterError, IRError,
                     JitflowError, JitflowRetraceWarning, ParseError, ScalarOverflowError,
                     ShapeError, SourceLocation, TracingError, TracingIndexError, TracingTypeError,
                     UnsupportedError, VerificationError)
from .frontend import autograph, config, interpreter_mode, jit
from .passes import register_pass
from .frontend.autodiff import grad, value_and_grad, vjp
from .errors import AutodiffError

__all__ = ["ArgumentError", "BackendError", "ConcretizationError", "IRError", "InterpreterError",
           "JitflowError", "JitflowRetraceWarning", "ParseError", "ScalarOverflowError",
           "ShapeError", "SourceLocation", "TracingError", "TracingIndexError", "TracingTypeError",
           "UnsupportedError", "VerificationError", "__version__", "config", "interpreter_mode",
           "jit", "register_pass"]
__all__ += ["AutodiffError", "grad", "value_and_grad", "vjp"]
from .errors import GradientTapeError, VariableError
from .frontend import losses, optimizers, random
from .frontend.state import Module, Variable
from .frontend.tape import GradientTape

__all__ += ["GradientTape", "GradientTapeError", "Module", "Variable", "VariableError", "losses",
            "optimizers", "random"]
from .errors import AutoGraphError, BranchVariableError, LoopVariableError, TracedListAppendError

__all__ += ["AutoGraphError", "BranchVariableError", "LoopVariableError", "TracedListAppendError",
            "autograph"]
