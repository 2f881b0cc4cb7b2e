"""Convolution as im2col + one BLAS matmul per group, channels_last.

Everything here works on an input that is *already padded*: a "valid"
cross-correlation with strides, dilation and groups. The public functions in
``clearconv.kernels.conv`` add the padding and crop it off again.

Shapes (``nd`` spatial dims, ``K = prod(kernel_size)``, ``G`` groups):

    padded input  xp      (N, *P, C)
    kernel        w       (*k, C // G, F)          Keras layout
    columns       cols    (G, M, K * C // G)       M = N * prod(out)
    output        y       (N, *out, F)

The column row of output cell ``(n, o)`` lists ``xp[n, o*s + j*d, c]`` for
every tap ``j`` (row-major) and channel ``c`` of its group, so multiplying by
the kernel reshaped to ``(K * C // G, F // G)`` needs no transpose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import compiled
from ..shapes import conv_output_shape
from ..tuning import (COL2IM_ONE_GEMM_MAX_CHANNELS, COL2IM_ONE_GEMM_MAX_CHANNELS_STRIDED, REDUCTION_BLOCK,
                      ROW_BLOCK_MAX_FILTERS, ROW_BLOCK_MAX_SPAN, ROW_BLOCK_MAX_WIDTH, SMALL_KERNEL_GRAD,
                      TAP_MAJOR_CHUNK_BYTES)
from ..windows import window_slices
from .im2col_compiled import col2im


def output_shape(padded_shape, kernel_size, strides, dilation) -> tuple[int, ...]:
    """Spatial output size of a valid correlation over a padded input."""
    return conv_output_shape(padded_shape, kernel_size, strides, dilation)


def im2col(xp: np.ndarray, kernel_size, strides, dilation, groups: int) -> np.ndarray:
    """Gather every receptive field of ``xp`` into rows: (G, M, K * C // G).

    The gather is a strided view (no copy) turned contiguous by one reshape,
    which copies runs of a kernel row (kw * C floats); a one-channel input
    whose output rows are longer than its kernel rows is gathered tap-major,
    in runs of an output row, instead.
    """
    batch, *padded, channels = xp.shape
    out = output_shape(padded, kernel_size, strides, dilation)
    if tap_major(channels, kernel_size, out):
        columns = np.empty((*kernel_size, batch, *out), dtype=xp.dtype)
        columns[...] = _tap_view(xp, kernel_size, strides, dilation, out)
        # (*k, N, *out) -> (K, M) -> (1, M, K): the transposed view, as _correlate_tap_major keeps them
        return columns.reshape(int(np.prod(kernel_size)), -1).T[None]
    group_channels = channels // groups
    step_n, *step_spatial, step_c = xp.strides
    # View (G, N, *out, *k, C//G): group axis first so each group's columns are contiguous.
    view = as_strided(
        xp,
        shape=(groups, batch, *out, *kernel_size, group_channels),
        strides=(group_channels * step_c, step_n,
                 *(s * st for s, st in zip(strides, step_spatial)),
                 *(d * st for d, st in zip(dilation, step_spatial)),
                 step_c),
        writeable=False,
    )
    rows = batch * int(np.prod(out))
    if group_channels == 1:  # without the unit axis NumPy copies whole kernel rows, not one float at a time
        view = view[..., 0]
    # (G, N, *out, *k, Cg) -> (G, M, K*Cg); a view when the kernel is 1x1 at stride 1.
    return view.reshape(groups, rows, int(np.prod(kernel_size)) * group_channels)


def tap_major(channels: int, kernel_size, out) -> bool:
    """Whether a one-channel input gathers its columns tap-major, (K, M), in runs of whole output rows.

    With one channel the general gather copies runs of only ``kw`` floats,
    while one tap's cells are a strided slice whose rows are whole output
    rows: LeNet's conv1 forward (64 x 28x28x1, 5x5, 6 filters) took 0.65 ms
    this way against 1.35-1.39 ms through the general gather (2 threads,
    benchmarks/run.py --cases lenet-conv1). BLAS takes the (M, K) transposed
    view as is.
    """
    return channels == 1 and out[-1] > kernel_size[-1]


def _tap_view(xp, kernel_size, strides, dilation, out) -> np.ndarray:
    """The taps of a one-channel input (N, *P, 1) as a view (*k, N, *out); copying it is one pass."""
    step_n, *step_spatial, _ = xp.strides
    return as_strided(xp, shape=(*kernel_size, xp.shape[0], *out),
                      strides=(*(d * st for d, st in zip(dilation, step_spatial)), step_n,
                               *(s * st for s, st in zip(strides, step_spatial))),
                      writeable=False)


# --- Row blocking: b outputs of a row per column row --------------------------------------------
# With few filters the GEMM is thin (N = F, below what BLAS runs well) and the columns repeat each
# input value K times. A column row may instead hold the receptive field of b neighbouring outputs
# of one row: (kh, span = (b-1)*sw + (kw-1)*dw + 1, C), times a widened kernel (kh, span, C, b*F)
# holding the kernel b times, shifted by sw, zero elsewhere. The product's row is then the b
# outputs' F filters side by side, which is exactly their channels_last layout. It is the same
# convolution as one of kernel width `span`, stride b*sw and dilation 1 along the row, so the
# im2col machinery runs it unchanged, backward included. It pays where the GEMM is thin: LeNet's
# conv2 (F = 16, b = 2) forward+backward 2.2 -> 1.6 ms, its conv1's input gradient (one channel,
# F = 6, b = 4) 1.57 -> 0.52 ms; from 24 filters up it did not. Which passes take it is the
# dispatcher's call (clearconv.kernels.conv.convolution: not one-channel forwards). Its limits,
# ROW_BLOCK_MAX_WIDTH (b * F), ROW_BLOCK_MAX_FILTERS and ROW_BLOCK_MAX_SPAN, and their measurements
# are in clearconv.kernels.tuning.


@dataclass(frozen=True)
class RowBlocking:
    """A convolution rewritten to compute ``block`` outputs of a row per column row.

    ``kernel`` (*k[:-1], span, C, block*F), ``strides`` and ``dilation`` are
    those of the rewritten convolution, which maps the same padded input
    (N, *P, C) to (N, *out[:-1], out[-1] // block, block*F): the original
    output (N, *out, F), reshaped. ``kernel_shape`` and ``row_dilation`` are
    the original kernel's shape and its dilation along the row.
    """

    block: int
    kernel: np.ndarray
    strides: tuple
    dilation: tuple
    kernel_shape: tuple
    row_dilation: int

    @property
    def row_stride(self) -> int:
        """The original convolution's stride along the row (the rewritten one steps ``block`` times as far)."""
        return self.strides[-1] // self.block

    def outputs(self, y: np.ndarray) -> np.ndarray:
        """(N, *out, F) -> the rewritten convolution's (N, *out[:-1], out[-1] // block, block*F)."""
        return y.reshape(*y.shape[:-2], y.shape[-2] // self.block, self.block * y.shape[-1])

    def copies(self, wide: np.ndarray):
        """The ``block`` views of the original kernel's taps (*k, C, F) inside a widened array (*k', C, block*F)."""
        width, filters = self.kernel_shape[-3], self.kernel_shape[-1]
        extent = (width - 1) * self.row_dilation + 1
        per_copy = wide.reshape(*wide.shape[:-1], self.block, filters)
        return [per_copy[..., i * self.row_stride:i * self.row_stride + extent:self.row_dilation, :, i, :]
                for i in range(self.block)]

    def fold_kernel_grad(self, wide_grad: np.ndarray) -> np.ndarray:
        """Gradient of the widened kernel -> of the original one (*k, C, F): the sum over its copies."""
        first, *rest = self.copies(wide_grad)
        folded = first.copy()
        for copy in rest:
            folded += copy
        return folded


def row_blocking(kernel: np.ndarray, strides, dilation, out_width: int) -> RowBlocking | None:
    """The row blocking of this kernel (*k, C, F) for an output row of ``out_width``; None where it does not pay.

    The block is the largest divisor b >= 2 of ``out_width`` with b*F at most
    ROW_BLOCK_MAX_WIDTH and a span at most ROW_BLOCK_MAX_SPAN times the kernel
    row's extent; kernel rows of one tap (nothing to share) and kernels of
    more than ROW_BLOCK_MAX_FILTERS filters (the GEMM is not thin) are left
    alone.
    """
    *kernel_size, channels, filters = kernel.shape
    width, stride, step = kernel_size[-1], strides[-1], dilation[-1]
    extent = (width - 1) * step + 1
    fitting = [b for b in range(2, out_width + 1) if out_width % b == 0 and b * filters <= ROW_BLOCK_MAX_WIDTH
               and (b - 1) * stride + extent <= ROW_BLOCK_MAX_SPAN * extent]
    if width == 1 or filters > ROW_BLOCK_MAX_FILTERS or not fitting:
        return None
    block = max(fitting)
    span = (block - 1) * stride + extent
    wide = np.zeros((*kernel_size[:-1], span, channels, block * filters), dtype=kernel.dtype)
    blocking = RowBlocking(block, wide, (*strides[:-1], block * stride), (*dilation[:-1], 1),
                           tuple(kernel.shape), step)
    for copy in blocking.copies(wide):
        copy[...] = kernel
    return blocking


def grouped_kernel(kernel: np.ndarray, groups: int) -> np.ndarray:
    """Keras kernel (*k, Cg, F) -> (G, K*Cg, F//G), the right operand per group."""
    *_, group_channels, filters = kernel.shape
    if groups == 1:
        return kernel.reshape(1, -1, filters)
    taps = kernel.size // (group_channels * filters)
    # (K, Cg, G, F//G) -> (G, K, Cg, F//G) -> (G, K*Cg, F//G)
    grouped = kernel.reshape(taps, group_channels, groups, filters // groups).transpose(2, 0, 1, 3)
    return grouped.reshape(groups, taps * group_channels, filters // groups)


def ungroup_kernel(grouped: np.ndarray, kernel_shape) -> np.ndarray:
    """Inverse of :func:`grouped_kernel`: (G, K*Cg, F//G) -> (*k, Cg, F)."""
    groups = grouped.shape[0]
    *kernel_size, group_channels, filters = kernel_shape
    if groups == 1:
        return grouped.reshape(kernel_shape)
    taps = int(np.prod(kernel_size))
    # (G, K, Cg, F//G) -> (K, Cg, G, F//G)
    return grouped.reshape(groups, taps, group_channels, -1).transpose(1, 2, 0, 3).reshape(kernel_shape)


def group_rows(grad: np.ndarray, groups: int) -> np.ndarray:
    """Output-shaped (N, *out, F) -> (G, M, F//G) matching the columns' grouping."""
    filters = grad.shape[-1]
    rows = grad.reshape(-1, filters)
    if groups == 1:
        return rows[None]
    # (M, G, F//G) -> (G, M, F//G)
    return np.ascontiguousarray(rows.reshape(-1, groups, filters // groups).transpose(1, 0, 2))


def ungroup_rows(rows: np.ndarray, spatial_prefix) -> np.ndarray:
    """(G, M, F//G) -> (N, *out, F): the inverse of :func:`group_rows`."""
    groups, count, width = rows.shape
    if groups == 1:
        return rows[0].reshape(*spatial_prefix, width)
    return rows.transpose(1, 0, 2).reshape(*spatial_prefix, groups * width)


def correlate(xp: np.ndarray, kernel: np.ndarray, strides, dilation, groups: int,
              keep_columns: bool = False):
    """Valid cross-correlation of a padded input: (N, *P, C) -> (N, *out, F).

    Returns ``(y, cols)``; ``cols`` is the (G, M, K*Cg) column buffer when
    ``keep_columns`` (the kernel gradient reuses it) and None otherwise.
    """
    kernel_size = kernel.shape[:-2]
    out = output_shape(xp.shape[1:-1], kernel_size, strides, dilation)
    if tap_major(xp.shape[-1], kernel_size, out):
        return _correlate_tap_major(xp, kernel, strides, dilation, out, keep_columns)
    cols = im2col(xp, kernel_size, strides, dilation, groups)
    rows = np.matmul(cols, grouped_kernel(kernel, groups))  # (G, M, F//G)
    y = ungroup_rows(rows, (xp.shape[0], *out))
    return y, (cols if keep_columns else None)


def _correlate_tap_major(xp, kernel, strides, dilation, out, keep_columns: bool = True):
    """:func:`correlate` of a one-channel input -> (y (N, *out, F), the whole (1, M, K) columns or None).

    The columns are gathered and multiplied TAP_MAJOR_CHUNK_BYTES of them at a
    time (whole samples), so each chunk is still in cache for its GEMM. Without
    ``keep_columns`` one chunk's buffer is reused for every chunk: the same
    GEMMs on the same values, without the whole batch's columns.
    """
    kernel_size, filters = kernel.shape[:-2], kernel.shape[-1]
    batch, cells, taps = xp.shape[0], int(np.prod(out)), int(np.prod(kernel_size))
    view = _tap_view(xp, kernel_size, strides, dilation, out)
    samples = max(1, TAP_MAJOR_CHUNK_BYTES // max(1, taps * cells * xp.itemsize))  # cells may be 0
    held = batch if keep_columns else min(batch, samples)
    columns = np.empty((*kernel_size, held, *out), dtype=xp.dtype)
    rows = columns.reshape(taps, held * cells)  # (*k, n, *out) -> (K, n*cells)
    y = np.empty((batch * cells, filters), dtype=np.result_type(xp, kernel))
    weights = kernel.reshape(taps, filters)  # (*k, 1, F) -> (K, F)
    spatial = (slice(None),) * len(kernel_size)
    for first in range(0, batch, samples):
        count = min(samples, batch - first)
        at = first if keep_columns else 0            # where the chunk sits in the held columns
        columns[spatial + (slice(at, at + count),)] = view[spatial + (slice(first, first + count),)]
        np.matmul(rows[:, at * cells:(at + count) * cells].T, weights,
                  out=y[first * cells:(first + count) * cells])  # (m, K) @ (K, F)
    return y.reshape(batch, *out, filters), (rows.T[None] if keep_columns else None)


def correlate_kernel_grad(cols: np.ndarray, grad: np.ndarray, kernel_shape, groups: int) -> np.ndarray:
    """dL/dkernel = cols^T @ grad per group: -> (*k, Cg, F).

    A thin kernel gradient (at most SMALL_KERNEL_GRAD entries) over a long
    reduction sums its GEMM over blocks of REDUCTION_BLOCK rows, which
    OpenBLAS runs faster than one call (:mod:`clearconv.kernels.tuning`).
    """
    left, right = cols.transpose(0, 2, 1), group_rows(grad, groups)  # (G, K*Cg, M), (G, M, F//G)
    rows = right.shape[1]
    if left.shape[1] * right.shape[2] > SMALL_KERNEL_GRAD or rows <= 2 * REDUCTION_BLOCK:
        return ungroup_kernel(np.matmul(left, right), kernel_shape)
    grouped = np.matmul(left[..., :REDUCTION_BLOCK], right[:, :REDUCTION_BLOCK])
    for start in range(REDUCTION_BLOCK, rows, REDUCTION_BLOCK):
        stop = start + REDUCTION_BLOCK
        grouped += np.matmul(left[..., start:stop], right[:, start:stop])
    return ungroup_kernel(grouped, kernel_shape)


# --- 1D, stride 1: columns as views -------------------------------------------------------------
# In a channels_last 1D input flattened to (N*Lp) cells of C channels, the receptive field of the
# cell g (the window of cells g .. g+k-1) is ONE contiguous run of k*C floats. Fields of cells
# k apart adjoin without overlapping, so for each phase p the fields of cells g = k*t + p are the
# rows of one contiguous run of the input: a matrix BLAS reads in place, no column buffer. One GEMM per phase gives
# every k-th output; over the k phases, every output of the flattened signal, of which those whose
# window stays inside one sample are the convolution's.


def _phase_views(xp: np.ndarray, kernel_size: int):
    """Yield ``(phase, rows, view)``: view (rows, k*C), the fields of flattened cells k*t + phase.

    A phase's fields adjoin, so its view is a reshape of a contiguous run of ``xp``.
    """
    batch, padded, channels = xp.shape
    windows = batch * padded - kernel_size + 1        # flattened cells whose field is in bounds
    flat = xp.reshape(-1)
    field = kernel_size * channels
    for phase in range(min(kernel_size, windows)):
        rows = (windows - 1 - phase) // kernel_size + 1
        yield phase, rows, flat[phase * channels:phase * channels + rows * field].reshape(rows, field)


def _phase_rows(cells: int, kernel_size: int) -> int:
    """T*k >= cells: the rows of a buffer over every flattened cell that views as (T, k*F), one column block per phase."""
    return -(-cells // kernel_size) * kernel_size


def correlate_1d(xp: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Valid 1D correlation at stride 1 without columns: (N, Lp, C), (k, C, F) -> (N, Lp-k+1, F).

    One group, dilation 1, xp C-contiguous. The result is a view into a buffer
    over every flattened cell (rows that straddle two samples are computed and
    left out).
    """
    batch, padded, _ = xp.shape
    taps, _, filters = kernel.shape
    weights = kernel.reshape(-1, filters)
    full = np.empty((_phase_rows(batch * padded, taps), filters), dtype=xp.dtype)
    by_phase = full.reshape(-1, taps * filters)
    for phase, rows, view in _phase_views(xp, taps):
        np.matmul(view, weights, out=by_phase[:rows, phase * filters:(phase + 1) * filters])
    return full[:batch * padded].reshape(batch, padded, filters)[:, :padded - taps + 1]


def gradient_layout_1d(grad: np.ndarray, kernel_size: int) -> np.ndarray:
    """The output gradient (N, L, F) laid out for both 1D backward passes: (k-1 + T*k, F), T*k >= N*Lp.

    Lp = L + k - 1 is the padded input length. After k-1 zero rows, sample n
    holds its L gradient rows followed by k-1 zero rows, Lp rows in all. From
    row k-1 on this is the forward's flattened cell layout, with zeros where a
    window straddles two samples (:func:`correlate_1d_kernel_grad`); from row
    0, each sample's rows are framed by k-1 zeros on both sides (shared with
    its neighbours), which is the padding of the input gradient's full
    correlation (:func:`correlate_1d_input_grad`). One copy of the gradient
    serves both passes.
    """
    batch, length, filters = grad.shape
    padded = length + kernel_size - 1
    layout = np.empty((kernel_size - 1 + _phase_rows(batch * padded, kernel_size), filters), dtype=grad.dtype)
    layout[:kernel_size - 1] = 0
    per_sample = layout[kernel_size - 1:kernel_size - 1 + batch * padded].reshape(batch, padded, filters)
    per_sample[:, :length] = grad
    per_sample[:, length:] = 0
    layout[kernel_size - 1 + batch * padded:] = 0  # fewer than k rows past N*Lp, which no kept result reads
    return layout


def correlate_1d_kernel_grad(xp: np.ndarray, layout: np.ndarray, kernel_shape) -> np.ndarray:
    """dL/dkernel of :func:`correlate_1d` from the :func:`gradient_layout_1d` of the gradient -> (k, C, F).

    The sum over phases of view^T @ the phase's gradient rows; cells whose
    window straddles two samples have zero gradient rows and add nothing.
    """
    taps, _, filters = kernel_shape
    by_phase = layout[taps - 1:].reshape(-1, taps * filters)
    dkernel = np.zeros((taps * kernel_shape[1], filters), dtype=layout.dtype)
    for phase, rows, view in _phase_views(xp, taps):
        dkernel += view.T @ by_phase[:rows, phase * filters:(phase + 1) * filters]
    return dkernel.reshape(kernel_shape)


def correlate_1d_input_grad(layout: np.ndarray, kernel: np.ndarray, input_shape) -> np.ndarray:
    """dL/dxp of :func:`correlate_1d` from the :func:`gradient_layout_1d` of the gradient -> xp's (N, Lp, C).

    At stride 1 the input gradient is the full correlation of the gradient
    with the kernel flipped and its channel axes swapped, (k, F, C). Over the
    layout's zero-framed samples, flattened cell n*Lp + p of that correlation
    is dxp[n, p].
    """
    batch, padded, channels = input_shape
    flipped = np.ascontiguousarray(kernel[::-1].swapaxes(-1, -2))
    return correlate_1d(layout[None], flipped)[0, :batch * padded].reshape(batch, padded, channels)


def one_gemm_input_grad(group_channels: int, strides) -> bool:
    """Whether :func:`correlate_input_grad` takes every tap's contribution from one GEMM (else one per tap).

    By shape alone (COL2IM_ONE_GEMM_MAX_CHANNELS at stride 1, ..._STRIDED
    otherwise, :mod:`clearconv.kernels.tuning`), never by whether numba is
    there: the compiled scatter and the NumPy slice-adds then add the same
    GEMM values in the same order.
    """
    strided = any(s > 1 for s in strides)
    return group_channels <= (COL2IM_ONE_GEMM_MAX_CHANNELS_STRIDED if strided else COL2IM_ONE_GEMM_MAX_CHANNELS)


def correlate_input_grad(grad: np.ndarray, kernel: np.ndarray, padded_shape, strides,
                         dilation, groups: int) -> np.ndarray:
    """dL/dxp for a valid correlation: (N, *out, F) -> (N, *P, C) (col2im).

    For each kernel tap, ``grad @ kernel[tap]^T`` is that tap's contribution
    for every output cell; it is added into the strided slice of the input
    that tap read. No per-pixel loop, no ``np.add.at``. With few channels per
    group or a stride (:func:`one_gemm_input_grad`) the contributions of all
    taps come from one GEMM (K skinny GEMMs would waste BLAS), and with
    :mod:`clearconv.kernels.compiled` switched on a compiled loop
    (:func:`.im2col_compiled.col2im`) does the slice-adds, in the same order:
    equal results either way. Otherwise one GEMM per tap keeps the buffer
    small. A 1x1 kernel at stride 1 needs no scatter: its input gradient is
    the one GEMM.
    """
    *kernel_size, group_channels, filters = kernel.shape
    batch, *out, _ = grad.shape
    taps_count = int(np.prod(kernel_size))
    channels = groups * group_channels
    rows = group_rows(grad, groups)  # (G, M, F//G)
    # (K, Cg, G, F//G) -> (K, G, F//G, Cg): per tap, the transposed right operand of each group.
    taps = kernel.reshape(taps_count, group_channels, groups, filters // groups).transpose(0, 2, 3, 1)
    if taps_count == 1 and all(s == 1 for s in strides) and tuple(out) == tuple(padded_shape):
        # 1x1 at stride 1: every input cell is read by exactly one output cell, so no scatter;
        # the product goes straight into a new array that a leaf can keep as its gradient.
        # (A transposed conv's buffer can be larger than the output: then the general path.)
        dxp = np.empty((batch, *padded_shape, channels), dtype=grad.dtype)
        np.matmul(rows, taps[0], out=dxp.reshape(-1, groups, group_channels).transpose(1, 0, 2))
        return dxp
    if one_gemm_input_grad(group_channels, strides):
        # (G, F//G, K*Cg): all taps side by side -> (G, M, K*Cg) -> (N, *out, K, G, Cg), a view per tap.
        every_tap = np.matmul(rows, taps.transpose(1, 2, 0, 3).reshape(groups, filters // groups, -1))
        every_tap = np.moveaxis(every_tap.reshape(groups, batch, *out, taps_count, group_channels), 0, -2)
        if compiled.enabled():  # (N, *out, K, G, Cg) -> (N, *out, K, C): a copy only with groups
            return col2im(every_tap.reshape(batch, *out, taps_count, channels), padded_shape, kernel_size,
                          strides, dilation)
        contributions = (every_tap[..., tap, :, :] for tap in range(taps_count))
    else:
        # (G, M, Cg) -> (N, *out, G, Cg) per tap.
        contributions = (np.moveaxis(np.matmul(rows, taps[tap]).reshape(groups, batch, *out, group_channels), 0, -2)
                         for tap in range(taps_count))
    dxp = np.zeros((batch, *padded_shape, groups, group_channels), dtype=grad.dtype)
    for offset, contribution in zip(np.ndindex(*kernel_size), contributions):
        dxp[(slice(None), *window_slices(offset, strides, dilation, out))] += contribution
    return dxp.reshape(batch, *padded_shape, groups * group_channels)
