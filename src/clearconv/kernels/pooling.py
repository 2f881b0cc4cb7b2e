"""N-d max and average pooling, forward and backward, channels_last.

Shapes: ``x`` is ``(N, *S, C)`` with 1, 2 or 3 spatial axes; ``pool_size``
and ``strides`` have one int per spatial axis; ``pads`` is one
``(before, after)`` pair per spatial axis (from
:func:`clearconv.kernels.shapes.pool_padding`). The output is ``(N, *out, C)``
with ``out = (S + before + after - p) // s + 1`` per axis
(:func:`clearconv.kernels.shapes.pool_output_shape`). An empty batch (N = 0)
gives empty outputs and gradients of these shapes, as PyTorch does.

Every local pooling visits the window one offset at a time: for a fixed
offset, the cell each output position reads is one strided slice of the
padded input (:func:`clearconv.kernels.windows.window_slices`). So the forward
is ``prod(pool_size)`` whole-array operations and the backward the same
number of slice-adds into a padded buffer, cropped at the end. There is no
loop over pixels or batch and no ``np.add.at``. Where
:mod:`clearconv.kernels.compiled` measured faster (unpadded 2x2 windows at
stride 2, and windows of 2 at stride 2 in 1D; the backward over 8 or more
channels), its kernels compute the same
values in one pass.

Semantics are Keras's (and PyTorch's where both define them): max pooling
pads with -inf, so padded cells never win; average pooling divides by the
number of real (non-padded) cells in each window.
"""

from __future__ import annotations

from functools import reduce

import numpy as np

from . import pooling_compiled as compiled
from .shapes import pool_output_shape
from .windows import crop_spatial, pad_spatial, window_slices


def _offset_slices(pool_size, strides, output_shape):
    """Yield, for each window offset in row-major order, the full index (N, *spatial, C) it reads."""
    dilation = (1,) * len(pool_size)
    for offset in np.ndindex(*pool_size):
        yield (slice(None), *window_slices(offset, strides, dilation, output_shape), slice(None))


def _padded_shape(input_shape, pads) -> tuple[int, ...]:
    """(N, *S, C) -> (N, *(S + before + after), C)."""
    batch, *spatial, channels = input_shape
    return (batch, *(length + before + after for length, (before, after) in zip(spatial, pads)), channels)


# --------------------------------------------------------------------------- max pooling

def max_pool(x: np.ndarray, pool_size, strides, pads, return_winners: bool = False):
    """Max pooling: (N, *S, C) -> (N, *out, C), keeping x's dtype.

    A running ``np.maximum`` over the window offsets' slices of the
    (-inf)-padded input; NaN propagates (np.maximum returns NaN). With
    ``return_winners``, returns ``(out, winners)``: winners is what
    :func:`max_pool_backward` can take instead of finding the cell each
    gradient goes to again, where the compiled 2x2 kernel recorded it
    (uint8, out's shape), else None.
    """
    winners = None
    if compiled.use_max_pool_2x2(pool_size, strides, pads, x.dtype):
        out, winners = compiled.max_pool_2x2(x)
    else:
        out = _max_pool(x, pool_size, strides, pads)
    return (out, winners) if return_winners else out


def _max_pool(x, pool_size, strides, pads):
    """:func:`max_pool` in NumPy: a running maximum over the window offsets' slices."""
    xp = pad_spatial(x, pads, -np.inf)
    output_shape = pool_output_shape(x.shape[1:-1], pool_size, strides, pads)
    out = None
    for index in _offset_slices(pool_size, strides, output_shape):
        if out is None:
            out = xp[index].copy()
        else:
            np.maximum(out, xp[index], out=out)
    return out


