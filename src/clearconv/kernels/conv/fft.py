"""FFT convolution: the valid cross-correlation as a product of Fourier transforms.

Contract: the same as :func:`clearconv.kernels.conv.im2col.correlate` at strides 1
and one group (see :func:`supports`). For a padded input ``xp`` (N, *P, C),
channels_last, and a Keras kernel (*k, C, F)::

    y[n, o, f] = sum_{tap j} sum_c xp[n, o + j*d, c] * kernel[j, c, f]      o < P - d*(k-1)

The method, per spatial axis of length ``P`` and FFT length ``L >= P``
(:func:`fast_length`):

* The DFT turns the *circular* cross-correlation into a product:
  ``DFT(y)[w] = DFT(xp)[w] * conj(DFT(kernel padded to L))[w]`` for a real
  kernel. The circular result differs from the linear one only where a tap
  wraps around the end, ``o + j*d >= L``; every kept ``o`` reads
  ``o + j*d <= P - 1 < L``, so cropping the first ``P - d*(k-1)`` cells per
  axis gives the valid correlation exactly (up to rounding).
* Per frequency the sum over input channels is a matrix product:
  ``Y[w] (N, F) = X[w] (N, C) @ K[w] (C, F)``, one batched complex ``matmul``
  over all frequencies.
* Real input, so ``rfftn`` keeps the ``L // 2 + 1`` non-redundant bins of the
  last axis and ``irfftn`` restores the real output.

Dilation adds no work to the transforms: a dilated tap ``j`` sits at position ``j*d``,
which only changes the phase of its DFT term (:func:`kernel_spectrum`).

Precision: float32 input is transformed in complex64, float64 in complex128
(with NumPy >= 2; NumPy 1.x's ``np.fft`` always computes in complex128 and the
result is cast back). The result is not a plain sum of products, so its
float32 rounding differs from im2col's; it grows with ``log2(L)`` and with
the dynamic range of the data. Measured against float64, standard-normal
data, max error relative to the output's largest magnitude: 1.9e-7 to 3.6e-7
on the 34 shapes of :func:`worthwhile` (im2col: 2.3e-7 to 8.6e-7; the
kernel spectrum is built from float64 phases, see :func:`_conj_dft_along`);
float64 below 2e-15 on the test grid.

Memory: the batch runs in chunks (:func:`_chunk_rows`) whose spectra stay in
cache, so the buffers besides the output are bounded by a chunk's spectra and
the kernel spectrum, ``prod(bins) * C * F`` complex values. The latter grows
with the input, not the kernel: 61 MB for a 3x3, 64 -> 64 kernel on a 58x58
input, one reason FFT loses there. Overlap-save tiling (blocks of 64-512 per
axis) would shrink it, but measured 1.0-2.6x *slower* than one transform
over the whole padded input on the 1D and 2D benchmark shapes, so there is none.
"""

from __future__ import annotations

import math

import numpy as np

from ..shapes import conv_output_shape

# The thresholds and cost-model constants, with where and how they were measured:
# clearconv.kernels.tuning (FFT_KERNEL_DFT_MAX_TAPS, FFT_CHUNK_BYTES, FFT_KERNEL_CACHED_BYTES, the *_NS).
from ..tuning import (FFT_CHUNK_BYTES as CHUNK_BYTES, FFT_FIXED_NS, FFT_KERNEL_CACHED_BYTES as KERNEL_CACHED_BYTES,
                      FFT_KERNEL_DFT_MAX_TAPS as KERNEL_DFT_MAX_TAPS, FFT_KERNEL_NS, FFT_PASS_NS, FFT_PRODUCT_NS,
                      FFT_TRANSFORM_NS, IM2COL_GATHER_NS, IM2COL_PRODUCT_NS)


def supports(kernel_shape, strides, dilation, groups: int) -> bool:
    """True for 1, 2 or 3 spatial axes, all strides 1 and one group; any dilation."""
    rank = len(kernel_shape) - 2
    return 1 <= rank <= 3 and len(strides) == rank and all(s == 1 for s in strides) and groups == 1


