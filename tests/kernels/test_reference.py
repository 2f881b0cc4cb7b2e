"""The direct-loop oracle against hand-worked examples, its own adjoint and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

from clearconv.kernels import shapes
from clearconv.kernels.conv.reference import (avg_pool_reference, conv_reference, conv_transpose_reference,
                                          max_pool_reference)


def signal(values) -> np.ndarray:
    """A 1D sequence as one sample with one channel: (L,) -> (1, L, 1)."""
    return np.asarray(values, dtype=np.float64).reshape(1, -1, 1)


def conv1d(x, kernel, padding, stride=1, dilation=1, bias=None):
    """conv_reference with Keras-style padding resolved by shapes."""
    pads = (shapes.conv_padding(x.shape[1], kernel.shape[0], stride, dilation, padding),)
    return conv_reference(x, kernel, bias, (stride,), pads, (dilation,), 1)


def ones_kernel(size: int) -> np.ndarray:
    """A (k, 1, 1) kernel of ones: the convolution sums each window."""
    return np.ones((size, 1, 1))


# --------------------------------------------------------------------------- convolution by hand

def test_same_strided_pads_after():
    # L=6, k=3, s=2: out = ceil(6/2) = 3, total pad = (3-1)*2 + 3 - 6 = 1, all after.
    # windows over [1 2 3 4 5 6 0]: 1+2+3, 3+4+5, 5+6+0
    out = conv1d(signal(range(1, 7)), ones_kernel(3), "same", stride=2)
    np.testing.assert_array_equal(out.ravel(), [6, 12, 11])


def test_same_even_kernel_pads_after():
    # k=2, s=1: total pad 1 goes after -> windows over [1 2 3 4 5 6 0]
    out = conv1d(signal(range(1, 7)), ones_kernel(2), "same")
    np.testing.assert_array_equal(out.ravel(), [3, 5, 7, 9, 11, 6])


def test_causal():
    # k=3: two zeros before -> windows over [0 0 1 2 3 4 5 6]
    out = conv1d(signal(range(1, 7)), ones_kernel(3), "causal")
    np.testing.assert_array_equal(out.ravel(), [1, 3, 6, 9, 12, 15])


def test_dilation_skips_cells():
    # k=2, d=2, valid: out[o] = x[o] + x[o+2], k_eff = 3 so 6 - 3 + 1 = 4 outputs
    out = conv1d(signal(range(1, 7)), ones_kernel(2), "valid", dilation=2)
    np.testing.assert_array_equal(out.ravel(), [4, 6, 8, 10])


def test_no_kernel_flip_and_bias():
    # kernel [1, 10, 100] read left to right (cross-correlation): 1*1 + 10*2 + 100*3 = 321
    kernel = np.array([1.0, 10.0, 100.0]).reshape(3, 1, 1)
    out = conv1d(signal([1, 2, 3, 4]), kernel, "valid", bias=np.array([0.5]))
    np.testing.assert_array_equal(out.ravel(), [321.5, 432.5])


def test_2d_sums_each_window():
    # 3x3 image 1..9, 2x2 ones kernel: [[1+2+4+5, 2+3+5+6], [4+5+7+8, 5+6+8+9]]
    x = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    out = conv_reference(x, np.ones((2, 2, 1, 1)), None, (1, 1), ((0, 0), (0, 0)), (1, 1), 1)
    np.testing.assert_array_equal(out[0, :, :, 0], [[12, 16], [24, 28]])


def test_groups_read_their_own_channels():
    # C=2, F=2, groups=2: filter 0 sees only channel 0, filter 1 only channel 1.
    x = np.array([2.0, 3.0]).reshape(1, 1, 2)
    kernel = np.array([10.0, 100.0]).reshape(1, 1, 2)  # (k=1, C/groups=1, F=2)
    out = conv_reference(x, kernel, None, (1,), ((0, 0),), (1,), groups=2)
    np.testing.assert_array_equal(out.ravel(), [2 * 10, 3 * 100])


def test_keeps_float32():
    x = np.ones((1, 4, 1), dtype=np.float32)
    out = conv_reference(x, np.ones((2, 1, 1), dtype=np.float32), None, (1,), ((0, 0),), (1,), 1)
    assert out.dtype == np.float32


# --------------------------------------------------------------------------- pooling by hand

def test_avg_pool_same_divides_by_real_cells():
    # pool 3, stride 1, same: pads (1, 1); edges average 2 real cells: (1+2)/2, (5+6)/2
    x = signal(range(1, 7))
    out = avg_pool_reference(x, (3,), (1,), (shapes.pool_padding(6, 3, 1, "same"),))
    np.testing.assert_allclose(out.ravel(), [1.5, 2, 3, 4, 5, 5.5])


def test_max_pool_padding_never_wins():
    # pool 2, stride 2, same on L=5: pads (0, 1); last window is [-5, pad] -> -5, not 0
    x = signal([-1, -2, -3, -4, -5])
    pads = (shapes.pool_padding(5, 2, 2, "same"),)
    assert pads == ((0, 1),)
    np.testing.assert_array_equal(max_pool_reference(x, (2,), (2,), pads).ravel(), [-1, -3, -5])


def test_max_pool_nan_propagates():
    x = signal([1, np.nan, 3, 4])
    out = max_pool_reference(x, (2,), (2,), ((0, 0),)).ravel()
    assert np.isnan(out[0]) and out[1] == 4


def test_avg_pool_2d_valid():
    # 4x4 image 0..15, 2x2 windows stride 2: means of [0,1,4,5], [2,3,6,7], ...
    x = np.arange(16.0).reshape(1, 4, 4, 1)
    out = avg_pool_reference(x, (2, 2), (2, 2), ((0, 0), (0, 0)))
    np.testing.assert_allclose(out[0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]])


# --------------------------------------------------------------------------- transposed convolution

def transpose1d(x, kernel_size, stride, padding, output_padding=None, dilation=1):
    """conv_transpose_reference with a ones kernel and Keras-style arguments."""
    out = shapes.conv_transpose_output_length(x.shape[1], kernel_size, stride, dilation, padding, output_padding)
    crop = shapes.conv_transpose_crop(kernel_size, stride, dilation, padding, output_padding)
    kernel = np.ones((kernel_size, 1, x.shape[-1]))
    return conv_transpose_reference(x, kernel, None, (stride,), (dilation,), (crop,), (out,))


@pytest.mark.parametrize("kernel_size, stride, padding, output_padding, expected", [
    (2, 3, "valid", None, 24),  # (8-1)*3 + max(2, 3)
    (3, 2, "valid", None, 17),  # (8-1)*2 + 3
    (3, 2, "valid", 1, 18),     # (8-1)*2 + 3 + 1
    (3, 2, "same", None, 16),   # 8*2
    (3, 2, "same", 0, 15),      # (8-1)*2 + 3%2 + 0
    (4, 2, "same", 0, 14),      # (8-1)*2 + 4%2 + 0
])
def test_transpose_output_lengths(kernel_size, stride, padding, output_padding, expected):
    out = transpose1d(np.ones((1, 8, 1)), kernel_size, stride, padding, output_padding)
    assert out.shape == (1, expected, 1)


def test_transpose_valid_stride_beyond_kernel():
    # x=[1,2], k=2 ones, s=3: cell 0 -> buffer 0,1; cell 1 -> buffer 3,4.
    # out length (2-1)*3 + max(2,3) = 6, so buffer cells 2 and 5 get nothing.
    out = transpose1d(signal([1, 2]), 2, 3, "valid")
    np.testing.assert_array_equal(out.ravel(), [1, 1, 0, 2, 2, 0])


def test_transpose_same_crop():
    # x=[1,2,3], k=3 ones, s=2: buffer [1, 1, 1+2, 2, 2+3, 3, 3];
    # same: out = 6, pad_len = 2+3-2 = 3, left = min(2, 2) = 2, crop = 3-1-2 = 0.
    out = transpose1d(signal([1, 2, 3]), 3, 2, "same")
    np.testing.assert_array_equal(out.ravel(), [1, 1, 3, 2, 5, 3])


def test_transpose_bias_on_empty_cells():
    x, kernel = signal([1, 2]), np.ones((2, 1, 1))
    out = conv_transpose_reference(x, kernel, np.array([0.25]), (3,), (1,), (0,), (6,))
    np.testing.assert_array_equal(out.ravel(), [1.25, 1.25, 0.25, 2.25, 2.25, 0.25])


ADJOINT_CASES = [
    # spatial, kernel_size, strides, dilation, pads
    ((7,), (3,), (2,), (1,), ((0, 1),)),
    ((6,), (2,), (1,), (2,), ((2, 0),)),
    ((5, 6), (3, 2), (2, 1), (1, 2), ((1, 1), (0, 2))),
    ((4, 5), (2, 2), (3, 2), (1, 1), ((0, 0), (1, 0))),
]


@pytest.mark.parametrize("spatial, kernel_size, strides, dilation, pads", ADJOINT_CASES)
def test_transpose_is_adjoint_of_conv(spatial, kernel_size, strides, dilation, pads):
    # <conv(x), z> = <x, conv_transpose(z)> with the same kernel array: the conv
    # kernel (*k, C, F) read in transposed layout maps F channels back to C.
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, *spatial, 3))
    kernel = rng.standard_normal((*kernel_size, 3, 4))
    y = conv_reference(x, kernel, None, strides, pads, dilation, 1)
    z = rng.standard_normal(y.shape)
    crops = tuple(before for before, _ in pads)
    back = conv_transpose_reference(z, kernel, None, strides, dilation, crops, spatial)
    assert back.shape == x.shape
    np.testing.assert_allclose(np.sum(y * z), np.sum(x * back), rtol=1e-12)


# --------------------------------------------------------------------------- PyTorch as external truth

def to_channels_first(array: np.ndarray) -> np.ndarray:
    """(N, *S, C) -> (N, C, *S)."""
    return np.moveaxis(array, -1, 1)


TORCH_CONV_CASES = [
    # spatial, channels, filters, kernel_size, strides, dilation, pads, groups
    ((9,), 4, 6, (3,), (2,), (1,), ((1, 2),), 2),
    ((10,), 3, 3, (3,), (1,), (3,), ((0, 0),), 3),
    ((6, 7), 4, 4, (3, 2), (1, 2), (2, 1), ((1, 0), (0, 1)), 2),
    ((5, 5), 2, 3, (2, 2), (2, 2), (1, 1), ((0, 1), (0, 1)), 1),
    ((4, 5, 4), 4, 2, (2, 3, 2), (1, 2, 1), (1, 1, 2), ((0, 1), (1, 1), (0, 0)), 2),
]


@pytest.mark.parametrize("spatial, channels, filters, kernel_size, strides, dilation, pads, groups",
                         TORCH_CONV_CASES)
def test_conv_matches_torch(spatial, channels, filters, kernel_size, strides, dilation, pads, groups):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, *spatial, channels))
    kernel = rng.standard_normal((*kernel_size, channels // groups, filters))
    bias = rng.standard_normal(filters)
    ours = conv_reference(x, kernel, bias, strides, pads, dilation, groups)
    # torch pads symmetrically only, so pad the input first and convolve with padding=0.
    padded = np.pad(x, ((0, 0), *pads, (0, 0)))
    rank = len(spatial)
    # Keras (*k, C/g, F) -> torch (F, C/g, *k)
    weight = np.moveaxis(kernel, (rank, rank + 1), (1, 0))
    conv = {1: torch.nn.functional.conv1d, 2: torch.nn.functional.conv2d, 3: torch.nn.functional.conv3d}[rank]
    theirs = conv(torch.from_numpy(to_channels_first(padded).copy()), torch.from_numpy(weight.copy()),
                  torch.from_numpy(bias), stride=strides, dilation=dilation, groups=groups)
    np.testing.assert_allclose(ours, np.moveaxis(theirs.numpy(), 1, -1), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("spatial, kernel_size, strides, dilation", [
    ((5,), (3,), (2,), (1,)),
    ((4,), (2,), (3,), (1,)),   # stride > kernel: Keras output (L-1)*s + s, torch needs output_padding
    ((3, 4), (2, 3), (2, 1), (1, 2)),
])
def test_conv_transpose_valid_matches_torch(spatial, kernel_size, strides, dilation):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, *spatial, 3))
    kernel = rng.standard_normal((*kernel_size, 2, 3))  # (*k, F, Cin)
    bias = rng.standard_normal(2)
    output_shape = tuple(shapes.conv_transpose_output_length(length, k, s, d, "valid", None)
                         for length, k, s, d in zip(spatial, kernel_size, strides, dilation))
    ours = conv_transpose_reference(x, kernel, bias, strides, dilation, (0,) * len(spatial), output_shape)
    # torch's output is (L-1)*s + k_eff + output_padding with no crop at padding=0
    output_padding = tuple(out - ((length - 1) * s + shapes.effective_kernel(k, d))
                           for out, length, k, s, d in zip(output_shape, spatial, kernel_size, strides, dilation))
    rank = len(spatial)
    # Keras (*k, F, Cin) -> torch (Cin, F, *k)
    weight = np.moveaxis(kernel, (rank, rank + 1), (1, 0))
    transpose = {1: torch.nn.functional.conv_transpose1d, 2: torch.nn.functional.conv_transpose2d}[rank]
    theirs = transpose(torch.from_numpy(to_channels_first(x).copy()), torch.from_numpy(weight.copy()),
                       torch.from_numpy(bias), stride=strides, output_padding=output_padding, dilation=dilation)
    np.testing.assert_allclose(ours, np.moveaxis(theirs.numpy(), 1, -1), rtol=1e-10, atol=1e-12)


def test_pooling_matches_torch_symmetric_padding():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 5, 6, 3))
    pads = ((1, 1), (1, 1))
    tx = torch.from_numpy(to_channels_first(x).copy())
    expected_max = torch.nn.functional.max_pool2d(tx, 3, 2, padding=1)
    expected_avg = torch.nn.functional.avg_pool2d(tx, 3, 2, padding=1, count_include_pad=False)
    np.testing.assert_allclose(max_pool_reference(x, (3, 3), (2, 2), pads),
                               np.moveaxis(expected_max.numpy(), 1, -1), rtol=0, atol=0)
    np.testing.assert_allclose(avg_pool_reference(x, (3, 3), (2, 2), pads),
                               np.moveaxis(expected_avg.numpy(), 1, -1), rtol=1e-12)
