"""Regularization layers that act only while training, and the activity penalty.

* :class:`SpatialDropout1D` / :class:`SpatialDropout2D` / :class:`SpatialDropout3D`:
  dropout of whole feature maps. One keep/drop draw per (sample, channel),
  shared by every spatial cell; kept maps are scaled by ``1 / (1 - rate)``.
* :class:`GaussianNoise`: ``x + n`` with ``n ~ Normal(0, stddev^2)`` per element.
* :class:`GaussianDropout`: ``x * m`` with ``m ~ Normal(1, rate / (1 - rate))``
  per element (the variance of inverted dropout's multiplier at that rate).
* :class:`ActivityRegularization`: identity whose output adds
  ``l1 * sum(|y|) + l2 * sum(y^2)`` to the layer's ``losses``.

The random layers are the identity unless called with ``training=True``.
Their randomness comes from ``seed`` (a generator of their own, so two layers
with the same seed give the same sequence of draws) or, without a seed, from
:func:`clearconv.utils.global_rng`. The noise is a constant of each call:
the backward multiplies by it (dropout layers) or passes the gradient
through (additive noise).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import config, regularizers, utils
from .. import functional as F
from .base import Layer
from .conv import DATA_FORMATS, _check_choice
from .core import Dropout


def _generator(layer) -> np.random.Generator:
    return layer._rng if layer._rng is not None else utils.global_rng()


def _check_fraction(owner: str, name: str, value, upper_open: bool = False) -> float:
    """A real number in [0, 1] (or [0, 1) when ``upper_open``)."""
    interval = "[0, 1)" if upper_open else "[0, 1]"
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1 \
            or (upper_open and value == 1):
        raise ValueError(f"{owner}: `{name}` must be a number in {interval}; received {name}={value!r}")
    return float(value)


# --------------------------------------------------------------------------- spatial dropout


class _SpatialDropout(Dropout):
    """Dropout with one draw per (sample, channel): the noise shape is 1 on every spatial axis."""

    rank: int = 1

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, noise_shape=None, seed=seed, **kwargs)
        self.data_format = _check_choice(self.name, "data_format", data_format or config.image_data_format(),
                                         DATA_FORMATS)

    def _check_input(self, input_shape) -> None:
        if len(input_shape) != self.rank + 2:
            layout = "(batch, *spatial, channels)" if self.data_format == "channels_last" \
                else "(batch, channels, *spatial)"
            raise ValueError(f"{self.name}: expected an input of rank {self.rank + 2} {layout}; "
                             f"received shape {tuple(input_shape)}")

    def _noise_shape(self, shape) -> tuple:
        # (N, *S, C) -> (N, 1.., C), or (N, C, *S) -> (N, C, 1..): one draw per feature map.
        if self.data_format == "channels_last":
            return (shape[0], *(1,) * self.rank, shape[-1])
        return (shape[0], shape[1], *(1,) * self.rank)

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        return F.dropout(inputs, self.rate, _generator(self), self._noise_shape(inputs.shape))

    def get_config(self) -> dict:
        # Keras's keys for spatial dropout: rate, seed, name, dtype (+ data_format); no `trainable`.
        config = {"rate": self.rate, "seed": self.seed, "name": self.name, "dtype": self.dtype}
        if self.batch_input_shape is not None:
            config["batch_input_shape"] = self.batch_input_shape
        return config


class SpatialDropout1D(_SpatialDropout):
    """Drop whole 1D feature maps: input (batch, steps, channels), output the same shape.

    With ``training=True`` each (sample, channel) row is zeroed with probability
    ``rate`` and otherwise scaled by ``1 / (1 - rate)``. Keras's layer takes no
    ``data_format``: the channels are last.
    """

    rank = 1

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rate, data_format="channels_last", seed=seed, **kwargs)


class SpatialDropout2D(_SpatialDropout):
    """Drop whole 2D feature maps: input (batch, rows, cols, channels) (``channels_last``) or
    (batch, channels, rows, cols) (``channels_first``); output the same shape."""

    rank = 2

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, data_format=data_format, seed=seed, **kwargs)

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format}


class SpatialDropout3D(_SpatialDropout):
    """Drop whole 3D feature maps: input (batch, d1, d2, d3, channels) (``channels_last``) or
    (batch, channels, d1, d2, d3) (``channels_first``); output the same shape."""

    rank = 3

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, data_format=data_format, seed=seed, **kwargs)

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format}


# --------------------------------------------------------------------------- gaussian noise


class _NoiseLayer(Layer):
    """A layer whose output has the input's shape, with its own generator when seeded."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0):
            raise ValueError(f"{self.name}: `seed` must be a non-negative integer or None; received seed={seed!r}")
        self.seed = seed
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def compute_output_shape(self, input_shape) -> tuple:
        return tuple(input_shape)

    def _normal(self, shape, dtype) -> np.ndarray:
        """Standard normal draws of ``shape``, in ``dtype``."""
        return _generator(self).standard_normal(shape).astype(dtype, copy=False)


class GaussianNoise(_NoiseLayer):
    """Add zero-mean Gaussian noise of standard deviation ``stddev`` while training.

    Any input shape; output the same shape. ``training=True``: ``y = x + n``
    with ``n ~ Normal(0, stddev^2)`` drawn per element and per call, so
    ``dy/dx = 1``. Otherwise ``y = x``. ``stddev`` is in [0, 1], as Keras
    accepts it.
    """

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.stddev = _check_fraction(self.name, "stddev", stddev)

    def call(self, inputs, training=None):
        if not training or self.stddev == 0:
            return inputs
        return inputs + self._normal(inputs.shape, inputs.dtype) * np.asarray(self.stddev, inputs.dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class GaussianDropout(_NoiseLayer):
    """Multiply by Gaussian noise of mean 1 and standard deviation ``sqrt(rate / (1 - rate))``
    while training.

    Any input shape; output the same shape. ``training=True``: ``y = x * m``,
    ``m ~ Normal(1, rate / (1 - rate))`` per element and per call, so
    ``dy/dx = m``. Otherwise ``y = x``. ``rate`` is in [0, 1): at 1 the noise
    would have an infinite deviation.
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = _check_fraction(self.name, "rate", rate, upper_open=True)

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        stddev = np.asarray(math.sqrt(self.rate / (1.0 - self.rate)), inputs.dtype)
        noise = self._normal(inputs.shape, inputs.dtype)
        noise *= stddev
        noise += 1
        return inputs * noise

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


# --------------------------------------------------------------------------- activity penalty


class ActivityRegularization(Layer):
    """Identity that adds ``l1 * sum(|y|) + l2 * sum(y^2)`` of its output to ``losses``.

    Any input shape; output the same shape. As in Keras 3 the penalty is
    summed over the whole batch (not averaged); it replaces the previous
    call's penalty, and on Tensors it backpropagates into the input.
    """

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        super().__init__(**kwargs)
        try:
            self.activity_regularizer = regularizers.L1L2(l1=l1, l2=l2)
        except ValueError as error:
            raise ValueError(f"{self.name}: {error}") from None
        self.l1, self.l2 = self.activity_regularizer.l1, self.activity_regularizer.l2

    def compute_output_shape(self, input_shape) -> tuple:
        return tuple(input_shape)

    def call(self, inputs, training=None):
        return inputs

    def get_config(self) -> dict:
        return {**super().get_config(), "l1": self.l1, "l2": self.l2}
