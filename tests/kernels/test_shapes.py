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
