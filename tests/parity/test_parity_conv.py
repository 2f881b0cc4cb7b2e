"""Conv1D/2D/3D, DepthwiseConv1D/2D and SeparableConv1D/2D against torch.nn.functional.conv*d.

Keras kernels become torch weights by permutation; Keras 'same' (extra cell
after) and 'causal' (d*(k-1) zeros before) become an explicit F.pad followed
by a padding-0 torch convolution.
"""

import itertools
import math

import pytest

from clearconv import layers
from clearconv.kernels import conv as conv_ops
from clearconv.kernels.conv.choice import float32_bound
from parity import helpers as parity_helpers
from parity.helpers import (TF, case_id, check_parity, conv_nd, dtype_kwargs, from_torch_layout,
                            keras_conv_kernel_to_torch, keras_depthwise_kernel_to_torch, keras_same_padding,
                            random_array, rng_for, to_torch_layout, torch, torch_pad_arg, with_dtypes)

CONV_LAYERS = {1: layers.Conv1D, 2: layers.Conv2D, 3: layers.Conv3D}
DEPTHWISE_LAYERS = {1: layers.DepthwiseConv1D, 2: layers.DepthwiseConv2D}
SEPARABLE_LAYERS = {1: layers.SeparableConv1D, 2: layers.SeparableConv2D}
# Spatial sizes: odd and even lengths (1D alternates 9 and 8 through the grid), different per
# axis so that axes cannot be swapped unnoticed.
SPATIAL = {1: ((9,), (8,)), 2: ((7, 6),), 3: ((5, 6, 5),)}
# (strides, dilation_rate): Keras refuses strides > 1 together with dilation_rate > 1.
STRIDE_DILATION = ((1, 1), (2, 1), (3, 1), (1, 2))
# Applied to the output in the layer's data_format, as Keras does (softmax: over the LAST axis,
# which is a spatial axis for channels_first).
TORCH_ACTIVATIONS = {None: lambda y: y, "relu": TF.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
                     "softmax": lambda y: TF.softmax(y, dim=-1)}


def as_tuple(value, rank):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * rank


def input_shape(case, channels):
    spatial = case["spatial"]
    if case["data_format"] == "channels_last":
        return (case["batch"], *spatial, channels)
    return (case["batch"], channels, *spatial)


def keras_pads(case):
    """(before, after) per spatial axis for Keras padding, written from the Keras definition."""
    rank = case["rank"]
    kernel, strides = as_tuple(case["kernel"], rank), as_tuple(case["strides"], rank)
    dilation = as_tuple(case["dilation"], rank)
    pads = []
    for length, k, s, d in zip(case["spatial"], kernel, strides, dilation):
        if case["padding"] == "valid":
            pads.append((0, 0))
        elif case["padding"] == "causal":
            pads.append((d * (k - 1), 0))
        else:
            pads.append(keras_same_padding(length, k, s, d))
    return pads


def torch_conv(case, torch_weight, groups, pointwise=False):
    """A reference f(inputs, weights) for a (grouped / depthwise / separable) convolution."""
    rank = case["rank"]

    def reference(inputs, weights):
        x = to_torch_layout(inputs[0], case["data_format"])
        x = TF.pad(x, torch_pad_arg(keras_pads(case)))
        bias = weights[-1] if case["use_bias"] else None
        y = conv_nd(rank)(x, torch_weight(weights[0]), None if pointwise else bias,
                          stride=as_tuple(case["strides"], rank), padding=0,
                          dilation=as_tuple(case["dilation"], rank), groups=groups)
        if pointwise:  # separable: 1x1 convolution of the depthwise result
            y = conv_nd(rank)(y, keras_conv_kernel_to_torch(weights[1]), bias)
        return TORCH_ACTIVATIONS[case.get("activation")](from_torch_layout(y, case["data_format"]))
    return reference


def spatial_for(rank, index):
    choices = SPATIAL[rank]
    return choices[index % len(choices)]


# --- Conv1D / Conv2D / Conv3D ---------------------------------------------------


