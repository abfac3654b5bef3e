"""Classify iris flowers with a 4-10-20-10-3 MLP: Module, GradientTape, Adam, a jitted step.

The data is scikit-learn's bundled copy of the iris data set (150 flowers, 4
features, 3 species), split 80/20 with every species in proportion, features
standardized with the training split's statistics.  Training minimizes the
softmax cross-entropy with Adam on shuffled minibatches; the train step and the
evaluation are jitted.

    python examples/iris_mlp.py [--epochs 50]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import jitflow
from jitflow import GradientTape, Variable, losses, optimizers, random

LAYER_SIZES = (4, 10, 20, 10, 3)


def load_iris() -> tuple[np.ndarray, np.ndarray]:
    """Features (float32[150, 4]) and species (int64[150]); SystemExit without scikit-learn."""
    try:
        from sklearn.datasets import load_iris as sklearn_load_iris
    except ImportError:
        raise SystemExit("examples/iris_mlp.py loads the iris data from scikit-learn's bundled "
                         "copy: install it with `pip install scikit-learn`") from None
    data = sklearn_load_iris()
    return data.data.astype(np.float32), data.target.astype(np.int64)


def split(features: np.ndarray, labels: np.ndarray, test_fraction: float = 0.2,
          seed: int = 1) -> tuple[np.ndarray, ...]:
    """A stratified train/test split, features standardized by the training statistics.

    With 30 test flowers one misclassification costs 3.3%: over split seeds 0-3 this
    example's test accuracy was 0.93-1.0 (seed 1, the default: 1.0 for 5 initializations).
    """
    shuffle = np.random.default_rng(seed)
    train_index, test_index = [], []
    for species in np.unique(labels):
        members = shuffle.permutation(np.flatnonzero(labels == species))
        held_out = int(round(len(members) * test_fraction))
        test_index.extend(members[:held_out])
        train_index.extend(members[held_out:])
    train_index, test_index = np.array(train_index), np.array(test_index)
    mean = features[train_index].mean(axis=0)
    std = features[train_index].std(axis=0)
    standardized = ((features - mean) / std).astype(np.float32)
    return (standardized[train_index], labels[train_index], standardized[test_index],
            labels[test_index])


class Dense(jitflow.Module):
    """x @ w + b: He-initialized weights from a jitflow.random key."""

    def __init__(self, key: np.ndarray, fan_in: int, fan_out: int) -> None:
        super().__init__()
        scale = np.float32(np.sqrt(2.0 / fan_in))
        self.w = Variable(random.normal(key, (fan_in, fan_out), np.float32) * scale, name="w")
        self.b = Variable(np.zeros(fan_out, np.float32), name="b")

    def __call__(self, x):
        return x @ self.w + self.b


class MLP(jitflow.Module):
    def __init__(self, sizes: tuple[int, ...] = LAYER_SIZES, seed: int = 0) -> None:
        super().__init__()
        keys = random.split(random.key(seed), len(sizes) - 1)
        self.layers = [Dense(k, n_in, n_out) for k, n_in, n_out in zip(keys, sizes, sizes[1:])]

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = np.maximum(layer(x), 0)
        return self.layers[-1](x)


def train(model: MLP, x: np.ndarray, y: np.ndarray, epochs: int = 50, batch_size: int = 16,
          learning_rate: float = 0.01, seed: int = 1, log=print) -> list[float]:
    optimizer = optimizers.Adam(learning_rate)

    @jitflow.jit
    def train_step(x, y):
        with GradientTape() as tape:
            loss = losses.sparse_softmax_cross_entropy(y, model(x))
        variables = model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    shuffle = np.random.default_rng(seed)
    history = []
    for epoch in range(epochs):
        order = shuffle.permutation(len(x))
        batch_losses = [train_step(x[order[i:i + batch_size]], y[order[i:i + batch_size]])
                        for i in range(0, len(x), batch_size)]
        history.append(float(np.mean(batch_losses)))
        if log is not None and epoch % 10 == 0:
            log(f"epoch {epoch:3d}: cross-entropy {history[-1]:.4f}")
    return history


def accuracy(model: MLP, x: np.ndarray, y: np.ndarray) -> float:
    predict = jitflow.jit(lambda x: np.argmax(model(x), axis=-1))
    return float(np.mean(predict(x) == y))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=50)
    args = parser.parse_args(argv)
    x_train, y_train, x_test, y_test = split(*load_iris())
    model = MLP()
    start = time.perf_counter()
    train(model, x_train, y_train, epochs=args.epochs)
    seconds = time.perf_counter() - start
    print(f"trained in {seconds:.2f} s: train accuracy {accuracy(model, x_train, y_train):.3f}, "
          f"test accuracy {accuracy(model, x_test, y_test):.3f}")


if __name__ == "__main__":
    sys.exit(main())
