"""Keras 3's ``keras.ops.nn``: activations, convolutions, pooling, one-hot, losses, statistics.

Every function returns a :class:`~clearconv.autograd.Tensor` and records its
backward. The activations with a kernel in :mod:`clearconv.kernels.activations`
run it (forward and exact backward) through :func:`clearconv.functional.activation`;
the others are built from the differentiable ops of :mod:`.numpy`, in the
same steps as Keras's JAX backend so the values agree to float rounding.

Convolutions and pooling take Keras's layouts: inputs (N, *spatial, C) for
``data_format="channels_last"`` or (N, C, *spatial) for ``"channels_first"``
(None: :func:`clearconv.config.image_data_format`, channels_last by default); kernels (*k, C_in // groups, C_out) for ``conv``,
(*k, C_in, multiplier) for ``depthwise_conv`` and (*k, C_out, C_in) for
``conv_transpose``. Padding amounts and output sizes come from
:mod:`clearconv.kernels.shapes`.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..autograd import Tensor
from ..kernels import shapes
from .common import check_int, constant, normalize_axis, normalize_one_axis, record_op, to_array
from .dispatch import keras_op
from .. import config
from .dtypes import float_type, standardize_dtype
from .numpy import (absolute, add, cast_to, clip, divide, expand_dims, expm1, greater, greater_equal, less,
                    less_equal, log, maximum, mean, minimum, multiply, negative, reshape, split, sqrt, square,
                    squeeze, subtract, sum as reduce_sum, tanh, transpose, where)

# --------------------------------------------------------------------------- activations


def _activation(x, name: str, **params) -> Tensor:
    """The kernel activation ``name``; integers and booleans are computed in float32."""
    if to_array(x).dtype.kind != "f":
        x = to_array(x).astype(config.floatx())
    return F.activation(x, name, **params)


@keras_op("nn")
def relu(x):
    """``max(x, 0)`` (integers stay integers); slope 0 at 0."""
    if to_array(x).dtype.kind in "iub":
        return constant(np.maximum(to_array(x), 0))
    return _activation(x, "relu")


@keras_op("nn")
def relu6(x):
    """``min(max(x, 0), 6)``."""
    return _activation(x, "relu6")


@keras_op("nn")
def sigmoid(x):
    """``1 / (1 + exp(-x))``."""
    return _activation(x, "sigmoid")


@keras_op("nn")
def sparse_sigmoid(x):
    """0 for x <= -1, ``(x + 1) / 2`` in between, 1 for x >= 1."""
    return multiply(0.5, clip(add(x, 1.0), 0.0, 2.0))


@keras_op("nn")
def softplus(x):
    """``log(1 + exp(x))``, without overflow."""
    return _activation(x, "softplus")


@keras_op("nn")
def softsign(x):
    """``x / (1 + |x|)``."""
    return _activation(x, "softsign")


@keras_op("nn")
def soft_shrink(x, threshold=0.5):
    """``x - threshold`` above ``threshold``, ``x + threshold`` below ``-threshold``, else 0."""
    x = _as_float(x)
    return where(greater(x, threshold), subtract(x, threshold),
                 where(less(x, -threshold), add(x, threshold), 0.0))


@keras_op("nn")
def sparse_plus(x):
    """0 for x <= -1, ``(x + 1)^2 / 4`` in between, x for x >= 1."""
    x = _as_float(x)
    return where(less_equal(x, -1.0), 0.0,
                 where(greater_equal(x, 1.0), x, multiply(0.25, square(add(x, 1.0)))))


@keras_op("nn")
def silu(x):
    """``x * sigmoid(x)`` (swish)."""
    return _activation(x, "silu")


@keras_op("nn")
def swish(x):
    """Alias of :func:`silu`."""
    return silu(x)


@keras_op("nn")
def squareplus(x, b=4):
    """``(x + sqrt(x^2 + b)) / 2``, a smooth relu."""
    x = _as_float(x)
    return divide(add(x, sqrt(add(square(x), b))), 2.0)


@keras_op("nn")
def log_sigmoid(x):
    """``log(sigmoid(x)) = -softplus(-x)``."""
    return negative(softplus(negative(_as_float(x))))


@keras_op("nn")
def leaky_relu(x, negative_slope=0.2):
    """x for x >= 0, ``negative_slope * x`` below."""
    return _activation(x, "leaky_relu", negative_slope=negative_slope)


@keras_op("nn")
def hard_sigmoid(x):
    """``relu6(x + 3) / 6``."""
    return _activation(x, "hard_sigmoid")


@keras_op("nn")
def hard_silu(x):
    """``x * hard_sigmoid(x)``."""
    x = _as_float(x)
    return multiply(x, hard_sigmoid(x))


@keras_op("nn")
def hard_swish(x):
    """Alias of :func:`hard_silu`."""
    return hard_silu(x)


@keras_op("nn")
def elu(x, alpha=1.0):
    """x for x > 0, ``alpha * (exp(x) - 1)`` otherwise."""
    return _activation(x, "elu", alpha=alpha)


@keras_op("nn")
def selu(x):
    """``scale * elu(x, alpha)`` with Klambauer et al.'s constants."""
    return _activation(x, "selu")


