"""Conv1DTranspose/2D/3D against torch.nn.functional.conv_transpose*d.

torch runs with padding=0 and output_padding=0, which gives the full scatter
buffer of length (L-1)*s + d*(k-1) + 1. Keras's output is the window
[crop, crop + out) of that buffer, zero-extended where it runs past the end
(those cells receive only the bias). The crop index and the size come from
clearconv.kernels.shapes (they encode Keras's own definition); the sizes are
also checked against numbers read from Keras itself.
"""

import itertools

import pytest

from clearconv import layers
from clearconv.kernels import shapes
from parity.helpers import (TF, check_parity, conv_transpose_nd, dtype_kwargs, from_torch_layout,
                            keras_conv_kernel_to_torch, random_array, rng_for, to_torch_layout, with_dtypes)

TRANSPOSE_LAYERS = {1: layers.Conv1DTranspose, 2: layers.Conv2DTranspose, 3: layers.Conv3DTranspose}
SPATIAL = {1: (6,), 2: (5, 4), 3: (3, 4, 3)}
STRIDE_DILATION = ((1, 1), (2, 1), (3, 1), (1, 2))


def as_tuple(value, rank):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * rank


def keras_crop_and_size(case, spatial):
    """Per axis: (crop, output length), from clearconv.kernels.shapes (Keras's definition)."""
    rank = case["rank"]
    result = []
    output_padding = as_tuple(case["output_padding"], rank) if case["output_padding"] is not None else (None,) * rank
    for length, k, s, d, p in zip(spatial, as_tuple(case["kernel"], rank), as_tuple(case["strides"], rank),
                                  as_tuple(case["dilation"], rank), output_padding):
        crop = shapes.conv_transpose_crop(k, s, d, case["padding"], p)
        size = shapes.conv_transpose_output_length(length, k, s, d, case["padding"], p)
        result.append((crop, size))
    return result


def torch_conv_transpose(case, spatial):
    rank = case["rank"]
    crops_and_sizes = keras_crop_and_size(case, spatial)

    def reference(inputs, weights):
        x = to_torch_layout(inputs[0], case["data_format"])
        full = conv_transpose_nd(rank)(x, keras_conv_kernel_to_torch(weights[0]), None,
                                       stride=as_tuple(case["strides"], rank), padding=0, output_padding=0,
                                       dilation=as_tuple(case["dilation"], rank))
        # Zero-extend each spatial axis so [crop, crop + size) lies inside, then take that window.
        extend = [(0, max(0, crop + size - full.shape[2 + axis])) for axis, (crop, size) in enumerate(crops_and_sizes)]
        flat = []
        for before, after in reversed(extend):
            flat += [before, after]
        y = TF.pad(full, flat)
        for axis, (crop, size) in enumerate(crops_and_sizes):
            y = y.narrow(2 + axis, crop, size)
        if case["use_bias"]:
            y = y + weights[1].reshape(1, -1, *(1,) * rank)
        y = from_torch_layout(y, case["data_format"])
        if case.get("activation") == "softmax":  # Keras: over the last axis of the layer's layout
            y = TF.softmax(y, dim=-1)
        return y
    return reference


def transpose_cases():
    index = 0
    for rank in (1, 2, 3):
        kernels = (1, 2, 3) if rank < 3 else (2, 3)
        for kernel, (stride, dilation), padding, data_format, use_bias in itertools.product(
                kernels, STRIDE_DILATION, ("valid", "same"), ("channels_last", "channels_first"), (True, False)):
            if kernel == 1 and dilation == 2:
                continue  # a 1-tap kernel ignores dilation
            for output_padding in sorted({None, 0, stride - 1}, key=lambda p: -1 if p is None else p):
                index += 1
                if rank == 3 and index % 2:
                    continue  # thin out 3D
                yield dict(layer=f"conv{rank}d_transpose", rank=rank, kernel=kernel, strides=stride,
                           dilation=dilation, padding=padding, output_padding=output_padding,
                           data_format=data_format, use_bias=use_bias, batch=3 if index % 3 else 1)
    extra = [
        dict(rank=2, kernel=(3, 2), strides=(2, 1), dilation=(1, 1), padding="same", output_padding=None),
        dict(rank=2, kernel=(2, 3), strides=(3, 2), dilation=(1, 1), padding="valid", output_padding=(1, 0)),
        dict(rank=2, kernel=(3, 2), strides=(1, 1), dilation=(1, 2), padding="same", output_padding=None),
        dict(rank=3, kernel=(3, 2, 1), strides=(1, 2, 3), dilation=(1, 1, 1), padding="same",
             output_padding=(0, 1, 2)),
        dict(rank=2, kernel=3, strides=2, dilation=1, padding="same", output_padding=None, activation="softmax"),
    ]
    for case in extra:
        for data_format in ("channels_last", "channels_first"):
            yield dict(layer=f"conv{case['rank']}d_transpose", **case, data_format=data_format,
                       use_bias=not bias_gradient_is_zero(case, data_format), batch=2)


