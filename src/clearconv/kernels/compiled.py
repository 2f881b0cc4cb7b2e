"""Optional numba-compiled kernels: the scatters NumPy does slowest, Winograd's transforms, fused passes.

The col2im of a convolution's input gradient and the max-pool backward both
add values into cells chosen by a sliding window. NumPy does that as one
whole-array pass per window offset (:mod:`clearconv.kernels.conv.im2col`,
:mod:`clearconv.kernels.pooling`); here the same additions run in one compiled
loop over the windows, while the data is in cache. Each of these kernels is a
pure optimisation: per cell it adds the same float values in the same order
as the NumPy path it replaces, so the results are equal.

The Winograd transforms (:func:`winograd_input`, :func:`winograd_output`)
replace the NumPy path's tile gather and Kronecker matmuls
(:mod:`clearconv.kernels.conv.winograd`) with one pass per chunk that reads each
tile where it lies and writes the transform where the batched matmul (or the
output) wants it. They compute the same transforms with fewer, differently
ordered additions, so results agree within the module's documented rounding
bound, not exactly.

The fused passes do in one pass over a convolution's output what NumPy does
in two or three: the bias and a ReLU (:func:`add_bias_and_relu`, equal
values), and that ReLU's backward with the bias gradient
(:func:`relu_and_bias_grad`, the bias gradient summed in float64, so equal up
to rounding). The 2x2 max pooling forward also records each window's winner
cell, which its backward (:func:`route_2x2`) uses instead of reading x again.

numba comes with the ``fast`` extra. Without it :data:`AVAILABLE` is False,
:func:`enabled` stays False and the NumPy paths run. The environment variable
``CLEARCONV_COMPILED=0`` (read at import) or :func:`set_enabled` switches the
kernels off, so tests can run both paths. Compilation happens on first use,
once per dtype, and is cached on disk (``cache=True``).

Each kernel is written once for 3 spatial axes; 1D and 2D arrays get unit
spatial axes in front (a view), which visit the same cells in the same order.
Inner loops run over whole contiguous runs of channels: numba vectorizes a
loop whose index is the range variable itself, not one with an offset added.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from .windows import no_padding

try:
    import numba
except ImportError:  # the `fast` extra is not installed: the NumPy paths run
    numba = None

AVAILABLE: bool = numba is not None
_switched_on = os.environ.get("CLEARCONV_COMPILED", "1") != "0"

# Where each kernel was measured faster than its NumPy path (float32, 2 BLAS threads, medians):
# - col2im reads one buffer holding every tap's contributions, K times the NumPy path's per-tap
#   buffer. Where NumPy's slice-adds run in short or strided pieces (at most 8 channels per
#   group, or a stride > 1) the input gradient is 1.2-2.2x faster (col2im alone 2.2-7x); at
#   stride 1 from 16 channels up, NumPy's cache-sized per-tap GEMMs and contiguous slice-adds
#   are as fast or faster (0.5-1.0x).
# - max-pool backward vectorizes over the channels of one cell: with 6 it cannot (0.4x); with
#   8 it wins ~1.3x, with 16 and 32 1.2-2x.
# - 2x2 max pooling at stride 2 without padding (the common case) has kernels of its own that
#   visit each window's four cells at once: the forward 2.7x faster than NumPy's four maximum
#   passes at 6 channels, 3.5-5x at 16 and 32. It records each output's winner cell (one byte),
#   so that the backward writes dx without reading x again: 0.34 -> 0.16 ms at 6 channels,
#   0.10 -> 0.05 at 16 (against finding the winners again), 2.9 -> 0.9 at 32 (against the
#   general kernel). Without the forward's winners, the backward finds them again below 8
#   channels (2.6x faster than NumPy at 6) and takes the general kernel from 8 up.
# - the Winograd transforms vectorize over the channels of a tile cell (input) and the filters of
#   an output cell. At C = F = 1 (8 58x58 images) the whole winograd.correlate took 1.2-2.5x the
#   NumPy path's time, whose (P, P) @ (P, T) transforms are then single efficient GEMMs; at
#   C = F = 2 to 32 it took 0.6-0.9x, on vgg-3x3 and deep-3x3 0.7-0.8x (tile 4), 0.75-0.9x (tile 2).
COL2IM_MAX_CHANNELS_AT_STRIDE_1 = 8
MAX_POOL_MIN_CHANNELS = 8
WINOGRAD_MIN_CHANNELS = 2


def enabled() -> bool:
    """True when numba is installed and the kernels are not switched off."""
    return AVAILABLE and _switched_on


def set_enabled(flag: bool) -> None:
    """Switch the compiled kernels on or off (on has no effect without numba)."""
    global _switched_on
    _switched_on = bool(flag)


def use_col2im(group_channels: int, strides: Sequence[int]) -> bool:
    """Whether a conv input gradient should take :func:`col2im`: enabled and measured faster."""
    return enabled() and (group_channels <= COL2IM_MAX_CHANNELS_AT_STRIDE_1 or any(s > 1 for s in strides))


def use_max_pool_2x2(pool_size: Sequence[int], strides: Sequence[int], pads: Sequence[tuple[int, int]]) -> bool:
    """Whether a max pooling forward should take :func:`max_pool_2x2`: enabled, 2D, 2x2 at stride 2, no padding."""
    return enabled() and _tiles_2x2(pool_size, strides, pads)


def _tiles_2x2(pool_size, strides, pads) -> bool:
    return tuple(pool_size) == (2, 2) and tuple(strides) == (2, 2) and no_padding(pads)


def use_max_pool_backward(channels: int, pool_size: Sequence[int], strides: Sequence[int],
                          pads: Sequence[tuple[int, int]]) -> bool:
    """Whether a max-pool backward should take :func:`max_pool_backward`: enabled and measured faster."""
    return enabled() and (channels >= MAX_POOL_MIN_CHANNELS or use_max_pool_2x2(pool_size, strides, pads))


def use_winograd_transforms(channels: int) -> bool:
    """Whether Winograd should take :func:`winograd_input` and :func:`winograd_output`: enabled and measured faster."""
    return enabled() and channels >= WINOGRAD_MIN_CHANNELS


def _compile(function, **options):
    """numba.njit with an on-disk cache when numba is installed; otherwise the plain function, never called."""
    if not AVAILABLE:
        return function
    try:
        return numba.njit(cache=True, **options)(function)
    except RuntimeError:  # no writable cache directory (read-only install): compile on each run instead
        return numba.njit(**options)(function)


def _compile_inline(function):
    """:func:`_compile` for a helper called per window: inlined, since a call there costs ~2x (measured)."""
    return _compile(function, inline="always")


def _three_axes(values: Sequence[int], fill: int) -> tuple[int, int, int]:
    """One int per spatial axis -> three, ``fill`` for the unit axes put in front."""
    return (fill,) * (3 - len(values)) + tuple(int(v) for v in values)


@_compile_inline
def _add_into(target, source):
    """target += source, elementwise over two 1D runs of equal length."""
    for i in range(target.shape[0]):
        target[i] += source[i]


# --------------------------------------------------------------------------- col2im

def col2im(contributions: np.ndarray, padded_shape: Sequence[int], kernel_size: Sequence[int],
           strides: Sequence[int], dilation: Sequence[int]) -> np.ndarray:
    """Sum every tap's contribution into the padded-input gradient: (N, *out, K, C) -> dxp (N, *P, C).

    ``contributions[n, o, j]`` (``K = prod(kernel_size)`` taps, row-major) is
    what tap ``j`` of output cell ``o`` sends back to the input, as one GEMM of
    the grad rows with every tap's kernel gives it (with groups, the GEMM's
    group axis moved next to the channels). ``dxp[n, o*s + j*d]`` is the sum
    of those landing on it, added in ascending tap order from zero, as the
    NumPy slice-adds do. Groups play no part here. 1 to 3 spatial axes.
    """
    batch, *out, _, channels = contributions.shape
    lift = (1,) * (3 - len(out))
    dxp = np.zeros((batch, *padded_shape, channels), dtype=contributions.dtype)
    # (N, *out, K, C) -> (N, Od, Oh, Ow, K*C); (N, *P, C) -> (N, Pd, Ph, Pw*C), a view
    _col2im(contributions.reshape(batch, *lift, *out, -1), dxp.reshape(batch, *lift, *padded_shape[:-1], -1),
            _three_axes(kernel_size, 1), _three_axes(strides, 1), _three_axes(dilation, 1))
    return dxp


@_compile
def _col2im(contributions, dxp, kernel_size, strides, dilation):
    """:func:`col2im` on contributions (N, Od, Oh, Ow, K*C) into a zeroed dxp (N, Pd, Ph, Pw*C)."""
    batch, out_d, out_h, out_w, width = contributions.shape
    kernel_d, kernel_h, kernel_w = kernel_size
    channels = width // (kernel_d * kernel_h * kernel_w)
    tap_step = dilation[2] * channels  # from tap jw to jw + 1 in a dxp row
    run = kernel_w * channels  # one kernel row's taps, contiguous in `contributions`
    for n in range(batch):
        # Windows in reverse row-major order: the cell o*s + j*d is reached by a later tap j
        # from an earlier window o, so each cell receives its taps in ascending order.
        for od in range(out_d - 1, -1, -1):
            for oh in range(out_h - 1, -1, -1):
                for ow in range(out_w - 1, -1, -1):
                    window = contributions[n, od, oh, ow]  # (K*C,)
                    first = 0  # where kernel row (jd, jh) starts in `window`
                    for jd in range(kernel_d):
                        for jh in range(kernel_h):
                            row = dxp[n, od * strides[0] + jd * dilation[0], oh * strides[1] + jh * dilation[1]]
                            start = ow * strides[2] * channels
                            if tap_step == channels:  # dilation 1: the kernel row's cells are adjacent
                                _add_into(row[start:start + run], window[first:first + run])
                            else:
                                for jw in range(kernel_w):
                                    cell = start + jw * tap_step
                                    tap = first + jw * channels
                                    _add_into(row[cell:cell + channels], window[tap:tap + channels])
                            first += run


# --------------------------------------------------------------------------- conv output and its gradient

def add_bias_and_relu(y: np.ndarray, bias: np.ndarray | None, relu: bool) -> None:
    """y (N, *out, F) += bias (F,) (None: no bias), then ReLU if ``relu``: in place, one pass.

    The same float values as the NumPy path (``y += bias``, ``np.maximum(y,
    0, out=y)``): a NaN stays NaN and a -0.0 becomes 0.0. y is C-contiguous,
    with at least one spatial axis; the loop runs over whole output rows
    (W * F values) against the bias repeated W times, which numba vectorizes
    whatever F is.
    """
    rows = y.reshape(-1, y.shape[-2] * y.shape[-1])
    tiled = np.tile(bias.astype(y.dtype, copy=False), y.shape[-2]) if bias is not None else np.empty(0, y.dtype)
    _add_bias_and_relu(rows, tiled, bias is not None, relu, y.dtype.type(0))


@_compile
def _add_bias_and_relu(rows, tiled, add_bias, relu, zero):
    for r in range(rows.shape[0]):
        row = rows[r]
        for j in range(row.shape[0]):
            value = row[j] + tiled[j] if add_bias else row[j]
            row[j] = zero if relu and value <= zero else value  # as np.maximum: -0.0 -> 0.0


def relu_and_bias_grad(grad: np.ndarray, output: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Backward of a fused ReLU and the bias gradient in one pass: -> (grad * (output > 0), its sum over rows).

    grad and output (N, *out, F); the first result is a new array equal to the
    NumPy path's ``grad * (output > 0)`` (the product by 1 or 0, so a NaN or
    infinite gradient where the unit is off gives NaN, as there); the second
    (F,) sums it over every axis but the last, accumulated in float64 and then
    rounded, so it may differ from a float32 BLAS sum in the last bits.
    """
    width = output.shape[-2] * output.shape[-1]
    rows = np.ascontiguousarray(grad).reshape(-1, width)
    masked = np.empty(grad.shape, dtype=grad.dtype)
    sums = np.zeros(width, dtype=np.float64)
    _relu_and_bias_grad(rows, output.reshape(-1, width), masked.reshape(-1, width), sums,
                        grad.dtype.type(1), grad.dtype.type(0))
    return masked, sums.reshape(-1, output.shape[-1]).sum(axis=0).astype(grad.dtype)


