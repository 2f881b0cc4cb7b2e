"""Batch normalization ops against a direct NumPy formula, finite differences and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

from clearconv.kernels.normalization import (
    batch_norm_infer,
    batch_norm_infer_backward,
    batch_norm_train,
    batch_norm_train_backward,
    channel_sum,
    statistics_count,
    update_moving,
)
from gradcheck import assert_vjp_matches

# (input shape, channel axis): 2D, 4D and 5D, channels last and channels first.
CASES = [
    ((6, 3), -1),
    ((6, 3), 1),
    ((3, 4, 5, 2), -1),
    ((3, 2, 4, 5), 1),
    ((2, 3, 2, 4, 3), -1),
    ((2, 3, 2, 4, 3), 1),
]
EPSILON = 1e-3


def make_inputs(shape, axis, dtype, seed=10):
    """x with a per-channel offset and spread, and positive gamma, random beta.

    The seed differs from gradcheck's (0): the same seed would draw the output
    gradient equal to x's noise, a degenerate direction where dx nearly vanishes.
    """
    rng = np.random.default_rng(seed)
    channels = shape[axis]
    x = rng.standard_normal(shape) * 2.0 + 0.5
    gamma = rng.uniform(0.5, 1.5, channels)
    beta = rng.standard_normal(channels)
    return x.astype(dtype), gamma.astype(dtype), beta.astype(dtype)


def direct_batch_norm(x, gamma, beta, axis, epsilon):
    """The textbook formula in float64: statistics over all axes but ``axis``."""
    x = np.asarray(x, dtype=np.float64)
    moved = np.moveaxis(x, axis, -1)                    # (..., C)
    flat = moved.reshape(-1, moved.shape[-1])           # (M, C)
    mean = flat.mean(axis=0)
    var = ((flat - mean) ** 2).mean(axis=0)
    y = (moved - mean) / np.sqrt(var + epsilon)
    if gamma is not None:
        y = y * gamma
    if beta is not None:
        y = y + beta
    return np.moveaxis(y, -1, axis), mean, var


def to_torch_layout(a, axis):
    """Channel axis -> axis 1, as torch's batch_norm expects."""
    return np.ascontiguousarray(np.moveaxis(a, axis, 1))


# --------------------------------------------------------------------------- forward

