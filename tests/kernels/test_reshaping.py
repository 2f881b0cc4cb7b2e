"""Up-sampling and dropout masks against hand values, finite differences and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

from clearconv.kernels.reshaping import (
    dropout_mask,
    upsample_bilinear,
    upsample_bilinear_backward,
    upsample_nearest,
    upsample_nearest_backward,
)
from gradcheck import assert_vjp_matches

# (channels_last input shape, factor per spatial axis): 1D, 2D and 3D.
UPSAMPLE_CASES = [
    ((2, 5, 3), (2,)),
    ((2, 4, 1), (3,)),
    ((2, 4, 5, 3), (2, 2)),
    ((1, 3, 4, 2), (3, 2)),
    ((2, 1, 3, 2), (2, 4)),
    ((1, 5, 2, 2), (1, 3)),
    ((1, 2, 3, 4, 2), (2, 1, 3)),
]
TORCH_LINEAR_MODE = {1: "linear", 2: "bilinear", 3: "trilinear"}


def random(shape, dtype=np.float64, seed=10):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def torch_interpolate(torch, x, size, mode, grad=None):
    """F.interpolate on a channels_last array: returns (y, dx) channels_last (dx None without grad)."""
    channels_first = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 1))).requires_grad_()
    kwargs = {} if mode == "nearest" else {"align_corners": False}
    out = torch.nn.functional.interpolate(channels_first, scale_factor=tuple(float(s) for s in size),
                                          mode=mode, **kwargs)
    dx = None
    if grad is not None:
        out.backward(torch.from_numpy(np.ascontiguousarray(np.moveaxis(grad, -1, 1))))
        dx = np.moveaxis(channels_first.grad.numpy(), 1, -1)
    return np.moveaxis(out.detach().numpy(), 1, -1), dx


# --------------------------------------------------------------------------- nearest

def test_upsample_nearest_values():
    x = np.arange(4.0).reshape(1, 2, 2, 1)
    y = upsample_nearest(x, (2, 3))
    expected = [[0, 0, 0, 1, 1, 1],
                [0, 0, 0, 1, 1, 1],
                [2, 2, 2, 3, 3, 3],
                [2, 2, 2, 3, 3, 3]]
    np.testing.assert_array_equal(y[0, :, :, 0], expected)
    np.testing.assert_array_equal(upsample_nearest(np.arange(3.0).reshape(1, 3, 1), 2)[0, :, 0],
                                  [0, 0, 1, 1, 2, 2])


def test_upsample_nearest_backward_sums_blocks():
    grad = np.arange(24.0).reshape(1, 4, 6, 1)
    dx = upsample_nearest_backward(grad, (2, 3))
    expected = [[0 + 1 + 2 + 6 + 7 + 8, 3 + 4 + 5 + 9 + 10 + 11],
                [12 + 13 + 14 + 18 + 19 + 20, 15 + 16 + 17 + 21 + 22 + 23]]
    np.testing.assert_array_equal(dx[0, :, :, 0], expected)


@pytest.mark.parametrize("shape,size", UPSAMPLE_CASES)
def test_upsample_nearest_backward_matches_finite_differences(shape, size):
    assert_vjp_matches(lambda x: upsample_nearest(x, size),
                       lambda grad, x: (upsample_nearest_backward(grad, size),),
                       [random(shape)], label=f"shape={shape} size={size}")


def test_upsample_nearest_matches_torch():
    torch = pytest.importorskip("torch")
    for shape, size in UPSAMPLE_CASES:
        x = random(shape, np.float32)
        y = upsample_nearest(x, size)
        grad = random(y.shape, np.float32, seed=3)
        expected, expected_dx = torch_interpolate(torch, x, size, "nearest", grad)
        assert y.dtype == np.float32
        np.testing.assert_array_equal(y, expected, err_msg=f"shape={shape} size={size}")
        np.testing.assert_allclose(upsample_nearest_backward(grad, size), expected_dx,
                                   rtol=1e-6, atol=1e-6, err_msg=f"shape={shape} size={size}")


# --------------------------------------------------------------------------- (bi)linear

def test_upsample_linear_values():
    # Half-pixel centres: sources -0.25 (clamped to 0), 0.25, 0.75, ..., 3.25 -> clamped at 3.
    x = np.array([0.0, 1.0, 2.0, 4.0]).reshape(1, 4, 1)
    y = upsample_bilinear(x, 2)
    np.testing.assert_allclose(y[0, :, 0], [0, 0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 4])


def test_upsample_bilinear_is_separable_product():
    # The 2D result on an outer product is the outer product of the 1D results.
    rows, cols = np.array([1.0, 3.0, -2.0]), np.array([0.5, 2.0])
    x = np.outer(rows, cols).reshape(1, 3, 2, 1)
    y = upsample_bilinear(x, (2, 3))[0, :, :, 0]
    row_up = upsample_bilinear(rows.reshape(1, 3, 1), 2)[0, :, 0]
    col_up = upsample_bilinear(cols.reshape(1, 2, 1), 3)[0, :, 0]
    np.testing.assert_allclose(y, np.outer(row_up, col_up), rtol=1e-12)


@pytest.mark.parametrize("shape,size", UPSAMPLE_CASES)
def test_upsample_bilinear_backward_matches_finite_differences(shape, size):
    assert_vjp_matches(lambda x: upsample_bilinear(x, size),
                       lambda grad, x: (upsample_bilinear_backward(grad, x.shape, size),),
                       [random(shape)], label=f"shape={shape} size={size}")


def test_upsample_bilinear_matches_torch():
    torch = pytest.importorskip("torch")
    for shape, size in UPSAMPLE_CASES:
        x = random(shape, np.float32)
        y = upsample_bilinear(x, size)
        grad = random(y.shape, np.float32, seed=3)
        dx = upsample_bilinear_backward(grad, x.shape, size)
        expected, expected_dx = torch_interpolate(torch, x, size, TORCH_LINEAR_MODE[len(size)], grad)
        label = f"shape={shape} size={size}"
        assert y.dtype == dx.dtype == np.float32
        assert dx.shape == x.shape
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6, err_msg=label)
        np.testing.assert_allclose(dx, expected_dx, rtol=1e-5, atol=1e-5, err_msg=label)


def test_upsample_rejects_bad_size():
    with pytest.raises(ValueError, match="size"):
        upsample_nearest(np.zeros((1, 2, 2, 1)), (2,))
    with pytest.raises(ValueError, match="size"):
        upsample_bilinear(np.zeros((1, 2, 2, 1)), (2, 0))


# --------------------------------------------------------------------------- dropout

def test_dropout_mask_statistics():
    rate = 0.3
    mask = dropout_mask((200, 500), rate, np.random.default_rng(0))
    assert mask.dtype == np.float32 and mask.shape == (200, 500)
    np.testing.assert_allclose(np.unique(mask), [0.0, np.float32(1 / 0.7)])
    # 100,000 Bernoulli draws: the dropped fraction is within 5 standard deviations of rate.
    assert abs(np.mean(mask == 0) - rate) < 5 * np.sqrt(rate * (1 - rate) / mask.size)
    # Inverted dropout keeps the expectation: E[mask] = 1.
    assert abs(float(mask.mean(dtype=np.float64)) - 1.0) < 0.01


def test_dropout_mask_seeding():
    first = dropout_mask((4, 8, 8, 3), 0.5, 123)
    np.testing.assert_array_equal(first, dropout_mask((4, 8, 8, 3), 0.5, np.random.default_rng(123)))
    assert not np.array_equal(first, dropout_mask((4, 8, 8, 3), 0.5, 124))
    # A shared generator moves on, so two draws differ.
    rng = np.random.default_rng(5)
    assert not np.array_equal(dropout_mask((64,), 0.5, rng), dropout_mask((64,), 0.5, rng))


def test_dropout_mask_rates_zero_and_one():
    ones = dropout_mask((3, 4), 0.0, 0, dtype=np.float64)
    zeros = dropout_mask((3, 4), 1.0, 0)
    assert ones.dtype == np.float64 and zeros.dtype == np.float32
    np.testing.assert_array_equal(ones, np.ones((3, 4)))
    np.testing.assert_array_equal(zeros, np.zeros((3, 4)))
    assert np.all(np.isfinite(zeros))


def test_dropout_mask_noise_shape_broadcasts():
    shape = (4, 6, 6, 8)
    mask = dropout_mask(shape, 0.5, 0, noise_shape=(None, 1, 1, None))
    assert mask.shape == (4, 1, 1, 8)
    x = np.ones(shape, dtype=np.float32)
    y = x * mask
    # Whole feature maps are either dropped or kept (and scaled by 2).
    per_map = y.reshape(4, 36, 8)
    assert np.all(per_map == per_map[:, :1, :])
    assert set(np.unique(y)) <= {0.0, 2.0}
    np.testing.assert_array_equal(dropout_mask(shape, 0.5, 0, noise_shape=(4, 1, 1, 8)), mask)


def test_dropout_mask_rejects_bad_arguments():
    with pytest.raises(ValueError, match="rate"):
        dropout_mask((2, 2), 1.5, 0)
    with pytest.raises(ValueError, match="noise_shape"):
        dropout_mask((2, 3), 0.5, 0, noise_shape=(2, 2))
    with pytest.raises(ValueError, match="noise_shape"):
        dropout_mask((2, 3), 0.5, 0, noise_shape=(2,))
