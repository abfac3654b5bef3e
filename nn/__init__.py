"""The model library: ``Module`` (a container of variables), ``optimizers`` and ``losses``;
layers, models, metrics, callbacks and functional ops come next.

Built on the compiler's public API only (``jitflow.frontend``'s exports and ``errors``),
as a user's library would be; the import-rule test holds that.
"""

from . import losses, optimizers
from .module import Module

__all__ = ["Module", "losses", "optimizers"]