def fast_length(length: int) -> int:
    """The smallest ``L >= length`` whose only prime factors are 2, 3 and 5 (a fast FFT size)."""
    candidate = max(1, length)
    while True:
        rest = candidate
        for prime in (2, 3, 5):
            while rest % prime == 0:
                rest //= prime
        if rest == 1:
            return candidate
        candidate += 1


def kernel_spectrum(kernel: np.ndarray, fft_shape, dilation, scale: float) -> np.ndarray:
    """``scale * conj(rfftn(dilated kernel zero-padded to fft_shape))``: (*k, C, F) -> (*bins, C, F).

    ``bins`` is ``fft_shape`` with the last axis halved to ``L // 2 + 1``.
    Complex64 for a float32 kernel, complex128 for float64.
    """
    rank = len(fft_shape)
    dtype = np.result_type(kernel.dtype, np.complex64)
    # Scaling the small real kernel is cheaper than scaling its spectrum.
    spectrum = kernel * np.asarray(scale, dtype=kernel.dtype)
    # The last axis first: it is the real one, whose spectrum keeps L // 2 + 1 bins.
    for axis in reversed(range(rank)):
        length = fft_shape[axis]
        bins = length // 2 + 1 if axis == rank - 1 else length
        spectrum = _conj_dft_along(spectrum, axis, bins, length, dilation[axis], dtype)
    return spectrum


def _conj_dft_along(array: np.ndarray, axis: int, bins: int, length: int, step: int, dtype) -> np.ndarray:
    """``out[w] = sum_j array[j] * exp(+2i*pi * w * j*step / length)`` along ``axis`` for ``w < bins``.

    The conjugate DFT of the axis with its taps ``step`` apart, zero-padded to ``length``.
    """
    taps = array.shape[axis]
    if taps <= KERNEL_DFT_MAX_TAPS:
        # w * position reduced mod length keeps every angle in [0, 2*pi): no precision lost to large angles.
        positions = np.arange(taps) * step
        angles = (2 * np.pi / length) * (np.outer(np.arange(bins), positions) % length)
        matrix = np.exp(1j * angles).astype(dtype)  # (bins, taps)
        return np.moveaxis(np.tensordot(matrix, array, axes=(1, axis)), 0, axis)
    dilated = np.zeros(array.shape[:axis] + ((taps - 1) * step + 1,) + array.shape[axis + 1:], dtype=array.dtype)
    dilated[(slice(None),) * axis + (slice(None, None, step),)] = array
    # ifft with norm="forward" is the unscaled sum with the + sign: the conjugate DFT.
    spectrum = np.fft.ifft(dilated, n=length, axis=axis, norm="forward")
    return spectrum[(slice(None),) * axis + (slice(bins),)].astype(dtype, copy=False)