@keras_op("nn")
def gelu(x, approximate=True):
    """``x * Phi(x)``; ``approximate=True`` (this op's default, unlike the activation
    function's) uses the tanh formula."""
    return _activation(x, "gelu", approximate=bool(approximate))


@keras_op("nn")
def celu(x, alpha=1.0):
    """``max(x, 0) + alpha * expm1(min(x, 0) / alpha)``."""
    x = _as_float(x)
    return add(maximum(x, 0.0), multiply(alpha, expm1(divide(minimum(x, 0.0), alpha))))


@keras_op("nn")
def glu(x, axis=-1):
    """``a * sigmoid(b)`` with (a, b) the two halves of x along ``axis`` (which must be even)."""
    a = to_array(x)
    axis = normalize_one_axis(axis, a.ndim)
    if a.shape[axis] % 2:
        raise ValueError(f"glu: the length of axis {axis} must be even to split in two halves; received shape {a.shape}")
    first, second = split(_as_float(x), 2, axis=axis)
    return multiply(first, sigmoid(second))


@keras_op("nn")
def tanh_shrink(x):
    """``x - tanh(x)``."""
    x = _as_float(x)
    return subtract(x, tanh(x))


@keras_op("nn")
def hard_tanh(x):
    """-1 below -1, x in [-1, 1], 1 above (slope 1 at the ends, as JAX)."""
    x = _as_float(x)
    return where(greater(x, 1.0), 1.0, where(less(x, -1.0), -1.0, x))


@keras_op("nn")
def hard_shrink(x, threshold=0.5):
    """x where ``|x| > threshold``, else 0."""
    x = _as_float(x)
    return where(greater(absolute(x), threshold), x, 0.0)


@keras_op("nn")
def threshold(x, threshold, default_value):
    """x where ``x > threshold``, else ``default_value``."""
    return where(greater(x, threshold), x, default_value)


