"""clearconv.explain.trace against the model's own outputs and independent oracles."""

import itertools

import numpy as np
import pytest

from clearconv import layers as L
from clearconv import zoo
from clearconv.explain import Trace, trace
from clearconv.models import Model
from explain_models import stacked_model as _model

RNG = np.random.default_rng(1234)


def _sample_shape(spatial, channels, data_format):
    """One sample's shape in the layer's data format."""
    return (*spatial, channels) if data_format == "channels_last" else (channels, *spatial)


def _data(model, batch=2, seed=0):
    return np.random.default_rng(seed).standard_normal((batch, *model.input_shape[1:])).astype("float32")


def _run(shape, layer):
    """A model of ``layer`` on inputs of ``shape``: (model, x, its output, copies of its weights)."""
    model = _model(shape, layer)
    x = _data(model)
    return model, x, np.asarray(model(x)), _weights(model)


def _apply(activation, value):
    """An activation function of the library applied to one float32 value."""
    result = activation(np.array([value], dtype=np.float32))
    return float(np.asarray(getattr(result, "data", result))[0])


def _weights(model):
    return [np.array(w) for w in model.get_weights()]


def _check_arithmetic(t: Trace, output):
    """value from the model's forward pass, float64 identity, activation within float32 rounding."""
    assert t.value == output[0][t.index]
    assert np.isclose(np.sum(t.products) + t.bias, t.pre_activation, rtol=1e-12, atol=0)
    assert t.patch.shape == t.kernel.shape == t.products.shape == t.padding.shape
    assert np.all(t.patch[t.padding] == 0)


# --- convolution: an independent NumPy loop oracle ------------------------------

