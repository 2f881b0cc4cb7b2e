"""Preprocessing inside the model (Keras's Rescaling and Normalization).

A model that starts with these layers takes raw inputs (e.g. images as
float32 in [0, 1]) and needs no preprocessing outside it, also after loading.
"""

from __future__ import annotations

import numpy as np

from .base import Layer


class Rescaling(Layer):
    """``x * scale + offset``, e.g. ``Rescaling(1 / 255)`` or ``Rescaling(2, offset=-1)``."""

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset = float(scale), float(offset)

    def compute_output_shape(self, input_shape) -> tuple:
        return tuple(input_shape)

    def call(self, inputs, training=None):
        return inputs * self.scale + self.offset

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


class Normalization(Layer):
    """``(x - mean) / sqrt(variance)`` per feature along ``axis`` (default: the channels).

    Give ``mean`` and ``variance``, or call ``adapt(data)`` to compute them
    from data. They are stored as non-trainable weights (saved with the model).
    Like Keras, the denominator is ``max(sqrt(variance), 1e-7)``.
    """

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if (mean is None) != (variance is None):
            raise ValueError(f"{self.name}: give both `mean` and `variance`, or neither (then call adapt())")
        self.axis, self.invert = axis, bool(invert)
        self._initial = None if mean is None else (np.asarray(mean, self.dtype), np.asarray(variance, self.dtype))

    def build(self, input_shape) -> None:
        axis = self.axis % len(input_shape)
        size = input_shape[axis]
        self.mean = self.add_weight((size,), "zeros", name="mean", trainable=False)
        self.variance = self.add_weight((size,), "ones", name="variance", trainable=False)
        if self._initial is not None:
            self.mean.assign(np.broadcast_to(self._initial[0].reshape(-1), (size,)))
            self.variance.assign(np.broadcast_to(self._initial[1].reshape(-1), (size,)))
        self.built = True

    def adapt(self, data) -> None:
        """Set mean and variance from ``data`` (all axes reduced but ``axis``)."""
        data = np.asarray(data, dtype=np.float64)
        if not self.built:
            self.build((None, *data.shape[1:]))
        axis = self.axis % data.ndim
        reduce = tuple(i for i in range(data.ndim) if i != axis)
        self.mean.assign(data.mean(axis=reduce))
        self.variance.assign(data.var(axis=reduce))

    def compute_output_shape(self, input_shape) -> tuple:
        return tuple(input_shape)

    def _broadcast(self, values, ndim: int):
        shape = [1] * ndim
        shape[self.axis % ndim] = -1
        return values.reshape(shape)

    def call(self, inputs, training=None):
        mean = self._broadcast(self.mean.data, inputs.ndim)
        std = np.maximum(np.sqrt(self._broadcast(self.variance.data, inputs.ndim)), 1e-7).astype(self.dtype)
        return inputs * std + mean if self.invert else (inputs - mean) / std

    def get_config(self) -> dict:
        config = {**super().get_config(), "axis": self.axis, "invert": self.invert}
        if self.built:
            config.update(mean=self.mean.data.tolist(), variance=self.variance.data.tolist())
        elif self._initial is not None:
            config.update(mean=self._initial[0].tolist(), variance=self._initial[1].tolist())
        return config
