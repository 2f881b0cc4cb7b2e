"""Layer behaviour: shapes, parameter counts, weight layouts, configs, known numbers, semantics.

Oracles, all independent of the layer code under test:
* Keras facts, from a reference note on Keras and PyTorch semantics: parameter
  formulas, weight layouts, padding split, transposed-conv output sizes, the
  small worked examples of its section 1.2;
* hand-computed numbers, and NumPy formulas written out in the test;
* the direct loops of ``clearconv.kernels.conv.reference``, fed with the layer's
  own weights and with paddings computed here by Keras's formula.
"""

from __future__ import annotations

import inspect
import math
import re
from dataclasses import dataclass, field

import numpy as np
import pytest

from clearconv import Tensor, layers, saving
from clearconv.kernels.conv.reference import (avg_pool_reference, conv_reference, conv_transpose_reference,
                                          max_pool_reference)


def rand(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# =========================================================================== tutorial examples


def test_tutorial_conv2d_on_mnist_shape():
    layer = layers.Conv2D(filters=32, kernel_size=(3, 3), activation="relu", input_shape=(28, 28, 1))
    y = layer(rand((1, 28, 28, 1)))
    assert y.shape == (1, 26, 26, 32)
    assert layer.count_params() == 3 * 3 * 1 * 32 + 32 == 320
    assert (y >= 0).all()  # relu
    assert layer.batch_input_shape == (None, 28, 28, 1)


def test_tutorial_conv2d_same_padding_on_rgb():
    layer = layers.Conv2D(32, (3, 3), padding="same", strides=(1, 1))
    y = layer(rand((2, 28, 28, 3)))
    assert y.shape == (2, 28, 28, 32)
    assert layer.count_params() == 3 * 3 * 3 * 32 + 32 == 896


# =========================================================================== every exported layer
# Each case: a constructor, the input shape(s), and the weights Keras would
# create, as (shape, trainable) in Keras order, with the parameter count from
# Keras's formula written out.


@dataclass
class Case:
    id: str
    make: object                      # () -> Layer
    input_shape: object               # tuple, or a list of tuples for merge layers
    weights: list = field(default_factory=list)   # [(shape, trainable)]
    count: int = 0                    # Keras's formula, written out


def conv_weights(kernel_size, in_channels, filters, groups=1, use_bias=True):
    """Keras ConvND: kernel (*k, in/groups, filters), bias (filters,)."""
    w = [((*kernel_size, in_channels // groups, filters), True)]
    return w + [((filters,), True)] if use_bias else w


@saving.register_keras_serializable(package="test_layers")
def _double(x):
    return x * 2.0


T, F = True, False
CASES = [
    # --- convolutions: prod(k) * in / groups * filters + filters
    Case("conv1d", lambda: layers.Conv1D(4, 3, strides=2, padding="same"), (2, 9, 3),
         conv_weights((3,), 3, 4), 3 * 3 * 4 + 4),
    Case("conv1d-causal-dilated", lambda: layers.Conv1D(2, 2, padding="causal", dilation_rate=3), (2, 10, 4),
         conv_weights((2,), 4, 2), 2 * 4 * 2 + 2),
    Case("conv2d-groups", lambda: layers.Conv2D(6, (3, 2), strides=(2, 1), padding="same", groups=2),
         (2, 7, 6, 4), conv_weights((3, 2), 4, 6, groups=2), 3 * 2 * (4 // 2) * 6 + 6),
    Case("conv2d-channels-first-nobias", lambda: layers.Conv2D(3, 2, data_format="channels_first", use_bias=False),
         (2, 4, 5, 6), conv_weights((2, 2), 4, 3, use_bias=False), 2 * 2 * 4 * 3),
    Case("conv3d", lambda: layers.Conv3D(2, (2, 3, 2), dilation_rate=(1, 2, 1)), (1, 4, 6, 4, 2),
         conv_weights((2, 3, 2), 2, 2), 2 * 3 * 2 * 2 * 2 + 2),
    # --- transposed: kernel (*k, filters, in): prod(k) * filters * in + filters
    Case("conv1d-transpose", lambda: layers.Conv1DTranspose(3, 3, strides=2), (2, 5, 4),
         [((3, 3, 4), T), ((3,), T)], 3 * 3 * 4 + 3),
    Case("conv2d-transpose", lambda: layers.Conv2DTranspose(2, (3, 2), strides=2, padding="same",
                                                            output_padding=1), (2, 3, 4, 5),
         [((3, 2, 2, 5), T), ((2,), T)], 3 * 2 * 2 * 5 + 2),
    Case("conv2d-transpose-channels-first", lambda: layers.Conv2DTranspose(2, 2, strides=2,
                                                                           data_format="channels_first"),
         (2, 3, 4, 5), [((2, 2, 2, 3), T), ((2,), T)], 2 * 2 * 2 * 3 + 2),
    Case("conv3d-transpose", lambda: layers.Conv3DTranspose(2, 2, strides=(2, 1, 2), padding="same"),
         (1, 2, 3, 2, 3), [((2, 2, 2, 2, 3), T), ((2,), T)], 8 * 2 * 3 + 2),
    # --- depthwise: prod(k) * in * dm + in * dm
    Case("depthwise1d", lambda: layers.DepthwiseConv1D(3, depth_multiplier=2, padding="same"), (2, 7, 3),
         [((3, 3, 2), T), ((6,), T)], 3 * 3 * 2 + 3 * 2),
    Case("depthwise2d", lambda: layers.DepthwiseConv2D(3, depth_multiplier=2), (2, 5, 5, 3),
         [((3, 3, 3, 2), T), ((6,), T)], 9 * 3 * 2 + 3 * 2),
    # --- separable: prod(k) * in * dm + in * dm * filters + filters
    Case("separable1d", lambda: layers.SeparableConv1D(4, 3, depth_multiplier=2, strides=2), (2, 9, 3),
         [((3, 3, 2), T), ((1, 6, 4), T), ((4,), T)], 3 * 3 * 2 + 3 * 2 * 4 + 4),
    Case("separable2d", lambda: layers.SeparableConv2D(5, (2, 3), padding="same"), (2, 5, 6, 3),
         [((2, 3, 3, 1), T), ((1, 1, 3, 5), T), ((5,), T)], 6 * 3 * 1 + 3 * 1 * 5 + 5),
    # --- core
    Case("dense", lambda: layers.Dense(4, activation="tanh"), (2, 5, 3), [((3, 4), T), ((4,), T)], 3 * 4 + 4),
    Case("flatten", lambda: layers.Flatten(), (2, 3, 4, 2)),
    Case("flatten-channels-first", lambda: layers.Flatten(data_format="channels_first"), (2, 3, 4, 2)),
    Case("reshape", lambda: layers.Reshape((4, -1)), (2, 4, 3, 2)),
    Case("dropout", lambda: layers.Dropout(0.5, seed=1), (2, 6)),
    Case("activation", lambda: layers.Activation("sigmoid"), (2, 3, 3)),
    Case("relu", lambda: layers.ReLU(max_value=1.0, negative_slope=0.1), (2, 5)),
    Case("leaky-relu", lambda: layers.LeakyReLU(0.2), (2, 5)),
    Case("elu", lambda: layers.ELU(0.5), (2, 5)),
    Case("softmax", lambda: layers.Softmax(axis=1), (2, 4, 3)),
    # PReLU alpha: input_shape[1:] with the shared axes set to 1
    Case("prelu", lambda: layers.PReLU(shared_axes=[1, 2]), (2, 4, 5, 3), [((1, 1, 3), T)], 3),
    Case("input-layer", lambda: layers.InputLayer(shape=(4, 3)), (2, 4, 3)),
    # --- merge
    Case("add", lambda: layers.Add(), [(2, 4, 3), (2, 4, 3)]),
    Case("multiply", lambda: layers.Multiply(), [(2, 4, 3), (2, 4, 3), (2, 4, 3)]),
    Case("concatenate", lambda: layers.Concatenate(axis=1), [(2, 4, 3), (2, 2, 3)]),
    Case("subtract", lambda: layers.Subtract(), [(2, 4, 3), (2, 4, 3)]),
    Case("average", lambda: layers.Average(), [(2, 4, 3), (2, 4, 3)]),
    Case("maximum", lambda: layers.Maximum(), [(2, 4, 3), (2, 1, 3)]),
    Case("minimum", lambda: layers.Minimum(), [(2, 4, 3), (2, 4, 3), (2, 4, 3)]),
    Case("dot", lambda: layers.Dot(axes=(1, 2)), [(2, 4, 3), (2, 5, 4)]),
    # --- regularization, reshaping and normalization layers beyond the first set
    Case("spatial-dropout1d", lambda: layers.SpatialDropout1D(0.3, seed=1), (2, 5, 3)),
    Case("spatial-dropout2d", lambda: layers.SpatialDropout2D(0.3, data_format="channels_first"), (2, 3, 4, 5)),
    Case("spatial-dropout3d", lambda: layers.SpatialDropout3D(0.3), (1, 2, 3, 2, 4)),
    Case("gaussian-noise", lambda: layers.GaussianNoise(0.1, seed=1), (2, 5)),
    Case("gaussian-dropout", lambda: layers.GaussianDropout(0.2), (2, 5)),
    Case("activity-regularization", lambda: layers.ActivityRegularization(l1=0.01), (2, 5)),
    Case("identity", lambda: layers.Identity(), (2, 3, 4)),
    Case("permute", lambda: layers.Permute((2, 1)), (2, 3, 4)),
    Case("repeat-vector", lambda: layers.RepeatVector(3), (2, 4)),
    Case("unit-normalization", lambda: layers.UnitNormalization(), (2, 3, 4)),
    # LayerNormalization / GroupNormalization: gamma and beta per normalised channel
    Case("layernorm", lambda: layers.LayerNormalization(), (2, 4, 3), [((3,), T), ((3,), T)], 2 * 3),
    Case("groupnorm", lambda: layers.GroupNormalization(2), (2, 4, 4, 6), [((6,), T), ((6,), T)], 2 * 6),
    Case("resizing", lambda: layers.Resizing(5, 3), (2, 4, 6, 2)),
    Case("center-crop", lambda: layers.CenterCrop(3, 2), (2, 4, 5, 2)),
    # --- augmentation (inference: the input, or for RandomCrop its central window resized to the target)
    Case("random-flip", lambda: layers.RandomFlip(seed=1), (2, 4, 6, 2)),
    Case("random-crop", lambda: layers.RandomCrop(3, 2, seed=1), (2, 4, 5, 2)),
    Case("random-contrast", lambda: layers.RandomContrast(0.3, seed=1), (2, 4, 6, 2)),
    Case("random-translation", lambda: layers.RandomTranslation(0.2, 0.1, seed=1), (2, 4, 6, 2)),
    Case("random-rotation", lambda: layers.RandomRotation(0.1, seed=1), (2, 4, 6, 2)),
    Case("random-zoom", lambda: layers.RandomZoom(0.2, seed=1), (2, 4, 6, 2)),
    # --- a registered function as a layer (saved by its registered name)
    Case("lambda", lambda: layers.Lambda(_double), (2, 4, 3)),
    # --- preprocessing: Normalization keeps mean and variance (not trainable): 2 * C
    Case("rescaling", lambda: layers.Rescaling(1 / 255, offset=-0.5), (2, 4, 3)),
    Case("normalization", lambda: layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[4.0, 1.0, 0.25]),
         (2, 4, 3), [((3,), F), ((3,), F)], 2 * 3),
    # --- normalization: gamma, beta (trainable), moving mean, moving variance (not): 4 * C
    Case("batchnorm", lambda: layers.BatchNormalization(), (2, 4, 4, 3),
         [((3,), T), ((3,), T), ((3,), F), ((3,), F)], 4 * 3),
    Case("batchnorm-axis1-no-center", lambda: layers.BatchNormalization(axis=1, center=False), (2, 5, 4),
         [((5,), T), ((5,), F), ((5,), F)], 3 * 5),
    # --- pooling
    Case("maxpool1d", lambda: layers.MaxPooling1D(3, strides=2, padding="same"), (2, 8, 3)),
    Case("maxpool2d", lambda: layers.MaxPooling2D((2, 3), strides=(1, 2)), (2, 5, 7, 3)),
    Case("maxpool2d-channels-first", lambda: layers.MaxPooling2D(data_format="channels_first"), (2, 3, 6, 5)),
    Case("maxpool3d", lambda: layers.MaxPooling3D(padding="same"), (1, 3, 4, 5, 2)),
    Case("avgpool1d", lambda: layers.AveragePooling1D(3, strides=1, padding="same"), (2, 6, 2)),
    Case("avgpool2d", lambda: layers.AveragePooling2D(2, padding="same"), (2, 5, 5, 3)),
    Case("avgpool3d", lambda: layers.AveragePooling3D((1, 2, 2)), (1, 3, 4, 4, 2)),
    Case("global-max1d", lambda: layers.GlobalMaxPooling1D(), (2, 5, 3)),
    Case("global-max2d-keepdims", lambda: layers.GlobalMaxPooling2D(keepdims=True), (2, 4, 5, 3)),
    Case("global-max3d", lambda: layers.GlobalMaxPooling3D(data_format="channels_first"), (2, 3, 2, 3, 4)),
    Case("global-avg1d", lambda: layers.GlobalAveragePooling1D(keepdims=True), (2, 5, 3)),
    Case("global-avg2d", lambda: layers.GlobalAveragePooling2D(), (2, 4, 5, 3)),
    Case("global-avg3d", lambda: layers.GlobalAveragePooling3D(), (2, 2, 3, 4, 3)),
    # --- reshaping
    Case("zeropad1d", lambda: layers.ZeroPadding1D((1, 2)), (2, 4, 3)),
    Case("zeropad2d", lambda: layers.ZeroPadding2D(((1, 2), (0, 1))), (2, 3, 4, 2)),
    Case("zeropad3d", lambda: layers.ZeroPadding3D(1, data_format="channels_first"), (1, 2, 2, 3, 2)),
    Case("crop1d", lambda: layers.Cropping1D((1, 2)), (2, 6, 3)),
    Case("crop2d", lambda: layers.Cropping2D(((1, 0), (0, 2))), (2, 4, 5, 2)),
    Case("crop3d", lambda: layers.Cropping3D(), (1, 3, 4, 5, 2)),
    Case("upsample1d", lambda: layers.UpSampling1D(3), (2, 4, 3)),
    Case("upsample2d-bilinear", lambda: layers.UpSampling2D((2, 3), interpolation="bilinear"), (2, 3, 4, 2)),
    Case("upsample3d", lambda: layers.UpSampling3D(), (1, 2, 3, 2, 2)),
]


def case_input(case, seed=0):
    if isinstance(case.input_shape, list):
        return [rand(shape, seed + i) for i, shape in enumerate(case.input_shape)]
    return rand(case.input_shape, seed)


def unbatched(shape):
    if isinstance(shape, list):
        return [(None, *s[1:]) for s in shape]
    return (None, *shape[1:])


def output_shape(y):
    return tuple(y.shape)


def test_table_covers_every_exported_layer():
    exported = {obj for name, obj in vars(layers).items()
                if inspect.isclass(obj) and issubclass(obj, layers.Layer) and obj is not layers.Layer}
    covered = {type(case.make()) for case in CASES}
    assert exported - covered == set(), "add these layers to CASES"


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_compute_output_shape_matches_real_output(case):
    layer = case.make()
    y = layer(case_input(case))
    predicted = layer.compute_output_shape(unbatched(case.input_shape))
    batch = case.input_shape[0][0] if isinstance(case.input_shape, list) else case.input_shape[0]
    assert tuple(predicted) == (None, *y.shape[1:])
    assert y.shape[0] == batch
    assert isinstance(y, np.ndarray) and y.dtype == np.float32


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_weights_count_params_and_keras_layout(case):
    layer = case.make()
    layer(case_input(case))
    assert [(w.shape, w.trainable) for w in layer.weights] == case.weights
    assert layer.count_params() == case.count == sum(math.prod(shape) for shape, _ in case.weights)
    assert [w.shape for w in layer.trainable_weights] == [s for s, t in case.weights if t]
    assert [w.shape for w in layer.non_trainable_weights] == [s for s, t in case.weights if not t]
    assert all(w.dtype == np.float32 for w in layer.weights)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_config_round_trip_gives_identical_outputs(case):
    """In inference (training=False: the augmentation layers draw otherwise), a layer rebuilt from its config
    with the same weights computes the same outputs."""
    layer = case.make()
    x = case_input(case, seed=3)
    y = layer(x, training=False)
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    clone(x, training=False)  # build
    weights = layer.get_weights()
    if weights:
        # Make the weights nontrivial (BN's moving stats, zero biases) before copying them.
        weights = [w + rand(w.shape, seed=10 + i) * 0.1 + (0.5 if i >= 2 and case.id.startswith("batchnorm")
                                                            else 0.0)
                   for i, w in enumerate(weights)]
        layer.set_weights(weights)
        y = layer(x, training=False)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(clone(x, training=False), y)


# =========================================================================== known numbers (semantics §1.2)

def ones_layer(cls, *args, **kwargs):
    return cls(*args, kernel_initializer="ones", bias_initializer="zeros", dtype="float64", **kwargs)


SEQUENCE = np.arange(1.0, 7.0).reshape(1, 6, 1)   # [1..6] as (batch, steps, channels)


def test_conv1d_same_stride2_pads_only_on_the_right():
    y = ones_layer(layers.Conv1D, 1, 3, strides=2, padding="same")(SEQUENCE)
    np.testing.assert_array_equal(y[0, :, 0], [6, 12, 11])


def test_conv1d_same_even_kernel_pads_the_extra_zero_on_the_right():
    y = ones_layer(layers.Conv1D, 1, 2, padding="same")(SEQUENCE)
    np.testing.assert_array_equal(y[0, :, 0], [3, 5, 7, 9, 11, 6])


def test_conv1d_causal():
    y = ones_layer(layers.Conv1D, 1, 3, padding="causal")(SEQUENCE)
    np.testing.assert_array_equal(y[0, :, 0], [1, 3, 6, 9, 12, 15])


def test_conv1d_causal_dilated():
    # left-pad d*(k-1) = 4 zeros; y[t] = x[t] + x[t-2] + x[t-4]
    y = ones_layer(layers.Conv1D, 1, 3, padding="causal", dilation_rate=2)(SEQUENCE)
    np.testing.assert_array_equal(y[0, :, 0], [1, 2, 4, 6, 9, 12])


def test_average_pooling1d_same_divides_by_real_cells():
    y = layers.AveragePooling1D(3, 1, "same", dtype="float64")(SEQUENCE)
    np.testing.assert_allclose(y[0, :, 0], [1.5, 2, 3, 4, 5, 5.5], rtol=1e-15)


def test_max_pooling1d_same_never_picks_padding():
    y = layers.MaxPooling1D(2, 2, "same", dtype="float64")(-SEQUENCE[:, :5])
    np.testing.assert_array_equal(y[0, :, 0], [-1, -3, -5])


def test_flatten_channels_first_transposes_to_channels_last():
    x = np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2)
    np.testing.assert_array_equal(layers.Flatten(data_format="channels_first")(x)[0], [0, 4, 1, 5, 2, 6, 3, 7])
    np.testing.assert_array_equal(layers.Flatten()(x)[0], np.arange(8))


def test_depthwise_conv2d_weight_shapes():
    layer = layers.DepthwiseConv2D(3, depth_multiplier=2)
    y = layer(rand((1, 5, 5, 3)))
    kernel, bias = layer.get_weights()
    assert kernel.shape == (3, 3, 3, 2) and bias.shape == (6,)
    assert y.shape == (1, 3, 3, 6)


def test_depthwise_output_channel_order_is_channel_times_multiplier_plus_m():
    # With a 1x1 kernel, output c*dm + m is x[..., c] * kernel[0, 0, c, m].
    layer = layers.DepthwiseConv2D(1, depth_multiplier=2, dtype="float64")
    x = rand((1, 2, 2, 3), dtype=np.float64)
    layer(x)
    kernel = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]]).reshape(1, 1, 3, 2)
    layer.set_weights([kernel, np.zeros(6)])
    y = layer(x)
    expected = np.stack([x[..., 0], 10 * x[..., 0], 2 * x[..., 1], 20 * x[..., 1], 3 * x[..., 2], 30 * x[..., 2]],
                        axis=-1)
    np.testing.assert_allclose(y, expected, rtol=1e-14)


def test_conv2d_then_batchnorm_parameter_counts():
    conv = layers.Conv2D(32, 3)
    bn = layers.BatchNormalization()
    bn(conv(rand((1, 8, 8, 3))))
    assert bn.count_params() == 128
    assert sum(w.size for w in bn.non_trainable_weights) == 64
    assert sum(w.size for w in bn.trainable_weights) == 64


@pytest.mark.parametrize("kernel, strides, padding, output_padding, expected", [
    (2, 3, "valid", None, 24),
    (3, 2, "valid", None, 17),
    (3, 2, "valid", 1, 18),
    (3, 2, "same", None, 16),
    (3, 2, "same", 0, 15),
    (4, 2, "same", 0, 14),
])
def test_transposed_output_length_for_length_8(kernel, strides, padding, output_padding, expected):
    layer = layers.Conv1DTranspose(2, kernel, strides=strides, padding=padding, output_padding=output_padding)
    assert layer.compute_output_shape((None, 8, 3)) == (None, expected, 2)
    assert layer(rand((1, 8, 3))).shape == (1, expected, 2)
    layer_2d = layers.Conv2DTranspose(2, (kernel, 1), strides=(strides, 1), padding=padding,
                                      output_padding=None if output_padding is None else (output_padding, 0))
    assert layer_2d(rand((1, 8, 2, 3))).shape == (1, expected, 2, 2)


def test_transposed_conv_scatters_by_hand():
    # x = [1, 2], ones kernel k=3, s=2: x0 lands on 0..2, x1 on 2..4 -> [1, 1, 3, 2, 2].
    x = np.array([1.0, 2.0]).reshape(1, 2, 1)
    valid = ones_layer(layers.Conv1DTranspose, 1, 3, strides=2)(x)
    np.testing.assert_array_equal(valid[0, :, 0], [1, 1, 3, 2, 2])
    # 'same' gives length L*s = 4: the forward 'same' conv of length 4 pads (0, 1), so no crop at the left.
    same = ones_layer(layers.Conv1DTranspose, 1, 3, strides=2, padding="same")(x)
    np.testing.assert_array_equal(same[0, :, 0], [1, 1, 3, 2])
    # output_padding 1 on 'valid' adds a cell that only the bias reaches.
    padded = ones_layer(layers.Conv1DTranspose, 1, 3, strides=2, output_padding=1)(x)
    np.testing.assert_array_equal(padded[0, :, 0], [1, 1, 3, 2, 2, 0])


# =========================================================================== convolutions vs the direct loops


def keras_same_pads(length, kernel, stride, dilation):
    """Keras/TF 'same' split (conv_test.py ``_same_padding``): the odd extra zero goes after."""
    k_eff = dilation * (kernel - 1) + 1
    total = max(k_eff - stride, 0) if length % stride == 0 else max(k_eff - length % stride, 0)
    return total // 2, total - total // 2


def keras_pads(spatial, kernel_size, strides, dilation, padding):
    if padding == "valid":
        return [(0, 0)] * len(spatial)
    if padding == "causal":
        return [(d * (k - 1), 0) for k, d in zip(kernel_size, dilation)]
    return [keras_same_pads(n, k, s, d) for n, k, s, d in zip(spatial, kernel_size, strides, dilation)]


def to_last(x, data_format):
    return x if data_format == "channels_last" else np.moveaxis(x, 1, -1)


def to_first(y, data_format):
    return y if data_format == "channels_last" else np.moveaxis(y, -1, 1)


CONV_CASES = [
    # (layer class, filters, kernel, strides, padding, dilation, groups, data_format, input shape)
    (layers.Conv1D, 4, 3, 2, "same", 1, 1, "channels_last", (2, 9, 3)),
    (layers.Conv1D, 2, 3, 1, "causal", 2, 1, "channels_last", (2, 8, 2)),
    (layers.Conv1D, 6, 2, 1, "valid", 3, 3, "channels_first", (2, 3, 10)),
    (layers.Conv2D, 4, (3, 2), (2, 1), "same", 1, 1, "channels_last", (2, 6, 5, 3)),
    (layers.Conv2D, 4, 3, 1, "same", (2, 1), 2, "channels_last", (1, 7, 6, 4)),
    (layers.Conv2D, 6, 2, 2, "valid", 1, 3, "channels_first", (2, 6, 5, 5)),
    (layers.Conv2D, 3, (2, 3), (3, 2), "same", 1, 1, "channels_first", (1, 2, 7, 8)),
    (layers.Conv3D, 2, 2, (1, 2, 1), "same", 1, 1, "channels_last", (1, 3, 4, 3, 2)),
]


@pytest.mark.parametrize("cls, filters, kernel, strides, padding, dilation, groups, data_format, shape", CONV_CASES)
def test_conv_matches_direct_loops(cls, filters, kernel, strides, padding, dilation, groups, data_format, shape):
    layer = cls(filters, kernel, strides=strides, padding=padding, dilation_rate=dilation, groups=groups,
                data_format=data_format, bias_initializer="random_normal", dtype="float64")
    x = rand(shape, seed=1, dtype=np.float64)
    y = layer(x)
    x_last = to_last(x, data_format)
    pads = keras_pads(x_last.shape[1:-1], layer.kernel_size, layer.strides, layer.dilation_rate, padding)
    expected = conv_reference(x_last, layer.kernel.data, layer.bias.data, layer.strides, pads,
                              layer.dilation_rate, groups)
    np.testing.assert_allclose(y, to_first(expected, data_format), rtol=1e-12, atol=1e-12)


def test_conv2d_float32_matches_direct_loops():
    layer = layers.Conv2D(5, 3, strides=2, padding="same", bias_initializer="random_normal")
    x = rand((2, 9, 8, 3), seed=2)
    y = layer(x)
    pads = keras_pads((9, 8), (3, 3), (2, 2), (1, 1), "same")
    expected = conv_reference(x, layer.kernel.data, layer.bias.data, (2, 2), pads, (1, 1))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("rank, kernel, strides, padding, multiplier, data_format", [
    (1, 3, 2, "same", 2, "channels_last"),
    (2, (3, 2), 1, "valid", 3, "channels_last"),
    (2, 3, 2, "same", 1, "channels_first"),
])
def test_depthwise_matches_grouped_direct_loops(rank, kernel, strides, padding, multiplier, data_format):
    cls = {1: layers.DepthwiseConv1D, 2: layers.DepthwiseConv2D}[rank]
    layer = cls(kernel, strides=strides, padding=padding, depth_multiplier=multiplier, data_format=data_format,
                bias_initializer="random_normal", dtype="float64")
    shape = {1: (2, 3, 9), 2: (2, 3, 6, 5)}[rank] if data_format == "channels_first" else {1: (2, 9, 3), 2: (2, 6, 5, 3)}[rank]
    x = rand(shape, seed=4, dtype=np.float64)
    y = layer(x)
    x_last = to_last(x, data_format)
    channels = x_last.shape[-1]
    # Keras: kernel (*k, C, dm) reshaped to (*k, 1, C*dm), one group per input channel.
    depthwise = layer.depthwise_kernel.data
    grouped = depthwise.reshape(*depthwise.shape[:-2], 1, channels * multiplier)
    pads = keras_pads(x_last.shape[1:-1], layer.kernel_size, layer.strides, layer.dilation_rate, padding)
    expected = conv_reference(x_last, grouped, layer.bias.data, layer.strides, pads, layer.dilation_rate,
                              groups=channels)
    np.testing.assert_allclose(y, to_first(expected, data_format), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("rank", [1, 2])
def test_separable_is_depthwise_then_pointwise(rank):
    cls = {1: layers.SeparableConv1D, 2: layers.SeparableConv2D}[rank]
    layer = cls(4, 3, padding="same", strides=2, depth_multiplier=2, bias_initializer="random_normal",
                dtype="float64")
    x = rand({1: (2, 7, 3), 2: (2, 5, 6, 3)}[rank], seed=5, dtype=np.float64)
    y = layer(x)
    depthwise, pointwise, bias = layer.get_weights()
    grouped = depthwise.reshape(*depthwise.shape[:-2], 1, 6)
    pads = keras_pads(x.shape[1:-1], layer.kernel_size, layer.strides, layer.dilation_rate, "same")
    middle = conv_reference(x, grouped, None, layer.strides, pads, layer.dilation_rate, groups=3)
    ones = (1,) * rank
    expected = conv_reference(middle, pointwise, bias, ones, [(0, 0)] * rank, ones)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


def keras_transpose_crop(kernel, stride, dilation, padding, output_padding):
    """pad1 = k_eff - 1 - left_pad_jax (semantics §1.2, conv_transpose_test.py)."""
    k_eff = dilation * (kernel - 1) + 1
    if padding == "valid":
        left = k_eff - 1
    else:
        pad_len = stride + k_eff - 2 if output_padding is None else k_eff + k_eff % 2 - 2 + output_padding
        left = min(pad_len // 2 + pad_len % 2, k_eff - 1)
    return k_eff - 1 - left


def keras_transpose_length(length, kernel, stride, dilation, padding, output_padding):
    k_eff = (kernel - 1) * dilation + 1
    if padding == "valid":
        if output_padding is None:
            return (length - 1) * stride + max(k_eff, stride)
        return (length - 1) * stride + k_eff + output_padding
    if output_padding is None:
        return length * stride
    return (length - 1) * stride + k_eff % 2 + output_padding


@pytest.mark.parametrize("cls, kernel, strides, padding, output_padding, dilation, data_format, shape", [
    (layers.Conv1DTranspose, 3, 2, "same", None, 1, "channels_last", (2, 5, 3)),
    (layers.Conv1DTranspose, 2, 3, "valid", None, 1, "channels_last", (2, 4, 2)),
    (layers.Conv1DTranspose, 3, 1, "valid", None, 2, "channels_first", (2, 2, 5)),
    (layers.Conv2DTranspose, (3, 4), (2, 2), "same", (1, 0), 1, "channels_last", (1, 3, 4, 2)),
    (layers.Conv2DTranspose, 3, 2, "valid", 1, 1, "channels_first", (2, 2, 3, 3)),
    (layers.Conv2DTranspose, 4, 2, "same", 0, 1, "channels_last", (1, 4, 3, 2)),
])
def test_conv_transpose_matches_scatter_loops(cls, kernel, strides, padding, output_padding, dilation,
                                              data_format, shape):
    layer = cls(3, kernel, strides=strides, padding=padding, output_padding=output_padding,
                dilation_rate=dilation, data_format=data_format, bias_initializer="random_normal",
                dtype="float64")
    x = rand(shape, seed=6, dtype=np.float64)
    y = layer(x)
    x_last = to_last(x, data_format)
    rank = x_last.ndim - 2
    ops = layer.output_padding or (None,) * rank
    crops = [keras_transpose_crop(k, s, d, padding, p)
             for k, s, d, p in zip(layer.kernel_size, layer.strides, layer.dilation_rate, ops)]
    out = [keras_transpose_length(n, k, s, d, padding, p)
           for n, k, s, d, p in zip(x_last.shape[1:-1], layer.kernel_size, layer.strides, layer.dilation_rate, ops)]
    expected = conv_transpose_reference(x_last, layer.kernel.data, layer.bias.data, layer.strides,
                                        layer.dilation_rate, crops, out)
    np.testing.assert_allclose(y, to_first(expected, data_format), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cls, reference", [(layers.MaxPooling2D, max_pool_reference),
                                            (layers.AveragePooling2D, avg_pool_reference)])
@pytest.mark.parametrize("pool, strides, padding, data_format", [
    ((2, 2), None, "valid", "channels_last"),
    ((3, 2), (2, 1), "same", "channels_last"),
    (3, 2, "same", "channels_first"),
])
def test_pooling_matches_direct_loops(cls, reference, pool, strides, padding, data_format):
    layer = cls(pool, strides=strides, padding=padding, data_format=data_format, dtype="float64")
    x = rand((2, 3, 7, 6) if data_format == "channels_first" else (2, 7, 6, 3), seed=7, dtype=np.float64)
    y = layer(x)
    x_last = to_last(x, data_format)
    pool_size = (pool, pool) if isinstance(pool, int) else pool
    step = pool_size if strides is None else ((strides, strides) if isinstance(strides, int) else strides)
    pads = keras_pads(x_last.shape[1:-1], pool_size, step, (1, 1), padding)
    np.testing.assert_allclose(y, to_first(reference(x_last, pool_size, step, pads), data_format), rtol=1e-14)


# =========================================================================== layer semantics


def test_numpy_in_numpy_out_cast_to_layer_dtype():
    layer = layers.Dense(3)
    y = layer(rand((2, 4), dtype=np.float64))
    assert type(y) is np.ndarray and y.dtype == np.float32
    y64 = layers.Dense(3, dtype="float64")(rand((2, 4)))
    assert type(y64) is np.ndarray and y64.dtype == np.float64


def conv_grads_by_loops(x, kernel, upstream):
    """For y = valid stride-1 conv(x, kernel) + bias and loss = sum(y * upstream):
    dL/dkernel[j, c, f] = sum_{n,o} x[n, o+j, c] * G[n, o, f]; dL/dx by scattering kernel taps."""
    n_batch, height, width, channels = x.shape
    kh, kw, _, filters = kernel.shape
    _, oh, ow, _ = upstream.shape
    grad_kernel = np.zeros_like(kernel)
    grad_x = np.zeros_like(x)
    for n in range(n_batch):
        for i in range(oh):
            for j in range(ow):
                patch = x[n, i:i + kh, j:j + kw, :]                       # (kh, kw, C)
                grad_kernel += patch[..., None] * upstream[n, i, j]       # (kh, kw, C, F)
                grad_x[n, i:i + kh, j:j + kw, :] += kernel @ upstream[n, i, j]
    return grad_kernel, grad_x


def test_tensor_in_tensor_out_and_backward_fills_weight_grads():
    layer = layers.Conv2D(3, (2, 3), bias_initializer="random_normal", dtype="float64")
    x = Tensor(rand((2, 5, 6, 2), dtype=np.float64), requires_grad=True)
    y = layer(x)
    assert isinstance(y, Tensor) and y.shape == (2, 4, 4, 3)
    upstream = rand(y.shape, seed=9, dtype=np.float64)
    (y * upstream).sum().backward()
    grad_kernel, grad_x = conv_grads_by_loops(x.data, layer.kernel.data, upstream)
    np.testing.assert_allclose(layer.kernel.grad, grad_kernel, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, upstream.sum(axis=(0, 1, 2)), rtol=1e-12)
    np.testing.assert_allclose(x.grad, grad_x, rtol=1e-12, atol=1e-12)


def test_numpy_call_records_nothing():
    layer = layers.Dense(2)
    layer(rand((3, 4)))
    assert layer.kernel.grad is None and layer.bias.grad is None


def test_weights_lists():
    conv = layers.Conv2D(2, 3)
    conv(rand((1, 5, 5, 1)))
    assert conv.weights == [conv.kernel, conv.bias]
    assert conv.trainable_weights == [conv.kernel, conv.bias] and conv.non_trainable_weights == []
    bn = layers.BatchNormalization()
    bn(rand((4, 3)))
    assert bn.weights == [bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance]
    assert bn.trainable_weights == [bn.gamma, bn.beta]
    assert bn.non_trainable_weights == [bn.moving_mean, bn.moving_variance]


def test_trainable_false_freezes_weights():
    conv = layers.Conv2D(2, 3, trainable=False)
    y = conv(Tensor(rand((1, 5, 5, 1))))
    assert conv.trainable_weights == [] and conv.non_trainable_weights == [conv.kernel, conv.bias]
    assert not y.requires_grad  # nothing to differentiate: the weights are frozen and x is constant
    conv.trainable = True
    assert conv.trainable_weights == [conv.kernel, conv.bias]
    bn = layers.BatchNormalization()
    bn(rand((4, 3)))
    bn.trainable = False
    assert bn.trainable_weights == []
    assert bn.non_trainable_weights == [bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance]
    bn.trainable = True  # the moving statistics stay non-trainable
    assert bn.non_trainable_weights == [bn.moving_mean, bn.moving_variance]


def bn_with_moving_stats(channels=3, momentum=0.99, **kwargs):
    bn = layers.BatchNormalization(momentum=momentum, dtype="float64", **kwargs)
    bn.build((None, channels))
    gamma, beta = np.array([1.5, 0.5, 2.0]), np.array([0.1, -0.2, 0.3])
    moving_mean, moving_var = np.array([0.5, -1.0, 2.0]), np.array([4.0, 0.25, 1.0])
    bn.set_weights([gamma, beta, moving_mean, moving_var])
    return bn, gamma, beta, moving_mean, moving_var


def test_frozen_batchnorm_uses_moving_statistics_even_when_training():
    bn, gamma, beta, mean, var = bn_with_moving_stats()
    bn.trainable = False
    x = rand((6, 3), dtype=np.float64)
    y = bn(x, training=True)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-3) * gamma + beta, rtol=1e-12)
    np.testing.assert_array_equal(bn.moving_mean.data, mean)
    np.testing.assert_array_equal(bn.moving_variance.data, var)


