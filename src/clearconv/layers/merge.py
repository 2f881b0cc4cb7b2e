"""Merging layers: combine a list of inputs into one tensor, as ``keras.layers`` does.

Elementwise: :class:`Add`, :class:`Subtract`, :class:`Multiply`, :class:`Average`,
:class:`Maximum`, :class:`Minimum`. Joining: :class:`Concatenate`. Contraction:
:class:`Dot`. Each has a lowercase functional form (``add(inputs)`` is
``Add()(inputs)``) that works on arrays, on Tensors and on symbolic tensors
from :func:`~clearconv.layers.Input`.

Shape rules of the elementwise layers (Keras 3's ``Merge``):

* every input has a batch axis; the known batch sizes must be equal;
* the axes after the batch axis broadcast as NumPy does, aligned from the
  right: sizes must be equal or 1. An input of lower rank gets size-1 axes
  inserted right after its batch axis, so ``(N, 3)`` merges with ``(N, 4, 3)``;
* in a symbolic shape, an axis that is None in any input is None in the output
  (Keras's rule: the size is known only when every input states it).
"""

from __future__ import annotations

import functools
import math
import numbers
import operator

import numpy as np

from .. import functional as F
from ..autograd import data_of, record, unbroadcast
from .base import Layer

# Keras's backend epsilon (keras.config.epsilon()): the floor of the L2 norm in Dot(normalize=True).
_EPSILON = 1e-7


# --------------------------------------------------------------------------- differentiable ops


def _copy(x):
    """A new array with the values of ``x`` (gradient passes through): a one-input merge must not
    hand back the caller's own array."""
    return record(data_of(x).copy(), (x,), lambda g: (g,))


def _extremum(a, b, take_maximum: bool):
    """``np.maximum(a, b)`` or ``np.minimum(a, b)`` with broadcasting, differentiable.

    Gradient rule (torch.maximum/minimum's; JAX's, hence Keras's on the jax backend,
    agrees on ties): the input that wins gets the whole incoming gradient; on a tie
    (``a == b``) each gets half. With a NaN neither input loses, so both get it all.
    A merge of three inputs folds pairwise, ``max(max(a, b), c)``, as Keras does:
    a three-way tie gives a and b a quarter each and c a half.
    """
    a_data, b_data = data_of(a), data_of(b)
    pick = np.maximum if take_maximum else np.minimum
    output = pick(a_data, b_data)

    def vjp(g):
        shared = np.where(a_data == b_data, g * 0.5, g)
        a_loses = a_data < b_data if take_maximum else a_data > b_data
        b_loses = b_data < a_data if take_maximum else b_data > a_data
        return (unbroadcast(np.where(a_loses, 0, shared), np.shape(a_data)),
                unbroadcast(np.where(b_loses, 0, shared), np.shape(b_data)))
    return record(output, (a, b), vjp)


def _l2_normalize(x, axis: int):
    """``x * min(1 / ||x||, 1 / epsilon)`` along ``axis`` (Keras's ``ops.normalize(order=2)``).

    The clamp keeps a zero vector at zero. Where it is active (norm below
    epsilon = 1e-7) the map is the constant scaling ``x / epsilon``, and so is its
    gradient; elsewhere, with y = x / ||x||, dL/dx = (g - y * <g, y>) / ||x||.
    For an exactly zero vector this gives the limit g / epsilon (Keras on jax gives
    NaN there: its chain rule multiplies 0 by rsqrt(0) = inf).
    """
    x_data = data_of(x)
    square_sum = np.sum(x_data * x_data, axis=axis, keepdims=True)  # (..., 1 at axis, ...)
    with np.errstate(divide="ignore"):
        raw = 1 / np.sqrt(square_sum)
    clamped = raw > 1 / _EPSILON
    inverse_norm = np.where(clamped, 1 / _EPSILON, raw).astype(x_data.dtype)
    y = x_data * inverse_norm

    def vjp(g):
        along = np.sum(g * y, axis=axis, keepdims=True)
        return (inverse_norm * (g - np.where(clamped, 0, y * along)),)
    return record(y, (x,), vjp)


