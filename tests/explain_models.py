"""Models built for the explain tests."""

from clearconv import layers as L
from clearconv.models import Model


def stacked_model(input_shape, *stack):
    """A functional model: an Input of ``input_shape`` (no batch axis), then the layers of ``stack`` in turn."""
    inputs = L.Input(input_shape)
    x = inputs
    for layer in stack:
        x = layer(x)
    return Model(inputs, x)
