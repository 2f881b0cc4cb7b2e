"""Max/Average pooling 1D/2D/3D and the global pools against torch.

Keras 'same' pooling lets windows overhang, extra cell after. Max: F.pad with
-inf, then a padding-0 torch max pool. Average: only real cells count, so
the reference is sum-pool(zero-padded x) / sum-pool(zero-padded ones), each
an avg_pool of padding 0 (the 1/window factors cancel).
"""

import itertools

import pytest

from clearconv import layers
from parity.helpers import (TF, avg_pool_nd, check_parity, dtype_kwargs, from_torch_layout, keras_same_padding,
                            max_pool_nd, random_array, rng_for, to_torch_layout, torch, torch_pad_arg, with_dtypes)

MAX_LAYERS = {1: layers.MaxPooling1D, 2: layers.MaxPooling2D, 3: layers.MaxPooling3D}
AVERAGE_LAYERS = {1: layers.AveragePooling1D, 2: layers.AveragePooling2D, 3: layers.AveragePooling3D}
GLOBAL_MAX_LAYERS = {1: layers.GlobalMaxPooling1D, 2: layers.GlobalMaxPooling2D, 3: layers.GlobalMaxPooling3D}
GLOBAL_AVERAGE_LAYERS = {1: layers.GlobalAveragePooling1D, 2: layers.GlobalAveragePooling2D,
                         3: layers.GlobalAveragePooling3D}
SPATIAL = {1: (9,), 2: (7, 6), 3: (5, 6, 5)}


def as_tuple(value, rank):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * rank


def input_shape(case, channels):
    spatial = SPATIAL[case["rank"]]
    if case["data_format"] == "channels_last":
        return (case["batch"], *spatial, channels)
    return (case["batch"], channels, *spatial)


def torch_pool(case):
    rank = case["rank"]
    pool = as_tuple(case["pool_size"], rank)
    strides = pool if case["strides"] is None else as_tuple(case["strides"], rank)

    def reference(inputs, weights):
        x = to_torch_layout(inputs[0], case["data_format"])  # (N, C, *S)
        if case["padding"] == "same":
            pads = [keras_same_padding(length, p, s) for length, p, s in zip(x.shape[2:], pool, strides)]
        else:
            pads = [(0, 0)] * rank
        if case["kind"] == "max":
            padded = TF.pad(x, torch_pad_arg(pads), value=float("-inf"))
            y = max_pool_nd(rank)(padded, pool, strides, padding=0)
        else:
            pool_sum = avg_pool_nd(rank)(TF.pad(x, torch_pad_arg(pads)), pool, strides, padding=0)
            ones = torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype)
            counts = avg_pool_nd(rank)(TF.pad(ones, torch_pad_arg(pads)), pool, strides, padding=0)
            y = pool_sum / counts
        return from_torch_layout(y, case["data_format"])
    return reference


def pool_cases():
    index = 0
    for kind, rank in itertools.product(("max", "average"), (1, 2, 3)):
        for pool_size, strides, padding, data_format in itertools.product(
                (2, 3), (None, 1, 2, 3), ("valid", "same"), ("channels_last", "channels_first")):
            index += 1
            yield dict(layer=f"{kind}_pooling{rank}d", kind=kind, rank=rank, pool_size=pool_size, strides=strides,
                       padding=padding, data_format=data_format, batch=3 if index % 2 else 1)
        for pool_size, strides in (((3, 2, 1)[:rank], (1, 2, 3)[:rank]), ((2, 3, 2)[:rank], None)):
            for padding in ("valid", "same"):
                yield dict(layer=f"{kind}_pooling{rank}d", kind=kind, rank=rank, pool_size=pool_size,
                           strides=strides, padding=padding, data_format="channels_last", batch=2)


@pytest.mark.parametrize("case", with_dtypes(list(pool_cases())))
def test_pooling(case):
    rng = rng_for(case)
    x = random_array(rng, input_shape(case, 3), case["dtype"])
    classes = MAX_LAYERS if case["kind"] == "max" else AVERAGE_LAYERS
    layer = classes[case["rank"]](case["pool_size"], strides=case["strides"], padding=case["padding"],
                                  data_format=case["data_format"], **dtype_kwargs(case))
    check_parity(layer, x, torch_pool(case), case, rng=rng)


def global_cases():
    for kind, rank, data_format, keepdims, batch in itertools.product(
            ("max", "average"), (1, 2, 3), ("channels_last", "channels_first"), (False, True), (1, 3)):
        yield dict(layer=f"global_{kind}_pooling{rank}d", kind=kind, rank=rank, data_format=data_format,
                   keepdims=keepdims, batch=batch)


@pytest.mark.parametrize("case", with_dtypes(list(global_cases())))
def test_global_pooling(case):
    rank = case["rank"]
    rng = rng_for(case)
    x = random_array(rng, input_shape(case, 4), case["dtype"])
    classes = GLOBAL_MAX_LAYERS if case["kind"] == "max" else GLOBAL_AVERAGE_LAYERS
    layer = classes[rank](data_format=case["data_format"], keepdims=case["keepdims"], **dtype_kwargs(case))

    def reference(inputs, weights):
        x_torch = to_torch_layout(inputs[0], case["data_format"])  # (N, C, *S)
        axes = tuple(range(2, rank + 2))
        if case["kind"] == "max":
            y = torch.amax(x_torch, dim=axes, keepdim=case["keepdims"])
        else:
            y = torch.mean(x_torch, dim=axes, keepdim=case["keepdims"])
        return from_torch_layout(y, case["data_format"]) if case["keepdims"] else y

    check_parity(layer, x, reference, case, rng=rng)


def test_average_pooling_same_anchor():
    """Keras's own output (semantics reference, section 1.2): AvgPool1D(3, 1, 'same') on [1..6]
    gives [1.5, 2, 3, 4, 5, 5.5]; clearconv and the torch reference above both give it."""
    x = torch.arange(1.0, 7.0, dtype=torch.float64).reshape(1, 6, 1)
    case = dict(kind="average", rank=1, pool_size=3, strides=1, padding="same", data_format="channels_last")
    expected = [1.5, 2, 3, 4, 5, 5.5]
    layer = layers.AveragePooling1D(3, strides=1, padding="same", dtype="float64")
    assert layer(x.numpy()).ravel().tolist() == expected
    assert torch_pool(case)([x], []).ravel().tolist() == expected