def test_batchnorm_training_update_follows_keras_rule():
    bn, gamma, beta, mean, var = bn_with_moving_stats(momentum=0.9)
    expected_mean, expected_var = mean.copy(), var.copy()
    for seed in (1, 2):
        x = rand((8, 3), seed=seed, dtype=np.float64) * 2 + 1
        y = bn(x, training=True)
        batch_mean = x.sum(axis=0) / 8
        batch_var = ((x - batch_mean) ** 2).sum(axis=0) / 8          # biased
        np.testing.assert_allclose(y, (x - batch_mean) / np.sqrt(batch_var + 1e-3) * gamma + beta, rtol=1e-10)
        expected_mean = expected_mean * 0.9 + batch_mean * 0.1
        expected_var = expected_var * 0.9 + batch_var * 0.1
        np.testing.assert_allclose(bn.moving_mean.data, expected_mean, rtol=1e-12)
        np.testing.assert_allclose(bn.moving_variance.data, expected_var, rtol=1e-12)
    # inference afterwards: the moving statistics, and no update
    x = rand((4, 3), seed=3, dtype=np.float64)
    for training in (None, False):
        np.testing.assert_allclose(bn(x, training=training),
                                   (x - expected_mean) / np.sqrt(expected_var + 1e-3) * gamma + beta, rtol=1e-12)
    np.testing.assert_allclose(bn.moving_mean.data, expected_mean, rtol=1e-12)