@keras_op("nn")
def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x))`` along ``axis`` (an int or a tuple)."""
    a = to_array(x)
    axes = normalize_axis(axis, a.ndim) if a.ndim else None
    return _activation(x, "softmax", axis=axes if axes is not None else None)


@keras_op("nn")
def log_softmax(x, axis=-1):
    """``x - log(sum(exp(x)))`` along ``axis`` (an int or a tuple)."""
    a = to_array(x)
    axes = normalize_axis(axis, a.ndim) if a.ndim else None
    return _activation(x, "log_softmax", axis=axes if axes is not None else None)


@keras_op("nn")
def sparsemax(x, axis=-1):
    """The Euclidean projection of x onto the probability simplex along ``axis``:
    ``max(x - tau, 0)`` with tau chosen so each slice sums to 1 (Martins & Astudillo, 2016).

    Gradient: on the support S (the positive outputs) ``g - mean_S(g)``, 0 elsewhere.
    Keras 3.15's own sparsemax takes tau from the sum of the running sums over the
    support, so its outputs stop summing to 1 once two or more values are kept;
    this follows the definition.
    """
    a = to_array(x, float_type(x))
    axis = normalize_one_axis(axis, a.ndim)
    z = np.moveaxis(a, axis, -1)                                  # (..., n)
    ranked = -np.sort(-z, axis=-1)                                # (..., n) descending
    k = np.arange(1, z.shape[-1] + 1, dtype=a.dtype)
    running = np.cumsum(ranked, axis=-1)
    in_support = 1 + k * ranked > running                         # a prefix of the ranked values
    size = np.sum(in_support, axis=-1, keepdims=True)             # (..., 1), at least 1
    tau = (np.take_along_axis(running, size - 1, axis=-1) - 1) / size
    y = np.moveaxis(np.maximum(z - tau, 0), -1, axis)
    support = y > 0

    def vjp(g):
        count = np.sum(support, axis=axis, keepdims=True)
        mean_g = np.sum(np.where(support, g, 0), axis=axis, keepdims=True) / np.maximum(count, 1)
        return (np.where(support, g - mean_g, 0),)
    return record_op(y, (x,), vjp)


def _as_float(x):
    """x itself if floating, else cast to float32."""
    return x if to_array(x).dtype.kind == "f" else cast_to(x, config.floatx())


# --------------------------------------------------------------------------- one-hot

@keras_op("nn")
def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    """A new axis of length ``num_classes`` at ``axis``, 1 at each value of x and 0 elsewhere
    (an index outside [0, num_classes) gives all zeros). Default dtype float32."""
    if sparse:
        raise ValueError("one_hot: sparse=True is not supported: clearconv tensors are dense")
    index = to_array(x)
    if index.dtype.kind not in "iub":
        raise TypeError(f"one_hot: `x` must hold integer class indices; received dtype {index.dtype}")
    num_classes = check_int(num_classes, "num_classes", minimum=1)
    axis = normalize_one_axis(axis, index.ndim + 1)
    classes = np.arange(num_classes).reshape((num_classes,) + (1,) * (index.ndim - axis))
    hits = np.expand_dims(index, axis) == classes  # index (.., 1, ..) against (C, 1, ..) at `axis`
    return constant(hits.astype(standardize_dtype(dtype) if dtype is not None else config.floatx()))


@keras_op("nn")
def multi_hot(inputs, num_classes=None, axis=-1, dtype=None, sparse=False, **kwargs):
    """1 at every class that appears in each row of ``inputs`` (a batch (N, k) -> (N, C);
    a single list (k,) -> (C,)). ``num_tokens`` is accepted as the old name of ``num_classes``."""
    if "num_tokens" in kwargs:
        if num_classes is not None:
            raise ValueError("multi_hot: give `num_classes` or its old name `num_tokens`, not both")
        num_classes = kwargs.pop("num_tokens")
    if kwargs:
        raise TypeError(f"multi_hot: unexpected keyword arguments {sorted(kwargs)}")
    if num_classes is None:
        raise ValueError("multi_hot: `num_classes` is required")
    if sparse:
        raise ValueError("multi_hot: sparse=True is not supported: clearconv tensors are dense")
    index = to_array(inputs)
    encoded = to_array(one_hot(index.astype(np.int64), num_classes, axis=axis, dtype=dtype))
    return constant(np.max(encoded, axis=1 if index.ndim > 1 else 0))


# --------------------------------------------------------------------------- losses

def _check_same_shape(target, output, name: str):
    if np.shape(to_array(target)) != np.shape(to_array(output)):
        raise ValueError(f"{name}: `target` and `output` must have the same shape; received "
                         f"target.shape={np.shape(to_array(target))}, output.shape={np.shape(to_array(output))}")


@keras_op("nn")
def binary_crossentropy(target, output, from_logits=False):
    """Element-wise ``-(t log p + (1 - t) log(1 - p))``: p = sigmoid(output) from logits,
    else output clipped to [eps, 1 - eps] (eps = :func:`clearconv.config.epsilon`, 1e-7).
    Differentiable in both arguments."""
    _check_same_shape(target, output, "binary_crossentropy")
    output = _as_float(output)
    target = cast_to(target, to_array(output).dtype)
    if from_logits:
        return subtract(negative(multiply(target, log_sigmoid(output))),
                        multiply(subtract(1.0, target), log_sigmoid(negative(output))))
    output = clip(output, config.epsilon(), 1.0 - config.epsilon())
    return negative(add(multiply(target, log(output)), multiply(subtract(1.0, target), log(subtract(1.0, output)))))


def _log_probabilities(output, from_logits: bool, axis: int):
    """log_softmax of logits, or log of the probabilities renormalised along ``axis`` and clipped."""
    if from_logits:
        return log_softmax(output, axis=axis)
    output = divide(output, reduce_sum(output, axis=axis, keepdims=True))
    return log(clip(output, config.epsilon(), 1.0 - config.epsilon()))


@keras_op("nn")
def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """``-sum(target * log p)`` along ``axis``: p = softmax(output) from logits, else output
    divided by its sum along ``axis`` and clipped to [eps, 1 - eps] (eps = ``config.epsilon()``)."""
    _check_same_shape(target, output, "categorical_crossentropy")
    if to_array(output).ndim < 1:
        raise ValueError("categorical_crossentropy: `target` and `output` must have at least one axis")
    output = _as_float(output)
    axis = normalize_one_axis(axis, to_array(output).ndim)
    target = cast_to(target, to_array(output).dtype)
    return negative(reduce_sum(multiply(target, _log_probabilities(output, from_logits, axis)), axis=axis))


@keras_op("nn")
def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """:func:`categorical_crossentropy` with integer class indices as targets.

    target has output's shape without the class axis (a trailing length-1 axis is dropped).
    """
    labels = to_array(target)
    out = to_array(output)
    if out.ndim < 1:
        raise ValueError("sparse_categorical_crossentropy: `output` must have at least one axis")
    if labels.ndim == out.ndim and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if labels.shape != out.shape[:-1]:
        raise ValueError(f"sparse_categorical_crossentropy: `target` must have output's shape without its last axis; "
                         f"received target.shape={to_array(target).shape}, output.shape={out.shape}")
    output = _as_float(output)
    axis = normalize_one_axis(axis, out.ndim)
    encoded = one_hot(labels.astype(np.int64), out.shape[axis], axis=axis, dtype=to_array(output).dtype)
    return negative(reduce_sum(multiply(encoded, _log_probabilities(output, from_logits, axis)), axis=axis))


# --------------------------------------------------------------------------- statistics and normalisation

@keras_op("nn")
def moments(x, axes, keepdims=False, synchronized=False):
    """``(mean, variance)`` over ``axes`` (population variance). float16 is computed in float32.

    ``synchronized`` (averaging over devices) changes nothing on clearconv's single device.
    """
    source = to_array(x)
    if source.dtype == np.float16:
        x = cast_to(x, "float32")
    x = _as_float(x)
    average = mean(x, axis=axes, keepdims=True)
    variance = mean(square(subtract(x, average)), axis=axes, keepdims=True)
    if not keepdims:
        axes_tuple = normalize_axis(axes, source.ndim)
        average, variance = squeeze(average, axes_tuple), squeeze(variance, axes_tuple)
    if source.dtype == np.float16:
        average, variance = cast_to(average, "float16"), cast_to(variance, "float16")
    return average, variance


@keras_op("nn")
def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=1e-3):
    """``(x - mean) / sqrt(variance + epsilon) * scale + offset``, the statistics (C,) laid
    along ``axis`` of x."""
    rank = to_array(x).ndim
    axis = normalize_one_axis(axis, rank)
    channels = to_array(mean).shape[0] if to_array(mean).ndim else 1
    along = [1] * rank
    along[axis] = channels

    def spread(value):
        return None if value is None else reshape(value, along)
    inverse = divide(1.0, sqrt(add(spread(variance), epsilon)))
    if scale is not None:
        inverse = multiply(inverse, spread(scale))
    shift = multiply(negative(spread(mean)), inverse)
    if offset is not None:
        shift = add(shift, spread(offset))
    return add(multiply(x, inverse), shift)


@keras_op("nn")
def normalize(x, axis=-1, order=2, epsilon=None):
    """``x / max(norm(x), epsilon)`` along ``axis`` (``order`` an int >= 1; epsilon default
    :func:`clearconv.config.epsilon`)."""
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise ValueError(f"normalize: `order` must be an int >= 1; received order={order!r}")
    epsilon = config.epsilon() if epsilon is None else epsilon
    x = _as_float(x)
    if to_array(x).ndim == 0:
        x = expand_dims(x, 0)
    if order == 2:
        inverse = divide(1.0, sqrt(reduce_sum(square(x), axis=axis, keepdims=True)))
        return multiply(x, minimum(inverse, 1.0 / epsilon))
    from .linalg import norm
    return divide(x, maximum(norm(x, ord=order, axis=axis, keepdims=True), epsilon))


# --------------------------------------------------------------------------- convolution and pooling

def _data_format(data_format) -> str:
    """None -> :func:`clearconv.config.image_data_format`; otherwise checked and lower-cased."""
    return config.standardize_data_format(data_format)


def _padding(padding, name: str) -> str:
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"{name}: `padding` must be 'valid' or 'same'; received padding={padding!r}")
    return padding.lower()


def _channels_last(x, data_format: str, name: str):
    """x (N, *S, C) as it is, or (N, C, *S) moved to (N, *S, C); at least one spatial axis."""
    rank = to_array(x).ndim
    if rank < 3:
        raise ValueError(f"{name}: `inputs` must be (batch, *spatial, channels) with 1 to 3 spatial axes; "
                         f"received shape {to_array(x).shape}")
    if data_format == "channels_last":
        return x
    return transpose(x, (0, *range(2, rank), 1))


def _restore_format(y, data_format: str):
    """(N, *S, C) back to the caller's layout."""
    if data_format == "channels_last":
        return y
    rank = to_array(y).ndim
    return transpose(y, (0, rank - 1, *range(1, rank - 1)))


