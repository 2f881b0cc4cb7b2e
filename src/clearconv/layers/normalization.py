"""Normalization layers with Keras's arguments and defaults.

* :class:`BatchNormalization`: statistics over the batch, per channel (below).
* :class:`LayerNormalization`: statistics per sample over ``axis``.
* :class:`GroupNormalization`: statistics per sample and per group of channels.
* :class:`UnitNormalization`: each sample scaled to unit L2 norm over ``axis``.

The last three use each sample on its own, so they act the same in training
and inference, and are composed from differentiable tensor operations (their
gradients come from the tape).

BatchNormalization: training (``training=True`` and the layer trainable): normalise with the
batch mean and *biased* variance over every axis but ``axis``, then
``moving = moving * momentum + batch * (1 - momentum)``. Otherwise normalise
with the moving statistics. PyTorch's momentum is ``1 - momentum`` here, and
PyTorch stores the unbiased variance: the converters translate. A batch of
0 samples in training gives an empty output and leaves the moving statistics
unchanged (PyTorch's behaviour).
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from .. import functional as F
from .. import constraints, initializers, regularizers
from ..autograd import data_of, record
from ..kernels import normalization as norm_ops
from ..utils import check_flag
from .base import Layer, resolve_identifier, serialize


class BatchNormalization(Layer):
    """Per-channel normalisation; weights gamma, beta, moving_mean, moving_variance (Keras order)."""

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise TypeError(f"{self.name}: `axis` must be an int; received axis={axis!r}")
        if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real) or not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{self.name}: `momentum` must be a number in [0, 1]; received momentum={momentum!r}")
        if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not 0.0 < epsilon < float("inf"):
            raise ValueError(f"{self.name}: `epsilon` must be a positive finite number; received epsilon={epsilon!r}")
        self.axis, self.momentum, self.epsilon = int(axis), float(momentum), float(epsilon)
        self.center, self.scale = check_flag(self.name, "center", center), check_flag(self.name, "scale", scale)
        self.beta_initializer, self.gamma_initializer = beta_initializer, gamma_initializer
        self.moving_mean_initializer = moving_mean_initializer
        self.moving_variance_initializer = moving_variance_initializer
        self.beta_regularizer, self.gamma_regularizer = beta_regularizer, gamma_regularizer
        self.beta_constraint, self.gamma_constraint = beta_constraint, gamma_constraint
        for name in ("beta_initializer", "gamma_initializer", "moving_mean_initializer",
                     "moving_variance_initializer"):
            resolve_identifier(self.name, name, initializers.get, getattr(self, name))
        for name in ("beta_regularizer", "gamma_regularizer"):
            resolve_identifier(self.name, name, regularizers.get, getattr(self, name))
        for name in ("beta_constraint", "gamma_constraint"):
            resolve_identifier(self.name, name, constraints.get, getattr(self, name))

    def _resolved_axis(self, input_shape) -> int:
        rank = len(input_shape)
        if not -rank <= self.axis < rank:
            raise ValueError(f"{self.name}: `axis`={self.axis} is out of range for an input of shape "
                             f"{tuple(input_shape)}")
        return self.axis % rank

    def build(self, input_shape) -> None:
        channels = input_shape[self._resolved_axis(input_shape)]
        if channels is None:
            raise ValueError(f"{self.name}: the normalised axis {self.axis} of input shape "
                             f"{tuple(input_shape)} must be known")
        self.channels = int(channels)
        shape = (self.channels,)
        self.gamma = self.add_weight(shape, self.gamma_initializer, name="gamma", regularizer=self.gamma_regularizer,
                                     constraint=self.gamma_constraint) if self.scale else None
        self.beta = self.add_weight(shape, self.beta_initializer, name="beta", regularizer=self.beta_regularizer,
                                    constraint=self.beta_constraint) if self.center else None
        self.moving_mean = self.add_weight(shape, self.moving_mean_initializer, name="moving_mean", trainable=False)
        self.moving_variance = self.add_weight(shape, self.moving_variance_initializer, name="moving_variance",
                                               trainable=False)
        self.built = True

    def _check_input(self, input_shape) -> None:
        size = input_shape[self._resolved_axis(input_shape)]
        if size != self.channels:
            raise ValueError(f"{self.name}: expected {self.channels} features on axis {self.axis}; "
                             f"received an input of shape {tuple(input_shape)}")

    def compute_output_shape(self, input_shape) -> tuple:
        return tuple(input_shape)

    def call(self, inputs, training=None):
        axis = self._resolved_axis(inputs.shape)
        if training and self.trainable:
            y, mean, var, count = F.batch_norm_train(inputs, self.gamma, self.beta, axis, self.epsilon)
            # An empty batch has no statistics (count 0): the moving ones are left as they are, as in
            # PyTorch, instead of taking a mean over no sample, which would stay NaN in them for good.
            # Statistics summed over data-parallel processes are the global batch's (count too): every
            # process, one with an empty shard included, then updates alike, as one process would.
            self.moving_mean.assign(norm_ops.update_moving(self.moving_mean.data, mean, self.momentum, count))
            self.moving_variance.assign(norm_ops.update_moving(self.moving_variance.data, var, self.momentum,
                                                               count))
            return y
        return F.batch_norm_infer(inputs, self.moving_mean.data, self.moving_variance.data, self.gamma, self.beta,
                                  axis, self.epsilon)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(axis=self.axis, momentum=self.momentum, epsilon=self.epsilon, center=self.center,
                      scale=self.scale)
        for name in ("beta_initializer", "gamma_initializer", "moving_mean_initializer",
                     "moving_variance_initializer", "beta_regularizer", "gamma_regularizer",
                     "beta_constraint", "gamma_constraint"):
            config[name] = serialize(getattr(self, name))
        return config


# --------------------------------------------------------------------------- per-sample normalizations

_WEIGHT_ARGUMENTS = ("beta_initializer", "gamma_initializer", "beta_regularizer", "gamma_regularizer",
                     "beta_constraint", "gamma_constraint")
_GETTERS = {"initializer": initializers.get, "regularizer": regularizers.get, "constraint": constraints.get}


def _set_weight_arguments(layer: Layer, values: dict) -> None:
    """Keep gamma/beta's initializer, regularizer and constraint as given (names stay names in the
    config), after checking that each resolves."""
    for name in _WEIGHT_ARGUMENTS:
        resolve_identifier(layer.name, name, _GETTERS[name.split("_")[1]], values[name])
        setattr(layer, name, values[name])


def _weight_config(layer: Layer) -> dict:
    return {name: serialize(getattr(layer, name)) for name in _WEIGHT_ARGUMENTS}


def _check_axis_argument(owner: str, axis):
    """Keras's ``axis`` forms: an int, or a list/tuple of ints (kept as a list)."""
    if isinstance(axis, (list, tuple)):
        if not axis or not all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in axis):
            raise TypeError(f"{owner}: `axis` must be an int or a non-empty list/tuple of ints; "
                            f"received axis={axis!r}")
        return [int(a) for a in axis]
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"{owner}: `axis` must be an int or a list/tuple of ints; received axis={axis!r}")
    return int(axis)


