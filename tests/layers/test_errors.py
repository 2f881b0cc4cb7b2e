"""Bad inputs are refused at the API boundary with a message a user can act on.

docs/architecture.md (Conventions): a ``ValueError``/``TypeError`` whose message names the layer, the
argument, the value received and the values accepted; never a NumPy
broadcasting traceback. Each test below is one case and checks the exception
type and all four parts of the message (``pytest.raises(match=...)`` searches
the message with ``re.search``; ``(?s)`` lets ``.*`` cross line breaks).

The last tests check that NaN and inf in the data are carried to the output
(never replaced, never hidden) by Conv2D, pooling, Dense and
BatchNormalization.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from clearconv import layers


def image(shape=(1, 8, 8, 3), seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# --------------------------------------------------------------------------- input data


def test_wrong_input_rank():
    layer = layers.Conv2D(4, 3, name="edge_detector")
    with pytest.raises(ValueError, match=r"(?s)edge_detector.*input of rank 4.*received shape \(2, 8, 8\)"):
        layer(np.zeros((2, 8, 8), np.float32))


def test_channel_count_differs_from_built_kernel():
    layer = layers.Conv2D(4, 3, name="rgb_conv")
    layer(image((1, 8, 8, 3)))  # builds a kernel (3, 3, 3, 4)
    with pytest.raises(ValueError, match=r"(?s)rgb_conv.*expected 3 input channels.*\(3, 3, 3, 4\)"
                                         r".*received an input of shape \(1, 8, 8, 5\)"):
        layer(image((1, 8, 8, 5)))


def test_kernel_larger_than_padded_input():
    layer = layers.Conv2D(2, 5, name="big_kernel")
    with pytest.raises(ValueError, match=r"(?s)big_kernel.*zero or negative.*kernel \(5, 5\).*larger than the "
                                         r"padded input.*\(1, 3, 3, 1\).*padding='valid'"):
        layer(image((1, 3, 3, 1)))


def test_integer_input_refused_with_conversion_hint():
    layer = layers.Conv2D(4, 3, name="pixels_in")
    with pytest.raises(TypeError, match=r"(?s)pixels_in.*inputs must be floating point.*received dtype "
                                        r"(int64|int32).*astype\('float32'\)"):
        layer(np.ones((1, 8, 8, 3), dtype=np.int64) * 255)


def test_boolean_input_refused_with_conversion_hint():
    layer = layers.Dense(2, name="mask_in")
    with pytest.raises(TypeError, match=r"(?s)mask_in.*inputs must be floating point.*received dtype bool"
                                        r".*astype\('float32'\)"):
        layer(np.ones((2, 3), dtype=bool))


# --------------------------------------------------------------------------- constructor arguments


def test_non_positive_filters():
    with pytest.raises(ValueError, match=r"(?s)conv_a.*`filters` must be a positive integer.*received filters=0"):
        layers.Conv2D(0, 3, name="conv_a")


def test_non_positive_kernel_size():
    with pytest.raises(ValueError, match=r"(?s)conv_b.*`kernel_size`.*positive integers.*"
                                         r"received kernel_size=\(3, 0\)"):
        layers.Conv2D(4, (3, 0), name="conv_b")


def test_non_positive_strides():
    with pytest.raises(ValueError, match=r"(?s)conv_c.*`strides`.*positive integers.*received strides=0"):
        layers.Conv2D(4, 3, strides=0, name="conv_c")


def test_non_positive_dilation():
    with pytest.raises(ValueError, match=r"(?s)conv_d.*`dilation_rate`.*positive integers.*"
                                         r"received dilation_rate=\(1, -1\)"):
        layers.Conv2D(4, 3, dilation_rate=(1, -1), name="conv_d")


def test_strides_together_with_dilation():
    with pytest.raises(ValueError, match=r"(?s)conv_e.*`strides > 1` not supported in conjunction with "
                                         r"`dilation_rate > 1`.*strides=\(2, 2\).*dilation_rate=\(2, 1\)"):
        layers.Conv2D(4, 3, strides=2, dilation_rate=(2, 1), name="conv_e")


def test_groups_not_dividing_filters():
    with pytest.raises(ValueError, match=r"(?s)conv_f.*filters must be divisible by the number of groups.*"
                                         r"groups=2.*filters=5"):
        layers.Conv2D(5, 3, groups=2, name="conv_f")


def test_groups_not_dividing_input_channels():
    layer = layers.Conv2D(4, 3, groups=2, name="conv_g")
    with pytest.raises(ValueError, match=r"(?s)conv_g.*input channels must be divisible by groups.*"
                                         r"groups=2.*input channels=3"):
        layer(image((1, 8, 8, 3)))


def test_unknown_padding():
    with pytest.raises(ValueError, match=r"(?s)conv_h.*`padding` must be one of \('valid', 'same'\).*"
                                         r"received padding='full'"):
        layers.Conv2D(4, 3, padding="full", name="conv_h")


def test_unknown_data_format():
    with pytest.raises(ValueError, match=r"(?s)conv_i.*`data_format` must be one of "
                                         r"\('channels_last', 'channels_first'\).*received data_format='NHWC'"):
        layers.Conv2D(4, 3, data_format="NHWC", name="conv_i")


def test_causal_padding_refused_for_conv2d():
    with pytest.raises(ValueError, match=r"(?s)conv_j.*`padding` must be one of \('valid', 'same'\).*"
                                         r"received padding='causal'"):
        layers.Conv2D(4, 3, padding="causal", name="conv_j")


def test_output_padding_not_less_than_strides():
    with pytest.raises(ValueError, match=r"(?s)up_k.*`output_padding` must be strictly less than `strides`.*"
                                         r"output_padding=\(2, 2\).*strides=\(2, 2\)"):
        layers.Conv2DTranspose(4, 3, strides=2, output_padding=2, name="up_k")


def test_unknown_activation_lists_valid_names():
    with pytest.raises(ValueError) as error:
        layers.Conv2D(4, 3, activation="rellu", name="conv_l")
    message = str(error.value)
    assert re.search(r"conv_l.*`activation`.*'rellu'", message, re.S), message
    for valid in ("relu", "sigmoid", "softmax", "tanh", "linear"):
        assert re.search(rf"\b{valid}\b", message), (valid, message)


def test_unknown_initializer():
    with pytest.raises(ValueError, match=r"(?s)conv_m.*`kernel_initializer`.*'glorot'.*"
                                         r"Valid.*glorot_uniform.*he_normal"):
        layers.Conv2D(4, 3, kernel_initializer="glorot", name="conv_m")


def test_unknown_regularizer():
    with pytest.raises(ValueError, match=r"(?s)conv_n.*`kernel_regularizer`.*'l3'.*Valid.*\bl1\b.*\bl2\b"):
        layers.Conv2D(4, 3, kernel_regularizer="l3", name="conv_n")


def test_unknown_constraint():
    with pytest.raises(ValueError, match=r"(?s)conv_o.*`bias_constraint`.*'maxnorm'.*Valid.*max_norm.*non_neg"):
        layers.Conv2D(4, 3, bias_constraint="maxnorm", name="conv_o")


def test_unexpected_keyword_argument():
    with pytest.raises(TypeError, match=r"(?s)Conv2D.*unexpected keyword argument.*'kernel_sise'.*"
                                        r"accepted.*kernel_size.*input_shape"):
        layers.Conv2D(4, kernel_size=3, kernel_sise=5)


# --------------------------------------------------------------------------- NaN and inf propagate
# NumPy warns "invalid value encountered" on NaN arithmetic; the values are the point here.
nan_ok = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")


def ones_conv():
    return layers.Conv2D(2, 3, kernel_initializer="ones", bias_initializer="zeros", dtype="float64")


@nan_ok
def test_nan_and_inf_propagate_through_conv2d():
    x = np.ones((1, 6, 6, 1))
    x[0, 0, 0, 0] = np.nan   # only read by output (0, 0)
    x[0, 5, 5, 0] = np.inf   # only read by output (3, 3)
    y = ones_conv()(x)
    assert y.shape == (1, 4, 4, 2)
    assert np.isnan(y[0, 0, 0]).all()
    assert np.isposinf(y[0, 3, 3]).all()
    untouched = np.ones((4, 4), bool)
    untouched[0, 0] = untouched[3, 3] = False
    np.testing.assert_array_equal(y[0][untouched], np.full((14, 2), 9.0))


@nan_ok
@pytest.mark.parametrize("pool", [layers.MaxPooling2D, layers.AveragePooling2D])
def test_nan_and_inf_propagate_through_pooling(pool):
    x = np.arange(16, dtype=np.float64).reshape(1, 4, 4, 1)
    x[0, 0, 1, 0] = np.nan   # in window (0, 0)
    x[0, 3, 3, 0] = np.inf   # in window (1, 1)
    y = pool(pool_size=(2, 2))(x.astype(np.float32))
    assert np.isnan(y[0, 0, 0, 0])
    assert np.isposinf(y[0, 1, 1, 0])
    finite = {layers.MaxPooling2D: (7.0, 13.0), layers.AveragePooling2D: ((2 + 3 + 6 + 7) / 4, (8 + 9 + 12 + 13) / 4)}
    np.testing.assert_array_equal([y[0, 0, 1, 0], y[0, 1, 0, 0]], finite[pool])


@nan_ok
def test_nan_and_inf_propagate_through_dense():
    layer = layers.Dense(3, kernel_initializer="ones", dtype="float64")
    x = np.array([[1.0, np.nan], [1.0, np.inf], [1.0, 2.0]])
    y = layer(x)
    assert np.isnan(y[0]).all()
    assert np.isposinf(y[1]).all()
    np.testing.assert_array_equal(y[2], [3.0, 3.0, 3.0])


@nan_ok
def test_nan_and_inf_propagate_through_batch_normalization_inference():
    layer = layers.BatchNormalization(dtype="float64")
    x = np.array([[0.0, 1.0], [np.nan, 2.0], [np.inf, 3.0]])
    y = layer(x)
    assert np.isnan(y[1, 0]) and np.isposinf(y[2, 0])
    np.testing.assert_allclose(y[:, 1], x[:, 1] / np.sqrt(1.0 + 1e-3))
    assert y[0, 0] == 0.0


@nan_ok
def test_nan_propagates_through_batch_normalization_training():
    layer = layers.BatchNormalization(dtype="float64")
    x = np.array([[0.0, 1.0], [np.nan, 2.0], [4.0, 3.0]])
    y = layer(x, training=True)
    # A NaN in channel 0 makes that channel's batch mean NaN: every output of
    # channel 0 and its moving mean become NaN. Channel 1 is untouched.
    assert np.isnan(y[:, 0]).all()
    assert np.isnan(layer.moving_mean.data[0]) and np.isnan(layer.moving_variance.data[0])
    expected = (x[:, 1] - 2.0) / np.sqrt(2.0 / 3.0 + 1e-3)
    np.testing.assert_allclose(y[:, 1], expected, rtol=1e-12)


# --------------------------------------------------------------------------- the same checks on other layers


def test_unknown_depthwise_initializer_names_the_depthwise_argument():
    with pytest.raises(ValueError, match=r"(?s)dw_p.*`depthwise_initializer`.*'glorot'.*Valid.*glorot_uniform"):
        layers.DepthwiseConv2D(3, depthwise_initializer="glorot", name="dw_p")


def test_unknown_pointwise_regularizer():
    with pytest.raises(ValueError, match=r"(?s)sep_q.*`pointwise_regularizer`.*'l3'.*Valid.*\bl2\b"):
        layers.SeparableConv2D(4, 3, pointwise_regularizer="l3", name="sep_q")


def test_unknown_dense_activation():
    with pytest.raises(ValueError, match=r"(?s)head_r.*`activation`.*'softmaxx'.*Valid.*\bsoftmax\b"):
        layers.Dense(10, activation="softmaxx", name="head_r")


def test_unknown_batchnorm_initializer():
    with pytest.raises(ValueError, match=r"(?s)bn_s.*`gamma_initializer`.*'one_s'.*Valid.*\bones\b"):
        layers.BatchNormalization(gamma_initializer="one_s", name="bn_s")


def test_dense_input_features_differ_from_built_kernel():
    layer = layers.Dense(2, name="head_t")
    layer(np.zeros((1, 3), np.float32))
    with pytest.raises(ValueError, match=r"(?s)head_t.*expected inputs of shape \(\.\.\., 3\).*received shape \(1, 4\)"):
        layer(np.zeros((1, 4), np.float32))


@pytest.mark.parametrize("dtype", ["mixed_float16", "int32", "bfloat16", "nonsense"])
def test_a_dtype_that_is_not_a_float_type_is_named(dtype):
    """Keras's dtype policies and non-float dtypes are refused at construction with the accepted list."""
    with pytest.raises(ValueError, match=r"dense_x: `dtype` must be one of \('float16', 'float32', 'float64'\)"):
        layers.Dense(3, dtype=dtype, name="dense_x")