def test_batchnorm_channels_first_axis1():
    bn = layers.BatchNormalization(axis=1, momentum=0.0, dtype="float64")
    x = rand((3, 2, 4, 5), seed=4, dtype=np.float64)
    y = bn(x, training=True)
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    var = ((x - mean) ** 2).mean(axis=(0, 2, 3), keepdims=True)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(bn.moving_variance.data, var.ravel(), rtol=1e-12)


def test_kernel_regularizer_l2_loss_and_gradient():
    layer = layers.Conv2D(2, 3, kernel_regularizer="l2", dtype="float64")
    layer(rand((1, 5, 5, 2)))
    kernel = layer.kernel.data
    assert len(layer.losses) == 1
    loss = sum(layer.losses)
    np.testing.assert_allclose(float(np.asarray(loss.data)), 0.01 * np.sum(kernel ** 2), rtol=1e-12)
    loss.backward()
    np.testing.assert_allclose(layer.kernel.grad, 0.02 * kernel, rtol=1e-12)
    assert layer.bias.grad is None


def test_losses_follow_the_current_weights():
    layer = layers.Dense(2, kernel_regularizer="l1", bias_regularizer="l2", dtype="float64")
    layer.build((None, 3))
    layer.set_weights([np.full((3, 2), -2.0), np.array([1.0, 3.0])])
    values = [float(np.asarray(getattr(loss, "data", loss))) for loss in layer.losses]
    np.testing.assert_allclose(values, [0.01 * 12.0, 0.01 * 10.0], rtol=1e-12)


