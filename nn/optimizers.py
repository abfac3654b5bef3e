"""Optimizers in the Keras style: ``optimizer.apply_gradients(zip(grads, variables))``.

Updates are NumPy expressions assigned to the variables, so the same optimizer
works eagerly and inside ``jit`` (where its state, like every variable, becomes
implicit inputs and outputs of the trace).  The learning rate and the step
counter are non-trainable variables: changing ``optimizer.learning_rate``
between calls of a jitted train step takes effect without retracing.  Slot
variables (momentum, Adam's moments) are created on the first update of each
variable, also when that first update is being traced.

The update rules are Keras's (``keras.optimizers.SGD``, ``Adam``, ``AdamW``), with
the same defaults, so that results can be compared with TensorFlow's.
"""

from __future__ import annotations

import weakref
from typing import Any, Iterable

import numpy as np

from ..errors import ArgumentError
from ..frontend import Variable, allow_variable_creation
from .module import Module


class Optimizer(Module):
    """Base class: subclasses define ``_update(variable, gradient, step)``."""

    def __init__(self, learning_rate: float, name: str) -> None:
        super().__init__(name)
        self._learning_rate = Variable(np.float32(learning_rate), trainable=False,
                                       name=f"{name}.learning_rate")
        self.iterations = Variable(np.int64(0), trainable=False, name=f"{name}.iterations")
        self._slots: dict[int, dict[str, Variable]] = {}  # id(variable) -> its slots
        # Who each id belonged to: an id can be reused once its variable is gone.
        self._slot_owners: dict[int, weakref.ref] = {}

    @property
    def learning_rate(self) -> Variable:
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self._learning_rate.assign(value)

    def apply_gradients(self, grads_and_vars: Iterable[tuple[Any, Variable]]) -> None:
        """One update of each variable by its gradient (pairs with a None gradient are
        skipped, as for variables the loss does not depend on)."""
        pairs = [(grad, variable) for grad, variable in grads_and_vars if grad is not None]
        for index, (grad, variable) in enumerate(pairs):
            if not isinstance(variable, Variable):
                raise ArgumentError(f"{type(self).__name__}.apply_gradients: pair {index} holds "
                                    f"a {type(variable).__name__}, not a jitflow.Variable")
            if tuple(np.shape(grad)) != variable.shape:
                raise ArgumentError(f"{type(self).__name__}.apply_gradients: the gradient of "
                                    f"Variable '{variable.name}' has shape {np.shape(grad)}, the "
                                    f"variable {variable.shape}")
        step = self.iterations + 1  # the 1-based number of this update
        for grad, variable in pairs:
            self._update(variable, grad, step)
        self.iterations.assign(step)

    def minimize(self, loss: Any, variables: list[Variable], tape: Any) -> None:
        """``apply_gradients`` of ``tape.gradient(loss, variables)``."""
        self.apply_gradients(zip(tape.gradient(loss, variables), variables))

    def _update(self, variable: Variable, grad: Any, step: Any) -> None:
        raise NotImplementedError

    def _learning_rate_for(self, variable: Variable) -> Any:
        # Updates are computed in the variable's precision (float64 variables get a float64
        # step; the rate's float32 storage costs them only its rounding).
        return self.learning_rate.value.astype(variable.dtype)

    def _slot(self, variable: Variable, name: str) -> Variable:
        key = id(variable)
        owner = self._slot_owners.get(key)
        if owner is None or owner() is not variable:
            slots_of, owners = self._slots, self._slot_owners

            def forget(reference: weakref.ref) -> None:  # the variable is gone: so are its slots
                if owners.get(key) is reference:
                    del owners[key], slots_of[key]

            self._slot_owners[key] = weakref.ref(variable, forget)
            self._slots[key] = {}
        slots = self._slots[key]
        slot = slots.get(name)
        if slot is None:
            with allow_variable_creation():
                slot = slots[name] = Variable(np.zeros_like(variable._value), trainable=False,
                                              name=f"{variable.name}.{name}")
        return slot


class SGD(Optimizer):
    """Gradient descent, with (Nesterov) momentum when ``momentum > 0``."""

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0,
                 nesterov: bool = False, name: str = "SGD") -> None:
        if not 0.0 <= momentum <= 1.0:
            raise ArgumentError(f"SGD momentum must be in [0, 1], got {momentum}")
        super().__init__(learning_rate, name)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def _update(self, variable: Variable, grad: Any, step: Any) -> None:
        lr = self._learning_rate_for(variable)
        if self.momentum == 0.0:
            variable.assign_sub(lr * grad)
            return
        velocity = self._slot(variable, "momentum")
        new_velocity = self.momentum * velocity.value - lr * grad
        velocity.assign(new_velocity)
        if self.nesterov:
            variable.assign_add(self.momentum * new_velocity - lr * grad)
        else:
            variable.assign_add(new_velocity)


class Adam(Optimizer):
    """Adam (Kingma & Ba), with Keras's bias correction folded into the step size."""

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, name: str = "Adam") -> None:
        super().__init__(learning_rate, name)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)

    def _update(self, variable: Variable, grad: Any, step: Any) -> None:
        lr = self._learning_rate_for(variable)
        t = step.astype(lr.dtype)
        m = self._slot(variable, "m")
        v = self._slot(variable, "v")
        m.assign_add((grad - m.value) * (1 - self.beta_1))
        v.assign_add((grad * grad - v.value) * (1 - self.beta_2))
        alpha = lr * np.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        variable.assign_sub(m.value * alpha / (np.sqrt(v.value) + self.epsilon))


class AdamW(Adam):
    """Adam with decoupled weight decay: ``w -= lr * weight_decay * w`` before each step."""

    def __init__(self, learning_rate: float = 0.001, weight_decay: float = 0.004,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7,
                 name: str = "AdamW") -> None:
        super().__init__(learning_rate, beta_1, beta_2, epsilon, name)
        self.weight_decay = float(weight_decay)

    def _update(self, variable: Variable, grad: Any, step: Any) -> None:
        decay = self._learning_rate_for(variable) * self.weight_decay
        variable.assign_sub(variable.value * decay)
        super()._update(variable, grad, step)