def _resolve_axes(owner: str, axis, input_shape) -> tuple:
    """``axis`` (int or list) as sorted non-negative axes of an input of ``input_shape``."""
    rank = len(input_shape)
    axes = axis if isinstance(axis, list) else [axis]
    if any(not -rank <= a < rank for a in axes):
        raise ValueError(f"{owner}: `axis`={axis} is out of range for an input of shape {tuple(input_shape)} "
                         f"(rank {rank})")
    resolved = sorted({a % rank for a in axes})
    if len(resolved) != len(axes):
        raise ValueError(f"{owner}: `axis`={axis} names the same axis twice for an input of rank {rank}")
    return tuple(resolved)


def _check_epsilon(owner: str, epsilon) -> float:
    if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not 0 <= epsilon < float("inf"):
        raise ValueError(f"{owner}: `epsilon` must be a non-negative number; received epsilon={epsilon!r}")
    return float(epsilon)


def _broadcast_along(weight, ndim: int, axes: tuple, sizes=None):
    """A weight over ``axes`` (sorted) reshaped to broadcast against an ndim input whose sizes on
    ``axes`` are ``sizes`` (default: the weight's own shape)."""
    shape = [1] * ndim
    for axis, size in zip(axes, weight.shape if sizes is None else sizes):
        shape[axis] = size
    return weight.reshape(shape)


