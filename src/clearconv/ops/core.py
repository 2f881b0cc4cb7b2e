"""Keras 3's ``keras.ops.core``: conversion, casts, shapes, slices and scatters.

``shape`` returns a tuple and ``dtype`` a string, as in Keras; every other
function returns a :class:`~clearconv.autograd.Tensor` (``convert_to_numpy``
an array). Graph control flow (``cond``, ``while_loop``, ``scan``...) is not
provided: clearconv runs eagerly, so Python's ``if`` and ``for`` do the same.
"""

from __future__ import annotations

import builtins

import numpy as np

from ..autograd import Tensor
from .common import check_int, constant, needs, normalize_one_axis, record_op, to_array
from .dispatch import keras_op
from .dtypes import standardize_dtype


@keras_op("core")
def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    """``x`` as a Tensor: a Tensor of the right dtype is returned as it is (its tape kept);
    Python numbers and lists take Keras's dtypes (int32, float32, bool).

    A float-to-float ``dtype`` keeps the gradient; ``sparse=True`` and
    ``ragged=True`` are refused (clearconv tensors are dense).
    """
    if sparse:
        raise ValueError("convert_to_tensor: sparse=True is not supported: clearconv tensors are dense")
    if ragged:
        raise ValueError("convert_to_tensor: ragged=True is not supported: clearconv tensors are dense")
    if isinstance(x, Tensor):
        return x if dtype is None or x.dtype == standardize_dtype(dtype) else cast(x, dtype)
    return constant(to_array(x, dtype))


@keras_op("core")
def convert_to_numpy(x):
    """``x`` as a NumPy array (a Tensor's data, without its tape)."""
    return np.asarray(to_array(x))


@keras_op("core")
def is_tensor(x):
    """Whether ``x`` is a clearconv Tensor."""
    return isinstance(x, Tensor)


@keras_op("core")
def shape(x):
    """The shape, a tuple of ints."""
    return tuple(to_array(x).shape)


@keras_op("core")
def dtype(x):
    """The dtype's name, e.g. ``"float32"``."""
    return to_array(x).dtype.name


@keras_op("core")
def cast(x, dtype):
    """``x`` in ``dtype``. Between float types the gradient passes (cast back to x's dtype);
    a cast to an integer or boolean type is piecewise constant (no gradient)."""
    target = standardize_dtype(dtype)
    a = to_array(x)
    y = a.astype(target)
    if y.dtype.kind != "f":
        return constant(y)
    return record_op(y, (x,), lambda g: (g,))


@keras_op("core")
def stop_gradient(variable):
    """The same values, with no gradient flowing back to ``variable``."""
    return constant(to_array(variable))


def _slice_starts(a: np.ndarray, start_indices, sizes) -> tuple[int, ...]:
    """Start indices clamped so the window fits, as JAX's dynamic slices do."""
    starts = [check_int(s, "start_indices") for s in to_array(start_indices).reshape(-1).tolist()]
    if len(starts) != a.ndim:
        raise ValueError(f"`start_indices` must have one entry per axis of the rank-{a.ndim} input; "
                         f"received start_indices={start_indices!r}")
    return tuple(builtins.min(builtins.max(s, 0), n - k) for s, n, k in zip(starts, a.shape, sizes))


@keras_op("core")
def slice(inputs, start_indices, shape):
    """The window of ``inputs`` of size ``shape`` starting at ``start_indices``.

    A size of -1 takes the rest of the axis. Starts are clamped so the window
    fits inside the input (JAX's ``dynamic_slice``).
    """
    a = to_array(inputs)
    requested = [check_int(s, "shape") for s in (shape.tolist() if isinstance(shape, np.ndarray) else shape)]
    if len(requested) != a.ndim:
        raise ValueError(f"slice: `shape` must have one entry per axis of the rank-{a.ndim} input; received shape={shape!r}")
    raw_starts = [check_int(s, "start_indices") for s in to_array(start_indices).reshape(-1).tolist()]
    if len(raw_starts) != a.ndim:
        raise ValueError(f"slice: `start_indices` must have one entry per axis of the rank-{a.ndim} input; "
                         f"received start_indices={start_indices!r}")
    sizes = [n - s if k == -1 else k for n, s, k in zip(a.shape, raw_starts, requested)]
    if builtins.any(k < 0 or k > n for k, n in zip(sizes, a.shape)):
        raise ValueError(f"slice: a window of shape {tuple(sizes)} does not fit in an input of shape {a.shape}")
    starts = _slice_starts(a, raw_starts, sizes)
    index = tuple(builtins.slice(s, s + k) for s, k in zip(starts, sizes))

    def vjp(g):
        grad = np.zeros(a.shape, g.dtype)
        grad[index] = g
        return (grad,)
    return record_op(a[index].copy(), (inputs,), vjp)


