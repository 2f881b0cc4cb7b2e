"""Training never corrupts a model silently.

* A step whose loss or gradients are not finite is refused before anything changes: the weights
  (BatchNormalization's moving statistics among them) and the optimizer's state (iterations, Adam's
  moments) stay those of the previous batch, in ``fit`` and in ``train_on_batch`` alike, and the
  message names the first weight whose gradient is not finite.
* Data with 0 samples is refused by every training and inference method with an error naming the
  argument; a layer called directly on a batch of 0 returns an empty output of the right shape, and
  BatchNormalization in training leaves its moving statistics as they are (PyTorch's behaviour).
* Arguments that cannot be honoured are refused with an error naming them.

The oracles: a twin model trained on the batches before the refused one (with the same initial
weights), PyTorch for the empty batch, NumPy's ``isfinite`` for the gradient check.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from clearconv import layers as L
from clearconv import optimizers
from clearconv.autograd import Tensor, Variable
from clearconv.data.py_dataset import PyDataset
from clearconv.models import Model, Sequential

# -inf times the ReLU's zero gradient, and NaN inputs, warn in NumPy's matmul: that is the case under test.
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")

rng = np.random.default_rng(0)
X = rng.normal(size=(4, 3)).astype(np.float32)
Y = rng.normal(size=(4, 2)).astype(np.float32)


def relu_net(batch_norm=False):
    """3 -> Dense(4, relu) -> [BatchNormalization] -> Dense(2), with a positive first kernel: an input of
    -inf in feature 0 makes every first-layer unit -inf, which the ReLU turns into 0 (a finite loss)."""
    stack = [L.Input((3,)), L.Dense(4, activation="relu", kernel_initializer="ones")]
    if batch_norm:
        stack.append(L.BatchNormalization(momentum=0.5))
    stack.append(L.Dense(2))
    model = Sequential(stack)
    model.compile(optimizer=optimizers.Adam(0.01), loss="mse")
    return model


def twin(model):
    """A second relu_net with model's weights and a fresh optimizer."""
    other = relu_net(batch_norm=len(model.layers) == 3)
    other.set_weights(model.get_weights())
    return other


def masked_minus_inf(x):
    """x with -inf in feature 0 of sample 0: the loss stays finite, the first kernel's gradient is NaN
    (the ReLU's zero gradient times the input's -inf)."""
    x = x.copy()
    x[0, 0] = -np.inf
    return x


def assert_same_state(model, other):
    for ours, theirs in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    ours_state, theirs_state = model.optimizer.get_state(), other.optimizer.get_state()
    assert sorted(ours_state) == sorted(theirs_state)
    for key in theirs_state:
        np.testing.assert_array_equal(ours_state[key], theirs_state[key], err_msg=key)


# --- non-finite gradients and losses ----------------------------------------------------------------


def test_train_on_batch_refuses_a_finite_loss_with_a_non_finite_gradient():
    model = relu_net()
    before = twin(model)
    for network in (model, before):  # one good step: Adam's moments and iterations are not zero
        network.train_on_batch(X[:2], Y[:2])
    bad = masked_minus_inf(X[2:])
    with pytest.raises(FloatingPointError, match=rf"'{model.layers[0].kernel.path}'.*not applied"):
        model.train_on_batch(bad, Y[2:])
    assert model.optimizer.iterations == 1
    assert_same_state(model, before)
    # The step goes on from there as if the refused batch had never come.
    model.train_on_batch(X[2:], Y[2:])
    before.train_on_batch(X[2:], Y[2:])
    assert_same_state(model, before)


def test_fit_stops_before_a_non_finite_gradient_with_the_previous_batch_weights(capsys):
    model = relu_net(batch_norm=True)
    previous = twin(model)
    x = np.concatenate([X[:2], masked_minus_inf(X[2:])])
    history = model.fit(x, Y, batch_size=2, epochs=3, shuffle=False, verbose=0)
    message = capsys.readouterr().out
    assert f"'{model.layers[0].kernel.path}'" in message and "epoch 1, batch 2" in message
    assert "previous batch" in message
    # The oracle: the same model trained on the first batch alone.
    previous.fit(X[:2], Y[:2], batch_size=2, epochs=1, shuffle=False, verbose=0)
    assert_same_state(model, previous)
    assert len(history.history["loss"]) == 1
    np.testing.assert_allclose(history.history["loss"], previous.history.history["loss"], rtol=1e-6)