def _batch_dot(x, y, axis_x: int, axis_y: int):
    """Per-sample contraction of ``x`` axis ``axis_x`` with ``y`` axis ``axis_y`` (both > 0).

    x (N, *a, d, *b) and y (N, *c, d, *e) -> (N, *a, *b, *c, *e): x's axes, then
    y's without its batch axis, each less the contracted axis. A result of rank 1
    (two rank-2 inputs) is returned as (N, 1), as Keras's ``batch_dot`` does.
    """
    x_data, y_data = data_of(x), data_of(y)
    moved_x = np.moveaxis(x_data, axis_x, -1)   # (N, *a, d, *b) -> (N, *a, *b, d)
    moved_y = np.moveaxis(y_data, axis_y, 1)    # (N, *c, d, *e) -> (N, d, *c, *e)
    n, d = moved_x.shape[0], moved_x.shape[-1]
    x_rest, y_rest = moved_x.shape[1:-1], moved_y.shape[2:]
    rows, cols = math.prod(x_rest), math.prod(y_rest)
    x3 = moved_x.reshape(n, rows, d)            # (N, *a, *b, d) -> (N, A, d)
    y3 = moved_y.reshape(n, d, cols)            # (N, d, *c, *e) -> (N, d, C)
    output = (x3 @ y3).reshape(n, *x_rest, *y_rest)  # (N, A, C) -> (N, *a, *b, *c, *e)
    if output.ndim == 1:
        output = output.reshape(n, 1)

    def vjp(g):
        g3 = g.reshape(n, rows, cols)           # (N, *a, *b, *c, *e) -> (N, A, C)
        grad_x = (g3 @ np.swapaxes(y3, 1, 2)).reshape(moved_x.shape)  # (N, A, d) -> (N, *a, *b, d)
        grad_y = (np.swapaxes(x3, 1, 2) @ g3).reshape(moved_y.shape)  # (N, d, C) -> (N, d, *c, *e)
        return np.moveaxis(grad_x, -1, axis_x), np.moveaxis(grad_y, 1, axis_y)
    return record(output, (x, y), vjp)


# --------------------------------------------------------------------------- layers


class _Merge(Layer):
    """Shared checks: the layer is called on a list of inputs, each with a batch axis.

    ``_arity`` is the exact number of inputs the layer takes, or None for one or more.
    """

    _arity = None

    def _check_list(self, input_shape) -> None:
        kind = type(self).__name__
        count = "at least 1 input" if self._arity is None else f"exactly {self._arity} inputs"
        if not isinstance(input_shape, (list, tuple)) or not input_shape or \
                not all(isinstance(shape, (list, tuple)) for shape in input_shape):
            raise ValueError(f"{self.name}: a {kind} layer should be called on a list of {count}; "
                             f"received input_shape={input_shape!r}")
        if self._arity is not None and len(input_shape) != self._arity:
            raise ValueError(f"{self.name}: a {kind} layer should be called on a list of {count}; "
                             f"received {len(input_shape)} inputs of shapes {list(input_shape)}")
        if any(len(shape) == 0 for shape in input_shape):
            raise ValueError(f"{self.name}: every input of a {kind} layer needs a batch axis (rank >= 1); "
                             f"received shapes {list(input_shape)}")

    def _batch_size(self, input_shape):
        """The batch size the inputs agree on (None when none states it)."""
        known = {shape[0] for shape in input_shape} - {None}
        if len(known) > 1:
            raise ValueError(f"{self.name}: cannot merge tensors with different batch sizes; "
                             f"received shapes {list(input_shape)}")
        return known.pop() if known else None

    def build(self, input_shape) -> None:
        # Only validates the shapes: merging layers have no weights.
        self.compute_output_shape(input_shape)
        self.built = True

    def _check_input(self, input_shape) -> None:
        self.compute_output_shape(input_shape)


class _Elementwise(_Merge):
    """Inputs that broadcast to one shape (see the module's shape rules); ``_merge`` combines
    inputs already brought to the same rank."""

    def compute_output_shape(self, input_shape) -> tuple:
        self._check_list(input_shape)
        batch = self._batch_size(input_shape)
        features = tuple(input_shape[0][1:])
        for shape in input_shape[1:]:
            features = self._broadcast(features, tuple(shape[1:]), input_shape)
        return (batch, *features)

    def _broadcast(self, first: tuple, second: tuple, input_shape) -> tuple:
        """The broadcast of two shapes without their batch axis, aligned from the right."""
        longer, shorter = (first, second) if len(first) >= len(second) else (second, first)
        output = list(longer[:len(longer) - len(shorter)])
        for i, j in zip(longer[len(longer) - len(shorter):], shorter):
            if i is None or j is None:
                output.append(None)
            elif i == 1 or j == 1 or i == j:
                output.append(j if i == 1 else i)
            else:
                raise ValueError(f"{self.name}: inputs have incompatible shapes; after the batch axis, sizes "
                                 f"aligned from the right must be equal or 1; received shapes "
                                 f"{list(input_shape)}")
        return tuple(output)

    def call(self, inputs, training=None):
        if len(inputs) == 1:
            return _copy(inputs[0])
        rank = max(x.ndim for x in inputs)
        # (N, *s) -> (N, 1, ..., 1, *s): size-1 axes after the batch axis, so the axes after it
        # align from the right as compute_output_shape assumes.
        same_rank = [x if x.ndim == rank else x.reshape(x.shape[0], *(1,) * (rank - x.ndim), *x.shape[1:])
                     for x in inputs]
        return self._merge(same_rank)

    def _merge(self, inputs):
        raise NotImplementedError


