"""Frontend: Python functions to IR (tracing through NumPy protocols, AutoGraph, autodiff).

Folders by job: ``trace/`` (the tracer, emitting IR, promotion, pytrees, traced control
flow), ``numpy/`` (the NumPy API), ``autograph/``, ``autodiff/`` (``grad``, the tape);
``jit.py`` is the ``jit`` object, ``state.py`` the ``Variable``, ``random.py`` is
``jitflow.random``.  What this package exports is the public API the library above it
(``nn/``, ``data/``, ``export/``) builds on.

``jit`` traces NumPy code by running it on ``Tracer`` values; NumPy 2's own type
resolution (NEP 50) decides every dtype.  Where the traced program cannot do
what NumPy does, the difference is deliberate and listed here:

* ``astype`` from float to int truncates like NumPy for in-range values; out of
  range it saturates and NaN becomes 0 (the IR's ``convert``), where NumPy's
  result is platform-defined.
* A *traced* index out of range is clamped (XLA's ``dynamic-slice``); static
  indices raise ``TracingIndexError`` like NumPy's IndexError.
* A Python int *argument* is a weak int64 parameter: ``int8_array + n`` wraps
  where NumPy would raise for an out-of-range ``n`` (it cannot be checked while
  tracing).  A Python int *literal* raises like NumPy (``ScalarOverflowError``).
* Integer ``**`` with a negative traced exponent gives 0 (1 or -1 for bases 1
  and -1) where NumPy raises.
"""

from . import autograph, random
from .autodiff import GradientTape, grad, value_and_grad, vjp
from .jit import Config, Jitted, config, interpreter_mode, jit
from .numpy import methods as _methods
from .numpy.api import supported_functions
from .state import Variable, allow_variable_creation
from .trace.tracer import Tracer

_methods.install()

__all__ = ["Config", "GradientTape", "Jitted", "Tracer", "Variable", "allow_variable_creation",
           "autograph", "config", "grad", "interpreter_mode", "jit", "random",
           "supported_functions", "value_and_grad", "vjp"]