def _same_float(x, kernel, *more):
    """Inputs and kernels in one floating dtype (the promotion of theirs; integers give float32)."""
    dtype = float_type(x, kernel, *more)
    cast = [v if to_array(v).dtype == dtype else cast_to(v, dtype) for v in (x, kernel, *more)]
    return cast


def _convolve(x, kernel, strides, padding, dilation_rate, groups: int, name: str):
    """Channels-last convolution of x (N, *S, C) with kernel (*k, C // groups, F)."""
    spatial = to_array(x).shape[1:-1]
    rank = len(spatial)
    if to_array(kernel).ndim != rank + 2:
        raise ValueError(f"{name}: `kernel` must have rank {rank + 2} (*kernel_size, in_channels, out_channels) "
                         f"for inputs with {rank} spatial axes; received kernel of shape {to_array(kernel).shape}")
    kernel_size = to_array(kernel).shape[:-2]
    strides = shapes.normalize_tuple(strides, rank, "strides", name)
    dilation = shapes.normalize_tuple(dilation_rate, rank, "dilation_rate", name)
    pads = [shapes.conv_padding(n, k, s, d, padding) for n, k, s, d in zip(spatial, kernel_size, strides, dilation)]
    out = [shapes.conv_output_length(n, k, s, d, padding) for n, k, s, d in zip(spatial, kernel_size, strides, dilation)]
    if any(n <= 0 for n in out):
        raise ValueError(f"{name}: the output would be empty: kernel {kernel_size} (dilation {dilation}) is larger "
                         f"than the padded input of spatial shape {spatial} with padding='{padding}'")
    return F.conv(x, kernel, None, strides, pads, dilation, groups)


