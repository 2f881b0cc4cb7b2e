"""Differentiable operations: each runs an ``ops`` forward and records its backward.

Arguments may be :class:`~clearconv.autograd.Tensor` or plain arrays (constants).
Layers call these; users may too, to compose their own models.
Every function keeps the channels_last convention of :mod:`clearconv.kernels`.
"""

from __future__ import annotations

import numpy as np

from .autograd import Tensor, data_of, needs_grad, record
from .kernels import activations as activation_ops
from .kernels import conv as conv_ops
from .kernels import normalization as norm_ops
from .kernels import pooling as pool_ops
from .kernels import reshaping as reshape_ops
from .kernels.windows import crop_spatial, pad_spatial


def conv(x, kernel, bias, strides, pads, dilation, groups: int = 1, algorithm: str | None = None,
         activation: str | None = None) -> Tensor:
    """N-d convolution, (N, *S, C) -> (N, *out, F); see :func:`clearconv.kernels.conv.conv`.

    ``algorithm`` None means the global default; ``activation`` "relu" is fused
    into the convolution's output pass (and its mask into the backward).
    """
    keep, need_input = needs_grad(x, kernel, bias), needs_grad(x)  # decided now, not at backward time
    y, ctx = conv_ops.conv(data_of(x), data_of(kernel), data_of(bias), strides, pads, dilation,
                           groups, algorithm=algorithm, activation=activation, keep_for_backward=keep)
    return record(y, (x, kernel, bias),
                  lambda g: conv_ops.conv_backward(g, ctx, need_input=need_input))


def conv_transpose(x, kernel, bias, strides, dilation, crops, output_shape) -> Tensor:
    """N-d transposed convolution (Keras semantics); see :func:`clearconv.kernels.conv.conv_transpose`."""
    keep, need_input = needs_grad(x, kernel, bias), needs_grad(x)  # decided now, not at backward time
    y, ctx = conv_ops.conv_transpose(data_of(x), data_of(kernel), data_of(bias), strides, dilation,
                                     crops, output_shape, keep_for_backward=keep)
    return record(y, (x, kernel, bias),
                  lambda g: conv_ops.conv_transpose_backward(g, ctx, need_input=need_input))


def activation(x, name: str, **params) -> Tensor:
    """Apply a named activation (see :mod:`clearconv.kernels.activations`)."""
    forward, backward = activation_ops.get(name)
    x_data = data_of(x)
    y = forward(x_data, **params)
    return record(y, (x,), lambda g: (backward(g, x_data, y, **params),))


def dense(x, kernel, bias) -> Tensor:
    """(..., in) @ (in, units) + (units,) -> (..., units).

    The bias gradient sums the output gradient over every axis but the last
    with :func:`clearconv.kernels.normalization.channel_sum`, as a
    convolution's does.
    """
    y = x @ kernel
    if bias is None or np.ndim(data_of(bias)) != 1:
        return y if bias is None else y + bias  # a bias of another shape broadcasts like any sum
    y_data = data_of(y)
    return record(y_data + data_of(bias), (y, bias), lambda g: (g, norm_ops.channel_sum(g, g.ndim - 1)))


def max_pool(x, pool_size, strides, pads) -> Tensor:
    """Max pooling (N, *S, C) -> (N, *out, C); padded cells never win."""
    x_data = data_of(x)
    y, winners = pool_ops.max_pool(x_data, pool_size, strides, pads, return_winners=True)
    return record(y, (x,), lambda g: (pool_ops.max_pool_backward(g, x_data, y, pool_size, strides, pads, winners),))


def avg_pool(x, pool_size, strides, pads) -> Tensor:
    """Average pooling over real (non-padded) cells (N, *S, C) -> (N, *out, C)."""
    shape = data_of(x).shape
    y = pool_ops.avg_pool(data_of(x), pool_size, strides, pads)
    return record(y, (x,), lambda g: (pool_ops.avg_pool_backward(g, shape, pool_size, strides, pads),))


def global_max_pool(x, keepdims: bool = False) -> Tensor:
    """Max over the spatial axes: (N, *S, C) -> (N, C) (or (N, 1.., C))."""
    x_data = data_of(x)
    y = pool_ops.global_max_pool(x_data, keepdims)
    return record(y, (x,), lambda g: (pool_ops.global_max_pool_backward(g, x_data, y, keepdims),))


