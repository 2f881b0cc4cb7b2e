"""Permute: reorder the axes of each sample."""

from __future__ import annotations

import numbers

from .base import Layer


class Permute(Layer):
    """Reorder the non-batch axes by ``dims``, a permutation of ``1..k`` (the batch axis 0 stays first).

    Input (batch, d1, ..., dk); output (batch, d[dims[0]], ..., d[dims[k-1]]),
    i.e. ``transpose(x, (0, *dims))``. ``Permute((2, 1))`` turns (N, steps,
    features) into (N, features, steps). The backward is the inverse permutation.
    """

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        try:
            dims = tuple(dims)
        except TypeError:
            raise TypeError(f"{self.name}: `dims` must be a tuple of ints, a permutation of 1..k; "
                            f"received dims={dims!r}") from None
        if not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) for d in dims) \
                or sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f"{self.name}: `dims` must be a permutation of 1..{len(dims)} (indices start at 1: "
                             f"the batch axis 0 is not permuted); received dims={dims!r}")
        self.dims = tuple(int(d) for d in dims)

    def _check_input(self, input_shape) -> None:
        if len(input_shape) != len(self.dims) + 1:
            raise ValueError(f"{self.name}: dims={self.dims} needs inputs of rank {len(self.dims) + 1} "
                             f"(batch + {len(self.dims)} axes); received shape {tuple(input_shape)}")

    def compute_output_shape(self, input_shape) -> tuple:
        self._check_input(input_shape)
        return (input_shape[0], *(input_shape[d] for d in self.dims))

    def call(self, inputs, training=None):
        return inputs.transpose(0, *self.dims)

    def get_config(self) -> dict:
        return {**super().get_config(), "dims": self.dims}
