"""BatchNormalization against torch.nn.functional.batch_norm.

Conversions made here: Keras momentum m is torch momentum 1 - m; torch's
running_var is updated with the UNBIASED batch variance (n - 1), Keras's
moving_variance with the biased one (n), so the torch result is converted:
    torch:  rv = m*rv0 + (1-m)*var_unbiased
    keras:  rv = m*rv0 + (1-m)*var_biased = m*rv0 + (rv_torch - m*rv0) * (n-1)/n
"""

import itertools

import numpy as np
import pytest

from clearconv import Tensor, layers
from parity.helpers import TF, assert_close, check_parity, dtype_kwargs, random_array, rng_for, torch, with_dtypes

# (input shape, axis): dense features, and channels_last / channels_first feature maps in 1D, 2D, 3D,
# plus an axis in the middle.
SHAPES = [
    ((6, 4), -1),
    ((3, 7, 4), -1), ((3, 4, 7), 1),
    ((2, 5, 4, 3), -1), ((2, 3, 5, 4), 1),
    ((2, 4, 3, 3, 2), -1), ((2, 2, 4, 3, 3), 1),
    ((2, 5, 3, 4), 2),
]


def keras_moving_variance_from_torch(torch_running_var, initial, momentum, count):
    """Convert torch's (unbiased) running_var after one step into Keras's (biased) moving_variance."""
    return momentum * initial + (torch_running_var - momentum * initial) * (count - 1) / count


def torch_batch_norm(case, axis, running):
    """Reference f(inputs, weights); ``running`` receives torch's running mean/var after the call."""
    def reference(inputs, weights):
        names = (["gamma"] if case["scale"] else []) + (["beta"] if case["center"] else []) + ["mean", "var"]
        named = dict(zip(names, weights))
        x = inputs[0].movedim(axis, 1)  # torch normalises over every axis but 1
        running["mean"], running["var"] = named["mean"].detach().clone(), named["var"].detach().clone()
        y = TF.batch_norm(x, running["mean"], running["var"], weight=named.get("gamma"), bias=named.get("beta"),
                          training=case["mode"] == "train", momentum=1 - case["momentum"], eps=case["epsilon"])
        return y.movedim(1, axis)
    return reference


def batch_norm_cases():
    index = 0
    for (shape, axis), mode, (center, scale) in itertools.product(
            SHAPES, ("train", "infer", "default", "frozen"), ((True, True), (False, True), (True, False),
                                                             (False, False))):
        index += 1
        momentum, epsilon = ((0.99, 1e-3), (0.9, 1e-5), (0.5, 0.1))[index % 3]
        yield dict(layer="batch_normalization", shape=shape, axis=axis, mode=mode, center=center, scale=scale,
                   momentum=momentum, epsilon=epsilon)
    # A single sample: statistics over the spatial cells only.
    for mode in ("train", "infer"):
        yield dict(layer="batch_normalization", shape=(1, 6, 5, 3), axis=-1, mode=mode, center=True, scale=True,
                   momentum=0.9, epsilon=1e-3)


TRAINING_ARGUMENT = {"train": True, "infer": False, "default": None, "frozen": True}


