"""Compiled max pooling (numba): 2x2 windows at stride 2, and the max-pool backward.

Its kernels release the GIL (:func:`clearconv.kernels.compiled.kernel`), so that the batch parts
of :mod:`clearconv.kernels.parallel` run them on several threads at once.

Beside :mod:`clearconv.kernels.pooling`, whose NumPy paths these replace where
:data:`clearconv.kernels.tuning.MAX_POOL_BACKWARD_MIN_CHANNELS` says they
measured faster; :mod:`clearconv.kernels.compiled` switches them on and off.

The max-pool backward adds values into cells chosen by a sliding window;
NumPy does that as one whole-array pass per window offset, this kernel in
one loop over the windows while the data is in cache, adding the same
values in the same order per cell. 2x2 max pooling at stride 2 without
padding (the common case) has kernels of its own that visit each window's
four cells at once (forward 2.7x NumPy's four maximum passes at 6 channels,
3.5-5x at 16 and 32). The forward records each output's winner cell (one
byte), so that the backward writes dx without reading x again: 0.34 -> 0.16
ms at 6 channels, 0.10 -> 0.05 at 16, 2.9 -> 0.9 at 32. Without the
forward's winners, the backward finds them again below
MAX_POOL_BACKWARD_MIN_CHANNELS (2.6x faster than NumPy at 6) and takes the
general kernel from there up. MaxPooling1D(2) takes the same two kernels in
1D (windows of 2 at stride 2): on (64, 512, 16), forward 0.73 -> 0.07 ms and
backward 2.6 -> 0.24 ms (one BLAS thread, a machine shared with a training
run).

Inner loops run over whole contiguous runs of channels: numba vectorizes a
loop whose index is the range variable itself, not one with an offset added.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from . import compiled
from .tuning import MAX_POOL_BACKWARD_MIN_CHANNELS
from .windows import no_padding


def use_max_pool_2x2(pool_size: Sequence[int], strides: Sequence[int], pads: Sequence[tuple[int, int]],
                     dtype) -> bool:
    """Whether a max pooling forward should take :func:`max_pool_2x2`: enabled, float32 or float64 (numba
    has no float16), 2x2 at stride 2 (1D: 2 at stride 2), no padding."""
    return compiled.enabled() and _compiled_dtype(dtype) and _tiles_2x2(pool_size, strides, pads)


def _compiled_dtype(dtype) -> bool:
    return np.dtype(dtype) in (np.float32, np.float64)


def _tiles_2x2(pool_size, strides, pads) -> bool:
    """2x2 windows at stride 2 in 2D, or windows of 2 at stride 2 in 1D, unpadded."""
    return tuple(pool_size) in ((2,), (2, 2)) and tuple(strides) == tuple(pool_size) and no_padding(pads)


def use_max_pool_backward(channels: int, pool_size: Sequence[int], strides: Sequence[int],
                          pads: Sequence[tuple[int, int]], dtype) -> bool:
    """Whether a max-pool backward should take :func:`max_pool_backward`: enabled, float32 or float64, and
    measured faster."""
    return compiled.enabled() and _compiled_dtype(dtype) and (channels >= MAX_POOL_BACKWARD_MIN_CHANNELS
                                                              or _tiles_2x2(pool_size, strides, pads))


def max_pool_2x2(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Max pooling 2x2 at stride 2, no padding: (N, H, W, C) -> (out (N, H // 2, W // 2, C), winners);
    in 1D, windows of 2 at stride 2: (N, L, C) -> (N, L // 2, C), winners 0 or 1.

    ``out`` equals :func:`clearconv.kernels.pooling.max_pool`'s: a NaN in the
    window gives NaN, as ``np.maximum`` does. ``winners`` (uint8, out's shape)
    is the window cell, 0 to 3 in row-major order, that takes the output's
    gradient by the backward's rule: the first cell equal to the max, or the
    last NaN (:func:`route_2x2` sends it there); 0 or 1 in 1D.
    """
    if x.ndim == 3:
        out = np.empty((x.shape[0], x.shape[1] // 2, x.shape[2]), dtype=x.dtype)
        winners = np.empty(out.shape, dtype=np.uint8)
        _max_pairs(x, out, winners)
        return out, winners
    batch, height, width, channels = x.shape
    out = np.empty((batch, height // 2, width // 2, channels), dtype=x.dtype)
    winners = np.empty(out.shape, dtype=np.uint8)
    _max_2x2(x, out, winners)
    return out, winners


@compiled.inline_kernel
def _visit(value, cell, best, winner, nan, last_nan):
    """One cell of a window: the running max and its cell, the first NaN's value and the last NaN's cell."""
    is_nan = value != value
    nan = value if is_nan and last_nan < 0 else nan
    last_nan = cell if is_nan else last_nan
    take = not is_nan and (winner < 0 or value > best)
    return (value if take else best), (cell if take else winner), nan, last_nan


@compiled.kernel
def _max_2x2(x, out, winners):
    """:func:`max_pool_2x2` into ``out`` and ``winners`` (N, H // 2, W // 2, C)."""
    batch, out_h, out_w, channels = out.shape
    for n in range(batch):
        for oh in range(out_h):
            for ow in range(out_w):
                h, w = 2 * oh, 2 * ow
                for c in range(channels):
                    first = x[n, h, w, c]
                    best, winner, nan, last_nan = _visit(first, 0, first, -1, first, -1)
                    best, winner, nan, last_nan = _visit(x[n, h, w + 1, c], 1, best, winner, nan, last_nan)
                    best, winner, nan, last_nan = _visit(x[n, h + 1, w, c], 2, best, winner, nan, last_nan)
                    best, winner, nan, last_nan = _visit(x[n, h + 1, w + 1, c], 3, best, winner, nan, last_nan)
                    out[n, oh, ow, c] = nan if last_nan >= 0 else best
                    winners[n, oh, ow, c] = last_nan if last_nan >= 0 else winner


@compiled.kernel
def _max_pairs(x, out, winners):
    """:func:`max_pool_2x2` in 1D into ``out`` and ``winners`` (N, L // 2, C)."""
    batch, out_l, channels = out.shape
    for n in range(batch):
        for o in range(out_l):
            for c in range(channels):
                first = x[n, 2 * o, c]
                best, winner, nan, last_nan = _visit(first, 0, first, -1, first, -1)
                best, winner, nan, last_nan = _visit(x[n, 2 * o + 1, c], 1, best, winner, nan, last_nan)
                out[n, o, c] = nan if last_nan >= 0 else best
                winners[n, o, c] = last_nan if last_nan >= 0 else winner


def route_2x2(grad: np.ndarray, winners: np.ndarray, input_shape) -> np.ndarray:
    """Backward of :func:`max_pool_2x2`: grad (N, Ho, Wo, C) -> dx (N, H, W, C) in grad's dtype (1D: grad
    (N, Lo, C) -> dx (N, L, C)).

    Each output's gradient goes to its winner cell and the window's other
    cells get 0; an odd last row or column, in no window, gets 0 too. Reads
    neither x nor the output, so it costs one write of dx.
    """
    even = all(size % 2 == 0 for size in input_shape[1:-1])
    dx = (np.empty if even else np.zeros)(input_shape, grad.dtype)
    (_route_pairs if grad.ndim == 3 else _route_2x2)(grad, winners, dx)
    return dx


@compiled.kernel
def _route_pairs(grad, winners, dx):
    """:func:`route_2x2` in 1D into dx: both cells of every window are written."""
    batch, out_l, channels = grad.shape
    for n in range(batch):
        for o in range(out_l):
            for c in range(channels):
                value, winner = grad[n, o, c], winners[n, o, c]
                dx[n, 2 * o, c] = value if winner == 0 else 0.0
                dx[n, 2 * o + 1, c] = value if winner == 1 else 0.0


@compiled.kernel
def _route_2x2(grad, winners, dx):
    """:func:`route_2x2` into dx: every cell of every window is written."""
    batch, out_h, out_w, channels = grad.shape
    for n in range(batch):
        for oh in range(out_h):
            for ow in range(out_w):
                h, w = 2 * oh, 2 * ow
                for c in range(channels):
                    value, winner = grad[n, oh, ow, c], winners[n, oh, ow, c]
                    dx[n, h, w, c] = value if winner == 0 else 0.0
                    dx[n, h, w + 1, c] = value if winner == 1 else 0.0
                    dx[n, h + 1, w, c] = value if winner == 2 else 0.0
                    dx[n, h + 1, w + 1, c] = value if winner == 3 else 0.0


# --------------------------------------------------------------------------- max-pool backward

def max_pool_backward(grad: np.ndarray, x: np.ndarray, out: np.ndarray, pool_size: Sequence[int],
                      strides: Sequence[int], pads: Sequence[tuple[int, int]]) -> np.ndarray:
    """Gradient of max pooling: grad (N, *out, C) -> dx (N, *S, C) in grad's dtype.

    Same contract as :func:`clearconv.kernels.pooling.max_pool_backward`: each
    window's gradient goes to the first real cell (row-major window order)
    equal to its max ``out``, a NaN max to the window's last NaN; padding
    (``pads``, one (before, after) pair per axis) never takes a gradient and
    overlapping windows accumulate in the NumPy path's order. Where the NumPy
    path adds a signed zero for a window that did not win, this adds nothing,
    so a zero gradient may differ in sign, never in value.
    """
    if _tiles_2x2(pool_size, strides, pads) and x.shape[-1] < MAX_POOL_BACKWARD_MIN_CHANNELS:
        return route_2x2(grad, max_pool_2x2(x)[1], x.shape)  # the forward's winners, found again
    lift = (slice(None),) + (None,) * (3 - len(pool_size))  # (N, *S, C) -> (N, 1.., *S, C), a view
    dx = np.zeros(x.shape, dtype=grad.dtype)
    args = (grad[lift], x[lift], out[lift], dx[lift], compiled.three_axes(pool_size, 1),
            compiled.three_axes(strides, 1), compiled.three_axes([before for before, _ in pads], 0))
    _route_to_first_max(*args)
    if np.isnan(out).any():
        _route_to_last_nan(*args)
    return dx


@compiled.inline_kernel
def _real_range(window, stride, before, pool, size):
    """The cells [start, stop) of x along one axis that window ``window`` covers (padding cut off)."""
    first = window * stride - before
    return max(first, 0), min(first + pool, size)


@compiled.kernel
def _route_to_first_max(grad, x, out, dx, pool_size, strides, before):
    """Add each window's grad (N, Od, Oh, Ow, C) at its first real cell equal to ``out``, into dx (N, D, H, W, C).

    Windows go in reverse row-major order: the NumPy path adds by ascending
    window offset j, and for a given cell o*s + j a larger j means a smaller o.
    NaN maxima equal no cell and are left to :func:`_route_to_last_nan`.
    """
    batch, out_d, out_h, out_w, channels = grad.shape
    winner = np.empty(channels, dtype=np.int64)  # per channel, the window offset that takes the gradient
    for n in range(batch):
        for od in range(out_d - 1, -1, -1):
            d_start, d_stop = _real_range(od, strides[0], before[0], pool_size[0], x.shape[1])
            for oh in range(out_h - 1, -1, -1):
                h_start, h_stop = _real_range(oh, strides[1], before[1], pool_size[1], x.shape[2])
                for ow in range(out_w - 1, -1, -1):
                    w_start, w_stop = _real_range(ow, strides[2], before[2], pool_size[2], x.shape[3])
                    top, window_grad = out[n, od, oh, ow], grad[n, od, oh, ow]  # (C,)
                    winner[:] = -1
                    # Scan backwards so the last match written is the first in row-major order.
                    offset = (d_stop - d_start) * (h_stop - h_start) * (w_stop - w_start)
                    for d in range(d_stop - 1, d_start - 1, -1):
                        for h in range(h_stop - 1, h_start - 1, -1):
                            for w in range(w_stop - 1, w_start - 1, -1):
                                offset -= 1
                                _mark_matches(winner, x[n, d, h, w], top, offset)
                    for d in range(d_start, d_stop):
                        for h in range(h_start, h_stop):
                            for w in range(w_start, w_stop):
                                _add_winners(dx[n, d, h, w], window_grad, winner, offset)
                                offset += 1


@compiled.inline_kernel
def _mark_matches(winner, cell, top, offset):
    """winner[c] = offset where cell[c] == top[c], over the C channels of one cell."""
    for c in range(cell.shape[0]):
        winner[c] = offset if cell[c] == top[c] else winner[c]


@compiled.inline_kernel
def _add_winners(target, window_grad, winner, offset):
    """target[c] += window_grad[c] for the channels whose winner is this cell's offset."""
    for c in range(target.shape[0]):
        if winner[c] == offset:
            target[c] += window_grad[c]


@compiled.kernel
def _route_to_last_nan(grad, x, out, dx, pool_size, strides, before):
    """Add the grad of each window whose max is NaN at its last NaN cell, after all other windows.

    Windows in row-major order: the NumPy path scans offsets backwards for
    these, and for a given cell a smaller offset j means a larger window o.
    """
    batch, out_d, out_h, out_w, channels = grad.shape
    for n in range(batch):
        for od in range(out_d):
            d_start, d_stop = _real_range(od, strides[0], before[0], pool_size[0], x.shape[1])
            for oh in range(out_h):
                h_start, h_stop = _real_range(oh, strides[1], before[1], pool_size[1], x.shape[2])
                for ow in range(out_w):
                    w_start, w_stop = _real_range(ow, strides[2], before[2], pool_size[2], x.shape[3])
                    for c in range(channels):
                        if np.isnan(out[n, od, oh, ow, c]):
                            _add_at_last_nan(dx, x, grad[n, od, oh, ow, c], n, c, (d_start, d_stop),
                                             (h_start, h_stop), (w_start, w_stop))


@compiled.inline_kernel
def _add_at_last_nan(dx, x, value, n, c, rows_d, rows_h, rows_w):
    """dx[n, cell, c] += value at the last NaN, in row-major order, of x[n, cell, c] over the ranges."""
    for d in range(rows_d[1] - 1, rows_d[0] - 1, -1):
        for h in range(rows_h[1] - 1, rows_h[0] - 1, -1):
            for w in range(rows_w[1] - 1, rows_w[0] - 1, -1):
                if np.isnan(x[n, d, h, w, c]):
                    dx[n, d, h, w, c] += value
                    return
