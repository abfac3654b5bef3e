"""Reverse-mode autodiff for traced code: ``grad``, ``value_and_grad`` and ``vjp`` (``grad``),
and TensorFlow's ``GradientTape`` (``tape``), both on the IR transform ``ir.autodiff``."""

from .grad import grad, value_and_grad, vjp
from .tape import GradientTape

__all__ = ["GradientTape", "grad", "value_and_grad", "vjp"]
