"""Dense, Flatten, Reshape, Dropout and the activation layers against torch."""

import itertools

import pytest

from clearconv import layers
from parity.helpers import TF, check_parity, dtype_kwargs, random_array, rng_for, torch, with_dtypes

# Every activation name clearconv accepts, with its torch counterpart (Keras 3 definitions).
TORCH_ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": TF.relu,
    "relu6": TF.relu6,
    "leaky_relu": lambda x: TF.leaky_relu(x, 0.2),  # Keras's function default (the layer uses 0.3)
    "elu": TF.elu,
    "selu": TF.selu,
    "sigmoid": torch.sigmoid,
    # Keras 3: relu6(x + 3) / 6, the same function as TF.hardsigmoid; written out because torch's
    # hardsigmoid backward kernel multiplies by the float32 constant 1.0f/6.0f even in float64
    # (gradients off by 3e-8 relative), while relu6 and the division are exact.
    "hard_sigmoid": lambda x: TF.relu6(x + 3) / 6,
    "tanh": torch.tanh,
    "softmax": lambda x: TF.softmax(x, dim=-1),
    "log_softmax": lambda x: TF.log_softmax(x, dim=-1),
    "softplus": TF.softplus,  # inputs stay far below torch's linear threshold (20)
    "softsign": TF.softsign,
    "gelu": lambda x: TF.gelu(x, approximate="none"),  # keras.activations.gelu: approximate=False
    "swish": TF.silu,
    "silu": TF.silu,
}


# --- Dense --------------------------------------------------------------------


def dense_cases():
    for input_shape, units, use_bias, activation in itertools.product(
            ((1, 5), (4, 5), (3, 2, 5), (2, 3, 2, 4)), (1, 3), (True, False), (None, "relu", "tanh", "softmax")):
        yield dict(layer="dense", input_shape=input_shape, units=units, use_bias=use_bias, activation=activation)


@pytest.mark.parametrize("case", with_dtypes(list(dense_cases())))
def test_dense(case):
    rng = rng_for(case)
    dtype, shape, units = case["dtype"], case["input_shape"], case["units"]
    x = random_array(rng, shape, dtype)
    weights = [random_array(rng, (shape[-1], units), dtype)]  # Keras kernel (in, units)
    if case["use_bias"]:
        weights.append(random_array(rng, (units,), dtype))
    layer = layers.Dense(units, activation=case["activation"], use_bias=case["use_bias"], **dtype_kwargs(case))

    def reference(inputs, torch_weights):
        bias = torch_weights[1] if case["use_bias"] else None
        y = TF.linear(inputs[0], torch_weights[0].T, bias)  # torch Linear weight is (units, in)
        return TORCH_ACTIVATIONS[case["activation"] or "linear"](y)

    check_parity(layer, x, reference, case, weights, rng=rng)


# --- Flatten, Reshape, Dropout ------------------------------------------------


def flatten_cases():
    for shape, data_format in itertools.product(((3, 5), (2, 4, 3), (1, 3, 4, 2), (2, 3, 2, 4, 2)),
                                                ("channels_last", "channels_first")):
        yield dict(layer="flatten", input_shape=shape, data_format=data_format)


@pytest.mark.parametrize("case", with_dtypes(list(flatten_cases()), float32_every=2))
def test_flatten(case):
    rng = rng_for(case)
    x = random_array(rng, case["input_shape"], case["dtype"])
    layer = layers.Flatten(data_format=case["data_format"], **dtype_kwargs(case))

    def reference(inputs, weights):
        x_torch = inputs[0]
        if case["data_format"] == "channels_first" and x_torch.ndim > 2:
            x_torch = x_torch.movedim(1, -1)  # Keras makes channels_first inputs channels_last first
        return torch.flatten(x_torch, start_dim=1)

    check_parity(layer, x, reference, case, rng=rng)


def test_flatten_channels_first_order():
    """Keras's documented example: arange(8) as (1, 2, 2, 2) channels_first -> [0, 4, 1, 5, 2, 6, 3, 7]."""
    x = torch.arange(8, dtype=torch.float64).reshape(1, 2, 2, 2)
    output = layers.Flatten(data_format="channels_first", dtype="float64")(x.numpy())
    assert output.tolist() == [[0, 4, 1, 5, 2, 6, 3, 7]]


