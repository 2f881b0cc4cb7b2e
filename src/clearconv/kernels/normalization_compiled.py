"""Compiled per-channel passes (numba): the channel sum and BatchNormalization's training passes.

Beside :mod:`clearconv.kernels.normalization`, whose NumPy passes these
replace for a C-contiguous float32 or float64 array whose channel axis is the
last one (channels_last, every zoo model); :mod:`clearconv.kernels.compiled`
switches them on and off. Each array is read as rows (M, C), M values per
channel.

The NumPy forward makes about ten passes over the batch (a float64 copy of
each block for the sum, ``x - mean``, its square, a float64 copy again,
``x_hat``, ``x_hat * gamma``, ``+ beta``) and the backward about as many.
Here the forward reads x three times (sum, sum of squared deviations,
normalization, which writes x_hat and y) and the backward reads the gradient
and x_hat twice (their two sums, then dx); the inference map is one pass. Every value is computed with the
same float operations in the same order as the NumPy path; only the float64
accumulation of the sums runs row after row instead of in BLAS blocks, so a
sum rounded to float32 equals NumPy's or is one rounding step away from it,
and the same bound holds (:func:`.normalization.channel_sum`).

Inner loops run over the C channels of one row, into C float64 accumulators:
numba vectorizes them across channels.
"""

from __future__ import annotations

import numpy as np

from . import compiled


def use_compiled(a: np.ndarray, axis: int) -> bool:
    """Whether ``a``'s per-channel passes over ``axis`` (non-negative) take this module's kernels: enabled,
    float32 or float64 (numba has no float16), C-contiguous with the channels last and at least one value."""
    return (compiled.enabled() and a.dtype in (np.float32, np.float64) and axis == a.ndim - 1
            and a.flags.c_contiguous and a.size > 0)


def _rows(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1, a.shape[-1])


def channel_sum(a: np.ndarray) -> np.ndarray:
    """Sum of ``a`` (..., C) over every axis but the last, accumulated in float64 -> (C,) float64."""
    total = np.zeros(a.shape[-1], dtype=np.float64)
    _column_sums(_rows(a), total)
    return total


def centered_square_sum(x: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """sum((x - mean)**2) per channel: x (..., C), mean (C,) in x's dtype -> (C,) float64.

    Each deviation and its square are rounded to x's dtype, as NumPy's
    ``centered * centered`` is; the sum is accumulated in float64.
    """
    total = np.zeros(x.shape[-1], dtype=np.float64)
    _centered_square_sums(_rows(x), mean, total)
    return total


def normalize(x: np.ndarray, mean: np.ndarray, inv_std: np.ndarray, gamma, beta) -> tuple[np.ndarray, np.ndarray]:
    """x (..., C) -> (x_hat, y), both like x: x_hat = (x - mean) * inv_std, y = x_hat * gamma + beta.

    mean, inv_std, gamma and beta are (C,) in x's dtype; gamma or beta None
    leaves out its step.
    """
    x_hat = np.empty_like(x)
    y = np.empty_like(x)
    empty = np.empty(0, dtype=x.dtype)
    _normalize(_rows(x), mean, inv_std, empty if gamma is None else gamma, empty if beta is None else beta,
               gamma is not None, beta is not None, _rows(x_hat), _rows(y))
    return x_hat, y


def affine(x: np.ndarray, scale: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """y = x * scale + shift per channel, in one pass: x (..., C), scale and shift (C,) in x's dtype -> like x.

    BatchNormalization's inference map (:func:`.normalization.batch_norm_infer`).
    """
    y = np.empty_like(x)
    _affine(_rows(x), scale, shift, _rows(y))
    return y


def gradient_sums(grad: np.ndarray, x_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sum(grad), sum(grad * x_hat)) per channel, both (C,) float64, in one pass over grad and x_hat (..., C).

    ``grad * x_hat`` is rounded to the arrays' dtype before it is added, as
    NumPy's product is.
    """
    sum_g = np.zeros(grad.shape[-1], dtype=np.float64)
    sum_g_x_hat = np.zeros(grad.shape[-1], dtype=np.float64)
    _gradient_sums(_rows(grad), _rows(x_hat), sum_g, sum_g_x_hat)
    return sum_g, sum_g_x_hat


def input_grad(grad: np.ndarray, x_hat: np.ndarray, mean_g: np.ndarray, mean_g_x_hat: np.ndarray,
               scale: np.ndarray) -> np.ndarray:
    """dx = ((grad - mean_g) - x_hat * mean_g_x_hat) * scale: grad, x_hat (..., C), the rest (C,) -> like grad."""
    dx = np.empty_like(grad)
    _input_grad(_rows(grad), _rows(x_hat), mean_g, mean_g_x_hat, scale, _rows(dx))
    return dx


@compiled.kernel
def _column_sums(rows, total):
    for r in range(rows.shape[0]):
        row = rows[r]
        for c in range(row.shape[0]):
            total[c] += row[c]


@compiled.kernel
def _centered_square_sums(rows, mean, total):
    for r in range(rows.shape[0]):
        row = rows[r]
        for c in range(row.shape[0]):
            deviation = row[c] - mean[c]
            total[c] += deviation * deviation


@compiled.kernel
def _normalize(rows, mean, inv_std, gamma, beta, scaled, shifted, x_hat, y):
    for r in range(rows.shape[0]):
        row, hat_row, y_row = rows[r], x_hat[r], y[r]
        for c in range(row.shape[0]):
            value = (row[c] - mean[c]) * inv_std[c]
            hat_row[c] = value
            if scaled:
                value = value * gamma[c]
            if shifted:
                value = value + beta[c]
            y_row[c] = value


@compiled.kernel
def _affine(rows, scale, shift, y):
    for r in range(rows.shape[0]):
        row, y_row = rows[r], y[r]
        for c in range(row.shape[0]):
            y_row[c] = row[c] * scale[c] + shift[c]


@compiled.kernel
def _gradient_sums(grad, x_hat, sum_g, sum_g_x_hat):
    for r in range(grad.shape[0]):
        g_row, hat_row = grad[r], x_hat[r]
        for c in range(g_row.shape[0]):
            sum_g[c] += g_row[c]
            sum_g_x_hat[c] += g_row[c] * hat_row[c]


@compiled.kernel
def _input_grad(grad, x_hat, mean_g, mean_g_x_hat, scale, dx):
    for r in range(grad.shape[0]):
        g_row, hat_row, dx_row = grad[r], x_hat[r], dx[r]
        for c in range(g_row.shape[0]):
            dx_row[c] = ((g_row[c] - mean_g[c]) - hat_row[c] * mean_g_x_hat[c]) * scale[c]