def correlate(xp: np.ndarray, kernel: np.ndarray, dilation=None) -> np.ndarray:
    """Valid cross-correlation by FFT: xp (N, *P, C), kernel (*k, C, F) -> (N, *(P - d*(k-1)), F).

    ``dilation`` is one int per spatial axis (None: all 1). The result has
    ``xp``'s dtype.
    """
    rank = xp.ndim - 2
    dilation = (1,) * rank if dilation is None else tuple(dilation)
    batch, *padded, channels = xp.shape
    *kernel_size, _, filters = kernel.shape
    output_shape = conv_output_shape(padded, kernel_size, (1,) * rank, dilation)
    if min(output_shape) < 1:
        raise ValueError(f"the dilated kernel {tuple(kernel_size)} (dilation {dilation}) is larger than "
                         f"the padded input {tuple(padded)}")
    fft_shape = tuple(fast_length(length) for length in padded)
    # The input's transform uses norm="forward", which divides it by prod(L): with the default
    # norm (no division) NumPy 2 runs a float32 rfft in float64, 2-5x slower (measured). The
    # inverse keeps its default division by prod(L), so the kernel spectrum is multiplied by
    # prod(L) to undo the extra one.
    spectrum = kernel_spectrum(kernel, fft_shape, dilation, scale=math.prod(fft_shape))
    bins_shape = spectrum.shape[:rank]
    frequencies = math.prod(bins_shape)
    spectrum = spectrum.reshape(frequencies, channels, filters)
    spatial_axes = tuple(range(1, rank + 1))
    window = (slice(None),) + tuple(slice(length) for length in output_shape)
    y = np.empty((batch, *output_shape, filters), dtype=xp.dtype)
    rows = _chunk_rows(frequencies, channels, filters, math.prod(fft_shape), spectrum.itemsize)
    for start in range(0, batch, rows):
        part = xp[start:start + rows]
        count = part.shape[0]
        x_spectrum = np.fft.rfftn(part, s=fft_shape, axes=spatial_axes, norm="forward")
        # (n, *bins, C) -> (bins, n, C) @ (bins, C, F) -> (bins, n, F) -> (n, *bins, F); views, no copies.
        x_spectrum = x_spectrum.reshape(count, frequencies, channels).transpose(1, 0, 2)
        y_spectrum = np.matmul(x_spectrum, spectrum).transpose(1, 0, 2).reshape(count, *bins_shape, filters)
        y[start:start + count] = np.fft.irfftn(y_spectrum, s=fft_shape, axes=spatial_axes)[window]
    return y