@keras_op("nn")
def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """N-d convolution (cross-correlation): inputs (N, *S, C), kernel (*k, C // groups, F) ->
    (N, *out, F). ``groups = C // kernel.shape[-2]`` (a grouped convolution when > 1).

    Output length per axis: valid ``(L - d(k-1) - 1) // s + 1``, same ``ceil(L / s)``.
    """
    data_format = _data_format(data_format)
    padding = _padding(padding, "conv")
    inputs, kernel = _same_float(inputs, kernel)
    x = _channels_last(inputs, data_format, "conv")
    channels, kernel_channels = to_array(x).shape[-1], to_array(kernel).shape[-2]
    if to_array(kernel).ndim < 2 or channels % kernel_channels:
        raise ValueError(f"conv: the input channels ({channels}) must be a multiple of the kernel's in_channels "
                         f"(kernel.shape[-2] = {kernel_channels}); received kernel of shape {to_array(kernel).shape}")
    y = _convolve(x, kernel, strides, padding, dilation_rate, channels // kernel_channels, "conv")
    return _restore_format(y, data_format)


@keras_op("nn")
def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """Each input channel convolved with its own filters: inputs (N, *S, C), kernel (*k, C, m)
    -> (N, *out, C * m), output channel ``c * m + j`` from channel c and filter j."""
    data_format = _data_format(data_format)
    padding = _padding(padding, "depthwise_conv")
    inputs, kernel = _same_float(inputs, kernel)
    x = _channels_last(inputs, data_format, "depthwise_conv")
    channels = to_array(x).shape[-1]
    shape = to_array(kernel).shape
    if len(shape) < 2 or shape[-2] != channels:
        raise ValueError(f"depthwise_conv: `kernel` must be (*kernel_size, {channels}, multiplier) for inputs with "
                         f"{channels} channels; received kernel of shape {shape}")
    # (*k, C, m) -> (*k, 1, C*m): one group per input channel, outputs ordered c*m + j.
    grouped = reshape(kernel, (*shape[:-2], 1, channels * shape[-1]))
    y = _convolve(x, grouped, strides, padding, dilation_rate, channels, "depthwise_conv")
    return _restore_format(y, data_format)


@keras_op("nn")
def separable_conv(inputs, depthwise_kernel, pointwise_kernel, strides=1, padding="valid", data_format=None,
                   dilation_rate=1):
    """:func:`depthwise_conv` with ``depthwise_kernel`` (*k, C, m), then a 1x1 :func:`conv` with
    ``pointwise_kernel`` (1, .., 1, C * m, F)."""
    middle = depthwise_conv(inputs, depthwise_kernel, strides, padding, data_format, dilation_rate)
    return conv(middle, pointwise_kernel, strides=1, padding="valid", data_format=data_format)


@keras_op("nn")
def conv_transpose(inputs, kernel, strides=1, padding="valid", output_padding=None, data_format=None,
                   dilation_rate=1):
    """Transposed convolution (the input gradient of a convolution): inputs (N, *L, C_in),
    kernel (*k, C_out, C_in) -> (N, *out, C_out).

    Output length per axis (``k_eff = d(k-1) + 1``): valid ``(L-1)s + max(k_eff, s)``, same
    ``L s``; with ``output_padding`` p: valid ``(L-1)s + k_eff + p``, same ``(L-1)s + k_eff % 2 + p``.
    """
    data_format = _data_format(data_format)
    padding = _padding(padding, "conv_transpose")
    inputs, kernel = _same_float(inputs, kernel)
    x = _channels_last(inputs, data_format, "conv_transpose")
    spatial = to_array(x).shape[1:-1]
    rank = len(spatial)
    shape = to_array(kernel).shape
    if len(shape) != rank + 2 or shape[-1] != to_array(x).shape[-1]:
        raise ValueError(f"conv_transpose: `kernel` must be (*kernel_size, out_channels, {to_array(x).shape[-1]}) "
                         f"for inputs with {rank} spatial axes and {to_array(x).shape[-1]} channels; "
                         f"received kernel of shape {shape}")
    kernel_size = shape[:-2]
    strides = shapes.normalize_tuple(strides, rank, "strides", "conv_transpose")
    dilation = shapes.normalize_tuple(dilation_rate, rank, "dilation_rate", "conv_transpose")
    paddings = (None,) * rank if output_padding is None else shapes.normalize_tuple(
        output_padding, rank, "output_padding", "conv_transpose", allow_zero=True)
    crops = [shapes.conv_transpose_crop(k, s, d, padding, p)
             for k, s, d, p in zip(kernel_size, strides, dilation, paddings)]
    out = [shapes.conv_transpose_output_length(n, k, s, d, padding, p)
           for n, k, s, d, p in zip(spatial, kernel_size, strides, dilation, paddings)]
    y = F.conv_transpose(x, kernel, None, strides, dilation, crops, out)
    return _restore_format(y, data_format)


def _pool(inputs, pool_size, strides, padding, data_format, name: str, pooling):
    data_format = _data_format(data_format)
    padding = _padding(padding, name)
    x = _channels_last(_as_float(inputs), data_format, name)
    spatial = to_array(x).shape[1:-1]
    rank = len(spatial)
    pool_size = shapes.normalize_tuple(pool_size, rank, "pool_size", name)
    strides = pool_size if strides is None else shapes.normalize_tuple(strides, rank, "strides", name)
    pads = [shapes.pool_padding(n, p, s, padding) for n, p, s in zip(spatial, pool_size, strides)]
    out = [shapes.pool_output_length(n, p, s, padding) for n, p, s in zip(spatial, pool_size, strides)]
    if any(n <= 0 for n in out):
        raise ValueError(f"{name}: the output would be empty: pool_size {pool_size} is larger than the input's "
                         f"spatial shape {spatial} with padding='{padding}'")
    return _restore_format(pooling(x, pool_size, strides, pads), data_format)


@keras_op("nn")
def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Max over windows of ``pool_size`` (strides default: pool_size); "same" padding never wins."""
    return _pool(inputs, pool_size, strides, padding, data_format, "max_pool", F.max_pool)


@keras_op("nn")
def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Mean over windows of ``pool_size`` (strides default: pool_size), counting only real cells."""
    return _pool(inputs, pool_size, strides, padding, data_format, "average_pool", F.avg_pool)


# The public ops of this module: every function registered under "nn.".
__all__ = [name for name, value in list(globals().items()) if getattr(value, "op_name", "").startswith("nn.")]