def test_activity_regularizer_is_a_loss_of_the_last_output():
    layer = layers.Dense(3, activity_regularizer="l2", dtype="float64")
    assert layer.losses == []
    x1, x2 = rand((2, 4), 1, np.float64), rand((5, 4), 2, np.float64)
    layer(x1)
    y2 = layer(x2)
    assert len(layer.losses) == 1  # the first call's penalty was replaced
    value = float(np.asarray(getattr(layer.losses[0], "data", layer.losses[0])))
    np.testing.assert_allclose(value, 0.01 * np.sum(y2 ** 2) / 5, rtol=1e-12)  # Keras 3.15: divided by the batch
    # on tensors the penalty backpropagates into the weights: d/dW 0.01*sum((xW+b)^2)/2 = 0.01 x^T y
    y = layer(Tensor(x1))
    layer.losses[0].backward()
    np.testing.assert_allclose(layer.kernel.grad, 0.01 * x1.T @ y.data, rtol=1e-12)


def test_dropout_is_identity_at_inference():
    x = rand((4, 10))
    layer = layers.Dropout(0.5)
    for y in (layer(x), layer(x, training=False)):
        np.testing.assert_array_equal(y, x)


def test_dropout_training_scales_kept_units_and_keeps_the_mean():
    x = np.ones((200, 500), np.float32)
    y = layers.Dropout(0.3, seed=0)(x, training=True)
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    assert abs(y.mean() - 1.0) < 0.02