class Add(_Elementwise):
    """Sum of the inputs (residual connections): ``((x0 + x1) + x2) + ...``.

    Input: a list of one or more tensors that broadcast together (module notes).
    Output: their broadcast shape.
    """

    def _merge(self, inputs):
        return functools.reduce(operator.add, inputs)


class Subtract(_Elementwise):
    """``inputs[0] - inputs[1]`` for a list of exactly two broadcastable tensors."""

    _arity = 2

    def _merge(self, inputs):
        return inputs[0] - inputs[1]


class Multiply(_Elementwise):
    """Elementwise product of one or more broadcastable tensors."""

    def _merge(self, inputs):
        return functools.reduce(operator.mul, inputs)


class Average(_Elementwise):
    """Elementwise mean of one or more broadcastable tensors: their sum, then divided by the count."""

    def _merge(self, inputs):
        total = functools.reduce(operator.add, inputs)
        count = len(inputs)
        return record(data_of(total) / count, (total,), lambda g: (g / count,))


class Maximum(_Elementwise):
    """Elementwise maximum of one or more broadcastable tensors.

    Folds pairwise, ``max(max(x0, x1), x2)``; on a tie the two inputs of a pair
    share the gradient half and half (as torch.maximum and Keras on jax do).
    """

    def _merge(self, inputs):
        return functools.reduce(functools.partial(_extremum, take_maximum=True), inputs)


class Minimum(_Elementwise):
    """Elementwise minimum of one or more broadcastable tensors.

    Folds pairwise, ``min(min(x0, x1), x2)``; on a tie the two inputs of a pair
    share the gradient half and half (as torch.minimum and Keras on jax do).
    """

    def _merge(self, inputs):
        return functools.reduce(functools.partial(_extremum, take_maximum=False), inputs)


