"""Compiled conv output pass (numba): the bias and a fused ReLU in one pass over the output.

Its kernels release the GIL (:func:`clearconv.kernels.compiled.kernel`), so that the batch parts
of :mod:`clearconv.kernels.parallel` run them on several threads at once.

Beside :mod:`.output`, whose two NumPy passes (``y += bias``, then
``np.maximum``) :func:`add_bias_and_relu` replaces when
:mod:`clearconv.kernels.compiled` is switched on, with equal values: 0.09
against 0.35 ms on LeNet's conv1 output (64, 28, 28, 6), 0.12 against 0.36 ms
on (16, 16, 16, 128), a copy of the output included in both (2026-12,
``benchmarks/tuning.py --only fused_output``). The backward has no compiled
pass: fusing the ReLU mask with the bias gradient gained -14% to +21% on the
same shapes, under the 15% a special path must clear, and its float64 sum
made the bias gradient differ from NumPy's in the last bits.
"""

from __future__ import annotations

import numpy as np

from .. import compiled


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


@compiled.kernel
def _add_bias_and_relu(rows, tiled, add_bias, relu, zero):
    for r in range(rows.shape[0]):
        row = rows[r]
        for j in range(row.shape[0]):
            value = row[j] + tiled[j] if add_bias else row[j]
            row[j] = zero if relu and value <= zero else value  # as np.maximum: -0.0 -> 0.0