def conv_cases():
    """Full grid over rank, kernel, stride/dilation, padding, groups, data_format, bias;
    batch 1 and 3 (and the two 1D lengths) alternate through the grid, every (data_format, bias)
    pair meeting each of them."""
    index = 0
    for rank in (1, 2, 3):
        kernels = (1, 2, 3) if rank < 3 else (2, 3)
        paddings = ("valid", "same", "causal") if rank == 1 else ("valid", "same")
        for kernel, (stride, dilation), padding, groups, data_format, use_bias in itertools.product(
                kernels, STRIDE_DILATION, paddings, (1, 2, "depthwise"), ("channels_last", "channels_first"),
                (True, False)):
            index += 1
            yield dict(layer=f"conv{rank}d", rank=rank, spatial=spatial_for(rank, index // 8), kernel=kernel,
                       strides=stride, dilation=dilation, padding=padding, groups=groups, data_format=data_format,
                       use_bias=use_bias, batch=3 if (index // 4) % 2 else 1)
    # Anisotropic kernels, strides and dilations (one value per axis), and fused activations.
    extra = [
        dict(rank=2, kernel=(3, 2), strides=(2, 1), dilation=(1, 1), padding="same"),
        dict(rank=2, kernel=(2, 3), strides=(1, 3), dilation=(1, 1), padding="valid"),
        dict(rank=2, kernel=(3, 2), strides=(1, 1), dilation=(2, 1), padding="same"),
        dict(rank=3, kernel=(3, 2, 1), strides=(1, 2, 3), dilation=(1, 1, 1), padding="same"),
        dict(rank=3, kernel=(2, 3, 2), strides=(1, 1, 1), dilation=(1, 2, 1), padding="valid"),
        dict(rank=1, kernel=3, strides=2, dilation=1, padding="same", activation="relu"),
        dict(rank=2, kernel=3, strides=1, dilation=1, padding="same", activation="tanh"),
        dict(rank=3, kernel=2, strides=2, dilation=1, padding="valid", activation="sigmoid"),
        dict(rank=1, kernel=2, strides=1, dilation=1, padding="causal", activation="softmax"),
        dict(rank=2, kernel=3, strides=2, dilation=1, padding="same", activation="softmax"),
    ]
    for index, case in enumerate(extra):
        for data_format in ("channels_last", "channels_first"):
            # A softmax over a spatial axis (channels_first) ignores a per-channel constant: the bias
            # gradient is exactly 0, and rounding noise cannot be compared with a relative tolerance.
            use_bias = not (case.get("activation") == "softmax" and data_format == "channels_first")
            yield dict(layer=f"conv{case['rank']}d", spatial=spatial_for(case["rank"], index), **case,
                       groups=2 if index % 2 else 1, data_format=data_format, use_bias=use_bias, batch=2)


@pytest.mark.parametrize("case", with_dtypes(list(conv_cases())))
def test_conv(case):
    rank, dtype = case["rank"], case["dtype"]
    in_channels = 4
    groups = in_channels if case["groups"] == "depthwise" else case["groups"]
    filters = 8 if case["groups"] == "depthwise" else 6
    rng = rng_for(case)
    kernel_size = as_tuple(case["kernel"], rank)
    x = random_array(rng, input_shape(case, in_channels), dtype)
    weights = [random_array(rng, (*kernel_size, in_channels // groups, filters), dtype)]
    if case["use_bias"]:
        weights.append(random_array(rng, (filters,), dtype))
    layer = CONV_LAYERS[rank](filters, case["kernel"], strides=case["strides"], padding=case["padding"],
                              data_format=case["data_format"], dilation_rate=case["dilation"], groups=groups,
                              use_bias=case["use_bias"], activation=case.get("activation"), **dtype_kwargs(case))
    check_parity(layer, x, torch_conv(case, keras_conv_kernel_to_torch, groups), case, weights, rng=rng)


# --- every algorithm, at the sizes where "auto" chooses each ---------------------

# The automatic choice at each size, and the shapes: 3x3 layers narrow and wide (64 and 256 input
# channels, where Winograd is chosen), large kernels on large inputs (FFT), 1D 3-tap and long kernels.
ALGORITHM_SIZES = [
    dict(auto="im2col", rank=2, spatial=(10, 9), channels=4, filters=6, kernel=3, batch=2),
    dict(auto="winograd2", rank=2, spatial=(9, 8), channels=64, filters=64, kernel=3, batch=2),
    dict(auto="winograd2", rank=2, spatial=(6, 7), channels=256, filters=32, kernel=3, batch=1),
    dict(auto="fft", rank=2, spatial=(64, 64), channels=16, filters=16, kernel=9, batch=1),
    dict(auto="im2col", rank=1, spatial=(33,), channels=64, filters=32, kernel=3, batch=2),
    dict(auto="fft", rank=1, spatial=(2048,), channels=16, filters=16, kernel=63, batch=2),
]

def algorithm_cases():
    for size in ALGORITHM_SIZES:
        kernel_shape = (size["kernel"],) * size["rank"] + (size["channels"], size["filters"])
        small = size["batch"] * math.prod(size["spatial"]) * size["filters"] <= 10_000  # output values
        for algorithm in ("auto",) + conv_ops.ALGORITHMS:
            if algorithm == "direct" and not small:
                continue  # the textbook loops: tiny sizes only
            if algorithm != "auto" and not conv_ops.supports(algorithm, kernel_shape, (1,) * size["rank"],
                                                              (1,) * size["rank"], 1):
                continue
            for dtype in ("float64", "float32"):
                case = dict(layer=f"conv{size['rank']}d", algorithm=algorithm, **size, strides=1, dilation=1,
                            padding="same", groups=1, data_format="channels_last", use_bias=True, dtype=dtype)
                yield pytest.param(case, id=case_id(case))


@pytest.mark.parametrize("case", list(algorithm_cases()))
def test_conv_by_each_algorithm(case, monkeypatch):
    rank, dtype, channels, filters = case["rank"], case["dtype"], case["channels"], case["filters"]
    rng = rng_for(case)
    x = random_array(rng, input_shape(case, channels), dtype)
    weights = [random_array(rng, (case["kernel"],) * rank + (channels, filters), dtype),
               random_array(rng, (filters,), dtype)]
    layer = CONV_LAYERS[rank](filters, case["kernel"], padding="same", algorithm=case["algorithm"],
                              **dtype_kwargs(case))
    if case["algorithm"] == "auto":
        assert layer.algorithm_for(x.shape) == case["auto"], case
    # float32: each algorithm's own bound (F(4x4, 3x3) rounds more), which "auto" keeps for what it chooses.
    monkeypatch.setattr(parity_helpers, "FLOAT32_RTOL", float32_bound(case["algorithm"], rank))
    check_parity(layer, x, torch_conv(case, keras_conv_kernel_to_torch, 1), case, weights, rng=rng)


# --- DepthwiseConv1D / DepthwiseConv2D ------------------------------------------


def depthwise_cases():
    index = 0
    for rank, kernel, (stride, dilation), padding, multiplier, data_format, use_bias in itertools.product(
            (1, 2), (1, 2, 3), STRIDE_DILATION, ("valid", "same"), (1, 2),
            ("channels_last", "channels_first"), (True, False)):
        index += 1
        if (kernel == 1 and dilation == 2) or (index % 2 and data_format == "channels_first" and kernel == 1):
            continue  # a 1-tap kernel ignores dilation; thin out the cheapest corner of the grid
        yield dict(layer=f"depthwise_conv{rank}d", rank=rank, spatial=spatial_for(rank, index // 2), kernel=kernel,
                   strides=stride, dilation=dilation, padding=padding, depth_multiplier=multiplier,
                   data_format=data_format, use_bias=use_bias, batch=3 if index % 3 else 1)


@pytest.mark.parametrize("case", with_dtypes(list(depthwise_cases())))
def test_depthwise_conv(case):
    rank, dtype, multiplier = case["rank"], case["dtype"], case["depth_multiplier"]
    in_channels = 3
    rng = rng_for(case)
    x = random_array(rng, input_shape(case, in_channels), dtype)
    weights = [random_array(rng, (*as_tuple(case["kernel"], rank), in_channels, multiplier), dtype)]
    if case["use_bias"]:
        weights.append(random_array(rng, (in_channels * multiplier,), dtype))
    layer = DEPTHWISE_LAYERS[rank](case["kernel"], strides=case["strides"], padding=case["padding"],
                                   depth_multiplier=multiplier, data_format=case["data_format"],
                                   dilation_rate=case["dilation"], use_bias=case["use_bias"], **dtype_kwargs(case))
    check_parity(layer, x, torch_conv(case, keras_depthwise_kernel_to_torch, in_channels), case, weights, rng=rng)


# --- SeparableConv1D / SeparableConv2D ------------------------------------------


def separable_cases():
    index = 0
    for rank, kernel, (stride, dilation), padding, multiplier, data_format, use_bias in itertools.product(
            (1, 2), (2, 3), STRIDE_DILATION, ("valid", "same"), (1, 2),
            ("channels_last", "channels_first"), (True, False)):
        index += 1
        yield dict(layer=f"separable_conv{rank}d", rank=rank, spatial=spatial_for(rank, index // 2), kernel=kernel,
                   strides=stride, dilation=dilation, padding=padding, depth_multiplier=multiplier,
                   data_format=data_format, use_bias=use_bias, batch=3 if index % 3 else 1)


@pytest.mark.parametrize("case", with_dtypes(list(separable_cases())))
def test_separable_conv(case):
    rank, dtype, multiplier = case["rank"], case["dtype"], case["depth_multiplier"]
    in_channels, filters = 3, 5
    rng = rng_for(case)
    x = random_array(rng, input_shape(case, in_channels), dtype)
    weights = [random_array(rng, (*as_tuple(case["kernel"], rank), in_channels, multiplier), dtype),
               random_array(rng, (1,) * rank + (in_channels * multiplier, filters), dtype)]
    if case["use_bias"]:
        weights.append(random_array(rng, (filters,), dtype))
    layer = SEPARABLE_LAYERS[rank](filters, case["kernel"], strides=case["strides"], padding=case["padding"],
                                   data_format=case["data_format"], dilation_rate=case["dilation"],
                                   depth_multiplier=multiplier, use_bias=case["use_bias"], **dtype_kwargs(case))
    check_parity(layer, x, torch_conv(case, keras_depthwise_kernel_to_torch, in_channels, pointwise=True), case,
                 weights, rng=rng)


# --- the padding conversion itself, anchored to numbers read from Keras ------------

KERAS_ANCHORS = [  # ones kernel (no bias) on [1..6], from the semantics reference, section 1.2
    dict(layer="conv1d", kernel=3, strides=2, padding="same", expected=[6, 12, 11]),
    dict(layer="conv1d", kernel=2, strides=1, padding="same", expected=[3, 5, 7, 9, 11, 6]),
    dict(layer="conv1d", kernel=3, strides=1, padding="causal", expected=[1, 3, 6, 9, 12, 15]),
]


@pytest.mark.parametrize("anchor", KERAS_ANCHORS, ids=lambda a: "{layer}-k{kernel}-s{strides}-{padding}".format(**a))
def test_keras_padding_anchors(anchor):
    """Keras's own outputs: clearconv gives them, and so does the torch reference used above
    (so the F.pad conversion in these tests is Keras's, not a copy of clearconv's)."""
    x = torch.arange(1.0, 7.0, dtype=torch.float64).reshape(1, 6, 1)
    k, s = anchor["kernel"], anchor["strides"]
    layer = layers.Conv1D(1, k, strides=s, padding=anchor["padding"], use_bias=False, dtype="float64")
    layer.build((1, 6, 1))
    layer.set_weights([torch.ones(k, 1, 1, dtype=torch.float64).numpy()])
    case = dict(rank=1, spatial=(6,), kernel=k, strides=s, dilation=1, padding=anchor["padding"],
                data_format="channels_last", use_bias=False)
    reference = torch_conv(case, keras_conv_kernel_to_torch, 1)([x], [torch.ones(k, 1, 1, dtype=torch.float64)])
    assert layer(x.numpy()).ravel().tolist() == anchor["expected"]
    assert reference.ravel().tolist() == anchor["expected"]