def reshape_cases():
    for shape, target in (((2, 12), (3, 4)), ((2, 12), (-1, 2)), ((3, 4, 6), (2, 12)), ((1, 2, 3, 4), (4, -1, 2)),
                          ((2, 6, 2), (12,)), ((2, 3, 2, 2, 2), (-1,))):
        yield dict(layer="reshape", input_shape=shape, target_shape=target)


@pytest.mark.parametrize("case", with_dtypes(list(reshape_cases()), float32_every=2))
def test_reshape(case):
    rng = rng_for(case)
    x = random_array(rng, case["input_shape"], case["dtype"])
    layer = layers.Reshape(case["target_shape"], **dtype_kwargs(case))
    check_parity(layer, x, lambda inputs, w: inputs[0].reshape(inputs[0].shape[0], *case["target_shape"]), case,
                 rng=rng)


def dropout_cases():
    for rate, training in ((0.0, True), (0.0, False), (0.0, None), (0.5, False), (0.5, None), (0.9, False),
                           (1.0, None), (1.0, True)):
        for shape in ((4, 6), (2, 5, 4, 3)):
            yield dict(layer="dropout", rate=rate, training=training, input_shape=shape)


@pytest.mark.parametrize("case", with_dtypes(list(dropout_cases()), float32_every=2))
def test_dropout_identity(case):
    """Rate 0, or inference: identity, as torch's dropout (mask statistics are tested elsewhere)."""
    rng = rng_for(case)
    x = random_array(rng, case["input_shape"], case["dtype"])
    layer = layers.Dropout(case["rate"], seed=0, **dtype_kwargs(case))
    torch_training = bool(case["training"])
    check_parity(layer, x, lambda inputs, w: TF.dropout(inputs[0], case["rate"], training=torch_training), case,
                 training=case["training"], rng=rng)


# --- activations ----------------------------------------------------------------


def activation_cases():
    for name, shape in itertools.product(TORCH_ACTIVATIONS, ((3, 7), (2, 4, 3, 5))):
        yield dict(layer="activation", activation=name, input_shape=shape)


@pytest.mark.parametrize("case", with_dtypes(list(activation_cases()), float32_every=1))
def test_activation(case):
    rng = rng_for(case)
    x = random_array(rng, case["input_shape"], case["dtype"], scale=3.0)  # reaches relu6's and hard_sigmoid's caps
    layer = layers.Activation(case["activation"], **dtype_kwargs(case))
    check_parity(layer, x, lambda inputs, w: TORCH_ACTIVATIONS[case["activation"]](inputs[0]), case, rng=rng)


def torch_relu(max_value, negative_slope, threshold):
    """Keras's ReLU layer in torch builtins where one exists, else in its defining formula:
    x above the threshold (capped at max_value), negative_slope * (x - threshold) below it."""
    if threshold == 0 and negative_slope == 0:
        return TF.relu if max_value is None else (lambda x: TF.hardtanh(x, 0.0, max_value))
    if threshold == 0 and max_value is None:
        return lambda x: TF.leaky_relu(x, negative_slope)
    if negative_slope == 0 and max_value is None:
        return lambda x: TF.threshold(x, threshold, 0.0)

    def relu(x):
        above = x if max_value is None else torch.clamp(x, max=max_value)
        return torch.where(x > threshold, above, negative_slope * (x - threshold))
    return relu


def relu_cases():
    for max_value, negative_slope, threshold in itertools.product((None, 6.0, 1.5), (0.0, 0.1, 0.5), (0.0, 0.5, 1.0)):
        yield dict(layer="relu", max_value=max_value, negative_slope=negative_slope, threshold=threshold)


@pytest.mark.parametrize("case", with_dtypes(list(relu_cases())))
def test_relu_layer(case):
    rng = rng_for(case)
    x = random_array(rng, (3, 4, 5), case["dtype"], scale=3.0)
    layer = layers.ReLU(max_value=case["max_value"], negative_slope=case["negative_slope"],
                        threshold=case["threshold"], **dtype_kwargs(case))
    reference = torch_relu(case["max_value"], case["negative_slope"], case["threshold"])
    check_parity(layer, x, lambda inputs, w: reference(inputs[0]), case, rng=rng)