@keras_op("core")
def slice_update(inputs, start_indices, updates):
    """``inputs`` with the window at ``start_indices`` replaced by ``updates`` (starts clamped
    so the window fits, as JAX). The replaced cells send no gradient to ``inputs``."""
    a = to_array(inputs)
    u = to_array(updates, a.dtype)
    if u.ndim != a.ndim or builtins.any(k > n for k, n in zip(u.shape, a.shape)):
        raise ValueError(f"slice_update: `updates` of shape {u.shape} does not fit in `inputs` of shape {a.shape}")
    starts = _slice_starts(a, start_indices, u.shape)
    index = tuple(builtins.slice(s, s + k) for s, k in zip(starts, u.shape))
    y = a.copy()
    y[index] = u

    need_inputs, need_updates = needs(inputs), needs(updates)

    def vjp(g):
        grad_inputs = None
        if need_inputs:
            grad_inputs = g.copy()
            grad_inputs[index] = 0
        return grad_inputs, (g[index] if need_updates else None)
    return record_op(y, (inputs, updates), vjp)


def _scatter_key(indices, rank: int, name: str):
    """Indices (..., k) -> a tuple of k index arrays, one per leading axis of the target."""
    index = to_array(indices)
    if index.dtype.kind not in "iu":
        raise TypeError(f"{name}: `indices` must be integers; received dtype {index.dtype}")
    if index.ndim < 1 or index.shape[-1] > rank:
        raise ValueError(f"{name}: `indices` must have shape (..., k) with k <= {rank} (the target's rank); "
                         f"received indices of shape {index.shape}")
    return tuple(np.moveaxis(index, -1, 0))


@keras_op("core")
def scatter(indices, values, shape):
    """Zeros of ``shape`` with ``values`` added at ``indices`` (..., k): each row of indices
    names a cell (k = rank) or a slice (k < rank); repeated indices add up, as in Keras."""
    target = tuple(check_int(d, "shape") for d in shape)
    v = to_array(values)
    key = _scatter_key(indices, len(target), "scatter")
    y = np.zeros(target, v.dtype)
    np.add.at(y, key, v)
    return record_op(y, (values,), lambda g: (g[key],))


_REDUCTIONS = (None, "add")


@keras_op("core")
def scatter_update(inputs, indices, updates, reduction=None):
    """``inputs`` with ``updates`` written at ``indices`` (..., k), as :func:`scatter` names cells.

    ``reduction=None`` replaces (the last of repeated indices wins) and the
    replaced cells send no gradient to ``inputs``; ``"add"`` adds. Keras's
    "max", "min" and "mul" are not provided.
    """
    if isinstance(reduction, str):
        reduction = reduction.lower()
    if reduction not in _REDUCTIONS:
        raise ValueError(f"scatter_update: `reduction` must be one of {_REDUCTIONS} here; received reduction={reduction!r}")
    a = to_array(inputs)
    u = to_array(updates, a.dtype)
    key = _scatter_key(indices, a.ndim, "scatter_update")
    y = a.copy()
    if reduction == "add":
        np.add.at(y, key, u)
        return record_op(y, (inputs, updates), lambda g: (g, g[key]))
    y[key] = u
    # Which update each written cell kept: the last one naming it. A marker array written the
    # same way records, per cell, the position of the winning update.
    count = int(np.prod(np.broadcast_shapes(*(k.shape for k in key)))) if key else 1
    position = np.arange(count).reshape(np.broadcast_shapes(*(k.shape for k in key)))
    owner = np.full(a.shape[:len(key)], -1)
    owner[key] = position
    won = owner[key] == position  # (updates' leading shape): True for the update that stayed

    need_inputs, need_updates = needs(inputs), needs(updates)

    def vjp(g):
        grad_inputs = None
        if need_inputs:
            grad_inputs = g.copy()
            grad_inputs[key] = 0
        grad_updates = None
        if need_updates:
            picked = g[key]
            grad_updates = picked * won.reshape(won.shape + (1,) * (picked.ndim - won.ndim))
        return grad_inputs, grad_updates
    return record_op(y, (inputs, updates), vjp)


@keras_op("core")
def unstack(x, num=None, axis=0):
    """The slices of ``x`` along ``axis``, as a list (``num``, if given, must be that length)."""
    a = to_array(x)
    axis = normalize_one_axis(axis, a.ndim)
    if num is not None and check_int(num, "num") != a.shape[axis]:
        raise ValueError(f"unstack: num={num} does not match the length {a.shape[axis]} of axis {axis}")
    from .numpy import get_item
    return [get_item(x, (builtins.slice(None),) * axis + (i,)) for i in range(a.shape[axis])]


@keras_op("core")
def saturate_cast(x, dtype):
    """``x`` clipped to the range of ``dtype``, then cast (no wrap-around)."""
    target = np.dtype(standardize_dtype(dtype))
    a = to_array(x)
    if target.kind in "iu":
        info = np.iinfo(target)
        a = np.clip(a, info.min, info.max) if a.dtype.kind != "f" else np.clip(np.nan_to_num(a), info.min, info.max)
    elif target.kind == "f" and a.dtype.kind == "f" and target.itemsize < a.dtype.itemsize:
        info = np.finfo(target)
        a = np.clip(a, info.min, info.max)
    return constant(a.astype(target))


# The public ops of this module: every function registered under "core.".
__all__ = [name for name, value in list(globals().items()) if getattr(value, "op_name", "").startswith("core.")]
