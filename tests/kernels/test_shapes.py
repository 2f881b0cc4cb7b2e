"""Output sizes and padding amounts against the Keras/TensorFlow figures."""

import pytest

from clearconv.kernels import shapes


@pytest.mark.parametrize("length, kernel, stride, dilation, padding, expected", [
    (28, 3, 1, 1, "valid", 26),           # Conv2D(32, 3) on 28x28
    (28, 3, 1, 1, "same", 28),
    (56, 3, 2, 1, "same", 28),            # ceil(56 / 2)
    (7, 3, 2, 1, "same", 4),              # ceil(7 / 2)
    (10, 3, 1, 2, "valid", 6),            # k_eff = 5
    (6, 3, 1, 1, "causal", 6),
    (5, 3, 1, 1, 1, 5),                   # PyTorch-style symmetric int
    (5, 3, 2, 1, (0, 1), 2),
])
def test_conv_output_length(length, kernel, stride, dilation, padding, expected):
    assert shapes.conv_output_length(length, kernel, stride, dilation, padding) == expected


@pytest.mark.parametrize("length, kernel, stride, dilation, expected", [
    (6, 3, 2, 1, (0, 1)),     # TF: extra cell after; Conv1D(1,3,s=2,'same') on [1..6] gives [6, 12, 11]
    (6, 2, 1, 1, (0, 1)),     # even kernel: extra zero on the right
    (5, 3, 1, 1, (1, 1)),
    (7, 3, 1, 2, (2, 2)),
    (4, 1, 2, 1, (0, 0)),     # total pad clamps at 0
])
def test_same_padding_puts_the_extra_cell_after(length, kernel, stride, dilation, expected):
    assert shapes.conv_padding(length, kernel, stride, dilation, "same") == expected


def test_causal_padding_is_all_before():
    assert shapes.conv_padding(6, 3, 1, 2, "causal") == (4, 0)


@pytest.mark.parametrize("kernel, stride, padding, output_padding, expected", [
    (2, 3, "valid", None, 24), (3, 2, "valid", None, 17), (3, 2, "valid", 1, 18),
    (3, 2, "same", None, 16), (3, 2, "same", 0, 15), (4, 2, "same", 0, 14),
])
def test_transposed_output_length_matches_keras(kernel, stride, padding, output_padding, expected):
    # Figures from running Keras on length-8 inputs.
    assert shapes.conv_transpose_output_length(8, kernel, stride, 1, padding, output_padding) == expected


@pytest.mark.parametrize("length, pool, stride, padding, expected", [
    (28, 2, 2, "valid", 14), (5, 2, 2, "valid", 2), (5, 2, 2, "same", 3), (6, 3, 1, "same", 6),
])
def test_pool_output_length(length, pool, stride, padding, expected):
    assert shapes.pool_output_length(length, pool, stride, padding) == expected


def test_unknown_padding_is_named():
    with pytest.raises(ValueError, match="'full'"):
        shapes.conv_padding(5, 3, 1, 1, "full")


def test_normalize_tuple_errors_name_the_argument():
    with pytest.raises(ValueError, match="kernel_size"):
        shapes.normalize_tuple((3, 0), 2, "kernel_size", "conv2d")
    with pytest.raises(ValueError, match="strides"):
        shapes.normalize_tuple((1, 2, 3), 2, "strides")
    with pytest.raises(TypeError, match="dilation_rate"):
        shapes.normalize_tuple(True, 2, "dilation_rate")
    assert shapes.normalize_tuple(3, 3, "kernel_size") == (3, 3, 3)


# --------------------------------------------------------------------------- N-d output shapes against PyTorch

# (spatial, kernel, strides, dilation, pads): 1D, 2D and 3D, asymmetric pads, dilation > 1.
CONV_SHAPE_CASES = [
    ((11,), (3,), (2,), (1,), ((1, 0),)),
    ((16,), (5,), (1,), (3,), ((2, 2),)),
    ((9, 10), (3, 2), (1, 3), (2, 1), ((0, 1), (2, 0))),
    ((7, 7), (7, 7), (1, 1), (1, 1), ((0, 0), (0, 0))),
    ((12, 13), (3, 3), (2, 2), (4, 2), ((3, 3), (1, 2))),
    ((5, 6, 7), (2, 3, 3), (1, 2, 3), (2, 1, 2), ((1, 1), (0, 2), (1, 0))),
]