def test_dropout_seeded_layers_give_identical_masks():
    x = np.ones((8, 50), np.float32)
    a = layers.Dropout(0.5, seed=42)(x, training=True)
    b = layers.Dropout(0.5, seed=42)(x, training=True)
    np.testing.assert_array_equal(a, b)
    c = layers.Dropout(0.5, seed=43)(x, training=True)
    assert not np.array_equal(a, c)
    # the same seed gives the same sequence of masks, call after call
    first, second = layers.Dropout(0.5, seed=7), layers.Dropout(0.5, seed=7)
    masks_first = [first(x, training=True) for _ in range(3)]
    masks_second = [second(x, training=True) for _ in range(3)]
    for m1, m2 in zip(masks_first, masks_second):
        np.testing.assert_array_equal(m1, m2)
    assert not np.array_equal(masks_first[0], masks_first[1])  # a new mask for each call


def test_dropout_backward_uses_the_same_mask():
    x = Tensor(np.ones((4, 20)), requires_grad=True)
    y = layers.Dropout(0.5, seed=1, dtype="float64")(x, training=True)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, y.data)  # x is ones, so y is the mask itself


def test_shared_layer_accumulates_gradients_from_both_calls():
    layer = layers.Dense(3, bias_initializer="random_normal", dtype="float64")
    x1, x2 = rand((2, 4), 1, np.float64), rand((5, 4), 2, np.float64)
    g1, g2 = rand((2, 3), 3, np.float64), rand((5, 3), 4, np.float64)
    loss = (layer(Tensor(x1)) * g1).sum() + (layer(Tensor(x2)) * g2).sum()
    loss.backward()
    np.testing.assert_allclose(layer.kernel.grad, x1.T @ g1 + x2.T @ g2, rtol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, g1.sum(axis=0) + g2.sum(axis=0), rtol=1e-12)


