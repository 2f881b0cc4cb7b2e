"""ZeroPadding, Cropping, UpSampling (1D/2D/3D) and Concatenate, Add, Subtract, Multiply against torch."""

import itertools

import pytest

from clearconv import layers
from parity.helpers import (TF, check_parity, dtype_kwargs, from_torch_layout, random_array, rng_for,
                            to_torch_layout, torch, torch_pad_arg, with_dtypes)

ZERO_PADDING_LAYERS = {1: layers.ZeroPadding1D, 2: layers.ZeroPadding2D, 3: layers.ZeroPadding3D}
CROPPING_LAYERS = {1: layers.Cropping1D, 2: layers.Cropping2D, 3: layers.Cropping3D}
UPSAMPLING_LAYERS = {1: layers.UpSampling1D, 2: layers.UpSampling2D, 3: layers.UpSampling3D}
SPATIAL = {1: (7,), 2: (5, 6), 3: (4, 5, 3)}
DATA_FORMATS = ("channels_last", "channels_first")


def input_shape(rank, data_format, batch=2, channels=3):
    if data_format == "channels_last":
        return (batch, *SPATIAL[rank], channels)
    return (batch, channels, *SPATIAL[rank])


def pairs(value, rank):
    """Keras's int / per-axis int / per-axis (before, after) forms, expanded for the torch side."""
    if isinstance(value, int):
        return [(value, value)] * rank
    if rank == 1 and len(value) == 2 and all(isinstance(v, int) for v in value):
        return [tuple(value)]
    return [(v, v) if isinstance(v, int) else tuple(v) for v in value]


# Argument forms Keras accepts, per rank: an int, one int per axis, (before, after) per axis.
PADDING_ARGUMENTS = {
    1: [1, 2, (0, 2), (3, 1)],
    2: [1, (2, 1), ((1, 0), (0, 2)), ((2, 3), (1, 1))],
    3: [1, (1, 0, 2), ((1, 0), (0, 2), (1, 1))],
}
CROPPING_ARGUMENTS = {
    1: [1, (0, 2), (3, 1)],
    2: [1, (2, 1), ((1, 0), (0, 2)), ((2, 1), (1, 3))],
    3: [1, (1, 0, 1), ((1, 0), (0, 2), (1, 1))],
}


def padding_cases(arguments, name, layer_name):
    for rank, data_format in itertools.product((1, 2, 3), DATA_FORMATS):
        if rank == 1 and data_format == "channels_first" and name == "cropping":
            continue  # Cropping1D has no data_format, as in Keras
        for argument in arguments[rank]:
            yield dict(layer=f"{layer_name}{rank}d", rank=rank, **{name: argument}, data_format=data_format)


def layer_kwargs(case):
    """Cropping1D and UpSampling1D take no data_format (as in Keras); the other layers do."""
    if case["rank"] == 1 and case["layer"] != "zero_padding1d":
        return {}
    return {"data_format": case["data_format"]}


@pytest.mark.parametrize("case", with_dtypes(list(padding_cases(PADDING_ARGUMENTS, "padding", "zero_padding")),
                                             float32_every=2))
def test_zero_padding(case):
    rank = case["rank"]
    rng = rng_for(case)
    x = random_array(rng, input_shape(rank, case["data_format"]), case["dtype"])
    layer = ZERO_PADDING_LAYERS[rank](case["padding"], **layer_kwargs(case), **dtype_kwargs(case))
    pads = torch_pad_arg(pairs(case["padding"], rank))

    def reference(inputs, weights):
        y = TF.pad(to_torch_layout(inputs[0], case["data_format"]), pads)
        return from_torch_layout(y, case["data_format"])

    check_parity(layer, x, reference, case, rng=rng)


@pytest.mark.parametrize("case", with_dtypes(list(padding_cases(CROPPING_ARGUMENTS, "cropping", "cropping")),
                                             float32_every=2))
