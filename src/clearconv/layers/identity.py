"""Identity: a placeholder layer that returns its inputs unchanged."""

from __future__ import annotations

from .base import Layer


class Identity(Layer):
    """Return ``inputs`` as they are (any shape, or a list/dict of tensors); the gradient passes through.

    Useful where a model's structure wants a layer and no computation is to be
    done (e.g. an optional block switched off).
    """

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) if isinstance(input_shape, tuple) else input_shape

    def call(self, inputs, training=None):
        return inputs
