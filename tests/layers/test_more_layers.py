"""Layers added for Keras 3 drop-in use: regularization (SpatialDropout1D/2D/3D, GaussianNoise,
GaussianDropout, ActivityRegularization), Identity, Permute, RepeatVector, the per-sample
normalizations (LayerNormalization, GroupNormalization, UnitNormalization) and the image layers
(Resizing, CenterCrop).

Oracles, all independent of the code under test:
* real Keras 3 (jax backend): forward outputs on the same inputs and weights, output shapes,
  config keys; jax's gradient through the Keras layer where finite differences cannot be used
  (UnitNormalization's capped gain at a zero vector);
* PyTorch (``parity.helpers.check_parity``): layer_norm, group_norm and interpolate (bilinear,
  antialiased bilinear, nearest-exact), output and every gradient, float64 and float32;
* float64 central finite differences (``gradcheck``) for every other gradient;
* statistics written out here for the random layers (drop fraction, scale, noise moments).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from clearconv import Tensor
from clearconv.layers import identity, image_preprocessing, normalization, permute, regularization, repeat_vector
from gradcheck import assert_vjp_matches
from keras_oracle import import_keras

LAYER_MODULES = (identity, image_preprocessing, normalization, permute, regularization, repeat_vector)


@pytest.fixture(scope="module")
def keras():
    return import_keras()


@pytest.fixture(scope="module")
def parity():
    """The PyTorch comparison helpers (the test skips with the reason when torch is absent)."""
    return pytest.importorskip("parity.helpers")


def ours(name: str):
    for module in LAYER_MODULES:
        if hasattr(module, name):
            return getattr(module, name)
    raise AttributeError(name)


def rand(shape, seed=0, dtype=np.float32, scale=1.0):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(dtype)


def keras_output(keras, name, kwargs, x, weights=()):
    layer = getattr(keras.layers, name)(**kwargs)
    if weights:
        layer.build(x.shape)
        layer.set_weights(weights)
    return np.asarray(layer(x))


def assert_matches_keras(actual, expected):
    """Same shape; values within the project's float32 tolerance, 1e-5 of the magnitude (Keras
    computes in float32, with its own order of operations)."""
    assert actual.shape == expected.shape
    tolerance = 1e-5 * max(1.0, float(np.max(np.abs(expected))))
    np.testing.assert_allclose(actual, expected, rtol=0, atol=tolerance)


def check_gradients_by_finite_differences(layer, x, training=None):
    """d<g, layer(x)>/dx and /d(each trainable weight) from the tape, against float64 central
    differences. ``layer`` has dtype float64."""
    layer(x)  # build
    weights = layer.get_weights()

    def forward(x, *values):
        layer.set_weights(values)
        return layer(x, training=training)

    def backward(g, x, *values):
        layer.set_weights(values)
        for variable in layer.weights:
            variable.grad = None
        tensor = Tensor(x.copy(), requires_grad=True)
        (layer(tensor, training=training) * g).sum().backward()
        return (tensor.grad, *[v.grad if v.trainable else None for v in layer.weights])
    assert_vjp_matches(forward, backward, [x, *weights], label=layer.name)


# =========================================================================== spatial dropout

SPATIAL = [  # (class, data_format, input shape): about 8000 feature maps each, few cells per map
    ("SpatialDropout1D", None, (160, 3, 50)),
    ("SpatialDropout2D", "channels_last", (160, 2, 3, 50)),
    ("SpatialDropout2D", "channels_first", (160, 50, 3, 2)),
    ("SpatialDropout3D", "channels_last", (80, 2, 2, 2, 100)),
    ("SpatialDropout3D", "channels_first", (80, 100, 2, 1, 2)),
]


def spatial_dropout(name, data_format, rate, seed=None, **kwargs):
    if data_format is not None:
        kwargs["data_format"] = data_format
    return ours(name)(rate, seed=seed, **kwargs)


def feature_maps(y, data_format):
    """(N, *S, C) or (N, C, *S) -> (N, C, cells): the cells of each feature map in a row."""
    if data_format == "channels_first":
        return y.reshape(y.shape[0], y.shape[1], -1)
    return np.moveaxis(y.reshape(y.shape[0], -1, y.shape[-1]), 2, 1)


@pytest.mark.parametrize("name, data_format, shape", SPATIAL)
def test_spatial_dropout_drops_whole_feature_maps_and_scales_the_kept_ones(name, data_format, shape):
    rate = 0.3
    y = spatial_dropout(name, data_format, rate, seed=0)(np.ones(shape, np.float32), training=True)
    maps = feature_maps(y, data_format)
    # every cell of a map shares its map's draw: 0 or 1 / (1 - rate)
    assert (maps == maps[:, :, :1]).all()
    first = maps[:, :, 0]
    assert set(np.unique(first)) <= {0.0, np.float32(1 / (1 - rate))}
    dropped = float(np.mean(first == 0))
    standard_error = math.sqrt(rate * (1 - rate) / first.size)
    assert abs(dropped - rate) < 5 * standard_error, dropped
    assert abs(float(y.mean()) - 1.0) < 5 * standard_error / (1 - rate)


@pytest.mark.parametrize("name, data_format, shape", SPATIAL)
def test_spatial_dropout_is_the_identity_unless_training(name, data_format, shape):
    x = rand(shape)
    layer = spatial_dropout(name, data_format, 0.5)
    for y in (layer(x), layer(x, training=False)):
        np.testing.assert_array_equal(y, x)
    assert layer.compute_output_shape((None, *shape[1:])) == (None, *shape[1:])


def test_spatial_dropout_backward_multiplies_by_the_same_mask():
    x = Tensor(np.ones((6, 4, 5, 8)), requires_grad=True)
    y = spatial_dropout("SpatialDropout2D", None, 0.5, seed=1, dtype="float64")(x, training=True)
    upstream = rand(y.shape, 2, np.float64)
    (y * upstream).sum().backward()
    np.testing.assert_array_equal(x.grad, upstream * y.data)  # x is ones, so y is the mask


def test_spatial_dropout_seeded_layers_repeat_their_sequence_of_masks():
    x = np.ones((8, 3, 3, 16), np.float32)
    first = spatial_dropout("SpatialDropout2D", None, 0.5, seed=7)
    second = spatial_dropout("SpatialDropout2D", None, 0.5, seed=7)
    masks = [first(x, training=True) for _ in range(2)]
    np.testing.assert_array_equal(masks[0], second(x, training=True))
    np.testing.assert_array_equal(masks[1], second(x, training=True))
    assert not np.array_equal(masks[0], masks[1])


def test_spatial_dropout_refuses_bad_rate_and_rank():
    with pytest.raises(ValueError, match=r"spatial_dropout2d.*`rate`.*\[0, 1\].*1\.5"):
        ours("SpatialDropout2D")(1.5, name="spatial_dropout2d")
    with pytest.raises(ValueError, match=r"`data_format`.*channels_last.*'nhwc'"):
        ours("SpatialDropout3D")(0.5, data_format="nhwc")
    with pytest.raises(ValueError, match=r"spatial_dropout1d.*rank 3.*\(2, 3, 4, 5\)"):
        ours("SpatialDropout1D")(0.5, name="spatial_dropout1d")(rand((2, 3, 4, 5)))
    with pytest.raises(TypeError, match="data_format"):  # Keras's SpatialDropout1D has no data_format
        ours("SpatialDropout1D")(0.5, data_format="channels_first")


# =========================================================================== gaussian noise and dropout


def test_gaussian_noise_adds_normal_noise_of_stddev_while_training():
    stddev, x = 0.2, np.full((400, 500), 3.0, np.float32)
    layer = ours("GaussianNoise")(stddev, seed=0)
    noise = (layer(x, training=True) - x).astype(np.float64)
    n = noise.size
    assert abs(noise.mean()) < 5 * stddev / math.sqrt(n)
    assert abs(noise.std() / stddev - 1) < 5 / math.sqrt(2 * n)
    # independent draws: no correlation between neighbouring elements
    assert abs(np.corrcoef(noise[:, :-1].ravel(), noise[:, 1:].ravel())[0, 1]) < 5 / math.sqrt(n)
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_array_equal(layer(x, training=False), x)


def test_gaussian_noise_gradient_passes_through():
    x = Tensor(rand((5, 7), dtype=np.float64), requires_grad=True)
    upstream = rand((5, 7), 1, np.float64)
    y = ours("GaussianNoise")(0.5, seed=1, dtype="float64")(x, training=True)
    assert not np.array_equal(y.data, x.data)
    (y * upstream).sum().backward()
    np.testing.assert_array_equal(x.grad, upstream)


def test_gaussian_dropout_multiplies_by_normal_noise_around_one_while_training():
    rate, x = 0.25, np.full((400, 500), 2.0, np.float32)
    layer = ours("GaussianDropout")(rate, seed=0)
    factor = (layer(x, training=True) / x).astype(np.float64)
    stddev, n = math.sqrt(rate / (1 - rate)), factor.size
    assert abs(factor.mean() - 1) < 5 * stddev / math.sqrt(n)
    assert abs(factor.std() / stddev - 1) < 5 / math.sqrt(2 * n)
    np.testing.assert_array_equal(layer(x), x)


def test_gaussian_dropout_gradient_is_the_noise_factor():
    x_data = rand((5, 7), dtype=np.float64) + 3.0  # away from zero, so y / x recovers the factor
    x = Tensor(x_data, requires_grad=True)
    upstream = rand((5, 7), 1, np.float64)
    y = ours("GaussianDropout")(0.4, seed=2, dtype="float64")(x, training=True)
    (y * upstream).sum().backward()
    np.testing.assert_allclose(x.grad, upstream * y.data / x_data, rtol=1e-12)


def test_seeded_noise_layers_are_reproducible():
    x = np.zeros((4, 6), np.float32)
    for name, argument in (("GaussianNoise", 0.3), ("GaussianDropout", 0.3)):
        x_used = x + 1
        a = ours(name)(argument, seed=5)(x_used, training=True)
        b = ours(name)(argument, seed=5)(x_used, training=True)
        c = ours(name)(argument, seed=6)(x_used, training=True)
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)


def test_noise_layers_refuse_bad_arguments():
    with pytest.raises(ValueError, match=r"gaussian_noise.*`stddev`.*\[0, 1\].*-0\.1"):
        ours("GaussianNoise")(-0.1, name="gaussian_noise")
    with pytest.raises(ValueError, match=r"`rate`.*\[0, 1\).*rate=1"):
        ours("GaussianDropout")(1)
    with pytest.raises(ValueError, match=r"`seed`.*non-negative integer.*'a'"):
        ours("GaussianNoise")(0.1, seed="a")


# =========================================================================== activity regularization


def test_activity_regularization_loss_matches_keras(keras):
    x = rand((3, 4, 5))
    reference = keras.layers.ActivityRegularization(l1=0.1, l2=0.2)
    reference(x)
    layer = ours("ActivityRegularization")(l1=0.1, l2=0.2)
    np.testing.assert_array_equal(layer(x), x)
    (loss,) = layer.losses
    np.testing.assert_allclose(float(np.asarray(getattr(loss, "data", loss))),
                               float(np.asarray(reference.losses[0])), rtol=1e-6)


def test_activity_regularization_is_the_identity_and_its_loss_backpropagates():
    x = rand((3, 4), dtype=np.float64)
    layer = ours("ActivityRegularization")(l1=0.1, l2=0.2, dtype="float64")
    np.testing.assert_array_equal(layer(x), x)

    def penalty(x):
        layer(Tensor(x))
        return np.asarray(layer.losses[0].data)

    def backward(g, x):
        tensor = Tensor(x.copy(), requires_grad=True)
        layer(tensor)
        (layer.losses[0] * g).backward()
        return (tensor.grad,)
    assert_vjp_matches(penalty, backward, [x])


def test_activity_regularization_refuses_negative_factors():
    with pytest.raises(ValueError, match=r"activity_regularization.*l2.*non-negative.*-1"):
        ours("ActivityRegularization")(l2=-1, name="activity_regularization")


# =========================================================================== identity, permute, repeat vector, unit norm

SHAPE_LAYERS = [  # (layer name, kwargs, input shape)
    ("Identity", {}, (2, 3, 4)),
    ("Permute", {"dims": (2, 1)}, (2, 3, 4)),
    ("Permute", {"dims": (3, 1, 2)}, (2, 3, 4, 5)),
    ("RepeatVector", {"n": 3}, (2, 4)),
    ("UnitNormalization", {}, (2, 3, 4)),
    ("UnitNormalization", {"axis": [1, 2]}, (2, 3, 4)),
    ("UnitNormalization", {"axis": (1, -1)}, (2, 3, 2, 4)),
]


@pytest.mark.parametrize("name, kwargs, shape", SHAPE_LAYERS)
def test_shape_layers_match_keras(keras, name, kwargs, shape):
    x = rand(shape, 1)
    layer = ours(name)(**kwargs)
    assert_matches_keras(layer(x), keras_output(keras, name, kwargs, x))
    symbolic = (None, *shape[1:])
    assert layer.compute_output_shape(symbolic) == tuple(getattr(keras.layers, name)(**kwargs)
                                                         .compute_output_shape(symbolic))


@pytest.mark.parametrize("name, kwargs, shape", SHAPE_LAYERS)
def test_shape_layers_gradients(name, kwargs, shape):
    check_gradients_by_finite_differences(ours(name)(dtype="float64", **kwargs), rand(shape, 2, np.float64))


def test_unit_normalization_capped_gain_matches_keras_value_and_formula(keras):
    x = rand((3, 4), 3)
    x[1] = 0.0
    x[2] *= 5e-13 / np.linalg.norm(x[2])  # norm below 1e-12: the gain is capped at 1e12
    layer = ours("UnitNormalization")()
    assert_matches_keras(layer(x), np.asarray(keras.layers.UnitNormalization()(x)))
    upstream = rand((3, 4), 4)
    tensor = Tensor(x, requires_grad=True)
    (layer(tensor) * upstream).sum().backward()
    # Keras's gain min(1 / ||x||, 1e12) is a constant where capped, so there dx = 1e12 * g. (Keras on
    # jax gives NaN at a zero vector: it differentiates the unused branch 1 / ||x|| as 0 * inf.)
    np.testing.assert_allclose(tensor.grad[1:], 1e12 * upstream[1:], rtol=1e-6)


def test_identity_passes_a_list_through():
    a, b = rand((2, 3)), rand((2, 4), 1)
    out = ours("Identity")()([a, b])
    np.testing.assert_array_equal(out[0], a)
    np.testing.assert_array_equal(out[1], b)


def test_shape_layers_refuse_bad_arguments():
    with pytest.raises(ValueError, match=r"permute.*`dims`.*permutation of 1\.\.2.*\(1, 3\)"):
        ours("Permute")((1, 3), name="permute")
    with pytest.raises(ValueError, match=r"`dims`.*\(0, 1\)"):
        ours("Permute")((0, 1))
    with pytest.raises(ValueError, match=r"rank 3.*\(2, 3, 4, 5\)"):
        ours("Permute")((2, 1))(rand((2, 3, 4, 5)))
    with pytest.raises(TypeError, match=r"repeat_vector.*`n`.*integer.*2\.0"):
        ours("RepeatVector")(2.0, name="repeat_vector")
    with pytest.raises(ValueError, match=r"`n`.*positive.*n=0"):
        ours("RepeatVector")(0)
    with pytest.raises(ValueError, match=r"rank 2.*\(2, 3, 4\)"):
        ours("RepeatVector")(2)(rand((2, 3, 4)))
    with pytest.raises(TypeError, match=r"unit_normalization.*`axis`.*'x'"):
        ours("UnitNormalization")(axis="x", name="unit_normalization")
    with pytest.raises(ValueError, match=r"`axis`=3.*out of range.*\(2, 3\)"):
        ours("UnitNormalization")(axis=3)(rand((2, 3)))


# =========================================================================== layer and group normalization

LAYER_NORM_CASES = [  # (input shape, kwargs)
    ((4, 6), {}),
    ((2, 3, 5), {"epsilon": 1e-5}),
    ((2, 4, 3, 5), {"axis": [1, 2, 3]}),
    ((2, 4, 3, 5), {"axis": [-1, 1]}),
    ((3, 5, 4), {"axis": 1, "center": False}),
    ((3, 5, 4), {"scale": False, "epsilon": 0.1}),
    ((2, 3, 4), {"center": False, "scale": False}),
]


def normalization_weights(layer, seed):
    """Random gamma (around 1) and beta for a built layer, in its weight order."""
    return [rand(w.shape, seed + i, w.dtype) * 0.5 + (1.0 if w.name == "gamma" else 0.0)
            for i, w in enumerate(layer.weights)]


# Keras runs each new shape through XLA compilation (about 0.4 s): it checks a spread subset, torch all.
KERAS_LAYER_NORM_CASES = [LAYER_NORM_CASES[i] for i in (0, 2, 3)]


@pytest.mark.parametrize("shape, kwargs", KERAS_LAYER_NORM_CASES)
def test_layer_normalization_matches_keras(keras, shape, kwargs):
    x = rand(shape, 5, scale=2.0) + 1.0
    layer = ours("LayerNormalization")(**kwargs)
    layer.build(shape)
    weights = normalization_weights(layer, 6)
    layer.set_weights(weights)
    assert_matches_keras(layer(x), keras_output(keras, "LayerNormalization", kwargs, x, weights))


def test_layer_normalization_rms_scaling_matches_keras(keras):
    x = rand((3, 4, 5), 7) + 0.5
    with pytest.warns(UserWarning, match="deprecated"):
        layer = ours("LayerNormalization")(rms_scaling=True)
    layer.build(x.shape)
    assert [w.name for w in layer.weights] == ["gamma"]  # no beta, as in Keras
    weights = normalization_weights(layer, 8)
    layer.set_weights(weights)
    with pytest.warns(UserWarning):
        expected = keras_output(keras, "LayerNormalization", {"rms_scaling": True}, x, weights)
    assert_matches_keras(layer(x), expected)


def torch_layer_norm(parity, shape, kwargs):
    """F.layer_norm normalises trailing axes: move the normalised axes last, then back.

    Keras's weights span ``sorted(axis)`` as given and are laid over the axes by a reshape
    (layer_normalization in keras/src/ops/nn.py), so the reference reshapes them too: for
    ``[-1, 1]`` on (N, H, W, C) a (C, H) weight is read as (H, C)."""
    ndim = len(shape)
    axis = kwargs.get("axis", -1)
    axes = sorted({a % ndim for a in (axis if isinstance(axis, list) else [axis])})
    order = [a for a in range(ndim) if a not in axes] + axes
    inverse = list(np.argsort(order))
    names = [n for n, flag in (("gamma", kwargs.get("scale", True)), ("beta", kwargs.get("center", True))) if flag]

    def reference(inputs, weights):
        named = dict(zip(names, weights))
        moved = inputs[0].permute(*order)
        normalized = [shape[a] for a in axes]
        gamma, beta = named.get("gamma"), named.get("beta")
        y = parity.TF.layer_norm(moved, normalized, weight=None if gamma is None else gamma.reshape(normalized),
                                 bias=None if beta is None else beta.reshape(normalized),
                                 eps=kwargs.get("epsilon", 1e-3))
        return y.permute(*inverse)
    return reference


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape, kwargs", LAYER_NORM_CASES)
def test_layer_normalization_forward_and_gradients_match_torch(parity, shape, kwargs, dtype):
    case = {"layer": "layer_normalization", "shape": shape, **kwargs, "dtype": dtype}
    built = ours("LayerNormalization")(dtype=dtype, **kwargs)
    built.build(shape)
    weights = normalization_weights(built, 9)
    layer = ours("LayerNormalization")(dtype=dtype, **kwargs)
    x = rand(shape, 10, dtype, scale=2.0) + 1.0
    parity.check_parity(layer, x, torch_layer_norm(parity, shape, kwargs), case, weights=weights)


def test_layer_normalization_rms_scaling_gradients():
    with pytest.warns(UserWarning):
        layer = ours("LayerNormalization")(rms_scaling=True, dtype="float64", gamma_initializer="random_normal")
    check_gradients_by_finite_differences(layer, rand((3, 5), 11, np.float64) + 0.5)


GROUP_NORM_CASES = [  # (input shape, kwargs)
    ((2, 5, 4, 6), {"groups": 3}),
    ((2, 6, 5, 4), {"groups": 2, "axis": 1}),
    ((2, 3, 4, 4), {"groups": -1, "epsilon": 1e-5}),  # one group per channel: instance normalization
    ((3, 7, 4), {"groups": 1}),
    ((3, 7, 4), {"groups": 4, "center": False}),
    ((2, 3, 2, 3, 6), {"groups": 2, "scale": False}),
    ((2, 8, 3, 5), {"groups": 4, "axis": -3}),
]


KERAS_GROUP_NORM_CASES = [GROUP_NORM_CASES[i] for i in (0, 1)]


@pytest.mark.parametrize("shape, kwargs", KERAS_GROUP_NORM_CASES)
def test_group_normalization_matches_keras(keras, shape, kwargs):
    x = rand(shape, 12, scale=2.0) - 0.5
    layer = ours("GroupNormalization")(**kwargs)
    layer.build(shape)
    weights = normalization_weights(layer, 13)
    layer.set_weights(weights)
    assert_matches_keras(layer(x), keras_output(keras, "GroupNormalization", kwargs, x, weights))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape, kwargs", GROUP_NORM_CASES)
def test_group_normalization_forward_and_gradients_match_torch(parity, shape, kwargs, dtype):
    case = {"layer": "group_normalization", "shape": shape, **kwargs, "dtype": dtype}
    axis = kwargs.get("axis", -1) % len(shape)
    groups = kwargs["groups"] if kwargs["groups"] != -1 else shape[axis]
    names = [n for n, flag in (("gamma", kwargs.get("scale", True)), ("beta", kwargs.get("center", True))) if flag]

    def reference(inputs, weights):
        named = dict(zip(names, weights))
        channels = parity.torch.ones(shape[axis], dtype=inputs[0].dtype)
        # An absent gamma or beta is given as ones or zeros: torch 2.13's group_norm backward fails on
        # 5-d inputs with only one of them ("tensor does not have a device").
        y = parity.TF.group_norm(inputs[0].movedim(axis, 1), groups, weight=named.get("gamma", channels),
                                 bias=named.get("beta", 0 * channels), eps=kwargs.get("epsilon", 1e-3))
        return y.movedim(1, axis)

    layer = ours("GroupNormalization")(dtype=dtype, **kwargs)
    layer.build(shape)
    weights = normalization_weights(layer, 14)
    layer = ours("GroupNormalization")(dtype=dtype, **kwargs)
    parity.check_parity(layer, rand(shape, 15, dtype, scale=2.0) - 0.5, reference, case, weights=weights)


def test_normalization_layers_refuse_bad_arguments():
    with pytest.raises(ValueError, match=r"group_normalization.*channels \(6\).*multiple of `groups`.*groups=4"):
        ours("GroupNormalization")(4, name="group_normalization")(rand((2, 3, 6)))
    with pytest.raises(ValueError, match=r"channels \(2\).*groups=4"):
        ours("GroupNormalization")(4)(rand((2, 3, 2)))
    with pytest.raises(ValueError, match=r"`groups`.*positive integer, or -1.*groups=0"):
        ours("GroupNormalization")(0)
    with pytest.raises(ValueError, match=r"`axis`.*batch axis 0"):
        ours("GroupNormalization")(1, axis=0)(rand((2, 3)))
    with pytest.raises(TypeError, match=r"`axis`.*an int.*\[1, 2\]"):
        ours("GroupNormalization")(1, axis=[1, 2])
    with pytest.raises(TypeError, match=r"layer_normalization.*`axis`.*'last'"):
        ours("LayerNormalization")(axis="last", name="layer_normalization")
    with pytest.raises(ValueError, match=r"`axis`=\[1, 3\].*out of range.*\(2, 3, 4\)"):
        ours("LayerNormalization")(axis=[1, 3])(rand((2, 3, 4)))
    with pytest.raises(ValueError, match=r"`epsilon`.*non-negative.*-1"):
        ours("LayerNormalization")(epsilon=-1)
    with pytest.raises(ValueError, match=r"built for sizes \(4,\).*\(2, 5\)"):
        layer = ours("LayerNormalization")()
        layer(rand((2, 4)))
        layer(rand((2, 5)))
    with pytest.raises(ValueError, match=r"`gamma_initializer`"):
        ours("LayerNormalization")(gamma_initializer="no_such_initializer")


# =========================================================================== resizing and center crop

RESIZE_CASES = [  # (input shape, height, width, kwargs); channels_last unless data_format says otherwise
    ((2, 5, 7, 3), 9, 4, {}),                                 # up on one axis, down on the other
    ((2, 8, 8, 2), 3, 5, {}),                                 # non-integer downscaling
    ((2, 4, 3, 2), 12, 12, {}),                               # integer upscaling
    ((1, 17, 9, 2), 5, 4, {"antialias": True}),
    ((2, 7, 5, 3), 10, 3, {"interpolation": "nearest"}),
    ((2, 6, 9, 2), 4, 4, {"interpolation": "nearest"}),
    ((2, 3, 6, 8), 4, 11, {"data_format": "channels_first"}),
    ((6, 7, 3), 3, 2, {}),                                    # a single image (rank 3)
    ((2, 3, 10, 5), 6, 6, {"data_format": "channels_first", "interpolation": "nearest"}),
    ((2, 10, 4, 3), 6, 6, {"crop_to_aspect_ratio": True}),
    ((2, 5, 11, 2), 4, 3, {"crop_to_aspect_ratio": True, "interpolation": "nearest"}),
    ((2, 4, 9, 2), 6, 6, {"pad_to_aspect_ratio": True, "fill_value": 0.5}),
    ((2, 2, 9, 5), 7, 5, {"pad_to_aspect_ratio": True, "data_format": "channels_first"}),
    ((2, 9, 4, 2), 5, 5, {"pad_to_aspect_ratio": True, "interpolation": "nearest", "fill_value": -1.0}),
]


def resize_id(case):
    shape, height, width, kwargs = case
    return f"{'x'.join(map(str, shape))}-to-{height}x{width}" + "".join(f"-{k}={v}" for k, v in kwargs.items())


# Every feature once (torch checks the plain resizes all, forward and backward).
KERAS_RESIZE_CASES = [RESIZE_CASES[i] for i in (0, 1, 3, 4, 6, 7, 9, 11, 12)]


@pytest.mark.parametrize("case", KERAS_RESIZE_CASES, ids=resize_id)
def test_resizing_matches_keras(keras, case):
    shape, height, width, kwargs = case
    x = rand(shape, 16)
    layer = ours("Resizing")(height, width, **kwargs)
    y = layer(x)
    expected = keras_output(keras, "Resizing", dict(height=height, width=width, **kwargs), x)
    if kwargs.get("interpolation") == "nearest":
        np.testing.assert_array_equal(y, expected)  # a copy of input cells: exact
    else:
        assert_matches_keras(y, expected)
    assert layer.compute_output_shape(shape) == expected.shape
    symbolic = (None, *shape[1:]) if len(shape) == 4 else shape
    assert layer.compute_output_shape(symbolic) == tuple(
        keras.layers.Resizing(height, width, **kwargs).compute_output_shape(symbolic))


TORCH_RESIZE_CASES = [case for case in RESIZE_CASES
                      if not ({"crop_to_aspect_ratio", "pad_to_aspect_ratio"} & set(case[3])) and len(case[0]) == 4]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", TORCH_RESIZE_CASES, ids=resize_id)
def test_resizing_forward_and_gradient_match_torch_interpolate(parity, case, dtype):
    shape, height, width, kwargs = case
    data_format = kwargs.get("data_format", "channels_last")
    nearest = kwargs.get("interpolation") == "nearest"

    def reference(inputs, weights):
        images = parity.to_torch_layout(inputs[0], data_format)
        if nearest:
            y = parity.TF.interpolate(images, size=(height, width), mode="nearest-exact")
        else:
            y = parity.TF.interpolate(images, size=(height, width), mode="bilinear", align_corners=False,
                                      antialias=kwargs.get("antialias", False))
        return parity.from_torch_layout(y, data_format)
    described = {"layer": "resizing", "shape": shape, "height": height, "width": width, **kwargs, "dtype": dtype}
    layer = ours("Resizing")(height, width, dtype=dtype, **kwargs)
    parity.check_parity(layer, rand(shape, 17, dtype), reference, described)


@pytest.mark.parametrize("case", [c for c in RESIZE_CASES if c not in TORCH_RESIZE_CASES], ids=resize_id)
def test_resizing_gradients_with_crop_pad_or_one_image(case):
    shape, height, width, kwargs = case
    layer = ours("Resizing")(height, width, dtype="float64", **kwargs)
    check_gradients_by_finite_differences(layer, rand(shape, 18, np.float64))


CENTER_CROP_CASES = [  # (input shape, height, width, data_format)
    ((2, 7, 8, 3), 4, 5, "channels_last"),     # odd and even margins
    ((2, 7, 8, 3), 7, 8, "channels_last"),     # nothing to cut
    ((2, 3, 9, 6), 5, 2, "channels_first"),
    ((6, 5, 2), 3, 3, "channels_last"),        # a single image
    ((2, 4, 6, 2), 6, 3, "channels_last"),     # taller than the image: cropped to the ratio and resized
    ((2, 2, 5, 4), 8, 8, "channels_first"),    # larger on both axes
]


@pytest.mark.parametrize("shape, height, width, data_format", CENTER_CROP_CASES)
def test_center_crop_matches_keras(keras, shape, height, width, data_format):
    x = rand(shape, 19)
    layer = ours("CenterCrop")(height, width, data_format=data_format)
    y = layer(x)
    assert_matches_keras(y, keras_output(keras, "CenterCrop", dict(height=height, width=width,
                                                                    data_format=data_format), x))
    assert layer.compute_output_shape(shape) == y.shape


def test_center_crop_cuts_the_central_window():
    x = rand((2, 7, 8, 3), 20)
    np.testing.assert_array_equal(ours("CenterCrop")(4, 5)(x), x[:, 1:5, 1:6, :])


@pytest.mark.parametrize("shape, height, width, data_format", CENTER_CROP_CASES)
def test_center_crop_gradients(shape, height, width, data_format):
    layer = ours("CenterCrop")(height, width, data_format=data_format, dtype="float64")
    check_gradients_by_finite_differences(layer, rand(shape, 21, np.float64))


def test_interpolation_matrices_are_keras_sampling_written_out():
    # bilinear 4 -> 2: samples at 0.5 and 2.5, halfway between cells
    np.testing.assert_allclose(image_preprocessing.interpolation_matrix(4, 2, "bilinear"),
                               [[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]])
    # bilinear 2 -> 4: samples at -0.25 (the edge cell), 0.25, 0.75, 1.25 (the edge cell)
    np.testing.assert_allclose(image_preprocessing.interpolation_matrix(2, 4, "bilinear"),
                               [[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]])
    # nearest 3 -> 2: floor((o + 0.5) * 1.5) = 0, 2
    np.testing.assert_array_equal(image_preprocessing.interpolation_matrix(3, 2, "nearest"),
                                  [[1, 0, 0], [0, 0, 1]])


def test_image_layers_refuse_bad_arguments():
    with pytest.raises(ValueError, match=r"resizing.*`interpolation`.*'bilinear', 'nearest'.*Keras interpolation.*"
                                         r"'bicubic'"):
        ours("Resizing")(4, 4, interpolation="bicubic", name="resizing")
    with pytest.raises(ValueError, match=r"`interpolation`.*'cubic'"):
        ours("Resizing")(4, 4, interpolation="cubic")
    with pytest.raises(ValueError, match=r"only one of `crop_to_aspect_ratio` and `pad_to_aspect_ratio`"):
        ours("Resizing")(4, 4, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True)
    with pytest.raises(ValueError, match=r"`fill_mode` must be 'constant'.*'reflect'"):
        ours("Resizing")(4, 4, fill_mode="reflect")
    with pytest.raises(ValueError, match=r"`height`.*positive integer.*height=0"):
        ours("Resizing")(0, 4)
    with pytest.raises(ValueError, match=r"center_crop.*`width`.*width=2\.5"):
        ours("CenterCrop")(3, 2.5, name="center_crop")
    with pytest.raises(ValueError, match=r"rank 4.*rank 3.*\(2, 3, 4, 5, 6\)"):
        ours("CenterCrop")(2, 2)(rand((2, 3, 4, 5, 6)))


# =========================================================================== configs

CONFIG_CASES = [  # (layer name, constructor kwargs)
    ("SpatialDropout1D", {"rate": 0.2, "seed": 3}),
    ("SpatialDropout2D", {"rate": 0.2, "data_format": "channels_first"}),
    ("SpatialDropout3D", {"rate": 0.4}),
    ("GaussianNoise", {"stddev": 0.3, "seed": 1}),
    ("GaussianDropout", {"rate": 0.1}),
    ("ActivityRegularization", {"l1": 0.01, "l2": 0.02}),
    ("Identity", {}),
    ("Permute", {"dims": (3, 1, 2)}),
    ("RepeatVector", {"n": 4}),
    ("UnitNormalization", {"axis": [1, 2]}),
    ("LayerNormalization", {"axis": [1, 2], "epsilon": 1e-5, "center": False, "gamma_regularizer": "l2"}),
    ("GroupNormalization", {"groups": 4, "axis": 1, "scale": False, "beta_initializer": "ones"}),
    ("Resizing", {"height": 5, "width": 6, "interpolation": "nearest", "pad_to_aspect_ratio": True,
                  "fill_value": 1.0, "data_format": "channels_first"}),
    ("CenterCrop", {"height": 3, "width": 2}),
]


@pytest.mark.parametrize("name, kwargs", CONFIG_CASES, ids=[case[0] for case in CONFIG_CASES])
def test_config_has_keras_keys_and_round_trips(keras, name, kwargs):
    layer = ours(name)(**kwargs)
    config = layer.get_config()
    assert set(config) == set(getattr(keras.layers, name)(**kwargs).get_config())
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    for key, value in kwargs.items():
        assert config[key] == (list(value) if name in ("UnitNormalization", "LayerNormalization")
                               and key == "axis" else value)


def test_algorithm_for_takes_a_keras_shape_with_an_unknown_batch():
    """algorithm_for((None, ...)) reads the batch as one sample, as the FFT cost model needs a number."""
    from clearconv import layers as layers_module
    layer = layers_module.Conv2D(8, 9)
    assert layer.algorithm_for((None, 64, 64, 16)) == layer.algorithm_for((1, 64, 64, 16))
    assert layer.algorithm_for((None, 64, 64, 16)) in ("im2col", "fft")
