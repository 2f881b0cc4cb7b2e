"""Batch normalization over one channel axis: forward and explicit backward.

Contract (Keras ``BatchNormalization`` / PyTorch ``batch_norm``):

    x        (..., C, ...)   any rank; ``axis`` names the channel axis
    gamma    (C,) or None    scale (``scale=False`` in Keras gives None)
    beta     (C,) or None    shift (``center=False`` in Keras gives None)
    mean,var (C,)            per-channel statistics over every other axis

    training:  mean = E[x], var = E[(x - mean)^2]     (biased, M = x.size / C)
               y = (x - mean) / sqrt(var + eps) * gamma + beta
    inference: the same map with the moving statistics in place of the batch
               ones, i.e. an affine map per channel.

Moving statistics follow Keras: ``moving = moving * momentum + batch * (1 -
momentum)`` with the *biased* batch variance. (PyTorch's momentum is
``1 - momentum`` and its running_var stores the unbiased variance.)

All arithmetic stays in the input dtype except the sums over the batch,
which :func:`channel_sum` accumulates in float64 and rounds once. With the
compiled kernels on, channels-last float32 and float64 arrays take the same
steps in fewer passes (:mod:`.normalization_compiled`).

Data-parallel training (:mod:`clearconv.distribution`) normalises with the
statistics of the global batch, spread over several processes, as PyTorch's
SyncBatchNorm: inside :func:`statistics_reduction` the per-channel sums of the
forward (count, sum(x), then sum((x - mean)^2): the same two passes) and of the
backward (sum(g), sum(g * x_hat)) are summed over the processes before use.
Outside it (one process) nothing changes.
"""

from __future__ import annotations

import contextlib
from typing import Callable, NamedTuple, Optional

import numpy as np

from . import normalization_compiled


class BatchNormContext(NamedTuple):
    """What :func:`batch_norm_train_backward` needs from the forward pass."""

    x_hat: np.ndarray            # (x - mean) * inv_std, same shape as x
    inv_std: np.ndarray          # (C,) 1 / sqrt(var + eps)
    gamma: Optional[np.ndarray]  # (C,) or None
    axis: int                    # channel axis, non-negative
    center: bool                 # whether beta exists (dbeta is returned)
    count: Optional[int] = None  # values per channel of the global batch, when the sums were reduced


def channel_axis(ndim: int, axis: int) -> int:
    """Normalise a possibly negative channel axis; ValueError when out of range."""
    if not -ndim <= axis < ndim:
        raise ValueError(f"batch normalization axis must be in [{-ndim}, {ndim}) for a "
                         f"{ndim}-d input; received axis={axis}")
    return axis % ndim


# Values converted to float64 per block of :func:`channel_sum` (1 MiB of float64): a block is still in
# cache for its BLAS product. Measured (float32 in, one BLAS thread, medians on a shared 2-core machine,
# so rough): 0.04-0.47 ms for 65 thousand to 1.6 million values, C = 6 to 512; np.add.reduce with
# dtype=float64 took about twice as long, blocks of 2**15 values up to 3x as long at C = 32; a float32
# BLAS product, which drifts by many ulps over long sums, 0.01-0.09 ms.
SUM_BLOCK_VALUES = 2**17