def name_index(name, base):
    match = re.fullmatch(rf"{base}(?:_(\d+))?", name)
    assert match, name
    return int(match.group(1) or 0)


@pytest.mark.parametrize("make, base", [
    (lambda: layers.Conv2D(2, 3), "conv2d"),
    (lambda: layers.Conv2DTranspose(2, 3), "conv2d_transpose"),
    (lambda: layers.DepthwiseConv2D(3), "depthwise_conv2d"),
    (lambda: layers.MaxPooling2D(), "max_pooling2d"),
    (lambda: layers.BatchNormalization(), "batch_normalization"),
    (lambda: layers.Dense(2), "dense"),
])
def test_automatic_names_are_keras_style_and_unique(make, base):
    first, second, third = make(), make(), make()
    indices = [name_index(layer.name, base) for layer in (first, second, third)]
    assert indices[1] == indices[0] + 1 and indices[2] == indices[0] + 2
    assert len({first.name, second.name, third.name}) == 3
    assert make().name != layers.Conv2D(2, 3, name=base + "_custom").name


def test_explicit_name_and_weight_names():
    layer = layers.Conv2D(2, 3, name="features")
    layer(rand((1, 4, 4, 1)))
    assert layer.name == "features"
    # Keras 3: a variable's name is its own, its path says which layer holds it.
    assert [w.name for w in layer.weights] == ["kernel", "bias"]
    assert [w.path for w in layer.weights] == ["features/kernel", "features/bias"]


