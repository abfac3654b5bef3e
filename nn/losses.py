"""Loss functions, written with NumPy operations so that they run eagerly, under ``jit``,
and under ``GradientTape`` alike.  Batch losses are means over the leading (batch) axes.

The cross-entropies are computed from logits in the numerically stable forms:
``log_softmax(z) = z - max(z) - log(sum(exp(z - max(z))))`` never overflows, and
``max(z, 0) - z*y + log1p(exp(-|z|))`` is the sigmoid cross-entropy for any ``z``.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from ..errors import ArgumentError


def mean_squared_error(y_true: Any, y_pred: Any) -> Any:
    """mean((y_pred - y_true)**2) over all elements."""
    difference = y_pred - y_true
    return np.mean(difference * difference)


def log_softmax(logits: Any, axis: int = -1) -> Any:
    shifted = logits - np.max(logits, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def softmax(logits: Any, axis: int = -1) -> Any:
    return np.exp(log_softmax(logits, axis))


def softmax_cross_entropy(labels: Any, logits: Any, axis: int = -1) -> Any:
    """Cross-entropy of class probabilities ``labels`` (one-hot or soft) and ``logits``,
    averaged over the batch."""
    _check_same_shape("softmax_cross_entropy", labels, logits)
    return np.mean(-np.sum(labels * log_softmax(logits, axis), axis=axis))


def sparse_softmax_cross_entropy(labels: Any, logits: Any) -> Any:
    """Cross-entropy of integer class ``labels`` (shape ``logits.shape[:-1]``) and
    ``logits`` (classes on the last axis), averaged over the batch."""
    if tuple(np.shape(labels)) != tuple(np.shape(logits))[:-1]:
        raise ArgumentError(f"sparse_softmax_cross_entropy: labels of shape {np.shape(labels)} "
                            f"do not index logits of shape {np.shape(logits)} (labels need the "
                            "logits' shape without the last, class, axis)")
    classes = np.shape(logits)[-1]
    one_hot = (labels[..., None] == np.arange(classes)).astype(logits.dtype)
    return softmax_cross_entropy(one_hot, logits)


def sigmoid_cross_entropy(labels: Any, logits: Any) -> Any:
    """Binary cross-entropy of probabilities ``labels`` and ``logits``, averaged."""
    _check_same_shape("sigmoid_cross_entropy", labels, logits)
    return np.mean(np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits))))


def l2_loss(value: Any) -> Any:
    """sum(value**2) / 2, as ``tf.nn.l2_loss``."""
    return np.sum(value * value) / 2


def l2_regularization(weights: Iterable[Any], scale: float) -> Any:
    """``scale`` times the sum of ``l2_loss`` of each weight (variables or arrays)."""
    total = 0.0
    for weight in weights:
        total = total + l2_loss(weight)
    return scale * total


def _check_same_shape(name: str, labels: Any, logits: Any) -> None:
    if tuple(np.shape(labels)) != tuple(np.shape(logits)):
        raise ArgumentError(f"{name}: labels of shape {np.shape(labels)} and logits of shape "
                            f"{np.shape(logits)} must have the same shape")
