"""Padding and cropping of the spatial axes: the one forward/inverse pair, against np.pad and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

from clearconv.kernels.windows import crop_spatial, pad_spatial, window_slices
from gradcheck import assert_vjp_matches

# (channels_last shape, one (before, after) pair per spatial axis): 1D, 2D and 3D, asymmetric and zero pads.
CASES = [
    ((2, 5, 2), ((1, 2),)),
    ((1, 4, 5, 2), ((1, 0), (2, 1))),
    ((1, 3, 4, 5, 1), ((0, 1), (1, 1), (2, 0))),
    ((2, 3, 3, 1), ((0, 0), (0, 0))),
]


def random(shape, dtype=np.float64, seed=4):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("shape, pads", CASES)
@pytest.mark.parametrize("value", [0.0, -np.inf])
def test_pad_spatial_matches_np_pad(shape, pads, value):
    x = random(shape, np.float32)
    expected = np.pad(x, ((0, 0), *pads, (0, 0)), constant_values=value)
    padded = pad_spatial(x, pads, value)
    assert padded.dtype == np.float32
    np.testing.assert_array_equal(padded, expected)


@pytest.mark.parametrize("shape, pads", CASES)
def test_pad_spatial_matches_torch_pad(shape, pads):
    torch = pytest.importorskip("torch")
    x = random(shape)
    channels_first = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 1)))
    # torch's pad lists (before, after) from the last axis backwards.
    expected = torch.nn.functional.pad(channels_first, [side for pair in reversed(pads) for side in pair])
    np.testing.assert_array_equal(pad_spatial(x, pads), np.moveaxis(expected.numpy(), 1, -1))


@pytest.mark.parametrize("shape, pads", CASES)
def test_crop_spatial_inverts_pad_spatial(shape, pads):
    x = random(shape)
    np.testing.assert_array_equal(crop_spatial(pad_spatial(x, pads), pads), x)
    # The other way round, pad(crop(y)) keeps y's interior and zeroes its borders.
    y = random(pad_spatial(x, pads).shape, seed=5)
    restored = pad_spatial(crop_spatial(y, pads), pads)
    border = pad_spatial(np.ones_like(x), pads) == 0
    np.testing.assert_array_equal(restored, np.where(border, 0, y))


@pytest.mark.parametrize("shape, pads", CASES)
def test_each_is_the_others_backward(shape, pads):
    assert_vjp_matches(lambda x: pad_spatial(x, pads), lambda grad, x: (crop_spatial(grad, pads),),
                       [random(shape)], label=f"pad {pads}")
    padded_shape = pad_spatial(random(shape), pads).shape
    assert_vjp_matches(lambda x: crop_spatial(x, pads), lambda grad, x: (pad_spatial(grad, pads),),
                       [random(padded_shape)], label=f"crop {pads}")


def test_zero_pads_return_the_input_itself():
    x = random((1, 3, 3, 1))
    assert pad_spatial(x, ((0, 0), (0, 0))) is x
    assert crop_spatial(x, ((0, 0), (0, 0))) is x


def test_window_slices_read_offset_times_dilation_plus_stride_steps():
    """Output o at window offset j reads padded cell o*s + j*d (2D: offset (1, 2), strides (2, 1), dilation (3, 2))."""
    padded = np.arange(10 * 9).reshape(1, 10, 9, 1)
    out = (3, 4)
    picked = padded[(slice(None), *window_slices((1, 2), (2, 1), (3, 2), out))]
    expected = np.array([[padded[0, o0 * 2 + 1 * 3, o1 * 1 + 2 * 2, 0] for o1 in range(out[1])]
                         for o0 in range(out[0])])
    np.testing.assert_array_equal(picked[0, :, :, 0], expected)