def _normalize(x, axes: tuple, epsilon: float, centre: bool = True):
    """``(x - mean) / sqrt(var + epsilon)`` with mean and biased variance over ``axes`` (kept as size 1).

    With ``centre=False`` the variance is still the centred one but ``x`` itself is
    scaled (Keras's deprecated ``rms_scaling``).
    """
    mean = x.mean(axis=axes, keepdims=True)
    centred = x - mean
    variance = (centred * centred).mean(axis=axes, keepdims=True)
    inv_std = (variance + epsilon) ** -0.5
    return (centred if centre else x) * inv_std


class LayerNormalization(Layer):
    """Normalise each sample over ``axis``, then scale by gamma and shift by beta.

    ``y = (x - mean) / sqrt(var + epsilon) * gamma + beta`` with mean and biased
    variance over the axes in ``axis`` (default -1, the features), computed for
    every index of the other axes (the batch among them). Any input shape;
    output the same shape. gamma and beta have the shape of the normalised
    axes, in the order of ``sorted(axis)`` (``axis=[1, 2, 3]`` on (N, H, W, C)
    gives (H, W, C); Keras's ``[-1, 1]`` gives (C, H), see :meth:`_weight_axes`).
    Weights: gamma (``scale=True``), beta (``center=True``), both trainable.
    ``rms_scaling=True`` is Keras's deprecated variant ``x / sqrt(var + eps) * gamma``
    (no centring, no beta).
    """

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, rms_scaling=False, **kwargs):
        super().__init__(**kwargs)
        self.axis = _check_axis_argument(self.name, axis)
        self.epsilon = _check_epsilon(self.name, epsilon)
        self.center, self.scale, self.rms_scaling = bool(center), bool(scale), bool(rms_scaling)
        if self.rms_scaling:
            warnings.warn(f"{self.name}: rms_scaling=True is deprecated in Keras: it scales by the variance, "
                          f"not the root mean square", stacklevel=2)
        _set_weight_arguments(self, dict(beta_initializer=beta_initializer, gamma_initializer=gamma_initializer,
                                         beta_regularizer=beta_regularizer, gamma_regularizer=gamma_regularizer,
                                         beta_constraint=beta_constraint, gamma_constraint=gamma_constraint))

    def _weight_axes(self, ndim: int) -> list:
        """The axes gamma and beta span, in their order: ``sorted(axis)`` as given. With mixed signs
        (``[-1, 1]``) that is not the axes' order in memory; Keras then lays the weight over the
        axes by a reshape, and so does :meth:`call`, so weights load and compute as in Keras."""
        return [a % ndim for a in sorted(self.axis if isinstance(self.axis, list) else [self.axis])]

    def build(self, input_shape) -> None:
        _resolve_axes(self.name, self.axis, input_shape)
        shape = tuple(input_shape[a] for a in self._weight_axes(len(input_shape)))
        if any(d is None for d in shape):
            raise ValueError(f"{self.name}: the normalised axes {self.axis} of input shape {tuple(input_shape)} "
                             f"must be known")
        self._weight_shape = tuple(int(d) for d in shape)
        self.gamma = self.add_weight(self._weight_shape, self.gamma_initializer, name="gamma",
                                     regularizer=self.gamma_regularizer, constraint=self.gamma_constraint) \
            if self.scale or self.rms_scaling else None
        self.beta = self.add_weight(self._weight_shape, self.beta_initializer, name="beta",
                                    regularizer=self.beta_regularizer, constraint=self.beta_constraint) \
            if self.center and not self.rms_scaling else None
        self.built = True

    def _check_input(self, input_shape) -> None:
        _resolve_axes(self.name, self.axis, input_shape)
        if tuple(input_shape[a] for a in self._weight_axes(len(input_shape))) != self._weight_shape:
            raise ValueError(f"{self.name}: built for sizes {self._weight_shape} on axis {self.axis}; "
                             f"received an input of shape {tuple(input_shape)}")

    def compute_output_shape(self, input_shape) -> tuple:
        _resolve_axes(self.name, self.axis, input_shape)
        return tuple(input_shape)

    def call(self, inputs, training=None):
        axes = _resolve_axes(self.name, self.axis, inputs.shape)
        sizes = [inputs.shape[a] for a in axes]
        y = _normalize(inputs, axes, self.epsilon, centre=not self.rms_scaling)
        if self.gamma is not None:
            y = y * _broadcast_along(self.gamma, inputs.ndim, axes, sizes)
        if self.beta is not None:
            y = y + _broadcast_along(self.beta, inputs.ndim, axes, sizes)
        return y

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale, "rms_scaling": self.rms_scaling, **_weight_config(self)}