@_compile
def _relu_and_bias_grad(grad, output, masked, sums, one, zero):
    for r in range(grad.shape[0]):
        g, y, m = grad[r], output[r], masked[r]
        for j in range(g.shape[0]):
            value = g[j] * (one if y[j] > zero else zero)
            m[j] = value
            sums[j] += value


# --------------------------------------------------------------------------- 2x2 max pooling

def max_pool_2x2(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Max pooling 2x2 at stride 2, no padding: (N, H, W, C) -> (out (N, H // 2, W // 2, C), winners).

    ``out`` equals :func:`clearconv.kernels.pooling.max_pool`'s: a NaN in the
    window gives NaN, as ``np.maximum`` does. ``winners`` (uint8, out's shape)
    is the window cell, 0 to 3 in row-major order, that takes the output's
    gradient by the backward's rule: the first cell equal to the max, or the
    last NaN (:func:`route_2x2` sends it there).
    """
    batch, height, width, channels = x.shape
    out = np.empty((batch, height // 2, width // 2, channels), dtype=x.dtype)
    winners = np.empty(out.shape, dtype=np.uint8)
    _max_2x2(x, out, winners)
    return out, winners


@_compile_inline
def _visit(value, cell, best, winner, nan, last_nan):
    """One cell of a window: the running max and its cell, the first NaN's value and the last NaN's cell."""
    is_nan = value != value
    nan = value if is_nan and last_nan < 0 else nan
    last_nan = cell if is_nan else last_nan
    take = not is_nan and (winner < 0 or value > best)
    return (value if take else best), (cell if take else winner), nan, last_nan


@_compile
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


def route_2x2(grad: np.ndarray, winners: np.ndarray, input_shape) -> np.ndarray:
    """Backward of :func:`max_pool_2x2`: grad (N, Ho, Wo, C) -> dx (N, H, W, C) in grad's dtype.

    Each output's gradient goes to its winner cell and the window's other
    cells get 0; an odd last row or column, in no window, gets 0 too. Reads
    neither x nor the output, so it costs one write of dx.
    """
    dx = (np.empty if input_shape[1] % 2 == 0 and input_shape[2] % 2 == 0 else np.zeros)(input_shape, grad.dtype)
    _route_2x2(grad, winners, dx)
    return dx


@_compile
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
    if _tiles_2x2(pool_size, strides, pads) and x.shape[-1] < MAX_POOL_MIN_CHANNELS:
        return route_2x2(grad, max_pool_2x2(x)[1], x.shape)  # the forward's winners, found again
    lift = (slice(None),) + (None,) * (3 - len(pool_size))  # (N, *S, C) -> (N, 1.., *S, C), a view
    dx = np.zeros(x.shape, dtype=grad.dtype)
    args = (grad[lift], x[lift], out[lift], dx[lift], _three_axes(pool_size, 1), _three_axes(strides, 1),
            _three_axes([before for before, _ in pads], 0))
    _route_to_first_max(*args)
    if np.isnan(out).any():
        _route_to_last_nan(*args)
    return dx


@_compile_inline
def _real_range(window, stride, before, pool, size):
    """The cells [start, stop) of x along one axis that window ``window`` covers (padding cut off)."""
    first = window * stride - before
    return max(first, 0), min(first + pool, size)


@_compile
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


@_compile_inline
def _mark_matches(winner, cell, top, offset):
    """winner[c] = offset where cell[c] == top[c], over the C channels of one cell."""
    for c in range(cell.shape[0]):
        winner[c] = offset if cell[c] == top[c] else winner[c]


@_compile_inline
def _add_winners(target, window_grad, winner, offset):
    """target[c] += window_grad[c] for the channels whose winner is this cell's offset."""
    for c in range(target.shape[0]):
        if winner[c] == offset:
            target[c] += window_grad[c]


@_compile
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


@_compile_inline
def _add_at_last_nan(dx, x, value, n, c, rows_d, rows_h, rows_w):
    """dx[n, cell, c] += value at the last NaN, in row-major order, of x[n, cell, c] over the ranges."""
    for d in range(rows_d[1] - 1, rows_d[0] - 1, -1):
        for h in range(rows_h[1] - 1, rows_h[0] - 1, -1):
            for w in range(rows_w[1] - 1, rows_w[0] - 1, -1):
                if np.isnan(x[n, d, h, w, c]):
                    dx[n, d, h, w, c] += value
                    return


# --------------------------------------------------------------------------- Winograd transforms

def winograd_input(xp: np.ndarray, tile: int, images: slice, rows: slice, transformed: np.ndarray) -> None:
    """B^T d B of every tile and channel of one chunk, read straight from the padded input.

    xp (N, Hp, Wp, C) is padded to whole tiles (``Hp = tiles_h*tile + 2``);
    the chunk is tile rows ``rows`` of images ``images``, tiles in row-major
    (image, tile row, tile column) order. Writes ``transformed`` (P, T, C),
    ``P = (tile+2)**2``, point ``p*(tile+2) + q`` = entry (p, q), as the NumPy
    path of :mod:`clearconv.kernels.conv.winograd` lays it out. The same transform
    as that path's Kronecker matmul, computed separably (d B, then B^T (.))
    with the common subexpressions of B^T's rows, so it rounds differently.
    """
    side = tile + 2
    # (P, T, C) as (side, side, T, C), a view: with a point indexed as p*side + q in the kernel,
    # numba left the loop unvectorized (measured 5x slower).
    _winograd_input(xp, tile, images.start, images.stop, rows.start, rows.stop,
                    transformed.reshape(side, side, *transformed.shape[1:]))


def winograd_output(products: np.ndarray, tile: int, images: slice, rows: slice, y: np.ndarray) -> None:
    """A^T M A of every tile and filter of one chunk, written straight into the output tiles.

    products (P, T, F) are the chunk's tiles as :func:`winograd_input` orders
    them; y (N, tiles_h*tile, tiles_w*tile, F) is the whole uncropped output,
    of which the chunk's tiles (tile rows ``rows`` of images ``images``) are
    written. Separable (A^T M, then (.) A), like :func:`winograd_input`.
    """
    side = tile + 2
    _winograd_output(products.reshape(side, side, *products.shape[1:]), tile, images.start, images.stop,
                     rows.start, rows.stop, y)


# B^T and A^T of F(4, 3) and F(2, 3) applied to one column of a tile, one channel: scalars in,
# a tuple out, inlined into loops over the channels that numba vectorizes. Multiples are sums
# (x + x, exact), not products with literals, which numba would type as float64 and so leave
# float32 unvectorized. The common terms of F(4, 3)'s rows (Lavin & Gray's B^T has 22
# non-zeros, these 6 rows take 20 additions) are computed once.

@_compile_inline
def _input_column_4(d0, d1, d2, d3, d4, d5):
    """B^T d for F(4, 3): a column of 6 values -> 6 values."""
    first, last = d0 - d2, d1 - d3
    near = d4 - d2
    quad2, quad1 = d2 + d2, d1 + d1
    far = d4 - (quad2 + quad2)  # d4 - 4 d2
    cross = d3 - (quad1 + quad1)  # d3 - 4 d1
    twice = (d3 - d1) + (d3 - d1)  # 2 (d3 - d1)
    return ((first + first) + (first + first) + near, far + cross, far - cross, near + twice, near - twice,
            (d5 - d3) + ((last + last) + (last + last)))


@_compile_inline
def _input_column_2(d0, d1, d2, d3):
    """B^T d for F(2, 3): a column of 4 values -> 4 values."""
    return d0 - d2, d1 + d2, d2 - d1, d1 - d3


@_compile_inline
def _output_column_4(m0, m1, m2, m3, m4, m5):
    """A^T m for F(4, 3): a column of 6 values -> 4 values."""
    plus_near, minus_near = m1 + m2, m1 - m2
    plus_far, minus_far = m3 + m4, m3 - m4
    twice_plus, twice_minus = plus_far + plus_far, minus_far + minus_far
    four_minus = twice_minus + twice_minus
    return (m0 + plus_near + plus_far, minus_near + twice_minus, plus_near + (twice_plus + twice_plus),
            minus_near + (four_minus + four_minus) + m5)


@_compile_inline
def _output_column_2(m0, m1, m2, m3):
    """A^T m for F(2, 3): a column of 4 values -> 2 values."""
    return m0 + m1 + m2, m1 - m2 - m3


@_compile
def _winograd_input(xp, tile, first_image, stop_image, first_row, stop_row, transformed):
    """:func:`winograd_input` on xp (N, Hp, Wp, C) into transformed (side, side, T, C)."""
    side = tile + 2
    tiles_w, channels = (xp.shape[2] - 2) // tile, xp.shape[3]
    # d B transposed: [q, a] = (d B)[a, q]. Every store below has a constant leading index and a
    # loop variable after it; with the loop variable leading, numba's loops ran 3-5x slower.
    columns_of_b = np.empty((side, side, channels), dtype=transformed.dtype)
    t = 0
    for n in range(first_image, stop_image):
        for i in range(first_row, stop_row):
            for j in range(tiles_w):
                left = j * tile
                for a in range(side):  # d B, one tile row at a time: B^T applied to the row
                    row = i * tile + a
                    if tile == 4:
                        for c in range(channels):
                            (columns_of_b[0, a, c], columns_of_b[1, a, c], columns_of_b[2, a, c],
                             columns_of_b[3, a, c], columns_of_b[4, a, c], columns_of_b[5, a, c]) = _input_column_4(
                                xp[n, row, left, c], xp[n, row, left + 1, c], xp[n, row, left + 2, c],
                                xp[n, row, left + 3, c], xp[n, row, left + 4, c], xp[n, row, left + 5, c])
                    else:
                        for c in range(channels):
                            (columns_of_b[0, a, c], columns_of_b[1, a, c], columns_of_b[2, a, c],
                             columns_of_b[3, a, c]) = _input_column_2(
                                xp[n, row, left, c], xp[n, row, left + 1, c], xp[n, row, left + 2, c],
                                xp[n, row, left + 3, c])
                for q in range(side):  # B^T (d B), one column q at a time
                    if tile == 4:
                        for c in range(channels):
                            (transformed[0, q, t, c], transformed[1, q, t, c], transformed[2, q, t, c],
                             transformed[3, q, t, c], transformed[4, q, t, c],
                             transformed[5, q, t, c]) = _input_column_4(
                                columns_of_b[q, 0, c], columns_of_b[q, 1, c], columns_of_b[q, 2, c],
                                columns_of_b[q, 3, c], columns_of_b[q, 4, c], columns_of_b[q, 5, c])
                    else:
                        for c in range(channels):
                            (transformed[0, q, t, c], transformed[1, q, t, c], transformed[2, q, t, c],
                             transformed[3, q, t, c]) = _input_column_2(
                                columns_of_b[q, 0, c], columns_of_b[q, 1, c], columns_of_b[q, 2, c],
                                columns_of_b[q, 3, c])
                t += 1

@_compile
def _winograd_output(products, tile, first_image, stop_image, first_row, stop_row, y):
    """:func:`winograd_output` from products (side, side, T, F) into y (N, tiles_h*tile, tiles_w*tile, F)."""
    side = tile + 2
    tiles_w, filters = y.shape[2] // tile, y.shape[3]
    rows_of_a = np.empty((tile, side, filters), dtype=y.dtype)  # [a, q] = (A^T M)[a, q]
    t = 0
    for n in range(first_image, stop_image):
        for i in range(first_row, stop_row):
            for j in range(tiles_w):
                for q in range(side):  # A^T M, one column of transform points at a time
                    if tile == 4:
                        for f in range(filters):
                            rows_of_a[0, q, f], rows_of_a[1, q, f], rows_of_a[2, q, f], rows_of_a[3, q, f] = \
                                _output_column_4(products[0, q, t, f], products[1, q, t, f], products[2, q, t, f],
                                                 products[3, q, t, f], products[4, q, t, f], products[5, q, t, f])
                    else:
                        for f in range(filters):
                            rows_of_a[0, q, f], rows_of_a[1, q, f] = _output_column_2(
                                products[0, q, t, f], products[1, q, t, f], products[2, q, t, f],
                                products[3, q, t, f])
                for a in range(tile):  # (A^T M) A: output row i*tile + a
                    row, left = i * tile + a, j * tile
                    if tile == 4:
                        for f in range(filters):
                            y[n, row, left, f], y[n, row, left + 1, f], y[n, row, left + 2, f], \
                                y[n, row, left + 3, f] = _output_column_4(
                                    rows_of_a[a, 0, f], rows_of_a[a, 1, f], rows_of_a[a, 2, f], rows_of_a[a, 3, f],
                                    rows_of_a[a, 4, f], rows_of_a[a, 5, f])
                    else:
                        for f in range(filters):
                            y[n, row, left, f], y[n, row, left + 1, f] = _output_column_2(
                                rows_of_a[a, 0, f], rows_of_a[a, 1, f], rows_of_a[a, 2, f], rows_of_a[a, 3, f])
                t += 1