# =========================================================================== Keras defaults


def test_batchnorm_defaults():
    bn = layers.BatchNormalization()
    assert (bn.axis, bn.momentum, bn.epsilon, bn.center, bn.scale) == (-1, 0.99, 1e-3, True, True)
    bn(rand((2, 3)))
    gamma, beta, mean, var = bn.get_weights()
    np.testing.assert_array_equal(np.stack([gamma, beta, mean, var]), [[1] * 3, [0] * 3, [0] * 3, [1] * 3])


def test_leaky_relu_default_slope_is_0_3():
    layer = layers.LeakyReLU()
    assert layer.negative_slope == 0.3
    np.testing.assert_allclose(layer(np.array([[-2.0, 0.0, 3.0]], np.float32)), [[-0.6, 0.0, 3.0]], rtol=1e-6)
    assert layers.LeakyReLU(alpha=0.1).negative_slope == 0.1  # Keras 2 argument name


def test_pooling_defaults():
    pool = layers.MaxPooling2D()
    assert pool.pool_size == (2, 2) and pool.strides == (2, 2) and pool.padding == "valid"
    assert pool.data_format == "channels_last"
    assert layers.MaxPooling1D().pool_size == (2,)
    assert layers.AveragePooling2D(3).strides == (3, 3)           # strides None -> pool_size
    assert layers.AveragePooling2D((3, 2)).strides == (3, 2)
    assert layers.MaxPooling2D((2, 2), strides=1).strides == (1, 1)
    with pytest.raises(TypeError):
        layers.AveragePooling2D()   # pool_size is required for average pooling, as in Keras