@pytest.mark.parametrize("shape,axis", CASES)
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
def test_train_forward_matches_direct_formula(shape, axis, dtype, tol):
    x, gamma, beta = make_inputs(shape, axis, dtype)
    y, mean, var, _ = batch_norm_train(x, gamma, beta, axis, EPSILON)
    expected, expected_mean, expected_var = direct_batch_norm(x, gamma, beta, axis, EPSILON)
    assert y.dtype == mean.dtype == var.dtype == dtype
    assert mean.shape == var.shape == (shape[axis],)
    np.testing.assert_allclose(mean, expected_mean, rtol=tol, atol=tol)
    np.testing.assert_allclose(var, expected_var, rtol=tol, atol=tol)
    np.testing.assert_allclose(y, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("use_gamma,use_beta", [(False, True), (True, False), (False, False)])
def test_train_forward_without_scale_or_center(use_gamma, use_beta):
    x, gamma, beta = make_inputs((4, 3, 3, 2), -1, np.float64)
    gamma = gamma if use_gamma else None
    beta = beta if use_beta else None
    y, _, _, _ = batch_norm_train(x, gamma, beta, -1, EPSILON)
    expected, _, _ = direct_batch_norm(x, gamma, beta, -1, EPSILON)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


def test_train_statistics_accurate_with_large_offset_float32():
    # A mean of 1000 with spread 0.01: a one-pass E[x^2] - E[x]^2 in float32 loses
    # the variance entirely; the two-pass form keeps it.
    rng = np.random.default_rng(3)
    x64 = 1000.0 + 0.01 * rng.standard_normal((64, 16, 16, 4))
    x = x64.astype(np.float32)
    _, mean, var, _ = batch_norm_train(x, None, None, -1, EPSILON)
    _, expected_mean, expected_var = direct_batch_norm(x, None, None, -1, EPSILON)
    np.testing.assert_allclose(mean, expected_mean, rtol=1e-6)
    np.testing.assert_allclose(var, expected_var, rtol=1e-3)


def test_channel_sum_matches_float64_sum():
    rng = np.random.default_rng(4)
    a = rng.standard_normal((5, 3, 7, 4)).astype(np.float32)
    for axis in range(a.ndim):
        other = tuple(i for i in range(a.ndim) if i != axis)
        expected = a.astype(np.float64).sum(axis=other)
        np.testing.assert_allclose(channel_sum(a, axis), expected, rtol=1e-5, atol=1e-5)


def test_train_forward_matches_torch():
    torch = pytest.importorskip("torch")
    for shape, axis in CASES:
        x, gamma, beta = make_inputs(shape, axis, np.float32)
        y, _, _, _ = batch_norm_train(x, gamma, beta, axis, EPSILON)
        expected = torch.nn.functional.batch_norm(
            torch.from_numpy(to_torch_layout(x, axis)), None, None, torch.from_numpy(gamma),
            torch.from_numpy(beta), training=True, eps=EPSILON)
        np.testing.assert_allclose(to_torch_layout(y, axis), expected.numpy(), rtol=1e-5, atol=1e-5,
                                   err_msg=f"shape={shape} axis={axis}")


def test_bad_parameter_shape_raises():
    x, gamma, beta = make_inputs((4, 3), -1, np.float32)
    with pytest.raises(ValueError, match="gamma"):
        batch_norm_train(x, gamma[:2], beta, -1, EPSILON)
    with pytest.raises(ValueError, match="axis"):
        batch_norm_train(x, gamma, beta, 2, EPSILON)


# --------------------------------------------------------------------------- moving statistics

def test_update_moving_matches_keras_formula():
    moving = np.array([0.0, 1.0, 2.0], dtype=np.float32)
    batch = np.array([1.0, 3.0, -2.0], dtype=np.float32)
    new = update_moving(moving, batch, 0.99)
    assert new.dtype == np.float32
    np.testing.assert_allclose(new, [0.01, 1.02, 1.96], rtol=1e-6)
    np.testing.assert_array_equal(update_moving(moving, batch, 1.0), moving)
    np.testing.assert_array_equal(update_moving(moving, batch, 0.0), batch)


def test_update_moving_matches_torch_running_stats():
    # torch momentum = 1 - Keras momentum; torch's running_var holds the unbiased variance.
    torch = pytest.importorskip("torch")
    x, _, _ = make_inputs((5, 3, 4, 4), 1, np.float32)
    running_mean = torch.zeros(3)
    running_var = torch.ones(3)
    torch.nn.functional.batch_norm(torch.from_numpy(x), running_mean, running_var,
                                   training=True, momentum=0.1, eps=EPSILON)
    _, mean, var, _ = batch_norm_train(x, None, None, 1, EPSILON)
    count = x.size // 3
    np.testing.assert_allclose(update_moving(np.zeros(3, np.float32), mean, 0.9),
                               running_mean.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(update_moving(np.ones(3, np.float32), var * count / (count - 1), 0.9),
                               running_var.numpy(), rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- backward

def train_pair(axis, use_gamma=True, use_beta=True):
    """forward(x, gamma, beta) and backward(grad, x, gamma, beta) for assert_vjp_matches."""
    def forward(x, gamma, beta):
        return batch_norm_train(x, gamma if use_gamma else None, beta if use_beta else None,
                                axis, EPSILON)[0]

    def backward(grad, x, gamma, beta):
        ctx = batch_norm_train(x, gamma if use_gamma else None, beta if use_beta else None,
                               axis, EPSILON)[3]
        return batch_norm_train_backward(grad, ctx)

    return forward, backward


@pytest.mark.parametrize("shape,axis", CASES)
def test_train_backward_matches_finite_differences(shape, axis):
    forward, backward = train_pair(axis)
    assert_vjp_matches(forward, backward, make_inputs(shape, axis, np.float64), rtol=1e-6,
                       label=f"shape={shape} axis={axis}")


@pytest.mark.parametrize("use_gamma,use_beta", [(False, True), (True, False), (False, False)])
def test_train_backward_without_scale_or_center(use_gamma, use_beta):
    forward, backward = train_pair(-1, use_gamma, use_beta)
    inputs = make_inputs((3, 2, 2, 3), -1, np.float64)
    _, dgamma, dbeta = backward(np.ones((3, 2, 2, 3)), *inputs)
    assert (dgamma is None) == (not use_gamma)
    assert (dbeta is None) == (not use_beta)
    assert_vjp_matches(forward, backward, inputs, rtol=1e-6)


def test_train_backward_matches_torch_autograd():
    torch = pytest.importorskip("torch")
    for shape, axis in CASES:
        x, gamma, beta = make_inputs(shape, axis, np.float32)
        grad = np.random.default_rng(7).standard_normal(shape).astype(np.float32)
        _, _, _, ctx = batch_norm_train(x, gamma, beta, axis, EPSILON)
        dx, dgamma, dbeta = batch_norm_train_backward(grad, ctx)
        assert dx.dtype == dgamma.dtype == dbeta.dtype == np.float32

        tx, tgamma, tbeta = (torch.from_numpy(a).requires_grad_()
                             for a in (to_torch_layout(x, axis), gamma, beta))
        out = torch.nn.functional.batch_norm(tx, None, None, tgamma, tbeta, training=True, eps=EPSILON)
        out.backward(torch.from_numpy(to_torch_layout(grad, axis)))
        label = f"shape={shape} axis={axis}"
        np.testing.assert_allclose(to_torch_layout(dx, axis), tx.grad.numpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=label)
        np.testing.assert_allclose(dgamma, tgamma.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=label)
        np.testing.assert_allclose(dbeta, tbeta.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=label)


# --------------------------------------------------------------------------- inference

def moving_stats(channels, dtype, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(channels).astype(dtype), rng.uniform(0.5, 2.0, channels).astype(dtype)


@pytest.mark.parametrize("shape,axis", CASES)
def test_infer_forward_matches_formula(shape, axis):
    x, gamma, beta = make_inputs(shape, axis, np.float32)
    mean, var = moving_stats(shape[axis], np.float32)
    y = batch_norm_infer(x, mean, var, gamma, beta, axis, EPSILON)
    assert y.dtype == np.float32
    per_channel = [1] * len(shape)
    per_channel[axis] = shape[axis]
    m, v, g, b = (a.astype(np.float64).reshape(per_channel) for a in (mean, var, gamma, beta))
    expected = (x.astype(np.float64) - m) / np.sqrt(v + EPSILON) * g + b
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_infer_without_scale_or_center():
    x, _, _ = make_inputs((4, 3), -1, np.float64)
    mean, var = moving_stats(3, np.float64)
    y = batch_norm_infer(x, mean, var, None, None, -1, EPSILON)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + EPSILON), rtol=1e-12)
    _, dgamma, dbeta = batch_norm_infer_backward(np.ones_like(x), x, mean, var, None, -1, EPSILON,
                                                 center=False)
    assert dgamma is None and dbeta is None


def test_infer_forward_matches_torch():
    torch = pytest.importorskip("torch")
    for shape, axis in CASES:
        x, gamma, beta = make_inputs(shape, axis, np.float32)
        mean, var = moving_stats(shape[axis], np.float32)
        y = batch_norm_infer(x, mean, var, gamma, beta, axis, EPSILON)
        expected = torch.nn.functional.batch_norm(
            torch.from_numpy(to_torch_layout(x, axis)), torch.from_numpy(mean), torch.from_numpy(var),
            torch.from_numpy(gamma), torch.from_numpy(beta), training=False, eps=EPSILON)
        np.testing.assert_allclose(to_torch_layout(y, axis), expected.numpy(), rtol=1e-5, atol=1e-5,
                                   err_msg=f"shape={shape} axis={axis}")


@pytest.mark.parametrize("shape,axis", CASES)
def test_infer_backward_matches_finite_differences(shape, axis):
    mean, var = moving_stats(shape[axis], np.float64)

    def forward(x, gamma, beta):
        return batch_norm_infer(x, mean, var, gamma, beta, axis, EPSILON)

    def backward(grad, x, gamma, beta):
        return batch_norm_infer_backward(grad, x, mean, var, gamma, axis, EPSILON)

    assert_vjp_matches(forward, backward, make_inputs(shape, axis, np.float64), rtol=1e-6,
                       label=f"shape={shape} axis={axis}")


# --------------------------------------------------------------------------- empty batches

@pytest.mark.parametrize("shape, axis", [((0, 3), -1), ((0, 4, 5, 3), -1), ((0, 3, 4, 5), 1), ((0, 2, 3, 4, 3), -1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_empty_batch_trains_without_nan_as_torch(shape, axis, dtype):
    """N = 0: empty y and dx, zero dgamma and dbeta (torch's values), finite statistics, no warning."""
    torch = pytest.importorskip("torch")
    channels = shape[axis]
    x = np.zeros(shape, dtype)
    gamma, beta = np.full(channels, 1.5, dtype), np.full(channels, 0.5, dtype)
    with np.errstate(all="raise"):
        y, mean, var, ctx = batch_norm_train(x, gamma, beta, axis, EPSILON)
        dx, dgamma, dbeta = batch_norm_train_backward(np.zeros_like(y), ctx)
    assert mean.shape == var.shape == (channels,) and np.isfinite(mean).all() and np.isfinite(var).all()

    tx = torch.tensor(to_torch_layout(x, axis), requires_grad=True)
    tgamma, tbeta = torch.tensor(gamma, requires_grad=True), torch.tensor(beta, requires_grad=True)
    ty = torch.nn.functional.batch_norm(tx, None, None, tgamma, tbeta, training=True, eps=EPSILON)
    ty.sum().backward()
    assert y.dtype == dx.dtype == dgamma.dtype == dbeta.dtype == dtype
    assert to_torch_layout(y, axis).shape == tuple(ty.shape)
    assert to_torch_layout(dx, axis).shape == tuple(tx.grad.shape)
    np.testing.assert_array_equal(dgamma, tgamma.grad.numpy())
    np.testing.assert_array_equal(dbeta, tbeta.grad.numpy())


def test_empty_batch_leaves_the_moving_statistics_unchanged_as_torch():
    """torch keeps its running statistics on an empty batch; update_moving does given the batch's count."""
    torch = pytest.importorskip("torch")
    x = np.zeros((0, 3, 4, 4), np.float32)
    running_mean, running_var = torch.tensor([0.5, -1.0, 2.0]), torch.tensor([1.0, 2.0, 0.25])
    torch.nn.functional.batch_norm(torch.from_numpy(x), running_mean, running_var, training=True,
                                   momentum=0.1, eps=EPSILON)
    moving_mean, moving_var = np.array([0.5, -1.0, 2.0], np.float32), np.array([1.0, 2.0, 0.25], np.float32)
    _, mean, var, _ = batch_norm_train(x, None, None, 1, EPSILON)
    count = statistics_count(x.shape, 1)
    assert count == 0
    np.testing.assert_array_equal(update_moving(moving_mean, mean, 0.9, count), running_mean.numpy())
    np.testing.assert_array_equal(update_moving(moving_var, var, 0.9, count), running_var.numpy())


def test_statistics_count_is_the_values_per_channel():
    assert statistics_count((5, 3, 4, 2), -1) == 60
    assert statistics_count((5, 3, 4, 2), 1) == 40
    assert statistics_count((0, 3, 4, 2), -1) == 0
    x = np.random.default_rng(0).standard_normal((5, 3, 4, 2))
    _, mean, _, _ = batch_norm_train(x, None, None, 1, EPSILON)
    np.testing.assert_allclose(mean * statistics_count(x.shape, 1), x.sum(axis=(0, 2, 3)), rtol=1e-12)


def test_update_moving_with_a_count_updates_as_without():
    moving = np.array([0.0, 1.0, 2.0], dtype=np.float32)
    batch = np.array([1.0, 3.0, -2.0], dtype=np.float32)
    np.testing.assert_array_equal(update_moving(moving, batch, 0.99, 12), update_moving(moving, batch, 0.99))


@pytest.mark.parametrize("axis", [-1, 1])
def test_empty_batch_inference_as_torch(axis):
    torch = pytest.importorskip("torch")
    shape = (0, 3, 4, 3)
    x = np.zeros(shape, np.float32)
    mean, var = moving_stats(3, np.float32)
    gamma, beta = np.full(3, 1.5, np.float32), np.full(3, 0.5, np.float32)
    with np.errstate(all="raise"):
        y = batch_norm_infer(x, mean, var, gamma, beta, axis, EPSILON)
        dx, dgamma, dbeta = batch_norm_infer_backward(np.zeros_like(y), x, mean, var, gamma, axis, EPSILON)
    tx = torch.tensor(to_torch_layout(x, axis), requires_grad=True)
    tgamma, tbeta = torch.tensor(gamma, requires_grad=True), torch.tensor(beta, requires_grad=True)
    ty = torch.nn.functional.batch_norm(tx, torch.from_numpy(mean), torch.from_numpy(var), tgamma, tbeta,
                                        training=False, eps=EPSILON)
    ty.sum().backward()
    assert to_torch_layout(y, axis).shape == tuple(ty.shape) and to_torch_layout(dx, axis).shape == tuple(tx.grad.shape)
    np.testing.assert_array_equal(dgamma, tgamma.grad.numpy())
    np.testing.assert_array_equal(dbeta, tbeta.grad.numpy())


def test_channel_sum_accepts_a_negative_axis():
    a = np.random.default_rng(6).standard_normal((4, 3, 5))
    np.testing.assert_array_equal(channel_sum(a, -1), channel_sum(a, 2))
    np.testing.assert_array_equal(channel_sum(a, -2), channel_sum(a, 1))
    np.testing.assert_allclose(channel_sum(a, -1), a.sum(axis=(0, 1)), rtol=1e-12)