def global_avg_pool(x, keepdims: bool = False) -> Tensor:
    """Mean over the spatial axes: (N, *S, C) -> (N, C) (or (N, 1.., C))."""
    shape = data_of(x).shape
    y = pool_ops.global_avg_pool(data_of(x), keepdims)
    return record(y, (x,), lambda g: (pool_ops.global_avg_pool_backward(g, shape, keepdims),))


def batch_norm_train(x, gamma, beta, axis: int, epsilon: float):
    """Normalise with batch statistics; returns ``(y, batch_mean, batch_var, count)``: the statistics as
    (C,) arrays and the number of values per channel they came from (the global batch's when they were
    summed over data-parallel processes, see :func:`~clearconv.kernels.normalization.statistics_reduction`)."""
    y, mean, var, ctx = norm_ops.batch_norm_train(data_of(x), data_of(gamma), data_of(beta), axis, epsilon)
    out = record(y, (x, gamma, beta), lambda g: norm_ops.batch_norm_train_backward(g, ctx))
    count = norm_ops.statistics_count(y.shape, axis) if ctx.count is None else ctx.count
    return out, mean, var, count


def batch_norm_infer(x, mean, var, gamma, beta, axis: int, epsilon: float) -> Tensor:
    """Normalise with given (moving) statistics: an affine map per channel."""
    x_data, gamma_data = data_of(x), data_of(gamma)
    y = norm_ops.batch_norm_infer(x_data, mean, var, gamma_data, data_of(beta), axis, epsilon)
    return record(y, (x, gamma, beta),
                  lambda g: norm_ops.batch_norm_infer_backward(g, x_data, mean, var, gamma_data, axis, epsilon,
                                                               center=beta is not None))


def zero_pad(x, pads) -> Tensor:
    """Zeros (before, after) around each spatial axis: (N, *S, C) -> (N, *(S + before + after), C).

    :func:`clearconv.kernels.windows.pad_spatial`; its backward is ``crop_spatial``.
    """
    return record(pad_spatial(data_of(x), pads), (x,), lambda g: (crop_spatial(g, pads),))


def crop(x, croppings) -> Tensor:
    """Remove (before, after) cells from each spatial axis: (N, *S, C) -> (N, *(S - before - after), C).

    :func:`clearconv.kernels.windows.crop_spatial`; its backward is ``pad_spatial``.
    """
    return record(np.ascontiguousarray(crop_spatial(data_of(x), croppings)), (x,),
                  lambda g: (pad_spatial(g, croppings),))


def upsample_nearest(x, size) -> Tensor:
    """Repeat each cell ``size[i]`` times along spatial axis i."""
    y = reshape_ops.upsample_nearest(data_of(x), size)
    return record(y, (x,), lambda g: (reshape_ops.upsample_nearest_backward(g, size),))


def upsample_bilinear(x, size) -> Tensor:
    """Bilinear upsampling with half-pixel centres (PyTorch align_corners=False)."""
    shape = data_of(x).shape
    y = reshape_ops.upsample_bilinear(data_of(x), size)
    return record(y, (x,), lambda g: (reshape_ops.upsample_bilinear_backward(g, shape, size),))


def concatenate(tensors, axis: int = -1) -> Tensor:
    """Join along ``axis``; the backward splits the gradient at the same places."""
    arrays = [data_of(t) for t in tensors]
    boundaries = np.cumsum([a.shape[axis] for a in arrays])[:-1]
    return record(np.concatenate(arrays, axis=axis), tuple(tensors),
                  lambda g: tuple(np.split(g, boundaries, axis=axis)))


def dropout(x, rate: float, rng: np.random.Generator, noise_shape=None) -> Tensor:
    """Inverted dropout: keep with probability 1 - rate, scale kept cells by 1 / (1 - rate)."""
    x_data = data_of(x)
    mask = reshape_ops.dropout_mask(x_data.shape, rate, rng, noise_shape=noise_shape, dtype=x_data.dtype)
    return x * mask
