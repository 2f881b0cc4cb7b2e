"""Overrides of train_step / test_step / predict_step / compute_loss are what fit, evaluate and predict run,
as in Keras's guide "Customizing what happens in fit()"."""

import numpy as np
import pytest

import clearconv as keras

RNG = np.random.default_rng(0)
X = RNG.normal(size=(8, 3)).astype("float32")
Y = RNG.normal(size=(8, 2)).astype("float32")
KERNEL = RNG.normal(size=(3, 2)).astype("float32")
L2 = 0.1


def dense_model(model_class=keras.Model):
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(2, name="dense")(inputs)
    model = model_class(inputs, outputs)
    model.get_layer("dense").set_weights([KERNEL, np.zeros(2, "float32")])
    return model


class L2Loss(keras.Model):
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        kernel = self.get_layer("dense").kernel
        return super().compute_loss(x, y, y_pred, sample_weight, training) + L2 * keras.ops.sum(kernel * kernel)


def test_compute_loss_override_trains_with_its_term():
    model = dense_model(L2Loss)
    model.compile(keras.optimizers.SGD(0.1), "mse")
    history = model.fit(X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0)

    # By hand: SGD on mean((xW + b - y)^2) + L2 * sum(W^2), batch after batch.
    kernel, bias, losses = KERNEL.astype(np.float64), np.zeros(2), []
    for _ in range(2):
        epoch = []
        for start in (0, 4):
            x, y = X[start:start + 4], Y[start:start + 4]
            error = x @ kernel + bias - y
            epoch.append(np.mean(error ** 2) + L2 * np.sum(kernel ** 2))
            kernel, bias = (kernel - 0.1 * (2 * x.T @ error / error.size + 2 * L2 * kernel),
                            bias - 0.1 * 2 * error.sum(0) / error.size)
        losses.append(np.mean(epoch))
    trained_kernel, trained_bias = model.get_layer("dense").get_weights()
    np.testing.assert_allclose(trained_kernel, kernel, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(trained_bias, bias, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(history.history["loss"], losses, rtol=1e-5)
    # evaluate's default test_step uses the override too.
    expected = np.mean((X @ kernel + bias - Y) ** 2) + L2 * np.sum(kernel ** 2)
    np.testing.assert_allclose(model.evaluate(X, Y, batch_size=8, verbose=0), expected, rtol=1e-5)


class GuideTrainStep(keras.Model):
    """The guide's train_step, written with clearconv's tape."""

    calls = 0

    def train_step(self, data):
        self.calls += 1
        x, y = data
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        loss.backward()
        self.optimizer.apply([v.grad for v in self.trainable_weights], self.trainable_weights)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def test_custom_train_step_matches_the_default_fit():
    results = []
    for model_class in (keras.Model, GuideTrainStep):
        model = dense_model(model_class)
        model.compile(keras.optimizers.SGD(0.1), "mse", metrics=["mae"])
        history = model.fit(X, Y, batch_size=4, epochs=3, shuffle=False, verbose=0)
        batch = model.train_on_batch(X, Y, return_dict=True)
        results.append((model.get_weights(), history.history, batch))
    assert model.calls == 2 * 3 + 1  # the override ran, once per batch
    (default_weights, default_history, default_batch), (weights, history, batch) = results
    for got, expected in zip(weights, default_weights):
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    assert sorted(history) == sorted(default_history) == ["loss", "mae"]
    for name in default_history:
        np.testing.assert_allclose(history[name], default_history[name], rtol=1e-6)
    assert sorted(batch) == sorted(default_batch)
    for name in default_batch:
        np.testing.assert_allclose(batch[name], default_batch[name], rtol=1e-6)


class CustomInference(keras.Model):
    def test_step(self, data):
        x, y = data
        return {"mean_x": float(np.mean(np.asarray(x))), "mean_y": float(np.mean(y))}

    def predict_step(self, data):
        return {"scaled": super().predict_step(data) * 10.0}


def test_test_step_and_predict_step_overrides_are_used():
    model = dense_model(CustomInference)
    model.compile("sgd", "mse")
    logs = model.evaluate(X, Y, batch_size=8, verbose=0, return_dict=True)
    assert logs == pytest.approx({"mean_x": float(X.mean()), "mean_y": float(Y.mean())})
    assert model.test_on_batch(X, Y, return_dict=True) == pytest.approx(logs)

    expected = (X @ KERNEL) * 10.0
    predicted = model.predict(X, batch_size=3, verbose=0)
    assert list(predicted) == ["scaled"]
    np.testing.assert_allclose(predicted["scaled"], expected, rtol=1e-5)
    np.testing.assert_allclose(model.predict_on_batch(X)["scaled"], expected, rtol=1e-5)


class NotADict(keras.Model):
    def train_step(self, data):
        return 0.5

    def test_step(self, data):
        return [0.5]


def test_a_step_returning_no_dict_is_refused():
    model = dense_model(NotADict)
    model.compile("sgd", "mse")
    with pytest.raises(TypeError, match=r"train_step\(\) must return a dict of logs .* received float"):
        model.fit(X, Y, verbose=0)
    with pytest.raises(TypeError, match=r"test_step\(\) must return a dict of logs .* received list"):
        model.evaluate(X, Y, verbose=0)


def test_metrics_start_with_the_loss_tracker():
    model = dense_model()
    model.compile("sgd", "mse", metrics=["mae"])
    assert [metric.name for metric in model.metrics][0] == "loss"
