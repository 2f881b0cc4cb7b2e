"""The one per-channel sum: accurate to float32 rounding, and every bias/statistics gradient uses it.

Oracle: the exact sum (math.fsum, correctly rounded to float64). The
documented accumulation (float64, rounded once to the input dtype) puts the
result within half a float32 ulp of that sum, plus float64 rounding of at most
``M * 2**-53 * sum|x|`` over M values. The bias gradient of a convolution (every
algorithm, with and without a fused ReLU, compiled kernels on and off), of a
transposed convolution, of Dense, and BatchNormalization's beta gradient all
sum the same output gradient over the same cells, so they must be equal bit
for bit.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from clearconv import Tensor
from clearconv import functional as F
from clearconv.kernels import compiled
from clearconv.kernels import conv as conv_ops
from clearconv.kernels import normalization as norm_ops
from clearconv.kernels.normalization import channel_sum


def exact_channel_sums(a: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """(exact sum per channel, sum of |a| per channel), both float64, by math.fsum."""
    rows = np.moveaxis(a.astype(np.float64), axis, -1).reshape(-1, a.shape[axis])
    exact = np.array([math.fsum(column) for column in rows.T])
    magnitude = np.array([math.fsum(column) for column in np.abs(rows).T])
    return exact, magnitude


def assert_within_float32_rounding(result: np.ndarray, a: np.ndarray, axis: int) -> None:
    exact, magnitude = exact_channel_sums(a, axis)
    count = a.size // a.shape[axis]
    half_ulp = 0.5 * np.spacing(np.abs(exact).astype(result.dtype)).astype(np.float64)
    bound = half_ulp + count * 2.0**-53 * magnitude
    error = np.abs(result.astype(np.float64) - exact)
    assert np.all(error <= bound), f"error {error} > bound {bound} (in ulps: {error / (2 * half_ulp)})"


@pytest.fixture
def compiled_switch():
    """Set the compiled kernels on or off for one test, then restore the switch."""
    before = compiled.enabled()
    yield compiled.set_enabled
    compiled.set_enabled(before)


@pytest.mark.parametrize("compiled_on", [False, True])
@pytest.mark.parametrize("shape, axis", [((250_000, 3), -1), ((64, 3, 40, 40), 1), ((7, 5, 3, 4), 2),
                                         ((64, 14, 14, 64), -1)])
def test_float32_sum_is_within_float32_rounding_of_the_exact_sum(shape, axis, compiled_on, compiled_switch):
    """A long float32 sum with a nonzero mean: a float32 accumulation drifts by many ulps here. Channels last,
    the compiled sum runs where numba is installed."""
    compiled_switch(compiled_on)
    rng = np.random.default_rng(0)
    a = (rng.standard_normal(shape) + 3.0).astype(np.float32)
    result = channel_sum(a, axis)
    assert result.dtype == np.float32 and result.shape == (shape[axis],)
    assert_within_float32_rounding(result, a, axis)


@pytest.mark.parametrize("compiled_on", [False, True])
@pytest.mark.parametrize("axis", [1, 2])
def test_float64_sum_matches_the_exact_sum(axis, compiled_on, compiled_switch):
    compiled_switch(compiled_on)
    a = np.random.default_rng(1).standard_normal((300, 7, 5))
    exact, magnitude = exact_channel_sums(a, axis)
    result = channel_sum(a, axis)
    assert result.dtype == np.float64
    assert np.all(np.abs(result - exact) <= a.size * 2.0**-53 * magnitude)


def test_empty_input_sums_to_zeros():
    for shape, axis in (((0, 4, 4, 3), -1), ((0, 3, 4, 4), 1)):
        result = channel_sum(np.zeros(shape, np.float32), axis)
        assert result.dtype == np.float32
        np.testing.assert_array_equal(result, np.zeros(3, np.float32))


@pytest.mark.parametrize("compiled_on", [False, True])
@pytest.mark.parametrize("algorithm", ["im2col", "winograd", "fft"])
@pytest.mark.parametrize("activation", [None, "relu"])
def test_every_bias_and_beta_gradient_is_the_same_sum(algorithm, activation, compiled_on, compiled_switch):
    if compiled_on and not compiled.AVAILABLE:
        pytest.skip("numba is not installed")
    compiled_switch(compiled_on)
    rng = np.random.default_rng(2)
    # 3x3 at stride 1, 16 channels: a shape every algorithm computes.
    x = rng.standard_normal((4, 12, 12, 16)).astype(np.float32)
    kernel = (0.1 * rng.standard_normal((3, 3, 16, 16))).astype(np.float32)
    # A large positive bias keeps every ReLU unit on, so the fused backward's masked gradient is grad itself.
    bias = np.full(16, 100.0, np.float32)
    pads = ((1, 1), (1, 1))
    y, ctx = conv_ops.conv(x, kernel, bias, (1, 1), pads, (1, 1), algorithm=algorithm, activation=activation,
                           keep_for_backward=True)
    assert (y > 0).all()
    grad = (rng.standard_normal(y.shape) + 0.5).astype(np.float32)
    _, _, conv_dbias = conv_ops.conv_backward(grad, ctx)

    expected = channel_sum(grad, -1)
    assert_within_float32_rounding(expected, grad, -1)
    np.testing.assert_array_equal(conv_dbias, expected)

    # A transposed convolution's bias gradient sums the same way.
    _, tctx = conv_ops.conv_transpose(rng.standard_normal((4, 12, 12, 16)).astype(np.float32),
                                      kernel, bias, (1, 1), (1, 1), (1, 1), (12, 12), keep_for_backward=True)
    np.testing.assert_array_equal(conv_ops.conv_transpose_backward(grad, tctx)[2], expected)

    # BatchNormalization's beta gradient (training and inference backward).
    _, _, _, bn_ctx = norm_ops.batch_norm_train(y, np.ones(16, np.float32), np.zeros(16, np.float32), -1, 1e-3)
    np.testing.assert_array_equal(norm_ops.batch_norm_train_backward(grad, bn_ctx)[2], expected)
    infer = norm_ops.batch_norm_infer_backward(grad, y, np.zeros(16, np.float32), np.ones(16, np.float32),
                                               np.ones(16, np.float32), -1, 1e-3)
    np.testing.assert_array_equal(infer[2], expected)

    # Dense's bias gradient through the tape, on the gradient's rows.
    rows = grad.reshape(-1, 16)
    inputs = Tensor(rng.standard_normal((rows.shape[0], 5)).astype(np.float32))
    dense_bias = Tensor(np.zeros(16, np.float32), requires_grad=True)
    F.dense(inputs, np.ones((5, 16), np.float32), dense_bias).backward(rows)
    np.testing.assert_array_equal(dense_bias.grad, expected)


def test_batch_norm_statistics_use_the_same_sum():
    """The batch mean is channel_sum(x) / M, and its float32 rounding stays within that of the exact mean."""
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((32, 20, 20, 3)) * 2 + 5).astype(np.float32)
    _, mean, var, _ = norm_ops.batch_norm_train(x, None, None, -1, 1e-3)
    count = x.size // 3
    np.testing.assert_array_equal(mean, channel_sum(x, -1) / count)
    exact_mean = exact_channel_sums(x, -1)[0] / count
    np.testing.assert_allclose(mean, exact_mean, rtol=2**-23, atol=0)
    centered = x.astype(np.float64) - mean.astype(np.float64)
    np.testing.assert_allclose(var, (centered * centered).mean(axis=(0, 1, 2)), rtol=1e-6)