def channel_sum(a: np.ndarray, axis: int) -> np.ndarray:
    """Sum of ``a`` over every axis but ``axis``: (..., C, ...) -> (C,) in ``a``'s dtype.

    The one per-channel sum of clearconv: a convolution's and a transposed
    convolution's bias gradient, Dense's bias gradient and BatchNormalization's
    statistics and gradients all call it, so the same values give the same
    bits on every path.

    Accumulation: float64, rounded once to ``a``'s dtype. Blocks of rows
    (``SUM_BLOCK_VALUES`` values) are converted to float64 and summed by a
    BLAS product with a vector of ones; the block sums add in float64 (with
    the compiled kernels, a channels-last array is summed row after row into
    float64 accumulators instead, under the same bound). For
    float32 input the result is therefore within half a float32 ulp of the
    exact sum, plus float64 rounding of at most ``M * 2**-53 * sum|a|`` over
    the M values per channel, however large M is (a float32 accumulation,
    ``np.sum`` or a float32 BLAS product, drifts by many ulps over long
    sums). An empty ``a`` sums to zeros.
    """
    axis = channel_axis(a.ndim, axis)
    if normalization_compiled.use_compiled(a, axis):
        return normalization_compiled.channel_sum(a).astype(a.dtype)
    channels = a.shape[axis]
    outer = int(np.prod(a.shape[:axis], dtype=np.int64))
    inner = int(np.prod(a.shape[axis + 1:], dtype=np.int64))
    total = np.zeros(channels, dtype=np.float64)
    if a.size == 0:
        return total.astype(a.dtype)
    view = np.ascontiguousarray(a).reshape(outer, channels, inner)  # (outer, C, inner)
    rows = min(outer, max(1, SUM_BLOCK_VALUES // (channels * inner)))  # at least one row (outer index) per block
    block = np.empty((rows, channels, inner), dtype=np.float64)
    ones_inner = np.ones(inner, dtype=np.float64)
    ones_rows = np.ones(rows, dtype=np.float64)
    for start in range(0, outer, rows):
        part = block[:min(rows, outer - start)]
        np.copyto(part, view[start:start + rows])
        count = part.shape[0]
        # (n, C, inner) -> (n*C, inner) @ (inner,) -> (n, C); inner == 1 is a free reshape.
        per_row = part.reshape(count, channels) if inner == 1 else \
            (part.reshape(count * channels, inner) @ ones_inner).reshape(count, channels)
        total += ones_rows[:count] @ per_row  # (n,) @ (n, C) -> (C,)
    return total.astype(a.dtype)


def _per_channel(values: np.ndarray, ndim: int, axis: int) -> np.ndarray:
    """(C,) -> shape (1, .., C, .., 1) that broadcasts along ``axis`` of an ndim array."""
    shape = [1] * ndim
    shape[axis] = values.shape[0]
    return values.reshape(shape)


# Sums a list of per-channel arrays over the processes of a data-parallel step (None: one process).
_reduce_sums: Optional[Callable[[list], list]] = None


@contextlib.contextmanager
def statistics_reduction(reduce_sums: Callable[[list], list]):
    """Within the block, :func:`batch_norm_train` and its backward sum their per-channel statistics over
    processes with ``reduce_sums(list of arrays) -> list of arrays`` (each summed elementwise over the
    processes, same shapes and dtypes), so every process normalises with the global batch's statistics.

    The mean and the variance keep the two passes of one process (the global
    mean first, then the global sum of squared deviations from it), so a
    large mean does not cancel the variance. The gradients of gamma and beta
    stay this process's own sums: the optimizer's gradient reduction adds
    them up. Every process must run the same layers in the same order.
    """
    global _reduce_sums
    previous, _reduce_sums = _reduce_sums, reduce_sums
    try:
        yield
    finally:
        _reduce_sums = previous


def _check_parameter(name: str, value, channels: int) -> None:
    """A per-channel parameter must be None or have shape (C,)."""
    if value is not None and np.shape(value) != (channels,):
        raise ValueError(f"batch normalization {name} must have shape ({channels},) to match "
                         f"the channel axis; received shape {np.shape(value)}")


def batch_norm_train(x: np.ndarray, gamma: Optional[np.ndarray], beta: Optional[np.ndarray],
                     axis: int, epsilon: float):
    """Normalise ``x`` with its own per-channel batch statistics.

    x (..., C, ...) with C = x.shape[axis]; gamma, beta (C,) or None.
    Returns ``(y, mean, var, ctx)``: y like x, mean and var (C,) with the
    biased variance, ctx a :class:`BatchNormContext` for the backward pass.
    Statistics use two passes (mean, then mean of squared deviations) so a
    large mean does not cancel the variance away in float32.

    An empty batch (``statistics_count(x.shape, axis) == 0``) has no
    statistics: y is empty and mean and var are zeros, never NaN. Pass that
    count to :func:`update_moving`, which then keeps the moving statistics
    unchanged, as PyTorch keeps its running statistics. Inside
    :func:`statistics_reduction` pass ``ctx.count`` instead, the global
    batch's count: a process whose shard is empty then updates its moving
    statistics with the global ones, like every other process.
    """
    axis = channel_axis(x.ndim, axis)
    channels = x.shape[axis]
    _check_parameter("gamma", gamma, channels)
    _check_parameter("beta", beta, channels)
    # (a gamma, beta or epsilon of another dtype promotes NumPy's results: that case keeps NumPy's path)
    compiled = normalization_compiled.use_compiled(x, axis) and all(
        parameter is None or parameter.dtype == x.dtype for parameter in (gamma, beta))
    # One process: the sums as they are (count None); in data-parallel training, summed over the processes.
    reduce_sums = _reduce_sums or (lambda sums: sums)
    total, count = reduce_sums([channel_sum(x, axis), np.array([statistics_count(x.shape, axis)], np.int64)])
    count = int(count[0])
    divisor = max(1, count)  # an empty batch's sums are zeros: dividing them by 1 instead of 0 keeps NaN out
    mean = total / divisor
    centered = None if compiled else x - _per_channel(mean, x.ndim, axis)
    if compiled:
        squares = normalization_compiled.centered_square_sum(x, mean).astype(x.dtype)
    else:
        squares = channel_sum(centered * centered, axis)
    var = reduce_sums([squares])[0] / divisor
    inv_std = 1 / np.sqrt(var + epsilon)
    if compiled and mean.dtype == inv_std.dtype == x.dtype:
        x_hat, y = normalization_compiled.normalize(x, mean, inv_std, gamma, beta)
    else:
        if centered is None:                # the sums were compiled, the normalization is NumPy's
            centered = x - _per_channel(mean, x.ndim, axis)
        # centered is our own temporary, so x_hat may overwrite it.
        x_hat = np.multiply(centered, _per_channel(inv_std, x.ndim, axis), out=centered)
        y = x_hat * _per_channel(gamma, x.ndim, axis) if gamma is not None else x_hat.copy()
        if beta is not None:
            y += _per_channel(beta, x.ndim, axis)
    if _reduce_sums is None:
        count = None
    ctx = BatchNormContext(x_hat, inv_std, gamma, axis, beta is not None, count)
    return y, mean, var, ctx


def batch_norm_train_backward(grad: np.ndarray, ctx: BatchNormContext):
    """VJP of :func:`batch_norm_train`: grad (like y) -> (dx, dgamma, dbeta).

    With g = dL/dy, M elements per channel and sums over all but the channel
    axis:

        dbeta  = sum(g)
        dgamma = sum(g * x_hat)
        dx     = gamma * inv_std * (g - dbeta / M - x_hat * dgamma / M)

    The two subtracted terms are the paths through the batch mean and the
    batch variance. dgamma (dbeta) is None when gamma (beta) was None. An
    empty batch gives an empty dx and zero dgamma and dbeta (as PyTorch).
    When the forward ran inside :func:`statistics_reduction` (``ctx.count``
    set), M and the two sums in dx are the global batch's, so the backward
    must run inside it too.
    """
    x_hat, inv_std, gamma, axis, center, count = ctx
    ndim = grad.ndim
    scale = inv_std if gamma is None else gamma * inv_std
    compiled = (normalization_compiled.use_compiled(grad, axis) and x_hat.flags.c_contiguous
                and grad.shape == x_hat.shape and x_hat.dtype == scale.dtype == grad.dtype)
    if compiled:
        dbeta, dgamma = (s.astype(grad.dtype) for s in normalization_compiled.gradient_sums(grad, x_hat))
    else:
        dbeta = channel_sum(grad, axis)
        dgamma = channel_sum(grad * x_hat, axis)
    if count is None:
        divisor = max(1, statistics_count(grad.shape, axis))  # M, or 1 for an empty batch (zero sums)
        sum_g, sum_g_x_hat = dbeta, dgamma
    else:  # the forward used the global batch: dx needs the global sums (gamma's and beta's stay local)
        if _reduce_sums is None:
            raise RuntimeError("batch_norm_train_backward: the forward pass normalised with statistics summed over "
                               "processes, so its backward must run inside statistics_reduction() as well")
        divisor = max(1, count)
        sum_g, sum_g_x_hat = _reduce_sums([dbeta, dgamma])
    if compiled:
        dx = normalization_compiled.input_grad(grad, x_hat, sum_g / divisor, sum_g_x_hat / divisor, scale)
    else:
        dx = grad - _per_channel(sum_g / divisor, ndim, axis)
        dx -= x_hat * _per_channel(sum_g_x_hat / divisor, ndim, axis)
        dx *= _per_channel(scale, ndim, axis)
    return dx, (dgamma if gamma is not None else None), (dbeta if center else None)


def _inference_scale(var: np.ndarray, gamma: Optional[np.ndarray], epsilon: float) -> np.ndarray:
    """(C,) multiplier of the inference map: gamma / sqrt(var + eps)."""
    inv_std = 1 / np.sqrt(var + epsilon)
    return inv_std if gamma is None else gamma * inv_std


def batch_norm_infer(x: np.ndarray, mean: np.ndarray, var: np.ndarray,
                     gamma: Optional[np.ndarray], beta: Optional[np.ndarray],
                     axis: int, epsilon: float) -> np.ndarray:
    """Normalise ``x`` with fixed (moving) statistics: y = x * inv + (beta - mean * inv).

    x (..., C, ...); mean, var, gamma, beta (C,) (gamma/beta may be None);
    ``inv = gamma / sqrt(var + eps)``. Folding into one multiply-add per
    element is Keras's formulation and is what Conv+BN fusion computes.
    """
    axis = channel_axis(x.ndim, axis)
    channels = x.shape[axis]
    for name, value in (("mean", mean), ("variance", var), ("gamma", gamma), ("beta", beta)):
        _check_parameter(name, value, channels)
    inv = _inference_scale(var, gamma, epsilon)
    shift = -mean * inv if beta is None else beta - mean * inv
    if normalization_compiled.use_compiled(x, axis) and inv.dtype == shift.dtype == x.dtype:
        return normalization_compiled.affine(x, inv, shift)
    return x * _per_channel(inv, x.ndim, axis) + _per_channel(shift, x.ndim, axis)


def batch_norm_infer_backward(grad: np.ndarray, x: np.ndarray, mean: np.ndarray, var: np.ndarray,
                              gamma: Optional[np.ndarray], axis: int, epsilon: float,
                              center: bool = True):
    """VJP of :func:`batch_norm_infer`: grad (like x) -> (dx, dgamma, dbeta).

    The statistics are constants here, so with inv_std = 1 / sqrt(var + eps):

        dx     = g * gamma * inv_std
        dgamma = sum(g * (x - mean) * inv_std)      (None when gamma is None)
        dbeta  = sum(g)                             (None when center=False)
    """
    axis = channel_axis(x.ndim, axis)
    inv_std = 1 / np.sqrt(var + epsilon)
    inv = inv_std if gamma is None else gamma * inv_std
    dx = grad * _per_channel(inv, x.ndim, axis)
    dgamma = None
    if gamma is not None:
        x_hat = (x - _per_channel(mean, x.ndim, axis)) * _per_channel(inv_std, x.ndim, axis)
        dgamma = channel_sum(grad * x_hat, axis)
    dbeta = channel_sum(grad, axis) if center else None
    return dx, dgamma, dbeta


def statistics_count(shape, axis: int) -> int:
    """Values per channel behind the batch statistics: ``prod(shape) / shape[axis]`` (0 for an empty batch)."""
    axis = channel_axis(len(shape), axis)
    return int(np.prod([size for i, size in enumerate(shape) if i != axis], dtype=np.int64))


def update_moving(moving: np.ndarray, batch_value: np.ndarray, momentum: float,
                  count: int | None = None) -> np.ndarray:
    """Keras moving-average step: ``moving * momentum + batch_value * (1 - momentum)``.

    momentum is Keras's (default 0.99); PyTorch's ``momentum`` is ``1 - this``.
    ``count`` is :func:`statistics_count` of the batch ``batch_value`` came
    from: with 0 (an empty batch, which has no statistics) ``moving`` is
    returned unchanged, as PyTorch leaves its running statistics. Returns a
    new array of moving's dtype.
    """
    if count == 0:
        return moving.copy()
    return (moving * momentum + batch_value * (1 - momentum)).astype(moving.dtype, copy=False)
