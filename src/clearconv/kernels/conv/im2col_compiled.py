"""Compiled col2im (numba): the scatter of a convolution's input gradient.

Its kernels release the GIL (:func:`clearconv.kernels.compiled.kernel`), so that the batch parts
of :mod:`clearconv.kernels.parallel` run them on several threads at once.

Beside :mod:`.im2col`, whose :func:`.im2col.correlate_input_grad` computes
every tap's contribution of every output cell with one GEMM where a group
has few channels (:func:`.im2col.one_gemm_input_grad`: at most 8 at stride
1, 16 strided, :mod:`clearconv.kernels.tuning`). NumPy then adds them into
the input gradient as one strided slice-add per tap; :func:`col2im` does the
same additions in one loop over the windows, while the data is in cache, in
the same order per cell, so the two give equal results. With the kernel that
input gradient was 36-66% faster than one GEMM per tap on those shapes;
:mod:`clearconv.kernels.compiled` switches it on and off.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .. import compiled


@compiled.inline_kernel
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
    batch, *out, taps, channels = contributions.shape
    lift = (1,) * (3 - len(out))
    dxp = np.zeros((batch, *padded_shape, channels), dtype=contributions.dtype)
    # (N, *out, K, C) -> (N, Od, Oh, Ow, K*C); (N, *P, C) -> (N, Pd, Ph, Pw*C), a view
    _col2im(contributions.reshape(batch, *lift, *out, taps * channels),
            dxp.reshape(batch, *lift, *padded_shape[:-1], padded_shape[-1] * channels),
            compiled.three_axes(kernel_size, 1), compiled.three_axes(strides, 1),
            compiled.three_axes(dilation, 1))
    return dxp


@compiled.kernel
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