LEAKY_RELU_CASES = [dict(layer="leaky_relu", negative_slope=slope) for slope in (None, 0.0, 0.01, 0.3, 1.5)]


@pytest.mark.parametrize("case", with_dtypes(LEAKY_RELU_CASES, float32_every=2))
def test_leaky_relu_layer(case):
    rng = rng_for(case)
    x = random_array(rng, (3, 4, 5), case["dtype"])
    slope = case["negative_slope"]
    layer = layers.LeakyReLU(**dtype_kwargs(case)) if slope is None else \
        layers.LeakyReLU(negative_slope=slope, **dtype_kwargs(case))
    torch_slope = 0.3 if slope is None else slope  # the Keras layer's default is 0.3
    check_parity(layer, x, lambda inputs, w: TF.leaky_relu(inputs[0], torch_slope), case, rng=rng)


@pytest.mark.parametrize("case", with_dtypes([dict(layer="elu", alpha=a) for a in (None, 0.5, 1.0, 2.0)],
                                             float32_every=2))
def test_elu_layer(case):
    rng = rng_for(case)
    x = random_array(rng, (3, 4, 5), case["dtype"], scale=2.0)
    alpha = case["alpha"]
    layer = layers.ELU(**dtype_kwargs(case)) if alpha is None else layers.ELU(alpha=alpha, **dtype_kwargs(case))
    check_parity(layer, x, lambda inputs, w: TF.elu(inputs[0], 1.0 if alpha is None else alpha), case, rng=rng)


def prelu_cases():
    for shape, shared_axes in (((4, 6), None), ((2, 5, 3), None), ((2, 5, 3), [1]), ((2, 4, 3, 3), [1, 2]),
                               ((2, 3, 4, 3), [2, 3]), ((1, 3, 2, 2, 3), [1, 2, 3]), ((2, 4, 3, 2), [3])):
        yield dict(layer="prelu", input_shape=shape, shared_axes=shared_axes)


@pytest.mark.parametrize("case", with_dtypes(list(prelu_cases()), float32_every=2))
def test_prelu_layer(case):
    rng = rng_for(case)
    shape, shared = case["input_shape"], case["shared_axes"] or []
    x = random_array(rng, shape, case["dtype"])
    alpha_shape = tuple(1 if axis in shared else size for axis, size in enumerate(shape) if axis > 0)
    alpha = random_array(rng, alpha_shape, case["dtype"], scale=0.5)
    layer = layers.PReLU(shared_axes=case["shared_axes"], **dtype_kwargs(case))

    def reference(inputs, weights):
        x_torch, alpha_torch = inputs[0], weights[0]
        channels_last_shared = shared and sorted(shared) == list(range(1, len(shape) - 1))
        if channels_last_shared:  # one alpha per channel: torch's own prelu (channels on axis 1)
            return TF.prelu(x_torch.movedim(-1, 1), alpha_torch.reshape(-1)).movedim(1, -1)
        return torch.where(x_torch >= 0, x_torch, alpha_torch * x_torch)

    check_parity(layer, x, reference, case, [alpha], rng=rng)


def softmax_cases():
    for shape, axis in (((3, 7), -1), ((3, 7), 1), ((2, 4, 5), -1), ((2, 4, 5), 1), ((2, 3, 4, 5), 2),
                        ((2, 3, 4, 5), (1, 2)), ((1, 6), -1)):
        yield dict(layer="softmax", input_shape=shape, axis=axis)


@pytest.mark.parametrize("case", with_dtypes(list(softmax_cases()), float32_every=1))
def test_softmax_layer(case):
    rng = rng_for(case)
    x = random_array(rng, case["input_shape"], case["dtype"], scale=3.0)
    layer = layers.Softmax(axis=case["axis"], **dtype_kwargs(case))
    axis = case["axis"]

    def reference(inputs, weights):
        if isinstance(axis, tuple):  # softmax over several axes: exp(x - logsumexp over them)
            return torch.exp(inputs[0] - torch.logsumexp(inputs[0], dim=axis, keepdim=True))
        return TF.softmax(inputs[0], dim=axis)

    check_parity(layer, x, reference, case, rng=rng)
