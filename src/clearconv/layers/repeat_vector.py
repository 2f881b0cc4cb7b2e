"""RepeatVector: repeat a feature vector along a new time axis."""

from __future__ import annotations

import numbers

import numpy as np

from ..autograd import data_of, record
from .base import Layer


def repeat_vector(x, n: int):
    """(N, F) -> (N, n, F), row ``x[b]`` copied n times; the backward sums the n copies."""
    data = data_of(x)
    # (N, F) -> (N, 1, F) -> broadcast (N, n, F), copied so the output owns its memory.
    y = np.broadcast_to(data[:, None, :], (data.shape[0], n, data.shape[1])).copy()
    return record(y, (x,), lambda g: (g.sum(axis=1),))


class RepeatVector(Layer):
    """Repeat the input ``n`` times: input (batch, features), output (batch, n, features)."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if isinstance(n, bool) or not isinstance(n, numbers.Integral):
            raise TypeError(f"{self.name}: `n` must be an integer; received n={n!r} of type {type(n).__name__}")
        if n <= 0:
            raise ValueError(f"{self.name}: `n` must be a positive integer; received n={n!r}")
        self.n = int(n)

    def _check_input(self, input_shape) -> None:
        if len(input_shape) != 2:
            raise ValueError(f"{self.name}: expected an input of rank 2 (batch, features); "
                             f"received shape {tuple(input_shape)}")

    def compute_output_shape(self, input_shape) -> tuple:
        self._check_input(input_shape)
        return (input_shape[0], self.n, input_shape[1])

    def call(self, inputs, training=None):
        return repeat_vector(inputs, self.n)

    def get_config(self) -> dict:
        return {**super().get_config(), "n": self.n}