def _pad_amounts(n, k, s, d, padding):
    span = (k - 1) * d + 1
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return span - 1, 0
    out = -(-n // s)
    total = max((out - 1) * s + span - n, 0)
    return total // 2, total - total // 2


def _direct_conv(x, kernel, bias, index, strides, dilation, padding, groups):
    """Output at index (spatial..., f) of a channels_last conv of one example x (*S, C), by loops."""
    *spatial_index, f = index
    rank = len(spatial_index)
    pads = [_pad_amounts(n, k, s, d, padding) for n, k, s, d in
            zip(x.shape[:-1], kernel.shape[:rank], strides, dilation)]
    padded = np.pad(x.astype(np.float64), [*pads, (0, 0)])
    per_group = kernel.shape[-2]
    group = f // (kernel.shape[-1] // groups)
    total = float(bias)
    for offsets in itertools.product(*[range(k) for k in kernel.shape[:rank]]):
        spot = tuple(i * s + o * d for i, s, o, d in zip(spatial_index, strides, offsets, dilation))
        for c in range(per_group):
            total += padded[(*spot, group * per_group + c)] * float(kernel[(*offsets, c, f)])
    return total


CONV_CASES = [
    # rank, kernel, strides, dilation, padding, groups, data_format, activation
    (1, 3, 1, 1, "valid", 1, "channels_last", "relu"),
    (1, 4, 2, 1, "same", 2, "channels_last", None),
    (1, 3, 1, 2, "causal", 1, "channels_last", "tanh"),
    (1, 5, 3, 1, "same", 1, "channels_first", None),
    (2, 3, 1, 1, "same", 1, "channels_last", "relu"),
    (2, (2, 3), (2, 1), 1, "same", 2, "channels_last", None),
    (2, 3, 1, (2, 1), "valid", 1, "channels_last", "sigmoid"),
    (2, 4, 2, 1, "same", 1, "channels_last", None),
    (2, 3, 1, 2, "same", 2, "channels_first", "relu"),
    (3, 2, 1, 1, "valid", 1, "channels_last", None),
    (3, 3, 2, 1, "same", 2, "channels_last", "relu"),
    (3, 2, 1, 2, "same", 1, "channels_first", None),
]


@pytest.mark.parametrize("rank, kernel, strides, dilation, padding, groups, data_format, activation", CONV_CASES)
def test_conv_matches_model_and_loop_oracle(rank, kernel, strides, dilation, padding, groups, data_format,
                                            activation):
    conv_class = {1: L.Conv1D, 2: L.Conv2D, 3: L.Conv3D}[rank]
    channels, filters = 4, 6
    spatial = {1: (11,), 2: (7, 8), 3: (5, 6, 5)}[rank]
    shape = _sample_shape(spatial, channels, data_format)
    layer = conv_class(filters, kernel, strides=strides, padding=padding, dilation_rate=dilation, groups=groups,
                       data_format=data_format, activation=activation, bias_initializer="random_normal",
                       name="conv")
    model, x, output, before = _run(shape, layer)
    out_shape = output.shape[1:]
    x_last = x[0] if data_format == "channels_last" else np.moveaxis(x[0], 0, -1)
    kernel_values, bias_values = (np.asarray(w) for w in layer.get_weights())
    act = layer.activation
    indices = [tuple(int(RNG.integers(n)) for n in out_shape) for _ in range(4)]
    indices.append(tuple(0 for _ in out_shape))
    indices.append(tuple(n - 1 for n in out_shape))
    for index in indices:
        t = trace(model, x, "conv", index)
        _check_arithmetic(t, output)
        last_index = index if data_format == "channels_last" else (*index[1:], index[0])
        expected = _direct_conv(x_last, kernel_values, bias_values[last_index[-1]], last_index,
                                layer.strides, layer.dilation_rate, padding, groups)
        assert np.isclose(t.pre_activation, expected, rtol=1e-10, atol=1e-12)
        assert np.isclose(_apply(act, t.pre_activation), float(t.value), rtol=1e-5, atol=1e-6)
        assert t.kernel.shape == (*layer.kernel_size, channels // groups)
        assert t.layer is layer
        np.testing.assert_array_equal(t.inputs, x[0])
    for b, a in zip(before, _weights(model)):
        assert np.array_equal(a, b)


def test_padding_cells_are_marked_not_data():
    model = _model((4, 4, 1), L.Conv2D(1, 3, padding="same", name="conv"))
    x = np.full((1, 4, 4, 1), 5.0, dtype="float32")
    t = trace(model, x, "conv", (0, 0, 0))
    expected = np.ones((3, 3, 1), dtype=bool)
    expected[1:, 1:] = False
    np.testing.assert_array_equal(t.padding, expected)
    np.testing.assert_array_equal(t.patch, np.where(expected, 0.0, 5.0))
    assert t.receptive_field == ((-1, 2), (-1, 2))


# --- receptive field against perturbation ----------------------------------------

def _rf_model():
    return _model((13, 12, 2),
                  L.Conv2D(3, 3, strides=2, padding="same", bias_initializer="random_normal"),
                  L.MaxPooling2D(2, strides=1),
                  L.Conv2D(4, 2, dilation_rate=2, padding="same", name="last", bias_initializer="random_normal"))


def _layer_value(model, x, name, index):
    return trace(model, x, name, index).value


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_receptive_field_by_perturbation(seed):
    model = _rf_model()
    x = _data(model, batch=1, seed=seed)
    out_shape = model.output_shape[1:]
    rng = np.random.default_rng(seed)
    index = tuple(int(rng.integers(n)) for n in out_shape)
    t = trace(model, x, "last", index)
    base = t.value
    spatial = x.shape[1:3]
    (r0, r1), (c0, c1) = t.receptive_field
    inside_r, inside_c = (max(r0, 0), min(r1, spatial[0])), (max(c0, 0), min(c1, spatial[1]))

    def changed(row, col):
        results = []
        for delta in (1000.0, -1000.0):
            y = x.copy()
            y[0, row, col, int(rng.integers(2))] += delta
            results.append(_layer_value(model, y, "last", index) != base)
        return any(results)

    # outside the claimed range: never changes
    for row in range(spatial[0]):
        for col in range(spatial[1]):
            if not (inside_r[0] <= row < inside_r[1] and inside_c[0] <= col < inside_c[1]):
                y = x.copy()
                y[0, row, col, :] += 1000.0
                assert _layer_value(model, y, "last", index) == base, (row, col)
    # on the edges of the range: changes (both channels perturbed so a zero kernel weight cannot hide it)
    for row, col in [(inside_r[0], (inside_c[0] + inside_c[1]) // 2), (inside_r[1] - 1, inside_c[0]),
                     ((inside_r[0] + inside_r[1]) // 2, inside_c[1] - 1), (inside_r[0], inside_c[0])]:
        assert any(changed(row, col) for _ in range(3)), (row, col)


# --- other layer kinds -------------------------------------------------------------

def test_dense_vector_and_sequence():
    model = _model((5,), L.Dense(3, activation="relu", bias_initializer="random_normal", name="d"))
    x = _data(model)
    output = np.asarray(model(x))
    for unit in range(3):
        t = trace(model, x, "d", (unit,))
        _check_arithmetic(t, output)
        kernel, bias = model.get_layer("d").get_weights()
        assert np.isclose(t.pre_activation, float(x[0].astype(np.float64) @ kernel[:, unit].astype(np.float64)
                                                  + bias[unit]), rtol=1e-12)
    seq = _model((4, 5), L.Dense(3, name="d"))
    x = _data(seq)
    t = trace(seq, x, "d", (2, 1))
    _check_arithmetic(t, np.asarray(seq(x)))
    assert t.receptive_field == ((2, 3),)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_pooling(padding):
    model = _model((5, 7, 3), L.MaxPooling2D(2, padding=padding, name="mp"))
    x = _data(model)
    output = np.asarray(model(x))
    for index in itertools.product(*[range(n) for n in output.shape[1:]]):
        t = trace(model, x, "mp", index)
        assert t.value == output[0][index] == x[0][t.input_index]
        assert t.pre_activation == t.value
        assert not t.padding[np.unravel_index(np.argmax(np.where(t.padding, -np.inf, t.patch)), t.patch.shape)]
    model = _model((5, 7, 3), L.AveragePooling2D(3, strides=2, padding=padding, name="ap"))
    output = np.asarray(model(x))
    for index in itertools.product(*[range(n) for n in output.shape[1:]]):
        t = trace(model, x, "ap", index)
        _check_arithmetic(t, output)
        assert np.isclose(t.pre_activation, t.patch[~t.padding].mean(), rtol=1e-12)
        assert np.isclose(t.pre_activation, t.value, rtol=1e-6, atol=1e-7)


def test_global_pooling_and_batch_norm():
    model = _model((4, 5, 3), L.GlobalAveragePooling2D(name="gap"))
    x = _data(model)
    output = np.asarray(model(x))
    t = trace(model, x, "gap", (1,))
    _check_arithmetic(t, output)
    assert np.isclose(t.pre_activation, t.value, rtol=1e-6)
    assert t.receptive_field == ((0, 4), (0, 5))
    model = _model((4, 5, 3), L.GlobalMaxPooling2D(name="gmp"))
    t = trace(model, x, "gmp", (2,))
    assert t.value == np.asarray(model(x))[0, 2] == x[0][t.input_index]

    bn = L.BatchNormalization(name="bn")
    model = _model((4, 3), bn)
    rng = np.random.default_rng(3)
    bn.set_weights([rng.uniform(0.5, 2, 3), rng.standard_normal(3), rng.standard_normal(3), rng.uniform(0.5, 2, 3)])
    before = _weights(model)
    x = _data(model)
    output = np.asarray(model(x))
    t = trace(model, x, "bn", (2, 1))
    _check_arithmetic(t, output)
    assert np.isclose(t.pre_activation, t.value, rtol=1e-6)
    for b, a in zip(before, _weights(model)):
        assert np.array_equal(a, b)


def test_activations_flatten_reshape():
    model = _model((3, 4, 2), L.ReLU(name="relu"), L.LeakyReLU(0.2, name="leaky"), L.Flatten(name="flat"),
                   L.Reshape((4, 6), name="reshape"), L.Activation("tanh", name="tanh"))
    x = _data(model)
    t = trace(model, x, "leaky", (1, 2, 1))
    assert t.value == np.float32(t.pre_activation if t.pre_activation >= 0 else np.float32(0.2) * t.pre_activation)
    t = trace(model, x, "flat", (13,))
    assert t.input_index == (1, 2, 1) and t.receptive_field == ((1, 2), (2, 3))
    t = trace(model, x, "reshape", (2, 1))
    assert t.input_index == (13,) and t.receptive_field == ((1, 2), (2, 3))
    t = trace(model, x, "tanh", (2, 1))
    assert t.value == np.asarray(model(x))[0, 2, 1]
    assert np.isclose(np.tanh(np.float32(t.pre_activation)), t.value, rtol=1e-6)


def test_merges_name_their_source():
    a = L.Input((4, 2))
    b = L.Input((4, 3))
    left = L.Conv1D(3, 3, padding="same", name="left")(a)
    right = L.Conv1D(3, 1, name="right")(b)
    added = L.Add(name="add")([left, right])
    joined = L.Concatenate(name="cat")([left, right, added])
    model = Model([a, b], L.Multiply(name="mul")([joined, joined]))
    xs = [np.random.default_rng(5).standard_normal((2, 4, 2)).astype("float32"),
          np.random.default_rng(6).standard_normal((2, 4, 3)).astype("float32")]
    outputs = model(xs)
    t = trace(model, xs, "cat", (2, 4))
    assert t.source == 1 and t.input_index == (2, 1)
    assert t.receptive_field == (None, ((2, 3),))
    assert t.value == t.inputs[1][t.input_index] == np.asarray(model.get_layer("right")(xs[1]))[0, 2, 1]
    t = trace(model, xs, "add", (0, 2))
    assert t.receptive_field == (((-1, 2),), ((0, 1),))
    assert np.isclose(t.pre_activation, t.value, rtol=1e-6)
    t = trace(model, xs, "mul", (3, 7))
    assert t.value == np.asarray(outputs)[0, 3, 7]


@pytest.mark.parametrize("strides, dilation, padding, multiplier, data_format", [
    (1, 1, "valid", 1, "channels_last"), (2, 1, "same", 2, "channels_last"), (1, 2, "same", 3, "channels_first")])
def test_depthwise_conv_matches_loop_oracle(strides, dilation, padding, multiplier, data_format):
    shape = (7, 6, 3) if data_format == "channels_last" else (3, 7, 6)
    layer = L.DepthwiseConv2D(3, strides=strides, dilation_rate=dilation, padding=padding,
                              depth_multiplier=multiplier, data_format=data_format, activation="relu",
                              bias_initializer="random_normal", name="dw")
    model = _model(shape, layer)
    x = _data(model)
    output = np.asarray(model(x))
    kernel, bias = layer.get_weights()
    # a depthwise kernel (k, k, C, m) is a grouped kernel (k, k, 1, C*m) with one group per input channel
    grouped = kernel.reshape(3, 3, 1, -1)
    x_last = x[0] if data_format == "channels_last" else np.moveaxis(x[0], 0, -1)
    for _ in range(6):
        index = tuple(int(RNG.integers(n)) for n in output.shape[1:])
        t = trace(model, x, "dw", index)
        _check_arithmetic(t, output)
        last_index = index if data_format == "channels_last" else (*index[1:], index[0])
        expected = _direct_conv(x_last, grouped, bias[last_index[-1]], last_index, layer.strides,
                                layer.dilation_rate, padding, x_last.shape[-1])
        assert np.isclose(t.pre_activation, expected, rtol=1e-10, atol=1e-12)
        assert np.isclose(max(t.pre_activation, 0.0), t.value, rtol=1e-5, atol=1e-6)


def test_layer_object_and_errors():
    model = _model((6, 6, 2), L.ZeroPadding2D(1, name="zp"), L.Flatten(name="f"))
    x = _data(model)
    with pytest.raises(NotImplementedError, match="ZeroPadding2D.*SeparableConv2D.*Conv3DTranspose"):
        trace(model, x, "zp", (0, 0, 0))
    t = trace(model, x, model.get_layer("f"), (5,))
    assert t.layer is model.get_layer("f")
    with pytest.raises(IndexError):
        trace(model, x, "f", (10_000,))


def test_unmodelled_layer_on_the_path_gives_the_whole_input():
    model = _model((6, 5, 1), L.ZeroPadding2D(1), L.Conv2D(1, 3, name="c"))
    t = trace(model, _data(model), "c", (0, 0, 0))
    assert t.receptive_field == ((0, 6), (0, 5))


@pytest.fixture(scope="module")
def trained_lenet5():
    """LeNet-5 (seeded) after one epoch on 2,048 Fashion-MNIST training images (Debian's dataset-fashion-mnist), and
    two test images."""
    from clearconv import data
    try:
        (x_train, y_train), (x_test, y_test) = data.load("fashion-mnist", seed=0)
    except (OSError, ValueError) as error:
        pytest.skip(f"Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist): {error}")
    from clearconv.utils import set_random_seed
    set_random_seed(0)
    model = zoo.lenet5()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train[:2048], y_train[:2048], epochs=1, batch_size=64, verbose=0)
    accuracy = model.evaluate(x_test[:500], y_test[:500], verbose=0, return_dict=True)["accuracy"]
    assert accuracy > 0.3        # trained (about 0.5 after this epoch); chance is 0.1
    return model, x_test[:2]


def test_trained_lenet5_at_every_layer(trained_lenet5):
    model, x = trained_lenet5
    _check_lenet5(model, x)


def test_lenet5_at_several_layers():
    model = zoo.lenet5()
    x = np.random.default_rng(7).uniform(size=(2, 28, 28, 1)).astype("float32")
    _check_lenet5(model, x)


def _check_lenet5(model, x):
    before = _weights(model)
    final = np.asarray(model(x))
    conv1, pool1, conv2, pool2, flat, dense1, dense2, dense3 = model.layers
    # each traced value is the layer's output in the model's forward pass, computed here layer by layer
    outputs = [x]
    for layer in model.layers:
        outputs.append(np.asarray(layer(outputs[-1])))
    np.testing.assert_array_equal(outputs[-1], final)
    for position, layer in enumerate(model.layers):
        index = tuple(int(RNG.integers(n)) for n in outputs[position + 1].shape[1:])
        assert trace(model, x, layer, index).value == outputs[position + 1][0][index]
    t = trace(model, x, conv1.name, (0, 27, 3))
    assert t.receptive_field == ((-2, 3), (25, 30))
    assert t.padding[:2].all() and not t.padding[2:, :3].any()
    assert np.isclose(np.maximum(t.pre_activation, 0), t.value, rtol=1e-5, atol=1e-6)
    t = trace(model, x, conv2.name, (9, 0, 15))
    assert np.isclose(np.sum(t.products) + t.bias, t.pre_activation, rtol=1e-12)
    assert t.receptive_field == ((16, 30), (-2, 12))
    t = trace(model, x, pool2.name, (2, 3, 4))
    assert t.value == t.inputs[t.input_index]
    t = trace(model, x, dense1.name, (17,))
    assert t.receptive_field == ((-2, 30), (-2, 30))
    assert t.patch.shape == (400,)
    t = trace(model, x, dense3.name, (4,))
    assert t.value == final[0, 4]
    assert np.isclose(np.sum(t.products) + t.bias, t.pre_activation, rtol=1e-12)
    for b, a in zip(before, _weights(model)):
        assert np.array_equal(a, b)


# --- receptive field of one layer: the exact span of the cells whose change moves the value ----------

def _field_by_perturbation(model, x, name, index, channels_first=False):
    """Per spatial axis, (first, last + 1) of the input cells whose perturbation changes the value."""
    base = trace(model, x, name, index).value
    spatial = x.shape[2:] if channels_first else x.shape[1:-1]
    hits = []
    for cell in itertools.product(*[range(n) for n in spatial]):
        y = x.copy()
        where = (0, slice(None), *cell) if channels_first else (0, *cell, slice(None))
        y[where] += 1000.0
        if trace(model, y, name, index).value != base:
            hits.append(cell)
    hits = np.array(hits)
    return tuple((int(hits[:, a].min()), int(hits[:, a].max()) + 1) for a in range(len(spatial)))


def _field_by_perturbation_is_empty(model, x, name, index):
    base = trace(model, x, name, index).value
    return trace(model, x + 1000.0, name, index).value == base


def _assert_field_matches(perturbed, field, spatial):
    """The cells that move the value lie inside the receptive field, and each end of the field that lies
    inside the input is such a cell. An end in the padding says nothing about the data cells next to it:
    with dilation, the first data cell read may lie further in (causal, dilation 2: cell 1 reads -3, -1, 1)."""
    for (first, stop), (start, end), n in zip(perturbed, field, spatial):
        assert max(start, 0) <= first and stop <= min(end, n), (perturbed, field)
        if start >= 0:
            assert first == start, (perturbed, field)
        if end <= n:
            assert stop == end, (perturbed, field)


# --- separable convolution: both stages against a loop oracle ------------------------

def _direct_separable(x, depthwise, pointwise, bias, index, strides, dilation, padding):
    """Output at index (spatial..., f) of a channels_last separable conv of x (*S, C), by loops: the
    depthwise outputs at the position (channel c*dm + m), then their pointwise sum."""
    *spatial_index, f = index
    rank = len(spatial_index)
    kernel_size = depthwise.shape[:rank]
    channels, multiplier = depthwise.shape[rank:]
    pads = [_pad_amounts(n, k, s, d, padding) for n, k, s, d in zip(x.shape[:-1], kernel_size, strides, dilation)]
    padded = np.pad(x.astype(np.float64), [*pads, (0, 0)])
    middle = []
    for c in range(channels):
        for m in range(multiplier):
            total = 0.0
            for offsets in itertools.product(*[range(k) for k in kernel_size]):
                spot = tuple(i * s + o * d for i, s, o, d in zip(spatial_index, strides, offsets, dilation))
                total += padded[(*spot, c)] * float(depthwise[(*offsets, c, m)])
            middle.append(total)
    column = pointwise.reshape(-1, pointwise.shape[-1])[:, f].astype(np.float64)
    return middle, float(np.dot(middle, column) + bias)


SEPARABLE_CASES = [
    # rank, kernel, strides, dilation, padding, multiplier, data_format, activation
    (1, 3, 1, 1, "valid", 1, "channels_last", "relu"),
    (1, 4, 2, 1, "same", 2, "channels_last", None),
    (1, 3, 1, 2, "causal", 1, "channels_first", "tanh"),
    (2, 3, 1, 1, "same", 1, "channels_last", "relu"),
    (2, (2, 3), (2, 1), 1, "same", 2, "channels_last", None),
    (2, 3, 1, 2, "valid", 3, "channels_first", None),
]


@pytest.mark.parametrize("rank, kernel, strides, dilation, padding, multiplier, data_format, activation",
                         SEPARABLE_CASES)
def test_separable_conv_both_stages(rank, kernel, strides, dilation, padding, multiplier, data_format, activation):
    conv_class = {1: L.SeparableConv1D, 2: L.SeparableConv2D}[rank]
    channels, filters = 3, 4
    spatial = {1: (11,), 2: (7, 8)}[rank]
    shape = _sample_shape(spatial, channels, data_format)
    layer = conv_class(filters, kernel, strides=strides, padding=padding, dilation_rate=dilation,
                       depth_multiplier=multiplier, data_format=data_format, activation=activation,
                       bias_initializer="random_normal", name="sep")
    model, x, output, before = _run(shape, layer)
    depthwise, pointwise, bias = (np.asarray(w) for w in layer.get_weights())
    x_last = x[0] if data_format == "channels_last" else np.moveaxis(x[0], 0, -1)
    out_shape = output.shape[1:]
    indices = [tuple(int(RNG.integers(n)) for n in out_shape) for _ in range(4)]
    indices += [tuple(0 for _ in out_shape), tuple(n - 1 for n in out_shape)]
    for index in indices:
        t = trace(model, x, "sep", index)
        _check_arithmetic(t, output)
        last_index = index if data_format == "channels_last" else (*index[1:], index[0])
        middle, expected = _direct_separable(x_last, depthwise, pointwise, bias[last_index[-1]], last_index,
                                             layer.strides, layer.dilation_rate, padding)
        assert t.patch.shape == t.kernel.shape == (channels * multiplier,)
        np.testing.assert_allclose(t.patch, middle, rtol=1e-10, atol=1e-12)
        assert np.isclose(t.pre_activation, expected, rtol=1e-10, atol=1e-12)
        assert np.isclose(_apply(layer.activation, t.pre_activation), float(t.value), rtol=1e-5, atol=1e-6)
        assert len(t.stages) == channels * multiplier
        for k, stage in enumerate(t.stages):
            assert stage["channel"] == k == stage["input_channel"] * multiplier + stage["multiplier"]
            assert stage["patch"].shape == stage["kernel"].shape == stage["products"].shape == layer.kernel_size
            assert np.all(stage["patch"][stage["padding"]] == 0)
            assert np.sum(stage["products"]) == stage["value"] == t.patch[k]
            np.testing.assert_array_equal(stage["kernel"], depthwise[..., stage["input_channel"], stage["multiplier"]])
    for b, a in zip(before, _weights(model)):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("rank, strides, dilation, padding", [
    (1, 2, 1, "same"), (1, 1, 2, "causal"), (2, 2, 1, "same"), (2, 1, 2, "valid")])
def test_separable_receptive_field_by_perturbation(rank, strides, dilation, padding):
    conv_class = {1: L.SeparableConv1D, 2: L.SeparableConv2D}[rank]
    spatial = {1: (10,), 2: (7, 6)}[rank]
    model = _model((*spatial, 2), conv_class(2, 3, strides=strides, dilation_rate=dilation, padding=padding,
                                             name="sep"))
    x = _data(model, batch=1, seed=4)
    out_shape = model.output_shape[1:]
    rng = np.random.default_rng(rank * 10 + dilation)
    for index in [tuple(0 for _ in out_shape), tuple(1 for _ in out_shape), tuple(n - 1 for n in out_shape),
                  tuple(int(rng.integers(n)) for n in out_shape)]:   # cell 1 of causal dilation 2 reads -3, -1, 1
        t = trace(model, x, "sep", index)
        _assert_field_matches(_field_by_perturbation(model, x, "sep", index), t.receptive_field, spatial)


# --- transposed convolution: the cells that scatter into one output cell -----------------

def _direct_transpose(x, kernel, bias, index, strides, dilation, crops):
    """Output at index (spatial..., f) of a channels_last transposed conv of x (*S, C) with kernel
    (*k, F, C), by loops: every input cell i adds x[i] . kernel[j, f] to buffer cell i*s + j*d, and
    the output cell o is buffer cell o + crop."""
    *spatial_index, f = index
    rank = len(spatial_index)
    total = float(bias)
    for cell in itertools.product(*[range(n) for n in x.shape[:-1]]):
        for tap in itertools.product(*[range(k) for k in kernel.shape[:rank]]):
            if all(i * s + j * d == o + c for i, j, s, d, o, c in zip(cell, tap, strides, dilation,
                                                                        spatial_index, crops)):
                total += float(np.dot(x[cell].astype(np.float64), kernel[(*tap, f)].astype(np.float64)))
    return total


TRANSPOSE_CASES = [
    # rank, kernel, strides, dilation, padding, output_padding, data_format, activation
    (1, 3, 1, 1, "valid", None, "channels_last", "relu"),
    (1, 4, 2, 1, "same", None, "channels_last", None),
    (1, 3, 3, 1, "valid", 2, "channels_first", "tanh"),
    (1, 3, 1, 2, "same", None, "channels_last", None),
    (2, 3, 2, 1, "same", None, "channels_last", "relu"),
    (2, (2, 3), (3, 2), 1, "valid", (1, 0), "channels_last", None),
    (2, 3, 1, (2, 1), "same", None, "channels_first", None),
    (2, 5, 2, 1, "same", 1, "channels_last", None),
    (3, 2, 2, 1, "valid", None, "channels_last", None),
    (3, 3, 2, 1, "same", 1, "channels_first", "relu"),
]


@pytest.mark.parametrize("rank, kernel, strides, dilation, padding, output_padding, data_format, activation",
                         TRANSPOSE_CASES)
def test_conv_transpose_matches_model_and_loop_oracle(rank, kernel, strides, dilation, padding, output_padding,
                                                      data_format, activation):
    from clearconv.kernels.shapes import conv_transpose_crop
    conv_class = {1: L.Conv1DTranspose, 2: L.Conv2DTranspose, 3: L.Conv3DTranspose}[rank]
    channels, filters = 3, 4
    spatial = {1: (6,), 2: (4, 5), 3: (3, 3, 2)}[rank]
    shape = _sample_shape(spatial, channels, data_format)
    layer = conv_class(filters, kernel, strides=strides, padding=padding, output_padding=output_padding,
                       dilation_rate=dilation, data_format=data_format, activation=activation,
                       bias_initializer="random_normal", name="tconv")
    model, x, output, before = _run(shape, layer)
    kernel_values, bias_values = (np.asarray(w) for w in layer.get_weights())
    ops = layer.output_padding or (None,) * rank
    crops = [conv_transpose_crop(k, s, d, padding, p)
             for k, s, d, p in zip(layer.kernel_size, layer.strides, layer.dilation_rate, ops)]
    x_last = x[0] if data_format == "channels_last" else np.moveaxis(x[0], 0, -1)
    out_shape = output.shape[1:]
    indices = [tuple(int(RNG.integers(n)) for n in out_shape) for _ in range(4)]
    indices += [tuple(0 for _ in out_shape), tuple(n - 1 for n in out_shape)]
    for index in indices:
        t = trace(model, x, "tconv", index)
        _check_arithmetic(t, output)
        last_index = index if data_format == "channels_last" else (*index[1:], index[0])
        expected = _direct_transpose(x_last, kernel_values, bias_values[last_index[-1]], last_index,
                                     layer.strides, layer.dilation_rate, crops)
        assert np.isclose(t.pre_activation, expected, rtol=1e-10, atol=1e-12)
        assert np.isclose(_apply(layer.activation, t.pre_activation), float(t.value), rtol=1e-5, atol=1e-6)
        assert t.kernel.shape == (*layer.kernel_size, channels)
        np.testing.assert_array_equal(t.kernel, kernel_values[..., last_index[-1], :])
        # each reached tap holds the input cell it reads, at the position input_index names
        for tap in itertools.product(*[range(k) for k in layer.kernel_size]):
            cell = tuple(int(axis[tap]) for axis in t.input_index)
            if t.padding[tap].all():
                assert cell == (-1,) * rank
            else:
                assert not t.padding[tap].any()
                assert all(i * s + j * d == o + c for i, j, s, d, o, c in zip(
                    cell, tap, layer.strides, layer.dilation_rate, last_index[:-1], crops))
                np.testing.assert_array_equal(t.patch[tap], x_last[cell])
    for b, a in zip(before, _weights(model)):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("rank, kernel, strides, dilation, padding, output_padding", [
    (1, 3, 2, 1, "same", None), (1, 3, 3, 1, "valid", 2), (1, 3, 1, 2, "same", None),
    (2, 3, 2, 1, "same", 1), (2, (4, 3), (2, 3), 1, "valid", None)])
def test_conv_transpose_receptive_field_by_perturbation(rank, kernel, strides, dilation, padding, output_padding):
    conv_class = {1: L.Conv1DTranspose, 2: L.Conv2DTranspose}[rank]
    spatial = {1: (7,), 2: (4, 5)}[rank]
    model = _model((*spatial, 2), conv_class(2, kernel, strides=strides, padding=padding, dilation_rate=dilation,
                                             output_padding=output_padding, name="tconv"))
    x = _data(model, batch=1, seed=5)
    out_shape = model.output_shape[1:]
    rng = np.random.default_rng(9)
    for index in [tuple(0 for _ in out_shape), tuple(n - 1 for n in out_shape),
                  tuple(int(rng.integers(n)) for n in out_shape)]:
        t = trace(model, x, "tconv", index)
        reached = ~t.padding[..., 0]
        if not reached.any():  # a cell that only the bias reaches depends on no input cell
            assert t.pre_activation == t.bias and t.receptive_field == ()
            assert _field_by_perturbation_is_empty(model, x, "tconv", index)
            continue
        assert _field_by_perturbation(model, x, "tconv", index) == t.receptive_field


def test_conv_transpose_in_a_stack_receptive_field():
    model = _model((6, 5, 2), L.Conv2D(3, 3, padding="same", name="c"),
                   L.Conv2DTranspose(2, 3, strides=2, padding="same", name="up"),
                   L.Conv2D(2, 2, name="last"))
    x = _data(model, batch=1, seed=6)
    rng = np.random.default_rng(10)
    out_shape = model.output_shape[1:]
    for index in [tuple(0 for _ in out_shape), tuple(int(rng.integers(n)) for n in out_shape)]:
        t = trace(model, x, "last", index)
        _assert_field_matches(_field_by_perturbation(model, x, "last", index), t.receptive_field, (6, 5))
        t = trace(model, x, "up", index)
        _check_arithmetic(t, np.asarray(model.get_layer("up")(model.get_layer("c")(x))))
