"""What a case computes and holds: multiply-adds of the direct definition, the memory floor, the peak.

- **FLOPs** count 2 per multiply-add (MAC) of the direct definition, whatever
  the algorithm actually does (a Winograd or FFT row can pass the GEMM
  peak). A convolution has ``N * prod(out) * prod(k) * C_in / groups * F``
  MACs; a transposed convolution scatters every input cell through every tap
  to every filter, ``N * prod(in) * prod(k) * F * C_in``. The backward (input
  and kernel gradients) counts 2x the forward's MACs. Pooling has none.
- **Peak memory**: tracemalloc's peak (NumPy reports its allocations to it)
  over one call, counting what the call allocates; measured in a separate,
  untimed call, so tracemalloc's overhead never touches a timing.
- **Floor**: input + output + kernel + one chunk's im2col column buffer, the
  whole batch's being ``N * prod(out) * prod(k) * C_in * itemsize`` and a
  chunk as many samples as fit under ``column_buffer_limit()`` (at least
  one). For the transposed case the columns are those of its backward
  (``N * prod(in) * prod(k) * F``); pooling has no kernel and no columns.
"""

from __future__ import annotations

import gc
import tracemalloc
from typing import Callable

import numpy as np

from clearconv.kernels import conv as conv_ops


def forward_macs(kind: str, kernel_shape, x_shape, y_shape) -> float | None:
    """Multiply-adds of the direct definition of the forward pass; None for pooling."""
    if kind == "conv":                                               # kernel (*k, C_in / groups, F)
        return float(np.prod(y_shape[:-1], dtype=np.float64) * np.prod(kernel_shape, dtype=np.float64))
    if kind == "transposed":                                         # kernel (*k, F, C_in)
        return float(np.prod(x_shape[:-1], dtype=np.float64) * np.prod(kernel_shape, dtype=np.float64))
    return None


def chunk_bytes(batch: int, bytes_per_sample: int) -> int:
    """One batch chunk's column buffer: as many samples as fit under the limit, at least one."""
    samples = min(batch, conv_ops.chunk_samples(bytes_per_sample))
    return samples * bytes_per_sample


def memory_floor(kind: str, kernel_shape, x: np.ndarray, y_shape) -> dict:
    """input + output + kernel + one chunk's column buffer, in bytes, and the parts."""
    itemsize = x.dtype.itemsize
    output = int(np.prod(y_shape)) * itemsize
    kernel, columns = 0, 0
    if kind in ("conv", "transposed"):
        kernel = int(np.prod(kernel_shape)) * itemsize
        taps = int(np.prod(kernel_shape[:-2]))
        if kind == "conv":                                           # prod(out) * prod(k) * C_in per sample
            per_sample = int(np.prod(y_shape[1:-1])) * taps * x.shape[-1] * itemsize
        else:                                                        # its backward's im2col: prod(in) * prod(k) * F
            per_sample = int(np.prod(x.shape[1:-1])) * taps * y_shape[-1] * itemsize
        columns = chunk_bytes(x.shape[0], per_sample)
    parts = {"input": x.nbytes, "output": output, "kernel": kernel, "columns": columns}
    parts["floor"] = sum(parts.values())
    return parts


def peak_bytes(function: Callable) -> int:
    """tracemalloc's peak over one call of ``function``, counting what the call allocates (untimed)."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        function()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