def max_pool_backward(grad: np.ndarray, x: np.ndarray, out: np.ndarray,
                      pool_size, strides, pads, winners: np.ndarray | None = None) -> np.ndarray:
    """Gradient of :func:`max_pool`: grad (N, *out, C) -> dx (N, *S, C).

    Each window's gradient goes to the FIRST cell of the window (row-major
    offset order) that equals its max, as in PyTorch; with overlapping
    windows a cell collects the gradients of every window it won. A NaN max
    goes to the window's LAST NaN, again as PyTorch does (its scan lets
    every NaN replace the current max). ``winners`` from the forward
    (``max_pool(..., return_winners=True)``) saves finding those cells again.
    """
    if winners is not None:
        return compiled.route_2x2(grad, winners, x.shape)
    if compiled.use_max_pool_backward(x.shape[-1], pool_size, strides, pads, np.result_type(grad, x)):
        return compiled.max_pool_backward(grad, x, out, pool_size, strides, pads)
    xp = pad_spatial(x, pads, -np.inf)
    indices = list(_offset_slices(pool_size, strides, out.shape[1:-1]))
    # A max of -inf ties with the -inf padding; padding must not take the gradient.
    real = _real_cells(x.shape, pads) if np.isneginf(out).any() else None

    def equals_max(index, hit):
        np.equal(xp[index], out, out=hit)
        if real is not None:
            hit &= real[index]

    def is_nan(index, hit):
        np.isnan(xp[index], out=hit)

    dxp = np.zeros(xp.shape, dtype=grad.dtype)
    overlapping = any(s < p for s, p in zip(strides, pool_size))
    nan_max = np.isnan(out)
    _route_to_first_hit(dxp, grad, ~nan_max, indices, equals_max, overlapping)
    if nan_max.any():
        # Accumulate: this second pass must not overwrite the first pass's cells.
        _route_to_first_hit(dxp, grad, nan_max, indices[::-1], is_nan, overlapping=True)
    return np.ascontiguousarray(crop_spatial(dxp, pads))


def _route_to_first_hit(dxp, grad, pending, indices, hits, overlapping: bool) -> None:
    """Add each pending window's grad into ``dxp`` at the first offset where ``hits`` is True.

    ``pending`` (N, *out, C) marks the windows still to be routed; it is
    updated in place as windows find their cell. ``hits(index, out)`` writes
    the hit mask of one offset into ``out``. Without overlapping windows each
    cell of ``dxp`` belongs to one window, so it is written, not accumulated.
    """
    # grad * winner is ~10x faster than np.where, but 0 * inf would leak a
    # non-finite gradient into cells that did not win; so where only then.
    finite = np.isfinite(grad).all()
    winner = np.empty(pending.shape, dtype=bool)
    contribution = np.empty_like(grad)
    for index in indices:
        hits(index, winner)
        winner &= pending
        if finite:
            np.multiply(grad, winner, out=contribution)
        else:
            contribution = np.where(winner, grad, 0)
        if overlapping:
            dxp[index] += contribution
        else:
            dxp[index] = contribution
        pending ^= winner  # winner is a subset of pending: this clears the routed windows


def _real_cells(input_shape, pads) -> np.ndarray:
    """Boolean (1, *padded, 1): True on the cells of x, False on the padding."""
    spatial_ones = np.ones((1, *input_shape[1:-1], 1), dtype=bool)
    return pad_spatial(spatial_ones, pads, False)


# --------------------------------------------------------------------------- average pooling

def window_counts(input_spatial, pool_size, strides, pads, dtype=np.float64) -> np.ndarray:
    """Number of real (non-padded) cells in each window: shape (*out,).

    The count is separable: the product over axes of the per-axis counts.
    Along one axis, window ``o`` covers padded cells ``[o*s, o*s + p)`` and
    the real ones are ``[before, before + L)``; the count is the overlap.
    """
    output_shape = pool_output_shape(input_spatial, pool_size, strides, pads)
    per_axis = []
    for length, p, s, (before, _), out in zip(input_spatial, pool_size, strides, pads, output_shape):
        start = np.arange(out) * s
        overlap = np.minimum(start + p, before + length) - np.maximum(start, before)
        per_axis.append(overlap.astype(dtype))
    # outer product of the per-axis counts: (out_1,) x ... x (out_nd,) -> (*out,)
    return reduce(np.multiply.outer, per_axis)