def test_a_non_finite_loss_leaves_the_moving_statistics_of_the_previous_batch(capsys):
    """NaN inputs make the batch statistics NaN in the forward pass, before the loss is known: the
    refused step must not leave them in BatchNormalization's moving mean and variance."""
    model = relu_net(batch_norm=True)
    previous = twin(model)
    x = X.copy()
    x[3, 1] = np.nan
    model.fit(x, Y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    assert "the loss became nan at epoch 1, batch 2" in capsys.readouterr().out
    previous.fit(X[:2], Y[:2], batch_size=2, epochs=1, shuffle=False, verbose=0)
    assert_same_state(model, previous)
    assert np.isfinite(model.layers[1].moving_mean.data).all()


def test_epoch_logs_of_a_stopped_epoch_leave_out_the_refused_batch():
    """Two outputs with a loss each log "<output>_loss": the refused batch must not reach them."""
    def two_outputs():
        inputs = L.Input((3,))
        hidden = L.Dense(4, activation="relu", kernel_initializer="ones")(inputs)
        network = Model(inputs, [L.Dense(2, name="a")(hidden), L.Dense(2, name="b")(hidden)])
        network.compile(optimizer="sgd", loss=["mse", "mae"])
        return network

    model, previous = two_outputs(), two_outputs()
    previous.set_weights(model.get_weights())
    x = np.concatenate([X[:2], masked_minus_inf(X[2:])])
    logs = model.fit(x, [Y, Y], batch_size=2, shuffle=False, verbose=0).history
    expected = previous.evaluate(X[:2], [Y[:2], Y[:2]], verbose=0, return_dict=True)  # before the step
    assert sorted(logs) == ["a_loss", "b_loss", "loss"]
    for name in ("a_loss", "b_loss", "loss"):
        np.testing.assert_allclose(logs[name], [expected[name]], rtol=1e-6, err_msg=name)


def test_a_refusal_inside_an_execution_or_at_an_epoch_start_keeps_the_history_aligned(capsys):
    """steps_per_execution=2 with the third batch refused: the epoch is the first two batches'. A refusal
    at the first batch of epoch 2: that epoch trained nothing and gets no History entry."""
    model = relu_net()
    model.compile(optimizer=optimizers.Adam(0.01), loss="mse", steps_per_execution=2)
    previous = twin(model)
    x = np.concatenate([X, masked_minus_inf(X[:2])])
    history = model.fit(x, np.concatenate([Y, Y[:2]]), batch_size=2, shuffle=False, verbose=0)
    assert "epoch 1, batch 3" in capsys.readouterr().out
    previous.fit(X, Y, batch_size=2, shuffle=False, verbose=0)
    assert_same_state(model, previous)
    np.testing.assert_allclose(history.history["loss"], previous.history.history["loss"], rtol=1e-6)

    def batches():
        yield X[:2], Y[:2]
        yield masked_minus_inf(X[2:]), Y[2:]

    model = relu_net()
    previous = twin(model)
    history = model.fit(batches(), epochs=3, steps_per_epoch=1, shuffle=False, verbose=0)
    assert "epoch 2, batch 1" in capsys.readouterr().out
    previous.fit(X[:2], Y[:2], batch_size=2, verbose=0)
    assert_same_state(model, previous)
    assert history.epoch == [0] and len(history.history["loss"]) == 1


@pytest.mark.parametrize("values", ["finite", "large", "huge", "nan", "inf", "-inf", "empty", "float64"])
def test_gradient_check_agrees_with_isfinite(values):
    """The check takes each gradient's dot product with itself (no temporary) and confirms a non-finite
    result entry by entry, so finite gradients whose squares overflow float32 are not refused."""
    from clearconv.models.training import first_non_finite_gradient
    local = np.random.default_rng(1)
    grads = [local.normal(size=shape).astype(np.float32) for shape in [(3, 4), (4,), (5, 6)]]
    if values == "large":
        grads[0][1, 2] = 1e20  # finite; its square is inf in float32
    elif values == "huge":
        grads[1] = np.full(4, 3e38, dtype=np.float32)  # finite; the float32 sum is inf
    elif values in ("nan", "inf", "-inf"):
        grads[2][4, 1] = float(values)
    elif values == "empty":
        grads[0] = np.zeros((0, 4), dtype=np.float32)
    elif values == "float64":
        grads = [g.astype(np.float64) for g in grads]
        grads[1][3] = np.nan
    variables = []
    for index, grad in enumerate(grads):
        variable = Variable(np.zeros(grad.shape, grad.dtype), name=f"w{index}")
        variable.grad = grad
        variables.append(variable)
    variables.insert(1, Variable(np.zeros(2, np.float32), name="unused"))  # .grad None: skipped
    expected = next((v for v in variables if v.grad is not None and not np.isfinite(v.grad).all()), None)
    assert first_non_finite_gradient(variables) is expected


# --- zero samples --------------------------------------------------------------------------------

def compiled():
    model = Sequential([L.Input((3,)), L.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    return model


@pytest.mark.parametrize("call", [
    lambda m: m.fit(X[:0], Y[:0], verbose=0),
    lambda m: m.fit(X[:0], Y[:0], validation_split=0.5, verbose=0),
    lambda m: m.evaluate(X[:0], Y[:0], verbose=0),
    lambda m: m.predict(X[:0], verbose=0),
    lambda m: m.train_on_batch(X[:0], Y[:0]),
    lambda m: m.test_on_batch(X[:0], Y[:0]),
    lambda m: m.predict_on_batch(X[:0]),
], ids=["fit", "fit-validation_split", "evaluate", "predict", "train_on_batch", "test_on_batch",
        "predict_on_batch"])
def test_zero_samples_are_refused_naming_x(call):
    model = compiled()
    start = model.get_weights()
    with pytest.raises(ValueError, match=r"`x` has 0 samples"):
        call(model)
    for ours, initial in zip(model.get_weights(), start):
        np.testing.assert_array_equal(ours, initial)


def test_zero_validation_samples_are_refused_before_training():
    model = compiled()
    start = model.get_weights()
    with pytest.raises(ValueError, match=r"`validation_data` has 0 samples"):
        model.fit(X, Y, validation_data=(X[:0], Y[:0]), verbose=0)
    np.testing.assert_array_equal(model.get_weights()[0], start[0])


def test_an_empty_batch_from_a_generator_or_pydataset_is_refused():
    def batches():
        yield X[:2], Y[:2]
        yield X[:0], Y[:0]

    class Batches(PyDataset):
        def __len__(self):
            return 2

        def __getitem__(self, index):
            return (X[:2], Y[:2]) if index == 0 else (X[:0], Y[:0])

    with pytest.raises(ValueError, match=r"`x` has 0 samples in batch 1 of the generator"):
        compiled().fit(batches(), shuffle=False, verbose=0)
    with pytest.raises(ValueError, match=r"`x` has 0 samples in batch 1 of Batches"):
        compiled().fit(Batches(), verbose=0)
    with pytest.raises(ValueError, match=r"`x` has 0 samples in batch 1 of Batches"):
        compiled().evaluate(Batches(), verbose=0)
    with pytest.raises(ValueError, match=r"`validation_data` has 0 samples in batch 1 of Batches"):
        compiled().fit(X, Y, validation_data=Batches(), verbose=0)


def test_batchnorm_on_an_empty_batch_matches_torch():
    """Training on a batch of 0: an empty output, moving statistics unchanged, zero gradients for gamma
    and beta (PyTorch: running statistics unchanged, empty output, zero weight gradient)."""
    local = np.random.default_rng(2)
    layer = L.BatchNormalization(momentum=0.5)
    layer(local.normal(size=(5, 4, 4, 3)).astype(np.float32), training=True)  # statistics away from 0/1
    moving = [layer.moving_mean.data.copy(), layer.moving_variance.data.copy()]
    empty = np.zeros((0, 4, 4, 3), np.float32)
    out = layer(Tensor(empty), training=True)
    out.sum().backward()

    reference = torch.nn.BatchNorm2d(3, momentum=0.5)
    reference.running_mean.copy_(torch.from_numpy(moving[0]))
    reference.running_var.copy_(torch.from_numpy(moving[1]))
    reference.train()
    torch_out = reference(torch.zeros(0, 3, 4, 4))
    torch_out.sum().backward()

    assert out.shape == tuple(torch_out.permute(0, 2, 3, 1).shape) == (0, 4, 4, 3)
    np.testing.assert_array_equal(layer.moving_mean.data, reference.running_mean.numpy())
    np.testing.assert_array_equal(layer.moving_variance.data, reference.running_var.numpy())
    np.testing.assert_array_equal(layer.gamma.grad, reference.weight.grad.numpy())
    np.testing.assert_array_equal(layer.beta.grad, reference.bias.grad.numpy())


def test_a_model_called_directly_on_an_empty_batch_returns_an_empty_output():
    model = Sequential([L.Input((3,)), L.Dense(4, activation="relu"), L.BatchNormalization(), L.Dense(2)])
    before = model.get_weights()
    assert model(X[:0], training=True).shape == (0, 2)
    assert model(X[:0]).shape == (0, 2)
    for ours, initial in zip(model.get_weights(), before):
        np.testing.assert_array_equal(ours, initial)


def test_flatten_of_an_empty_batch_keeps_its_width_as_torch_does():
    """NumPy cannot infer reshape(0, -1): Flatten spells the width out, forward and backward."""
    x = Tensor(np.zeros((0, 4, 3, 2), np.float32), requires_grad=True)
    out = L.Flatten()(x)
    assert out.shape == tuple(torch.flatten(torch.zeros(0, 4, 3, 2), 1).shape) == (0, 24)
    out.sum().backward()
    assert x.grad.shape == (0, 4, 3, 2)


def test_reshape_with_minus_one_of_an_empty_batch_resolves_it_from_the_sample_size():
    x = np.zeros((0, 4, 3, 2), np.float32)
    # 4 * 3 * 2 = 24 values per sample -> (12, 2), as Keras resolves it from the sample shape (torch's
    # reshape(0, -1, 2) refuses: it reads -1 from the whole tensor's 0 elements).
    assert L.Reshape((-1, 2))(x).shape == (0, 12, 2)
    assert L.Reshape((-1, 2))(np.ones((1, 4, 3, 2), np.float32)).shape == (1, 12, 2)


# --- arguments refused ------------------------------------------------------------------------------

@pytest.mark.parametrize("call, message", [
    (lambda m: m.fit(X, Y, sample_weight=-np.ones(4), verbose=0), r"`sample_weight`.*non-negative"),
    (lambda m: m.fit(X, Y, sample_weight=np.array([1.0, np.nan, 1.0, 1.0]), verbose=0),
     r"`sample_weight`.*finite"),
    (lambda m: m.evaluate(X, Y, sample_weight=-np.ones(4), verbose=0), r"`sample_weight`.*non-negative"),
    (lambda m: m.train_on_batch(X, Y, sample_weight=-np.ones(4)), r"`sample_weight`.*non-negative"),
], ids=["fit-negative", "fit-nan", "evaluate-negative", "train_on_batch-negative"])
def test_negative_or_non_finite_sample_weights_are_refused(call, message):
    model = compiled()
    start = model.get_weights()
    with pytest.raises(ValueError, match=message):
        call(model)
    np.testing.assert_array_equal(model.get_weights()[0], start[0])


def test_negative_class_weights_are_refused():
    model = Sequential([L.Input((3,)), L.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"`class_weight`.*non-negative.*-1.0"):
        model.fit(X, np.array([0, 1, 0, 1]), class_weight={0: 1.0, 1: -1.0}, verbose=0)


def test_a_step_copies_only_the_weights_its_forward_pass_can_change():
    """The copy that lets a refused step restore the moving statistics leaves out a frozen layer's weights."""
    from clearconv.models.training import _updated_by_forward
    frozen = L.Dense(64, name="frozen")
    model = Sequential([L.Input(shape=(8,)), frozen, L.BatchNormalization(name="bn"), L.Dense(2)])
    frozen.trainable = False
    assert not frozen.kernel.trainable  # frozen: non-trainable, yet never changed by the forward pass
    bn = model.get_layer("bn")
    assert _updated_by_forward(model.weights) == [bn.moving_mean, bn.moving_variance]