class Concatenate(_Merge):
    """Join one or more inputs along ``axis`` (default last: the channels).

    Inputs: the same rank, and sizes that match on every axis but ``axis`` (the
    batch axis included; None matches anything). Output: the first input's shape
    with ``axis`` of size the sum of the inputs' (None if any is None). ``axis``
    may be the batch axis 0, as in Keras.
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise TypeError(f"{self.name}: `axis` must be an integer; received axis={axis!r}")
        self.axis = int(axis)

    def compute_output_shape(self, input_shape) -> tuple:
        self._check_list(input_shape)
        rank = len(input_shape[0])
        mismatch = (f"{self.name}: a Concatenate layer requires inputs with matching shapes except for the "
                    f"concatenation axis {self.axis}; received shapes {list(input_shape)}")
        if any(len(shape) != rank for shape in input_shape):
            raise ValueError(mismatch)
        if not -rank <= self.axis < rank:
            raise ValueError(f"{self.name}: `axis`={self.axis} is out of range for inputs of rank {rank}; "
                             f"accepted: {-rank} to {rank - 1}; received shapes {list(input_shape)}")
        axis = self.axis % rank
        if any(len({shape[i] for shape in input_shape} - {None}) > 1 for i in range(rank) if i != axis):
            raise ValueError(mismatch)
        sizes = [shape[axis] for shape in input_shape]
        output = list(input_shape[0])
        output[axis] = None if None in sizes else sum(sizes)
        return tuple(output)

    def call(self, inputs, training=None):
        return F.concatenate(inputs, axis=self.axis % inputs[0].ndim)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


def _is_integer(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


class Dot(_Merge):
    """Per-sample dot product of two inputs along one axis of each.

    ``axes``: an int (the same axis of both inputs) or a pair ``(axis_of_x,
    axis_of_y)``. A negative axis counts from the end of its input's shape. The
    batch axis 0 cannot be contracted. ``normalize=True`` first L2-normalises each
    input along its dot axis, so the output is the cosine similarity.

    Inputs x (N, *a, d, *b) and y (N, *c, d, *e), ranks >= 2; output
    (N, *a, *b, *c, *e), or (N, 1) when both inputs have rank 2. Example: x (N, 3, 5),
    y (N, 10, 3), ``axes=(1, 2)`` -> (N, 5, 10).
    """

    _arity = 2

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        if _is_integer(axes):
            axes = int(axes)
        elif isinstance(axes, (list, tuple)):
            if len(axes) != 2 or not all(_is_integer(a) for a in axes):
                raise ValueError(f"{self.name}: `axes` must be an int or a pair of ints (one axis per input); "
                                 f"received axes={axes!r}")
            axes = [int(a) for a in axes] if isinstance(axes, list) else (int(axes[0]), int(axes[1]))
        else:
            raise TypeError(f"{self.name}: `axes` must be an int or a pair of ints (one axis per input); "
                            f"received axes={axes!r}")
        if not isinstance(normalize, (bool, np.bool_)):
            raise TypeError(f"{self.name}: `normalize` must be True or False; received normalize={normalize!r}")
        self.axes = axes
        self.normalize = bool(normalize)

    def _resolve_axes(self, input_shape) -> tuple[int, int]:
        """The two contracted axes as non-negative indices, checked against the ranks."""
        pair = (self.axes, self.axes) if isinstance(self.axes, int) else tuple(self.axes)
        resolved = []
        for axis, shape in zip(pair, input_shape):
            rank = len(shape)
            if not -rank <= axis < rank:
                raise ValueError(f"{self.name}: `axes`={self.axes!r}: axis {axis} is out of range for an input "
                                 f"of rank {rank}; received shapes {list(input_shape)}")
            if axis % rank == 0:
                raise ValueError(f"{self.name}: `axes`={self.axes!r} selects axis 0, the batch axis, which cannot "
                                 f"be contracted; received shapes {list(input_shape)}")
            resolved.append(axis % rank)
        return resolved[0], resolved[1]

    def compute_output_shape(self, input_shape) -> tuple:
        self._check_list(input_shape)
        if any(len(shape) < 2 for shape in input_shape):
            raise ValueError(f"{self.name}: a Dot layer needs inputs of rank >= 2 (a batch axis and an axis to "
                             f"contract); received shapes {list(input_shape)}")
        first, second = (tuple(shape) for shape in input_shape)
        axis_x, axis_y = self._resolve_axes(input_shape)
        self._batch_size(input_shape)
        # As Keras: the contracted sizes must be equal as stated, so None matches only None.
        if first[axis_x] != second[axis_y]:
            raise ValueError(f"{self.name}: incompatible input shapes: size {first[axis_x]} at axis {axis_x} of "
                             f"the first input != size {second[axis_y]} at axis {axis_y} of the second; "
                             f"received shapes {list(input_shape)}")
        output = [size for i, size in enumerate(first) if i != axis_x] + \
                 [size for i, size in enumerate(second) if i not in (0, axis_y)]
        return tuple(output) if len(output) > 1 else (*output, 1)

    def call(self, inputs, training=None):
        x, y = inputs
        axis_x, axis_y = self._resolve_axes([x.shape, y.shape])
        if self.normalize:
            x, y = _l2_normalize(x, axis_x), _l2_normalize(y, axis_y)
        return _batch_dot(x, y, axis_x, axis_y)

    def get_config(self) -> dict:
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


# --------------------------------------------------------------------------- functional forms
# Each builds its layer and calls it, so it works on arrays, Tensors and symbolic tensors.


def add(inputs, **kwargs):
    """``Add(**kwargs)(inputs)``: the sum of a list of tensors."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """``Subtract(**kwargs)(inputs)``: ``inputs[0] - inputs[1]``."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """``Multiply(**kwargs)(inputs)``: the elementwise product of a list of tensors."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """``Average(**kwargs)(inputs)``: the elementwise mean of a list of tensors."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """``Maximum(**kwargs)(inputs)``: the elementwise maximum of a list of tensors."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """``Minimum(**kwargs)(inputs)``: the elementwise minimum of a list of tensors."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """``Concatenate(axis, **kwargs)(inputs)``: a list of tensors joined along ``axis``."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes=-1, normalize=False, **kwargs):
    """``Dot(axes, normalize, **kwargs)(inputs)``: the per-sample dot product of two tensors."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
