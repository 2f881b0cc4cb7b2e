"""Keras 3's ``keras.ops.math``: logsumexp, erf, erfc, rsqrt, top_k, in_top_k."""

from __future__ import annotations

import math

import numpy as np

from ..kernels import activations as activation_kernels
from .common import check_int, constant, normalize_axis, record_op, restore_reduced, to_array
from .dispatch import keras_op
from .dtypes import float_type
from .numpy import _float_unary, take_along_axis


@keras_op("math")
def logsumexp(x, axis=None, keepdims=False):
    """``log(sum(exp(x)))`` over ``axis``, computed from ``x - max(x)`` so nothing overflows.

    Gradient: ``softmax(x)`` along the reduced axes.
    """
    a = to_array(x, float_type(x))
    axes = normalize_axis(axis, a.ndim)
    peak = np.max(a, axis=axes, keepdims=True) if a.size else np.zeros((1,) * a.ndim, a.dtype)
    peak = np.where(np.isfinite(peak), peak, 0)  # all -inf (or an inf) must not give inf - inf
    with np.errstate(all="ignore"):
        y = np.log(np.sum(np.exp(a - peak), axis=axes, keepdims=True)) + peak
    y_out = y if keepdims else (np.reshape(y, ()) if axes is None else np.squeeze(y, axes))

    def vjp(g):
        with np.errstate(all="ignore"):
            return (restore_reduced(g, axes, a.ndim, keepdims) * np.exp(a - y),)
    return record_op(y_out.astype(a.dtype, copy=False), (x,), vjp)


_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)


@keras_op("math")
def erf(x):
    """The error function; slope ``2/sqrt(pi) exp(-x^2)``."""
    return _float_unary(x, activation_kernels.erf, lambda a, y: _TWO_OVER_SQRT_PI * np.exp(-a * a))


@keras_op("math")
def erfc(x):
    """``1 - erf(x)``, accurate for large x."""
    return _float_unary(x, activation_kernels.erfc, lambda a, y: -_TWO_OVER_SQRT_PI * np.exp(-a * a))


@keras_op("math")
def rsqrt(x):
    """``1 / sqrt(x)``."""
    return _float_unary(x, lambda a: 1 / np.sqrt(a), lambda a, y: -0.5 * y * y * y)


@keras_op("math")
def top_k(x, k, sorted=True):
    """The ``k`` largest values along the last axis and their int32 indices, largest first
    (ties: the lower index first). ``sorted=False`` is accepted and also returns them sorted.

    The values are differentiable (each gradient goes back to the cell it came from).
    """
    a = to_array(x)
    k = check_int(k, "k", minimum=0)
    if a.ndim == 0 or k > a.shape[-1]:
        raise ValueError(f"top_k: k={k} must be at most the length of the last axis of an input of shape {a.shape}")
    # A stable sort of the reversed order keeps equal values in index order.
    descending = np.argsort(_descending_key(a), axis=-1, kind="stable")[..., :k]
    indices = descending.astype("int32")
    return take_along_axis(x, descending, axis=-1), constant(indices)


def _descending_key(a: np.ndarray) -> np.ndarray:
    """A key whose ascending order is a's descending order (NaN first, as the largest)."""
    if a.dtype.kind == "f":
        return np.where(np.isnan(a), -np.inf, -a)
    if a.dtype.kind == "b":
        return ~a
    return -a.astype(np.float64) if a.dtype.itemsize >= 8 else -a.astype(np.int64)


@keras_op("math")
def in_top_k(targets, predictions, k):
    """Whether each target class is among the ``k`` highest predictions of its row (bool).

    targets (N,) ints, predictions (N, C); a tie at the k-th value counts as in.
    """
    t = to_array(targets).astype(np.int64)
    p = to_array(predictions)
    k = check_int(k, "k", minimum=0)
    if p.ndim != 2 or t.shape != p.shape[:1]:
        raise ValueError(f"in_top_k: expected targets (N,) and predictions (N, C); received {t.shape} and {p.shape}")
    target_scores = np.take_along_axis(p, t[:, None], axis=1)  # (N, 1)
    higher = np.sum(p > target_scores, axis=1)
    return constant((higher < k) & np.isfinite(target_scores[:, 0]))


# The public ops of this module: every function registered under "math.".
__all__ = [name for name, value in list(globals().items()) if getattr(value, "op_name", "").startswith("math.")]
