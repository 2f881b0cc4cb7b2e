"""``model.fold_batchnorm()``: BatchNormalization merged into the layer before it.

The oracle is the unfolded model's own ``predict``: the folded model must give
the same outputs (1e-5 of the largest output, float32) while holding no
BatchNormalization where the fold is exact, and keep it where it is not. The
statistics are random, never Keras's initial gamma=1, beta=0, mean=0, var=1,
under which the fold would be an identity and every test would pass.
"""

import sys

import numpy as np
import pytest

from clearconv import activations, autograd, zoo
from clearconv import layers as L
from clearconv.autograd import Tensor
from clearconv.models import Model, Sequential, load_model

RELATIVE_TOLERANCE = 1e-5


def randomize(model, seed=0):
    """Random BatchNormalization statistics and biases (kernels keep their random initialisation)."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        kind = weight.name.rsplit("/", 1)[-1]
        if kind == "gamma":
            weight.assign(rng.uniform(0.5, 1.5, weight.shape))
        elif kind in ("beta", "moving_mean", "bias"):
            weight.assign(rng.normal(0.0, 0.5, weight.shape))
        elif kind == "moving_variance":
            weight.assign(rng.uniform(0.2, 2.0, weight.shape))
    return model


def inputs_for(model, count=6, seed=1):
    rng = np.random.default_rng(seed)
    arrays = [rng.random((count, *symbol.shape[1:]), dtype=np.float32) for symbol in model.inputs]
    return arrays[0] if len(arrays) == 1 else arrays


def assert_same_outputs(actual, expected):
    actual = actual if isinstance(actual, list) else [actual]
    expected = expected if isinstance(expected, list) else [expected]
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected):
        assert isinstance(got, np.ndarray) and got.shape == want.shape and got.dtype == want.dtype
        scale = float(np.abs(want).max())
        np.testing.assert_allclose(got, want, rtol=RELATIVE_TOLERANCE, atol=RELATIVE_TOLERANCE * scale)


def batchnorms(model) -> list:
    """Every BatchNormalization layer, nested models included."""
    found = []
    for layer in model.layers:
        if isinstance(layer, Model):
            found += batchnorms(layer)
        elif isinstance(layer, L.BatchNormalization):
            found.append(layer)
    return found


# --- folds that must happen -------------------------------------------------------------

def relu_layers(model) -> int:
    return sum(isinstance(layer, L.ReLU) for layer in model.layers)


def relu_activated(model) -> int:
    return sum(activations.builtin_name(getattr(layer, "activation", None)) == "relu" for layer in model.layers)


@pytest.mark.parametrize("name, input_shape", [("small_vgg", (28, 28, 1)), ("small_resnet", (28, 28, 1)),
                                               ("unet", (32, 32, 1))])
def test_zoo_models_lose_every_batchnorm_and_keep_their_outputs(name, input_shape):
    model = randomize(zoo.get(name, input_shape=input_shape))
    count = len(batchnorms(model))
    assert count > 0
    x = inputs_for(model, count=8)
    folded = model.fold_batchnorm()
    assert type(folded) is type(model) and folded is not model
    assert batchnorms(folded) == []
    # Every ReLU layer that vanished became a layer's own activation.
    absorbed = relu_activated(folded) - relu_activated(model)
    assert absorbed > 0 and relu_layers(model) - relu_layers(folded) == absorbed
    assert len(folded.layers) == len(model.layers) - count - absorbed
    assert_same_outputs(folded.predict(x), model.predict(x))
    convs = [layer for layer in folded.layers if isinstance(layer, L.Conv2D)]
    assert convs and all(layer.use_bias for layer in convs)


def conv_bn(conv, input_shape, **batchnorm):
    return [conv, L.BatchNormalization(**batchnorm), L.ReLU()], input_shape


KINDS = {
    "conv1d-bias": lambda: conv_bn(L.Conv1D(4, 3), (10, 2)),
    "conv2d-no-bias": lambda: conv_bn(L.Conv2D(6, 3, padding="same", use_bias=False), (7, 7, 3)),
    "conv2d-groups": lambda: conv_bn(L.Conv2D(6, 3, groups=2), (7, 7, 4)),
    "conv2d-strided": lambda: conv_bn(L.Conv2D(5, 3, strides=2), (9, 9, 2)),
    "conv2d-dilated": lambda: conv_bn(L.Conv2D(5, 3, dilation_rate=2), (9, 9, 2)),
    "conv3d": lambda: conv_bn(L.Conv3D(3, 2), (4, 5, 5, 2)),
    "conv2d-channels-first": lambda: conv_bn(L.Conv2D(5, 3, data_format="channels_first"), (3, 7, 7), axis=1),
    "conv1d-transpose": lambda: conv_bn(L.Conv1DTranspose(4, 3, strides=2), (6, 3)),
    "conv2d-transpose": lambda: conv_bn(L.Conv2DTranspose(5, 2, strides=2, use_bias=False), (4, 4, 3)),
    "conv2d-transpose-channels-first": lambda: conv_bn(L.Conv2DTranspose(5, 3, data_format="channels_first"),
                                                       (3, 4, 4), axis=1),
    "conv3d-transpose": lambda: conv_bn(L.Conv3DTranspose(3, 2, strides=2), (2, 3, 3, 2)),
    "depthwise1d": lambda: conv_bn(L.DepthwiseConv1D(3, depth_multiplier=3), (8, 2)),
    "depthwise2d": lambda: conv_bn(L.DepthwiseConv2D(3, depth_multiplier=2, use_bias=False), (6, 6, 3)),
    "separable1d": lambda: conv_bn(L.SeparableConv1D(4, 3, depth_multiplier=2), (8, 3)),
    "separable2d": lambda: conv_bn(L.SeparableConv2D(5, 3, use_bias=False), (6, 6, 3)),
    "dense": lambda: conv_bn(L.Dense(5), (7,)),
    "dense-rank3": lambda: conv_bn(L.Dense(5, use_bias=False), (4, 7)),
    "no-center": lambda: conv_bn(L.Conv2D(4, 3), (6, 6, 2), center=False),
    "no-scale": lambda: conv_bn(L.Conv2D(4, 3), (6, 6, 2), scale=False),
    "no-center-no-scale": lambda: conv_bn(L.Dense(4), (6,), center=False, scale=False),
    "large-epsilon": lambda: conv_bn(L.Conv2D(4, 3), (6, 6, 2), epsilon=0.5),
}


@pytest.mark.parametrize("case", KINDS)
def test_each_layer_kind_folds_into_one_layer_of_its_class(case):
    stack, input_shape = KINDS[case]()
    model = randomize(Sequential([L.InputLayer(shape=input_shape), *stack]), seed=len(case))
    x = inputs_for(model)
    folded = model.fold_batchnorm()
    assert isinstance(folded, Sequential)
    # The ReLU after the BatchNormalization becomes the folded layer's own activation.
    assert [type(layer) for layer in folded.layers] == [type(stack[0])]
    layer = folded.layers[0]
    assert layer.use_bias and layer.name == stack[0].name and layer is not stack[0]
    assert activations.builtin_name(layer.activation) == "relu"
    assert_same_outputs(folded.predict(x), model.predict(x))


def test_folded_dense_weights_follow_the_formula():
    dense, batchnorm = L.Dense(3), L.BatchNormalization(epsilon=0.01)
    model = randomize(Sequential([L.InputLayer(shape=(4,)), dense, batchnorm]))
    kernel, bias = dense.get_weights()
    gamma, beta, mean, variance = (w.astype(np.float64) for w in batchnorm.get_weights())
    scale = gamma / np.sqrt(variance + 0.01)
    folded_kernel, folded_bias = model.fold_batchnorm().layers[0].get_weights()
    np.testing.assert_allclose(folded_kernel, kernel * scale, rtol=1e-6)
    np.testing.assert_allclose(folded_bias, (bias - mean) * scale + beta, rtol=1e-6)


def branching_model():
    """Two folds on branches that merge, one fold after a Dense, two BatchNormalizations that stay."""
    inputs = L.Input(shape=(10, 10, 3))
    left = L.ReLU()(L.BatchNormalization()(L.Conv2D(8, 3, padding="same", use_bias=False)(inputs)))
    right = L.BatchNormalization()(L.Conv2D(8, 1)(inputs))
    merged = L.Add()([left, right])
    activated = L.Conv2D(8, 3, padding="same", activation="relu")(merged)
    kept_activation = L.BatchNormalization(name="kept_activation")(activated)
    shared = L.Conv2D(8, 3, padding="same")(merged)
    joined = L.Concatenate()([L.BatchNormalization(name="kept_shared")(shared), shared, kept_activation])
    features = L.GlobalAveragePooling2D()(joined)
    scores = L.Softmax()(L.BatchNormalization()(L.Dense(4)(features)))
    return randomize(Model(inputs, [scores, features]), seed=3)


def test_functional_model_with_branches_keeps_only_the_batchnorms_that_cannot_fold():
    model = branching_model()
    x = inputs_for(model)
    folded = model.fold_batchnorm()
    assert type(folded) is Model and len(folded.outputs) == 2
    assert sorted(layer.name for layer in batchnorms(folded)) == ["kept_activation", "kept_shared"]
    # three BatchNormalizations folded, and the left branch's ReLU merged into its conv
    assert len(folded.layers) == len(model.layers) - 4
    assert relu_layers(folded) == relu_layers(model) - 1
    assert_same_outputs(folded.predict(x), model.predict(x))


def test_a_shared_nested_model_is_folded_once_and_stays_shared():
    tower = Sequential([L.Conv2D(4, 3, use_bias=False, input_shape=(8, 8, 2)), L.BatchNormalization(), L.ReLU(),
                        L.GlobalAveragePooling2D()], name="tower")
    left, right = L.Input(shape=(8, 8, 2)), L.Input(shape=(8, 8, 2))
    model = randomize(Model([left, right], L.Subtract()([tower(left), tower(right)])), seed=4)
    x = inputs_for(model)
    folded = model.fold_batchnorm()
    towers = [layer for layer in folded.layers if isinstance(layer, Sequential)]
    assert len(towers) == 1 and towers[0] is not tower
    assert [type(layer) for layer in towers[0].layers] == [L.Conv2D, L.GlobalAveragePooling2D]
    assert_same_outputs(folded.predict(x), model.predict(x))


# --- folds that must not happen ---------------------------------------------------------

def activation_inside_the_conv():
    return Sequential([L.Conv2D(4, 3, activation="relu", input_shape=(6, 6, 2)), L.BatchNormalization()])


def conv_output_consumed_twice():
    inputs = L.Input(shape=(6, 6, 2))
    conv = L.Conv2D(4, 3, padding="same")(inputs)
    return Model(inputs, L.Add()([L.BatchNormalization()(conv), conv]))


def conv_output_is_also_a_model_output():
    inputs = L.Input(shape=(6, 6, 2))
    conv = L.Conv2D(4, 3)(inputs)
    return Model(inputs, [L.BatchNormalization()(conv), conv])


def conv_layer_called_twice():
    conv = L.Conv2D(4, 3, padding="same")
    inputs = L.Input(shape=(6, 6, 4))
    return Model(inputs, L.BatchNormalization()(conv(L.BatchNormalization()(conv(inputs)))))


def batchnorm_over_the_height():
    return Sequential([L.Conv2D(4, 3, input_shape=(6, 6, 2)), L.BatchNormalization(axis=1)])


def batchnorm_over_the_width_of_channels_first():
    return Sequential([L.Conv2D(4, 3, data_format="channels_first", input_shape=(2, 6, 6)),
                       L.BatchNormalization()])


def batchnorm_over_the_time_axis_after_dense():
    return Sequential([L.Dense(3, input_shape=(5, 4)), L.BatchNormalization(axis=1)])


def batchnorm_in_another_dtype():
    return Sequential([L.Conv2D(4, 3, input_shape=(6, 6, 2)), L.BatchNormalization(dtype="float64")])


@pytest.mark.parametrize("build", [activation_inside_the_conv, conv_output_consumed_twice,
                                   conv_output_is_also_a_model_output, conv_layer_called_twice,
                                   batchnorm_over_the_height, batchnorm_over_the_width_of_channels_first,
                                   batchnorm_over_the_time_axis_after_dense, batchnorm_in_another_dtype])
def test_inexact_folds_are_left_alone(build):
    model = randomize(build(), seed=5)
    x = inputs_for(model)
    folded = model.fold_batchnorm()
    assert [type(layer) for layer in folded.layers] == [type(layer) for layer in model.layers]
    assert len(batchnorms(folded)) == len(batchnorms(model)) > 0
    assert_same_outputs(folded.predict(x), model.predict(x))


def test_an_unbuilt_model_is_refused_with_a_clear_error():
    model = Sequential([L.Conv2D(4, 3), L.BatchNormalization()], name="unbuilt")
    with pytest.raises(ValueError, match="unbuilt: fold_batchnorm\\(\\) needs a built model"):
        model.fold_batchnorm()


# --- the original, copies, saving ---------------------------------------------------------

def test_the_original_is_unchanged_and_shares_no_weight_memory():
    model = randomize(zoo.small_resnet())
    x = inputs_for(model)
    layers, weights, before = model.layers, model.get_weights(), model.predict(x)
    folded = model.fold_batchnorm()
    assert model.layers == layers
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), weights))
    assert not any(np.shares_memory(new.data, old.data) for new in folded.weights for old in model.weights)
    folded.set_weights([np.zeros_like(w) for w in folded.get_weights()])
    np.testing.assert_array_equal(model.predict(x), before)


@pytest.mark.parametrize("build", [zoo.small_vgg, zoo.small_resnet, branching_model])
def test_the_folded_model_saves_and_loads(build, tmp_path):
    folded = randomize(build()).fold_batchnorm()
    x = inputs_for(folded)
    path = tmp_path / "folded.clearconv"
    folded.save(path)
    loaded = load_model(path)
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in folded.layers]
    expected, actual = folded.predict(x), loaded.predict(x)
    for got, want in zip(actual if isinstance(actual, list) else [actual],
                         expected if isinstance(expected, list) else [expected]):
        np.testing.assert_array_equal(got, want)


# --- predict records nothing ------------------------------------------------------------

def spy_on_record(monkeypatch) -> list:
    """Replace ``autograd.record`` wherever clearconv holds it; returns the list of every tensor it makes."""
    produced, original = [], autograd.record

    def spy(data, parents, vjp):
        tensor = original(data, parents, vjp)
        produced.append(tensor)
        return tensor
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("clearconv") and getattr(module, "record", None) is original:
            monkeypatch.setattr(module, "record", spy)
    return produced


@pytest.mark.parametrize("fold", [False, True])
def test_predict_records_no_autograd_graph(fold, monkeypatch):
    model = randomize(zoo.small_vgg())
    model = model.fold_batchnorm() if fold else model
    x = inputs_for(model, count=4)
    produced = spy_on_record(monkeypatch)
    outputs = model.predict(x)
    assert type(outputs) is np.ndarray
    assert produced, "the spy saw no operation: it is not watching the layers' computation"
    assert not any(t.requires_grad or t._vjp is not None or t._parents for t in produced)
    assert autograd.is_grad_enabled()
    # The same spy does see a graph when one is asked for: a Tensor input records.
    produced.clear()
    model(Tensor(x))
    assert any(t.requires_grad and t._vjp is not None for t in produced)


@pytest.mark.parametrize("after", ["relu6", "leaky", "two-readers"])
def test_only_a_plain_relu_with_no_other_reader_becomes_the_activation(after):
    inputs = L.Input(shape=(6, 6, 2))
    normalised = L.BatchNormalization()(L.Conv2D(4, 3)(inputs))
    if after == "two-readers":
        outputs = L.Add()([L.ReLU()(normalised), normalised])
    else:
        outputs = (L.ReLU(max_value=6.0) if after == "relu6" else L.ReLU(negative_slope=0.1))(normalised)
    model = randomize(Model(inputs, outputs), seed=5)
    folded = model.fold_batchnorm()
    assert batchnorms(folded) == [] and relu_layers(folded) == 1
    assert relu_activated(folded) == 0
    x = inputs_for(model)
    assert_same_outputs(folded.predict(x), model.predict(x))