def avg_pool(x: np.ndarray, pool_size, strides, pads) -> np.ndarray:
    """Average pooling over real cells (Keras): (N, *S, C) -> (N, *out, C), keeping x's dtype.

    Sum of the window offsets' slices of the zero-padded input, divided by
    the number of real cells per window.
    """
    xp = pad_spatial(x, pads, 0)
    output_shape = pool_output_shape(x.shape[1:-1], pool_size, strides, pads)
    total = np.zeros((x.shape[0], *output_shape, x.shape[-1]), dtype=x.dtype)
    for index in _offset_slices(pool_size, strides, output_shape):
        total += xp[index]
    counts = window_counts(x.shape[1:-1], pool_size, strides, pads, x.dtype)
    total /= counts[..., None]  # (*out, 1) broadcasts over batch and channels
    return total


def avg_pool_backward(grad: np.ndarray, input_shape, pool_size, strides, pads) -> np.ndarray:
    """Gradient of :func:`avg_pool`: grad (N, *out, C) -> dx ``input_shape`` (N, *S, C).

    Each window spreads ``grad / count`` over its cells: one slice-add per
    offset into a padded buffer, whose padding is then cropped away.
    """
    counts = window_counts(input_shape[1:-1], pool_size, strides, pads, grad.dtype)
    share = grad / counts[..., None]
    dxp = np.zeros(_padded_shape(input_shape, pads), dtype=grad.dtype)
    for index in _offset_slices(pool_size, strides, grad.shape[1:-1]):
        dxp[index] += share
    return np.ascontiguousarray(crop_spatial(dxp, pads))


# --------------------------------------------------------------------------- global pooling

def _spatial_axes(ndim: int) -> tuple[int, ...]:
    """The spatial axes 1..ndim-2 of a channels_last array."""
    return tuple(range(1, ndim - 1))


def _restore_spatial(array: np.ndarray, ndim: int, keepdims: bool) -> np.ndarray:
    """(N, C) -> (N, 1, ..., 1, C) unless the spatial axes were kept."""
    if keepdims:
        return array
    return array.reshape(array.shape[0], *([1] * (ndim - 2)), array.shape[-1])


def global_max_pool(x: np.ndarray, keepdims: bool = False) -> np.ndarray:
    """Max over the spatial axes: (N, *S, C) -> (N, C), or (N, 1, ..., 1, C) with keepdims."""
    return np.max(x, axis=_spatial_axes(x.ndim), keepdims=keepdims)


def global_max_pool_backward(grad: np.ndarray, x: np.ndarray, out: np.ndarray,
                             keepdims: bool = False) -> np.ndarray:
    """Gradient of :func:`global_max_pool`: grad like ``out`` -> dx (N, *S, C).

    The gradient is split equally among the cells tied for the max (as TF's
    reduce_max and torch.amax do). A NaN max matches no cell, so, as in
    torch.amax, that channel's gradient is NaN.
    """
    axes = _spatial_axes(x.ndim)
    winners = x == _restore_spatial(out, x.ndim, keepdims)  # (N, *S, C)
    ties = np.sum(winners, axis=axes, keepdims=True, dtype=grad.dtype)  # (N, 1, ..., 1, C)
    with np.errstate(divide="ignore", invalid="ignore"):  # no winner: grad/0 * 0 is NaN on purpose
        share = _restore_spatial(grad, x.ndim, keepdims) / ties
        return winners * share


def global_avg_pool(x: np.ndarray, keepdims: bool = False) -> np.ndarray:
    """Mean over the spatial axes: (N, *S, C) -> (N, C), or (N, 1, ..., 1, C) with keepdims."""
    return np.mean(x, axis=_spatial_axes(x.ndim), keepdims=keepdims)


def global_avg_pool_backward(grad: np.ndarray, input_shape, keepdims: bool = False) -> np.ndarray:
    """Gradient of :func:`global_avg_pool`: grad (N, C) or (N, 1, ..., 1, C) -> dx ``input_shape``."""
    cells = int(np.prod(input_shape[1:-1]))
    share = _restore_spatial(grad, len(input_shape), keepdims) / cells
    return np.broadcast_to(share, input_shape).copy()