class GroupNormalization(Layer):
    """Normalise each sample per group of channels, then scale and shift per channel.

    The ``C`` channels on ``axis`` (default -1) split into ``groups`` consecutive
    groups of ``C / groups`` (group g holds channels g*C/G .. (g+1)*C/G - 1). For
    each sample and group, mean and biased variance are taken over the group's
    channels and every other non-batch axis; then
    ``y = (x - mean) / sqrt(var + epsilon) * gamma[c] + beta[c]``. ``groups=-1``
    means one group per channel (instance normalization), ``groups=1`` one group
    (all features of a sample). Any input shape with a batch axis; output the
    same shape. Weights gamma, beta of shape (C,). This is PyTorch's
    ``group_norm`` on channels_first data.
    """

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(groups, bool) or not isinstance(groups, numbers.Integral) or (groups <= 0 and groups != -1):
            raise ValueError(f"{self.name}: `groups` must be a positive integer, or -1 for one group per channel "
                             f"(instance normalization); received groups={groups!r}")
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise TypeError(f"{self.name}: `axis` must be an int (the channel axis); received axis={axis!r}")
        self.groups, self.axis = int(groups), int(axis)
        self.epsilon = _check_epsilon(self.name, epsilon)
        self.center, self.scale = bool(center), bool(scale)
        _set_weight_arguments(self, dict(beta_initializer=beta_initializer, gamma_initializer=gamma_initializer,
                                         beta_regularizer=beta_regularizer, gamma_regularizer=gamma_regularizer,
                                         beta_constraint=beta_constraint, gamma_constraint=gamma_constraint))

    def _channel_axis(self, input_shape) -> int:
        (axis,) = _resolve_axes(self.name, self.axis, input_shape)
        if axis == 0:
            raise ValueError(f"{self.name}: `axis` must name the channel axis, not the batch axis 0; "
                             f"received axis={self.axis} for an input of shape {tuple(input_shape)}")
        return axis

    def build(self, input_shape) -> None:
        channels = input_shape[self._channel_axis(input_shape)]
        if channels is None:
            raise ValueError(f"{self.name}: the channel axis {self.axis} of input shape {tuple(input_shape)} "
                             f"must be known")
        channels = int(channels)
        if self.groups == -1:
            self.groups = channels  # Keras keeps the resolved count (it is what the config then holds)
        if channels < self.groups or channels % self.groups:
            raise ValueError(f"{self.name}: the number of channels ({channels}) must be a multiple of `groups` "
                             f"(at least `groups`); received groups={self.groups} for an input of shape "
                             f"{tuple(input_shape)}")
        self.channels = channels
        self.gamma = self.add_weight((channels,), self.gamma_initializer, name="gamma",
                                     regularizer=self.gamma_regularizer, constraint=self.gamma_constraint) \
            if self.scale else None
        self.beta = self.add_weight((channels,), self.beta_initializer, name="beta",
                                    regularizer=self.beta_regularizer, constraint=self.beta_constraint) \
            if self.center else None
        self.built = True

    def _check_input(self, input_shape) -> None:
        if input_shape[self._channel_axis(input_shape)] != self.channels:
            raise ValueError(f"{self.name}: expected {self.channels} channels on axis {self.axis}; "
                             f"received an input of shape {tuple(input_shape)}")

    def compute_output_shape(self, input_shape) -> tuple:
        self._channel_axis(input_shape)
        return tuple(input_shape)

    def call(self, inputs, training=None):
        axis = self._channel_axis(inputs.shape)
        shape = inputs.shape
        # (N, .., C, ..) -> (N, .., G, C/G, ..): the group axis takes the channel axis's place.
        grouped = inputs.reshape(*shape[:axis], self.groups, shape[axis] // self.groups, *shape[axis + 1:])
        reduce = tuple(a for a in range(1, grouped.ndim) if a != axis)
        # (N, .., G, C/G, ..) -> (N, .., C, ..)
        y = _normalize(grouped, reduce, self.epsilon).reshape(shape)
        if self.gamma is not None:
            y = y * _broadcast_along(self.gamma, inputs.ndim, (axis,))
        if self.beta is not None:
            y = y + _broadcast_along(self.beta, inputs.ndim, (axis,))
        return y

    def get_config(self) -> dict:
        return {**super().get_config(), "groups": self.groups, "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale, **_weight_config(self)}


# Keras's floor of the inverse norm's argument: 1 / max-gain, i.e. the gain is at most 1e12.
_UNIT_NORM_EPSILON = 1e-12


def unit_normalize(x, axes: tuple):
    """``x * min(1 / sqrt(sum(x^2)), 1 / 1e-12)`` with the sum over ``axes`` (Keras's ``ops.normalize``).

    Backward, with r = 1 / ||x|| where the cap is not reached:
    ``dx = r * g - r^3 * x * sum(g * x)``; where it is (||x|| <= 1e-12, zeros
    included) the gain is a constant and ``dx = 1e12 * g``.
    """
    data = data_of(x)
    squares = np.sum(data * data, axis=axes, keepdims=True)
    with np.errstate(divide="ignore"):  # a zero vector: 1 / sqrt(0) = inf, then capped
        free = 1 / np.sqrt(squares)
    capped = free > 1 / _UNIT_NORM_EPSILON
    gain = np.where(capped, np.asarray(1 / _UNIT_NORM_EPSILON, data.dtype), free).astype(data.dtype, copy=False)

    def vjp(g):
        projection = np.sum(g * data, axis=axes, keepdims=True) * np.where(capped, 0, gain ** 3)
        return (g * gain - data * projection,)
    return record(data * gain, (x,), vjp)


class UnitNormalization(Layer):
    """Scale each sample to unit L2 norm over ``axis`` (an int or a list of ints; default -1).

    ``y = x / ||x||`` with the norm over ``axis`` for every index of the other
    axes; the gain ``1 / ||x||`` is capped at 1e12, so a zero vector stays zero.
    Any input shape; output the same shape. No weights.
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = _check_axis_argument(self.name, axis)

    def _check_input(self, input_shape) -> None:
        _resolve_axes(self.name, self.axis, input_shape)

    def compute_output_shape(self, input_shape) -> tuple:
        _resolve_axes(self.name, self.axis, input_shape)
        return tuple(input_shape)

    def call(self, inputs, training=None):
        return unit_normalize(inputs, _resolve_axes(self.name, self.axis, inputs.shape))

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}