def bias_gradient_is_zero(case, data_format):
    """A softmax over a spatial axis ignores a per-channel constant: the bias gradient is exactly 0
    and both libraries return rounding noise, which no relative tolerance can compare."""
    return case.get("activation") == "softmax" and data_format == "channels_first"


def input_shape(case, channels, spatial):
    if case["data_format"] == "channels_last":
        return (case["batch"], *spatial, channels)
    return (case["batch"], channels, *spatial)


@pytest.mark.parametrize("case", with_dtypes(list(transpose_cases())))
def test_conv_transpose(case):
    rank, dtype = case["rank"], case["dtype"]
    in_channels, filters = 4, 3
    rng = rng_for(case)
    spatial = SPATIAL[rank]
    x = random_array(rng, input_shape(case, in_channels, spatial), dtype)
    weights = [random_array(rng, (*as_tuple(case["kernel"], rank), filters, in_channels), dtype)]
    if case["use_bias"]:
        weights.append(random_array(rng, (filters,), dtype))
    layer = TRANSPOSE_LAYERS[rank](filters, case["kernel"], strides=case["strides"], padding=case["padding"],
                                   output_padding=case["output_padding"], data_format=case["data_format"],
                                   dilation_rate=case["dilation"], use_bias=case["use_bias"],
                                   activation=case.get("activation"), **dtype_kwargs(case))
    check_parity(layer, x, torch_conv_transpose(case, spatial), case, weights, rng=rng)


# Output lengths for an input of length 8, read from Keras (semantics reference, section 1.2).
KERAS_LENGTHS = [
    dict(padding="valid", kernel=2, strides=3, output_padding=None, expected=24),
    dict(padding="valid", kernel=3, strides=2, output_padding=None, expected=17),
    dict(padding="valid", kernel=3, strides=2, output_padding=1, expected=18),
    dict(padding="same", kernel=3, strides=2, output_padding=None, expected=16),
    dict(padding="same", kernel=3, strides=2, output_padding=0, expected=15),
    dict(padding="same", kernel=4, strides=2, output_padding=0, expected=14),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("known", KERAS_LENGTHS, ids=lambda k: "{padding}-k{kernel}-s{strides}-op{output_padding}-"
                                                             "out{expected}".format(**k))
def test_conv_transpose_output_length_matches_keras(known, dtype):
    """Length-8 inputs give Keras's lengths, in every rank, and the values still match torch."""
    for rank in (1, 2, 3):
        case = dict(layer=f"conv{rank}d_transpose", rank=rank, kernel=known["kernel"], strides=known["strides"],
                    dilation=1, padding=known["padding"], output_padding=known["output_padding"],
                    data_format="channels_last", use_bias=True, batch=1, dtype=dtype)
        spatial = (8,) + (3,) * (rank - 1)
        rng = rng_for(case)
        x = random_array(rng, input_shape(case, 2, spatial), dtype)
        weights = [random_array(rng, (known["kernel"],) * rank + (3, 2), dtype), random_array(rng, (3,), dtype)]
        layer = TRANSPOSE_LAYERS[rank](3, known["kernel"], strides=known["strides"], padding=known["padding"],
                                       output_padding=known["output_padding"], **dtype_kwargs(case))
        output, _ = check_parity(layer, x, torch_conv_transpose(case, spatial), case, weights, rng=rng)
        assert output.shape[1] == known["expected"], (rank, output.shape, known)
        assert layer.compute_output_shape((None, *x.shape[1:]))[1] == known["expected"]
