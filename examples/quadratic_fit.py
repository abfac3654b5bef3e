"""Fit a quadratic model to noisy data, in the style of TensorFlow's "basics" guide.

The model is y = w_q x² + w_l x + b (a ``jitflow.Module`` of three ``Variable``s),
fitted by minibatch SGD to 201 noisy samples of x² + 2x − 5 on [−2, 2]: batches
of 32, 100 epochs, the gradient taken with ``GradientTape`` inside a jitted
train step (the variables and the optimizer's state are its implicit inputs and
outputs).  Prints the mean batch loss every 10 epochs and, when matplotlib is
installed, saves a PNG of the data, the ground truth and the predictions.

    python examples/quadratic_fit.py [--epochs 100] [--png quadratic_fit.png]
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import numpy as np

import jitflow
from jitflow import GradientTape, Variable, losses, optimizers, random


def ground_truth(x: np.ndarray) -> np.ndarray:
    return x ** 2 + 2 * x - 5


def make_data(count: int = 201, noise: float = 1.0, seed: int = 0) -> tuple[np.ndarray, ...]:
    x = np.linspace(-2, 2, count, dtype=np.float32)
    y = ground_truth(x) + noise * random.normal(random.key(seed), x.shape, np.float32)
    return x, y.astype(np.float32)


class Quadratic(jitflow.Module):
    """y = w_q x² + w_l x + b, with the weights drawn from a seeded normal."""

    def __init__(self, seed: int = 1) -> None:
        super().__init__()
        weights = random.normal(random.key(seed), (3,), np.float32)
        self.w_q = Variable(weights[0], name="w_q")
        self.w_l = Variable(weights[1], name="w_l")
        self.b = Variable(weights[2], name="b")

    def __call__(self, x):
        return self.w_q * x ** 2 + self.w_l * x + self.b


def make_train_step(model: Quadratic, learning_rate: float) -> Callable:
    optimizer = optimizers.SGD(learning_rate)

    @jitflow.jit
    def train_step(x, y):
        with GradientTape() as tape:
            loss = losses.mean_squared_error(y, model(x))
        variables = model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    return train_step


def train(model: Quadratic, x: np.ndarray, y: np.ndarray, epochs: int = 100,
          batch_size: int = 32, learning_rate: float = 0.01, seed: int = 2,
          log: Callable[[str], None] | None = print, log_every: int = 10) -> list[float]:
    """Minibatch SGD over shuffled batches; returns the mean batch loss of every epoch."""
    train_step = make_train_step(model, learning_rate)
    shuffle = np.random.default_rng(seed)
    history = []
    for epoch in range(epochs):
        order = shuffle.permutation(len(x))
        batch_losses = [train_step(x[order[i:i + batch_size]], y[order[i:i + batch_size]])
                        for i in range(0, len(x), batch_size)]
        history.append(float(np.mean(batch_losses)))
        if log is not None and epoch % log_every == 0:
            log(f"epoch {epoch:3d}: mean squared error {history[-1]:.4f}")
    return history


def save_plot(path: str, x: np.ndarray, y: np.ndarray, model: Quadratic) -> bool:
    """The data, the ground truth and the fitted curve as a PNG; False without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(x, y, ".", label="data", alpha=0.6)
    axes.plot(x, ground_truth(x), label="ground truth")
    axes.plot(x, model(x), label="predictions")
    axes.set_title("quadratic fit (jitflow: Module + GradientTape + SGD under jit)")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--png", default="quadratic_fit.png")
    args = parser.parse_args(argv)
    x, y = make_data()
    model = Quadratic()
    start = time.perf_counter()
    history = train(model, x, y, args.epochs, args.batch_size, args.learning_rate)
    seconds = time.perf_counter() - start
    print(f"trained {args.epochs} epochs in {seconds:.3f} s (compilation included): "
          f"w_q={float(model.w_q):.3f} w_l={float(model.w_l):.3f} b={float(model.b):.3f} "
          f"(truth 1, 2, -5), final loss {history[-1]:.4f}")
    if save_plot(args.png, x, y, model):
        print(f"saved {args.png}")
    else:
        print("matplotlib is not installed: no plot")


if __name__ == "__main__":
    main()