def test_conv_defaults():
    conv = layers.Conv2D(8, 3)
    assert conv.kernel_size == (3, 3) and conv.strides == (1, 1) and conv.dilation_rate == (1, 1)
    assert (conv.padding, conv.data_format, conv.groups, conv.use_bias) == ("valid", "channels_last", 1, True)
    config = conv.get_config()
    assert config["kernel_initializer"] == "glorot_uniform" and config["bias_initializer"] == "zeros"
    assert config["activation"] == "linear"
    conv(rand((1, 5, 5, 2)))
    np.testing.assert_array_equal(conv.bias.data, np.zeros(8))
    limit = math.sqrt(6 / (3 * 3 * 2 + 3 * 3 * 8))   # glorot_uniform: fan_in + fan_out
    assert np.abs(conv.kernel.data).max() <= limit
    assert np.abs(conv.kernel.data).max() > 0.5 * limit


def test_other_defaults():
    assert layers.Dropout(0.5).noise_shape is None
    assert layers.ReLU().max_value is None and layers.ELU().alpha == 1.0
    assert layers.UpSampling2D().size == (2, 2) and layers.ZeroPadding2D().padding == ((1, 1), (1, 1))
    assert layers.Conv1D(2, 3).strides == (1,) and layers.Conv3D(2, 3).strides == (1, 1, 1)
    assert layers.Convolution2D is layers.Conv2D and layers.MaxPool2D is layers.MaxPooling2D
