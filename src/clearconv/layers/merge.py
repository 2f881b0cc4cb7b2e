"""Merge layers: Concatenate, Add, Multiply. They take a list of inputs."""

from __future__ import annotations

import functools
import operator

from .. import functional as F
from .base import Layer


class _Merge(Layer):
    """Shared checks: a list of at least two inputs."""

    def _check_list(self, input_shape) -> None:
        if not isinstance(input_shape, (list, tuple)) or not input_shape or \
                not isinstance(input_shape[0], (list, tuple)) or len(input_shape) < 2:
            raise ValueError(f"{self.name}: expects a list of at least 2 inputs; received {input_shape!r}")

    def build(self, input_shape) -> None:
        self._check_list(input_shape)
        self.built = True


class _Elementwise(_Merge):
    """Inputs of identical shapes (broadcasting of size-1 axes allowed, as Keras does)."""

    _operator = None

    def compute_output_shape(self, input_shape) -> tuple:
        self._check_list(input_shape)
        ranks = {len(shape) for shape in input_shape}
        if len(ranks) != 1:
            raise ValueError(f"{self.name}: inputs must have the same rank; received shapes {list(input_shape)}")
        output = []
        for sizes in zip(*input_shape):
            known = {s for s in sizes if s not in (None, 1)}
            if len(known) > 1:
                raise ValueError(f"{self.name}: inputs must have matching shapes; received shapes {list(input_shape)}")
            output.append(known.pop() if known else (None if None in sizes else 1))
        return tuple(output)

    def _check_input(self, input_shape) -> None:
        self.compute_output_shape(input_shape)

    def call(self, inputs, training=None):
        return functools.reduce(type(self)._operator, inputs)


class Add(_Elementwise):
    """Sum of the inputs (residual connections)."""

    _operator = staticmethod(operator.add)


class Subtract(_Elementwise):
    """``inputs[0] - inputs[1]`` (exactly two inputs)."""

    _operator = staticmethod(operator.sub)

    def _check_list(self, input_shape) -> None:
        super()._check_list(input_shape)
        if len(input_shape) != 2:
            raise ValueError(f"{self.name}: expects exactly 2 inputs; received {len(input_shape)}")


class Multiply(_Elementwise):
    """Elementwise product of the inputs."""

    _operator = staticmethod(operator.mul)


class Concatenate(_Merge):
    """Join the inputs along ``axis`` (default last: the channels)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def compute_output_shape(self, input_shape) -> tuple:
        self._check_list(input_shape)
        rank = len(input_shape[0])
        axis = self.axis % rank
        if any(len(s) != rank for s in input_shape) or any(
                len({s[i] for s in input_shape} - {None}) > 1 for i in range(rank) if i != axis):
            raise ValueError(f"{self.name}: a Concatenate layer requires inputs with matching shapes except for "
                             f"the concatenation axis {self.axis}; received shapes {list(input_shape)}")
        sizes = [s[axis] for s in input_shape]
        output = list(input_shape[0])
        output[axis] = None if None in sizes else sum(sizes)
        return tuple(output)

    def _check_input(self, input_shape) -> None:
        self.compute_output_shape(input_shape)

    def call(self, inputs, training=None):
        return F.concatenate(inputs, axis=self.axis % inputs[0].ndim)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}