@pytest.mark.parametrize("spatial, kernel, strides, dilation, pads", CONV_SHAPE_CASES)
def test_conv_output_shape_matches_torch(spatial, kernel, strides, dilation, pads):
    torch = pytest.importorskip("torch")
    rank = len(spatial)
    x = torch.zeros((1, 1, *spatial))
    # torch.nn.functional.pad takes (before, after) pairs from the last axis backwards.
    x = torch.nn.functional.pad(x, [side for pair in reversed(pads) for side in pair])
    conv = getattr(torch.nn.functional, f"conv{rank}d")
    expected = tuple(conv(x, torch.zeros((1, 1, *kernel)), stride=strides, dilation=dilation).shape[2:])
    assert shapes.conv_output_shape(spatial, kernel, strides, dilation, pads) == expected


def test_conv_output_shape_of_an_already_padded_input_is_valid():
    assert shapes.conv_output_shape((10, 9), (3, 3), (1, 2), (2, 1)) == (6, 4)
    assert shapes.conv_output_shape((10, 9), (3, 3), (1, 2), (2, 1), "same") == (10, 5)


# (spatial, pool, strides, symmetric pad): torch allows a pad of at most half the window.
POOL_SHAPE_CASES = [
    ((11,), (3,), (2,), 1),
    ((8, 9), (2, 3), (2, 1), 0),
    ((9, 10), (3, 3), (2, 3), 1),
    ((5, 6, 7), (2, 3, 2), (2, 2, 1), 1),
]


@pytest.mark.parametrize("spatial, pool, strides, pad", POOL_SHAPE_CASES)
def test_pool_output_shape_matches_torch(spatial, pool, strides, pad):
    torch = pytest.importorskip("torch")
    rank = len(spatial)
    max_pool = getattr(torch.nn.functional, f"max_pool{rank}d")
    expected = tuple(max_pool(torch.zeros((1, 1, *spatial)), pool, strides, pad).shape[2:])
    assert shapes.pool_output_shape(spatial, pool, strides, ((pad, pad),) * rank) == expected


def test_output_shape_needs_one_entry_per_axis():
    with pytest.raises(ValueError, match="strides"):
        shapes.conv_output_shape((8, 8), (3, 3), (1,), (1, 1))
    with pytest.raises(ValueError, match="pads"):
        shapes.pool_output_shape((8, 8), (2, 2), (2, 2), ((0, 0),))


@pytest.mark.parametrize("spatial, kernel, strides, dilation, pads", CONV_SHAPE_CASES)
def test_every_convolution_kernel_returns_the_shapes_module_output(spatial, kernel, strides, dilation, pads):
    """im2col, the direct loops, and where they apply FFT and Winograd produce conv_output_shape's size."""
    import numpy as np

    from clearconv.kernels.conv import fft, im2col, reference, winograd
    from clearconv.kernels.windows import pad_spatial
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, *spatial, 2))
    weights = rng.standard_normal((*kernel, 2, 3))
    expected = (1, *shapes.conv_output_shape(spatial, kernel, strides, dilation, pads), 3)
    xp = pad_spatial(x, pads)
    assert im2col.output_shape(xp.shape[1:-1], kernel, strides, dilation) == expected[1:-1]
    assert im2col.correlate(xp, weights, strides, dilation, 1)[0].shape == expected
    assert reference.conv_reference(x, weights, None, strides, pads, dilation).shape == expected
    unit_strides = (1,) * len(spatial)
    stride_one = (1, *shapes.conv_output_shape(spatial, kernel, unit_strides, dilation, pads), 3)
    assert fft.correlate(xp, weights, dilation).shape == stride_one
    square = rng.standard_normal((3, 3, 2, 3))
    if len(spatial) == 2:
        assert winograd.correlate(xp, square).shape == (1, *shapes.conv_output_shape(spatial, (3, 3), (1, 1),
                                                                                      (1, 1), pads), 3)