@pytest.mark.parametrize("case", with_dtypes(list(batch_norm_cases()), float32_every=2))
def test_batch_normalization(case):
    dtype, shape, axis = case["dtype"], case["shape"], case["axis"]
    channels = shape[axis]
    rng = rng_for(case)
    x = random_array(rng, shape, dtype, scale=2.0) + 0.5
    weights = []
    if case["scale"]:
        weights.append(random_array(rng, (channels,), dtype) + 1.0)
    if case["center"]:
        weights.append(random_array(rng, (channels,), dtype))
    initial_mean = random_array(rng, (channels,), dtype)
    initial_var = (rng.uniform(0.5, 2.0, channels)).astype(dtype)
    weights += [initial_mean, initial_var]

    layer = layers.BatchNormalization(axis=axis, momentum=case["momentum"], epsilon=case["epsilon"],
                                      center=case["center"], scale=case["scale"], **dtype_kwargs(case))
    if case["mode"] == "frozen":
        layer.trainable = False  # Keras: a frozen BN runs in inference mode even with training=True
    torch_case = {**case, "mode": "train" if case["mode"] == "train" else "infer"}
    running = {}
    check_parity(layer, x, torch_batch_norm(torch_case, axis, running), case, weights,
                 training=TRAINING_ARGUMENT[case["mode"]], rng=rng)

    if case["mode"] == "train":
        count = x.size // channels
        assert_close("moving_mean after one training call", layer.moving_mean.data, running["mean"].numpy(),
                     dtype, case)
        expected_var = keras_moving_variance_from_torch(running["var"].numpy(), initial_var, case["momentum"], count)
        assert_close("moving_variance after one training call", layer.moving_variance.data, expected_var,
                     dtype, case)
    else:
        np.testing.assert_array_equal(layer.moving_mean.data, initial_mean)
        np.testing.assert_array_equal(layer.moving_variance.data, initial_var)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_batch_normalization_moving_statistics_over_steps(data_format, dtype):
    """Several training calls, then inference: outputs and stored statistics follow torch's
    running statistics (momentum 1 - m, variance converted step by step)."""
    case = dict(layer="batch_normalization", steps=4, data_format=data_format, momentum=0.8, epsilon=1e-3,
                dtype=dtype)
    rng = rng_for(case)
    axis = -1 if data_format == "channels_last" else 1
    shape = (3, 5, 4, 2) if data_format == "channels_last" else (3, 2, 5, 4)
    layer = layers.BatchNormalization(axis=axis, momentum=0.8, epsilon=1e-3, **dtype_kwargs(case))
    layer.build(shape)
    torch_dtype = torch.float64 if dtype == "float64" else torch.float32
    gamma, beta = random_array(rng, (2,), dtype) + 1.0, random_array(rng, (2,), dtype)
    layer.set_weights([gamma, beta, np.zeros(2, dtype), np.ones(2, dtype)])
    running_mean, running_var = torch.zeros(2, dtype=torch_dtype), torch.ones(2, dtype=torch_dtype)
    expected_var = np.ones(2)  # Keras's biased moving variance, rebuilt from torch's each step
    count = int(np.prod(shape)) // 2
    for step in range(case["steps"]):
        x = random_array(rng, shape, dtype, scale=1.0 + step) + step
        output = layer(x, training=True)
        x_torch = torch.tensor(x).movedim(axis, 1)
        expected = TF.batch_norm(x_torch, running_mean, running_var, torch.tensor(gamma), torch.tensor(beta),
                                 training=True, momentum=0.2, eps=1e-3).movedim(1, axis)
        assert_close(f"training output at step {step}", output, expected.numpy(), dtype, {**case, "step": step})
        # torch's unbiased batch variance (a probe buffer with momentum 1 holds exactly it),
        # made biased and accumulated with Keras's rule.
        probe_mean, probe_var = torch.zeros(2, dtype=torch_dtype), torch.zeros(2, dtype=torch_dtype)
        TF.batch_norm(x_torch, probe_mean, probe_var, training=True, momentum=1.0)
        expected_var = 0.8 * expected_var + 0.2 * probe_var.numpy().astype(np.float64) * (count - 1) / count
        assert_close(f"moving_mean at step {step}", layer.moving_mean.data, running_mean.numpy(), dtype,
                     {**case, "step": step})
        assert_close(f"moving_variance at step {step}", layer.moving_variance.data, expected_var.astype(dtype),
                     dtype, {**case, "step": step})
    # Inference with the accumulated statistics (Keras's biased variance, given to torch explicitly).
    x = random_array(rng, shape, dtype)
    x_tensor = Tensor(x, requires_grad=True)
    output = layer(x_tensor, training=False)
    x_torch = torch.tensor(x, requires_grad=True)
    expected = TF.batch_norm(x_torch.movedim(axis, 1), running_mean.clone(),
                             torch.tensor(expected_var.astype(dtype)), torch.tensor(gamma), torch.tensor(beta),
                             training=False, eps=1e-3).movedim(1, axis)
    upstream = random_array(rng, shape, dtype)
    (output * upstream).sum().backward()
    (expected * torch.tensor(upstream)).sum().backward()
    assert_close("inference output after the steps", output.data, expected.detach().numpy(), dtype, case)
    assert_close("inference input gradient after the steps", x_tensor.grad, x_torch.grad.numpy(), dtype, case)