def _chunk_rows(frequencies: int, channels: int, filters: int, fft_size: int, complex_itemsize: int) -> int:
    """Samples per batch chunk: spectra within CHUNK_BYTES, or half the kernel spectrum's size when it is large."""
    per_sample = frequencies * (channels + filters) * complex_itemsize + fft_size * filters * complex_itemsize // 2
    kernel_bytes = frequencies * channels * filters * complex_itemsize
    rows = CHUNK_BYTES // per_sample
    if kernel_bytes > KERNEL_CACHED_BYTES:
        rows = max(rows, kernel_bytes // (2 * per_sample))
    return max(1, rows)


def worthwhile(input_shape, kernel_shape, dilation=None) -> bool:
    """Whether FFT should beat im2col + GEMM on a padded input (N, *P, C) and a kernel (*k, C, F).

    ``dilation`` is one int per spatial axis (None: all 1).

    Compares two cost models, in nanoseconds, whose constants (above) were
    fitted by non-negative least squares on relative error to medians of
    float32 timings (2-core AMD EPYC VM, OPENBLAS_NUM_THREADS=2, two runs of
    3 blocks x 5 calls each, geometric mean of the runs):

    * im2col: ``N * prod(out) * prod(k) * C`` column elements gathered, times
      ``IM2COL_GATHER_NS + IM2COL_PRODUCT_NS * F``.
    * FFT: ``FFT_FIXED_NS``; ``N * prod(L) * (C + F)`` real values transformed,
      times ``FFT_TRANSFORM_NS * log2(prod(L)) + FFT_PASS_NS * rank``;
      ``prod(bins) * C * F`` complex multiply-adds per sample
      (``FFT_PRODUCT_NS``) and per kernel tap along each axis (``FFT_KERNEL_NS``).

    On all 34 measured shapes it picks the faster of the two. Times in ms;
    ratio = im2col / FFT, above 1 where FFT wins. All were measured at
    dilation 1. A dilation enters through the output size ``P - d*(k-1)``:
    im2col gathers columns for those outputs only, while FFT transforms the
    whole padded input, so a dilated kernel never favours FFT more than an
    undilated one with as many outputs. A dilated kernel that spans more than
    the input leaves no output and nothing to win::

        input (N, *P, C)       kernel           im2col     FFT  ratio
        (8, 64, 64, 16)        3x3 16->16          3.98    6.86   0.58
        (8, 64, 64, 16)        5x5 16->16         12.99    7.92   1.64
        (8, 64, 64, 16)        7x7 16->16         21.45    8.16   2.63
        (8, 64, 64, 16)        9x9 16->16         31.56    7.22   4.37
        (8, 64, 64, 16)        11x11 16->16       42.44    7.95   5.34
        (8, 64, 64, 16)        15x15 16->16       72.18    7.81   9.24
        (8, 128, 128, 8)       3x3 8->8            9.78   15.64   0.63
        (8, 128, 128, 8)       5x5 8->8           25.69   18.88   1.36
        (8, 128, 128, 8)       7x7 8->8           44.89   19.13   2.35
        (8, 128, 128, 8)       9x9 8->8           77.90   18.65   4.18
        (8, 128, 128, 8)       11x11 8->8        114.82   17.84   6.43
        (8, 128, 128, 8)       15x15 8->8        223.79   19.53  11.46
        (16, 34, 34, 32)       3x3 32->32          5.33   12.97   0.41
        (16, 36, 36, 32)       5x5 32->32         14.60    8.86   1.65
        (16, 38, 38, 32)       7x7 32->32         28.58   16.88   1.69
        (16, 42, 42, 32)       11x11 32->32       72.56   19.73   3.68
        (8, 58, 58, 64)        3x3 64->64         20.75   65.48   0.32
        (8, 36, 36, 64)        5x5 64->64         19.58   19.32   1.01
        (8, 38, 38, 64)        7x7 64->64         37.47   28.81   1.30
        (64, 28, 28, 1)        5x5 1->6            0.96    4.57   0.21
        (64, 12, 12, 6)        5x5 6->16           0.87    1.88   0.46
        (32, 1032, 16)         9 16->32            5.61   12.40   0.45
        (32, 1032, 16)         15 16->32           8.77   10.21   0.86
        (32, 1032, 16)         31 16->32          18.88   10.49   1.80
        (32, 1032, 16)         63 16->32          36.90   14.03   2.63
        (8, 4096, 16)          31 16->16          17.87    7.52   2.38
        (8, 4096, 16)          63 16->16          30.35   10.35   2.93
        (32, 262, 8)           7 8->8              0.26    1.29   0.20
        (32, 262, 8)           15 8->8             0.39    1.31   0.30
        (4, 24, 24, 24, 8)     3x3x3 8->8          8.00   11.27   0.71
        (4, 24, 24, 24, 8)     5x5x5 8->8         31.18    9.54   3.27
        (4, 20, 20, 20, 16)    3x3x3 16->16        8.95   14.43   0.62
        (4, 22, 22, 22, 16)    5x5x5 16->16       47.39   33.49   1.42
        (2, 40, 40, 40, 4)     7x7x7 4->4        133.66   19.15   6.98

    In short: FFT wins from 5x5 in 2D (a tie at 64 -> 64 channels), between
    15 and 31 taps in 1D and from 5x5x5 in 3D, and loses on every 3x3 and on
    small inputs (LeNet sizes, 262-sample signals). Timings vary by up to ~40%
    between runs on these machines; ratios near 1 are ties.
    """
    batch, *padded, channels = input_shape
    *kernel_size, _, filters = kernel_shape
    rank = len(padded)
    dilation = (1,) * rank if dilation is None else tuple(dilation)
    output_shape = conv_output_shape(padded, kernel_size, (1,) * rank, dilation)
    if min(output_shape) < 1:
        return False
    fft_shape = [fast_length(length) for length in padded]
    size = math.prod(fft_shape)
    frequencies = size // fft_shape[-1] * (fft_shape[-1] // 2 + 1)
    transformed = batch * size * (channels + filters)
    fft_ns = (FFT_FIXED_NS + transformed * (FFT_TRANSFORM_NS * math.log2(size) + FFT_PASS_NS * len(padded))
              + frequencies * channels * filters * (FFT_PRODUCT_NS * batch + FFT_KERNEL_NS * sum(kernel_size)))
    gathered = batch * math.prod(output_shape) * math.prod(kernel_size) * channels
    im2col_ns = gathered * (IM2COL_GATHER_NS + IM2COL_PRODUCT_NS * filters)
    return fft_ns < im2col_ns
