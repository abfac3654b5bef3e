"""The training examples (examples/quadratic_fit.py, examples/iris_mlp.py) on small budgets."""

from __future__ import annotations

import importlib.util
import pathlib

import numpy as np
import pytest

import jitflow

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quadratic():
    return load("quadratic_fit")


def test_quadratic_fit_recovers_the_coefficients(quadratic, tmp_path, capsys):
    x, y = quadratic.make_data()
    assert x.shape == y.shape == (201,) and x.dtype == y.dtype == np.float32
    model = quadratic.Quadratic()
    assert [v.name for v in model.trainable_variables] == ["w_q", "w_l", "b"]
    history = quadratic.train(model, x, y, epochs=60, log_every=20)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["epoch   0", "epoch  20", "epoch  40"]
    assert history[-1] < 0.2 * history[0]
    # Noise of standard deviation 1 around x^2 + 2x - 5: the loss floor is about 1.
    assert 0.7 < history[-1] < 1.6
    coefficients = [float(model.w_q), float(model.w_l), float(model.b)]
    np.testing.assert_allclose(coefficients, [1.0, 2.0, -5.0], atol=0.35)


def test_quadratic_fit_jitted_training_matches_eager_training(quadratic):
    x, y = quadratic.make_data(count=40)
    eager_model, jitted_model = quadratic.Quadratic(), quadratic.Quadratic()
    optimizer = quadratic.optimizers.SGD(0.01)
    jitted_step = quadratic.make_train_step(jitted_model, 0.01)
    for start in range(0, 40, 16):
        xb, yb = x[start:start + 16], y[start:start + 16]
        with quadratic.GradientTape() as tape:
            loss = quadratic.losses.mean_squared_error(yb, eager_model(xb))
        variables = eager_model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        np.testing.assert_allclose(jitted_step(xb, yb), float(loss), rtol=1e-5)
    for eager, jitted in zip(eager_model.variables, jitted_model.variables):
        np.testing.assert_allclose(jitted.numpy(), eager.numpy(), rtol=1e-5)


def test_quadratic_fit_main_writes_the_plot(quadratic, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "fit.png"
    quadratic.main(["--epochs", "20", "--png", str(png)])
    out = capsys.readouterr().out
    assert "trained 20 epochs" in out and f"saved {png}" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_iris_mlp_reaches_95_percent_test_accuracy(capsys):
    pytest.importorskip("sklearn")
    iris = load("iris_mlp")
    x_train, y_train, x_test, y_test = iris.split(*iris.load_iris())
    assert x_train.shape == (120, 4) and x_test.shape == (30, 4)
    assert np.bincount(y_test).tolist() == [10, 10, 10]
    np.testing.assert_allclose(x_train.mean(axis=0), 0, atol=1e-5)
    model = iris.MLP()
    assert [v.shape for v in model.trainable_variables] == [
        (4, 10), (10,), (10, 20), (20,), (20, 10), (10,), (10, 3), (3,)]
    # The reference interpreter runs the same jitted steps: compiling this train step (forward,
    # backward and Adam for 8 variables) takes several seconds per batch shape on the test
    # machine, while the quadratic-fit tests exercise the compiled path.
    with jitflow.interpreter_mode():
        history = iris.train(model, x_train, y_train, log=None)
        assert history[-1] < 0.1 * history[0]
        assert iris.accuracy(model, x_test, y_test) >= 0.95


def test_iris_mlp_without_scikit_learn_says_what_to_install(monkeypatch):
    iris = load("iris_mlp")
    import builtins
    real_import = builtins.__import__

    def no_sklearn(name, *args, **kwargs):
        if name.startswith("sklearn"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sklearn)
    with pytest.raises(SystemExit, match="pip install scikit-learn"):
        iris.load_iris()