def test_cropping(case):
    rank = case["rank"]
    rng = rng_for(case)
    x = random_array(rng, input_shape(rank, case["data_format"]), case["dtype"])
    layer = CROPPING_LAYERS[rank](case["cropping"], **layer_kwargs(case), **dtype_kwargs(case))
    crops = pairs(case["cropping"], rank)

    def reference(inputs, weights):
        y = to_torch_layout(inputs[0], case["data_format"])
        for axis, (before, after) in enumerate(crops):
            y = y.narrow(2 + axis, before, y.shape[2 + axis] - before - after)
        return from_torch_layout(y, case["data_format"])

    check_parity(layer, x, reference, case, rng=rng)


def upsampling_cases():
    sizes = {1: [2, 3], 2: [2, (2, 3), (1, 2)], 3: [2, (1, 2, 3)]}
    for rank, data_format in itertools.product((1, 2, 3), DATA_FORMATS):
        if rank == 1 and data_format == "channels_first":
            continue  # UpSampling1D takes (batch, steps, channels), as in Keras
        for size in sizes[rank]:
            interpolations = ("nearest", "bilinear") if rank == 2 else ("nearest",)
            for interpolation in interpolations:
                yield dict(layer=f"up_sampling{rank}d", rank=rank, size=size, interpolation=interpolation,
                           data_format=data_format)


@pytest.mark.parametrize("case", with_dtypes(list(upsampling_cases()), float32_every=2))
def test_upsampling(case):
    rank = case["rank"]
    rng = rng_for(case)
    x = random_array(rng, input_shape(rank, case["data_format"]), case["dtype"])
    kwargs = dict(layer_kwargs(case), **dtype_kwargs(case))
    if rank == 2:
        kwargs["interpolation"] = case["interpolation"]
    layer = UPSAMPLING_LAYERS[rank](case["size"], **kwargs)
    size = tuple(case["size"]) if isinstance(case["size"], tuple) else (case["size"],) * rank

    def reference(inputs, weights):
        x_torch = to_torch_layout(inputs[0], case["data_format"])
        if case["interpolation"] == "bilinear":
            y = TF.interpolate(x_torch, scale_factor=size, mode="bilinear", align_corners=False)
        else:
            y = TF.interpolate(x_torch, scale_factor=size, mode="nearest")
        return from_torch_layout(y, case["data_format"])

    check_parity(layer, x, reference, case, rng=rng)


# --- merge layers -----------------------------------------------------------------


def merge_cases():
    for shapes in ([(2, 5), (2, 5)], [(3, 4, 2)] * 3, [(1, 3, 4, 2)] * 2, [(2, 3, 1, 2), (2, 1, 4, 2)],
                   [(2, 2, 3, 2, 2)] * 2):
        for kind in ("add", "multiply", "subtract"):
            if kind == "subtract" and len(shapes) != 2:
                continue  # Subtract takes exactly two inputs
            yield dict(layer=kind, shapes=shapes)
    for shapes, axis in (([(2, 5), (2, 3)], -1), ([(3, 4, 2), (3, 4, 3), (3, 4, 1)], -1),
                         ([(2, 3, 4, 2), (2, 1, 4, 2)], 1), ([(2, 3, 4, 2), (2, 3, 2, 2)], 2),
                         ([(2, 3, 4, 2), (2, 3, 4, 5)], 3), ([(1, 2, 3, 2, 2)] * 2, -1)):
        yield dict(layer="concatenate", shapes=shapes, axis=axis)


MERGE_LAYERS = {"add": layers.Add, "multiply": layers.Multiply, "subtract": layers.Subtract}
TORCH_MERGE = {"add": torch.add, "multiply": torch.mul, "subtract": torch.sub}


@pytest.mark.parametrize("case", with_dtypes(list(merge_cases()), float32_every=1))
def test_merge(case):
    rng = rng_for(case)
    inputs = [random_array(rng, shape, case["dtype"]) for shape in case["shapes"]]
    if case["layer"] == "concatenate":
        layer = layers.Concatenate(axis=case["axis"], **dtype_kwargs(case))

        def reference(torch_inputs, weights):
            return torch.cat(torch_inputs, dim=case["axis"])
    else:
        layer = MERGE_LAYERS[case["layer"]](**dtype_kwargs(case))

        def reference(torch_inputs, weights):
            result = torch_inputs[0]
            for tensor in torch_inputs[1:]:
                result = TORCH_MERGE[case["layer"]](result, tensor)
            return result
    check_parity(layer, inputs, reference, case, rng=rng)
