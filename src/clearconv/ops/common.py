"""What every op shares: reading its arguments, recording its backward, checking axes.

An op's arguments may be :class:`~clearconv.autograd.Tensor` values, NumPy
arrays or Python values (numbers, nested lists). :func:`to_array` reads any of
them as an array (Python values take Keras's dtypes, see :mod:`.dtypes`);
:func:`record_op` wraps the result as a Tensor and records the backward when
an input needs a gradient, giving each input its gradient in its own dtype.
"""

from __future__ import annotations

import operator
from typing import Callable, Sequence

import numpy as np

from ..autograd import Tensor, needs_grad, record
from . import dtypes as dtypes_module


def to_array(value, dtype=None) -> np.ndarray:
    """``value`` as a NumPy array, cast to ``dtype`` when given.

    A Tensor gives its data, an array itself; a Python number or nested list
    becomes int32, float32 or bool (Keras's defaults).
    """
    if dtype is not None:
        dtype = dtypes_module.standardize_dtype(dtype)
    if isinstance(value, Tensor):
        array = value.data
    elif isinstance(value, np.ndarray):
        array = value
    elif isinstance(value, (bool, int, float, list, tuple)):
        array = np.asarray(value, dtype=dtypes_module.python_dtype(value) if dtype is None else dtype)
    else:
        array = np.asarray(value)
    if dtype is not None:
        dtype = dtypes_module.standardize_dtype(dtype)
        if array.dtype != dtype:
            array = array.astype(dtype)
    return array


def needs(value) -> bool:
    """Whether ``value`` is a Tensor the tape must send a gradient to.

    Ask it when the op runs and keep the answer for the backward: the grad mode of the thread
    that later calls ``backward()`` (perhaps inside ``no_grad``) must not change the gradients.
    """
    return needs_grad(value)


def record_op(data, inputs: Sequence, vjp: Callable) -> Tensor:
    """The Tensor holding ``data``, with ``vjp`` recorded when an input needs a gradient.

    ``vjp(grad) -> one gradient (or None) per input``; each gradient is cast to
    its input's dtype (an op may compute in a wider type than an input has),
    and integer or boolean inputs get none.
    """
    data = np.asarray(data)
    if not needs_grad(*inputs):
        return Tensor(data)
    wanted = [needs(value) for value in inputs]  # decided now, not by the grad mode at backward time

    def cast_vjp(grad):
        grads = vjp(grad)
        result = []
        for value, want, gradient in zip(inputs, wanted, grads):
            if gradient is None or not want or value.dtype.kind != "f":
                result.append(None)
                continue
            gradient = np.asarray(gradient)
            if gradient.dtype != value.dtype:
                gradient = gradient.astype(value.dtype)
            result.append(gradient)
        return tuple(result)
    return record(data, tuple(inputs), cast_vjp)


def constant(data) -> Tensor:
    """A Tensor that takes no gradient (integer, boolean or piecewise-constant results)."""
    return Tensor(np.asarray(data))


def check_int(value, name: str, minimum: int | None = None) -> int:
    """``value`` as an int; a TypeError/ValueError naming ``name`` otherwise."""
    if isinstance(value, bool):
        raise TypeError(f"`{name}` must be an integer; received {name}={value!r}")
    try:
        result = operator.index(value)
    except TypeError:
        if isinstance(value, (Tensor, np.ndarray)) and np.ndim(value) == 0 and to_array(value).dtype.kind in "iu":
            result = int(to_array(value))
        else:
            raise TypeError(f"`{name}` must be an integer; received {name}={value!r}") from None
    if minimum is not None and result < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}; received {name}={value!r}")
    return result


def normalize_axis(axis, ndim: int, name: str = "axis") -> tuple[int, ...] | None:
    """None, an int or a sequence of ints -> None or a tuple of distinct axes in [0, ndim).

    Raises a ValueError naming ``name`` for an axis outside [-ndim, ndim) or a repeated one.
    """
    if axis is None:
        return None
    axes = (axis,) if not isinstance(axis, (list, tuple)) else tuple(axis)
    result = []
    for a in axes:
        a = check_int(a, name)
        if not -ndim <= a < ndim:
            raise ValueError(f"`{name}`={axis!r} is out of range for an input of rank {ndim}")
        result.append(a % ndim)
    if len(set(result)) != len(result):
        raise ValueError(f"`{name}` must not repeat an axis; received {name}={axis!r}")
    return tuple(result)


def normalize_one_axis(axis, ndim: int, name: str = "axis") -> int:
    """One int axis in [0, ndim)."""
    if isinstance(axis, (list, tuple)):
        raise TypeError(f"`{name}` must be a single integer; received {name}={axis!r}")
    return normalize_axis(axis, ndim, name)[0]


def restore_reduced(grad: np.ndarray, axes, ndim: int, keepdims: bool) -> np.ndarray:
    """A reduction's gradient with the reduced axes back as length 1 (so it broadcasts)."""
    if keepdims:
        return grad
    if axes is None:
        return np.reshape(grad, (1,) * ndim)
    return np.expand_dims(grad, axes)
